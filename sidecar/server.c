/*
 * server.c: shared state, listeners, certificate generations, marker.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "server.h"
#include "tickets.h"

#define SERVER_BACKLOG 1024

enum sp_err
server_init(struct server *srv, const struct sidecar_config *cfg, SSL_CTX *ctx)
{
	unsigned i;
	enum sp_err rc = SP_E_INTERNAL;

	memset(srv, 0, sizeof(*srv));
	srv->cfg = cfg;
	srv->ctx = ctx;
	srv->health_fd = -1;
	srv->g.routes = &cfg->routes;
	pthread_mutex_init(&srv->ctx_lock, NULL);
	srv->limits.head_bytes = cfg->header_bytes;
	srv->limits.line_bytes = cfg->request_line;
	srv->limits.headers = cfg->headers;
	srv->nworkers = sidecar_config_workers(cfg);

	if (tickets_new(NULL, &srv->tickets) != SP_OK ||
	    server_ctx_prepare(srv, ctx) != SP_OK) {
		goto out;
	}
	srv->listen_fds = calloc(srv->nworkers, sizeof(*srv->listen_fds));
	srv->metrics = aligned_alloc(64, srv->nworkers * sizeof(*srv->metrics));
	if (srv->listen_fds == NULL || srv->metrics == NULL) {
		goto out;
	}
	memset(srv->metrics, 0, srv->nworkers * sizeof(*srv->metrics));
	for (i = 0; i < srv->nworkers; i++) {
		srv->listen_fds[i] = -1;
	}
	rc = SP_OK;
out:
	return rc;
}

void
server_free(struct server *srv)
{
	unsigned i;

	for (i = 0; srv->listen_fds != NULL && i < srv->nworkers; i++) {
		if (srv->listen_fds[i] >= 0) {
			close(srv->listen_fds[i]);
		}
	}
	if (srv->health_fd >= 0) {
		close(srv->health_fd);
	}
	free(srv->listen_fds);
	free(srv->metrics);
	SSL_CTX_free(srv->ctx);
	/* After the last context: no handshake can use the keys now. */
	tickets_free(srv->tickets);
	pthread_mutex_destroy(&srv->ctx_lock);
	memset(srv, 0, sizeof(*srv));
	srv->health_fd = -1;
}

/* One non-blocking listening socket on addr. Returns the fd or -1. */
static int
listener_open(const struct netaddr *addr, int reuseport)
{
	int one = 1;
	int fd;
	int rc = -1;

	fd = socket(addr->ss.ss_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		goto out;
	}
	/* Accepted sockets inherit TCP_NODELAY; proxy_new() relies on it. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
				     sizeof(one)) != 0) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
		goto out;
	}
	if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len) != 0 ||
	    listen(fd, SERVER_BACKLOG) != 0) {
		goto out;
	}

	rc = fd;
	fd = -1;
out:
	if (fd >= 0) {
		close(fd);
	}
	return rc;
}

static void
bind_failed(const char *what, const char *addr, int e)
{
	log_event(LOG_ERR, "server.bind.failed", "target",
		  LOG_STR("what", what), LOG_STR("address", addr),
		  LOG_ERRNO(e));
}

/* Port the kernel gave fd, written into addr for the next listeners. */
static void
adopt_port(int fd, struct netaddr *addr)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	memset(&ss, 0, sizeof(ss));
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
		ss.ss_family = AF_UNSPEC;
	}
	if (ss.ss_family == AF_INET && addr->ss.ss_family == AF_INET) {
		((struct sockaddr_in *)&addr->ss)->sin_port =
		    ((struct sockaddr_in *)&ss)->sin_port;
	} else if (ss.ss_family == AF_INET6 && addr->ss.ss_family == AF_INET6) {
		((struct sockaddr_in6 *)&addr->ss)->sin6_port =
		    ((struct sockaddr_in6 *)&ss)->sin6_port;
	}
}

enum sp_err
server_bind(struct server *srv)
{
	struct netaddr addr = srv->cfg->listen_addr;
	unsigned i;
	enum sp_err rc = SP_E_TARGET;

	for (i = 0; i < srv->nworkers; i++) {
		srv->listen_fds[i] = listener_open(&addr, 1);
		if (srv->listen_fds[i] < 0) {
			bind_failed("listen", srv->cfg->listen, errno);
			goto out;
		}
		if (i == 0) {
			adopt_port(srv->listen_fds[0], &addr);
			srv->port = netaddr_port((struct sockaddr *)&addr.ss);
		}
	}
	if (srv->cfg->have_health) {
		srv->health_fd = listener_open(&srv->cfg->health_addr, 0);
		if (srv->health_fd < 0) {
			bind_failed("health.listen", srv->cfg->health_listen,
				    errno);
			goto out;
		}
	}
	rc = SP_OK;
out:
	return rc;
}

SSL_CTX *
server_ctx_ref(struct server *srv, unsigned *gen)
{
	SSL_CTX *ctx;

	pthread_mutex_lock(&srv->ctx_lock);
	ctx = srv->ctx;
	SSL_CTX_up_ref(ctx);
	*gen = atomic_load(&srv->ctx_gen);
	pthread_mutex_unlock(&srv->ctx_lock);
	return ctx;
}

enum sp_err
server_ctx_prepare(struct server *srv, SSL_CTX *ctx)
{
	return tickets_attach(srv->tickets, ctx);
}

void
server_ctx_swap(struct server *srv, SSL_CTX *ctx)
{
	SSL_CTX *old;

	pthread_mutex_lock(&srv->ctx_lock);
	old = srv->ctx;
	srv->ctx = ctx;
	atomic_fetch_add(&srv->ctx_gen, 1);
	pthread_mutex_unlock(&srv->ctx_lock);
	/* Workers and live connections hold their own references. */
	SSL_CTX_free(old);
}

int
server_marker_refresh(struct server *srv)
{
	struct stat st;
	int ok = 1;

	if (srv->cfg->ready_file != NULL) {
		ok =
		    stat(srv->cfg->ready_file, &st) == 0 && S_ISREG(st.st_mode);
	}
	atomic_store_explicit(&srv->g.marker, ok, memory_order_relaxed);
	return ok;
}

int
server_marker_ready(struct server *srv)
{
	int ok = atomic_load_explicit(&srv->g.marker, memory_order_relaxed);

	if (!ok) {
		/* Not ready yet: look now rather than wait for the tick. */
		ok = server_marker_refresh(srv);
	}
	return ok;
}
