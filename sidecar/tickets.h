/*
 * tickets.h: the process's TLS session ticket keys.
 *
 * One key ring per process, shared by every SSL_CTX generation, so a
 * ticket resumes on any worker and across certificate reloads. A key is
 * a 16-byte name, an AES-256-CBC key and an HMAC-SHA256 key (the ticket
 * format OpenSSL uses for its own keys), read from the OS RNG
 * (getrandom) and kept only in a struct secret: locked in memory, out of
 * core dumps and children, wiped when replaced. Keys never leave memory.
 *
 * Schedule, in periods of TICKETS_ROTATE_S on a clock that counts from a
 * fixed origin: the key made in period e encrypts new tickets during e,
 * still decrypts during e + 1, and is wiped when period e + 2 begins. A
 * ticket can therefore always be decrypted for at least one period after
 * it was issued, and the session lifetime is set to exactly that, so no
 * client holds a ticket we no longer accept. Every resumption is given a
 * fresh ticket under the current key. Forward secrecy: once a key is
 * wiped, the tickets it made (and the session secrets inside them)
 * cannot be opened from this process's memory any more.
 *
 * Concurrency: rotation (main thread tick, or the first handshake of a
 * new period) takes a mutex; handshakes never do. They copy the key they
 * need under a sequence counter (a seqlock of atomic words) and retry
 * in the rare case a rotation ran meanwhile.
 */
#ifndef SEALPOD_TICKETS_H
#define SEALPOD_TICKETS_H

#include <stdint.h>

#include <openssl/ssl.h>

#include "err.h"

/* Seconds a key encrypts new tickets; it decrypts for one more period. */
#define TICKETS_ROTATE_S 3600
/* Key name: the first bytes of every ticket, how a key is found. */
#define TICKETS_NAME_LEN 16

struct tickets;

/*
 * The clock the schedule reads: seconds since a fixed origin, never
 * going backwards. NULL in tickets_new() means CLOCK_BOOTTIME, so time
 * spent suspended still ages the keys. Tests inject their own, and may
 * inject the random source too (fill: 0 with n bytes written, or -1;
 * NULL means getrandom).
 */
struct tickets_clock {
	uint64_t (*now_s)(void *arg);
	int (*fill)(void *arg, unsigned char *buf, size_t n);
	void *arg;
};

/*
 * A new key ring with a first key from the OS RNG for the current
 * period. clock may be NULL (see struct tickets_clock; copied). Call
 * before dropping privileges: the locked page is allocated here once and
 * reused by every rotation. Returns SP_OK with *out set (free with
 * tickets_free()) or SP_E_INTERNAL (no RNG, no locked memory, no AES).
 */
SP_MUST_CHECK enum sp_err tickets_new(const struct tickets_clock *clock,
				      struct tickets **out);

/* Wipe every key and free t. NULL is allowed. No handshake may run. */
void tickets_free(struct tickets *t);

/*
 * Make ctx issue and accept tickets under t's keys: the OpenSSL 3 ticket
 * key callback, t in ctx's ex_data, and the session lifetime capped to
 * TICKETS_ROTATE_S. A ticket whose client certificate would fail a full
 * handshake now (tlsctx_session_peer_verify: expired, or no longer under
 * ctx's client CAs) is ignored: the client gets a full handshake. t must
 * outlive every handshake on ctx. Returns SP_OK or SP_E_INTERNAL.
 */
SP_MUST_CHECK enum sp_err tickets_attach(struct tickets *t, SSL_CTX *ctx);

/*
 * Rotate if the clock has entered a new period: a fresh current key, the
 * old current kept as previous, anything older wiped (after a gap of two
 * periods or more, both old keys are wiped). If no fresh key can be made
 * the schedule still moves on and wipes what is past its time; until a
 * key is made (retried on each call, logged once a period) no tickets
 * are issued and only a still-valid previous key is accepted. Called from the
 * main thread's tick so that expired keys are wiped even with no traffic; the
 * handshake path also calls it. Thread-safe. Returns 1 if it rotated.
 */
int tickets_rotate(struct tickets *t);

/* How a ticket's key name relates to the ring (see tickets_lookup). */
enum tickets_use {
	TICKETS_UNKNOWN,  /* no such key (never ours, or wiped) */
	TICKETS_CURRENT,  /* the key that encrypts new tickets */
	TICKETS_PREVIOUS, /* still decrypts (the last period's key) */
};

/*
 * Classify name (TICKETS_NAME_LEN bytes) against the ring as it is now,
 * after tickets_rotate(), comparing in constant time. Key names are not
 * secret (every ticket carries one in the clear).
 */
enum tickets_use tickets_lookup(struct tickets *t, const unsigned char *name);

/* Copy the current key's name (TICKETS_NAME_LEN bytes) into out. */
void tickets_current_name(struct tickets *t, unsigned char *out);

#endif
