/*
 * metrics.c: Prometheus text rendering of the workers' counters.
 */
#include <inttypes.h>
#include <string.h>

#include "metrics.h"

#define M(x) atomic_load_explicit(&(x), memory_order_relaxed)

/* Upper bounds of the latency buckets, in microseconds and as labels. */
static const uint64_t bucket_us[METRICS_BUCKETS] = {
    5000,     10000,	 25000,	    50000,     100000,	 250000,
    500000,   1000000,	 2500000,   5000000,   10000000, 30000000,
    60000000, 120000000, 300000000, 600000000,
};
static const char *const bucket_le[METRICS_BUCKETS] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
    "2.5",   "5",    "10",    "30",   "60",  "120",  "300", "600",
};

static const char *const backend_kinds[METRICS_BE_COUNT] = {
    "connect", "connect_timeout", "timeout", "closed",
    "io",      "bad_response",	  "other",
};

void
metrics_observe(struct metrics_hist *h, uint64_t ns)
{
	uint64_t us = ns / 1000;
	unsigned i;

	for (i = 0; i < METRICS_BUCKETS; i++) {
		if (us <= bucket_us[i]) {
			metrics_add(&h->bucket[i], 1);
			break;
		}
	}
	metrics_add(&h->count, 1);
	metrics_add(&h->sum_us, us);
}

enum metrics_backend
metrics_backend_kind(const char *why)
{
	static const struct {
		const char *why;
		enum metrics_backend kind;
	} map[] = {
	    {"backend_socket", METRICS_BE_CONNECT},
	    {"backend_connect", METRICS_BE_CONNECT},
	    {"connect_timeout", METRICS_BE_CONNECT_TIMEOUT},
	    {"idle_timeout", METRICS_BE_TIMEOUT},
	    {"backend_closed", METRICS_BE_CLOSED},
	    {"backend_broken", METRICS_BE_CLOSED}, /* h2: mid-response */
	    {"backend_read", METRICS_BE_IO},
	    {"backend_write", METRICS_BE_IO},
	    {"no_memory", METRICS_BE_OTHER},
	};
	enum metrics_backend kind = METRICS_BE_BAD_RESPONSE;
	size_t i;

	for (i = 0; why != NULL && i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(why, map[i].why) == 0) {
			kind = map[i].kind;
		}
	}
	return kind;
}

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

static void
render_backend(const struct metrics *per, unsigned n, struct strbuf *sb)
{
	char label[64];
	unsigned k;

	family(sb, "backend_errors_by_kind_total", "counter",
	       "Backend errors by kind.");
	for (k = 0; k < METRICS_BE_COUNT; k++) {
		snprintf(label, sizeof(label), "{kind=\"%s\"}",
			 backend_kinds[k]);
		sample(sb, "backend_errors_by_kind_total", label,
		       sum_at(per, n,
			      OFFSET(backend_kind) + k * sizeof(uint64_t)));
	}
}

/* A label value with \\, " and newline escaped (Prometheus text). */
static void
label_value(struct strbuf *sb, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"') {
			strbuf_appendf(sb, "\\%c", *v);
		} else if (*v == '\n') {
			strbuf_appends(sb, "\\n");
		} else {
			strbuf_append(sb, v, 1);
		}
	}
}

static void
render_routes(const struct metrics *per, unsigned n,
	      const struct route_table *t, struct strbuf *sb)
{
	static const char *const classes[METRICS_CLASSES] = {
	    "aborted", "1xx", "2xx", "3xx", "4xx", "5xx",
	};
	size_t nroutes = t != NULL ? t->n : 0;
	size_t r;
	size_t slot;
	unsigned c;
	uint64_t v;

	family(sb, "route_requests_total", "counter",
	       "Requests by route (configured prefix, or none) and status "
	       "class.");
	for (r = 0; r <= nroutes; r++) {
		slot = r < nroutes ? r : METRICS_ROUTE_NONE;
		for (c = 0; c < METRICS_CLASSES; c++) {
			v = sum_at(per, n,
				   OFFSET(route_requests) +
				       (slot * METRICS_CLASSES + c) *
					   sizeof(uint64_t));
			if (v == 0) {
				continue;
			}
			strbuf_appends(sb,
				       "sealpod_sidecar_route_requests_total"
				       "{route=\"");
			label_value(sb, r < nroutes ? t->r[r].prefix : "none");
			strbuf_appendf(sb, "\",class=\"%s\"} %" PRIu64 "\n",
				       classes[c], v);
		}
	}
}

static void
render_hist(const struct metrics *per, unsigned n, size_t off, const char *name,
	    const char *help, struct strbuf *sb)
{
	uint64_t cum = 0;
	unsigned b;

	family(sb, name, "histogram", help);
	for (b = 0; b < METRICS_BUCKETS; b++) {
		cum += sum_at(per, n,
			      off + offsetof(struct metrics_hist, bucket) +
				  b * sizeof(uint64_t));
		strbuf_appendf(
		    sb, "sealpod_sidecar_%s_bucket{le=\"%s\"} %" PRIu64 "\n",
		    name, bucket_le[b], cum);
	}
	cum = sum_at(per, n, off + offsetof(struct metrics_hist, count));
	strbuf_appendf(sb,
		       "sealpod_sidecar_%s_bucket{le=\"+Inf\"} %" PRIu64 "\n",
		       name, cum);
	strbuf_appendf(sb, "sealpod_sidecar_%s_count %" PRIu64 "\n", name, cum);
	cum = sum_at(per, n, off + offsetof(struct metrics_hist, sum_us));
	strbuf_appendf(sb, "sealpod_sidecar_%s_sum %" PRIu64 ".%06" PRIu64 "\n",
		       name, cum / 1000000, cum % 1000000);
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
	render_backend(per, n, sb);
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
	one(sb, "websocket_tunnels_total", "counter",
	    "WebSocket upgrades tunnelled (101 from the backend).",
	    sum_at(per, n, OFFSET(tunnels)));
	family(sb, "busy_poll_seconds_total", "counter",
	       "Time workers spent polling for events instead of sleeping.");
	strbuf_appendf(sb, "sealpod_sidecar_busy_poll_seconds_total %.6f\n",
		       (double)sum_at(per, n, OFFSET(busy_poll_ns)) / 1e9);
	render_routes(per, n, g->routes, sb);
	render_hist(per, n, OFFSET(ttfb), "ttfb_seconds",
		    "Time from the first request byte to the first response "
		    "byte.",
		    sb);
	render_hist(per, n, OFFSET(duration), "duration_seconds",
		    "Time from the first request byte to the end of the "
		    "exchange.",
		    sb);
}
