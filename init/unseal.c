/*
 * unseal.c: fetch → verify → write, from a sealed store into tmpfs
 * (unseal.h, docs/sealed-format.md).
 *
 * This file owns the target and the manifest: it prepares and wipes the
 * target, fetches the manifest (and its signature when one is pinned),
 * opens it, checks the room, and hands the files to the parallel
 * pipeline (unseal_pipe.c), which owns memory, threads, verification
 * and the renames. The ready marker goes last.
 *
 * The target is sealpod's alone: the first thing written is an owner
 * marker, replaced by the ready marker at the end, and only a directory
 * holding one of them is ever wiped, so a mistyped target (say /tmp on a
 * tmpfs) is refused, not emptied.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "manifest.h"
#include "manifest_sig.h"
#include "reqheaders.h"
#include "sealed.h"
#include "source.h"
#include "unseal.h"
#include "unseal_pipe.h"
#include "util.h"

/* Written first into the target; its presence allows unseal_clean(). */
#define UNSEAL_OWNER_NAME ".sealpod-owned"
#define UNSEAL_READY_MAX  256
/* Sweeps over a directory while removing, in case readdir skips. */
#define UNSEAL_CLEAN_PASSES 4
/* Pause between attempts at the manifest: capped, doubling. */
#define UNSEAL_RETRY_BASE_MS 250
#define UNSEAL_RETRY_CAP_MS  8000

struct job {
	const struct unseal_opts *opts;
	const struct secret *key;
	struct source *src;
	struct source_opts so;
	struct reqheaders *hdrs;
	struct manifest *m;
	int tfd;
	unsigned workers;
	uint64_t t_start;
	uint64_t deadline_ns;
	struct unseal_pipe_stats st;
	int cancel; /* set by the pipeline to stop transfers in flight */
};

/* ---- target ---- */

static int
is_memory_fs(int fd)
{
	struct statfs sfs;
	int memfs = 0;

	if (fstatfs(fd, &sfs) == 0) {
		memfs = sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC;
	}
	return memfs;
}

static void remove_contents(int dirfd, unsigned depth);

static void
remove_entry(int dirfd, const char *name, dev_t dev, unsigned depth)
{
	struct stat st;
	int fd = -1;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		(void)unlinkat(dirfd, name, 0);
		goto out;
	}

	/* Never descend into another mount or deeper than we write. */
	if (st.st_dev != dev || depth > MANIFEST_DEPTH_MAX) {
		goto out;
	}
	fd = openat(dirfd, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		remove_contents(fd, depth + 1);
	}
out:
	if (fd >= 0) {
		close(fd);
		(void)unlinkat(dirfd, name, AT_REMOVEDIR);
	}
}

/* One sweep; returns the number of entries it tried to remove. */
static unsigned
remove_sweep(int dirfd, unsigned depth, dev_t dev)
{
	struct dirent *de;
	unsigned seen = 0;
	DIR *d = NULL;
	int fd;

	fd = dup(dirfd);
	if (fd < 0) {
		goto out;
	}
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		goto out;
	}
	rewinddir(d);
	for (de = readdir(d); de != NULL; de = readdir(d)) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    (depth == 0 &&
		     strcmp(de->d_name, UNSEAL_OWNER_NAME) == 0)) {
			continue;
		}
		remove_entry(dirfd, de->d_name, dev, depth);
		seen++;
	}
out:
	if (d != NULL) {
		closedir(d);
	}
	return seen;
}

static void
remove_contents(int dirfd, unsigned depth)
{
	struct stat st;
	unsigned pass;

	if (fstat(dirfd, &st) != 0) {
		return;
	}
	for (pass = 0; pass < UNSEAL_CLEAN_PASSES; pass++) {
		if (remove_sweep(dirfd, depth, st.st_dev) == 0) {
			break;
		}
	}
}

static int
entry_exists(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static int
owner_create(int tfd)
{
	int fd;
	int rc = -1;

	fd = openat(tfd, UNSEAL_OWNER_NAME,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0) {
		close(fd);
		rc = 0;
	}
	return rc;
}

/*
 * A target is ours while the owner marker (during a run) or the ready
 * marker (after one) is in it. The owner marker is put back first and
 * removed last, so a crash in the middle of a wipe still leaves a target
 * the next run recognises.
 */
static void
clean_fd(int tfd)
{
	if (!entry_exists(tfd, UNSEAL_OWNER_NAME) &&
	    !entry_exists(tfd, UNSEAL_READY_NAME)) {
		return;
	}
	if (!entry_exists(tfd, UNSEAL_OWNER_NAME)) {
		(void)owner_create(tfd);
	}

	/* Readiness goes first, so nothing trusts a half-cleaned target. */
	(void)unlinkat(tfd, UNSEAL_READY_NAME, 0);
	remove_contents(tfd, 0);
	(void)unlinkat(tfd, UNSEAL_OWNER_NAME, 0);
}

void
unseal_clean(const char *target)
{
	int fd;

	fd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		return;
	}
	clean_fd(fd);
	close(fd);
}

static int
dir_is_empty(int tfd)
{
	struct dirent *de = NULL;
	int empty = 0;
	DIR *d = NULL;
	int fd;

	fd = dup(tfd);
	if (fd < 0) {
		goto out;
	}
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		goto out;
	}
	empty = 1;
	for (de = readdir(d); empty && de != NULL; de = readdir(d)) {
		empty = strcmp(de->d_name, ".") == 0 ||
			strcmp(de->d_name, "..") == 0;
	}
out:
	if (d != NULL) {
		closedir(d);
	}
	return empty;
}

enum sp_err
unseal_target_check(const char *target)
{
	int fd;
	enum sp_err rc = SP_E_TARGET;

	fd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		log_event(LOG_ERR, "unseal.target.failed", "target_missing",
			  LOG_ERRNO(errno));
		goto out;
	}
	if (!is_memory_fs(fd)) {
		log_event(LOG_ERR, "unseal.target.failed", "target_not_tmpfs");
		goto out;
	}
	if (!entry_exists(fd, UNSEAL_OWNER_NAME) &&
	    !entry_exists(fd, UNSEAL_READY_NAME) && !dir_is_empty(fd)) {
		log_event(LOG_ERR, "unseal.target.failed", "target_not_empty");
		goto out;
	}
	rc = SP_OK;
out:
	if (fd >= 0) {
		close(fd);
	}
	return rc;
}

/* Open the target, refuse anything but tmpfs/ramfs, wipe stale output. */
static enum sp_err
target_prepare(const struct unseal_opts *opts, int *out)
{
	int fd;
	enum sp_err rc = SP_E_TARGET;

	fd = open(opts->target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		log_event(LOG_ERR, "unseal.target.failed", "target_missing",
			  LOG_ERRNO(errno));
		goto out;
	}
	if (!opts->skip_fs_check && !is_memory_fs(fd)) {
		log_event(LOG_ERR, "unseal.target.failed", "target_not_tmpfs");
		goto out;
	}

	clean_fd(fd);
	if (!dir_is_empty(fd)) {
		log_event(LOG_ERR, "unseal.target.failed", "target_not_empty");
		goto out;
	}
	*out = fd;
	fd = -1;
	rc = SP_OK;
out:
	if (fd >= 0) {
		close(fd);
	}
	return rc;
}

/* Directory components two paths share ("a/b/c" and "a/b/d": 2). */
static size_t
shared_dirs(const char *a, const char *b)
{
	size_t dirs = 0;
	size_t i;

	for (i = 0; a[i] != '\0' && a[i] == b[i]; i++) {
		if (a[i] == '/') {
			dirs++;
		}
	}
	return dirs;
}

/* Directories the files need. In canonical order, the files under one
 * directory are neighbours, so each new one shows against the last. */
static uint64_t
dir_count(const struct manifest *m)
{
	const char *prev = "";
	uint64_t dirs = 0;
	size_t depth;
	size_t i;
	size_t j;

	for (i = 0; i < m->nfiles; i++) {
		depth = 0;
		for (j = 0; m->files[i].path[j] != '\0'; j++) {
			depth += m->files[i].path[j] == '/';
		}
		dirs += depth - shared_dirs(prev, m->files[i].path);
		prev = m->files[i].path;
	}
	return dirs;
}

/* Room for every file rounded up to blocks, and an inode for each file,
 * directory and our markers (owner, ready and its temporary file). */
static enum sp_err
target_room(int tfd, const struct manifest *m)
{
	struct statvfs sv;
	uint64_t need = 0;
	uint64_t inodes;
	uint64_t avail;
	uint64_t bs;
	size_t i;
	enum sp_err rc = SP_E_TARGET;

	if (fstatvfs(tfd, &sv) != 0) {
		log_event(LOG_ERR, "unseal.target.failed", "target_statvfs",
			  LOG_ERRNO(errno));
		goto out;
	}
	bs = sv.f_frsize > 0 ? sv.f_frsize : 4096;
	for (i = 0; i < m->nfiles; i++) {
		need += (m->files[i].size + bs - 1) / bs * bs;
	}
	inodes = m->nfiles + dir_count(m) + 3;

	/* ramfs, or tmpfs mounted without a limit, reports no blocks. */
	avail = (uint64_t)sv.f_bavail * bs;
	if ((sv.f_blocks > 0 && need > avail) ||
	    (sv.f_files > 0 && inodes > sv.f_ffree)) {
		log_event(LOG_ERR, "unseal.target.failed", "target_no_room",
			  LOG_U64("need", need), LOG_U64("available", avail),
			  LOG_U64("inodes", inodes),
			  LOG_U64("inodes_free", sv.f_ffree));
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

static enum sp_err
owner_mark(int tfd)
{
	enum sp_err rc = SP_E_TARGET;

	if (owner_create(tfd) != 0) {
		log_event(LOG_ERR, "unseal.target.failed",
			  "target_write_failed", LOG_ERRNO(errno));
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

/* ---- manifest ---- */

/* A small whole object on its way in, and the reason its ceiling
 * names: the manifest and its signature each have their own. */
struct small_sink {
	struct strbuf *sb;
	const char *too_large;
};

static int
small_sink(void *arg, const void *buf, size_t len)
{
	struct small_sink *ss = arg;
	int rc = SP_OK;

	strbuf_append(ss->sb, buf, len);
	if (!strbuf_ok(ss->sb)) {
		log_event(LOG_ERR, "unseal.manifest.failed", ss->too_large);
		rc = SP_E_INTEGRITY;
	}
	return rc;
}

/* Sleep before attempt n + 1 at a whole object. Returns 0, or -1 when
 * that would pass the deadline. */
static int
retry_pause(const struct job *job, unsigned n)
{
	uint64_t ms = UNSEAL_RETRY_BASE_MS;
	struct timespec ts;
	int rc = -1;

	while (n > 1 && ms < UNSEAL_RETRY_CAP_MS) {
		ms *= 2;
		n--;
	}
	if (ms > UNSEAL_RETRY_CAP_MS) {
		ms = UNSEAL_RETRY_CAP_MS;
	}
	if (job->deadline_ns != 0 &&
	    now_ns() + ms * 1000000u >= job->deadline_ns) {
		goto out;
	}
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
	rc = 0;
out:
	return rc;
}

/* A small whole object (manifest, signature) into sb, with retries;
 * one over sb's ceiling is refused with reason too_large. */
static enum sp_err
fetch_small(struct job *job, const char *name, const char *too_large,
	    struct strbuf *sb)
{
	struct small_sink ss = {sb, too_large};
	unsigned n = 0;
	int retry = strcmp(source_scheme(job->src), "file") != 0;
	enum sp_err rc;

	for (;;) {
		sb->len = 0;
		rc = source_fetch(job->src, name, 0, 0, small_sink, &ss);
		n++;
		if (rc != SP_E_FETCH || !retry || !strbuf_ok(sb) ||
		    source_last_permanent(job->src) ||
		    n >= job->opts->attempts || unseal_pipe_interrupted() ||
		    retry_pause(job, n) != 0) {
			break;
		}
		job->st.retries++;
	}
	/* The store's own events were warnings while a retry could mend
	 * them; this is the final word. */
	if (rc == SP_E_FETCH && strbuf_ok(sb) && !unseal_pipe_interrupted()) {
		log_event(LOG_ERR, "unseal.manifest.failed",
			  "manifest_fetch_failed", LOG_STR("object", name),
			  LOG_STR("error", source_last_error(job->src)),
			  LOG_U64("attempts", n));
	}
	return rc;
}

/* With a pinned key, manifest.sig must sign the sealed bytes. */
static enum sp_err
manifest_sig_check(struct job *job, const struct strbuf *sealed)
{
	struct strbuf sig;
	enum sp_err rc;

	strbuf_init(&sig, MANIFEST_SIG_MAX);
	rc = fetch_small(job, UNSEAL_SIG_NAME, "manifest_sig_too_large", &sig);
	if (rc == SP_E_NOTFOUND) {
		log_event(LOG_ERR, "unseal.manifest.failed",
			  "manifest_sig_missing");
		rc = SP_E_INTEGRITY;
	}
	if (rc != SP_OK) {
		goto out;
	}

	rc =
	    manifest_sig_verify(job->opts->signing_key, sealed->buf,
				sealed->len, (unsigned char *)sig.buf, sig.len);
	if (rc != SP_OK) {
		log_event(LOG_ERR, "unseal.manifest.failed",
			  rc == SP_E_INTEGRITY ? "manifest_sig_invalid"
					       : "signing_key_unusable");
		goto out;
	}
	log_event(LOG_INFO, "unseal.manifest.signed", NULL);
out:
	strbuf_free(&sig);
	return rc;
}

static enum sp_err
manifest_open(struct job *job, const struct strbuf *sealed)
{
	struct sealed_params p;
	unsigned char *pt = NULL;
	size_t pt_len = 0;
	const char *reason = NULL;
	enum sp_err rc;

	sealed_params_default(&p);
	rc = sealed_decrypt_mem(&p, job->key, MANIFEST_AAD,
				strlen(MANIFEST_AAD), sealed->buf, sealed->len,
				MANIFEST_MAX, &pt, &pt_len);
	if (rc != SP_OK) {
		log_event(LOG_ERR, "unseal.manifest.failed",
			  rc == SP_E_INTEGRITY ? "manifest_auth_failed"
					       : "manifest_decrypt_failed");
		goto out;
	}

	rc = manifest_parse((const char *)pt, pt_len, &job->m, &reason);
	if (rc != SP_OK) {
		log_event(
		    LOG_ERR, "unseal.manifest.failed", "manifest_invalid",
		    LOG_STR("rule", reason != NULL ? reason : "internal"));
		goto out;
	}
out:
	if (pt != NULL) {
		secret_wipe_mem(pt, pt_len);
		free(pt);
	}
	return rc;
}

/*
 * Another model sealed under the same key authenticates as well as this
 * one; only its "model" tells them apart. Checked before any blob is
 * fetched. Neither identity is logged: an owner may use the model's
 * name, and names are confidential.
 */
static enum sp_err
manifest_model_check(const struct job *job)
{
	enum sp_err rc = SP_OK;

	if (!manifest_model_matches(job->m, job->opts->model_id)) {
		log_event(
		    LOG_ERR, "unseal.manifest.failed",
		    "manifest_model_mismatch",
		    LOG_BOOL("manifest_has_model", job->m->model[0] != '\0'));
		rc = SP_E_INTEGRITY;
	}
	return rc;
}

static enum sp_err
manifest_load(struct job *job)
{
	struct sealed_params p;
	struct strbuf sb;
	uint64_t ceiling = 0;
	enum sp_err rc;

	sealed_params_default(&p);
	(void)sealed_ciphertext_len(&p, MANIFEST_MAX, &ceiling);
	strbuf_init(&sb, (size_t)ceiling);

	rc = fetch_small(job, MANIFEST_NAME, "manifest_too_large", &sb);
	if (rc != SP_OK) {
		if (rc == SP_E_NOTFOUND) {
			log_event(LOG_ERR, "unseal.manifest.failed",
				  "manifest_missing");
		}
		goto out;
	}

	if (job->opts->signing_key != NULL) {
		rc = manifest_sig_check(job, &sb);
		if (rc != SP_OK) {
			goto out;
		}
	}

	rc = manifest_open(job, &sb);
	if (rc != SP_OK) {
		goto out;
	}

	rc = manifest_model_check(job);
	if (rc != SP_OK) {
		goto out;
	}

	rc = SP_E_INTEGRITY;
	if (job->m->version < job->opts->min_version) {
		log_event(LOG_ERR, "unseal.manifest.failed",
			  "manifest_rollback",
			  LOG_U64("version", job->m->version),
			  LOG_U64("min_version", job->opts->min_version));
		goto out;
	}
	log_event(LOG_INFO, "unseal.manifest.ok", NULL,
		  LOG_U64("version", job->m->version),
		  LOG_BOOL("model_pinned", job->opts->model_id != NULL),
		  LOG_U64("files", job->m->nfiles),
		  LOG_U64("bytes", job->m->total_size));
	rc = SP_OK;
out:
	strbuf_free(&sb);
	return rc;
}

/* ---- the run ---- */

void
unseal_interrupt(void)
{
	unseal_pipe_interrupt();
}

static void
on_stop_signal(int sig)
{
	(void)sig;
	unseal_interrupt();
}

int
unseal_stop_on_signals(void)
{
	struct sigaction sa;
	int rc = -1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) == 0 &&
	    sigaction(SIGINT, &sa, NULL) == 0) {
		rc = 0;
	}
	return rc;
}

/* Before each long step: a stop asked for meanwhile ends the run. */
static enum sp_err
check_interrupt(void)
{
	enum sp_err rc = SP_OK;

	if (unseal_pipe_interrupted()) {
		log_event(LOG_ERR, "unseal.interrupted", "interrupted");
		rc = SP_E_INTERNAL;
	}
	return rc;
}

static enum sp_err
ready_write(const struct job *job)
{
	char path[PATH_MAX];
	char body[UNSEAL_READY_MAX];
	int n;
	enum sp_err rc = SP_E_TARGET;

	n = snprintf(path, sizeof(path), "%s/%s", job->opts->target,
		     UNSEAL_READY_NAME);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		goto out;
	}
	n = snprintf(body, sizeof(body),
		     "{\"format\":\"%s\",\"version\":%" PRIu64
		     ",\"files\":%zu}\n",
		     MANIFEST_FORMAT, job->m->version, job->m->nfiles);
	if (n < 0 || (size_t)n >= sizeof(body)) {
		goto out;
	}

	rc = file_write_atomic(path, body, (size_t)n, 0644);
	if (rc != SP_OK) {
		log_event(LOG_ERR, "unseal.target.failed",
			  "ready_write_failed");
	}
out:
	return rc;
}

static void
log_done(const struct job *job, double secs)
{
	log_event(
	    LOG_INFO, "unseal.done", NULL, LOG_U64("version", job->m->version),
	    LOG_U64("files", job->m->nfiles), LOG_U64("bytes", job->st.bytes),
	    LOG_F64("seconds", secs),
	    LOG_F64("mib_per_s",
		    secs > 0 ? (double)job->st.bytes / 1048576.0 / secs : 0.0),
	    LOG_U64("retries", job->st.retries),
	    LOG_U64("workers", job->workers),
	    LOG_U64("buffers_peak", job->st.peak));
}

/* Threads to use: as configured, else one per CPU this process may use. */
static unsigned
workers_for(const struct unseal_opts *opts)
{
	cpu_set_t set;
	long n = opts->workers;

	if (n == 0 && sched_getaffinity(0, sizeof(set), &set) == 0) {
		n = CPU_COUNT(&set);
	}
	if (n <= 0) {
		n = sysconf(_SC_NPROCESSORS_ONLN);
	}
	if (n <= 0) {
		n = 1;
	}
	return n > UNSEAL_PIPE_WORKERS_MAX ? UNSEAL_PIPE_WORKERS_MAX
					   : (unsigned)n;
}

/* Source options for the main thread's and each worker's source. */
static enum sp_err
source_setup(struct job *job)
{
	const struct unseal_opts *o = job->opts;
	enum sp_err rc = SP_OK;

	memset(&job->so, 0, sizeof(job->so));
	job->so.ca_file = o->ca_file;
	job->so.allow_http = o->allow_http;
	job->so.idle_timeout_s = (long)o->idle_timeout_s;
	job->so.cancel = &job->cancel;
	job->so.s3 = o->s3;
	job->so.oci = o->oci;
	if (o->headers_file != NULL) {
		rc = reqheaders_load(o->headers_file, &job->hdrs);
		if (rc != SP_OK) {
			goto out;
		}
		job->so.headers = job->hdrs->lines;
	}
	rc = source_open(o->source, &job->so, &job->src);
out:
	return rc;
}

static enum sp_err
unseal_files(struct job *job)
{
	const struct unseal_opts *o = job->opts;
	struct unseal_pipe_opts po;
	uint64_t retries = job->st.retries;
	enum sp_err rc;

	memset(&po, 0, sizeof(po));
	po.source = o->source;
	po.so = &job->so;
	po.key = job->key;
	po.tfd = job->tfd;
	po.workers = job->workers;
	po.memory =
	    (o->memory_mib != 0 ? o->memory_mib : UNSEAL_MEMORY_MIB_DEFAULT) *
	    1024 * 1024;
	po.chunk = o->chunk;
	po.attempts = o->attempts;
	po.deadline_ns = job->deadline_ns;
	po.cancel = &job->cancel;
	po.progress_ns =
	    (o->progress_s != 0 ? o->progress_s : UNSEAL_PROGRESS_S_DEFAULT) *
	    1000000000u;
	/* The owner's signature pins the blobs' bytes only through their
	 * digests: anyone with the model key could seal other segments
	 * under a pinned header. */
	po.digest_always = o->signing_key != NULL;
	rc = unseal_pipe_run(&po, job->m, &job->st);
	job->st.retries += retries;
	return rc;
}

/* Everything after the target is ours: manifest, room, each file. */
static enum sp_err
unseal_body(struct job *job)
{
	enum sp_err rc = SP_E_INTEGRITY;

	if (job->key == NULL || job->key->len != 32) {
		log_event(LOG_ERR, "unseal.key.failed", "model_key_length");
		goto out;
	}

	rc = source_setup(job);
	if (rc != SP_OK) {
		goto out;
	}

	rc = manifest_load(job);
	if (rc != SP_OK) {
		goto out;
	}

	rc = target_room(job->tfd, job->m);
	if (rc != SP_OK) {
		goto out;
	}

	rc = check_interrupt();
	if (rc != SP_OK) {
		goto out;
	}

	rc = owner_mark(job->tfd);
	if (rc != SP_OK) {
		goto out;
	}

	rc = unseal_files(job);
	if (rc != SP_OK) {
		goto out;
	}

	rc = ready_write(job);
	if (rc != SP_OK) {
		goto out;
	}

	/* From here on the ready marker alone shows the target is ours. */
	(void)unlinkat(job->tfd, UNSEAL_OWNER_NAME, 0);
out:
	return rc;
}

/* Fill in the defaults the caller left as 0. */
static void
opts_defaults(const struct unseal_opts *in, struct unseal_opts *out)
{
	*out = *in;
	if (out->attempts == 0) {
		out->attempts = UNSEAL_ATTEMPTS_DEFAULT;
	}
	if (out->idle_timeout_s == 0) {
		out->idle_timeout_s = UNSEAL_IDLE_S_DEFAULT;
	}
}

enum sp_err
unseal_run(const struct unseal_opts *opts, const struct secret *key,
	   struct unseal_result *res)
{
	struct unseal_opts o;
	struct job job;
	double secs;
	enum sp_err rc;

	opts_defaults(opts, &o);
	memset(&job, 0, sizeof(job));
	job.opts = &o;
	job.key = key;
	job.tfd = -1;
	job.t_start = now_ns();
	job.workers = workers_for(&o);
	if (o.deadline_s != 0) {
		job.deadline_ns = job.t_start + o.deadline_s * 1000000000u;
	}
	log_event(LOG_INFO, "unseal.start", NULL,
		  LOG_U64("min_version", o.min_version),
		  LOG_U64("workers", job.workers),
		  LOG_U64("memory_mib", o.memory_mib != 0
					    ? o.memory_mib
					    : UNSEAL_MEMORY_MIB_DEFAULT));

	rc = target_prepare(&o, &job.tfd);
	if (rc != SP_OK) {
		goto out;
	}

	rc = unseal_body(&job);
	secs = (double)(now_ns() - job.t_start) / 1e9;
	if (rc != SP_OK) {
		goto out;
	}
	res->version = job.m->version;
	res->files = job.m->nfiles;
	res->bytes = job.st.bytes;
	res->retries = job.st.retries;
	res->seconds = secs;
	log_done(&job, secs);
out:
	/* Fail closed: no plaintext, partial file or marker stays. */
	if (rc != SP_OK && job.tfd >= 0) {
		clean_fd(job.tfd);
	}
	if (job.tfd >= 0) {
		close(job.tfd);
	}
	manifest_free(job.m);
	source_free(job.src);
	reqheaders_free(job.hdrs);
	return rc;
}
