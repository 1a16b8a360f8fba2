/*
 * test_ccel.c: the CCEL ACPI table and event-log walker against the real
 * GCE TDX vectors: replaying the log reproduces RTMR0-3 of the quote
 * taken on that TD, with the counts expected.json gives; malformed logs
 * and tables are refused with a named reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "attest/ccel.h"
#include "attest/le.h"
#include "attest/tdx_quote.h"
#include "tee_vectors.h"

#define LOG_REL	  "tdx/ccel/ccel_data.dat"
#define TABLE_REL "tdx/ccel/ccel_table.dat"

/* RTMRs of the quote named by the vector's replayed_rtmr_matches_quote. */
static void
assert_matches_quote(const char *quote_rel, const struct ccel_replay *r)
{
	struct tdx_quote q;
	const char *why;
	unsigned char *buf;
	size_t i, len;

	buf = tv_load(quote_rel, &len);
	assert_int_equal(tdx_quote_parse(buf, len, &q, &why), SP_OK);
	for (i = 0; i < CCEL_RTMR_COUNT; i++) {
		assert_memory_equal(r->rtmr[i], q.body.rtmr[i], TDX_MR_LEN);
	}
	free(buf);
}

static void
check_table(const char *table_rel, uint64_t log_len)
{
	struct ccel_table t;
	const char *why = NULL;
	unsigned char *buf;
	size_t len;

	buf = tv_load(table_rel, &len);
	assert_int_equal(ccel_table_parse(buf, len, &t, &why), SP_OK);
	assert_int_equal(t.cc_type, CCEL_CC_TYPE_TDX);
	assert_string_equal(t.oem_id, "INTEL ");
	/* The log file is the whole log area the table announces. */
	assert_int_equal(t.laml, log_len);
	assert_true(t.lasa != 0);
	free(buf);
}

static void
test_vector(void **state)
{
	yajl_val exp = tv_vector(LOG_REL);
	struct ccel_replay r;
	const char *why = NULL;
	unsigned char *buf;
	const char *key;
	size_t k, len;

	(void)state;
	buf = tv_load(LOG_REL, &len);
	assert_int_equal(ccel_replay(buf, len, &r, &why), SP_OK);
	assert_null(why);
	for (k = 0; k < exp->u.object.len; k++) {
		key = exp->u.object.keys[k];
		if (strcmp(key, "digest_alg") == 0) {
			/* The walker insists on SHA-384 (0x000c). */
			assert_string_equal(tv_str(exp, key),
					    "sha384 (0x000c)");
			assert_int_equal(CCEL_ALG_SHA384, 0x000c);
		} else if (strcmp(key, "events") == 0) {
			assert_int_equal(r.events, tv_u64(exp, key));
		} else if (strcmp(key, "used_bytes") == 0) {
			assert_int_equal(r.used, tv_u64(exp, key));
		} else if (strcmp(key, "replayed_rtmr_matches_quote") == 0) {
			assert_matches_quote(tv_str(exp, key), &r);
		} else if (strcmp(key, "table") == 0) {
			check_table(tv_str(exp, key), len);
		} else if (strcmp(key, "note") == 0) {
			/* The replay rule it states is what passes above. */
			assert_non_null(strstr(tv_str(exp, key), "SHA384"));
		} else {
			fail_msg("expected.json key %s not checked", key);
		}
	}
	free(buf);
}

/* Cutting the log anywhere never reads past the cut: either a clean
 * stop at a record boundary or a named refusal. */
static void
test_every_cut(void **state)
{
	struct ccel_replay r, full;
	const char *why;
	unsigned char *buf;
	size_t len, n, ok = 0, i;

	(void)state;
	buf = tv_load(LOG_REL, &len);
	assert_int_equal(ccel_replay(buf, len, &full, &why), SP_OK);
	for (n = 0; n <= full.used; n++) {
		why = NULL;
		if (ccel_replay(buf, n, &r, &why) != SP_OK) {
			assert_non_null(why);
			continue;
		}
		ok++;
		assert_true(r.used <= n);
		assert_true(r.events <= full.events);
		/* What was not walked is padding-like, never a record. */
		for (i = r.used; i < n; i++) {
			assert_true(buf[i] == buf[r.used] &&
				    (buf[i] == 0 || buf[i] == 0xFF));
		}
	}
	/* The header end and each of the 43 record ends. */
	assert_true(ok >= full.events + 1);
	free(buf);
}

/* A minimal log: Spec ID header with the given algorithms, then raw. */
static size_t
build_log(unsigned char *out, const uint16_t *algs, const uint16_t *sizes,
	  size_t nalgs)
{
	size_t off = 0, i, data_len = 16 + 4 + 4 + 4 + 4 * nalgs + 1;

	memset(out, 0, 32);
	le_put32(out + 4, CCEL_EV_NO_ACTION);
	le_put32(out + 28, (uint32_t)data_len);
	off = 32;
	memcpy(out + off, "Spec ID Event03", 16);
	le_put32(out + off + 24, (uint32_t)nalgs);
	for (i = 0; i < nalgs; i++) {
		out[off + 28 + 4 * i] = (unsigned char)algs[i];
		out[off + 29 + 4 * i] = (unsigned char)(algs[i] >> 8);
		out[off + 30 + 4 * i] = (unsigned char)sizes[i];
		out[off + 31 + 4 * i] = (unsigned char)(sizes[i] >> 8);
	}
	out[off + data_len - 1] = 0;
	return off + data_len;
}

/* One TCG_PCR_EVENT2 with a single digest of alg, digest all 0x11. */
static size_t
add_event(unsigned char *out, uint32_t mr, uint32_t type, uint16_t alg,
	  size_t dlen)
{
	le_put32(out, mr);
	le_put32(out + 4, type);
	le_put32(out + 8, 1);
	out[12] = (unsigned char)alg;
	out[13] = (unsigned char)(alg >> 8);
	memset(out + 14, 0x11, dlen);
	le_put32(out + 14 + dlen, 3);
	memcpy(out + 18 + dlen, "abc", 3);
	return 21 + dlen;
}

static void
expect_log(const unsigned char *log, size_t len, const char *reason)
{
	struct ccel_replay r;
	const char *why = NULL;

	if (reason == NULL) {
		assert_int_equal(ccel_replay(log, len, &r, &why), SP_OK);
	} else {
		assert_int_equal(ccel_replay(log, len, &r, &why),
				 SP_E_INTEGRITY);
		assert_string_equal(why, reason);
	}
}

static void
test_synthetic(void **state)
{
	static const uint16_t sha384[] = {CCEL_ALG_SHA384};
	static const uint16_t s48[] = {48};
	static const uint16_t sha256[] = {0x000B};
	static const uint16_t s32[] = {32};
	unsigned char log[1024];
	struct ccel_replay r;
	const char *why;
	size_t n;

	(void)state;
	n = build_log(log, sha384, s48, 1);
	expect_log(log, n, NULL);

	/* One RTMR1 event: RTMR1 = SHA-384(0^48 || 0x11^48), from Python's
	 * hashlib; the others stay zero. */
	n += add_event(log + n, 2, 0x80000001, CCEL_ALG_SHA384, 48);
	assert_int_equal(ccel_replay(log, n, &r, &why), SP_OK);
	assert_int_equal(r.events, 1);
	assert_int_equal(r.used, n);
	tv_assert_hex(r.rtmr[1], 48,
		      "c7304e0aec48bbbc703c099b425485b7a60e19b6a83630b0"
		      "fb558ce2f02ec41e4cdf205335b4b613b3537ad83eb62262");
	n = build_log(log, sha256, s32, 1);
	expect_log(log, n, "ccel_no_sha384");

	n = build_log(log, sha384, s48, 1);
	n += add_event(log + n, 5, 0x80000001, CCEL_ALG_SHA384, 48);
	expect_log(log, n, "ccel_mr_index_out_of_range");

	n = build_log(log, sha384, s48, 1);
	n += add_event(log + n, 1, 0x80000001, 0x000B, 32);
	expect_log(log, n, "ccel_bad_event_digests");

	n = build_log(log, sha384, s48, 1);
	n += add_event(log + n, 1, 0x80000001, CCEL_ALG_SHA384, 48);
	le_put32(log + n - 7, 1000); /* event data past the end */
	expect_log(log, n, "ccel_truncated_event_data");

	memcpy(log + 32, "Spec ID Event02", 16);
	expect_log(log, n, "ccel_spec_id_missing");
	expect_log(log, 10, "ccel_truncated_header");
}

static void
test_table_malformed(void **state)
{
	struct ccel_table t;
	const char *why;
	unsigned char *buf;
	size_t len;

	(void)state;
	buf = tv_load(TABLE_REL, &len);
	assert_int_equal(ccel_table_parse(buf, len - 1, &t, &why),
			 SP_E_INTEGRITY);
	assert_string_equal(why, "ccel_table_truncated");
	buf[9] ^= 1;
	assert_int_equal(ccel_table_parse(buf, len, &t, &why), SP_E_INTEGRITY);
	assert_string_equal(why, "ccel_table_bad_checksum");
	buf[9] ^= 1;
	buf[0] = 'X';
	assert_int_equal(ccel_table_parse(buf, len, &t, &why), SP_E_INTEGRITY);
	assert_string_equal(why, "ccel_table_bad_signature");
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vector),
	    cmocka_unit_test(test_every_cut),
	    cmocka_unit_test(test_synthetic),
	    cmocka_unit_test(test_table_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
