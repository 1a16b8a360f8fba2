/*
 * test_tsm.c: configfs-tsm requests against a fake tree whose "kernel"
 * (the tsm.c test hook) writes a report holding the inblob: the happy
 * path, the provider check, generation races retried on a fresh entry,
 * EBUSY retried after a pause, firmware errors never retried, the
 * outblob ceiling, and no entry ever left behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_configfs.h"
#include "util.h"

static char root[] = "/tmp/sealpod-test-tsm.XXXXXX";
static unsigned char inblob[TSM_INBLOB_LEN];

static int
setup(void **state)
{
	size_t i;

	(void)state;
	if (mkdtemp(root) == NULL) {
		return -1;
	}
	for (i = 0; i < sizeof(inblob); i++) {
		inblob[i] = (unsigned char)(0xA0 + i);
	}
	fake_log_start();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	tsm_set_hook(NULL, NULL);
	fake_log_stop();
	nftw(root, fake_rm, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* A fresh report directory and kernel for each test. */
static void
fresh(struct fake_kernel *k, const char *provider)
{
	char path[FAKE_PATH_MAX];

	snprintf(path, sizeof(path), "%s/sys", root);
	nftw(path, fake_rm, 8, FTW_DEPTH | FTW_PHYS);
	fake_mkdirs(root, "sys/kernel/config/tsm/report");
	memset(k, 0, sizeof(*k));
	k->provider = provider;
	k->fake_len = 1100;
	tsm_set_hook(fake_hook, k);
	fake_log_clear();
}

static void
test_report(void **state)
{
	struct tsm_report rep;
	struct fake_kernel k;

	(void)state;
	fresh(&k, "tdx_guest");
	assert_int_equal(tsm_report_get(root, "tdx_guest", inblob, 0, &rep),
			 SP_OK);
	assert_int_equal(rep.outlen, 1100);
	assert_memory_equal(rep.outblob, "FAKE", 4);
	assert_memory_equal(rep.outblob + 4, inblob, TSM_INBLOB_LEN);
	assert_null(rep.auxblob);
	assert_int_equal(k.mkdirs, 1);
	assert_int_equal(fake_entries(root), 0);
	tsm_report_free(&rep);
	assert_null(rep.outblob);
}

static void
test_auxblob(void **state)
{
	static const unsigned char aux[] = "certificate table";
	struct tsm_report rep;
	struct fake_kernel k;

	(void)state;
	fresh(&k, "sev_guest");
	k.aux = aux;
	k.aux_len = sizeof(aux);
	assert_int_equal(tsm_report_get(root, "sev_guest", inblob, 1, &rep),
			 SP_OK);
	assert_int_equal(rep.auxlen, sizeof(aux));
	assert_memory_equal(rep.auxblob, aux, sizeof(aux));
	tsm_report_free(&rep);

	/* An empty auxblob (hosts without certificates) is not an error. */
	k.aux = NULL;
	assert_int_equal(tsm_report_get(root, "sev_guest", inblob, 1, &rep),
			 SP_OK);
	assert_int_equal(rep.auxlen, 0);
	tsm_report_free(&rep);
	assert_int_equal(fake_entries(root), 0);
}

static void
test_configfs_missing(void **state)
{
	char empty[FAKE_PATH_MAX];
	struct tsm_report rep;
	struct fake_kernel k;

	(void)state;
	fresh(&k, "tdx_guest");
	snprintf(empty, sizeof(empty), "%s/none", root);
	assert_int_equal(tsm_report_get(empty, "tdx_guest", inblob, 0, &rep),
			 SP_E_NOTFOUND);
	assert_true(fake_log_has("\"configfs_tsm_missing\""));
	assert_false(tsm_present(empty));
	assert_true(tsm_present(root));
}

static void
test_provider_mismatch(void **state)
{
	struct tsm_report rep;
	struct fake_kernel k;

	(void)state;
	fresh(&k, "sev_guest");
	assert_int_equal(tsm_report_get(root, "tdx_guest", inblob, 0, &rep),
			 SP_E_ATTEST);
	assert_true(fake_log_has("\"tsm_provider_mismatch\""));
	assert_int_equal(k.outblob_reads, 0);
	assert_int_equal(fake_entries(root), 0);

	fresh(&k, NULL); /* driver unloaded: no provider registered */
	assert_int_equal(tsm_report_get(root, "tdx_guest", inblob, 0, &rep),
			 SP_E_ATTEST);
	assert_true(fake_log_has("\"tsm_no_provider\""));
	assert_int_equal(fake_entries(root), 0);
}

static void
test_race_retried(void **state)
{
	struct tsm_report rep;
	struct fake_kernel k;

	(void)state;
	fresh(&k, "tdx_guest");
	k.race_reads = 1;
	assert_int_equal(tsm_report_get(root, "tdx_guest", inblob, 0, &rep),
			 SP_OK);
	assert_int_equal(k.mkdirs, 2);
	assert_true(fake_log_has("\"tsm_generation_race\""));
	assert_true(fake_log_has("\"attempts\":2"));
	tsm_report_free(&rep);

	fresh(&k, "tdx_guest");
	k.race_reads = 100;
	assert_int_equal(tsm_report_get(root, "tdx_guest", inblob, 0, &rep),
			 SP_E_ATTEST);
	assert_int_equal(k.mkdirs, TSM_ATTEMPTS);
	assert_null(rep.outblob);
	assert_int_equal(fake_entries(root), 0);
}

static void
test_busy_retried(void **state)
{
	struct tsm_report rep;
	struct fake_kernel k;
	uint64_t t0;

	(void)state;
	fresh(&k, "tdx_guest");
	k.busy_reads = 1;
	t0 = now_ns();
	assert_int_equal(tsm_report_get(root, "tdx_guest", inblob, 0, &rep),
			 SP_OK);
	/* The quote buffer belongs to the VMM for a while: we waited. */
	assert_true(now_ns() - t0 >= (uint64_t)TSM_BUSY_DELAY_MS * 900000);
	assert_int_equal(k.mkdirs, 2);
	assert_true(fake_log_has("\"tsm_busy\""));
	tsm_report_free(&rep);
}

/* Firmware-side errors: reported with their reason, never retried. */
static void
test_errors_not_retried(void **state)
{
	static const struct {
		int err;
		const char *reason;
	} cases[] = {
	    {EINVAL, "\"tsm_request_invalid\""},
	    {ENOTTY, "\"tsm_vmpck_disabled\""},
	    {EIO, "\"tsm_quote_failed\""},
	    {ETIMEDOUT, "\"tsm_quote_timeout\""},
	    {ENXIO, "\"tsm_firmware_error\""},
	};
	struct tsm_report rep;
	struct fake_kernel k;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fresh(&k, "sev_guest");
		k.read_errno = cases[i].err;
		assert_int_equal(
		    tsm_report_get(root, "sev_guest", inblob, 1, &rep),
		    SP_E_ATTEST);
		assert_int_equal(k.mkdirs, 1);
		assert_int_equal(k.outblob_reads, 1);
		assert_true(fake_log_has(cases[i].reason));
		assert_int_equal(fake_entries(root), 0);
	}

	fresh(&k, "tdx_guest");
	k.write_errno = EINVAL;
	assert_int_equal(tsm_report_get(root, "tdx_guest", inblob, 0, &rep),
			 SP_E_ATTEST);
	assert_true(fake_log_has("\"tsm_inblob_rejected\""));
	assert_int_equal(k.outblob_reads, 0);
}

static void
test_outblob_sizes(void **state)
{
	struct tsm_report rep;
	struct fake_kernel k;

	(void)state;
	/* An old QGS hands back nothing and the kernel does not notice. */
	fresh(&k, "tdx_guest");
	k.fake_len = 0;
	assert_int_equal(tsm_report_get(root, "tdx_guest", inblob, 0, &rep),
			 SP_E_ATTEST);
	assert_true(fake_log_has("\"tsm_outblob_empty\""));

	fresh(&k, "tdx_guest");
	k.fake_len = TSM_OUTBLOB_MAX + 1;
	assert_int_equal(tsm_report_get(root, "tdx_guest", inblob, 0, &rep),
			 SP_E_ATTEST);
	assert_true(fake_log_has("\"tsm_blob_over_ceiling\""));
	assert_int_equal(k.mkdirs, 1);

	fresh(&k, "tdx_guest");
	k.fake_len = TSM_OUTBLOB_MAX;
	assert_int_equal(tsm_report_get(root, "tdx_guest", inblob, 0, &rep),
			 SP_OK);
	assert_int_equal(rep.outlen, TSM_OUTBLOB_MAX);
	tsm_report_free(&rep);
}

static void
test_provider_probe(void **state)
{
	char name[TSM_ATTR_MAX], empty[FAKE_PATH_MAX];
	struct fake_kernel k;

	(void)state;
	fresh(&k, "sev_guest");
	assert_int_equal(tsm_provider(root, name, sizeof(name)), SP_OK);
	assert_string_equal(name, "sev_guest");
	assert_int_equal(fake_entries(root), 0);

	fresh(&k, NULL);
	assert_int_equal(tsm_provider(root, name, sizeof(name)), SP_E_NOTFOUND);
	snprintf(empty, sizeof(empty), "%s/none", root);
	assert_int_equal(tsm_provider(empty, name, sizeof(name)),
			 SP_E_NOTFOUND);
	assert_int_equal(fake_entries(root), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_report),
	    cmocka_unit_test(test_auxblob),
	    cmocka_unit_test(test_configfs_missing),
	    cmocka_unit_test(test_provider_mismatch),
	    cmocka_unit_test(test_race_retried),
	    cmocka_unit_test(test_busy_retried),
	    cmocka_unit_test(test_errors_not_retried),
	    cmocka_unit_test(test_outblob_sizes),
	    cmocka_unit_test(test_provider_probe),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
