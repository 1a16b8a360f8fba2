/*
 * accesslog.h: one "http.access" log line and the request counters, once
 * per request, for HTTP/1.1 (proxy.c) and HTTP/2 (h2.c) alike.
 *
 * Metadata only: time (the line's ts), client address, TLS version, the
 * protocol ("http/1.1" or "h2"; "stream" is the h2 stream id), method,
 * path without query string, status, bytes each way, time to first
 * response byte and duration, the route (its configured prefix) and, with
 * mutual TLS, the client's identity ("peer": the certificate name, also
 * when refused) and the allow rule that admitted it ("peer_rule", "any"
 * without rules; "-" when refused or anonymous). Never bodies, query
 * strings, header values (Authorization, cookies) or anything the client
 * chose beyond the method and path. "reason" says why a request ended
 * early or was refused (e.g. "client_abort", "cl_and_te", "not_ready").
 * docs/sidecar.md "Logs" is the table of these fields.
 */
#ifndef SEALPOD_ACCESSLOG_H
#define SEALPOD_ACCESSLOG_H

#include <stdint.h>

struct conn;

/* Protocol names on the access line. */
#define ACCESSLOG_H1 "http/1.1"
#define ACCESSLOG_H2 "h2"

/* What one request did; the connection supplies client and identity. */
struct accesslog_req {
	const char *protocol; /* ACCESSLOG_H1 or ACCESSLOG_H2 */
	int64_t stream;	      /* h2 stream id; ignored for http/1.1 */
	const char *method;   /* "-" when none was read */
	const char *path;     /* without query string */
	const char *why;      /* reason code, or NULL */
	unsigned status;      /* 0: no response */
	long route;	      /* index in the route table, or -1 */
	uint64_t bytes_in;    /* head (as h1 text) and body from the client */
	uint64_t bytes_out;   /* response bytes to the client */
	uint64_t t_start;     /* monotonic ns: first byte of the request */
	uint64_t t_first;     /* monotonic ns: response started, or 0 */
};

/*
 * Count r (requests_total, route_requests_total, the ttfb and duration
 * histograms of c's worker) and write its access line; now is monotonic
 * ns. Byte counters are the caller's: they are added as bytes move.
 */
void accesslog_request(const struct conn *c, const struct accesslog_req *r,
		       uint64_t now);

#endif
