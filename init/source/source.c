/*
 * source.c: choose an artifact store by URI scheme (source.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "source.h"

struct source {
	const struct source_ops *ops;
	const char *scheme;
	void *state;
};

int
source_name_valid(const char *name)
{
	size_t len = strnlen(name, SOURCE_NAME_MAX + 1);
	int ok = len > 0 && len <= SOURCE_NAME_MAX;
	size_t start = 0;
	size_t i;
	size_t n;
	char c;

	for (i = 0; ok && i <= len; i++) {
		c = name[i];
		if (c == '/' || c == '\0') {
			n = i - start;
			ok = n > 0 && !(n == 1 && name[start] == '.') &&
			     !(n == 2 && name[start] == '.' &&
			       name[start + 1] == '.');
			start = i + 1;
		} else {
			ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9') || c == '.' || c == '_' ||
			     c == '-';
		}
	}
	return ok;
}

int
source_relay_sink(void *arg, const void *buf, size_t len)
{
	struct source_relay *r = arg;

	r->sink_rc = r->sink(r->arg, buf, len);
	return r->sink_rc;
}

/* The ops for url's scheme, or NULL; *scheme gets its name. */
static const struct source_ops *
ops_for(const char *url, const struct source_opts *opts, const char **scheme)
{
	const struct source_ops *ops = NULL;

	if (strncmp(url, "file://", 7) == 0) {
		*scheme = "file";
		ops = &source_file_ops;
	} else if (strncmp(url, "https://", 8) == 0) {
		*scheme = "https";
		ops = &source_https_ops;
	} else if (strncmp(url, "http://", 7) == 0 && opts->allow_http) {
		*scheme = "http";
		ops = &source_https_ops;
	} else if (strncmp(url, "s3://", 5) == 0) {
		*scheme = "s3";
		ops = &source_s3_ops;
	} else if (strncmp(url, "oci://", 6) == 0) {
		*scheme = "oci";
		ops = &source_oci_ops;
	}
	return ops;
}

const char *
source_url_problem(const char *url, int allow_http)
{
	struct source_opts o = {.allow_http = allow_http};
	const char *scheme = "";
	const char *why = NULL;
	const unsigned char *p;

	for (p = (const unsigned char *)url; *p != '\0' && why == NULL; p++) {
		if (*p <= 0x20 || *p == 0x7f) {
			why = "must not contain blanks or control characters";
		}
	}
	if (why != NULL) {
		goto out;
	}
	if (strnlen(url, SOURCE_URL_MAX + 1) > SOURCE_URL_MAX) {
		why = "is too long";
	} else if (strpbrk(url, "?#") != NULL) {
		why = "must not carry a query or a fragment";
	} else if (ops_for(url, &o, &scheme) == NULL) {
		why = allow_http ? "must start with https://, http://, "
				   "file:///, s3:// or oci://"
				 : "must start with https://, file:///, s3:// "
				   "or oci:// (http:// needs insecure http)";
	} else if (strcmp(scheme, "file") == 0 && url[7] != '/') {
		why = "file:// needs an absolute path (file:///dir)";
	}
out:
	return why;
}

enum sp_err
source_open(const char *url, const struct source_opts *opts,
	    struct source **out)
{
	static const struct source_opts defaults;
	struct source *s = NULL;
	const char *scheme = "";
	const struct source_ops *ops;
	enum sp_err rc = SP_E_USAGE;

	if (opts == NULL) {
		opts = &defaults;
	}
	if (strnlen(url, SOURCE_URL_MAX + 1) > SOURCE_URL_MAX ||
	    strpbrk(url, "?#") != NULL) {
		log_event(LOG_ERR, "source.open.failed", "source_url_invalid");
		goto out;
	}
	ops = ops_for(url, opts, &scheme);
	if (ops == NULL) {
		log_event(LOG_ERR, "source.open.failed",
			  "source_scheme_unsupported");
		goto out;
	}

	rc = SP_E_INTERNAL;
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		goto out;
	}
	s->ops = ops;
	s->scheme = scheme;

	rc = ops->open(url, opts, &s->state);
	if (rc != SP_OK) {
		goto out;
	}
	*out = s;
	s = NULL;
out:
	free(s);
	return rc;
}

enum sp_err
source_fetch(struct source *s, const char *name, uint64_t offset,
	     uint64_t length, source_sink_fn sink, void *arg)
{
	enum sp_err rc = SP_E_USAGE;

	if (!source_name_valid(name) || (length == 0 && offset != 0)) {
		log_event(LOG_ERR, "source.fetch.failed", "source_name_invalid",
			  LOG_STR("scheme", s->scheme));
		goto out;
	}
	rc = (enum sp_err)s->ops->fetch(s->state, name, offset, length, sink,
					arg);
out:
	return rc;
}

/* Copies fetched pieces into the request's buffer. */
static int
read_sink(void *arg, const void *buf, size_t len)
{
	struct source_read_req *r = arg;
	int rc = SP_E_FETCH;

	/* http_stream refuses more than a range; a whole object has no
	 * range, so the length we expect is enforced here. */
	if (len > r->len - r->got) {
		r->overrun = 1;
		goto out;
	}
	if (r->check != NULL) {
		rc = r->check(r->arg);
		if (rc != SP_OK) {
			goto out;
		}
	}
	memcpy(r->buf + r->got, buf, len);
	r->got += len;
	rc = SP_OK;
out:
	return rc;
}

/* Where a clean reply that ended short of r's range leaves the object:
 * its end, or UINT64_MAX when the store's own size says it goes on. */
static uint64_t
read_end(const struct source *s, const struct source_read_req *r)
{
	uint64_t told = UINT64_MAX;
	uint64_t want = r->offset + r->len;
	uint64_t end = r->offset + r->got;

	if (s->ops->last_size != NULL) {
		told = s->ops->last_size(s->state);
	}
	if (told == UINT64_MAX) {
		told = end;
	}
	if (told < want) {
		want = told;
	}
	return end < want ? UINT64_MAX : told;
}

/* The object's size when the store told one that ends inside r's
 * range, at or before what arrived; else UINT64_MAX (unknown). */
static uint64_t
told_end(const struct source *s, const struct source_read_req *r)
{
	uint64_t told = UINT64_MAX;

	if (s->ops->last_size != NULL) {
		told = s->ops->last_size(s->state);
	}
	if (told >= r->offset + r->len || told > r->offset + r->got) {
		told = UINT64_MAX;
	}
	return told;
}

enum sp_err
source_read(struct source *s, struct source_read_req *r)
{
	enum sp_err rc = SP_E_USAGE;

	r->got = 0;
	r->size = UINT64_MAX;
	r->overrun = 0;
	r->range_ignored = 0;
	if (!source_name_valid(r->name) || r->len == 0 ||
	    (r->whole && r->offset != 0)) {
		log_event(LOG_ERR, "source.fetch.failed", "source_name_invalid",
			  LOG_STR("scheme", s->scheme));
		goto out;
	}
	if (s->ops->read != NULL) {
		rc = (enum sp_err)s->ops->read(s->state, r->name, r->offset,
					       r->buf, r->len, &r->size);
		r->got = rc == SP_OK ? r->len : 0;
		goto out;
	}

	/* read_sink refuses the probe byte, should one come. */
	rc = (enum sp_err)s->ops->fetch(
	    s->state, r->name, r->whole ? 0 : r->offset,
	    r->whole ? 0 : r->len + (r->probe_end ? 1 : 0), read_sink, r);
	if (rc == SP_OK && r->got < r->len) {
		/* A clean, short reply: the object ends there, unless the
		 * store's own size says more exists (then the reply left it
		 * out: resumed as a transfer failure). */
		r->size = read_end(s, r);
		rc = SP_E_FETCH;
	} else if (rc != SP_OK && !r->whole && s->ops->range_ignored != NULL &&
		   s->ops->range_ignored(s->state)) {
		r->range_ignored = 1;
	} else if (rc != SP_OK && r->got == r->len) {
		/* All we asked for came, and then more (or a longer length
		 * was announced): a store that overruns its answer. */
		r->overrun = 1;
	} else if (rc == SP_E_FETCH && !r->whole) {
		/* A refused range (416 "bytes *\/size") past a shorter
		 * object's end, or a reply cut at that end. */
		r->size = told_end(s, r);
	}
out:
	return rc;
}

int
source_last_permanent(const struct source *s)
{
	int rc = 0;

	if (s->ops->permanent != NULL) {
		rc = s->ops->permanent(s->state);
	}
	return rc;
}

int
source_status_permanent(long status)
{
	return status >= 300 && status < 500 && status != 408 && status != 429;
}

enum log_level
source_fail_level(int rc, int permanent)
{
	return permanent && rc != SP_E_NOTFOUND ? LOG_ERR : LOG_WARN;
}

const char *
source_last_error(const struct source *s)
{
	const char *msg = NULL;

	if (s->ops->last_error != NULL) {
		msg = s->ops->last_error(s->state);
	}
	return msg != NULL ? msg : "";
}

const char *
source_scheme(const struct source *s)
{
	return s->scheme;
}

void
source_free(struct source *s)
{
	if (s == NULL) {
		return;
	}
	s->ops->close(s->state);
	free(s);
}
