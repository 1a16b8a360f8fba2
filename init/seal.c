/*
 * seal.c: `sealpod-init seal`, run by the model owner (seal.h).
 *
 * Walks the input directory, seals each regular file as one Tink
 * AES-GCM-HKDF stream with its relative path as associated data, and
 * stores it as blobs/<sha256 of the sealed bytes>; then seals the JSON
 * manifest as manifest.sealed. Files stream through one segment buffer;
 * each blob is written to a hidden temporary file, hashed as it is
 * written, and renamed to its digest only when complete.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "json.h"
#include "log.h"
#include "manifest.h"
#include "manifest_sig.h"
#include "seal.h"
#include "sealed.h"
#include "secret.h"
#include "util.h"

#define SEAL_BLOB_MODE	0644
#define SEAL_DIR_MODE	0755
#define SEAL_DIGEST_LOG 12
#define SEAL_SIG_NAME	"manifest.sig" /* UNSEAL_SIG_NAME */
/* An existing manifest.sealed read back for an update: the JSON ceiling
 * plus far more than its segments' tags and header. */
#define SEAL_MANIFEST_CT_MAX (MANIFEST_MAX + 1024 * 1024)
#define SEAL_HEX_LEN	     (2 * 32)

/*
 * Name the input a seal error is about, on the owner's terminal only:
 * a model's file names are confidential (docs/threat-model.md), so no
 * log line carries them, and a CI job collecting stderr gets none.
 * Control bytes are shown as '?'.
 */
static void
seal_show_path(const char *path)
{
	const char *p;

	if (isatty(STDERR_FILENO)) {
		fputs("sealpod-init seal: at ", stderr);
		for (p = path; *p != '\0'; p++) {
			fputc((unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p,
			      stderr);
		}
		fputc('\n', stderr);
	}
}

static const struct seal_key_events seal_key_ev = {
    .key_failed = "seal.key.failed",
    .write_failed = "seal.write.failed",
    .key_created = "seal.key.created",
};

/* What --out held before this run. */
enum seal_out_state {
	SEAL_OUT_ABSENT,
	SEAL_OUT_EMPTY,
	SEAL_OUT_STORE, /* holds manifest.sealed: an update */
};

struct seal_job {
	const struct seal_opts *opts;
	struct sealed_params p;
	struct secret *key;
	struct manifest *m;
	int blobs_fd;
	int out_fd;
	unsigned char *buf; /* one segment */
	char rel[MANIFEST_PATH_MAX + 1];
	char in_real[PATH_MAX];
	char out_real[PATH_MAX];
	uint64_t bytes;
	uint64_t links_external; /* links followed out of in_dir */
	enum seal_out_state out_state;
	/* What this run created, removed again if it fails. */
	int key_created;
	int out_created;
	int blobs_created;
	char (*made)[SEAL_HEX_LEN + 1]; /* blob names, MANIFEST_FILES_MAX */
	size_t nmade;
};

/* One file on its way into a blob. */
struct seal_blob {
	struct seal_job *job;
	struct sealed_ctx *ctx;
	EVP_MD_CTX *sha;
	int in_fd;
	int out_fd;
	uint64_t size;
	char tmp[SEAL_TMP_NAME_MAX + 1];
	char hex[SEAL_HEX_LEN + 1];
	unsigned char hdr[SEALED_HEADER_MAX]; /* for the manifest's "header" */
	size_t hdr_len;
};

enum sp_err
seal_write_all(int fd, const void *buf, size_t len, const char *event)
{
	const unsigned char *p = buf;
	ssize_t n;
	enum sp_err rc = SP_E_INTERNAL;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			log_event(LOG_ERR, event, "write_failed",
				  LOG_ERRNO(errno));
			goto out;
		}
		p += n;
		len -= (size_t)n;
	}
	rc = SP_OK;
out:
	return rc;
}

/* Read up to len bytes, stopping early only at end of file. */
static ssize_t
read_full(int fd, void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t got = 0;
	ssize_t rc = -1;
	ssize_t n;

	while (got < len) {
		n = read(fd, p + got, len - got);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			goto out;
		}
		if (n == 0) {
			break;
		}
		got += (size_t)n;
	}
	rc = (ssize_t)got;
out:
	return rc;
}

/* ---- key ---- */

static enum sp_err
key_create(int fd, const struct seal_key_events *ev, struct secret **out)
{
	struct secret *k = NULL;
	enum sp_err rc = SP_E_INTERNAL;

	k = secret_new(SEAL_KEY_LEN);
	if (k == NULL || RAND_priv_bytes(k->data, SEAL_KEY_LEN) != 1) {
		goto out;
	}
	k->len = SEAL_KEY_LEN;

	rc = seal_write_all(fd, k->data, k->len, ev->write_failed);
	if (rc != SP_OK) {
		goto out;
	}
	rc = SP_E_INTERNAL;
	if (fchmod(fd, 0600) != 0 || fsync(fd) != 0) {
		goto out;
	}
	*out = k;
	k = NULL;
	rc = SP_OK;
	log_event(LOG_INFO, ev->key_created, NULL);
out:
	secret_free(k);
	return rc;
}

enum sp_err
seal_key_read(const char *path, const char *event, struct secret **out)
{
	struct secret *k = NULL;
	struct stat st;
	int fd = -1;
	enum sp_err rc;

	rc = file_check_private(path);
	if (rc != SP_OK) {
		log_event(LOG_ERR, event, "key_file_not_private");
		goto out;
	}

	rc = SP_E_USAGE;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || st.st_size != SEAL_KEY_LEN) {
		log_event(LOG_ERR, event, "key_file_invalid");
		goto out;
	}

	rc = SP_E_INTERNAL;
	k = secret_new(SEAL_KEY_LEN);
	if (k == NULL) {
		goto out;
	}
	if (read_full(fd, k->data, SEAL_KEY_LEN) != SEAL_KEY_LEN) {
		log_event(LOG_ERR, event, "key_file_invalid");
		rc = SP_E_USAGE;
		goto out;
	}
	k->len = SEAL_KEY_LEN;
	*out = k;
	k = NULL;
	rc = SP_OK;
out:
	if (fd >= 0) {
		close(fd);
	}
	secret_free(k);
	return rc;
}

enum sp_err
seal_key_load(const char *path, const struct seal_key_events *ev,
	      struct secret **out, int *created)
{
	int fd;
	enum sp_err rc;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0 && errno == EEXIST) {
		rc = seal_key_read(path, ev->key_failed, out);
		goto out;
	}
	if (fd < 0) {
		log_event(LOG_ERR, ev->key_failed, "key_file_unusable",
			  LOG_ERRNO(errno));
		rc = SP_E_USAGE;
		goto out;
	}
	rc = key_create(fd, ev, out);
	close(fd);
	if (rc != SP_OK) {
		(void)unlink(path);
	}
	if (created != NULL) {
		*created = rc == SP_OK;
	}
out:
	return rc;
}

/* ---- one file ---- */

enum sp_err
seal_blob_tmp_open(int blobs_fd, const char *event, char *tmp, int *fd)
{
	unsigned char rnd[SEAL_TMP_RAND];
	char hex[2 * SEAL_TMP_RAND + 1];
	enum sp_err rc = SP_E_INTERNAL;

	tmp[0] = '\0';
	*fd = -1;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		goto out;
	}
	hex_encode(rnd, sizeof(rnd), hex);
	snprintf(tmp, SEAL_TMP_NAME_MAX + 1, ".tmp-%s", hex);
	*fd = openat(blobs_fd, tmp,
		     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		     SEAL_BLOB_MODE);
	if (*fd < 0) {
		log_event(LOG_ERR, event, "blob_create_failed",
			  LOG_ERRNO(errno));
		tmp[0] = '\0';
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

/* Write ciphertext to the blob and its digest. */
static enum sp_err
blob_emit(struct seal_blob *b, const unsigned char *buf, size_t len)
{
	enum sp_err rc = SP_E_INTERNAL;

	if (EVP_DigestUpdate(b->sha, buf, len) != 1) {
		goto out;
	}
	rc = seal_write_all(b->out_fd, buf, len, "seal.write.failed");
out:
	return rc;
}

static enum sp_err
blob_begin(struct seal_blob *b)
{
	struct seal_job *job = b->job;
	enum sp_err rc = SP_E_INTERNAL;

	b->sha = EVP_MD_CTX_new();
	if (b->sha == NULL ||
	    EVP_DigestInit_ex(b->sha, EVP_sha256(), NULL) != 1) {
		goto out;
	}

	rc = seal_blob_tmp_open(b->job->blobs_fd, "seal.write.failed", b->tmp,
				&b->out_fd);
	if (rc != SP_OK) {
		goto out;
	}

	rc = sealed_encrypt_begin(&job->p, job->key, job->rel, strlen(job->rel),
				  b->hdr, &b->ctx);
	if (rc != SP_OK) {
		goto out;
	}
	b->hdr_len = sealed_header_len(&job->p);
	rc = blob_emit(b, b->hdr, b->hdr_len);
out:
	return rc;
}

/* Seal segments until the size seen at open is consumed, then insist on
 * end of file: a file that changes under us is refused. */
static enum sp_err
blob_segments(struct seal_blob *b)
{
	struct seal_job *job = b->job;
	uint64_t left = b->size;
	unsigned char probe;
	uint32_t idx = 0;
	size_t want;
	int last = 0;
	enum sp_err rc = SP_OK;

	while (!last && rc == SP_OK) {
		want = sealed_segment_plain_max(b->ctx, idx);
		if (want >= left) {
			want = (size_t)left;
			last = 1;
		}
		rc = SP_E_USAGE;
		if (read_full(b->in_fd, job->buf, want) != (ssize_t)want) {
			break;
		}
		rc = sealed_seal_segment(b->ctx, idx, last, job->buf, want,
					 job->buf);
		if (rc == SP_OK) {
			rc = blob_emit(b, job->buf, want + SEALED_TAG_LEN);
		}
		left -= want;
		idx++;
	}
	if (rc == SP_OK && read_full(b->in_fd, &probe, 1) != 0) {
		rc = SP_E_USAGE;
	}
	if (rc == SP_E_USAGE) {
		log_event(LOG_ERR, "seal.input.failed", "input_changed");
		seal_show_path(job->rel);
	}
	return rc;
}

static enum sp_err
blob_finish(struct seal_blob *b)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	enum sp_err rc = SP_E_INTERNAL;

	if (EVP_DigestFinal_ex(b->sha, md, &md_len) != 1 || md_len != 32) {
		goto out;
	}
	hex_encode(md, md_len, b->hex);
	if (b->job->nmade >= MANIFEST_FILES_MAX) {
		log_event(LOG_ERR, "seal.input.failed", "too_many_files");
		rc = SP_E_USAGE;
		goto out;
	}
	/* Never over an existing blob: an old manifest may need it. */
	if (fsync(b->out_fd) != 0 ||
	    renameat2(b->job->blobs_fd, b->tmp, b->job->blobs_fd, b->hex,
		      RENAME_NOREPLACE) != 0) {
		log_event(LOG_ERR, "seal.write.failed", "blob_rename_failed",
			  LOG_ERRNO(errno));
		goto out;
	}
	b->tmp[0] = '\0';
	memcpy(b->job->made[b->job->nmade++], b->hex, sizeof(b->hex));
	rc = SP_OK;
out:
	return rc;
}

static void
blob_release(struct seal_blob *b)
{
	if (b->out_fd >= 0) {
		close(b->out_fd);
	}
	if (b->tmp[0] != '\0') {
		(void)unlinkat(b->job->blobs_fd, b->tmp, 0);
	}
	EVP_MD_CTX_free(b->sha);
	sealed_ctx_free(b->ctx);
}

/* Seal the regular file fd (job->rel is its path) into a blob. The
 * caller keeps fd. */
static enum sp_err
seal_file(struct seal_job *job, int fd, uint64_t size)
{
	char id[SEAL_DIGEST_LOG + 1];
	struct seal_blob b;
	uint64_t ct_len;
	enum sp_err rc = SP_E_USAGE;

	memset(&b, 0, sizeof(b));
	b.job = job;
	b.in_fd = fd;
	b.out_fd = -1;
	b.size = size;
	if (sealed_ciphertext_len(&job->p, size, &ct_len) != 0) {
		log_event(LOG_ERR, "seal.input.failed", "input_too_large");
		seal_show_path(job->rel);
		goto out;
	}

	rc = blob_begin(&b);
	if (rc != SP_OK) {
		goto out;
	}

	rc = blob_segments(&b);
	if (rc != SP_OK) {
		goto out;
	}

	rc = blob_finish(&b);
	if (rc != SP_OK) {
		goto out;
	}

	/* The header pins the salt and nonce prefix: unseal then needs no
	 * digest of the whole blob (docs/sealed-format.md). */
	rc = manifest_add(job->m, job->rel, size, b.hex, job->p.segment_size);
	if (rc == SP_OK) {
		rc = manifest_set_header(job->m, b.hdr, b.hdr_len);
	}
	if (rc != SP_OK) {
		log_event(LOG_ERR, "seal.input.failed", "too_many_files");
		goto out;
	}
	job->bytes += size;
	memcpy(id, b.hex, SEAL_DIGEST_LOG);
	id[SEAL_DIGEST_LOG] = '\0';
	log_event(LOG_INFO, "seal.blob.done", NULL, LOG_STR("blob", id),
		  LOG_U64("bytes", size));
out:
	blob_release(&b);
	return rc;
}

/* ---- the walk ---- */

static int path_within(const char *dir, const char *path);

static enum sp_err walk_dir(struct seal_job *job, int dirfd, size_t rel_len,
			    unsigned depth);

/* Append "/name" (or "name" at the top) to job->rel; check the rules. */
static enum sp_err
rel_push(struct seal_job *job, size_t rel_len, const char *name)
{
	const char *reason;
	int n;
	enum sp_err rc = SP_E_USAGE;

	n = snprintf(job->rel + rel_len, sizeof(job->rel) - rel_len, "%s%s",
		     rel_len > 0 ? "/" : "", name);
	if (n < 0 || (size_t)n >= sizeof(job->rel) - rel_len) {
		log_event(LOG_ERR, "seal.input.failed", "path_too_long",
			  LOG_STR("under", job->rel));
		goto out;
	}
	reason = manifest_path_check(job->rel);
	if (reason != NULL) {
		log_event(LOG_ERR, "seal.input.failed", reason);
		seal_show_path(job->rel);
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

/*
 * An entry we will not seal, named by its path under --in (job->rel):
 * seal runs on the owner's machine, where the names are the owner's own
 * and a large tree needs them. e is 0 when no call failed (then no
 * errno is logged, which would only say "Success").
 */
static enum sp_err
entry_refused(const struct seal_job *job, const char *reason, int e)
{
	if (e != 0) {
		log_event(LOG_ERR, "seal.input.failed", reason, LOG_ERRNO(e));
		seal_show_path(job->rel);
	} else {
		log_event(LOG_ERR, "seal.input.failed", reason);
		seal_show_path(job->rel);
	}
	return SP_E_USAGE;
}

static enum sp_err
walk_subdir(struct seal_job *job, int dirfd, const char *name, unsigned depth)
{
	int fd;
	enum sp_err rc;

	fd = openat(dirfd, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		rc = entry_refused(job, "input_unsupported_entry", errno);
		goto out;
	}
	rc = walk_dir(job, fd, strlen(job->rel), depth + 1);
out:
	return rc;
}

/*
 * A link that was opened as fd: allowed when the file it reached lies
 * inside in_dir, or with follow_external (counted, never named). The
 * opened file itself is judged (/proc/self/fd), so no later change of
 * the link matters.
 */
static enum sp_err
link_check(struct seal_job *job, int fd)
{
	char proc[64];
	char real[PATH_MAX];
	ssize_t n;
	enum sp_err rc = SP_E_USAGE;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, real, sizeof(real) - 1);
	if (n <= 0) {
		rc = entry_refused(job, "input_link_unresolved", errno);
		goto out;
	}
	real[n] = '\0';
	if (path_within(job->in_real, real)) {
		rc = SP_OK;
	} else if (job->opts->follow_external) {
		job->links_external++;
		rc = SP_OK;
	} else {
		log_event(LOG_ERR, "seal.input.failed", "input_link_outside",
			  LOG_STR("hint", "--follow-external-links seals it"));
		seal_show_path(job->rel);
	}
out:
	return rc;
}

/* A link to a regular file (as in a Hugging Face snapshot) is sealed as
 * that file, within the rules of link_check(); anything else that is not
 * a regular file is refused. */
static enum sp_err
seal_entry(struct seal_job *job, int dirfd, const char *name, int is_link)
{
	struct stat st;
	int fd;
	enum sp_err rc;

	fd = openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = entry_refused(job, "input_unsupported_entry", errno);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = entry_refused(job, "input_not_regular_file", 0);
		goto out;
	}
	if (is_link) {
		rc = link_check(job, fd);
		if (rc != SP_OK) {
			goto out;
		}
	}
	rc = seal_file(job, fd, (uint64_t)st.st_size);
out:
	if (fd >= 0) {
		close(fd);
	}
	return rc;
}

/* Directories are walked without following links. */
static enum sp_err
walk_entry(struct seal_job *job, int dirfd, const char *name, size_t rel_len,
	   unsigned depth)
{
	struct stat st;
	enum sp_err rc;

	rc = rel_push(job, rel_len, name);
	if (rc != SP_OK) {
		goto out;
	}

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		rc = entry_refused(job, "input_unsupported_entry", errno);
	} else if (S_ISDIR(st.st_mode)) {
		rc = walk_subdir(job, dirfd, name, depth);
	} else {
		rc = seal_entry(job, dirfd, name, S_ISLNK(st.st_mode));
	}
out:
	job->rel[rel_len] = '\0';
	return rc;
}

static enum sp_err
walk_dir(struct seal_job *job, int dirfd, size_t rel_len, unsigned depth)
{
	struct dirent *de;
	DIR *d = NULL;
	enum sp_err rc = SP_E_USAGE;

	if (depth > MANIFEST_DEPTH_MAX) {
		log_event(LOG_ERR, "seal.input.failed", "path_too_deep");
		seal_show_path(job->rel);
		close(dirfd);
		goto out;
	}
	d = fdopendir(dirfd);
	if (d == NULL) {
		close(dirfd);
		goto out;
	}

	rc = SP_OK;
	while (rc == SP_OK) {
		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			break;
		}
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0) {
			continue;
		}
		rc = walk_entry(job, dirfd, de->d_name, rel_len, depth);
	}

	/* A failed readdir must not pass for the end of the directory. */
	if (rc == SP_OK && errno != 0) {
		rc = entry_refused(job, "input_unsupported_entry", errno);
	}
out:
	if (d != NULL) {
		closedir(d);
	}
	return rc;
}

/* ---- the run ---- */

/* Resolve path, which need not exist yet, through its directory. */
static int
resolve_parent(const char *path, char *out)
{
	char copy[PATH_MAX];
	char res[PATH_MAX];
	const char *dir = ".";
	const char *base;
	char *slash;
	size_t len;
	int n;
	int rc = -1;

	n = snprintf(copy, sizeof(copy), "%s", path);
	if (n <= 0 || (size_t)n >= sizeof(copy)) {
		goto out;
	}
	for (len = (size_t)n; len > 1 && copy[len - 1] == '/'; len--) {
		copy[len - 1] = '\0';
	}
	slash = strrchr(copy, '/');
	base = copy;
	if (slash != NULL) {
		*slash = '\0';
		dir = slash == copy ? "/" : copy;
		base = slash + 1;
	}
	if (realpath(dir, res) == NULL) {
		goto out;
	}
	n = snprintf(out, PATH_MAX, "%s/%s", strcmp(res, "/") == 0 ? "" : res,
		     base);
	if (n > 0 && n < PATH_MAX) {
		rc = 0;
	}
out:
	return rc;
}

/* 1 when path (resolved) is dir (resolved) or lies beneath it. */
static int
path_within(const char *dir, const char *path)
{
	size_t n = strlen(dir);

	return strncmp(dir, path, n) == 0 &&
	       (path[n] == '\0' || path[n] == '/' || n == 1);
}

/* A directory seal cannot use, with the option that named it. */
static void
dir_unusable(const char *option, const char *path, int e)
{
	log_event(LOG_ERR, "seal.input.failed", "dir_unusable",
		  LOG_STR("option", option), LOG_ERRNO(e));
	seal_show_path(path);
}

/* Neither the output nor the key may sit inside the input, or they would
 * be sealed along with the model. Checked before anything is created. */
static enum sp_err
dirs_check(const struct seal_opts *opts, const char *out_path)
{
	char in_real[PATH_MAX];
	char out_real[PATH_MAX];
	char key_real[PATH_MAX];
	enum sp_err rc = SP_E_USAGE;

	/* Each named: a missing --out parent must not read as a missing
	 * --in. */
	if (realpath(opts->in_dir, in_real) == NULL) {
		dir_unusable("--in", opts->in_dir, errno);
		goto out;
	}
	if (resolve_parent(out_path, out_real) != 0) {
		dir_unusable("--out's parent", out_path, errno);
		goto out;
	}
	if (resolve_parent(opts->key_file, key_real) != 0) {
		dir_unusable("--key's parent", opts->key_file, errno);
		goto out;
	}
	if (path_within(in_real, out_real)) {
		log_event(LOG_ERR, "seal.output.failed",
			  "out_dir_inside_input");
		goto out;
	}
	if (path_within(in_real, key_real)) {
		log_event(LOG_ERR, "seal.input.failed", "key_inside_input");
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

/* 1 when the directory fd has an entry other than "." and "..";
 * *store is set when one of them is manifest.sealed. -1 on error. */
static int
dir_entries(int fd, int *store)
{
	struct dirent *de;
	DIR *d = NULL;
	int dfd;
	int rc = -1;

	*store = 0;
	dfd = dup(fd);
	if (dfd < 0) {
		goto out;
	}
	d = fdopendir(dfd);
	if (d == NULL) {
		close(dfd);
		goto out;
	}
	rc = 0;
	for (de = readdir(d); de != NULL; de = readdir(d)) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0) {
			continue;
		}
		rc = 1;
		*store |= strcmp(de->d_name, MANIFEST_NAME) == 0;
	}
out:
	if (d != NULL) {
		closedir(d);
	}
	return rc;
}

/*
 * What --out holds now. A non-empty directory is accepted only when it
 * is a store (manifest.sealed), whose key is checked once loaded, and
 * then only with an existing key file: a new key could never open it.
 */
static enum sp_err
out_classify(struct seal_job *job)
{
	struct stat st;
	int store = 0;
	int fd;
	int n = -1;
	enum sp_err rc = SP_E_USAGE;

	fd = open(job->opts->out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		job->out_state = SEAL_OUT_ABSENT;
		rc = SP_OK;
		goto out;
	}
	if (fd >= 0) {
		n = dir_entries(fd, &store);
	}
	if (n < 0) {
		log_event(LOG_ERR, "seal.output.failed", "out_dir_unusable",
			  LOG_ERRNO(errno));
		goto out;
	}
	if (n > 0 && !store) {
		log_event(LOG_ERR, "seal.output.failed", "out_dir_not_empty");
		goto out;
	}
	if (n > 0 && lstat(job->opts->key_file, &st) != 0) {
		log_event(LOG_ERR, "seal.output.failed",
			  "out_dir_holds_other_store");
		goto out;
	}
	job->out_state = n > 0 ? SEAL_OUT_STORE : SEAL_OUT_EMPTY;
	rc = SP_OK;
out:
	if (fd >= 0) {
		close(fd);
	}
	return rc;
}

/*
 * An update of a store that names a model keeps that model: sealing
 * another model (or none) over it would hand its pods another model
 * under the same key. A store without "model" may gain one. The
 * identities are not logged (they may be model names).
 */
static enum sp_err
old_model_check(const struct manifest *old, const struct manifest *m)
{
	enum sp_err rc = SP_OK;

	if (old->model[0] != '\0' && strcmp(old->model, m->model) != 0) {
		log_event(LOG_ERR, "seal.output.failed",
			  "out_dir_holds_other_model",
			  LOG_BOOL("model_given", m->model[0] != '\0'));
		rc = SP_E_USAGE;
	} else if (old->model[0] == '\0' && m->model[0] != '\0') {
		log_event(LOG_INFO, "seal.model.added", NULL);
	}
	return rc;
}

/* An update: the store's manifest must open with our key, so a store
 * sealed under another key is never silently re-keyed. */
static enum sp_err
out_store_check(struct seal_job *job)
{
	char path[PATH_MAX];
	struct sealed_params p;
	struct manifest *old = NULL;
	unsigned char *pt = NULL;
	size_t pt_len = 0;
	char *ct = NULL;
	size_t ct_len = 0;
	const char *reason = NULL;
	int n;
	enum sp_err rc = SP_OK;

	if (job->out_state != SEAL_OUT_STORE) {
		goto out;
	}
	rc = SP_E_USAGE;
	n = snprintf(path, sizeof(path), "%s/%s", job->opts->out_dir,
		     MANIFEST_NAME);
	if (n < 0 || (size_t)n >= sizeof(path) ||
	    file_read_all(path, SEAL_MANIFEST_CT_MAX, &ct, &ct_len) != SP_OK) {
		log_event(LOG_ERR, "seal.output.failed", "out_dir_unusable");
		goto out;
	}
	sealed_params_default(&p);
	if (sealed_decrypt_mem(&p, job->key, MANIFEST_AAD, strlen(MANIFEST_AAD),
			       ct, ct_len, MANIFEST_MAX, &pt,
			       &pt_len) != SP_OK ||
	    manifest_parse((char *)pt, pt_len, &old, &reason) != SP_OK) {
		log_event(LOG_ERR, "seal.output.failed",
			  "out_dir_holds_other_store");
		goto out;
	}
	rc = old_model_check(old, job->m);
	if (rc != SP_OK) {
		goto out;
	}
	log_event(LOG_INFO, "seal.output.update", NULL,
		  LOG_U64("previous_version", old->version),
		  LOG_U64("version", job->m->version));
	if (old->version >= job->m->version) {
		log_event(LOG_WARN, "seal.version.not_newer", NULL,
			  LOG_U64("previous_version", old->version),
			  LOG_U64("version", job->m->version));
	}
	rc = SP_OK;
out:
	if (pt != NULL) {
		secret_wipe_mem(pt, pt_len);
	}
	free(pt);
	free(ct);
	manifest_free(old);
	return rc;
}

/* Create out_dir and out_dir/blobs, then check again through any link. */
static enum sp_err
dirs_prepare(struct seal_job *job)
{
	enum sp_err rc = SP_E_USAGE;

	if (mkdir(job->opts->out_dir, SEAL_DIR_MODE) == 0) {
		job->out_created = 1;
	} else if (errno != EEXIST) {
		log_event(LOG_ERR, "seal.output.failed", "out_dir_unusable",
			  LOG_ERRNO(errno));
		goto out;
	}
	if (realpath(job->opts->out_dir, job->out_real) == NULL) {
		log_event(LOG_ERR, "seal.output.failed", "out_dir_unusable",
			  LOG_ERRNO(errno));
		goto out;
	}
	rc = dirs_check(job->opts, job->out_real);
	if (rc != SP_OK) {
		goto out;
	}

	rc = SP_E_USAGE;
	job->out_fd = open(job->out_real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (job->out_fd < 0) {
		log_event(LOG_ERR, "seal.output.failed", "out_dir_unusable",
			  LOG_ERRNO(errno));
		goto out;
	}
	if (mkdirat(job->out_fd, MANIFEST_BLOB_DIR, SEAL_DIR_MODE) == 0) {
		job->blobs_created = 1;
	} else if (errno != EEXIST) {
		log_event(LOG_ERR, "seal.output.failed", "out_dir_unusable",
			  LOG_ERRNO(errno));
		goto out;
	}
	job->blobs_fd = openat(job->out_fd, MANIFEST_BLOB_DIR,
			       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (job->blobs_fd < 0) {
		log_event(LOG_ERR, "seal.output.failed", "out_dir_unusable",
			  LOG_ERRNO(errno));
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

/* After a failure: remove the blobs, directories and key this run
 * created, nothing that was there before. */
static void
seal_undo(struct seal_job *job)
{
	size_t i;

	for (i = 0; job->blobs_fd >= 0 && i < job->nmade; i++) {
		(void)unlinkat(job->blobs_fd, job->made[i], 0);
	}
	if (job->blobs_created && job->out_fd >= 0) {
		(void)unlinkat(job->out_fd, MANIFEST_BLOB_DIR, AT_REMOVEDIR);
	}
	if (job->out_created && job->out_real[0] != '\0') {
		(void)rmdir(job->out_real);
	}
	if (job->key_created && unlink(job->opts->key_file) == 0) {
		/* Nothing sealed under it survives: no use keeping it. */
		log_event(LOG_INFO, "seal.key.removed", NULL);
	}
}

/* The owner's signature over the sealed manifest, beside it; without a
 * signing key, a signature left from an earlier run is removed so it
 * cannot stand for this manifest. */
static enum sp_err
manifest_sign(struct seal_job *job, const unsigned char *ct, size_t ct_len)
{
	char path[PATH_MAX];
	unsigned char *sig = NULL;
	size_t sig_len = 0;
	int n;
	enum sp_err rc = SP_E_USAGE;

	n = snprintf(path, sizeof(path), "%s/%s", job->opts->out_dir,
		     SEAL_SIG_NAME);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		goto out;
	}
	if (job->opts->sign_key == NULL) {
		rc = unlink(path) == 0 || errno == ENOENT ? SP_OK : SP_E_TARGET;
		goto out;
	}

	rc = manifest_sig_sign(job->opts->sign_key, ct, ct_len, &sig, &sig_len);
	if (rc != SP_OK) {
		goto out;
	}
	rc = file_write_atomic(path, sig, sig_len, SEAL_BLOB_MODE);
out:
	if (rc != SP_OK) {
		log_event(LOG_ERR, "seal.write.failed", "manifest_sig_failed");
	}
	free(sig);
	return rc;
}

/* A signing key that cannot sign should fail before hours of sealing. */
static enum sp_err
sign_key_check(const struct seal_opts *opts)
{
	static const char probe[] = "sealpod-sign-check";
	unsigned char *sig = NULL;
	size_t sig_len = 0;
	enum sp_err rc = SP_OK;

	if (opts->sign_key != NULL) {
		rc = manifest_sig_sign(opts->sign_key, probe, sizeof(probe),
				       &sig, &sig_len);
	}
	free(sig);
	return rc;
}

enum sp_err
seal_manifest_encrypt(struct manifest *m, const struct secret *key,
		      const char *event, unsigned char **ct, size_t *ct_len)
{
	struct sealed_params p;
	struct strbuf sb;
	const char *reason = NULL;
	enum sp_err rc;

	strbuf_init(&sb, MANIFEST_MAX);
	rc = manifest_check(m, &reason);
	if (rc != SP_OK) {
		log_event(LOG_ERR, event, reason);
		rc = SP_E_USAGE;
		goto out;
	}
	rc = manifest_print(m, &sb);
	if (rc != SP_OK) {
		log_event(LOG_ERR, event, "manifest_too_large");
		goto out;
	}

	sealed_params_default(&p);
	rc = sealed_encrypt_mem(&p, key, MANIFEST_AAD, strlen(MANIFEST_AAD),
				sb.buf, sb.len, ct, ct_len);
out:
	strbuf_free(&sb);
	return rc;
}

enum sp_err
seal_manifest_store(const char *out_dir, const unsigned char *ct, size_t ct_len,
		    const char *event)
{
	char path[PATH_MAX];
	int n;
	enum sp_err rc = SP_E_USAGE;

	n = snprintf(path, sizeof(path), "%s/%s", out_dir, MANIFEST_NAME);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		goto out;
	}
	rc = file_write_atomic(path, ct, ct_len, SEAL_BLOB_MODE);
	if (rc != SP_OK) {
		log_event(LOG_ERR, event, "manifest_write_failed");
	}
out:
	return rc;
}

static enum sp_err
manifest_write(struct seal_job *job)
{
	unsigned char *ct = NULL;
	size_t ct_len = 0;
	enum sp_err rc;

	rc = seal_manifest_encrypt(job->m, job->key, "seal.input.failed", &ct,
				   &ct_len);
	if (rc != SP_OK) {
		goto out;
	}

	rc = manifest_sign(job, ct, ct_len);
	if (rc != SP_OK) {
		goto out;
	}

	rc = seal_manifest_store(job->opts->out_dir, ct, ct_len,
				 "seal.write.failed");
out:
	free(ct);
	return rc;
}

static enum sp_err
seal_job_init(struct seal_job *job, const struct seal_opts *opts)
{
	const char *why = NULL;
	enum sp_err rc = SP_E_USAGE;

	memset(job, 0, sizeof(*job));
	job->opts = opts;
	job->blobs_fd = -1;
	job->out_fd = -1;
	sealed_params_default(&job->p);
	if (opts->segment_size > SEALED_SEGMENT_MAX) {
		why = "segment_size_invalid";
		goto out;
	}
	if (opts->segment_size != 0) {
		job->p.segment_size = (uint32_t)opts->segment_size;
	}
	if (sealed_params_check(&job->p) != SP_OK) {
		why = "segment_size_invalid";
		goto out;
	}
	if (opts->key_file == NULL || opts->in_dir == NULL ||
	    opts->out_dir == NULL) {
		why = "option_missing";
		goto out;
	}

	if (opts->model_id != NULL &&
	    manifest_model_id_check(opts->model_id) != NULL) {
		why = "model_id_invalid";
		goto out;
	}

	rc = SP_E_INTERNAL;
	job->m = manifest_new(opts->version == 0 ? 1 : opts->version);
	job->buf = malloc(job->p.segment_size);
	job->made = calloc(MANIFEST_FILES_MAX, sizeof(*job->made));
	if (job->m == NULL || job->buf == NULL || job->made == NULL ||
	    manifest_set_model(job->m, opts->model_id) != SP_OK) {
		goto out;
	}
	rc = SP_OK;
out:
	if (why != NULL) {
		log_event(LOG_ERR, "seal.options.invalid", why);
	}
	return rc;
}

/* Paths, what --out holds, the key, and a store's key before any
 * output is created. */
static enum sp_err
seal_prepare(struct seal_job *job)
{
	const struct seal_opts *opts = job->opts;
	enum sp_err rc;

	rc = dirs_check(opts, opts->out_dir);
	if (rc != SP_OK) {
		goto out;
	}
	rc = out_classify(job);
	if (rc != SP_OK) {
		goto out;
	}
	rc = SP_E_USAGE;
	if (realpath(opts->in_dir, job->in_real) == NULL) {
		log_event(LOG_ERR, "seal.input.failed", "dir_unusable",
			  LOG_ERRNO(errno));
		goto out;
	}

	rc = seal_key_load(opts->key_file, &seal_key_ev, &job->key,
			   &job->key_created);
	if (rc != SP_OK) {
		goto out;
	}
	rc = out_store_check(job);
	if (rc != SP_OK) {
		goto out;
	}
	rc = sign_key_check(opts);
	if (rc != SP_OK) {
		goto out;
	}
	rc = dirs_prepare(job);
out:
	return rc;
}

static void
seal_done(const struct seal_job *job, uint64_t t0)
{
	double secs = (double)(now_ns() - t0) / 1e9;

	if (job->links_external > 0) {
		log_event(LOG_WARN, "seal.links.external", NULL,
			  LOG_U64("count", job->links_external));
	}
	log_event(
	    LOG_INFO, "seal.done", NULL, LOG_U64("version", job->m->version),
	    LOG_U64("files", job->m->nfiles), LOG_U64("bytes", job->bytes),
	    LOG_F64("seconds", secs),
	    LOG_F64("mib_per_s",
		    secs > 0 ? (double)job->bytes / 1048576.0 / secs : 0.0));
}

enum sp_err
seal_run(const struct seal_opts *opts)
{
	struct seal_job job;
	uint64_t t0 = now_ns();
	int in_fd;
	enum sp_err rc;

	rc = seal_job_init(&job, opts);
	if (rc != SP_OK) {
		goto out;
	}
	log_event(LOG_INFO, "seal.start", NULL,
		  LOG_U64("version", job.m->version),
		  LOG_U64("segment_size", job.p.segment_size));

	rc = seal_prepare(&job);
	if (rc != SP_OK) {
		goto out;
	}

	rc = SP_E_USAGE;
	in_fd = open(job.in_real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (in_fd < 0) {
		dir_unusable("--in", opts->in_dir, errno);
		goto out;
	}
	rc = walk_dir(&job, in_fd, 0, 0);
	if (rc != SP_OK) {
		goto out;
	}
	/* A pod would unseal nothing, go ready and serve no model. */
	if (job.m->nfiles == 0 && !opts->allow_empty) {
		log_event(LOG_ERR, "seal.input.failed", "input_empty",
			  LOG_STR("hint", "--allow-empty seals it"));
		seal_show_path(opts->in_dir);
		rc = SP_E_USAGE;
		goto out;
	}

	rc = manifest_write(&job);
	if (rc == SP_OK) {
		seal_done(&job, t0);
	}
out:
	if (rc != SP_OK) {
		seal_undo(&job);
	}
	if (job.blobs_fd >= 0) {
		close(job.blobs_fd);
	}
	if (job.out_fd >= 0) {
		close(job.out_fd);
	}
	if (job.buf != NULL) {
		secret_wipe_mem(job.buf, job.p.segment_size);
	}
	free(job.buf);
	free(job.made);
	secret_wipe_mem(job.rel, sizeof(job.rel));
	manifest_free(job.m);
	secret_free(job.key);
	return rc;
}
