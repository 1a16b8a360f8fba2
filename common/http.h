/*
 * http.h: an HTTP client over libcurl for the key broker and artifact
 * stores.
 *
 * One struct http_client is one libcurl easy handle with its own cookie
 * engine, so a KBS session cookie set by /auth is sent on /attest and
 * resource GETs and nowhere else. TLS peers are always verified; ca_file
 * adds a CA bundle (replacing the system store when set). Redirects are
 * not followed. Not thread-safe: one client per thread.
 */
#ifndef SEALPOD_HTTP_H
#define SEALPOD_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define HTTP_ERRBUF 256

struct http_opts {
	const char *ca_file;	 /* PEM bundle, or NULL for system store */
	long connect_timeout_ms; /* default 10000 */
	long idle_timeout_s;	 /* abort when < 1 B/s for this long; 30 */
	long total_timeout_s;	 /* 0 = none (streams), default 0 */
	const char *user_agent;	 /* default "sealpod/<version>" */
	int allow_http;		 /* 0: refuse http:// URLs */
	long max_redirects;	 /* follow up to this many https://
				    redirects; 0 (default): none. A
				    custom Authorization header is never
				    sent on to another host (libcurl). */
	const int *cancel;	 /* when *cancel turns non-zero (read
				    atomically, by another thread), the
				    running transfer aborts within about
				    a second; NULL: never */
};

/*
 * A response header to keep: after each request on the client, buf
 * holds the value of the last header called name (case-insensitive) in
 * the final response, NUL-terminated and trimmed, or "" when it was
 * absent or did not fit in cap - 1 bytes. Lists end with a NULL name.
 */
struct http_hdr_capture {
	const char *name;
	char *buf;
	size_t cap;
};

/* Response header bytes http_request() accepts (all lines, redirects
 * included); libcurl itself refuses one line over 100 KB. */
#define HTTP_HEADERS_MAX (128 * 1024)

struct http_response {
	long status;
	char *body; /* NUL-terminated, malloc'd; caller frees */
	size_t len;
	char errbuf[HTTP_ERRBUF]; /* transport error text, "" when none */
	/* With SP_E_FETCH: 1 when the reply itself broke a ceiling (body
	 * over max_body, headers over HTTP_HEADERS_MAX or one header line
	 * over libcurl's limit), a peer breaking protocol that a retry
	 * will not mend; 0 for a transport failure. */
	int oversize;
};

struct http_client;

/* NULL on allocation failure. opts may be NULL for defaults. */
struct http_client *http_client_new(const struct http_opts *opts);
void http_client_free(struct http_client *c);

/*
 * Send one request and read the whole reply body, refusing bodies over
 * max_body bytes. headers is a NULL-terminated list of "Name: value"
 * lines, or NULL. body may be NULL (GET). Returns SP_OK when a reply of any
 * status arrived (check resp->status); SP_E_FETCH on transport failure,
 * timeout, or an oversized body or header block (then resp->oversize),
 * with resp->errbuf set; SP_E_USAGE for a refused URL. Free resp->body
 * with free() in all cases.
 */
SP_MUST_CHECK enum sp_err
http_request(struct http_client *c, const char *method, const char *url,
	     const char *const *headers, const void *body, size_t body_len,
	     size_t max_body, struct http_response *resp);

/*
 * Called for each piece of a streamed body, in order. Return 0 to go on,
 * non-zero to abort the transfer (http_stream then returns that value).
 */
typedef int (*http_sink_fn)(void *arg, const void *buf, size_t len);

/*
 * GET url (optionally the byte range [offset, offset+length) when length
 * is non-zero) and pass the body to sink as it arrives. Fails with
 * SP_E_NOTFOUND on 404, SP_E_FETCH on any other non-2xx status or
 * transport failure, or the sink's non-zero return value.
 */
SP_MUST_CHECK int http_stream(struct http_client *c, const char *url,
			      const char *const *headers,
			      unsigned long long offset,
			      unsigned long long length, http_sink_fn sink,
			      void *arg, char *errbuf);

/*
 * Keep the headers named in list (NULL: none) from every later response
 * on c, until changed. list and its buffers must outlive those requests.
 */
void http_set_capture(struct http_client *c,
		      const struct http_hdr_capture *list);

/*
 * The complete length from the last http_stream reply's Content-Range
 * ("bytes a-b/len"), or UINT64_MAX when it had none or "*": what a
 * source reports as the object's size after a short 206.
 */
uint64_t http_last_range_total(struct http_client *c);

/* HTTP status of the last response on c, or 0 when none arrived. */
long http_last_status(struct http_client *c);

/*
 * Async-signal-safe, from any thread: make every transfer of the
 * process, running or later, abort within about a second as if its
 * http_opts.cancel were set (a run being stopped). Stays set.
 */
void http_cancel_all(void);

/* Call once at process start, before threads. Returns SP_OK or INTERNAL. */
SP_MUST_CHECK enum sp_err http_global_init(void);

#endif
