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
#include "log.h"

/* Ceilings on a base URI and on an object name under it. */
#define SOURCE_URL_MAX	2048
#define SOURCE_NAME_MAX 256

/*
 * s3://bucket[/prefix] (source_s3.c). allow_http in source_opts admits
 * an http:// endpoint; ca_file verifies the endpoint and STS.
 */
struct source_s3_opts {
	const char *region;	  /* NULL: $AWS_REGION, $AWS_DEFAULT_REGION,
				     then us-east-1 */
	const char *endpoint;	  /* https://host[:port]; NULL: AWS's
				     https://s3.<region>.amazonaws.com */
	int path_style;		  /* 1: <endpoint>/<bucket>/<key> (MinIO,
				     Ceph); 0: https://<bucket>.<host>/<key> */
	const char *sts_endpoint; /* web identity; NULL: AWS's regional STS */
};

/*
 * oci://registry[:port]/repository(:tag|@sha256:<hex>) (source_oci.c).
 * allow_http in source_opts makes the registry plain http:// (as
 * `oras --plain-http`); ca_file verifies it and its token service.
 */
struct source_oci_opts {
	const char *auth_file; /* Docker config.json-style "auths", or NULL */
};

struct source_opts {
	const char *ca_file; /* https: PEM bundle, or NULL for system store */
	int allow_http;	     /* accept http:// (trusted networks only) */
	long idle_timeout_s; /* https: abort a stalled transfer; 0: 30 s */
	/* http(s): extra request lines "Name: value", NULL-terminated, or
	 * NULL; kept by pointer until the source is closed. They may carry
	 * tokens: never logged. */
	const char *const *headers;
	/* http(s): when *cancel turns non-zero, a running transfer stops
	 * within about a second (a failed or timed-out run); NULL: never. */
	const int *cancel;
	const struct source_s3_opts *s3;   /* s3:// settings, or NULL */
	const struct source_oci_opts *oci; /* oci:// settings, or NULL */
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
	/*
	 * Optional (NULL: source_read uses fetch). Read exactly len bytes
	 * of name at offset into buf and give the object's size in *size.
	 * Returns SP_OK; SP_E_FETCH without logging when the object is
	 * shorter than offset + len (*size then set, the caller judges);
	 * otherwise as fetch.
	 */
	int (*read)(void *state, const char *name, uint64_t offset, void *buf,
		    size_t len, uint64_t *size);
	/* Optional: text of the last transfer failure, safe to log. */
	const char *(*last_error)(void *state);
	/* Optional: 1 when the last failed fetch asked for a range and the
	 * store answered with the whole object (it ignores Range). */
	int (*range_ignored)(void *state);
	/* Optional: the object's size as the last fetch's reply told it
	 * (the total of a 206's Content-Range), UINT64_MAX when it told
	 * none. Lets source_read() tell a short reply from an object that
	 * ends. */
	uint64_t (*last_size)(void *state);
	/* Optional (NULL: never): 1 when the last failed fetch ended in an
	 * answer a retry will not change (an HTTP 3xx or 4xx other than
	 * 408 and 429: a refusal, a redirect we do not follow, a request
	 * the store cannot serve). The caller gives up at once. */
	int (*permanent)(void *state);
};

extern const struct source_ops source_file_ops;
extern const struct source_ops source_https_ops;
extern const struct source_ops source_s3_ops;
extern const struct source_ops source_oci_ops;

struct source;

/*
 * What is wrong with url as a store's base URI, or NULL when nothing:
 * over SOURCE_URL_MAX, a query or fragment, blanks or control
 * characters, a scheme we do not speak (http:// only with allow_http),
 * a file:// path that is not absolute. Checked before anything runs
 * (the configuration, `unseal`'s arguments); source_open checks again.
 */
const char *source_url_problem(const char *url, int allow_http);

/*
 * Open the store at url: "file:///abs/dir", "https://host[:port]/path"
 * ("http://" only with opts->allow_http), "s3://bucket[/prefix]" or
 * "oci://registry/repository:tag" ("@sha256:<hex>"). The URI carries no
 * query or fragment. Returns SP_OK and a source; SP_E_USAGE for an
 * unsupported scheme or a malformed URI; SP_E_NOTFOUND when a file://
 * base, an OCI manifest or its manifest.sealed layer is missing;
 * SP_E_FETCH when an s3:// or oci:// store cannot be reached or refuses
 * us; SP_E_INTEGRITY or SP_E_PROTOCOL for an OCI manifest we must not
 * use; SP_E_INTERNAL.
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
 * exist; SP_E_FETCH for a transfer failure or a short object;
 * SP_E_INTEGRITY for a refused entry (a symbolic link or a non-regular
 * file under file://: the store is not laid out as sealed, and a retry
 * will not change that); SP_E_USAGE for a bad name. Failures other than
 * the sink's are logged here (source_fail_level()).
 */
SP_MUST_CHECK enum sp_err source_fetch(struct source *s, const char *name,
				       uint64_t offset, uint64_t length,
				       source_sink_fn sink, void *arg);

/* One ranged read into the caller's buffer, for source_read(). */
struct source_read_req {
	const char *name;
	uint64_t offset;
	unsigned char *buf;
	size_t len;
	int whole;	   /* the range is the whole object (offset 0): ask
			      without a Range, which every store serves */
	int probe_end;	   /* a ranged read ending where the object should:
			      ask for one byte more, so that a longer object
			      shows as overrun (a store with no size to
			      tell, over http) */
	size_t got;	   /* out: bytes placed in buf, also after a failure */
	uint64_t size;	   /* out: the object's size, UINT64_MAX if unknown */
	int overrun;	   /* out: the store sent more than the range */
	int range_ignored; /* out: the store answered a range with the
			      whole object; only a whole read can work */
	/* Optional: asked between pieces; anything but SP_OK stops the
	 * read with that category (a deadline, a cancelled run). */
	int (*check)(void *arg);
	void *arg;
};

/*
 * Read exactly r->len bytes of r->name at r->offset into r->buf: through
 * the scheme's read op when it has one (no copy), else through fetch.
 * Returns as source_fetch(); r->got tells how far it came, so a caller
 * can resume at r->offset + r->got. An object shorter than the range is
 * SP_E_FETCH, not logged when r->size is known (the caller judges it).
 * A reply that ends cleanly but short of a range the store's own size
 * says exists is SP_E_FETCH with r->size unknown: a transfer to resume,
 * not an object that ends.
 */
SP_MUST_CHECK enum sp_err source_read(struct source *s,
				      struct source_read_req *r);

/* 1 when the last failed fetch will fail the same way on a retry
 * (source_ops.permanent); 0 otherwise. */
int source_last_permanent(const struct source *s);

/*
 * For the http-based schemes: 1 when a reply with this HTTP status
 * will come back the same on a retry (3xx: we follow no redirect; 4xx
 * but 408 Request Timeout and 429 Too Many Requests).
 */
int source_status_permanent(long status);

/*
 * For the schemes: the level of their source.fetch.failed event. A
 * failure the caller may retry, or names itself with a specific reason
 * (a missing object: blob_missing, manifest_missing), is a warning; a
 * permanent refusal is the run's error.
 */
enum log_level source_fail_level(int rc, int permanent);

/* Text of the last transfer failure ("" when none), safe to log. */
const char *source_last_error(const struct source *s);

/* The scheme in use ("file", "https", "http", "s3", "oci"), safe to
 * log. */
const char *source_scheme(const struct source *s);

/* Close and free. NULL is allowed. */
void source_free(struct source *s);

/*
 * Check an object name against the rules of source_fetch(). Returns 1
 * when valid. The schemes call it again, so no name escapes the base.
 */
int source_name_valid(const char *name);

/*
 * For the schemes: a sink in front of the caller's, so a scheme can tell
 * a stop by the sink (sink_rc not SP_OK; the sink has logged it) from a
 * transfer failure, which only the scheme logs. Set sink and arg, and
 * sink_rc to SP_OK, then pass source_relay_sink with the relay as arg.
 */
struct source_relay {
	source_sink_fn sink;
	void *arg;
	int sink_rc; /* out: what the sink last returned */
};

/* A source_sink_fn for arg a struct source_relay: hands the bytes on
 * and keeps the sink's answer in sink_rc. Returns that answer. */
int source_relay_sink(void *arg, const void *buf, size_t len);

#endif
