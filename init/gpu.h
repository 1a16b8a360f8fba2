/*
 * gpu.h: additional (composite) device evidence for /attest
 * (kbs-protocol.md §1.4, §2.1 step 5, §4.2, §4.10).
 *
 * Each device's evidence is bound to the device digest, the hash of the
 * runtime data WITHOUT the additional-evidence key; the resulting
 * additional_evidence string is then part of the primary runtime data,
 * so the CPU evidence covers the device evidence byte for byte.
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

/* NVAT's library, tried in this order (docs/platform-gpu.md). */
#define GPU_NVAT_LIB	 "libnvat.so.1"
#define GPU_NVAT_LIB_DEV "libnvat.so"

/* Parse "none", "optional", "required" or "sampledevice". 0 or -1. */
int gpu_mode_parse(const char *s, enum gpu_mode *out);

/* The config spelling of m. */
const char *gpu_mode_name(enum gpu_mode m);

/*
 * The additional_evidence string for mode, bound to the device digest
 * (dlen bytes): "" for none, or a JSON object naming each device. With
 * optional and no NVIDIA library, "" after a warning. Returns SP_OK with
 * *out malloc'd (the caller frees), or SP_E_ATTEST (logged, reason
 * gpu_evidence_unavailable) when required evidence cannot be had.
 */
SP_MUST_CHECK enum sp_err gpu_additional_evidence(enum gpu_mode mode,
						  const unsigned char *ddigest,
						  size_t dlen, char **out);

#endif
