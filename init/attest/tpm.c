/*
 * tpm.c: TPM 2.0 through tpm2-tss ESAPI: the session, the attestation
 * key, quotes over SHA-256 PCR 0-23; the checks of the TPM
 * structures we send; and the "tpm" evidence provider
 * (kbs-protocol.md §4.7).
 *
 * NV indexes are in tpm_nv.c. Every ESAPI output is freed with Esys_Free
 * right after we copied what we need into fixed-size fields; every size a TPM
 * returns is checked against the field before the copy. Transient objects are
 * flushed even on error paths, because a raw /dev/tpm0 (no resource manager)
 * keeps them until reboot.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tctildr.h>

#include "attest.h"
#include "attest_providers.h"
#include "b64.h"
#include "json.h"
#include "log.h"
#include "secret.h"
#include "tpm.h"
#include "tpm_eventlog.h"
#include "tpm_session.h"
#include "util.h"

#define TPM_DEVICE	    "/dev/tpmrm0"
#define TPM_EVENTLOG_PATH   "/sys/kernel/security/tpm0/binary_bios_measurements"
#define TPM_PATH_MAX	    4096
#define TPM_QUOTE_TRIES	    3	     /* PCRs may move between quote and read */
#define TPM_PCR_READ_ROUNDS TPM_PCRS /* one PCR per round at worst */
#define TPM_PCR_SELECT_LEN  3	     /* PCR 0-23 */
#define TPM_PCR_ALL	    0x00FFFFFFu
#define TPM_RSA_EXP_DEFAULT 65537
#define TPM_RSA_BITS	    2048
#define TPM_RC_SIZE_PARAM1  (TPM2_RC_SIZE | TPM2_RC_P | TPM2_RC_1)
/*
 * The qualifying data of a "tpm" quote: the runtime-data digest resized
 * (zero-padded or truncated) to 64 bytes by default. Trustee's tpm
 * verifier pads the expected report data to 64 before comparing
 * (verify_nonce, and the guest-components TPM attester resizes to 64 the
 * same way); our protocol reference reads 32, so that stays selectable.
 */
#define TPM_NONCE_LEN TPM_QUALIFYING_LONG

static char tpm_opt_tcti[TPM_TCTI_MAX];
static uint32_t tpm_opt_ak = TPM_AK_CREATE;
static size_t tpm_opt_qlen = TPM_QUALIFYING_LONG;

void
tpm_set_qualifying_len(size_t n)
{
	if (n == TPM_QUALIFYING_SHORT || n == TPM_QUALIFYING_LONG) {
		tpm_opt_qlen = n;
	}
}

void
tpm_set_options(const char *tcti, uint32_t ak_handle)
{
	tpm_opt_tcti[0] = '\0';
	if (tcti != NULL && tpm_tcti_check(tcti) == 0) {
		memcpy(tpm_opt_tcti, tcti, strlen(tcti) + 1);
	}
	tpm_opt_ak = ak_handle;
}

uint32_t
tpm_ak_handle(void)
{
	return tpm_opt_ak;
}

int
tpm_parse_handle(const char *s, uint32_t *out)
{
	unsigned long long v;
	char *end = NULL;
	int rc = -1;

	if (s == NULL || s[0] < '0' || s[0] > '9') {
		goto out;
	}
	v = strtoull(s, &end, 0);
	if (end == s || *end != '\0' || v < TPM_PERSISTENT_FIRST ||
	    v > TPM_PERSISTENT_LAST) {
		goto out;
	}
	*out = (uint32_t)v;
	rc = 0;
out:
	return rc;
}

/*
 * The TCTI modules we load, by their full soname, so tpm2-tss's loader
 * cannot be steered to another library (cmd, pcap, libtpms, ...).
 */
static const struct tcti_module {
	const char *name;
	const char *soname;
	int test_only; /* a simulator: builds with test hooks only */
} tcti_modules[] = {
    {"device", "libtss2-tcti-device.so.0", 0},
    {"swtpm", "libtss2-tcti-swtpm.so.0", 1},
    {"mssim", "libtss2-tcti-mssim.so.0", 1},
};

#ifdef SEALPOD_TEST_HOOKS
static const int tpm_test_hooks = 1;
#else
static const int tpm_test_hooks = 0; /* release images */
#endif

/* The module s names ("name" or "name:conf"), or NULL. */
static const struct tcti_module *
tcti_module_of(const char *s)
{
	const struct tcti_module *m = NULL;
	size_t n = strcspn(s, ":");
	size_t i;

	for (i = 0; i < sizeof(tcti_modules) / sizeof(tcti_modules[0]); i++) {
		if (strlen(tcti_modules[i].name) == n &&
		    strncmp(s, tcti_modules[i].name, n) == 0) {
			m = &tcti_modules[i];
		}
	}
	return m;
}

/* 1 when c may appear in a TCTI's configuration part. */
static int
tcti_conf_char(char c)
{
	return (unsigned char)c > 0x20 && (unsigned char)c < 0x7f;
}

/* 1 when conf is printable without blanks. */
static int
tcti_conf_plain(const char *conf)
{
	int ok = 1;

	for (; *conf != '\0' && ok; conf++) {
		ok = tcti_conf_char(*conf);
	}
	return ok;
}

/* 1 when p is a plain path below /dev/: no ".", ".." or blanks. */
static int
tcti_dev_path(const char *p)
{
	size_t n = strlen(p);

	return strncmp(p, "/dev/", 5) == 0 && n > 5 && tcti_conf_plain(p) &&
	       strstr(p, "/../") == NULL && strstr(p, "/./") == NULL &&
	       strstr(p, "//") == NULL && strcmp(p + n - 3, "/..") != 0 &&
	       strcmp(p + n - 2, "/.") != 0;
}

const char *
tpm_tcti_problem(const char *s, int allow_test)
{
	const struct tcti_module *m;
	const char *conf;
	const char *why = NULL;

	if (s == NULL || s[0] == '\0' || strlen(s) >= TPM_TCTI_MAX) {
		why = "must be device:/dev/<node>, at most 255 bytes";
		goto out;
	}
	m = tcti_module_of(s);
	conf = s[strcspn(s, ":")] == ':' ? s + strcspn(s, ":") + 1 : "";
	if (m == NULL) {
		why = "names a TCTI sealpod does not load (only device:, and "
		      "swtpm:/mssim: in test builds)";
	} else if (m->test_only && !allow_test) {
		why = "swtpm and mssim are test hooks; this build does not "
		      "accept them";
	} else if (!m->test_only && !tcti_dev_path(conf)) {
		why = "device: needs a plain path under /dev/, e.g. "
		      "device:/dev/tpmrm0";
	} else if (!tcti_conf_plain(conf)) {
		why = "must be printable without blanks";
	}
out:
	return why;
}

int
tpm_tcti_check(const char *s)
{
	return tpm_tcti_problem(s, tpm_test_hooks) == NULL ? 0 : -1;
}

int
tpm_tcti_is_test(const char *s)
{
	const struct tcti_module *m = s != NULL ? tcti_module_of(s) : NULL;

	return m != NULL && m->test_only;
}

/*
 * The module and its configuration for root: the configured TCTI
 * (checked again here, the last step before code is loaded), or the
 * device under root.
 */
static int
tcti_conf(const char *root, const char **soname, char *out, size_t cap)
{
	const char *spec = tpm_opt_tcti;
	const struct tcti_module *m;
	int n = -1;

	if (spec[0] == '\0') {
		*soname = tcti_modules[0].soname;
		n = snprintf(out, cap, "%s%s", root, TPM_DEVICE);
	} else if (tpm_tcti_check(spec) == 0) {
		m = tcti_module_of(spec);
		*soname = m->soname;
		n = snprintf(out, cap, "%s",
			     spec[strcspn(spec, ":")] == ':'
				 ? spec + strcspn(spec, ":") + 1
				 : "");
	}
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* 1 when path under root exists, so a TPM device can be opened. */
static int
root_has(const char *root, const char *path)
{
	char full[TPM_PATH_MAX];
	struct stat st;
	int n;

	n = snprintf(full, sizeof(full), "%s%s", root, path);
	if (n < 0 || (size_t)n >= sizeof(full)) {
		return 0;
	}
	return stat(full, &st) == 0;
}

/* Log why a TPM could not be opened, unless we are only probing. */
static void
open_failed(int quiet, const char *reason, TSS2_RC trc)
{
	if (!quiet) {
		log_event(LOG_ERR, "tpm.open.failed", reason,
			  LOG_U64("tpm_rc", trc));
	}
}

static enum sp_err
open_impl(const char *root, int quiet, struct tpm **out)
{
	enum sp_err rc = SP_E_ATTEST;
	const char *soname = NULL;
	char conf[TPM_PATH_MAX];
	struct tpm *t = NULL;
	TSS2_RC trc;

	/* tpm2-tss logs to stderr, which must carry only our JSON lines. */
	setenv("TSS2_LOG", "all+NONE", 0);
	if (tcti_conf(root, &soname, conf, sizeof(conf)) != 0) {
		open_failed(quiet, "tcti_refused", 0);
		goto out;
	}
	rc = SP_E_NOTFOUND;
	if (tpm_opt_tcti[0] == '\0' && !root_has(root, TPM_DEVICE)) {
		if (!quiet) {
			log_event(LOG_ERR, "tpm.open.failed",
				  "tpm_device_missing",
				  LOG_STR("device", TPM_DEVICE));
		}
		goto out;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		rc = SP_E_INTERNAL;
		goto out;
	}

	/* By soname, so the loader tries no other library. An empty conf
	 * is the module's default (swtpm, mssim: localhost:2321). */
	trc = Tss2_TctiLdr_Initialize_Ex(soname, conf[0] != '\0' ? conf : NULL,
					 &t->tcti);
	if (trc != TSS2_RC_SUCCESS) {
		open_failed(quiet, "tcti_init_failed", trc);
		goto out;
	}
	trc = Esys_Initialize(&t->ectx, t->tcti, NULL);
	if (trc != TSS2_RC_SUCCESS) {
		open_failed(quiet, "esys_init_failed", trc);
		goto out;
	}
	*out = t;
	t = NULL;
	rc = SP_OK;
out:
	tpm_close(t);
	return rc;
}

enum sp_err
tpm_open(const char *root, struct tpm **out)
{
	return open_impl(root, 0, out);
}

enum sp_err
tpm_probe(const char *root, struct tpm **out)
{
	return open_impl(root, 1, out);
}

void
tpm_close(struct tpm *t)
{
	if (t == NULL) {
		return;
	}
	if (t->ectx != NULL) {
		Esys_Finalize(&t->ectx);
	}
	if (t->tcti != NULL) {
		Tss2_TctiLdr_Finalize(&t->tcti);
	}
	free(t);
}

/* An RSA public key from modulus and exponent (0: 65537), as DER SPKI. */
static enum sp_err
rsa_spki(const unsigned char *n, size_t nlen, uint32_t exp, unsigned char *out,
	 size_t cap, size_t *outlen)
{
	enum sp_err rc = SP_E_INTERNAL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	BIGNUM *bn_n = BN_bin2bn(n, (int)nlen, NULL);
	BIGNUM *bn_e = BN_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY *pkey = NULL;
	unsigned char *p = out;
	int len;

	if (bld == NULL || ctx == NULL || bn_n == NULL || bn_e == NULL ||
	    !BN_set_word(bn_e, exp == 0 ? TPM_RSA_EXP_DEFAULT : exp) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e)) {
		goto out;
	}
	params = OSSL_PARAM_BLD_to_param(bld);
	if (params == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		goto out;
	}
	len = i2d_PUBKEY(pkey, NULL);
	if (len <= 0 || (size_t)len > cap || i2d_PUBKEY(pkey, &p) != len) {
		goto out;
	}
	*outlen = (size_t)len;
	rc = SP_OK;
out:
	EVP_PKEY_free(pkey);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	BN_free(bn_n);
	BN_free(bn_e);
	return rc;
}

/* SPKI of an RSA TPMT_PUBLIC. */
static enum sp_err
tpmt_spki(const TPMT_PUBLIC *pub, unsigned char *out, size_t cap,
	  size_t *outlen)
{
	if (pub->type != TPM2_ALG_RSA || pub->unique.rsa.size == 0) {
		return SP_E_PROTOCOL;
	}
	return rsa_spki(pub->unique.rsa.buffer, pub->unique.rsa.size,
			pub->parameters.rsaDetail.exponent, out, cap, outlen);
}

enum sp_err
tpm_public_spki(const unsigned char *pub, size_t len, unsigned char *out,
		size_t cap, size_t *outlen)
{
	enum sp_err rc = SP_E_PROTOCOL;
	TPMT_PUBLIC tp;
	size_t off = 0;

	memset(&tp, 0, sizeof(tp));
	if (pub != NULL &&
	    Tss2_MU_TPMT_PUBLIC_Unmarshal(pub, len, &off, &tp) ==
		TSS2_RC_SUCCESS &&
	    off == len) {
		rc = tpmt_spki(&tp, out, cap, outlen);
	}
	return rc;
}

/* Bit mask of the PCRs one TPMS_PCR_SELECTION names (up to 32). */
static uint32_t
select_mask(const TPMS_PCR_SELECTION *s)
{
	uint32_t mask = 0;
	size_t i;

	for (i = 0; i < s->sizeofSelect && i < sizeof(mask); i++) {
		mask |= (uint32_t)s->pcrSelect[i] << (8 * i);
	}
	return mask;
}

enum sp_err
tpm_attest_parse(const unsigned char *buf, size_t len,
		 struct tpm_attest_info *out)
{
	enum sp_err rc = SP_E_PROTOCOL;
	const TPMS_QUOTE_INFO *q;
	const TPMS_PCR_SELECTION *s;
	TPMS_ATTEST *a = NULL;
	size_t off = 0;

	/* TPMS_ATTEST is several KiB: keep it off the stack. */
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		rc = SP_E_INTERNAL;
		goto out;
	}
	if (buf == NULL || len > TPM_ATTEST_MAX ||
	    Tss2_MU_TPMS_ATTEST_Unmarshal(buf, len, &off, a) !=
		TSS2_RC_SUCCESS ||
	    off != len || a->magic != TPM2_GENERATED_VALUE ||
	    a->type != TPM2_ST_ATTEST_QUOTE) {
		goto out;
	}
	q = &a->attested.quote;
	s = &q->pcrSelect.pcrSelections[0];
	if (q->pcrSelect.count != 1 || s->sizeofSelect > sizeof(uint32_t) ||
	    q->pcrDigest.size > sizeof(out->pcr_digest) ||
	    a->extraData.size > sizeof(out->extra)) {
		goto out;
	}
	memset(out, 0, sizeof(*out));
	memcpy(out->extra, a->extraData.buffer, a->extraData.size);
	out->extra_len = a->extraData.size;
	out->pcr_bank = s->hash;
	out->pcr_mask = select_mask(s);
	memcpy(out->pcr_digest, q->pcrDigest.buffer, q->pcrDigest.size);
	out->digest_len = q->pcrDigest.size;
	rc = SP_OK;
out:
	free(a);
	return rc;
}

enum sp_err
tpm_sig_rsassa(const unsigned char *sig, size_t len, size_t *off, size_t *n)
{
	enum sp_err rc = SP_E_PROTOCOL;
	TPMT_SIGNATURE s;
	size_t end = 0;

	memset(&s, 0, sizeof(s));
	if (sig == NULL ||
	    Tss2_MU_TPMT_SIGNATURE_Unmarshal(sig, len, &end, &s) !=
		TSS2_RC_SUCCESS ||
	    end != len || s.sigAlg != TPM2_ALG_RSASSA ||
	    s.signature.rsassa.hash != TPM2_ALG_SHA256 ||
	    s.signature.rsassa.sig.size == 0) {
		goto out;
	}
	/* sigAlg, hash, size: three UINT16 before the bytes. */
	*off = len - s.signature.rsassa.sig.size;
	*n = s.signature.rsassa.sig.size;
	rc = SP_OK;
out:
	return rc;
}

/* The AK template: restricted RSASSA/SHA-256 signing, 2048-bit. */
static void
ak_template(TPM2B_PUBLIC *tmpl)
{
	TPMT_PUBLIC *p = &tmpl->publicArea;

	memset(tmpl, 0, sizeof(*tmpl));
	p->type = TPM2_ALG_RSA;
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
			      TPMA_OBJECT_SENSITIVEDATAORIGIN |
			      TPMA_OBJECT_USERWITHAUTH |
			      TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
	p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
	p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
	p->parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
	p->parameters.rsaDetail.keyBits = TPM_RSA_BITS;
	p->parameters.rsaDetail.exponent = 0;
}

/*
 * A quote key must be restricted (so it signs only TPM-made structures)
 * and RSASSA/SHA-256 (what the Trustee verifiers check).
 */
static int
ak_usable(const TPMT_PUBLIC *p)
{
	const TPMT_RSA_SCHEME *s = &p->parameters.rsaDetail.scheme;
	TPMA_OBJECT need = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;

	return p->type == TPM2_ALG_RSA &&
	       (p->objectAttributes & need) == need &&
	       (p->objectAttributes & TPMA_OBJECT_DECRYPT) == 0 &&
	       s->scheme == TPM2_ALG_RSASSA &&
	       s->details.rsassa.hashAlg == TPM2_ALG_SHA256;
}

/* The loaded AK: a handle, whether we must flush it, and its SPKI. */
struct tpm_ak {
	ESYS_TR handle;
	int transient;
};

static enum sp_err
ak_create(struct tpm *t, struct tpm_ak *ak, TPM2B_PUBLIC **pub)
{
	TPM2B_SENSITIVE_CREATE sens;
	TPML_PCR_SELECTION none;
	TPM2B_DATA outside;
	TPM2B_PUBLIC tmpl;
	TSS2_RC trc;

	memset(&sens, 0, sizeof(sens));
	memset(&none, 0, sizeof(none));
	memset(&outside, 0, sizeof(outside));
	ak_template(&tmpl);
	trc = Esys_CreatePrimary(t->ectx, ESYS_TR_RH_ENDORSEMENT,
				 ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
				 &sens, &tmpl, &outside, &none, &ak->handle,
				 pub, NULL, NULL, NULL);
	if (trc != TSS2_RC_SUCCESS) {
		log_event(LOG_ERR, "tpm.ak.failed", "create_primary_failed",
			  LOG_U64("tpm_rc", trc));
		return SP_E_ATTEST;
	}
	ak->transient = 1;
	return SP_OK;
}

static enum sp_err
ak_persistent(struct tpm *t, uint32_t handle, struct tpm_ak *ak,
	      TPM2B_PUBLIC **pub)
{
	TSS2_RC trc;

	trc = Esys_TR_FromTPMPublic(t->ectx, handle, ESYS_TR_NONE, ESYS_TR_NONE,
				    ESYS_TR_NONE, &ak->handle);
	if (trc == TSS2_RC_SUCCESS) {
		trc = Esys_ReadPublic(t->ectx, ak->handle, ESYS_TR_NONE,
				      ESYS_TR_NONE, ESYS_TR_NONE, pub, NULL,
				      NULL);
	}
	if (trc != TSS2_RC_SUCCESS) {
		log_event(LOG_ERR, "tpm.ak.failed",
			  trc == TPM_RC_NO_HANDLE ? "ak_handle_missing"
						  : "ak_read_failed",
			  LOG_U64("ak_handle", handle), LOG_U64("tpm_rc", trc));
		return SP_E_ATTEST;
	}
	return SP_OK;
}

static void
ak_release(struct tpm *t, struct tpm_ak *ak)
{
	if (ak->handle == ESYS_TR_NONE) {
		return;
	}
	if (ak->transient) {
		(void)Esys_FlushContext(t->ectx, ak->handle);
	} else {
		(void)Esys_TR_Close(t->ectx, &ak->handle);
	}
	ak->handle = ESYS_TR_NONE;
}

/* Load (or derive) the AK and export its public key as SPKI. */
static enum sp_err
ak_load(struct tpm *t, uint32_t handle, struct tpm_ak *ak, struct tpm_quote *q)
{
	enum sp_err rc;
	TPM2B_PUBLIC *pub = NULL;

	ak->handle = ESYS_TR_NONE;
	ak->transient = 0;
	if (handle == TPM_AK_CREATE) {
		rc = ak_create(t, ak, &pub);
	} else {
		rc = ak_persistent(t, handle, ak, &pub);
	}
	if (rc != SP_OK) {
		goto out;
	}

	rc = SP_E_ATTEST;
	if (!ak_usable(&pub->publicArea)) {
		log_event(LOG_ERR, "tpm.ak.failed", "ak_not_restricted_rsassa",
			  LOG_U64("ak_handle", handle));
		goto out;
	}
	if (tpmt_spki(&pub->publicArea, q->spki, sizeof(q->spki),
		      &q->spki_len) != SP_OK) {
		log_event(LOG_ERR, "tpm.ak.failed", "ak_export_failed");
		goto out;
	}
	rc = SP_OK;
out:
	Esys_Free(pub);
	return rc;
}

/* The selection every quote and PCR read uses: SHA-256, PCR 0-23. */
static void
pcr_selection(TPML_PCR_SELECTION *sel, uint32_t mask)
{
	size_t i;

	memset(sel, 0, sizeof(*sel));
	sel->count = 1;
	sel->pcrSelections[0].hash = TPM2_ALG_SHA256;
	sel->pcrSelections[0].sizeofSelect = TPM_PCR_SELECT_LEN;
	for (i = 0; i < TPM_PCR_SELECT_LEN; i++) {
		sel->pcrSelections[0].pcrSelect[i] = (mask >> (8 * i)) & 0xff;
	}
}

/*
 * Store one PCR_Read answer: digests come in selection order, lowest PCR
 * first. Returns the mask of PCRs stored, or 0 when the answer does not
 * fit what we asked for.
 */
static uint32_t
pcr_store(const TPML_PCR_SELECTION *got, const TPML_DIGEST *vals, uint32_t want,
	  unsigned char pcrs[TPM_PCRS][TPM_PCR_LEN])
{
	uint32_t mask;
	size_t i, k = 0;

	if (got->count != 1 || got->pcrSelections[0].hash != TPM2_ALG_SHA256) {
		return 0;
	}
	mask = select_mask(&got->pcrSelections[0]);
	if ((mask & ~want) != 0) {
		return 0;
	}
	for (i = 0; i < TPM_PCRS; i++) {
		if ((mask & (1u << i)) == 0) {
			continue;
		}
		if (k >= vals->count || vals->digests[k].size != TPM_PCR_LEN) {
			return 0;
		}
		memcpy(pcrs[i], vals->digests[k].buffer, TPM_PCR_LEN);
		k++;
	}
	return k == vals->count ? mask : 0;
}

/* All 24 PCRs: PCR_Read returns at most 8 digests per call. */
static enum sp_err
pcr_read_all(struct tpm *t, unsigned char pcrs[TPM_PCRS][TPM_PCR_LEN])
{
	enum sp_err rc = SP_E_ATTEST;
	TPML_PCR_SELECTION sel, *got = NULL;
	TPML_DIGEST *vals = NULL;
	uint32_t left = TPM_PCR_ALL, done, counter;
	size_t round;
	TSS2_RC trc;

	for (round = 0; left != 0 && round < TPM_PCR_READ_ROUNDS; round++) {
		pcr_selection(&sel, left);
		trc = Esys_PCR_Read(t->ectx, ESYS_TR_NONE, ESYS_TR_NONE,
				    ESYS_TR_NONE, &sel, &counter, &got, &vals);
		if (trc != TSS2_RC_SUCCESS) {
			log_event(LOG_ERR, "tpm.pcr_read.failed", "tpm_error",
				  LOG_U64("tpm_rc", trc));
			goto out;
		}
		done = pcr_store(got, vals, left, pcrs);
		Esys_Free(got);
		Esys_Free(vals);
		got = NULL;
		vals = NULL;
		if (done == 0) {
			/* No progress: the SHA-256 bank is not allocated. */
			log_event(LOG_ERR, "tpm.pcr_read.failed",
				  "sha256_bank_missing");
			goto out;
		}
		left &= ~done;
	}
	if (left == 0) {
		rc = SP_OK;
	}
out:
	return rc;
}

/* SHA-256 over the 24 PCRs in order: the quote's pcrDigest. */
static int
pcrs_match(const unsigned char pcrs[TPM_PCRS][TPM_PCR_LEN],
	   const struct tpm_attest_info *info)
{
	unsigned char md[TPM_PCR_LEN];
	unsigned int n = 0;

	if (info->digest_len != TPM_PCR_LEN ||
	    EVP_Digest(pcrs, TPM_PCRS * TPM_PCR_LEN, md, &n, EVP_sha256(),
		       NULL) != 1) {
		return 0;
	}
	return ct_memeq(md, info->pcr_digest, TPM_PCR_LEN);
}

/* Copy the quote and signature out of ESAPI's buffers and check them. */
static enum sp_err
quote_store(const TPM2B_ATTEST *quoted, const TPMT_SIGNATURE *sig,
	    const unsigned char *qdata, size_t qlen, struct tpm_quote *q,
	    struct tpm_attest_info *info)
{
	size_t off = 0;

	if (quoted->size > sizeof(q->attest) ||
	    Tss2_MU_TPMT_SIGNATURE_Marshal(sig, q->sig, sizeof(q->sig), &off) !=
		TSS2_RC_SUCCESS) {
		return SP_E_ATTEST;
	}
	q->sig_len = off;
	memcpy(q->attest, quoted->attestationData, quoted->size);
	q->attest_len = quoted->size;
	if (tpm_sig_rsassa(q->sig, q->sig_len, &q->rsa_sig_off,
			   &q->rsa_sig_len) != SP_OK ||
	    tpm_attest_parse(q->attest, q->attest_len, info) != SP_OK ||
	    info->extra_len != qlen || !ct_memeq(info->extra, qdata, qlen) ||
	    info->pcr_bank != TPM2_ALG_SHA256 ||
	    info->pcr_mask != TPM_PCR_ALL) {
		log_event(LOG_ERR, "tpm.quote.failed", "quote_malformed");
		return SP_E_ATTEST;
	}
	return SP_OK;
}

/* One TPM2_Quote; qdata already fits TPM2B_DATA. */
static enum sp_err
quote_once(struct tpm *t, ESYS_TR ak, const unsigned char *qdata, size_t qlen,
	   struct tpm_quote *q, struct tpm_attest_info *info)
{
	enum sp_err rc = SP_E_ATTEST;
	TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_NULL};
	TPM2B_ATTEST *quoted = NULL;
	TPMT_SIGNATURE *sig = NULL;
	TPML_PCR_SELECTION sel;
	TPM2B_DATA data;
	TSS2_RC trc;

	memset(&data, 0, sizeof(data));
	memcpy(data.buffer, qdata, qlen);
	data.size = (UINT16)qlen;
	pcr_selection(&sel, TPM_PCR_ALL);
	trc = Esys_Quote(t->ectx, ak, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			 ESYS_TR_NONE, &data, &scheme, &sel, &quoted, &sig);
	if (trc != TSS2_RC_SUCCESS) {
		/* A TPM without SHA-512 may cap qualifying data at 48. */
		log_event(LOG_ERR, "tpm.quote.failed",
			  trc == TPM_RC_SIZE_PARAM1 ? "qualifying_data_too_long"
						    : "tpm_error",
			  LOG_U64("tpm_rc", trc), LOG_U64("qdata_len", qlen));
		goto out;
	}
	rc = quote_store(quoted, sig, qdata, qlen, q, info);
out:
	Esys_Free(quoted);
	Esys_Free(sig);
	return rc;
}

enum sp_err
tpm_quote(struct tpm *t, uint32_t ak_handle, const unsigned char *qdata,
	  size_t qlen, struct tpm_quote *out)
{
	enum sp_err rc = SP_E_ATTEST;
	struct tpm_attest_info info;
	struct tpm_ak ak = {.handle = ESYS_TR_NONE, .transient = 0};
	size_t tries;

	memset(out, 0, sizeof(*out));
	if (qdata == NULL || qlen == 0 || qlen > TPM_QDATA_MAX) {
		goto out;
	}
	rc = ak_load(t, ak_handle, &ak, out);
	if (rc != SP_OK) {
		goto out;
	}

	rc = SP_E_ATTEST;
	for (tries = 0; tries < TPM_QUOTE_TRIES; tries++) {
		if (quote_once(t, ak.handle, qdata, qlen, out, &info) !=
			SP_OK ||
		    pcr_read_all(t, out->pcrs) != SP_OK) {
			goto out;
		}
		if (pcrs_match(out->pcrs, &info)) {
			rc = SP_OK;
			goto out;
		}
		log_event(LOG_WARN, "tpm.quote.retry", "pcrs_changed",
			  LOG_U64("try", tries + 1));
	}
	log_event(LOG_ERR, "tpm.quote.failed", "pcr_digest_mismatch");
out:
	ak_release(t, &ak);
	return rc;
}

/* Compare the replayed SHA-256 bank with the quoted PCRs and log. */
static void
eventlog_compare(const struct tpm_eventlog *log,
		 const unsigned char pcrs[TPM_PCRS][TPM_PCR_LEN])
{
	unsigned char replay[TPM_EVENTLOG_PCRS][TPM_EVENTLOG_DIGEST_MAX];
	uint32_t touched = 0, differ = 0;
	size_t dlen = 0, i;

	if (tpm_eventlog_replay(log, TPM_EVENTLOG_ALG_SHA256, replay, &dlen,
				&touched) != SP_OK ||
	    dlen != TPM_PCR_LEN) {
		log_event(LOG_WARN, "tpm.eventlog.unusable", "no_sha256_bank");
		return;
	}
	for (i = 0; i < TPM_PCRS; i++) {
		if ((touched & (1u << i)) != 0 &&
		    memcmp(replay[i], pcrs[i], TPM_PCR_LEN) != 0) {
			differ |= 1u << i;
		}
	}
	log_event(differ == 0 ? LOG_INFO : LOG_WARN, "tpm.eventlog.replayed",
		  differ == 0 ? NULL : "pcr_mismatch",
		  LOG_U64("events", log->nevents),
		  LOG_U64("pcrs_in_log_mask", touched),
		  LOG_U64("pcrs_mismatch_mask", differ));
}

void
tpm_check_eventlog(const char *root,
		   const unsigned char pcrs[TPM_PCRS][TPM_PCR_LEN])
{
	struct tpm_eventlog log;
	char path[TPM_PATH_MAX];
	char *buf = NULL;
	size_t len = 0;
	int n;

	n = snprintf(path, sizeof(path), "%s%s", root, TPM_EVENTLOG_PATH);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		goto out;
	}
	if (file_read_all(path, TPM_EVENTLOG_MAX, &buf, &len) != SP_OK) {
		log_event(LOG_INFO, "tpm.eventlog.absent", NULL);
		goto out;
	}
	if (tpm_eventlog_parse((const unsigned char *)buf, len, &log) !=
	    SP_OK) {
		log_event(LOG_WARN, "tpm.eventlog.unusable", "malformed");
		goto out;
	}
	eventlog_compare(&log, pcrs);
out:
	free(buf);
}

void
tpm_append_pcrs_json(struct strbuf *sb, const struct tpm_quote *q)
{
	char hex[2 * TPM_PCR_LEN + 1];
	size_t i;

	strbuf_appends(sb, "[");
	for (i = 0; i < TPM_PCRS; i++) {
		strbuf_appendf(sb, "%s\"%s\"", i > 0 ? "," : "",
			       hex_encode(q->pcrs[i], TPM_PCR_LEN, hex));
	}
	strbuf_appends(sb, "]");
}

/* Append base64 of n bytes as a JSON string. */
static void
append_b64(struct strbuf *sb, const unsigned char *p, size_t n)
{
	char *s = b64_encode_alloc(p, n, B64_STD);

	if (s == NULL) {
		sb->failed = 1;
		return;
	}
	strbuf_append_json_str(sb, s);
	free(s);
}

/* The "tpm" evidence: kbs-protocol.md §4.7 and Trustee's tpm verifier. */
static enum sp_err
tpm_evidence_json(const struct tpm_quote *q, char **json)
{
	enum sp_err rc = SP_E_INTERNAL;
	struct strbuf sb;

	strbuf_init(&sb, EVIDENCE_MAX);
	strbuf_appends(&sb, "{\"ak_public\":");
	append_b64(&sb, q->spki, q->spki_len);
	strbuf_appends(&sb, ",\"tpm_quote\":{\"signature\":");
	append_b64(&sb, q->sig, q->sig_len);
	strbuf_appends(&sb, ",\"message\":");
	append_b64(&sb, q->attest, q->attest_len);
	strbuf_appends(&sb, ",\"pcrs\":");
	tpm_append_pcrs_json(&sb, q);
	strbuf_appends(&sb, "}}");
	if (!strbuf_ok(&sb)) {
		goto out;
	}
	*json = sb.buf;
	sb.buf = NULL;
	rc = SP_OK;
out:
	strbuf_free(&sb);
	return rc;
}

/*
 * A TPM is here: the configured TCTI answers, or (default TCTI) the
 * resource-managed device node exists under root. A raw /dev/tpm0 alone
 * is not used unless tpm.tcti names it: it has no resource manager.
 */
static int
tpm_detect(const char *root)
{
	struct tpm *t = NULL;
	int found;

	if (tpm_opt_tcti[0] == '\0') {
		found = root_has(root, TPM_DEVICE);
	} else {
		found = tpm_probe(root, &t) == SP_OK;
	}
	tpm_close(t);
	return found;
}

static enum sp_err
tpm_collect(const char *root, const unsigned char *digest, size_t dlen,
	    char **json)
{
	enum sp_err rc = SP_E_ATTEST;
	unsigned char nonce[TPM_NONCE_LEN];
	struct tpm_quote *q = NULL;
	struct tpm *t = NULL;

	if (digest == NULL || dlen == 0) {
		goto out;
	}
	memset(nonce, 0, sizeof(nonce));
	memcpy(nonce, digest, dlen < tpm_opt_qlen ? dlen : tpm_opt_qlen);
	q = calloc(1, sizeof(*q));
	if (q == NULL) {
		rc = SP_E_INTERNAL;
		goto out;
	}
	if (tpm_open(root, &t) != SP_OK ||
	    tpm_quote(t, tpm_opt_ak, nonce, tpm_opt_qlen, q) != SP_OK) {
		goto out;
	}

	tpm_check_eventlog(root, q->pcrs);
	log_event(LOG_WARN, "attest.tpm.unbound", "tpm_not_a_tee");
	rc = tpm_evidence_json(q, json);
out:
	free(q);
	tpm_close(t);
	return rc;
}

const struct attest_provider attest_tpm = {
    .tee = "tpm",
    .detect = tpm_detect,
    .collect = tpm_collect,
};
