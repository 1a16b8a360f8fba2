/*
 * sidecar_config.h: sealpod-sidecar's configuration (docs/sidecar.md).
 *
 * A YAML file read through common/conf.h, then command-line overrides,
 * then defaults and cross-checks. Nothing is used until all of it holds.
 */
#ifndef SEALPOD_SIDECAR_CONFIG_H
#define SEALPOD_SIDECAR_CONFIG_H

#include <stdint.h>

#include "err.h"
#include "ident.h"
#include "netaddr.h"
#include "route.h"

/* Defaults (docs/sidecar.md lists them too). */
#define SIDECAR_DEF_HEADER_BYTES  (32 * 1024)
#define SIDECAR_DEF_HEADERS	  100
#define SIDECAR_DEF_REQUEST_LINE  (8 * 1024)
#define SIDECAR_DEF_CONNECTIONS	  4096
#define SIDECAR_DEF_HEADER_S	  10
#define SIDECAR_DEF_IDLE_S	  300
#define SIDECAR_DEF_CONNECT_S	  5
#define SIDECAR_DEF_DRAIN_S	  30
#define SIDECAR_DEF_DRAIN_DELAY_S 0
#define SIDECAR_DEF_BODY_BYTES	  (64ull * 1024 * 1024)
#define SIDECAR_DEF_WATCH_S	  2
#define SIDECAR_WATCH_MAX	  3600
#define SIDECAR_DEF_BUSY_POLL_US  50
#define SIDECAR_BUSY_POLL_MAX	  1000
#define SIDECAR_DEF_COALESCE_US	  200
#define SIDECAR_COALESCE_MAX	  1000

/* Ceilings on what a configuration may ask for. */
#define SIDECAR_WORKERS_MAX	256
#define SIDECAR_CONNECTIONS_MAX (1024 * 1024)
#define SIDECAR_TIMEOUT_MAX	(7 * 24 * 3600)
#define SIDECAR_BODY_BYTES_MAX	(1ull << 40)

/* tls.client_auth */
enum sidecar_client_auth {
	SIDECAR_AUTH_NONE,     /* no certificate requested */
	SIDECAR_AUTH_OPTIONAL, /* requested; if sent it must verify */
	SIDECAR_AUTH_REQUIRED, /* a verified certificate is required */
};

struct sidecar_config {
	/* As read (malloc'd strings; NULL when absent). */
	char *listen;
	char *backend;
	char *tls_cert;
	char *tls_key;
	char *health_listen;
	char *ready_file;
	char *user;
	char *log_level;
	char *tls_client_ca;
	char *tls_client_auth_str;
	char **tls_allow_records; /* CONF_RECORDS */
	char **route_records;	  /* CONF_RECORDS */
	uint64_t body_bytes;
	uint64_t watch_s; /* tls.watch_s: file poll period, 0 = off */
	/* h2 (issue 4): HTTP/2 from clients, see h2.h. */
	int http2;		  /* offer "h2" in ALPN */
	uint64_t h2_max_streams;  /* concurrent streams per connection */
	uint64_t h2_resets_per_s; /* RST_STREAM per second before GOAWAY */
	char *backend_protocol;	  /* "h1" (default) or "h2c" */
	uint64_t workers;	  /* 0: one per CPU we may run on */
	uint64_t busy_poll_us;	  /* poll before sleeping, at most; 0: off */
	uint64_t coalesce_us;	  /* longest a response is held; 0: off */
	uint64_t header_bytes;
	uint64_t headers;
	uint64_t request_line;
	uint64_t connections;
	uint64_t header_s;
	uint64_t idle_s;
	uint64_t connect_s;
	uint64_t drain_s;
	uint64_t drain_delay_s;

	/* Derived by sidecar_config_load(). */
	struct netaddr listen_addr;
	struct netaddr backend_addr;
	struct netaddr health_addr;
	int have_health;
	int backend_h2c; /* backend_protocol is "h2c" */
	enum sidecar_client_auth client_auth;
	struct ident_rule *allow; /* nallow entries, malloc'd */
	size_t nallow;
	struct route_table routes; /* the defaults unless configured */
};

/* Command-line values that replace the file's (NULL: keep the file's). */
struct sidecar_overrides {
	const char *listen;
	const char *backend;
	const char *tls_cert;
	const char *tls_key;
};

/*
 * Fill cfg from path (NULL: no file, defaults and overrides only), apply
 * ov, defaults and checks. Every problem is logged as a "config.invalid"
 * event ("file:line: key: problem") before returning SP_E_USAGE. Returns
 * SP_OK, SP_E_USAGE, SP_E_NOTFOUND (no such file) or SP_E_INTERNAL. Free
 * with sidecar_config_free() whatever the result.
 */
SP_MUST_CHECK enum sp_err
sidecar_config_load(const char *path, const struct sidecar_overrides *ov,
		    struct sidecar_config *cfg);

/* Free the strings of cfg; cfg may then be loaded again. */
void sidecar_config_free(struct sidecar_config *cfg);

/* Number of workers to start: cfg->workers, or the usable CPUs. */
unsigned sidecar_config_workers(const struct sidecar_config *cfg);

#endif
