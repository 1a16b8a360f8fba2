/*
 * config.c: sealpod-init's configuration, loaded through common/conf.h
 * and then checked as a whole: URL schemes, resource URIs, absolute
 * paths, the TLS trio. Every problem is logged as its own config.invalid
 * event before we fail, so one run shows the operator all of them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "attest.h"
#include "attest/attest_providers.h"
#include "attest/az_vtpm.h"
#include "attest/tpm.h"
#include "conf.h"
#include "gpu.h"
#include "config.h"
#include "kbs_wire.h"
#include "log.h"
#include "manifest.h"
#include "source.h"
#include "tlsres.h"
#include "unseal.h"
#include "unseal_pipe.h"
#include "util.h"

#define CONFIG_TIMEOUT_DEFAULT 60
#define CONFIG_TIMEOUT_MAX     600
#define CONFIG_LINE_MAX	       1024
#define CONFIG_NAMES_MAX       256
#define CONFIG_WHAT_MAX	       256 /* the problem text of one line */
/* artifacts.idle_timeout_s and deadline_s: a week at most. */
#define CONFIG_ARTIFACTS_TIME_MAX (7ULL * 24 * 3600)
#define CONFIG_ATTEMPTS_MAX	  100
/* attest_timeout_s: a hung NVML or TPM call fails the run after this. */
#define CONFIG_ATTEST_TIMEOUT_DEFAULT 120
#define CONFIG_ATTEST_TIMEOUT_MAX     3600

/* kbs.ca and artifacts.ca: a system bundle is about 220 KiB and 150
 * certificates. */
#define CONFIG_CA_MAX	    (4 * 1024 * 1024)
#define CONFIG_CA_CERTS_MAX 4096

#define CFG_OFF(f) offsetof(struct init_config, f)

#ifdef SEALPOD_TEST_HOOKS
static const int config_test_hooks = 1;
#else
static const int config_test_hooks = 0; /* release images */
#endif

static const struct conf_key init_config_keys[] = {
    {"tee", CONF_STR, CFG_OFF(tee), 1, 0, 0},
    {"kbs.url", CONF_STR, CFG_OFF(kbs_url), 1, 0, 0},
    {"kbs.ca", CONF_STR, CFG_OFF(kbs_ca), 0, 0, 0},
    {"kbs.timeout_s", CONF_U64, CFG_OFF(kbs_timeout_s), 0, 1,
     CONFIG_TIMEOUT_MAX},
    {"kbs.insecure_http", CONF_BOOL, CFG_OFF(kbs_insecure_http), 0, 0, 0},
    {"key", CONF_STR, CFG_OFF(key), 1, 0, 0},
    {"artifacts.source", CONF_STR, CFG_OFF(artifacts_source), 1, 0, 0},
    {"artifacts.ca", CONF_STR, CFG_OFF(artifacts_ca), 0, 0, 0},
    {"artifacts.min_version", CONF_U64, CFG_OFF(min_version), 0, 0, 0},
    {"artifacts.model_id", CONF_STR, CFG_OFF(model_id), 0, 0, 0},
    {"artifacts.s3.region", CONF_STR, CFG_OFF(s3_region), 0, 0, 0},
    {"artifacts.s3.endpoint", CONF_STR, CFG_OFF(s3_endpoint), 0, 0, 0},
    {"artifacts.s3.path_style", CONF_BOOL, CFG_OFF(s3_path_style), 0, 0, 0},
    {"artifacts.s3.sts_endpoint", CONF_STR, CFG_OFF(s3_sts_endpoint), 0, 0, 0},
    {"artifacts.oci.auth_file", CONF_STR, CFG_OFF(oci_auth_file), 0, 0, 0},
    {"artifacts.workers", CONF_U64, CFG_OFF(artifacts_workers), 0, 1,
     UNSEAL_PIPE_WORKERS_MAX},
    {"artifacts.memory_mib", CONF_U64, CFG_OFF(artifacts_memory_mib), 0, 1,
     UNSEAL_MEMORY_MIB_MAX},
    {"artifacts.idle_timeout_s", CONF_U64, CFG_OFF(artifacts_idle_s), 0, 1,
     CONFIG_ARTIFACTS_TIME_MAX},
    /* XXX: no default deadline: a store that drips a byte now and then
     * is never idle and holds the pod in Init until deadline_s, which
     * only the operator can size (docs/KNOWN_ISSUES.md). */
    {"artifacts.deadline_s", CONF_U64, CFG_OFF(artifacts_deadline_s), 0, 1,
     CONFIG_ARTIFACTS_TIME_MAX},
    {"artifacts.attempts", CONF_U64, CFG_OFF(artifacts_attempts), 0, 1,
     CONFIG_ATTEMPTS_MAX},
    {"artifacts.insecure_http", CONF_BOOL, CFG_OFF(artifacts_insecure_http), 0,
     0, 0},
    {"artifacts.headers_file", CONF_STR, CFG_OFF(artifacts_headers_file), 0, 0,
     0},
    {"artifacts.signing_key", CONF_STR, CFG_OFF(artifacts_signing_key), 0, 0,
     0},
    {"target", CONF_STR, CFG_OFF(target), 1, 0, 0},
    {"tls.cert", CONF_STR, CFG_OFF(tls_cert), 0, 0, 0},
    {"tls.key", CONF_STR, CFG_OFF(tls_key), 0, 0, 0},
    {"tls.dir", CONF_STR, CFG_OFF(tls_dir), 0, 0, 0},
    {"log.level", CONF_STR, CFG_OFF(log_level), 0, 0, 0},
    {"tpm.tcti", CONF_STR, CFG_OFF(tpm_tcti), 0, 0, 0},
    {"tpm.ak_handle", CONF_STR, CFG_OFF(tpm_ak_handle), 0, 0, 0},
    {"tpm.qualifying_bytes", CONF_U64, CFG_OFF(tpm_qlen), 0,
     TPM_QUALIFYING_SHORT, TPM_QUALIFYING_LONG},
    {"init_data", CONF_STR, CFG_OFF(init_data), 0, 0, 0},
    {"gpu", CONF_STR, CFG_OFF(gpu), 0, 0, 0},
    {"platform_root", CONF_STR, CFG_OFF(platform_root), 0, 0, 0},
    {"gpu_library", CONF_STR, CFG_OFF(gpu_library), 0, 0, 0},
    {"azure.imds_url", CONF_STR, CFG_OFF(azure_imds_url), 0, 0, 0},
    {"attest_timeout_s", CONF_U64, CFG_OFF(attest_timeout_s), 0, 1,
     CONFIG_ATTEST_TIMEOUT_MAX},
    {NULL, CONF_STR, 0, 0, 0, 0},
};

/* The file being checked and how many problems it had. */
struct config_check {
	const char *file;
	int problems;
};

/* Log "file: key: problem" as one config.invalid event. */
static void __attribute__((format(printf, 3, 4)))
problem(struct config_check *c, const char *key, const char *fmt, ...)
{
	char what[CONFIG_WHAT_MAX];
	char line[CONFIG_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "%s: %s: %s", c->file, key, what);
	log_event(LOG_ERR, "config.invalid", "config_invalid",
		  LOG_STR("problem", line));
	c->problems++;
}

/* Log each line of conf_load's error list. */
static void
log_conf_errors(const char *errs)
{
	char line[CONFIG_LINE_MAX];
	const char *p = errs;
	size_t n;

	while (p != NULL && *p != '\0') {
		n = strcspn(p, "\n");
		snprintf(line, sizeof(line), "%.*s", (int)n, p);
		if (n > 0) {
			log_event(LOG_ERR, "config.invalid", "config_invalid",
				  LOG_STR("problem", line));
		}
		p += n;
		if (*p == '\n') {
			p++;
		}
	}
}

/* 1 when s holds a space, a control character or DEL. */
static int
has_blank(const char *s)
{
	int rc = 0;

	for (; *s != '\0' && !rc; s++) {
		rc = (unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f;
	}
	return rc;
}

/*
 * The host part of a URL after "scheme://": present, no user:password@
 * (credentials do not belong in a config that is logged and mounted).
 */
static const char *
authority_problem(const char *rest)
{
	size_t n = strcspn(rest, "/");
	const char *why = NULL;

	if (n == 0) {
		why = "has no host";
	} else if (memchr(rest, '@', n) != NULL) {
		why = "must not carry credentials";
	}
	return why;
}

/* An http(s) URL without query, fragment or blanks. */
static const char *
url_problem(const char *url, int allow_http)
{
	const char *rest = NULL;
	const char *why;

	if (strncmp(url, "https://", 8) == 0) {
		rest = url + 8;
	} else if (allow_http && strncmp(url, "http://", 7) == 0) {
		rest = url + 7;
	}

	if (rest == NULL) {
		why = allow_http ? "must start with https:// or http://"
				 : "must start with https:// (http:// "
				   "needs kbs.insecure_http: true)";
	} else if (has_blank(url) || strpbrk(url, "?#") != NULL) {
		why = "must not contain blanks, a query or a fragment";
	} else {
		why = authority_problem(rest);
	}
	return why;
}

/* Absolute, no "." or ".." components, no blanks. */
static const char *
path_problem(const char *p)
{
	size_t n = strlen(p);
	const char *why = NULL;

	if (p[0] != '/') {
		why = "must be an absolute path";
	} else if (has_blank(p) || strstr(p, "/../") != NULL ||
		   strstr(p, "/./") != NULL ||
		   (n >= 3 && strcmp(p + n - 3, "/..") == 0) ||
		   (n >= 2 && strcmp(p + n - 2, "/.") == 0)) {
		why = "must be a plain absolute path (no blanks, . or ..)";
	}
	return why;
}

/* 1 when path is dir or below it (both plain absolute paths). */
static int
path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 &&
	       (path[n] == '\0' || path[n] == '/');
}

/* Drop trailing slashes (but keep "/"), so we can append paths. */
static void
strip_slashes(char *s)
{
	size_t n = strlen(s);

	while (n > 1 && s[n - 1] == '/') {
		s[--n] = '\0';
	}
}

/* A PEM bundle the KBS or store client will read. */
static void
check_ca(struct config_check *c, const char *key, const char *path)
{
	const char *why;
	struct stat st;

	if (path == NULL) {
		goto out;
	}
	why = path_problem(path);
	if (why != NULL) {
		problem(c, key, "%s", why);
	} else if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
		problem(c, key, "is not a readable regular file");
	}
out:
	return;
}

/*
 * 1 when the file is a PEM certificate bundle: only CERTIFICATE (or
 * TRUSTED CERTIFICATE) blocks that parse, at least one. A private key
 * there (ca.key for ca.crt) is wiped as soon as it is seen.
 */
static int
ca_bundle_ok(const char *path)
{
	BIO *bio = BIO_new_file(path, "r");
	int ok =
	    bio != NULL && tlsres_pem_certs(bio, CONFIG_CA_CERTS_MAX, 1, NULL);

	ERR_clear_error();
	BIO_free(bio);
	return ok;
}

/* A CA bundle: a PEM file of certificates, nothing else. */
static void
check_ca_bundle(struct config_check *c, const char *key, const char *path)
{
	struct stat st;
	int before = c->problems;

	check_ca(c, key, path);
	if (path == NULL || c->problems != before) {
		goto out;
	}
	if (stat(path, &st) != 0 || st.st_size > CONFIG_CA_MAX ||
	    !ca_bundle_ok(path)) {
		problem(c, key,
			"is not a PEM certificate bundle (CERTIFICATE blocks "
			"only, at most %d KiB)",
			CONFIG_CA_MAX / 1024);
	}
out:
	return;
}

static void
check_kbs(struct config_check *c, struct init_config *cfg)
{
	char names[CONFIG_NAMES_MAX];
	const char *why;

	if (attest_find(cfg->tee) == NULL &&
	    (cfg->tee == NULL || strcmp(cfg->tee, ATTEST_TEE_AUTO) != 0)) {
		attest_list(names, sizeof(names), 0);
		problem(c, "tee", "unsupported TEE (supported: %s, auto)",
			names);
	}
	why = url_problem(cfg->kbs_url, cfg->kbs_insecure_http);
	if (why != NULL) {
		problem(c, "kbs.url", "%s", why);
	} else {
		strip_slashes(cfg->kbs_url);
	}
	check_ca_bundle(c, "kbs.ca", cfg->kbs_ca);
}

/* A kbs:///repo/type/tag URI the resource plugin will accept. */
static void
check_resource(struct config_check *c, const char *key, const char *uri)
{
	char path[KBS_RESOURCE_PATH_MAX];

	if (kbs_wire_resource_path(uri, path, sizeof(path)) != SP_OK) {
		problem(c, key,
			"must be kbs:///repo/type/tag (no host; three "
			"segments of [A-Za-z0-9_.-], not starting with '.')");
	}
}

/*
 * s3://bucket[/prefix] or oci://registry/repository(:tag|@digest): the
 * shape only; source_s3.c and source_oci.c check the names in full.
 */
static const char *
store_uri_problem(const char *src, size_t scheme_len, int oci)
{
	const char *rest = src + scheme_len;
	size_t n = strcspn(rest, "/");
	const char *why = NULL;

	if (has_blank(src) || strpbrk(src, "?#") != NULL) {
		why = "must not contain blanks, a query or a fragment";
	} else if (n == 0 || memchr(rest, '@', n) != NULL) {
		why = oci ? "must name a registry host (no credentials)"
			  : "must name a bucket";
	} else if (oci && (rest[n] != '/' || (strchr(rest + n, ':') == NULL &&
					      strchr(rest + n, '@') == NULL))) {
		why = "must be oci://registry/repository:tag or "
		      "oci://registry/repository@sha256:<hex>";
	}
	return why;
}

/* An S3 endpoint is an origin: https://host[:port], nothing after. */
static void
check_s3(struct config_check *c, struct init_config *cfg, int is_s3)
{
	const char *ep = cfg->s3_endpoint;
	const char *path;
	const char *why;

	if (!is_s3 && (cfg->s3_region != NULL || ep != NULL ||
		       cfg->s3_sts_endpoint != NULL || cfg->s3_path_style)) {
		problem(c, "artifacts.s3", "set only with an s3:// source");
	}
	if (ep != NULL) {
		why = url_problem(ep, cfg->artifacts_insecure_http);
		/* Without a problem, ep starts with http:// or https://. */
		path = why == NULL ? strchr(strstr(ep, "://") + 3, '/') : NULL;
		if (path != NULL && strcmp(path, "/") != 0) {
			why = "must be https://host[:port] without a path";
		}
		if (why != NULL) {
			problem(c, "artifacts.s3.endpoint", "%s", why);
		}
	}
	if (cfg->s3_sts_endpoint != NULL) {
		why = url_problem(cfg->s3_sts_endpoint,
				  cfg->artifacts_insecure_http);
		if (why != NULL) {
			problem(c, "artifacts.s3.sts_endpoint", "%s", why);
		}
	}
}

/* The registry credentials file: private, like every secret file. */
static void
check_oci(struct config_check *c, struct init_config *cfg, int is_oci)
{
	const char *f = cfg->oci_auth_file;
	const char *why;

	if (f == NULL) {
		goto out;
	}
	if (!is_oci) {
		problem(c, "artifacts.oci", "set only with an oci:// source");
		goto out;
	}
	why = path_problem(f);
	if (why != NULL) {
		problem(c, "artifacts.oci.auth_file", "%s", why);
	} else if (file_check_private(f) != SP_OK) {
		problem(c, "artifacts.oci.auth_file",
			"must be a regular file not readable or writable by "
			"group or others");
	}
out:
	return;
}

/* The pipeline's files (a private headers file, a readable key) and
 * the model identity. */
static void
check_pipeline(struct config_check *c, struct init_config *cfg)
{
	const char *why;

	if (cfg->artifacts_headers_file != NULL) {
		why = path_problem(cfg->artifacts_headers_file);
		if (why != NULL) {
			problem(c, "artifacts.headers_file", "%s", why);
		} else if (file_check_private(cfg->artifacts_headers_file) !=
			   SP_OK) {
			problem(c, "artifacts.headers_file",
				"must be a regular file not readable or "
				"writable by group or others");
		}
	}
	check_ca(c, "artifacts.signing_key", cfg->artifacts_signing_key);
	if (cfg->model_id != NULL &&
	    manifest_model_id_check(cfg->model_id) != NULL) {
		problem(c, "artifacts.model_id",
			"must be 1-%d characters of A-Za-z0-9._-",
			MANIFEST_MODEL_ID_MAX);
	}
	if (cfg->artifacts_insecure_http &&
	    strncmp(cfg->artifacts_source, "http://", 7) == 0) {
		log_event(LOG_WARN, "config.artifacts.insecure_http", NULL);
	}
}

static void
check_artifacts(struct config_check *c, struct init_config *cfg)
{
	char *src = cfg->artifacts_source;
	const char *why = NULL;
	int is_s3 = strncmp(src, "s3://", 5) == 0;
	int is_oci = strncmp(src, "oci://", 6) == 0;

	if (strncmp(src, "file://", 7) == 0) {
		why = path_problem(src + 7);
	} else if (strncmp(src, "http://", 7) == 0 &&
		   !cfg->artifacts_insecure_http) {
		why = "http:// needs artifacts.insecure_http: true";
	} else if (strncmp(src, "https://", 8) == 0 ||
		   strncmp(src, "http://", 7) == 0) {
		why = url_problem(src, cfg->artifacts_insecure_http);
	} else if (is_s3) {
		why = store_uri_problem(src, 5, 0);
	} else if (is_oci) {
		why = store_uri_problem(src, 6, 1);
	} else {
		why = "must start with https://, file:///, s3:// or oci://";
	}
	/* The shape source_open() will hold it to, checked now: a query
	 * must not pass until attestation and key release are done. */
	if (why == NULL) {
		why = source_url_problem(src, cfg->artifacts_insecure_http);
	}
	if (why != NULL) {
		problem(c, "artifacts.source", "%s", why);
	} else if (!is_oci) {
		strip_slashes(src);
	}
	check_ca_bundle(c, "artifacts.ca", cfg->artifacts_ca);
	check_s3(c, cfg, is_s3);
	check_oci(c, cfg, is_oci);
	check_pipeline(c, cfg);
}

static void
check_target(struct config_check *c, struct init_config *cfg)
{
	const char *why = path_problem(cfg->target);

	if (why == NULL && strspn(cfg->target, "/") == strlen(cfg->target)) {
		why = "must not be the root directory";
	}
	if (why != NULL) {
		problem(c, "target", "%s", why);
	} else {
		strip_slashes(cfg->target);
	}
}

static void
check_tls(struct config_check *c, struct init_config *cfg)
{
	const char *why;
	int set;

	set = (cfg->tls_cert != NULL) + (cfg->tls_key != NULL) +
	      (cfg->tls_dir != NULL);
	if (set == 0) {
		goto out;
	}
	if (set != 3) {
		problem(c, "tls",
			"set all of tls.cert, tls.key and tls.dir, "
			"or none");
		goto out;
	}

	check_resource(c, "tls.cert", cfg->tls_cert);
	check_resource(c, "tls.key", cfg->tls_key);
	why = path_problem(cfg->tls_dir);
	if (why != NULL) {
		problem(c, "tls.dir", "%s", why);
		goto out;
	}
	strip_slashes(cfg->tls_dir);
	if (path_within(cfg->tls_dir, cfg->target)) {
		/* unseal refuses a target holding files it did not write. */
		problem(c, "tls.dir", "must not be target or inside it");
	}
out:
	return;
}

static void
check_log(struct config_check *c, struct init_config *cfg)
{
	enum log_level level;

	if (cfg->log_level != NULL &&
	    log_level_parse(cfg->log_level, &level) != 0) {
		problem(c, "log.level", "must be debug, info, warn or error");
	}
}

/* The TPM access of the tpm and az-* providers. */
static void
check_tpm(struct config_check *c, struct init_config *cfg)
{
	const char *why;

	why = cfg->tpm_tcti != NULL
		  ? tpm_tcti_problem(cfg->tpm_tcti, config_test_hooks)
		  : NULL;
	if (why != NULL) {
		problem(c, "tpm.tcti", "%s", why);
	}
	if (cfg->tpm_ak_handle != NULL &&
	    tpm_parse_handle(cfg->tpm_ak_handle, &cfg->tpm_ak) != 0) {
		problem(c, "tpm.ak_handle",
			"must be a persistent handle, 0x81000000-0x81FFFFFF");
	}
	if (cfg->tpm_qlen != TPM_QUALIFYING_SHORT &&
	    cfg->tpm_qlen != TPM_QUALIFYING_LONG) {
		problem(c, "tpm.qualifying_bytes", "must be 32 or 64");
	}
}

/* init_data, gpu and platform_root (docs/configuration.md). */
static void
check_attest_extras(struct config_check *c, struct init_config *cfg)
{
	enum gpu_mode gm = GPU_NONE;
	const char *why;
	struct stat st;

	if (cfg->init_data != NULL) {
		why = path_problem(cfg->init_data);
		if (why != NULL) {
			problem(c, "init_data", "%s", why);
		} else if (stat(cfg->init_data, &st) != 0 ||
			   !S_ISREG(st.st_mode)) {
			problem(c, "init_data",
				"is not a readable regular file");
		}
	}
	if (cfg->gpu != NULL && gpu_mode_parse(cfg->gpu, &gm) != 0) {
		problem(c, "gpu",
			"must be none, optional, required or sampledevice");
	}
	cfg->gpu_mode = (unsigned)gm;
	if (cfg->gpu_library != NULL) {
		why = path_problem(cfg->gpu_library);
		if (why == NULL &&
		    strlen(cfg->gpu_library) >= GPU_LIBRARY_MAX) {
			why = "is too long";
		}
		if (!config_test_hooks) {
			/* It names code we would load inside the TEE. */
			why = "is a test hook; this build does not accept it";
		}
		if (why != NULL) {
			problem(c, "gpu_library", "%s", why);
		}
	}
	if (cfg->platform_root != NULL) {
		why = path_problem(cfg->platform_root);
		if (why != NULL) {
			problem(c, "platform_root", "%s", why);
		} else {
			strip_slashes(cfg->platform_root);
		}
	}
}

/* azure.imds_url: where the az-* providers reach IMDS (tests, ops). */
static void
check_azure(struct config_check *c, struct init_config *cfg)
{
	const char *why;

	if (cfg->azure_imds_url == NULL) {
		goto out;
	}
	strip_slashes(cfg->azure_imds_url);
	why = url_problem(cfg->azure_imds_url, 1);
	if (why == NULL && strlen(cfg->azure_imds_url) >= AZ_IMDS_URL_MAX) {
		why = "is too long";
	}
	if (why != NULL) {
		problem(c, "azure.imds_url", "%s", why);
	}
out:
	return;
}

/* Every rule conf_load cannot express; all problems are logged. */
static enum sp_err
config_validate(const char *path, struct init_config *cfg)
{
	struct config_check c = {.file = path, .problems = 0};

	check_kbs(&c, cfg);
	check_resource(&c, "key", cfg->key);
	check_artifacts(&c, cfg);
	check_target(&c, cfg);
	check_tls(&c, cfg);
	check_log(&c, cfg);
	check_tpm(&c, cfg);
	check_attest_extras(&c, cfg);
	check_azure(&c, cfg);
	if (c.problems == 0 && cfg->kbs_insecure_http &&
	    strncmp(cfg->kbs_url, "http://", 7) == 0) {
		log_event(LOG_WARN, "config.kbs.insecure_http", NULL);
	}
	return c.problems == 0 ? SP_OK : SP_E_USAGE;
}

enum sp_err
init_config_load(const char *path, struct init_config *cfg)
{
	enum sp_err rc = SP_E_USAGE;
	struct config_check c = {.file = path, .problems = 0};
	char *errs = NULL;

	memset(cfg, 0, sizeof(*cfg));
	cfg->kbs_timeout_s = CONFIG_TIMEOUT_DEFAULT;
	cfg->tpm_qlen = TPM_QUALIFYING_LONG;
	cfg->attest_timeout_s = CONFIG_ATTEST_TIMEOUT_DEFAULT;
	if (path == NULL || path[0] == '\0') {
		c.file = "(none)";
		problem(&c, "config", "no configuration file given");
		goto out;
	}

	rc = conf_load(path, init_config_keys, cfg, &errs);
	if (rc != SP_OK) {
		if (errs != NULL) {
			log_conf_errors(errs);
		} else {
			problem(&c, "config",
				rc == SP_E_NOTFOUND ? "file not found"
						    : "cannot be read");
		}
		/* A missing or unreadable file is a usage error too. */
		rc = rc == SP_E_INTERNAL ? SP_E_INTERNAL : SP_E_USAGE;
		goto out;
	}
	rc = config_validate(path, cfg);
out:
	free(errs);
	return rc;
}

void
init_config_free(struct init_config *cfg)
{
	if (cfg != NULL) {
		conf_free(init_config_keys, cfg);
		memset(cfg, 0, sizeof(*cfg));
	}
}
