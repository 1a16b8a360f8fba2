/*
 * err.h: the error categories every fallible sealpod function returns.
 *
 * A function returns SP_OK (0) on success or one category below. Callers
 * decide retry or exit by category, never by parsing messages; the detail
 * goes to the log at the place the error is first seen.
 */
#ifndef SEALPOD_ERR_H
#define SEALPOD_ERR_H

enum sp_err {
	SP_OK = 0,
	SP_E_USAGE,	/* bad command line or configuration */
	SP_E_ATTEST,	/* evidence could not be produced or was refused */
	SP_E_POLICY,	/* the key broker's policy denied the release */
	SP_E_NOTFOUND,	/* a named resource or artifact does not exist */
	SP_E_FETCH,	/* network or store failure; may succeed on retry */
	SP_E_INTEGRITY, /* authentication, digest, size or version check */
	SP_E_TARGET,	/* output directory unsuitable (not tmpfs, no room) */
	SP_E_PROTOCOL,	/* a peer broke the protocol (bad reply shape) */
	SP_E_INTERNAL,	/* our bug or resource exhaustion */
};

#define SP_MUST_CHECK __attribute__((warn_unused_result))

/* Stable lower-case name of a category, for log "reason" fields. */
const char *sp_err_name(enum sp_err e);

#endif
