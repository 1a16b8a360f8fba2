/*
 * test_preflight.c: what providers need from the guest (preflight.c),
 * against fake platform roots: modules listed under a fake /sys/module
 * (a test root is never given a module of this machine's), configfs
 * trees standing in for a mounted configfs, device paths, and the named
 * error for each missing piece. The mount itself runs only as root, in
 * a private mount namespace, on a temp dir; otherwise it is skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "attest/preflight.h"
#include "fake_configfs.h"

static char root[] = "/tmp/sealpod-test-preflight.XXXXXX";

static void
mk(const char *rel)
{
	char path[FAKE_PATH_MAX];
	char *p;

	snprintf(path, sizeof(path), "%s%s", root, rel);
	for (p = path + strlen(root) + 1; *p != '\0'; p++) {
		if (*p == '/') {
			*p = '\0';
			(void)mkdir(path, 0755);
			*p = '/';
		}
	}
	(void)mkdir(path, 0755);
}

static void
touch(const char *rel)
{
	char path[FAKE_PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s%s", root, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
}

static int
rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void
reset_root(void)
{
	(void)nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	assert_int_equal(mkdir(root, 0700), 0);
	fake_log_clear();
}

static void
test_table(void **state)
{
	(void)state;
	assert_non_null(preflight_find("tdx"));
	assert_non_null(preflight_find("snp"));
	assert_non_null(preflight_find("tpm"));
	assert_non_null(preflight_find("az-snp-vtpm"));
	assert_null(preflight_find("sample"));
	assert_int_equal(preflight_run("sample", root, 1), SP_OK);
}

/* tdx step by step: each missing piece is named, then it passes. */
static void
test_tdx(void **state)
{
	(void)state;
	reset_root();
	assert_int_equal(preflight_run("tdx", root, 1), SP_E_ATTEST);
	assert_true(fake_log_has("\"reason\":\"mountpoint_missing\""));
	assert_true(fake_log_has("\"path\":\"/sys/kernel/config\""));

	/* A populated configfs tree without tsm/report: modules first. */
	mk("/sys/kernel/config/tsm");
	fake_log_clear();
	assert_int_equal(preflight_run("tdx", root, 1), SP_E_ATTEST);
	assert_true(fake_log_has("\"reason\":\"module_missing\""));
	assert_true(fake_log_has("\"module\":\"tdx_guest\""));
	assert_true(fake_log_has("\"load\":\"test_root\""));

	mk("/sys/module/tdx_guest");
	fake_log_clear();
	assert_int_equal(preflight_run("tdx", root, 1), SP_E_ATTEST);
	assert_true(fake_log_has("\"module\":\"tsm_report\""));

	/* The older name of the report core counts too. */
	mk("/sys/module/tsm");
	fake_log_clear();
	assert_int_equal(preflight_run("tdx", root, 1), SP_E_ATTEST);
	assert_true(fake_log_has("\"reason\":\"path_missing\""));
	assert_true(fake_log_has("/sys/kernel/config/tsm/report"));

	mk("/sys/kernel/config/tsm/report");
	fake_log_clear();
	assert_int_equal(preflight_run("tdx", root, 1), SP_OK);
	assert_true(fake_log_has("attest.preflight.ok"));
}

/* An interface that exists proves its module, loaded or built in. */
static void
test_interface_proves_module(void **state)
{
	(void)state;
	reset_root();
	mk("/sys/kernel/config/tsm/report");
	assert_int_equal(preflight_run("tdx", root, 1), SP_OK);
	assert_false(fake_log_has("module_missing"));
}

/* snp: the device node alone is enough; configfs is optional. */
static void
test_snp(void **state)
{
	(void)state;
	reset_root();
	mk("/sys/kernel/config/other");
	assert_int_equal(preflight_run("snp", root, 1), SP_E_ATTEST);
	assert_true(fake_log_has("\"module\":\"sev_guest\""));

	mk("/dev");
	touch("/dev/sev-guest");
	fake_log_clear();
	assert_int_equal(preflight_run("snp", root, 1), SP_OK);

	/* No configfs mount point: only a warning for snp. */
	reset_root();
	mk("/dev");
	touch("/dev/sev-guest");
	assert_int_equal(preflight_run("snp", root, 1), SP_OK);
	assert_true(fake_log_has("attest.preflight.degraded"));
}

/* tpm: only the guest's own TPM has needs; swtpm has none here. */
static void
test_tpm(void **state)
{
	(void)state;
	reset_root();
	assert_int_equal(preflight_run("tpm", root, 0), SP_OK);
	assert_false(fake_log_has("attest.preflight"));

	mk("/sys/kernel/security/tpm0");
	fake_log_clear();
	assert_int_equal(preflight_run("tpm", root, 1), SP_E_ATTEST);
	assert_true(fake_log_has("\"module\":\"tpm_crb\""));

	mk("/sys/module/tpm_tis");
	fake_log_clear();
	assert_int_equal(preflight_run("az-snp-vtpm", root, 1), SP_E_ATTEST);
	assert_true(fake_log_has("\"path\":\"/dev/tpmrm0\""));

	mk("/dev");
	touch("/dev/tpmrm0");
	fake_log_clear();
	assert_int_equal(preflight_run("tpm", root, 1), SP_OK);
}

/* Not permitted to mount: the named error, nothing mounted. */
static void
test_mount_denied(void **state)
{
	struct preflight_mount m = {"configfs", PREFLIGHT_CONFIGFS, 1};

	(void)state;
	reset_root();
	mk("/sys/kernel/config");
	assert_int_equal(preflight_mount(root, &m, 0), SP_E_ATTEST);
	assert_true(fake_log_has("\"reason\":\"configfs_mount_denied\""));
	m.required = 0;
	assert_int_equal(preflight_mount(root, &m, 0), SP_OK);
}

/*
 * The real mount, in a child with its own mount namespace so nothing
 * leaks: 0 when securityfs ended up mounted on the temp dir, 77 to skip.
 * securityfs because this test machine's kernel has no configfs; the
 * code path is the same.
 */
static int
mount_child(void)
{
	struct preflight_mount m = {"securityfs", PREFLIGHT_SECURITYFS, 1};
	char path[FAKE_PATH_MAX];
	struct statfs sfs;
	int rc = 1;

	if (geteuid() != 0 || unshare(CLONE_NEWNS) != 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		return 77;
	}
	snprintf(path, sizeof(path), "%s" PREFLIGHT_SECURITYFS, root);
	if (preflight_mount(root, &m, 1) == SP_OK && statfs(path, &sfs) == 0 &&
	    sfs.f_type == SECURITYFS_MAGIC) {
		rc = 0;
	}
	(void)umount2(path, MNT_DETACH);
	return rc;
}

static void
test_mount(void **state)
{
	int status = 0;
	pid_t pid;

	(void)state;
	reset_root();
	mk("/sys/kernel/security");
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		_exit(mount_child());
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		skip();
	}
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(fake_log_has("attest.preflight.mounted"));
}

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(root) == NULL) {
		return -1;
	}
	fake_log_start();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	(void)nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	fake_log_stop();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_tdx),
	    cmocka_unit_test(test_interface_proves_module),
	    cmocka_unit_test(test_snp),
	    cmocka_unit_test(test_tpm),
	    cmocka_unit_test(test_mount_denied),
	    cmocka_unit_test(test_mount),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
