/*
 * tsm.h: one report from configfs-tsm, the kernel's cross-vendor report
 * interface (Linux 6.7+; tee-guest-interfaces.md §1).
 *
 * Each request uses a private entry under <root>/sys/kernel/config/tsm/
 * report: mkdir, check the provider, read the generation, write the
 * 64-byte inblob, read outblob (and auxblob), read the generation again
 * (it must have moved by exactly our one write, or another writer raced
 * us and we retry on a fresh entry), rmdir. Every path is under root
 * ("" for "/") so tests can use a directory tree.
 *
 * A real configfs creates an entry's attributes on mkdir and generates
 * the report when outblob is read; a plain directory does neither. The
 * test hook stands in for the kernel at exactly those points.
 */
#ifndef SEALPOD_TSM_H
#define SEALPOD_TSM_H

#include <stddef.h>

#include "err.h"

#define TSM_REPORT_DIR	  "/sys/kernel/config/tsm/report"
#define TSM_INBLOB_LEN	  64
#define TSM_OUTBLOB_MAX	  (32 * 1024) /* the kernel's TSM_OUTBLOB_MAX */
#define TSM_AUXBLOB_MAX	  (32 * 1024) /* SNP cert tables are <= 16 KiB */
#define TSM_ATTR_MAX	  64   /* text attributes: provider, generation */
#define TSM_ATTEMPTS	  3    /* races and EBUSY, as DCAP does */
#define TSM_BUSY_DELAY_MS 1000 /* a TDX quote still owned by the VMM */
#define TSM_PATH_MAX	  4096

/* What the caller gets: malloc'd blobs, freed by tsm_report_free(). */
struct tsm_report {
	unsigned char *outblob;
	size_t outlen;
	unsigned char *auxblob; /* NULL when not asked for or empty */
	size_t auxlen;
};

/* Points where the kernel would act, for the test hook. */
enum tsm_event {
	TSM_EV_MKDIR, /* after mkdir: create the attributes */
	TSM_EV_WRITE, /* after a write to attr: bump the generation */
	TSM_EV_READ,  /* before a read of attr: generate blobs */
	TSM_EV_RMDIR, /* before rmdir: drop the attributes */
};

/*
 * Test seam: hook(entry, event, attr, arg) runs at each point above with
 * the entry directory's path and the attribute's name (NULL for the
 * directory events). A non-zero return is an errno the operation then
 * fails with, as the kernel would. NULL (the default) turns it off. Not
 * thread-safe; for unit tests only.
 */
void tsm_set_hook(int (*hook)(const char *entry, enum tsm_event ev,
			      const char *attr, void *arg),
		  void *arg);

/* 1 when <root>/sys/kernel/config/tsm/report is a directory. */
int tsm_present(const char *root);

/*
 * The provider name ("tdx_guest", "sev_guest", ...) of a scratch entry
 * under root, into out (cap bytes). Returns SP_OK, SP_E_NOTFOUND when
 * configfs-tsm or a provider is missing, or SP_E_ATTEST.
 */
SP_MUST_CHECK enum sp_err tsm_provider(const char *root, char *out, size_t cap);

/*
 * Get one report for inblob from provider under root: the outblob, and
 * the auxblob when want_aux. Logs the failure with a reason from the
 * kernel's errno (§1.4). Returns SP_OK with *out filled, SP_E_NOTFOUND
 * when configfs-tsm is absent, or SP_E_ATTEST. Firmware errors are never
 * retried: only generation races and EBUSY are, up to TSM_ATTEMPTS.
 */
SP_MUST_CHECK enum sp_err
tsm_report_get(const char *root, const char *provider,
	       const unsigned char inblob[TSM_INBLOB_LEN], int want_aux,
	       struct tsm_report *out);

/* Free both blobs and zero *r. NULL is allowed. */
void tsm_report_free(struct tsm_report *r);

#endif
