/*
 * health.c: /healthz, /readyz and /metrics on the plain health port.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "health.h"
#include "json.h"
#include "log.h"
#include "server.h"
#include "tlsctx.h"

enum health_role { HR_LISTEN, HR_CLIENT, HR_PROBE };
/* HS_DONE: finished, to be killed; HS_DEAD: closed, waiting for reap. */
enum health_state { HS_READ, HS_PROBE, HS_WRITE, HS_DONE, HS_DEAD };

struct health_conn {
	struct pollsrc src;
	struct pollsrc probe_src;
	struct health_conn *prev, *next;
	int fd;
	int probe_fd;
	enum health_state state;
	uint64_t deadline;
	uint64_t probe_deadline;
	char in[HEALTH_REQUEST_MAX];
	size_t in_len;
	struct h1_scan scan;
	struct strbuf out;
	size_t out_sent;
};

static const struct h1_limits health_limits = {
    HEALTH_REQUEST_MAX,
    1024,
    32,
};

static int
set_interest(struct health *h, int fd, struct pollsrc *src, uint32_t ev, int op)
{
	struct epoll_event e = {0};

	e.events = ev;
	e.data.ptr = src;
	return epoll_ctl(h->epfd, op, fd, &e);
}

/*
 * Close hc and take it off the live list at once (its slot is free for
 * the next accept), but keep its memory until health_reap(): an event
 * for it may still wait further on in the batch being dispatched, and
 * that event must find a dead connection, not freed memory.
 */
static void
conn_kill(struct health *h, struct health_conn *hc)
{
	if (hc->prev != NULL) {
		hc->prev->next = hc->next;
	} else {
		h->conns = hc->next;
	}
	if (hc->next != NULL) {
		hc->next->prev = hc->prev;
	}
	h->nconns--;

	/* close() drops an epoll entry only if no other fd shares the file. */
	if (hc->probe_fd >= 0) {
		(void)epoll_ctl(h->epfd, EPOLL_CTL_DEL, hc->probe_fd, NULL);
		close(hc->probe_fd);
		hc->probe_fd = -1;
	}
	(void)epoll_ctl(h->epfd, EPOLL_CTL_DEL, hc->fd, NULL);
	close(hc->fd);
	hc->fd = -1;
	hc->state = HS_DEAD;

	hc->prev = NULL;
	hc->next = h->dead;
	h->dead = hc;
}

static void
respond(struct health *h, struct health_conn *hc, unsigned status,
	const char *ctype, const char *body, size_t blen)
{
	const char *text = status == 200   ? "OK"
			   : status == 404 ? "Not Found"
			   : status == 503 ? "Service Unavailable"
					   : "Bad Request";

	strbuf_init(&hc->out, METRICS_TEXT_MAX + 1024);
	strbuf_appendf(
	    &hc->out,
	    "HTTP/1.1 %u %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	    "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
	    status, text, ctype, blen);
	strbuf_append(&hc->out, body, blen);
	hc->out_sent = 0;
	hc->state = HS_WRITE;
	set_interest(h, hc->fd, &hc->src, EPOLLOUT, EPOLL_CTL_MOD);
}

static void
respond_text(struct health *h, struct health_conn *hc, unsigned status,
	     const char *body)
{
	respond(h, hc, status, "text/plain; charset=utf-8", body, strlen(body));
}

static void
respond_metrics(struct health *h, struct health_conn *hc)
{
	struct server *srv = h->srv;
	struct strbuf sb;

	strbuf_init(&sb, METRICS_TEXT_MAX);
	metrics_render(srv->metrics, srv->nworkers, &srv->g, &sb);
	if (strbuf_ok(&sb)) {
		respond(h, hc, 200, "text/plain; version=0.0.4", sb.buf,
			sb.len);
	} else {
		respond_text(h, hc, 503, "metrics unavailable\n");
	}
	strbuf_free(&sb);
}

/* Start the backend probe of /readyz: a non-blocking TCP connect. */
static void
probe_start(struct health *h, struct health_conn *hc, uint64_t now)
{
	const struct netaddr *a = &h->srv->cfg->backend_addr;
	int done;
	int fd;

	hc->state = HS_PROBE;
	hc->probe_deadline = now + HEALTH_PROBE_NS;
	set_interest(h, hc->fd, &hc->src, 0, EPOLL_CTL_MOD);
	fd = netaddr_connect(a, &done);
	if (fd < 0) {
		hc->probe_deadline = now;
	} else if (set_interest(h, fd, &hc->probe_src, EPOLLOUT,
				EPOLL_CTL_ADD) != 0) {
		close(fd);
		hc->probe_deadline = now;
	} else {
		hc->probe_fd = fd;
	}
}

static int
cert_ok(struct server *srv)
{
	int ok;

	pthread_mutex_lock(&srv->ctx_lock);
	ok = srv->ctx != NULL && tlsctx_cert_current(srv->ctx);
	pthread_mutex_unlock(&srv->ctx_lock);
	return ok;
}

static void
check(struct strbuf *sb, const char *name, int ok, const char *bad, int *first)
{
	strbuf_appendf(sb, "%s\"%s\":\"%s\"", *first ? "" : ",", name,
		       ok ? "ok" : bad);
	*first = 0;
}

static void
failed(struct strbuf *sb, const char *name, int ok, int *first)
{
	if (!ok) {
		strbuf_appendf(sb, "%s\"%s\"", *first ? "" : ",", name);
		*first = 0;
	}
}

/* The probe ended (backend_ok says how): answer /readyz. */
static void
readyz_answer(struct health *h, struct health_conn *hc, int backend_ok)
{
	struct server *srv = h->srv;
	int cert = cert_ok(srv);
	int marker = server_marker_refresh(srv);
	int serving = !atomic_load(&srv->draining);
	int ready = cert && marker && serving && backend_ok;
	struct strbuf sb;
	int first = 1;

	strbuf_init(&sb, 1024);
	strbuf_appendf(&sb, "{\"ready\":%s,\"checks\":{",
		       ready ? "true" : "false");
	check(&sb, "certificate", cert, "not_current", &first);
	if (srv->cfg->ready_file == NULL) {
		/* No marker configured: say so rather than "ok". */
		strbuf_appends(&sb, ",\"ready_file\":\"disabled\"");
	} else {
		check(&sb, "ready_file", marker, "missing", &first);
	}
	check(&sb, "backend", backend_ok, "unreachable", &first);
	check(&sb, "serving", serving, "draining", &first);
	strbuf_appends(&sb, "},\"failed\":[");
	first = 1;
	failed(&sb, "certificate", cert, &first);
	failed(&sb, "ready_file", marker, &first);
	failed(&sb, "backend", backend_ok, &first);
	failed(&sb, "serving", serving, &first);
	strbuf_appends(&sb, "]}\n");
	if (hc->probe_fd >= 0) {
		close(hc->probe_fd);
		hc->probe_fd = -1;
	}
	respond(h, hc, ready ? 200 : 503, "application/json", sb.buf,
		strbuf_ok(&sb) ? sb.len : 0);
	strbuf_free(&sb);
}

/* A backend check ended: remember how, then answer its /readyz. */
static void
probe_ended(struct health *h, struct health_conn *hc, int ok, uint64_t now)
{
	h->backend_ok = ok;
	h->backend_at = now;
	readyz_answer(h, hc, ok);
}

/*
 * /readyz: check the backend, unless HEALTH_CHECKS_MAX checks already
 * run; then answer from the last check that ended, if recent (a backend
 * that has not answered any check lately counts as unreachable).
 */
static void
readyz_start(struct health *h, struct health_conn *hc, uint64_t now)
{
	const struct health_conn *c;
	unsigned running = 0;

	for (c = h->conns; c != NULL; c = c->next) {
		running += c->state == HS_PROBE;
	}
	if (running < HEALTH_CHECKS_MAX) {
		probe_start(h, hc, now);
	} else {
		readyz_answer(h, hc,
			      h->backend_ok && h->backend_at != 0 &&
				  now - h->backend_at < HEALTH_PROBE_NS);
	}
}

static void
route(struct health *h, struct health_conn *hc, size_t end, uint64_t now)
{
	struct h1_msg *m = h->msg;
	const char *buf = hc->in + hc->scan.start;

	/* A whole request came: the answer gets the longer deadline. */
	hc->deadline = now + HEALTH_TIMEOUT_NS;
	if (h1_parse_request(buf, end - hc->scan.start, &health_limits, m) !=
		0 ||
	    !h1_span_eq(buf, m->method, "GET")) {
		respond_text(h, hc, 400, "bad request\n");
	} else if (h1_span_eq(buf, m->path, "/healthz")) {
		respond_text(h, hc, 200, "ok\n");
	} else if (h1_span_eq(buf, m->path, "/readyz")) {
		readyz_start(h, hc, now);
	} else if (h1_span_eq(buf, m->path, "/metrics")) {
		respond_metrics(h, hc);
	} else {
		respond_text(h, hc, 404, "not found\n");
	}
}

static void
client_read(struct health *h, struct health_conn *hc, uint64_t now)
{
	unsigned status = 400;
	const char *why = NULL;
	ssize_t n;
	long end;

	n = recv(hc->fd, hc->in + hc->in_len, sizeof(hc->in) - hc->in_len, 0);
	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			hc->state = HS_DONE;
		}
		goto out;
	}
	hc->in_len += (size_t)n;
	end = h1_scan_head(&hc->scan, hc->in, hc->in_len, &health_limits,
			   &status, &why);
	if (end > 0) {
		route(h, hc, (size_t)end, now);
	} else if (end < 0 || hc->in_len == sizeof(hc->in)) {
		respond_text(h, hc, 400, "bad request\n");
	}
out:
	return;
}

static void
client_write(struct health_conn *hc)
{
	ssize_t n;

	n = send(hc->fd, hc->out.buf + hc->out_sent, hc->out.len - hc->out_sent,
		 MSG_NOSIGNAL);
	if (n > 0) {
		hc->out_sent += (size_t)n;
	}
	if ((n < 0 && errno != EAGAIN && errno != EINTR) ||
	    hc->out_sent == hc->out.len) {
		hc->state = HS_DONE;
	}
}

/*
 * All slots taken: close the oldest connection that has no complete
 * request yet, else the oldest one still being answered (a slow reader);
 * a running /readyz is kept, it ends within HEALTH_PROBE_NS. The list is
 * newest first, so the last match is the oldest.
 */
static void
evict_oldest(struct health *h)
{
	struct health_conn *hc;
	struct health_conn *reading = NULL;
	struct health_conn *writing = NULL;

	for (hc = h->conns; hc != NULL; hc = hc->next) {
		if (hc->state == HS_READ) {
			reading = hc;
		} else if (hc->state == HS_WRITE) {
			writing = hc;
		}
	}
	hc = reading != NULL ? reading : writing;
	if (hc != NULL) {
		log_event(LOG_DEBUG, "health.conn.evicted", "health_full",
			  LOG_BOOL("had_request", hc == writing));
		conn_kill(h, hc);
	}
}

static void
accept_client(struct health *h, uint64_t now)
{
	struct health_conn *hc = NULL;
	int fd;

	fd = accept4(h->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		goto out;
	}
	if (h->nconns >= HEALTH_CONNS_MAX) {
		evict_oldest(h);
	}
	if (h->nconns < HEALTH_CONNS_MAX) {
		hc = calloc(1, sizeof(*hc));
	}
	if (hc == NULL) {
		goto out;
	}
	hc->fd = fd;
	hc->probe_fd = -1;
	hc->src.kind = POLLSRC_HEALTH;
	hc->src.role = HR_CLIENT;
	hc->probe_src.kind = POLLSRC_HEALTH;
	hc->probe_src.role = HR_PROBE;
	hc->deadline = now + HEALTH_HEADER_NS;
	if (set_interest(h, fd, &hc->src, EPOLLIN, EPOLL_CTL_ADD) != 0) {
		goto out;
	}
	hc->next = h->conns;
	if (h->conns != NULL) {
		h->conns->prev = hc;
	}
	h->conns = hc;
	h->nconns++;
	fd = -1;
	hc = NULL;
out:
	free(hc);
	if (fd >= 0) {
		close(fd);
	}
}

/* The connection whose src (client or probe side) an event names. */
static struct health_conn *
conn_of(struct pollsrc *src)
{
	size_t off = src->role == HR_PROBE
			 ? offsetof(struct health_conn, probe_src)
			 : offsetof(struct health_conn, src);

	return (struct health_conn *)((char *)src - off);
}

/*
 * An event on the client socket. While the backend check runs we ask for
 * no events, yet epoll reports a reset or hang-up anyway, on every wait
 * until the check ends; nobody is left to answer, so end it now.
 */
static void
client_event(struct health *h, struct health_conn *hc, uint32_t events,
	     uint64_t now)
{
	if (hc->state == HS_READ) {
		client_read(h, hc, now);
	} else if (hc->state == HS_WRITE) {
		client_write(hc);
	} else if (hc->state == HS_PROBE &&
		   (events & (EPOLLHUP | EPOLLERR)) != 0) {
		hc->state = HS_DONE;
	}
}

void
health_event(struct health *h, struct pollsrc *src, uint32_t events,
	     uint64_t now)
{
	struct health_conn *hc = NULL;

	if (src->role == HR_LISTEN) {
		accept_client(h, now);
		goto out;
	}

	/* Killed earlier in this batch (evicted, expired): stale event. */
	hc = conn_of(src);
	if (hc->state == HS_DEAD) {
		goto out;
	}

	/* The sweep may have answered this probe already in this batch. */
	if (src->role == HR_PROBE) {
		if (hc->state == HS_PROBE) {
			probe_ended(h, hc,
				    netaddr_connect_result(hc->probe_fd) == 0,
				    now);
		}
	} else {
		client_event(h, hc, events, now);
	}

	if (hc->state == HS_DONE) {
		conn_kill(h, hc);
	}
out:
	return;
}

void
health_sweep(struct health *h, uint64_t now)
{
	struct health_conn *hc;
	struct health_conn *next;

	for (hc = h->conns; hc != NULL; hc = next) {
		next = hc->next;
		if (hc->state == HS_PROBE && now >= hc->probe_deadline) {
			probe_ended(h, hc, 0, now);
		} else if (now >= hc->deadline) {
			conn_kill(h, hc);
		}
	}
}

void
health_reap(struct health *h)
{
	struct health_conn *hc;

	while (h->dead != NULL) {
		hc = h->dead;
		h->dead = hc->next;
		strbuf_free(&hc->out);
		free(hc);
	}
}

enum sp_err
health_init(struct health *h, struct server *srv, int epfd)
{
	enum sp_err rc = SP_E_INTERNAL;

	memset(h, 0, sizeof(*h));
	h->srv = srv;
	h->epfd = epfd;
	h->listen_fd = srv->health_fd;
	h->listen_src.kind = POLLSRC_HEALTH;
	h->listen_src.role = HR_LISTEN;
	h->msg = malloc(sizeof(*h->msg));
	if (h->msg == NULL) {
		goto out;
	}
	if (h->listen_fd >= 0 && set_interest(h, h->listen_fd, &h->listen_src,
					      EPOLLIN, EPOLL_CTL_ADD) != 0) {
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

void
health_free(struct health *h)
{
	while (h->conns != NULL) {
		conn_kill(h, h->conns);
	}
	health_reap(h);
	free(h->msg);
	h->msg = NULL;
}
