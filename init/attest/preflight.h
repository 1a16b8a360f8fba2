/*
 * preflight.h: what a provider needs from the guest before it can
 * collect evidence (tee-guest-interfaces.md §5): kernel modules, the
 * configfs and securityfs mounts, device nodes. Each need is checked
 * under a platform root ("" for "/") and the missing piece is named in
 * the error.
 *
 * Modules are loaded (libkmod, like modprobe) only on the real root and
 * only with CAP_SYS_MODULE; filesystems are mounted only where the
 * mount point is an empty directory and the mount is permitted. A test
 * root is never given a module, and a populated directory under it
 * counts as a mounted filesystem (tests build configfs-like trees).
 */
#ifndef SEALPOD_PREFLIGHT_H
#define SEALPOD_PREFLIGHT_H

#include "err.h"

#define PREFLIGHT_PATH_MAX    4096
#define PREFLIGHT_CONFIGFS    "/sys/kernel/config"
#define PREFLIGHT_SECURITYFS  "/sys/kernel/security"
#define PREFLIGHT_SYS_MODULE  "/sys/module"
#define PREFLIGHT_MODULE_ALTS 3 /* names one module goes by */
#define PREFLIGHT_MAX_MODULES 2
#define PREFLIGHT_MAX_MOUNTS  2
#define PREFLIGHT_MAX_PATHS   2

/* One module, present under any of its names (NULL-terminated). */
struct preflight_module {
	const char *names[PREFLIGHT_MODULE_ALTS + 1];
};

/* One filesystem at a path under the root. */
struct preflight_mount {
	const char *fstype; /* "configfs", "securityfs" */
	const char *path;   /* PREFLIGHT_CONFIGFS, ... */
	int required;	    /* 0: a failure is only a warning */
};

/* What a provider needs; unused slots are zero. */
struct preflight_needs {
	const char *tee;
	int tpm_device; /* needs apply only with a device TCTI */
	struct preflight_module modules[PREFLIGHT_MAX_MODULES];
	struct preflight_mount mounts[PREFLIGHT_MAX_MOUNTS];
	/* Any one of these must exist after modules and mounts. */
	const char *paths[PREFLIGHT_MAX_PATHS + 1];
};

/* The needs of provider tee, or NULL when it needs nothing. */
const struct preflight_needs *preflight_find(const char *tee);

/*
 * Check, load and mount what tee needs under root ("" for "/").
 * tpm_device is 1 when the TPM is reached through the guest's device
 * (the default TCTI), 0 for swtpm/mssim, whose needs are not the
 * guest's. Returns SP_OK, or SP_E_ATTEST logged as
 * attest.preflight.failed with reason module_missing (field module),
 * <fs>_mount_denied, <fs>_mount_failed, mountpoint_missing or
 * path_missing (field path).
 */
SP_MUST_CHECK enum sp_err preflight_run(const char *tee, const char *root,
					int tpm_device);

/*
 * One module under root: present in <root>/sys/module, or (real root
 * only) built in or loaded by libkmod when may_load. Returns SP_OK or
 * SP_E_ATTEST (logged, reason module_missing). For tests.
 */
SP_MUST_CHECK enum sp_err preflight_module(const char *root,
					   const struct preflight_module *m,
					   int may_load);

/*
 * One mount under root (see the header comment for when it mounts).
 * Returns SP_OK, or SP_E_ATTEST (logged) when m->required, else SP_OK
 * after a warning. For tests.
 */
SP_MUST_CHECK enum sp_err preflight_mount(const char *root,
					  const struct preflight_mount *m,
					  int may_mount);

#endif
