/*
 * secret.h: the only home of key material.
 *
 * A secret's bytes live in their own anonymous mapping: locked in memory
 * (mlock), excluded from core dumps (MADV_DONTDUMP) and from children
 * (MADV_WIPEONFORK), and wiped with explicit_bzero before unmapping. There
 * is no accessor that formats the bytes; log a key id instead.
 *
 * Wipe any other copy (a stack buffer handed to OpenSSL, say) the moment
 * the copy has been taken, with secret_wipe_mem().
 */
#ifndef SEALPOD_SECRET_H
#define SEALPOD_SECRET_H

#include <stddef.h>

#include "err.h"

struct secret {
	unsigned char *data; /* cap bytes, page-aligned mapping */
	size_t len;	     /* bytes in use, <= cap */
	size_t cap;
};

/* Largest secret we accept from anywhere (keys, TLS private keys). */
#define SECRET_MAX (1024 * 1024)

/*
 * Allocate a secret of capacity cap (1..SECRET_MAX), len 0. Returns NULL
 * when the mapping or mlock fails: we fail closed rather than hold key
 * material in swappable memory.
 */
struct secret *secret_new(size_t cap);

/* A new secret holding a copy of len bytes. NULL on failure. */
struct secret *secret_from(const void *buf, size_t len);

/* Wipe, unlock and unmap. NULL is allowed. */
void secret_free(struct secret *s);

/* explicit_bzero wrapper for transient copies outside a struct secret. */
void secret_wipe_mem(void *p, size_t n);

/* Constant-time equality of two n-byte buffers. Returns 1 if equal. */
int ct_memeq(const void *a, const void *b, size_t n);

#endif
