/*
 * unseal.c: fetch → verify → write, from a sealed store into tmpfs
 * (unseal.h, docs/sealed-format.md).
 *
 * Memory: one ciphertext segment buffer (the largest segment size in the
 * manifest, at most SEALED_SEGMENT_MAX) plus the source's read buffer.
 * Each segment is decrypted in place and written out before the next
 * byte is accepted, and the blob's SHA-256 runs over the ciphertext as it
 * arrives.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "json.h"
#include "log.h"
#include "manifest.h"
#include "sealed.h"
#include "source.h"
#include "unseal.h"
#include "util.h"

/* Written first into the target; its presence allows unseal_clean(). */
#define UNSEAL_OWNER_NAME	".sealpod-owned"
#define UNSEAL_PARTIAL_RAND	16
#define UNSEAL_PARTIAL_NAME_MAX (1 + 2 * UNSEAL_PARTIAL_RAND + 9)
#define UNSEAL_FILE_MODE	0640
#define UNSEAL_DIR_MODE		0750
#define UNSEAL_READY_MAX	256
#define UNSEAL_PROGRESS_NS	(5ULL * 1000 * 1000 * 1000)
/* Sweeps over a directory while removing, in case readdir skips. */
#define UNSEAL_CLEAN_PASSES 4
/* Digest prefix logged for a blob: enough to find it, no more. */
#define UNSEAL_DIGEST_LOG 12

struct job {
	const struct unseal_opts *opts;
	const struct secret *key;
	struct source *src;
	struct manifest *m;
	int tfd;
	unsigned char *seg;
	size_t seg_cap;
	uint64_t bytes_done;
	uint64_t t_start;
	uint64_t t_progress;
};

/* One blob on its way from the source into a partial file. */
struct blob {
	struct job *job;
	const struct manifest_file *f;
	struct sealed_params p;
	struct sealed_ctx *ctx;
	EVP_MD_CTX *sha;
	int fd;
	char partial[UNSEAL_PARTIAL_NAME_MAX + 1];
	char blob_id[UNSEAL_DIGEST_LOG + 1];
	uint64_t ct_len;   /* expected from the manifest's size */
	uint64_t received; /* ciphertext bytes so far */
	uint64_t written;  /* plaintext bytes so far */
	uint64_t idx;	   /* segment being filled */
	size_t want;	   /* ciphertext bytes of that segment */
	size_t fill;	   /* of which already in job->seg */
	int last;	   /* that segment is the last */
	int done;	   /* the last segment verified */
};

static void
blob_fail(const struct blob *b, const char *reason)
{
	log_event(LOG_ERR, "unseal.blob.failed", reason,
		  LOG_STR("blob", b->blob_id), LOG_U64("segment", b->idx),
		  LOG_U64("offset", b->received));
}

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

static int
manifest_sink(void *arg, const void *buf, size_t len)
{
	struct strbuf *sb = arg;
	int rc = SP_OK;

	strbuf_append(sb, buf, len);
	if (!strbuf_ok(sb)) {
		log_event(LOG_ERR, "unseal.manifest.failed",
			  "manifest_too_large");
		rc = SP_E_INTEGRITY;
	}
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

	rc = source_fetch(job->src, MANIFEST_NAME, 0, 0, manifest_sink, &sb);
	if (rc != SP_OK) {
		if (rc == SP_E_NOTFOUND) {
			log_event(LOG_ERR, "unseal.manifest.failed",
				  "manifest_missing");
		}
		goto out;
	}

	rc = manifest_open(job, &sb);
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
		  LOG_U64("files", job->m->nfiles),
		  LOG_U64("bytes", job->m->total_size));
	rc = SP_OK;
out:
	strbuf_free(&sb);
	return rc;
}

/* ---- one blob ---- */

static enum sp_err
write_all(int fd, const unsigned char *buf, size_t len)
{
	ssize_t n;
	enum sp_err rc = SP_E_TARGET;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			log_event(LOG_ERR, "unseal.target.failed",
				  errno == ENOSPC || errno == EDQUOT
				      ? "target_no_room"
				      : "target_write_failed",
				  LOG_ERRNO(errno));
			goto out;
		}
		buf += n;
		len -= (size_t)n;
	}
	rc = SP_OK;
out:
	return rc;
}

static void
progress(struct job *job)
{
	uint64_t now = now_ns();
	double secs;

	if (now - job->t_progress < UNSEAL_PROGRESS_NS) {
		return;
	}
	job->t_progress = now;
	secs = (double)(now - job->t_start) / 1e9;
	log_event(
	    LOG_INFO, "unseal.progress", NULL,
	    LOG_U64("bytes", job->bytes_done),
	    LOG_U64("total", job->m->total_size),
	    LOG_F64("mib_per_s", (double)job->bytes_done / 1048576.0 / secs));
}

/* Segment 0 starts with the header: set up the file key from it. */
static enum sp_err
blob_begin(struct blob *b, unsigned char **body, size_t *len)
{
	size_t hdr_len = sealed_header_len(&b->p);
	enum sp_err rc;

	rc = sealed_decrypt_begin(&b->p, b->job->key, b->f->path,
				  strlen(b->f->path), b->job->seg, hdr_len,
				  &b->ctx);
	if (rc != SP_OK) {
		blob_fail(b, rc == SP_E_INTEGRITY ? "blob_header_invalid"
						  : "blob_key_failed");
		goto out;
	}
	*body = b->job->seg + hdr_len;
	*len = b->want - hdr_len;
out:
	return rc;
}

/* A whole segment is in job->seg: authenticate, write, move on. */
static enum sp_err
blob_segment(struct blob *b)
{
	unsigned char *body = b->job->seg;
	size_t len = b->want;
	enum sp_err rc = SP_OK;

	if (b->idx == 0) {
		rc = blob_begin(b, &body, &len);
		if (rc != SP_OK) {
			goto out;
		}
	}

	rc = sealed_open_segment(b->ctx, (uint32_t)b->idx, b->last, body, len,
				 body);
	if (rc != SP_OK) {
		blob_fail(b, "blob_segment_invalid");
		goto out;
	}

	rc = write_all(b->fd, body, len - SEALED_TAG_LEN);
	if (rc != SP_OK) {
		goto out;
	}
	b->written += len - SEALED_TAG_LEN;
	b->job->bytes_done += len - SEALED_TAG_LEN;
	b->fill = 0;
	if (b->last) {
		b->done = 1;
		goto out;
	}
	b->idx++;
	if (sealed_segment_span(&b->p, b->ct_len, b->idx, &b->want, &b->last) !=
	    0) {
		rc = SP_E_INTERNAL;
	}
	progress(b->job);
out:
	return rc;
}

static int
blob_sink(void *arg, const void *buf, size_t len)
{
	struct blob *b = arg;
	const unsigned char *in = buf;
	size_t n;
	int rc = SP_E_INTEGRITY;

	/* Refuse excess at once: the manifest's size fixes the length. */
	if (len > b->ct_len - b->received) {
		blob_fail(b, "blob_too_long");
		goto out;
	}
	rc = SP_E_INTERNAL;
	if (EVP_DigestUpdate(b->sha, in, len) != 1) {
		goto out;
	}
	b->received += len;

	rc = SP_OK;
	while (len > 0 && rc == SP_OK) {
		n = b->want - b->fill;
		if (n > len) {
			n = len;
		}
		memcpy(b->job->seg + b->fill, in, n);
		b->fill += n;
		in += n;
		len -= n;
		if (b->fill == b->want) {
			rc = blob_segment(b);
		}
	}
out:
	return rc;
}

/* After the transfer: every byte there, last segment seen, digest. */
static enum sp_err
blob_verify(struct blob *b)
{
	unsigned char want[32];
	unsigned char got[EVP_MAX_MD_SIZE];
	unsigned int got_len = 0;
	enum sp_err rc = SP_E_INTEGRITY;

	if (b->received != b->ct_len || !b->done) {
		blob_fail(b, "blob_truncated");
		goto out;
	}
	if (b->written != b->f->size) {
		blob_fail(b, "blob_size_mismatch");
		goto out;
	}
	if (EVP_DigestFinal_ex(b->sha, got, &got_len) != 1 ||
	    got_len != sizeof(want) ||
	    hex_decode(b->f->blob, MANIFEST_BLOB_HEX, want, sizeof(want)) !=
		0 ||
	    !ct_memeq(got, want, sizeof(want))) {
		blob_fail(b, "blob_digest_mismatch");
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

static enum sp_err
partial_create(struct blob *b)
{
	unsigned char rnd[UNSEAL_PARTIAL_RAND];
	char hex[2 * UNSEAL_PARTIAL_RAND + 1];
	enum sp_err rc = SP_E_INTERNAL;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		goto out;
	}
	hex_encode(rnd, sizeof(rnd), hex);
	snprintf(b->partial, sizeof(b->partial), ".%s.partial", hex);

	rc = SP_E_TARGET;
	b->fd = openat(b->job->tfd, b->partial,
		       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		       UNSEAL_FILE_MODE);
	if (b->fd < 0 || fchmod(b->fd, UNSEAL_FILE_MODE) != 0) {
		log_event(LOG_ERR, "unseal.target.failed",
			  "target_write_failed", LOG_ERRNO(errno));
		goto out;
	}

	/* Claim the space now: running out shows here, not mid-stream. */
	if (b->f->size > 0 && fallocate(b->fd, 0, 0, (off_t)b->f->size) != 0 &&
	    errno != EOPNOTSUPP) {
		log_event(LOG_ERR, "unseal.target.failed",
			  errno == ENOSPC ? "target_no_room"
					  : "target_write_failed",
			  LOG_ERRNO(errno));
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

static enum sp_err
mkdir_open(int dirfd, const char *name, int *out)
{
	int fd;
	enum sp_err rc = SP_E_TARGET;

	if (mkdirat(dirfd, name, UNSEAL_DIR_MODE) != 0 && errno != EEXIST) {
		log_event(LOG_ERR, "unseal.target.failed",
			  "target_mkdir_failed", LOG_ERRNO(errno));
		goto out;
	}
	fd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		log_event(LOG_ERR, "unseal.target.failed",
			  "target_mkdir_failed", LOG_ERRNO(errno));
		goto out;
	}
	*out = fd;
	rc = SP_OK;
out:
	return rc;
}

/* Open (creating as needed) the directory of path; *leaf points into it. */
static enum sp_err
parent_open(int tfd, const char *path, int *out, const char **leaf)
{
	char comp[MANIFEST_COMPONENT_MAX + 1];
	const char *p = path;
	const char *slash;
	int cur = tfd;
	int next = -1;
	enum sp_err rc = SP_OK;

	slash = strchr(p, '/');
	while (slash != NULL && rc == SP_OK) {
		memcpy(comp, p, (size_t)(slash - p));
		comp[slash - p] = '\0';
		rc = mkdir_open(cur, comp, &next);
		if (cur != tfd) {
			close(cur);
		}
		cur = rc == SP_OK ? next : tfd;
		p = slash + 1;
		slash = strchr(p, '/');
	}
	if (rc != SP_OK) {
		goto out;
	}
	*out = cur;
	*leaf = p;
out:
	return rc;
}

/* Move the verified partial file to its path; never replace anything. */
static enum sp_err
blob_place(struct blob *b)
{
	const char *leaf = NULL;
	int dfd = -1;
	enum sp_err rc;

	rc = parent_open(b->job->tfd, b->f->path, &dfd, &leaf);
	if (rc != SP_OK) {
		goto out;
	}

	rc = SP_E_TARGET;
	if (renameat2(b->job->tfd, b->partial, dfd, leaf, RENAME_NOREPLACE) !=
	    0) {
		log_event(LOG_ERR, "unseal.target.failed",
			  "target_rename_failed", LOG_ERRNO(errno));
		goto out;
	}
	b->partial[0] = '\0';
	rc = SP_OK;
out:
	if (dfd >= 0 && dfd != b->job->tfd) {
		close(dfd);
	}
	return rc;
}

static enum sp_err
blob_init(struct job *job, const struct manifest_file *f, struct blob *b)
{
	enum sp_err rc = SP_E_INTERNAL;

	memset(b, 0, sizeof(*b));
	b->job = job;
	b->f = f;
	b->fd = -1;
	memcpy(b->blob_id, f->blob, UNSEAL_DIGEST_LOG);
	sealed_params_default(&b->p);
	b->p.segment_size = f->segment_size;

	/* manifest_check() proved the size encodable. */
	if (sealed_ciphertext_len(&b->p, f->size, &b->ct_len) != 0 ||
	    sealed_segment_span(&b->p, b->ct_len, 0, &b->want, &b->last) != 0) {
		goto out;
	}
	b->sha = EVP_MD_CTX_new();
	if (b->sha == NULL ||
	    EVP_DigestInit_ex(b->sha, EVP_sha256(), NULL) != 1) {
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

static void
blob_release(struct blob *b)
{
	if (b->fd >= 0) {
		close(b->fd);
	}
	if (b->partial[0] != '\0') {
		(void)unlinkat(b->job->tfd, b->partial, 0);
	}
	EVP_MD_CTX_free(b->sha);
	sealed_ctx_free(b->ctx);
}

static enum sp_err
unseal_file(struct job *job, const struct manifest_file *f)
{
	char name[sizeof(MANIFEST_BLOB_DIR) + MANIFEST_BLOB_HEX + 1];
	struct blob b;
	enum sp_err rc;

	rc = blob_init(job, f, &b);
	if (rc != SP_OK) {
		goto out;
	}

	rc = partial_create(&b);
	if (rc != SP_OK) {
		goto out;
	}

	snprintf(name, sizeof(name), "%s/%s", MANIFEST_BLOB_DIR, f->blob);
	rc = source_fetch(job->src, name, 0, 0, blob_sink, &b);
	if (rc == SP_E_NOTFOUND) {
		blob_fail(&b, "blob_missing");
	}
	if (rc != SP_OK) {
		goto out;
	}

	rc = blob_verify(&b);
	if (rc != SP_OK) {
		goto out;
	}

	rc = blob_place(&b);
	if (rc != SP_OK) {
		goto out;
	}
	log_event(LOG_INFO, "unseal.blob.done", NULL,
		  LOG_STR("blob", b.blob_id), LOG_U64("bytes", f->size));
out:
	blob_release(&b);
	return rc;
}

/* ---- the run ---- */

static enum sp_err
segment_alloc(struct job *job)
{
	size_t max = SEALED_SEGMENT_DEFAULT;
	size_t i;
	enum sp_err rc = SP_E_INTERNAL;

	for (i = 0; i < job->m->nfiles; i++) {
		if (job->m->files[i].segment_size > max) {
			max = job->m->files[i].segment_size;
		}
	}
	job->seg = malloc(max);
	if (job->seg == NULL) {
		goto out;
	}
	job->seg_cap = max;
	rc = SP_OK;
out:
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
log_done(const struct job *job)
{
	double secs = (double)(now_ns() - job->t_start) / 1e9;

	log_event(LOG_INFO, "unseal.done", NULL,
		  LOG_U64("version", job->m->version),
		  LOG_U64("files", job->m->nfiles),
		  LOG_U64("bytes", job->bytes_done), LOG_F64("seconds", secs),
		  LOG_F64("mib_per_s",
			  secs > 0 ? (double)job->bytes_done / 1048576.0 / secs
				   : 0.0));
}

/* Everything after the target is ours: manifest, room, each file. */
static enum sp_err
unseal_body(struct job *job)
{
	struct source_opts so;
	size_t i;
	enum sp_err rc = SP_E_INTEGRITY;

	if (job->key == NULL || job->key->len != 32) {
		log_event(LOG_ERR, "unseal.key.failed", "model_key_length");
		goto out;
	}

	memset(&so, 0, sizeof(so));
	so.ca_file = job->opts->ca_file;
	rc = source_open(job->opts->source, &so, &job->src);
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

	rc = owner_mark(job->tfd);
	if (rc != SP_OK) {
		goto out;
	}

	rc = segment_alloc(job);
	for (i = 0; i < job->m->nfiles && rc == SP_OK; i++) {
		rc = unseal_file(job, &job->m->files[i]);
	}
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

enum sp_err
unseal_run(const struct unseal_opts *opts, const struct secret *key,
	   struct unseal_result *res)
{
	struct job job;
	enum sp_err rc;

	memset(&job, 0, sizeof(job));
	job.opts = opts;
	job.key = key;
	job.tfd = -1;
	job.t_start = now_ns();
	job.t_progress = job.t_start;
	log_event(LOG_INFO, "unseal.start", NULL,
		  LOG_U64("min_version", opts->min_version));

	rc = target_prepare(opts, &job.tfd);
	if (rc != SP_OK) {
		goto out;
	}

	rc = unseal_body(&job);
	if (rc != SP_OK) {
		goto out;
	}
	res->version = job.m->version;
	res->files = job.m->nfiles;
	res->bytes = job.bytes_done;
	log_done(&job);
out:
	/* Fail closed: no plaintext, partial file or marker stays. */
	if (rc != SP_OK && job.tfd >= 0) {
		clean_fd(job.tfd);
	}
	if (job.tfd >= 0) {
		close(job.tfd);
	}
	if (job.seg != NULL) {
		secret_wipe_mem(job.seg, job.seg_cap);
	}
	free(job.seg);
	manifest_free(job.m);
	source_free(job.src);
	return rc;
}
