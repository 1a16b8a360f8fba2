/*
 * tickets.c: session ticket keys shared by every worker and generation.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "log.h"
#include "secret.h"
#include "tickets.h"
#include "tlsctx.h"

#define TICKETS_AES_LEN	 32 /* AES-256-CBC, as OpenSSL's own tickets */
#define TICKETS_HMAC_LEN 32 /* HMAC-SHA256 */
/* Reads that found a rotation in progress before a handshake gives up. */
#define TICKETS_READ_TRIES 1000
/* getrandom() calls before a rotation gives up (EINTR, short reads). */
#define TICKETS_RNG_TRIES 16

struct ticket_key {
	unsigned char name[TICKETS_NAME_LEN];
	unsigned char aes[TICKETS_AES_LEN];
	unsigned char hmac[TICKETS_HMAC_LEN];
};

#define KEY_WORDS (sizeof(struct ticket_key) / sizeof(uint64_t))
_Static_assert(sizeof(struct ticket_key) % sizeof(uint64_t) == 0,
	       "a key is stored as whole 64-bit words");
_Static_assert(TICKETS_NAME_LEN == 16, "OpenSSL's key_name[16]");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "key words are read without locks");

/* One key as the words a reader copied out of the ring. */
union key_copy {
	uint64_t w[KEY_WORDS];
	struct ticket_key k;
};

/* What one consistent read of the ring saw. */
struct ring_view {
	union key_copy cur;  /* meaningful only when have_cur */
	union key_copy prev; /* meaningful only when have_prev */
	int have_cur;
	int have_prev;
};

struct tickets {
	pthread_mutex_t lock;	   /* serialises rotations */
	_Atomic uint64_t seq;	   /* odd while a rotation writes the ring */
	_Atomic uint64_t period;   /* the current key's period */
	_Atomic int have_cur;	   /* the current period's key was made */
	_Atomic int have_prev;	   /* the previous period's key is held */
	uint64_t failed_period;	   /* last period whose key failed, logged */
	_Atomic uint64_t retry_at; /* no new try for a missing key before */
	struct secret *mem;	   /* both slots, then the scratch key */
	_Atomic uint64_t *slot[2]; /* slot[p & 1] holds period p's key */
	unsigned char *scratch;	   /* a new key before it is published */
	EVP_CIPHER *aes;	   /* fetched once, not per ticket */
	struct tickets_clock clock;
};

static int ex_index = -1;
static pthread_once_t ex_once = PTHREAD_ONCE_INIT;

static void
ex_index_init(void)
{
	ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* Boot time counts time spent suspended: keys age by real time. */
static uint64_t
boottime_s(void *arg)
{
	struct timespec ts;

	(void)arg;
	if (clock_gettime(CLOCK_BOOTTIME, &ts) != 0) {
		ts.tv_sec = 0;
	}
	return (uint64_t)ts.tv_sec;
}

static uint64_t
period_now(const struct tickets *t)
{
	return t->clock.now_s(t->clock.arg) / TICKETS_ROTATE_S;
}

/* A fresh key from the OS RNG into t->scratch. Returns 0 or -1. */
static int
scratch_fill(struct tickets *t)
{
	size_t want = sizeof(struct ticket_key);
	size_t got = 0;
	ssize_t n;
	int tries;

	if (t->clock.fill != NULL) {
		if (t->clock.fill(t->clock.arg, t->scratch, want) == 0) {
			got = want;
		}
	} else {
		for (tries = 0; tries < TICKETS_RNG_TRIES && got < want;
		     tries++) {
			n = getrandom(t->scratch + got, want - got, 0);
			if (n > 0) {
				got += (size_t)n;
			}
		}
	}
	if (got != want) {
		/* No half-random key stays behind. */
		secret_wipe_mem(t->scratch, want);
	}
	return got == want ? 0 : -1;
}

/* Word stores, so a reader racing with us sees words, never halves. */
static void
slot_store(_Atomic uint64_t *slot, const unsigned char *src)
{
	uint64_t w;
	size_t i;

	for (i = 0; i < KEY_WORDS; i++) {
		w = 0;
		if (src != NULL) {
			memcpy(&w, src + i * sizeof(w), sizeof(w));
		}
		atomic_store_explicit(&slot[i], w, memory_order_relaxed);
	}
	secret_wipe_mem(&w, sizeof(w));
}

static void
slot_load(_Atomic uint64_t *slot, union key_copy *out)
{
	size_t i;

	for (i = 0; i < KEY_WORDS; i++) {
		out->w[i] =
		    atomic_load_explicit(&slot[i], memory_order_relaxed);
	}
}

/*
 * Publish period p under the lock: its key is the scratch key when fresh,
 * none otherwise (no tickets issued). keep says the other slot stays as
 * the previous period's key; otherwise it is wiped.
 */
static void
publish(struct tickets *t, uint64_t p, int keep, int fresh)
{
	uint64_t s = atomic_load_explicit(&t->seq, memory_order_relaxed);

	atomic_store_explicit(&t->seq, s + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);

	slot_store(t->slot[p & 1], fresh ? t->scratch : NULL);
	if (!keep) {
		slot_store(t->slot[(p + 1) & 1], NULL);
	}
	atomic_store_explicit(&t->have_cur, fresh, memory_order_relaxed);
	atomic_store_explicit(&t->have_prev, keep, memory_order_relaxed);
	atomic_store_explicit(&t->period, p, memory_order_relaxed);

	atomic_store_explicit(&t->seq, s + 2, memory_order_release);
	secret_wipe_mem(t->scratch, sizeof(struct ticket_key));
}

/*
 * Move to period p if it is newer, or make the current period's missing
 * key, under the lock. Returns 1 if a fresh key was published.
 */
static int
rotate_locked(struct tickets *t, uint64_t p)
{
	uint64_t cur = atomic_load_explicit(&t->period, memory_order_relaxed);
	int have_cur = atomic_load_explicit(&t->have_cur, memory_order_relaxed);
	int have_prev =
	    atomic_load_explicit(&t->have_prev, memory_order_relaxed);
	int fresh;
	int keep;

	if (p < cur || (p == cur && have_cur)) {
		return 0;
	}
	fresh = scratch_fill(t) == 0;
	if (!fresh) {
		/* Not on every handshake while the RNG keeps failing. */
		atomic_store_explicit(&t->retry_at,
				      t->clock.now_s(t->clock.arg) + 1,
				      memory_order_relaxed);
	}
	if (!fresh && t->failed_period != p) {
		/* Once a period; retried on every tick and handshake. */
		log_event(LOG_ERR, "tls.tickets.rotate.failed", "internal",
			  LOG_ERRNO(errno), LOG_U64("period", p));
		t->failed_period = p;
	}
	if (p == cur) {
		/* The missing key of this period; the previous one stays. */
		keep = have_prev;
	} else {
		/* The old current key may still open tickets for a period. */
		keep = p == cur + 1 && have_cur;
	}
	if (fresh || p != cur) {
		publish(t, p, keep, fresh);
	}
	return fresh;
}

int
tickets_rotate(struct tickets *t)
{
	uint64_t p = period_now(t);
	int rotated = 0;
	int kept = 0;

	/* The common case, on every handshake: no lock, no write. */
	if (p <= atomic_load_explicit(&t->period, memory_order_relaxed) &&
	    (atomic_load_explicit(&t->have_cur, memory_order_relaxed) ||
	     t->clock.now_s(t->clock.arg) <
		 atomic_load_explicit(&t->retry_at, memory_order_relaxed))) {
		goto out;
	}
	pthread_mutex_lock(&t->lock);
	rotated = rotate_locked(t, p);
	kept = atomic_load_explicit(&t->have_prev, memory_order_relaxed);
	pthread_mutex_unlock(&t->lock);
	if (rotated) {
		log_event(LOG_INFO, "tls.tickets.rotated", NULL,
			  LOG_U64("period", p),
			  LOG_BOOL("previous_kept", kept));
	}
out:
	return rotated;
}

/*
 * Copy the ring into v, consistent with one state (seqlock read).
 * Returns 0, or -1 if rotations kept getting in the way.
 */
static int
ring_read(struct tickets *t, struct ring_view *v)
{
	uint64_t s;
	uint64_t p;
	int tries;
	int rc = -1;

	for (tries = 0; tries < TICKETS_READ_TRIES; tries++) {
		s = atomic_load_explicit(&t->seq, memory_order_acquire);
		if ((s & 1) != 0) {
			/* A rotation is writing; let it finish. */
			sched_yield();
			continue;
		}
		p = atomic_load_explicit(&t->period, memory_order_relaxed);
		v->have_cur =
		    atomic_load_explicit(&t->have_cur, memory_order_relaxed);
		v->have_prev =
		    atomic_load_explicit(&t->have_prev, memory_order_relaxed);
		slot_load(t->slot[p & 1], &v->cur);
		slot_load(t->slot[(p + 1) & 1], &v->prev);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&t->seq, memory_order_relaxed) == s) {
			rc = 0;
			break;
		}
	}
	return rc;
}

/* Which key of v carries name; both compared, in constant time. */
static enum tickets_use
view_match(const struct ring_view *v, const unsigned char *name)
{
	int cur = ct_memeq(v->cur.k.name, name, TICKETS_NAME_LEN);
	int prev = ct_memeq(v->prev.k.name, name, TICKETS_NAME_LEN);
	enum tickets_use use = TICKETS_UNKNOWN;

	/* A wiped slot (all zeros) is never a match. */
	if (cur && v->have_cur) {
		use = TICKETS_CURRENT;
	} else if (prev && v->have_prev) {
		use = TICKETS_PREVIOUS;
	}
	return use;
}

enum tickets_use
tickets_lookup(struct tickets *t, const unsigned char *name)
{
	struct ring_view v;
	enum tickets_use use = TICKETS_UNKNOWN;

	(void)tickets_rotate(t);
	if (ring_read(t, &v) == 0) {
		use = view_match(&v, name);
	}
	secret_wipe_mem(&v, sizeof(v));
	return use;
}

void
tickets_current_name(struct tickets *t, unsigned char *out)
{
	struct ring_view v;

	(void)tickets_rotate(t);
	memset(out, 0, TICKETS_NAME_LEN);
	if (ring_read(t, &v) == 0) {
		memcpy(out, v.cur.k.name, TICKETS_NAME_LEN);
	}
	secret_wipe_mem(&v, sizeof(v));
}

/* HMAC-SHA256 keyed with key, the way the callback's manual asks. */
static int
mac_init(EVP_MAC_CTX *hctx, const unsigned char *key)
{
	OSSL_PARAM params[3];

	params[0] = OSSL_PARAM_construct_octet_string(
	    OSSL_MAC_PARAM_KEY, (void *)key, TICKETS_HMAC_LEN);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)"SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	return EVP_MAC_CTX_set_params(hctx, params);
}

/* A new ticket: current key's name, a random IV, its cipher and MAC. */
static int
ticket_encrypt(struct tickets *t, unsigned char *name, unsigned char *iv,
	       EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx)
{
	struct ring_view v;
	int rc = 0; /* no ticket this time; never a failed handshake */

	if (ring_read(t, &v) != 0 || !v.have_cur ||
	    RAND_bytes(iv, EVP_CIPHER_get_iv_length(t->aes)) != 1) {
		goto out;
	}
	memcpy(name, v.cur.k.name, TICKETS_NAME_LEN);
	if (EVP_EncryptInit_ex(cctx, t->aes, NULL, v.cur.k.aes, iv) != 1 ||
	    mac_init(hctx, v.cur.k.hmac) != 1) {
		goto out;
	}
	rc = 1;
out:
	secret_wipe_mem(&v, sizeof(v));
	return rc;
}

/*
 * A ticket offered back: 2 (accept, and issue a fresh ticket) for the
 * current or previous key, 0 (unknown or wiped key: full handshake).
 * Always renewed: OpenSSL's TLS 1.3 server sends a new ticket after a
 * resumption only when asked to, and clients that use a ticket once
 * (RFC 8446 C.4; wrk, OpenSSL's own session reuse) would otherwise fall
 * back to a full handshake every other connection (measured: 1 in 2
 * resumed with wrk, handshakes/s down by a quarter).
 */
static int
ticket_decrypt(struct tickets *t, const unsigned char *name,
	       const unsigned char *iv, EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx)
{
	struct ring_view v;
	const struct ticket_key *k;
	enum tickets_use use = TICKETS_UNKNOWN;
	int rc = 0;

	if (ring_read(t, &v) == 0) {
		use = view_match(&v, name);
	}
	if (use == TICKETS_UNKNOWN) {
		goto out;
	}
	k = use == TICKETS_CURRENT ? &v.cur.k : &v.prev.k;
	if (EVP_DecryptInit_ex(cctx, t->aes, NULL, k->aes, iv) != 1 ||
	    mac_init(hctx, k->hmac) != 1) {
		goto out;
	}
	rc = 2;
out:
	secret_wipe_mem(&v, sizeof(v));
	return rc;
}

static int
ticket_cb(SSL *ssl, unsigned char key_name[16],
	  unsigned char iv[EVP_MAX_IV_LENGTH], EVP_CIPHER_CTX *cctx,
	  EVP_MAC_CTX *hctx, int enc)
{
	struct tickets *t = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ex_index);
	int rc = 0;

	if (t == NULL) {
		goto out;
	}
	/* Never encrypt with, nor accept, a key past its period. */
	(void)tickets_rotate(t);
	if (enc) {
		rc = ticket_encrypt(t, key_name, iv, cctx, hctx);
	} else {
		rc = ticket_decrypt(t, key_name, iv, cctx, hctx);
	}
out:
	return rc;
}

/*
 * A ticket that decrypted still resumes only if the client certificate in
 * it would pass a full handshake now (tlsctx_session_peer_verify): not
 * expired, and still chaining to the current tls.client_ca. Otherwise
 * the ticket is ignored (and replaced), so the client makes a full
 * handshake and gets what a fresh one gets: an alert, or no identity.
 * Without this, a renewed ticket would carry an identity for as long as
 * the client came back once a period.
 */
static SSL_TICKET_RETURN
session_cb(SSL *ssl, SSL_SESSION *sess, const unsigned char *name,
	   size_t namelen, SSL_TICKET_STATUS status, void *arg)
{
	SSL_TICKET_RETURN r = SSL_TICKET_RETURN_IGNORE_RENEW;
	int v;

	(void)name;
	(void)namelen;
	(void)arg;
	if (status == SSL_TICKET_FATAL_ERR_MALLOC ||
	    status == SSL_TICKET_FATAL_ERR_OTHER) {
		r = SSL_TICKET_RETURN_ABORT;
		goto out;
	}
	if (sess == NULL || (status != SSL_TICKET_SUCCESS &&
			     status != SSL_TICKET_SUCCESS_RENEW)) {
		/* Empty, or not ours (any more): a full handshake. */
		goto out;
	}

	v = tlsctx_session_peer_verify(ssl, sess);
	if (v != X509_V_OK) {
		log_event(LOG_INFO, "tls.resume.refused", "client_cert",
			  LOG_STR("detail", X509_verify_cert_error_string(v)));
		goto out;
	}
	r = status == SSL_TICKET_SUCCESS_RENEW ? SSL_TICKET_RETURN_USE_RENEW
					       : SSL_TICKET_RETURN_USE;
out:
	return r;
}

/*
 * XXX: keys are per process by design (they never leave memory), so a
 * restarted sidecar or another replica refuses earlier tickets and those
 * clients pay one full handshake (KNOWN_ISSUES.md).
 */
enum sp_err
tickets_new(const struct tickets_clock *clock, struct tickets **out)
{
	struct tickets *t = NULL;
	enum sp_err rc = SP_E_INTERNAL;

	pthread_once(&ex_once, ex_index_init);
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		goto out;
	}
	pthread_mutex_init(&t->lock, NULL);
	if (ex_index < 0) {
		goto out;
	}
	t->clock.now_s = boottime_s;
	if (clock != NULL) {
		t->clock = *clock;
	}
	/* Both slots and the scratch key in one locked page. */
	t->mem = secret_new(3 * sizeof(struct ticket_key));
	t->aes = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
	if (t->mem == NULL || t->aes == NULL) {
		goto out;
	}
	t->mem->len = t->mem->cap;
	t->slot[0] = (_Atomic uint64_t *)(void *)t->mem->data;
	t->slot[1] = t->slot[0] + KEY_WORDS;
	t->scratch = t->mem->data + 2 * sizeof(struct ticket_key);
	slot_store(t->slot[0], NULL);
	slot_store(t->slot[1], NULL);

	if (scratch_fill(t) != 0) {
		log_event(LOG_ERR, "tls.tickets.init.failed", "internal",
			  LOG_ERRNO(errno));
		goto out;
	}
	publish(t, period_now(t), 0, 1);

	*out = t;
	t = NULL;
	rc = SP_OK;
out:
	tickets_free(t);
	return rc;
}

void
tickets_free(struct tickets *t)
{
	if (t != NULL) {
		secret_free(t->mem);
		EVP_CIPHER_free(t->aes);
		pthread_mutex_destroy(&t->lock);
		free(t);
	}
}

enum sp_err
tickets_attach(struct tickets *t, SSL_CTX *ctx)
{
	enum sp_err rc = SP_E_INTERNAL;

	if (SSL_CTX_set_ex_data(ctx, ex_index, t) != 1 ||
	    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb) != 1 ||
	    SSL_CTX_set_session_ticket_cb(ctx, NULL, session_cb, NULL) != 1) {
		log_event(LOG_ERR, "tls.tickets.attach.failed", "internal");
		goto out;
	}
	/*
	 * A ticket stays decryptable for at least one period after it
	 * was issued (see tickets.h); promise clients no longer than that.
	 */
	SSL_CTX_set_timeout(ctx, TICKETS_ROTATE_S);
	rc = SP_OK;
out:
	return rc;
}
