/*
 * unseal.h: fetch → verify → write, from a sealed store into tmpfs.
 *
 * The store holds manifest.sealed and blobs/<sha256> (docs/sealed-format.md).
 * unseal_run() opens the manifest with the model key, refuses another
 * model (when model_id is pinned) and versions below min_version, checks
 * the target (tmpfs or ramfs, room for every file), then streams each
 * blob, segment by segment and in parallel (unseal_pipe.h), into a hidden
 * partial file that is renamed into place only after the last segment verifies,
 * the size matches, and the blob's header equals the one the manifest pins (or,
 * for a manifest without headers or a signed one, the blob digest matches). The
 * ready marker (UNSEAL_READY_NAME) is written last. On any failure everything
 * written so far is removed.
 */
#ifndef SEALPOD_UNSEAL_H
#define SEALPOD_UNSEAL_H

#include <stdint.h>

#include "err.h"
#include "secret.h"
#include "source.h"

#define UNSEAL_READY_NAME ".sealpod-ready"

#define UNSEAL_MEMORY_MIB_DEFAULT 64
#define UNSEAL_MEMORY_MIB_MAX	  (64 * 1024)
#define UNSEAL_ATTEMPTS_DEFAULT	  5
#define UNSEAL_IDLE_S_DEFAULT	  30
#define UNSEAL_PROGRESS_S_DEFAULT 5
/* Beside manifest.sealed when the owner signs (docs/sealed-format.md). */
#define UNSEAL_SIG_NAME "manifest.sig"

struct unseal_opts {
	const char *source;  /* https://... or file:///... base */
	const char *ca_file; /* for https, may be NULL */
	uint64_t min_version;
	const char *model_id;	  /* the manifest's "model" must be this;
				     NULL: any model, or none */
	const char *target;	  /* existing directory */
	int skip_fs_check;	  /* tests only: accept any filesystem */
	unsigned workers;	  /* threads; 0: one per usable CPU */
	uint64_t memory_mib;	  /* ciphertext in flight; 0: the default */
	uint64_t idle_timeout_s;  /* stalled transfer; 0: the default */
	uint64_t deadline_s;	  /* whole fetch, from the start; 0: none */
	unsigned attempts;	  /* per range since its last progress; 0: 5 */
	int allow_http;		  /* accept an http:// source */
	const char *headers_file; /* extra http(s) request headers, private */
	const char *signing_key;  /* PEM P-256 public key: manifest.sig due */
	uint64_t chunk;		  /* tests, benchmarks: bytes per read; 0 */
	uint64_t progress_s;	  /* between progress events; 0: 5 */
	const struct source_s3_opts *s3;   /* s3:// settings, or NULL */
	const struct source_oci_opts *oci; /* oci:// settings, or NULL */
};

struct unseal_result {
	uint64_t version;
	uint64_t files;
	uint64_t bytes;
	uint64_t retries; /* ranges asked for again */
	double seconds;	  /* wall time of the whole run */
};

/*
 * Files are fetched, verified and written in parallel by opts->workers
 * threads within opts->memory_mib of ciphertext buffers; transient
 * transfer failures are retried with capped exponential backoff, resuming
 * where the data stopped. With opts->signing_key set, manifest.sig must
 * hold the owner's ECDSA P-256 signature over manifest.sealed.
 *
 * Returns SP_OK, or SP_E_TARGET, SP_E_FETCH, SP_E_NOTFOUND,
 * SP_E_INTEGRITY, SP_E_PROTOCOL, SP_E_USAGE or SP_E_INTERNAL, each logged
 * once with its reason. The key is only read.
 */
SP_MUST_CHECK enum sp_err unseal_run(const struct unseal_opts *opts,
				     const struct secret *key,
				     struct unseal_result *res);

/*
 * Async-signal-safe: ask a running unseal_run() to stop. It then fails
 * with SP_E_INTERNAL (event unseal.interrupted) within about a second,
 * having cancelled its transfers and removed its output, so the caller
 * can clean up the rest and exit with EXIT_TERMINATED (it tells this
 * failure from others by unseal_pipe_interrupted()). Stays set for the
 * process.
 */
void unseal_interrupt(void);

/*
 * Make SIGTERM and SIGINT call unseal_interrupt() instead of killing
 * the process, for `sealpod-init unseal`, which does nothing else (run
 * has its own stop thread, stop.h, which calls unseal_interrupt()).
 * Returns 0, or -1.
 */
int unseal_stop_on_signals(void);

/*
 * The target checks of unseal_run() that need no manifest, without
 * changing anything: a directory on tmpfs or ramfs, and either empty or
 * holding sealpod's marker (output of an earlier run, wiped later).
 * For a preflight before any key is asked for. Returns SP_OK or
 * SP_E_TARGET (logged: target_missing, target_not_tmpfs,
 * target_not_empty).
 */
SP_MUST_CHECK enum sp_err unseal_target_check(const char *target);

/*
 * Remove every entry unseal_run() may have written in target (plaintext
 * files, partial files, the ready marker). Used on failure and at start.
 */
void unseal_clean(const char *target);

#endif
