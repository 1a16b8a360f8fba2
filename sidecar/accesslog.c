/*
 * accesslog.c: the access-log line (fields documented in accesslog.h).
 */
#include "accesslog.h"
#include "log.h"
#include "proxy.h"

#define MS_NS 1000000ull

void
accesslog_write(const struct conn *c, uint64_t now)
{
	int64_t ttfb = -1;

	if (c->t_first != 0) {
		ttfb = (int64_t)((c->t_first - c->t_start) / MS_NS);
	}
	log_event(
	    LOG_INFO, "http.access", c->why, LOG_STR("client", c->client_ip),
	    LOG_STR("tls", c->tls_version != NULL ? c->tls_version : "-"),
	    LOG_STR("method", c->method), LOG_STR("path", c->path),
	    LOG_U64("status", c->status), LOG_U64("bytes_in", c->bytes_in),
	    LOG_U64("bytes_out", c->bytes_out), LOG_I64("ttfb_ms", ttfb),
	    LOG_U64("duration_ms", (now - c->t_start) / MS_NS));
}
