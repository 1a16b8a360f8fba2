/*
 * unseal_pipe.c: fetch, verify and write blobs on all cores
 * (unseal_pipe.h).
 *
 * Work is cut into chunks: whole ciphertext segments of one blob, a few
 * MiB at most. A chunk lives in a slot (one buffer of slot_cap bytes) and
 * goes through three steps, each run by whichever worker is free:
 *
 *	read	the source fills the slot (any chunk, in parallel)
 *	hash	the blob's SHA-256 absorbs it (in order, one worker per blob)
 *	open	each segment is authenticated and decrypted in place, and
 *		the plaintext is written at its offset (any chunk, parallel)
 *
 * The hash runs only for blobs whose manifest entry pins no header (or
 * when a signed manifest asks for digests): with the header pinned, the
 * per-segment tags already bind the exact sealed bytes, and the reader
 * opens its chunk at once, while it is in cache. The hash is the only
 * step that must run in order, so it goes first whenever it can; opening
 * frees a slot, so it comes next; reading starts new work only when a
 * slot is free. The slots are the memory budget: no
 * more than nslots * slot_cap bytes of ciphertext are ever in flight.
 * Chunks are handed out blob by blob and in order inside a blob, so the
 * chunk a blob's hash waits for is always being read or already read and
 * the pipeline cannot wedge.
 *
 * A blob's partial file is renamed into place by the worker that opens
 * its last chunk, after the size (and a digest, when taken: finished
 * when its last chunk was hashed, which comes before that chunk is
 * opened) has matched. Only authenticated plaintext is ever written to a
 * partial file.
 *
 * A store that answers a range with the whole object turns the pipeline
 * to streams: each blob larger than a chunk is then read by one worker
 * through one plain GET, filling slot after slot in order. A stream
 * waiting for a slot goes before new reads; it never touches a slot it
 * handed on (another worker may already reuse it for another blob).
 *
 * A later chunk of a blob whose header the manifest pins is opened only
 * after chunk 0 (and with it the header compare): a foreign blob is
 * blob_header_mismatch whatever the thread timing.
 *
 * One mutex guards the schedule (slot states and blob cursors); the work
 * itself runs outside it. The main thread only watches: progress events,
 * the deadline, and the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "log.h"
#include "manifest.h"
#include "sealed.h"
#include "source.h"
#include "unseal_pipe.h"
#include "util.h"

/* Bytes per read: local reads stay cache-sized, network ranges large
 * enough that a request's round trip is lost in the transfer. */
#define PIPE_CHUNK_FILE (2U * 1024 * 1024)
#define PIPE_CHUNK_NET	(8U * 1024 * 1024)
#define PIPE_SLOTS_MAX	256
/* Blobs between start and rename at once: bounds open files and keys. */
#define PIPE_ACTIVE_PER_WORKER 2
#define PIPE_ACTIVE_EXTRA      2
/* Chunks a lane may have read but not hashed: enough to keep every
 * worker busy, few enough to stay in cache. */
#ifndef PIPE_AHEAD
#define PIPE_AHEAD(workers) (2 * (uint64_t)(workers) + 2)
#endif
/* Decryption contexts a worker keeps, one per blob it recently opened. */
#define PIPE_CTX_CACHE 4
/* Plaintext pieces per pwritev(). */
#define PIPE_IOV	     64
#define PIPE_BACKOFF_BASE_MS 250
#define PIPE_BACKOFF_CAP_MS  8000
#define PIPE_TICK_NS	     (500ULL * 1000 * 1000)
/* A stream's wait for a slot inside a transfer, without an idle
 * timeout configured (the http default). */
#define PIPE_STREAM_WAIT_S    30
#define PIPE_PARTIAL_RAND     16
#define PIPE_PARTIAL_NAME_MAX (1 + 2 * PIPE_PARTIAL_RAND + 9)
#define PIPE_FILE_MODE	      0640
#define PIPE_DIR_MODE	      0750
/* Digest prefix logged for a blob next to the full digest on failure. */
#define PIPE_DIGEST_LOG	   12
#define PIPE_BLOB_NAME_MAX (sizeof(MANIFEST_BLOB_DIR) + MANIFEST_BLOB_HEX + 1)

enum slot_state {
	SLOT_FREE,
	SLOT_READING,
	SLOT_READ,
	SLOT_HASHING,
	SLOT_HASHED,
	SLOT_OPENING,
};

struct pblob;

struct slot {
	unsigned char *buf; /* slot_cap bytes, allocated on first use */
	struct pblob *b;
	uint64_t chunk;
	uint64_t offset; /* of the chunk in the blob's ciphertext */
	size_t len;
	enum slot_state state;
};

/* One manifest file on its way into the target. */
struct pblob {
	const struct manifest_file *f;
	struct sealed_params p;
	uint64_t ct_len;
	uint64_t seg_per_chunk;
	uint64_t nchunks;
	uint64_t next_read; /* chunk to hand out next */
	uint64_t next_hash; /* chunk the digest waits for */
	uint64_t opened;    /* chunks decrypted and written */
	int hashing;
	int begun; /* its partial file exists: chunks may be opened */
	/* The blob's own header matched the pinned one (chunk 0 opened), or
	 * none is pinned: later chunks may be opened. Until then a blob
	 * from another sealing fails as blob_header_mismatch whatever the
	 * thread timing, never as a later segment's blob_segment_invalid. */
	int hdr_ok;
	int need_hash; /* the digest is checked: no header, or digest_always */
	int digest_ok;
	EVP_MD_CTX *sha;
	unsigned char hdr[SEALED_HEADER_MAX];
	size_t hdr_len;
	int fd;
	char partial[PIPE_PARTIAL_NAME_MAX + 1];
	char name[PIPE_BLOB_NAME_MAX];
	char id[PIPE_DIGEST_LOG + 1];
	uint64_t written;
};

struct pipe;

struct ctx_entry {
	const struct pblob *b;
	struct sealed_ctx *c;
};

struct worker {
	struct pipe *pp;
	pthread_t tid;
	int started;
	struct source *src;
	struct ctx_entry cache[PIPE_CTX_CACHE];
	unsigned cache_next;
	unsigned rnd; /* jitter state */
};

/* TASK_STREAM: a read that became a stream and handed its slots on. */
enum task_kind {
	TASK_NONE,
	TASK_READ,
	TASK_HASH,
	TASK_OPEN,
	TASK_PLACE,
	TASK_STREAM,
};

struct task {
	enum task_kind kind;
	struct slot *s;
	struct pblob *b;
	int begin;  /* TASK_READ: the blob's first chunk, set it up first */
	int stream; /* TASK_READ: the rest of the blob, as one stream */
};

struct pipe {
	const struct unseal_pipe_opts *o;
	const struct manifest *m;
	pthread_mutex_t mu;
	pthread_cond_t cv;   /* work, a free slot, a failure or the end */
	pthread_cond_t done; /* for the watcher: a failure or the end */
	int sync_ok;	     /* mu, cv and done initialised */
	struct pblob *blobs;
	size_t nblobs;
	size_t cursor; /* blob whose chunks are handed out */
	size_t active; /* blobs started, not yet placed */
	size_t active_max;
	size_t placed;
	struct slot *slots;
	size_t nslots;
	size_t slot_cap;
	size_t slots_alloc; /* slots with a buffer */
	uint64_t ahead;	    /* chunks a lane may read ahead of its hash */
	enum sp_err failed; /* first failure; SP_OK while running */
	int retry;	    /* the scheme has transient failures */
	int rangeless;	    /* the store answered a range with everything */
	/* Streams waiting for a slot: a freed slot goes to them before any
	 * new read, so a stream (holding a connection) is never starved. */
	unsigned stream_wait;
	uint64_t bytes;
	uint64_t retries;
	struct worker *w;
	unsigned nworkers;
};

/* Set from a signal handler: stop at the next look. */
static volatile sig_atomic_t pipe_stop;

void
unseal_pipe_interrupt(void)
{
	pipe_stop = 1;
}

int
unseal_pipe_interrupted(void)
{
	return pipe_stop != 0;
}

/* ---- small helpers ---- */

static int
pipe_failed(struct pipe *pp)
{
	return __atomic_load_n(&pp->failed, __ATOMIC_ACQUIRE) != SP_OK;
}

/* Record the first failure and wake everyone. Mutex held. */
static void
pipe_fail(struct pipe *pp, enum sp_err rc)
{
	if (pp->failed == SP_OK) {
		__atomic_store_n(&pp->failed, rc, __ATOMIC_RELEASE);
	}
	if (pp->o->cancel != NULL) {
		__atomic_store_n(pp->o->cancel, 1, __ATOMIC_RELEASE);
	}
	pthread_cond_broadcast(&pp->cv);
	pthread_cond_signal(&pp->done);
}

/* Log a blob's failure unless the run already failed elsewhere. */
static void
blob_fail(struct pipe *pp, const struct pblob *b, const char *reason,
	  uint64_t offset)
{
	if (pipe_failed(pp)) {
		return;
	}
	log_event(LOG_ERR, "unseal.blob.failed", reason, LOG_STR("blob", b->id),
		  LOG_STR("digest", b->f->blob), LOG_U64("offset", offset));
}

static void
abs_time(uint64_t mono_ns, struct timespec *ts)
{
	ts->tv_sec = (time_t)(mono_ns / 1000000000u);
	ts->tv_nsec = (long)(mono_ns % 1000000000u);
}

/* Plaintext offset of segment idx. */
static uint64_t
plain_offset(const struct pblob *b, uint64_t idx)
{
	uint64_t per = b->p.segment_size - SEALED_TAG_LEN;

	return idx == 0 ? 0 : idx * per - b->hdr_len;
}

/* ---- target side: partial files and the final rename ---- */

static enum sp_err
partial_create(struct pipe *pp, struct pblob *b)
{
	unsigned char rnd[PIPE_PARTIAL_RAND];
	char hex[2 * PIPE_PARTIAL_RAND + 1];
	enum sp_err rc = SP_E_INTERNAL;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		goto out;
	}
	hex_encode(rnd, sizeof(rnd), hex);
	snprintf(b->partial, sizeof(b->partial), ".%s.partial", hex);

	rc = SP_E_TARGET;
	b->fd = openat(pp->o->tfd, b->partial,
		       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		       PIPE_FILE_MODE);
	if (b->fd < 0 || fchmod(b->fd, PIPE_FILE_MODE) != 0) {
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

	if (mkdirat(dirfd, name, PIPE_DIR_MODE) != 0 && errno != EEXIST) {
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

/* Open (creating as needed) the directory of path; *leaf points into it.
 * Workers may race on a shared parent: mkdirat's EEXIST is fine. */
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
blob_place(struct pipe *pp, struct pblob *b)
{
	const char *leaf = NULL;
	int tfd = pp->o->tfd;
	int dfd = -1;
	enum sp_err rc = SP_E_INTEGRITY;

	if (b->written != b->f->size || !b->digest_ok) {
		blob_fail(pp, b, "blob_size_mismatch", b->ct_len);
		goto out;
	}
	close(b->fd);
	b->fd = -1;

	rc = parent_open(tfd, b->f->path, &dfd, &leaf);
	if (rc != SP_OK) {
		goto out;
	}
	rc = SP_E_TARGET;
	if (renameat2(tfd, b->partial, dfd, leaf, RENAME_NOREPLACE) != 0) {
		log_event(LOG_ERR, "unseal.target.failed",
			  "target_rename_failed", LOG_ERRNO(errno));
		goto out;
	}
	b->partial[0] = '\0';
	/* "bound": what tied the blob to the manifest, for operators
	 * checking that a store was sealed with pinned headers. */
	log_event(LOG_INFO, "unseal.blob.done", NULL, LOG_STR("blob", b->id),
		  LOG_U64("bytes", b->f->size),
		  LOG_STR("bound", b->need_hash ? "digest" : "header"));
	rc = SP_OK;
out:
	if (dfd >= 0 && dfd != tfd) {
		close(dfd);
	}
	return rc;
}

static void
blob_release(struct pipe *pp, struct pblob *b)
{
	if (b->fd >= 0) {
		close(b->fd);
		b->fd = -1;
	}
	if (b->partial[0] != '\0') {
		(void)unlinkat(pp->o->tfd, b->partial, 0);
		b->partial[0] = '\0';
	}
	EVP_MD_CTX_free(b->sha);
	b->sha = NULL;
}

/* ---- the three steps ---- */

/* A blob's first chunk: its partial file and its digest. */
static enum sp_err
blob_begin(struct pipe *pp, struct pblob *b)
{
	enum sp_err rc = SP_E_INTERNAL;

	if (!b->need_hash) {
		rc = partial_create(pp, b);
		goto out;
	}
	b->sha = EVP_MD_CTX_new();
	if (b->sha == NULL ||
	    EVP_DigestInit_ex(b->sha, EVP_sha256(), NULL) != 1) {
		goto out;
	}
	rc = partial_create(pp, b);
out:
	return rc;
}

/* Deadline and cancellation, asked by the source between pieces. */
static int
read_check(void *arg)
{
	struct pipe *pp = arg;
	int rc = SP_OK;

	if (pipe_failed(pp) || pipe_stop ||
	    (pp->o->deadline_ns != 0 && now_ns() >= pp->o->deadline_ns)) {
		rc = SP_E_FETCH;
	}
	return rc;
}

/* Sleep before another attempt: capped exponential, half of it jitter,
 * cut short by a failure elsewhere. Returns 0, or -1 past the deadline. */
static int
backoff(struct worker *w, unsigned fails)
{
	struct pipe *pp = w->pp;
	uint64_t ms = PIPE_BACKOFF_BASE_MS;
	uint64_t until;
	struct timespec ts;
	int rc = -1;

	while (fails > 1 && ms < PIPE_BACKOFF_CAP_MS) {
		ms *= 2;
		fails--;
	}
	if (ms > PIPE_BACKOFF_CAP_MS) {
		ms = PIPE_BACKOFF_CAP_MS;
	}
	ms = ms / 2 + (uint64_t)rand_r(&w->rnd) % (ms / 2 + 1);
	until = now_ns() + ms * 1000000u;
	if (pp->o->deadline_ns != 0 && until >= pp->o->deadline_ns) {
		goto out;
	}

	abs_time(until, &ts);
	pthread_mutex_lock(&pp->mu);
	while (pp->failed == SP_OK && now_ns() < until) {
		(void)pthread_cond_timedwait(&pp->cv, &pp->mu, &ts);
	}
	pp->retries++;
	pthread_mutex_unlock(&pp->mu);
	rc = 0;
out:
	return rc;
}

/*
 * After the fails-th failure in a row of a transfer: 1 when the caller
 * should try again, after the backoff; 0 when it should give up, with
 * *late set when the deadline ended it. A run that failed meanwhile
 * (another blob) does not retry at all, so a retry is logged only when
 * it really happens.
 */
static int
retry_wait(struct worker *w, unsigned fails, int *late)
{
	struct pipe *pp = w->pp;
	int again = 0;

	*late = pp->o->deadline_ns != 0 && now_ns() >= pp->o->deadline_ns;
	if (*late || fails >= pp->o->attempts) {
		goto out;
	}
	if (backoff(w, fails) != 0) {
		*late = 1;
		goto out;
	}
	again = !pipe_failed(pp);
out:
	return again;
}

/* The source told us the object's size: it must be the sealed size.
 * Stores over http tell none; there the last range asks for one byte
 * past the blob (probe_end), and a stream watches for more. */
static enum sp_err
check_size(struct pipe *pp, const struct pblob *b, uint64_t size)
{
	enum sp_err rc = SP_OK;

	if (size != UINT64_MAX && size != b->ct_len) {
		blob_fail(pp, b,
			  size < b->ct_len ? "blob_truncated" : "blob_too_long",
			  size);
		rc = SP_E_INTEGRITY;
	}
	return rc;
}

/* The store sent more than asked: past the blob's end a blob too long,
 * inside it a store that does not keep to ranges. Never retried. */
static enum sp_err
overrun(struct pipe *pp, const struct slot *s)
{
	const struct pblob *b = s->b;
	enum sp_err rc = SP_E_INTEGRITY;

	if (s->offset + s->len == b->ct_len) {
		blob_fail(pp, b, "blob_too_long", b->ct_len);
	} else {
		blob_fail(pp, b, "store_range_overrun", s->offset + s->len);
		rc = SP_E_PROTOCOL;
	}
	return rc;
}

/* The final word on a range that would not come. */
static void
read_failed(struct worker *w, const struct pblob *b, uint64_t offset,
	    enum sp_err rc, unsigned attempts, int late)
{
	struct pipe *pp = w->pp;
	const char *reason = "blob_fetch_failed";

	if (pipe_failed(pp)) {
		return;
	}
	if (rc == SP_E_NOTFOUND) {
		reason = "blob_missing";
	} else if (late) {
		reason = "deadline_exceeded";
	}
	/* file:// has no transport text: no empty "error" then. */
	if (source_last_error(w->src)[0] == '\0') {
		log_event(LOG_ERR, "unseal.blob.failed", reason,
			  LOG_STR("blob", b->id), LOG_STR("digest", b->f->blob),
			  LOG_U64("offset", offset),
			  LOG_STR("cause", sp_err_name(rc)),
			  LOG_U64("attempts", attempts));
	} else {
		log_event(LOG_ERR, "unseal.blob.failed", reason,
			  LOG_STR("blob", b->id), LOG_STR("digest", b->f->blob),
			  LOG_U64("offset", offset),
			  LOG_STR("cause", sp_err_name(rc)),
			  LOG_STR("error", source_last_error(w->src)),
			  LOG_U64("attempts", attempts));
	}
}

/*
 * What an attempt's side facts say, before any retry: a size that is not
 * the sealed size, a store that sent more than asked, or one that
 * ignores Range. Returns SP_OK to go on judging the attempt by its
 * result; otherwise the run's category, logged. A whole blob on a store
 * that ignores Range can still be read, from its first byte each time:
 * *whole_only then becomes 1; a chunk of a larger blob is read from a
 * stream of the whole object: *stream then becomes 1.
 */
static enum sp_err
read_judge(struct pipe *pp, const struct slot *s,
	   const struct source_read_req *r, int *whole_only, int *stream)
{
	const struct pblob *b = s->b;
	enum sp_err rc = SP_OK;

	if (check_size(pp, b, r->size) != SP_OK) {
		rc = SP_E_INTEGRITY;
	} else if (r->overrun) {
		rc = overrun(pp, s);
	} else if (r->range_ignored &&
		   (s->offset != 0 || s->len != b->ct_len)) {
		*stream = 1;
	} else if (r->range_ignored) {
		*whole_only = 1;
	}
	return rc;
}

/* ---- a store that ignores Range: a blob as one stream ---- */

static int pick_hash(struct pipe *pp, struct task *t);
static int pick_open(struct pipe *pp, struct task *t);
static enum sp_err task_run(struct worker *w, struct task *t, uint64_t *bytes);
static void task_done(struct pipe *pp, struct task *t, enum sp_err rc,
		      uint64_t bytes);

/* Chunks [first chunk, end) of one blob from whole-object transfers. */
struct stream {
	struct worker *w;
	struct pblob *b;
	struct slot *s; /* being filled; NULL once handed on */
	uint64_t next;	/* with s NULL: the chunk to fill next */
	size_t fill;	/* bytes of s filled */
	uint64_t end;	/* the blob offset where this stream stops */
	uint64_t pos;	/* blob bytes the current transfer has passed */
	int done;	/* stopped on purpose at end, before the blob's */
	int full;	/* the blob's last chunk is in s, kept until the
			   store ends the object */
};

/* Where chunk of b starts in its ciphertext. */
static uint64_t
chunk_offset(const struct pblob *b, uint64_t chunk)
{
	return chunk * b->seg_per_chunk * b->p.segment_size;
}

/* Point a slot at chunk of b. */
static void
slot_setup(struct slot *s, struct pblob *b, uint64_t chunk)
{
	uint64_t span = b->seg_per_chunk * b->p.segment_size;

	s->b = b;
	s->chunk = chunk;
	s->offset = chunk_offset(b, chunk);
	s->len = b->ct_len - s->offset;
	if (s->len > span) {
		s->len = span;
	}
}

/* A slot's buffer, allocated on first use by its owner. */
static enum sp_err
slot_buf(struct pipe *pp, struct slot *s)
{
	enum sp_err rc = SP_OK;

	if (s->buf == NULL) {
		s->buf = malloc(pp->slot_cap);
		if (s->buf == NULL) {
			rc = SP_E_INTERNAL;
		} else {
			__atomic_add_fetch(&pp->slots_alloc, 1,
					   __ATOMIC_RELAXED);
		}
	}
	return rc;
}

/* A filled slot goes on to the hash or open step. */
static void
stream_hand_on(struct pipe *pp, struct slot *s)
{
	pthread_mutex_lock(&pp->mu);
	s->state = s->b->need_hash ? SLOT_READ : SLOT_HASHED;
	pthread_cond_broadcast(&pp->cv);
	pthread_mutex_unlock(&pp->mu);
}

/* Run one ready hash or open (and the rename it may lead to). Mutex
 * held. Returns 1 when there was one. */
static int
help_once(struct worker *w)
{
	struct pipe *pp = w->pp;
	struct task t;
	uint64_t bytes;
	enum sp_err rc;

	int ran = 0;

	memset(&t, 0, sizeof(t));
	if (pick_hash(pp, &t) || pick_open(pp, &t)) {
		ran = 1;
	}
	while (t.kind != TASK_NONE) {
		pthread_mutex_unlock(&pp->mu);
		bytes = 0;
		rc = task_run(w, &t, &bytes);
		pthread_mutex_lock(&pp->mu);
		task_done(pp, &t, rc, bytes);
	}
	return ran;
}

/* The first free slot, or NULL. Mutex held. */
static struct slot *
free_slot(struct pipe *pp)
{
	struct slot *s = NULL;
	size_t i;

	for (i = 0; i < pp->nslots && s == NULL; i++) {
		if (pp->slots[i].state == SLOT_FREE) {
			s = &pp->slots[i];
		}
	}
	return s;
}

/* How long a stream waits for a slot inside a transfer: as long as the
 * transfer itself may stall. */
static uint64_t
stream_wait_ns(const struct pipe *pp)
{
	long secs = 0;

	if (pp->o->so != NULL) {
		secs = pp->o->so->idle_timeout_s;
	}
	if (secs <= 0) {
		secs = PIPE_STREAM_WAIT_S;
	}
	return (uint64_t)secs * 1000000000u;
}

/*
 * A slot for the stream's chunk. While none is free the stream's worker
 * opens what is ready (with one worker, nobody else would), and new
 * reads wait (stream_wait), so the next slot freed is a stream's. Every
 * chunk in a slot waits only for a transfer that holds its own slot or
 * for chunks before it, so a slot always comes; still, inside a
 * transfer (wait_ns non-zero) the wait is cut after wait_ns, which
 * drops the transfer rather than hold a stalled connection. Returns
 * SP_OK with st->s set; SP_E_FETCH (st->s NULL, st->next = chunk) on a
 * failed run, a stop or the wait cut; SP_E_INTERNAL.
 */
static enum sp_err
stream_next_slot(struct stream *st, uint64_t chunk, uint64_t wait_ns)
{
	struct pipe *pp = st->w->pp;
	struct slot *s = NULL;
	uint64_t until = wait_ns != 0 ? now_ns() + wait_ns : 0;
	struct timespec ts;
	enum sp_err rc = SP_E_FETCH;

	st->s = NULL;
	st->next = chunk;
	pthread_mutex_lock(&pp->mu);
	pp->stream_wait++;
	while (s == NULL && pp->failed == SP_OK && !pipe_stop &&
	       (until == 0 || now_ns() < until)) {
		s = free_slot(pp);
		if (s != NULL) {
			slot_setup(s, st->b, chunk);
			s->state = SLOT_READING;
		} else if (!help_once(st->w)) {
			/* Ticks: a stop or the cut is seen without a wake. */
			abs_time(now_ns() + PIPE_TICK_NS, &ts);
			(void)pthread_cond_timedwait(&pp->cv, &pp->mu, &ts);
		}
	}
	pp->stream_wait--;
	pthread_cond_broadcast(&pp->cv);
	pthread_mutex_unlock(&pp->mu);
	if (s == NULL) {
		goto out;
	}
	st->s = s;
	st->fill = 0;
	rc = slot_buf(pp, s);
out:
	return rc;
}

/* The slot is full: hand it on and take the next, stop at the end, or
 * keep the blob's last chunk until the store ends the object. What the
 * slot held is read before it is handed on: from then on another worker
 * may open, free and reuse it for another blob. */
static int
stream_chunk_done(struct stream *st)
{
	struct pipe *pp = st->w->pp;
	struct slot *s = st->s;
	uint64_t next = s->chunk + 1;
	uint64_t stop = s->offset + s->len;
	int rc = SP_OK;

	if (stop == st->b->ct_len) {
		st->full = 1;
	} else if (stop < st->end) {
		st->s = NULL;
		stream_hand_on(pp, s);
		rc = stream_next_slot(st, next, stream_wait_ns(pp));
	} else {
		st->s = NULL;
		stream_hand_on(pp, s);
		st->done = 1;
		rc = SP_E_INTERNAL; /* a stop, not a failure: see done */
	}
	return rc;
}

/* Receives the whole object: skips what earlier transfers brought,
 * fills the slots in order, refuses bytes past the blob's end. */
static int
stream_sink(void *arg, const void *buf, size_t len)
{
	struct stream *st = arg;
	struct pipe *pp = st->w->pp;
	const unsigned char *p = buf;
	uint64_t have;
	size_t take;
	int rc;

	rc = st->s != NULL ? read_check(pp) : SP_E_FETCH;
	while (rc == SP_OK && len > 0) {
		have = st->s->offset + st->fill;
		if (st->pos < have) {
			take = have - st->pos < len ? (size_t)(have - st->pos)
						    : len;
		} else if (st->full) {
			blob_fail(pp, st->b, "blob_too_long", st->b->ct_len);
			rc = SP_E_INTEGRITY;
			break;
		} else {
			take = st->s->len - st->fill < len
				   ? st->s->len - st->fill
				   : len;
			memcpy(st->s->buf + st->fill, p, take);
			st->fill += take;
		}
		st->pos += take;
		p += take;
		len -= take;
		if (!st->full && st->fill == st->s->len) {
			rc = stream_chunk_done(st);
		}
	}
	return rc;
}

/* Where the stream stands in the blob (the resume point). */
static uint64_t
stream_at(const struct stream *st)
{
	uint64_t at = st->end;

	if (st->s != NULL) {
		at = st->s->offset + st->fill;
	} else if (!st->done) {
		at = chunk_offset(st->b, st->next);
	}
	return at;
}

/*
 * Chunks [s->chunk, end) of s's blob from a store that ignores Range:
 * whole-object GETs, each skipping what earlier ones brought (have bytes
 * of s came before the switch), retried as ranges are. The slots are
 * handed on here; the blob's last only once the store has ended the
 * object, so that a longer one is refused (blob_too_long) before its
 * last chunk can be opened and the file renamed.
 */
static enum sp_err
stream_read(struct worker *w, struct slot *s, size_t have, uint64_t end)
{
	struct pipe *pp = w->pp;
	struct pblob *b = s->b;
	struct stream st;
	uint64_t before;
	unsigned fails = 0;
	unsigned attempts = 0;
	int late = 0;
	enum sp_err rc;

	memset(&st, 0, sizeof(st));
	st.w = w;
	st.b = b;
	st.s = s;
	st.fill = have;
	st.end = end;
	for (;;) {
		/* A wait for a slot that was cut dropped the transfer: wait
		 * here, holding no connection, then start over. */
		if (st.s == NULL) {
			rc = stream_next_slot(&st, st.next, 0);
			if (rc != SP_OK) {
				break;
			}
		}
		st.pos = 0;
		before = stream_at(&st);
		rc = source_fetch(w->src, b->name, 0, 0, stream_sink, &st);
		attempts++;
		if (st.done) {
			rc = SP_OK;
			break;
		}
		if (rc == SP_OK && st.full) {
			stream_hand_on(pp, st.s);
			break;
		}
		if (rc == SP_OK) {
			/* The object ended before the blob's sealed size. */
			blob_fail(pp, b, "blob_truncated", st.pos);
			rc = SP_E_INTEGRITY;
			goto out;
		}
		/* A refusal (401, 403, 3xx) comes again: no retry. */
		if (rc != SP_E_FETCH || !pp->retry || pipe_failed(pp) ||
		    source_last_permanent(w->src)) {
			break;
		}

		fails = stream_at(&st) - before >= b->p.segment_size
			    ? 1
			    : fails + 1;
		if (!retry_wait(w, fails, &late)) {
			break;
		}
		log_event(LOG_WARN, "unseal.blob.retry", "blob_fetch_failed",
			  LOG_STR("blob", b->id),
			  LOG_U64("offset", stream_at(&st)),
			  LOG_STR("error", source_last_error(w->src)),
			  LOG_U64("attempt", attempts + 1));
	}
	if (rc != SP_OK && rc != SP_E_INTEGRITY) {
		read_failed(w, b, stream_at(&st), rc, attempts, late);
	}
out:
	return rc;
}

/*
 * The store answered a ranged read of s with the whole object. From now
 * on every blob larger than a chunk is read as one stream; s goes on as
 * a stream too, through the rest of its blob unless another worker
 * already has a later chunk of it. Returns where the stream ends.
 */
static uint64_t
stream_claim(struct pipe *pp, const struct slot *s)
{
	struct pblob *b = s->b;
	uint64_t end = s->offset + s->len;

	pthread_mutex_lock(&pp->mu);
	if (!pp->rangeless) {
		pp->rangeless = 1;
		log_event(LOG_WARN, "unseal.store.range_ignored",
			  "store_ignores_range", LOG_STR("blob", b->id),
			  LOG_U64("offset", s->offset));
	}
	if (b->next_read == s->chunk + 1) {
		b->next_read = b->nchunks;
		end = b->ct_len;
	}
	pthread_mutex_unlock(&pp->mu);
	return end;
}

/* The task's read went on as a stream, which handed its slots on. */
static enum sp_err
as_stream(struct worker *w, struct task *t, size_t have, uint64_t end)
{
	struct slot *s = t->s;

	t->kind = TASK_STREAM;
	t->s = NULL;
	t->b = s->b;
	return stream_read(w, s, have, end);
}

/*
 * Fill the task's slot, resuming after what arrived when a transfer
 * breaks (or from the start, on a store that ignores Range). A chunk of
 * a larger blob on a store that ignores Range goes on as a stream.
 */
static enum sp_err
step_read(struct worker *w, struct task *t)
{
	struct pipe *pp = w->pp;
	struct slot *s = t->s;
	struct pblob *b = s->b;
	struct source_read_req r;
	size_t have = 0;
	size_t step;
	unsigned fails = 0;
	unsigned attempts = 0;
	int whole_only = 0;
	int stream = 0;
	int late = 0;
	enum sp_err judged;
	enum sp_err rc;

	if (t->stream) {
		rc = as_stream(w, t, 0, b->ct_len);
		goto out;
	}
	for (;;) {
		memset(&r, 0, sizeof(r));
		step = s->len - have < b->p.segment_size ? s->len - have
							 : b->p.segment_size;
		r.name = b->name;
		/* A whole blob goes without a Range header, so stores that
		 * ignore Range (RFC 9110 allows it) serve it too. */
		r.whole = have == 0 && s->offset == 0 && s->len == b->ct_len;
		r.offset = s->offset + have;
		r.buf = s->buf + have;
		r.len = s->len - have;
		/* Stores over http tell no size: see that the blob ends. */
		r.probe_end = !r.whole && s->offset + s->len == b->ct_len;
		r.check = read_check;
		r.arg = pp;
		rc = source_read(w->src, &r);
		attempts++;
		have += r.got;
		judged = read_judge(pp, s, &r, &whole_only, &stream);
		if (judged != SP_OK) {
			rc = judged;
			goto out;
		}
		if (stream) {
			rc = as_stream(w, t, have, stream_claim(pp, s));
			goto out;
		}
		/* A refusal (401, 403, 3xx) comes again: no retry. */
		if (rc != SP_E_FETCH || !pp->retry || pipe_failed(pp) ||
		    source_last_permanent(w->src)) {
			break;
		}

		/* A segment's worth of progress resets the count: a flaky
		 * store that moves on is worth waiting for; a dead one, or
		 * one that trickles a little and stalls, is not. Without
		 * ranges, progress is lost and never counts. */
		fails = r.got >= step && !whole_only ? 1 : fails + 1;
		if (whole_only) {
			have = 0;
		}
		if (!retry_wait(w, fails, &late)) {
			break;
		}
		log_event(
		    LOG_WARN, "unseal.blob.retry",
		    whole_only ? "store_ignores_range" : "blob_fetch_failed",
		    LOG_STR("blob", b->id), LOG_U64("offset", s->offset + have),
		    LOG_STR("error", source_last_error(w->src)),
		    LOG_U64("attempt", attempts + 1));
	}
	if (rc != SP_OK) {
		read_failed(w, b, s->offset + have, rc, attempts, late);
	}
out:
	return rc;
}

static enum sp_err
step_hash(struct pipe *pp, struct slot *s)
{
	struct pblob *b = s->b;
	unsigned char want[32];
	unsigned char got[EVP_MAX_MD_SIZE];
	unsigned int got_len = 0;
	enum sp_err rc = SP_E_INTERNAL;

	/* manifest_check() proved ct_len holds a header and a tag. A
	 * header the manifest pins is used as pinned, and compared with
	 * the blob's when chunk 0 is opened. */
	if (s->chunk == 0 && b->f->header_len == 0) {
		memcpy(b->hdr, s->buf, b->hdr_len);
	}
	if (EVP_DigestUpdate(b->sha, s->buf, s->len) != 1) {
		goto out;
	}
	if (s->chunk + 1 < b->nchunks) {
		rc = SP_OK;
		goto out;
	}

	rc = SP_E_INTEGRITY;
	if (EVP_DigestFinal_ex(b->sha, got, &got_len) != 1 ||
	    got_len != sizeof(want) ||
	    hex_decode(b->f->blob, MANIFEST_BLOB_HEX, want, sizeof(want)) !=
		0 ||
	    !ct_memeq(got, want, sizeof(want))) {
		blob_fail(pp, b, "blob_digest_mismatch", b->ct_len);
		goto out;
	}
	b->digest_ok = 1;
	rc = SP_OK;
out:
	return rc;
}

/* This worker's decryption context for b, derived once per blob. */
static enum sp_err
worker_ctx(struct worker *w, const struct pblob *b, struct sealed_ctx **out)
{
	struct ctx_entry *e;
	unsigned i;
	enum sp_err rc = SP_OK;

	for (i = 0; i < PIPE_CTX_CACHE; i++) {
		if (w->cache[i].b == b) {
			*out = w->cache[i].c;
			goto out;
		}
	}
	e = &w->cache[w->cache_next];
	w->cache_next = (w->cache_next + 1) % PIPE_CTX_CACHE;
	sealed_ctx_free(e->c);
	e->c = NULL;
	e->b = NULL;

	rc =
	    sealed_decrypt_begin(&b->p, w->pp->o->key, b->f->path,
				 strlen(b->f->path), b->hdr, b->hdr_len, &e->c);
	if (rc != SP_OK) {
		blob_fail(w->pp, b,
			  rc == SP_E_INTEGRITY ? "blob_header_invalid"
					       : "blob_key_failed",
			  0);
		goto out;
	}
	e->b = b;
	*out = e->c;
out:
	return rc;
}

static enum sp_err
write_at(int fd, struct iovec *iov, int n, uint64_t off)
{
	ssize_t got;
	enum sp_err rc = SP_E_TARGET;

	while (n > 0) {
		got = pwritev(fd, iov, n, (off_t)off);
		if (got < 0 && errno == EINTR) {
			continue;
		}
		if (got <= 0) {
			log_event(LOG_ERR, "unseal.target.failed",
				  errno == ENOSPC || errno == EDQUOT
				      ? "target_no_room"
				      : "target_write_failed",
				  LOG_ERRNO(errno));
			goto out;
		}
		off += (uint64_t)got;
		while (n > 0 && (size_t)got >= iov->iov_len) {
			got -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + got;
			iov->iov_len -= (size_t)got;
		}
	}
	rc = SP_OK;
out:
	return rc;
}

/*
 * The blob's own header must be the one the manifest pins (the key and
 * nonces come from the pinned one): with it, every segment's tag stands
 * for the sealed bytes themselves (docs/sealed-format.md).
 */
static enum sp_err
header_check(struct pipe *pp, const struct slot *s)
{
	const struct pblob *b = s->b;
	enum sp_err rc = SP_OK;

	if (s->chunk == 0 && b->f->header_len != 0 &&
	    !ct_memeq(s->buf, b->f->header, b->hdr_len)) {
		blob_fail(pp, b, "blob_header_mismatch", 0);
		rc = SP_E_INTEGRITY;
	}
	return rc;
}

/* Authenticate and decrypt every segment of the chunk in place, then
 * write the plaintext: nothing unverified reaches the file. */
static enum sp_err
step_open(struct worker *w, struct slot *s, uint64_t *bytes)
{
	struct pblob *b = s->b;
	struct iovec iov[PIPE_IOV];
	struct sealed_ctx *c = NULL;
	uint64_t idx = s->chunk * b->seg_per_chunk;
	uint64_t start = plain_offset(b, idx);
	unsigned char *body;
	size_t pos = 0;
	size_t seg;
	size_t len;
	int last = 0;
	int n = 0;
	enum sp_err rc;

	rc = header_check(w->pp, s);
	if (rc == SP_OK) {
		rc = worker_ctx(w, b, &c);
	}
	while (rc == SP_OK && pos < s->len) {
		if (sealed_segment_span(&b->p, b->ct_len, idx, &seg, &last) !=
		    0) {
			rc = SP_E_INTERNAL;
			break;
		}
		body = s->buf + pos;
		len = seg;
		if (idx == 0) {
			body += b->hdr_len;
			len -= b->hdr_len;
		}
		rc = sealed_open_segment(c, (uint32_t)idx, last, body, len,
					 body);
		if (rc != SP_OK) {
			blob_fail(w->pp, b, "blob_segment_invalid",
				  s->offset + pos);
			break;
		}
		if (len > SEALED_TAG_LEN) {
			iov[n].iov_base = body;
			iov[n].iov_len = len - SEALED_TAG_LEN;
			*bytes += len - SEALED_TAG_LEN;
			n++;
		}
		pos += seg;
		idx++;
		if (n > 0 && (n == PIPE_IOV || pos == s->len)) {
			rc = write_at(b->fd, iov, n, start);
			start = plain_offset(b, idx);
			n = 0;
		}
	}
	return rc;
}

/* ---- the schedule (mutex held) ---- */

static int
pick_hash(struct pipe *pp, struct task *t)
{
	struct slot *s;
	size_t i;

	for (i = 0; i < pp->nslots; i++) {
		s = &pp->slots[i];
		if (s->state == SLOT_READ && !s->b->hashing &&
		    s->chunk == s->b->next_hash) {
			s->state = SLOT_HASHING;
			s->b->hashing = 1;
			t->kind = TASK_HASH;
			t->s = s;
			return 1;
		}
	}
	return 0;
}

/* A chunk may be opened: its blob's partial file exists and, for a
 * later chunk, the blob's header was checked. */
static int
openable(const struct slot *s)
{
	return s->b->begun && (s->chunk == 0 || s->b->hdr_ok);
}

static int
pick_open(struct pipe *pp, struct task *t)
{
	size_t i;

	for (i = 0; i < pp->nslots; i++) {
		if (pp->slots[i].state == SLOT_HASHED &&
		    openable(&pp->slots[i])) {
			pp->slots[i].state = SLOT_OPENING;
			t->kind = TASK_OPEN;
			t->s = &pp->slots[i];
			return 1;
		}
	}
	return 0;
}

/* Chunks of b read but not yet through the step that paces it: the
 * in-order hash, or (without one) opening. */
static uint64_t
lag(const struct pblob *b)
{
	return b->next_read - (b->need_hash ? b->next_hash : b->opened);
}

/*
 * The blob to read from next. The first unfinished blobs, one per
 * worker, are read side by side ("lanes"), so several digests run at
 * once and the in-order hash of one blob does not pace the whole run;
 * the lane with the least read ahead of its hash goes first, and none
 * runs more than PIPE_AHEAD chunks ahead, which keeps slots warm in
 * cache. A blob's first chunk starts it, within active_max.
 */
static struct pblob *
read_blob(struct pipe *pp, int *begin)
{
	struct pblob *best = NULL;
	struct pblob *b;
	size_t lanes = 0;
	size_t i;

	*begin = 0;
	while (pp->cursor < pp->nblobs && pp->blobs[pp->cursor].next_read ==
					      pp->blobs[pp->cursor].nchunks) {
		pp->cursor++;
	}
	for (i = pp->cursor; i < pp->nblobs && lanes < pp->nworkers; i++) {
		b = &pp->blobs[i];
		if (b->next_read == b->nchunks) {
			continue;
		}
		lanes++;
		if (b->next_read == 0 && pp->active >= pp->active_max) {
			break;
		}
		if (lag(b) >= pp->ahead) {
			continue;
		}
		if (best == NULL || lag(b) < lag(best)) {
			best = b;
		}
	}
	if (best != NULL && best->next_read == 0) {
		pp->active++;
		*begin = 1;
	}
	return best;
}

static int
pick_read(struct pipe *pp, struct task *t)
{
	struct slot *s = NULL;
	struct pblob *b;
	size_t i;
	int begin = 0;

	/* A stream waiting for a slot gets it first. */
	if (pp->stream_wait > 0) {
		return 0;
	}
	for (i = 0; i < pp->nslots && s == NULL; i++) {
		if (pp->slots[i].state == SLOT_FREE) {
			s = &pp->slots[i];
		}
	}
	if (s == NULL) {
		return 0;
	}
	b = read_blob(pp, &begin);
	if (b == NULL) {
		return 0;
	}

	slot_setup(s, b, b->next_read++);
	s->state = SLOT_READING;
	t->kind = TASK_READ;
	t->s = s;
	t->begin = begin;
	/* A store that ignores Range: one reader takes the rest. */
	if (pp->rangeless && b->nchunks > 1) {
		t->stream = 1;
		b->next_read = b->nchunks;
	}
	return 1;
}

/* Wait for the next task; 0 when the run is over (done or failed). */
static int
next_task(struct pipe *pp, struct task *t)
{
	memset(t, 0, sizeof(*t));
	for (;;) {
		if (pp->failed != SP_OK || pp->placed == pp->nblobs) {
			return 0;
		}
		if (pick_hash(pp, t) || pick_open(pp, t) || pick_read(pp, t)) {
			return 1;
		}
		pthread_cond_wait(&pp->cv, &pp->mu);
	}
}

/* Move the slot on after a step; may turn t into the blob's rename. */
static void
task_done(struct pipe *pp, struct task *t, enum sp_err rc, uint64_t bytes)
{
	struct slot *s = t->s;
	struct pblob *b = s != NULL ? s->b : t->b;
	enum task_kind kind = t->kind;

	t->kind = TASK_NONE;
	if (rc != SP_OK) {
		pipe_fail(pp, rc);
		return;
	}
	if (kind == TASK_READ && b->need_hash) {
		s->state = SLOT_READ;
	} else if (kind == TASK_READ && !openable(s)) {
		/* A later chunk read before the first chunk's reader made
		 * the partial file, or before the blob's header was
		 * checked: it waits for pick_open. */
		s->state = SLOT_HASHED;
	} else if (kind == TASK_READ) {
		/* Without a digest to take, the reader opens the chunk
		 * itself, while it is still in this core's cache. */
		s->state = SLOT_OPENING;
		t->kind = TASK_OPEN;
	} else if (kind == TASK_HASH) {
		s->state = SLOT_HASHED;
		b->hashing = 0;
		b->next_hash++;
	} else if (kind == TASK_OPEN) {
		s->state = SLOT_FREE;
		if (s->chunk == 0) {
			b->hdr_ok = 1;
		}
		b->opened++;
		b->written += bytes;
		pp->bytes += bytes;
		if (b->opened == b->nchunks) {
			t->kind = TASK_PLACE;
			t->b = b;
			t->s = NULL;
		}
	} else if (kind == TASK_STREAM) {
		/* Its slots went on as they filled. */
	} else if (kind == TASK_PLACE) {
		pp->placed++;
		pp->active--;
		if (pp->placed == pp->nblobs) {
			pthread_cond_signal(&pp->done);
		}
	}
	pthread_cond_broadcast(&pp->cv);
}

static enum sp_err
task_run(struct worker *w, struct task *t, uint64_t *bytes)
{
	struct pipe *pp = w->pp;
	struct slot *s = t->s;
	enum sp_err rc = SP_OK;

	if (s != NULL) {
		rc = slot_buf(pp, s);
		if (rc != SP_OK) {
			goto out;
		}
	}

	if (t->kind == TASK_READ && t->begin) {
		rc = blob_begin(pp, s->b);
		if (rc != SP_OK) {
			goto out;
		}
		pthread_mutex_lock(&pp->mu);
		s->b->begun = 1;
		pthread_cond_broadcast(&pp->cv);
		pthread_mutex_unlock(&pp->mu);
	}
	if (t->kind == TASK_READ) {
		rc = step_read(w, t);
	} else if (t->kind == TASK_HASH) {
		rc = step_hash(pp, s);
	} else if (t->kind == TASK_OPEN) {
		rc = step_open(w, s, bytes);
	} else if (t->kind == TASK_PLACE) {
		rc = blob_place(pp, t->b);
	}
out:
	return rc;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct pipe *pp = w->pp;
	struct task t;
	uint64_t bytes;
	enum sp_err rc;

	pthread_mutex_lock(&pp->mu);
	while (next_task(pp, &t)) {
		do {
			pthread_mutex_unlock(&pp->mu);
			bytes = 0;
			rc = task_run(w, &t, &bytes);
			pthread_mutex_lock(&pp->mu);
			task_done(pp, &t, rc, bytes);
		} while (t.kind != TASK_NONE);
	}
	pthread_mutex_unlock(&pp->mu);
	return NULL;
}

/* ---- set-up, watch, tear-down ---- */

static enum sp_err
blobs_init(struct pipe *pp, uint64_t slot_cap)
{
	const struct manifest_file *f;
	struct pblob *b;
	uint64_t chunk;
	size_t i;
	enum sp_err rc = SP_E_INTERNAL;

	pp->blobs = calloc(pp->m->nfiles + 1, sizeof(*pp->blobs));
	if (pp->blobs == NULL) {
		goto out;
	}
	pp->nblobs = pp->m->nfiles;
	for (i = 0; i < pp->nblobs; i++) {
		f = &pp->m->files[i];
		b = &pp->blobs[i];
		b->f = f;
		b->fd = -1;
		sealed_params_default(&b->p);
		b->p.segment_size = f->segment_size;
		b->hdr_len = sealed_header_len(&b->p);
		/* manifest_check() proved a header of hdr_len bytes. */
		if (f->header_len != 0) {
			memcpy(b->hdr, f->header, b->hdr_len);
		}
		b->need_hash = f->header_len == 0 || pp->o->digest_always;
		b->hdr_ok = f->header_len == 0;
		b->digest_ok = !b->need_hash;
		/* manifest_check() proved the size encodable. */
		if (sealed_ciphertext_len(&b->p, f->size, &b->ct_len) != 0) {
			goto out;
		}
		b->seg_per_chunk = slot_cap / f->segment_size;
		chunk = b->seg_per_chunk * f->segment_size;
		b->nchunks = (b->ct_len + chunk - 1) / chunk;
		snprintf(b->name, sizeof(b->name), "%s/%s", MANIFEST_BLOB_DIR,
			 f->blob);
		memcpy(b->id, f->blob, PIPE_DIGEST_LOG);
	}
	rc = SP_OK;
out:
	return rc;
}

/*
 * Slot size and count from the budget: chunks of whole segments of the
 * largest segment size, shrunk to one segment when the budget would
 * otherwise hold fewer than two slots per worker.
 */
static enum sp_err
slots_init(struct pipe *pp, const char *scheme)
{
	uint64_t maxseg = SEALED_SEGMENT_DEFAULT;
	uint64_t target = pp->o->chunk;
	uint64_t cap;
	uint64_t n;
	size_t i;
	enum sp_err rc = SP_E_USAGE;

	for (i = 0; i < pp->m->nfiles; i++) {
		if (pp->m->files[i].segment_size > maxseg) {
			maxseg = pp->m->files[i].segment_size;
		}
	}
	if (target == 0) {
		target = strcmp(scheme, "file") == 0 ? PIPE_CHUNK_FILE
						     : PIPE_CHUNK_NET;
	}
	cap = target < maxseg ? maxseg : target / maxseg * maxseg;
	if (pp->o->memory / cap < 2 * (uint64_t)pp->nworkers) {
		cap = maxseg;
	}
	n = pp->o->memory / cap;
	pp->ahead = PIPE_AHEAD(pp->nworkers);
	if (n == 0) {
		log_event(LOG_ERR, "unseal.memory.failed",
			  "memory_budget_too_small",
			  LOG_U64("budget", pp->o->memory),
			  LOG_U64("segment", maxseg));
		goto out;
	}

	rc = SP_E_INTERNAL;
	pp->nslots = n > PIPE_SLOTS_MAX ? PIPE_SLOTS_MAX : (size_t)n;
	pp->slot_cap = (size_t)cap;
	pp->slots = calloc(pp->nslots, sizeof(*pp->slots));
	if (pp->slots == NULL) {
		goto out;
	}
	rc = blobs_init(pp, cap);
out:
	return rc;
}

static enum sp_err
pipe_init(struct pipe *pp, const struct unseal_pipe_opts *o,
	  const struct manifest *m)
{
	pthread_condattr_t ca;
	enum sp_err rc = SP_E_INTERNAL;

	memset(pp, 0, sizeof(*pp));
	pp->o = o;
	pp->m = m;
	pp->nworkers = o->workers;
	pp->active_max =
	    (size_t)o->workers * PIPE_ACTIVE_PER_WORKER + PIPE_ACTIVE_EXTRA;
	if (pthread_mutex_init(&pp->mu, NULL) != 0) {
		goto out;
	}
	if (pthread_condattr_init(&ca) != 0) {
		goto out;
	}
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&pp->cv, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		pthread_mutex_destroy(&pp->mu);
		goto out;
	}
	if (pthread_cond_init(&pp->done, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		pthread_cond_destroy(&pp->cv);
		pthread_mutex_destroy(&pp->mu);
		goto out;
	}
	pthread_condattr_destroy(&ca);
	pp->sync_ok = 1;
	pp->w = calloc(o->workers, sizeof(*pp->w));
	if (pp->w == NULL) {
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

/* Each worker's own source (one http client per thread). */
static enum sp_err
workers_open(struct pipe *pp)
{
	unsigned char seed[sizeof(unsigned)];
	struct worker *w;
	unsigned i;
	enum sp_err rc = SP_OK;

	for (i = 0; i < pp->nworkers && rc == SP_OK; i++) {
		w = &pp->w[i];
		w->pp = pp;
		if (RAND_bytes(seed, sizeof(seed)) == 1) {
			memcpy(&w->rnd, seed, sizeof(seed));
		}
		rc = source_open(pp->o->source, pp->o->so, &w->src);
	}
	if (rc == SP_OK) {
		pp->retry = strcmp(source_scheme(pp->w[0].src), "file") != 0;
	}
	return rc;
}

static void
log_progress(struct pipe *pp, uint64_t t0)
{
	double secs = (double)(now_ns() - t0) / 1e9;
	double rate = secs > 0 ? (double)pp->bytes / secs : 0.0;
	uint64_t left = pp->m->total_size - pp->bytes;

	log_event(LOG_INFO, "unseal.progress", NULL,
		  LOG_U64("bytes", pp->bytes),
		  LOG_U64("total", pp->m->total_size),
		  LOG_F64("mib_per_s", rate / 1048576.0),
		  LOG_F64("eta_s", rate > 0 ? (double)left / rate : -1.0),
		  LOG_U64("retries", pp->retries));
}

/* The deadline passed: name a blob still in flight. */
static void
deadline_hit(struct pipe *pp)
{
	const char *digest = "";
	size_t i;

	for (i = 0; i < pp->nslots && digest[0] == '\0'; i++) {
		if (pp->slots[i].state != SLOT_FREE) {
			digest = pp->slots[i].b->f->blob;
		}
	}
	if (pp->failed == SP_OK) {
		log_event(LOG_ERR, "unseal.blob.failed", "deadline_exceeded",
			  LOG_STR("digest", digest),
			  LOG_U64("bytes", pp->bytes),
			  LOG_U64("total", pp->m->total_size));
	}
	pipe_fail(pp, SP_E_FETCH);
}

/* The main thread's part: progress every few seconds, the deadline. */
static void
pipe_watch(struct pipe *pp)
{
	uint64_t t0 = now_ns();
	uint64_t t_log = t0;
	uint64_t now;
	struct timespec ts;

	pthread_mutex_lock(&pp->mu);
	while (pp->failed == SP_OK && pp->placed < pp->nblobs) {
		abs_time(now_ns() + PIPE_TICK_NS, &ts);
		(void)pthread_cond_timedwait(&pp->done, &pp->mu, &ts);
		now = now_ns();
		if (pipe_stop) {
			log_event(LOG_ERR, "unseal.interrupted", "interrupted",
				  LOG_U64("bytes", pp->bytes),
				  LOG_U64("total", pp->m->total_size));
			pipe_fail(pp, SP_E_INTERNAL);
		} else if (pp->o->deadline_ns != 0 &&
			   now >= pp->o->deadline_ns) {
			deadline_hit(pp);
		} else if (now - t_log >= pp->o->progress_ns) {
			t_log = now;
			log_progress(pp, t0);
		}
	}
	pthread_mutex_unlock(&pp->mu);
}

static enum sp_err
workers_start(struct pipe *pp)
{
	unsigned i;
	enum sp_err rc = SP_OK;

	for (i = 0; i < pp->nworkers; i++) {
		if (pthread_create(&pp->w[i].tid, NULL, worker_main,
				   &pp->w[i]) != 0) {
			log_event(LOG_ERR, "unseal.pipe.failed",
				  "thread_create_failed");
			pthread_mutex_lock(&pp->mu);
			pipe_fail(pp, SP_E_INTERNAL);
			pthread_mutex_unlock(&pp->mu);
			rc = SP_E_INTERNAL;
			break;
		}
		pp->w[i].started = 1;
	}
	return rc;
}

static void
workers_join(struct pipe *pp)
{
	unsigned i;

	for (i = 0; pp->w != NULL && i < pp->nworkers; i++) {
		if (pp->w[i].started) {
			pthread_join(pp->w[i].tid, NULL);
			pp->w[i].started = 0;
		}
	}
}

static void
pipe_free(struct pipe *pp)
{
	unsigned i;
	unsigned j;
	size_t k;

	for (i = 0; pp->w != NULL && i < pp->nworkers; i++) {
		for (j = 0; j < PIPE_CTX_CACHE; j++) {
			sealed_ctx_free(pp->w[i].cache[j].c);
		}
		source_free(pp->w[i].src);
	}
	for (k = 0; k < pp->nblobs; k++) {
		blob_release(pp, &pp->blobs[k]);
	}
	/* Slots held plaintext after decryption in place. */
	for (k = 0; k < pp->nslots; k++) {
		if (pp->slots[k].buf != NULL) {
			secret_wipe_mem(pp->slots[k].buf, pp->slot_cap);
			free(pp->slots[k].buf);
		}
	}
	free(pp->slots);
	free(pp->blobs);
	free(pp->w);
	if (pp->sync_ok) {
		pthread_cond_destroy(&pp->done);
		pthread_cond_destroy(&pp->cv);
		pthread_mutex_destroy(&pp->mu);
	}
}

enum sp_err
unseal_pipe_run(const struct unseal_pipe_opts *o, const struct manifest *m,
		struct unseal_pipe_stats *st)
{
	struct pipe pp;
	enum sp_err rc;

	memset(st, 0, sizeof(*st));
	rc = pipe_init(&pp, o, m);
	if (rc != SP_OK) {
		goto out;
	}

	rc = workers_open(&pp);
	if (rc != SP_OK) {
		goto out;
	}

	rc = slots_init(&pp, source_scheme(pp.w[0].src));
	if (rc != SP_OK) {
		goto out;
	}

	rc = workers_start(&pp);
	if (rc == SP_OK) {
		pipe_watch(&pp);
	}
out:
	/* Workers stop at once on a failure; their counts settle first. */
	workers_join(&pp);
	if (rc == SP_OK) {
		rc = pp.failed;
	}
	st->bytes = pp.bytes;
	st->retries = pp.retries;
	st->peak = (uint64_t)pp.slots_alloc * pp.slot_cap;
	pipe_free(&pp);
	return rc;
}
