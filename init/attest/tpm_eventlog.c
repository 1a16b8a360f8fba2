/*
 * tpm_eventlog.c: TCG PC Client event log parser and PCR replay
 * (TCG PC Client Platform Firmware Profile, sections 9.2-9.4 and 10.4).
 *
 * Every length is checked against what is left of the buffer before it
 * is used; nothing is copied or allocated, records only point into the
 * log. The replay is the TPM's extend, PCR = H(PCR || digest), in log
 * order.
 */
#include <string.h>

#include <openssl/evp.h>

#include "tpm_eventlog.h"

#define EL_SHA1_LEN	    20
#define EL_SPEC_SIG	    "Spec ID Event03"
#define EL_SPEC_SIG_LEN	    16				  /* with its NUL */
#define EL_SPEC_FIXED	    (EL_SPEC_SIG_LEN + 4 + 4 + 4) /* up to nalgs */
#define EL_LOCALITY_SIG	    "StartupLocality"
#define EL_LOCALITY_SIG_LEN 16 /* with its NUL */
#define EL_DRTM_FIRST	    17 /* PCRs 17-22 reset to all-ones */
#define EL_DRTM_LAST	    22

/* A bounded reader over the log. */
struct el_cur {
	const unsigned char *p;
	size_t left;
};

static int
cur_u8(struct el_cur *c, uint8_t *v)
{
	if (c->left < 1) {
		return -1;
	}
	*v = c->p[0];
	c->p++;
	c->left--;
	return 0;
}

static int
cur_u16(struct el_cur *c, uint16_t *v)
{
	if (c->left < 2) {
		return -1;
	}
	*v = (uint16_t)(c->p[0] | (c->p[1] << 8));
	c->p += 2;
	c->left -= 2;
	return 0;
}

static int
cur_u32(struct el_cur *c, uint32_t *v)
{
	if (c->left < 4) {
		return -1;
	}
	*v = (uint32_t)c->p[0] | (uint32_t)c->p[1] << 8 |
	     (uint32_t)c->p[2] << 16 | (uint32_t)c->p[3] << 24;
	c->p += 4;
	c->left -= 4;
	return 0;
}

/* Point *out at the next n bytes and step over them. */
static int
cur_take(struct el_cur *c, size_t n, const unsigned char **out)
{
	if (c->left < n) {
		return -1;
	}
	*out = c->p;
	c->p += n;
	c->left -= n;
	return 0;
}

/* The SHA-1 shaped record: the legacy log and the agile log's header. */
static int
read_legacy(struct el_cur *c, struct tpm_event *ev)
{
	uint32_t size;

	memset(ev, 0, sizeof(*ev));
	if (cur_u32(c, &ev->pcr) != 0 || cur_u32(c, &ev->type) != 0 ||
	    cur_take(c, EL_SHA1_LEN, &ev->digests[0].digest) != 0 ||
	    cur_u32(c, &size) != 0 || cur_take(c, size, &ev->data) != 0) {
		return -1;
	}
	ev->ndigests = 1;
	ev->digests[0].alg = TPM_EVENTLOG_ALG_SHA1;
	ev->digests[0].len = EL_SHA1_LEN;
	ev->data_len = size;
	return 0;
}

/* The size the Spec ID event announced for alg, or 0. */
static size_t
alg_size(const struct tpm_eventlog *log, uint16_t alg)
{
	size_t i;

	for (i = 0; i < log->nalgs; i++) {
		if (log->algs[i].id == alg) {
			return log->algs[i].size;
		}
	}
	return 0;
}

/* TCG_PCR_EVENT2: one digest per announced algorithm, no repeats. */
static int
read_agile(const struct tpm_eventlog *log, struct el_cur *c,
	   struct tpm_event *ev)
{
	uint32_t count, size;
	size_t i, j, dlen;
	uint16_t alg;

	memset(ev, 0, sizeof(*ev));
	if (cur_u32(c, &ev->pcr) != 0 || cur_u32(c, &ev->type) != 0 ||
	    cur_u32(c, &count) != 0 || count != log->nalgs) {
		return -1;
	}
	for (i = 0; i < count; i++) {
		if (cur_u16(c, &alg) != 0) {
			return -1;
		}
		dlen = alg_size(log, alg);
		for (j = 0; j < i; j++) {
			if (ev->digests[j].alg == alg) {
				dlen = 0;
			}
		}
		if (dlen == 0 ||
		    cur_take(c, dlen, &ev->digests[i].digest) != 0) {
			return -1;
		}
		ev->digests[i].alg = alg;
		ev->digests[i].len = dlen;
	}
	ev->ndigests = count;
	if (cur_u32(c, &size) != 0 || cur_take(c, size, &ev->data) != 0) {
		return -1;
	}
	ev->data_len = size;
	return 0;
}

/*
 * TCG_EfiSpecIdEvent: the algorithm list of a crypto-agile log. Returns
 * 1 when data is one (log->algs filled), 0 when it is not a Spec ID
 * Event03 (a legacy log), -1 when it claims to be one but is malformed.
 */
static int
read_spec_id(const struct tpm_event *ev, struct tpm_eventlog *log)
{
	struct el_cur c = {ev->data, ev->data_len};
	const unsigned char *skip;
	uint32_t nalgs, u32;
	uint8_t vendor, u8;
	uint16_t id, size;
	size_t i;

	if (ev->type != TPM_EVENTLOG_EV_NO_ACTION || ev->pcr != 0 ||
	    ev->data_len < EL_SPEC_FIXED ||
	    memcmp(ev->data, EL_SPEC_SIG, EL_SPEC_SIG_LEN) != 0) {
		return 0;
	}
	c.p += EL_SPEC_SIG_LEN;
	c.left -= EL_SPEC_SIG_LEN;
	/* platformClass; spec minor, major, errata; uintnSize */
	if (cur_u32(&c, &u32) != 0 || cur_take(&c, 3, &skip) != 0 ||
	    cur_u8(&c, &u8) != 0 || cur_u32(&c, &nalgs) != 0 || nalgs == 0 ||
	    nalgs > TPM_EVENTLOG_ALGS_MAX) {
		return -1;
	}
	for (i = 0; i < nalgs; i++) {
		if (cur_u16(&c, &id) != 0 || cur_u16(&c, &size) != 0 ||
		    size == 0 || size > TPM_EVENTLOG_DIGEST_MAX ||
		    alg_size(log, id) != 0) {
			return -1;
		}
		log->algs[i].id = id;
		log->algs[i].size = size;
		log->nalgs = i + 1;
	}
	if (cur_u8(&c, &vendor) != 0 || cur_take(&c, vendor, &skip) != 0) {
		return -1;
	}
	return 1;
}

/* The header: decides between the agile and the legacy format. */
static int
parse_header(struct tpm_eventlog *log)
{
	struct el_cur c = {log->buf, log->len};
	struct tpm_event ev;
	int kind;

	if (read_legacy(&c, &ev) != 0) {
		return -1;
	}
	kind = read_spec_id(&ev, log);
	if (kind < 0) {
		return -1;
	}
	log->crypto_agile = kind;
	if (!kind) {
		log->nalgs = 1;
		log->algs[0].id = TPM_EVENTLOG_ALG_SHA1;
		log->algs[0].size = EL_SHA1_LEN;
	}
	return 0;
}

int
tpm_eventlog_next(const struct tpm_eventlog *log, size_t *off,
		  struct tpm_event *ev)
{
	struct el_cur c;
	int rc = 0;

	if (*off >= log->len) {
		goto out;
	}
	c.p = log->buf + *off;
	c.left = log->len - *off;
	if (*off == 0 || !log->crypto_agile) {
		rc = read_legacy(&c, ev);
	} else {
		rc = read_agile(log, &c, ev);
	}
	if (rc != 0 || ev->pcr >= TPM_EVENTLOG_PCRS) {
		rc = -1;
		goto out;
	}
	*off = log->len - c.left;
	rc = 1;
out:
	return rc;
}

enum sp_err
tpm_eventlog_parse(const unsigned char *buf, size_t len,
		   struct tpm_eventlog *log)
{
	enum sp_err rc = SP_E_PROTOCOL;
	struct tpm_eventlog tmp;
	struct tpm_event ev;
	size_t off = 0;
	int step;

	memset(&tmp, 0, sizeof(tmp));
	tmp.buf = buf;
	tmp.len = len;
	if (buf == NULL || len == 0 || len > TPM_EVENTLOG_MAX ||
	    parse_header(&tmp) != 0) {
		goto out;
	}

	/* Each record consumes at least its fixed fields: this ends. */
	step = tpm_eventlog_next(&tmp, &off, &ev);
	while (step == 1) {
		tmp.nevents++;
		step = tpm_eventlog_next(&tmp, &off, &ev);
	}
	if (step != 0) {
		goto out;
	}
	*log = tmp;
	rc = SP_OK;
out:
	return rc;
}

static const EVP_MD *
alg_md(uint16_t alg)
{
	switch (alg) {
	case TPM_EVENTLOG_ALG_SHA1:
		return EVP_sha1();
	case TPM_EVENTLOG_ALG_SHA256:
		return EVP_sha256();
	case TPM_EVENTLOG_ALG_SHA384:
		return EVP_sha384();
	case TPM_EVENTLOG_ALG_SHA512:
		return EVP_sha512();
	default:
		return NULL;
	}
}

/* The digest of bank alg in ev, or NULL. */
static const unsigned char *
event_digest(const struct tpm_event *ev, uint16_t alg)
{
	size_t i;

	for (i = 0; i < ev->ndigests; i++) {
		if (ev->digests[i].alg == alg) {
			return ev->digests[i].digest;
		}
	}
	return NULL;
}

/* PCR = H(PCR || digest). */
static int
extend(const EVP_MD *md, unsigned char *pcr, const unsigned char *digest,
       size_t dlen)
{
	unsigned char in[2 * TPM_EVENTLOG_DIGEST_MAX];
	unsigned int outlen = 0;

	memcpy(in, pcr, dlen);
	memcpy(in + dlen, digest, dlen);
	if (EVP_Digest(in, 2 * dlen, pcr, &outlen, md, NULL) != 1 ||
	    outlen != dlen) {
		return -1;
	}
	return 0;
}

/* Starting values before the first extend. */
static void
reset_pcrs(unsigned char pcrs[][TPM_EVENTLOG_DIGEST_MAX])
{
	size_t i;

	for (i = 0; i < TPM_EVENTLOG_PCRS; i++) {
		memset(pcrs[i], 0, TPM_EVENTLOG_DIGEST_MAX);
		if (i >= EL_DRTM_FIRST && i <= EL_DRTM_LAST) {
			memset(pcrs[i], 0xff, TPM_EVENTLOG_DIGEST_MAX);
		}
	}
}

/* A StartupLocality record sets PCR0's last byte to the locality. */
static void
startup_locality(const struct tpm_event *ev, unsigned char *pcr0, size_t dlen)
{
	if (ev->type == TPM_EVENTLOG_EV_NO_ACTION && ev->pcr == 0 &&
	    ev->data_len >= EL_LOCALITY_SIG_LEN + 1 &&
	    memcmp(ev->data, EL_LOCALITY_SIG, EL_LOCALITY_SIG_LEN) == 0) {
		memset(pcr0, 0, dlen);
		pcr0[dlen - 1] = ev->data[EL_LOCALITY_SIG_LEN];
	}
}

enum sp_err
tpm_eventlog_replay(const struct tpm_eventlog *log, uint16_t alg,
		    unsigned char pcrs[][TPM_EVENTLOG_DIGEST_MAX], size_t *dlen,
		    uint32_t *touched)
{
	enum sp_err rc = SP_E_NOTFOUND;
	const EVP_MD *md = alg_md(alg);
	const unsigned char *digest;
	struct tpm_event ev;
	size_t off = 0, size = alg_size(log, alg);
	uint32_t mask = 0;
	int step;

	if (md == NULL || size == 0 || (size_t)EVP_MD_get_size(md) != size) {
		goto out;
	}
	reset_pcrs(pcrs);

	rc = SP_E_PROTOCOL;
	step = tpm_eventlog_next(log, &off, &ev);
	for (; step == 1; step = tpm_eventlog_next(log, &off, &ev)) {
		if (ev.type == TPM_EVENTLOG_EV_NO_ACTION) {
			startup_locality(&ev, pcrs[0], size);
			continue;
		}
		digest = event_digest(&ev, alg);
		if (digest == NULL) {
			goto out;
		}
		if (extend(md, pcrs[ev.pcr], digest, size) != 0) {
			rc = SP_E_INTERNAL;
			goto out;
		}
		mask |= (uint32_t)1 << ev.pcr;
	}
	if (step != 0) {
		goto out;
	}
	*dlen = size;
	*touched = mask;
	rc = SP_OK;
out:
	return rc;
}
