/*
 * snp_report.c: SEV-SNP reports to and from bytes and the sev crate's
 * JSON, and the host certificate table (tee-guest-interfaces.md §3.2,
 * §3.3; kbs-protocol.md §4.4).
 *
 * The JSON follows the sev crate's AttestationReport (7.x) member for
 * member: numbers for integers, arrays of numbers for byte strings,
 * {fmc, bootloader, tee, snp, microcode} for TCB versions (fmc null
 * before Turin), {major, minor, build} for firmware versions, null for
 * fields the report version does not have, {r, s} for the signature.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "le.h"
#include "snp_report.h"
#include "util.h"

#define OFF_VERSION	   0x000
#define OFF_GUEST_SVN	   0x004
#define OFF_POLICY	   0x008
#define OFF_FAMILY_ID	   0x010
#define OFF_IMAGE_ID	   0x020
#define OFF_VMPL	   0x030
#define OFF_SIG_ALGO	   0x034
#define OFF_CURRENT_TCB	   0x038
#define OFF_PLAT_INFO	   0x040
#define OFF_KEY_INFO	   0x048
#define OFF_REPORT_DATA	   0x050
#define OFF_MEASUREMENT	   0x090
#define OFF_HOST_DATA	   0x0C0
#define OFF_ID_KEY_DIGEST  0x0E0
#define OFF_AUTHOR_KEY	   0x110
#define OFF_REPORT_ID	   0x140
#define OFF_REPORT_ID_MA   0x160
#define OFF_REPORTED_TCB   0x180
#define OFF_CPUID	   0x188 /* family, model, stepping */
#define OFF_CHIP_ID	   0x1A0
#define OFF_COMMITTED_TCB  0x1E0
#define OFF_CURRENT_VER	   0x1E8 /* build, minor, major */
#define OFF_COMMITTED_VER  0x1EC
#define OFF_LAUNCH_TCB	   0x1F0
#define OFF_LAUNCH_MIT	   0x1F8
#define OFF_CURRENT_MIT	   0x200
#define OFF_SIG_R	   0x2A0
#define OFF_SIG_S	   0x2E8
#define REPORT_VERSION_MIN 2
#define REPORT_VERSION_CPU 3 /* CPUID fields from here on */
#define REPORT_VERSION_MIT 5 /* mitigation vectors from here on */
#define REPORT_VERSION_MAX 5
#define CERT_ENTRY_LEN	   24
#define GUID_STR_LEN	   36
#define BYTE_ARRAY_CHUNK   256

/* The GUIDs of the certificate table in RFC 4122 (string) byte order. */
static const struct {
	enum snp_cert_type type;
	unsigned char guid[SNP_GUID_LEN];
} cert_guids[] = {
    {SNP_CERT_ARK,
     {0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52, 0x97, 0x43, 0x3f, 0xb6,
      0x01, 0x4c, 0xd0, 0xae}},
    {SNP_CERT_ASK,
     {0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4, 0xa0, 0x2f, 0x05, 0xae,
      0xf3, 0x27, 0xc7, 0x82}},
    {SNP_CERT_VCEK,
     {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9,
      0x3b, 0xe8, 0xac, 0xcd}},
    {SNP_CERT_VLEK,
     {0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e, 0xaa, 0xe6, 0x39, 0xc0,
      0x45, 0xa0, 0xb8, 0xa1}},
    {SNP_CERT_CRL,
     {0x92, 0xf8, 0x1b, 0xc3, 0x58, 0x11, 0x4d, 0x3d, 0x97, 0xff, 0xd1, 0x9f,
      0x88, 0xdc, 0x67, 0xea}},
};

/*
 * The byte-string fields: JSON key (NULL for the signature halves, which
 * nest under "signature"), offset in the report, offset in the struct.
 */
#define BYTE_FIELD(key, roff, member)                                          \
	{                                                                      \
		key, roff, offsetof(struct snp_report, member),                \
		    sizeof(((struct snp_report *)0)->member)                   \
	}
static const struct {
	const char *key;
	size_t roff;
	size_t soff;
	size_t len;
} byte_fields[] = {
    BYTE_FIELD("family_id", OFF_FAMILY_ID, family_id),
    BYTE_FIELD("image_id", OFF_IMAGE_ID, image_id),
    BYTE_FIELD("report_data", OFF_REPORT_DATA, report_data),
    BYTE_FIELD("measurement", OFF_MEASUREMENT, measurement),
    BYTE_FIELD("host_data", OFF_HOST_DATA, host_data),
    BYTE_FIELD("id_key_digest", OFF_ID_KEY_DIGEST, id_key_digest),
    BYTE_FIELD("author_key_digest", OFF_AUTHOR_KEY, author_key_digest),
    BYTE_FIELD("report_id", OFF_REPORT_ID, report_id),
    BYTE_FIELD("report_id_ma", OFF_REPORT_ID_MA, report_id_ma),
    BYTE_FIELD("chip_id", OFF_CHIP_ID, chip_id),
    BYTE_FIELD(NULL, OFF_SIG_R, sig_r),
    BYTE_FIELD(NULL, OFF_SIG_S, sig_s),
};
#define BYTE_FIELDS (sizeof(byte_fields) / sizeof(byte_fields[0]))

/* TCB_VERSION bytes: Milan/Genoa bl, tee, 0 x4, snp, ucode; Turin fmc,
 * bl, tee, snp, 0 x3, ucode (§3.2; Turin per the sev crate). */
static void
tcb_unpack(uint64_t raw, int turin, struct snp_tcb *t)
{
	memset(t, 0, sizeof(*t));
	t->raw = raw;
	t->has_fmc = turin;
	if (turin) {
		t->fmc = (uint8_t)raw;
		t->bootloader = (uint8_t)(raw >> 8);
		t->tee = (uint8_t)(raw >> 16);
		t->snp = (uint8_t)(raw >> 24);
	} else {
		t->bootloader = (uint8_t)raw;
		t->tee = (uint8_t)(raw >> 8);
		t->snp = (uint8_t)(raw >> 48);
	}
	t->microcode = (uint8_t)(raw >> 56);
}

static uint64_t
tcb_pack(const struct snp_tcb *t)
{
	uint64_t raw = (uint64_t)t->microcode << 56;

	if (t->has_fmc) {
		raw |= (uint64_t)t->fmc | (uint64_t)t->bootloader << 8 |
		       (uint64_t)t->tee << 16 | (uint64_t)t->snp << 24;
	} else {
		raw |= (uint64_t)t->bootloader | (uint64_t)t->tee << 8 |
		       (uint64_t)t->snp << 48;
	}
	return raw;
}

static void
version_unpack(const unsigned char *p, struct snp_version *v)
{
	v->build = p[0];
	v->minor = p[1];
	v->major = p[2];
}

/* Integers and TCBs; the TCB layout depends on the CPU family. */
static void
parse_scalars(const unsigned char *b, struct snp_report *r)
{
	int turin;

	r->version = le_get32(b + OFF_VERSION);
	r->guest_svn = le_get32(b + OFF_GUEST_SVN);
	r->policy = le_get64(b + OFF_POLICY);
	r->vmpl = le_get32(b + OFF_VMPL);
	r->sig_algo = le_get32(b + OFF_SIG_ALGO);
	r->plat_info = le_get64(b + OFF_PLAT_INFO);
	r->key_info = le_get32(b + OFF_KEY_INFO);
	r->has_cpuid = r->version >= REPORT_VERSION_CPU;
	if (r->has_cpuid) {
		r->cpuid_fam_id = b[OFF_CPUID];
		r->cpuid_mod_id = b[OFF_CPUID + 1];
		r->cpuid_step = b[OFF_CPUID + 2];
	}
	r->has_mit = r->version >= REPORT_VERSION_MIT;
	if (r->has_mit) {
		r->launch_mit_vector = le_get64(b + OFF_LAUNCH_MIT);
		r->current_mit_vector = le_get64(b + OFF_CURRENT_MIT);
	}

	turin = r->has_cpuid && r->cpuid_fam_id == SNP_CPUID_FAM_TURIN;
	tcb_unpack(le_get64(b + OFF_CURRENT_TCB), turin, &r->current_tcb);
	tcb_unpack(le_get64(b + OFF_REPORTED_TCB), turin, &r->reported_tcb);
	tcb_unpack(le_get64(b + OFF_COMMITTED_TCB), turin, &r->committed_tcb);
	tcb_unpack(le_get64(b + OFF_LAUNCH_TCB), turin, &r->launch_tcb);
	version_unpack(b + OFF_CURRENT_VER, &r->current);
	version_unpack(b + OFF_COMMITTED_VER, &r->committed);
}

static void
parse_bytes(const unsigned char *b, struct snp_report *r)
{
	unsigned char *base = (unsigned char *)r;
	size_t i;

	for (i = 0; i < BYTE_FIELDS; i++) {
		memcpy(base + byte_fields[i].soff, b + byte_fields[i].roff,
		       byte_fields[i].len);
	}
}

enum sp_err
snp_report_parse(const unsigned char *buf, size_t len, struct snp_report *out,
		 const char **why)
{
	enum sp_err rc = SP_E_INTEGRITY;
	uint32_t version;

	*why = NULL;
	if (buf == NULL || len < SNP_REPORT_LEN) {
		*why = "snp_report_truncated";
		goto out;
	}
	version = le_get32(buf + OFF_VERSION);
	if (version < REPORT_VERSION_MIN || version > REPORT_VERSION_MAX) {
		*why = "snp_report_version_unsupported";
		goto out;
	}

	memset(out, 0, sizeof(*out));
	parse_scalars(buf, out);
	parse_bytes(buf, out);
	rc = SP_OK;
out:
	return rc;
}

void
snp_report_encode(const struct snp_report *r, unsigned char out[SNP_REPORT_LEN])
{
	const unsigned char *base = (const unsigned char *)r;
	size_t i;

	memset(out, 0, SNP_REPORT_LEN);
	for (i = 0; i < BYTE_FIELDS; i++) {
		memcpy(out + byte_fields[i].roff, base + byte_fields[i].soff,
		       byte_fields[i].len);
	}
	le_put32(out + OFF_VERSION, r->version);
	le_put32(out + OFF_GUEST_SVN, r->guest_svn);
	le_put64(out + OFF_POLICY, r->policy);
	le_put32(out + OFF_VMPL, r->vmpl);
	le_put32(out + OFF_SIG_ALGO, r->sig_algo);
	le_put64(out + OFF_CURRENT_TCB, tcb_pack(&r->current_tcb));
	le_put64(out + OFF_PLAT_INFO, r->plat_info);
	le_put32(out + OFF_KEY_INFO, r->key_info);
	le_put64(out + OFF_REPORTED_TCB, tcb_pack(&r->reported_tcb));
	if (r->has_cpuid) {
		out[OFF_CPUID] = r->cpuid_fam_id;
		out[OFF_CPUID + 1] = r->cpuid_mod_id;
		out[OFF_CPUID + 2] = r->cpuid_step;
	}
	le_put64(out + OFF_COMMITTED_TCB, tcb_pack(&r->committed_tcb));
	out[OFF_CURRENT_VER] = r->current.build;
	out[OFF_CURRENT_VER + 1] = r->current.minor;
	out[OFF_CURRENT_VER + 2] = r->current.major;
	out[OFF_COMMITTED_VER] = r->committed.build;
	out[OFF_COMMITTED_VER + 1] = r->committed.minor;
	out[OFF_COMMITTED_VER + 2] = r->committed.major;
	le_put64(out + OFF_LAUNCH_TCB, tcb_pack(&r->launch_tcb));
	if (r->has_mit) {
		le_put64(out + OFF_LAUNCH_MIT, r->launch_mit_vector);
		le_put64(out + OFF_CURRENT_MIT, r->current_mit_vector);
	}
}

int
snp_report_roundtrips(const unsigned char *buf, size_t len)
{
	unsigned char again[SNP_REPORT_LEN];
	struct snp_report r;
	const char *why;
	int rc = 0;

	if (snp_report_parse(buf, len, &r, &why) != SP_OK) {
		goto out;
	}
	snp_report_encode(&r, again);
	rc = memcmp(again, buf, SNP_REPORT_LEN) == 0;
out:
	return rc;
}

/* "[n,n,...]" for n bytes, formatted in chunks to keep appends few. */
static void
json_bytes(struct strbuf *sb, const unsigned char *p, size_t n)
{
	char chunk[BYTE_ARRAY_CHUNK * 4 + 8];
	size_t i, used = 0;
	int w;

	strbuf_appends(sb, "[");
	for (i = 0; i < n; i++) {
		w = snprintf(chunk + used, sizeof(chunk) - used, "%s%u",
			     i > 0 ? "," : "", (unsigned)p[i]);
		used += w > 0 ? (size_t)w : 0;
		if (used > sizeof(chunk) - 8 || i + 1 == n) {
			strbuf_append(sb, chunk, used);
			used = 0;
		}
	}
	strbuf_appends(sb, "]");
}

static void
json_tcb(struct strbuf *sb, const char *key, const struct snp_tcb *t)
{
	strbuf_appendf(sb, ",\"%s\":{\"fmc\":", key);
	if (t->has_fmc) {
		strbuf_appendf(sb, "%u", (unsigned)t->fmc);
	} else {
		strbuf_appends(sb, "null");
	}
	strbuf_appendf(sb,
		       ",\"bootloader\":%u,\"tee\":%u,\"snp\":%u,"
		       "\"microcode\":%u}",
		       (unsigned)t->bootloader, (unsigned)t->tee,
		       (unsigned)t->snp, (unsigned)t->microcode);
}

static void
json_version(struct strbuf *sb, const char *key, const struct snp_version *v)
{
	strbuf_appendf(sb, ",\"%s\":{\"major\":%u,\"minor\":%u,\"build\":%u}",
		       key, (unsigned)v->major, (unsigned)v->minor,
		       (unsigned)v->build);
}

static void
json_named_bytes(struct strbuf *sb, const char *key, const unsigned char *p,
		 size_t n)
{
	strbuf_appendf(sb, ",\"%s\":", key);
	json_bytes(sb, p, n);
}

/* A number, or null when the report version lacks the field. */
static void
json_opt(struct strbuf *sb, const char *key, int has, uint64_t v)
{
	if (has) {
		strbuf_appendf(sb, ",\"%s\":%" PRIu64, key, v);
	} else {
		strbuf_appendf(sb, ",\"%s\":null", key);
	}
}

/* The members up to and including reported_tcb. */
static void
json_first_half(const struct snp_report *r, struct strbuf *sb)
{
	strbuf_appendf(sb,
		       "{\"version\":%" PRIu32 ",\"guest_svn\":%" PRIu32
		       ",\"policy\":%" PRIu64,
		       r->version, r->guest_svn, r->policy);
	json_named_bytes(sb, "family_id", r->family_id, sizeof(r->family_id));
	json_named_bytes(sb, "image_id", r->image_id, sizeof(r->image_id));
	strbuf_appendf(sb, ",\"vmpl\":%" PRIu32 ",\"sig_algo\":%" PRIu32,
		       r->vmpl, r->sig_algo);
	json_tcb(sb, "current_tcb", &r->current_tcb);
	strbuf_appendf(sb, ",\"plat_info\":%" PRIu64 ",\"key_info\":%" PRIu32,
		       r->plat_info, r->key_info);
	json_named_bytes(sb, "report_data", r->report_data,
			 sizeof(r->report_data));
	json_named_bytes(sb, "measurement", r->measurement,
			 sizeof(r->measurement));
	json_named_bytes(sb, "host_data", r->host_data, sizeof(r->host_data));
	json_named_bytes(sb, "id_key_digest", r->id_key_digest,
			 sizeof(r->id_key_digest));
	json_named_bytes(sb, "author_key_digest", r->author_key_digest,
			 sizeof(r->author_key_digest));
	json_named_bytes(sb, "report_id", r->report_id, sizeof(r->report_id));
	json_named_bytes(sb, "report_id_ma", r->report_id_ma,
			 sizeof(r->report_id_ma));
	json_tcb(sb, "reported_tcb", &r->reported_tcb);
}

void
snp_report_json(const struct snp_report *r, struct strbuf *sb)
{
	json_first_half(r, sb);
	json_opt(sb, "cpuid_fam_id", r->has_cpuid, r->cpuid_fam_id);
	json_opt(sb, "cpuid_mod_id", r->has_cpuid, r->cpuid_mod_id);
	json_opt(sb, "cpuid_step", r->has_cpuid, r->cpuid_step);
	json_named_bytes(sb, "chip_id", r->chip_id, sizeof(r->chip_id));
	json_tcb(sb, "committed_tcb", &r->committed_tcb);
	json_version(sb, "current", &r->current);
	json_version(sb, "committed", &r->committed);
	json_tcb(sb, "launch_tcb", &r->launch_tcb);
	json_opt(sb, "launch_mit_vector", r->has_mit, r->launch_mit_vector);
	json_opt(sb, "current_mit_vector", r->has_mit, r->current_mit_vector);
	strbuf_appends(sb, ",\"signature\":{\"r\":");
	json_bytes(sb, r->sig_r, sizeof(r->sig_r));
	strbuf_appends(sb, ",\"s\":");
	json_bytes(sb, r->sig_s, sizeof(r->sig_s));
	strbuf_appends(sb, "}}");
}

/* An unsigned JSON integer in [0, max], through its text so that values
 * above INT64_MAX survive yajl. Returns 0, or -1. */
static int
jnum(yajl_val v, uint64_t max, uint64_t *out)
{
	int rc = -1;

	if (v == NULL || !YAJL_IS_NUMBER(v) || v->u.number.r == NULL) {
		goto out;
	}
	rc = parse_u64(v->u.number.r, 0, max, out);
out:
	return rc;
}

/* A member that is a number in [0, max]; *why names it when not. */
static int
jfield(yajl_val obj, const char *key, uint64_t max, uint64_t *out,
       const char **why)
{
	int rc = jnum(json_get(obj, key), max, out);

	if (rc != 0) {
		*why = key;
	}
	return rc;
}

/* A member that is an array of exactly n bytes. */
static int
jbytes(yajl_val obj, const char *key, unsigned char *out, size_t n,
       const char **why)
{
	yajl_val a = json_get(obj, key);
	uint64_t b;
	size_t i;
	int rc = -1;

	if (a == NULL || !YAJL_IS_ARRAY(a) || a->u.array.len != n) {
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (jnum(a->u.array.values[i], UINT8_MAX, &b) != 0) {
			goto out;
		}
		out[i] = (unsigned char)b;
	}
	rc = 0;
out:
	if (rc != 0) {
		*why = key;
	}
	return rc;
}

/* A member that is null (*has = 0) or a number in [0, max]. */
static int
jopt(yajl_val obj, const char *key, uint64_t max, int *has, uint64_t *out,
     const char **why)
{
	yajl_val v = json_get(obj, key);
	int rc = 0;

	*has = 0;
	*out = 0;
	if (v != NULL && YAJL_IS_NULL(v)) {
		goto out;
	}
	rc = jfield(obj, key, max, out, why);
	*has = rc == 0;
out:
	return rc;
}

static int
jtcb(yajl_val obj, const char *key, struct snp_tcb *t, const char **why)
{
	yajl_val o = json_get(obj, key);
	uint64_t f = 0, bl = 0, tee = 0, snp = 0, uc = 0;
	int rc = -1;

	if (o == NULL || !YAJL_IS_OBJECT(o) ||
	    jopt(o, "fmc", UINT8_MAX, &t->has_fmc, &f, why) != 0 ||
	    jfield(o, "bootloader", UINT8_MAX, &bl, why) != 0 ||
	    jfield(o, "tee", UINT8_MAX, &tee, why) != 0 ||
	    jfield(o, "snp", UINT8_MAX, &snp, why) != 0 ||
	    jfield(o, "microcode", UINT8_MAX, &uc, why) != 0) {
		*why = key;
		goto out;
	}
	t->fmc = (uint8_t)f;
	t->bootloader = (uint8_t)bl;
	t->tee = (uint8_t)tee;
	t->snp = (uint8_t)snp;
	t->microcode = (uint8_t)uc;
	t->raw = tcb_pack(t);
	rc = 0;
out:
	return rc;
}

static int
jversion(yajl_val obj, const char *key, struct snp_version *v, const char **why)
{
	yajl_val o = json_get(obj, key);
	uint64_t major = 0, minor = 0, build = 0;
	int rc = -1;

	if (o == NULL || !YAJL_IS_OBJECT(o) ||
	    jfield(o, "major", UINT8_MAX, &major, why) != 0 ||
	    jfield(o, "minor", UINT8_MAX, &minor, why) != 0 ||
	    jfield(o, "build", UINT8_MAX, &build, why) != 0) {
		*why = key;
		goto out;
	}
	v->major = (uint8_t)major;
	v->minor = (uint8_t)minor;
	v->build = (uint8_t)build;
	rc = 0;
out:
	return rc;
}

static int
jsignature(yajl_val obj, struct snp_report *r, const char **why)
{
	yajl_val s = json_get(obj, "signature");
	int rc = -1;

	if (s == NULL || !YAJL_IS_OBJECT(s) ||
	    jbytes(s, "r", r->sig_r, sizeof(r->sig_r), why) != 0 ||
	    jbytes(s, "s", r->sig_s, sizeof(r->sig_s), why) != 0) {
		*why = "signature";
		goto out;
	}
	rc = 0;
out:
	return rc;
}

/* The integer members, with each value's range. */
static int
jscalars(yajl_val v, struct snp_report *r, const char **why)
{
	uint64_t ver = 0, svn = 0, vmpl = 0, algo = 0, key = 0;
	int rc = -1;

	if (jfield(v, "version", UINT32_MAX, &ver, why) != 0 ||
	    jfield(v, "guest_svn", UINT32_MAX, &svn, why) != 0 ||
	    jfield(v, "policy", UINT64_MAX, &r->policy, why) != 0 ||
	    jfield(v, "vmpl", UINT32_MAX, &vmpl, why) != 0 ||
	    jfield(v, "sig_algo", UINT32_MAX, &algo, why) != 0 ||
	    jfield(v, "plat_info", UINT64_MAX, &r->plat_info, why) != 0 ||
	    jfield(v, "key_info", UINT32_MAX, &key, why) != 0) {
		goto out;
	}
	r->version = (uint32_t)ver;
	r->guest_svn = (uint32_t)svn;
	r->vmpl = (uint32_t)vmpl;
	r->sig_algo = (uint32_t)algo;
	r->key_info = (uint32_t)key;
	rc = 0;
out:
	return rc;
}

/* CPUID and mitigation fields: all of a group null, or all numbers. */
static int
joptionals(yajl_val v, struct snp_report *r, const char **why)
{
	uint64_t fam, mod, step;
	int h1, h2, h3, m1, m2;
	int rc = -1;

	if (jopt(v, "cpuid_fam_id", UINT8_MAX, &h1, &fam, why) != 0 ||
	    jopt(v, "cpuid_mod_id", UINT8_MAX, &h2, &mod, why) != 0 ||
	    jopt(v, "cpuid_step", UINT8_MAX, &h3, &step, why) != 0 ||
	    jopt(v, "launch_mit_vector", UINT64_MAX, &m1, &r->launch_mit_vector,
		 why) != 0 ||
	    jopt(v, "current_mit_vector", UINT64_MAX, &m2,
		 &r->current_mit_vector, why) != 0) {
		goto out;
	}
	if (h1 != h2 || h2 != h3) {
		*why = "cpuid_fam_id";
		goto out;
	}
	if (m1 != m2) {
		*why = "launch_mit_vector";
		goto out;
	}
	r->has_cpuid = h1;
	r->cpuid_fam_id = (uint8_t)fam;
	r->cpuid_mod_id = (uint8_t)mod;
	r->cpuid_step = (uint8_t)step;
	r->has_mit = m1;
	rc = 0;
out:
	return rc;
}

/* Every byte-string member; the signature's are nested. */
static int
jbyte_fields(yajl_val v, struct snp_report *r, const char **why)
{
	unsigned char *base = (unsigned char *)r;
	size_t i;
	int rc = 0;

	for (i = 0; i < BYTE_FIELDS && rc == 0; i++) {
		if (byte_fields[i].key != NULL) {
			rc = jbytes(v, byte_fields[i].key,
				    base + byte_fields[i].soff,
				    byte_fields[i].len, why);
		}
	}
	return rc;
}

enum sp_err
snp_report_from_json(yajl_val v, struct snp_report *out, const char **why)
{
	enum sp_err rc = SP_E_PROTOCOL;
	struct snp_report r;

	memset(&r, 0, sizeof(r));
	*why = "attestation_report";
	if (v == NULL || !YAJL_IS_OBJECT(v)) {
		goto out;
	}
	if (jscalars(v, &r, why) != 0 || joptionals(v, &r, why) != 0 ||
	    jbyte_fields(v, &r, why) != 0 ||
	    jtcb(v, "current_tcb", &r.current_tcb, why) != 0 ||
	    jtcb(v, "reported_tcb", &r.reported_tcb, why) != 0 ||
	    jtcb(v, "committed_tcb", &r.committed_tcb, why) != 0 ||
	    jtcb(v, "launch_tcb", &r.launch_tcb, why) != 0 ||
	    jversion(v, "current", &r.current, why) != 0 ||
	    jversion(v, "committed", &r.committed, why) != 0 ||
	    jsignature(v, &r, why) != 0) {
		goto out;
	}
	*out = r;
	*why = NULL;
	rc = SP_OK;
out:
	return rc;
}

/* The known type of a GUID in RFC 4122 or mixed-endian (EFI) order. */
static enum snp_cert_type
cert_type_of(const unsigned char *g)
{
	enum snp_cert_type type = SNP_CERT_OTHER;
	unsigned char mixed[SNP_GUID_LEN];
	size_t i;

	/* EFI GUIDs store the first three fields little-endian. */
	mixed[0] = g[3];
	mixed[1] = g[2];
	mixed[2] = g[1];
	mixed[3] = g[0];
	mixed[4] = g[5];
	mixed[5] = g[4];
	mixed[6] = g[7];
	mixed[7] = g[6];
	memcpy(mixed + 8, g + 8, 8);
	for (i = 0; i < sizeof(cert_guids) / sizeof(cert_guids[0]); i++) {
		if (memcmp(g, cert_guids[i].guid, SNP_GUID_LEN) == 0 ||
		    memcmp(mixed, cert_guids[i].guid, SNP_GUID_LEN) == 0) {
			type = cert_guids[i].type;
			break;
		}
	}
	return type;
}

static int
all_zero(const unsigned char *p, size_t n)
{
	unsigned char any = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		any |= p[i];
	}
	return any == 0;
}

enum sp_err
snp_certs_parse(const unsigned char *table, size_t len, struct snp_cert *out,
		size_t max, size_t *n, const char **why)
{
	enum sp_err rc = SP_E_INTEGRITY;
	const unsigned char *e;
	uint32_t off, clen;
	size_t count = 0, at;

	*why = NULL;
	if (len > SNP_CERT_TABLE_MAX) {
		*why = "snp_certs_too_large";
		goto out;
	}
	for (at = 0; len >= CERT_ENTRY_LEN && at <= len - CERT_ENTRY_LEN;
	     at += CERT_ENTRY_LEN) {
		e = table + at;
		if (all_zero(e, CERT_ENTRY_LEN)) {
			break;
		}
		if (count == max) {
			*why = "snp_certs_too_many";
			goto out;
		}
		off = le_get32(e + SNP_GUID_LEN);
		clen = le_get32(e + SNP_GUID_LEN + 4);
		if (off > len || clen > len - off) {
			*why = "snp_certs_entry_out_of_bounds";
			goto out;
		}
		memcpy(out[count].guid, e, SNP_GUID_LEN);
		out[count].type = cert_type_of(e);
		out[count].data = table + off;
		out[count].len = clen;
		count++;
	}
	*n = count;
	rc = SP_OK;
out:
	return rc;
}

const char *
snp_cert_type_name(enum snp_cert_type t)
{
	static const char *const names[] = {"ARK",  "ASK", "VCEK",
					    "VLEK", "CRL", "OTHER"};

	return (size_t)t < sizeof(names) / sizeof(names[0]) ? names[t]
							    : "OTHER";
}

/* {"OTHER":"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"}, bytes in order. */
static void
json_other_type(struct strbuf *sb, const unsigned char *g)
{
	char hex[2 * SNP_GUID_LEN + 1];
	char str[GUID_STR_LEN + 1];

	hex_encode(g, SNP_GUID_LEN, hex);
	snprintf(str, sizeof(str), "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8,
		 hex + 12, hex + 16, hex + 20);
	strbuf_appends(sb, "{\"OTHER\":");
	strbuf_append_json_str(sb, str);
	strbuf_appends(sb, "}");
}

/* The cert_chain array; entries without data are left out. */
static void
json_certs(struct strbuf *sb, const struct snp_cert *c, size_t n)
{
	size_t i, emitted = 0;

	strbuf_appends(sb, "[");
	for (i = 0; i < n; i++) {
		if (c[i].len == 0) {
			continue;
		}
		strbuf_appends(sb, emitted > 0 ? ",{\"cert_type\":"
					       : "{\"cert_type\":");
		if (c[i].type == SNP_CERT_OTHER) {
			json_other_type(sb, c[i].guid);
		} else {
			strbuf_append_json_str(sb,
					       snp_cert_type_name(c[i].type));
		}
		strbuf_appends(sb, ",\"data\":");
		json_bytes(sb, c[i].data, c[i].len);
		strbuf_appends(sb, "}");
		emitted++;
	}
	strbuf_appends(sb, "]");
}

/* 1 when the table holds a VCEK or VLEK with data. */
static int
certs_have_vek(const struct snp_cert *c, size_t n)
{
	size_t i;
	int vek = 0;

	for (i = 0; i < n; i++) {
		vek |= (c[i].type == SNP_CERT_VCEK ||
			c[i].type == SNP_CERT_VLEK) &&
		       c[i].len > 0;
	}
	return vek;
}

enum sp_err
snp_evidence_json(const unsigned char *report, size_t rlen,
		  const unsigned char *certs, size_t clen, char **json,
		  const char **why)
{
	struct snp_cert cert[SNP_CERTS_MAX];
	enum sp_err rc = SP_E_ATTEST;
	struct snp_report r;
	struct strbuf sb;
	size_t n = 0;

	strbuf_init(&sb, SNP_EVIDENCE_MAX);
	if (snp_report_parse(report, rlen, &r, why) != SP_OK) {
		goto out;
	}
	if (!snp_report_roundtrips(report, rlen)) {
		*why = "snp_report_reserved_nonzero";
		goto out;
	}
	if (clen > 0 && snp_certs_parse(certs, clen, cert, SNP_CERTS_MAX, &n,
					why) != SP_OK) {
		goto out;
	}

	strbuf_appends(&sb, "{\"attestation_report\":");
	snp_report_json(&r, &sb);
	strbuf_appends(&sb, ",\"cert_chain\":");
	if (certs_have_vek(cert, n)) {
		json_certs(&sb, cert, n);
	} else {
		strbuf_appends(&sb, "null");
	}
	strbuf_appends(&sb, "}");
	if (!strbuf_ok(&sb)) {
		*why = "snp_evidence_too_large";
		goto out;
	}
	*json = sb.buf;
	sb.buf = NULL;
	*why = NULL;
	rc = SP_OK;
out:
	strbuf_free(&sb);
	return rc;
}
