/*
 * exitcode.h: sealpod-init's exit codes, one per error category.
 * They are part of the interface (documented in --help and
 * docs/configuration.md); never renumber.
 */
#ifndef SEALPOD_EXITCODE_H
#define SEALPOD_EXITCODE_H

#include "err.h"

#define EXIT_USAGE	2  /* bad command line or configuration */
#define EXIT_ATTEST	10 /* evidence could not be produced or verified */
#define EXIT_POLICY	11 /* the KBS policy denied the key */
#define EXIT_NOTFOUND	12 /* key resource or artifact missing */
#define EXIT_FETCH	13 /* KBS or artifact store unreachable / failing */
#define EXIT_INTEGRITY	14 /* authentication, digest, size or version */
#define EXIT_TARGET	15 /* target not tmpfs/ramfs, or not enough room */
#define EXIT_TERMINATED 16 /* stopped by SIGTERM/SIGINT, output removed */
#define EXIT_INTERNAL	20 /* internal error, or a peer broke protocol */

/* Map an error category to its exit code. */
int exitcode_for(enum sp_err e);

/*
 * A command-line problem: one init.usage.invalid event (problem, and
 * the argument at fault), hint on stderr only when stderr is a
 * terminal (a pod's log stays JSON lines), and EXIT_USAGE returned.
 * hint may be NULL.
 */
int exitcode_usage(const char *problem, const char *arg, const char *hint);

/* 1 once exitcode_usage() ran in this process: main() then ends with
 * the final init.failed event (reason usage). */
int exitcode_usage_seen(void);

#endif
