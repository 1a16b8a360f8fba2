/*
 * config.h: sealpod-init's configuration (see docs/configuration.md).
 */
#ifndef SEALPOD_INIT_CONFIG_H
#define SEALPOD_INIT_CONFIG_H

#include <stdint.h>

#include "err.h"

struct init_config {
	char *tee;		/* "sample" (more platforms later) */
	char *kbs_url;		/* https://host:port, no trailing slash */
	char *kbs_ca;		/* PEM bundle for the KBS, optional */
	uint64_t kbs_timeout_s; /* per request, default 60 */
	int kbs_insecure_http;	/* 1: allow an http:// kbs.url (dev only) */
	char *key;		/* kbs:///repo/type/tag of the model key */
	char *artifacts_source; /* https, file, s3 or oci base URI */
	char *artifacts_ca;	/* PEM bundle for the store, optional */
	uint64_t min_version;	/* refuse manifests below this */
	char *model_id;		/* artifacts.model_id: the manifest's
				   "model" must equal it; optional */
	char *s3_region;	/* artifacts.s3.region, optional */
	char *s3_endpoint;	/* artifacts.s3.endpoint, optional */
	int s3_path_style;	/* artifacts.s3.path_style */
	char *s3_sts_endpoint;	/* artifacts.s3.sts_endpoint, optional */
	char *oci_auth_file;	/* artifacts.oci.auth_file, optional */
	char *target;		/* tmpfs directory for plaintext */
	char *tls_cert;		/* kbs:///... of the sidecar chain, optional */
	char *tls_key;		/* kbs:///... of the sidecar key, optional */
	char *tls_dir;		/* where tls.crt / tls.key go */
	char *log_level;	/* debug|info|warn|error */
	char *tpm_tcti;		/* TCTI for tpm/az-* (device:/dev/tpmrm0) */
	char *tpm_ak_handle;	/* persistent AK for tee tpm, as written */
	uint32_t tpm_ak;	/* tpm_ak_handle parsed; 0: derive an AK */
	uint64_t tpm_qlen;	/* tpm.qualifying_bytes: 32 or 64 (64) */
	char *init_data;	/* init-data TOML path, optional */
	char *gpu;		/* none|optional|required|sampledevice */
	unsigned gpu_mode;	/* gpu parsed: enum gpu_mode (gpu.h) */
	char *platform_root;	/* test/debug: root for evidence ("/") */
	char *gpu_library;	/* test/ops: NVML path (libnvidia-ml.so.1) */
	char *azure_imds_url;	/* test/ops: IMDS base (169.254.169.254) */
	uint64_t attest_timeout_s; /* evidence deadline, 1-3600 (120) */

	/* The pipeline (artifacts.*; docs/configuration.md). */
	uint64_t artifacts_workers;    /* threads; 0: one per CPU */
	uint64_t artifacts_memory_mib; /* ciphertext in flight; 0: 64 */
	uint64_t artifacts_idle_s;     /* stalled transfer; 0: 30 */
	uint64_t artifacts_deadline_s; /* whole fetch; 0: none */
	uint64_t artifacts_attempts;   /* per range; 0: 5 */
	int artifacts_insecure_http;   /* 1: allow an http:// source */
	char *artifacts_headers_file;  /* private "Name: value" lines */
	char *artifacts_signing_key;   /* PEM P-256 key: manifest.sig due */
};

/*
 * Load and validate path. On SP_E_USAGE every problem has been logged as a
 * "config.invalid" event with file:line: key: problem. Free with
 * init_config_free() whatever the result.
 */
SP_MUST_CHECK enum sp_err init_config_load(const char *path,
					   struct init_config *cfg);
void init_config_free(struct init_config *cfg);

#endif
