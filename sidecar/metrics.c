/*
 * metrics.c: Prometheus text rendering of the workers' counters.
 */
#include <inttypes.h>

#include "metrics.h"

#define M(x) atomic_load_explicit(&(x), memory_order_relaxed)

/* Sum of one counter over all workers, picked by byte offset. */
static uint64_t
sum_at(const struct metrics *per, unsigned n, size_t off)
{
	uint64_t total = 0;
	unsigned i;

	for (i = 0; i < n; i++) {
		total +=
		    M(*(const _Atomic uint64_t *)((const char *)&per[i] + off));
	}
	return total;
}

static void
family(struct strbuf *sb, const char *name, const char *type, const char *help)
{
	strbuf_appendf(sb, "# HELP sealpod_sidecar_%s %s\n", name, help);
	strbuf_appendf(sb, "# TYPE sealpod_sidecar_%s %s\n", name, type);
}

static void
sample(struct strbuf *sb, const char *name, const char *labels, uint64_t v)
{
	strbuf_appendf(sb, "sealpod_sidecar_%s%s %" PRIu64 "\n", name, labels,
		       v);
}

static void
one(struct strbuf *sb, const char *name, const char *type, const char *help,
    uint64_t v)
{
	family(sb, name, type, help);
	sample(sb, name, "", v);
}

#define OFFSET(f) offsetof(struct metrics, f)

static void
render_requests(const struct metrics *per, unsigned n, struct strbuf *sb)
{
	static const char *const classes[METRICS_CLASSES] = {
	    "{class=\"aborted\"}", "{class=\"1xx\"}", "{class=\"2xx\"}",
	    "{class=\"3xx\"}",	   "{class=\"4xx\"}", "{class=\"5xx\"}",
	};
	unsigned c;

	family(sb, "requests_total", "counter",
	       "Requests by response status class.");
	for (c = 0; c < METRICS_CLASSES; c++) {
		sample(sb, "requests_total", classes[c],
		       sum_at(per, n, OFFSET(requests) + c * sizeof(uint64_t)));
	}
}

static void
render_handshakes(const struct metrics *per, unsigned n, struct strbuf *sb)
{
	char label[64];
	unsigned f;

	family(sb, "tls_handshake_failures_total", "counter",
	       "Failed TLS handshakes by reason.");
	for (f = 0; f < TLSCTX_FAIL_COUNT; f++) {
		snprintf(label, sizeof(label), "{reason=\"%s\"}",
			 tlsctx_fail_name((enum tlsctx_fail)f));
		sample(
		    sb, "tls_handshake_failures_total", label,
		    sum_at(per, n,
			   OFFSET(handshake_failures) + f * sizeof(uint64_t)));
	}
}

void
metrics_render(const struct metrics *per, unsigned n,
	       const struct metrics_global *g, struct strbuf *sb)
{
	render_requests(per, n, sb);
	one(sb, "received_bytes_total", "counter",
	    "Request bytes received from clients (after TLS).",
	    sum_at(per, n, OFFSET(bytes_in)));
	one(sb, "sent_bytes_total", "counter",
	    "Response bytes sent to clients (before TLS).",
	    sum_at(per, n, OFFSET(bytes_out)));
	one(sb, "connections_open", "gauge", "Open client connections.",
	    M(g->conns_open));
	one(sb, "connections_accepted_total", "counter",
	    "Client connections accepted.",
	    sum_at(per, n, OFFSET(conns_accepted)));
	one(sb, "connections_rejected_total", "counter",
	    "Client connections closed at once: limits.connections reached.",
	    sum_at(per, n, OFFSET(conns_rejected)));
	render_handshakes(per, n, sb);
	one(sb, "backend_errors_total", "counter",
	    "Backend connect failures, resets and invalid responses.",
	    sum_at(per, n, OFFSET(backend_errors)));
	one(sb, "client_aborts_total", "counter",
	    "Exchanges cut short because the client went away.",
	    sum_at(per, n, OFFSET(client_aborts)));
	one(sb, "not_ready_total", "counter",
	    "Requests refused with 503 before the ready marker existed.",
	    sum_at(per, n, OFFSET(not_ready)));
	one(sb, "bad_requests_total", "counter",
	    "Requests refused by the HTTP/1 parser.",
	    sum_at(per, n, OFFSET(bad_requests)));
	family(sb, "certificate_reloads_total", "counter",
	       "Certificate reloads by result.");
	sample(sb, "certificate_reloads_total", "{result=\"ok\"}",
	       M(g->reloads_ok));
	sample(sb, "certificate_reloads_total", "{result=\"error\"}",
	       M(g->reloads_failed));
	one(sb, "ready_marker", "gauge",
	    "1 when the init container's ready marker exists.",
	    (uint64_t)M(g->marker));
	one(sb, "draining", "gauge", "1 after SIGTERM.",
	    (uint64_t)M(g->draining));
}
