/*
 * ccel.c: the ACPI CCEL table and the TCG2 crypto-agile event log it
 * points at, walked record by record with every length checked, and
 * replayed into RTMR0..3 (tee-guest-interfaces.md §1.6, §2.6).
 */
#include <string.h>

#include <openssl/evp.h>

#include "ccel.h"
#include "le.h"

#define ACPI_SIG_LEN	    4
#define ACPI_LENGTH_OFF	    4
#define ACPI_OEM_ID_OFF	    10
#define ACPI_OEM_ID_LEN	    6
#define ACPI_OEM_TABLE_OFF  16
#define ACPI_OEM_TABLE_LEN  8
#define CCEL_CC_TYPE_OFF    36
#define CCEL_CC_SUBTYPE_OFF 37
#define CCEL_LAML_OFF	    40
#define CCEL_LASA_OFF	    48

/* Legacy TCG_PCR_EVENT header: pcr, type, SHA-1 digest, data size. */
#define LEGACY_HDR_LEN	  32
#define LEGACY_SIZE_OFF	  28
#define SPEC_ID_SIG	  "Spec ID Event03"
#define SPEC_ID_SIG_LEN	  16 /* including the NUL */
#define SPEC_ID_NALGS_OFF 24 /* after class, versions, uintn size */
#define SPEC_ID_ALG_LEN	  4  /* u16 id, u16 digest size */
#define EVENT2_HDR_LEN	  12 /* pcr, type, digest count */
#define DIGEST_SIZE_MAX	  EVP_MAX_MD_SIZE

/* The walk over one log: where we are and the declared algorithms. */
struct ccel_walk {
	const unsigned char *log;
	size_t len;
	size_t off;
	uint16_t alg[CCEL_ALGS_MAX];
	uint16_t size[CCEL_ALGS_MAX];
	size_t nalgs;
};

static int
fits(size_t len, size_t off, size_t n)
{
	return off <= len && n <= len - off;
}

enum sp_err
ccel_table_parse(const unsigned char *buf, size_t len, struct ccel_table *out,
		 const char **why)
{
	enum sp_err rc = SP_E_INTEGRITY;
	unsigned sum = 0;
	uint32_t tlen;
	size_t i;

	*why = NULL;
	if (buf == NULL || len < CCEL_TABLE_LEN) {
		*why = "ccel_table_truncated";
		goto out;
	}
	tlen = le_get32(buf + ACPI_LENGTH_OFF);
	if (memcmp(buf, "CCEL", ACPI_SIG_LEN) != 0) {
		*why = "ccel_table_bad_signature";
		goto out;
	}
	if (tlen < CCEL_TABLE_LEN || tlen > len) {
		*why = "ccel_table_bad_length";
		goto out;
	}
	for (i = 0; i < tlen; i++) {
		sum += buf[i];
	}
	if ((sum & 0xFF) != 0) {
		*why = "ccel_table_bad_checksum";
		goto out;
	}

	memset(out, 0, sizeof(*out));
	memcpy(out->oem_id, buf + ACPI_OEM_ID_OFF, ACPI_OEM_ID_LEN);
	memcpy(out->oem_table_id, buf + ACPI_OEM_TABLE_OFF, ACPI_OEM_TABLE_LEN);
	out->cc_type = buf[CCEL_CC_TYPE_OFF];
	out->cc_subtype = buf[CCEL_CC_SUBTYPE_OFF];
	out->laml = le_get64(buf + CCEL_LAML_OFF);
	out->lasa = le_get64(buf + CCEL_LASA_OFF);
	rc = SP_OK;
out:
	return rc;
}

/* Digest size of alg as the Spec ID header declared it, or 0. */
static size_t
walk_digest_size(const struct ccel_walk *w, uint16_t alg)
{
	size_t i, size = 0;

	for (i = 0; i < w->nalgs && size == 0; i++) {
		if (w->alg[i] == alg) {
			size = w->size[i];
		}
	}
	return size;
}

/* The algorithm list of a Spec ID Event03 body of n bytes. */
static enum sp_err
spec_algs(struct ccel_walk *w, const unsigned char *p, size_t n,
	  const char **why)
{
	enum sp_err rc = SP_E_INTEGRITY;
	uint32_t count;
	size_t i;

	if (n < SPEC_ID_NALGS_OFF + 4 ||
	    memcmp(p, SPEC_ID_SIG, SPEC_ID_SIG_LEN) != 0) {
		*why = "ccel_spec_id_missing";
		goto out;
	}
	count = le_get32(p + SPEC_ID_NALGS_OFF);
	if (count == 0 || count > CCEL_ALGS_MAX ||
	    !fits(n, SPEC_ID_NALGS_OFF + 4, count * SPEC_ID_ALG_LEN)) {
		*why = "ccel_spec_id_bad_algorithms";
		goto out;
	}
	for (i = 0; i < count; i++) {
		w->alg[i] =
		    le_get16(p + SPEC_ID_NALGS_OFF + 4 + i * SPEC_ID_ALG_LEN);
		w->size[i] =
		    le_get16(p + SPEC_ID_NALGS_OFF + 6 + i * SPEC_ID_ALG_LEN);
		if (w->size[i] == 0 || w->size[i] > DIGEST_SIZE_MAX) {
			*why = "ccel_spec_id_bad_digest_size";
			goto out;
		}
	}
	w->nalgs = count;

	if (walk_digest_size(w, CCEL_ALG_SHA384) != CCEL_DIGEST_LEN) {
		*why = "ccel_no_sha384";
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

/* The first record: a legacy TCG_PCR_EVENT holding Spec ID Event03. */
static enum sp_err
walk_header(struct ccel_walk *w, const char **why)
{
	enum sp_err rc = SP_E_INTEGRITY;
	uint32_t size;

	if (!fits(w->len, 0, LEGACY_HDR_LEN)) {
		*why = "ccel_truncated_header";
		goto out;
	}
	if (le_get32(w->log + 4) != CCEL_EV_NO_ACTION) {
		*why = "ccel_spec_id_missing";
		goto out;
	}
	size = le_get32(w->log + LEGACY_SIZE_OFF);
	if (!fits(w->len, LEGACY_HDR_LEN, size)) {
		*why = "ccel_truncated_header";
		goto out;
	}
	rc = spec_algs(w, w->log + LEGACY_HDR_LEN, size, why);
	w->off = LEGACY_HDR_LEN + (size_t)size;
out:
	return rc;
}

/* 1 at the unused log area: 8 bytes all 0xFF or all zero, or the end. */
static int
walk_at_end(const struct ccel_walk *w)
{
	size_t n = w->len - w->off;
	size_t i, ff = 0, zero = 0;

	if (n > CCEL_TERMINATOR_LEN) {
		n = CCEL_TERMINATOR_LEN;
	}
	for (i = 0; i < n; i++) {
		ff += w->log[w->off + i] == 0xFF;
		zero += w->log[w->off + i] == 0x00;
	}
	return n == 0 || ff == n || zero == n;
}

/* rtmr = SHA-384(rtmr || digest). */
static enum sp_err
extend(unsigned char *rtmr, const unsigned char *digest)
{
	unsigned char cat[2 * CCEL_DIGEST_LEN];
	unsigned int outlen = 0;
	enum sp_err rc = SP_E_INTERNAL;

	memcpy(cat, rtmr, CCEL_DIGEST_LEN);
	memcpy(cat + CCEL_DIGEST_LEN, digest, CCEL_DIGEST_LEN);
	if (EVP_Digest(cat, sizeof(cat), rtmr, &outlen, EVP_sha384(), NULL) ==
		1 &&
	    outlen == CCEL_DIGEST_LEN) {
		rc = SP_OK;
	}
	return rc;
}

/*
 * The digests of one TCG_PCR_EVENT2 starting at p (n bytes left):
 * returns the bytes they occupy, or 0 when malformed. *sha384 points at
 * the SHA-384 digest, NULL when the record has none.
 */
static size_t
event_digests(const struct ccel_walk *w, const unsigned char *p, size_t n,
	      const unsigned char **sha384)
{
	uint32_t count = le_get32(p + 8);
	size_t off = EVENT2_HDR_LEN, dsize, rc = 0;
	uint16_t alg;
	uint32_t i;

	*sha384 = NULL;
	if (count == 0 || count > w->nalgs) {
		goto out;
	}
	for (i = 0; i < count; i++) {
		if (!fits(n, off, 2)) {
			goto out;
		}
		alg = le_get16(p + off);
		dsize = walk_digest_size(w, alg);
		if (dsize == 0 || !fits(n, off + 2, dsize)) {
			goto out;
		}
		if (alg == CCEL_ALG_SHA384) {
			*sha384 = p + off + 2;
		}
		off += 2 + dsize;
	}
	rc = off;
out:
	return rc;
}

/* One record at w->off: check, replay, advance. */
static enum sp_err
walk_event(struct ccel_walk *w, struct ccel_replay *r, const char **why)
{
	enum sp_err rc = SP_E_INTEGRITY;
	const unsigned char *p = w->log + w->off;
	const unsigned char *digest;
	size_t n = w->len - w->off, off;
	uint32_t mr, type, size;

	if (!fits(n, 0, EVENT2_HDR_LEN)) {
		*why = "ccel_truncated_event";
		goto out;
	}
	mr = le_get32(p);
	type = le_get32(p + 4);
	off = event_digests(w, p, n, &digest);
	if (off == 0 || !fits(n, off, 4)) {
		*why = "ccel_bad_event_digests";
		goto out;
	}
	size = le_get32(p + off);
	off += 4;
	if (!fits(n, off, size)) {
		*why = "ccel_truncated_event_data";
		goto out;
	}

	/* MR index 0 is MRTD, measured by the TDX module, not replayed. */
	if (type != CCEL_EV_NO_ACTION && mr > CCEL_RTMR_COUNT) {
		*why = "ccel_mr_index_out_of_range";
		goto out;
	}
	if (type != CCEL_EV_NO_ACTION && mr > 0) {
		if (digest == NULL) {
			*why = "ccel_event_without_sha384";
			goto out;
		}
		rc = extend(r->rtmr[mr - 1], digest);
		if (rc != SP_OK) {
			*why = "ccel_digest_failed";
			goto out;
		}
	}
	w->off += off + size;
	r->events++;
	rc = SP_OK;
out:
	return rc;
}

enum sp_err
ccel_replay(const unsigned char *log, size_t len, struct ccel_replay *out,
	    const char **why)
{
	enum sp_err rc = SP_E_INTEGRITY;
	struct ccel_replay r;
	struct ccel_walk w;

	memset(&r, 0, sizeof(r));
	memset(&w, 0, sizeof(w));
	*why = NULL;
	if (log == NULL || len > CCEL_LOG_MAX) {
		*why = "ccel_log_too_large";
		goto out;
	}
	w.log = log;
	w.len = len;
	rc = walk_header(&w, why);
	if (rc != SP_OK) {
		goto out;
	}

	while (!walk_at_end(&w)) {
		if (r.events >= CCEL_EVENTS_MAX) {
			*why = "ccel_too_many_events";
			rc = SP_E_INTEGRITY;
			goto out;
		}
		rc = walk_event(&w, &r, why);
		if (rc != SP_OK) {
			goto out;
		}
	}
	r.used = w.off;
	*out = r;
	rc = SP_OK;
out:
	return rc;
}
