/*
 * seal.h: the model owner's command, `sealpod-init seal`.
 */
#ifndef SEALPOD_SEAL_H
#define SEALPOD_SEAL_H

#include <stdint.h>

#include "err.h"

struct seal_opts {
	const char *key_file; /* 32 raw bytes; created (0600) when absent */
	const char *in_dir;   /* plaintext model directory */
	const char *out_dir;  /* receives manifest.sealed and blobs/ */
	uint64_t version;     /* manifest version, default 1 */
	uint64_t segment_size; /* ciphertext segment, default 1 MiB */
};

/* Seal every regular file under in_dir. Returns SP_OK or a category. */
SP_MUST_CHECK enum sp_err seal_run(const struct seal_opts *opts);

#endif
