/*
 * accesslog.c: the access-log line (fields documented in accesslog.h)
 * and the per-request counters, shared by HTTP/1.1 and HTTP/2 so that
 * both protocols are equally visible.
 */
#include <string.h>

#include "accesslog.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "server.h"

#define MS_NS 1000000ull
/* Fields on one access line, with room for the terminator. */
#define ACCESSLOG_FIELDS_MAX 20

static void
count(const struct conn *c, const struct accesslog_req *r, uint64_t now)
{
	const struct route_table *rt = &c->w->srv->cfg->routes;
	struct metrics *m = c->w->m;
	unsigned cls = r->status / 100;
	size_t slot = METRICS_ROUTE_NONE;

	if (r->route >= 0 && (size_t)r->route < rt->n) {
		slot = (size_t)r->route;
	}
	if (cls >= METRICS_CLASSES) {
		cls = 0;
	}
	metrics_add(&m->requests[cls], 1);
	metrics_add(&m->route_requests[slot][cls], 1);
	if (r->t_first != 0) {
		metrics_observe(&m->ttfb, r->t_first - r->t_start);
	}
	metrics_observe(&m->duration, now - r->t_start);
}

void
accesslog_request(const struct conn *c, const struct accesslog_req *r,
		  uint64_t now)
{
	const struct route_table *rt = &c->w->srv->cfg->routes;
	struct log_field f[ACCESSLOG_FIELDS_MAX];
	const char *route = "-";
	int64_t ttfb = -1;
	size_t n = 0;

	count(c, r, now);

	if (r->route >= 0 && (size_t)r->route < rt->n) {
		route = rt->r[r->route].prefix;
	}
	if (r->t_first != 0) {
		ttfb = (int64_t)((r->t_first - r->t_start) / MS_NS);
	}
	f[n++] = LOG_STR("client", c->client_ip);
	f[n++] = LOG_STR("tls", c->tls_version != NULL ? c->tls_version : "-");
	f[n++] = LOG_STR("protocol", r->protocol);
	if (strcmp(r->protocol, ACCESSLOG_H2) == 0) {
		f[n++] = LOG_I64("stream", r->stream);
	}
	f[n++] = LOG_STR("method", r->method[0] != '\0' ? r->method : "-");
	f[n++] = LOG_STR("path", r->path);
	f[n++] = LOG_U64("status", r->status);
	f[n++] = LOG_U64("bytes_in", r->bytes_in);
	f[n++] = LOG_U64("bytes_out", r->bytes_out);
	f[n++] = LOG_I64("ttfb_ms", ttfb);
	f[n++] = LOG_U64("duration_ms", (now - r->t_start) / MS_NS);
	f[n++] = LOG_STR("route", route);
	f[n++] = LOG_STR("peer", c->peer_id[0] != '\0' ? c->peer_id : "-");
	f[n++] =
	    LOG_STR("peer_rule", c->peer_rule != NULL ? c->peer_rule : "-");
	f[n] = (struct log_field){.type = LOG_F_END};
	log_emit(LOG_INFO, "http.access", r->why, f);
}
