/*
 * test_init_config.c: sealpod-init's configuration (init/config.c):
 * defaults, normalisation, and each rule, asserting the logged
 * "file: key: problem" text of every refusal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "config.h"
#include "log.h"

#define LOG_CAP (64 * 1024)

static char dir[] = "/tmp/test_init_config.XXXXXX";
static char cfg_path[256];
static char ca_path[256];
static char cakey_path[256];
static FILE *log_file;
static char logtext[LOG_CAP];

#define BASE                                                                   \
	"tee: sample\n"                                                        \
	"kbs:\n"                                                               \
	"  url: https://kbs.example:8080/\n"                                   \
	"key: kbs:///default/model/key\n"                                      \
	"artifacts:\n"                                                         \
	"  source: file:///srv/sealed/\n"                                      \
	"target: /dev/shm/model/\n"

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Load text as a config file; the log lines land in logtext. */
static enum sp_err
load(const char *text, struct init_config *cfg)
{
	enum sp_err rc;
	size_t n;

	write_file(cfg_path, text);
	assert_int_equal(ftruncate(fileno(log_file), 0), 0);
	rewind(log_file);
	rc = init_config_load(cfg_path, cfg);
	fflush(log_file);
	rewind(log_file);
	n = fread(logtext, 1, sizeof(logtext) - 1, log_file);
	logtext[n] = '\0';
	return rc;
}

static int
count(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay++;
	}
	return n;
}

/* The config fails, logging exactly the problem "<file>: <what>". */
static void
refused(const char *text, const char *what)
{
	struct init_config cfg;
	char want[512];

	assert_int_equal(load(text, &cfg), SP_E_USAGE);
	snprintf(want, sizeof(want), "\"problem\":\"%s: %s\"", cfg_path, what);
	if (strstr(logtext, want) == NULL) {
		fail_msg("want %s in log:\n%s", want, logtext);
	}
	assert_int_equal(count(logtext, "\"event\":\"config.invalid\""), 1);
	init_config_free(&cfg);
}

/*
 * gpu_library names code sealpod-init would load inside the TEE: test
 * builds accept it, release builds (SEALPOD_TEST_HOOKS off; this file is
 * also built that way as test_init_config_release) refuse it.
 */
static void
test_gpu_library_hook(void **state)
{
	struct init_config cfg;
	const char *text = BASE "gpu_library: /opt/nv/libnvidia-ml.so.1\n";

	(void)state;
#ifdef SEALPOD_TEST_HOOKS
	assert_int_equal(load(text, &cfg), SP_OK);
	assert_string_equal(cfg.gpu_library, "/opt/nv/libnvidia-ml.so.1");
	init_config_free(&cfg);
#else
	(void)cfg;
	refused(text, "gpu_library: is a test hook; this build does not "
		      "accept it");
#endif
}

/*
 * tpm.tcti names code tpm2-tss loads into the TEE (h20 F1): only the
 * device module always, the simulators with test hooks, never a module
 * that runs commands or writes files.
 */
static void
test_tcti_allowlist(void **state)
{
	struct init_config cfg;
	static const char *const never[] = {
	    "cmd:touch${IFS}/tmp/x",
	    "pcap:/tmp/tpm.pcap",
	    "libtpms",
	    "tabrmd",
	    "spi-helper",
	    "device:/tmp/tpm0",
	    "device:/dev/../tmp/tpm0",
	    "device",
	    "libtss2-tcti-cmd.so.0:echo",
	    "/usr/lib/x86_64-linux-gnu/libtss2-tcti-cmd.so.0",
	};
	char text[512];
	size_t i;

	(void)state;
	assert_int_equal(load(BASE "tpm:\n  tcti: device:/dev/tpmrm0\n", &cfg),
			 SP_OK);
	init_config_free(&cfg);
	for (i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		snprintf(text, sizeof(text), BASE "tpm:\n  tcti: \"%s\"\n",
			 never[i]);
		assert_int_equal(load(text, &cfg), SP_E_USAGE);
		if (strstr(logtext, "tpm.tcti: ") == NULL) {
			fail_msg("%s: no tpm.tcti problem in:\n%s", never[i],
				 logtext);
		}
		init_config_free(&cfg);
	}
	snprintf(text, sizeof(text),
		 BASE "tpm:\n  tcti: swtpm:host=127.0.0.1,port=2321\n");
#ifdef SEALPOD_TEST_HOOKS
	assert_int_equal(load(text, &cfg), SP_OK);
	init_config_free(&cfg);
#else
	refused(text, "tpm.tcti: swtpm and mssim are test hooks; this build "
		      "does not accept them");
#endif
}

/* tpm.qualifying_bytes: 64 by default, 32 on request, nothing else. */
static void
test_tpm_qualifying(void **state)
{
	struct init_config cfg;

	(void)state;
	assert_int_equal(load(BASE, &cfg), SP_OK);
	assert_int_equal(cfg.tpm_qlen, 64);
	init_config_free(&cfg);
	assert_int_equal(load(BASE "tpm:\n  qualifying_bytes: 32\n", &cfg),
			 SP_OK);
	assert_int_equal(cfg.tpm_qlen, 32);
	init_config_free(&cfg);
	refused(BASE "tpm:\n  qualifying_bytes: 48\n",
		"tpm.qualifying_bytes: must be 32 or 64");
}

static void
test_minimal_defaults(void **state)
{
	struct init_config cfg;

	(void)state;
	assert_int_equal(load(BASE, &cfg), SP_OK);
	assert_string_equal(cfg.tee, "sample");
	assert_string_equal(cfg.kbs_url, "https://kbs.example:8080");
	assert_string_equal(cfg.key, "kbs:///default/model/key");
	assert_string_equal(cfg.artifacts_source, "file:///srv/sealed");
	assert_string_equal(cfg.target, "/dev/shm/model");
	assert_int_equal(cfg.kbs_timeout_s, 60);
	assert_int_equal(cfg.min_version, 0);
	assert_int_equal(cfg.kbs_insecure_http, 0);
	assert_null(cfg.kbs_ca);
	assert_null(cfg.tls_cert);
	assert_null(cfg.tls_dir);
	assert_null(cfg.log_level);
	assert_int_equal(count(logtext, "config.invalid"), 0);
	init_config_free(&cfg);
	assert_null(cfg.tee);
}

static void
test_full(void **state)
{
	struct init_config cfg;
	char text[2048];

	(void)state;
	snprintf(text, sizeof(text),
		 "tee: sample\n"
		 "kbs:\n"
		 "  url: https://kbs.example/prefix\n"
		 "  ca: %s\n"
		 "  timeout_s: 5\n"
		 "key: kbs:///default/model/key\n"
		 "artifacts:\n"
		 "  source: https://store.example/models/m1/\n"
		 "  ca: %s\n"
		 "  min_version: 7\n"
		 "target: /dev/shm/model\n"
		 "tls:\n"
		 "  cert: kbs:///default/tls/crt\n"
		 "  key: kbs:///default/tls/key\n"
		 "  dir: /dev/shm/tls/\n"
		 "log:\n"
		 "  level: debug\n",
		 ca_path, ca_path);
	assert_int_equal(load(text, &cfg), SP_OK);
	assert_string_equal(cfg.kbs_url, "https://kbs.example/prefix");
	assert_string_equal(cfg.kbs_ca, ca_path);
	assert_int_equal(cfg.kbs_timeout_s, 5);
	assert_string_equal(cfg.artifacts_source,
			    "https://store.example/models/m1");
	assert_int_equal(cfg.min_version, 7);
	assert_string_equal(cfg.tls_cert, "kbs:///default/tls/crt");
	assert_string_equal(cfg.tls_key, "kbs:///default/tls/key");
	assert_string_equal(cfg.tls_dir, "/dev/shm/tls");
	assert_string_equal(cfg.log_level, "debug");
	init_config_free(&cfg);
}

static void
test_tee(void **state)
{
	struct init_config cfg;
	char want[512];

	(void)state;
	assert_int_equal(load("tee: nonesuch\n"
			      "kbs: {url: 'https://k'}\n"
			      "key: kbs:///a/b/c\n"
			      "artifacts: {source: 'file:///s'}\n"
			      "target: /dev/shm/t\n",
			      &cfg),
			 SP_E_USAGE);
	/* The list grows with the providers; sample is always on it. */
	snprintf(want, sizeof(want),
		 "\"problem\":\"%s: tee: unsupported TEE (supported: sample",
		 cfg_path);
	if (strstr(logtext, want) == NULL) {
		fail_msg("want %s in log:\n%s", want, logtext);
	}
	assert_int_equal(count(logtext, "\"event\":\"config.invalid\""), 1);
	init_config_free(&cfg);
}

static void
test_missing_required(void **state)
{
	struct init_config cfg;

	(void)state;
	assert_int_equal(load("kbs: {url: 'https://k'}\n"
			      "key: kbs:///a/b/c\n"
			      "artifacts: {source: 'file:///s'}\n"
			      "target: /dev/shm/t\n",
			      &cfg),
			 SP_E_USAGE);
	assert_non_null(strstr(logtext, "config.invalid"));
	assert_non_null(strstr(logtext, ": tee: "));
	init_config_free(&cfg);
}

static void
test_kbs_url(void **state)
{
	struct init_config cfg;

	(void)state;
	refused("tee: sample\n"
		"kbs: {url: 'http://kbs.example'}\n"
		"key: kbs:///a/b/c\n"
		"artifacts: {source: 'file:///s'}\n"
		"target: /dev/shm/t\n",
		"kbs.url: must start with https:// (http:// needs "
		"kbs.insecure_http: true)");
	assert_int_equal(load("tee: sample\n"
			      "kbs: {url: 'http://127.0.0.1:8080/', "
			      "insecure_http: true}\n"
			      "key: kbs:///a/b/c\n"
			      "artifacts: {source: 'file:///s'}\n"
			      "target: /dev/shm/t\n",
			      &cfg),
			 SP_OK);
	assert_string_equal(cfg.kbs_url, "http://127.0.0.1:8080");
	assert_int_equal(cfg.kbs_insecure_http, 1);
	assert_non_null(strstr(logtext, "config.kbs.insecure_http"));
	init_config_free(&cfg);

	refused("tee: sample\n"
		"kbs: {url: 'https://user:pw@kbs.example'}\n"
		"key: kbs:///a/b/c\n"
		"artifacts: {source: 'file:///s'}\n"
		"target: /dev/shm/t\n",
		"kbs.url: must not carry credentials");
	refused("tee: sample\n"
		"kbs: {url: 'https://kbs.example/?a=b'}\n"
		"key: kbs:///a/b/c\n"
		"artifacts: {source: 'file:///s'}\n"
		"target: /dev/shm/t\n",
		"kbs.url: must not contain blanks, a query or a fragment");
	refused("tee: sample\n"
		"kbs: {url: 'https:///x'}\n"
		"key: kbs:///a/b/c\n"
		"artifacts: {source: 'file:///s'}\n"
		"target: /dev/shm/t\n",
		"kbs.url: has no host");
}

/* BASE with the line starting with key replaced by line. */
static void
base_with(char *out, size_t cap, const char *key, const char *line)
{
	const char *p = BASE;
	const char *nl;
	size_t len = 0;
	int n;

	out[0] = '\0';
	while (*p != '\0') {
		nl = strchr(p, '\n');
		assert_non_null(nl);
		if (strncmp(p, key, strlen(key)) == 0) {
			n = snprintf(out + len, cap - len, "%s\n", line);
		} else {
			n = snprintf(out + len, cap - len, "%.*s\n",
				     (int)(nl - p), p);
		}
		assert_true(n > 0 && (size_t)n < cap - len);
		len += (size_t)n;
		p = nl + 1;
	}
}

#define KEY_URI_PROBLEM                                                        \
	"key: must be kbs:///repo/type/tag (no host; three segments of "       \
	"[A-Za-z0-9_.-], not starting with '.')"

static void
test_key_uri(void **state)
{
	char text[1024];

	(void)state;
	base_with(text, sizeof(text), "key:", "key: kbs:///a/b");
	refused(text, KEY_URI_PROBLEM);
	base_with(text, sizeof(text), "key:", "key: https://a/b/c/d");
	refused(text, KEY_URI_PROBLEM);
	/* A host would be ignored (only kbs.url is used): refused. */
	base_with(text, sizeof(text),
		  "key:", "key: kbs://evil.example/models/m/key");
	refused(text, KEY_URI_PROBLEM);
}

static void
test_artifacts(void **state)
{
	char text[1024];

	(void)state;
	base_with(text, sizeof(text),
		  "  source:", "  source: http://store.example/");
	refused(
	    text,
	    "artifacts.source: http:// needs artifacts.insecure_http: true");
	base_with(text, sizeof(text),
		  "  source:", "  source: ftp://store.example/");
	refused(text, "artifacts.source: must start with https://, file:///, "
		      "s3:// or oci://");
	base_with(text, sizeof(text),
		  "  source:", "  source: file://relative/dir");
	refused(text, "artifacts.source: must be an absolute path");
	base_with(text, sizeof(text),
		  "  source:", "  source: https://u@store.example/");
	refused(text, "artifacts.source: must not carry credentials");
}

/* The pipeline's keys: defaults, ranges, http:// only when trusted, a
 * private headers file. */
static void
test_pipeline_keys(void **state)
{
	struct init_config cfg;
	char text[2048];
	char line[512];
	char hdr[300];

	(void)state;
	assert_int_equal(load(BASE, &cfg), SP_OK);
	assert_int_equal(cfg.artifacts_workers, 0);
	assert_int_equal(cfg.artifacts_memory_mib, 0);
	assert_int_equal(cfg.artifacts_insecure_http, 0);
	assert_null(cfg.artifacts_headers_file);
	assert_null(cfg.artifacts_signing_key);
	init_config_free(&cfg);

	snprintf(hdr, sizeof(hdr), "%s/headers", dir);
	write_file(hdr, "Authorization: Bearer x\n");
	assert_int_equal(chmod(hdr, 0600), 0);
	snprintf(text, sizeof(text),
		 "tee: sample\nkbs:\n  url: https://kbs.example/\n"
		 "key: kbs:///default/model/key\ntarget: /dev/shm/model\n"
		 "artifacts:\n  source: http://store.example/m/\n"
		 "  insecure_http: true\n  workers: 3\n  memory_mib: 16\n"
		 "  idle_timeout_s: 5\n  deadline_s: 600\n  attempts: 2\n"
		 "  headers_file: %s\n  signing_key: %s\n",
		 hdr, ca_path);
	assert_int_equal(load(text, &cfg), SP_OK);
	assert_string_equal(cfg.artifacts_source, "http://store.example/m");
	assert_int_equal(cfg.artifacts_workers, 3);
	assert_int_equal(cfg.artifacts_memory_mib, 16);
	assert_int_equal(cfg.artifacts_idle_s, 5);
	assert_int_equal(cfg.artifacts_deadline_s, 600);
	assert_int_equal(cfg.artifacts_attempts, 2);
	assert_string_equal(cfg.artifacts_headers_file, hdr);
	assert_int_equal(count(logtext, "config.artifacts.insecure_http"), 1);
	init_config_free(&cfg);

	/* Tokens in a file others can read are refused. */
	assert_int_equal(chmod(hdr, 0644), 0);
	snprintf(line, sizeof(line),
		 "  source: file:///srv/sealed/\n  headers_file: %s", hdr);
	base_with(text, sizeof(text), "  source:", line);
	refused(text, "artifacts.headers_file: must be a regular file not "
		      "readable or writable by group or others");
	(void)unlink(hdr);
}

/* artifacts.model_id: optional, the manifest identity's own rule. */
static void
test_model_id(void **state)
{
	struct init_config cfg;
	char text[1024];
	char line[512];

	(void)state;
	assert_int_equal(load(BASE, &cfg), SP_OK);
	assert_null(cfg.model_id);
	init_config_free(&cfg);

	base_with(text, sizeof(text), "  source:",
		  "  source: file:///srv/sealed/\n  model_id: Llama-3.1_8B.v2");
	assert_int_equal(load(text, &cfg), SP_OK);
	assert_string_equal(cfg.model_id, "Llama-3.1_8B.v2");
	init_config_free(&cfg);

	base_with(text, sizeof(text), "  source:",
		  "  source: file:///srv/sealed/\n  model_id: llama/prod");
	refused(text, "artifacts.model_id: must be 1-128 characters of "
		      "A-Za-z0-9._-");
	snprintf(line, sizeof(line),
		 "  source: file:///srv/sealed/\n  model_id: %0129d", 0);
	base_with(text, sizeof(text), "  source:", line);
	refused(text, "artifacts.model_id: must be 1-128 characters of "
		      "A-Za-z0-9._-");
	snprintf(line, sizeof(line),
		 "  source: file:///srv/sealed/\n  model_id: m%0127d", 0);
	base_with(text, sizeof(text), "  source:", line);
	assert_int_equal(load(text, &cfg), SP_OK);
	assert_int_equal(strlen(cfg.model_id), 128);
	init_config_free(&cfg);
}

static void
test_target(void **state)
{
	char text[1024];

	(void)state;
	base_with(text, sizeof(text), "target:", "target: shm/model");
	refused(text, "target: must be an absolute path");
	base_with(text, sizeof(text), "target:", "target: /");
	refused(text, "target: must not be the root directory");
	base_with(text, sizeof(text), "target:", "target: /dev/shm/../etc");
	refused(text,
		"target: must be a plain absolute path (no blanks, . or ..)");
}

static void
test_tls(void **state)
{
	char text[1024];

	(void)state;
	snprintf(text, sizeof(text), "%s",
		 BASE "tls:\n  cert: kbs:///a/tls/crt\n  dir: /dev/shm/tls\n");
	refused(text, "tls: set all of tls.cert, tls.key and tls.dir, or none");
	snprintf(text, sizeof(text), "%s",
		 BASE
		 "tls:\n  cert: kbs:///a/tls/crt\n  key: kbs:///a/tls/key\n"
		 "  dir: /dev/shm/model/tls\n");
	refused(text, "tls.dir: must not be target or inside it");
	snprintf(text, sizeof(text), "%s",
		 BASE "tls:\n  cert: kbs:///a/tls/crt\n  key: kbs:///a/tls\n"
		      "  dir: /dev/shm/tls\n");
	refused(text, "tls.key: must be kbs:///repo/type/tag (no host; three "
		      "segments of [A-Za-z0-9_.-], not starting with '.')");
}

static void
test_ca_and_level(void **state)
{
	char text[1024];

	(void)state;
	snprintf(text, sizeof(text), "%s",
		 "tee: sample\n"
		 "kbs: {url: 'https://k', ca: /nonexistent/ca.pem}\n"
		 "key: kbs:///a/b/c\n"
		 "artifacts: {source: 'file:///s'}\n"
		 "target: /dev/shm/t\n");
	refused(text, "kbs.ca: is not a readable regular file");

	/* A private key (ca.key for ca.crt) or garbage is no CA bundle:
	 * a configuration error, not an unreachable KBS (h32 L9). */
	snprintf(text, sizeof(text),
		 "tee: sample\n"
		 "kbs: {url: 'https://k', ca: %s}\n"
		 "key: kbs:///a/b/c\n"
		 "artifacts: {source: 'file:///s'}\n"
		 "target: /dev/shm/t\n",
		 cakey_path);
	refused(text, "kbs.ca: is not a PEM certificate bundle "
		      "(CERTIFICATE blocks only, at most 4096 KiB)");
	assert_int_equal(count(logtext, "PRIVATE"), 0);
	snprintf(text, sizeof(text),
		 "tee: sample\n"
		 "kbs: {url: 'https://k'}\n"
		 "key: kbs:///a/b/c\n"
		 "artifacts: {source: 'https://s/m', ca: %s}\n"
		 "target: /dev/shm/t\n",
		 cfg_path);
	refused(text, "artifacts.ca: is not a PEM certificate bundle "
		      "(CERTIFICATE blocks only, at most 4096 KiB)");

	/* The store URL's shape is the configuration's to check. */
	snprintf(text, sizeof(text), "%s",
		 "tee: sample\n"
		 "kbs: {url: 'https://k'}\n"
		 "key: kbs:///a/b/c\n"
		 "artifacts: {source: 'file:///s?x=1'}\n"
		 "target: /dev/shm/t\n");
	refused(text, "artifacts.source: must not carry a query or a "
		      "fragment");
	snprintf(text, sizeof(text), "%s", BASE "log:\n  level: loud\n");
	refused(text, "log.level: must be debug, info, warn or error");
}

/* conf_load's own checks reach the log with their line numbers. */
static void
test_conf_errors(void **state)
{
	struct init_config cfg;
	char want[512];

	(void)state;
	assert_int_equal(load(BASE "kbs_typo: 1\n", &cfg), SP_E_USAGE);
	snprintf(want, sizeof(want), "%s:8: kbs_typo: unknown key", cfg_path);
	if (strstr(logtext, want) == NULL) {
		fail_msg("want %s in log:\n%s", want, logtext);
	}
	init_config_free(&cfg);

	assert_int_equal(load("tee: sample\n"
			      "kbs: {url: 'https://k', timeout_s: 601}\n"
			      "key: kbs:///a/b/c\n"
			      "artifacts: {source: 'file:///s'}\n"
			      "target: /dev/shm/t\n",
			      &cfg),
			 SP_E_USAGE);
	snprintf(want, sizeof(want), "%s:2: kbs.timeout_s:", cfg_path);
	assert_non_null(strstr(logtext, want));
	init_config_free(&cfg);

	assert_int_equal(load("tee: sample\n"
			      "kbs: {url: 'https://k', timeout_s: 0}\n"
			      "key: kbs:///a/b/c\n"
			      "artifacts: {source: 'file:///s'}\n"
			      "target: /dev/shm/t\n",
			      &cfg),
			 SP_E_USAGE);
	assert_non_null(strstr(logtext, want));
	init_config_free(&cfg);
}

/* Every problem is reported, not just the first. */
static void
test_all_problems(void **state)
{
	struct init_config cfg;

	(void)state;
	assert_int_equal(load("tee: nonesuch\n"
			      "kbs: {url: 'ftp://k'}\n"
			      "key: kbs:///a\n"
			      "artifacts: {source: 'file:///s'}\n"
			      "target: rel\n",
			      &cfg),
			 SP_E_USAGE);
	assert_int_equal(count(logtext, "\"event\":\"config.invalid\""), 4);
	init_config_free(&cfg);
}

static void
test_missing_file(void **state)
{
	struct init_config cfg;

	(void)state;
	assert_int_equal(ftruncate(fileno(log_file), 0), 0);
	rewind(log_file);
	assert_int_equal(init_config_load("/nonexistent/sealpod.yaml", &cfg),
			 SP_E_USAGE);
	init_config_free(&cfg);
	assert_int_equal(init_config_load(NULL, &cfg), SP_E_USAGE);
	init_config_free(&cfg);
}

/* A self-signed CA certificate into crt and its key into key (PEM). */
static int
ca_write(const char *crt, const char *key)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	FILE *f;
	int rc = -1;

	if (k == NULL || x == NULL || X509_set_version(x, 2) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 1) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 3600) == NULL ||
	    X509_set_pubkey(x, k) != 1 ||
	    X509_set_issuer_name(x, X509_get_subject_name(x)) != 1 ||
	    X509_sign(x, k, EVP_sha256()) <= 0) {
		goto out;
	}
	f = fopen(crt, "w");
	if (f == NULL || PEM_write_X509(f, x) != 1) {
		goto out;
	}
	fclose(f);
	f = fopen(key, "w");
	if (f == NULL ||
	    PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) != 1) {
		goto out;
	}
	fclose(f);
	rc = 0;
out:
	X509_free(x);
	EVP_PKEY_free(k);
	return rc;
}

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL) {
		return -1;
	}
	snprintf(cfg_path, sizeof(cfg_path), "%s/init.yaml", dir);
	snprintf(ca_path, sizeof(ca_path), "%s/ca.pem", dir);
	snprintf(cakey_path, sizeof(cakey_path), "%s/ca.key", dir);
	if (ca_write(ca_path, cakey_path) != 0) {
		return -1;
	}
	log_file = tmpfile();
	if (log_file == NULL) {
		return -1;
	}
	log_init("test_init_config", log_file);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(cfg_path);
	unlink(ca_path);
	unlink(cakey_path);
	rmdir(dir);
	fclose(log_file);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_minimal_defaults),
	    cmocka_unit_test(test_full),
	    cmocka_unit_test(test_tee),
	    cmocka_unit_test(test_missing_required),
	    cmocka_unit_test(test_kbs_url),
	    cmocka_unit_test(test_key_uri),
	    cmocka_unit_test(test_artifacts),
	    cmocka_unit_test(test_pipeline_keys),
	    cmocka_unit_test(test_model_id),
	    cmocka_unit_test(test_target),
	    cmocka_unit_test(test_tls),
	    cmocka_unit_test(test_ca_and_level),
	    cmocka_unit_test(test_conf_errors),
	    cmocka_unit_test(test_all_problems),
	    cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_gpu_library_hook),
	    cmocka_unit_test(test_tpm_qualifying),
	    cmocka_unit_test(test_tcti_allowlist),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
