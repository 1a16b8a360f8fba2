/*
 * sigv4.c: AWS Signature Version 4, header form (sigv4.h).
 *
 * Written from AWS's description of the algorithm ("Create a canonical
 * request", "Create a string to sign", "Calculate the signature"); the
 * unit test checks AWS's published examples.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "sigv4.h"
#include "util.h"

#define SIGV4_ALGORITHM	 "AWS4-HMAC-SHA256"
#define SIGV4_TERMINATOR "aws4_request"
#define SIGV4_KEY_PREFIX "AWS4"
#define SIGV4_MAC_LEN	 32
#define SIGV4_NAME_MAX	 64 /* a header name, region or service */
#define SIGV4_CANON_MAX                                                        \
	(SIGV4_HEADERS_MAX * (SIGV4_FIELD_MAX + 80) + 3 * SIGV4_FIELD_MAX)
#define SIGV4_SCOPE_MAX	 (8 + 2 * SIGV4_NAME_MAX + 32)
#define SIGV4_SIGNED_MAX (SIGV4_HEADERS_MAX * (SIGV4_NAME_MAX + 1))
#define SIGV4_TO_SIGN_MAX                                                      \
	(SIGV4_SCOPE_MAX + SIGV4_DATE_LEN + SIGV4_HEX_LEN + 32)

static const char sigv4_hex_upper[] = "0123456789ABCDEF";

void
sigv4_uri_encode(struct strbuf *sb, const char *s, int keep_slash)
{
	unsigned char c;
	char esc[3];

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~' || (keep_slash && c == '/')) {
			strbuf_append(sb, s, 1);
			continue;
		}
		esc[0] = '%';
		esc[1] = sigv4_hex_upper[c >> 4];
		esc[2] = sigv4_hex_upper[c & 0x0f];
		strbuf_append(sb, esc, sizeof(esc));
	}
}

void
sigv4_amz_date(time_t t, char *out)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, SIGV4_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm);
}

/* 1 when s is 1..max characters of [a-z0-9-]. */
static int
token_ok(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);
	size_t i;
	int ok = n > 0 && n <= max;

	for (i = 0; ok && i < n; i++) {
		ok = (s[i] >= 'a' && s[i] <= 'z') ||
		     (s[i] >= '0' && s[i] <= '9') || s[i] == '-';
	}
	return ok;
}

/* 1 when s is YYYYMMDDTHHMMSSZ (digits where digits belong). */
static int
date_ok(const char *s)
{
	size_t i;
	int ok = strnlen(s, SIGV4_DATE_LEN + 1) == SIGV4_DATE_LEN &&
		 s[8] == 'T' && s[15] == 'Z';

	for (i = 0; ok && i < SIGV4_DATE_LEN; i++) {
		ok = i == 8 || i == 15 || (s[i] >= '0' && s[i] <= '9');
	}
	return ok;
}

/* An access key id goes into "Credential=<id>/...": no separators. */
static int
key_id_ok(const char *s)
{
	size_t n = strnlen(s, SIGV4_KEYID_MAX + 1);
	size_t i;
	int ok = n > 0 && n <= SIGV4_KEYID_MAX;

	for (i = 0; ok && i < n; i++) {
		ok = (unsigned char)s[i] > 0x20 && (unsigned char)s[i] < 0x7f &&
		     s[i] != '/' && s[i] != ',' && s[i] != '=';
	}
	return ok;
}

/* Header names sorted strictly (so unique), values within the ceiling. */
static int
headers_ok(const struct sigv4_request *r)
{
	size_t i;
	int ok = r->nheaders > 0 && r->nheaders <= SIGV4_HEADERS_MAX;

	for (i = 0; ok && i < r->nheaders; i++) {
		ok = token_ok(r->headers[i].name, SIGV4_NAME_MAX) &&
		     strnlen(r->headers[i].value, SIGV4_FIELD_MAX + 1) <=
			 SIGV4_FIELD_MAX &&
		     (i == 0 ||
		      strcmp(r->headers[i - 1].name, r->headers[i].name) < 0);
	}
	return ok;
}

static int
request_ok(const struct sigv4_request *r, const char *key_id)
{
	return r->method != NULL && token_ok(r->region, SIGV4_NAME_MAX) &&
	       token_ok(r->service, SIGV4_NAME_MAX) && date_ok(r->amz_date) &&
	       key_id_ok(key_id) && r->method[0] != '\0' &&
	       strnlen(r->method, SIGV4_NAME_MAX + 1) <= SIGV4_NAME_MAX &&
	       strnlen(r->path, SIGV4_FIELD_MAX + 1) <= SIGV4_FIELD_MAX &&
	       strnlen(r->query, SIGV4_FIELD_MAX + 1) <= SIGV4_FIELD_MAX &&
	       strnlen(r->payload_hash, SIGV4_HEX_LEN + 1) <= SIGV4_HEX_LEN &&
	       headers_ok(r);
}

/* A header value with its ends trimmed and inner blank runs folded. */
static void
append_trimmed(struct strbuf *sb, const char *v)
{
	int blank = 0;

	while (*v == ' ' || *v == '\t') {
		v++;
	}
	for (; *v != '\0'; v++) {
		if (*v == ' ' || *v == '\t') {
			blank = 1;
			continue;
		}
		if (blank) {
			strbuf_append(sb, " ", 1);
			blank = 0;
		}
		strbuf_append(sb, v, 1);
	}
}

/* "host;x-amz-date" style list of the signed names. */
static void
signed_names(const struct sigv4_request *r, struct strbuf *sb)
{
	size_t i;

	for (i = 0; i < r->nheaders; i++) {
		if (i > 0) {
			strbuf_append(sb, ";", 1);
		}
		strbuf_appends(sb, r->headers[i].name);
	}
}

static void
canonical_request(const struct sigv4_request *r, struct strbuf *sb)
{
	size_t i;

	strbuf_appendf(sb, "%s\n%s\n%s\n", r->method,
		       r->path[0] != '\0' ? r->path : "/", r->query);
	for (i = 0; i < r->nheaders; i++) {
		strbuf_appends(sb, r->headers[i].name);
		strbuf_append(sb, ":", 1);
		append_trimmed(sb, r->headers[i].value);
		strbuf_append(sb, "\n", 1);
	}
	strbuf_append(sb, "\n", 1);
	signed_names(r, sb);
	strbuf_appendf(sb, "\n%s", r->payload_hash);
}

static int
sha256_hex(const void *buf, size_t len, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	int rc = -1;

	if (EVP_Digest(buf, len, md, &md_len, EVP_sha256(), NULL) == 1 &&
	    md_len == 32) {
		hex_encode(md, md_len, out);
		rc = 0;
	}
	return rc;
}

static int
mac(const void *key, size_t key_len, const char *msg, unsigned char *out)
{
	unsigned int n = 0;
	int rc = -1;

	if (HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg,
		 strlen(msg), out, &n) != NULL &&
	    n == SIGV4_MAC_LEN) {
		rc = 0;
	}
	return rc;
}

/*
 * The signature over to_sign in hex. "AWS4" || secret and the derived
 * keys are transient copies on the stack, wiped before return (a struct
 * secret per request would cost a locked mapping each time).
 */
static enum sp_err
signature(const struct sigv4_request *r, const struct secret *secret_key,
	  const char *to_sign, char *hex)
{
	unsigned char k0[sizeof(SIGV4_KEY_PREFIX) + SIGV4_SECRET_MAX];
	unsigned char k[2][SIGV4_MAC_LEN];
	char day[9];
	size_t plen = strlen(SIGV4_KEY_PREFIX);
	enum sp_err rc = SP_E_USAGE;

	if (secret_key->len > SIGV4_SECRET_MAX) {
		goto out;
	}
	memcpy(day, r->amz_date, 8);
	day[8] = '\0';
	memcpy(k0, SIGV4_KEY_PREFIX, plen);
	memcpy(k0 + plen, secret_key->data, secret_key->len);

	rc = SP_E_INTERNAL;
	if (mac(k0, plen + secret_key->len, day, k[0]) != 0 ||
	    mac(k[0], SIGV4_MAC_LEN, r->region, k[1]) != 0 ||
	    mac(k[1], SIGV4_MAC_LEN, r->service, k[0]) != 0 ||
	    mac(k[0], SIGV4_MAC_LEN, SIGV4_TERMINATOR, k[1]) != 0 ||
	    mac(k[1], SIGV4_MAC_LEN, to_sign, k[0]) != 0) {
		goto out;
	}
	hex_encode(k[0], SIGV4_MAC_LEN, hex);
	rc = SP_OK;
out:
	secret_wipe_mem(k0, sizeof(k0));
	secret_wipe_mem(k, sizeof(k));
	return rc;
}

/* "<day>/<region>/<service>/aws4_request" */
static void
scope(const struct sigv4_request *r, char *out, size_t cap)
{
	snprintf(out, cap, "%.8s/%s/%s/%s", r->amz_date, r->region, r->service,
		 SIGV4_TERMINATOR);
}

enum sp_err
sigv4_authorization(const struct sigv4_request *r, const char *key_id,
		    const struct secret *secret_key, char *out, size_t cap)
{
	char creq_hex[SIGV4_HEX_LEN + 1];
	char sig[SIGV4_HEX_LEN + 1];
	char sc[SIGV4_SCOPE_MAX];
	char to_sign[SIGV4_TO_SIGN_MAX];
	struct strbuf creq;
	struct strbuf names;
	int n;
	enum sp_err rc = SP_E_USAGE;

	strbuf_init(&creq, SIGV4_CANON_MAX);
	strbuf_init(&names, SIGV4_SIGNED_MAX);
	if (!request_ok(r, key_id) || secret_key == NULL) {
		goto out;
	}

	rc = SP_E_INTERNAL;
	canonical_request(r, &creq);
	signed_names(r, &names);
	if (!strbuf_ok(&creq) || !strbuf_ok(&names) ||
	    sha256_hex(creq.buf, creq.len, creq_hex) != 0) {
		goto out;
	}
	scope(r, sc, sizeof(sc));
	snprintf(to_sign, sizeof(to_sign), "%s\n%s\n%s\n%s", SIGV4_ALGORITHM,
		 r->amz_date, sc, creq_hex);

	rc = signature(r, secret_key, to_sign, sig);
	if (rc != SP_OK) {
		goto out;
	}

	rc = SP_E_USAGE;
	n = snprintf(out, cap,
		     "%s Credential=%s/%s, SignedHeaders=%s, Signature=%s",
		     SIGV4_ALGORITHM, key_id, sc, names.buf, sig);
	if (n < 0 || (size_t)n >= cap) {
		secret_wipe_mem(out, cap);
		goto out;
	}
	rc = SP_OK;
out:
	secret_wipe_mem(sig, sizeof(sig));
	strbuf_free(&creq);
	strbuf_free(&names);
	return rc;
}
