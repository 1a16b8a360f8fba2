/*
 * test_gpu.c: additional device evidence (gpu.c) and the device runtime
 * data it is bound to (kbs_wire.c), against the reference vector of
 * kbs-protocol.md §2.3: the device digest leaves out the
 * additional-evidence key. Without NVIDIA's library (never here),
 * required fails closed and optional sends no devices.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "b64.h"
#include "fake_configfs.h"
#include "gpu.h"
#include "json.h"
#include "kbs_wire.h"
#include "util.h"

/* §2.3 synthetic vector. */
static const char vec_nonce[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
static const char vec_jwk[] =
    "{\"alg\":\"ECDH-ES+A256KW\",\"crv\":\"P-256\",\"kty\":\"EC\","
    "\"x\":\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE\","
    "\"y\":\"AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI\"}";
static const char vec_device_digest[] =
    "2b951545aaaf961a11c38406887b6a136f2afc7eede38fd1"
    "51a3a500c7f005de380139e012d33a1288d8f5eeef97a934";

static void
device_digest(unsigned char *d, size_t *dlen)
{
	struct strbuf sb;

	strbuf_init(&sb, 4096);
	kbs_wire_device_runtime_data(&sb, vec_nonce, vec_jwk);
	assert_true(strbuf_ok(&sb));
	assert_int_equal(
	    kbs_wire_digest(KBS_HASH_SHA384, sb.buf, sb.len, d, dlen), SP_OK);
	strbuf_free(&sb);
}

static void
test_device_digest_vector(void **state)
{
	unsigned char d[KBS_DIGEST_MAX];
	char hex[2 * KBS_DIGEST_MAX + 1];
	size_t dlen = 0;

	(void)state;
	device_digest(d, &dlen);
	assert_int_equal(dlen, 48);
	assert_string_equal(hex_encode(d, dlen, hex), vec_device_digest);
}

static void
test_modes(void **state)
{
	enum gpu_mode m = GPU_NONE;

	(void)state;
	assert_int_equal(gpu_mode_parse("none", &m), 0);
	assert_int_equal(m, GPU_NONE);
	assert_int_equal(gpu_mode_parse("required", &m), 0);
	assert_int_equal(m, GPU_REQUIRED);
	assert_int_equal(gpu_mode_parse("optional", &m), 0);
	assert_int_equal(gpu_mode_parse("sampledevice", &m), 0);
	assert_int_equal(m, GPU_SAMPLEDEVICE);
	assert_int_equal(gpu_mode_parse("Required", &m), -1);
	assert_int_equal(gpu_mode_parse("", &m), -1);
	assert_string_equal(gpu_mode_name(GPU_OPTIONAL), "optional");
}

/* sampledevice: {"sampledevice":{...report_data = device digest...}}. */
static void
test_sampledevice(void **state)
{
	unsigned char d[KBS_DIGEST_MAX], got[KBS_DIGEST_MAX];
	char err[128];
	size_t dlen = 0;
	char *ae = NULL;
	yajl_val v, dev;
	const char *rd;

	(void)state;
	device_digest(d, &dlen);
	assert_int_equal(
	    gpu_additional_evidence(GPU_SAMPLEDEVICE, d, dlen, &ae), SP_OK);
	v = json_parse(ae, strlen(ae), 4096, err, sizeof(err));
	assert_non_null(v);
	dev = json_get(v, "sampledevice");
	assert_string_equal(json_get_str(dev, "svn"), "2");
	rd = json_get_str(dev, "report_data");
	assert_non_null(rd);
	assert_int_equal(b64_decode(rd, strlen(rd), B64_STD, got, sizeof(got)),
			 48);
	assert_memory_equal(got, d, 48);
	yajl_tree_free(v);
	free(ae);
}

/* No NVAT here: required fails closed, optional and none send "". */
static void
test_nvidia_absent(void **state)
{
	unsigned char d[KBS_DIGEST_MAX];
	size_t dlen = 0;
	char *ae = NULL;

	(void)state;
	device_digest(d, &dlen);
	fake_log_clear();
	assert_int_equal(gpu_additional_evidence(GPU_REQUIRED, d, dlen, &ae),
			 SP_E_ATTEST);
	assert_null(ae);
	assert_true(fake_log_has("\"reason\":\"gpu_evidence_unavailable\""));
	/* The SPDM nonce is the device digest's first 32 bytes. */
	assert_true(fake_log_has("\"spdm_nonce\":\"2b951545aaaf961a11c38406887b"
				 "6a136f2afc7eede38fd151a3a500c7f005de\""));

	assert_int_equal(gpu_additional_evidence(GPU_OPTIONAL, d, dlen, &ae),
			 SP_OK);
	assert_string_equal(ae, "");
	free(ae);
	assert_int_equal(gpu_additional_evidence(GPU_NONE, d, dlen, &ae),
			 SP_OK);
	assert_string_equal(ae, "");
	free(ae);
	assert_int_equal(gpu_additional_evidence(GPU_NONE, d, 0, &ae),
			 SP_E_INTERNAL);
}

static int
setup(void **state)
{
	(void)state;
	fake_log_start();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	fake_log_stop();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_device_digest_vector),
	    cmocka_unit_test(test_modes),
	    cmocka_unit_test(test_sampledevice),
	    cmocka_unit_test(test_nvidia_absent),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
