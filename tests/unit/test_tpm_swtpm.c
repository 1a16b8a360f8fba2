/*
 * test_tpm_swtpm.c: the "tpm", "az-snp-vtpm" and "az-tdx-vtpm" providers
 * end to end against a real TPM: Debian's swtpm, started here on a
 * loopback port in a temporary directory and reached through libtss2's
 * swtpm TCTI. Each quote we produce is verified independently with
 * tpm2-tools (tpm2_checkquote over PCR values tpm2_pcrread reads itself)
 * and with OpenSSL.
 *
 * The Azure NV indexes are provisioned with tpm2-tools: an AK made with
 * tpm2_createek/createak and persisted at 0x81000003, and an HCL report
 * at NV 0x01400001 built from the azure-hcl samples, its var data
 * rewritten to carry this AK and our user data and its hardware report
 * data re-bound to the new var data (swtpm has no paravisor to do it;
 * the hardware signature no longer verifies, which is the verifier's
 * business, not ours). IMDS is a stand-in thread on 127.0.0.1.
 *
 * Skipped (not failed) when swtpm or tpm2-tools are not installed.
 * Everything started here dies with the test (PR_SET_PDEATHSIG) and
 * every wait is bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "attest.h"
#include "attest/attest_providers.h"
#include "attest/az_vtpm.h"
#include "attest/hcl.h"
#include "attest/tpm.h"
#include "b64.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "util.h"

#define TD	       SEALPOD_TESTDATA "/tee/"
#define FILE_MAX       (1024 * 1024)
#define CMD_TIMEOUT_MS 60000
#define START_TRIES    5
#define START_WAIT_MS  5000
#define STOP_WAIT_MS   3000
#define IMDS_REQ_MAX   (64 * 1024)
#define PATH_LEN       512
#define NV_INDEX_MAX   2048 /* swtpm's TPM2_PT_NV_INDEX_MAX */
#define DIGEST_LEN     48   /* a SHA-384 runtime-data digest */
#define PCR_EXT_A                                                              \
	"0101010101010101010101010101010101010101010101010101010101010101"
#define PCR_EXT_B                                                              \
	"b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"

/* The swtpm under test and its scratch directory. */
static char dir[PATH_LEN / 2];
static char tcti[128];
static pid_t swtpm_pid = -1;
static int have_tools;

static unsigned char digest[DIGEST_LEN];

/* --- processes ----------------------------------------------------- */

static void
path_in(char *out, const char *name)
{
	snprintf(out, PATH_LEN, "%s/%s", dir, name);
}

/* Wait for pid at most ms; kill it when it overstays. Exit status or -1. */
static int
wait_bounded(pid_t pid, int ms)
{
	struct timespec ts = {0, 10 * 1000 * 1000};
	int status = 0, waited;

	for (waited = 0; waited < ms; waited += 10) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		}
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

/* Run argv with stdout to out (or /dev/null); returns its exit code. */
static int
run(const char *const argv[], const char *out)
{
	char errlog[PATH_LEN];
	pid_t pid;
	int fd;

	path_in(errlog, "tools.log");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fd = open(out != NULL ? out : "/dev/null",
			  O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 1);
		fd = open(errlog, O_WRONLY | O_CREAT | O_APPEND, 0600);
		dup2(fd, 2);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	return wait_bounded(pid, CMD_TIMEOUT_MS);
}

#define RUN(out, ...) run((const char *const[]){__VA_ARGS__, NULL}, (out))

static int
tool_present(const char *name)
{
	return RUN(NULL, "sh", "-c", "command -v \"$0\"", name) == 0;
}

static int
port_free(int port)
{
	struct sockaddr_in a;
	int s = socket(AF_INET, SOCK_STREAM, 0), ok;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = bind(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(s);
	return ok;
}

static int
port_answers(int port)
{
	struct sockaddr_in a;
	int s = socket(AF_INET, SOCK_STREAM, 0), ok;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(s);
	return ok;
}

/* Start swtpm on port, port+1 (loopback only); 0 once it answers. */
static int
swtpm_start(int port)
{
	char server[64], ctrl[64], state[PATH_LEN + 16];
	struct timespec ts = {0, 20 * 1000 * 1000};
	int waited, status;
	pid_t pid;

	snprintf(server, sizeof(server), "type=tcp,port=%d,bindaddr=127.0.0.1",
		 port);
	snprintf(ctrl, sizeof(ctrl), "type=tcp,port=%d,bindaddr=127.0.0.1",
		 port + 1);
	snprintf(state, sizeof(state), "dir=%s", dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execlp("swtpm", "swtpm", "socket", "--tpm2", "--server", server,
		       "--ctrl", ctrl, "--tpmstate", state, "--flags",
		       "not-need-init,startup-clear", (char *)NULL);
		_exit(127);
	}
	for (waited = 0; waited < START_WAIT_MS; waited += 20) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			return -1; /* lost the port race, or broken */
		}
		if (port_answers(port)) {
			swtpm_pid = pid;
			return 0;
		}
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

static int
setup(void **state)
{
	char tmpl[] = "/tmp/sealpod-swtpm-XXXXXX";
	int i, port;

	(void)state;
	log_init("test_tpm_swtpm", NULL);
	log_set_level(LOG_ERR);
	if (http_global_init() != SP_OK) {
		return -1;
	}
	have_tools = tool_present("swtpm") && tool_present("tpm2_checkquote") &&
		     tool_present("tpm2_createak");
	if (!have_tools) {
		return 0;
	}
	if (mkdtemp(tmpl) == NULL) {
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s", tmpl);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	for (i = 0; i < START_TRIES && swtpm_pid < 0; i++) {
		port = 20000 + 2 * (rand() % 15000);
		if (port_free(port) && port_free(port + 1) &&
		    swtpm_start(port) == 0) {
			snprintf(tcti, sizeof(tcti),
				 "swtpm:host=127.0.0.1,port=%d", port);
		}
	}
	if (swtpm_pid < 0) {
		return -1;
	}
	setenv("TPM2TOOLS_TCTI", tcti, 1);
	/* Distinct PCR values, across the 8-PCR batches PCR_Read returns. */
	if (RUN(NULL, "tpm2_pcrextend", "0:sha256=" PCR_EXT_A,
		"7:sha256=" PCR_EXT_B, "8:sha256=" PCR_EXT_A,
		"15:sha256=" PCR_EXT_B, "16:sha256=" PCR_EXT_A,
		"23:sha256=" PCR_EXT_B) != 0) {
		return -1;
	}
	/* The runtime-data digest every test binds: SHA-384 of a label. */
	EVP_Digest("sealpod swtpm test", 18, digest, NULL, EVP_sha384(), NULL);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	if (swtpm_pid > 0) {
		kill(swtpm_pid, SIGTERM);
		if (wait_bounded(swtpm_pid, STOP_WAIT_MS) < 0) {
			fprintf(stderr, "swtpm did not stop on SIGTERM\n");
		}
		swtpm_pid = -1;
	}
	if (dir[0] != '\0') {
		RUN(NULL, "rm", "-rf", "--", dir);
	}
	tpm_set_options(NULL, TPM_AK_CREATE);
	az_vtpm_set_imds(NULL);
	return 0;
}

/* --- files and encodings ------------------------------------------ */

static void
write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
}

static unsigned char *
read_path(const char *path, size_t *len)
{
	char *buf = NULL;

	assert_int_equal(file_read_all(path, FILE_MAX, &buf, len), SP_OK);
	return (unsigned char *)buf;
}

static unsigned char *
b64_any(const char *s, enum b64_variant v, size_t *n)
{
	size_t len = strlen(s);
	unsigned char *out = malloc(b64_decoded_max(len) + 1);
	long got;

	assert_non_null(out);
	if (v == B64_URL) {
		while (len > 0 && s[len - 1] == '=') {
			len--;
		}
	}
	got = b64_decode(s, len, v, out, b64_decoded_max(len) + 1);
	assert_true(got >= 0);
	*n = (size_t)got;
	return out;
}

static unsigned char *
unhex(const char *s, size_t *n)
{
	unsigned char *out;

	assert_non_null(s);
	*n = strlen(s) / 2;
	out = malloc(*n + 1);
	assert_non_null(out);
	assert_int_equal(hex_decode(s, 2 * *n, out, *n), 0);
	return out;
}

static EVP_PKEY *
pem_key(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;

	assert_non_null(f);
	k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(k);
	return k;
}

static void
hex_arg(char *out, const unsigned char *p, size_t n)
{
	hex_encode(p, n, out);
}

/* The 24 SHA-256 PCRs as tpm2_pcrread prints them ("  i : 0xHEX"). */
static void
tool_pcrs(unsigned char pcrs[24][32], const char *bin)
{
	char out[PATH_LEN], line[256], hex[128];
	unsigned idx;
	FILE *f;
	size_t n = 0;

	path_in(out, "pcrread.txt");
	assert_int_equal(RUN(out, "tpm2_pcrread", "-F", "serialized", "-o", bin,
			     "sha256:0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,"
			     "16,17,18,19,20,21,22,23"),
			 0);
	f = fopen(out, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, " %u : 0x%127s", &idx, hex) != 2) {
			continue;
		}
		assert_true(idx < 24);
		assert_int_equal(hex_decode(hex, 64, pcrs[idx], 32), 0);
		n++;
	}
	fclose(f);
	assert_int_equal(n, 24);
}

/* Signature over msg with the PEM key at path: 1 when it verifies. */
static int
openssl_verify(const char *pem, const unsigned char *sig, size_t slen,
	       const unsigned char *msg, size_t mlen)
{
	EVP_PKEY *k = pem_key(pem);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, k),
			 1);
	ok = EVP_DigestVerify(ctx, sig, slen, msg, mlen) == 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
	return ok;
}

/* DER of a PEM public key file equals der. */
static void
assert_same_key(const char *pem, const unsigned char *der, size_t len)
{
	EVP_PKEY *k = pem_key(pem);
	unsigned char *d = NULL;
	int n = i2d_PUBKEY(k, &d);

	assert_int_equal((size_t)n, len);
	assert_memory_equal(d, der, len);
	OPENSSL_free(d);
	EVP_PKEY_free(k);
}

/* collect() must fail, logging reason (checked in the captured log). */
static void
expect_refusal(const struct attest_provider *p, const char *reason)
{
	char want[128], logs[16384];
	char *json = NULL;
	size_t n;
	FILE *f = tmpfile();

	assert_non_null(f);
	log_init("test_tpm_swtpm", f);
	assert_int_equal(p->collect("", digest, DIGEST_LEN, &json),
			 SP_E_ATTEST);
	assert_null(json);
	log_init("test_tpm_swtpm", NULL);
	rewind(f);
	n = fread(logs, 1, sizeof(logs) - 1, f);
	logs[n] = '\0';
	fclose(f);
	snprintf(want, sizeof(want), "\"reason\":\"%s\"", reason);
	if (strstr(logs, want) == NULL) {
		fail_msg("want %s in log:\n%s", want, logs);
	}
}

/* --- the plain "tpm" provider ------------------------------------- */

/*
 * The AK our provider derives is the primary tpm2_createprimary makes
 * from the same template: an operator can compute what to register.
 */
static void
tool_derived_ak(const char *pem)
{
	char ctx[PATH_LEN];

	path_in(ctx, "derived.ctx");
	assert_int_equal(RUN(NULL, "tpm2_createprimary", "-C", "e", "-g",
			     "sha256", "-G", "rsa2048:rsassa-sha256:null", "-a",
			     "fixedtpm|fixedparent|sensitivedataorigin|"
			     "userwithauth|restricted|sign",
			     "-c", ctx),
			 0);
	assert_int_equal(
	    RUN(NULL, "tpm2_readpublic", "-c", ctx, "-f", "pem", "-o", pem), 0);
	assert_int_equal(RUN(NULL, "tpm2_flushcontext", "-t"), 0);
}

/* Check one "tpm" evidence document against the TPM and the AK pem. */
static void
check_tpm_evidence(const char *json, const char *ak_pem)
{
	char msgf[PATH_LEN], sigf[PATH_LEN], pcrf[PATH_LEN];
	char nonce_hex[2 * 64 + 1], bad_hex[2 * DIGEST_LEN + 1], err[128];
	unsigned char tool[24][32], nonce[64];
	unsigned char *ak, *msg, *sig, *pcr;
	size_t aklen, mlen, slen, plen, i;
	yajl_val doc, q, pcrs;

	doc = json_parse(json, strlen(json), EVIDENCE_MAX, err, sizeof(err));
	assert_non_null(doc);
	q = json_get(doc, "tpm_quote");
	pcrs = json_get(q, "pcrs");
	assert_non_null(pcrs);
	assert_int_equal(pcrs->u.array.len, 24);
	ak = b64_any(json_get_str(doc, "ak_public"), B64_STD, &aklen);
	msg = b64_any(json_get_str(q, "message"), B64_STD, &mlen);
	sig = b64_any(json_get_str(q, "signature"), B64_STD, &slen);
	assert_same_key(ak_pem, ak, aklen);

	path_in(msgf, "quote.msg");
	path_in(sigf, "quote.sig");
	path_in(pcrf, "quote.pcrs");
	write_file(msgf, msg, mlen);
	write_file(sigf, sig, slen);
	tool_pcrs(tool, pcrf);
	for (i = 0; i < 24; i++) {
		pcr = unhex(pcrs->u.array.values[i]->u.string, &plen);
		assert_int_equal(plen, 32);
		assert_memory_equal(pcr, tool[i], 32);
		free(pcr);
	}

	/* Qualifying data: the digest zero-padded to 64 bytes. */
	memset(nonce, 0, sizeof(nonce));
	memcpy(nonce, digest, DIGEST_LEN);
	hex_arg(nonce_hex, nonce, sizeof(nonce));
	assert_int_equal(RUN(NULL, "tpm2_checkquote", "-u", ak_pem, "-m", msgf,
			     "-s", sigf, "-f", pcrf, "-g", "sha256", "-q",
			     nonce_hex),
			 0);
	hex_arg(bad_hex, digest, DIGEST_LEN);
	assert_int_not_equal(RUN(NULL, "tpm2_checkquote", "-u", ak_pem, "-m",
				 msgf, "-s", sigf, "-f", pcrf, "-g", "sha256",
				 "-q", bad_hex),
			     0);
	/* TPMT_SIGNATURE: sigAlg, hash, size, then the RSASSA bytes. */
	assert_true(openssl_verify(ak_pem, sig + 6, slen - 6, msg, mlen));

	free(ak);
	free(msg);
	free(sig);
	yajl_tree_free(doc);
}

/* Little-endian helpers for the synthetic event log. */
static void
put_le(unsigned char **p, uint32_t v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		*(*p)++ = (unsigned char)(v >> (8 * i));
	}
}

/*
 * A SHA-256-only crypto-agile event log whose records are exactly the
 * extends setup() made: its replay must reproduce the TPM's PCRs.
 */
static void
write_eventlog(const char *root)
{
	static const unsigned pcr[] = {0, 7, 8, 15, 16, 23};
	unsigned char buf[1024], dig[2][32], *p = buf;
	char path[2 * PATH_LEN];
	size_t i;

	assert_int_equal(hex_decode(PCR_EXT_A, 64, dig[0], 32), 0);
	assert_int_equal(hex_decode(PCR_EXT_B, 64, dig[1], 32), 0);
	put_le(&p, 0, 4);
	put_le(&p, 3, 4); /* EV_NO_ACTION */
	memset(p, 0, 20);
	p += 20;
	put_le(&p, 16 + 4 + 4 + 4 + 4 + 1, 4);
	memcpy(p, "Spec ID Event03", 16);
	p += 16;
	put_le(&p, 0, 4);
	put_le(&p, 0x02000200, 4); /* 2.0, errata 0, uintn 2 */
	put_le(&p, 1, 4);
	put_le(&p, 0x000B, 2);
	put_le(&p, 32, 2);
	*p++ = 0;
	for (i = 0; i < sizeof(pcr) / sizeof(pcr[0]); i++) {
		put_le(&p, pcr[i], 4);
		put_le(&p, 0x0000000d, 4); /* EV_IPL */
		put_le(&p, 1, 4);
		put_le(&p, 0x000B, 2);
		memcpy(p, dig[i % 2], 32);
		p += 32;
		put_le(&p, 0, 4);
	}
	snprintf(path, sizeof(path), "%s/sys/kernel/security/tpm0", root);
	assert_int_equal(RUN(NULL, "mkdir", "-p", path), 0);
	snprintf(path, sizeof(path),
		 "%s/sys/kernel/security/tpm0/binary_bios_measurements", root);
	write_file(path, buf, (size_t)(p - buf));
}

static void
test_tpm_derived_ak(void **state)
{
	char pem[PATH_LEN], root[PATH_LEN], logf[PATH_LEN];
	unsigned char *logs;
	char *json = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	if (!have_tools) {
		skip();
	}
	tpm_set_options(tcti, TPM_AK_CREATE);
	assert_int_equal(attest_tpm.detect("/nonexistent-root"), 1);

	/* The firmware log under root replays to the quoted PCRs. */
	path_in(root, "root");
	write_eventlog(root);
	path_in(logf, "events.log");
	f = fopen(logf, "w");
	assert_non_null(f);
	log_init("test_tpm_swtpm", f);
	log_set_level(LOG_INFO);
	assert_int_equal(attest_tpm.collect(root, digest, DIGEST_LEN, &json),
			 SP_OK);
	log_init("test_tpm_swtpm", NULL);
	log_set_level(LOG_ERR);
	fclose(f);
	logs = read_path(logf, &len);
	assert_non_null(
	    strstr((char *)logs, "\"event\":\"tpm.eventlog.replayed\""));
	/* PCR 0, 7, 8, 15, 16, 23 in the log; none differs. */
	assert_non_null(strstr((char *)logs, "\"pcrs_in_log_mask\":8487297"));
	assert_non_null(strstr((char *)logs, "\"pcrs_mismatch_mask\":0"));
	free(logs);

	path_in(pem, "derived.pem");
	tool_derived_ak(pem);
	check_tpm_evidence(json, pem);
	free(json);
}

/* Persistent Azure-style AK at 0x81000003, made by tpm2-tools. */
static void
tool_persistent_ak(const char *pem)
{
	char ek[PATH_LEN], ak[PATH_LEN], akpub[PATH_LEN], akname[PATH_LEN];

	path_in(ek, "ek.ctx");
	path_in(ak, "ak.ctx");
	path_in(akpub, "ak.pub");
	path_in(akname, "ak.name");
	if (RUN(NULL, "tpm2_readpublic", "-c", "0x81000003", "-f", "pem", "-o",
		pem) == 0) {
		return; /* an earlier test made it */
	}
	assert_int_equal(
	    RUN(NULL, "tpm2_createek", "-c", ek, "-G", "rsa", "-u", akpub), 0);
	assert_int_equal(RUN(NULL, "tpm2_createak", "-C", ek, "-c", ak, "-G",
			     "rsa", "-g", "sha256", "-s", "rsassa", "-u", akpub,
			     "-n", akname),
			 0);
	assert_int_equal(RUN(NULL, "tpm2_flushcontext", "-t"), 0);
	assert_int_equal(
	    RUN(NULL, "tpm2_evictcontrol", "-C", "o", "-c", ak, "0x81000003"),
	    0);
	assert_int_equal(RUN(NULL, "tpm2_flushcontext", "-t"), 0);
	assert_int_equal(RUN(NULL, "tpm2_flushcontext", "-l"), 0);
	assert_int_equal(RUN(NULL, "tpm2_readpublic", "-c", "0x81000003", "-f",
			     "pem", "-o", pem),
			 0);
}

static void
test_tpm_persistent_ak(void **state)
{
	char pem[PATH_LEN];
	char *json = NULL;

	(void)state;
	if (!have_tools) {
		skip();
	}
	path_in(pem, "az-ak.pem");
	tool_persistent_ak(pem);
	tpm_set_options(tcti, TPM_AZ_AK_HANDLE);
	assert_int_equal(attest_tpm.collect("", digest, DIGEST_LEN, &json),
			 SP_OK);
	check_tpm_evidence(json, pem);
	free(json);

	/* A handle with nothing behind it fails cleanly. */
	tpm_set_options(tcti, 0x81000077);
	expect_refusal(&attest_tpm, "ak_handle_missing");
}

/* No TPM at the TCTI: detect says no, collect fails, nothing hangs. */
static void
test_tpm_absent(void **state)
{
	char *json = NULL;

	(void)state;
	tpm_set_options(NULL, TPM_AK_CREATE);
	assert_int_equal(attest_tpm.detect("/nonexistent-root"), 0);
	assert_int_equal(attest_az_snp_vtpm.detect("/nonexistent-root"), 0);
	assert_int_equal(
	    attest_tpm.collect("/nonexistent-root", digest, DIGEST_LEN, &json),
	    SP_E_ATTEST);
	assert_null(json);
}

/* --- Azure: HCL report provisioning -------------------------------- */

/* Base64url (unpadded) of the AK modulus, for the HCLAkPub JWK. */
static char *
ak_modulus_b64url(const char *pem)
{
	EVP_PKEY *k = pem_key(pem);
	BIGNUM *n = NULL;
	unsigned char buf[512];
	char *out;
	int len;

	assert_int_equal(EVP_PKEY_get_bn_param(k, "n", &n), 1);
	len = BN_bn2bin(n, buf);
	out = b64_encode_alloc(buf, (size_t)len, B64_URL);
	assert_non_null(out);
	BN_free(n);
	EVP_PKEY_free(k);
	return out;
}

/*
 * An HCL report from sample (type SNP or TDX) whose var data carries
 * ak_pem as HCLAkPub and user (hex) as user-data; when bind, the
 * hardware report data is re-bound to the new var data.
 */
static size_t
make_hcl(const char *sample, const char *ak_pem, const char *user, int bind,
	 unsigned char *out, size_t cap)
{
	unsigned char *base, md[32];
	char var[2048], *n = ak_modulus_b64url(ak_pem);
	size_t blen = 0, vlen, total;
	uint32_t v;
	int len;

	len =
	    snprintf(var, sizeof(var),
		     "{\"keys\":[{\"kid\":\"HCLAkPub\",\"key_ops\":[\"sign\"],"
		     "\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"%s\"}],"
		     "\"vm-configuration\":{\"console-enabled\":true,"
		     "\"secure-boot\":true,\"tpm-enabled\":true,"
		     "\"vmUniqueId\":\"00000000-0000-0000-0000-000000000000\"}"
		     ",\"user-data\":\"%s\"}",
		     n, user);
	assert_true(len > 0 && (size_t)len < sizeof(var));
	vlen = (size_t)len;
	total = HCL_VAR_OFFSET + vlen;
	assert_true(total <= cap);

	base = read_path(sample, &blen);
	memcpy(out, base, HCL_VAR_OFFSET);
	memcpy(out + HCL_VAR_OFFSET, var, vlen);
	v = (uint32_t)total; /* little-endian host */
	memcpy(out + 8, &v, 4);
	v = (uint32_t)(vlen + HCL_IGVM_LEN);
	memcpy(out + HCL_IGVM_OFFSET, &v, 4);
	v = (uint32_t)vlen;
	memcpy(out + HCL_IGVM_OFFSET + 16, &v, 4);
	if (bind) {
		assert_int_equal(
		    EVP_Digest(var, vlen, md, NULL, EVP_sha256(), NULL), 1);
		/* REPORT_DATA: 0x50 in an SNP report, 0x80 in a TDREPORT. */
		len = out[HCL_IGVM_OFFSET + 8] == HCL_TYPE_SNP ? 0x50 : 0x80;
		memset(out + HCL_HW_OFFSET + len, 0, HCL_REPORTDATA_LEN);
		memcpy(out + HCL_HW_OFFSET + len, md, 32);
	}
	free(base);
	free(n);
	return total;
}

/* Put an HCL report at NV 0x01400001 (redefined at its size). */
static void
provision_hcl(const unsigned char *hcl, size_t len)
{
	char file[PATH_LEN], size[16];

	path_in(file, "hcl.bin");
	write_file(file, hcl, len);
	snprintf(size, sizeof(size), "%zu", len);
	(void)RUN(NULL, "tpm2_nvundefine", "-C", "o", "0x01400001");
	assert_int_equal(RUN(NULL, "tpm2_nvdefine", "0x01400001", "-C", "o",
			     "-s", size, "-a", "ownerread|ownerwrite"),
			 0);
	assert_int_equal(
	    RUN(NULL, "tpm2_nvwrite", "0x01400001", "-C", "o", "-i", file), 0);
}

/* Our user data as the HCL shows it: hex of the digest padded to 64. */
static void
user_hex(char *out, const unsigned char *d)
{
	unsigned char ud[AZ_USER_DATA_LEN];

	memset(ud, 0, sizeof(ud));
	memcpy(ud, d, DIGEST_LEN);
	hex_encode(ud, sizeof(ud), out);
}

/* --- Azure: IMDS stand-in ------------------------------------------ */

enum imds_mode { IMDS_OK, IMDS_WRONG_QUOTE };

static struct imds {
	int fd;
	int port;
	volatile int stop;
	enum imds_mode mode;
	int requests;
	int missing_header;
	unsigned char tdreport[HCL_TDREPORT_LEN];
	int got_tdreport;
	pthread_t thread;
} imds;

static void
send_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w <= 0) {
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

static void
reply(int fd, int status, const char *body)
{
	char head[256];
	int n;

	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		     status, strlen(body));
	send_all(fd, head, (size_t)n);
	send_all(fd, body, strlen(body));
}

/* The VCEK of the trustee-snp sample, as THIM serves it. */
static void
serve_thim(int fd)
{
	static const char tail[] = "-----END CERTIFICATE-----";
	struct strbuf sb;
	char *pem = NULL, *end;
	size_t len = 0;

	assert_int_equal(file_read_all(TD "azure-hcl/trustee-snp/vcek.pem",
				       FILE_MAX, &pem, &len),
			 SP_OK);
	end = strstr(pem, tail);
	assert_non_null(end);
	end[sizeof(tail) - 1] = '\0';
	strbuf_init(&sb, IMDS_REQ_MAX);
	strbuf_appends(&sb, "{\"vcekCert\":");
	strbuf_append_json_str(&sb, pem);
	strbuf_appends(&sb, ",\"certificateChain\":\"\",\"tcbm\":\"x\"}");
	reply(fd, 200, sb.buf);
	strbuf_free(&sb);
	free(pem);
}

/* A TD quote "for" the TDREPORT we got: the sample with its REPORTDATA. */
static void
serve_tdquote(int fd, const char *body)
{
	char err[128], *b64;
	unsigned char *tdr, *quote;
	struct strbuf sb;
	yajl_val doc;
	size_t tlen = 0, qlen = 0;

	doc = json_parse(body, strlen(body), IMDS_REQ_MAX, err, sizeof(err));
	if (json_get_str(doc, "report") == NULL) {
		reply(fd, 400, "{}");
		yajl_tree_free(doc);
		return;
	}
	tdr = b64_any(json_get_str(doc, "report"), B64_URL, &tlen);
	imds.got_tdreport = tlen == HCL_TDREPORT_LEN;
	if (imds.got_tdreport) {
		memcpy(imds.tdreport, tdr, HCL_TDREPORT_LEN);
	}
	quote = read_path(TD "azure-hcl/trustee-tdx/td-quote.bin", &qlen);
	if (imds.mode == IMDS_OK && imds.got_tdreport) {
		memcpy(quote + 568, tdr + 0x80, 64); /* v4 REPORTDATA */
	}
	b64 = b64_encode_alloc(quote, qlen, B64_URL);
	strbuf_init(&sb, IMDS_REQ_MAX);
	strbuf_appends(&sb, "{\"quote\":");
	strbuf_append_json_str(&sb, b64);
	strbuf_appends(&sb, "}");
	reply(fd, 200, sb.buf);
	strbuf_free(&sb);
	free(b64);
	free(quote);
	free(tdr);
	yajl_tree_free(doc);
}

/* Read one request (head and Content-Length body) and answer it. */
static void
imds_serve(int fd)
{
	static char req[IMDS_REQ_MAX + 1];
	size_t n = 0, want = 0;
	char *body, *cl;
	ssize_t r;

	for (;;) {
		r = read(fd, req + n, IMDS_REQ_MAX - n);
		if (r <= 0) {
			return;
		}
		n += (size_t)r;
		req[n] = '\0';
		body = strstr(req, "\r\n\r\n");
		if (body == NULL) {
			continue;
		}
		body += 4;
		cl = strcasestr(req, "Content-Length:");
		want = cl != NULL && cl < body ? strtoul(cl + 15, NULL, 10) : 0;
		if ((size_t)(req + n - body) >= want) {
			break;
		}
	}
	imds.requests++;
	if (strcasestr(req, "\r\nMetadata: true\r\n") == NULL) {
		imds.missing_header++;
		reply(fd, 400, "{}");
	} else if (strncmp(req, "GET /metadata/THIM/amd/certification ", 37) ==
		   0) {
		serve_thim(fd);
	} else if (strncmp(req, "POST /acc/tdquote ", 18) == 0) {
		serve_tdquote(fd, body);
	} else {
		reply(fd, 404, "{}");
	}
}

static void *
imds_main(void *arg)
{
	struct pollfd p;
	int c;

	(void)arg;
	p.fd = imds.fd;
	p.events = POLLIN;
	while (!imds.stop) {
		if (poll(&p, 1, 100) <= 0) {
			continue;
		}
		c = accept(imds.fd, NULL, NULL);
		if (c >= 0) {
			imds_serve(c);
			close(c);
		}
	}
	return NULL;
}

static void
imds_start(enum imds_mode mode)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	char url[64];

	memset(&imds, 0, sizeof(imds));
	imds.mode = mode;
	imds.fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(imds.fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(imds.fd, 4), 0);
	assert_int_equal(getsockname(imds.fd, (struct sockaddr *)&a, &alen), 0);
	imds.port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&imds.thread, NULL, imds_main, NULL),
			 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", imds.port);
	az_vtpm_set_imds(url);
}

static void
imds_stop(void)
{
	imds.stop = 1;
	pthread_join(imds.thread, NULL);
	close(imds.fd);
	az_vtpm_set_imds(NULL);
}

/* --- Azure: checks -------------------------------------------------- */

/* The TPM side of an az-* evidence document; returns the parsed doc. */
static yajl_val
check_az_common(const char *json, const char *ak_pem, const unsigned char *hcl,
		size_t hcl_len)
{
	char msgf[PATH_LEN], sigf[PATH_LEN], pcrf[PATH_LEN], err[128];
	char qhex[2 * DIGEST_LEN + 1], nv[PATH_LEN];
	unsigned char tool[24][32], *msg, *sig, *rep, *pcr, *ud;
	size_t mlen, slen, rlen, plen, udlen = 0, i;
	uint64_t version = 0;
	yajl_val doc, q, pcrs;

	doc = json_parse(json, strlen(json), EVIDENCE_MAX, err, sizeof(err));
	assert_non_null(doc);
	assert_int_equal(json_get_u64(doc, "version", &version), 0);
	assert_int_equal(version, 2);
	q = json_get(doc, "tpm_quote");
	pcrs = json_get(q, "pcrs");
	assert_non_null(pcrs);
	assert_int_equal(pcrs->u.array.len, 24);
	msg = unhex(json_get_str(q, "message"), &mlen);
	sig = unhex(json_get_str(q, "signature"), &slen);
	assert_int_equal(slen, 256); /* raw RSASSA, no TPMT header */
	rep = b64_any(json_get_str(doc, "hcl_report"), B64_URL, &rlen);
	assert_int_equal(strlen(json_get_str(doc, "hcl_report")) % 4, 0);
	assert_true(rlen >= hcl_len);
	assert_memory_equal(rep, hcl, hcl_len);

	/* Independent checks: tpm2_checkquote with the plain signature,
	 * over PCRs tpm2_pcrread reads itself; extraData = digest, exact. */
	path_in(msgf, "az.msg");
	path_in(sigf, "az.sig");
	path_in(pcrf, "az.pcrs");
	write_file(msgf, msg, mlen);
	write_file(sigf, sig, slen);
	tool_pcrs(tool, pcrf);
	for (i = 0; i < 24; i++) {
		pcr = unhex(pcrs->u.array.values[i]->u.string, &plen);
		assert_memory_equal(pcr, tool[i], 32);
		free(pcr);
	}
	hex_arg(qhex, digest, DIGEST_LEN);
	assert_int_equal(RUN(NULL, "tpm2_checkquote", "-u", ak_pem, "-m", msgf,
			     "-s", sigf, "-F", "plain", "-f", pcrf, "-g",
			     "sha256", "-q", qhex),
			 0);
	assert_true(openssl_verify(ak_pem, sig, slen, msg, mlen));

	/* The user data we wrote to NV 0x01400002. */
	path_in(nv, "ud.bin");
	assert_int_equal(
	    RUN(NULL, "tpm2_nvread", "0x01400002", "-C", "o", "-o", nv), 0);
	ud = read_path(nv, &udlen);
	assert_int_equal(udlen, AZ_USER_DATA_LEN);
	assert_memory_equal(ud, digest, DIGEST_LEN);
	for (i = DIGEST_LEN; i < AZ_USER_DATA_LEN; i++) {
		assert_int_equal(ud[i], 0);
	}
	free(ud);

	free(msg);
	free(sig);
	free(rep);
	return doc;
}

static void
test_az_snp(void **state)
{
	unsigned char hcl[NV_INDEX_MAX], *der = NULL, *vcek;
	char pem[PATH_LEN], ud[129], *json = NULL;
	const struct attest_provider *p = NULL;
	size_t hlen, vlen;
	yajl_val doc;
	X509 *cert;
	FILE *f;
	int dlen;

	(void)state;
	if (!have_tools) {
		skip();
	}
	path_in(pem, "az-ak.pem");
	tool_persistent_ak(pem);
	user_hex(ud, digest);
	hlen = make_hcl(TD "azure-hcl/trustee-snp/hcl-report.bin", pem, ud, 1,
			hcl, sizeof(hcl));
	provision_hcl(hcl, hlen);
	tpm_set_options(tcti, TPM_AK_CREATE);

	/* Detection: this vTPM is an SNP CVM, and auto picks it. */
	assert_int_equal(attest_az_snp_vtpm.detect(""), 1);
	assert_int_equal(attest_az_tdx_vtpm.detect(""), 0);
	assert_int_equal(attest_detect("", &p), SP_OK);
	assert_string_equal(p->tee, "az-snp-vtpm");

	imds_start(IMDS_OK);
	assert_int_equal(
	    attest_az_snp_vtpm.collect("", digest, DIGEST_LEN, &json), SP_OK);
	imds_stop();
	assert_int_equal(imds.missing_header, 0);
	assert_int_equal(imds.requests, 1);

	doc = check_az_common(json, pem, hcl, hlen);
	vcek = b64_any(json_get_str(doc, "vcek"), B64_URL, &vlen);
	f = fopen(TD "azure-hcl/trustee-snp/vcek.pem", "r");
	assert_non_null(f);
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(cert);
	dlen = i2d_X509(cert, &der);
	assert_int_equal((size_t)dlen, vlen);
	assert_memory_equal(der, vcek, vlen);
	OPENSSL_free(der);
	X509_free(cert);
	free(vcek);
	yajl_tree_free(doc);
	free(json);
}

/* Stale user data, a foreign AK, a broken binding: all refused. */
static void
test_az_refusals(void **state)
{
	unsigned char hcl[NV_INDEX_MAX], other[DIGEST_LEN];
	char pem[PATH_LEN], ud[129], foreign[PATH_LEN];
	size_t hlen;

	(void)state;
	if (!have_tools) {
		skip();
	}
	path_in(pem, "az-ak.pem");
	tool_persistent_ak(pem);
	tpm_set_options(tcti, TPM_AK_CREATE);
	imds_start(IMDS_OK);

	/* The paravisor never refreshed the report: other user data. */
	memset(other, 0x5a, sizeof(other));
	user_hex(ud, other);
	hlen = make_hcl(TD "azure-hcl/trustee-snp/hcl-report.bin", pem, ud, 1,
			hcl, sizeof(hcl));
	provision_hcl(hcl, hlen);
	expect_refusal(&attest_az_snp_vtpm, "hcl_user_data_stale");

	/* Our user data, but the report names another AK. */
	path_in(foreign, "derived.pem");
	tool_derived_ak(foreign);
	user_hex(ud, digest);
	hlen = make_hcl(TD "azure-hcl/trustee-snp/hcl-report.bin", foreign, ud,
			1, hcl, sizeof(hcl));
	provision_hcl(hcl, hlen);
	expect_refusal(&attest_az_snp_vtpm, "ak_not_hcl_akpub");

	/* Var data not bound to the hardware report. */
	hlen = make_hcl(TD "azure-hcl/trustee-snp/hcl-report.bin", pem, ud, 0,
			hcl, sizeof(hcl));
	provision_hcl(hcl, hlen);
	expect_refusal(&attest_az_snp_vtpm, "hcl_var_data_unbound");

	/* The other platform's provider refuses an SNP report. */
	hlen = make_hcl(TD "azure-hcl/trustee-snp/hcl-report.bin", pem, ud, 1,
			hcl, sizeof(hcl));
	provision_hcl(hcl, hlen);
	expect_refusal(&attest_az_tdx_vtpm, "hcl_report_type_mismatch");
	imds_stop();
	assert_int_equal(imds.requests, 0); /* nothing got that far */
}

static void
test_az_tdx(void **state)
{
	unsigned char hcl[NV_INDEX_MAX], *quote, *sample;
	char pem[PATH_LEN], ud[129], *json = NULL;
	const struct attest_provider *p = NULL;
	size_t hlen, qlen, slen;
	yajl_val doc;

	(void)state;
	if (!have_tools) {
		skip();
	}
	path_in(pem, "az-ak.pem");
	tool_persistent_ak(pem);
	user_hex(ud, digest);
	hlen = make_hcl(TD "azure-hcl/trustee-tdx/hcl-report.bin", pem, ud, 1,
			hcl, sizeof(hcl));
	provision_hcl(hcl, hlen);
	/* A leftover user-data index of the wrong size gets redefined. */
	(void)RUN(NULL, "tpm2_nvundefine", "-C", "o", "0x01400002");
	assert_int_equal(RUN(NULL, "tpm2_nvdefine", "0x01400002", "-C", "o",
			     "-s", "32", "-a", "ownerread|ownerwrite"),
			 0);
	tpm_set_options(tcti, TPM_AK_CREATE);

	assert_int_equal(attest_az_tdx_vtpm.detect(""), 1);
	assert_int_equal(attest_az_snp_vtpm.detect(""), 0);
	assert_int_equal(attest_detect("", &p), SP_OK);
	assert_string_equal(p->tee, "az-tdx-vtpm");

	imds_start(IMDS_OK);
	assert_int_equal(
	    attest_az_tdx_vtpm.collect("", digest, DIGEST_LEN, &json), SP_OK);
	imds_stop();
	assert_int_equal(imds.missing_header, 0);
	assert_true(imds.got_tdreport);
	assert_memory_equal(imds.tdreport, hcl + HCL_HW_OFFSET,
			    HCL_TDREPORT_LEN);

	doc = check_az_common(json, pem, hcl, hlen);
	quote = b64_any(json_get_str(doc, "td_quote"), B64_URL, &qlen);
	sample = read_path(TD "azure-hcl/trustee-tdx/td-quote.bin", &slen);
	assert_int_equal(qlen, slen);
	assert_memory_equal(quote + 568, hcl + HCL_HW_OFFSET + 0x80, 64);
	assert_memory_equal(quote, sample, 568);
	free(sample);
	free(quote);
	yajl_tree_free(doc);
	free(json);

	/* IMDS answering with a quote for some other TDREPORT. */
	imds_start(IMDS_WRONG_QUOTE);
	expect_refusal(&attest_az_tdx_vtpm, "td_quote_not_for_tdreport");
	imds_stop();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tpm_absent),
	    cmocka_unit_test(test_tpm_derived_ak),
	    cmocka_unit_test(test_tpm_persistent_ak),
	    cmocka_unit_test(test_az_snp),
	    cmocka_unit_test(test_az_refusals),
	    cmocka_unit_test(test_az_tdx),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
