/*
 * privs.h: narrowing privileges once the listeners are bound.
 *
 * In order: empty the capability bounding set (when we hold CAP_SETPCAP),
 * switch to the configured user (if any), set no_new_privs, mark the
 * process not dumpable (no core files, no ptrace by peers), clear the
 * ambient set and every capability of the calling thread. Call before starting
 * threads: capabilities are per thread and inherited at creation.
 */
#ifndef SEALPOD_PRIVS_H
#define SEALPOD_PRIVS_H

#include "err.h"

/*
 * Drop privileges as above; user may be NULL. Logs "priv.drop.failed"
 * and returns SP_E_INTERNAL (or SP_E_USAGE for an unknown user) on any
 * failure, after which the caller must not serve.
 */
SP_MUST_CHECK enum sp_err privs_drop(const char *user);

#endif
