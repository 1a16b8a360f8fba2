/*
 * json.h: bounded JSON parsing over yajl's tree API, and a small writer.
 *
 * Every parse takes an explicit byte ceiling and a nesting ceiling; input
 * beyond either is refused before yajl sees it.
 */
#ifndef SEALPOD_JSON_H
#define SEALPOD_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_tree.h>

#include "err.h"

#define JSON_DEPTH_MAX 32

/*
 * Parse len bytes (need not be NUL-terminated) of at most max bytes.
 * On failure returns NULL and writes a one-line reason into err.
 * Free the result with yajl_tree_free().
 */
yajl_val json_parse(const char *buf, size_t len, size_t max, char *err,
		    size_t errlen);

/* Member key of object v, or NULL when v is not an object or has none. */
yajl_val json_get(yajl_val v, const char *key);

/* String member key, or NULL when missing or not a string. */
const char *json_get_str(yajl_val v, const char *key);

/*
 * Unsigned integer member key. Returns 0, or -1 when missing, not an
 * integer, or negative.
 */
int json_get_u64(yajl_val v, const char *key, uint64_t *out);

/*
 * A growable string buffer with a hard ceiling. Appends past the ceiling
 * set the overflow flag and are dropped; check strbuf_ok() once at the end.
 */
struct strbuf {
	char *buf;
	size_t len;
	size_t cap;
	size_t max;
	int failed;
};

void strbuf_init(struct strbuf *sb, size_t max);
void strbuf_append(struct strbuf *sb, const void *p, size_t n);
void strbuf_appends(struct strbuf *sb, const char *s);
void strbuf_appendf(struct strbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Append s as a JSON string literal, quotes included. */
void strbuf_append_json_str(struct strbuf *sb, const char *s);
/* 1 when no append failed. */
int strbuf_ok(const struct strbuf *sb);
/* Wipe and free the buffer. */
void strbuf_free(struct strbuf *sb);

#endif
