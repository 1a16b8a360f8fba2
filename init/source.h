/*
 * source.h: artifact stores, one file per URI scheme under source/.
 *
 * A source is opened on a base URI that holds manifest.sealed and blobs/.
 * It resolves names relative to that base ("manifest.sealed",
 * "blobs/<hex>") and delivers the bytes of a named object to a sink, in
 * order. A source owns only its protocol: the unseal pipeline owns
 * verification, memory, parallelism and the final rename, and trusts
 * nothing a source delivers.
 *
 * One struct source serves one thread; a parallel pipeline opens one per
 * worker.
 */
#ifndef SEALPOD_SOURCE_H
#define SEALPOD_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Ceilings on a base URI and on an object name under it. */
#define SOURCE_URL_MAX	2048
#define SOURCE_NAME_MAX 256

struct source_opts {
	const char *ca_file; /* https: PEM bundle, or NULL for system store */
	int allow_http;	     /* accept http:// (trusted networks only) */
	long idle_timeout_s; /* https: abort a stalled transfer; 0: 30 s */
};

/*
 * Receives the object's bytes in order. Return SP_OK to go on, or an
 * error category to stop the transfer; the fetch then returns that
 * category unchanged. The sink logs its own failures.
 */
typedef int (*source_sink_fn)(void *arg, const void *buf, size_t len);

struct source_ops {
	const char *scheme; /* as in the URI, without "://" */
	/* Open the base URI; *state is the scheme's own. */
	enum sp_err (*open)(const char *url, const struct source_opts *opts,
			    void **state);
	/* Deliver [offset, offset + length) of name; length 0: all. */
	int (*fetch)(void *state, const char *name, uint64_t offset,
		     uint64_t length, source_sink_fn sink, void *arg);
	void (*close)(void *state);
};

extern const struct source_ops source_file_ops;
extern const struct source_ops source_https_ops;

struct source;

/*
 * Open the store at url: "file:///abs/dir" or "https://host[:port]/path"
 * ("http://" only with opts->allow_http). The URI carries no query or
 * fragment. Returns SP_OK and a source; SP_E_USAGE for an unsupported
 * scheme or a malformed URI; SP_E_NOTFOUND when a file:// base is
 * missing; SP_E_INTERNAL.
 */
SP_MUST_CHECK enum sp_err source_open(const char *url,
				      const struct source_opts *opts,
				      struct source **out);

/*
 * Pass the object name (relative; letters, digits, '.', '_', '-' and '/'
 * between non-empty components other than "." and "..") to sink, from
 * offset for length bytes (length 0: the whole object, offset then 0).
 * Returns SP_OK when every byte was delivered; the sink's own category
 * when it stopped the transfer; SP_E_NOTFOUND when the object does not
 * exist; SP_E_FETCH for a transfer failure, a short object or a refused
 * entry (a symbolic link or a non-regular file under file://); SP_E_USAGE
 * for a bad name. Failures other than the sink's are logged here.
 */
SP_MUST_CHECK enum sp_err source_fetch(struct source *s, const char *name,
				       uint64_t offset, uint64_t length,
				       source_sink_fn sink, void *arg);

/* The scheme in use ("file", "https", "http"), safe to log. */
const char *source_scheme(const struct source *s);

/* Close and free. NULL is allowed. */
void source_free(struct source *s);

/*
 * Check an object name against the rules of source_fetch(). Returns 1
 * when valid. The schemes call it again, so no name escapes the base.
 */
int source_name_valid(const char *name);

#endif
