/*
 * tsm.c: configfs-tsm reports (tee-guest-interfaces.md §1.2-§1.4).
 *
 * One private entry per attempt, removed whatever happens. Writes go to
 * attributes the kernel created (never O_CREAT: a typo must not make a
 * file in configfs); inblob is one 64-byte write() and a checked close(),
 * because configfs commits binary attributes on release. Errnos are
 * turned into reason codes that name the missing piece.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "tsm.h"
#include "util.h"

#define TSM_ENTRY_PREFIX "sealpod"

/* Whether another attempt may succeed, and how soon. */
enum tsm_retry {
	TSM_RETRY_NO = 0,
	TSM_RETRY_NOW,	 /* another writer raced us: fresh entry */
	TSM_RETRY_LATER, /* EBUSY: a quote still owned by the VMM */
};

/* One entry directory and whether we created it. */
struct tsm_entry {
	char dir[TSM_PATH_MAX];
	int made;
};

static int (*tsm_hook)(const char *, enum tsm_event, const char *, void *);
static void *tsm_hook_arg;

void
tsm_set_hook(int (*hook)(const char *entry, enum tsm_event ev, const char *attr,
			 void *arg),
	     void *arg)
{
	tsm_hook = hook;
	tsm_hook_arg = arg;
}

/* The kernel's part, in tests; 0 or an errno. */
static int
kernel_step(const struct tsm_entry *e, enum tsm_event ev, const char *attr)
{
	return tsm_hook == NULL ? 0 : tsm_hook(e->dir, ev, attr, tsm_hook_arg);
}

static int
report_dir(const char *root, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s" TSM_REPORT_DIR, root);

	return n > 0 && (size_t)n < cap ? 0 : ENAMETOOLONG;
}

int
tsm_present(const char *root)
{
	char dir[TSM_PATH_MAX];
	struct stat st;

	return report_dir(root, dir, sizeof(dir)) == 0 && stat(dir, &st) == 0 &&
	       S_ISDIR(st.st_mode);
}

/* mkdir a fresh, uniquely named entry. Returns 0 or an errno. */
static int
entry_make(const char *root, struct tsm_entry *e)
{
	static unsigned counter;
	char dir[TSM_PATH_MAX];
	int err, n;

	err = report_dir(root, dir, sizeof(dir));
	if (err != 0) {
		goto out;
	}
	/* pid and counter are unique among live requests; the clock keeps a
	 * recycled pid off an entry a killed process left behind. */
	n = snprintf(
	    e->dir, sizeof(e->dir), "%s/" TSM_ENTRY_PREFIX ".%ld.%u.%" PRIu64,
	    dir, (long)getpid(), counter++, now_ns() % UINT64_C(1000000007));
	if (n < 0 || (size_t)n >= sizeof(e->dir)) {
		err = ENAMETOOLONG;
		goto out;
	}

	if (mkdir(e->dir, 0700) != 0) {
		err = errno;
		goto out;
	}
	e->made = 1;
	err = kernel_step(e, TSM_EV_MKDIR, NULL);
out:
	return err;
}

static void
entry_remove(struct tsm_entry *e)
{
	int err = kernel_step(e, TSM_EV_RMDIR, NULL);

	if (err == 0 && rmdir(e->dir) != 0) {
		err = errno;
	}
	if (err != 0) {
		log_event(LOG_WARN, "attest.tsm.cleanup_failed", "rmdir_failed",
			  LOG_STR("entry", e->dir), LOG_ERRNO(err));
	}
	e->made = 0;
}

static int
attr_path(const struct tsm_entry *e, const char *attr, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%s", e->dir, attr);

	return n > 0 && (size_t)n < cap ? 0 : ENAMETOOLONG;
}

/* Read fd to EOF into a new buffer of at most max bytes; 0 or errno. */
static int
read_bounded(int fd, size_t max, unsigned char **out, size_t *len)
{
	unsigned char *buf = malloc(max + 1);
	size_t got = 0;
	ssize_t n;
	int err = ENOMEM;

	if (buf == NULL) {
		goto out;
	}
	for (;;) {
		n = read(fd, buf + got, max + 1 - got);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			err = errno;
			goto out;
		}
		if (n == 0) {
			break;
		}
		got += (size_t)n;
		if (got > max) {
			err = EFBIG;
			goto out;
		}
	}
	*out = buf;
	*len = got;
	buf = NULL;
	err = 0;
out:
	free(buf);
	return err;
}

/* A whole attribute (the kernel generates blobs here); 0 or errno. */
static int
attr_read(const struct tsm_entry *e, const char *attr, size_t max,
	  unsigned char **out, size_t *len)
{
	char path[TSM_PATH_MAX];
	int fd = -1;
	int err;

	err = attr_path(e, attr, path, sizeof(path));
	if (err == 0) {
		err = kernel_step(e, TSM_EV_READ, attr);
	}
	if (err != 0) {
		goto out;
	}

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		err = errno;
		goto out;
	}
	err = read_bounded(fd, max, out, len);
out:
	if (fd >= 0) {
		close(fd);
	}
	return err;
}

/* A text attribute without its newline, NUL-terminated; 0 or errno. */
static int
attr_read_text(const struct tsm_entry *e, const char *attr, char *out,
	       size_t cap)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	int err;

	err = attr_read(e, attr, TSM_ATTR_MAX, &buf, &len);
	if (err != 0) {
		goto out;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\0')) {
		len--;
	}
	if (len >= cap || memchr(buf, '\0', len) != NULL) {
		err = EINVAL;
		goto out;
	}
	memcpy(out, buf, len);
	out[len] = '\0';
out:
	free(buf);
	return err;
}

/* One write() of n bytes and a checked close(); 0 or errno. */
static int
attr_write(const struct tsm_entry *e, const char *attr, const void *p, size_t n)
{
	char path[TSM_PATH_MAX];
	ssize_t w;
	int fd = -1;
	int err;

	err = attr_path(e, attr, path, sizeof(path));
	if (err != 0) {
		goto out;
	}
	fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		err = errno;
		goto out;
	}

	do {
		w = write(fd, p, n);
	} while (w < 0 && errno == EINTR);
	if (w < 0 || (size_t)w != n) {
		err = w < 0 ? errno : EIO;
		goto out;
	}
	err = close(fd) == 0 ? 0 : errno;
	fd = -1;
	if (err == 0) {
		err = kernel_step(e, TSM_EV_WRITE, attr);
	}
out:
	if (fd >= 0) {
		close(fd);
	}
	return err;
}

static int
read_generation(const struct tsm_entry *e, uint64_t *g)
{
	char text[TSM_ATTR_MAX];
	int err;

	err = attr_read_text(e, "generation", text, sizeof(text));
	if (err == 0 && parse_u64(text, 0, UINT64_MAX, g) != 0) {
		err = EINVAL;
	}
	return err;
}

/* mkdir's errno as a reason: which piece is missing. */
static const char *
mkdir_reason(int err)
{
	const char *r = "tsm_mkdir_failed";

	if (err == ENOENT) {
		r = "configfs_tsm_missing";
	} else if (err == ENXIO) {
		r = "tsm_no_provider";
	} else if (err == EACCES || err == EPERM || err == EROFS) {
		r = "tsm_not_permitted";
	}
	return r;
}

/* A failed blob read's errno as a reason (§1.4 errno map). */
static const char *
read_reason(int err)
{
	static const struct {
		int err;
		const char *reason;
	} map[] = {
	    {EBUSY, "tsm_busy"},
	    {EINVAL, "tsm_request_invalid"},
	    {EIO, "tsm_quote_failed"},
	    {ETIMEDOUT, "tsm_quote_timeout"},
	    {ENOTTY, "tsm_vmpck_disabled"},
	    {ENXIO, "tsm_firmware_error"},
	    {ENOMEM, "tsm_report_too_large"},
	    {EFBIG, "tsm_blob_over_ceiling"},
	    {EINTR, "tsm_interrupted"},
	};
	const char *r = "tsm_read_failed";
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (map[i].err == err) {
			r = map[i].reason;
			break;
		}
	}
	return r;
}

/* The reason code of a failed step. */
static const char *
step_reason(const char *step, int err)
{
	const char *r;

	if (strcmp(step, "mkdir") == 0) {
		r = mkdir_reason(err);
	} else if (strcmp(step, "inblob") == 0) {
		r = err == EINVAL ? "tsm_inblob_rejected" : "tsm_write_failed";
	} else {
		r = read_reason(err);
	}
	return r;
}

static void
log_step(const char *step, const char *provider, int err)
{
	log_event(LOG_ERR, "attest.tsm.failed", step_reason(step, err),
		  LOG_STR("step", step), LOG_STR("provider", provider),
		  LOG_ERRNO(err));
}

/* The entry's provider must be the one the caller asked for. */
static enum sp_err
check_provider(const struct tsm_entry *e, const char *want)
{
	char got[TSM_ATTR_MAX];
	enum sp_err rc = SP_E_ATTEST;
	int err;

	err = attr_read_text(e, "provider", got, sizeof(got));
	if (err != 0) {
		log_step(err == ENXIO ? "mkdir" : "provider", want, err);
		goto out;
	}
	if (strcmp(got, want) != 0) {
		log_event(LOG_ERR, "attest.tsm.failed", "tsm_provider_mismatch",
			  LOG_STR("provider", got), LOG_STR("want", want));
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

/* Read outblob, then auxblob when asked. */
static enum sp_err
read_blobs(const struct tsm_entry *e, const char *provider, int want_aux,
	   struct tsm_report *out, enum tsm_retry *retry)
{
	enum sp_err rc = SP_E_ATTEST;
	int err;

	err = attr_read(e, "outblob", TSM_OUTBLOB_MAX, &out->outblob,
			&out->outlen);
	if (err != 0) {
		*retry = err == EBUSY ? TSM_RETRY_LATER : TSM_RETRY_NO;
		log_step("outblob", provider, err);
		goto out;
	}
	if (out->outlen == 0) {
		/* An old or misconfigured QGS hands back nothing (§1.4). */
		log_event(LOG_ERR, "attest.tsm.failed", "tsm_outblob_empty",
			  LOG_STR("provider", provider));
		goto out;
	}

	if (want_aux) {
		err = attr_read(e, "auxblob", TSM_AUXBLOB_MAX, &out->auxblob,
				&out->auxlen);
		if (err != 0) {
			*retry = err == EBUSY ? TSM_RETRY_LATER : TSM_RETRY_NO;
			log_step("auxblob", provider, err);
			goto out;
		}
	}
	rc = SP_OK;
out:
	return rc;
}

/*
 * The request on a made entry: provider, generation, inblob, blobs,
 * generation again; *retry says whether another attempt may succeed.
 */
static enum sp_err
entry_request(const struct tsm_entry *e, const char *provider,
	      const unsigned char *inblob, int want_aux, struct tsm_report *out,
	      enum tsm_retry *retry)
{
	uint64_t g0 = 0, g1 = 0;
	enum sp_err rc;
	int err;

	rc = check_provider(e, provider);
	if (rc != SP_OK) {
		goto out;
	}
	rc = SP_E_ATTEST;
	err = read_generation(e, &g0);
	if (err == 0) {
		err = attr_write(e, "inblob", inblob, TSM_INBLOB_LEN);
	}
	if (err != 0) {
		log_step("inblob", provider, err);
		goto out;
	}

	rc = read_blobs(e, provider, want_aux, out, retry);
	if (rc != SP_OK) {
		goto out;
	}
	rc = SP_E_ATTEST;
	err = read_generation(e, &g1);
	if (err != 0) {
		log_step("generation", provider, err);
		goto out;
	}
	if (g1 != g0 + 1) {
		log_event(LOG_WARN, "attest.tsm.raced", "tsm_generation_race",
			  LOG_U64("before", g0), LOG_U64("after", g1));
		*retry = TSM_RETRY_NOW;
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

/* One attempt on a fresh entry, removed before returning. */
static enum sp_err
attempt(const char *root, const char *provider, const unsigned char *inblob,
	int want_aux, struct tsm_report *out, enum tsm_retry *retry)
{
	struct tsm_entry e;
	enum sp_err rc = SP_E_ATTEST;
	int err;

	memset(&e, 0, sizeof(e));
	*retry = TSM_RETRY_NO;
	err = entry_make(root, &e);
	if (err != 0) {
		log_step("mkdir", provider, err);
		rc = err == ENOENT ? SP_E_NOTFOUND : SP_E_ATTEST;
		goto out;
	}
	rc = entry_request(&e, provider, inblob, want_aux, out, retry);
out:
	if (e.made) {
		entry_remove(&e);
	}
	if (rc != SP_OK) {
		tsm_report_free(out);
	}
	return rc;
}

enum sp_err
tsm_report_get(const char *root, const char *provider,
	       const unsigned char inblob[TSM_INBLOB_LEN], int want_aux,
	       struct tsm_report *out)
{
	const struct timespec busy = {TSM_BUSY_DELAY_MS / 1000,
				      (TSM_BUSY_DELAY_MS % 1000) * 1000000L};
	enum tsm_retry retry = TSM_RETRY_NOW;
	enum sp_err rc = SP_E_ATTEST;
	int i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < TSM_ATTEMPTS && retry != TSM_RETRY_NO; i++) {
		if (retry == TSM_RETRY_LATER) {
			nanosleep(&busy, NULL);
		}
		rc = attempt(root, provider, inblob, want_aux, out, &retry);
	}
	if (rc == SP_OK) {
		log_event(LOG_INFO, "attest.tsm.report", NULL,
			  LOG_STR("provider", provider),
			  LOG_U64("outblob_bytes", out->outlen),
			  LOG_U64("auxblob_bytes", out->auxlen),
			  LOG_I64("attempts", i));
	}
	return rc;
}

enum sp_err
tsm_provider(const char *root, char *out, size_t cap)
{
	struct tsm_entry e;
	enum sp_err rc = SP_E_ATTEST;
	int err;

	memset(&e, 0, sizeof(e));
	err = entry_make(root, &e);
	if (err == 0) {
		err = attr_read_text(&e, "provider", out, cap);
	}
	if (err != 0) {
		rc =
		    err == ENOENT || err == ENXIO ? SP_E_NOTFOUND : SP_E_ATTEST;
		log_event(LOG_DEBUG, "attest.tsm.probe", mkdir_reason(err),
			  LOG_ERRNO(err));
		goto out;
	}
	rc = SP_OK;
out:
	if (e.made) {
		entry_remove(&e);
	}
	return rc;
}

void
tsm_report_free(struct tsm_report *r)
{
	if (r != NULL) {
		free(r->outblob);
		free(r->auxblob);
		memset(r, 0, sizeof(r[0]));
	}
}
