/*
 * server.h: state shared by the main thread and the workers.
 *
 * Workers share nothing with each other; what they share with the main
 * thread is here: the configuration (read-only once serving), the
 * current certificate generation (swapped under a mutex, picked up by
 * workers when its generation number changes), the session ticket keys
 * every generation shares (tickets.h), the lifecycle flags and the
 * per-worker metrics.
 */
#ifndef SEALPOD_SERVER_H
#define SEALPOD_SERVER_H

#include <pthread.h>
#include <stdatomic.h>

#include <openssl/ssl.h>

#include "err.h"
#include "h1.h"
#include "metrics.h"
#include "sidecar_config.h"

struct worker;
struct tickets;

struct server {
	const struct sidecar_config *cfg;
	struct h1_limits limits; /* from cfg, for requests */
	unsigned nworkers;
	struct worker *workers;	 /* loop.c */
	int *listen_fds;	 /* one SO_REUSEPORT socket per worker */
	int health_fd;		 /* -1 without a health port */
	unsigned port;		 /* the TLS listeners' port, once bound */
	struct metrics *metrics; /* nworkers entries */
	struct metrics_global g;

	pthread_mutex_t ctx_lock;
	SSL_CTX *ctx;		  /* current generation, under ctx_lock */
	_Atomic unsigned ctx_gen; /* bumped on every swap */
	struct tickets *tickets;  /* one key ring for every generation */

	_Atomic int draining; /* SIGTERM seen: readiness reports 503 */
	_Atomic int closing;  /* listeners closed, connections finishing */
	_Atomic int stopping; /* drain deadline passed: close everything */
};

/*
 * Set up srv for cfg (which must outlive srv) with the first certificate
 * generation ctx (srv takes the reference). Allocates per-worker arrays
 * and the process's session ticket keys, which it attaches to ctx (call
 * before dropping privileges: the keys need locked memory). Returns
 * SP_OK or SP_E_INTERNAL; free with server_free() either way.
 */
SP_MUST_CHECK enum sp_err
server_init(struct server *srv, const struct sidecar_config *cfg, SSL_CTX *ctx);

/* Close listeners and free what server_init() allocated. */
void server_free(struct server *srv);

/*
 * Open the workers' listeners (SO_REUSEPORT, all on one port even when
 * the configured port is 0) and the health listener. Logs and returns
 * SP_E_TARGET when an address cannot be bound, else SP_OK.
 */
SP_MUST_CHECK enum sp_err server_bind(struct server *srv);

/* A new reference to the current SSL_CTX and its generation. */
SSL_CTX *server_ctx_ref(struct server *srv, unsigned *gen);

/*
 * Make ctx (reference taken over) the generation for new handshakes.
 * Attach srv's ticket keys to ctx first (server_ctx_prepare), so that
 * tickets issued before the swap still resume after it.
 */
void server_ctx_swap(struct server *srv, SSL_CTX *ctx);

/*
 * Give a new generation ctx the process's session ticket keys. Returns
 * SP_OK or SP_E_INTERNAL (ctx must then not be swapped in).
 */
SP_MUST_CHECK enum sp_err server_ctx_prepare(struct server *srv, SSL_CTX *ctx);

/*
 * 1 when the ready marker exists (or none is configured). Fast once true;
 * server_marker_refresh() notices a marker that disappears.
 */
int server_marker_ready(struct server *srv);

/* Re-check the marker now (main thread, once a second). Returns it. */
int server_marker_refresh(struct server *srv);

#endif
