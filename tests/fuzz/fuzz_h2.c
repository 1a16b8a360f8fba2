/*
 * fuzz_h2.c: the HTTP/2 server side (sidecar/h2.c) over bytes a client
 * could send: our nghttp2 callbacks, header and pseudo-header checks,
 * limits, the rapid-reset defence, request trailers and the h2 -> h1
 * request translation, driven from memory through h2_fuzz_feed().
 *
 * Oracle, beyond "no crash, no sanitizer report": every request that
 * would reach an HTTP/1.1 backend must be one our own strict parser
 * accepts: a head that h1_parse_request() takes with the framing h2.c
 * chose and no hop-by-hop field, a target whose path is in normal form,
 * and, when chunked, a last chunk and trailer section that the request
 * validator (h1_chunk_init_request) takes to its end with nothing left
 * over. abort() on any violation.
 *
 * Input: byte 0 holds options, the rest is what the client sends.
 *   bit 0      h2c backend instead of h1
 *   bit 1      tight limits (8 fields, 1 KiB heads, 5 resets per second)
 *   bit 2      the default route table instead of "/" for every method
 *   bit 3      the client preface is prepended (else it must be in the
 *              input, as in the seeds)
 *   bits 4..6  size of each read fed to the session
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h1.h"
#include "h2.h"
#include "log.h"
#include "loop.h"
#include "proxy.h"
#include "route.h"
#include "server.h"

#define FUZZ_MAX     (64 * 1024)
#define FUZZ_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok)
{
	if (!ok) {
		abort();
	}
}

static int
hop_by_hop(const char *buf, const struct h1_header *h)
{
	static const char *const names[] = {
	    "connection",	"keep-alive",	  "te", "trailer", "upgrade",
	    "proxy-connection", "http2-settings", NULL,
	};
	size_t i;
	int yes = 0;

	for (i = 0; names[i] != NULL; i++) {
		yes |= h1_span_eq(buf, h->name, names[i]);
	}
	return yes;
}

/* The normalised path is its own normal form. */
static void
check_path(const char *buf, const struct h1_msg *m)
{
	char *out = malloc(2 * (size_t)m->path.len + 2);
	const char *why = NULL;
	size_t n;

	check(out != NULL);
	n = route_normalise(buf + m->path.off, m->path.len, out,
			    2 * (size_t)m->path.len + 2, &why);
	check(n == m->path.len &&
	      memcmp(out, buf + m->path.off, m->path.len) == 0);
	free(out);
}

/* What h2.c would send an HTTP/1.1 backend for one ended stream. */
static void
check_wire(void *arg, const char *p, size_t n, int chunked)
{
	static const struct h1_limits wide = {H1_HEAD_MAX, H1_HEAD_MAX,
					      H1_HEADERS_MAX};
	struct h1_msg *m = arg;
	struct h1_chunk ck;
	struct h1_scan sc = {0};
	unsigned st = 0;
	const char *why = NULL;
	size_t used = 0;
	size_t i;
	long end;

	end = h1_scan_head(&sc, p, n, &wide, &st, &why);
	check(end > 0 && sc.start == 0);
	check(h1_parse_request(p, (size_t)end, &wide, m) == 0);
	check(m->minor == 1);
	check(chunked ? m->framing == H1_BODY_CHUNKED
		      : m->framing != H1_BODY_CHUNKED);
	for (i = 0; i < m->nheaders; i++) {
		check(!hop_by_hop(p, &m->headers[i]));
	}
	if (!h1_span_eq(p, m->target, "*")) {
		check_path(p, m);
	}
	if (!chunked) {
		check((size_t)end == n);
		return;
	}
	h1_chunk_init_request(&ck, &wide);
	check(h1_chunk_feed(&ck, p + end, n - (size_t)end, &used) ==
	      H1_CHUNK_DONE);
	check(used == n - (size_t)end);
}

static void
config_set(struct sidecar_config *cfg, struct server *srv, uint8_t opt)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->header_bytes = (opt & 2) != 0 ? 1024 : 32768;
	cfg->headers = (opt & 2) != 0 ? 8 : 100;
	cfg->request_line = (opt & 2) != 0 ? 1024 : 8192;
	cfg->body_bytes = 1u << 20;
	cfg->idle_s = 300;
	cfg->connect_s = 5;
	cfg->h2_max_streams = 100;
	cfg->h2_resets_per_s = (opt & 2) != 0 ? 5 : 200;
	cfg->backend_h2c = (opt & 1) != 0;
	if ((opt & 4) != 0) {
		route_defaults(&cfg->routes);
	} else {
		cfg->routes.n = 1;
		memcpy(cfg->routes.r[0].prefix, "/", 2);
		cfg->routes.r[0].prefix_len = 1;
		cfg->routes.r[0].methods = ROUTE_ALL;
	}

	memset(srv, 0, sizeof(*srv));
	srv->cfg = cfg;
	srv->limits.head_bytes = cfg->header_bytes;
	srv->limits.line_bytes = cfg->request_line;
	srv->limits.headers = cfg->headers;
	atomic_store(&srv->g.marker, 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t pieces[] = {1, 7, 9, 64, 333, 1024, 16384, 65536};
	static struct sidecar_config cfg;
	static struct server srv;
	static struct worker w;
	static struct conn c;
	static struct metrics *met;
	static struct h1_msg *msg;
	static struct h1_msg *seen;
	static char *scratch;
	static uint8_t *buf;
	size_t len;
	uint8_t opt;

	if (size < 1 || size - 1 > FUZZ_MAX) {
		return 0;
	}
	if (buf == NULL) {
		log_set_level(LOG_ERR);
		met = calloc(1, sizeof(*met));
		msg = malloc(sizeof(*msg));
		seen = malloc(sizeof(*seen));
		scratch = malloc(LOOP_SCRATCH);
		buf = malloc(sizeof(FUZZ_PREFACE) + FUZZ_MAX);
		check(met != NULL && msg != NULL && seen != NULL &&
		      scratch != NULL && buf != NULL);
	}
	opt = data[0];
	config_set(&cfg, &srv, opt);
	memset(&w, 0, sizeof(w));
	w.srv = &srv;
	w.m = met;
	w.msg = msg;
	w.scratch = scratch;
	w.now = 1000ull * 1000 * 1000;
	memset(&c, 0, sizeof(c));
	c.w = &w;
	c.fd = -1;
	c.be_fd = -1;
	memcpy(c.client_ip, "192.0.2.1", 10);
	c.tls_version = "TLSv1.3";

	len = 0;
	if ((opt & 8) != 0) {
		memcpy(buf, FUZZ_PREFACE, sizeof(FUZZ_PREFACE) - 1);
		len = sizeof(FUZZ_PREFACE) - 1;
	}
	memcpy(buf + len, data + 1, size - 1);
	len += size - 1;
	h2_fuzz_feed(&c, buf, len, pieces[(opt >> 4) & 7], check_wire, seen);
	return 0;
}
