/*
 * nvml_standin.c: a stand-in for NVIDIA's NVML (libnvidia-ml.so) with
 * just the confidential-computing calls an attester makes, written from
 * NVIDIA's public NVML API reference (function names, the struct
 * layouts of nvmlConfComputeSystemState_t,
 * nvmlConfComputeGpuAttestationReport_t and
 * nvmlConfComputeGpuCertificate_t, the constants) and the DMTF SPDM 1.1
 * GET_MEASUREMENTS message layout, never from sealpod's sources.
 *
 * The "GPUs" answer with an SPDM-like report: the GET_MEASUREMENTS
 * request carrying the caller's 32-byte nonce at offset 4 (which the KBS
 * stand-in checks), then a response with one fake measurement block, a
 * responder nonce and a fake 96-byte signature. Nothing here is signed
 * for real; the KBS stand-in accepts it only with --accept-unsigned-tee.
 *
 * Behaviour from the environment, read at nvmlInit_v2:
 *   SEALPOD_NVML_GPUS      number of GPUs, 0..8 (default 1); even
 *                          indexes are Hopper, odd ones Blackwell
 *   SEALPOD_NVML_CC        "off": confidential computing disabled
 *   SEALPOD_NVML_DEVTOOLS  "on": CC devtools mode
 *   SEALPOD_NVML_READY     "0": GPUs not accepting work
 *   SEALPOD_NVML_FAULT     "oversize-report", "oversize-cert",
 *                          "ignore-nonce", "ampere", "init-fails",
 *                          "arch-fails", "ready-fails"
 *   SEALPOD_NVML_HANG      "init" or "report": that call sleeps for
 *                          SEALPOD_NVML_HANG_S seconds (default 30),
 *                          as a wedged driver would
 *   SEALPOD_NVML_TRACE     file to append "init"/"shutdown" lines to
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SI_SUCCESS	     0
#define SI_ERR_UNINITIALIZED 1
#define SI_ERR_INVALID_ARG   2
#define SI_ERR_UNKNOWN	     999
#define SI_MAX_GPUS	     8
#define SI_ARCH_AMPERE	     7
#define SI_ARCH_HOPPER	     9
#define SI_ARCH_BLACKWELL    10
#define SI_NONCE_SIZE	     0x20
#define SI_REPORT_SIZE	     0x2000
#define SI_CEC_REPORT_SIZE   0x1000
#define SI_CERT_CHAIN_SIZE   0x1000
#define SI_ATT_CHAIN_SIZE    0x1400

struct si_cc_state {
	unsigned int environment; /* 2: production */
	unsigned int feature;	  /* 1: enabled */
	unsigned int devtools;	  /* 0: off */
};

struct si_report {
	unsigned int cec_present;
	unsigned int report_size;
	unsigned int cec_size;
	unsigned char nonce[SI_NONCE_SIZE];
	unsigned char report[SI_REPORT_SIZE];
	unsigned char cec[SI_CEC_REPORT_SIZE];
};

struct si_cert {
	unsigned int chain_size;
	unsigned int att_chain_size;
	unsigned char chain[SI_CERT_CHAIN_SIZE];
	unsigned char att_chain[SI_ATT_CHAIN_SIZE];
};

struct si_gpu {
	unsigned int index;
};

/* The exported calls, declared once (the library has no header). */
int nvmlInit_v2(void);
int nvmlShutdown(void);
int nvmlDeviceGetCount_v2(unsigned int *count);
int nvmlDeviceGetHandleByIndex_v2(unsigned int index, void **device);
int nvmlDeviceGetUUID(void *device, char *uuid, unsigned int length);
int nvmlDeviceGetArchitecture(void *device, unsigned int *arch);
int nvmlSystemGetConfComputeState(struct si_cc_state *state);
int nvmlSystemGetConfComputeGpusReadyState(unsigned int *accepting);
int nvmlDeviceGetConfComputeGpuAttestationReport(void *device,
						 struct si_report *r);
int nvmlDeviceGetConfComputeGpuCertificate(void *device, struct si_cert *c);

static struct si_gpu si_gpus[SI_MAX_GPUS];
static unsigned int si_count;
static int si_inited;

static const char *
si_env(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v != NULL ? v : def;
}

static int
si_fault(const char *name)
{
	return strcmp(si_env("SEALPOD_NVML_FAULT", ""), name) == 0;
}

/* A wedged driver: the call named by SEALPOD_NVML_HANG sleeps. */
static void
si_hang(const char *call)
{
	unsigned long s;
	char *end = NULL;

	if (strcmp(si_env("SEALPOD_NVML_HANG", ""), call) != 0) {
		return;
	}
	s = strtoul(si_env("SEALPOD_NVML_HANG_S", "30"), &end, 10);
	if (end != NULL && *end == '\0' && s <= 600) {
		sleep((unsigned int)s);
	}
}

static void
si_trace(const char *what)
{
	const char *path = getenv("SEALPOD_NVML_TRACE");
	FILE *f;

	if (path == NULL) {
		return;
	}
	f = fopen(path, "a");
	if (f != NULL) {
		fprintf(f, "%s\n", what);
		fclose(f);
	}
}

int
nvmlInit_v2(void)
{
	char *end = NULL;
	unsigned long n;
	unsigned int i;

	si_trace("init");
	si_hang("init");
	if (si_fault("init-fails")) {
		return SI_ERR_UNKNOWN;
	}
	n = strtoul(si_env("SEALPOD_NVML_GPUS", "1"), &end, 10);
	if (end == NULL || *end != '\0' || n > SI_MAX_GPUS) {
		return SI_ERR_UNKNOWN;
	}
	si_count = (unsigned int)n;
	for (i = 0; i < si_count; i++) {
		si_gpus[i].index = i;
	}
	si_inited = 1;
	return SI_SUCCESS;
}

int
nvmlShutdown(void)
{
	si_trace("shutdown");
	if (!si_inited) {
		return SI_ERR_UNINITIALIZED;
	}
	si_inited = 0;
	return SI_SUCCESS;
}

int
nvmlDeviceGetCount_v2(unsigned int *count)
{
	if (!si_inited) {
		return SI_ERR_UNINITIALIZED;
	}
	if (count == NULL) {
		return SI_ERR_INVALID_ARG;
	}
	*count = si_count;
	return SI_SUCCESS;
}

int
nvmlDeviceGetHandleByIndex_v2(unsigned int index, void **device)
{
	if (!si_inited) {
		return SI_ERR_UNINITIALIZED;
	}
	if (device == NULL || index >= si_count) {
		return SI_ERR_INVALID_ARG;
	}
	*device = &si_gpus[index];
	return SI_SUCCESS;
}

/* The GPU behind a handle we gave out, or NULL. */
static struct si_gpu *
si_gpu_of(void *device)
{
	struct si_gpu *g = device;

	if (!si_inited || g < si_gpus || g >= si_gpus + si_count) {
		return NULL;
	}
	return g;
}

int
nvmlDeviceGetUUID(void *device, char *uuid, unsigned int length)
{
	struct si_gpu *g = si_gpu_of(device);
	int n;

	if (g == NULL || uuid == NULL) {
		return SI_ERR_INVALID_ARG;
	}
	n = snprintf(uuid, length, "GPU-5ea1b0d0-0000-4000-8000-%012x",
		     g->index + 1);
	return n > 0 && (unsigned int)n < length ? SI_SUCCESS
						 : SI_ERR_INVALID_ARG;
}

int
nvmlDeviceGetArchitecture(void *device, unsigned int *arch)
{
	struct si_gpu *g = si_gpu_of(device);

	if (g == NULL || arch == NULL || si_fault("arch-fails")) {
		return SI_ERR_INVALID_ARG;
	}
	if (si_fault("ampere")) {
		*arch = SI_ARCH_AMPERE;
	} else {
		*arch = g->index % 2 == 0 ? SI_ARCH_HOPPER : SI_ARCH_BLACKWELL;
	}
	return SI_SUCCESS;
}

int
nvmlSystemGetConfComputeState(struct si_cc_state *state)
{
	if (!si_inited) {
		return SI_ERR_UNINITIALIZED;
	}
	if (state == NULL) {
		return SI_ERR_INVALID_ARG;
	}
	state->environment = 2;
	state->feature = strcmp(si_env("SEALPOD_NVML_CC", "on"), "off") != 0;
	state->devtools =
	    strcmp(si_env("SEALPOD_NVML_DEVTOOLS", "off"), "on") == 0;
	return SI_SUCCESS;
}

int
nvmlSystemGetConfComputeGpusReadyState(unsigned int *accepting)
{
	if (!si_inited) {
		return SI_ERR_UNINITIALIZED;
	}
	if (accepting == NULL || si_fault("ready-fails")) {
		return SI_ERR_UNKNOWN;
	}
	*accepting = strcmp(si_env("SEALPOD_NVML_READY", "1"), "0") != 0;
	return SI_SUCCESS;
}

/* Append n bytes at *off in out (bounded by SI_REPORT_SIZE). */
static void
si_put(unsigned char *out, size_t *off, const void *p, size_t n)
{
	if (*off + n <= SI_REPORT_SIZE) {
		memcpy(out + *off, p, n);
		*off += n;
	}
}

/* SPDM 1.1 GET_MEASUREMENTS request and a fake response. */
static size_t
si_spdm(const struct si_gpu *g, const unsigned char *nonce, unsigned char *out)
{
	/* version 1.1, GET_MEASUREMENTS, signature requested, all. */
	static const unsigned char req_head[] = {0x11, 0xE0, 0x01, 0xFF};
	/* version 1.1, MEASUREMENTS, 1 block, record length 55 (LE24). */
	static const unsigned char rsp_head[] = {0x11, 0x60, 0x00, 0x00,
						 0x01, 55,   0x00, 0x00};
	/* block: index 1, DMTF spec, size 51; DMTF: digest, 48 bytes. */
	static const unsigned char block_head[] = {0x01, 0x01, 51,  0x00,
						   0x01, 48,   0x00};
	unsigned char ignored[SI_NONCE_SIZE], fill[96];
	size_t off = 0;
	unsigned char slot = 0;

	si_put(out, &off, req_head, sizeof(req_head));
	if (si_fault("ignore-nonce")) {
		memset(ignored, 0x42, sizeof(ignored));
		nonce = ignored;
	}
	si_put(out, &off, nonce, SI_NONCE_SIZE);
	si_put(out, &off, &slot, 1);
	si_put(out, &off, rsp_head, sizeof(rsp_head));
	si_put(out, &off, block_head, sizeof(block_head));
	memset(fill, 0x30 + (int)g->index, 48);
	si_put(out, &off, fill, 48);
	memset(fill, 0x5e, SI_NONCE_SIZE); /* responder nonce */
	si_put(out, &off, fill, SI_NONCE_SIZE);
	memset(fill, 0, 2); /* opaque data length 0 */
	si_put(out, &off, fill, 2);
	memset(fill, 0xab, sizeof(fill)); /* "signature" */
	si_put(out, &off, fill, sizeof(fill));
	return off;
}

int
nvmlDeviceGetConfComputeGpuAttestationReport(void *device, struct si_report *r)
{
	struct si_gpu *g = si_gpu_of(device);

	if (g == NULL || r == NULL) {
		return SI_ERR_INVALID_ARG;
	}
	si_hang("report");
	r->report_size = (unsigned int)si_spdm(g, r->nonce, r->report);
	r->cec_present = 0;
	r->cec_size = 0;
	if (si_fault("oversize-report")) {
		r->report_size = SI_REPORT_SIZE + 1;
	}
	return SI_SUCCESS;
}

int
nvmlDeviceGetConfComputeGpuCertificate(void *device, struct si_cert *c)
{
	static const char pem[] = "-----BEGIN CERTIFICATE-----\n"
				  "c2VhbHBvZCBudm1sIHN0YW5kLWluIGxlYWY=\n"
				  "-----END CERTIFICATE-----\n"
				  "-----BEGIN CERTIFICATE-----\n"
				  "c2VhbHBvZCBudm1sIHN0YW5kLWluIHJvb3Q=\n"
				  "-----END CERTIFICATE-----\n";
	struct si_gpu *g = si_gpu_of(device);

	if (g == NULL || c == NULL) {
		return SI_ERR_INVALID_ARG;
	}
	memset(c, 0, sizeof(*c));
	memcpy(c->att_chain, pem, sizeof(pem) - 1);
	c->att_chain_size = sizeof(pem) - 1;
	memcpy(c->chain, pem, sizeof(pem) - 1);
	c->chain_size = sizeof(pem) - 1;
	if (si_fault("oversize-cert")) {
		c->att_chain_size = SI_ATT_CHAIN_SIZE + 0x100;
	}
	return SI_SUCCESS;
}
