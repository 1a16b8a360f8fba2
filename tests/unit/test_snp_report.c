/*
 * test_snp_report.c: the SEV-SNP report parser against every real SNP
 * report in testdata/tee (raw, and inside Azure HCL reports), asserting
 * every value expected.json lists, the ECDSA P-384 signature with the
 * named VCEK/VLEK and the VCEK's chain to AMD; the Trustee JSON shape
 * round-tripped back to the exact signed bytes for every report (and a
 * synthetic Turin v5 one); the certificate table to cert_chain.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest/le.h"
#include "attest/snp_report.h"
#include "tee_vectors.h"

#define JSON_MAX       (1024 * 1024)
#define P384_LEN       48
#define HCL_REPORT_OFF 32
#define CERT_ENTRY     24
#define TABLE_MAX      (16 * 1024)

struct vector {
	const char *rel;
	int in_hcl; /* expected values under "snp", report at 0x20 */
};

static const struct vector vectors[] = {
    {"snp/gosev_attestation.bin", 0},
    {"snp/trustee_vcek_report.bin", 0},
    {"snp/trustee_vlek_report.bin", 0},
    {"azure-hcl/hcl-report-snp.bin", 1},
    {"azure-hcl/trustee-snp/hcl-report.bin", 1},
};

/* The first certificate of a DER or PEM file under tee/. */
static X509 *
load_cert(const char *rel)
{
	const unsigned char *p;
	unsigned char *buf;
	X509 *x = NULL;
	size_t len;
	BIO *bio;

	buf = tv_load(rel, &len);
	p = buf;
	x = d2i_X509(NULL, &p, (long)len);
	if (x == NULL) {
		bio = BIO_new_mem_buf(buf, (int)len);
		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		BIO_free(bio);
	}
	assert_non_null(x);
	free(buf);
	return x;
}

/* 72 little-endian bytes to a P-384 scalar (the top 24 must be 0). */
static BIGNUM *
le_scalar(const unsigned char *le)
{
	unsigned char be[P384_LEN];
	size_t i;

	for (i = P384_LEN; i < SNP_SIG_COMPONENT_LEN; i++) {
		assert_int_equal(le[i], 0);
	}
	for (i = 0; i < P384_LEN; i++) {
		be[i] = le[P384_LEN - 1 - i];
	}
	return BN_bin2bn(be, P384_LEN, NULL);
}

/* ECDSA P-384/SHA-384 over [0, 0x2A0) with the parsed r and s. */
static int
report_signed_by(const unsigned char *raw, const struct snp_report *r,
		 const char *cert_rel)
{
	X509 *cert = load_cert(cert_rel);
	EVP_PKEY *key = X509_get0_pubkey(cert);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	ECDSA_SIG *sig = ECDSA_SIG_new();
	unsigned char *der = NULL;
	int derlen, ok;

	assert_non_null(key);
	assert_int_equal(
	    ECDSA_SIG_set0(sig, le_scalar(r->sig_r), le_scalar(r->sig_s)), 1);
	derlen = i2d_ECDSA_SIG(sig, &der);
	assert_int_equal(
	    EVP_DigestVerifyInit(ctx, NULL, EVP_sha384(), NULL, key), 1);
	ok = EVP_DigestVerify(ctx, der, (size_t)derlen, raw,
			      SNP_REPORT_SIGNED_LEN) == 1;
	OPENSSL_free(der);
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(ctx);
	X509_free(cert);
	return ok;
}

/* VCEK <- ASK <- ARK (self-signed), the chain file holding ASK, ARK. */
static void
assert_chain(const char *vcek_rel, const char *chain_rel)
{
	STACK_OF(X509_INFO) * infos;
	X509 *vcek = load_cert(vcek_rel), *ask, *ark;
	unsigned char *buf;
	size_t len;
	BIO *bio;

	buf = tv_load(chain_rel, &len);
	bio = BIO_new_mem_buf(buf, (int)len);
	infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
	assert_non_null(infos);
	assert_int_equal(sk_X509_INFO_num(infos), 2);
	ask = sk_X509_INFO_value(infos, 0)->x509;
	ark = sk_X509_INFO_value(infos, 1)->x509;
	assert_int_equal(X509_verify(vcek, X509_get0_pubkey(ask)), 1);
	assert_int_equal(X509_verify(ask, X509_get0_pubkey(ark)), 1);
	assert_int_equal(X509_verify(ark, X509_get0_pubkey(ark)), 1);
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(bio);
	X509_free(vcek);
	free(buf);
}

/* The KDS VCEK URL from the parsed chip id and reported TCB (§3.4). */
static void
assert_kds_url(const struct snp_report *r, const char *want)
{
	char hex[2 * SNP_CHIP_ID_LEN + 1], url[512];

	hex_encode(r->chip_id, SNP_CHIP_ID_LEN, hex);
	snprintf(url, sizeof(url),
		 "https://kdsintf.amd.com/vcek/v1/Milan/%s?blSPL=%u&teeSPL=%u"
		 "&snpSPL=%u&ucodeSPL=%u",
		 hex, r->reported_tcb.bootloader, r->reported_tcb.tee,
		 r->reported_tcb.snp, r->reported_tcb.microcode);
	assert_string_equal(url, want);
}

static int
key_is(const char *key, const char *name)
{
	return strcmp(key, name) == 0;
}

/* One expected member; anything unknown fails. */
static void
check_key(yajl_val exp, const char *key, const unsigned char *raw,
	  const struct snp_report *r)
{
	char path[TV_PATH_MAX];

	if (key_is(key, "chip_id")) {
		tv_assert_hex(r->chip_id, SNP_CHIP_ID_LEN, tv_str(exp, key));
	} else if (key_is(key, "committed_tcb")) {
		assert_int_equal(r->committed_tcb.raw, tv_hexnum(exp, key));
	} else if (key_is(key, "current_tcb")) {
		assert_int_equal(r->current_tcb.raw, tv_hexnum(exp, key));
	} else if (key_is(key, "reported_tcb")) {
		assert_int_equal(r->reported_tcb.raw, tv_hexnum(exp, key));
	} else if (key_is(key, "guest_svn")) {
		assert_int_equal(r->guest_svn, tv_u64(exp, key));
	} else if (key_is(key, "host_data")) {
		tv_assert_hex(r->host_data, 32, tv_str(exp, key));
	} else if (key_is(key, "kds_vcek_url")) {
		assert_kds_url(r, tv_str(exp, key));
	} else if (key_is(key, "measurement")) {
		tv_assert_hex(r->measurement, 48, tv_str(exp, key));
	} else if (key_is(key, "policy")) {
		assert_int_equal(r->policy, tv_hexnum(exp, key));
	} else if (key_is(key, "report_data")) {
		tv_assert_hex(r->report_data, 64, tv_str(exp, key));
	} else if (key_is(key, "signature_algo")) {
		assert_int_equal(r->sig_algo, tv_u64(exp, key));
	} else if (key_is(key, "signer_info")) {
		assert_int_equal(r->key_info, tv_hexnum(exp, key));
	} else if (key_is(key, "vcek_chain")) {
		tv_path_of(tv_str(exp, key), path, sizeof(path));
		assert_chain(tv_str(exp, "verifies_with"), path);
	} else if (key_is(key, "verifies_with") ||
		   key_is(key, "snp_verifies_with")) {
		tv_path_of(tv_str(exp, key), path, sizeof(path));
		assert_true(report_signed_by(raw, r, path));
	} else if (key_is(key, "version")) {
		assert_int_equal(r->version, tv_u64(exp, key));
	} else if (key_is(key, "vmpl")) {
		assert_int_equal(r->vmpl, tv_u64(exp, key));
	} else {
		fail_msg("expected.json key %s not checked", key);
	}
}

/* The raw report of a vector (the slot inside an HCL report). */
static unsigned char *
vector_report(const struct vector *v, size_t *len)
{
	unsigned char *buf = tv_load(v->rel, len);
	yajl_val outer;

	if (v->in_hcl) {
		outer = tv_vector(v->rel);
		assert_int_equal(tv_u64(outer, "hw_report_offset"),
				 HCL_REPORT_OFF);
		memmove(buf, buf + HCL_REPORT_OFF, SNP_REPORT_LEN);
		*len = SNP_REPORT_LEN;
	}
	return buf;
}

static void
test_vectors(void **state)
{
	const struct vector *v;
	const char *why = NULL;
	struct snp_report r;
	unsigned char *raw;
	yajl_val exp, outer;
	size_t i, k, len;

	(void)state;
	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		v = &vectors[i];
		raw = vector_report(v, &len);
		outer = tv_vector(v->rel);
		exp = v->in_hcl ? json_get(outer, "snp") : outer;
		assert_non_null(exp);
		assert_int_equal(snp_report_parse(raw, len, &r, &why), SP_OK);
		for (k = 0; k < exp->u.object.len; k++) {
			check_key(exp, exp->u.object.keys[k], raw, &r);
		}
		if (v->in_hcl && json_get(outer, "snp_verifies_with") != NULL) {
			check_key(outer, "snp_verifies_with", raw, &r);
		}
		free(raw);
	}
}

/* TCB decomposition of 0x4405000000000002 (GSEV's KDS test, §3.2). */
static void
test_tcb_fields(void **state)
{
	struct snp_report r;
	const char *why;
	unsigned char *raw;
	size_t len;

	(void)state;
	raw = tv_load("snp/gosev_attestation.bin", &len);
	assert_int_equal(snp_report_parse(raw, len, &r, &why), SP_OK);
	assert_int_equal(r.reported_tcb.bootloader, 2);
	assert_int_equal(r.reported_tcb.tee, 0);
	assert_int_equal(r.reported_tcb.snp, 5);
	assert_int_equal(r.reported_tcb.microcode, 68);
	assert_false(r.reported_tcb.has_fmc);
	assert_false(r.has_cpuid);
	assert_false(r.has_mit);
	free(raw);
}

/* JSON of r, parsed back with yajl (caller frees). */
static yajl_val
json_of(const struct snp_report *r)
{
	struct strbuf sb;
	char err[128];
	yajl_val v;

	strbuf_init(&sb, JSON_MAX);
	snp_report_json(r, &sb);
	assert_true(strbuf_ok(&sb));
	v = json_parse(sb.buf, sb.len, JSON_MAX, err, sizeof(err));
	assert_non_null(v);
	strbuf_free(&sb);
	return v;
}

/* Every member the sev crate has, with null exactly where the version
 * lacks the field. */
static void
assert_shape(yajl_val v, const struct snp_report *r)
{
	static const char *const members[] = {
	    "version",
	    "guest_svn",
	    "policy",
	    "family_id",
	    "image_id",
	    "vmpl",
	    "sig_algo",
	    "current_tcb",
	    "plat_info",
	    "key_info",
	    "report_data",
	    "measurement",
	    "host_data",
	    "id_key_digest",
	    "author_key_digest",
	    "report_id",
	    "report_id_ma",
	    "reported_tcb",
	    "cpuid_fam_id",
	    "cpuid_mod_id",
	    "cpuid_step",
	    "chip_id",
	    "committed_tcb",
	    "current",
	    "committed",
	    "launch_tcb",
	    "launch_mit_vector",
	    "current_mit_vector",
	    "signature",
	};
	yajl_val tcb = json_get(v, "current_tcb");
	size_t i;

	assert_int_equal(v->u.object.len, sizeof(members) / sizeof(members[0]));
	for (i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		assert_string_equal(v->u.object.keys[i], members[i]);
	}
	assert_int_equal(YAJL_IS_NULL(json_get(v, "cpuid_step")),
			 !r->has_cpuid);
	assert_int_equal(YAJL_IS_NULL(json_get(v, "current_mit_vector")),
			 !r->has_mit);
	assert_int_equal(YAJL_IS_NULL(json_get(tcb, "fmc")),
			 !r->current_tcb.has_fmc);
	assert_int_equal(json_get(v, "report_data")->u.array.len, 64);
	assert_int_equal(json_get(json_get(v, "signature"), "r")->u.array.len,
			 72);
}

/* bytes -> struct -> JSON -> struct -> bytes gives the same bytes. */
static void
assert_roundtrip(const unsigned char *raw)
{
	unsigned char again[SNP_REPORT_LEN];
	struct snp_report r, back;
	const char *why = NULL;
	yajl_val v;

	assert_int_equal(snp_report_parse(raw, SNP_REPORT_LEN, &r, &why),
			 SP_OK);
	v = json_of(&r);
	assert_shape(v, &r);
	assert_int_equal(snp_report_from_json(v, &back, &why), SP_OK);
	snp_report_encode(&back, again);
	assert_memory_equal(again, raw, SNP_REPORT_LEN);
	assert_true(snp_report_roundtrips(raw, SNP_REPORT_LEN));
	yajl_tree_free(v);
}

static void
test_roundtrip_vectors(void **state)
{
	unsigned char *raw;
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		raw = vector_report(&vectors[i], &len);
		assert_roundtrip(raw);
		free(raw);
	}
}

/* A Turin-layout TCB: fmc, bl, tee, snp, 0, 0, 0, ucode. */
static void
put_turin_tcb(unsigned char *p, uint8_t base)
{
	static const unsigned char zero[3];

	p[0] = base;
	p[1] = base + 1;
	p[2] = base + 2;
	p[3] = base + 3;
	memcpy(p + 4, zero, 3);
	p[7] = base + 4;
}

/* A v5 report from a Turin CPU: FMC SPLs, mitigation vectors (one above
 * INT64_MAX, to check the JSON number path), CPUID family 0x1A. */
static void
test_roundtrip_turin_v5(void **state)
{
	struct snp_report r;
	const char *why;
	unsigned char *raw;
	yajl_val v;
	size_t len;

	(void)state;
	raw = tv_load("snp/trustee_vlek_report.bin", &len);
	le_put32(raw, 5);
	raw[0x188] = SNP_CPUID_FAM_TURIN;
	raw[0x189] = 0x02;
	put_turin_tcb(raw + 0x38, 10);
	put_turin_tcb(raw + 0x180, 20);
	put_turin_tcb(raw + 0x1E0, 30);
	put_turin_tcb(raw + 0x1F0, 40);
	le_put64(raw + 0x1F8, UINT64_C(0x8000000000000001));
	le_put64(raw + 0x200, 7);
	assert_roundtrip(raw);

	assert_int_equal(snp_report_parse(raw, len, &r, &why), SP_OK);
	assert_true(r.reported_tcb.has_fmc);
	assert_int_equal(r.reported_tcb.fmc, 20);
	assert_int_equal(r.reported_tcb.bootloader, 21);
	assert_int_equal(r.reported_tcb.tee, 22);
	assert_int_equal(r.reported_tcb.snp, 23);
	assert_int_equal(r.reported_tcb.microcode, 24);
	v = json_of(&r);
	assert_string_equal(json_get(v, "launch_mit_vector")->u.number.r,
			    "9223372036854775809");
	assert_int_equal(json_get(json_get(v, "launch_tcb"), "fmc")->u.number.i,
			 40);
	yajl_tree_free(v);
	free(raw);
}

/* Reserved bytes the verifier cannot carry make the report unusable. */
static void
test_reserved_nonzero(void **state)
{
	static const size_t spots[] = {0x4C,  0x18B,	0x1EB, 0x208,
				       0x330, 0x38 + 3, 0x1F8};
	const char *why = NULL;
	unsigned char *raw;
	char *json = NULL;
	size_t i, len;

	(void)state;
	raw = tv_load("snp/trustee_vcek_report.bin", &len);
	for (i = 0; i < sizeof(spots) / sizeof(spots[0]); i++) {
		raw[spots[i]] ^= 0x01;
		assert_false(snp_report_roundtrips(raw, len));
		assert_int_equal(
		    snp_evidence_json(raw, len, NULL, 0, &json, &why),
		    SP_E_ATTEST);
		assert_string_equal(why, "snp_report_reserved_nonzero");
		assert_null(json);
		raw[spots[i]] ^= 0x01;
	}
	assert_true(snp_report_roundtrips(raw, len));
	free(raw);
}

static void
test_truncated_and_versions(void **state)
{
	struct snp_report r;
	const char *why;
	unsigned char *raw;
	size_t n, len;

	(void)state;
	raw = tv_load("snp/trustee_vlek_report.bin", &len);
	for (n = 0; n < SNP_REPORT_LEN; n++) {
		why = NULL;
		assert_int_equal(snp_report_parse(raw, n, &r, &why),
				 SP_E_INTEGRITY);
		assert_string_equal(why, "snp_report_truncated");
	}
	le_put32(raw, 1);
	assert_int_equal(snp_report_parse(raw, len, &r, &why), SP_E_INTEGRITY);
	assert_string_equal(why, "snp_report_version_unsupported");
	le_put32(raw, 6);
	assert_int_equal(snp_report_parse(raw, len, &r, &why), SP_E_INTEGRITY);
	le_put32(raw, 5); /* 5 is real hardware: never rejected */
	assert_int_equal(snp_report_parse(raw, len, &r, &why), SP_OK);
	free(raw);
}

/* Each member missing, or a byte out of range, is named. */
static void
test_from_json_refusals(void **state)
{
	static const char *const drop[] = {"policy",	    "chip_id",
					   "committed_tcb", "current",
					   "signature",	    "cpuid_mod_id"};
	struct snp_report r, back;
	const char *why;
	unsigned char *raw;
	yajl_val v, m;
	size_t i, k, len;

	(void)state;
	raw = tv_load("snp/trustee_vlek_report.bin", &len);
	assert_int_equal(snp_report_parse(raw, len, &r, &why), SP_OK);
	for (i = 0; i < sizeof(drop) / sizeof(drop[0]); i++) {
		v = json_of(&r);
		for (k = 0; k < v->u.object.len; k++) {
			if (strcmp(v->u.object.keys[k], drop[i]) == 0) {
				/* Renaming hides the member from lookups. */
				((char *)v->u.object.keys[k])[0] = 'X';
			}
		}
		why = NULL;
		assert_int_equal(snp_report_from_json(v, &back, &why),
				 SP_E_PROTOCOL);
		assert_string_equal(why, drop[i]);
		yajl_tree_free(v);
	}
	v = json_of(&r);
	m = json_get(v, "measurement")->u.array.values[0]; /* 137 */
	m->u.number.r[0] = '9';
	m->u.number.r[1] = '9';
	m->u.number.r[2] = '9';
	m->u.number.r[3] = '\0';
	assert_int_equal(snp_report_from_json(v, &back, &why), SP_E_PROTOCOL);
	assert_string_equal(why, "measurement");
	yajl_tree_free(v);
	free(raw);
}

/* The DER of the n-th certificate of a PEM file under tee/. */
static unsigned char *
pem_der(const char *rel, int n, size_t *len)
{
	STACK_OF(X509_INFO) * infos;
	unsigned char *buf, *der = NULL;
	size_t flen;
	BIO *bio;
	int dlen;

	buf = tv_load(rel, &flen);
	bio = BIO_new_mem_buf(buf, (int)flen);
	infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
	assert_non_null(infos);
	dlen = i2d_X509(sk_X509_INFO_value(infos, n)->x509, &der);
	assert_true(dlen > 0);
	*len = (size_t)dlen;
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(bio);
	free(buf);
	return der;
}

/* A certificate table: entries, terminator, then the certificates. */
struct table {
	unsigned char buf[TABLE_MAX];
	size_t entries;
	size_t data; /* where the next certificate goes */
};

static void
table_init(struct table *t, size_t entries)
{
	memset(t, 0, sizeof(*t));
	t->data = (entries + 1) * CERT_ENTRY;
}

static void
table_add(struct table *t, const char *guid_hex, const unsigned char *data,
	  size_t len)
{
	unsigned char *e = t->buf + t->entries * CERT_ENTRY;

	assert_int_equal(hex_decode(guid_hex, 32, e, 16), 0);
	le_put32(e + 16, (uint32_t)t->data);
	le_put32(e + 20, (uint32_t)len);
	memcpy(t->buf + t->data, data, len);
	t->data += len;
	t->entries++;
}

#define GUID_VCEK	"63da758de6644564adc5f4b93be8accd"
#define GUID_VCEK_MIXED "8d75da6364e66445adc5f4b93be8accd"
#define GUID_ASK	"4ab7b379bbac4fe4a02f05aef327c782"
#define GUID_ARK                                                               \
	"c0b406a4a80349529743"                                                 \
	"3fb6014cd0ae"
#define GUID_OTHER "0102030405060708090a0b0c0d0e0f10"

/* cert_chain[i] is {"cert_type": type, "data": bytes}. */
static void
assert_chain_entry(yajl_val chain, size_t i, const char *type,
		   const unsigned char *data, size_t len)
{
	yajl_val e = chain->u.array.values[i];
	yajl_val d = json_get(e, "data");
	yajl_val t = json_get(e, "cert_type");
	size_t k;

	if (YAJL_IS_OBJECT(t)) {
		assert_string_equal(json_get_str(t, "OTHER"), type);
	} else {
		assert_string_equal(YAJL_GET_STRING(t), type);
	}
	assert_int_equal(d->u.array.len, len);
	for (k = 0; k < len; k++) {
		assert_int_equal(d->u.array.values[k]->u.number.i, data[k]);
	}
}

/* The evidence for raw with table t, parsed back. */
static yajl_val
evidence_of(const unsigned char *raw, const struct table *t)
{
	const char *why = NULL;
	char *json = NULL, err[128];
	yajl_val v;

	assert_int_equal(
	    snp_evidence_json(raw, SNP_REPORT_LEN, t != NULL ? t->buf : NULL,
			      t != NULL ? t->data : 0, &json, &why),
	    SP_OK);
	v = json_parse(json, strlen(json), JSON_MAX, err, sizeof(err));
	assert_non_null(v);
	free(json);
	return v;
}

static void
test_cert_chain(void **state)
{
	static const unsigned char other[] = {1, 2, 3};
	unsigned char *raw, *vcek, *ask, *ark;
	size_t len, vlen, asklen, arklen;
	struct table t;
	yajl_val v, chain;

	(void)state;
	raw = tv_load("snp/gosev_attestation.bin", &len);
	vcek = tv_load("snp/gosev_vcek.der", &vlen);
	ask = pem_der("snp/gosev_milan_ask_ark.pem", 0, &asklen);
	ark = pem_der("snp/gosev_milan_ask_ark.pem", 1, &arklen);

	table_init(&t, 4);
	table_add(&t, GUID_VCEK, vcek, vlen);
	table_add(&t, GUID_ASK, ask, asklen);
	table_add(&t, GUID_ARK, ark, arklen);
	table_add(&t, GUID_OTHER, other, sizeof(other));
	v = evidence_of(raw, &t);
	chain = json_get(v, "cert_chain");
	assert_true(YAJL_IS_ARRAY(chain));
	assert_int_equal(chain->u.array.len, 4);
	assert_chain_entry(chain, 0, "VCEK", vcek, vlen);
	assert_chain_entry(chain, 1, "ASK", ask, asklen);
	assert_chain_entry(chain, 2, "ARK", ark, arklen);
	assert_chain_entry(chain, 3, "01020304-0506-0708-090a-0b0c0d0e0f10",
			   other, sizeof(other));
	yajl_tree_free(v);

	/* Mixed-endian GUID order is recognised too. */
	table_init(&t, 1);
	table_add(&t, GUID_VCEK_MIXED, vcek, vlen);
	v = evidence_of(raw, &t);
	assert_chain_entry(json_get(v, "cert_chain"), 0, "VCEK", vcek, vlen);
	yajl_tree_free(v);

	/* No VCEK/VLEK from the host: null, the verifier asks AMD. */
	table_init(&t, 1);
	table_add(&t, GUID_ASK, ask, asklen);
	v = evidence_of(raw, &t);
	assert_true(YAJL_IS_NULL(json_get(v, "cert_chain")));
	yajl_tree_free(v);
	v = evidence_of(raw, NULL);
	assert_true(YAJL_IS_NULL(json_get(v, "cert_chain")));
	assert_true(YAJL_IS_OBJECT(json_get(v, "attestation_report")));
	yajl_tree_free(v);

	free(raw);
	free(vcek);
	OPENSSL_free(ask);
	OPENSSL_free(ark);
}

static void
test_cert_table_refusals(void **state)
{
	struct snp_cert c[SNP_CERTS_MAX];
	static const unsigned char one[] = {1};
	const char *why = NULL;
	struct table t;
	size_t n, i;

	(void)state;
	table_init(&t, 1);
	table_add(&t, GUID_VCEK, one, 1);
	le_put32(t.buf + 20, 100000); /* length past the table */
	assert_int_equal(
	    snp_certs_parse(t.buf, t.data, c, SNP_CERTS_MAX, &n, &why),
	    SP_E_INTEGRITY);
	assert_string_equal(why, "snp_certs_entry_out_of_bounds");

	table_init(&t, SNP_CERTS_MAX + 1);
	for (i = 0; i < SNP_CERTS_MAX + 1; i++) {
		table_add(&t, GUID_OTHER, one, 1);
	}
	assert_int_equal(
	    snp_certs_parse(t.buf, t.data, c, SNP_CERTS_MAX, &n, &why),
	    SP_E_INTEGRITY);
	assert_string_equal(why, "snp_certs_too_many");

	/* An all-zero table is empty, not an error. */
	memset(t.buf, 0, sizeof(t.buf));
	assert_int_equal(snp_certs_parse(t.buf, 96, c, SNP_CERTS_MAX, &n, &why),
			 SP_OK);
	assert_int_equal(n, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors),
	    cmocka_unit_test(test_tcb_fields),
	    cmocka_unit_test(test_roundtrip_vectors),
	    cmocka_unit_test(test_roundtrip_turin_v5),
	    cmocka_unit_test(test_reserved_nonzero),
	    cmocka_unit_test(test_truncated_and_versions),
	    cmocka_unit_test(test_from_json_refusals),
	    cmocka_unit_test(test_cert_chain),
	    cmocka_unit_test(test_cert_table_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
