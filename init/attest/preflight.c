/*
 * preflight.c: modules, mounts and device paths a provider needs
 * (preflight.h). The table lives here rather than in each provider so
 * that the providers stay about evidence; a new provider adds its row.
 *
 * Order per provider: mounts first (a PID 1 must mount configfs itself,
 * tee-guest-interfaces.md §1.2); then, when none of the provider's
 * interface paths exists, the modules that would create them (checked,
 * and loaded where permitted), and the paths once more. An interface
 * that exists proves its module, built in or not, so a guest whose
 * modules.builtin we cannot read is not refused for that.
 */
#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <libkmod.h>

#include "log.h"
#include "preflight.h"

#ifndef CONFIGFS_MAGIC
#define CONFIGFS_MAGIC 0x62656570 /* fs/configfs/mount.c */
#endif
#define PREFLIGHT_REASON_MAX  64
#define PREFLIGHT_MOUNT_FLAGS (MS_NOSUID | MS_NODEV | MS_NOEXEC)

static const struct preflight_needs preflight_table[] = {
    {
	.tee = "tdx",
	.modules = {{{"tdx_guest"}}, {{"tsm_report", "tsm"}}},
	.mounts = {{"configfs", PREFLIGHT_CONFIGFS, 1}},
	.paths = {"/sys/kernel/config/tsm/report"},
    },
    {
	.tee = "snp",
	.modules = {{{"sev_guest"}}, {{"tsm_report", "tsm"}}},
	/* /dev/sev-guest still works without configfs-tsm. */
	.mounts = {{"configfs", PREFLIGHT_CONFIGFS, 0}},
	.paths = {"/sys/kernel/config/tsm/report", "/dev/sev-guest"},
    },
    {
	.tee = "tpm",
	.tpm_device = 1,
	.modules = {{{"tpm_crb", "tpm_tis"}}},
	/* The event log is diagnostics only (tpm.h). */
	.mounts = {{"securityfs", PREFLIGHT_SECURITYFS, 0}},
	.paths = {"/dev/tpmrm0", "/dev/tpm0"},
    },
    {
	.tee = "az-snp-vtpm",
	.tpm_device = 1,
	.modules = {{{"tpm_crb", "tpm_tis"}}},
	.paths = {"/dev/tpmrm0", "/dev/tpm0"},
    },
    {
	.tee = "az-tdx-vtpm",
	.tpm_device = 1,
	.modules = {{{"tpm_crb", "tpm_tis"}}},
	.paths = {"/dev/tpmrm0", "/dev/tpm0"},
    },
};

const struct preflight_needs *
preflight_find(const char *tee)
{
	const struct preflight_needs *rc = NULL;
	size_t i;

	for (i = 0; tee != NULL &&
		    i < sizeof(preflight_table) / sizeof(preflight_table[0]);
	     i++) {
		if (strcmp(preflight_table[i].tee, tee) == 0) {
			rc = &preflight_table[i];
		}
	}
	return rc;
}

static int
real_root(const char *root)
{
	return root[0] == '\0' || strcmp(root, "/") == 0;
}

static int
under(char *out, size_t cap, const char *root, const char *a, const char *b)
{
	int n = snprintf(out, cap, "%s%s%s%s", real_root(root) ? "" : root, a,
			 b != NULL ? "/" : "", b != NULL ? b : "");

	return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* 1 when the effective set holds cap. */
static int
has_cap(unsigned cap)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	int rc = 0;

	memset(d, 0, sizeof(d));
	if (syscall(SYS_capget, &h, d) == 0 && cap / 32 < 2) {
		rc = (d[cap / 32].effective & (1u << (cap % 32))) != 0;
	}
	return rc;
}

/* libkmod's own messages, at debug level and without arguments. */
static void
kmod_log(void *data, int priority, const char *file, int line, const char *fn,
	 const char *format, va_list args)
{
	(void)data;
	(void)file;
	(void)line;
	(void)format;
	(void)args;
	log_event(LOG_DEBUG, "attest.preflight.kmod", NULL,
		  LOG_I64("priority", priority), LOG_STR("function", fn));
}

/*
 * The real root only: 1 when libkmod finds name built in or live, or
 * loads it (with dependencies, honouring the blacklist) when may_load.
 */
static int
kmod_ensure(const char *name, int may_load)
{
	struct kmod_module *mod = NULL;
	struct kmod_ctx *ctx;
	int state, r, ok = 0;

	ctx = kmod_new(NULL, NULL);
	if (ctx == NULL) {
		goto out;
	}
	kmod_set_log_fn(ctx, kmod_log, NULL);
	if (kmod_module_new_from_name_lookup(ctx, name, &mod) != 0 ||
	    mod == NULL) {
		goto out;
	}
	state = kmod_module_get_initstate(mod);
	if (state == KMOD_MODULE_BUILTIN || state == KMOD_MODULE_LIVE) {
		ok = 1;
		goto out;
	}
	if (!may_load) {
		goto out;
	}

	r = kmod_module_probe_insert_module(mod, KMOD_PROBE_APPLY_BLACKLIST,
					    NULL, NULL, NULL, NULL);
	ok = r == 0;
	log_event(ok ? LOG_INFO : LOG_WARN, "attest.preflight.module_load",
		  ok ? NULL : "module_load_failed", LOG_STR("module", name),
		  LOG_I64("result", r));
out:
	kmod_module_unref(mod);
	kmod_unref(ctx);
	return ok;
}

static int
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

enum sp_err
preflight_module(const char *root, const struct preflight_module *m,
		 int may_load)
{
	char path[PREFLIGHT_PATH_MAX];
	enum sp_err rc = SP_E_ATTEST;
	size_t i;

	for (i = 0; m->names[i] != NULL; i++) {
		if (under(path, sizeof(path), root, PREFLIGHT_SYS_MODULE,
			  m->names[i]) == 0 &&
		    is_dir(path)) {
			rc = SP_OK;
			goto out;
		}
	}
	/* A test root is never given a module of this machine's. */
	for (i = 0; real_root(root) && m->names[i] != NULL; i++) {
		if (kmod_ensure(m->names[i], may_load)) {
			rc = SP_OK;
			goto out;
		}
	}
	log_event(LOG_ERR, "attest.preflight.failed", "module_missing",
		  LOG_STR("module", m->names[0]),
		  LOG_STR("load", !real_root(root) ? "test_root"
				  : may_load	   ? "failed"
						   : "not_permitted"));
out:
	return rc;
}

/* 1 when dir holds anything besides . and .. */
static int
dir_populated(const char *path)
{
	struct dirent *de;
	DIR *d = opendir(path);
	int rc = 0;

	while (d != NULL && !rc) {
		de = readdir(d);
		if (de == NULL) {
			break;
		}
		rc = strcmp(de->d_name, ".") != 0 &&
		     strcmp(de->d_name, "..") != 0;
	}
	if (d != NULL) {
		closedir(d);
	}
	return rc;
}

static long
fs_magic(const char *fstype)
{
	return strcmp(fstype, "configfs") == 0 ? CONFIGFS_MAGIC
					       : SECURITYFS_MAGIC;
}

/* Log a mount problem; an error only when the mount is required. */
static enum sp_err
mount_problem(const struct preflight_mount *m, const char *what, int err)
{
	char reason[PREFLIGHT_REASON_MAX];

	if (strcmp(what, "mountpoint_missing") == 0) {
		snprintf(reason, sizeof(reason), "%s", what);
	} else {
		snprintf(reason, sizeof(reason), "%s_%s", m->fstype, what);
	}
	log_event(m->required ? LOG_ERR : LOG_WARN,
		  m->required ? "attest.preflight.failed"
			      : "attest.preflight.degraded",
		  reason, LOG_STR("path", m->path), LOG_ERRNO(err));
	return m->required ? SP_E_ATTEST : SP_OK;
}

enum sp_err
preflight_mount(const char *root, const struct preflight_mount *m,
		int may_mount)
{
	char path[PREFLIGHT_PATH_MAX];
	enum sp_err rc = SP_E_ATTEST;
	struct statfs sfs;

	if (under(path, sizeof(path), root, m->path, NULL) != 0) {
		goto out;
	}
	if (statfs(path, &sfs) != 0 || !is_dir(path)) {
		rc = mount_problem(m, "mountpoint_missing", errno);
		goto out;
	}
	if (sfs.f_type == fs_magic(m->fstype) || dir_populated(path)) {
		rc = SP_OK;
		goto out;
	}
	if (!may_mount) {
		rc = mount_problem(m, "mount_denied", EPERM);
		goto out;
	}

	if (mount(m->fstype, path, m->fstype, PREFLIGHT_MOUNT_FLAGS, NULL) !=
	    0) {
		rc = mount_problem(
		    m, errno == EPERM ? "mount_denied" : "mount_failed", errno);
		goto out;
	}
	log_event(LOG_INFO, "attest.preflight.mounted", NULL,
		  LOG_STR("fstype", m->fstype), LOG_STR("path", m->path));
	rc = SP_OK;
out:
	return rc;
}

/* 1 when any of the needed paths exists under root. */
static int
any_path(const char *root, const struct preflight_needs *n)
{
	char path[PREFLIGHT_PATH_MAX];
	struct stat st;
	size_t i;
	int found = 0;

	for (i = 0; n->paths[i] != NULL && !found; i++) {
		found =
		    under(path, sizeof(path), root, n->paths[i], NULL) == 0 &&
		    stat(path, &st) == 0;
	}
	return found || n->paths[0] == NULL;
}

static enum sp_err
run_mounts(const char *root, const struct preflight_needs *n)
{
	enum sp_err rc = SP_OK;
	size_t i;

	for (i = 0; i < PREFLIGHT_MAX_MOUNTS && n->mounts[i].fstype != NULL &&
		    rc == SP_OK;
	     i++) {
		rc = preflight_mount(root, &n->mounts[i], 1);
	}
	return rc;
}

static enum sp_err
run_modules(const char *root, const struct preflight_needs *n)
{
	int may_load = real_root(root) && has_cap(CAP_SYS_MODULE);
	enum sp_err rc = SP_OK;
	size_t i;

	for (i = 0; i < PREFLIGHT_MAX_MODULES &&
		    n->modules[i].names[0] != NULL && rc == SP_OK;
	     i++) {
		rc = preflight_module(root, &n->modules[i], may_load);
	}
	return rc;
}

enum sp_err
preflight_run(const char *tee, const char *root, int tpm_device)
{
	const struct preflight_needs *n = preflight_find(tee);
	enum sp_err rc = SP_OK;

	if (n != NULL && n->tpm_device && !tpm_device) {
		n = NULL; /* swtpm/mssim: not the guest's TPM */
	}
	if (n == NULL) {
		goto out;
	}
	rc = run_mounts(root, n);
	if (rc != SP_OK || any_path(root, n)) {
		goto out;
	}

	rc = run_modules(root, n);
	if (rc != SP_OK) {
		goto out;
	}
	if (!any_path(root, n)) {
		log_event(LOG_ERR, "attest.preflight.failed", "path_missing",
			  LOG_STR("tee", tee), LOG_STR("path", n->paths[0]));
		rc = SP_E_ATTEST;
	}
out:
	if (rc == SP_OK && n != NULL) {
		log_event(LOG_INFO, "attest.preflight.ok", NULL,
			  LOG_STR("tee", tee));
	}
	return rc;
}
