/*
 * gpu.h: additional (composite) device evidence for /attest
 * (kbs-protocol.md §1.4, §2.1 step 5, §4.2, §4.10).
 *
 * Each device's evidence is bound to the device digest, the hash of the
 * runtime data WITHOUT the additional-evidence key; the resulting
 * additional_evidence string is then part of the primary runtime data,
 * so the CPU evidence covers the device evidence byte for byte.
 *
 * NVIDIA GPUs are attested through NVML (libnvidia-ml.so.1, shipped with
 * the driver), loaded with dlopen so the init image runs without it
 * (docs/platform-gpu.md).
 */
#ifndef SEALPOD_GPU_H
#define SEALPOD_GPU_H

#include <stddef.h>

#include "err.h"

/* Config `gpu`. */
enum gpu_mode {
	GPU_NONE = 0,	  /* no device evidence (default) */
	GPU_OPTIONAL,	  /* NVIDIA evidence where the library is present */
	GPU_REQUIRED,	  /* NVIDIA evidence or fail closed */
	GPU_SAMPLEDEVICE, /* development: Trustee's sampledevice (§4.2) */
};

#define GPU_EVIDENCE_MAX (1024 * 1024) /* additional_evidence ceiling */
#define GPU_NONCE_LEN	 32	       /* SPDM nonce (§2.2 nvidia row) */

/* NVML as the driver installs it; config `gpu_library` overrides. */
#define GPU_NVML_LIB	"libnvidia-ml.so.1"
#define GPU_LIBRARY_MAX 4096 /* longest gpu_library path */
#define GPU_DEVICES_MAX 16   /* GPUs we attest; more is refused */

/* Parse "none", "optional", "required" or "sampledevice". 0 or -1. */
int gpu_mode_parse(const char *s, enum gpu_mode *out);

/* The config spelling of m. */
const char *gpu_mode_name(enum gpu_mode m);

/*
 * Load NVML from path instead of GPU_NVML_LIB (config `gpu_library`, a
 * test and operations override); NULL restores the default. The string
 * is copied; a path of GPU_LIBRARY_MAX bytes or more is ignored (the
 * configuration refuses it first). Not thread-safe: call before
 * collecting evidence.
 */
void gpu_set_library(const char *path);

/*
 * Before the KBS is contacted: for GPU_REQUIRED, check that NVML loads,
 * sees at least one GPU and reports confidential computing on and the
 * GPUs ready, so a GPU that cannot attest costs no KBS round trip.
 * Other modes return SP_OK at once. Returns SP_OK or SP_E_ATTEST
 * (logged with the named reason, see gpu_additional_evidence).
 */
SP_MUST_CHECK enum sp_err gpu_preflight(enum gpu_mode mode);

/*
 * The additional_evidence string for mode, bound to the device digest
 * (dlen bytes): "" for none, or a JSON object naming each device; for
 * NVIDIA {"nvidia":{"device_evidence_list":[{"arch","uuid","evidence"
 * (hex SPDM report),"certificate" (base64 of the PEM chain)}]}} (§4.10).
 * With optional and no usable NVIDIA GPU, "" after a warning. Returns
 * SP_OK with *out malloc'd (the caller frees), or SP_E_ATTEST when
 * required evidence cannot be had: logged as gpu.evidence.failed with
 * reason gpu_evidence_unavailable, after a gpu.nvidia.failed event
 * naming the cause (gpu_library_missing, gpu_none_found, gpu_cc_off,
 * gpu_cc_devtools, gpu_not_ready, gpu_report_size_invalid, ...).
 */
SP_MUST_CHECK enum sp_err gpu_additional_evidence(enum gpu_mode mode,
						  const unsigned char *ddigest,
						  size_t dlen, char **out);

#endif
