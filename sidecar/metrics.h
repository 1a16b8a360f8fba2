/*
 * metrics.h: counters for /metrics (Prometheus text format 0.0.4).
 *
 * Each worker owns one struct metrics and is its only writer, so an
 * increment is a relaxed load and store with no locked instruction; the
 * health port sums all workers when scraped. Values are monotonic except
 * where named a gauge.
 */
#ifndef SEALPOD_METRICS_H
#define SEALPOD_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "json.h"
#include "route.h"
#include "tlsctx.h"

/* Status classes: [0] no response (aborted), [1..5] 1xx..5xx. */
#define METRICS_CLASSES 6
/* Latency histogram buckets (upper bounds in metrics.c), +Inf implied. */
#define METRICS_BUCKETS 16
/* Route slots: one per configured route, then "none" (refused first). */
#define METRICS_ROUTE_NONE ROUTE_MAX

/* Kinds of backend error (metrics_backend_kind() maps reason codes). */
enum metrics_backend {
	METRICS_BE_CONNECT,	    /* refused or failed connect */
	METRICS_BE_CONNECT_TIMEOUT, /* connect did not finish */
	METRICS_BE_TIMEOUT,	    /* silent for timeouts.idle_s */
	METRICS_BE_CLOSED,	    /* closed or reset mid-exchange */
	METRICS_BE_IO,		    /* read or write error */
	METRICS_BE_BAD_RESPONSE,    /* invalid head or framing */
	METRICS_BE_OTHER,
	METRICS_BE_COUNT,
};

struct metrics_hist {
	_Atomic uint64_t bucket[METRICS_BUCKETS]; /* not cumulative */
	_Atomic uint64_t count;
	_Atomic uint64_t sum_us;
};

struct metrics {
	_Atomic uint64_t requests[METRICS_CLASSES];
	_Atomic uint64_t bytes_in;  /* request bytes from clients */
	_Atomic uint64_t bytes_out; /* response bytes to clients */
	_Atomic uint64_t conns_accepted;
	_Atomic uint64_t conns_rejected; /* over limits.connections */
	_Atomic uint64_t handshake_failures[TLSCTX_FAIL_COUNT];
	_Atomic uint64_t backend_errors; /* connect, reset, bad response */
	_Atomic uint64_t client_aborts;	 /* client left mid-exchange */
	_Atomic uint64_t not_ready;	 /* 503s before the ready marker */
	_Atomic uint64_t bad_requests;	 /* refused by the HTTP/1 parser */
	_Atomic uint64_t backend_kind[METRICS_BE_COUNT];
	_Atomic uint64_t route_requests[ROUTE_MAX + 1][METRICS_CLASSES];
	_Atomic uint64_t tunnels;      /* WebSocket upgrades completed */
	_Atomic uint64_t busy_poll_ns; /* spent polling before a sleep */
	struct metrics_hist ttfb;
	struct metrics_hist duration;
} __attribute__((aligned(64)));

/* Process-wide values the main thread keeps. */
struct metrics_global {
	_Atomic uint64_t conns_open; /* gauge, TLS connections */
	_Atomic uint64_t reloads_ok;
	_Atomic uint64_t reloads_failed;
	_Atomic int marker;		  /* gauge: the ready marker exists */
	_Atomic int draining;		  /* gauge */
	const struct route_table *routes; /* labels; set before serving */
};

/* Add n to a counter that only the calling thread writes. */
static inline void
metrics_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c,
			      atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* Count one observation of ns nanoseconds into h (its only writer). */
void metrics_observe(struct metrics_hist *h, uint64_t ns);

/* The kind of a backend failure reason code such as "backend_connect". */
enum metrics_backend metrics_backend_kind(const char *why);

/* Ceiling on the rendered /metrics text. */
#define METRICS_TEXT_MAX (256 * 1024)

/*
 * Render the sum of per[0..n) and g into sb as Prometheus text.
 */
void metrics_render(const struct metrics *per, unsigned n,
		    const struct metrics_global *g, struct strbuf *sb);

#endif
