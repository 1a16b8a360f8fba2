/*
 * hcl.c: Azure HCL report parser (layout in hcl.h).
 *
 * The report comes from the paravisor through the vTPM; we parse it to
 * check, before sending anything, that it is the report we asked for
 * (our user data inside, bound to the hardware report by the var-data
 * hash, signed for by the AK we quote with). The verifier repeats every
 * check; ours turn a doomed attestation into a precise local error.
 */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>

#include "b64.h"
#include "hcl.h"
#include "json.h"
#include "secret.h"
#include "util.h"

#define HCL_MAGIC	"HCLA"
#define HCL_SNP_RD_OFF	0x50 /* REPORT_DATA in the SNP report */
#define HCL_TD_RD_OFF	0x80 /* REPORTDATA in the TDREPORT */
#define HCL_TD_MRTD_OFF 0x210
#define HCL_TD_TYPE_TDX 0x81 /* TDREPORT REPORTTYPE.type */
#define HCL_AK_KID	"HCLAkPub"
#define HCL_JWK_E_MAX	8
#define HCL_JSON_ERR	128

static uint32_t
le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t
le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* The hardware report inside the slot, by report type. */
static int
parse_hw(const unsigned char *buf, struct hcl_report *r)
{
	r->hw_report = buf + HCL_HW_OFFSET;
	if (r->report_type == HCL_TYPE_SNP) {
		r->hw_len = HCL_SNP_LEN;
		r->report_data = r->hw_report + HCL_SNP_RD_OFF;
	} else if (r->report_type == HCL_TYPE_TDX &&
		   r->hw_report[0] == HCL_TD_TYPE_TDX) {
		r->hw_len = HCL_TDREPORT_LEN;
		r->report_data = r->hw_report + HCL_TD_RD_OFF;
	} else {
		return -1;
	}
	return 0;
}

enum sp_err
hcl_parse(const unsigned char *buf, size_t len, struct hcl_report *out)
{
	enum sp_err rc = SP_E_PROTOCOL;
	const unsigned char *igvm;
	struct hcl_report r;
	uint32_t data_size;

	memset(&r, 0, sizeof(r));
	if (buf == NULL || len < HCL_VAR_OFFSET || len > HCL_REPORT_MAX ||
	    memcmp(buf, HCL_MAGIC, 4) != 0) {
		goto out;
	}
	r.version = le32(buf + 4);
	r.report_size = le32(buf + 8);
	r.request_type = le32(buf + 12);
	r.status = le32(buf + 16);

	igvm = buf + HCL_IGVM_OFFSET;
	data_size = le32(igvm);
	r.report_type = le32(igvm + 8);
	r.hash_type = le32(igvm + 12);
	r.var_len = le32(igvm + 16);
	r.var_data = buf + HCL_VAR_OFFSET;
	/* Sizes are compared before they are added: no wrap-around. */
	if (r.report_size > len || r.report_size < HCL_VAR_OFFSET ||
	    r.var_len > r.report_size - HCL_VAR_OFFSET ||
	    data_size != r.var_len + HCL_IGVM_LEN) {
		goto out;
	}
	if (parse_hw(buf, &r) != 0) {
		goto out;
	}
	*out = r;
	rc = SP_OK;
out:
	return rc;
}

enum sp_err
hcl_var_data_digest(const struct hcl_report *r, unsigned char *out, size_t cap,
		    size_t *len)
{
	enum sp_err rc = SP_E_PROTOCOL;
	unsigned int n = 0;

	/* SHA-256 only: what the docs promise and Trustee's Azure verifiers
	 * compare; the report's other hash types are refused (h20 F4). */
	if (r->hash_type != HCL_HASH_SHA256 || cap < HCL_DIGEST_MAX) {
		goto out;
	}
	rc = SP_E_INTERNAL;
	if (EVP_Digest(r->var_data, r->var_len, out, &n, EVP_sha256(), NULL) !=
	    1) {
		goto out;
	}
	*len = n;
	rc = SP_OK;
out:
	return rc;
}

int
hcl_binding_ok(const struct hcl_report *r)
{
	unsigned char digest[HCL_DIGEST_MAX];
	size_t n = 0;
	int ok = 0;

	if (hcl_var_data_digest(r, digest, sizeof(digest), &n) == SP_OK) {
		ok = ct_memeq(digest, r->report_data, n);
	}
	return ok;
}

/* Decode an unpadded base64url JWK member into out (cap bytes). */
static long
jwk_bytes(yajl_val key, const char *name, unsigned char *out, size_t cap)
{
	const char *s = json_get_str(key, name);

	if (s == NULL) {
		return -1;
	}
	return b64_decode(s, strlen(s), B64_URL, out, cap);
}

/* An RSA public key from a JWK's "n" and "e". NULL when malformed. */
static EVP_PKEY *
jwk_rsa(yajl_val key)
{
	unsigned char n[HCL_JWK_N_MAX], e[HCL_JWK_E_MAX];
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	BIGNUM *bn_n = NULL, *bn_e = NULL;
	EVP_PKEY *pkey = NULL;
	long nlen, elen;
	const char *kty = json_get_str(key, "kty");

	nlen = jwk_bytes(key, "n", n, sizeof(n));
	elen = jwk_bytes(key, "e", e, sizeof(e));
	if (kty == NULL || strcmp(kty, "RSA") != 0 || nlen <= 0 || elen <= 0) {
		goto out;
	}
	bn_n = BN_bin2bn(n, (int)nlen, NULL);
	bn_e = BN_bin2bn(e, (int)elen, NULL);
	bld = OSSL_PARAM_BLD_new();
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (bn_n == NULL || bn_e == NULL || bld == NULL || ctx == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e)) {
		goto out;
	}
	params = OSSL_PARAM_BLD_to_param(bld);
	if (params == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
out:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	BN_free(bn_n);
	BN_free(bn_e);
	return pkey;
}

/* "keys": record every kid; HCLAkPub becomes v->ak. */
static int
parse_keys(yajl_val keys, struct hcl_var_data *v)
{
	const char *kid;
	yajl_val key;
	size_t i;

	if (keys == NULL) {
		return 0;
	}
	if (!YAJL_IS_ARRAY(keys) || keys->u.array.len > HCL_KEYS_MAX) {
		return -1;
	}
	for (i = 0; i < keys->u.array.len; i++) {
		key = keys->u.array.values[i];
		kid = json_get_str(key, "kid");
		if (kid == NULL || strlen(kid) >= HCL_KID_MAX) {
			return -1;
		}
		memcpy(v->kids[i], kid, strlen(kid) + 1);
		v->nkids = i + 1;
		if (strcmp(kid, HCL_AK_KID) != 0) {
			continue;
		}
		if (v->ak != NULL) {
			return -1; /* two AKs: which one signs? */
		}
		v->ak = jwk_rsa(key);
		if (v->ak == NULL) {
			return -1;
		}
	}
	return 0;
}

/* "user-data": hex, at most HCL_USER_DATA_MAX bytes. */
static int
parse_user_data(yajl_val root, struct hcl_var_data *v)
{
	yajl_val ud = json_get(root, "user-data");
	size_t n;

	if (ud == NULL) {
		return 0;
	}
	if (!YAJL_IS_STRING(ud)) {
		return -1;
	}
	n = strlen(ud->u.string);
	if (n % 2 != 0 || n / 2 > HCL_USER_DATA_MAX ||
	    hex_decode(ud->u.string, n, v->user_data, n / 2) != 0) {
		return -1;
	}
	v->user_data_len = n / 2;
	v->has_user_data = 1;
	return 0;
}

enum sp_err
hcl_var_data_parse(const struct hcl_report *r, struct hcl_var_data *out)
{
	enum sp_err rc = SP_E_PROTOCOL;
	char err[HCL_JSON_ERR];
	yajl_val root = NULL;

	memset(out, 0, sizeof(*out));
	root = json_parse((const char *)r->var_data, r->var_len, HCL_REPORT_MAX,
			  err, sizeof(err));
	if (root == NULL || !YAJL_IS_OBJECT(root)) {
		goto out;
	}
	if (parse_keys(json_get(root, "keys"), out) != 0 ||
	    parse_user_data(root, out) != 0) {
		goto out;
	}
	rc = SP_OK;
out:
	yajl_tree_free(root);
	return rc;
}

void
hcl_var_data_free(struct hcl_var_data *v)
{
	if (v == NULL) {
		return;
	}
	EVP_PKEY_free(v->ak);
	memset(v, 0, sizeof(*v));
}

/* Offsets: the SNP report layout, tee-guest-interfaces.md §3.2. */
enum sp_err
hcl_snp_fields(const struct hcl_report *r, struct hcl_snp *out)
{
	const unsigned char *p = r->hw_report;
	enum sp_err rc = SP_E_PROTOCOL;

	if (r->report_type != HCL_TYPE_SNP || r->hw_len != HCL_SNP_LEN) {
		goto out;
	}
	memset(out, 0, sizeof(*out));
	out->version = le32(p + 0x00);
	out->guest_svn = le32(p + 0x04);
	out->policy = le64(p + 0x08);
	out->vmpl = le32(p + 0x30);
	out->signature_algo = le32(p + 0x34);
	out->current_tcb = le64(p + 0x38);
	out->signer_info = le32(p + 0x48);
	out->report_data = p + HCL_SNP_RD_OFF;
	out->measurement = p + 0x90;
	out->host_data = p + 0xC0;
	out->reported_tcb = le64(p + 0x180);
	out->chip_id = p + 0x1A0;
	out->committed_tcb = le64(p + 0x1E0);
	rc = SP_OK;
out:
	return rc;
}

const unsigned char *
hcl_td_mrtd(const struct hcl_report *r)
{
	const unsigned char *mrtd = NULL;

	if (r->report_type == HCL_TYPE_TDX && r->hw_len == HCL_TDREPORT_LEN) {
		mrtd = r->hw_report + HCL_TD_MRTD_OFF;
	}
	return mrtd;
}
