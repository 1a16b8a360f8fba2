/*
 * snp.c: the "snp" evidence provider (kbs-protocol.md §4.4).
 *
 * The 64-byte report data is the runtime-data digest zero-padded at the
 * end. Current kernels give the report through configfs-tsm (provider
 * sev_guest; auxblob holds the host's certificate table); kernels before
 * 6.7 only through the SNP_GET_EXT_REPORT ioctl on /dev/sev-guest. Both
 * are asked at VMPL 0, which the Trustee verifier requires.
 *
 * Never retry a firmware error: the kernel wipes the VMPCK after one, so
 * every later request fails until reboot (tee-guest-interfaces.md §3.1).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/sev-guest.h>

#include "attest.h"
#include "attest_providers.h"
#include "le.h"
#include "log.h"
#include "snp.h"
#include "snp_report.h"
#include "tsm.h"

#define SNP_PATH_MAX	 4096
#define SNP_PAGE_SIZE	 4096
#define SNP_CERT_ENTRY	 24
#define SNP_VERSION_WANT 3 /* Trustee accepts report versions 3..5 */

static int (*snp_ioctl_hook)(int, unsigned long, void *);

void
snp_set_ioctl_hook(int (*hook)(int fd, unsigned long req, void *arg))
{
	snp_ioctl_hook = hook;
}

static int
snp_ioctl(int fd, unsigned long req, void *arg)
{
	return snp_ioctl_hook != NULL ? snp_ioctl_hook(fd, req, arg)
				      : ioctl(fd, req, arg);
}

static int
root_path(char *out, size_t cap, const char *root, const char *path)
{
	int n = snprintf(out, cap, "%s%s", root, path);

	return n > 0 && (size_t)n < cap ? 0 : -1;
}

static int
snp_detect(const char *root)
{
	char provider[TSM_ATTR_MAX];
	char dev[SNP_PATH_MAX];
	struct stat st;
	int found = 0;

	if (tsm_provider(root, provider, sizeof(provider)) == SP_OK &&
	    strcmp(provider, SNP_TSM_PROVIDER) == 0) {
		log_event(LOG_INFO, "attest.detect.signal", NULL,
			  LOG_STR("tee", "snp"),
			  LOG_STR("signal", "configfs_tsm_provider"),
			  LOG_STR("provider", provider));
		found = 1;
	} else if (root_path(dev, sizeof(dev), root, SNP_DEVICE) == 0 &&
		   stat(dev, &st) == 0) {
		log_event(LOG_INFO, "attest.detect.signal", NULL,
			  LOG_STR("tee", "snp"),
			  LOG_STR("signal", "device_node"),
			  LOG_STR("path", SNP_DEVICE));
		found = 1;
	}
	return found;
}

static int
entry_is_zero(const unsigned char *e)
{
	unsigned char any = 0;
	size_t i;

	for (i = 0; i < SNP_CERT_ENTRY; i++) {
		any |= e[i];
	}
	return any == 0;
}

/*
 * Bytes of the certificate table in use: the entries, their terminator
 * and every certificate they point at (clamped to len; the parser
 * rejects entries that point outside). 0 for an empty table.
 */
static size_t
cert_table_extent(const unsigned char *t, size_t len)
{
	size_t at, end = 0;
	uint64_t stop;

	for (at = 0; at + SNP_CERT_ENTRY <= len; at += SNP_CERT_ENTRY) {
		if (end < at + SNP_CERT_ENTRY) {
			end = at + SNP_CERT_ENTRY;
		}
		if (entry_is_zero(t + at)) {
			break;
		}
		stop = (uint64_t)le_get32(t + at + 16) + le_get32(t + at + 20);
		if (stop > len) {
			stop = len;
		}
		if (stop > end) {
			end = (size_t)stop;
		}
	}
	return len >= SNP_CERT_ENTRY && entry_is_zero(t) ? 0 : end;
}

/* Why the ioctl failed, from errno and the VMM/firmware error words. */
static const char *
ioctl_reason(int err, const struct snp_guest_request_ioctl *io)
{
	const char *r = "snp_firmware_error";

	if (err == ENOTTY) {
		r = "snp_vmpck_disabled_or_no_driver";
	} else if (io->vmm_error == SNP_GUEST_VMM_ERR_INVALID_LEN) {
		r = "snp_certs_buffer_too_small";
	} else if (io->vmm_error == SNP_GUEST_VMM_ERR_BUSY) {
		r = "snp_host_busy";
	} else if (io->fw_error == 0) {
		r = "snp_ioctl_failed";
	}
	return r;
}

/* The report out of a MSG_REPORT_RSP: status, size, report at 32. */
static enum sp_err
resp_report(const unsigned char *resp, unsigned char **report, size_t *rlen)
{
	uint32_t status = le_get32(resp);
	uint32_t size = le_get32(resp + 4);
	enum sp_err rc = SP_E_ATTEST;

	if (status != 0) {
		log_event(LOG_ERR, "attest.snp.failed", "snp_report_status",
			  LOG_U64("status", status));
		goto out;
	}
	if (size < SNP_REPORT_LEN || size > SNP_RESP_LEN - SNP_RESP_HDR_LEN) {
		log_event(LOG_ERR, "attest.snp.failed", "snp_report_size",
			  LOG_U64("bytes", size));
		goto out;
	}
	*report = malloc(size);
	if (*report == NULL) {
		rc = SP_E_INTERNAL;
		goto out;
	}
	memcpy(*report, resp + SNP_RESP_HDR_LEN, size);
	*rlen = size;
	rc = SP_OK;
out:
	return rc;
}

/* The used part of the certificate buffer, copied; NULL when empty. */
static enum sp_err
copy_certs(const unsigned char *buf, unsigned char **certs, size_t *clen)
{
	size_t n = cert_table_extent(buf, SNP_EXT_CERTS_LEN);
	enum sp_err rc = SP_OK;

	*certs = NULL;
	*clen = 0;
	if (n > 0) {
		*certs = malloc(n);
		if (*certs == NULL) {
			rc = SP_E_INTERNAL;
		} else {
			memcpy(*certs, buf, n);
			*clen = n;
		}
	}
	return rc;
}

/* One SNP_GET_EXT_REPORT on an open device; never repeated. */
static enum sp_err
ext_report_once(int fd, const unsigned char *rd, unsigned char *resp,
		unsigned char *certbuf)
{
	struct snp_guest_request_ioctl io;
	struct snp_ext_report_req req;
	enum sp_err rc = SP_OK;
	int err;

	memset(&req, 0, sizeof(req));
	memset(&io, 0, sizeof(io));
	memcpy(req.data.user_data, rd, sizeof(req.data.user_data));
	req.data.vmpl = 0;
	req.certs_address = (uint64_t)(uintptr_t)certbuf;
	req.certs_len = SNP_EXT_CERTS_LEN;
	io.msg_version = SNP_MSG_VERSION;
	io.req_data = (uint64_t)(uintptr_t)&req;
	io.resp_data = (uint64_t)(uintptr_t)resp;

	if (snp_ioctl(fd, SNP_GET_EXT_REPORT, &io) != 0) {
		err = errno;
		log_event(LOG_ERR, "attest.snp.failed", ioctl_reason(err, &io),
			  LOG_STR("path", SNP_DEVICE),
			  LOG_U64("fw_error", io.fw_error),
			  LOG_U64("vmm_error", io.vmm_error), LOG_ERRNO(err));
		rc = SP_E_ATTEST;
	}
	return rc;
}

enum sp_err
snp_ext_report(const char *root, const unsigned char rd[64],
	       unsigned char **report, size_t *rlen, unsigned char **certs,
	       size_t *clen)
{
	unsigned char *resp = NULL, *certbuf = NULL;
	char dev[SNP_PATH_MAX];
	enum sp_err rc = SP_E_ATTEST;
	int fd = -1;

	*report = NULL;
	*certs = NULL;
	if (root_path(dev, sizeof(dev), root, SNP_DEVICE) != 0) {
		goto out;
	}
	fd = open(dev, O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && errno == ENOENT) {
		rc = SP_E_NOTFOUND; /* the caller says what is missing */
		goto out;
	}
	if (fd < 0) {
		log_event(LOG_ERR, "attest.snp.failed", "snp_device_unusable",
			  LOG_STR("path", SNP_DEVICE), LOG_ERRNO(errno));
		goto out;
	}
	resp = calloc(1, SNP_RESP_LEN);
	certbuf = aligned_alloc(SNP_PAGE_SIZE, SNP_EXT_CERTS_LEN);
	if (resp == NULL || certbuf == NULL) {
		rc = SP_E_INTERNAL;
		goto out;
	}
	memset(certbuf, 0, SNP_EXT_CERTS_LEN);

	rc = ext_report_once(fd, rd, resp, certbuf);
	if (rc == SP_OK) {
		rc = resp_report(resp, report, rlen);
	}
	if (rc == SP_OK) {
		rc = copy_certs(certbuf, certs, clen);
	}
out:
	if (rc != SP_OK) {
		free(*report);
		*report = NULL;
	}
	if (fd >= 0) {
		close(fd);
	}
	free(resp);
	free(certbuf);
	return rc;
}

/* The report must carry our report data; warn of what Trustee refuses. */
static enum sp_err
check_report(const unsigned char *report, size_t rlen, const unsigned char *rd)
{
	enum sp_err rc = SP_E_ATTEST;
	struct snp_report r;
	const char *why = NULL;

	if (snp_report_parse(report, rlen, &r, &why) != SP_OK) {
		log_event(LOG_ERR, "attest.snp.failed", why,
			  LOG_U64("bytes", rlen));
		goto out;
	}
	if (memcmp(r.report_data, rd, SNP_REPORT_DATA_LEN) != 0) {
		log_event(LOG_ERR, "attest.snp.failed",
			  "snp_report_data_mismatch");
		goto out;
	}
	if (r.version < SNP_VERSION_WANT || r.vmpl != 0) {
		log_event(LOG_WARN, "attest.snp.report_unacceptable",
			  r.vmpl != 0 ? "snp_vmpl_not_zero"
				      : "snp_report_version_old",
			  LOG_U64("version", r.version),
			  LOG_U64("vmpl", r.vmpl));
	}
	rc = SP_OK;
out:
	return rc;
}

/* What the host's table held, and whether it goes to the verifier. */
static void
log_certs(const unsigned char *certs, size_t clen)
{
	struct snp_cert c[SNP_CERTS_MAX];
	const char *why;
	size_t n = 0, i;
	int vek = 0;

	if (clen > 0 &&
	    snp_certs_parse(certs, clen, c, SNP_CERTS_MAX, &n, &why) != SP_OK) {
		n = 0;
	}
	for (i = 0; i < n; i++) {
		vek |= (c[i].type == SNP_CERT_VCEK ||
			c[i].type == SNP_CERT_VLEK) &&
		       c[i].len > 0;
	}
	log_event(LOG_INFO, "attest.snp.certs", vek ? NULL : "no_vek_from_host",
		  LOG_U64("entries", n), LOG_BOOL("cert_chain_sent", vek));
}

/* The report and certificate table from configfs-tsm or the device. */
static enum sp_err
get_report(const char *root, const unsigned char *rd, struct tsm_report *rep)
{
	enum sp_err rc;

	if (tsm_present(root)) {
		rc = tsm_report_get(root, SNP_TSM_PROVIDER, rd, 1, rep);
	} else {
		rc = snp_ext_report(root, rd, &rep->outblob, &rep->outlen,
				    &rep->auxblob, &rep->auxlen);
	}
	if (rc == SP_E_NOTFOUND) {
		log_event(LOG_ERR, "attest.snp.failed", "snp_no_interface",
			  LOG_STR("configfs", TSM_REPORT_DIR),
			  LOG_STR("device", SNP_DEVICE));
		rc = SP_E_ATTEST;
	}
	return rc;
}

static enum sp_err
snp_collect(const char *root, const unsigned char *digest, size_t dlen,
	    char **json)
{
	unsigned char rd[SNP_REPORT_DATA_LEN];
	enum sp_err rc = SP_E_ATTEST;
	struct tsm_report rep;
	const char *why = NULL;

	memset(&rep, 0, sizeof(rep));
	if (digest == NULL || dlen == 0 || dlen > sizeof(rd)) {
		log_event(LOG_ERR, "attest.snp.failed", "report_data_too_long",
			  LOG_U64("bytes", dlen));
		goto out;
	}
	memset(rd, 0, sizeof(rd));
	memcpy(rd, digest, dlen);

	rc = get_report(root, rd, &rep);
	if (rc == SP_OK) {
		rc = check_report(rep.outblob, rep.outlen, rd);
	}
	if (rc != SP_OK) {
		rc = SP_E_ATTEST;
		goto out;
	}
	rc = snp_evidence_json(rep.outblob, rep.outlen, rep.auxblob, rep.auxlen,
			       json, &why);
	if (rc != SP_OK) {
		log_event(LOG_ERR, "attest.snp.failed", why);
		goto out;
	}
	log_certs(rep.auxblob, rep.auxlen);
out:
	tsm_report_free(&rep);
	return rc;
}

const struct attest_provider attest_snp = {
    .tee = "snp",
    .detect = snp_detect,
    .collect = snp_collect,
};
