/*
 * source.c: choose an artifact store by URI scheme (source.h).
 */
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
	}
	return ops;
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
