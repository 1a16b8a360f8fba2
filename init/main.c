/*
 * main.c: sealpod-init, the init container. It only sequences steps that
 * live in their own modules:
 *
 *   run:  config → attest (kbs) → model key → TLS material → unseal →
 *         one final event, exit code of the error category;
 *   seal: the model owner's command (seal.c).
 *
 * Key material stays in struct secret, is freed the moment the next step
 * has it, and on any failure what this run wrote is removed.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "attest.h"
#include "attest/attest_providers.h"
#include "attest/az_vtpm.h"
#include "attest/preflight.h"
#include "attest/tpm.h"
#include "config.h"
#include "evidence_cmd.h"
#include "exitcode.h"
#include "http.h"
#include "initdata.h"
#include "kbs.h"
#include "kserve.h"
#include "log.h"
#include "manifest.h"
#include "seal.h"
#include "stop.h"
#include "tlsres.h"
#include "unseal.h"
#include "unseal_cmd.h"
#include "util.h"

#define INIT_COMPONENT	      "sealpod-init"
#define INIT_MODEL_KEY_LEN    32   /* AES-256 (docs/sealed-format.md) */
#define INIT_KEY_RESOURCE_MAX 4096 /* refuse anything much larger */
#define INIT_TLS_RESOURCE_MAX SECRET_MAX
#define INIT_TLS_CERT_NAME    "tls.crt"
#define INIT_TLS_KEY_NAME     "tls.key"
#define INIT_TLS_CERT_MODE    0644
#define INIT_TLS_KEY_MODE     0600
#define INIT_PATH_MAX	      4096
/*
 * OpenSSL's locked heap, for the ephemeral ECDH key and the TLS
 * handshakes' own keys. XXX: sized by experiment, not by bound; it
 * counts against RLIMIT_MEMLOCK together with every struct secret.
 */
#define INIT_SECURE_HEAP_SIZE	  (32 * 1024)
#define INIT_SECURE_HEAP_MIN	  16
#define INIT_SEAL_VERSION_DEFAULT 1
#define INIT_SEAL_SEGMENT_DEFAULT (1024 * 1024)
#define INIT_SEAL_SEGMENT_MAX	  (64ULL * 1024 * 1024)
#define INIT_NAMES_MAX		  256

/* What one `run` holds, so a single cleanup path can release it. */
struct run_state {
	struct init_config cfg;
	int cfg_ok;
	struct kbs_session *kbs;
	struct initdata init_data; /* valid when have_init_data */
	int have_init_data;
	struct secret *model_key;
	char tls_crt[INIT_PATH_MAX];
	char tls_key[INIT_PATH_MAX]; /* both "" without tls.dir */
	struct unseal_result res;
	const char *step;
};

#define SEAL_SYNOPSIS                                                          \
	"    sealpod-init seal --key KEYFILE --in DIR --out DIR\n"             \
	"                      [--version N] [--model-id ID]\n"                \
	"                      [--segment-size N] [--sign-key PEM]\n"          \
	"                      [--follow-external-links] [--allow-empty]\n"
#define SEAL_DESCRIPTION                                                       \
	"    seal    Seal every regular file under --in into --out\n"          \
	"            (manifest.sealed and blobs/), creating KEYFILE (32\n"     \
	"            random bytes, mode 0600) when it does not exist.\n"       \
	"            --out must be absent, empty, or a store whose\n"          \
	"            manifest opens with KEYFILE and names no model but\n"     \
	"            --model-id (an update: its blobs stay, the\n"             \
	"            manifest is replaced). Links are sealed as their\n"       \
	"            file only when it lies inside --in. A failed seal\n"      \
	"            removes what it created.\n"
/* Column where help_config's descriptions start, and the line end. */
#define HELP_DESC_COL 27
#define HELP_WIDTH    76

static void
help_intro(void)
{
	printf(
	    "NAME\n"
	    "    sealpod-init - attest, receive the model key, and unseal a\n"
	    "    model into tmpfs; or seal a model directory\n"
	    "\n"
	    "SYNOPSIS\n"
	    "    sealpod-init run [--config FILE]\n" SEAL_SYNOPSIS
	    "    sealpod-init evidence --tee T [--report-data HEX] "
	    "[--root DIR]\n"
	    "                      [--tcti SPEC]\n"
	    "    sealpod-init unseal --key KEYFILE --source URL --target DIR\n"
	    "                      [--ca PEM] [--signing-key PEM] ...\n"
	    "    sealpod-init import-kserve --kek FILE --in DIR --key KEYFILE\n"
	    "                      --out DIR [--version N] [--model-id ID]\n"
	    "    sealpod-init help | --help\n"
	    "    sealpod-init --version\n"
	    "\n"
	    "DESCRIPTION\n"
	    "    sealpod-init runs as the init container of a confidential\n"
	    "    pod. It proves the pod's TEE to a Trustee key broker (KBS\n"
	    "    protocol 0.4.0), receives the model key and optionally the\n"
	    "    sidecar's TLS certificate and key, then fetches the sealed\n"
	    "    model, verifies and decrypts it segment by segment into a\n"
	    "    tmpfs directory, and writes a ready marker last. On any\n"
	    "    failure it removes what it wrote, wipes key material, logs\n"
	    "    one event with a reason and exits with the code of the\n"
	    "    failure's category. Logs are JSON lines on stderr.\n"
	    "\n"
	    "COMMANDS\n"
	    "    run     Attest, fetch keys and unseal, as "
	    "configured.\n" SEAL_DESCRIPTION "    evidence\n"
	    "            Print the evidence JSON provider T (or auto)\n"
	    "            would send for report data HEX (default 48 zero\n"
	    "            bytes), reading the platform under DIR (/).\n"
	    "    unseal  Unseal a store with a local key file into a tmpfs\n"
	    "            DIR, as run would after attestation: for model\n"
	    "            owners checking a store, and benchmarks; never in\n"
	    "            a pod. `unseal --help` lists its options.\n"
	    "    import-kserve\n"
	    "            Convert a KServe confidential model directory\n"
	    "            (per-file JWE, A256KW + A256GCM, KEK in --kek)\n"
	    "            into manifest.sealed and blobs/ under --out, in\n"
	    "            bounded memory; nothing is kept whose GCM tag\n"
	    "            fails. `import-kserve --help` says more.\n"
	    "    help    Show this text.\n"
	    "\n"
	    "OPTIONS\n"
	    "    -c, --config FILE    YAML configuration for run; default\n"
	    "                         $SEALPOD_CONFIG.\n"
	    "    -k, --key KEYFILE    Model key file for seal.\n"
	    "    -i, --in DIR         Plaintext model directory for seal.\n"
	    "    -o, --out DIR        Output directory for seal.\n"
	    "    -n, --version N      Manifest version (default 1); run\n"
	    "                         refuses versions below\n"
	    "                         artifacts.min_version.\n"
	    "    -M, --model-id ID    Model identity written into the\n"
	    "                         manifest (1-128 of A-Za-z0-9._-;\n"
	    "                         default none); run refuses another\n"
	    "                         when artifacts.model_id is set, and\n"
	    "                         an update keeps the store's.\n"
	    "    -s, --segment-size N Ciphertext segment bytes (default\n"
	    "                         1048576).\n"
	    "    -S, --sign-key PEM   P-256 private key (mode 0600): seal\n"
	    "                         also writes manifest.sig, which run\n"
	    "                         checks when artifacts.signing_key\n"
	    "                         pins the public key.\n"
	    "    -L, --follow-external-links\n"
	    "                         Seal links under --in whose file lies\n"
	    "                         outside --in (counted in the log,\n"
	    "                         never named); default: refuse them.\n"
	    "    -E, --allow-empty    Seal an --in that holds no file (an\n"
	    "                         empty store); default: refuse it.\n"
	    "    -t, --tee T          Provider for evidence, or auto.\n"
	    "    -r, --report-data HEX\n"
	    "                         Report data for evidence, 1-64\n"
	    "                         bytes.\n"
	    "    -R, --root DIR       Platform root for evidence (/).\n"
	    "    -T, --tcti SPEC      TPM access for evidence, e.g.\n"
	    "                         swtpm:host=127.0.0.1,port=2321\n"
	    "                         (device:/dev/tpmrm0).\n"
	    "    -h, --help           Show this text.\n"
	    "    --version            Print the version (top level only).\n"
	    "\n");
}

/* The provider list, wrapped into help_config's description column. */
static void
help_wrap(const char *list)
{
	size_t col = HELP_DESC_COL + 3; /* after "of:" */
	size_t n;

	while (*list != '\0') {
		n = strcspn(list, " ");
		if (col + 1 + n > HELP_WIDTH) {
			printf("\n%*s", HELP_DESC_COL, "");
			col = HELP_DESC_COL;
		} else {
			printf(" ");
			col++;
		}
		printf("%.*s", (int)n, list);
		col += n;
		list += n;
		list += strspn(list, " ");
	}
	printf("\n");
}

static void
help_config(void)
{
	char names[INIT_NAMES_MAX];

	attest_list(names, sizeof(names), 0);
	printf("CONFIGURATION\n"
	       "    tee                    Evidence provider (required), or\n"
	       "                           auto to detect the platform. One\n"
	       "                           of:");
	help_wrap(names);
	printf(
	    "    kbs.url                KBS base URL, https:// (required).\n"
	    "    kbs.insecure_http      true allows an http:// kbs.url;\n"
	    "                           development only (default false).\n"
	    "    kbs.ca                 PEM CA bundle for the KBS.\n"
	    "    kbs.timeout_s          Per-request timeout, 1-600 (60).\n"
	    "    key                    kbs:///repo/type/tag of the 32-byte\n"
	    "                           model key (required).\n"
	    "    artifacts.source       https://..., file:///..., "
	    "s3://bucket/\n"
	    "                           prefix or oci://registry/repo:tag\n"
	    "                           (or @sha256:...) holding\n"
	    "                           manifest.sealed and blobs/\n"
	    "                           (required).\n"
	    "    artifacts.ca           PEM CA bundle for the store.\n"
	    "    artifacts.min_version  Lowest manifest version accepted\n"
	    "                           (default 0).\n"
	    "    artifacts.model_id     The manifest must name this model\n"
	    "                           (seal --model-id); default: any.\n"
	    "    artifacts.s3.region    s3:// region (else $AWS_REGION,\n"
	    "                           $AWS_DEFAULT_REGION, us-east-1).\n"
	    "    artifacts.s3.endpoint  https://host[:port] of an S3-\n"
	    "                           compatible store (default AWS).\n"
	    "    artifacts.s3.path_style\n"
	    "                           true: endpoint/bucket/key (MinIO,\n"
	    "                           Ceph); false: bucket.host/key.\n"
	    "    artifacts.s3.sts_endpoint\n"
	    "                           STS for web identity (IRSA).\n"
	    "                           Credentials: AWS_ACCESS_KEY_ID and\n"
	    "                           AWS_SECRET_ACCESS_KEY (and\n"
	    "                           AWS_SESSION_TOKEN), or\n"
	    "                           AWS_WEB_IDENTITY_TOKEN_FILE and\n"
	    "                           AWS_ROLE_ARN; else anonymous.\n"
	    "    artifacts.oci.auth_file\n"
	    "                           Docker config.json with \"auths\"\n"
	    "                           for the registry (mode 0600).\n"
	    "    artifacts.signing_key  PEM P-256 public key: manifest.sig\n"
	    "                           must hold the owner's signature.\n"
	    "    artifacts.workers      Fetch/decrypt threads, 1-64 (one\n"
	    "                           per CPU).\n"
	    "    artifacts.memory_mib   Ciphertext in flight, MiB (64).\n"
	    "    artifacts.idle_timeout_s\n"
	    "                           A transfer idle this long is\n"
	    "                           retried (30).\n"
	    "    artifacts.deadline_s   The whole fetch must end within\n"
	    "                           this (none: a store that drips\n"
	    "                           bytes is never idle; set it).\n"
	    "    artifacts.attempts     Attempts per byte range, 1-100 (5).\n"
	    "    artifacts.insecure_http\n"
	    "                           true allows an http:// source\n"
	    "                           (default false).\n"
	    "    artifacts.headers_file\n"
	    "                           Private file of extra request\n"
	    "                           headers, \"Name: value\" lines.\n"
	    "    target                 Absolute tmpfs/ramfs directory for\n"
	    "                           the plaintext (required).\n"
	    "    tls.cert, tls.key      kbs:/// URIs of the sidecar's\n"
	    "                           certificate chain and private key;\n"
	    "                           checked as a matching pair before\n"
	    "                           either is written (else exit 14).\n"
	    "    tls.dir                tmpfs/ramfs directory where\n"
	    "                           " INIT_TLS_CERT_NAME
	    " (0644) and " INIT_TLS_KEY_NAME " (0600) are\n"
	    "                           written; not inside target. The\n"
	    "                           three tls keys go together.\n"
	    "    log.level              debug, info, warn or error (info).\n"
	    "    init_data              init-data TOML sent with /attest;\n"
	    "                           its digest must be in the\n"
	    "                           platform's config register.\n"
	    "    gpu                    none, optional, required or\n"
	    "                           sampledevice (development).\n"
	    "    attest_timeout_s       Evidence collection (drivers, TPM)\n"
	    "                           must end within this, 1-3600\n"
	    "                           (120); else exit 10.\n"
	    "    tpm.tcti               TPM access for tpm and az-*:\n"
	    "                           device:/dev/<node> (device:/dev/\n"
	    "                           tpmrm0); test builds also swtpm:\n"
	    "                           and mssim:.\n"
	    "    tpm.ak_handle          Persistent AK handle, 0x81000000-\n"
	    "                           0x81FFFFFF (derive one).\n"
	    "    tpm.qualifying_bytes   32 or 64: tpm quote qualifying\n"
	    "                           data length (64).\n"
	    "    gpu_library            Test/ops: NVML to load instead of\n"
	    "                           " GPU_NVML_LIB ".\n"
	    "    azure.imds_url         Test/ops: Azure IMDS base URL for\n"
	    "                           the az-* providers.\n"
	    "    platform_root          Test/debug: read the platform\n"
	    "                           under this directory (/).\n"
	    "\n");
}

static void
help_exit(void)
{
	printf("EXIT STATUS\n"
	       "    0   success\n"
	       "    %-3d bad command line or configuration\n"
	       "    %-3d evidence could not be produced or was refused\n"
	       "    %-3d the KBS policy denied the key\n"
	       "    %-3d key resource or artifact missing\n"
	       "    %-3d KBS or artifact store unreachable or failing\n"
	       "    %-3d authentication, digest, size or version check failed\n"
	       "    %-3d target not tmpfs/ramfs, or not enough room\n"
	       "    %-3d stopped by SIGTERM or SIGINT (run, unseal); what it\n"
	       "        wrote is removed, within %d seconds\n"
	       "    %-3d internal error, or a peer broke the protocol\n"
	       "\n",
	       EXIT_USAGE, EXIT_ATTEST, EXIT_POLICY, EXIT_NOTFOUND, EXIT_FETCH,
	       EXIT_INTEGRITY, EXIT_TARGET, EXIT_TERMINATED, STOP_GRACE_S,
	       EXIT_INTERNAL);
}

static void
help_files(void)
{
	printf(
	    "FILES\n"
	    "    <target>/" UNSEAL_READY_NAME
	    "      written last; the sidecar's readiness\n"
	    "    <tls.dir>/" INIT_TLS_CERT_NAME ", <tls.dir>/" INIT_TLS_KEY_NAME
	    "\n"
	    "                                 the sidecar's chain and key,\n"
	    "                                 written before the model;\n"
	    "                                 removed on failure, also\n"
	    "                                 when an earlier run wrote\n"
	    "                                 them\n"
	    "\n"
	    "ENVIRONMENT\n"
	    "    SEALPOD_CONFIG         configuration file when --config is\n"
	    "                           not given.\n"
	    "\n"
	    "EXAMPLES\n"
	    "    sealpod-init seal --key model.key --in ./model --out "
	    "./sealed --version 3\n"
	    "    sealpod-init run --config /etc/sealpod/init.yaml\n");
}

/* The man-style page for --help (stdout, so it can be paged). */
static void
print_help(void)
{
	help_intro();
	help_config();
	help_exit();
	help_files();
}

/* A command-line problem: one event, a hint, exit code EXIT_USAGE. */
static int
usage_error(const char *problem, const char *arg)
{
	return exitcode_usage(problem, arg,
			      "Try '" INIT_COMPONENT " --help'.\n");
}

/* No core dumps and no ptrace by peers: this process holds keys. */
static void
harden(void)
{
	struct rlimit rl = {0, 0};

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		log_event(LOG_WARN, "init.harden.failed", "dumpable",
			  LOG_ERRNO(errno));
	}
	if (setrlimit(RLIMIT_CORE, &rl) != 0) {
		log_event(LOG_WARN, "init.harden.failed", "rlimit_core",
			  LOG_ERRNO(errno));
	}
}

/* 1 when path is a directory on a memory filesystem (tmpfs, ramfs). */
static int
on_memory_fs(const char *path)
{
	struct statfs sfs;
	struct stat sb;
	int rc = 0;

	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) &&
	    statfs(path, &sfs) == 0) {
		rc = sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC;
	}
	return rc;
}

/*
 * Before any key is asked for: the plaintext and the TLS private key may
 * only ever land in memory, so a target or tls.dir on disk is refused
 * up front. unseal_run() checks the target again, with the room it needs.
 */
static enum sp_err
run_preflight(struct run_state *st)
{
	enum sp_err rc = SP_E_TARGET;

	if (!on_memory_fs(st->cfg.target)) {
		log_event(LOG_ERR, "init.target.invalid",
			  "target_not_tmpfs_dir");
		goto out;
	}
	if (st->cfg.tls_dir != NULL && !on_memory_fs(st->cfg.tls_dir)) {
		log_event(LOG_ERR, "init.target.invalid",
			  "tls_dir_not_tmpfs_dir");
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

/* Someone else's files in the target would fail the unseal step: refuse
 * before any key is asked for (after attestation, whose own failures
 * come first). */
static enum sp_err
run_target_check(struct run_state *st)
{
	return unseal_target_check(st->cfg.target);
}

/* platform_root as providers take it: "" for the real root. */
static const char *
platform_root(const struct run_state *st)
{
	const char *root = st->cfg.platform_root;

	if (root == NULL || strcmp(root, "/") == 0) {
		root = "";
	} else {
		log_event(LOG_WARN, "init.platform_root.set", NULL,
			  LOG_STR("platform_root", root));
	}
	return root;
}

/* A test hook in effect is worth a warning wherever it shows up. */
static void
hook_warn(const char *key, int set)
{
	if (set) {
		log_event(LOG_WARN, "init.test_hook.used", NULL,
			  LOG_STR("key", key));
	}
}

static void
run_hooks_note(const struct run_state *st)
{
	const char *root = st->cfg.platform_root;

	hook_warn("gpu_library", st->cfg.gpu_library != NULL);
	hook_warn("azure.imds_url", st->cfg.azure_imds_url != NULL);
	hook_warn("platform_root", root != NULL && strcmp(root, "/") != 0);
	hook_warn("tpm.tcti", tpm_tcti_is_test(st->cfg.tpm_tcti));
}

/* The provider, what it needs from the guest, and the init-data. */
static enum sp_err
attest_prepare(struct run_state *st, const char *root,
	       const struct attest_provider **provider)
{
	const char *tcti = st->cfg.tpm_tcti;
	enum sp_err rc = SP_OK;

	*provider = attest_find(st->cfg.tee);
	if (strcmp(st->cfg.tee, ATTEST_TEE_AUTO) == 0) {
		rc = attest_detect(root, provider);
	}
	if (rc == SP_OK) {
		rc = preflight_run((*provider)->tee, root,
				   tcti == NULL ||
				       strncmp(tcti, "device:", 7) == 0);
	}
	/* A required GPU that cannot attest fails before the KBS hears of
	 * us. */
	if (rc == SP_OK) {
		rc = gpu_preflight((enum gpu_mode)st->cfg.gpu_mode);
	}
	if (rc == SP_OK && st->cfg.init_data != NULL) {
		rc = initdata_load(st->cfg.init_data, &st->init_data);
		rc = rc == SP_E_INTERNAL ? rc : (rc == SP_OK ? rc : SP_E_USAGE);
		st->have_init_data = rc == SP_OK;
	}
	return rc;
}

/* The KBS handshake with the configured provider. */
static enum sp_err
run_attest(struct run_state *st)
{
	struct kbs_opts ko;
	enum sp_err rc;

	memset(&ko, 0, sizeof(ko));
	ko.url = st->cfg.kbs_url;
	ko.ca_file = st->cfg.kbs_ca;
	ko.timeout_s = (long)st->cfg.kbs_timeout_s;
	ko.allow_http = st->cfg.kbs_insecure_http;
	ko.root = platform_root(st);
	ko.gpu = (enum gpu_mode)st->cfg.gpu_mode;
	ko.cancel = stop_flag();
	run_hooks_note(st);
	tpm_set_options(st->cfg.tpm_tcti, st->cfg.tpm_ak);
	tpm_set_qualifying_len(st->cfg.tpm_qlen);
	gpu_set_library(st->cfg.gpu_library);
	az_vtpm_set_imds(st->cfg.azure_imds_url);
	stop_attest_timeout(st->cfg.attest_timeout_s);

	/* Detection and preflight talk to drivers too (NVML, the TPM). */
	stop_attest_begin();
	rc = attest_prepare(st, ko.root, &ko.provider);
	if (stop_attest_end() != 0) {
		rc = SP_E_ATTEST;
	}
	if (rc == SP_OK) {
		ko.init_data = st->have_init_data ? &st->init_data : NULL;
		rc = kbs_attest(&ko, &st->kbs);
	}
	return rc;
}

/* The model key: exactly one AES-256 key. */
static enum sp_err
run_model_key(struct run_state *st)
{
	enum sp_err rc;

	rc = kbs_get_resource(st->kbs, st->cfg.key, INIT_KEY_RESOURCE_MAX,
			      &st->model_key);
	if (rc != SP_OK) {
		goto out;
	}
	if (st->model_key->len != INIT_MODEL_KEY_LEN) {
		log_event(LOG_ERR, "init.key.invalid", "model_key_bad_length",
			  LOG_U64("bytes", st->model_key->len));
		rc = SP_E_INTEGRITY;
	}
out:
	return rc;
}

/* dir + "/" + name into out; SP_E_USAGE when it does not fit. */
static enum sp_err
join_path(char *out, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);
	enum sp_err rc = SP_OK;

	if (n <= 0 || (size_t)n >= cap) {
		/* A cut path names another file: cleanup must not reach it. */
		out[0] = '\0';
		rc = SP_E_USAGE;
	}
	return rc;
}

/* Write one checked TLS resource atomically with mode. */
static enum sp_err
tls_write(const struct secret *res, const char *path, unsigned mode)
{
	enum sp_err rc;

	rc = file_write_atomic(path, res->data, res->len, mode);
	if (rc != SP_OK) {
		log_event(LOG_ERR, "init.tls.failed", "tls_write_failed",
			  LOG_STR("path", path));
	}
	return rc;
}

/*
 * Certificate chain (0644) and private key (0600) for the sidecar. Both
 * are fetched and checked (a chain, a key, a pair) before either is
 * written, so a swapped or garbage upload leaves tls.dir untouched and
 * never puts key bytes into the world-readable file.
 */
static enum sp_err
run_tls(struct run_state *st)
{
	struct secret *crt = NULL;
	struct secret *key = NULL;
	enum sp_err rc = SP_OK;

	if (st->cfg.tls_dir == NULL) {
		goto out;
	}
	rc = kbs_get_resource(st->kbs, st->cfg.tls_cert, INIT_TLS_RESOURCE_MAX,
			      &crt);
	if (rc != SP_OK) {
		goto out;
	}
	rc = kbs_get_resource(st->kbs, st->cfg.tls_key, INIT_TLS_RESOURCE_MAX,
			      &key);
	if (rc != SP_OK) {
		goto out;
	}

	rc = tlsres_check(crt, key);
	if (rc != SP_OK) {
		goto out;
	}

	rc = tls_write(crt, st->tls_crt, INIT_TLS_CERT_MODE);
	if (rc == SP_OK) {
		rc = tls_write(key, st->tls_key, INIT_TLS_KEY_MODE);
	}
	if (rc == SP_OK) {
		log_event(LOG_INFO, "init.tls.written", NULL,
			  LOG_STR("dir", st->cfg.tls_dir));
	}
out:
	secret_free(key);
	secret_free(crt);
	return rc;
}

/* Where tls.crt and tls.key go, known once the configuration is. */
static enum sp_err
tls_paths(struct run_state *st)
{
	enum sp_err rc = SP_OK;

	if (st->cfg.tls_dir == NULL) {
		goto out;
	}
	rc = join_path(st->tls_crt, sizeof(st->tls_crt), st->cfg.tls_dir,
		       INIT_TLS_CERT_NAME);
	if (rc == SP_OK) {
		rc = join_path(st->tls_key, sizeof(st->tls_key),
			       st->cfg.tls_dir, INIT_TLS_KEY_NAME);
	}
	if (rc != SP_OK) {
		st->tls_crt[0] = '\0';
		st->tls_key[0] = '\0';
		log_event(LOG_ERR, "config.invalid", "config_invalid",
			  LOG_STR("problem", "tls.dir: path too long"));
	}
out:
	return rc;
}

static enum sp_err
run_unseal(struct run_state *st)
{
	struct unseal_opts uo;
	struct source_s3_opts s3 = {
	    .region = st->cfg.s3_region,
	    .endpoint = st->cfg.s3_endpoint,
	    .path_style = st->cfg.s3_path_style,
	    .sts_endpoint = st->cfg.s3_sts_endpoint,
	};
	struct source_oci_opts oci = {.auth_file = st->cfg.oci_auth_file};

	memset(&uo, 0, sizeof(uo));
	uo.source = st->cfg.artifacts_source;
	uo.ca_file = st->cfg.artifacts_ca;
	uo.min_version = st->cfg.min_version;
	uo.model_id = st->cfg.model_id;
	uo.target = st->cfg.target;
	uo.workers = (unsigned)st->cfg.artifacts_workers;
	uo.memory_mib = st->cfg.artifacts_memory_mib;
	uo.idle_timeout_s = st->cfg.artifacts_idle_s;
	uo.deadline_s = st->cfg.artifacts_deadline_s;
	uo.attempts = (unsigned)st->cfg.artifacts_attempts;
	uo.allow_http = st->cfg.artifacts_insecure_http;
	uo.headers_file = st->cfg.artifacts_headers_file;
	uo.signing_key = st->cfg.artifacts_signing_key;
	uo.s3 = &s3;
	uo.oci = &oci;
	return unseal_run(&uo, st->model_key, &st->res);
}

/* Process-wide set-up once the configuration is known. */
static enum sp_err
run_setup(struct run_state *st)
{
	enum sp_err rc = SP_E_INTERNAL;
	enum log_level level;

	if (st->cfg.log_level != NULL &&
	    log_level_parse(st->cfg.log_level, &level) == 0) {
		log_set_level(level);
	}
	/* Fail closed, as secret_new does, if keys cannot be locked. */
	if (CRYPTO_secure_malloc_init(INIT_SECURE_HEAP_SIZE,
				      INIT_SECURE_HEAP_MIN) != 1) {
		log_event(LOG_ERR, "init.setup.failed",
			  "secure_heap_unavailable");
		goto out;
	}
	rc = http_global_init();
out:
	return rc;
}

/*
 * Where this run writes, for stop.c's last-resort hook: copies that are
 * never freed, since that hook may run while main() is tearing down.
 */
static struct {
	char target[INIT_PATH_MAX];
	char tls_crt[INIT_PATH_MAX];
	char tls_key[INIT_PATH_MAX];
	int target_set;
	int tls_set;
} run_paths;

/* Remember what run_cleanup() would remove, for the stop hook. */
static void
run_paths_note(const struct run_state *st)
{
	int n;

	n = snprintf(run_paths.target, sizeof(run_paths.target), "%s",
		     st->cfg.target);
	__atomic_store_n(&run_paths.target_set,
			 n > 0 && (size_t)n < sizeof(run_paths.target),
			 __ATOMIC_RELEASE);
	if (st->tls_crt[0] != '\0' && st->tls_key[0] != '\0') {
		memcpy(run_paths.tls_crt, st->tls_crt, sizeof(st->tls_crt));
		memcpy(run_paths.tls_key, st->tls_key, sizeof(st->tls_key));
		__atomic_store_n(&run_paths.tls_set, 1, __ATOMIC_RELEASE);
	}
}

/* stop.c's last resort (stop.h): the grace period ran out. */
static void
run_stop_hook(void *arg)
{
	(void)arg;
	if (__atomic_load_n(&run_paths.target_set, __ATOMIC_ACQUIRE)) {
		unseal_clean(run_paths.target);
	}
	if (__atomic_load_n(&run_paths.tls_set, __ATOMIC_ACQUIRE)) {
		(void)unlink(run_paths.tls_crt);
		(void)unlink(run_paths.tls_key);
	}
}

/* Undo this run's output after a failure; the target only when valid. */
static void
run_cleanup(struct run_state *st)
{
	if (st->cfg_ok) {
		unseal_clean(st->cfg.target);
	}
	/* tls.dir has the target's rule: on failure nothing of ours
	 * stays there, an earlier run's key included (a key revoked since
	 * must not outlive the refusal). unlink(2) removes a link planted
	 * there, never what it points to. */
	if (st->tls_crt[0] != '\0') {
		(void)unlink(st->tls_crt);
		(void)unlink(st->tls_key);
	}
}

/* One step, unless a stop was asked for (then SP_E_INTERNAL, and
 * cmd_run reports "terminated"). */
static enum sp_err
run_step(struct run_state *st, const char *name,
	 enum sp_err (*fn)(struct run_state *))
{
	enum sp_err rc = SP_E_INTERNAL;

	st->step = name;
	stop_note_step(name);
	if (!stop_requested()) {
		rc = fn(st);
	}
	return rc;
}

/* The steps in order; st->step names the one that failed. */
static enum sp_err
run_steps(struct run_state *st, const char *config)
{
	enum sp_err rc;

	st->step = "config";
	stop_note_step(st->step);
	rc = init_config_load(config, &st->cfg);
	if (rc != SP_OK) {
		goto out;
	}
	st->cfg_ok = 1;
	rc = tls_paths(st);
	if (rc != SP_OK) {
		goto out;
	}
	run_paths_note(st);
	rc = run_step(st, "setup", run_setup);
	if (rc != SP_OK) {
		goto out;
	}

	rc = run_step(st, "preflight", run_preflight);
	if (rc != SP_OK) {
		goto out;
	}
	rc = run_step(st, "attest", run_attest);
	if (rc != SP_OK) {
		goto out;
	}
	rc = run_step(st, "target", run_target_check);
	if (rc != SP_OK) {
		goto out;
	}
	rc = run_step(st, "key", run_model_key);
	if (rc != SP_OK) {
		goto out;
	}
	rc = run_step(st, "tls", run_tls);
	if (rc != SP_OK) {
		goto out;
	}

	/* The ECDH key has done its work; drop it before the long part. */
	kbs_session_free(st->kbs);
	st->kbs = NULL;
	rc = run_step(st, "unseal", run_unseal);
out:
	return rc;
}

/* Parse run's options; *config keeps $SEALPOD_CONFIG unless given. */
static int
run_options(int argc, char **argv, const char **config)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int given = 0;
	int rc = 0;
	int c;

	for (;;) {
		c = getopt_long(argc, argv, "c:h", longopts, NULL);
		if (c == -1) {
			break;
		}
		if (c == 'c' && given) {
			/* Two files: which one was meant is a guess. */
			rc = usage_error("--config given twice", optarg);
			goto out;
		} else if (c == 'c') {
			*config = optarg;
			given = 1;
		} else if (c == 'h') {
			print_help();
			rc = -1;
			goto out;
		} else {
			rc = usage_error("unknown option or missing value",
					 argv[optind - 1]);
			goto out;
		}
	}
	if (optind != argc) {
		rc = usage_error("unexpected argument", argv[optind]);
	}
out:
	return rc;
}

static int
cmd_run(int argc, char **argv)
{
	const char *config = getenv("SEALPOD_CONFIG");
	const char *reason;
	const char *cause;
	struct run_state st;
	enum sp_err rc;
	int ec;

	memset(&st, 0, sizeof(st));
	ec = run_options(argc, argv, &config);
	if (ec != 0) {
		goto out;
	}

	/* SIGTERM (pod deleted) must end in cleanup, not mid-write. */
	if (stop_start(run_stop_hook, NULL) != 0) {
		ec = EXIT_INTERNAL;
		goto out;
	}

	rc = run_steps(&st, config);
	ec = exitcode_for(rc);
	if (rc != SP_OK && stop_requested()) {
		ec = EXIT_TERMINATED;
	}
	if (rc != SP_OK) {
		run_cleanup(&st);
		reason = ec == EXIT_TERMINATED ? "terminated" : sp_err_name(rc);
		cause = log_first_error();
		/* reason: the category SIEM rules match; cause: what failed. */
		log_event(LOG_ERR, "init.failed", reason,
			  LOG_STR("cause", cause != NULL ? cause : reason),
			  LOG_STR("step", st.step), LOG_I64("exit_code", ec));
	} else {
		log_event(LOG_INFO, "init.done", NULL,
			  LOG_U64("version", st.res.version),
			  LOG_U64("files", st.res.files),
			  LOG_U64("bytes", st.res.bytes));
	}
out:
	secret_free(st.model_key);
	kbs_session_free(st.kbs);
	initdata_free(&st.init_data);
	init_config_free(&st.cfg);
	return ec < 0 ? 0 : ec;
}

/* One seal option into so; returns 0, -1 for help, or an exit code. */
static int
seal_option(int c, const char *arg, struct seal_opts *so)
{
	int rc = 0;

	if (c == 'k') {
		so->key_file = arg;
	} else if (c == 'i') {
		so->in_dir = arg;
	} else if (c == 'o') {
		so->out_dir = arg;
	} else if (c == 'n') {
		if (parse_u64(arg, 1, UINT64_MAX, &so->version) != 0) {
			rc = usage_error("--version needs a number >= 1", arg);
		}
	} else if (c == 's') {
		if (parse_u64(arg, 1, INIT_SEAL_SEGMENT_MAX,
			      &so->segment_size) != 0) {
			rc = usage_error("--segment-size out of range", arg);
		}
	} else if (c == 'S') {
		so->sign_key = arg;
	} else if (c == 'M') {
		so->model_id = arg;
		if (manifest_model_id_check(arg) != NULL) {
			rc = usage_error(MANIFEST_MODEL_ID_RULE, arg);
		}
	} else if (c == 'L') {
		so->follow_external = 1;
	} else if (c == 'E') {
		so->allow_empty = 1;
	} else if (c == 'h') {
		printf("SYNOPSIS\n" SEAL_SYNOPSIS
		       "\nDESCRIPTION\n" SEAL_DESCRIPTION "\n`" INIT_COMPONENT
		       " --help` describes the options.\n");
		rc = -1;
	} else {
		rc = usage_error("unknown option or missing value", "");
	}
	return rc;
}

/* Parse seal's options into so; returns 0, -1 for help, or exit code. */
static int
seal_options(int argc, char **argv, struct seal_opts *so)
{
	static const struct option longopts[] = {
	    {"key", required_argument, NULL, 'k'},
	    {"in", required_argument, NULL, 'i'},
	    {"out", required_argument, NULL, 'o'},
	    {"version", required_argument, NULL, 'n'},
	    {"segment-size", required_argument, NULL, 's'},
	    {"sign-key", required_argument, NULL, 'S'},
	    {"model-id", required_argument, NULL, 'M'},
	    {"follow-external-links", no_argument, NULL, 'L'},
	    {"allow-empty", no_argument, NULL, 'E'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int rc = 0;
	int c;

	for (;;) {
		c = getopt_long(argc, argv, "k:i:o:n:s:S:M:LEh", longopts,
				NULL);
		if (c == -1) {
			break;
		}
		rc = seal_option(c, optarg, so);
		if (rc != 0) {
			goto out;
		}
	}
	if (optind != argc) {
		rc = usage_error("unexpected argument", argv[optind]);
	} else if (so->key_file == NULL || so->in_dir == NULL ||
		   so->out_dir == NULL) {
		rc = usage_error("seal needs --key, --in and --out", "");
	}
out:
	return rc;
}

static int
cmd_seal(int argc, char **argv)
{
	struct seal_opts so;
	enum sp_err rc;
	int ec;

	memset(&so, 0, sizeof(so));
	so.version = INIT_SEAL_VERSION_DEFAULT;
	so.segment_size = INIT_SEAL_SEGMENT_DEFAULT;
	ec = seal_options(argc, argv, &so);
	if (ec != 0) {
		goto out;
	}

	/* seal_run() logs seal.done itself, with its figures. */
	rc = seal_run(&so);
	if (rc != SP_OK) {
		log_event(LOG_ERR, "seal.failed", sp_err_name(rc),
			  LOG_I64("exit_code", exitcode_for(rc)));
	}
	ec = exitcode_for(rc);
out:
	return ec < 0 ? 0 : ec;
}

int
main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	int ec = EXIT_USAGE;

	log_init(INIT_COMPONENT, NULL);
	harden();
	opterr = 0;

	if (strcmp(cmd, "run") == 0) {
		ec = cmd_run(argc - 1, argv + 1);
	} else if (strcmp(cmd, "seal") == 0) {
		ec = cmd_seal(argc - 1, argv + 1);
	} else if (strcmp(cmd, "import-kserve") == 0) {
		ec = kserve_cmd(argc - 1, argv + 1);
	} else if (strcmp(cmd, "evidence") == 0) {
		ec = evidence_cmd(argc - 1, argv + 1);
	} else if (strcmp(cmd, "unseal") == 0) {
		ec = unseal_cmd(argc - 1, argv + 1);
	} else if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
		   strcmp(cmd, "-h") == 0) {
		print_help();
		ec = 0;
	} else if (strcmp(cmd, "--version") == 0) {
		printf(INIT_COMPONENT " " SEALPOD_VERSION "\n");
		ec = 0;
	} else {
		ec = usage_error(cmd[0] == '\0' ? "no command given"
						: "unknown command",
				 cmd);
	}
	/* A refused command line ends like any failed run: one final
	 * event, so log shippers see the same last line. */
	if (exitcode_usage_seen()) {
		log_event(LOG_ERR, "init.failed", "usage",
			  LOG_STR("cause", "usage"), LOG_STR("step", "usage"),
			  LOG_I64("exit_code", EXIT_USAGE));
	}
	return ec;
}
