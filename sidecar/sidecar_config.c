/*
 * sidecar_config.c: keyword table, overrides, defaults and cross-checks.
 */
#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "h1.h"
#include "h2.h"
#include "log.h"
#include "sidecar_config.h"

#define OFF(f) offsetof(struct sidecar_config, f)

static const struct conf_key sidecar_keys[] = {
    {"listen", CONF_STR, OFF(listen), 0, 0, 0},
    {"backend", CONF_STR, OFF(backend), 0, 0, 0},
    {"tls.cert", CONF_STR, OFF(tls_cert), 0, 0, 0},
    {"tls.key", CONF_STR, OFF(tls_key), 0, 0, 0},
    {"tls.client_ca", CONF_STR, OFF(tls_client_ca), 0, 0, 0},
    {"tls.client_auth", CONF_STR, OFF(tls_client_auth_str), 0, 0, 0},
    {"tls.allow", CONF_RECORDS, OFF(tls_allow_records), 0, 0, 0},
    {"tls.watch_s", CONF_U64, OFF(watch_s), 0, 0, SIDECAR_WATCH_MAX},
    {"routes", CONF_RECORDS, OFF(route_records), 0, 0, 0},
    {"limits.body_bytes", CONF_U64, OFF(body_bytes), 0, 0,
     SIDECAR_BODY_BYTES_MAX},
    /* h2 (issue 4) */
    {"http2.enabled", CONF_BOOL, OFF(http2), 0, 0, 0},
    {"http2.max_streams", CONF_U64, OFF(h2_max_streams), 0, 1,
     H2_MAX_STREAMS_MAX},
    {"http2.max_resets_per_s", CONF_U64, OFF(h2_resets_per_s), 0, 1,
     H2_RESETS_PER_S_MAX},
    {"backend_protocol", CONF_STR, OFF(backend_protocol), 0, 0, 0},
    {"health.listen", CONF_STR, OFF(health_listen), 0, 0, 0},
    {"ready_file", CONF_STR, OFF(ready_file), 0, 0, 0},
    {"user", CONF_STR, OFF(user), 0, 0, 0},
    {"log.level", CONF_STR, OFF(log_level), 0, 0, 0},
    {"workers", CONF_U64, OFF(workers), 0, 0, SIDECAR_WORKERS_MAX},
    {"busy_poll_us", CONF_U64, OFF(busy_poll_us), 0, 0, SIDECAR_BUSY_POLL_MAX},
    {"coalesce_us", CONF_U64, OFF(coalesce_us), 0, 0, SIDECAR_COALESCE_MAX},
    {"limits.header_bytes", CONF_U64, OFF(header_bytes), 0, 1024, H1_HEAD_MAX},
    {"limits.headers", CONF_U64, OFF(headers), 0, 1, H1_HEADERS_MAX},
    {"limits.request_line", CONF_U64, OFF(request_line), 0, 64, H1_HEAD_MAX},
    {"limits.connections", CONF_U64, OFF(connections), 0, 1,
     SIDECAR_CONNECTIONS_MAX},
    {"timeouts.header_s", CONF_U64, OFF(header_s), 0, 1, SIDECAR_TIMEOUT_MAX},
    {"timeouts.idle_s", CONF_U64, OFF(idle_s), 0, 1, SIDECAR_TIMEOUT_MAX},
    {"timeouts.connect_s", CONF_U64, OFF(connect_s), 0, 1, SIDECAR_TIMEOUT_MAX},
    {"timeouts.drain_s", CONF_U64, OFF(drain_s), 0, 0, SIDECAR_TIMEOUT_MAX},
    {"timeouts.drain_delay_s", CONF_U64, OFF(drain_delay_s), 0, 0,
     SIDECAR_TIMEOUT_MAX},
    {NULL, CONF_STR, 0, 0, 0, 0},
};

static void
set_defaults(struct sidecar_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->header_bytes = SIDECAR_DEF_HEADER_BYTES;
	cfg->headers = SIDECAR_DEF_HEADERS;
	cfg->request_line = SIDECAR_DEF_REQUEST_LINE;
	cfg->connections = SIDECAR_DEF_CONNECTIONS;
	cfg->header_s = SIDECAR_DEF_HEADER_S;
	cfg->idle_s = SIDECAR_DEF_IDLE_S;
	cfg->connect_s = SIDECAR_DEF_CONNECT_S;
	cfg->drain_s = SIDECAR_DEF_DRAIN_S;
	cfg->drain_delay_s = SIDECAR_DEF_DRAIN_DELAY_S;
	cfg->body_bytes = SIDECAR_DEF_BODY_BYTES;
	cfg->watch_s = SIDECAR_DEF_WATCH_S;
	cfg->busy_poll_us = SIDECAR_DEF_BUSY_POLL_US;
	cfg->coalesce_us = SIDECAR_DEF_COALESCE_US;
	cfg->http2 = 1;
	cfg->h2_max_streams = H2_DEF_MAX_STREAMS;
	cfg->h2_resets_per_s = H2_DEF_RESETS_PER_S;
}

/*
 * Split one conf_load() error line, "file:line: key: problem", in place
 * into its parts. The file may hold ':', so the first ":<digits>: " ends
 * it. Returns 0, or -1 (parts untouched) for a line of another shape.
 */
static int
split_conf_error(char *text, char **file, unsigned long *lineno, char **key,
		 char **what)
{
	char *p = text;
	char *end = NULL;
	char *sep;
	int rc = -1;

	for (p = strchr(p, ':'); p != NULL; p = strchr(p + 1, ':')) {
		end = p + 1;
		while (*end >= '0' && *end <= '9') {
			end++;
		}
		if (end > p + 1 && end[0] == ':' && end[1] == ' ') {
			break;
		}
	}
	if (p == NULL) {
		goto out;
	}
	sep = strstr(end + 2, ": ");
	if (sep == NULL) {
		goto out;
	}
	*p = '\0';
	*sep = '\0';
	*file = text;
	*lineno = strtoul(p + 1, NULL, 10);
	*key = end + 2;
	*what = sep + 2;
	rc = 0;
out:
	return rc;
}

/* Log each line of a conf_load() error text as its own event. */
static void
log_conf_errors(char *errs)
{
	char *line = errs;
	char *nl;
	char *file;
	char *key;
	char *what;
	unsigned long lineno;

	while (line != NULL && *line != '\0') {
		nl = strchr(line, '\n');
		if (nl != NULL) {
			*nl = '\0';
		}
		if (split_conf_error(line, &file, &lineno, &key, &what) == 0) {
			log_event(LOG_ERR, "config.invalid", "config_invalid",
				  LOG_STR("file", file),
				  LOG_U64("line", lineno), LOG_STR("key", key),
				  LOG_STR("problem", what));
		} else {
			log_event(LOG_ERR, "config.invalid", "config_invalid",
				  LOG_STR("file", "-"), LOG_STR("key", "-"),
				  LOG_STR("problem", line));
		}
		line = nl != NULL ? nl + 1 : NULL;
	}
}

/* Replace *field with a copy of value when value is set. */
static int
override(char **field, const char *value)
{
	char *copy;
	int rc = -1;

	if (value == NULL) {
		rc = 0;
		goto out;
	}
	copy = strdup(value);
	if (copy == NULL) {
		goto out;
	}
	free(*field);
	*field = copy;
	rc = 0;
out:
	return rc;
}

static void
problem(const char *file, const char *key, const char *what, int *bad)
{
	log_event(LOG_ERR, "config.invalid", "config_invalid",
		  LOG_STR("file", file != NULL ? file : "(command line)"),
		  LOG_STR("key", key), LOG_STR("problem", what));
	*bad = 1;
}

/* Parse one address key; required ones must be present. */
static void
check_addr(const char *file, const char *key, const char *value, int required,
	   struct netaddr *out, int *bad)
{
	if (value == NULL && required) {
		problem(file, key, "missing required key", bad);
	} else if (value != NULL && netaddr_parse(value, out) != 0) {
		problem(file, key, "not a numeric host:port", bad);
	}
}

/* "routes[i]: problem" for a record-shaped key. */
static void
item_problem(const char *file, const char *key, size_t i, const char *what,
	     int *bad)
{
	char name[64];

	snprintf(name, sizeof(name), "%s[%zu]", key, i);
	problem(file, name, what, bad);
}

static void
check_routes(const char *file, struct sidecar_config *cfg, int *bad)
{
	const char *what = NULL;
	size_t i;

	route_defaults(&cfg->routes);
	if (cfg->route_records == NULL) {
		goto out;
	}
	cfg->routes.n = 0;
	if (cfg->route_records[0] == NULL) {
		/* Every request would be 404 while /readyz says ready. */
		problem(file, "routes", "empty: no request could be served",
			bad);
		goto out;
	}
	for (i = 0; cfg->route_records[i] != NULL; i++) {
		if (i >= ROUTE_MAX) {
			problem(file, "routes", "more than 32 routes", bad);
			break;
		}
		if (route_parse(cfg->route_records[i], &cfg->routes.r[i],
				&what) != 0) {
			item_problem(file, "routes", i, what, bad);
		}
		cfg->routes.n = i + 1;
	}
out:
	return;
}

static void
check_client_auth(const char *file, struct sidecar_config *cfg, int *bad)
{
	const char *a = cfg->tls_client_auth_str;
	const char *what = NULL;
	size_t n = 0;
	size_t i;

	cfg->client_auth = cfg->tls_client_ca != NULL ? SIDECAR_AUTH_REQUIRED
						      : SIDECAR_AUTH_NONE;
	if (a != NULL && strcmp(a, "none") == 0) {
		cfg->client_auth = SIDECAR_AUTH_NONE;
	} else if (a != NULL && strcmp(a, "optional") == 0) {
		cfg->client_auth = SIDECAR_AUTH_OPTIONAL;
	} else if (a != NULL && strcmp(a, "required") == 0) {
		cfg->client_auth = SIDECAR_AUTH_REQUIRED;
	} else if (a != NULL) {
		problem(file, "tls.client_auth",
			"not one of none, optional, required", bad);
	}
	if (cfg->client_auth != SIDECAR_AUTH_NONE &&
	    cfg->tls_client_ca == NULL) {
		problem(file, "tls.client_auth", "needs tls.client_ca", bad);
	}
	while (cfg->tls_allow_records != NULL &&
	       cfg->tls_allow_records[n] != NULL) {
		n++;
	}
	if (n > 0 && cfg->client_auth == SIDECAR_AUTH_NONE) {
		problem(file, "tls.allow", "needs a tls.client_auth", bad);
	}
	if (n == 0 || n > IDENT_RULES_MAX) {
		if (n > IDENT_RULES_MAX) {
			problem(file, "tls.allow", "more than 64 rules", bad);
		}
		goto out;
	}
	cfg->allow = calloc(n, sizeof(*cfg->allow));
	if (cfg->allow == NULL) {
		problem(file, "tls.allow", "out of memory", bad);
		goto out;
	}
	cfg->nallow = n;
	for (i = 0; i < n; i++) {
		if (ident_parse(cfg->tls_allow_records[i], &cfg->allow[i],
				&what) != 0) {
			item_problem(file, "tls.allow", i, what, bad);
		}
	}
out:
	return;
}

static void
check_values(const char *file, struct sidecar_config *cfg, int *bad)
{
	enum log_level level;

	check_addr(file, "listen", cfg->listen, 1, &cfg->listen_addr, bad);
	check_addr(file, "backend", cfg->backend, 1, &cfg->backend_addr, bad);
	check_addr(file, "health.listen", cfg->health_listen, 0,
		   &cfg->health_addr, bad);
	cfg->have_health = cfg->health_listen != NULL;
	if (cfg->backend != NULL && !*bad &&
	    !netaddr_is_loopback(&cfg->backend_addr)) {
		/* Plaintext must never leave the pod's own network stack. */
		problem(file, "backend", "must be a loopback address", bad);
	}
	if (cfg->backend != NULL && !*bad &&
	    netaddr_port((const struct sockaddr *)&cfg->backend_addr.ss) == 0) {
		problem(file, "backend", "port 0 names no backend", bad);
	}
	if (cfg->tls_cert == NULL) {
		problem(file, "tls.cert", "missing required key", bad);
	}
	if (cfg->tls_key == NULL) {
		problem(file, "tls.key", "missing required key", bad);
	}
	if (cfg->request_line > cfg->header_bytes) {
		problem(file, "limits.request_line",
			"larger than limits.header_bytes", bad);
	}
	if (cfg->log_level != NULL &&
	    log_level_parse(cfg->log_level, &level) != 0) {
		problem(file, "log.level",
			"not one of debug, info, warn, error", bad);
	}
	if (cfg->ready_file != NULL && cfg->ready_file[0] != '/') {
		/* Relative would depend on the working directory. */
		problem(file, "ready_file", "must be an absolute path", bad);
	}
	check_routes(file, cfg, bad);
	check_client_auth(file, cfg, bad);
	/* h2 (issue 4): how streams reach the backend. */
	cfg->backend_h2c = cfg->backend_protocol != NULL &&
			   strcmp(cfg->backend_protocol, "h2c") == 0;
	if (cfg->backend_protocol != NULL && !cfg->backend_h2c &&
	    strcmp(cfg->backend_protocol, "h1") != 0) {
		problem(file, "backend_protocol", "not one of h1, h2c", bad);
	}
}

enum sp_err
sidecar_config_load(const char *path, const struct sidecar_overrides *ov,
		    struct sidecar_config *cfg)
{
	char *errs = NULL;
	enum sp_err rc;
	int bad = 0;

	set_defaults(cfg);
	if (path != NULL) {
		rc = conf_load(path, sidecar_keys, cfg, &errs);
		if (rc == SP_E_USAGE) {
			log_conf_errors(errs);
		} else if (rc == SP_E_NOTFOUND) {
			log_event(LOG_ERR, "config.invalid", "config_invalid",
				  LOG_STR("file", path), LOG_STR("key", "-"),
				  LOG_STR("problem", "file not found"));
		}
		if (rc != SP_OK) {
			goto out;
		}
	}

	rc = SP_E_INTERNAL;
	if (override(&cfg->listen, ov->listen) != 0 ||
	    override(&cfg->backend, ov->backend) != 0 ||
	    override(&cfg->tls_cert, ov->tls_cert) != 0 ||
	    override(&cfg->tls_key, ov->tls_key) != 0) {
		goto out;
	}

	check_values(path, cfg, &bad);
	rc = bad ? SP_E_USAGE : SP_OK;
out:
	free(errs);
	return rc;
}

void
sidecar_config_free(struct sidecar_config *cfg)
{
	conf_free(sidecar_keys, cfg);
	free(cfg->allow);
	cfg->allow = NULL;
	cfg->nallow = 0;
}

unsigned
sidecar_config_workers(const struct sidecar_config *cfg)
{
	cpu_set_t set;
	long n = 1;

	/*
	 * XXX: a cgroup CPU quota (Kubernetes CPU limit) is not read; set
	 * workers to the limit when it is below the CPUs we may run on.
	 */
	if (cfg->workers > 0) {
		n = (long)cfg->workers;
	} else if (sched_getaffinity(0, sizeof(set), &set) == 0) {
		n = CPU_COUNT(&set);
	} else {
		n = sysconf(_SC_NPROCESSORS_ONLN);
	}
	if (n < 1) {
		n = 1;
	} else if (n > SIDECAR_WORKERS_MAX) {
		n = SIDECAR_WORKERS_MAX;
	}
	return (unsigned)n;
}
