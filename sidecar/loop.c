/*
 * loop.c: the workers' event loops (see loop.h).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "h2.h"
#include "log.h"
#include "loop.h"
#include "proxy.h"
#include "server.h"
#include "util.h"

#define LOOP_EVENTS	     256
#define LOOP_TICK_MS	     250
#define LOOP_SWEEP_NS	     (250ull * 1000 * 1000)
#define LOOP_ACCEPT_BATCH    64
#define LOOP_ACCEPT_PAUSE_NS (100ull * 1000 * 1000)
#define LOOP_REJECT_LOG_NS   (1000ull * 1000 * 1000)
/* How long after its request a response counts as due (loop_due). */
#define LOOP_DUE_NS (1000ull * 1000)
/*
 * How long a complete response waits for due ones to leave with it.
 * Longer waits batch more responses per client wake-up, which only
 * helps a client whose own core is saturated, and every response pays
 * for them in latency (at 200 us, p99 rose by 0.3 ms under load).
 */
#define LOOP_COMPANY_NS (30ull * 1000)
/* Busy-poll budget: first step when growing, and the least kept. */
#define LOOP_POLL_START_NS (10ull * 1000)

static int
watch_level(int epfd, int fd, struct pollsrc *src)
{
	struct epoll_event ev = {0};

	ev.events = EPOLLIN;
	ev.data.ptr = src;
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

int
loop_watch(struct worker *w, int fd, struct pollsrc *src)
{
	struct epoll_event ev = {0};

	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.ptr = src;
	return epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev);
}

void *
loop_spare_take(struct worker *w, enum loop_spare_class k)
{
	void *p = NULL;

	if (w->spare[k].n > 0) {
		p = w->spare[k].p[--w->spare[k].n];
	}
	return p;
}

void
loop_spare_give(struct worker *w, enum loop_spare_class k, void *p)
{
	if (p != NULL && w->spare[k].n < LOOP_SPARE_MAX) {
		w->spare[k].p[w->spare[k].n++] = p;
	} else {
		free(p);
	}
}

void
loop_queue(struct worker *w, struct conn *c)
{
	/* Closed ones too: running them is what unlinks and frees them. */
	if (!c->queued) {
		c->queued = 1;
		c->run_next = w->runq;
		w->runq = c;
	}
}

/* The link of c at offset off (offsetof(struct conn, park) or due). */
static struct loop_link *
link_at(struct conn *c, size_t off)
{
	return (struct loop_link *)((char *)c + off);
}

/* Append c to l (through its link at off) unless it is in already. */
static void
timed_enter(struct loop_list *l, struct conn *c, size_t off, uint64_t at)
{
	struct loop_link *k = link_at(c, off);

	if (k->at == 0) {
		k->at = at;
		k->next = NULL;
		k->prev = l->tail;
		if (l->tail != NULL) {
			link_at(l->tail, off)->next = c;
		} else {
			l->head = c;
		}
		l->tail = c;
	}
}

/* Take c out of l; nothing if it is not in. */
static void
timed_leave(struct loop_list *l, struct conn *c, size_t off)
{
	struct loop_link *k = link_at(c, off);

	if (k->at != 0) {
		if (k->prev != NULL) {
			link_at(k->prev, off)->next = k->next;
		} else {
			l->head = k->next;
		}
		if (k->next != NULL) {
			link_at(k->next, off)->prev = k->prev;
		} else {
			l->tail = k->prev;
		}
		k->at = 0;
	}
}

#define PARK offsetof(struct conn, park)
#define DUE  offsetof(struct conn, due)

int
loop_park(struct worker *w, struct conn *c, int expecting)
{
	if (w->park_max_ns > 0) {
		/* Not w->now: that is when this batch began. */
		timed_enter(&w->parked, c, PARK, now_ns());
	}
	c->park_ready = !expecting;
	if (c->park.at != 0 && c->park_ready && w->ready_since == 0) {
		w->ready_since = now_ns();
	}
	return c->park.at != 0;
}

void
loop_unpark(struct worker *w, struct conn *c)
{
	timed_leave(&w->parked, c, PARK);
	if (w->parked.head == NULL) {
		w->ready_since = 0;
	}
}

void
loop_forwarded(struct worker *w)
{
	w->forwarded_at = w->now;
}

void
loop_due(struct worker *w, struct conn *c, int due)
{
	if (due) {
		timed_enter(&w->due, c, DUE, w->now);
		loop_forwarded(w);
	} else {
		timed_leave(&w->due, c, DUE);
	}
}

/* Whether a response is due now; drops those past LOOP_DUE_NS. */
static int
any_due(struct worker *w)
{
	while (w->due.head != NULL &&
	       w->now - w->due.head->due.at >= LOOP_DUE_NS) {
		loop_due(w, w->due.head, 0);
	}
	return w->due.head != NULL;
}

/*
 * What is left of the parked ready responses' wait for company
 * (LOOP_COMPANY_NS from the first of them); UINT64_MAX if none waits.
 */
static uint64_t
company_left(const struct worker *w)
{
	uint64_t left = UINT64_MAX;
	uint64_t waited;

	if (w->ready_since != 0) {
		waited = now_ns() - w->ready_since;
		left = waited >= LOOP_COMPANY_NS ? 0 : LOOP_COMPANY_NS - waited;
	}
	return left;
}

/*
 * Whether a ready response may wait for company: a response is due now
 * (those past LOOP_DUE_NS are dropped) and the wait has time left.
 */
static int
company_coming(struct worker *w)
{
	return any_due(w) && company_left(w) > 0;
}

/*
 * End parks: every one, or (ready_only) those that expect nothing more.
 * What they held goes out when the queue runs.
 */
static void
release_parked(struct worker *w, int ready_only)
{
	struct conn *c = w->parked.head;
	struct conn *next;

	for (; c != NULL; c = next) {
		next = c->park.next;
		if (!ready_only || c->park_ready) {
			loop_unpark(w, c);
			c->park_over = 1;
			loop_queue(w, c);
		}
	}
	/* Either way no ready response is left parked. */
	w->ready_since = 0;
}

/* Whether the oldest park has lasted coalesce_us. */
int
loop_park_overdue(const struct worker *w)
{
	return w->parked.head != NULL &&
	       now_ns() - w->parked.head->park.at >= w->park_max_ns;
}

static void
list_add(struct worker *w, struct conn *c)
{
	c->prev = NULL;
	c->next = w->conns;
	if (w->conns != NULL) {
		w->conns->prev = c;
	}
	w->conns = c;
	w->nconns++;
}

/* Unlink a closed connection; it is freed after the batch. */
static void
list_kill(struct worker *w, struct conn *c)
{
	loop_unpark(w, c);
	loop_due(w, c, 0);
	if (c->prev != NULL) {
		c->prev->next = c->next;
	} else {
		w->conns = c->next;
	}
	if (c->next != NULL) {
		c->next->prev = c->prev;
	}
	w->nconns--;
	c->next = w->dead;
	w->dead = c;
}

static void
reap(struct worker *w)
{
	struct conn *c;

	while (w->dead != NULL) {
		c = w->dead;
		w->dead = c->next;
		proxy_free(c);
		atomic_fetch_sub(&w->srv->g.conns_open, 1);
	}
}

/* Put what was queued meanwhile ahead of list; returns the new list. */
static struct conn *
splice_runq(struct worker *w, struct conn *list)
{
	struct conn *head = w->runq;
	struct conn *c = head;

	if (head == NULL) {
		return list;
	}
	while (c->run_next != NULL) {
		c = c->run_next;
	}
	c->run_next = list;
	w->runq = NULL;
	return head;
}

static void
run_queue(struct worker *w)
{
	struct conn *list = w->runq;
	struct conn *c;
	enum proxy_result r;

	w->runq = NULL;
	while (list != NULL) {
		c = list;
		list = c->run_next;
		c->queued = 0;
		r = proxy_run(c);
		if (r == PROXY_AGAIN) {
			loop_queue(w, c);
		} else if (r == PROXY_CLOSED) {
			list_kill(w, c);
		}
		if (loop_park_overdue(w)) {
			/*
			 * A long queue (handshakes) must not hold parked
			 * responses past their bound: they run next.
			 */
			release_parked(w, 0);
			list = splice_runq(w, list);
		}
	}
}

/* Pick up a new certificate generation for the next handshakes. */
static void
refresh_ctx(struct worker *w)
{
	unsigned gen =
	    atomic_load_explicit(&w->srv->ctx_gen, memory_order_relaxed);

	if (gen != w->ctx_gen) {
		SSL_CTX_free(w->ctx);
		w->ctx = server_ctx_ref(w->srv, &w->ctx_gen);
	}
}

/* At most one line a second, with the count since the last one. */
static void
log_rejects(struct worker *w)
{
	if (w->rejected_quiet > 0 &&
	    w->now - w->last_reject_log >= LOOP_REJECT_LOG_NS) {
		log_event(LOG_WARN, "conn.limit.reached", "limits",
			  LOG_U64("rejected", w->rejected_quiet),
			  LOG_U64("limit", w->srv->cfg->connections),
			  LOG_U64("worker", w->id));
		w->rejected_quiet = 0;
		w->last_reject_log = w->now;
	}
}

static void
note_reject(struct worker *w)
{
	metrics_add(&w->m->conns_rejected, 1);
	w->rejected_quiet++;
	log_rejects(w);
}

/* Out of descriptors: stop accepting a moment instead of spinning. */
static void
pause_accept(struct worker *w, int e)
{
	log_event(LOG_WARN, "conn.accept.paused", "resources", LOG_ERRNO(e),
		  LOG_U64("worker", w->id));
	epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->listen_fd, NULL);
	w->accepting = 0;
	w->accept_paused_until = w->now + LOOP_ACCEPT_PAUSE_NS;
}

/* Take one accepted socket; returns 0, or -1 to stop this batch. */
static int
accept_one(struct worker *w)
{
	struct server *srv = w->srv;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct conn *c;
	int fd;
	int rc = -1;

	fd = accept4(w->listen_fd, (struct sockaddr *)&ss, &len,
		     SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno == EINTR || errno == ECONNABORTED) {
			rc = 0;
		} else if (errno == EMFILE || errno == ENFILE ||
			   errno == ENOBUFS || errno == ENOMEM) {
			pause_accept(w, errno);
		}
		goto out;
	}
	rc = 0;
	if (atomic_fetch_add(&srv->g.conns_open, 1) >= srv->cfg->connections) {
		atomic_fetch_sub(&srv->g.conns_open, 1);
		close(fd);
		note_reject(w);
		goto out;
	}

	refresh_ctx(w);
	c = proxy_new(w, fd, &ss);
	if (c == NULL) {
		atomic_fetch_sub(&srv->g.conns_open, 1);
		goto out;
	}
	list_add(w, c);
	metrics_add(&w->m->conns_accepted, 1);
	loop_queue(w, c);
out:
	return rc;
}

static void
accept_batch(struct worker *w)
{
	int i;

	for (i = 0; i < LOOP_ACCEPT_BATCH && w->accepting; i++) {
		if (accept_one(w) != 0) {
			break;
		}
	}
}

static void
dispatch(struct worker *w, const struct epoll_event *ev)
{
	struct pollsrc *src = ev->data.ptr;
	struct conn *c;
	uint64_t v;
	int backend;

	if (src->kind == POLLSRC_LISTEN) {
		accept_batch(w);
	} else if (src->kind == POLLSRC_NOTIFY) {
		if (read(w->notify_fd, &v, sizeof(v)) < 0) {
			/* Nothing to read is fine: the flags say it all. */
		}
	} else if (src->kind == POLLSRC_H2_BACKEND) {
		/* h2 (issue 4): one backend socket per stream. */
		loop_queue(w, h2_event(src, ev->events));
	} else {
		c = proxy_from_src(src, &backend);
		proxy_event(c, backend, ev->events);
		loop_queue(w, c);
	}
}

/* Deadlines, paused accepts and the rejection log, four times a second. */
static void
sweep(struct worker *w)
{
	struct conn *c;

	for (c = w->conns; c != NULL; c = c->next) {
		if (w->now >= c->deadline) {
			proxy_timeout(c);
			loop_queue(w, c);
		}
	}
	if (!w->accepting && w->listen_fd >= 0 &&
	    w->now >= w->accept_paused_until) {
		w->accepting =
		    watch_level(w->epfd, w->listen_fd, &w->listen_src) == 0;
	}
	log_rejects(w);
	w->next_sweep = w->now + LOOP_SWEEP_NS;
}

/* Close every connection at once (drain deadline). */
static void
abort_all(struct worker *w)
{
	struct conn *c;

	while (w->conns != NULL) {
		c = w->conns;
		proxy_abort(c, "drain_timeout");
		list_kill(w, c);
	}
	reap(w);
}

/* React to the main thread's flags. Returns 0 when the worker is done. */
static int
lifecycle(struct worker *w)
{
	struct server *srv = w->srv;
	struct conn *c;
	int go_on = 1;

	if (atomic_load(&srv->stopping)) {
		abort_all(w);
		go_on = 0;
	} else if (atomic_load(&srv->closing) && w->listen_fd >= 0) {
		/* Stop accepting; every connection ends after its exchange. */
		close(w->listen_fd);
		w->listen_fd = -1;
		w->accepting = 0;
		for (c = w->conns; c != NULL; c = c->next) {
			proxy_drain(c);
			loop_queue(w, c);
		}
	} else if (atomic_load(&srv->closing) && w->nconns == 0) {
		go_on = 0;
	}
	return go_on;
}

/*
 * Look for events without sleeping, for up to w->poll_ns. A sleeping
 * worker is woken by the thread that made its socket ready, which pays
 * for it: an inter-processor interrupt, and in a VM (every Kata pod) a
 * VM exit, costlier still in a TDX or SEV-SNP guest. Under load the
 * next event is usually microseconds away, so polling briefly saves the
 * peers that cost. Returns what epoll_wait() returned, 0 on timeout.
 */
static int
busy_poll(struct worker *w, struct epoll_event *evs, uint64_t limit)
{
	uint64_t t0;
	uint64_t spent;
	int n = 0;

	if (limit == 0) {
		goto out;
	}
	t0 = now_ns();
	do {
		n = epoll_wait(w->epfd, evs, LOOP_EVENTS, 0);
		spent = now_ns() - t0;
	} while (n == 0 && spent < limit);
	metrics_add(&w->m->busy_poll_ns, spent);
out:
	return n;
}

/*
 * Tune the poll budget by how long the sleep after it lasted, as the
 * kernel's halt polling does: an event that came soon after we gave up
 * (or did not poll) asks for a longer budget; a long quiet spell says
 * polling was wasted, so the budget halves, down to none when idle.
 */
static void
poll_adapt(struct worker *w, uint64_t slept_ns)
{
	if (w->poll_max_ns == 0) {
		w->poll_ns = 0;
	} else if (slept_ns < w->poll_max_ns) {
		w->poll_ns =
		    w->poll_ns == 0 ? LOOP_POLL_START_NS : 2 * w->poll_ns;
	} else {
		w->poll_ns /= 2;
		if (w->poll_ns < LOOP_POLL_START_NS) {
			w->poll_ns = 0;
		}
	}
	if (w->poll_ns > w->poll_max_ns) {
		w->poll_ns = w->poll_max_ns;
	}
}

/*
 * The poll budget, cut to what the oldest park has left; none unless a
 * request went to a backend lately (loop_forwarded).
 */
static uint64_t
poll_limit(const struct worker *w)
{
	uint64_t limit = w->poll_ns;
	uint64_t held;

	if (w->now - w->forwarded_at >= LOOP_DUE_NS) {
		limit = 0;
	} else if (w->parked.head != NULL && limit > 0) {
		held = now_ns() - w->parked.head->park.at;
		limit = held >= w->park_max_ns ? 0 : w->park_max_ns - held;
		limit = limit < w->poll_ns ? limit : w->poll_ns;
	}
	return limit;
}

/* The next batch of events; held heads go out before any sleep. */
static int
wait_events(struct worker *w, struct epoll_event *evs)
{
	uint64_t t0;
	uint64_t limit;
	uint64_t left;
	int n;

	if (w->runq != NULL) {
		n = epoll_wait(w->epfd, evs, LOOP_EVENTS, 0);
		goto out;
	}
	if (w->parked.head != NULL && !company_coming(w)) {
		/* No response is coming, or not soon enough, to go with. */
		release_parked(w, 1);
		if (w->runq != NULL) {
			n = 0;
			goto out;
		}
	}
	limit = poll_limit(w);
	left = company_left(w);
	n = busy_poll(w, evs, left < limit ? left : limit);
	if (n != 0) {
		goto out;
	}
	if (w->parked.head != NULL) {
		/*
		 * Nothing came. A poll cut short for the ready responses ends
		 * only their wait: heads still waiting for their body poll on
		 * (never through a sleep).
		 */
		release_parked(w, left < limit);
		if (w->runq == NULL) {
			release_parked(w, 0);
		}
		goto out;
	}
	t0 = now_ns();
	n = epoll_wait(w->epfd, evs, LOOP_EVENTS, LOOP_TICK_MS);
	poll_adapt(w, now_ns() - t0);
out:
	/* EINTR: nothing happened; the loop goes round again. */
	return n < 0 ? 0 : n;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[LOOP_EVENTS];
	int n;
	int i;

	w->now = now_ns();
	w->next_sweep = w->now + LOOP_SWEEP_NS;
	for (;;) {
		n = wait_events(w, evs);
		w->now = now_ns();
		for (i = 0; i < n; i++) {
			dispatch(w, &evs[i]);
		}
		if (loop_park_overdue(w)) {
			release_parked(w, 0);
		}
		run_queue(w);
		reap(w);
		if (w->now >= w->next_sweep) {
			sweep(w);
		}
		if (!lifecycle(w)) {
			break;
		}
	}
	return NULL;
}

static enum sp_err
worker_init(struct server *srv, struct worker *w, unsigned id)
{
	enum sp_err rc = SP_E_INTERNAL;

	w->srv = srv;
	w->id = id;
	w->m = &srv->metrics[id];
	w->listen_fd = srv->listen_fds[id];
	srv->listen_fds[id] = -1;
	w->poll_max_ns = srv->cfg->busy_poll_us * 1000;
	w->park_max_ns = srv->cfg->coalesce_us * 1000;
	w->listen_src.kind = POLLSRC_LISTEN;
	w->notify_src.kind = POLLSRC_NOTIFY;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->msg = malloc(sizeof(*w->msg));
	w->scratch = malloc(LOOP_SCRATCH);
	if (w->epfd < 0 || w->notify_fd < 0 || w->msg == NULL ||
	    w->scratch == NULL) {
		goto out;
	}
	if (watch_level(w->epfd, w->listen_fd, &w->listen_src) != 0 ||
	    watch_level(w->epfd, w->notify_fd, &w->notify_src) != 0) {
		goto out;
	}
	w->accepting = 1;
	w->ctx = server_ctx_ref(srv, &w->ctx_gen);
	rc = SP_OK;
out:
	return rc;
}

enum sp_err
loop_init(struct server *srv)
{
	unsigned i;
	enum sp_err rc = SP_E_INTERNAL;

	srv->workers = calloc(srv->nworkers, sizeof(*srv->workers));
	if (srv->workers == NULL) {
		goto out;
	}
	for (i = 0; i < srv->nworkers; i++) {
		srv->workers[i].epfd = -1;
		srv->workers[i].notify_fd = -1;
		srv->workers[i].listen_fd = -1;
	}
	for (i = 0; i < srv->nworkers; i++) {
		rc = worker_init(srv, &srv->workers[i], i);
		if (rc != SP_OK) {
			log_event(LOG_ERR, "loop.init.failed", "internal",
				  LOG_ERRNO(errno));
			goto out;
		}
	}
	rc = SP_OK;
out:
	return rc;
}

enum sp_err
loop_start(struct server *srv)
{
	struct worker *w;
	unsigned i;
	int e;
	enum sp_err rc = SP_OK;

	for (i = 0; i < srv->nworkers; i++) {
		w = &srv->workers[i];
		e = pthread_create(&w->thread, NULL, worker_main, w);
		if (e != 0) {
			log_event(LOG_ERR, "loop.start.failed", "internal",
				  LOG_ERRNO(e));
			rc = SP_E_INTERNAL;
			break;
		}
		w->started = 1;
	}
	return rc;
}

void
loop_wake(struct server *srv)
{
	uint64_t one = 1;
	unsigned i;

	for (i = 0; srv->workers != NULL && i < srv->nworkers; i++) {
		if (srv->workers[i].notify_fd >= 0 &&
		    write(srv->workers[i].notify_fd, &one, sizeof(one)) < 0) {
			/* The counter is saturated: a wake-up is pending. */
		}
	}
}

unsigned
loop_running(struct server *srv)
{
	unsigned i;
	unsigned n = 0;

	for (i = 0; srv->workers != NULL && i < srv->nworkers; i++) {
		if (srv->workers[i].started &&
		    pthread_tryjoin_np(srv->workers[i].thread, NULL) != 0) {
			n++;
		} else {
			srv->workers[i].started = 0;
		}
	}
	return n;
}

static void
worker_free(struct worker *w)
{
	struct conn *c;
	size_t k;

	if (w->started) {
		pthread_join(w->thread, NULL);
		w->started = 0;
	}
	while (w->conns != NULL) {
		c = w->conns;
		w->conns = c->next;
		proxy_free(c);
	}
	reap(w);
	if (w->listen_fd >= 0) {
		close(w->listen_fd);
	}
	if (w->notify_fd >= 0) {
		close(w->notify_fd);
	}
	if (w->epfd >= 0) {
		close(w->epfd);
	}
	SSL_CTX_free(w->ctx);
	free(w->msg);
	free(w->scratch);
	for (k = 0; k < LOOP_SPARE_CLASSES; k++) {
		while (w->spare[k].n > 0) {
			free(w->spare[k].p[--w->spare[k].n]);
		}
	}
}

void
loop_free(struct server *srv)
{
	unsigned i;

	for (i = 0; srv->workers != NULL && i < srv->nworkers; i++) {
		worker_free(&srv->workers[i]);
	}
	free(srv->workers);
	srv->workers = NULL;
}
