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
	char *artifacts_source; /* https://... or file:///... base */
	char *artifacts_ca;	/* PEM bundle for the store, optional */
	uint64_t min_version;	/* refuse manifests below this */
	char *target;		/* tmpfs directory for plaintext */
	char *tls_cert;		/* kbs:///... of the sidecar chain, optional */
	char *tls_key;		/* kbs:///... of the sidecar key, optional */
	char *tls_dir;		/* where tls.crt / tls.key go */
	char *log_level;	/* debug|info|warn|error */
	char *tpm_tcti;		/* TCTI for tpm/az-* (device:/dev/tpmrm0) */
	char *tpm_ak_handle;	/* persistent AK for tee tpm, as written */
	uint32_t tpm_ak;	/* tpm_ak_handle parsed; 0: derive an AK */
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
