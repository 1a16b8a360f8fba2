/*
 * test_tickets.c: the session ticket key ring (sidecar/tickets.c) with an
 * injected clock: the schedule of current, previous and wiped keys, and
 * real in-memory TLS 1.3 and 1.2 handshakes against a server context
 * built by tlsctx_new() (the production settings) with the ring
 * attached: resumption, renewal under the previous key, refusal after
 * two periods, unknown and forged tickets, rotation racing handshakes.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tickets.h"
#include "tls_pair.h"
#include "tlsctx.h"

/* One ticket key period, in seconds. */
#define R TICKETS_ROTATE_S
/* The race test: rotations, and the pause between them (ns). */
#define RACE_ROTATIONS 40
#define RACE_PAUSE_NS  2000000L
#define RACE_THREADS   2

static _Atomic uint64_t fake_now;
static char tmpdir[64];
static char cert_path[128];
static char key_path[128];

static uint64_t
fake_clock(void *arg)
{
	(void)arg;
	return atomic_load(&fake_now);
}

static const struct tickets_clock test_clock = {.now_s = fake_clock};

/* A random source that can be made to fail (fail_fill). */
static _Atomic int fail_fill;

static int
fake_fill(void *arg, unsigned char *buf, size_t n)
{
	(void)arg;
	if (atomic_load(&fail_fill)) {
		/* Half-written, as a real short read could leave it. */
		memset(buf, 0xa5, n / 2);
		return -1;
	}
	return RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}

static const struct tickets_clock failing_clock = {.now_s = fake_clock,
						   .fill = fake_fill};

/* ---- fixtures --------------------------------------------------------- */

/* A self-signed P-256 certificate and its key, as 0600 PEM files. */
static int
setup_files(void **state)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	FILE *f;

	(void)state;
	assert_non_null(pkey);
	assert_non_null(x);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_tickets.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", tmpdir);
	snprintf(key_path, sizeof(key_path), "%s/key.pem", tmpdir);

	assert_int_equal(X509_set_version(x, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"localhost", -1, -1,
				   0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	assert_int_equal(X509_set_pubkey(x, pkey), 1);
	assert_true(X509_sign(x, pkey, EVP_sha256()) > 0);

	f = fopen(cert_path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, x), 1);
	fclose(f);
	f = fopen(key_path, "w");
	assert_non_null(f);
	assert_int_equal(chmod(key_path, 0600), 0);
	assert_int_equal(
	    PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(pkey);
	return 0;
}

static int
teardown_files(void **state)
{
	(void)state;
	unlink(cert_path);
	unlink(key_path);
	rmdir(tmpdir);
	return 0;
}

/* The production server context, with ring t attached. */
static SSL_CTX *
server_ctx(struct tickets *t)
{
	SSL_CTX *ctx = NULL;

	assert_int_equal(tlsctx_new(cert_path, key_path, &ctx), SP_OK);
	assert_int_equal(tickets_attach(t, ctx), SP_OK);
	return ctx;
}

/* A client pinned to one protocol version; no verification (in memory). */
static SSL_CTX *
client_ctx(int version)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_set_min_proto_version(ctx, version), 1);
	assert_int_equal(SSL_CTX_set_max_proto_version(ctx, version), 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

/* The key name a session's ticket carries (its first bytes). */
static void
ticket_name(const SSL_SESSION *s, unsigned char name[TICKETS_NAME_LEN])
{
	const unsigned char *tick = NULL;
	size_t len = 0;

	SSL_SESSION_get0_ticket(s, &tick, &len);
	assert_true(len > TICKETS_NAME_LEN);
	memcpy(name, tick, TICKETS_NAME_LEN);
}

/* ---- the schedule ----------------------------------------------------- */

static void
test_schedule(void **state)
{
	unsigned char a[TICKETS_NAME_LEN];
	unsigned char b[TICKETS_NAME_LEN];
	unsigned char c[TICKETS_NAME_LEN];
	unsigned char d[TICKETS_NAME_LEN];
	unsigned char zero[TICKETS_NAME_LEN] = {0};
	struct tickets *t = NULL;

	(void)state;
	atomic_store(&fake_now, 10 * R + 5);
	assert_int_equal(tickets_new(&test_clock, &t), SP_OK);
	tickets_current_name(t, a);
	assert_int_equal(tickets_lookup(t, a), TICKETS_CURRENT);
	/* No previous key yet: a wiped (all-zero) slot matches nothing. */
	assert_int_equal(tickets_lookup(t, zero), TICKETS_UNKNOWN);

	atomic_store(&fake_now, 11 * R - 1);
	assert_int_equal(tickets_rotate(t), 0);
	tickets_current_name(t, b);
	assert_memory_equal(a, b, TICKETS_NAME_LEN);

	atomic_store(&fake_now, 11 * R);
	assert_int_equal(tickets_rotate(t), 1);
	tickets_current_name(t, b);
	assert_memory_not_equal(a, b, TICKETS_NAME_LEN);
	assert_int_equal(tickets_lookup(t, b), TICKETS_CURRENT);
	assert_int_equal(tickets_lookup(t, a), TICKETS_PREVIOUS);

	/* Two periods after it began, a key is gone. */
	atomic_store(&fake_now, 12 * R + R / 2);
	tickets_current_name(t, c);
	assert_int_equal(tickets_lookup(t, c), TICKETS_CURRENT);
	assert_int_equal(tickets_lookup(t, b), TICKETS_PREVIOUS);
	assert_int_equal(tickets_lookup(t, a), TICKETS_UNKNOWN);

	/* A gap of several periods (no tick ran): both old keys wiped. */
	atomic_store(&fake_now, 15 * R);
	assert_int_equal(tickets_rotate(t), 1);
	tickets_current_name(t, d);
	assert_int_equal(tickets_lookup(t, d), TICKETS_CURRENT);
	assert_int_equal(tickets_lookup(t, c), TICKETS_UNKNOWN);
	assert_int_equal(tickets_lookup(t, b), TICKETS_UNKNOWN);
	assert_int_equal(tickets_lookup(t, zero), TICKETS_UNKNOWN);

	/* A clock that steps back changes nothing. */
	atomic_store(&fake_now, 14 * R);
	assert_int_equal(tickets_rotate(t), 0);
	tickets_current_name(t, a);
	assert_memory_equal(a, d, TICKETS_NAME_LEN);
	tickets_free(t);
}

static void
test_attach_caps_lifetime(void **state)
{
	struct tickets *t = NULL;
	SSL_CTX *ctx;

	(void)state;
	atomic_store(&fake_now, 3 * R);
	assert_int_equal(tickets_new(&test_clock, &t), SP_OK);
	ctx = server_ctx(t);
	assert_int_equal(SSL_CTX_get_timeout(ctx), TICKETS_ROTATE_S);
	SSL_CTX_free(ctx);
	tickets_free(t);
}

/* ---- handshakes ------------------------------------------------------- */

/*
 * No fresh key for a new period (the RNG fails): the schedule still
 * moves on, so the old key only opens tickets for the one period it is
 * owed and is then wiped; no ticket is issued meanwhile (the handshake
 * still works, in full); once the RNG works again a key is made.
 */
static void
test_rng_failure(void **state)
{
	unsigned char a[TICKETS_NAME_LEN];
	unsigned char b[TICKETS_NAME_LEN];
	unsigned char zero[TICKETS_NAME_LEN] = {0};
	struct tickets *t = NULL;
	SSL_CTX *sctx;
	SSL_CTX *cctx = client_ctx(TLS1_3_VERSION);
	struct tls_pair first;
	struct tls_pair r;
	const unsigned char *tick = NULL;
	size_t len = 0;

	(void)state;
	atomic_store(&fail_fill, 0);
	atomic_store(&fake_now, 10 * R + 1);
	assert_int_equal(tickets_new(&failing_clock, &t), SP_OK);
	sctx = server_ctx(t);
	first = tls_pair_connect(sctx, cctx, NULL, NULL);
	assert_true(first.done);
	tickets_current_name(t, a);

	atomic_store(&fail_fill, 1);
	atomic_store(&fake_now, 11 * R + 1);
	assert_int_equal(tickets_rotate(t), 0);
	tickets_current_name(t, b);
	assert_memory_equal(b, zero, TICKETS_NAME_LEN);
	assert_int_equal(tickets_lookup(t, a), TICKETS_PREVIOUS);
	assert_int_equal(tickets_lookup(t, zero), TICKETS_UNKNOWN);
	/* The old ticket still resumes; no new ticket comes with it. */
	r = tls_pair_connect(sctx, cctx, first.session, NULL);
	assert_true(r.done);
	assert_true(r.reused);
	SSL_SESSION_free(r.session);
	r = tls_pair_connect(sctx, cctx, NULL, NULL);
	assert_true(r.done);
	SSL_SESSION_get0_ticket(r.session, &tick, &len);
	assert_int_equal(len, 0);
	SSL_SESSION_free(r.session);

	/* Past its time the old key is wiped even without a new one. */
	atomic_store(&fake_now, 12 * R + 1);
	assert_int_equal(tickets_rotate(t), 0);
	assert_int_equal(tickets_lookup(t, a), TICKETS_UNKNOWN);
	r = tls_pair_connect(sctx, cctx, first.session, NULL);
	assert_true(r.done);
	assert_false(r.reused);
	SSL_SESSION_free(r.session);

	/* Retried once a second, not on every handshake. */
	atomic_store(&fail_fill, 0);
	assert_int_equal(tickets_rotate(t), 0);
	atomic_store(&fake_now, 12 * R + 2);
	assert_int_equal(tickets_rotate(t), 1);
	tickets_current_name(t, b);
	assert_memory_not_equal(b, zero, TICKETS_NAME_LEN);
	assert_int_equal(tickets_lookup(t, b), TICKETS_CURRENT);

	SSL_SESSION_free(first.session);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	tickets_free(t);
}

/*
 * Issue at period 10, resume in it, resume under the previous key at
 * period 11 (renewed: the new ticket is under the current key), refused
 * at period 12 with a full handshake, while the renewed one resumes.
 */
static void
rotation_resume(int version)
{
	unsigned char name[TICKETS_NAME_LEN];
	unsigned char cur[TICKETS_NAME_LEN];
	struct tickets *t = NULL;
	SSL_CTX *sctx;
	SSL_CTX *cctx = client_ctx(version);
	struct tls_pair first;
	struct tls_pair r;
	struct tls_pair renewed;

	atomic_store(&fake_now, 10 * R + 1);
	assert_int_equal(tickets_new(&test_clock, &t), SP_OK);
	sctx = server_ctx(t);

	first = tls_pair_connect(sctx, cctx, NULL, NULL);
	assert_true(first.done);
	assert_false(first.reused);
	ticket_name(first.session, name);
	assert_int_equal(tickets_lookup(t, name), TICKETS_CURRENT);

	r = tls_pair_connect(sctx, cctx, first.session, NULL);
	assert_true(r.done);
	assert_true(r.reused);
	SSL_SESSION_free(r.session);

	atomic_store(&fake_now, 11 * R + R - 1);
	renewed = tls_pair_connect(sctx, cctx, first.session, NULL);
	assert_true(renewed.done);
	assert_true(renewed.reused);
	ticket_name(renewed.session, name);
	tickets_current_name(t, cur);
	assert_memory_equal(name, cur, TICKETS_NAME_LEN);

	atomic_store(&fake_now, 12 * R);
	r = tls_pair_connect(sctx, cctx, first.session, NULL);
	assert_true(r.done);
	assert_false(r.reused);
	SSL_SESSION_free(r.session);
	r = tls_pair_connect(sctx, cctx, renewed.session, NULL);
	assert_true(r.done);
	assert_true(r.reused);
	SSL_SESSION_free(r.session);

	SSL_SESSION_free(renewed.session);
	SSL_SESSION_free(first.session);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	tickets_free(t);
}

static void
test_rotation_tls13(void **state)
{
	(void)state;
	rotation_resume(TLS1_3_VERSION);
}

static void
test_rotation_tls12(void **state)
{
	(void)state;
	rotation_resume(TLS1_2_VERSION);
}

/*
 * Every context attached to one ring resumes the others' tickets, as
 * every certificate generation of the sidecar does.
 */
static void
test_shared_across_contexts(void **state)
{
	struct tickets *t = NULL;
	SSL_CTX *old_gen;
	SSL_CTX *new_gen;
	SSL_CTX *cctx = client_ctx(TLS1_3_VERSION);
	struct tls_pair first;
	struct tls_pair r;

	(void)state;
	atomic_store(&fake_now, 20 * R);
	assert_int_equal(tickets_new(&test_clock, &t), SP_OK);
	old_gen = server_ctx(t);
	first = tls_pair_connect(old_gen, cctx, NULL, NULL);
	assert_true(first.done);
	SSL_CTX_free(old_gen);

	new_gen = server_ctx(t);
	r = tls_pair_connect(new_gen, cctx, first.session, NULL);
	assert_true(r.done);
	assert_true(r.reused);
	SSL_SESSION_free(r.session);
	SSL_SESSION_free(first.session);
	SSL_CTX_free(new_gen);
	SSL_CTX_free(cctx);
	tickets_free(t);
}

/* session with its ticket changed by edit(ticket, len), re-encoded. */
static SSL_SESSION *
forge(SSL_SESSION *s, void (*edit)(unsigned char *, size_t))
{
	const unsigned char *tick = NULL;
	unsigned char *der = NULL;
	unsigned char *p;
	const unsigned char *cp;
	unsigned char *at;
	SSL_SESSION *out;
	size_t tlen = 0;
	int len;

	SSL_SESSION_get0_ticket(s, &tick, &tlen);
	assert_true(tlen > 2 * TICKETS_NAME_LEN);
	len = i2d_SSL_SESSION(s, NULL);
	assert_true(len > 0);
	der = malloc((size_t)len);
	assert_non_null(der);
	p = der;
	assert_int_equal(i2d_SSL_SESSION(s, &p), len);
	at = memmem(der, (size_t)len, tick, tlen);
	assert_non_null(at);
	edit(at, tlen);
	cp = der;
	out = d2i_SSL_SESSION(NULL, &cp, len);
	assert_non_null(out);
	free(der);
	return out;
}

static void
edit_name(unsigned char *tick, size_t len)
{
	(void)len;
	assert_int_equal(RAND_bytes(tick, TICKETS_NAME_LEN), 1);
}

static void
edit_mac(unsigned char *tick, size_t len)
{
	tick[len - 1] ^= 0x01;
}

static void
edit_body(unsigned char *tick, size_t len)
{
	(void)len;
	/* First byte of the encrypted state, after the name and IV. */
	tick[2 * TICKETS_NAME_LEN] ^= 0x80;
}

/*
 * A ticket from another ring (another process, or one restarted), one
 * whose name we never made, one whose MAC or body was changed: each
 * gets a full handshake that completes, never a resumption or a crash.
 */
static void
unknown_and_forged(int version)
{
	struct tickets *t1 = NULL;
	struct tickets *t2 = NULL;
	SSL_CTX *s1;
	SSL_CTX *s2;
	SSL_CTX *cctx = client_ctx(version);
	SSL_SESSION *bad[3];
	struct tls_pair first;
	struct tls_pair r;
	size_t i;

	atomic_store(&fake_now, 30 * R);
	assert_int_equal(tickets_new(&test_clock, &t1), SP_OK);
	assert_int_equal(tickets_new(&test_clock, &t2), SP_OK);
	s1 = server_ctx(t1);
	s2 = server_ctx(t2);
	first = tls_pair_connect(s1, cctx, NULL, NULL);
	assert_true(first.done);

	r = tls_pair_connect(s2, cctx, first.session, NULL);
	assert_true(r.done);
	assert_false(r.reused);
	SSL_SESSION_free(r.session);

	bad[0] = forge(first.session, edit_name);
	bad[1] = forge(first.session, edit_mac);
	bad[2] = forge(first.session, edit_body);
	for (i = 0; i < 3; i++) {
		r = tls_pair_connect(s1, cctx, bad[i], NULL);
		assert_true(r.done);
		assert_false(r.reused);
		SSL_SESSION_free(r.session);
		SSL_SESSION_free(bad[i]);
	}

	/* The genuine ticket still works: the forgeries changed nothing. */
	r = tls_pair_connect(s1, cctx, first.session, NULL);
	assert_true(r.reused);
	SSL_SESSION_free(r.session);
	SSL_SESSION_free(first.session);
	SSL_CTX_free(s1);
	SSL_CTX_free(s2);
	SSL_CTX_free(cctx);
	tickets_free(t1);
	tickets_free(t2);
}

static void
test_unknown_tls13(void **state)
{
	(void)state;
	unknown_and_forged(TLS1_3_VERSION);
}

static void
test_unknown_tls12(void **state)
{
	(void)state;
	unknown_and_forged(TLS1_2_VERSION);
}

/* ---- rotation racing handshakes --------------------------------------- */

struct racer {
	SSL_CTX *sctx;
	_Atomic int *stop;
	unsigned shakes;
	unsigned failed;
	unsigned resumed;
};

/* Resume with the newest ticket, over and over, until told to stop. */
static void *
race_handshakes(void *arg)
{
	struct racer *rc = arg;
	SSL_CTX *cctx = client_ctx(TLS1_3_VERSION);
	SSL_SESSION *s = NULL;
	struct tls_pair r;

	while (!atomic_load(rc->stop)) {
		r = tls_pair_connect(rc->sctx, cctx, s, NULL);
		rc->shakes++;
		rc->failed += !r.done;
		rc->resumed += r.reused;
		if (r.session != NULL) {
			SSL_SESSION_free(s);
			s = r.session;
		}
	}
	SSL_SESSION_free(s);
	SSL_CTX_free(cctx);
	return NULL;
}

/*
 * Rotations one period at a time while two threads shake hands: every
 * handshake completes and, since a ticket is at most a period old when
 * it is offered again, nearly all resume. A torn key (a name from one
 * key with the AES or HMAC key of another) would make its tickets
 * unreadable and show up as failures to resume.
 */
static void
test_rotation_races_handshakes(void **state)
{
	struct timespec pause = {.tv_nsec = RACE_PAUSE_NS};
	struct racer racers[RACE_THREADS];
	pthread_t th[RACE_THREADS];
	_Atomic int stop = 0;
	struct tickets *t = NULL;
	unsigned shakes = 0;
	unsigned resumed = 0;
	SSL_CTX *sctx;
	int i;

	(void)state;
	atomic_store(&fake_now, 40 * R);
	assert_int_equal(tickets_new(&test_clock, &t), SP_OK);
	sctx = server_ctx(t);
	for (i = 0; i < RACE_THREADS; i++) {
		memset(&racers[i], 0, sizeof(racers[i]));
		racers[i].sctx = sctx;
		racers[i].stop = &stop;
		assert_int_equal(
		    pthread_create(&th[i], NULL, race_handshakes, &racers[i]),
		    0);
	}
	for (i = 0; i < RACE_ROTATIONS; i++) {
		nanosleep(&pause, NULL);
		atomic_fetch_add(&fake_now, R);
		/* A handshake may have rotated first: either is fine. */
		(void)tickets_rotate(t);
	}
	atomic_store(&stop, 1);
	for (i = 0; i < RACE_THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(racers[i].failed, 0);
		shakes += racers[i].shakes;
		resumed += racers[i].resumed;
	}
	print_message("race: %u handshakes, %u resumed, %d rotations\n", shakes,
		      resumed, RACE_ROTATIONS);
	/*
	 * Each racer's first handshake is full, and so may be one per
	 * rotation (two rotations between issue and use); anything more
	 * means tickets we issued could not be read back.
	 */
	assert_true(shakes > (unsigned)RACE_THREADS);
	assert_true(resumed + RACE_THREADS * (1 + RACE_ROTATIONS) >= shakes);
	SSL_CTX_free(sctx);
	tickets_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_schedule),
	    cmocka_unit_test(test_rng_failure),
	    cmocka_unit_test(test_attach_caps_lifetime),
	    cmocka_unit_test(test_rotation_tls13),
	    cmocka_unit_test(test_rotation_tls12),
	    cmocka_unit_test(test_shared_across_contexts),
	    cmocka_unit_test(test_unknown_tls13),
	    cmocka_unit_test(test_unknown_tls12),
	    cmocka_unit_test(test_rotation_races_handshakes),
	};

	return cmocka_run_group_tests(tests, setup_files, teardown_files);
}
