/*
 * unseal_pipe.h: the parallel part of unsealing (unseal.c drives it).
 *
 * Every blob of an opened manifest goes from the source into a hidden
 * partial file in the target and is renamed to its path once its last
 * segment verified and its size matches, and either its header equals
 * the one the manifest pins or (an older manifest without "header", or
 * digest_always) its SHA-256 matches. Reading, hashing,
 * decrypting and writing overlap on a pool of worker threads; the
 * ciphertext in flight lives in slots whose total never exceeds the
 * memory budget. See docs/sealed-format.md, "Unsealing in parallel".
 */
#ifndef SEALPOD_UNSEAL_PIPE_H
#define SEALPOD_UNSEAL_PIPE_H

#include <stdint.h>

#include "err.h"
#include "manifest.h"
#include "secret.h"
#include "source.h"

/* Ceiling on worker threads, whatever the configuration says. */
#define UNSEAL_PIPE_WORKERS_MAX 64

struct unseal_pipe_opts {
	const char *source;	      /* base URI, as for source_open() */
	const struct source_opts *so; /* for each worker's own source */
	const struct secret *key;     /* the model (main) key, only read */
	int tfd;		      /* the target directory, ours */
	unsigned workers;	      /* 1..UNSEAL_PIPE_WORKERS_MAX */
	uint64_t memory;	      /* bytes of ciphertext in flight, max */
	uint64_t chunk;		      /* bytes per read; 0: by scheme */
	unsigned attempts;	      /* per range, since its last progress */
	uint64_t deadline_ns;	      /* now_ns() limit; 0: none */
	int *cancel; /* so->cancel's flag: set on failure, stops transfers */
	uint64_t progress_ns; /* between unseal.progress events */
	/* 1: check every blob's SHA-256 even when the manifest pins its
	 * header. A signed manifest needs it: the header stops outsiders,
	 * not a holder of the model key (docs/sealed-format.md). */
	int digest_always;
};

struct unseal_pipe_stats {
	uint64_t bytes;	  /* plaintext written */
	uint64_t retries; /* ranges asked for again after a failure */
	uint64_t peak;	  /* most slot bytes ever allocated */
};

/*
 * Unseal every file of m into o->tfd. Returns SP_OK with every file in
 * place; otherwise the category of the first failure (SP_E_FETCH,
 * SP_E_NOTFOUND, SP_E_INTEGRITY, SP_E_TARGET, SP_E_USAGE for a budget
 * below the largest segment, SP_E_INTERNAL), logged once with the
 * blob's digest, never its path. On failure the caller wipes the
 * target: files already renamed stay until then. *st is filled in both
 * cases.
 */
/*
 * Async-signal-safe: make the running unseal_pipe_run() (and any later
 * one) stop with SP_E_INTERNAL within about a second, cancelling its
 * transfers. The request stays for the life of the process.
 */
void unseal_pipe_interrupt(void);

/* 1 once unseal_pipe_interrupt() has been called. */
int unseal_pipe_interrupted(void);

SP_MUST_CHECK enum sp_err unseal_pipe_run(const struct unseal_pipe_opts *o,
					  const struct manifest *m,
					  struct unseal_pipe_stats *st);

#endif
