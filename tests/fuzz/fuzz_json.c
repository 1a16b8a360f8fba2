/*
 * fuzz_json.c: the bounded JSON parser and the JSON string writer on
 * arbitrary bytes. A string the writer escapes must parse back to the
 * same text whenever the text was valid UTF-8.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_JSON_MAX (1024 * 1024)

/* Touch every node through the accessors (depth is bounded by the parser). */
static void
fuzz_walk(yajl_val v, unsigned depth)
{
	uint64_t u;
	size_t i;

	if (depth > JSON_DEPTH_MAX + 1) {
		abort();
	}
	if (YAJL_IS_OBJECT(v)) {
		for (i = 0; i < v->u.object.len; i++) {
			if (json_get(v, v->u.object.keys[i]) == NULL) {
				abort();
			}
			(void)json_get_str(v, v->u.object.keys[i]);
			(void)json_get_u64(v, v->u.object.keys[i], &u);
			fuzz_walk(v->u.object.values[i], depth + 1);
		}
	} else if (YAJL_IS_ARRAY(v)) {
		for (i = 0; i < v->u.array.len; i++) {
			fuzz_walk(v->u.array.values[i], depth + 1);
		}
	}
}

static void
fuzz_writer(const uint8_t *data, size_t size)
{
	struct strbuf sb;
	char *s = NULL;
	char err[128];
	yajl_val v = NULL;
	yajl_val item;

	s = malloc(size + 1);
	if (s == NULL) {
		goto out;
	}
	memcpy(s, data, size);
	s[size] = '\0';

	strbuf_init(&sb, 8 * size + 16);
	strbuf_appends(&sb, "[");
	strbuf_append_json_str(&sb, s);
	strbuf_appends(&sb, "]");
	if (!strbuf_ok(&sb)) {
		abort();
	}
	v = json_parse(sb.buf, sb.len, sb.len, err, sizeof(err));
	if (v == NULL) {
		abort();
	}
	item = v->u.array.values[0];
	if (!YAJL_IS_STRING(item)) {
		abort();
	}
	if (utf8_valid((const unsigned char *)s, strlen(s)) &&
	    strcmp(item->u.string, s) != 0) {
		abort();
	}
	strbuf_free(&sb);
out:
	yajl_tree_free(v);
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[128];
	yajl_val v;

	v = json_parse((const char *)data, size, FUZZ_JSON_MAX, err,
		       sizeof(err));
	if (v != NULL) {
		fuzz_walk(v, 0);
		yajl_tree_free(v);
	} else if (err[0] == '\0' || strchr(err, '\n') != NULL) {
		abort();
	}
	if (size <= 4096) {
		fuzz_writer(data, size);
	}
	return 0;
}
