/*
 * source_s3.c: s3://bucket[/prefix], an S3-compatible object store
 * (source.h): AWS S3, MinIO, Ceph RGW, Cloudflare R2, GCS through its
 * XML interoperability API.
 *
 * Every GET is signed with AWS Signature Version 4 (common/sigv4.h) over
 * host, x-amz-content-sha256 (the empty payload's hash), x-amz-date and,
 * with temporary credentials, x-amz-security-token. The Host header is
 * sent explicitly so that what was signed is what goes out. Ranges are
 * not signed (S3 does not require it), so one signature recipe serves
 * whole and ranged reads. Credentials come from s3_auth.h.
 *
 * The store is untrusted like every other: unseal authenticates each
 * segment. A refusal is explained once from the error document's
 * <Code> (SignatureDoesNotMatch, AccessDenied, NoSuchKey,
 * RequestTimeTooSkewed ...), which names no secret.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "json.h"
#include "log.h"
#include "sigv4.h"
#include "source.h"
#include "source/s3_auth.h"

#define S3_SCHEME     "s3://"
#define S3_BUCKET_MIN 3
#define S3_BUCKET_MAX 63
#define S3_PREFIX_MAX 1024 /* S3's limit on a whole key */
#define S3_REGION_MAX 64
#define S3_ORIGIN_MAX 512
/* Encoding may triple every byte of bucket, prefix and name. */
#define S3_NAMES_MAX	  (S3_BUCKET_MAX + S3_PREFIX_MAX + SOURCE_NAME_MAX)
#define S3_PATH_MAX	  (3 * S3_NAMES_MAX + 8)
#define S3_REGION_DEFAULT "us-east-1"
#define S3_SERVICE	  "s3"
#define S3_AUTH_TIMEOUT_S 60
#define S3_ERROR_BODY_MAX 65536
#define S3_HEADERS	  6 /* Host, 3 x-amz-*, Authorization, NULL */
/* The header lines of one request but the session token. */
#define S3_HDR_BASE (S3_ORIGIN_MAX + SIGV4_AUTH_MAX + 256)

struct s3_state {
	struct http_client *client; /* objects, streamed */
	struct http_client *auth;   /* STS, with an overall timeout */
	struct s3_creds creds;
	char region[S3_REGION_MAX + 1];
	char *sts_url;		    /* NULL: AWS's regional endpoint */
	char origin[S3_ORIGIN_MAX]; /* scheme://host[:port] of the GETs */
	char host[S3_ORIGIN_MAX];   /* the Host header's value */
	char *key_base;		    /* encoded "/bucket/prefix" or "/prefix" */
	struct secret *hdr;	    /* header lines of the current request */
	const char *lines[S3_HEADERS];
	char last_err[HTTP_ERRBUF];
	int range_ignored; /* the last failed ranged fetch got a 200 */
	int permanent;	   /* the last failure will not mend (source.h) */
};

static void
s3_close(void *state)
{
	struct s3_state *st = state;

	if (st == NULL) {
		return;
	}
	http_client_free(st->client);
	http_client_free(st->auth);
	s3_creds_wipe(&st->creds);
	secret_free(st->hdr);
	free(st->sts_url);
	free(st->key_base);
	free(st);
}

static void
open_problem(const char *reason)
{
	log_event(LOG_ERR, "source.open.failed", reason,
		  LOG_STR("scheme", "s3"));
}

/* The region: configuration, then the environment, then us-east-1. */
static int
region_pick(struct s3_state *st, const struct source_s3_opts *o)
{
	const char *r = o != NULL ? o->region : NULL;
	size_t i;
	int ok;

	if (r == NULL || r[0] == '\0') {
		r = getenv("AWS_REGION");
	}
	if (r == NULL || r[0] == '\0') {
		r = getenv("AWS_DEFAULT_REGION");
	}
	if (r == NULL || r[0] == '\0') {
		r = S3_REGION_DEFAULT;
	}
	ok = strlen(r) <= S3_REGION_MAX;
	for (i = 0; ok && r[i] != '\0'; i++) {
		ok = (r[i] >= 'a' && r[i] <= 'z') ||
		     (r[i] >= '0' && r[i] <= '9') || r[i] == '-';
	}
	if (ok) {
		snprintf(st->region, sizeof(st->region), "%s", r);
	}
	return ok ? 0 : -1;
}

/* DNS-style bucket name: 3-63 of [a-z0-9.-_], alphanumeric at the ends. */
static int
bucket_ok(const char *b, size_t n)
{
	size_t i;
	int ok = n >= S3_BUCKET_MIN && n <= S3_BUCKET_MAX;

	for (i = 0; ok && i < n; i++) {
		ok = (b[i] >= 'a' && b[i] <= 'z') ||
		     (b[i] >= '0' && b[i] <= '9') ||
		     ((b[i] == '.' || b[i] == '-' || b[i] == '_') && i > 0 &&
		      i < n - 1);
	}
	return ok;
}

/* A key prefix: no blanks or control bytes (UTF-8 passes), bounded. */
static int
prefix_ok(const char *p, size_t n)
{
	size_t i;
	int ok = n <= S3_PREFIX_MAX;

	for (i = 0; ok && i < n; i++) {
		ok = (unsigned char)p[i] > 0x20 && (unsigned char)p[i] != 0x7f;
	}
	return ok;
}

/*
 * "scheme://authority" with nothing after but an optional "/": the
 * scheme into *tls, the authority (host[:port]) into out.
 */
static int
endpoint_split(const char *ep, int allow_http, int *tls, char *out, size_t cap)
{
	const char *a = NULL;
	size_t n;
	int rc = -1;

	if (strncmp(ep, "https://", 8) == 0) {
		a = ep + 8;
		*tls = 1;
	} else if (allow_http && strncmp(ep, "http://", 7) == 0) {
		a = ep + 7;
		*tls = 0;
	}
	if (a == NULL) {
		goto out;
	}
	n = strcspn(a, "/");
	if (n == 0 || n >= cap || strpbrk(a, "@ \t") != NULL ||
	    (a[n] == '/' && a[n + 1] != '\0')) {
		goto out;
	}
	memcpy(out, a, n);
	out[n] = '\0';
	rc = 0;
out:
	return rc;
}

/* Origin, Host header and the encoded key base for bucket and prefix. */
static int
layout(struct s3_state *st, const struct source_s3_opts *o, int allow_http,
       const char *bucket, size_t blen, const char *prefix)
{
	char authority[S3_ORIGIN_MAX];
	char def[S3_ORIGIN_MAX];
	const char *ep = o != NULL ? o->endpoint : NULL;
	int path_style = o != NULL && o->path_style;
	struct strbuf sb;
	int tls = 1;
	int n;
	int rc = -1;

	strbuf_init(&sb, S3_PATH_MAX);
	if (ep == NULL || ep[0] == '\0') {
		snprintf(def, sizeof(def), "https://s3.%s.amazonaws.com",
			 st->region);
		ep = def;
	}
	if (endpoint_split(ep, allow_http, &tls, authority,
			   sizeof(authority)) != 0) {
		open_problem("s3_endpoint_invalid");
		goto out;
	}
	if (path_style) {
		n = snprintf(st->host, sizeof(st->host), "%s", authority);
		strbuf_append(&sb, "/", 1);
		strbuf_append(&sb, bucket, blen);
	} else {
		n = snprintf(st->host, sizeof(st->host), "%.*s.%s", (int)blen,
			     bucket, authority);
	}
	if (n < 0 || (size_t)n >= sizeof(st->host) ||
	    snprintf(st->origin, sizeof(st->origin), "%s://%s",
		     tls ? "https" : "http",
		     st->host) >= (int)sizeof(st->origin)) {
		open_problem("s3_endpoint_invalid");
		goto out;
	}
	if (prefix[0] != '\0') {
		strbuf_append(&sb, "/", 1);
		sigv4_uri_encode(&sb, prefix, 1);
	}
	strbuf_append(&sb, "", 1);
	if (!strbuf_ok(&sb)) {
		goto out;
	}
	st->key_base = sb.buf;
	sb.buf = NULL;
	rc = 0;
out:
	strbuf_free(&sb);
	return rc;
}

/* Split s3://bucket/prefix and lay out the requests. */
static enum sp_err
parse_url(struct s3_state *st, const char *url, const struct source_opts *opts)
{
	const char *b = url + strlen(S3_SCHEME);
	size_t blen = strcspn(b, "/");
	char prefix[S3_PREFIX_MAX + 1];
	size_t plen;
	enum sp_err rc = SP_E_USAGE;

	if (!bucket_ok(b, blen)) {
		open_problem("s3_bucket_invalid");
		goto out;
	}
	plen = b[blen] == '/' ? strlen(b + blen + 1) : 0;
	while (plen > 0 && b[blen + plen] == '/') {
		plen--;
	}
	if (!prefix_ok(b + blen + 1, plen)) {
		open_problem("s3_prefix_invalid");
		goto out;
	}
	memcpy(prefix, b + blen + 1, plen);
	prefix[plen] = '\0';
	if (region_pick(st, opts->s3) != 0) {
		open_problem("s3_region_invalid");
		goto out;
	}
	if (layout(st, opts->s3, opts->allow_http, b, blen, prefix) != 0) {
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

static enum sp_err
clients_new(struct s3_state *st, const struct source_opts *opts)
{
	struct http_opts ho;
	enum sp_err rc = SP_E_INTERNAL;

	memset(&ho, 0, sizeof(ho));
	ho.ca_file = opts->ca_file;
	ho.connect_timeout_ms = 10000;
	ho.idle_timeout_s =
	    opts->idle_timeout_s > 0 ? opts->idle_timeout_s : 30;
	ho.allow_http = opts->allow_http;
	st->client = http_client_new(&ho);
	ho.total_timeout_s = S3_AUTH_TIMEOUT_S;
	st->auth = http_client_new(&ho);
	if (st->client != NULL && st->auth != NULL) {
		rc = SP_OK;
	}
	return rc;
}

static enum sp_err
s3_open(const char *url, const struct source_opts *opts, void **state)
{
	const struct source_s3_opts *o = opts->s3;
	struct s3_state *st = NULL;
	enum sp_err rc = SP_E_INTERNAL;

	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		goto out;
	}
	rc = parse_url(st, url, opts);
	if (rc != SP_OK) {
		goto out;
	}

	rc = clients_new(st, opts);
	if (rc != SP_OK) {
		goto out;
	}
	if (o != NULL && o->sts_endpoint != NULL) {
		st->sts_url = strdup(o->sts_endpoint);
		if (st->sts_url == NULL) {
			rc = SP_E_INTERNAL;
			goto out;
		}
	}

	rc = s3_creds_load(&st->creds, st->auth, st->sts_url, st->region);
	if (rc != SP_OK) {
		goto out;
	}
	*state = st;
	st = NULL;
out:
	s3_close(st);
	return rc;
}

/* Append "name: value" (vlen bytes) and a NUL to the header buffer;
 * returns the line, or NULL when it is full. */
static const char *
hdr_add(struct secret *h, const char *name, const void *value, size_t vlen)
{
	size_t nlen = strlen(name);
	char *line = NULL;

	if (h->cap - h->len > nlen + 2 + vlen) {
		line = (char *)h->data + h->len;
		memcpy(line, name, nlen);
		memcpy(line + nlen, ": ", 2);
		memcpy(line + nlen + 2, value, vlen);
		line[nlen + 2 + vlen] = '\0';
		h->len += nlen + 2 + vlen + 1;
	}
	return line;
}

static const char *
hdr_adds(struct secret *h, const char *name, const char *value)
{
	return hdr_add(h, name, value, strlen(value));
}

/*
 * A header buffer that holds this request's lines: sized to the session
 * token, which changes with each STS trade, so that the locked pages are
 * few (one, usually) rather than sized for the largest token.
 */
static enum sp_err
hdr_room(struct s3_state *st)
{
	const struct secret *tok = st->creds.session_token;
	size_t need = S3_HDR_BASE + (tok != NULL ? tok->len : 0);
	enum sp_err rc = SP_OK;

	if (st->hdr == NULL || st->hdr->cap < need) {
		secret_free(st->hdr);
		st->hdr = secret_new(need);
		rc = st->hdr != NULL ? SP_OK : SP_E_INTERNAL;
	}
	if (st->hdr != NULL) {
		st->hdr->len = 0;
	}
	return rc;
}

/* Sign GET path and fill st->lines: Host, x-amz-*, Authorization. */
static enum sp_err
sign_get(struct s3_state *st, const char *path)
{
	const struct secret *tok = st->creds.session_token;
	char date[SIGV4_DATE_LEN + 1];
	char auth[SIGV4_AUTH_MAX] = "";
	struct sigv4_header h[4];
	struct sigv4_request r;
	size_t n = 0;
	enum sp_err rc = SP_E_INTERNAL;

	rc = hdr_room(st);
	if (rc != SP_OK) {
		goto out;
	}
	rc = SP_E_INTERNAL;
	memset(st->lines, 0, sizeof(st->lines));
	st->lines[n++] = hdr_adds(st->hdr, "Host", st->host);
	if (st->creds.anonymous) {
		rc = st->lines[0] != NULL ? SP_OK : SP_E_INTERNAL;
		goto out;
	}

	sigv4_amz_date(time(NULL), date);
	h[0] = (struct sigv4_header){"host", st->host};
	h[1] =
	    (struct sigv4_header){"x-amz-content-sha256", SIGV4_EMPTY_SHA256};
	h[2] = (struct sigv4_header){"x-amz-date", date};
	st->lines[n++] =
	    hdr_adds(st->hdr, "x-amz-content-sha256", SIGV4_EMPTY_SHA256);
	st->lines[n++] = hdr_adds(st->hdr, "x-amz-date", date);
	if (tok != NULL) {
		st->lines[n] = hdr_add(st->hdr, "x-amz-security-token",
				       tok->data, tok->len);
		if (st->lines[n] == NULL) {
			goto out;
		}
		h[3] = (struct sigv4_header){
		    "x-amz-security-token",
		    st->lines[n] + strlen("x-amz-security-token: ")};
		n++;
	}

	r = (struct sigv4_request){.method = "GET",
				   .path = path,
				   .query = "",
				   .headers = h,
				   .nheaders = tok != NULL ? 4 : 3,
				   .payload_hash = SIGV4_EMPTY_SHA256,
				   .amz_date = date,
				   .region = st->region,
				   .service = S3_SERVICE};
	rc = sigv4_authorization(&r, st->creds.key_id, st->creds.secret_key,
				 auth, sizeof(auth));
	if (rc != SP_OK) {
		goto out;
	}
	rc = SP_E_INTERNAL;
	st->lines[n] = hdr_adds(st->hdr, "Authorization", auth);
	if (st->lines[n] != NULL && st->lines[0] != NULL &&
	    st->lines[1] != NULL && st->lines[2] != NULL) {
		rc = SP_OK;
	}
out:
	secret_wipe_mem(auth, sizeof(auth));
	return rc;
}

/* The reason code for a refusal with this status. */
static const char *
status_reason(long status, int rc)
{
	const char *reason = "source_transfer_failed";

	if (rc == SP_E_NOTFOUND) {
		reason = "source_not_found";
	} else if (status == 401 || status == 403) {
		reason = "s3_access_denied";
	} else if (status == 301 || status == 307 || status == 400) {
		reason = "s3_wrong_region_or_endpoint";
	}
	return reason;
}

/*
 * Ask again without a range and read the error document's <Code>: the
 * one word that tells a wrong key from a wrong clock. Best effort.
 */
static void
explain(struct s3_state *st, const char *url, char *code, size_t cap)
{
	struct http_response resp;

	snprintf(code, cap, "%s", "none");
	if (http_request(st->client, "GET", url, st->lines, NULL, 0,
			 S3_ERROR_BODY_MAX, &resp) == SP_OK &&
	    resp.status >= 300) {
		(void)s3_xml_code(resp.body, resp.len, code, cap);
	}
	free(resp.body);
}

static void
log_failure(struct s3_state *st, const char *url, int rc, const char *errbuf)
{
	char code[S3_STS_CODE_MAX + 1] = "none";
	long status = http_last_status(st->client);

	if (status >= 300 && status < 500) {
		explain(st, url, code, sizeof(code));
	}
	snprintf(st->last_err, sizeof(st->last_err), "%s (HTTP %ld, %s)",
		 errbuf, status, code);
	log_event(source_fail_level(rc, st->permanent), "source.fetch.failed",
		  status_reason(status, rc), LOG_STR("scheme", "s3"),
		  LOG_U64("status", (uint64_t)status), LOG_STR("code", code),
		  LOG_STR("error", errbuf));
}

/* The object URL for name: origin, key base, encoded name. */
static char *
object_url(const struct s3_state *st, const char *name, char **path)
{
	struct strbuf sb;
	size_t olen = strlen(st->origin);
	char *url = NULL;

	strbuf_init(&sb, S3_ORIGIN_MAX + S3_PATH_MAX);
	strbuf_appends(&sb, st->origin);
	strbuf_appends(&sb, st->key_base);
	strbuf_append(&sb, "/", 1);
	sigv4_uri_encode(&sb, name, 1);
	strbuf_append(&sb, "", 1);
	if (strbuf_ok(&sb)) {
		url = sb.buf;
		*path = url + olen;
		sb.buf = NULL;
	}
	strbuf_free(&sb);
	return url;
}

static int
s3_fetch(void *state, const char *name, uint64_t offset, uint64_t length,
	 source_sink_fn sink, void *arg)
{
	struct s3_state *st = state;
	struct source_relay r = {sink, arg, SP_OK};
	char errbuf[HTTP_ERRBUF] = "";
	char *path = NULL;
	char *url = NULL;
	int rc = SP_E_USAGE;

	st->last_err[0] = '\0';
	st->range_ignored = 0;
	st->permanent = 0;
	if (!source_name_valid(name)) {
		goto out;
	}
	rc = s3_creds_refresh(&st->creds, st->auth, st->sts_url, st->region,
			      time(NULL));
	if (rc != SP_OK) {
		goto out;
	}

	rc = SP_E_INTERNAL;
	url = object_url(st, name, &path);
	if (url == NULL) {
		goto out;
	}
	rc = sign_get(st, path);
	if (rc != SP_OK) {
		goto out;
	}

	/* XXX: libcurl copies these lines (token, signature) unwiped. */
	rc = http_stream(st->client, url, st->lines, offset, length,
			 source_relay_sink, &r, errbuf);
	/* A gateway in front of a store may ignore Range (RFC 9110). */
	st->range_ignored = rc != SP_OK && (offset > 0 || length > 0) &&
			    r.sink_rc == SP_OK &&
			    http_last_status(st->client) == 200;
	/* A wrong region, a bad signature, a denied key: the same answer
	 * again on a retry. */
	st->permanent = rc == SP_E_FETCH && r.sink_rc == SP_OK &&
			!st->range_ignored &&
			source_status_permanent(http_last_status(st->client));
	/* Range ignored: no failure, the pipeline streams and warns. */
	if (st->range_ignored) {
		snprintf(st->last_err, sizeof(st->last_err), "%s", errbuf);
	} else if (rc != SP_OK && r.sink_rc == SP_OK) {
		log_failure(st, url, rc, errbuf);
	}
out:
	if (st->hdr != NULL) {
		secret_wipe_mem(st->hdr->data, st->hdr->cap);
		st->hdr->len = 0;
	}
	free(url);
	return rc;
}

static const char *
s3_last_error(void *state)
{
	const struct s3_state *st = state;

	return st->last_err;
}

static int
s3_permanent(void *state)
{
	const struct s3_state *st = state;

	return st->permanent;
}

static int
s3_range_ignored(void *state)
{
	const struct s3_state *st = state;

	return st->range_ignored;
}

/* The object's size from the last ranged reply (source.h). */
static uint64_t
s3_last_size(void *state)
{
	const struct s3_state *st = state;

	return http_last_range_total(st->client);
}

const struct source_ops source_s3_ops = {
    .scheme = "s3",
    .open = s3_open,
    .fetch = s3_fetch,
    .range_ignored = s3_range_ignored,
    .last_size = s3_last_size,
    .permanent = s3_permanent,
    .close = s3_close,
    .last_error = s3_last_error,
};
