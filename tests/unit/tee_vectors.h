/*
 * tee_vectors.h: the real TEE test vectors in ../shared/testdata/tee and
 * their expected.json, for the TDX, SNP and CCEL unit tests. Included by
 * each test file after <cmocka.h>; everything here is static.
 */
#ifndef SEALPOD_TEST_TEE_VECTORS_H
#define SEALPOD_TEST_TEE_VECTORS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "util.h"

#define TV_FILE_MAX	(1024 * 1024)
#define TV_EXPECTED_MAX (1024 * 1024)
#define TV_PATH_MAX	4096

/* The bytes of a vector, by its path under tee/ (malloc'd, asserted). */
static inline unsigned char *
tv_load(const char *rel, size_t *len)
{
	char path[TV_PATH_MAX];
	char *buf = NULL;
	int n;

	n = snprintf(path, sizeof(path), "%s/tee/%s", SEALPOD_TESTDATA, rel);
	assert_true(n > 0 && (size_t)n < sizeof(path));
	assert_int_equal(file_read_all(path, TV_FILE_MAX, &buf, len), SP_OK);
	return (unsigned char *)buf;
}

/* expected.json, parsed once per process. */
static inline yajl_val
tv_expected(void)
{
	static yajl_val tree;
	char err[256];
	size_t len = 0;
	char *text;

	if (tree == NULL) {
		text = (char *)tv_load("expected.json", &len);
		tree = json_parse(text, len, TV_EXPECTED_MAX, err, sizeof(err));
		free(text);
		assert_non_null(tree);
	}
	return tree;
}

/* The expected object of one vector. */
static inline yajl_val
tv_vector(const char *rel)
{
	yajl_val v = json_get(tv_expected(), rel);

	assert_non_null(v);
	assert_true(YAJL_IS_OBJECT(v));
	return v;
}

/* n bytes at p must be the lower-case hex string want. */
static inline void
tv_assert_hex(const unsigned char *p, size_t n, const char *want)
{
	char *hex = malloc(2 * n + 1);

	assert_non_null(hex);
	assert_non_null(want);
	hex_encode(p, n, hex);
	assert_string_equal(hex, want);
	free(hex);
}

/* A string member of an expected object (asserted present). */
static inline const char *
tv_str(yajl_val v, const char *key)
{
	const char *s = json_get_str(v, key);

	assert_non_null(s);
	return s;
}

/* An integer member (asserted present). */
static inline uint64_t
tv_u64(yajl_val v, const char *key)
{
	uint64_t n = 0;

	assert_int_equal(json_get_u64(v, key, &n), 0);
	return n;
}

/* "0x..." as a number. */
static inline uint64_t
tv_hexnum(yajl_val v, const char *key)
{
	const char *s = tv_str(v, key);

	assert_true(strncmp(s, "0x", 2) == 0);
	return strtoull(s + 2, NULL, 16);
}

/* The path at the start of a "path (description)" string. */
static inline void
tv_path_of(const char *s, char *out, size_t cap)
{
	size_t n = strcspn(s, " ");

	assert_true(n < cap);
	memcpy(out, s, n);
	out[n] = '\0';
}

#endif
