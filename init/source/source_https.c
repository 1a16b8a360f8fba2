/*
 * source_https.c: https://host[:port]/path, an HTTPS file server or an
 * object store's public endpoint (source.h). http:// shares this code
 * when the configuration trusts the network.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "source.h"

/* "bytes <a>-<b>/<total>": three 20-digit numbers and some room. */

struct https_state {
	struct http_client *client;
	char *base;	    /* no trailing '/' */
	const char *scheme; /* "https" or "http", for the log */
	const char *const *headers;
	const int *cancel;
	int range_ignored; /* the last failed ranged fetch got a 200 */
	int permanent;	   /* the last failure will not mend (source.h) */
	char last_err[HTTP_ERRBUF];
};

static void
https_close(void *state)
{
	struct https_state *st = state;

	if (st == NULL) {
		return;
	}
	http_client_free(st->client);
	free(st->base);
	free(st);
}

static enum sp_err
https_open(const char *url, const struct source_opts *opts, void **state)
{
	struct https_state *st = NULL;
	struct http_opts ho;
	size_t len;
	enum sp_err rc = SP_E_INTERNAL;

	memset(&ho, 0, sizeof(ho));
	ho.ca_file = opts->ca_file;
	ho.connect_timeout_ms = 10000;
	ho.idle_timeout_s =
	    opts->idle_timeout_s > 0 ? opts->idle_timeout_s : 30;
	ho.allow_http = opts->allow_http;
	ho.cancel = opts->cancel;

	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		goto out;
	}
	st->base = strdup(url);
	st->client = http_client_new(&ho);
	if (st->base == NULL || st->client == NULL) {
		goto out;
	}
	st->scheme = strncmp(url, "http://", 7) == 0 ? "http" : "https";
	st->headers = opts->headers;
	st->cancel = opts->cancel;
	len = strlen(st->base);
	while (len > 0 && st->base[len - 1] == '/') {
		st->base[--len] = '\0';
	}
	*state = st;
	st = NULL;
	rc = SP_OK;
out:
	https_close(st);
	return rc;
}

/* The reason code for a failure with this status (0: none came). */
static const char *
https_reason(int rc, long status, int permanent)
{
	const char *reason = "source_transfer_failed";

	if (rc == SP_E_NOTFOUND) {
		reason = "source_not_found";
	} else if (permanent && (status == 401 || status == 403)) {
		reason = "source_access_denied";
	} else if (permanent && status >= 300 && status < 400) {
		reason = "source_redirect_refused";
	} else if (permanent) {
		reason = "source_request_refused";
	}
	return reason;
}

/*
 * Log a failed transfer with the status that came, if any. One that
 * will be retried, or that the caller names itself (a missing object),
 * is a warning; a refusal no retry mends is the run's error.
 */
static void
https_log_failure(struct https_state *st, int rc, const char *errbuf)
{
	long status = http_last_status(st->client);

	if (status >= 300 && status < 400) {
		/* We follow no redirect: a store must serve at its URL. */
		snprintf(st->last_err, sizeof(st->last_err),
			 "redirect not followed (HTTP %ld)", status);
	} else if (status >= 300) {
		snprintf(st->last_err, sizeof(st->last_err), "%s (HTTP %ld)",
			 errbuf, status);
	}
	log_event(source_fail_level(rc, st->permanent), "source.fetch.failed",
		  https_reason(rc, status, st->permanent),
		  LOG_STR("scheme", st->scheme),
		  LOG_U64("status", (uint64_t)status),
		  LOG_STR("error", st->last_err));
}

static int
https_fetch(void *state, const char *name, uint64_t offset, uint64_t length,
	    source_sink_fn sink, void *arg)
{
	struct https_state *st = state;
	struct source_relay r = {sink, arg, SP_OK};
	char errbuf[HTTP_ERRBUF] = "";
	char *url = NULL;
	size_t n;
	int rc = SP_E_USAGE;

	st->permanent = 0;
	if (!source_name_valid(name)) {
		goto out;
	}

	rc = SP_E_INTERNAL;
	n = strlen(st->base) + 1 + strlen(name) + 1;
	url = malloc(n);
	if (url == NULL) {
		goto out;
	}
	snprintf(url, n, "%s/%s", st->base, name);

	/* XXX: libcurl copies st->headers (tokens) into its heap for each
	 * request and frees them without wiping. */
	rc = http_stream(st->client, url, st->headers, offset, length,
			 source_relay_sink, &r, errbuf);
	snprintf(st->last_err, sizeof(st->last_err), "%s", errbuf);
	st->range_ignored = rc != SP_OK && (offset > 0 || length > 0) &&
			    r.sink_rc == SP_OK &&
			    http_last_status(st->client) == 200;
	st->permanent = rc == SP_E_FETCH && r.sink_rc == SP_OK &&
			!st->range_ignored &&
			source_status_permanent(http_last_status(st->client));
	/* A cancelled run has logged its own cause; a store that ignores
	 * Range is no failure (the pipeline streams instead and warns once
	 * as unseal.store.range_ignored). */
	if (rc != SP_OK && r.sink_rc == SP_OK && !st->range_ignored &&
	    (st->cancel == NULL ||
	     !__atomic_load_n(st->cancel, __ATOMIC_ACQUIRE))) {
		https_log_failure(st, rc, errbuf);
	}
out:
	free(url);
	return rc;
}

/* The total of the last reply's "Content-Range: bytes a-b/total". */
static uint64_t
https_last_size(void *state)
{
	const struct https_state *st = state;

	return http_last_range_total(st->client);
}

static int
https_range_ignored(void *state)
{
	const struct https_state *st = state;

	return st->range_ignored;
}

static int
https_permanent(void *state)
{
	const struct https_state *st = state;

	return st->permanent;
}

static const char *
https_last_error(void *state)
{
	const struct https_state *st = state;

	return st->last_err;
}

const struct source_ops source_https_ops = {
    .scheme = "https",
    .open = https_open,
    .fetch = https_fetch,
    .close = https_close,
    .last_error = https_last_error,
    .range_ignored = https_range_ignored,
    .last_size = https_last_size,
    .permanent = https_permanent,
};
