/*
 * source_oci.c: oci://registry/repository:tag (or @sha256:<hex>), an OCI
 * artifact whose layers are the sealed store's files, as `oras push`
 * makes it: each layer's org.opencontainers.image.title annotation is
 * the file's name, "manifest.sealed" or "blobs/<hex>" (source.h).
 *
 * Open fetches and checks the image manifest (oci_wire.h): its media
 * type, its digest when the reference is one, and that each blobs/<hex>
 * layer's digest is sha256:<hex>. A fetch maps the name to its layer and
 * GETs /v2/<repository>/blobs/<digest>, following the registry's
 * redirect to its storage (libcurl keeps our Authorization header from
 * any other host). A whole-layer fetch is hashed as it streams and fails
 * on a digest or size mismatch; a ranged fetch cannot be hashed, and
 * there unseal's per-segment authentication is the check. The registry
 * is untrusted: nothing it says is believed that the sealed format does
 * not also verify.
 *
 * Auth: anonymous first; on 401 the WWW-Authenticate challenge decides:
 * Bearer (realm, service, scope) is answered by the token service, with
 * Basic credentials from artifacts.oci.auth_file when it has an entry for
 * the registry; Basic is answered with those credentials directly. A
 * blob GET that meets 401 later (the token expired) authenticates again
 * once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "http.h"
#include "json.h"
#include "log.h"
#include "sigv4.h"
#include "source.h"
#include "source/oci_wire.h"
#include "util.h"

#define OCI_API_TIMEOUT_S 60
#define OCI_REDIRECTS_MAX 5
#define OCI_URL_MAX	  (16 + OCI_HOST_MAX + OCI_REPO_MAX + 128)
#define OCI_CTYPE_MAX	  256
#define OCI_TOKEN_URL_MAX (4 * OCI_PARAM_MAX + 64)
#define OCI_AUTH_LINE_MAX (32 + OCI_TOKEN_MAX)
#define OCI_DIGEST_LOG	  19 /* "sha256:" and 12 hex digits */

struct oci_state {
	struct http_client *api;   /* manifests and tokens */
	struct http_client *blobs; /* layers, streamed */
	struct oci_ref ref;
	int allow_http;
	char base[OCI_URL_MAX]; /* scheme://host/v2/<repository> */
	struct oci_layer *layers;
	size_t nlayers;
	struct secret *basic; /* base64 user:password, or NULL */
	struct secret *auth;  /* "Authorization: ..." line, or NULL */
	char www_auth[OCI_CHALLENGE_MAX + 1];
	char ctype[OCI_CTYPE_MAX];
	char dcd[OCI_DIGEST_LEN + 8]; /* Docker-Content-Digest */
	struct http_hdr_capture api_caps[4];
	int range_ignored; /* the last failed ranged fetch got a 200 */
	int permanent;	   /* the last failure will not mend (source.h) */
	struct http_hdr_capture blob_caps[2];
	char last_err[HTTP_ERRBUF];
};

/* A fetch on its way to the sink: counted, and hashed when whole. */
struct oci_relay {
	struct source_relay to; /* the caller's sink */
	uint64_t want;		/* bytes the layer may still send */
	uint64_t got;
	EVP_MD_CTX *sha; /* NULL for a ranged fetch */
	int too_long;
};

static void
oci_close(void *state)
{
	struct oci_state *st = state;

	if (st == NULL) {
		return;
	}
	http_client_free(st->api);
	http_client_free(st->blobs);
	secret_free(st->basic);
	secret_free(st->auth);
	free(st->layers);
	free(st);
}

static void
oci_log(const char *event, const char *reason)
{
	log_event(LOG_ERR, event, reason, LOG_STR("scheme", "oci"));
}

/* Credentials for our registry from the auth file, if it names it. */
static enum sp_err
basic_load(struct oci_state *st, const char *file)
{
	char *buf = NULL;
	size_t len = 0;
	enum sp_err rc = SP_OK;

	if (file == NULL) {
		goto out;
	}
	rc = file_check_private(file);
	if (rc == SP_OK) {
		rc = file_read_all(file, OCI_AUTH_FILE_MAX, &buf, &len);
	}
	if (rc != SP_OK) {
		oci_log("source.open.failed", "oci_auth_file_unusable");
		rc = SP_E_USAGE;
		goto out;
	}
	rc = oci_auth_lookup(buf, len, st->ref.host, &st->basic);
	if (rc != SP_OK) {
		oci_log("source.open.failed", "oci_auth_file_invalid");
	}
out:
	if (buf != NULL) {
		secret_wipe_mem(buf, len);
	}
	free(buf);
	return rc;
}

static enum sp_err
clients_new(struct oci_state *st, const struct source_opts *opts)
{
	struct http_opts ho;
	enum sp_err rc = SP_E_INTERNAL;

	memset(&ho, 0, sizeof(ho));
	ho.ca_file = opts->ca_file;
	ho.connect_timeout_ms = 10000;
	ho.idle_timeout_s =
	    opts->idle_timeout_s > 0 ? opts->idle_timeout_s : 30;
	ho.allow_http = opts->allow_http;
	ho.max_redirects = OCI_REDIRECTS_MAX;
	st->blobs = http_client_new(&ho);
	ho.total_timeout_s = OCI_API_TIMEOUT_S;
	st->api = http_client_new(&ho);
	if (st->api == NULL || st->blobs == NULL) {
		goto out;
	}
	st->api_caps[0] = (struct http_hdr_capture){
	    "WWW-Authenticate", st->www_auth, sizeof(st->www_auth)};
	st->api_caps[1] = (struct http_hdr_capture){"Content-Type", st->ctype,
						    sizeof(st->ctype)};
	st->api_caps[2] = (struct http_hdr_capture){"Docker-Content-Digest",
						    st->dcd, sizeof(st->dcd)};
	st->blob_caps[0] = st->api_caps[0];
	http_set_capture(st->api, st->api_caps);
	http_set_capture(st->blobs, st->blob_caps);
	rc = SP_OK;
out:
	return rc;
}

/* The current Authorization line, NULL-terminated list for http. */
static void
auth_lines(const struct oci_state *st, const char *first, const char **lines)
{
	size_t n = 0;

	if (first != NULL) {
		lines[n++] = first;
	}
	if (st->auth != NULL) {
		lines[n++] = (const char *)st->auth->data;
	}
	lines[n] = NULL;
}

/* Make st->auth "Authorization: <scheme> <cred>" from a secret. */
static enum sp_err
auth_set(struct oci_state *st, const char *scheme, const struct secret *cred)
{
	struct secret *line = NULL;
	size_t n = strlen("Authorization: ") + strlen(scheme) + 1;
	enum sp_err rc = SP_E_INTERNAL;

	line = secret_new(n + cred->len + 1);
	if (line == NULL) {
		goto out;
	}
	snprintf((char *)line->data, n + 1, "Authorization: %s ", scheme);
	memcpy(line->data + n, cred->data, cred->len);
	line->data[n + cred->len] = '\0';
	line->len = n + cred->len;
	secret_free(st->auth);
	st->auth = line;
	rc = SP_OK;
out:
	return rc;
}

/* realm?service=...&scope=... for our repository (pull only). */
static enum sp_err
token_url(const struct oci_state *st, const struct oci_challenge *c,
	  struct strbuf *sb)
{
	char scope[OCI_PARAM_MAX + 1];
	enum sp_err rc = SP_E_PROTOCOL;

	if (strncmp(c->realm, "https://", 8) != 0 &&
	    !(st->allow_http && strncmp(c->realm, "http://", 7) == 0)) {
		oci_log("source.open.failed", "oci_token_realm_refused");
		goto out;
	}
	snprintf(scope, sizeof(scope), "repository:%s:pull", st->ref.repo);
	strbuf_appends(sb, c->realm);
	strbuf_appends(sb, strchr(c->realm, '?') != NULL ? "&" : "?");
	if (c->service[0] != '\0') {
		strbuf_appends(sb, "service=");
		sigv4_uri_encode(sb, c->service, 0);
		strbuf_appends(sb, "&");
	}
	strbuf_appends(sb, "scope=");
	sigv4_uri_encode(sb, c->scope[0] != '\0' ? c->scope : scope, 0);
	strbuf_append(sb, "", 1);
	rc = strbuf_ok(sb) ? SP_OK : SP_E_INTERNAL;
out:
	return rc;
}

/*
 * Trade our Basic credentials (or nothing) for a bearer token. The old
 * Authorization line goes; on failure there is none.
 */
static enum sp_err
bearer(struct oci_state *st, const struct oci_challenge *c)
{
	struct secret *tok = NULL;
	struct http_response resp;
	const char *lines[3];
	struct strbuf url;
	enum sp_err rc = SP_E_INTERNAL;

	memset(&resp, 0, sizeof(resp));
	strbuf_init(&url, OCI_TOKEN_URL_MAX);
	secret_free(st->auth);
	st->auth = NULL;
	if (st->basic != NULL && auth_set(st, "Basic", st->basic) != SP_OK) {
		goto out;
	}
	rc = token_url(st, c, &url);
	if (rc != SP_OK) {
		goto out;
	}

	auth_lines(st, "Accept: application/json", lines);
	rc = http_request(st->api, "GET", url.buf, lines, NULL, 0,
			  OCI_TOKEN_REPLY_MAX, &resp);
	if (rc != SP_OK || resp.status != 200) {
		log_event(LOG_ERR, "source.open.failed", "oci_token_refused",
			  LOG_STR("scheme", "oci"),
			  LOG_U64("status", (uint64_t)resp.status),
			  LOG_STR("error", resp.errbuf));
		rc = SP_E_FETCH;
		goto out;
	}
	rc = oci_token_parse(resp.body, resp.len, &tok);
	if (rc != SP_OK) {
		oci_log("source.open.failed", "oci_token_reply_invalid");
		goto out;
	}
	rc = auth_set(st, "Bearer", tok);
out:
	if (rc != SP_OK) {
		secret_free(st->auth);
		st->auth = NULL;
	}
	secret_free(tok);
	if (resp.body != NULL) {
		secret_wipe_mem(resp.body, resp.len);
	}
	free(resp.body);
	strbuf_free(&url);
	return rc;
}

/* Answer the challenge the registry sent with its 401. */
static enum sp_err
authenticate(struct oci_state *st)
{
	struct oci_challenge c;
	enum sp_err rc;

	rc = oci_challenge_parse(st->www_auth, &c);
	if (rc != SP_OK) {
		oci_log("source.open.failed", "oci_challenge_invalid");
		goto out;
	}
	if (c.scheme == OCI_AUTH_BEARER) {
		rc = bearer(st, &c);
	} else if (st->basic != NULL) {
		rc = auth_set(st, "Basic", st->basic);
	} else {
		oci_log("source.open.failed", "oci_credentials_missing");
		rc = SP_E_FETCH;
	}
out:
	return rc;
}

/* GET the manifest, authenticating once on 401. */
static enum sp_err
manifest_get(struct oci_state *st, struct http_response *resp)
{
	const char *lines[3];
	char url[OCI_URL_MAX + OCI_REF_MAX + 16];
	int tries;
	enum sp_err rc = SP_E_FETCH;

	snprintf(url, sizeof(url), "%s/manifests/%s", st->base, st->ref.ref);
	for (tries = 0; tries < 2; tries++) {
		auth_lines(st, "Accept: " OCI_MEDIA_MANIFEST, lines);
		rc = http_request(st->api, "GET", url, lines, NULL, 0,
				  OCI_MANIFEST_MAX, resp);
		if (rc != SP_OK || resp->status != 401 || tries > 0) {
			break;
		}
		free(resp->body);
		resp->body = NULL;
		rc = authenticate(st);
		if (rc != SP_OK) {
			break;
		}
	}
	if (rc == SP_OK && resp->status != 200) {
		rc = resp->status == 404 ? SP_E_NOTFOUND : SP_E_FETCH;
		log_event(LOG_ERR, "source.open.failed",
			  rc == SP_E_NOTFOUND ? "oci_manifest_not_found"
					      : "oci_registry_refused",
			  LOG_STR("scheme", "oci"),
			  LOG_U64("status", (uint64_t)resp->status));
	} else if (rc == SP_E_FETCH && resp->errbuf[0] != '\0') {
		log_event(LOG_ERR, "source.open.failed",
			  "oci_registry_unreachable", LOG_STR("scheme", "oci"),
			  LOG_STR("error", resp->errbuf));
	}
	return rc;
}

static void
sha256_digest(const void *buf, size_t len, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	memcpy(out, "sha256:", 8);
	if (EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL) == 1 && n == 32) {
		hex_encode(md, n, out + 7);
	}
}

/* Content type, digest pin and shape of the manifest we got. */
static enum sp_err
manifest_check(struct oci_state *st, const struct http_response *resp)
{
	char digest[OCI_DIGEST_LEN + 1] = "";
	const char *why = NULL;
	size_t ctlen = strcspn(st->ctype, "; ");
	enum sp_err rc = SP_E_PROTOCOL;

	if (ctlen != strlen(OCI_MEDIA_MANIFEST) ||
	    strncmp(st->ctype, OCI_MEDIA_MANIFEST, ctlen) != 0) {
		why = strstr(st->ctype, "index") != NULL ||
			      strstr(st->ctype, "list") != NULL
			  ? "oci_index_unsupported"
			  : "oci_manifest_media_type";
		goto out;
	}
	sha256_digest(resp->body, resp->len, digest);
	rc = SP_E_INTEGRITY;
	if ((st->ref.by_digest && strcmp(digest, st->ref.ref) != 0) ||
	    (st->dcd[0] != '\0' && strcmp(digest, st->dcd) != 0)) {
		why = "oci_manifest_digest_mismatch";
		goto out;
	}
	rc = oci_manifest_parse(resp->body, resp->len, &st->layers,
				&st->nlayers, &why);
	if (rc != SP_OK) {
		goto out;
	}
	rc = SP_E_NOTFOUND;
	if (oci_layer_find(st->layers, st->nlayers, "manifest.sealed") ==
	    NULL) {
		why = "oci_artifact_not_sealed";
		goto out;
	}
	digest[OCI_DIGEST_LOG] = '\0';
	log_event(LOG_INFO, "source.oci.manifest.ok", NULL,
		  LOG_STR("digest", digest), LOG_U64("layers", st->nlayers));
	rc = SP_OK;
out:
	if (why != NULL) {
		oci_log("source.open.failed", why);
	}
	return rc;
}

static enum sp_err
oci_open(const char *url, const struct source_opts *opts, void **state)
{
	struct oci_state *st = NULL;
	struct http_response resp;
	const char *why = NULL;
	enum sp_err rc = SP_E_INTERNAL;

	memset(&resp, 0, sizeof(resp));
	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		goto out;
	}
	rc = oci_ref_parse(url, &st->ref, &why);
	if (rc != SP_OK) {
		oci_log("source.open.failed", why);
		goto out;
	}
	st->allow_http = opts->allow_http;
	snprintf(st->base, sizeof(st->base), "%s://%s/v2/%s",
		 opts->allow_http ? "http" : "https", st->ref.host,
		 st->ref.repo);

	rc = basic_load(st, opts->oci != NULL ? opts->oci->auth_file : NULL);
	if (rc != SP_OK) {
		goto out;
	}
	rc = clients_new(st, opts);
	if (rc != SP_OK) {
		goto out;
	}

	rc = manifest_get(st, &resp);
	if (rc != SP_OK) {
		goto out;
	}
	rc = manifest_check(st, &resp);
	if (rc != SP_OK) {
		goto out;
	}
	*state = st;
	st = NULL;
out:
	free(resp.body);
	oci_close(st);
	return rc;
}

static int
relay(void *arg, const void *buf, size_t len)
{
	struct oci_relay *r = arg;

	if (len > r->want - r->got) {
		r->too_long = 1;
		r->to.sink_rc = SP_E_INTEGRITY;
		goto out;
	}
	if (r->sha != NULL && EVP_DigestUpdate(r->sha, buf, len) != 1) {
		r->to.sink_rc = SP_E_INTERNAL;
		goto out;
	}
	r->got += len;
	(void)source_relay_sink(&r->to, buf, len);
out:
	return r->to.sink_rc;
}

/* After a whole-layer fetch: every byte there, and the right ones. */
static int
whole_check(const struct oci_layer *l, struct oci_relay *r)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	char digest[OCI_DIGEST_LEN + 1];
	unsigned int n = 0;
	int rc = SP_E_FETCH;

	if (r->got != l->size) {
		oci_log("source.fetch.failed", "source_short_object");
		goto out;
	}
	rc = SP_E_INTERNAL;
	if (EVP_DigestFinal_ex(r->sha, md, &n) != 1 || n != 32) {
		goto out;
	}
	memcpy(digest, "sha256:", 8);
	hex_encode(md, n, digest + 7);
	rc = SP_OK;
	if (strcmp(digest, l->digest) != 0) {
		digest[OCI_DIGEST_LOG] = '\0';
		log_event(LOG_ERR, "source.fetch.failed",
			  "oci_blob_digest_mismatch", LOG_STR("scheme", "oci"),
			  LOG_STR("digest", digest));
		rc = SP_E_INTEGRITY;
	}
out:
	return rc;
}

/* One GET of the layer; authenticates again on a first 401. */
static int
blob_get(struct oci_state *st, const struct oci_layer *l, uint64_t offset,
	 uint64_t length, struct oci_relay *r, char *errbuf)
{
	char url[OCI_URL_MAX + OCI_DIGEST_LEN + 16];
	const char *lines[2];
	int tries;
	int rc = SP_E_FETCH;

	snprintf(url, sizeof(url), "%s/blobs/%s", st->base, l->digest);
	for (tries = 0; tries < 2; tries++) {
		auth_lines(st, NULL, lines);
		rc = http_stream(st->blobs, url, lines, offset, length, relay,
				 r, errbuf);
		if (rc == SP_OK || r->got > 0 || tries > 0 ||
		    http_last_status(st->blobs) != 401 ||
		    st->www_auth[0] == '\0') {
			break;
		}
		rc = authenticate(st);
		if (rc != SP_OK) {
			break;
		}
	}
	return rc;
}

static int
oci_fetch(void *state, const char *name, uint64_t offset, uint64_t length,
	  source_sink_fn sink, void *arg)
{
	struct oci_state *st = state;
	struct oci_relay r = {{sink, arg, SP_OK}, 0, 0, NULL, 0};
	const struct oci_layer *l;
	char errbuf[HTTP_ERRBUF] = "";
	int whole;
	int rc = SP_E_NOTFOUND;

	st->last_err[0] = '\0';
	st->range_ignored = 0;
	st->permanent = 0;
	l = oci_layer_find(st->layers, st->nlayers, name);
	if (l == NULL) {
		/* The caller names it: blob_missing, manifest_missing. */
		log_event(LOG_WARN, "source.fetch.failed", "source_not_found",
			  LOG_STR("scheme", "oci"));
		goto out;
	}
	/* A range past the end is delivered short; the caller judges. */
	rc = SP_OK;
	if (offset >= l->size && (offset > 0 || length > 0)) {
		goto out;
	}
	if (length == 0 || length > l->size - offset) {
		length = l->size - offset;
	}
	r.want = length;
	/* XXX: a ranged read cannot be hashed; unseal authenticates it. */
	whole = offset == 0 && length == l->size;
	rc = SP_E_INTERNAL;
	if (whole) {
		r.sha = EVP_MD_CTX_new();
		if (r.sha == NULL ||
		    EVP_DigestInit_ex(r.sha, EVP_sha256(), NULL) != 1) {
			goto out;
		}
	}

	rc =
	    blob_get(st, l, whole ? 0 : offset, whole ? 0 : length, &r, errbuf);
	snprintf(st->last_err, sizeof(st->last_err), "%s", errbuf);
	/* Range support is optional for registries (and their storage). */
	st->range_ignored = rc != SP_OK && !whole && r.to.sink_rc == SP_OK &&
			    http_last_status(st->blobs) == 200;
	st->permanent = rc == SP_E_FETCH && r.to.sink_rc == SP_OK &&
			!st->range_ignored &&
			source_status_permanent(http_last_status(st->blobs));
	if (r.too_long) {
		oci_log("source.fetch.failed", "oci_blob_too_long");
	} else if (rc != SP_OK && r.to.sink_rc == SP_OK && !st->range_ignored) {
		/* Range ignored: no failure, the pipeline streams and warns. */
		log_event(
		    source_fail_level(rc, st->permanent), "source.fetch.failed",
		    rc == SP_E_NOTFOUND ? "source_not_found"
					: "source_transfer_failed",
		    LOG_STR("scheme", "oci"),
		    LOG_U64("status", (uint64_t)http_last_status(st->blobs)),
		    LOG_STR("error", errbuf));
	} else if (rc == SP_OK && whole) {
		rc = whole_check(l, &r);
	}
out:
	EVP_MD_CTX_free(r.sha);
	return rc;
}

static int
oci_permanent(void *state)
{
	const struct oci_state *st = state;

	return st->permanent;
}

static const char *
oci_last_error(void *state)
{
	const struct oci_state *st = state;

	return st->last_err;
}

static int
oci_range_ignored(void *state)
{
	const struct oci_state *st = state;

	return st->range_ignored;
}

/* The layer's size from the last ranged reply (source.h). */
static uint64_t
oci_last_size(void *state)
{
	const struct oci_state *st = state;

	return http_last_range_total(st->blobs);
}

const struct source_ops source_oci_ops = {
    .scheme = "oci",
    .open = oci_open,
    .fetch = oci_fetch,
    .range_ignored = oci_range_ignored,
    .last_size = oci_last_size,
    .close = oci_close,
    .last_error = oci_last_error,
    .permanent = oci_permanent,
};
