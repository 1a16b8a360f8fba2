/*
 * unseal.h: fetch → verify → write, from a sealed store into tmpfs.
 *
 * The store holds manifest.sealed and blobs/<sha256> (docs/sealed-format.md).
 * unseal_run() opens the manifest with the model key, refuses versions
 * below min_version, checks the target (tmpfs or ramfs, room for every
 * file), then streams each blob one segment at a time into a hidden
 * partial file that is renamed into place only after the last segment
 * verifies and the size and blob digest match. The ready marker
 * (UNSEAL_READY_NAME) is written last. On any failure everything written
 * so far is removed.
 */
#ifndef SEALPOD_UNSEAL_H
#define SEALPOD_UNSEAL_H

#include <stdint.h>

#include "err.h"
#include "secret.h"

#define UNSEAL_READY_NAME ".sealpod-ready"

struct unseal_opts {
	const char *source;	/* https://... or file:///... base */
	const char *ca_file;	/* for https, may be NULL */
	uint64_t min_version;
	const char *target;	/* existing directory */
	int skip_fs_check;	/* tests only: accept any filesystem */
};

struct unseal_result {
	uint64_t version;
	uint64_t files;
	uint64_t bytes;
};

/*
 * Returns SP_OK, or SP_E_TARGET, SP_E_FETCH, SP_E_NOTFOUND,
 * SP_E_INTEGRITY, SP_E_PROTOCOL, SP_E_USAGE or SP_E_INTERNAL, each logged
 * once with its reason. The key is only read.
 */
SP_MUST_CHECK enum sp_err unseal_run(const struct unseal_opts *opts,
    const struct secret *key, struct unseal_result *res);

/*
 * Remove every entry unseal_run() may have written in target (plaintext
 * files, partial files, the ready marker). Used on failure and at start.
 */
void unseal_clean(const char *target);

#endif
