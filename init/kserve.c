/*
 * kserve.c: import a KServe confidential model directory (kserve.h).
 *
 * Per file: the JWE's fixed prefix (header, wrapped key, IV) and its tag
 * (the last part) are read first; the content key is unwrapped with the
 * KEK; then the ciphertext part is read KSERVE_CHUNK characters at a
 * time, decoded, decrypted and handed to a blob writer that seals the
 * plaintext segment by segment under the model key into a hidden
 * temporary file, hashing what it writes. The GCM tag decides whether
 * that blob is renamed to its digest and listed, or removed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "b64.h"
#include "json.h"
#include "kserve.h"
#include "log.h"
#include "manifest.h"
#include "seal.h"
#include "sealed.h"
#include "secret.h"
#include "util.h"

/* Characters of base64url read at a time: a multiple of 4. */
#define KSERVE_CHUNK	  (64 * 1024)
#define KSERVE_TAIL	  64 /* the tag's 22 characters, a dot, blanks */
#define KSERVE_TAG_CHARS  22
#define KSERVE_CEK_LEN	  32 /* the A256GCM content key */
#define KSERVE_DIR_MODE	  0755
#define KSERVE_DIGEST_LOG 12
#define KSERVE_ERR_MAX	  128
/* One GCM message holds at most 2^39 - 256 bits (SP 800-38D). */
#define KSERVE_GCM_MAX ((UINT64_C(1) << 36) - 32)

struct kserve_job {
	const struct kserve_opts *o;
	struct sealed_params p;
	struct secret *kek;
	struct secret *key;
	struct manifest *m;
	int blobs_fd;
	unsigned char *seg;   /* one segment: plaintext, then sealed */
	char *text;	      /* base64url read buffer */
	unsigned char *plain; /* one decoded, decrypted chunk */
	char rel[MANIFEST_PATH_MAX + 1];
	uint64_t files;
	uint64_t jwe_files;
	uint64_t bytes;
};

/* One file on its way into a sealed blob. */
struct kblob {
	struct kserve_job *job;
	struct sealed_ctx *ctx;
	EVP_MD_CTX *sha;
	int fd;
	size_t fill;   /* plaintext bytes in job->seg */
	uint32_t idx;  /* the segment being filled */
	uint64_t left; /* plaintext bytes still to come */
	uint64_t size;
	char tmp[SEAL_TMP_NAME_MAX + 1];
	char hex[2 * 32 + 1];
	unsigned char hdr[SEALED_HEADER_MAX]; /* pinned in the manifest */
	size_t hdr_len;
};

static void
fail(const char *reason)
{
	log_event(LOG_ERR, "kserve.import.failed", reason);
}

/* ---- files ---- */

/* The KEK and the model key are both 32 raw bytes, read alike. */
_Static_assert(KSERVE_KEK_LEN == SEAL_KEY_LEN, "kek and model key lengths");

static const struct seal_key_events kserve_key_ev = {
    .key_failed = "kserve.import.failed",
    .write_failed = "kserve.import.failed",
    .key_created = "kserve.key.created",
};

/* Exactly len bytes at off, or -1 (short file, error). */
static int
read_at(int fd, void *buf, size_t len, uint64_t off)
{
	unsigned char *p = buf;
	size_t got = 0;
	ssize_t n;
	int rc = -1;

	while (got < len) {
		n = pread(fd, p + got, len - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			goto out;
		}
		got += (size_t)n;
	}
	rc = 0;
out:
	return rc;
}

/* ---- the blob writer ---- */

static enum sp_err
kblob_emit(struct kblob *b, const unsigned char *buf, size_t len)
{
	enum sp_err rc = SP_E_INTERNAL;

	if (EVP_DigestUpdate(b->sha, buf, len) == 1) {
		rc = seal_write_all(b->fd, buf, len, "kserve.import.failed");
	}
	return rc;
}

/* Start a blob of size plaintext bytes sealed for path job->rel. */
static enum sp_err
kblob_begin(struct kblob *b, struct kserve_job *job, const char *aad,
	    uint64_t size)
{
	uint64_t ct_len;
	enum sp_err rc = SP_E_USAGE;

	memset(b, 0, sizeof(*b));
	b->job = job;
	b->fd = -1;
	b->left = size;
	b->size = size;
	if (sealed_ciphertext_len(&job->p, size, &ct_len) != 0) {
		fail("input_too_large");
		goto out;
	}
	rc = SP_E_INTERNAL;
	b->sha = EVP_MD_CTX_new();
	if (b->sha == NULL ||
	    EVP_DigestInit_ex(b->sha, EVP_sha256(), NULL) != 1) {
		goto out;
	}
	rc = seal_blob_tmp_open(job->blobs_fd, "kserve.import.failed", b->tmp,
				&b->fd);
	if (rc != SP_OK) {
		goto out;
	}
	rc = sealed_encrypt_begin(&job->p, job->key, aad, strlen(aad), b->hdr,
				  &b->ctx);
	if (rc == SP_OK) {
		b->hdr_len = sealed_header_len(&job->p);
		rc = kblob_emit(b, b->hdr, b->hdr_len);
	}
out:
	return rc;
}

/* Seal the filled segment and write it. */
static enum sp_err
kblob_seal(struct kblob *b, int last)
{
	unsigned char *seg = b->job->seg;
	enum sp_err rc;

	rc = sealed_seal_segment(b->ctx, b->idx, last, seg, b->fill, seg);
	if (rc == SP_OK) {
		rc = kblob_emit(b, seg, b->fill + SEALED_TAG_LEN);
	}
	b->idx++;
	b->fill = 0;
	return rc;
}

/*
 * Take len more plaintext bytes. A full segment is sealed as soon as
 * more bytes are known to follow; the last one waits for the finish.
 */
static enum sp_err
kblob_put(struct kblob *b, const unsigned char *p, size_t len)
{
	size_t cap;
	size_t take;
	enum sp_err rc = SP_E_USAGE;

	if (len > b->left) {
		fail("input_changed");
		goto out;
	}
	rc = SP_OK;
	while (len > 0 && rc == SP_OK) {
		cap = sealed_segment_plain_max(b->ctx, b->idx);
		if (b->fill == cap) {
			rc = kblob_seal(b, 0);
			continue;
		}
		take = cap - b->fill < len ? cap - b->fill : len;
		memcpy(b->job->seg + b->fill, p, take);
		b->fill += take;
		b->left -= take;
		p += take;
		len -= take;
	}
out:
	return rc;
}

/* Seal the last segment, name the blob by its digest, list it. */
static enum sp_err
kblob_commit(struct kblob *b)
{
	struct kserve_job *job = b->job;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	enum sp_err rc = SP_E_USAGE;

	if (b->left != 0) {
		fail("input_changed");
		goto out;
	}
	rc = kblob_seal(b, 1);
	if (rc != SP_OK) {
		goto out;
	}
	rc = SP_E_INTERNAL;
	if (EVP_DigestFinal_ex(b->sha, md, &n) != 1 || n != 32) {
		goto out;
	}
	hex_encode(md, n, b->hex);
	if (fsync(b->fd) != 0 ||
	    renameat(job->blobs_fd, b->tmp, job->blobs_fd, b->hex) != 0) {
		log_event(LOG_ERR, "kserve.import.failed", "blob_rename_failed",
			  LOG_ERRNO(errno));
		goto out;
	}
	b->tmp[0] = '\0';
	rc = manifest_add(job->m, job->rel, b->size, b->hex,
			  job->p.segment_size);
	if (rc == SP_OK) {
		rc = manifest_set_header(job->m, b->hdr, b->hdr_len);
	}
	if (rc != SP_OK) {
		fail("too_many_files");
	}
out:
	return rc;
}

/* Close, and remove the temporary blob unless it was committed. */
static void
kblob_release(struct kblob *b)
{
	if (b->job == NULL) {
		return;
	}
	if (b->fd >= 0) {
		close(b->fd);
	}
	if (b->tmp[0] != '\0') {
		(void)unlinkat(b->job->blobs_fd, b->tmp, 0);
	}
	EVP_MD_CTX_free(b->sha);
	sealed_ctx_free(b->ctx);
	secret_wipe_mem(b->job->seg, b->job->p.segment_size);
}

/* ---- the JWE ---- */

/* The protected header: A256KW and A256GCM, nothing we cannot honour. */
static enum sp_err
header_check(const char *text, size_t len, const char **why)
{
	unsigned char json[KSERVE_HEADER_JSON];
	char err[KSERVE_ERR_MAX];
	const char *alg;
	const char *enc;
	yajl_val v = NULL;
	long n;
	enum sp_err rc = SP_E_USAGE;

	*why = "jwe_header_invalid";
	n = b64_decode(text, len, B64_URL, json, sizeof(json));
	if (n <= 0) {
		goto out;
	}
	v = json_parse((const char *)json, (size_t)n, sizeof(json), err,
		       sizeof(err));
	alg = json_get_str(v, "alg");
	enc = json_get_str(v, "enc");
	if (!YAJL_IS_OBJECT(v) || alg == NULL || enc == NULL) {
		goto out;
	}
	if (strcmp(alg, "A256KW") != 0 || strcmp(enc, "A256GCM") != 0) {
		*why = "jwe_algorithm_unsupported";
		goto out;
	}
	if (json_get(v, "zip") != NULL || json_get(v, "crit") != NULL) {
		*why = "jwe_feature_unsupported";
		goto out;
	}
	*why = NULL;
	rc = SP_OK;
out:
	yajl_tree_free(v);
	return rc;
}

/* Decode part text[0..len) into exactly want bytes. */
static int
part_decode(const char *text, size_t len, unsigned char *out, size_t want)
{
	return b64_decode(text, len, B64_URL, out, want) == (long)want ? 0 : -1;
}

enum sp_err
kserve_jwe_head_parse(const char *buf, size_t len, struct kserve_jwe_head *h,
		      const char **why)
{
	const char *d1;
	const char *d2;
	const char *d3;
	size_t n = len < KSERVE_PREFIX_MAX ? len : KSERVE_PREFIX_MAX;
	enum sp_err rc = SP_E_USAGE;

	*why = "jwe_compact_invalid";
	d1 = memchr(buf, '.', n);
	d2 =
	    d1 != NULL ? memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - buf)) : NULL;
	d3 =
	    d2 != NULL ? memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - buf)) : NULL;
	if (d3 == NULL || (size_t)(d1 - buf) > KSERVE_HEADER_MAX) {
		goto out;
	}
	rc = header_check(buf, (size_t)(d1 - buf), why);
	if (rc != SP_OK) {
		goto out;
	}
	rc = SP_E_USAGE;
	if (part_decode(d1 + 1, (size_t)(d2 - d1 - 1), h->wrapped,
			KSERVE_WRAPPED_LEN) != 0 ||
	    part_decode(d2 + 1, (size_t)(d3 - d2 - 1), h->iv, KSERVE_IV_LEN) !=
		0) {
		*why = "jwe_key_or_iv_invalid";
		goto out;
	}
	h->header_len = (size_t)(d1 - buf);
	h->ct_off = (size_t)(d3 + 1 - buf);
	*why = NULL;
	rc = SP_OK;
out:
	return rc;
}

/*
 * The tag from the end of the file (blanks after it are allowed) and
 * where the ciphertext part ends.
 */
static enum sp_err
tail_parse(int fd, uint64_t size, unsigned char *tag, uint64_t *ct_end)
{
	char tail[KSERVE_TAIL];
	size_t n = size < sizeof(tail) ? (size_t)size : sizeof(tail);
	enum sp_err rc = SP_E_USAGE;

	if (read_at(fd, tail, n, size - n) != 0) {
		goto out;
	}
	while (n > 0 && (tail[n - 1] == '\n' || tail[n - 1] == '\r' ||
			 tail[n - 1] == ' ' || tail[n - 1] == '\t')) {
		n--;
		size--;
	}
	if (n < KSERVE_TAG_CHARS + 1 || tail[n - KSERVE_TAG_CHARS - 1] != '.' ||
	    part_decode(tail + n - KSERVE_TAG_CHARS, KSERVE_TAG_CHARS, tag,
			KSERVE_TAG_LEN) != 0) {
		goto out;
	}
	*ct_end = size - KSERVE_TAG_CHARS - 1;
	rc = SP_OK;
out:
	if (rc != SP_OK) {
		fail("jwe_tag_invalid");
	}
	return rc;
}

/* Plaintext bytes of n base64url characters, or -1 (n % 4 == 1). */
static int
decoded_len(uint64_t n, uint64_t *out)
{
	int rc = -1;

	if (n % 4 != 1) {
		*out = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
		rc = 0;
	}
	return rc;
}

/* Unwrap the content key (RFC 3394) and start AES-256-GCM with AAD. */
static enum sp_err
gcm_start(struct kserve_job *job, const struct kserve_jwe_head *h,
	  EVP_CIPHER_CTX **out)
{
	unsigned char cek[KSERVE_WRAPPED_LEN];
	EVP_CIPHER_CTX *w = NULL;
	EVP_CIPHER_CTX *g = NULL;
	int n = 0;
	enum sp_err rc = SP_E_INTERNAL;

	w = EVP_CIPHER_CTX_new();
	g = EVP_CIPHER_CTX_new();
	if (w == NULL || g == NULL) {
		goto out;
	}
	EVP_CIPHER_CTX_set_flags(w, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_DecryptInit_ex(w, EVP_aes_256_wrap(), NULL, job->kek->data,
			       NULL) != 1) {
		goto out;
	}
	if (EVP_DecryptUpdate(w, cek, &n, h->wrapped, KSERVE_WRAPPED_LEN) !=
		1 ||
	    n != KSERVE_CEK_LEN) {
		fail("jwe_unwrap_failed");
		rc = SP_E_INTEGRITY;
		goto out;
	}
	if (EVP_DecryptInit_ex(g, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(g, EVP_CTRL_GCM_SET_IVLEN, KSERVE_IV_LEN,
				NULL) != 1 ||
	    EVP_DecryptInit_ex(g, NULL, NULL, cek, h->iv) != 1 ||
	    EVP_DecryptUpdate(g, NULL, &n, (const unsigned char *)job->text,
			      (int)h->header_len) != 1) {
		goto out;
	}
	*out = g;
	g = NULL;
	rc = SP_OK;
out:
	secret_wipe_mem(cek, sizeof(cek));
	EVP_CIPHER_CTX_free(w);
	EVP_CIPHER_CTX_free(g);
	return rc;
}

/* Decode, decrypt and seal the ciphertext part [off, end). */
static enum sp_err
jwe_stream(struct kserve_job *job, int fd, uint64_t off, uint64_t end,
	   EVP_CIPHER_CTX *g, struct kblob *b)
{
	size_t want;
	long dec;
	int n = 0;
	enum sp_err rc = SP_OK;

	while (off < end && rc == SP_OK) {
		want = end - off < KSERVE_CHUNK ? (size_t)(end - off)
						: KSERVE_CHUNK;
		rc = SP_E_USAGE;
		if (read_at(fd, job->text, want, off) != 0) {
			fail("input_changed");
			break;
		}
		dec = b64_decode(job->text, want, B64_URL, job->plain,
				 KSERVE_CHUNK);
		if (dec < 0) {
			fail("jwe_ciphertext_invalid");
			break;
		}
		rc = SP_E_INTERNAL;
		if (EVP_DecryptUpdate(g, job->plain, &n, job->plain,
				      (int)dec) != 1 ||
		    n != dec) {
			break;
		}
		rc = kblob_put(b, job->plain, (size_t)n);
		off += want;
	}
	return rc;
}

/* The GCM tag decides: commit the sealed blob, or throw it away. */
static enum sp_err
jwe_finish(EVP_CIPHER_CTX *g, unsigned char *tag, struct kblob *b)
{
	unsigned char none[16];
	int n = 0;
	enum sp_err rc = SP_E_INTERNAL;

	if (EVP_CIPHER_CTX_ctrl(g, EVP_CTRL_GCM_SET_TAG, KSERVE_TAG_LEN, tag) !=
	    1) {
		goto out;
	}
	if (EVP_DecryptFinal_ex(g, none, &n) != 1) {
		fail("jwe_tag_mismatch");
		rc = SP_E_INTEGRITY;
		goto out;
	}
	rc = kblob_commit(b);
out:
	return rc;
}

static enum sp_err
import_jwe(struct kserve_job *job, int fd, uint64_t size)
{
	struct kserve_jwe_head h;
	unsigned char tag[KSERVE_TAG_LEN];
	EVP_CIPHER_CTX *g = NULL;
	struct kblob b = {0};
	const char *why = NULL;
	uint64_t ct_end = 0;
	uint64_t pt_len = 0;
	size_t n = size < KSERVE_PREFIX_MAX ? (size_t)size : KSERVE_PREFIX_MAX;
	enum sp_err rc = SP_E_USAGE;

	if (read_at(fd, job->text, n, 0) != 0 ||
	    kserve_jwe_head_parse(job->text, n, &h, &why) != SP_OK) {
		fail(why != NULL ? why : "input_changed");
		goto out;
	}
	rc = gcm_start(job, &h, &g);
	if (rc != SP_OK) {
		goto out;
	}
	rc = tail_parse(fd, size, tag, &ct_end);
	if (rc != SP_OK) {
		goto out;
	}
	rc = SP_E_USAGE;
	if (ct_end < h.ct_off || decoded_len(ct_end - h.ct_off, &pt_len) != 0 ||
	    pt_len > KSERVE_GCM_MAX) {
		fail("jwe_ciphertext_invalid");
		goto out;
	}

	rc = kblob_begin(&b, job, job->rel, pt_len);
	if (rc == SP_OK) {
		rc = jwe_stream(job, fd, h.ct_off, ct_end, g, &b);
	}
	if (rc == SP_OK) {
		rc = jwe_finish(g, tag, &b);
	}
	if (rc == SP_OK) {
		job->jwe_files++;
	}
out:
	EVP_CIPHER_CTX_free(g);
	secret_wipe_mem(job->plain, KSERVE_CHUNK);
	kblob_release(&b);
	return rc;
}

/* A file that is not a JWE: sealed as it is. */
static enum sp_err
import_plain(struct kserve_job *job, int fd, uint64_t size)
{
	struct kblob b = {0};
	uint64_t off = 0;
	size_t want;
	enum sp_err rc;

	rc = kblob_begin(&b, job, job->rel, size);
	while (rc == SP_OK && off < size) {
		want = size - off < KSERVE_CHUNK ? (size_t)(size - off)
						 : KSERVE_CHUNK;
		if (read_at(fd, job->plain, want, off) != 0) {
			fail("input_changed");
			rc = SP_E_USAGE;
			break;
		}
		rc = kblob_put(&b, job->plain, want);
		off += want;
	}
	if (rc == SP_OK) {
		rc = kblob_commit(&b);
	}
	secret_wipe_mem(job->plain, KSERVE_CHUNK);
	kblob_release(&b);
	return rc;
}

/* ---- the walk ---- */

/* KServe's own test: a ".jwe" name, or the bytes "eyJ" in front. */
static int
is_jwe(int fd, const char *name, uint64_t size)
{
	size_t n = strlen(name);
	size_t s = strlen(KSERVE_JWE_SUFFIX);
	char head[3];
	int rc = 1;

	if (n <= s || strcasecmp(name + n - s, KSERVE_JWE_SUFFIX) != 0) {
		rc = size >= sizeof(head) &&
		     read_at(fd, head, sizeof(head), 0) == 0 &&
		     memcmp(head, "eyJ", sizeof(head)) == 0;
	}
	return rc;
}

static enum sp_err
import_file(struct kserve_job *job, int dirfd, const char *name)
{
	char id[KSERVE_DIGEST_LOG + 1];
	struct stat st;
	size_t rel_len = strlen(job->rel);
	size_t s = strlen(KSERVE_JWE_SUFFIX);
	const char *why;
	int jwe;
	int fd;
	enum sp_err rc = SP_E_USAGE;

	fd =
	    openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		log_event(LOG_ERR, "kserve.import.failed",
			  "input_unsupported_entry", LOG_ERRNO(errno));
		goto out;
	}
	jwe = is_jwe(fd, name, (uint64_t)st.st_size);
	if (jwe && rel_len > s &&
	    strcasecmp(job->rel + rel_len - s, KSERVE_JWE_SUFFIX) == 0) {
		job->rel[rel_len - s] = '\0';
	}
	why = manifest_path_check(job->rel);
	if (why != NULL) {
		fail(why);
		goto out;
	}
	rc = jwe ? import_jwe(job, fd, (uint64_t)st.st_size)
		 : import_plain(job, fd, (uint64_t)st.st_size);
	if (rc != SP_OK) {
		log_event(LOG_ERR, "kserve.import.failed", "file_failed",
			  LOG_U64("file_index", job->files),
			  LOG_BOOL("jwe", jwe));
		goto out;
	}
	job->files++;
	job->bytes += job->m->files[job->m->nfiles - 1].size;
	memcpy(id, job->m->files[job->m->nfiles - 1].blob, KSERVE_DIGEST_LOG);
	id[KSERVE_DIGEST_LOG] = '\0';
	log_event(LOG_INFO, "kserve.file.done", NULL, LOG_STR("blob", id),
		  LOG_BOOL("jwe", jwe),
		  LOG_U64("bytes", job->m->files[job->m->nfiles - 1].size));
out:
	if (fd >= 0) {
		close(fd);
	}
	return rc;
}

static enum sp_err walk_dir(struct kserve_job *job, int dirfd, size_t rel_len,
			    unsigned depth);

/* One directory entry: recurse, import, or refuse (links, devices). */
static enum sp_err
walk_entry(struct kserve_job *job, int dirfd, const char *name, size_t rel_len,
	   unsigned depth)
{
	struct stat st;
	int fd;
	int n;
	enum sp_err rc = SP_E_USAGE;

	n = snprintf(job->rel + rel_len, sizeof(job->rel) - rel_len, "%s%s",
		     rel_len > 0 ? "/" : "", name);
	if (n < 0 || (size_t)n >= sizeof(job->rel) - rel_len ||
	    fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		fail("input_unsupported_entry");
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		fd = openat(dirfd, name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		rc = fd < 0 ? SP_E_USAGE
			    : walk_dir(job, fd, strlen(job->rel), depth + 1);
	} else {
		rc = import_file(job, dirfd, name);
	}
out:
	job->rel[rel_len] = '\0';
	return rc;
}

/* Takes dirfd (closed here). */
static enum sp_err
walk_dir(struct kserve_job *job, int dirfd, size_t rel_len, unsigned depth)
{
	struct dirent *de;
	DIR *d = NULL;
	enum sp_err rc = SP_E_USAGE;

	if (depth > MANIFEST_DEPTH_MAX) {
		fail("path_too_deep");
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
			rc = errno == 0 ? SP_OK : SP_E_USAGE;
			break;
		}
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0) {
			rc = walk_entry(job, dirfd, de->d_name, rel_len, depth);
		}
	}
out:
	if (d != NULL) {
		closedir(d);
	}
	return rc;
}

/* ---- the run ---- */

/* 1 when path (resolved through its directory) lies in dir (resolved). */
static int
inside(const char *dir_real, const char *path)
{
	char copy[PATH_MAX];
	char real[PATH_MAX];
	char *slash;
	size_t n = strlen(dir_real);

	snprintf(copy, sizeof(copy), "%s", path);
	slash = strrchr(copy, '/');
	if (slash == copy) {
		slash[1] = '\0';
	} else if (slash != NULL) {
		*slash = '\0';
	} else {
		snprintf(copy, sizeof(copy), ".");
	}
	return realpath(copy, real) != NULL &&
	       strncmp(real, dir_real, n) == 0 &&
	       (real[n] == '\0' || real[n] == '/' || n == 1);
}

/* out_dir and out_dir/blobs, neither inside the input (nor the key). */
static enum sp_err
dirs_prepare(struct kserve_job *job)
{
	const struct kserve_opts *o = job->o;
	char in_real[PATH_MAX];
	char blobs[PATH_MAX];
	enum sp_err rc = SP_E_USAGE;

	if (realpath(o->in_dir, in_real) == NULL ||
	    (mkdir(o->out_dir, KSERVE_DIR_MODE) != 0 && errno != EEXIST)) {
		fail("dir_unusable");
		goto out;
	}
	snprintf(blobs, sizeof(blobs), "%s/%s", o->out_dir, MANIFEST_BLOB_DIR);
	if (inside(in_real, blobs) || inside(in_real, o->key_file)) {
		fail("output_inside_input");
		goto out;
	}
	if (mkdir(blobs, KSERVE_DIR_MODE) != 0 && errno != EEXIST) {
		fail("dir_unusable");
		goto out;
	}
	job->blobs_fd =
	    open(blobs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	rc = job->blobs_fd >= 0 ? SP_OK : SP_E_USAGE;
out:
	return rc;
}

static enum sp_err
manifest_write(struct kserve_job *job)
{
	unsigned char *ct = NULL;
	size_t ct_len = 0;
	enum sp_err rc;

	rc = seal_manifest_encrypt(job->m, job->key, "kserve.import.failed",
				   &ct, &ct_len);
	if (rc == SP_OK) {
		rc = seal_manifest_store(job->o->out_dir, ct, ct_len,
					 "kserve.import.failed");
	}
	free(ct);
	return rc;
}

static enum sp_err
job_init(struct kserve_job *job, const struct kserve_opts *o)
{
	enum sp_err rc = SP_E_USAGE;

	memset(job, 0, sizeof(*job));
	job->o = o;
	job->blobs_fd = -1;
	sealed_params_default(&job->p);
	if (o->kek_file == NULL || o->in_dir == NULL || o->key_file == NULL ||
	    o->out_dir == NULL) {
		fail("option_missing");
		goto out;
	}
	rc = SP_E_INTERNAL;
	job->m = manifest_new(o->version == 0 ? 1 : o->version);
	job->seg = malloc(job->p.segment_size);
	job->text = malloc(KSERVE_CHUNK);
	job->plain = malloc(KSERVE_CHUNK);
	if (job->m == NULL || job->seg == NULL || job->text == NULL ||
	    job->plain == NULL) {
		goto out;
	}

	rc = manifest_set_model(job->m, o->model_id);
	if (rc != SP_OK) {
		fail("model_id_invalid");
	}
out:
	return rc;
}

static void
job_free(struct kserve_job *job)
{
	if (job->blobs_fd >= 0) {
		close(job->blobs_fd);
	}
	if (job->seg != NULL) {
		secret_wipe_mem(job->seg, job->p.segment_size);
	}
	if (job->plain != NULL) {
		secret_wipe_mem(job->plain, KSERVE_CHUNK);
	}
	free(job->seg);
	free(job->text);
	free(job->plain);
	secret_wipe_mem(job->rel, sizeof(job->rel));
	manifest_free(job->m);
	secret_free(job->kek);
	secret_free(job->key);
}

/* Keys, directories, the walk; the manifest only if every file passed. */
static enum sp_err
import_run(struct kserve_job *job)
{
	int in_fd;
	enum sp_err rc;

	rc = seal_key_read(job->o->kek_file, "kserve.import.failed", &job->kek);
	if (rc != SP_OK) {
		goto out;
	}
	rc = dirs_prepare(job);
	if (rc != SP_OK) {
		goto out;
	}
	rc = seal_key_load(job->o->key_file, &kserve_key_ev, &job->key, NULL);
	if (rc != SP_OK) {
		goto out;
	}

	rc = SP_E_USAGE;
	in_fd = open(job->o->in_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (in_fd < 0) {
		fail("dir_unusable");
		goto out;
	}
	rc = walk_dir(job, in_fd, 0, 0);
	if (rc == SP_OK) {
		rc = manifest_write(job);
	}
out:
	return rc;
}

enum sp_err
kserve_import(const struct kserve_opts *o)
{
	struct kserve_job job;
	uint64_t t0 = now_ns();
	enum sp_err rc;

	rc = job_init(&job, o);
	if (rc == SP_OK) {
		log_event(LOG_INFO, "kserve.import.start", NULL,
			  LOG_U64("version", job.m->version));
		rc = import_run(&job);
	}
	if (rc == SP_OK) {
		log_event(LOG_INFO, "kserve.import.done", NULL,
			  LOG_U64("version", job.m->version),
			  LOG_U64("files", job.files),
			  LOG_U64("jwe_files", job.jwe_files),
			  LOG_U64("bytes", job.bytes),
			  LOG_F64("seconds", (double)(now_ns() - t0) / 1e9));
	}
	job_free(&job);
	return rc;
}
