/*
 * json.c: bounded JSON parsing over yajl's tree API, and a string builder.
 *
 * Before yajl sees the input, a pre-scan refuses what yajl would accept
 * but a strict peer must not send: nesting beyond JSON_DEPTH_MAX (the
 * tree is freed recursively), NUL bytes (yajl_tree_parse stops at the
 * first NUL) and comments (yajl_tree_parse enables them). After parsing,
 * objects with duplicate member names are refused, so one document has
 * one meaning for every reader. Input must be valid UTF-8 throughout.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "secret.h"
#include "utf8.h"

/* Objects with more members than this are checked by sorting. */
#define JSON_DUP_LINEAR_MAX 16

static void
json_err(char *err, size_t errlen, const char *msg)
{
	if (err != NULL && errlen > 0) {
		snprintf(err, errlen, "%s", msg);
	}
}

/* Check depth, NULs and comments outside strings. Returns a reason. */
static const char *
json_prescan(const char *buf, size_t len)
{
	size_t depth = 0;
	size_t i;
	int in_str = 0;
	int esc = 0;
	const char *rc = NULL;

	for (i = 0; i < len; i++) {
		char c = buf[i];

		if (c == '\0') {
			rc = "NUL byte in input";
			goto out;
		}
		if (in_str) {
			if (esc) {
				esc = 0;
				/*
				 * yajl decodes \u0000 into a NUL that would
				 * silently cut the C string it hands us.
				 */
				if (c == 'u' && len - i > 4 &&
				    memcmp(buf + i + 1, "0000", 4) == 0) {
					rc = "\\u0000 escape in string";
					goto out;
				}
			} else if (c == '\\') {
				esc = 1;
			} else if (c == '"') {
				in_str = 0;
			}
			continue;
		}
		if (c == '"') {
			in_str = 1;
		} else if (c == '/') {
			rc = "comments are not JSON";
			goto out;
		} else if (c == '{' || c == '[') {
			depth++;
			if (depth > JSON_DEPTH_MAX) {
				rc = "nesting too deep";
				goto out;
			}
		} else if ((c == '}' || c == ']') && depth > 0) {
			depth--;
		}
	}
out:
	return rc;
}

static int
json_keycmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* 1 when object v has two members with the same name. */
static int
json_obj_has_dup(yajl_val v)
{
	size_t n = v->u.object.len;
	const char **keys = NULL;
	size_t i;
	size_t j;
	int rc = 1;

	if (n <= JSON_DUP_LINEAR_MAX) {
		for (i = 0; i < n; i++) {
			for (j = i + 1; j < n; j++) {
				if (strcmp(v->u.object.keys[i],
					   v->u.object.keys[j]) == 0) {
					goto out;
				}
			}
		}
		rc = 0;
		goto out;
	}

	keys = malloc(n * sizeof(*keys));
	if (keys == NULL) {
		goto out;
	}
	memcpy(keys, v->u.object.keys, n * sizeof(*keys));
	qsort(keys, n, sizeof(*keys), json_keycmp);
	for (i = 1; i < n; i++) {
		if (strcmp(keys[i - 1], keys[i]) == 0) {
			goto out;
		}
	}
	rc = 0;
out:
	free(keys);
	return rc;
}

/* 1 when any object in the tree has duplicate names (depth is bounded). */
static int
json_tree_has_dup(yajl_val v)
{
	size_t i;
	int rc = 1;

	if (YAJL_IS_OBJECT(v)) {
		if (json_obj_has_dup(v)) {
			goto out;
		}
		for (i = 0; i < v->u.object.len; i++) {
			if (json_tree_has_dup(v->u.object.values[i])) {
				goto out;
			}
		}
	} else if (YAJL_IS_ARRAY(v)) {
		for (i = 0; i < v->u.array.len; i++) {
			if (json_tree_has_dup(v->u.array.values[i])) {
				goto out;
			}
		}
	}
	rc = 0;
out:
	return rc;
}

yajl_val
json_parse(const char *buf, size_t len, size_t max, char *err, size_t errlen)
{
	char yerr[256];
	char *copy = NULL;
	const char *why;
	yajl_val v = NULL;
	yajl_val rc = NULL;

	json_err(err, errlen, "");
	if (len > max) {
		json_err(err, errlen, "input over size ceiling");
		goto out;
	}
	why = json_prescan(buf, len);
	if (why == NULL && !utf8_valid((const unsigned char *)buf, len)) {
		/* yajl lets overlong forms through; RFC 8259 §8.1 does not. */
		why = "invalid UTF-8";
	}
	if (why != NULL) {
		json_err(err, errlen, why);
		goto out;
	}

	copy = malloc(len + 1);
	if (copy == NULL) {
		json_err(err, errlen, "out of memory");
		goto out;
	}
	memcpy(copy, buf, len);
	copy[len] = '\0';

	yerr[0] = '\0';
	v = yajl_tree_parse(copy, yerr, sizeof(yerr));
	if (v == NULL) {
		/* yajl's later lines quote the input; keep only the first. */
		yerr[strcspn(yerr, "\r\n")] = '\0';
		json_err(err, errlen, yerr[0] != '\0' ? yerr : "parse error");
		goto out;
	}

	if (json_tree_has_dup(v)) {
		json_err(err, errlen, "duplicate object member");
		goto out;
	}
	rc = v;
	v = NULL;
out:
	yajl_tree_free(v);
	if (copy != NULL) {
		/* The input may be a decrypted secret (a JWK, say). */
		secret_wipe_mem(copy, len);
		free(copy);
	}
	return rc;
}

yajl_val
json_get(yajl_val v, const char *key)
{
	yajl_val rc = NULL;
	size_t i;

	if (v == NULL || !YAJL_IS_OBJECT(v) || key == NULL) {
		goto out;
	}
	for (i = 0; i < v->u.object.len; i++) {
		if (strcmp(v->u.object.keys[i], key) == 0) {
			rc = v->u.object.values[i];
			break;
		}
	}
out:
	return rc;
}

const char *
json_get_str(yajl_val v, const char *key)
{
	yajl_val m = json_get(v, key);

	return m != NULL && YAJL_IS_STRING(m) ? m->u.string : NULL;
}

int
json_get_u64(yajl_val v, const char *key, uint64_t *out)
{
	yajl_val m = json_get(v, key);
	int rc = -1;

	if (m == NULL || !YAJL_IS_INTEGER(m) || m->u.number.i < 0) {
		goto out;
	}
	*out = (uint64_t)m->u.number.i;
	rc = 0;
out:
	return rc;
}

void
strbuf_init(struct strbuf *sb, size_t max)
{
	sb->buf = NULL;
	sb->len = 0;
	sb->cap = 0;
	sb->max = max;
	sb->failed = 0;
}

/*
 * Make room for n more bytes plus a NUL. Growth copies into a new block
 * and wipes the old one: builders hold request bodies with key material.
 */
static int
strbuf_reserve(struct strbuf *sb, size_t n)
{
	size_t want;
	char *p;
	int rc = -1;

	if (sb->failed || n > sb->max || sb->len > sb->max - n) {
		sb->failed = 1;
		goto out;
	}
	if (sb->buf != NULL && sb->len + n < sb->cap) {
		rc = 0;
		goto out;
	}
	want = sb->cap < 256 ? 256 : sb->cap;
	while (want <= sb->len + n) {
		want = want > SIZE_MAX / 2 ? sb->len + n + 1 : want * 2;
	}
	if (want > sb->max + 1) {
		want = sb->max + 1;
	}

	p = malloc(want);
	if (p == NULL) {
		sb->failed = 1;
		goto out;
	}
	if (sb->buf != NULL) {
		memcpy(p, sb->buf, sb->len);
		secret_wipe_mem(sb->buf, sb->cap);
		free(sb->buf);
	}
	p[sb->len] = '\0';
	sb->buf = p;
	sb->cap = want;
	rc = 0;
out:
	return rc;
}

void
strbuf_append(struct strbuf *sb, const void *p, size_t n)
{
	if (strbuf_reserve(sb, n) == 0) {
		if (n > 0) {
			memcpy(sb->buf + sb->len, p, n);
		}
		sb->len += n;
		sb->buf[sb->len] = '\0';
	}
}

void
strbuf_appends(struct strbuf *sb, const char *s)
{
	if (s == NULL) {
		sb->failed = 1;
	} else {
		strbuf_append(sb, s, strlen(s));
	}
}

void
strbuf_appendf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		sb->failed = 1;
		goto out;
	}
	if (strbuf_reserve(sb, (size_t)n) != 0) {
		goto out;
	}

	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
out:
	return;
}

/* Escape one code point of a JSON string; UTF-8 passes through. */
static void
strbuf_json_cp(struct strbuf *sb, const unsigned char *p, size_t step,
	       uint32_t cp)
{
	if (cp == '"') {
		strbuf_append(sb, "\\\"", 2);
	} else if (cp == '\\') {
		strbuf_append(sb, "\\\\", 2);
	} else if (cp == '\n') {
		strbuf_append(sb, "\\n", 2);
	} else if (cp == '\r') {
		strbuf_append(sb, "\\r", 2);
	} else if (cp == '\t') {
		strbuf_append(sb, "\\t", 2);
	} else if (cp < 0x20 || cp == 0x7f) {
		strbuf_appendf(sb, "\\u%04x", (unsigned)cp);
	} else {
		strbuf_append(sb, p, step);
	}
}

void
strbuf_append_json_str(struct strbuf *sb, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;
	size_t i = 0;
	size_t step;
	uint32_t cp;

	if (s == NULL) {
		sb->failed = 1;
		goto out;
	}
	n = strlen(s);
	strbuf_append(sb, "\"", 1);
	while (i < n) {
		step = utf8_decode(p + i, n - i, &cp);
		if (step == 0) {
			/* Invalid UTF-8 becomes U+FFFD, never raw bytes. */
			strbuf_append(sb, "\\ufffd", 6);
			i++;
			continue;
		}
		strbuf_json_cp(sb, p + i, step, cp);
		i += step;
	}
	strbuf_append(sb, "\"", 1);
out:
	return;
}

int
strbuf_ok(const struct strbuf *sb)
{
	return !sb->failed;
}

void
strbuf_free(struct strbuf *sb)
{
	if (sb->buf != NULL) {
		secret_wipe_mem(sb->buf, sb->cap);
		free(sb->buf);
	}
	sb->buf = NULL;
	sb->len = 0;
	sb->cap = 0;
	sb->failed = 0;
}
