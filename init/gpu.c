/*
 * gpu.c: additional device evidence (gpu.h).
 *
 * NVIDIA GPUs are attested through NVML, which every confidential-GPU
 * guest has because the driver ships it: per GPU, the confidential
 * computing attestation report (an SPDM GET_MEASUREMENTS exchange over
 * our 32-byte nonce) and the attestation certificate chain. NVML is
 * loaded with dlopen so the init image runs without it; its ABI is
 * declared below from NVIDIA's public NVML API reference. Everything
 * the library hands back is size-checked against the buffers it was
 * given before we read it.
 *
 * The sampledevice is Trustee's development device, which proves
 * nothing and exists so the composite binding can be tested without a
 * GPU.
 *
 * XXX: the NVML declarations below were checked against NVIDIA's
 * published reference and a stand-in library only, never a real
 * Hopper or Blackwell GPU; NVSwitches (PPCIe) are not attested; GPUs
 * must be set ready before we run (docs/KNOWN_ISSUES.md).
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "gpu.h"
#include "json.h"
#include "log.h"
#include "secret.h"
#include "util.h"

#define GPU_SAMPLE_SVN "2" /* §4.2 */
#define GPU_DIGEST_MAX 64

/* NVML's ABI (NVML API reference, "Confidential Computing"). */
#define NVML_SUCCESS		0
#define NVML_CC_FEATURE_ENABLED 1 /* NVML_CC_SYSTEM_FEATURE_ENABLED */
#define NVML_CC_DEVTOOLS_OFF	0 /* NVML_CC_SYSTEM_DEVTOOLS_MODE_OFF */
#define NVML_CC_ACCEPTING_WORK	1 /* ..._ACCEPTING_CLIENT_REQUESTS_TRUE */
#define NVML_ARCH_HOPPER	9
#define NVML_ARCH_BLACKWELL	10
#define NVML_UUID_BUF		96     /* NVML_DEVICE_UUID_V2_BUFFER_SIZE */
#define NVML_REPORT_MAX		0x2000 /* NVML_CC_GPU_ATTESTATION_REPORT_SIZE */
#define NVML_CEC_REPORT_MAX	0x1000
#define NVML_CERT_CHAIN_MAX	0x1000 /* NVML_GPU_CERT_CHAIN_SIZE */
#define NVML_ATTEST_CHAIN_MAX	0x1400 /* ..._ATTESTATION_CERT_CHAIN_SIZE */

/*
 * The report opens with the SPDM GET_MEASUREMENTS request (DSP0274
 * 1.1): version, code, param1, param2, a 32-byte nonce at offset 4,
 * slot id. We check the GPU answered our nonce, not another.
 */
#define SPDM_REQUEST_LEN 37
#define SPDM_NONCE_OFF	 4

struct nvml_cc_state {
	unsigned int environment;
	unsigned int cc_feature;
	unsigned int devtools_mode;
};

struct nvml_cc_report {
	unsigned int cec_present;
	unsigned int report_size;
	unsigned int cec_size;
	unsigned char nonce[GPU_NONCE_LEN]; /* input */
	unsigned char report[NVML_REPORT_MAX];
	unsigned char cec_report[NVML_CEC_REPORT_MAX];
};

struct nvml_cc_cert {
	unsigned int chain_size;
	unsigned int attest_chain_size;
	unsigned char chain[NVML_CERT_CHAIN_MAX];
	unsigned char attest_chain[NVML_ATTEST_CHAIN_MAX];
};

/* The loaded library: the calls we make, and whether to shut it down. */
struct nvml {
	void *dl;
	int inited;
	int (*init)(void);
	int (*shutdown)(void);
	int (*count)(unsigned int *);
	int (*handle)(unsigned int, void **);
	int (*uuid)(void *, char *, unsigned int);
	int (*arch)(void *, unsigned int *);
	int (*cc_state)(struct nvml_cc_state *);
	int (*ready)(unsigned int *);
	int (*report)(void *, struct nvml_cc_report *);
	int (*cert)(void *, struct nvml_cc_cert *);
};

static char gpu_library[GPU_LIBRARY_MAX] = GPU_NVML_LIB;

static const char *const gpu_mode_names[] = {
    [GPU_NONE] = "none",
    [GPU_OPTIONAL] = "optional",
    [GPU_REQUIRED] = "required",
    [GPU_SAMPLEDEVICE] = "sampledevice",
};

int
gpu_mode_parse(const char *s, enum gpu_mode *out)
{
	int rc = -1;
	size_t i;

	for (i = 0; s != NULL &&
		    i < sizeof(gpu_mode_names) / sizeof(gpu_mode_names[0]);
	     i++) {
		if (strcmp(s, gpu_mode_names[i]) == 0) {
			*out = (enum gpu_mode)i;
			rc = 0;
		}
	}
	return rc;
}

const char *
gpu_mode_name(enum gpu_mode m)
{
	return (size_t)m < sizeof(gpu_mode_names) / sizeof(gpu_mode_names[0])
		   ? gpu_mode_names[m]
		   : "?";
}

void
gpu_set_library(const char *path)
{
	const char *p = path != NULL ? path : GPU_NVML_LIB;
	size_t n = strlen(p);

	if (n > 0 && n < sizeof(gpu_library)) {
		memcpy(gpu_library, p, n + 1);
	}
}

/* {"sampledevice":{"report_data":b64(device digest),"svn":"2"}} */
static enum sp_err
sampledevice_evidence(const unsigned char *ddigest, size_t dlen, char **out)
{
	enum sp_err rc = SP_E_INTERNAL;
	char rd[128];
	struct strbuf sb;

	strbuf_init(&sb, GPU_EVIDENCE_MAX);
	if (b64_encode(ddigest, dlen, B64_STD, rd, sizeof(rd)) < 0) {
		goto out;
	}
	strbuf_appends(&sb, "{\"sampledevice\":{\"report_data\":");
	strbuf_append_json_str(&sb, rd);
	strbuf_appends(&sb, ",\"svn\":\"" GPU_SAMPLE_SVN "\"}}");
	if (!strbuf_ok(&sb)) {
		goto out;
	}
	log_event(LOG_WARN, "gpu.sampledevice.used", NULL);
	*out = sb.buf;
	sb.buf = NULL;
	rc = SP_OK;
out:
	strbuf_free(&sb);
	return rc;
}

/* One symbol of the library, or NULL. */
static void *
nvml_sym(struct nvml *n, const char *name)
{
	return n->dl != NULL ? dlsym(n->dl, name) : NULL;
}

/* Resolve every call we make; 0, or -1 when one is missing. */
static int
nvml_resolve(struct nvml *n)
{
	n->init = (int (*)(void))nvml_sym(n, "nvmlInit_v2");
	n->shutdown = (int (*)(void))nvml_sym(n, "nvmlShutdown");
	n->count =
	    (int (*)(unsigned int *))nvml_sym(n, "nvmlDeviceGetCount_v2");
	n->handle = (int (*)(unsigned int, void **))nvml_sym(
	    n, "nvmlDeviceGetHandleByIndex_v2");
	n->uuid = (int (*)(void *, char *, unsigned int))nvml_sym(
	    n, "nvmlDeviceGetUUID");
	n->arch = (int (*)(void *, unsigned int *))nvml_sym(
	    n, "nvmlDeviceGetArchitecture");
	n->cc_state = (int (*)(struct nvml_cc_state *))nvml_sym(
	    n, "nvmlSystemGetConfComputeState");
	n->ready = (int (*)(unsigned int *))nvml_sym(
	    n, "nvmlSystemGetConfComputeGpusReadyState");
	n->report = (int (*)(void *, struct nvml_cc_report *))nvml_sym(
	    n, "nvmlDeviceGetConfComputeGpuAttestationReport");
	n->cert = (int (*)(void *, struct nvml_cc_cert *))nvml_sym(
	    n, "nvmlDeviceGetConfComputeGpuCertificate");
	return n->init != NULL && n->shutdown != NULL && n->count != NULL &&
		       n->handle != NULL && n->uuid != NULL &&
		       n->arch != NULL && n->cc_state != NULL &&
		       n->ready != NULL && n->report != NULL && n->cert != NULL
		   ? 0
		   : -1;
}

/* Load and initialise NVML; *why names what failed. */
static enum sp_err
nvml_open(struct nvml *n, const char **why)
{
	enum sp_err rc = SP_E_ATTEST;

	memset(n, 0, sizeof(*n));
	*why = "gpu_library_missing";
	n->dl = dlopen(gpu_library, RTLD_NOW | RTLD_LOCAL);
	if (n->dl == NULL) {
		goto out;
	}
	*why = "gpu_library_incomplete";
	if (nvml_resolve(n) != 0) {
		goto out;
	}
	*why = "gpu_nvml_init_failed";
	if (n->init() != NVML_SUCCESS) {
		goto out;
	}
	n->inited = 1;
	rc = SP_OK;
out:
	return rc;
}

/* nvmlShutdown for every successful nvmlInit_v2, then unload. */
static void
nvml_close(struct nvml *n)
{
	if (n->inited) {
		(void)n->shutdown();
	}
	if (n->dl != NULL) {
		dlclose(n->dl);
	}
	memset(n, 0, sizeof(*n));
}

/* Confidential computing on, not in devtools mode, GPUs ready. */
static enum sp_err
nvml_check_cc(struct nvml *n, const char **why)
{
	enum sp_err rc = SP_E_ATTEST;
	struct nvml_cc_state st;
	unsigned int ready = 0;

	memset(&st, 0, sizeof(st));
	*why = "gpu_cc_state_unavailable";
	if (n->cc_state(&st) != NVML_SUCCESS) {
		goto out;
	}
	*why = "gpu_cc_off";
	if (st.cc_feature != NVML_CC_FEATURE_ENABLED) {
		goto out;
	}
	/* Devtools mode lets a debugger into the GPU: not confidential. */
	*why = "gpu_cc_devtools";
	if (st.devtools_mode != NVML_CC_DEVTOOLS_OFF) {
		goto out;
	}
	*why = "gpu_ready_state_unavailable";
	if (n->ready(&ready) != NVML_SUCCESS) {
		goto out;
	}
	*why = "gpu_not_ready";
	if (ready != NVML_CC_ACCEPTING_WORK) {
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

/* The number of GPUs, 1..GPU_DEVICES_MAX. */
static enum sp_err
nvml_devices(struct nvml *n, unsigned int *count, const char **why)
{
	enum sp_err rc = SP_E_ATTEST;
	unsigned int c = 0;

	*why = "gpu_count_failed";
	if (n->count(&c) != NVML_SUCCESS) {
		goto out;
	}
	*why = c == 0 ? "gpu_none_found" : "gpu_too_many";
	if (c == 0 || c > GPU_DEVICES_MAX) {
		goto out;
	}
	*count = c;
	rc = SP_OK;
out:
	return rc;
}

/* Load NVML and check the platform can attest its GPUs. */
static enum sp_err
nvml_ready(struct nvml *n, unsigned int *count, const char **why)
{
	enum sp_err rc;

	rc = nvml_open(n, why);
	if (rc == SP_OK) {
		rc = nvml_check_cc(n, why);
	}
	if (rc == SP_OK) {
		rc = nvml_devices(n, count, why);
	}
	return rc;
}

/* The verifier's name of an NVML architecture, or NULL (§4.10). */
static const char *
arch_name(unsigned int arch)
{
	const char *rc = NULL;

	if (arch == NVML_ARCH_HOPPER) {
		rc = "HOPPER";
	} else if (arch == NVML_ARCH_BLACKWELL) {
		rc = "BLACKWELL";
	}
	return rc;
}

/* A UUID NUL-terminated inside its buffer, printable, no quotes. */
static int
uuid_ok(const char *u, size_t cap)
{
	size_t n = strnlen(u, cap), i;
	int ok = n > 0 && n < cap;

	for (i = 0; ok && i < n; i++) {
		ok = u[i] > 0x20 && u[i] < 0x7f && u[i] != '"' && u[i] != '\\';
	}
	return ok;
}

/* The attestation report over nonce, size-checked, nonce echoed. */
static enum sp_err
device_report(struct nvml *n, void *dev, const unsigned char *nonce,
	      struct nvml_cc_report *r, const char **why)
{
	enum sp_err rc = SP_E_ATTEST;

	memset(r, 0, sizeof(*r));
	memcpy(r->nonce, nonce, GPU_NONCE_LEN);
	*why = "gpu_report_failed";
	if (n->report(dev, r) != NVML_SUCCESS) {
		goto out;
	}
	*why = "gpu_report_size_invalid";
	if (r->report_size < SPDM_REQUEST_LEN ||
	    r->report_size > sizeof(r->report)) {
		goto out;
	}
	*why = "gpu_report_nonce_mismatch";
	if (!ct_memeq(r->report + SPDM_NONCE_OFF, nonce, GPU_NONCE_LEN)) {
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

/* The attestation certificate chain, size-checked. */
static enum sp_err
device_cert(struct nvml *n, void *dev, struct nvml_cc_cert *c, const char **why)
{
	enum sp_err rc = SP_E_ATTEST;

	memset(c, 0, sizeof(*c));
	*why = "gpu_cert_failed";
	if (n->cert(dev, c) != NVML_SUCCESS) {
		goto out;
	}
	*why = "gpu_cert_size_invalid";
	if (c->attest_chain_size == 0 ||
	    c->attest_chain_size > sizeof(c->attest_chain)) {
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

/* Append one device_evidence_list entry (§4.10) to sb. */
static enum sp_err
append_device(struct strbuf *sb, const char *arch, const char *uuid,
	      const struct nvml_cc_report *r, const struct nvml_cc_cert *c)
{
	enum sp_err rc = SP_E_INTERNAL;
	char *hex = malloc(2 * (size_t)r->report_size + 1);
	char *b64 =
	    b64_encode_alloc(c->attest_chain, c->attest_chain_size, B64_STD);

	if (hex == NULL || b64 == NULL) {
		goto out;
	}
	hex_encode(r->report, r->report_size, hex);
	strbuf_appends(sb, "{\"arch\":");
	strbuf_append_json_str(sb, arch);
	strbuf_appends(sb, ",\"uuid\":");
	strbuf_append_json_str(sb, uuid);
	strbuf_appends(sb, ",\"evidence\":");
	strbuf_append_json_str(sb, hex);
	strbuf_appends(sb, ",\"certificate\":");
	strbuf_append_json_str(sb, b64);
	strbuf_appends(sb, "}");
	rc = SP_OK;
out:
	free(hex);
	free(b64);
	return rc;
}

/* Scratch for one device: the library's structs are large. */
struct gpu_scratch {
	struct nvml_cc_report report;
	struct nvml_cc_cert cert;
	char uuid[NVML_UUID_BUF + 1];
};

/* Evidence of GPU i, appended to sb. */
static enum sp_err
device_evidence(struct nvml *n, unsigned int i, const unsigned char *nonce,
		struct gpu_scratch *s, struct strbuf *sb, const char **why)
{
	enum sp_err rc = SP_E_ATTEST;
	unsigned int arch = 0;
	const char *name;
	void *dev = NULL;

	*why = "gpu_handle_failed";
	if (n->handle(i, &dev) != NVML_SUCCESS || dev == NULL) {
		goto out;
	}
	*why = "gpu_arch_unavailable";
	if (n->arch(dev, &arch) != NVML_SUCCESS) {
		goto out;
	}
	*why = "gpu_arch_unsupported";
	name = arch_name(arch);
	if (name == NULL) {
		goto out;
	}
	memset(s->uuid, 0, sizeof(s->uuid));
	*why = "gpu_uuid_invalid";
	if (n->uuid(dev, s->uuid, NVML_UUID_BUF) != NVML_SUCCESS ||
	    !uuid_ok(s->uuid, NVML_UUID_BUF)) {
		goto out;
	}

	rc = device_report(n, dev, nonce, &s->report, why);
	if (rc == SP_OK) {
		rc = device_cert(n, dev, &s->cert, why);
	}
	if (rc != SP_OK) {
		goto out;
	}
	*why = "out_of_memory";
	rc = append_device(sb, name, s->uuid, &s->report, &s->cert);
	if (rc == SP_OK) {
		log_event(LOG_INFO, "gpu.nvidia.device", NULL,
			  LOG_U64("index", i), LOG_STR("arch", name),
			  LOG_U64("report_bytes", s->report.report_size));
	}
out:
	return rc;
}

/* {"nvidia":{"device_evidence_list":[...]}} for every GPU. */
static enum sp_err
nvidia_collect(const unsigned char *nonce, char **out, const char **why)
{
	enum sp_err rc = SP_E_ATTEST;
	struct gpu_scratch *s = calloc(1, sizeof(*s));
	unsigned int count = 0, i;
	struct strbuf sb;
	struct nvml n;

	memset(&n, 0, sizeof(n));
	strbuf_init(&sb, GPU_EVIDENCE_MAX);
	*why = "out_of_memory";
	if (s == NULL) {
		goto out;
	}
	rc = nvml_ready(&n, &count, why);
	if (rc != SP_OK) {
		goto out;
	}

	strbuf_appends(&sb, "{\"nvidia\":{\"device_evidence_list\":[");
	for (i = 0; i < count && rc == SP_OK; i++) {
		if (i > 0) {
			strbuf_appends(&sb, ",");
		}
		rc = device_evidence(&n, i, nonce, s, &sb, why);
	}
	strbuf_appends(&sb, "]}}");
	if (rc == SP_OK && !strbuf_ok(&sb)) {
		*why = "gpu_evidence_too_large";
		rc = SP_E_ATTEST;
	}
	if (rc != SP_OK) {
		goto out;
	}
	log_event(LOG_INFO, "gpu.nvidia.collected", NULL,
		  LOG_U64("gpus", count), LOG_U64("bytes", sb.len));
	*out = sb.buf;
	sb.buf = NULL;
out:
	nvml_close(&n);
	free(s);
	strbuf_free(&sb);
	return rc;
}

/* The SPDM nonce: the first 32 bytes of the device digest (§2.2). */
static void
spdm_nonce(const unsigned char *ddigest, size_t dlen,
	   unsigned char nonce[GPU_NONCE_LEN])
{
	memset(nonce, 0, GPU_NONCE_LEN);
	memcpy(nonce, ddigest, dlen < GPU_NONCE_LEN ? dlen : GPU_NONCE_LEN);
}

/* NVIDIA evidence for optional or required; logs why when there is none. */
/*
 * Reasons under which `gpu: optional` attests without GPU evidence: no
 * NVML, no GPU, or GPUs not in confidential-computing mode. Anything
 * else (devtools mode, a report over another nonce, sizes out of
 * bounds, failing calls) means a GPU is present and cannot be trusted,
 * and attesting as if it were absent would hide it from the verifier.
 */
static int
gpu_absent(const char *why)
{
	static const char *const absent[] = {
	    "gpu_library_missing",
	    "gpu_none_found",
	    "gpu_cc_off",
	};
	size_t i;
	int yes = 0;

	for (i = 0; why != NULL && i < sizeof(absent) / sizeof(absent[0]);
	     i++) {
		yes |= strcmp(why, absent[i]) == 0;
	}
	return yes;
}

static enum sp_err
nvidia_evidence(enum gpu_mode mode, const unsigned char *ddigest, size_t dlen,
		char **out, int *present)
{
	unsigned char nonce[GPU_NONCE_LEN];
	char hex[2 * GPU_NONCE_LEN + 1];
	const char *why = NULL;
	enum sp_err rc;

	spdm_nonce(ddigest, dlen, nonce);
	log_event(LOG_DEBUG, "gpu.nvidia.nonce", NULL,
		  LOG_STR("spdm_nonce", hex_encode(nonce, sizeof(nonce), hex)));
	rc = nvidia_collect(nonce, out, &why);
	*present = rc != SP_OK && !gpu_absent(why);
	if (rc != SP_OK) {
		/* A GPU that is there but misbehaves fails optional too. */
		log_event(mode == GPU_REQUIRED || *present ? LOG_ERR : LOG_WARN,
			  "gpu.nvidia.failed", why, LOG_STR("step", "collect"),
			  LOG_STR("gpu", gpu_mode_name(mode)));
	}
	return rc;
}

enum sp_err
gpu_preflight(enum gpu_mode mode)
{
	enum sp_err rc = SP_OK;
	unsigned int count = 0;
	const char *why = NULL;
	struct nvml n;

	memset(&n, 0, sizeof(n));
	if (mode != GPU_REQUIRED) {
		goto out;
	}
	rc = nvml_ready(&n, &count, &why);
	if (rc != SP_OK) {
		log_event(LOG_ERR, "gpu.nvidia.failed", why,
			  LOG_STR("step", "preflight"));
		log_event(LOG_ERR, "gpu.evidence.failed",
			  "gpu_evidence_unavailable",
			  LOG_STR("gpu", gpu_mode_name(mode)));
		goto out;
	}
	log_event(LOG_INFO, "gpu.nvidia.ready", NULL, LOG_U64("gpus", count));
out:
	nvml_close(&n);
	return rc;
}

enum sp_err
gpu_additional_evidence(enum gpu_mode mode, const unsigned char *ddigest,
			size_t dlen, char **out)
{
	enum sp_err rc = SP_E_INTERNAL;
	int present = 0;

	if (ddigest == NULL || dlen == 0 || dlen > GPU_DIGEST_MAX) {
		goto out;
	}
	if (mode == GPU_SAMPLEDEVICE) {
		rc = sampledevice_evidence(ddigest, dlen, out);
		goto out;
	}
	if (mode != GPU_NONE) {
		rc = nvidia_evidence(mode, ddigest, dlen, out, &present);
		if (rc == SP_OK || rc == SP_E_INTERNAL) {
			goto out;
		}
		if (mode == GPU_REQUIRED || present) {
			log_event(LOG_ERR, "gpu.evidence.failed",
				  "gpu_evidence_unavailable",
				  LOG_STR("gpu", gpu_mode_name(mode)));
			goto out;
		}
	}
	/* none, or optional without a confidential GPU: no devices. */
	*out = strdup("");
	rc = *out != NULL ? SP_OK : SP_E_INTERNAL;
out:
	return rc;
}
