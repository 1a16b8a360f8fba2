/*
 * tpm_session.h: the inside of struct tpm, shared by tpm.c (session,
 * keys, quotes) and tpm_nv.c (NV indexes) and nobody else.
 */
#ifndef SEALPOD_TPM_SESSION_H
#define SEALPOD_TPM_SESSION_H

#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

struct tpm {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *ectx;
};

/* TPM_RC of a handle that does not exist (handle 1). */
#define TPM_RC_NO_HANDLE (TPM2_RC_HANDLE | TPM2_RC_1)

#endif
