/*
 * main.c: sealpod-sidecar, the TLS front door of a confidential pod.
 *
 * Sequencing only: read the configuration, load the certificate, bind,
 * drop privileges, start the workers, serve until drained.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <openssl/crypto.h>

#include "control.h"
#include "log.h"
#include "loop.h"
#include "privs.h"
#include "reload.h"
#include "server.h"
#include "sidecar_config.h"
#include "tlsctx.h"

/* Exit statuses (documented in --help and docs/sidecar.md). */
#define EXIT_OK	      0
#define EXIT_INTERNAL 1
#define EXIT_USAGE    2
#define EXIT_TLS      3
#define EXIT_BIND     4
#define EXIT_PRIVS    5

static const char help_text[] =
    "NAME\n"
    "    sealpod-sidecar - TLS front door for a confidential model server\n"
    "\n"
    "SYNOPSIS\n"
    "    sealpod-sidecar [--config FILE] [--listen ADDR] [--backend ADDR]\n"
    "                    [--cert FILE] [--key FILE] [--check]\n"
    "    sealpod-sidecar --help | --version\n"
    "\n"
    "DESCRIPTION\n"
    "    Terminates HTTPS (TLS 1.2 and 1.3; ALPN h2, preferred, and\n"
    "    http/1.1) and forwards each request to a model server on the\n"
    "    loopback interface, over HTTP/1.1 or, with backend_protocol h2c,\n"
    "    cleartext HTTP/2. Only the paths and methods of the route\n"
    "    allowlist are forwarded (normalised first); anything else is 404.\n"
    "    Bodies are streamed both ways as they arrive, so server-sent\n"
    "    events reach the client token by token; there is no total request\n"
    "    timeout. WebSocket upgrades pass on routes that allow them. With\n"
    "    tls.client_ca, callers must present a certificate (mutual TLS)\n"
    "    that the tls.allow rules admit. Until the init container's ready\n"
    "    marker exists every request is answered 503 and nothing reaches\n"
    "    the backend. A client that goes away closes its backend\n"
    "    connection at once. Each request, on either protocol, writes one\n"
    "    JSON access-log line to stderr with metadata only (no bodies,\n"
    "    query strings or header values). A plain-HTTP health port serves\n"
    "    /healthz, /readyz and /metrics.\n"
    "\n"
    "OPTIONS\n"
    "    --config FILE   YAML configuration (see CONFIGURATION).\n"
    "    --listen ADDR   TLS listen address, e.g. 0.0.0.0:8443 or [::]:8443.\n"
    "    --backend ADDR  Model server, a loopback host:port.\n"
    "    --cert FILE     PEM certificate chain, leaf first.\n"
    "    --key FILE      PEM private key; must not be group/world readable.\n"
    "    --check         Validate the configuration and the certificate,\n"
    "                    then exit.\n"
    "    --help          Show this text.\n"
    "    --version       Show the version.\n"
    "    Flags override the same keys of the file.\n"
    "\n"
    "CONFIGURATION\n"
    "    Every key; docs/sidecar.md \"Configuration reference\" has the\n"
    "    full text. Defaults in parentheses.\n"
    "    listen                  TLS address (required)\n"
    "    backend                 loopback host:port (required)\n"
    "    backend_protocol        h1 or h2c, how requests reach it (h1)\n"
    "    tls.cert, tls.key       PEM files (required)\n"
    "    tls.watch_s             seconds between looks at the TLS files\n"
    "                            for a change; 0 = off (2)\n"
    "    tls.client_ca           PEM bundle trusted for client\n"
    "                            certificates (no mutual TLS if unset)\n"
    "    tls.client_auth         none, optional or required\n"
    "    tls.allow               caller rules, e.g. [{cn: gateway},\n"
    "                            {dns: \"*.example\"}, {uri: ...}]\n"
    "    routes                  allowlist: [{prefix: /v1/, methods: [POST],\n"
    "                            websocket: false}, ...] (the inference\n"
    "                            paths); an empty list is an error\n"
    "    http2.enabled           offer h2 in ALPN (true)\n"
    "    http2.max_streams       concurrent streams per connection (100)\n"
    "    http2.max_resets_per_s  client stream resets before GOAWAY (200)\n"
    "    health.listen           plain-HTTP address of /healthz, /readyz\n"
    "                            and /metrics (none if unset)\n"
    "    ready_file              absolute path of the marker to wait for,\n"
    "                            e.g. /models/.sealpod-ready (no gate if\n"
    "                            unset; /readyz then says \"disabled\")\n"
    "    workers                 threads; 0 = one per usable CPU (0)\n"
    "    busy_poll_us            most a busy worker polls before sleeping,\n"
    "                            adaptive; 0 = never (50)\n"
    "    coalesce_us             most a response waits for its body or\n"
    "                            the worker's burst; 0 = never (200)\n"
    "    user                    switch to this user after binding\n"
    "    limits.body_bytes       request body (64 MiB) -> 413\n"
    "    limits.header_bytes     request head size (32768) -> 431\n"
    "    limits.headers          header fields (100) -> 431\n"
    "    limits.request_line     request line (8192) -> 414\n"
    "    limits.connections      open client connections (4096)\n"
    "    timeouts.header_s       to receive a request head (10) -> 408\n"
    "    timeouts.idle_s         between bytes of an exchange, and on\n"
    "                            idle keep-alive connections (300)\n"
    "    timeouts.connect_s      backend connect (5) -> 504\n"
    "    timeouts.drain_s        drain after SIGTERM (30)\n"
    "    timeouts.drain_delay_s  keep accepting after SIGTERM (0)\n"
    "    log.level               debug, info, warn or error (info)\n"
    "    Unknown keys are errors.\n"
    "\n"
    "SIGNALS\n"
    "    SIGTERM, SIGINT  /readyz fails at once; after drain_delay_s the\n"
    "                     listeners close and each connection ends after\n"
    "                     its exchange; after drain_s more the rest is cut;\n"
    "                     exit 0. A second signal cuts at once.\n"
    "    SIGHUP           Reload tls.cert, tls.key and tls.client_ca for\n"
    "                     new handshakes; a bad set is refused and the old\n"
    "                     one kept.\n"
    "    file watch       Every tls.watch_s seconds the same files are\n"
    "                     looked at (through symlinks, so a Kubernetes\n"
    "                     Secret update counts); a change reloads as\n"
    "                     SIGHUP does, once per change.\n"
    "\n"
    "EXIT STATUS\n"
    "    0  stopped after a drain (or --check passed)\n"
    "    1  internal error while starting\n"
    "    2  usage or configuration error\n"
    "    3  certificate or key unusable (missing, malformed, mismatched,\n"
    "       or key file readable by group or others)\n"
    "    4  an address could not be bound\n"
    "    5  privileges could not be dropped\n"
    "\n"
    "EXAMPLES\n"
    "    sealpod-sidecar --config /etc/sealpod/sidecar.yaml\n"
    "    sealpod-sidecar --listen 0.0.0.0:8443 --backend 127.0.0.1:8000 \\\n"
    "        --cert /tls/tls.crt --key /tls/tls.key\n"
    "    kill -TERM $(pidof sealpod-sidecar)    # drain and exit\n";

struct cli {
	const char *config;
	struct sidecar_overrides ov;
	int check;
};

enum cli_result { CLI_RUN, CLI_EXIT_OK, CLI_EXIT_USAGE };

static enum cli_result
parse_args(int argc, char **argv, struct cli *cli)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"listen", required_argument, NULL, 'l'},
	    {"backend", required_argument, NULL, 'b'},
	    {"cert", required_argument, NULL, 'C'},
	    {"key", required_argument, NULL, 'K'},
	    {"check", no_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	enum cli_result r = CLI_RUN;
	int ch;

	memset(cli, 0, sizeof(*cli));
	while (r == CLI_RUN) {
		ch = getopt_long(argc, argv, "", opts, NULL);
		if (ch == -1) {
			break;
		}
		switch (ch) {
		case 'c':
			cli->config = optarg;
			break;
		case 'l':
			cli->ov.listen = optarg;
			break;
		case 'b':
			cli->ov.backend = optarg;
			break;
		case 'C':
			cli->ov.tls_cert = optarg;
			break;
		case 'K':
			cli->ov.tls_key = optarg;
			break;
		case 'k':
			cli->check = 1;
			break;
		case 'h':
			fputs(help_text, stdout);
			r = CLI_EXIT_OK;
			break;
		case 'V':
			printf("sealpod-sidecar %s (%s)\n", SEALPOD_VERSION,
			       OpenSSL_version(OPENSSL_VERSION));
			r = CLI_EXIT_OK;
			break;
		default:
			r = CLI_EXIT_USAGE;
			break;
		}
	}
	if (r == CLI_RUN && optind < argc) {
		r = CLI_EXIT_USAGE;
	}
	if (r == CLI_EXIT_USAGE) {
		fputs("usage: sealpod-sidecar [--config FILE] [--listen ADDR] "
		      "[--backend ADDR] [--cert FILE] [--key FILE] [--check]\n"
		      "       (--help for details)\n",
		      stderr);
	}
	return r;
}

/* Each connection takes two descriptors; ask for the hard limit. */
static void
raise_fd_limit(const struct sidecar_config *cfg)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur < 2 * cfg->connections + 64) {
		log_event(LOG_WARN, "sidecar.fd_limit.low", "resources",
			  LOG_U64("nofile", rl.rlim_cur),
			  LOG_U64("connections", cfg->connections));
	}
}

/* SIGPIPE ignored; the control signals only ever read from a signalfd. */
static void
setup_signals(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static void
log_started(struct server *srv)
{
	const struct sidecar_config *cfg = srv->cfg;
	char fp[32];

	reload_fingerprint(srv->ctx, fp, sizeof(fp));
	log_event(
	    LOG_INFO, "sidecar.started", NULL, LOG_STR("listen", cfg->listen),
	    LOG_U64("port", srv->port), LOG_STR("backend", cfg->backend),
	    LOG_STR("health", cfg->have_health ? cfg->health_listen : "-"),
	    LOG_BOOL("ready_gate", cfg->ready_file != NULL),
	    LOG_U64("workers", srv->nworkers), LOG_STR("fingerprint", fp),
	    LOG_STR("version", SEALPOD_VERSION));
}

/* Bind, drop privileges, start the workers and serve until drained. */
static int
serve(struct server *srv)
{
	int code = EXIT_INTERNAL;

	setup_signals();
	raise_fd_limit(srv->cfg);
	if (server_bind(srv) != SP_OK) {
		code = EXIT_BIND;
		goto out;
	}
	if (privs_drop(srv->cfg->user) != SP_OK) {
		code = EXIT_PRIVS;
		goto out;
	}
	server_marker_refresh(srv);
	if (loop_init(srv) != SP_OK || loop_start(srv) != SP_OK) {
		goto stop;
	}

	log_started(srv);
	if (control_run(srv) != SP_OK) {
		goto stop;
	}
	code = EXIT_OK;
	log_event(LOG_INFO, "sidecar.stopped", NULL);
	goto out;
stop:
	atomic_store(&srv->closing, 1);
	atomic_store(&srv->stopping, 1);
	loop_wake(srv);
out:
	loop_free(srv);
	return code;
}

int
main(int argc, char **argv)
{
	struct cli cli;
	struct sidecar_config cfg;
	struct server srv;
	SSL_CTX *ctx = NULL;
	enum log_level level = LOG_INFO;
	enum cli_result cr;
	enum sp_err rc;
	int code = EXIT_USAGE;

	memset(&cfg, 0, sizeof(cfg));
	memset(&srv, 0, sizeof(srv));
	srv.health_fd = -1;
	log_init("sealpod-sidecar", stderr);
	cr = parse_args(argc, argv, &cli);
	if (cr != CLI_RUN) {
		code = cr == CLI_EXIT_OK ? EXIT_OK : EXIT_USAGE;
		goto out;
	}
	rc = sidecar_config_load(cli.config, &cli.ov, &cfg);
	if (rc != SP_OK) {
		code = rc == SP_E_INTERNAL ? EXIT_INTERNAL : EXIT_USAGE;
		goto out;
	}
	if (cfg.log_level != NULL &&
	    log_level_parse(cfg.log_level, &level) == 0) {
		log_set_level(level);
	}

	code = EXIT_TLS;
	if (tlsctx_new_cfg(&cfg, &ctx) != SP_OK) {
		goto out;
	}
	code = EXIT_INTERNAL;
	rc = server_init(&srv, &cfg, ctx);
	ctx = NULL;
	if (rc != SP_OK) {
		goto out;
	}
	if (cli.check) {
		log_event(LOG_INFO, "config.ok", NULL);
		code = EXIT_OK;
		goto out;
	}
	code = serve(&srv);
out:
	if (srv.cfg != NULL) {
		server_free(&srv);
	}
	SSL_CTX_free(ctx);
	sidecar_config_free(&cfg);
	return code;
}
