/*
 * kbs.c: the RCAR handshake and resource fetches against a Trustee KBS
 * (kbs-protocol.md §1, §3), over one http_client whose cookie engine
 * carries the kbs-session-id from /auth to /attest and the resource GETs.
 *
 * Retries are bounded and by category: a handshake that fails in
 * transport or with a 5xx is tried KBS_HANDSHAKE_TRIES times one second
 * apart; a resource GET is tried KBS_GET_TRIES times, with one full
 * re-handshake when the KBS no longer knows our token. A policy denial,
 * a refused attestation and a missing resource are never retried.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "http.h"
#include "jwe.h"
#include "kbs.h"
#include "kbs_wire.h"
#include "log.h"
#include "stop.h"

#define KBS_HANDSHAKE_TRIES 5
#define KBS_GET_TRIES	    3
#define KBS_RETRY_DELAY_S   1
/* The KBS refuses request bodies over 2 MiB (kbs-protocol.md §1.8). */
#define KBS_REQUEST_MAX	       (2 * 1024 * 1024)
#define KBS_URL_MAX	       8192
#define KBS_CONNECT_TIMEOUT_MS 10000L
#define KBS_IDLE_TIMEOUT_S     30L

struct kbs_session {
	struct http_client *http;
	EVP_PKEY *key; /* ephemeral P-256, the JWE recipient */
	char *jwk;     /* its public half, canonical JWK */
	char *url;     /* base URL */
	const struct attest_provider *provider;
	const char *root;		  /* platform root ("" for "/") */
	const struct initdata *init_data; /* NULL: none */
	enum gpu_mode gpu;
	char *additional;     /* additional_evidence of this handshake */
	struct secret *token; /* attestation token; a bearer credential */
	const char *why;      /* reason code of the last failure */
	const int *cancel;    /* kbs_opts.cancel */
};

static const char *const kbs_post_headers[] = {
    "Content-Type: application/json",
    "Accept: application/json",
    NULL,
};

static const char *const kbs_get_headers[] = {
    "Accept: application/json",
    NULL,
};

static const char *
step_name(enum kbs_step step)
{
	const char *rc = "auth";

	if (step == KBS_STEP_ATTEST) {
		rc = "attest";
	} else if (step == KBS_STEP_RESOURCE) {
		rc = "resource";
	}
	return rc;
}

/* 1 when the run is being stopped: no further request or retry. */
static int
kbs_cancelled(const struct kbs_session *s)
{
	return s->cancel != NULL &&
	       __atomic_load_n(s->cancel, __ATOMIC_ACQUIRE) != 0;
}

/* Reply bodies may hold the token: wipe before freeing. */
static void
resp_free(struct http_response *resp)
{
	if (resp->body != NULL) {
		secret_wipe_mem(resp->body, resp->len);
		free(resp->body);
	}
	resp->body = NULL;
	resp->len = 0;
}

/* An exchange that failed in transport: no reply to speak of. */
static void
log_transport(enum kbs_step step, const char *reason, const char *error)
{
	log_event(LOG_WARN, "kbs.request.failed", reason,
		  LOG_STR("step", step_name(step)), LOG_STR("error", error));
}

/* A reply we refuse; the KBS detail is server text, not a secret. */
static void
log_reply(enum kbs_step step, const char *reason, long status,
	  const struct kbs_error *e)
{
	if (e != NULL && e->parsed) {
		log_event(LOG_WARN, "kbs.request.failed", reason,
			  LOG_STR("step", step_name(step)),
			  LOG_I64("status", status),
			  LOG_STR("kbs_error", e->type),
			  LOG_STR("kbs_detail", e->detail));
	} else {
		log_event(LOG_WARN, "kbs.request.failed", reason,
			  LOG_STR("step", step_name(step)),
			  LOG_I64("status", status));
	}
}

/*
 * One request to base URL + path (POST when body is non-NULL). On SP_OK
 * the reply was 200 and resp->body is the caller's; otherwise it has been
 * freed, the failure logged, and v says what it means.
 */
static enum sp_err
kbs_call(struct kbs_session *s, enum kbs_step step, const char *path,
	 const struct strbuf *body, struct http_response *resp,
	 struct kbs_verdict *v)
{
	enum sp_err rc = SP_E_INTERNAL;
	struct kbs_error e;
	struct strbuf url;

	memset(&e, 0, sizeof(e));
	memset(resp, 0, sizeof(*resp));
	memset(v, 0, sizeof(*v));
	v->err = SP_E_INTERNAL;
	v->reason = "out_of_memory";
	strbuf_init(&url, KBS_URL_MAX);
	strbuf_appends(&url, s->url);
	strbuf_appends(&url, path);
	if (!strbuf_ok(&url)) {
		goto out;
	}

	rc = http_request(s->http, body != NULL ? "POST" : "GET", url.buf,
			  body != NULL ? kbs_post_headers : kbs_get_headers,
			  body != NULL ? body->buf : NULL,
			  body != NULL ? body->len : 0, KBS_REPLY_MAX, resp);
	if (rc != SP_OK) {
		v->err = rc;
		v->reason =
		    rc == SP_E_USAGE ? "kbs_url_refused" : "kbs_unreachable";
		if (kbs_cancelled(s)) {
			v->reason = "terminated";
		} else if (resp->oversize) {
			/* A reply over our ceilings is the KBS breaking
			 * the protocol: asking again will not mend it. */
			v->err = SP_E_PROTOCOL;
			v->reason = "kbs_reply_too_large";
			rc = v->err;
		}
		log_transport(step, v->reason, resp->errbuf);
		goto out;
	}

	if (resp->status != 200) {
		kbs_wire_parse_error(resp->body, resp->len, &e);
		kbs_wire_classify(step, resp->status, &e, v);
		log_reply(step, v->reason, resp->status, &e);
		rc = v->err;
		goto out;
	}
	rc = SP_OK;
out:
	if (rc != SP_OK) {
		resp_free(resp);
	}
	strbuf_free(&url);
	return rc;
}

/* A reply that arrived with 200 but could not be used. */
static void
log_bad_reply(enum kbs_step step, const char *why)
{
	log_reply(step, why, 200, NULL);
}

/* POST /auth: the challenge nonce and the hash to bind it with. */
static enum sp_err
kbs_auth(struct kbs_session *s, struct kbs_challenge *ch)
{
	enum sp_err rc = SP_E_INTERNAL;
	struct http_response resp;
	struct kbs_verdict v;
	struct strbuf body;

	memset(&resp, 0, sizeof(resp));
	strbuf_init(&body, KBS_REQUEST_MAX);
	s->why = "out_of_memory";
	kbs_wire_auth_body(&body, s->provider->tee);
	if (!strbuf_ok(&body)) {
		goto out;
	}

	rc = kbs_call(s, KBS_STEP_AUTH, "/kbs/v0/auth", &body, &resp, &v);
	if (rc != SP_OK) {
		s->why = v.reason;
		goto out;
	}
	rc = kbs_wire_parse_challenge(resp.body, resp.len, ch, &s->why);
	if (rc != SP_OK) {
		log_bad_reply(KBS_STEP_AUTH, s->why);
	}
out:
	resp_free(&resp);
	strbuf_free(&body);
	return rc;
}

/*
 * The additional devices' evidence over the device digest (§2.1 step 5,
 * runtime data without the additional-evidence key), into s->additional.
 */
static enum sp_err
kbs_additional(struct kbs_session *s, const struct kbs_challenge *ch)
{
	enum sp_err rc = SP_E_INTERNAL;
	unsigned char digest[KBS_DIGEST_MAX];
	size_t dlen = 0;
	struct strbuf rd;

	free(s->additional);
	s->additional = NULL;
	strbuf_init(&rd, KBS_REQUEST_MAX);
	s->why = "out_of_memory";
	kbs_wire_device_runtime_data(&rd, ch->nonce, s->jwk);
	if (!strbuf_ok(&rd)) {
		goto out;
	}
	rc = kbs_wire_digest(ch->hash, rd.buf, rd.len, digest, &dlen);
	if (rc != SP_OK) {
		goto out;
	}
	rc = gpu_additional_evidence(s->gpu, digest, dlen, &s->additional);
	if (rc != SP_OK) {
		s->why = "gpu_evidence_unavailable";
	}
out:
	strbuf_free(&rd);
	return rc;
}

/*
 * Evidence over H(JCS(runtime data)), from the configured provider,
 * and the init-data register checked in it before the KBS sees it.
 */
static enum sp_err
kbs_evidence(struct kbs_session *s, const struct kbs_challenge *ch,
	     char **evidence)
{
	enum sp_err rc = SP_E_INTERNAL;
	unsigned char digest[KBS_DIGEST_MAX];
	size_t dlen = 0;
	struct strbuf rd;

	strbuf_init(&rd, KBS_REQUEST_MAX);
	rc = kbs_additional(s, ch);
	if (rc != SP_OK) {
		goto out;
	}
	rc = SP_E_INTERNAL;
	s->why = "out_of_memory";
	kbs_wire_runtime_data(&rd, s->additional, ch->nonce, s->jwk);
	if (!strbuf_ok(&rd)) {
		goto out;
	}
	rc = kbs_wire_digest(ch->hash, rd.buf, rd.len, digest, &dlen);
	if (rc != SP_OK) {
		goto out;
	}

	rc = s->provider->collect(s->root, digest, dlen, evidence);
	if (rc != SP_OK || *evidence == NULL ||
	    strnlen(*evidence, EVIDENCE_MAX + 1) > EVIDENCE_MAX) {
		s->why = "evidence_failed";
		rc = SP_E_ATTEST;
		goto out;
	}
	if (s->init_data != NULL &&
	    initdata_check(s->init_data, s->provider->tee, *evidence) !=
		SP_OK) {
		s->why = "init_data_mismatch";
		rc = SP_E_ATTEST;
		goto out;
	}
	rc = SP_OK;
out:
	strbuf_free(&rd);
	return rc;
}

/* POST /attest: keeps the token the KBS returns. */
static enum sp_err
kbs_send_evidence(struct kbs_session *s, const char *nonce,
		  const char *evidence)
{
	enum sp_err rc = SP_E_INTERNAL;
	struct http_response resp;
	struct kbs_verdict v;
	struct strbuf body;
	struct secret *token = NULL;

	memset(&resp, 0, sizeof(resp));
	strbuf_init(&body, KBS_REQUEST_MAX);
	s->why = "attest_body_too_large";
	kbs_wire_attest_body_init(&body, nonce, s->jwk, evidence, s->additional,
				  s->init_data != NULL ? s->init_data->body
						       : NULL);
	if (!strbuf_ok(&body)) {
		goto out;
	}

	rc = kbs_call(s, KBS_STEP_ATTEST, "/kbs/v0/attest", &body, &resp, &v);
	if (rc != SP_OK) {
		s->why = v.reason;
		goto out;
	}
	rc = kbs_wire_parse_token(resp.body, resp.len, &token, &s->why);
	if (rc != SP_OK) {
		log_bad_reply(KBS_STEP_ATTEST, s->why);
		goto out;
	}
	secret_free(s->token);
	s->token = token;
out:
	resp_free(&resp);
	strbuf_free(&body);
	return rc;
}

/* One full handshake: /auth, evidence, /attest. */
static enum sp_err
kbs_handshake(struct kbs_session *s)
{
	enum sp_err rc = SP_E_INTERNAL;
	struct kbs_challenge ch;
	char *evidence = NULL;

	memset(&ch, 0, sizeof(ch));
	rc = kbs_auth(s, &ch);
	if (rc != SP_OK) {
		goto out;
	}
	/* Evidence can take seconds: not for a run that is stopping. */
	if (kbs_cancelled(s)) {
		s->why = "terminated";
		rc = SP_E_FETCH;
		goto out;
	}
	/* A hung driver or TPM ends the run at attest_timeout_s. */
	stop_attest_begin();
	rc = kbs_evidence(s, &ch, &evidence);
	if (stop_attest_end() != 0) {
		rc = SP_E_ATTEST;
	}
	if (rc != SP_OK) {
		goto out;
	}
	rc = kbs_send_evidence(s, ch.nonce, evidence);
out:
	free(evidence);
	kbs_wire_challenge_free(&ch);
	return rc;
}

/* Handshake, retried only while the KBS is unreachable or failing. */
static enum sp_err
kbs_handshake_retry(struct kbs_session *s, unsigned *attempts)
{
	enum sp_err rc = SP_E_FETCH;
	unsigned i;

	for (i = 1; i <= KBS_HANDSHAKE_TRIES; i++) {
		*attempts = i;
		rc = kbs_handshake(s);
		if (rc != SP_E_FETCH || i == KBS_HANDSHAKE_TRIES ||
		    kbs_cancelled(s)) {
			break;
		}
		sleep(KBS_RETRY_DELAY_S);
	}
	return rc;
}

/* The ephemeral key and the client; no network yet. */
static enum sp_err
kbs_session_new(const struct kbs_opts *opts, struct kbs_session **out)
{
	enum sp_err rc = SP_E_INTERNAL;
	struct kbs_session *s = NULL;
	struct http_opts ho;
	struct strbuf jwk;

	strbuf_init(&jwk, KBS_JWK_MAX);
	memset(&ho, 0, sizeof(ho));
	ho.ca_file = opts->ca_file;
	ho.connect_timeout_ms = KBS_CONNECT_TIMEOUT_MS;
	ho.idle_timeout_s = KBS_IDLE_TIMEOUT_S;
	ho.total_timeout_s = opts->timeout_s;
	ho.allow_http = opts->allow_http;
	ho.cancel = opts->cancel;

	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		goto out;
	}
	s->cancel = opts->cancel;
	s->provider = opts->provider;
	s->root = opts->root != NULL ? opts->root : "";
	s->init_data = opts->init_data;
	s->gpu = opts->gpu;
	s->url = strdup(opts->url);
	s->http = http_client_new(&ho);
	s->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (s->url == NULL || s->http == NULL || s->key == NULL) {
		goto out;
	}

	rc = kbs_wire_jwk(&jwk, s->key);
	if (rc != SP_OK) {
		goto out;
	}
	s->jwk = strdup(jwk.buf);
	if (s->jwk == NULL) {
		rc = SP_E_INTERNAL;
		goto out;
	}
	*out = s;
	s = NULL;
out:
	kbs_session_free(s);
	strbuf_free(&jwk);
	return rc;
}

enum sp_err
kbs_attest(const struct kbs_opts *opts, struct kbs_session **out)
{
	enum sp_err rc = SP_E_USAGE;
	struct kbs_session *s = NULL;
	unsigned attempts = 0;

	if (opts == NULL || opts->url == NULL || opts->provider == NULL ||
	    opts->timeout_s <= 0) {
		log_event(LOG_ERR, "kbs.attest.failed", "kbs_opts_invalid");
		goto out;
	}
	rc = kbs_session_new(opts, &s);
	if (rc != SP_OK) {
		log_event(LOG_ERR, "kbs.attest.failed", "kbs_setup_failed");
		goto out;
	}

	rc = kbs_handshake_retry(s, &attempts);
	if (rc != SP_OK) {
		log_event(LOG_ERR, "kbs.attest.failed", s->why,
			  LOG_STR("tee", s->provider->tee),
			  LOG_STR("kbs", s->url),
			  LOG_U64("attempts", attempts));
		goto out;
	}
	log_event(LOG_INFO, "kbs.attest.ok", NULL,
		  LOG_STR("tee", s->provider->tee), LOG_STR("kbs", s->url),
		  LOG_U64("attempts", attempts));
	*out = s;
	s = NULL;
out:
	kbs_session_free(s);
	return rc;
}

/* One GET and, on 200, the JWE opened with our key. */
static enum sp_err
kbs_get_once(struct kbs_session *s, const char *path, size_t max,
	     struct secret **out, struct kbs_verdict *v)
{
	enum sp_err rc = SP_E_INTERNAL;
	struct http_response resp;

	rc = kbs_call(s, KBS_STEP_RESOURCE, path, NULL, &resp, v);
	if (rc != SP_OK) {
		goto out;
	}
	rc = jwe_open(resp.body, resp.len, s->key, max, out, &v->reason);
	if (rc != SP_OK) {
		v->err = rc;
		log_bad_reply(KBS_STEP_RESOURCE, v->reason);
	}
out:
	resp_free(&resp);
	return rc;
}

/*
 * GET with bounded retries: transport and server failures again after a
 * pause, an unknown token once after a fresh handshake, nothing else.
 */
static enum sp_err
kbs_get_retry(struct kbs_session *s, const char *path, size_t max,
	      struct secret **out, const char **why)
{
	enum sp_err rc = SP_E_FETCH;
	struct kbs_verdict v;
	unsigned attempt, hs = 0;
	int rehandshaken = 0;

	for (attempt = 1; attempt <= KBS_GET_TRIES; attempt++) {
		rc = kbs_get_once(s, path, max, out, &v);
		*why = v.reason;
		if (rc == SP_OK) {
			break;
		}
		if (v.rehandshake && !rehandshaken) {
			rehandshaken = 1;
			rc = kbs_handshake_retry(s, &hs);
			*why = s->why;
			if (rc != SP_OK) {
				break;
			}
			continue;
		}
		if (rc != SP_E_FETCH || attempt == KBS_GET_TRIES ||
		    kbs_cancelled(s)) {
			break;
		}
		sleep(KBS_RETRY_DELAY_S);
	}
	return rc;
}

enum sp_err
kbs_get_resource(struct kbs_session *s, const char *uri, size_t max,
		 struct secret **out)
{
	enum sp_err rc = SP_E_USAGE;
	char res[KBS_RESOURCE_PATH_MAX];
	const char *why = "kbs_uri_invalid";
	struct strbuf path;

	strbuf_init(&path, KBS_URL_MAX);
	if (s == NULL || out == NULL || max > SECRET_MAX ||
	    kbs_wire_resource_path(uri, res, sizeof(res)) != SP_OK) {
		log_event(LOG_ERR, "kbs.resource.failed", why);
		goto out;
	}
	strbuf_appends(&path, "/kbs/v0/resource/");
	strbuf_appends(&path, res);
	if (!strbuf_ok(&path)) {
		rc = SP_E_INTERNAL;
		goto out;
	}

	rc = kbs_get_retry(s, path.buf, max, out, &why);
	if (rc != SP_OK) {
		log_event(LOG_ERR, "kbs.resource.failed", why,
			  LOG_STR("resource", res));
		goto out;
	}
	log_event(LOG_INFO, "kbs.resource.ok", NULL, LOG_STR("resource", res),
		  LOG_U64("bytes", (*out)->len));
out:
	strbuf_free(&path);
	return rc;
}

void
kbs_session_free(struct kbs_session *s)
{
	if (s != NULL) {
		http_client_free(s->http);
		EVP_PKEY_free(s->key);
		secret_free(s->token);
		free(s->additional);
		free(s->jwk);
		free(s->url);
		free(s);
	}
}
