/*
 * http.c: the HTTP client over libcurl.
 *
 * Every request re-states the per-request options, so nothing from one
 * request (a method, a body, a range) leaks into the next; what persists
 * on the handle is the connection, the TLS settings and the cookie jar.
 * This module does not log: URLs may carry names the caller must not log,
 * so the caller logs with resp->errbuf or errbuf.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "http.h"
#include "json.h"
#include "util.h"

#define HTTP_CONNECT_TIMEOUT_MS 10000
#define HTTP_IDLE_TIMEOUT_S	30
#define HTTP_UA_MAX		128
#define HTTP_RANGE_MAX		64

struct http_client {
	CURL *h;
	char *ca_file;
	int allow_http;
	char ua[HTTP_UA_MAX];
	char cerr[CURL_ERROR_SIZE];
	uint64_t idle_ns;      /* no byte either way for this long: abort */
	uint64_t last_move_ns; /* when the byte counts last changed */
	curl_off_t last_bytes; /* downloaded + uploaded at that time */
	int idled;	       /* the last transfer hit idle_ns */
	const int *cancel;     /* http_opts.cancel */
	int cancelled;	       /* the last transfer saw *cancel set */
	size_t hdr_bytes;      /* response header bytes of this request */
	int hdr_over;	       /* they passed HTTP_HEADERS_MAX */
	const struct http_hdr_capture *capture; /* headers to keep */
	uint64_t range_total; /* last Content-Range's complete length */
};

/* What a streamed transfer has learnt so far. */
struct http_stream_ctx {
	struct http_client *c;
	CURL *h;
	http_sink_fn sink;
	void *arg;
	int ranged;
	unsigned long long offset;
	unsigned long long length;
	unsigned long long delivered;
	long status;
	int range_start_ok;
	int sink_rc;
	const char *why; /* our reason to abort, or NULL */
};

enum sp_err
http_global_init(void)
{
	const curl_version_info_data *vi;
	enum sp_err rc = SP_E_INTERNAL;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		goto out;
	}
	vi = curl_version_info(CURLVERSION_NOW);
	if (vi == NULL || (vi->features & CURL_VERSION_SSL) == 0 ||
	    vi->version_num < 0x075500) {
		/* We need TLS and CURLOPT_PROTOCOLS_STR (7.85.0). */
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

static void
http_copy_err(char *dst, const char *msg)
{
	if (dst != NULL) {
		snprintf(dst, HTTP_ERRBUF, "%s", msg);
	}
}

/* http_cancel_all(): 1 once the whole process is stopping. */
static int http_all_cancelled;

void
http_cancel_all(void)
{
	__atomic_store_n(&http_all_cancelled, 1, __ATOMIC_RELEASE);
}

/* 1 when this client's transfer must stop now. */
static int
http_cancel_due(const struct http_client *c)
{
	return __atomic_load_n(&http_all_cancelled, __ATOMIC_ACQUIRE) ||
	       (c->cancel != NULL &&
		__atomic_load_n(c->cancel, __ATOMIC_ACQUIRE));
}

/*
 * Idle watchdog. The low-speed limit averages over a window, so a peer
 * that sends a burst and then stalls would live on for a while; this
 * aborts once no byte has moved for idle_ns. libcurl calls it about once
 * a second even when nothing moves.
 */
static int
http_progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow,
		 curl_off_t ultotal, curl_off_t ulnow)
{
	struct http_client *c = arg;
	uint64_t now = now_ns();
	int rc = 0;

	(void)dltotal;
	(void)ultotal;
	if (http_cancel_due(c)) {
		c->cancelled = 1;
		rc = 1;
	} else if (dlnow + ulnow != c->last_bytes) {
		c->last_bytes = dlnow + ulnow;
		c->last_move_ns = now;
	} else if (now - c->last_move_ns > c->idle_ns) {
		c->idled = 1;
		rc = 1;
	}
	return rc;
}

/* Forget the captured header values (a new response begins). */
static void
http_capture_clear(struct http_client *c)
{
	const struct http_hdr_capture *k;

	for (k = c->capture; k != NULL && k->name != NULL; k++) {
		if (k->cap > 0) {
			k->buf[0] = '\0';
		}
	}
}

/*
 * One response header line as libcurl hands it over (not NUL-terminated,
 * CRLF included). A status line starts a new response: after a redirect
 * only the final response's headers remain.
 */
static void
http_capture_line(struct http_client *c, const char *line, size_t n)
{
	const struct http_hdr_capture *k;
	size_t nlen;
	size_t vlen;
	const char *v;

	if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		http_capture_clear(c);
	}
	for (k = c->capture; k != NULL && k->name != NULL; k++) {
		nlen = strlen(k->name);
		if (n <= nlen || line[nlen] != ':' ||
		    strncasecmp(line, k->name, nlen) != 0) {
			continue;
		}
		v = line + nlen + 1;
		vlen = n - nlen - 1;
		while (vlen > 0 && (*v == ' ' || *v == '\t')) {
			v++;
			vlen--;
		}
		while (vlen > 0 &&
		       (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' ||
			v[vlen - 1] == ' ' || v[vlen - 1] == '\t')) {
			vlen--;
		}
		if (k->cap > 0 && vlen < k->cap) {
			memcpy(k->buf, v, vlen);
			k->buf[vlen] = '\0';
		} else if (k->cap > 0) {
			k->buf[0] = '\0';
		}
	}
}

static size_t
http_request_header_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct http_client *c = arg;
	size_t n = size * nmemb;
	size_t rc = 0;

	/* A short count makes curl abort with CURLE_WRITE_ERROR. */
	if (n > HTTP_HEADERS_MAX - c->hdr_bytes) {
		c->hdr_over = 1;
		goto out;
	}
	c->hdr_bytes += n;
	http_capture_line(c, ptr, n);
	rc = n;
out:
	return rc;
}

void
http_set_capture(struct http_client *c, const struct http_hdr_capture *list)
{
	c->capture = list;
}

uint64_t
http_last_range_total(struct http_client *c)
{
	return c->range_total;
}

long
http_last_status(struct http_client *c)
{
	long status = 0;

	if (curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status) !=
	    CURLE_OK) {
		status = 0;
	}
	return status;
}

/* Start a transfer: clear the error text and the idle watchdog. */
static void
http_transfer_begin(struct http_client *c)
{
	http_capture_clear(c);
	c->cerr[0] = '\0';
	c->last_bytes = 0;
	c->last_move_ns = now_ns();
	c->idled = 0;
	c->cancelled = 0;
	c->hdr_bytes = 0;
	c->hdr_over = 0;
}

/* Transport error text for a failed transfer. */
static const char *
http_transfer_err(const struct http_client *c, CURLcode e)
{
	const char *msg = curl_easy_strerror(e);

	if (c->idled) {
		msg = "idle timeout";
	} else if (c->cancelled) {
		msg = "cancelled";
	} else if (c->cerr[0] != '\0') {
		msg = c->cerr;
	}
	return msg;
}

/* Options that hold for every request of the client. */
static int
http_setup_handle(struct http_client *c, const struct http_opts *o)
{
	CURL *h = c->h;
	long cto = HTTP_CONNECT_TIMEOUT_MS;
	long idle = HTTP_IDLE_TIMEOUT_S;
	CURLcode e = CURLE_OK;

	if (o != NULL && o->connect_timeout_ms > 0) {
		cto = o->connect_timeout_ms;
	}
	if (o != NULL && o->idle_timeout_s > 0) {
		idle = o->idle_timeout_s;
	}

	e |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	e |= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->cerr);
	e |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR,
			      c->allow_http ? "http,https" : "https");
	e |= curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	e |= curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION,
			      o != NULL && o->max_redirects > 0 ? 1L : 0L);
	if (o != NULL && o->max_redirects > 0) {
		e |= curl_easy_setopt(h, CURLOPT_MAXREDIRS, o->max_redirects);
	}
	e |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	e |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	e |= curl_easy_setopt(h, CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1_2);
	e |= curl_easy_setopt(h, CURLOPT_COOKIEFILE, "");
	e |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, cto);
	e |= curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	e |= curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, idle);
	e |= curl_easy_setopt(
	    h, CURLOPT_TIMEOUT,
	    o != NULL && o->total_timeout_s > 0 ? o->total_timeout_s : 0L);
	e |= curl_easy_setopt(h, CURLOPT_USERAGENT, c->ua);
	c->idle_ns = (uint64_t)idle * 1000000000u;
	e |= curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, http_progress_cb);
	e |= curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
	e |= curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	if (c->ca_file != NULL) {
		/* The bundle replaces the system store, not adds to it. */
		e |= curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
		e |= curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
	}
	return e == CURLE_OK ? 0 : -1;
}

struct http_client *
http_client_new(const struct http_opts *opts)
{
	struct http_client *c = NULL;
	struct http_client *rc = NULL;
	const char *ua = "sealpod/" SEALPOD_VERSION;

	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		goto out;
	}
	if (opts != NULL && opts->user_agent != NULL) {
		ua = opts->user_agent;
	}
	snprintf(c->ua, sizeof(c->ua), "%s", ua);
	c->allow_http = opts != NULL && opts->allow_http;
	c->cancel = opts != NULL ? opts->cancel : NULL;

	if (opts != NULL && opts->ca_file != NULL) {
		c->ca_file = strdup(opts->ca_file);
		if (c->ca_file == NULL) {
			goto out;
		}
	}

	c->h = curl_easy_init();
	if (c->h == NULL || http_setup_handle(c, opts) != 0) {
		goto out;
	}
	rc = c;
out:
	if (rc == NULL) {
		http_client_free(c);
	}
	return rc;
}

void
http_client_free(struct http_client *c)
{
	if (c != NULL) {
		if (c->h != NULL) {
			curl_easy_cleanup(c->h);
		}
		free(c->ca_file);
		free(c);
	}
}

/* Refuse every scheme but https (and http when allowed) before curl. */
static int
http_url_allowed(const struct http_client *c, const char *url)
{
	int ok = 0;

	if (url == NULL) {
		goto out;
	}
	if (strncasecmp(url, "https://", 8) == 0) {
		ok = 1;
	} else if (c->allow_http && strncasecmp(url, "http://", 7) == 0) {
		ok = 1;
	}
out:
	return ok;
}

/*
 * Build the header list. An empty "Expect:" stops curl from waiting for a
 * 100-continue on POST bodies. Returns NULL on allocation failure.
 */
static struct curl_slist *
http_headers(const char *const *headers)
{
	struct curl_slist *list = NULL;
	struct curl_slist *next;
	size_t i;

	next = curl_slist_append(list, "Expect:");
	if (next == NULL) {
		goto out;
	}
	list = next;
	for (i = 0; headers != NULL && headers[i] != NULL; i++) {
		next = curl_slist_append(list, headers[i]);
		if (next == NULL) {
			curl_slist_free_all(list);
			list = NULL;
			goto out;
		}
		list = next;
	}
out:
	return list;
}

/* Per-request options that must not carry over from the last request. */
static CURLcode
http_reset_request(CURL *h, struct curl_slist *hdrs)
{
	CURLcode e = CURLE_OK;

	e |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	e |= curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
	e |= curl_easy_setopt(h, CURLOPT_NOBODY, 0L);
	e |= curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	e |= curl_easy_setopt(h, CURLOPT_RANGE, NULL);
	e |= curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)0);
	e |= curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, NULL);
	e |= curl_easy_setopt(h, CURLOPT_HEADERDATA, NULL);
	return e;
}

static CURLcode
http_set_method(CURL *h, const char *method, const void *body, size_t body_len)
{
	CURLcode e = CURLE_OK;

	if (body != NULL) {
		e |= curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				      (curl_off_t)body_len);
		e |= curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	}
	if (strcmp(method, "HEAD") == 0) {
		e |= curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, body != NULL ? "POST" : "GET") != 0) {
		e |= curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	}
	return e;
}

static size_t
http_body_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct strbuf *sb = arg;
	size_t n = size * nmemb;

	strbuf_append(sb, ptr, n);
	/* A short count makes curl abort with CURLE_WRITE_ERROR. */
	return strbuf_ok(sb) ? n : 0;
}

/*
 * Why a request failed, into resp. libcurl answers a header line over its
 * own limit with CURLE_OUT_OF_MEMORY; nothing else of ours allocates
 * through it, and a real shortage is no reason to retry either.
 */
static void
http_request_failed(const struct http_client *c, CURLcode e,
		    const struct strbuf *sb, struct http_response *resp)
{
	if (c->cancelled || c->idled) {
		http_copy_err(resp->errbuf, http_transfer_err(c, e));
	} else if (!strbuf_ok(sb) || e == CURLE_FILESIZE_EXCEEDED) {
		http_copy_err(resp->errbuf, "body over ceiling");
		resp->oversize = 1;
	} else if (c->hdr_over || e == CURLE_OUT_OF_MEMORY) {
		http_copy_err(resp->errbuf, "response headers over ceiling");
		resp->oversize = 1;
	} else {
		http_copy_err(resp->errbuf, http_transfer_err(c, e));
	}
}

enum sp_err
http_request(struct http_client *c, const char *method, const char *url,
	     const char *const *headers, const void *body, size_t body_len,
	     size_t max_body, struct http_response *resp)
{
	struct curl_slist *hdrs = NULL;
	struct strbuf sb;
	CURLcode e;
	enum sp_err rc = SP_E_INTERNAL;

	memset(resp, 0, sizeof(*resp));
	strbuf_init(&sb, max_body);
	if (!http_url_allowed(c, url)) {
		http_copy_err(resp->errbuf, "URL scheme not allowed");
		rc = SP_E_USAGE;
		goto out;
	}

	/* Allocate now so that an empty body is "" rather than NULL. */
	strbuf_append(&sb, "", 0);
	hdrs = http_headers(headers);
	if (hdrs == NULL || !strbuf_ok(&sb) || method == NULL) {
		http_copy_err(resp->errbuf, "request setup failed");
		goto out;
	}

	e = http_reset_request(c->h, hdrs);
	e |= http_set_method(c->h, method, body, body_len);
	e |= curl_easy_setopt(c->h, CURLOPT_URL, url);
	e |= curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, http_body_cb);
	e |= curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &sb);
	e |= curl_easy_setopt(c->h, CURLOPT_HEADERFUNCTION,
			      http_request_header_cb);
	e |= curl_easy_setopt(c->h, CURLOPT_HEADERDATA, c);
	/* Refuses early when Content-Length already says too much. */
	e |= curl_easy_setopt(
	    c->h, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)(max_body < INT64_MAX ? max_body : INT64_MAX));
	if (e != CURLE_OK) {
		http_copy_err(resp->errbuf, "request setup failed");
		goto out;
	}

	http_transfer_begin(c);
	e = curl_easy_perform(c->h);
	if (e != CURLE_OK) {
		rc = SP_E_FETCH;
		http_request_failed(c, e, &sb, resp);
		goto out;
	}

	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &resp->status);
	resp->body = sb.buf;
	resp->len = sb.len;
	sb.buf = NULL;
	rc = SP_OK;
out:
	/* Clear pointers into this call's stack before the handle idles. */
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, NULL);
	curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, NULL);
	curl_slist_free_all(hdrs);
	strbuf_free(&sb);
	return rc;
}

/*
 * Parse "Content-Range: bytes a-b/len" and check a against the offset we
 * asked for, so that a server returning another slice is caught.
 */
static size_t
http_stream_header_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct http_stream_ctx *sc = arg;
	size_t n = size * nmemb;
	static const char name[] = "content-range:";
	char line[HTTP_RANGE_MAX + sizeof(name)];
	unsigned long long start;
	unsigned long long total;
	char *p;
	char *end;

	http_capture_line(sc->c, ptr, n);
	if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		/* A redirect's Content-Range says nothing of the final one. */
		sc->range_start_ok = 0;
	}
	if (n <= sizeof(name) - 1 || n >= sizeof(line) ||
	    strncasecmp(ptr, name, sizeof(name) - 1) != 0) {
		goto out;
	}
	memcpy(line, ptr, n);
	line[n] = '\0';
	p = line + sizeof(name) - 1;
	p += strspn(p, " \t");
	if (strncasecmp(p, "bytes ", 6) != 0) {
		goto out;
	}
	p += 6;

	/* The complete length: also from a 416, whose range is "*". */
	end = strchr(p, '/');
	if (end != NULL && end[1] >= '0' && end[1] <= '9') {
		errno = 0;
		total = strtoull(end + 1, &end, 10);
		end += strspn(end, " \t\r\n");
		sc->c->range_total =
		    errno == 0 && *end == '\0' && total < UINT64_MAX
			? total
			: UINT64_MAX;
	}

	if (*p < '0' || *p > '9') {
		goto out;
	}
	start = strtoull(p, &end, 10);
	if (*end == '-' && start == sc->offset) {
		sc->range_start_ok = 1;
	}
out:
	return n;
}

/* Check the status once, when the first body bytes arrive. */
static int
http_stream_status_ok(struct http_stream_ctx *sc)
{
	int ok = 0;

	curl_easy_getinfo(sc->h, CURLINFO_RESPONSE_CODE, &sc->status);
	if (sc->status < 200 || sc->status > 299) {
		sc->why = "unexpected HTTP status";
	} else if (sc->ranged && sc->status != 206) {
		sc->why = "server ignored the byte range";
	} else if (sc->ranged && !sc->range_start_ok) {
		sc->why = "Content-Range does not match the request";
	} else {
		ok = 1;
	}
	return ok;
}

static size_t
http_stream_body_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct http_stream_ctx *sc = arg;
	size_t n = size * nmemb;
	size_t part;
	size_t rc = 0;

	if (sc->status == 0 && !http_stream_status_ok(sc)) {
		goto out;
	}
	if (sc->ranged && sc->length > 0 && n > sc->length - sc->delivered) {
		/* The asked-for part goes to the sink first: a caller then
		 * sees its whole range arrive and then more, wherever the
		 * surplus starts in the pieces, and can tell an overrun from
		 * a broken transfer. */
		part = (size_t)(sc->length - sc->delivered);
		if (part > 0) {
			sc->sink_rc = sc->sink(sc->arg, ptr, part);
			sc->delivered += sc->sink_rc == 0 ? part : 0;
		}
		if (sc->sink_rc == 0) {
			sc->why = "server sent more than the range";
		}
		goto out;
	}

	sc->sink_rc = sc->sink(sc->arg, ptr, n);
	if (sc->sink_rc != 0) {
		goto out;
	}
	sc->delivered += n;
	rc = n;
out:
	return rc;
}

/* "a-b" for [offset, offset+length), "a-" for offset onwards. */
static int
http_range(unsigned long long offset, unsigned long long length, char *out,
	   size_t cap)
{
	int n;
	int rc = -1;

	if (length > 0 && offset > ULLONG_MAX - length) {
		goto out;
	}
	if (length > 0) {
		n = snprintf(out, cap, "%llu-%llu", offset,
			     offset + length - 1);
	} else {
		n = snprintf(out, cap, "%llu-", offset);
	}
	if (n < 0 || (size_t)n >= cap) {
		goto out;
	}
	rc = 0;
out:
	return rc;
}

static int
http_stream_result(struct http_stream_ctx *sc, CURLcode e, const char *terr,
		   char *errbuf)
{
	long status = sc->status;
	int rc = SP_E_FETCH;

	if (sc->sink_rc != 0) {
		http_copy_err(errbuf, "aborted by sink");
		rc = sc->sink_rc;
	} else if (status == 0 && e == CURLE_OK) {
		/* No body at all: the status was never checked. */
		(void)http_stream_status_ok(sc);
		status = sc->status;
	}
	if (rc != SP_E_FETCH) {
		goto out;
	}

	if (status == 404) {
		http_copy_err(errbuf, "not found");
		rc = SP_E_NOTFOUND;
	} else if (sc->why != NULL) {
		http_copy_err(errbuf, sc->why);
	} else if (e != CURLE_OK) {
		http_copy_err(errbuf, terr);
	} else {
		rc = SP_OK;
	}
out:
	return rc;
}

int
http_stream(struct http_client *c, const char *url, const char *const *headers,
	    unsigned long long offset, unsigned long long length,
	    http_sink_fn sink, void *arg, char *errbuf)
{
	struct http_stream_ctx sc;
	struct curl_slist *hdrs = NULL;
	char range[HTTP_RANGE_MAX];
	CURLcode e;
	int rc = SP_E_INTERNAL;

	memset(&sc, 0, sizeof(sc));
	http_copy_err(errbuf, "");
	if (!http_url_allowed(c, url) || sink == NULL) {
		http_copy_err(errbuf, "URL scheme not allowed");
		rc = SP_E_USAGE;
		goto out;
	}
	sc.c = c;
	sc.h = c->h;
	c->range_total = UINT64_MAX;
	sc.sink = sink;
	sc.arg = arg;
	sc.offset = offset;
	sc.length = length;
	sc.ranged = offset > 0 || length > 0;

	hdrs = http_headers(headers);
	if (hdrs == NULL ||
	    (sc.ranged && http_range(offset, length, range, sizeof(range)))) {
		http_copy_err(errbuf, "request setup failed");
		goto out;
	}

	e = http_reset_request(c->h, hdrs);
	e |= curl_easy_setopt(c->h, CURLOPT_URL, url);
	e |= curl_easy_setopt(c->h, CURLOPT_RANGE, sc.ranged ? range : NULL);
	e |= curl_easy_setopt(c->h, CURLOPT_HEADERFUNCTION,
			      http_stream_header_cb);
	e |= curl_easy_setopt(c->h, CURLOPT_HEADERDATA, &sc);
	e |= curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, http_stream_body_cb);
	e |= curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &sc);
	if (e != CURLE_OK) {
		http_copy_err(errbuf, "request setup failed");
		goto out;
	}

	http_transfer_begin(c);
	e = curl_easy_perform(c->h);
	rc = http_stream_result(&sc, e, http_transfer_err(c, e), errbuf);
out:
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c->h, CURLOPT_HEADERDATA, NULL);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, NULL);
	curl_easy_setopt(c->h, CURLOPT_RANGE, NULL);
	curl_slist_free_all(hdrs);
	return rc;
}
