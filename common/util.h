/*
 * util.h: small helpers shared by both binaries.
 */
#ifndef SEALPOD_UTIL_H
#define SEALPOD_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/*
 * Lower-case hex of n bytes into out (2n+1 bytes). Returns out.
 */
char *hex_encode(const void *in, size_t n, char *out);

/*
 * Decode exactly 2n hex digits (either case) into n bytes.
 * Returns 0, or -1 when inlen != 2n or a digit is invalid.
 */
int hex_decode(const char *in, size_t inlen, unsigned char *out, size_t n);

/*
 * Read a whole regular file of at most max bytes into a new buffer with a
 * NUL after the last byte (not counted in *len). Returns SP_OK,
 * SP_E_NOTFOUND (ENOENT), SP_E_USAGE (too large, not a regular file) or
 * SP_E_INTERNAL. On success *out is the caller's to free().
 */
SP_MUST_CHECK enum sp_err file_read_all(const char *path, size_t max,
					char **out, size_t *len);

/*
 * Check that a file that holds secrets is a regular file not readable or
 * writable by group or others. Returns SP_OK or SP_E_USAGE.
 */
SP_MUST_CHECK enum sp_err file_check_private(const char *path);

/*
 * Write len bytes to path atomically: a hidden temporary file in the same
 * directory with the given mode, fsync, rename over path. Nothing is left
 * behind on failure. Returns SP_OK, SP_E_TARGET or SP_E_INTERNAL.
 */
SP_MUST_CHECK enum sp_err file_write_atomic(const char *path, const void *buf,
					    size_t len, unsigned mode);

/*
 * Parse a decimal unsigned integer in [min, max] with no sign, spaces or
 * trailing characters. Returns 0, or -1.
 */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Monotonic clock in nanoseconds. */
uint64_t now_ns(void);

/* Wall clock as RFC 3339 UTC with milliseconds into out (>= 32 bytes). */
void now_rfc3339(char *out, size_t cap);

#endif
