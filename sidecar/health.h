/*
 * health.h: the plain-HTTP health port, served by the main thread.
 * Only GET is answered.
 *
 *   GET /healthz  200 while the process runs (liveness).
 *   GET /readyz   200 only when the certificate is loaded and current,
 *                 the ready marker exists, we are not draining, and a TCP
 *                 connect to the backend succeeds within a second; else
 *                 503. The JSON body names every check and which failed.
 *   GET /metrics  Prometheus text (metrics.h).
 * Anything else is 404; every response closes the connection. No request
 * data is ever echoed or logged.
 */
#ifndef SEALPOD_HEALTH_H
#define SEALPOD_HEALTH_H

#include <stdint.h>

#include "err.h"
#include "loop.h"

/*
 * Idle sockets must not take the kubelet's probes away. A prober sends
 * its whole request at once, right after connecting, so a client still
 * without a complete request after HEALTH_HEADER_NS is not one; and when
 * all HEALTH_CONNS_MAX slots are taken, a new connection evicts the
 * oldest one that has not completed a request (else the oldest still
 * being written to), never a /readyz whose backend check is running.
 * A holder of idle sockets thus always loses its oldest one first, and
 * a fresh probe gets a slot at once. At most HEALTH_CHECKS_MAX backend
 * checks run at a time; a /readyz beyond them is answered at once from
 * the last check that ended (if it is younger than HEALTH_PROBE_NS),
 * so callers waiting on a slow backend cannot hold every slot.
 */
#define HEALTH_CONNS_MAX   64
#define HEALTH_REQUEST_MAX 4096
#define HEALTH_HEADER_NS   (2ull * 1000 * 1000 * 1000)
#define HEALTH_TIMEOUT_NS  (5ull * 1000 * 1000 * 1000)
#define HEALTH_PROBE_NS	   (1000ull * 1000 * 1000)
#define HEALTH_CHECKS_MAX  4

struct server;
struct health_conn;

struct health {
	struct server *srv;
	int epfd;
	int listen_fd; /* srv->health_fd, not owned */
	struct pollsrc listen_src;
	struct health_conn *conns; /* live, newest first */
	unsigned nconns;
	struct health_conn *dead; /* closed, freed by health_reap() */
	struct h1_msg *msg;
	/* The last backend check that ended, for /readyz beyond the cap. */
	int backend_ok;
	uint64_t backend_at; /* 0: none yet */
};

/*
 * Serve srv's health listener (if any) from epfd. Returns SP_OK or
 * SP_E_INTERNAL; health_free() cleans up either way.
 */
SP_MUST_CHECK enum sp_err health_init(struct health *h, struct server *srv,
				      int epfd);

/*
 * Handle an event whose data.ptr is a POLLSRC_HEALTH source. A
 * connection it closes (done, or evicted to make room) is only marked
 * dead, so src stays valid for the rest of the caller's epoll batch;
 * events for a dead connection are ignored.
 */
void health_event(struct health *h, struct pollsrc *src, uint32_t events,
		  uint64_t now);

/* Expire slow clients and probes; the expired are marked dead, as above. */
void health_sweep(struct health *h, uint64_t now);

/*
 * Free the connections marked dead. Call it after the whole epoll batch
 * has been dispatched, never from inside it.
 */
void health_reap(struct health *h);

/*
 * Close and free every health connection (not the listener, srv owns
 * it). Not from inside a batch.
 */
void health_free(struct health *h);

#endif
