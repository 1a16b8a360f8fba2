/*
 * s3_auth.c: credentials for s3:// stores (s3_auth.h).
 *
 * The STS reply is XML. We do not parse XML in general: we find the few
 * elements we need by their exact tags, insist that each appears once,
 * and refuse values with markup, entities or blanks, so a reply that
 * needs a real XML parser to read is refused rather than misread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "log.h"
#include "sigv4.h"
#include "source/s3_auth.h"
#include "util.h"

#define S3_ENV_ID	    "AWS_ACCESS_KEY_ID"
#define S3_ENV_SECRET	    "AWS_SECRET_ACCESS_KEY"
#define S3_ENV_TOKEN	    "AWS_SESSION_TOKEN"
#define S3_ENV_TOKEN_FILE   "AWS_WEB_IDENTITY_TOKEN_FILE"
#define S3_ENV_ROLE	    "AWS_ROLE_ARN"
#define S3_ENV_SESSION	    "AWS_ROLE_SESSION_NAME"
#define S3_SESSION_DEFAULT  "sealpod-init"
#define S3_SESSION_NAME_MAX 64
#define S3_STS_URL_MAX	    512
#define S3_STS_TIMEOUT_S    60
#define S3_TAG_MAX	    64
/* The form body: three encoded fields plus the fixed ones. */
#define S3_STS_BODY_MAX                                                        \
	(3 * (S3_WEB_TOKEN_MAX + S3_ROLE_ARN_MAX + S3_SESSION_NAME_MAX) + 256)

/* ---- the STS reply ---- */

/* Where <tag>value</tag> lies in [p, end): exactly one such element. */
static int
xml_find(const char *p, const char *end, const char *tag, const char **v,
	 size_t *vlen)
{
	char open[S3_TAG_MAX + 3];
	char close[S3_TAG_MAX + 4];
	const char *a;
	const char *b;
	size_t olen;
	int rc = -1;

	olen = (size_t)snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	a = memmem(p, (size_t)(end - p), open, olen);
	if (a == NULL) {
		goto out;
	}
	a += olen;
	b = memmem(a, (size_t)(end - a), close, strlen(close));
	if (b == NULL || memmem(b, (size_t)(end - b), open, olen) != NULL) {
		goto out;
	}
	*v = a;
	*vlen = (size_t)(b - a);
	rc = 0;
out:
	return rc;
}

/* Printable, no blank, no markup or entity; 1..max bytes. */
static int
value_plain(const char *v, size_t n, size_t max)
{
	size_t i;
	int ok = n > 0 && n <= max;

	for (i = 0; ok && i < n; i++) {
		ok = (unsigned char)v[i] > 0x20 && (unsigned char)v[i] < 0x7f &&
		     v[i] != '<' && v[i] != '>' && v[i] != '&';
	}
	return ok;
}

/* A value into a new secret; -1 when it breaks value_plain(). */
static int
value_secret(const char *v, size_t n, size_t max, struct secret **out)
{
	int rc = -1;

	if (value_plain(v, n, max)) {
		*out = secret_from(v, n);
		rc = *out != NULL ? 0 : -1;
	}
	return rc;
}

/* "YYYY-MM-DDTHH:MM:SS[.fff]Z" as UTC seconds. */
static int
parse_iso8601(const char *v, size_t n, time_t *out)
{
	char buf[40];
	struct tm tm;
	const char *end;
	int rc = -1;

	if (n < 20 || n >= sizeof(buf) || v[n - 1] != 'Z') {
		goto out;
	}
	memcpy(buf, v, n);
	buf[n] = '\0';
	memset(&tm, 0, sizeof(tm));
	end = strptime(buf, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end == NULL) {
		goto out;
	}
	if (*end == '.') {
		end++;
		end += strspn(end, "0123456789");
	}
	if (strcmp(end, "Z") != 0) {
		goto out;
	}
	*out = timegm(&tm);
	rc = *out > 0 ? 0 : -1;
out:
	return rc;
}

int
s3_xml_code(const char *body, size_t len, char *out, size_t cap)
{
	const char *v;
	size_t n;
	size_t i;
	int rc = -1;

	if (body == NULL || xml_find(body, body + len, "Code", &v, &n) != 0 ||
	    n == 0 || n >= cap) {
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (!((v[i] >= 'A' && v[i] <= 'Z') ||
		      (v[i] >= 'a' && v[i] <= 'z') ||
		      (v[i] >= '0' && v[i] <= '9') || v[i] == '.')) {
			goto out;
		}
	}
	memcpy(out, v, n);
	out[n] = '\0';
	rc = 0;
out:
	return rc;
}

/* The four members of <Credentials> inside [p, end). */
static enum sp_err
sts_credentials(const char *p, const char *end, struct s3_sts_reply *out)
{
	const char *v;
	size_t n;
	enum sp_err rc = SP_E_PROTOCOL;

	if (xml_find(p, end, "AccessKeyId", &v, &n) != 0 ||
	    !value_plain(v, n, S3_KEY_ID_MAX)) {
		goto out;
	}
	memcpy(out->key_id, v, n);
	out->key_id[n] = '\0';
	if (xml_find(p, end, "SecretAccessKey", &v, &n) != 0 ||
	    value_secret(v, n, S3_SECRET_KEY_MAX, &out->secret_key) != 0) {
		goto out;
	}
	if (xml_find(p, end, "SessionToken", &v, &n) != 0 ||
	    value_secret(v, n, S3_SESSION_TOKEN_MAX, &out->session_token) !=
		0) {
		goto out;
	}
	if (xml_find(p, end, "Expiration", &v, &n) != 0 ||
	    parse_iso8601(v, n, &out->expires) != 0) {
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

enum sp_err
s3_sts_parse(const char *body, size_t len, struct s3_sts_reply *out)
{
	const char *v;
	size_t n;
	enum sp_err rc = SP_E_PROTOCOL;

	memset(out, 0, sizeof(*out));
	if (body == NULL || len > S3_STS_REPLY_MAX ||
	    memchr(body, '\0', len) != NULL) {
		goto out;
	}
	if (memmem(body, len, "<ErrorResponse", 14) != NULL) {
		rc = s3_xml_code(body, len, out->code, sizeof(out->code)) == 0
			 ? SP_OK
			 : SP_E_PROTOCOL;
		goto out;
	}
	if (memmem(body, len, "<AssumeRoleWithWebIdentityResponse", 34) ==
		NULL ||
	    xml_find(body, body + len, "Credentials", &v, &n) != 0) {
		goto out;
	}
	rc = sts_credentials(v, v + n, out);
out:
	if (rc != SP_OK) {
		s3_sts_reply_wipe(out);
	}
	return rc;
}

void
s3_sts_reply_wipe(struct s3_sts_reply *r)
{
	secret_free(r->secret_key);
	secret_free(r->session_token);
	memset(r, 0, sizeof(*r));
}

/* ---- the environment ---- */

void
s3_creds_wipe(struct s3_creds *c)
{
	secret_free(c->secret_key);
	secret_free(c->session_token);
	memset(c, 0, sizeof(*c));
}

/* A variable that is set and not empty, or NULL. */
static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

static enum sp_err
creds_static(struct s3_creds *c, const char *id, const char *sk,
	     const char *tok)
{
	enum sp_err rc = SP_E_USAGE;

	if (!value_plain(id, strlen(id), S3_KEY_ID_MAX) ||
	    !value_plain(sk, strnlen(sk, S3_SECRET_KEY_MAX + 1),
			 S3_SECRET_KEY_MAX) ||
	    (tok != NULL &&
	     !value_plain(tok, strnlen(tok, S3_SESSION_TOKEN_MAX + 1),
			  S3_SESSION_TOKEN_MAX))) {
		log_event(LOG_ERR, "source.s3.credentials.failed",
			  "s3_env_credentials_invalid");
		goto out;
	}

	rc = SP_E_INTERNAL;
	snprintf(c->key_id, sizeof(c->key_id), "%s", id);
	c->secret_key = secret_from(sk, strlen(sk));
	if (c->secret_key == NULL) {
		goto out;
	}
	if (tok != NULL) {
		c->session_token = secret_from(tok, strlen(tok));
		if (c->session_token == NULL) {
			goto out;
		}
	}
	rc = SP_OK;
out:
	return rc;
}

/* The web-identity token file, whole, into a secret. */
static enum sp_err
web_token_read(const char *path, struct secret **out)
{
	char *buf = NULL;
	size_t len = 0;
	size_t n;
	enum sp_err rc;

	rc = file_read_all(path, S3_WEB_TOKEN_MAX, &buf, &len);
	if (rc != SP_OK) {
		log_event(LOG_ERR, "source.s3.credentials.failed",
			  "s3_web_identity_token_unreadable",
			  LOG_STR("error", sp_err_name(rc)));
		rc = SP_E_USAGE;
		goto out;
	}
	n = len;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
			 buf[n - 1] == ' ')) {
		n--;
	}
	if (!value_plain(buf, n, S3_WEB_TOKEN_MAX)) {
		log_event(LOG_ERR, "source.s3.credentials.failed",
			  "s3_web_identity_token_invalid");
		rc = SP_E_USAGE;
		goto out;
	}
	*out = secret_from(buf, n);
	rc = *out != NULL ? SP_OK : SP_E_INTERNAL;
out:
	if (buf != NULL) {
		secret_wipe_mem(buf, len);
	}
	free(buf);
	return rc;
}

/* The form body of AssumeRoleWithWebIdentity, in a secret (it holds the
 * token). */
static enum sp_err
sts_body(const struct secret *token, const char *role, const char *session,
	 struct secret **out)
{
	struct strbuf sb;
	char *tok = NULL;
	enum sp_err rc = SP_E_INTERNAL;

	strbuf_init(&sb, S3_STS_BODY_MAX);
	tok = malloc(token->len + 1);
	if (tok == NULL) {
		goto out;
	}
	memcpy(tok, token->data, token->len);
	tok[token->len] = '\0';
	strbuf_appends(&sb, "Action=AssumeRoleWithWebIdentity"
			    "&Version=2011-06-15&RoleArn=");
	sigv4_uri_encode(&sb, role, 0);
	strbuf_appends(&sb, "&RoleSessionName=");
	sigv4_uri_encode(&sb, session, 0);
	strbuf_appendf(
	    &sb, "&DurationSeconds=%d&WebIdentityToken=", S3_STS_DURATION_S);
	sigv4_uri_encode(&sb, tok, 0);
	if (!strbuf_ok(&sb)) {
		goto out;
	}
	*out = secret_from(sb.buf, sb.len);
	rc = *out != NULL ? SP_OK : SP_E_INTERNAL;
out:
	if (tok != NULL) {
		secret_wipe_mem(tok, token->len);
	}
	free(tok);
	strbuf_free(&sb);
	return rc;
}

/* Take the credentials of a parsed reply into c. */
static void
creds_take(struct s3_creds *c, struct s3_sts_reply *r)
{
	secret_free(c->secret_key);
	secret_free(c->session_token);
	memcpy(c->key_id, r->key_id, sizeof(c->key_id));
	c->secret_key = r->secret_key;
	c->session_token = r->session_token;
	c->expires = r->expires;
	c->web_identity = 1;
	r->secret_key = NULL;
	r->session_token = NULL;
}

/* What an STS reply of status st means for us. */
static enum sp_err
sts_reply(struct s3_creds *c, const struct http_response *resp)
{
	struct s3_sts_reply r;
	enum sp_err rc;

	rc = s3_sts_parse(resp->body, resp->len, &r);
	if (rc == SP_OK && resp->status == 200 && r.code[0] == '\0') {
		creds_take(c, &r);
		log_event(LOG_INFO, "source.s3.credentials.ok", NULL,
			  LOG_STR("kind", "web_identity"),
			  LOG_I64("expires_in_s",
				  (int64_t)(c->expires - time(NULL))));
	} else if (rc == SP_OK || resp->status != 200) {
		log_event(LOG_ERR, "source.s3.credentials.failed",
			  "s3_sts_refused", LOG_U64("status", resp->status),
			  LOG_STR("code", r.code[0] != '\0' ? r.code : "none"));
		rc = SP_E_FETCH;
	} else {
		log_event(LOG_ERR, "source.s3.credentials.failed",
			  "s3_sts_reply_invalid");
	}
	s3_sts_reply_wipe(&r);
	return rc;
}

/* POST the trade to STS. The reply holds credentials: wiped here. */
static enum sp_err
sts_trade(struct s3_creds *c, struct http_client *http, const char *url,
	  const struct secret *body)
{
	static const char *const hdrs[] = {
	    "Content-Type: application/x-www-form-urlencoded",
	    "Accept: application/xml",
	    NULL,
	};
	struct http_response resp;
	enum sp_err rc;

	rc = http_request(http, "POST", url, hdrs, body->data, body->len,
			  S3_STS_REPLY_MAX, &resp);
	if (rc != SP_OK) {
		log_event(LOG_ERR, "source.s3.credentials.failed",
			  "s3_sts_unreachable", LOG_STR("error", resp.errbuf));
		goto out;
	}
	rc = sts_reply(c, &resp);
out:
	if (resp.body != NULL) {
		secret_wipe_mem(resp.body, resp.len);
	}
	free(resp.body);
	return rc;
}

static enum sp_err
creds_web_identity(struct s3_creds *c, struct http_client *http,
		   const char *sts_url, const char *region)
{
	const char *file = env(S3_ENV_TOKEN_FILE);
	const char *role = env(S3_ENV_ROLE);
	const char *session = env(S3_ENV_SESSION);
	struct secret *token = NULL;
	struct secret *body = NULL;
	char url[S3_STS_URL_MAX];
	enum sp_err rc = SP_E_USAGE;

	if (role == NULL || strlen(role) > S3_ROLE_ARN_MAX ||
	    (session != NULL && strlen(session) > S3_SESSION_NAME_MAX)) {
		log_event(LOG_ERR, "source.s3.credentials.failed",
			  "s3_role_arn_invalid");
		goto out;
	}
	if (sts_url == NULL) {
		snprintf(url, sizeof(url), "https://sts.%s.amazonaws.com/",
			 region);
		sts_url = url;
	}

	rc = web_token_read(file, &token);
	if (rc != SP_OK) {
		goto out;
	}
	rc = sts_body(token, role,
		      session != NULL ? session : S3_SESSION_DEFAULT, &body);
	if (rc != SP_OK) {
		goto out;
	}
	rc = sts_trade(c, http, sts_url, body);
out:
	secret_free(token);
	secret_free(body);
	return rc;
}

enum sp_err
s3_creds_load(struct s3_creds *c, struct http_client *http, const char *sts_url,
	      const char *region)
{
	const char *id = env(S3_ENV_ID);
	const char *sk = env(S3_ENV_SECRET);
	enum sp_err rc = SP_E_USAGE;

	if (id != NULL && sk != NULL) {
		rc = creds_static(c, id, sk, env(S3_ENV_TOKEN));
		if (rc == SP_OK) {
			log_event(LOG_INFO, "source.s3.credentials.ok", NULL,
				  LOG_STR("kind", "environment"));
		}
	} else if (id != NULL || sk != NULL) {
		log_event(LOG_ERR, "source.s3.credentials.failed",
			  "s3_env_credentials_incomplete");
	} else if (env(S3_ENV_TOKEN_FILE) != NULL) {
		rc = creds_web_identity(c, http, sts_url, region);
	} else {
		/* XXX: no instance-profile or container credentials. */
		c->anonymous = 1;
		log_event(LOG_INFO, "source.s3.credentials.ok", NULL,
			  LOG_STR("kind", "anonymous"));
		rc = SP_OK;
	}
	return rc;
}

enum sp_err
s3_creds_refresh(struct s3_creds *c, struct http_client *http,
		 const char *sts_url, const char *region, time_t now)
{
	enum sp_err rc = SP_OK;

	if (c->web_identity && c->expires - S3_REFRESH_MARGIN_S <= now) {
		rc = creds_web_identity(c, http, sts_url, region);
	}
	return rc;
}
