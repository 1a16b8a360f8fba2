/*
 * initdata.c: load the init-data TOML, hash it with the algorithm it
 * names, and find the platform's config register in our own evidence
 * (kbs-protocol.md §2.2, "Init-data").
 *
 * The register is read back from the evidence JSON the provider built,
 * not from the hardware a second time: that is exactly what the
 * verifier will compare, so a mismatch here is a mismatch there.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "attest/tdx_quote.h"
#include "b64.h"
#include "initdata.h"
#include "json.h"
#include "log.h"
#include "utf8.h"
#include "util.h"

#define INITDATA_KEY	      "algorithm"
#define INITDATA_ALG_MAX      16
#define INITDATA_TDX_LEN      48 /* MRCONFIGID */
#define INITDATA_SNP_LEN      32 /* HOST_DATA */
#define INITDATA_PCR	      8
#define INITDATA_PCR_LEN      32	  /* SHA-256 bank */
#define INITDATA_QUOTE_MAX    (64 * 1024) /* base64 TDX quote we decode */
#define INITDATA_EVIDENCE_MAX (1024 * 1024)
#define INITDATA_JSON_ERR     128

/* The algorithms a verifier accepts for init-data (§2.2). */
static const struct {
	const char *name;
	size_t len;
} initdata_algs[] = {
    {"sha256", 32},
    {"sha384", 48},
    {"sha512", 64},
};

static const EVP_MD *
alg_md(const char *name)
{
	const EVP_MD *md = NULL;

	if (strcmp(name, "sha256") == 0) {
		md = EVP_sha256();
	} else if (strcmp(name, "sha384") == 0) {
		md = EVP_sha384();
	} else if (strcmp(name, "sha512") == 0) {
		md = EVP_sha512();
	}
	return md;
}

/* The static name matching value, or NULL. */
static const char *
alg_known(const char *value)
{
	const char *rc = NULL;
	size_t i;

	for (i = 0; i < sizeof(initdata_algs) / sizeof(initdata_algs[0]); i++) {
		if (strcmp(initdata_algs[i].name, value) == 0) {
			rc = initdata_algs[i].name;
		}
	}
	return rc;
}

/*
 * The quoted value of `algorithm = "..."` on one line (n bytes), into
 * out. Returns 1 when the line sets that key, 0 when it does not, -1
 * when it does but the value is not a short quoted string.
 */
static int
line_algorithm(const char *p, size_t n, char *out, size_t cap)
{
	const char *end = p + n;
	size_t klen = strlen(INITDATA_KEY);
	char quote;
	size_t vlen;
	int rc = 0;

	while (p < end && (*p == ' ' || *p == '\t')) {
		p++;
	}
	if ((size_t)(end - p) <= klen || strncmp(p, INITDATA_KEY, klen) != 0 ||
	    (p[klen] != ' ' && p[klen] != '\t' && p[klen] != '=')) {
		goto out;
	}
	rc = -1;
	p += klen;
	while (p < end && (*p == ' ' || *p == '\t')) {
		p++;
	}
	if (p >= end || *p != '=') {
		goto out;
	}
	p++;
	while (p < end && (*p == ' ' || *p == '\t')) {
		p++;
	}
	if (p >= end || (*p != '"' && *p != '\'')) {
		goto out;
	}

	quote = *p++;
	vlen = 0;
	while (p + vlen < end && p[vlen] != quote) {
		vlen++;
	}
	if (p + vlen >= end || vlen == 0 || vlen >= cap) {
		goto out;
	}
	memcpy(out, p, vlen);
	out[vlen] = '\0';
	rc = 1;
out:
	return rc;
}

/*
 * The top-level `algorithm` key: only lines before the first [table]
 * header are top level. XXX: a minimal reading of TOML, no multi-line
 * strings before the key; enough for the documents Trustee describes.
 */
static const char *
toml_algorithm(const char *body, size_t len, char *alg, size_t cap)
{
	const char *why = "init_data_algorithm_missing";
	const char *p = body;
	const char *end = body + len;
	const char *s;
	size_t n;
	int r;

	while (p < end) {
		n = strcspn(p, "\n");
		s = p;
		while (s < p + n && (*s == ' ' || *s == '\t')) {
			s++;
		}
		if (s < p + n && *s == '[') {
			break;
		}
		r = line_algorithm(p, n, alg, cap);
		if (r != 0) {
			why = r == 1 ? NULL : "init_data_algorithm_invalid";
			break;
		}
		p += n + (p + n < end ? 1 : 0);
	}
	return why;
}

enum sp_err
initdata_parse(const char *body, size_t len, struct initdata *out,
	       const char **why)
{
	enum sp_err rc = SP_E_USAGE;
	char alg[INITDATA_ALG_MAX];
	unsigned int dlen = 0;
	const char *name;

	memset(out, 0, sizeof(*out));
	*why = "init_data_too_large";
	if (len > INITDATA_MAX) {
		goto out;
	}
	*why = "init_data_not_utf8";
	if (memchr(body, '\0', len) != NULL ||
	    !utf8_valid((const unsigned char *)body, len)) {
		goto out;
	}
	*why = toml_algorithm(body, len, alg, sizeof(alg));
	if (*why != NULL) {
		goto out;
	}
	name = alg_known(alg);
	if (name == NULL) {
		*why = "init_data_algorithm_unsupported";
		goto out;
	}

	rc = SP_E_INTERNAL;
	*why = "out_of_memory";
	out->body = malloc(len + 1);
	if (out->body == NULL || EVP_Digest(body, len, out->digest, &dlen,
					    alg_md(name), NULL) != 1) {
		goto out;
	}
	memcpy(out->body, body, len);
	out->body[len] = '\0';
	out->len = len;
	out->dlen = dlen;
	out->alg = name;
	*why = NULL;
	rc = SP_OK;
out:
	if (rc != SP_OK) {
		initdata_free(out);
	}
	return rc;
}

enum sp_err
initdata_load(const char *path, struct initdata *out)
{
	enum sp_err rc;
	const char *why = "init_data_unreadable";
	char *buf = NULL;
	size_t len = 0;

	memset(out, 0, sizeof(*out));
	rc = file_read_all(path, INITDATA_MAX, &buf, &len);
	if (rc == SP_E_USAGE) {
		why = "init_data_too_large_or_not_a_file";
	}
	if (rc == SP_OK) {
		rc = initdata_parse(buf, len, out, &why);
	} else if (rc != SP_E_INTERNAL) {
		rc = SP_E_USAGE;
	}
	if (rc != SP_OK) {
		log_event(LOG_ERR, "initdata.load.failed", why,
			  LOG_STR("path", path));
	} else {
		log_event(LOG_INFO, "initdata.loaded", NULL,
			  LOG_STR("algorithm", out->alg),
			  LOG_U64("bytes", out->len));
	}
	free(buf);
	return rc;
}

void
initdata_free(struct initdata *d)
{
	if (d != NULL) {
		free(d->body);
		memset(d, 0, sizeof(*d));
	}
}

/* The digest resized to n bytes: cut, or zero-padded at the end. */
static void
resize(const struct initdata *d, unsigned char *out, size_t n)
{
	memset(out, 0, n);
	memcpy(out, d->digest, d->dlen < n ? d->dlen : n);
}

/* MRCONFIGID of the quote in {"quote": base64}. */
static enum sp_err
tdx_register(yajl_val ev, unsigned char reg[INITDATA_TDX_LEN])
{
	enum sp_err rc = SP_E_ATTEST;
	const char *q64 = json_get_str(ev, "quote");
	unsigned char *raw = NULL;
	struct tdx_quote q;
	const char *why = NULL;
	long n;

	if (q64 == NULL || strlen(q64) > INITDATA_QUOTE_MAX) {
		goto out;
	}
	raw = malloc(b64_decoded_max(strlen(q64)));
	if (raw == NULL) {
		rc = SP_E_INTERNAL;
		goto out;
	}
	n = b64_decode(q64, strlen(q64), B64_STD, raw,
		       b64_decoded_max(strlen(q64)));
	if (n < 0 || tdx_quote_parse(raw, (size_t)n, &q, &why) != SP_OK) {
		goto out;
	}
	memcpy(reg, q.body.mrconfigid, INITDATA_TDX_LEN);
	rc = SP_OK;
out:
	free(raw);
	return rc;
}

/* HOST_DATA: attestation_report.host_data, 32 byte numbers. */
static enum sp_err
snp_register(yajl_val ev, unsigned char reg[INITDATA_SNP_LEN])
{
	enum sp_err rc = SP_E_ATTEST;
	yajl_val hd = json_get(json_get(ev, "attestation_report"), "host_data");
	long long b;
	size_t i;

	if (!YAJL_IS_ARRAY(hd) || hd->u.array.len != INITDATA_SNP_LEN) {
		goto out;
	}
	for (i = 0; i < INITDATA_SNP_LEN; i++) {
		if (!YAJL_IS_INTEGER(hd->u.array.values[i])) {
			goto out;
		}
		b = YAJL_GET_INTEGER(hd->u.array.values[i]);
		if (b < 0 || b > 255) {
			goto out;
		}
		reg[i] = (unsigned char)b;
	}
	rc = SP_OK;
out:
	return rc;
}

/* PCR8 of tpm_quote.pcrs, hex of the SHA-256 bank. */
static enum sp_err
pcr8_register(yajl_val ev, unsigned char reg[INITDATA_PCR_LEN])
{
	enum sp_err rc = SP_E_ATTEST;
	yajl_val pcrs = json_get(json_get(ev, "tpm_quote"), "pcrs");
	const char *hex;

	if (!YAJL_IS_ARRAY(pcrs) || pcrs->u.array.len <= INITDATA_PCR ||
	    !YAJL_IS_STRING(pcrs->u.array.values[INITDATA_PCR])) {
		goto out;
	}
	hex = YAJL_GET_STRING(pcrs->u.array.values[INITDATA_PCR]);
	if (hex_decode(hex, strlen(hex), reg, INITDATA_PCR_LEN) != 0) {
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

/* What PCR8 holds after one extend of the digest from zero (§2.2). */
static enum sp_err
pcr8_expected(const struct initdata *d, unsigned char out[INITDATA_PCR_LEN])
{
	unsigned char buf[INITDATA_PCR_LEN + INITDATA_DIGEST_MAX];
	unsigned int n = 0;

	memset(buf, 0, INITDATA_PCR_LEN);
	memcpy(buf + INITDATA_PCR_LEN, d->digest, d->dlen);
	return EVP_Digest(buf, INITDATA_PCR_LEN + d->dlen, out, &n,
			  EVP_sha256(), NULL) == 1
		   ? SP_OK
		   : SP_E_INTERNAL;
}

/*
 * The register of tee in ev and the value it must hold, n bytes each.
 * *name is NULL for a tee without a config register.
 */
static enum sp_err
register_pair(const struct initdata *d, const char *tee, yajl_val ev,
	      unsigned char *got, unsigned char *want, size_t *n,
	      const char **name)
{
	enum sp_err rc = SP_OK;

	*name = NULL;
	if (strcmp(tee, "tdx") == 0) {
		*name = "mrconfigid";
		*n = INITDATA_TDX_LEN;
		resize(d, want, *n);
		rc = tdx_register(ev, got);
	} else if (strcmp(tee, "snp") == 0) {
		*name = "host_data";
		*n = INITDATA_SNP_LEN;
		resize(d, want, *n);
		rc = snp_register(ev, got);
	} else if (strcmp(tee, "tpm") == 0 || strcmp(tee, "az-snp-vtpm") == 0 ||
		   strcmp(tee, "az-tdx-vtpm") == 0) {
		*name = "pcr8";
		*n = INITDATA_PCR_LEN;
		rc = pcr8_expected(d, want);
		if (rc == SP_OK) {
			rc = pcr8_register(ev, got);
		}
	}
	return rc;
}

enum sp_err
initdata_check(const struct initdata *d, const char *tee, const char *evidence)
{
	enum sp_err rc = SP_E_ATTEST;
	unsigned char got[INITDATA_DIGEST_MAX];
	unsigned char want[INITDATA_DIGEST_MAX];
	char err[INITDATA_JSON_ERR];
	const char *name = NULL;
	yajl_val ev = NULL;
	size_t n = 0;

	ev = json_parse(evidence, strlen(evidence), INITDATA_EVIDENCE_MAX, err,
			sizeof(err));
	if (ev == NULL) {
		log_event(LOG_ERR, "initdata.check.failed",
			  "init_data_register_missing", LOG_STR("tee", tee));
		goto out;
	}
	rc = register_pair(d, tee, ev, got, want, &n, &name);
	if (rc != SP_OK) {
		log_event(LOG_ERR, "initdata.check.failed",
			  "init_data_register_missing", LOG_STR("tee", tee),
			  LOG_STR("register", name != NULL ? name : "none"));
		rc = rc == SP_E_INTERNAL ? rc : SP_E_ATTEST;
		goto out;
	}
	if (name == NULL) {
		log_event(LOG_INFO, "initdata.check.skipped", NULL,
			  LOG_STR("tee", tee), LOG_STR("why", "no_register"));
		goto out;
	}
	/* Public measurement values: a plain compare is fine. */
	if (memcmp(got, want, n) != 0) {
		log_event(LOG_ERR, "initdata.check.failed",
			  "init_data_mismatch", LOG_STR("tee", tee),
			  LOG_STR("register", name),
			  LOG_STR("algorithm", d->alg));
		rc = SP_E_ATTEST;
		goto out;
	}
	log_event(LOG_INFO, "initdata.check.ok", NULL, LOG_STR("tee", tee),
		  LOG_STR("register", name));
out:
	yajl_tree_free(ev);
	return rc;
}
