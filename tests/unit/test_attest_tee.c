/*
 * test_attest_tee.c: the "tdx" and "snp" providers end to end on fake
 * platform trees (configfs-tsm through the test hook, ACPI CCEL files,
 * /dev/sev-guest through the ioctl hook) with real quotes and reports,
 * and "tee: auto" detection on TDX, SNP and empty trees.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/ioctl.h>

#include <linux/sev-guest.h>

#include <cmocka.h>

#include "attest.h"
#include "attest/attest_providers.h"
#include "attest/le.h"
#include "attest/snp.h"
#include "attest/snp_report.h"
#include "attest/tdx.h"
#include "attest/tdx_quote.h"
#include "b64.h"
#include "config.h"
#include "fake_configfs.h"
#include "tee_vectors.h"

#define JSON_MAX	(1024 * 1024)
#define V4_REPORT_DATA	0x238 /* REPORTDATA of a v4 quote */
#define SNP_REPORT_DATA 0x50
#define CCEL_USED	18101 /* expected.json used_bytes */

static char root[] = "/tmp/sealpod-test-tee.XXXXXX";
static unsigned char digest[48];
static struct fake_kernel kernel;

static int
setup(void **state)
{
	size_t i;

	(void)state;
	if (mkdtemp(root) == NULL) {
		return -1;
	}
	for (i = 0; i < sizeof(digest); i++) {
		digest[i] = (unsigned char)(i * 7 + 1);
	}
	fake_log_start();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	tsm_set_hook(NULL, NULL);
	snp_set_ioctl_hook(NULL);
	fake_log_stop();
	nftw(root, fake_rm, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* An empty platform tree; with_tsm adds configfs-tsm and its kernel. */
static void
fresh_tree(int with_tsm, const char *provider)
{
	char path[FAKE_PATH_MAX];

	snprintf(path, sizeof(path), "%s/sys", root);
	nftw(path, fake_rm, 8, FTW_DEPTH | FTW_PHYS);
	snprintf(path, sizeof(path), "%s/dev", root);
	nftw(path, fake_rm, 8, FTW_DEPTH | FTW_PHYS);
	memset(&kernel, 0, sizeof(kernel));
	kernel.provider = provider;
	kernel.fake_len = 1100;
	tsm_set_hook(with_tsm ? fake_hook : NULL, &kernel);
	snp_set_ioctl_hook(NULL);
	if (with_tsm) {
		fake_mkdirs(root, "sys/kernel/config/tsm/report");
	}
	fake_log_clear();
}

/* Copy a vector into the tree at rel (a path like sys/...). */
static void
place(const char *vector, const char *dir, const char *name)
{
	char path[FAKE_PATH_MAX];
	unsigned char *buf;
	size_t len;

	fake_mkdirs(root, dir);
	snprintf(path, sizeof(path), "%s/%s", root, dir);
	buf = tv_load(vector, &len);
	fake_write(path, name, buf, len);
	free(buf);
}

static void
place_ccel(void)
{
	place("tdx/ccel/ccel_table.dat", "sys/firmware/acpi/tables", "CCEL");
	place("tdx/ccel/ccel_data.dat", "sys/firmware/acpi/tables/data",
	      "CCEL");
}

static yajl_val
parse_json(const char *json)
{
	char err[128];
	yajl_val v = json_parse(json, strlen(json), JSON_MAX, err, sizeof(err));

	assert_non_null(v);
	return v;
}

/* Decode a base64 member into a new buffer. */
static unsigned char *
member_b64(yajl_val v, const char *key, size_t *len)
{
	const char *s = json_get_str(v, key);
	unsigned char *out;
	long n;

	assert_non_null(s);
	out = malloc(b64_decoded_max(strlen(s)) + 1);
	assert_non_null(out);
	n = b64_decode(s, strlen(s), B64_STD, out, b64_decoded_max(strlen(s)));
	assert_true(n >= 0);
	*len = (size_t)n;
	return out;
}

/* The TDX provider with a real v4 quote template: the kernel patches
 * our report data in, as TDG.MR.REPORT would. */
static char *
tdx_collect_with(const char *quote_rel, enum sp_err want)
{
	unsigned char *quote;
	char *json = NULL;
	size_t qlen;

	quote = tv_load(quote_rel, &qlen);
	kernel.tmpl = quote;
	kernel.tmpl_len = qlen;
	kernel.rd_off = V4_REPORT_DATA;
	assert_int_equal(
	    attest_tdx.collect(root, digest, sizeof(digest), &json), want);
	assert_int_equal(fake_entries(root), 0);
	kernel.tmpl = NULL;
	free(quote);
	return json;
}

static void
test_tdx_evidence(void **state)
{
	unsigned char *quote, *log, *ccel, rd[64];
	size_t qlen, llen, clen, vlen;
	yajl_val v;
	char *json;

	(void)state;
	fresh_tree(1, "tdx_guest");
	place_ccel();
	json = tdx_collect_with("tdx/ccel/cos-113-tdx-quote.dat", SP_OK);
	v = parse_json(json);
	assert_int_equal(v->u.object.len, 2);

	/* The quote is the outblob, carrying the zero-padded digest. */
	quote = member_b64(v, "quote", &qlen);
	assert_int_equal(qlen, 8000);
	memset(rd, 0, sizeof(rd));
	memcpy(rd, digest, sizeof(digest));
	assert_memory_equal(quote + V4_REPORT_DATA, rd, sizeof(rd));

	/* The event log is the CCEL up to its end, then 8 x 0xFF. */
	log = member_b64(v, "cc_eventlog", &llen);
	ccel = tv_load("tdx/ccel/ccel_data.dat", &vlen);
	clen = CCEL_USED;
	assert_int_equal(llen, clen + 8);
	assert_memory_equal(log, ccel, clen);
	assert_memory_equal(log + clen, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);

	/* Its replay matches this quote's RTMRs: no warning. */
	assert_false(fake_log_has("eventlog_mismatch"));
	yajl_tree_free(v);
	free(json);
	free(quote);
	free(log);
	free(ccel);
}

static void
test_tdx_without_ccel(void **state)
{
	yajl_val v;
	char *json;

	(void)state;
	fresh_tree(1, "tdx_guest");
	json = tdx_collect_with("tdx/trustee_tdx_quote_4.dat", SP_OK);
	v = parse_json(json);
	assert_true(YAJL_IS_NULL(json_get(v, "cc_eventlog")));
	assert_true(fake_log_has("\"ccel_missing\""));
	yajl_tree_free(v);
	free(json);

	/* Another TD's log does not replay to this quote: warned. */
	fresh_tree(1, "tdx_guest");
	place_ccel();
	json = tdx_collect_with("tdx/quote_v4_spr_e4.dat", SP_OK);
	assert_true(fake_log_has("\"rtmr_replay_differs\""));
	free(json);
}

static void
test_tdx_refusals(void **state)
{
	char path[FAKE_PATH_MAX];

	(void)state;
	/* The provider returned a quote for other report data. */
	fresh_tree(1, "tdx_guest");
	kernel.no_patch = 1;
	assert_null(
	    tdx_collect_with("tdx/trustee_tdx_quote_4.dat", SP_E_ATTEST));
	assert_true(fake_log_has("\"quote_report_data_mismatch\""));

	/* Too short to be a quote; long enough but not one. */
	fresh_tree(1, "tdx_guest");
	kernel.fake_len = TDX_QUOTE_MIN - 1;
	assert_int_equal(attest_tdx.collect(root, digest, 48, &(char *){NULL}),
			 SP_E_ATTEST);
	assert_true(fake_log_has("\"quote_too_short\""));
	fresh_tree(1, "tdx_guest");
	assert_int_equal(attest_tdx.collect(root, digest, 48, &(char *){NULL}),
			 SP_E_ATTEST);
	assert_true(fake_log_has("\"quote_version_unsupported\""));

	/* A corrupt ACPI table fails the evidence, naming the rule. */
	fresh_tree(1, "tdx_guest");
	place_ccel();
	snprintf(path, sizeof(path), "%s/sys/firmware/acpi/tables", root);
	fake_write(path, "CCEL", "CCEL", 4);
	assert_null(
	    tdx_collect_with("tdx/ccel/cos-113-tdx-quote.dat", SP_E_ATTEST));
	assert_true(fake_log_has("\"ccel_table_truncated\""));

	/* No configfs-tsm at all. */
	fresh_tree(0, NULL);
	assert_int_equal(attest_tdx.collect(root, digest, 48, &(char *){NULL}),
			 SP_E_ATTEST);
	assert_true(fake_log_has("\"configfs_tsm_missing\""));

	/* More report data than a TD report holds. */
	assert_int_equal(attest_tdx.collect(root, digest, 65, &(char *){NULL}),
			 SP_E_ATTEST);
}

/* A certificate table with one cert of the given GUID (hex). */
static unsigned char *
one_cert_table(const char *guid_hex, const char *cert_rel, size_t *len)
{
	unsigned char *cert, *t;
	size_t clen;

	cert = tv_load(cert_rel, &clen);
	*len = 48 + clen;
	t = calloc(1, *len);
	assert_non_null(t);
	assert_int_equal(hex_decode(guid_hex, 32, t, 16), 0);
	le_put32(t + 16, 48);
	le_put32(t + 20, (uint32_t)clen);
	memcpy(t + 48, cert, clen);
	free(cert);
	return t;
}

/* attestation_report.report_data is the zero-padded digest. */
static void
assert_snp_binding(yajl_val v)
{
	yajl_val rd =
	    json_get(json_get(v, "attestation_report"), "report_data");
	size_t i;

	assert_int_equal(rd->u.array.len, 64);
	for (i = 0; i < 64; i++) {
		assert_int_equal(rd->u.array.values[i]->u.number.i,
				 i < sizeof(digest) ? digest[i] : 0);
	}
}

static void
test_snp_configfs(void **state)
{
	unsigned char *report, *table;
	size_t rlen, tlen;
	char *json = NULL;
	yajl_val v, chain;

	(void)state;
	fresh_tree(1, "sev_guest");
	report = tv_load("snp/trustee_vlek_report.bin", &rlen);
	table = one_cert_table("a8074bc2a25a483eaae639c045a0b8a1",
			       "snp/trustee_vlek.der", &tlen);
	kernel.tmpl = report;
	kernel.tmpl_len = rlen;
	kernel.rd_off = SNP_REPORT_DATA;
	kernel.aux = table;
	kernel.aux_len = tlen;
	assert_int_equal(attest_snp.collect(root, digest, 48, &json), SP_OK);
	v = parse_json(json);
	assert_snp_binding(v);
	chain = json_get(v, "cert_chain");
	assert_int_equal(chain->u.array.len, 1);
	assert_string_equal(json_get_str(chain->u.array.values[0], "cert_type"),
			    "VLEK");
	/* This report was taken at VMPL 1: Trustee will refuse it. */
	assert_true(fake_log_has("\"snp_vmpl_not_zero\""));
	assert_true(fake_log_has("\"cert_chain_sent\":true"));
	assert_int_equal(fake_entries(root), 0);
	yajl_tree_free(v);
	free(json);
	free(report);
	free(table);
}

/* The kernel's side of SNP_GET_EXT_REPORT, for the ioctl hook. */
struct fake_sev {
	int calls;
	int fail_errno; /* 0: succeed */
	uint32_t fw_error;
	uint32_t vmm_error;
	const unsigned char *report;
	const unsigned char *table;
	size_t table_len;
};

static struct fake_sev sev;

static int
fake_sev_ioctl(int fd, unsigned long req, void *arg)
{
	struct snp_guest_request_ioctl *io = arg;
	struct snp_ext_report_req *er;
	unsigned char *resp;

	(void)fd;
	sev.calls++;
	assert_int_equal(req, SNP_GET_EXT_REPORT);
	assert_int_equal(io->msg_version, 1);
	er = (struct snp_ext_report_req *)(uintptr_t)io->req_data;
	assert_int_equal(er->data.vmpl, 0);
	assert_int_equal(er->certs_len, SNP_EXT_CERTS_LEN);
	assert_int_equal(er->certs_address % 4096, 0);
	if (sev.fail_errno != 0) {
		io->fw_error = sev.fw_error;
		io->vmm_error = sev.vmm_error;
		errno = sev.fail_errno;
		return -1;
	}
	resp = (unsigned char *)(uintptr_t)io->resp_data;
	le_put32(resp, 0);
	le_put32(resp + 4, SNP_REPORT_LEN);
	memcpy(resp + 32, sev.report, SNP_REPORT_LEN);
	memcpy(resp + 32 + SNP_REPORT_DATA, er->data.user_data, 64);
	memcpy((void *)(uintptr_t)er->certs_address, sev.table, sev.table_len);
	return 0;
}

static void
sev_tree(void)
{
	char path[FAKE_PATH_MAX];

	fresh_tree(0, NULL);
	fake_mkdirs(root, "dev");
	snprintf(path, sizeof(path), "%s/dev", root);
	fake_write(path, "sev-guest", "", 0);
	memset(&sev, 0, sizeof(sev));
	snp_set_ioctl_hook(fake_sev_ioctl);
}

static void
test_snp_ioctl(void **state)
{
	unsigned char *report, *table, *vcek;
	size_t rlen, tlen, vlen, i;
	char *json = NULL;
	yajl_val v, data;

	(void)state;
	sev_tree();
	report = tv_load("snp/trustee_vcek_report.bin", &rlen);
	table = one_cert_table("63da758de6644564adc5f4b93be8accd",
			       "snp/trustee_vcek.der", &tlen);
	sev.report = report;
	sev.table = table;
	sev.table_len = tlen;
	assert_int_equal(attest_snp.collect(root, digest, 48, &json), SP_OK);
	assert_int_equal(sev.calls, 1);
	v = parse_json(json);
	assert_snp_binding(v);
	data = json_get(json_get(v, "cert_chain")->u.array.values[0], "data");
	vcek = tv_load("snp/trustee_vcek.der", &vlen);
	assert_int_equal(data->u.array.len, vlen);
	for (i = 0; i < vlen; i++) {
		assert_int_equal(data->u.array.values[i]->u.number.i, vcek[i]);
	}
	/* A version 2 report: Trustee wants 3..5, we say so. */
	assert_true(fake_log_has("\"snp_report_version_old\""));
	yajl_tree_free(v);
	free(json);
	free(report);
	free(table);
	free(vcek);
}

/* One request, whatever the error: a firmware error wipes the VMPCK. */
static void
test_snp_ioctl_errors(void **state)
{
	static const struct {
		int err;
		uint32_t fw, vmm;
		const char *reason;
	} cases[] = {
	    {EIO, 0x16, 0, "\"snp_firmware_error\""},
	    {ENOTTY, 0, 0, "\"snp_vmpck_disabled_or_no_driver\""},
	    {EIO, 0, 2, "\"snp_host_busy\""},
	    {EIO, 0, 1, "\"snp_certs_buffer_too_small\""},
	};
	char *json = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sev_tree();
		sev.fail_errno = cases[i].err;
		sev.fw_error = cases[i].fw;
		sev.vmm_error = cases[i].vmm;
		assert_int_equal(attest_snp.collect(root, digest, 48, &json),
				 SP_E_ATTEST);
		assert_int_equal(sev.calls, 1);
		assert_true(fake_log_has(cases[i].reason));
		assert_null(json);
	}

	fresh_tree(0, NULL);
	assert_int_equal(attest_snp.collect(root, digest, 48, &json),
			 SP_E_ATTEST);
	assert_true(fake_log_has("\"snp_no_interface\""));
}

static const char *
detect(void)
{
	const struct attest_provider *p = NULL;

	if (attest_detect(root, &p) != SP_OK) {
		return NULL;
	}
	return p->tee;
}

static void
test_auto(void **state)
{
	char path[FAKE_PATH_MAX];
	const char *tee;

	(void)state;
	fresh_tree(1, "tdx_guest");
	tee = detect();
	assert_non_null(tee);
	assert_string_equal(tee, "tdx");
	assert_true(fake_log_has("\"configfs_tsm_provider\""));
	assert_true(fake_log_has("\"attest.detect.chosen\""));
	assert_int_equal(fake_entries(root), 0);

	fresh_tree(1, "sev_guest");
	tee = detect();
	assert_non_null(tee);
	assert_string_equal(tee, "snp");

	/* Kernels before 6.7: only the device nodes. */
	fresh_tree(0, NULL);
	fake_mkdirs(root, "dev");
	snprintf(path, sizeof(path), "%s/dev", root);
	fake_write(path, "tdx_guest", "", 0);
	assert_string_equal(detect(), "tdx");
	assert_true(fake_log_has("\"device_node\""));
	fresh_tree(0, NULL);
	fake_mkdirs(root, "dev");
	fake_write(path, "sev-guest", "", 0);
	assert_string_equal(detect(), "snp");

	/* Nothing: a named failure, and never the sample provider. */
	fresh_tree(0, NULL);
	assert_null(detect());
	assert_true(fake_log_has("\"no_tee_detected\""));
	assert_false(fake_log_has("\"tee\":\"sample\""));
}

/* The configuration takes tdx, snp and auto as tee values. */
static void
test_config_tee(void **state)
{
	static const char *const tees[] = {"tdx", "snp", "auto"};
	char dir[FAKE_PATH_MAX], text[512], path[FAKE_PATH_MAX + 16];
	struct init_config cfg;
	size_t i;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/cfg", root);
	fake_mkdirs(root, "cfg");
	for (i = 0; i < sizeof(tees) / sizeof(tees[0]); i++) {
		snprintf(text, sizeof(text),
			 "tee: %s\n"
			 "kbs: {url: 'https://k'}\n"
			 "key: kbs:///a/b/c\n"
			 "artifacts: {source: 'file:///s'}\n"
			 "target: /dev/shm/t\n",
			 tees[i]);
		fake_write(dir, "init.yaml", text, strlen(text));
		snprintf(path, sizeof(path), "%s/init.yaml", dir);
		memset(&cfg, 0, sizeof(cfg));
		assert_int_equal(init_config_load(path, &cfg), SP_OK);
		assert_string_equal(cfg.tee, tees[i]);
		init_config_free(&cfg);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tdx_evidence),
	    cmocka_unit_test(test_tdx_without_ccel),
	    cmocka_unit_test(test_tdx_refusals),
	    cmocka_unit_test(test_snp_configfs),
	    cmocka_unit_test(test_snp_ioctl),
	    cmocka_unit_test(test_snp_ioctl_errors),
	    cmocka_unit_test(test_auto),
	    cmocka_unit_test(test_config_tee),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
