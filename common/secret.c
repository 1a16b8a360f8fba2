/*
 * secret.c: page-locked, dump-excluded buffers for key material.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "log.h"
#include "secret.h"

static size_t
secret_map_size(size_t cap)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t p = page > 0 ? (size_t)page : 4096;

	return (cap + p - 1) / p * p;
}

/*
 * Keep the pages out of children: wiped in a forked child when the kernel
 * knows MADV_WIPEONFORK (4.14+), otherwise not mapped there at all.
 */
static int
secret_no_fork(void *p, size_t n)
{
	int rc = -1;

#ifdef MADV_WIPEONFORK
	rc = madvise(p, n, MADV_WIPEONFORK);
#endif
	if (rc != 0) {
		rc = madvise(p, n, MADV_DONTFORK);
	}
	return rc;
}

static void *
secret_map(size_t size)
{
	void *p = MAP_FAILED;
	void *rc = NULL;
	int locked = 0;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		log_event(LOG_ERR, "secret.mmap.failed", "internal",
			  LOG_ERRNO(errno));
		goto out;
	}

	if (mlock(p, size) != 0) {
		/* Usually RLIMIT_MEMLOCK; fail closed, never swap keys. */
		log_event(LOG_ERR, "secret.mlock.failed", "internal",
			  LOG_ERRNO(errno), LOG_U64("bytes", size));
		goto out;
	}
	locked = 1;

	if (madvise(p, size, MADV_DONTDUMP) != 0) {
		log_event(LOG_ERR, "secret.madvise.failed", "internal",
			  LOG_STR("advice", "dontdump"), LOG_ERRNO(errno));
		goto out;
	}

	if (secret_no_fork(p, size) != 0) {
		log_event(LOG_ERR, "secret.madvise.failed", "internal",
			  LOG_STR("advice", "wipeonfork"), LOG_ERRNO(errno));
		goto out;
	}
	rc = p;
out:
	if (rc == NULL && p != MAP_FAILED) {
		if (locked) {
			munlock(p, size);
		}
		munmap(p, size);
	}
	return rc;
}

struct secret *
secret_new(size_t cap)
{
	struct secret *s = NULL;
	struct secret *rc = NULL;

	if (cap == 0 || cap > SECRET_MAX) {
		goto out;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		goto out;
	}

	s->data = secret_map(secret_map_size(cap));
	if (s->data == NULL) {
		goto out;
	}
	s->cap = cap;
	s->len = 0;
	rc = s;
out:
	if (rc == NULL) {
		free(s);
	}
	return rc;
}

struct secret *
secret_from(const void *buf, size_t len)
{
	struct secret *s;

	s = secret_new(len);
	if (s != NULL) {
		memcpy(s->data, buf, len);
		s->len = len;
	}
	return s;
}

void
secret_free(struct secret *s)
{
	size_t size;

	if (s == NULL) {
		goto out;
	}
	if (s->data != NULL) {
		size = secret_map_size(s->cap);
		explicit_bzero(s->data, size);
		munlock(s->data, size);
		munmap(s->data, size);
	}
	explicit_bzero(s, sizeof(*s));
	free(s);
out:
	return;
}

void
secret_wipe_mem(void *p, size_t n)
{
	if (p != NULL && n > 0) {
		explicit_bzero(p, n);
	}
}

int
ct_memeq(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}
