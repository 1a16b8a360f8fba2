/*
 * accesslog.c: the access-log line (fields documented in accesslog.h).
 */
#include "accesslog.h"
#include "log.h"
#include "proxy.h"
#include "server.h"

#define MS_NS 1000000ull

void
accesslog_write(const struct conn *c, uint64_t now)
{
	const struct route_table *rt = &c->w->srv->cfg->routes;
	const char *route = "-";
	int64_t ttfb = -1;

	if (c->route >= 0 && (size_t)c->route < rt->n) {
		route = rt->r[c->route].prefix;
	}
	if (c->t_first != 0) {
		ttfb = (int64_t)((c->t_first - c->t_start) / MS_NS);
	}
	log_event(
	    LOG_INFO, "http.access", c->why, LOG_STR("client", c->client_ip),
	    LOG_STR("tls", c->tls_version != NULL ? c->tls_version : "-"),
	    LOG_STR("method", c->method), LOG_STR("path", c->path),
	    LOG_U64("status", c->status), LOG_U64("bytes_in", c->bytes_in),
	    LOG_U64("bytes_out", c->bytes_out), LOG_I64("ttfb_ms", ttfb),
	    LOG_U64("duration_ms", (now - c->t_start) / MS_NS),
	    LOG_STR("route", route),
	    LOG_STR("peer", c->peer_id[0] != '\0' ? c->peer_id : "-"),
	    LOG_STR("peer_rule", c->peer_rule != NULL ? c->peer_rule : "-"));
}
