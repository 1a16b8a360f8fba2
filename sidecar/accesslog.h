/*
 * accesslog.h: one "http.access" log line per request.
 *
 * Metadata only: time (the line's ts), client address, TLS version,
 * method, path without query string, status, bytes each way, time to
 * first response byte and duration, the route (its configured prefix)
 * and, with mutual TLS, the client's identity ("peer": the certificate
 * name that matched) and the allow rule that admitted it ("peer_rule",
 * "any" without rules; "-" when refused or anonymous). Never bodies, query
 * strings, header values (Authorization, cookies) or anything the client chose
 * beyond the method and path. "reason" says why a request ended early or was
 * refused (e.g. "client_abort", "cl_and_te", "not_ready").
 */
#ifndef SEALPOD_ACCESSLOG_H
#define SEALPOD_ACCESSLOG_H

#include <stdint.h>

struct conn;

/* Write the line for c's current request; now is monotonic ns. */
void accesslog_write(const struct conn *c, uint64_t now);

#endif
