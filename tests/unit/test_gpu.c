/*
 * test_gpu.c: additional device evidence (gpu.c) and the device runtime
 * data it is bound to (kbs_wire.c), against the reference vector of
 * kbs-protocol.md §2.3: the device digest leaves out the
 * additional-evidence key. Without NVIDIA's library (never here),
 * required fails closed and optional sends no devices. With the NVML
 * stand-in (tests/peers/nvml_standin.c, loaded through
 * gpu_set_library): the §4.10 shape for 0..2 GPUs, the SPDM nonce in
 * each report, every refusal by name, and nvmlShutdown after every
 * successful nvmlInit_v2.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <unistd.h>

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

/* No NVML here: required fails closed, optional and none send "". */
static void
test_nvidia_absent(void **state)
{
	unsigned char d[KBS_DIGEST_MAX];
	size_t dlen = 0;
	char *ae = NULL;

	(void)state;
	device_digest(d, &dlen);
	gpu_set_library("/nonexistent/libnvidia-ml.so.1");
	fake_log_clear();
	assert_int_equal(gpu_additional_evidence(GPU_REQUIRED, d, dlen, &ae),
			 SP_E_ATTEST);
	assert_null(ae);
	assert_true(fake_log_has("\"reason\":\"gpu_library_missing\""));
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

#ifdef SEALPOD_NVML_STANDIN

static char trace_path[] = "/tmp/sealpod-nvml-trace.XXXXXX";

/* Fresh stand-in behaviour: gpus, and one "NAME=value" or NULL. */
static void
standin(const char *gpus, const char *name, const char *value)
{
	unsetenv("SEALPOD_NVML_CC");
	unsetenv("SEALPOD_NVML_DEVTOOLS");
	unsetenv("SEALPOD_NVML_READY");
	unsetenv("SEALPOD_NVML_FAULT");
	setenv("SEALPOD_NVML_GPUS", gpus, 1);
	gpu_set_library(SEALPOD_NVML_STANDIN);
	if (name != NULL) {
		setenv(name, value, 1);
	}
	assert_int_equal(truncate(trace_path, 0), 0);
	fake_log_clear();
}

/* inits nvmlInit_v2 and shutdowns nvmlShutdown calls in the trace. */
static void
assert_balanced(int inits, int shutdowns)
{
	char text[256], *p;
	int i = 0, s = 0;
	size_t n;
	FILE *f = fopen(trace_path, "r");

	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	for (p = strstr(text, "init"); p != NULL; p = strstr(p + 1, "init")) {
		i++;
	}
	for (p = strstr(text, "shutdown"); p != NULL;
	     p = strstr(p + 1, "shutdown")) {
		s++;
	}
	assert_int_equal(i, inits);
	assert_int_equal(s, shutdowns);
}

/* One device_evidence_list entry: arch, uuid, SPDM nonce, chain. */
static void
check_device(yajl_val dev, const char *arch, const unsigned char *d)
{
	const char *ev = json_get_str(dev, "evidence");
	const char *cert = json_get_str(dev, "certificate");
	unsigned char spdm[64], chain[512];
	long n;

	assert_string_equal(json_get_str(dev, "arch"), arch);
	assert_non_null(json_get_str(dev, "uuid"));
	assert_true(strncmp(json_get_str(dev, "uuid"), "GPU-", 4) == 0);
	assert_non_null(ev);
	assert_true(strlen(ev) > 2 * 37);
	/* hex: the SPDM request's first 37 bytes, nonce at offset 4. */
	assert_int_equal(hex_decode(ev, 2 * 37, spdm, 37), 0);
	assert_int_equal(spdm[0], 0x11);
	assert_int_equal(spdm[1], 0xE0);
	assert_memory_equal(spdm + 4, d, GPU_NONCE_LEN);
	assert_non_null(cert);
	n = b64_decode(cert, strlen(cert), B64_STD, chain, sizeof(chain));
	assert_true(n > 27);
	assert_memory_equal(chain, "-----BEGIN CERTIFICATE-----", 27);
}

static void
test_nvidia_two_gpus(void **state)
{
	unsigned char d[KBS_DIGEST_MAX];
	char err[128], *ae = NULL;
	yajl_val v, list;
	size_t dlen = 0;

	(void)state;
	device_digest(d, &dlen);
	standin("2", NULL, NULL);
	assert_int_equal(gpu_preflight(GPU_REQUIRED), SP_OK);
	assert_int_equal(gpu_additional_evidence(GPU_REQUIRED, d, dlen, &ae),
			 SP_OK);
	assert_balanced(2, 2);
	v = json_parse(ae, strlen(ae), GPU_EVIDENCE_MAX, err, sizeof(err));
	assert_non_null(v);
	assert_int_equal(YAJL_IS_OBJECT(v) ? v->u.object.len : 0, 1);
	list = json_get(json_get(v, "nvidia"), "device_evidence_list");
	assert_true(YAJL_IS_ARRAY(list));
	assert_int_equal(list->u.array.len, 2);
	check_device(list->u.array.values[0], "HOPPER", d);
	check_device(list->u.array.values[1], "BLACKWELL", d);
	assert_string_not_equal(json_get_str(list->u.array.values[0], "uuid"),
				json_get_str(list->u.array.values[1], "uuid"));
	yajl_tree_free(v);
	free(ae);

	/* optional with the library behaves the same. */
	standin("1", NULL, NULL);
	assert_int_equal(gpu_additional_evidence(GPU_OPTIONAL, d, dlen, &ae),
			 SP_OK);
	assert_non_null(strstr(ae, "\"arch\":\"HOPPER\""));
	free(ae);
	assert_balanced(1, 1);
}

/*
 * Each refusal: required fails by name (in preflight too, unless it is
 * per device); optional goes on without only when no confidential GPU is
 * there (none found, CC off) and fails like required when a GPU is there
 * but cannot be trusted; inits: nvmlInit_v2 calls that succeed, each to
 * be matched by nvmlShutdown.
 */
static void
expect_refusal(const char *gpus, const char *name, const char *value,
	       const char *reason, int inits)
{
	int per_device = strcmp(reason, "gpu_arch_unsupported") == 0;
	unsigned char d[KBS_DIGEST_MAX];
	char want[96], *ae = NULL;
	size_t dlen = 0;

	device_digest(d, &dlen);
	snprintf(want, sizeof(want), "\"reason\":\"%s\"", reason);
	standin(gpus, name, value);
	assert_int_equal(gpu_preflight(GPU_REQUIRED),
			 per_device ? SP_OK : SP_E_ATTEST);
	assert_int_equal(fake_log_has(want), !per_device);
	assert_int_equal(gpu_additional_evidence(GPU_REQUIRED, d, dlen, &ae),
			 SP_E_ATTEST);
	assert_null(ae);
	assert_true(fake_log_has("\"reason\":\"gpu_evidence_unavailable\""));
	if (strcmp(reason, "gpu_cc_off") == 0 ||
	    strcmp(reason, "gpu_none_found") == 0) {
		assert_int_equal(
		    gpu_additional_evidence(GPU_OPTIONAL, d, dlen, &ae), SP_OK);
		assert_string_equal(ae, "");
	} else {
		assert_int_equal(
		    gpu_additional_evidence(GPU_OPTIONAL, d, dlen, &ae),
		    SP_E_ATTEST);
		assert_null(ae);
	}
	free(ae);
	assert_true(fake_log_has(want));
	assert_balanced(3, 3 * inits);
}

static void
test_nvidia_refusals(void **state)
{
	(void)state;
	expect_refusal("2", "SEALPOD_NVML_CC", "off", "gpu_cc_off", 1);
	expect_refusal("1", "SEALPOD_NVML_DEVTOOLS", "on", "gpu_cc_devtools",
		       1);
	expect_refusal("1", "SEALPOD_NVML_READY", "0", "gpu_not_ready", 1);
	expect_refusal("0", NULL, NULL, "gpu_none_found", 1);
	expect_refusal("1", "SEALPOD_NVML_FAULT", "ampere",
		       "gpu_arch_unsupported", 1);
	expect_refusal("1", "SEALPOD_NVML_FAULT", "init-fails",
		       "gpu_nvml_init_failed", 0);
}

/* Sizes the library reports beyond its buffers: refused, no read. */
static void
test_nvidia_bad_library(void **state)
{
	unsigned char d[KBS_DIGEST_MAX];
	size_t dlen = 0;
	char *ae = NULL;

	(void)state;
	device_digest(d, &dlen);
	standin("2", "SEALPOD_NVML_FAULT", "oversize-report");
	assert_int_equal(gpu_additional_evidence(GPU_REQUIRED, d, dlen, &ae),
			 SP_E_ATTEST);
	assert_true(fake_log_has("\"reason\":\"gpu_report_size_invalid\""));
	assert_balanced(1, 1);
	standin("1", "SEALPOD_NVML_FAULT", "oversize-cert");
	assert_int_equal(gpu_additional_evidence(GPU_REQUIRED, d, dlen, &ae),
			 SP_E_ATTEST);
	assert_true(fake_log_has("\"reason\":\"gpu_cert_size_invalid\""));
	standin("1", "SEALPOD_NVML_FAULT", "ignore-nonce");
	assert_int_equal(gpu_additional_evidence(GPU_REQUIRED, d, dlen, &ae),
			 SP_E_ATTEST);
	assert_true(fake_log_has("\"reason\":\"gpu_report_nonce_mismatch\""));
	assert_null(ae);

	/* A path that does not load, and the default restored. */
	standin("1", NULL, NULL);
	gpu_set_library("/nonexistent/libnvidia-ml.so.1");
	assert_int_equal(gpu_preflight(GPU_REQUIRED), SP_E_ATTEST);
	assert_true(fake_log_has("\"reason\":\"gpu_library_missing\""));
	assert_int_equal(gpu_preflight(GPU_OPTIONAL), SP_OK);
	assert_int_equal(gpu_preflight(GPU_NONE), SP_OK);
	gpu_set_library(NULL);
}

#endif

static int
setup(void **state)
{
	(void)state;
	fake_log_start();
#ifdef SEALPOD_NVML_STANDIN
	close(mkstemp(trace_path));
	setenv("SEALPOD_NVML_TRACE", trace_path, 1);
#endif
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	fake_log_stop();
#ifdef SEALPOD_NVML_STANDIN
	unlink(trace_path);
#endif
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
#ifdef SEALPOD_NVML_STANDIN
	    cmocka_unit_test(test_nvidia_two_gpus),
	    cmocka_unit_test(test_nvidia_refusals),
	    cmocka_unit_test(test_nvidia_bad_library),
#endif
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
