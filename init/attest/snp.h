/*
 * snp.h: the "snp" evidence provider's parts that tests reach directly
 * (kbs-protocol.md §4.4; tee-guest-interfaces.md §3.1).
 */
#ifndef SEALPOD_SNP_H
#define SEALPOD_SNP_H

#include <stddef.h>

#include "err.h"

#define SNP_TSM_PROVIDER  "sev_guest"
#define SNP_DEVICE	  "/dev/sev-guest"
#define SNP_MSG_VERSION	  1
#define SNP_RESP_HDR_LEN  32	      /* u32 status, u32 report_size, rsvd */
#define SNP_RESP_LEN	  4000	      /* struct snp_report_resp */
#define SNP_EXT_CERTS_LEN (16 * 1024) /* SEV_FW_BLOB_MAX_SIZE, 4 pages */

/*
 * Test seam for the /dev/sev-guest path: hook(fd, request, arg) runs
 * instead of ioctl(2) and returns what it would (-1 with errno set on
 * failure). NULL (the default) calls the kernel. Not thread-safe.
 */
void snp_set_ioctl_hook(int (*hook)(int fd, unsigned long req, void *arg));

/*
 * One SNP_GET_EXT_REPORT on <root>/dev/sev-guest at VMPL 0 with the
 * 64-byte report data rd: *report gets the report (malloc'd, *rlen
 * bytes), *certs the host's certificate table (malloc'd, NULL when the
 * host gave none). Issued exactly once: a firmware error wipes the
 * guest's VMPCK, so it is reported, never retried. Returns SP_OK,
 * SP_E_NOTFOUND when the device is missing, or SP_E_ATTEST (logged).
 */
SP_MUST_CHECK enum sp_err snp_ext_report(const char *root,
					 const unsigned char rd[64],
					 unsigned char **report, size_t *rlen,
					 unsigned char **certs, size_t *clen);

#endif
