/*
 * test_b64.c: RFC 4648 test vectors, round trips and strict rejection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "b64.h"

struct vec {
	const char *plain;
	const char *std;
	const char *url;
};

/* RFC 4648 §10. */
static const struct vec vecs[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

static void
check_encode(const char *plain, enum b64_variant v, const char *want)
{
	char out[64];
	long n;

	n = b64_encode(plain, strlen(plain), v, out, sizeof(out));
	assert_int_equal(n, (long)strlen(want));
	assert_string_equal(out, want);
	assert_int_equal(b64_encoded_size(strlen(plain), v), strlen(want) + 1);
}

static void
check_decode(const char *enc, enum b64_variant v, const char *want)
{
	unsigned char out[64];
	long n;

	n = b64_decode(enc, strlen(enc), v, out, sizeof(out));
	assert_int_equal(n, (long)strlen(want));
	assert_memory_equal(out, want, strlen(want));
	assert_true((size_t)n <= b64_decoded_max(strlen(enc)));
}

static void
test_rfc4648_vectors(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		check_encode(vecs[i].plain, B64_STD, vecs[i].std);
		check_encode(vecs[i].plain, B64_URL, vecs[i].url);
		check_decode(vecs[i].std, B64_STD, vecs[i].plain);
		check_decode(vecs[i].url, B64_URL, vecs[i].plain);
	}
}

static void
test_alphabets_differ(void **state)
{
	static const unsigned char raw[] = {0xfb, 0xff, 0xbf};
	char out[16];
	unsigned char back[8];

	(void)state;
	assert_int_equal(b64_encode(raw, 3, B64_STD, out, sizeof(out)), 4);
	assert_string_equal(out, "+/+/");
	assert_int_equal(b64_encode(raw, 3, B64_URL, out, sizeof(out)), 4);
	assert_string_equal(out, "-_-_");

	assert_int_equal(b64_decode("-_-_", 4, B64_URL, back, sizeof(back)), 3);
	assert_memory_equal(back, raw, 3);
	assert_int_equal(b64_decode("-_-_", 4, B64_STD, back, sizeof(back)),
			 -1);
	assert_int_equal(b64_decode("+/+/", 4, B64_URL, back, sizeof(back)),
			 -1);
}

static void
test_round_trip(void **state)
{
	unsigned char raw[300];
	unsigned char back[300];
	char *enc;
	size_t n;
	size_t i;
	int v;

	(void)state;
	for (i = 0; i < sizeof(raw); i++) {
		raw[i] = (unsigned char)(i * 37 + 11);
	}
	for (v = B64_STD; v <= B64_URL; v++) {
		for (n = 0; n <= sizeof(raw); n++) {
			enc = b64_encode_alloc(raw, n, (enum b64_variant)v);
			assert_non_null(enc);
			assert_int_equal(b64_decode(enc, strlen(enc),
						    (enum b64_variant)v, back,
						    sizeof(back)),
					 (long)n);
			assert_memory_equal(back, raw, n);
			free(enc);
		}
	}
}

static void
test_reject(void **state)
{
	static const char *const bad_std[] = {
	    "Zg=",	/* length not a multiple of 4 */
	    "Zg",	/* padding missing */
	    "Zh==",	/* non-zero trailing bits */
	    "Zm9=",	/* non-zero trailing bits */
	    "Z===",	/* three pads */
	    "====",	/* only pads */
	    "=Zg=",	/* pad first */
	    "Zg==Zg==", /* pad in the middle */
	    "Zm9v\n",	/* newline */
	    "Zm 9v",	/* space */
	    "Zm9v ",	/* trailing space */
	    "Zm-v",	/* url alphabet */
	    "Zm_v",	/* url alphabet */
	    "Zm9\xc3",	/* non-ASCII */
	    "Zm9v====", /* too much padding */
	};
	static const char *const bad_url[] = {
	    "Zg==",	    /* padding not allowed */
	    "Zg=",	    /* padding not allowed */
	    "Z",	    /* one leftover character */
	    "Zm9vY",  "Zh", /* non-zero trailing bits */
	    "Zm+v",	    /* std alphabet */
	    "Zm/v",	    /* std alphabet */
	    "Zm9v\r", "Zm.v",
	};
	unsigned char out[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_std) / sizeof(bad_std[0]); i++) {
		assert_int_equal(b64_decode(bad_std[i], strlen(bad_std[i]),
					    B64_STD, out, sizeof(out)),
				 -1);
	}
	for (i = 0; i < sizeof(bad_url) / sizeof(bad_url[0]); i++) {
		assert_int_equal(b64_decode(bad_url[i], strlen(bad_url[i]),
					    B64_URL, out, sizeof(out)),
				 -1);
	}
}

static void
test_embedded_nul_rejected(void **state)
{
	unsigned char out[8];

	(void)state;
	assert_int_equal(b64_decode("Zm\0v", 4, B64_STD, out, sizeof(out)), -1);
}

static void
test_small_buffers(void **state)
{
	char enc[8];
	unsigned char dec[8];

	(void)state;
	/* "foobar" needs 9 bytes with the NUL. */
	assert_int_equal(b64_encode("foobar", 6, B64_STD, enc, 8), -1);
	assert_int_equal(b64_decode("Zm9vYmFy", 8, B64_STD, dec, 5), -1);
	assert_int_equal(b64_decode("Zm9vYmFy", 8, B64_STD, dec, 6), 6);
	assert_int_equal(b64_decode("", 0, B64_STD, NULL, 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc4648_vectors),
	    cmocka_unit_test(test_alphabets_differ),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_reject),
	    cmocka_unit_test(test_embedded_nul_rejected),
	    cmocka_unit_test(test_small_buffers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
