/*
 * gpu.c: additional device evidence (gpu.h).
 *
 * NVIDIA GPUs are attested through NVIDIA's attestation SDK (NVAT),
 * loaded with dlopen so that the init image runs without it; the
 * sampledevice is Trustee's development device, which proves nothing
 * and exists so the composite binding can be tested without a GPU.
 *
 * XXX: NVAT's C API is alpha and was not available to build or test
 * against, so when the library is present we still report the evidence
 * as unavailable (required fails closed, optional continues) instead of
 * calling an ABI we could not check. The SPDM nonce it would get is
 * computed and logged at debug level so the binding rule stays visible.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "gpu.h"
#include "json.h"
#include "log.h"
#include "util.h"

#define GPU_SAMPLE_SVN	"2" /* §4.2 */
#define GPU_DIGEST_MAX	64
#define GPU_NVAT_SYMBOL "nvat_gpu_evidence_collect"

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

/* 1 when an NVAT library with its evidence call can be loaded. */
static int
nvat_present(void)
{
	void *h = dlopen(GPU_NVAT_LIB, RTLD_NOW | RTLD_LOCAL);
	int found = 0;

	if (h == NULL) {
		h = dlopen(GPU_NVAT_LIB_DEV, RTLD_NOW | RTLD_LOCAL);
	}
	if (h != NULL) {
		found = dlsym(h, GPU_NVAT_SYMBOL) != NULL;
		dlclose(h);
	}
	return found;
}

/* The SPDM nonce: the first 32 bytes of the device digest (§2.2). */
static void
spdm_nonce(const unsigned char *ddigest, size_t dlen,
	   unsigned char nonce[GPU_NONCE_LEN])
{
	memset(nonce, 0, GPU_NONCE_LEN);
	memcpy(nonce, ddigest, dlen < GPU_NONCE_LEN ? dlen : GPU_NONCE_LEN);
}

/* NVIDIA evidence; see the XXX at the top for why it is never had. */
static enum sp_err
nvidia_evidence(const unsigned char *ddigest, size_t dlen, int present)
{
	unsigned char nonce[GPU_NONCE_LEN];
	char hex[2 * GPU_NONCE_LEN + 1];

	spdm_nonce(ddigest, dlen, nonce);
	log_event(LOG_DEBUG, "gpu.nvidia.nonce", NULL,
		  LOG_STR("spdm_nonce", hex_encode(nonce, sizeof(nonce), hex)));
	log_event(LOG_WARN, "gpu.nvidia.unavailable",
		  present ? "nvat_abi_not_wired" : "nvat_library_missing",
		  LOG_STR("library", GPU_NVAT_LIB));
	return SP_E_ATTEST;
}

enum sp_err
gpu_additional_evidence(enum gpu_mode mode, const unsigned char *ddigest,
			size_t dlen, char **out)
{
	enum sp_err rc = SP_E_INTERNAL;

	if (ddigest == NULL || dlen == 0 || dlen > GPU_DIGEST_MAX) {
		goto out;
	}
	if (mode == GPU_SAMPLEDEVICE) {
		rc = sampledevice_evidence(ddigest, dlen, out);
		goto out;
	}
	if (mode != GPU_NONE &&
	    nvidia_evidence(ddigest, dlen, nvat_present()) != SP_OK &&
	    mode == GPU_REQUIRED) {
		log_event(LOG_ERR, "gpu.evidence.failed",
			  "gpu_evidence_unavailable",
			  LOG_STR("gpu", gpu_mode_name(mode)));
		rc = SP_E_ATTEST;
		goto out;
	}
	/* none, or optional without the library: no devices. */
	*out = strdup("");
	rc = *out != NULL ? SP_OK : SP_E_INTERNAL;
out:
	return rc;
}
