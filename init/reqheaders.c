/*
 * reqheaders.c: extra request headers from a private file (reqheaders.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "reqheaders.h"
#include "util.h"

/* Headers libcurl sets itself, or that would break ranged reads. */
static const char *const reqheaders_refused[] = {
    "host",   "range", "connection", "content-length", "transfer-encoding",
    "expect", NULL,
};

static int
is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* NULL when line is a usable "Name: value", else the rule it breaks. */
static const char *
line_problem(const char *line)
{
	size_t name = 0;
	size_t i;

	while (line[name] != '\0' && is_tchar((unsigned char)line[name])) {
		name++;
	}
	if (name == 0 || line[name] != ':') {
		return "header_name_invalid";
	}
	for (i = 0; reqheaders_refused[i] != NULL; i++) {
		if (strlen(reqheaders_refused[i]) == name &&
		    strncasecmp(line, reqheaders_refused[i], name) == 0) {
			return "header_not_allowed";
		}
	}
	for (i = name + 1; line[i] != '\0'; i++) {
		if (((unsigned char)line[i] < 0x20 && line[i] != '\t') ||
		    (unsigned char)line[i] == 0x7f) {
			return "header_value_invalid";
		}
	}
	return NULL;
}

/* Cut raw into lines in place and collect the header lines. */
static enum sp_err
split_lines(struct reqheaders *h)
{
	char *p = (char *)h->raw->data;
	char *end = p + h->raw->len;
	char *nl;
	const char *why;
	size_t lineno = 0;
	enum sp_err rc = SP_E_USAGE;

	while (p < end) {
		lineno++;
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL) {
			nl = end; /* raw has room for this NUL */
		}
		*nl = '\0';
		if (nl > p && nl[-1] == '\r') {
			nl[-1] = '\0';
		}
		if (p[0] == '\0' || p[0] == '#') {
			why = NULL;
		} else if (h->n == REQHEADERS_LINES_MAX) {
			why = "headers_too_many";
		} else {
			why = line_problem(p);
			if (why == NULL) {
				h->lines[h->n++] = p;
			}
		}
		if (why != NULL) {
			log_event(LOG_ERR, "unseal.headers.failed", why,
				  LOG_U64("line", lineno));
			goto out;
		}
		p = nl + 1;
	}
	h->lines[h->n] = NULL;
	rc = SP_OK;
out:
	return rc;
}

/* The file's bytes into a secret one byte longer (for a last NUL). */
static enum sp_err
read_private(const char *path, struct secret **out)
{
	char *buf = NULL;
	size_t len = 0;
	struct secret *s = NULL;
	enum sp_err rc = SP_E_USAGE;

	if (file_check_private(path) != SP_OK) {
		log_event(LOG_ERR, "unseal.headers.failed",
			  "headers_file_not_private", LOG_ERRNO(errno));
		goto out;
	}
	if (file_read_all(path, REQHEADERS_FILE_MAX, &buf, &len) != SP_OK) {
		log_event(LOG_ERR, "unseal.headers.failed",
			  "headers_file_unreadable", LOG_ERRNO(errno));
		goto out;
	}

	if (memchr(buf, '\0', len) != NULL) {
		log_event(LOG_ERR, "unseal.headers.failed",
			  "header_value_invalid");
		goto out;
	}

	rc = SP_E_INTERNAL;
	s = secret_new(len + 1);
	if (s == NULL) {
		goto out;
	}
	memcpy(s->data, buf, len);
	s->data[len] = '\0';
	s->len = len;
	*out = s;
	rc = SP_OK;
out:
	if (buf != NULL) {
		secret_wipe_mem(buf, len);
	}
	free(buf);
	return rc;
}

enum sp_err
reqheaders_load(const char *path, struct reqheaders **out)
{
	struct reqheaders *h = NULL;
	enum sp_err rc = SP_E_INTERNAL;

	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		goto out;
	}
	h->lines = calloc(REQHEADERS_LINES_MAX + 1, sizeof(*h->lines));
	if (h->lines == NULL) {
		goto out;
	}

	rc = read_private(path, &h->raw);
	if (rc != SP_OK) {
		goto out;
	}

	rc = split_lines(h);
	if (rc != SP_OK) {
		goto out;
	}
	*out = h;
	h = NULL;
out:
	reqheaders_free(h);
	return rc;
}

void
reqheaders_free(struct reqheaders *h)
{
	if (h == NULL) {
		return;
	}
	secret_free(h->raw);
	free(h->lines);
	free(h);
}
