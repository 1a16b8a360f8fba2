/*
 * privs.c: user switch, no_new_privs, not dumpable, no capabilities.
 *
 * Capabilities go through the raw capget/capset system calls so that no
 * libcap is needed in the image.
 */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "privs.h"

#define PRIVS_PWBUF 4096
/* Probe the bounding set up to here; the kernel says EINVAL past its end. */
#define PRIVS_CAP_PROBE_MAX 64

static void
failed(const char *step, int e)
{
	log_event(LOG_ERR, "priv.drop.failed", "internal",
		  LOG_STR("step", step), LOG_ERRNO(e));
}

static enum sp_err
switch_user(const char *user)
{
	struct passwd pw;
	struct passwd *res = NULL;
	char buf[PRIVS_PWBUF];
	enum sp_err rc = SP_E_USAGE;

	if (getpwnam_r(user, &pw, buf, sizeof(buf), &res) != 0 || res == NULL) {
		log_event(LOG_ERR, "priv.drop.failed", "usage",
			  LOG_STR("step", "unknown user"));
		goto out;
	}
	rc = SP_E_INTERNAL;
	if (setgroups(1, &pw.pw_gid) != 0 && errno != EPERM) {
		failed("setgroups", errno);
		goto out;
	}
	if (setgid(pw.pw_gid) != 0 || setuid(pw.pw_uid) != 0) {
		failed("setuid", errno);
		goto out;
	}
	if (setuid(0) == 0 && pw.pw_uid != 0) {
		failed("setuid", EPERM);
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

/* 1 when the effective set of this thread holds cap. */
static int
have_cap(unsigned cap)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];
	int yes = 0;

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) == 0 && cap < 64) {
		yes = (data[cap / 32].effective >> (cap % 32)) & 1;
	}
	return yes;
}

/*
 * Empty the bounding set, so that no exec could ever regain a capability.
 * Needs CAP_SETPCAP, so it runs before the user switch clears it.
 */
static void
drop_bounding(void)
{
	unsigned cap;

	if (have_cap(CAP_SETPCAP)) {
		for (cap = 0; cap < PRIVS_CAP_PROBE_MAX; cap++) {
			if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 &&
			    errno == EINVAL) {
				break;
			}
		}
	}
}

static enum sp_err
drop_caps(void)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];
	enum sp_err rc = SP_E_INTERNAL;

	/* EINVAL: a kernel without ambient capabilities has none to clear. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 &&
	    errno != EINVAL) {
		failed("ambient", errno);
		goto out;
	}
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) != 0) {
		failed("capset", errno);
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

enum sp_err
privs_drop(const char *user)
{
	enum sp_err rc = SP_OK;

	drop_bounding();
	if (user != NULL) {
		rc = switch_user(user);
		if (rc != SP_OK) {
			goto out;
		}
	}
	rc = SP_E_INTERNAL;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		failed("no_new_privs", errno);
		goto out;
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		failed("dumpable", errno);
		goto out;
	}
	rc = drop_caps();
	if (rc != SP_OK) {
		goto out;
	}
	log_event(LOG_INFO, "priv.dropped", NULL, LOG_U64("uid", getuid()),
		  LOG_BOOL("user_switched", user != NULL));
out:
	return rc;
}
