/*
 * loop.h: worker threads, each with its own epoll loop and listener.
 *
 * Shared-nothing: a worker accepts on its own SO_REUSEPORT socket and
 * keeps every connection it accepted, with the backend connection that
 * serves it, until both are closed. Sockets are edge-triggered; an event
 * only records readiness on the connection and queues it, and the queue
 * is run after each batch, so a connection is never freed while an event
 * for it may still be pending.
 */
#ifndef SEALPOD_LOOP_H
#define SEALPOD_LOOP_H

#include <pthread.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "err.h"
#include "h1.h"
#include "metrics.h"

struct server;
struct conn;

/* What an epoll event's data.ptr points to. */
enum pollsrc_kind {
	POLLSRC_LISTEN,	    /* a worker's TLS listener */
	POLLSRC_NOTIFY,	    /* a worker's wake-up eventfd */
	POLLSRC_CLIENT,	    /* a client connection */
	POLLSRC_BACKEND,    /* its backend connection */
	POLLSRC_HEALTH,	    /* health listener, clients and probes (health.c) */
	POLLSRC_CONTROL,    /* signals and the tick (control.c) */
	POLLSRC_H2_BACKEND, /* an HTTP/2 stream's backend (h2.c) */
};

struct pollsrc {
	enum pollsrc_kind kind;
	unsigned role; /* meaning up to the module that owns the kind */
};

/* A connection's place in a worker list kept in order of entry. */
struct loop_link {
	struct conn *prev, *next;
	uint64_t at; /* when it entered; 0: not in the list */
};

/* Such a list: parked or due connections, oldest first. */
struct loop_list {
	struct conn *head, *tail;
};

/* Room for one re-serialised head (see h1_write_response_head). */
#define LOOP_SCRATCH (H1_HEAD_MAX + H1_HEADERS_MAX + 64)
/* Spare relay buffers a worker keeps per size class. */
#define LOOP_SPARE_MAX 16

/* Size classes: PROXY_BUF_SIZE and PROXY_DOWN_SIZE buffers (proxy.h). */
enum loop_spare_class {
	LOOP_SPARE_SMALL,
	LOOP_SPARE_LARGE,
	LOOP_SPARE_CLASSES
};

/* Released buffers of one size, kept for the next exchange. */
struct loop_spare {
	void *p[LOOP_SPARE_MAX];
	size_t n;
};

struct worker {
	struct server *srv;
	unsigned id;
	pthread_t thread;
	int started;
	int epfd;
	int listen_fd; /* owned here once the worker runs */
	int notify_fd; /* eventfd the main thread writes to wake us */
	struct pollsrc listen_src;
	struct pollsrc notify_src;
	int accepting;
	uint64_t accept_paused_until;

	struct conn *conns; /* every open connection */
	size_t nconns;
	struct conn *runq;	 /* connections to step after this batch */
	struct conn *dead;	 /* closed, freed after this batch */
	struct loop_list parked; /* holding response bytes back */
	struct loop_list due;	 /* awaiting a response */

	/* Adaptive busy polling (see busy_poll() in loop.c). */
	uint64_t poll_max_ns;  /* busy_poll_us; 0: never poll */
	uint64_t poll_ns;      /* current budget, 0 .. poll_max_ns */
	uint64_t park_max_ns;  /* coalesce_us; 0: never park */
	uint64_t forwarded_at; /* last request sent to a backend */
	uint64_t ready_since;  /* first parked response became ready; 0: none */

	SSL_CTX *ctx; /* our reference to the current generation */
	unsigned ctx_gen;
	struct metrics *m;
	uint64_t now; /* monotonic ns, refreshed after each wait */
	uint64_t next_sweep;
	uint64_t rejected_quiet; /* rejections not yet logged */
	uint64_t last_reject_log;

	struct h1_msg *msg; /* parse scratch */
	char *scratch;	    /* LOOP_SCRATCH bytes */
	struct loop_spare spare[LOOP_SPARE_CLASSES];
};

/*
 * Create the workers (not yet running) around srv's listeners. Returns
 * SP_OK or SP_E_INTERNAL; loop_free() cleans up either way.
 */
SP_MUST_CHECK enum sp_err loop_init(struct server *srv);

/* Start every worker thread. Returns SP_OK or SP_E_INTERNAL. */
SP_MUST_CHECK enum sp_err loop_start(struct server *srv);

/* Wake every worker so it re-reads srv's lifecycle flags. */
void loop_wake(struct server *srv);

/* Number of workers still running. */
unsigned loop_running(struct server *srv);

/* Join the worker threads and free what loop_init() allocated. */
void loop_free(struct server *srv);

/* Queue c to be stepped after the current batch of events. */
void loop_queue(struct worker *w, struct conn *c);

/*
 * Park c: it holds response bytes back so that they leave together with
 * what should follow. expecting: the bytes c waits for (a body, another
 * stream's answer) should come at once, so the park lasts through the
 * worker's busy poll; otherwise c is ready and waits only for the end
 * of the work the worker has in hand (other responses then leave with
 * it). The worker ends a park by setting c->park_over and queueing c,
 * after coalesce_us at the latest; c must then send what it holds.
 * Parking a parked c only updates expecting. Returns 1 if c is parked,
 * 0 if parking is off (coalesce_us: 0): then c must not hold anything.
 */
int loop_park(struct worker *w, struct conn *c, int expecting);

/*
 * Note whether c awaits its backend's response (request sent, no byte
 * back yet). While another connection's response is due, a ready one
 * stays parked through the busy poll, so that both leave together, but
 * no longer than LOOP_COMPANY_NS (loop.c); a response counts as due for
 * LOOP_DUE_NS after its request, so that a long generation never holds
 * others back beyond that.
 */
void loop_due(struct worker *w, struct conn *c, int due);

/* End c's park early (what it held went out); no-op if not parked. */
void loop_unpark(struct worker *w, struct conn *c);

/*
 * Whether a parked response is past coalesce_us: a connection's step
 * then ends early so the worker can send it (proxy_run).
 */
int loop_park_overdue(const struct worker *w);

/*
 * A request went to a backend (HTTP/1 or an HTTP/2 stream). The worker
 * busy-polls only within LOOP_DUE_NS of one: under load its answer and
 * the client's next request are microseconds away, while bytes that
 * lead to no request (a client dribbling a handshake or a head) are not
 * worth a spinning core.
 */
void loop_forwarded(struct worker *w);

/* Register fd edge-triggered for in, out and hang-up on behalf of src. */
int loop_watch(struct worker *w, int fd, struct pollsrc *src);

/*
 * A released buffer of class k kept by w, or NULL (the caller then
 * allocates one). Saves malloc and heap churn on every exchange.
 */
void *loop_spare_take(struct worker *w, enum loop_spare_class k);

/* Keep p, a buffer of class k, for reuse; free it when w keeps enough. */
void loop_spare_give(struct worker *w, enum loop_spare_class k, void *p);

#endif
