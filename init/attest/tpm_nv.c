/*
 * tpm_nv.c: TPM NV indexes through ESAPI: existence, whole-index reads
 * in TPM2_PT_NV_BUFFER_MAX chunks, and owner-authorised writes that
 * (re)define the index at the size written. Used for the Azure vTPM
 * indexes (az_vtpm.c); the session is tpm.c's.
 */
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_esys.h>

#include "log.h"
#include "tpm.h"
#include "tpm_session.h"

#define TPM_NV_WRITE_MAX 1024
#define TPM_NV_CHUNK_MIN 512 /* the PC Client minimum NV buffer */
/* TPM_RC of an NV index defined but never written. */
#define TPM_RC_NV_UNINIT TPM2_RC_NV_UNINITIALIZED

/* The ESYS_TR of an NV index; SP_E_NOTFOUND when it does not exist. */
static enum sp_err
nv_handle(struct tpm *t, uint32_t index, ESYS_TR *nvh, TPM2B_NV_PUBLIC **pub)
{
	TSS2_RC trc;

	*nvh = ESYS_TR_NONE;
	trc = Esys_TR_FromTPMPublic(t->ectx, index, ESYS_TR_NONE, ESYS_TR_NONE,
				    ESYS_TR_NONE, nvh);
	if (trc == TPM_RC_NO_HANDLE) {
		return SP_E_NOTFOUND;
	}
	if (trc == TSS2_RC_SUCCESS) {
		trc = Esys_NV_ReadPublic(t->ectx, *nvh, ESYS_TR_NONE,
					 ESYS_TR_NONE, ESYS_TR_NONE, pub, NULL);
	}
	if (trc != TSS2_RC_SUCCESS) {
		log_event(LOG_ERR, "tpm.nv.failed", "nv_public_failed",
			  LOG_U64("nv_index", index), LOG_U64("tpm_rc", trc));
		return SP_E_ATTEST;
	}
	return SP_OK;
}

static void
nv_close(struct tpm *t, ESYS_TR *nvh)
{
	if (*nvh != ESYS_TR_NONE) {
		(void)Esys_TR_Close(t->ectx, nvh);
		*nvh = ESYS_TR_NONE;
	}
}

int
tpm_nv_exists(struct tpm *t, uint32_t index)
{
	TPM2B_NV_PUBLIC *pub = NULL;
	ESYS_TR nvh;
	int found;

	found = nv_handle(t, index, &nvh, &pub) == SP_OK;
	Esys_Free(pub);
	nv_close(t, &nvh);
	return found;
}

/* TPM2_PT_NV_BUFFER_MAX: the largest NV_Read/NV_Write chunk. */
static size_t
nv_chunk(struct tpm *t)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	size_t n = TPM_NV_CHUNK_MIN;
	TSS2_RC trc;

	trc = Esys_GetCapability(t->ectx, ESYS_TR_NONE, ESYS_TR_NONE,
				 ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES,
				 TPM2_PT_NV_BUFFER_MAX, 1, &more, &cap);
	if (trc == TSS2_RC_SUCCESS && cap->data.tpmProperties.count == 1 &&
	    cap->data.tpmProperties.tpmProperty[0].property ==
		TPM2_PT_NV_BUFFER_MAX) {
		n = cap->data.tpmProperties.tpmProperty[0].value;
	}
	Esys_Free(cap);
	if (n == 0 || n > TPM2_MAX_NV_BUFFER_SIZE) {
		n = TPM2_MAX_NV_BUFFER_SIZE;
	}
	return n;
}

/* Who authorises reads of this index: the owner, or the index itself. */
static ESYS_TR
nv_read_auth(const TPM2B_NV_PUBLIC *pub, ESYS_TR nvh)
{
	return (pub->nvPublic.attributes & TPMA_NV_OWNERREAD) != 0
		   ? ESYS_TR_RH_OWNER
		   : nvh;
}

/* Read size bytes in chunks into buf. */
static enum sp_err
nv_read_chunks(struct tpm *t, ESYS_TR auth, ESYS_TR nvh, unsigned char *buf,
	       size_t size)
{
	TPM2B_MAX_NV_BUFFER *data = NULL;
	size_t off = 0, chunk = nv_chunk(t), n;
	TSS2_RC trc;

	while (off < size) {
		n = size - off < chunk ? size - off : chunk;
		trc = Esys_NV_Read(t->ectx, auth, nvh, ESYS_TR_PASSWORD,
				   ESYS_TR_NONE, ESYS_TR_NONE, (UINT16)n,
				   (UINT16)off, &data);
		if (trc != TSS2_RC_SUCCESS || data->size != n) {
			Esys_Free(data);
			log_event(LOG_ERR, "tpm.nv.failed",
				  trc == TPM_RC_NV_UNINIT ? "nv_uninitialized"
							  : "nv_read_failed",
				  LOG_U64("tpm_rc", trc));
			return trc == TPM_RC_NV_UNINIT ? SP_E_NOTFOUND
						       : SP_E_ATTEST;
		}
		memcpy(buf + off, data->buffer, n);
		Esys_Free(data);
		data = NULL;
		off += n;
	}
	return SP_OK;
}

enum sp_err
tpm_nv_read(struct tpm *t, uint32_t index, size_t max, unsigned char **out,
	    size_t *len)
{
	enum sp_err rc;
	TPM2B_NV_PUBLIC *pub = NULL;
	unsigned char *buf = NULL;
	ESYS_TR nvh;
	size_t size;

	rc = nv_handle(t, index, &nvh, &pub);
	if (rc != SP_OK) {
		goto out;
	}

	rc = SP_E_ATTEST;
	size = pub->nvPublic.dataSize;
	if (size == 0 || size > max || max > TPM_NV_MAX) {
		log_event(LOG_ERR, "tpm.nv.failed", "nv_size_out_of_range",
			  LOG_U64("nv_index", index), LOG_U64("size", size));
		goto out;
	}
	buf = malloc(size);
	if (buf == NULL) {
		rc = SP_E_INTERNAL;
		goto out;
	}
	rc = nv_read_chunks(t, nv_read_auth(pub, nvh), nvh, buf, size);
	if (rc != SP_OK) {
		goto out;
	}
	*out = buf;
	*len = size;
	buf = NULL;
out:
	free(buf);
	Esys_Free(pub);
	nv_close(t, &nvh);
	return rc;
}

/* Define index with size bytes, owner read and write. */
static enum sp_err
nv_define(struct tpm *t, uint32_t index, size_t size, ESYS_TR *nvh)
{
	TPM2B_NV_PUBLIC pub;
	TPM2B_AUTH auth;
	TSS2_RC trc;

	memset(&pub, 0, sizeof(pub));
	memset(&auth, 0, sizeof(auth));
	pub.nvPublic.nvIndex = index;
	pub.nvPublic.nameAlg = TPM2_ALG_SHA256;
	pub.nvPublic.attributes = TPMA_NV_OWNERWRITE | TPMA_NV_OWNERREAD;
	pub.nvPublic.dataSize = (UINT16)size;
	trc = Esys_NV_DefineSpace(t->ectx, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
				  ESYS_TR_NONE, ESYS_TR_NONE, &auth, &pub, nvh);
	if (trc != TSS2_RC_SUCCESS) {
		log_event(LOG_ERR, "tpm.nv.failed", "nv_define_failed",
			  LOG_U64("nv_index", index), LOG_U64("tpm_rc", trc));
		return SP_E_ATTEST;
	}
	return SP_OK;
}

/* An index of exactly size bytes: keep, define or redefine. */
static enum sp_err
nv_sized(struct tpm *t, uint32_t index, size_t size, ESYS_TR *nvh)
{
	enum sp_err rc;
	TPM2B_NV_PUBLIC *pub = NULL;
	TSS2_RC trc;

	rc = nv_handle(t, index, nvh, &pub);
	if (rc == SP_OK && pub->nvPublic.dataSize != size) {
		trc = Esys_NV_UndefineSpace(t->ectx, ESYS_TR_RH_OWNER, *nvh,
					    ESYS_TR_PASSWORD, ESYS_TR_NONE,
					    ESYS_TR_NONE);
		/* UndefineSpace invalidates the ESYS_TR on success. */
		if (trc == TSS2_RC_SUCCESS) {
			*nvh = ESYS_TR_NONE;
			rc = SP_E_NOTFOUND;
		} else {
			log_event(
			    LOG_ERR, "tpm.nv.failed", "nv_undefine_failed",
			    LOG_U64("nv_index", index), LOG_U64("tpm_rc", trc));
			rc = SP_E_ATTEST;
		}
	}
	if (rc == SP_E_NOTFOUND) {
		rc = nv_define(t, index, size, nvh);
	}
	Esys_Free(pub);
	return rc;
}

enum sp_err
tpm_nv_write(struct tpm *t, uint32_t index, const unsigned char *buf,
	     size_t len)
{
	enum sp_err rc = SP_E_ATTEST;
	TPM2B_MAX_NV_BUFFER data;
	ESYS_TR nvh = ESYS_TR_NONE;
	TSS2_RC trc;

	if (buf == NULL || len == 0 || len > TPM_NV_WRITE_MAX) {
		goto out;
	}
	rc = nv_sized(t, index, len, &nvh);
	if (rc != SP_OK) {
		goto out;
	}

	rc = SP_E_ATTEST;
	memset(&data, 0, sizeof(data));
	memcpy(data.buffer, buf, len);
	data.size = (UINT16)len;
	trc = Esys_NV_Write(t->ectx, ESYS_TR_RH_OWNER, nvh, ESYS_TR_PASSWORD,
			    ESYS_TR_NONE, ESYS_TR_NONE, &data, 0);
	if (trc != TSS2_RC_SUCCESS) {
		log_event(LOG_ERR, "tpm.nv.failed", "nv_write_failed",
			  LOG_U64("nv_index", index), LOG_U64("tpm_rc", trc));
		goto out;
	}
	rc = SP_OK;
out:
	nv_close(t, &nvh);
	return rc;
}
