/*
 * test_sidecar_config.c: the sidecar's configuration and addresses.
 *
 * Real YAML files in a temporary directory through the real conf module:
 * defaults, flag overrides, cross-checks (loopback backend, request line
 * within the head limit), refusals, and the numeric address parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "netaddr.h"
#include "sidecar_config.h"

static char dir[] = "/tmp/sealpod-cfgtest.XXXXXX";

static int
setup(void **state)
{
	(void)state;
	log_init("test", fopen("/dev/null", "w"));
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char path[256];

	(void)state;
	snprintf(path, sizeof(path), "%s/c.yaml", dir);
	unlink(path);
	return rmdir(dir);
}

/* Write text to the test config and load it with ov. */
static enum sp_err
load(const char *text, const struct sidecar_overrides *ov,
     struct sidecar_config *cfg)
{
	static const struct sidecar_overrides none = {0};
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/c.yaml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return sidecar_config_load(path, ov != NULL ? ov : &none, cfg);
}

#define BASE                                                                   \
	"listen: \"0.0.0.0:8443\"\n"                                           \
	"backend: \"127.0.0.1:8000\"\n"                                        \
	"tls:\n  cert: /tls/tls.crt\n  key: /tls/tls.key\n"

static void
test_defaults(void **state)
{
	struct sidecar_config cfg;

	(void)state;
	assert_int_equal(load(BASE, NULL, &cfg), SP_OK);
	assert_int_equal(cfg.header_bytes, 32768);
	assert_int_equal(cfg.headers, 100);
	assert_int_equal(cfg.connections, 4096);
	assert_int_equal(cfg.header_s, 10);
	assert_int_equal(cfg.idle_s, 300);
	assert_int_equal(cfg.drain_s, 30);
	assert_int_equal(cfg.have_health, 0);
	assert_null(cfg.ready_file);
	assert_true(sidecar_config_workers(&cfg) >= 1);
	sidecar_config_free(&cfg);
}

static void
test_full_file(void **state)
{
	struct sidecar_config cfg;

	(void)state;
	assert_int_equal(load(BASE "health:\n  listen: \"[::]:8081\"\n"
				   "ready_file: /models/.sealpod-ready\n"
				   "workers: 3\n"
				   "limits:\n  header_bytes: 65536\n"
				   "  headers: 50\n  connections: 10\n"
				   "timeouts:\n  idle_s: 600\n  drain_s: 120\n"
				   "log:\n  level: debug\n",
			      NULL, &cfg),
			 SP_OK);
	assert_int_equal(cfg.have_health, 1);
	assert_int_equal(cfg.health_addr.ss.ss_family, AF_INET6);
	assert_string_equal(cfg.ready_file, "/models/.sealpod-ready");
	assert_int_equal(sidecar_config_workers(&cfg), 3);
	assert_int_equal(cfg.header_bytes, 65536);
	assert_int_equal(cfg.idle_s, 600);
	assert_string_equal(cfg.log_level, "debug");
	sidecar_config_free(&cfg);
}

static void
test_overrides(void **state)
{
	struct sidecar_overrides ov = {"127.0.0.1:9443", "[::1]:9000",
				       "/other.crt", "/other.key"};
	struct sidecar_config cfg;

	(void)state;
	assert_int_equal(load(BASE, &ov, &cfg), SP_OK);
	assert_string_equal(cfg.listen, "127.0.0.1:9443");
	assert_string_equal(cfg.backend, "[::1]:9000");
	assert_string_equal(cfg.tls_cert, "/other.crt");
	assert_string_equal(cfg.tls_key, "/other.key");
	assert_int_equal(netaddr_port((struct sockaddr *)&cfg.listen_addr.ss),
			 9443);
	sidecar_config_free(&cfg);

	/* Flags alone, no file. */
	assert_int_equal(sidecar_config_load(NULL, &ov, &cfg), SP_OK);
	sidecar_config_free(&cfg);
}

static void
test_refusals(void **state)
{
	static const char *const bad[] = {
	    BASE "bakend: x\n",
	    BASE "workers: 100000\n",
	    BASE "limits:\n  header_bytes: 10\n",
	    BASE "limits:\n  request_line: 40000\n",
	    BASE "log:\n  level: verbose\n",
	    BASE "timeouts:\n  idle_s: 0\n",
	    "listen: \"0.0.0.0:8443\"\nbackend: \"10.0.0.5:8000\"\n"
	    "tls:\n  cert: a\n  key: b\n",
	    "listen: \"0.0.0.0:8443\"\nbackend: \"model:8000\"\n"
	    "tls:\n  cert: a\n  key: b\n",
	    "listen: \"0.0.0.0:8443\"\nbackend: \"127.0.0.1:0\"\n"
	    "tls:\n  cert: a\n  key: b\n",
	    "listen: \"0.0.0.0:8443\"\nbackend: \"[::1]:0\"\n"
	    "tls:\n  cert: a\n  key: b\n",
	    "listen: \"0.0.0.0:8443\"\nbackend: \"127.0.0.1:8000\"\n",
	    "backend: \"127.0.0.1:8000\"\ntls:\n  cert: a\n  key: b\n",
	    /* h32 L12: configurations that could never serve. */
	    BASE "routes: []\n",
	    BASE "ready_file: relative/marker\n",
	    BASE "ready_file: \"\"\n",
	    NULL,
	};
	struct sidecar_config cfg;
	size_t i;

	(void)state;
	for (i = 0; bad[i] != NULL; i++) {
		if (load(bad[i], NULL, &cfg) != SP_E_USAGE) {
			fail_msg("config %zu was accepted", i);
		}
		sidecar_config_free(&cfg);
	}
}

/* The accepted forms next to the L12 refusals. */
static void
test_routes_ready_file(void **state)
{
	struct sidecar_config cfg;

	(void)state;
	assert_int_equal(load(BASE "ready_file: /run/ready\n"
				   "routes: [{prefix: /v1/}]\n",
			      NULL, &cfg),
			 SP_OK);
	assert_string_equal(cfg.ready_file, "/run/ready");
	assert_int_equal(cfg.routes.n, 1);
	sidecar_config_free(&cfg);
}

/* Load text with the log captured; the log text into out (cap bytes). */
static enum sp_err
load_logged(const char *text, char *out, size_t cap)
{
	struct sidecar_config cfg;
	char path[256];
	enum sp_err rc;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/log.txt", dir);
	f = fopen(path, "w+");
	assert_non_null(f);
	log_init("test", f);
	rc = load(text, NULL, &cfg);
	sidecar_config_free(&cfg);
	fflush(f);
	rewind(f);
	n = fread(out, 1, cap - 1, f);
	out[n] = '\0';
	log_init("test", fopen("/dev/null", "w"));
	fclose(f);
	unlink(path);
	return rc;
}

/*
 * h32 L8: every config.invalid event has one shape, file, key and
 * problem fields (and line for YAML errors), and the reason init uses.
 */
static void
test_error_shape(void **state)
{
	char log[4096];

	(void)state;
	assert_int_equal(load_logged(BASE "bakend: x\n", log, sizeof(log)),
			 SP_E_USAGE);
	assert_non_null(strstr(log, "\"event\":\"config.invalid\""));
	assert_non_null(strstr(log, "\"reason\":\"config_invalid\""));
	assert_non_null(strstr(log, "c.yaml\",\"line\":6,\"key\":\"bakend\""));
	assert_non_null(strstr(log, "\"problem\":\""));

	assert_int_equal(load_logged(BASE "routes: []\n", log, sizeof(log)),
			 SP_E_USAGE);
	assert_non_null(strstr(log, "\"reason\":\"config_invalid\""));
	assert_non_null(strstr(log, "c.yaml\",\"key\":\"routes\""));
	assert_non_null(strstr(log, "\"problem\":\"empty"));
	assert_null(strstr(log, "\"usage\""));
}

static void
test_netaddr(void **state)
{
	static const char *const good[] = {
	    "127.0.0.1:80", "[::1]:443", "localhost:8000", ":8443", "0.0.0.0:0",
	    "[::]:65535",   NULL};
	static const char *const bad[] = {
	    "127.0.0.1",       "127.0.0.1:",	  "::1:80",  "model:80",
	    "127.0.0.1:65536", "127.0.0.1:99999", "[::1]80", "127.0.0.1:8a",
	    "127.0.0.1:-1",    "[::1:80",	  NULL};
	struct netaddr a;
	char ip[NETADDR_STR_MAX];
	size_t i;

	(void)state;
	for (i = 0; good[i] != NULL; i++) {
		if (netaddr_parse(good[i], &a) != 0) {
			fail_msg("refused %s", good[i]);
		}
	}
	for (i = 0; bad[i] != NULL; i++) {
		if (netaddr_parse(bad[i], &a) == 0) {
			fail_msg("accepted %s", bad[i]);
		}
	}
	assert_int_equal(netaddr_parse("localhost:1", &a), 0);
	assert_true(netaddr_is_loopback(&a));
	assert_int_equal(netaddr_parse("127.9.9.9:1", &a), 0);
	assert_true(netaddr_is_loopback(&a));
	assert_int_equal(netaddr_parse("[::1]:1", &a), 0);
	assert_true(netaddr_is_loopback(&a));
	assert_int_equal(netaddr_parse("[::ffff:127.0.0.1]:1", &a), 0);
	assert_true(netaddr_is_loopback(&a));
	netaddr_ip((struct sockaddr *)&a.ss, ip, sizeof(ip));
	assert_string_equal(ip, "127.0.0.1");
	assert_int_equal(netaddr_parse("10.0.0.1:1", &a), 0);
	assert_false(netaddr_is_loopback(&a));
	assert_int_equal(netaddr_parse("[::ffff:10.0.0.1]:1", &a), 0);
	assert_false(netaddr_is_loopback(&a));
}

#define CONTROLS_BASE                                                          \
	"listen: \"0.0.0.0:8443\"\n"                                           \
	"backend: \"127.0.0.1:8000\"\n"

/* Routes, mutual TLS and body limit: defaults, full form, refusals. */
static void
test_controls(void **state)
{
	static const char *const bad[] = {
	    "tls: {cert: a, key: b, client_auth: required}\n",
	    "tls: {cert: a, key: b, client_ca: c, client_auth: maybe}\n",
	    "tls: {cert: a, key: b, allow: [{dns: a.example}]}\n",
	    "tls: {cert: a, key: b, client_ca: c, allow: [{dns: a, cn: b}]}\n",
	    "tls: {cert: a, key: b, client_ca: c, allow: [{ip: 1.2.3.4}]}\n",
	    "tls: {cert: a, key: b, client_ca: c, allow: [dns]}\n",
	    "tls: {cert: a, key: b}\nroutes: [{prefix: /a, methods: []}]\n",
	    "tls: {cert: a, key: b}\nroutes: [{prefix: [/a]}]\n",
	    "tls: {cert: a, key: b}\nroutes: [{prefix: {a: b}}]\n",
	    "tls: {cert: a, key: b}\nroutes: {prefix: /a}\n",
	    "tls: {cert: a, key: b}\nlimits: {body_bytes: -1}\n",
	};
	struct sidecar_config cfg;
	char text[512];
	size_t i;

	(void)state;
	assert_int_equal(load(BASE, NULL, &cfg), SP_OK);
	assert_int_equal(cfg.routes.n, 5);
	assert_string_equal(cfg.routes.r[0].prefix, "/v1/chat/completions");
	assert_int_equal(cfg.client_auth, SIDECAR_AUTH_NONE);
	assert_int_equal(cfg.body_bytes, 64ull * 1024 * 1024);
	assert_int_equal(cfg.watch_s, 2);
	sidecar_config_free(&cfg);

	assert_int_equal(
	    load(CONTROLS_BASE
		 "tls:\n  cert: a\n  key: b\n  client_ca: /ca.pem\n"
		 "  allow:\n    - uri: \"spiffe://gw.example/ns/*/sa/gw\"\n"
		 "    - {dns: \"*.gw.example\"}\n  watch_s: 0\n"
		 "routes:\n  - prefix: /v1/\n    methods: [GET, POST]\n"
		 "  - {prefix: /ws, websocket: true}\n"
		 "limits: {body_bytes: 1000}\n",
		 NULL, &cfg),
	    SP_OK);
	assert_int_equal(cfg.client_auth, SIDECAR_AUTH_REQUIRED);
	assert_int_equal(cfg.nallow, 2);
	assert_int_equal(cfg.allow[0].kind, IDENT_URI);
	assert_string_equal(cfg.allow[1].pattern, "*.gw.example");
	assert_int_equal(cfg.routes.n, 2);
	assert_int_equal(cfg.routes.r[0].methods, ROUTE_GET | ROUTE_POST);
	assert_int_equal(cfg.routes.r[1].websocket, 1);
	assert_int_equal(cfg.routes.r[1].methods, ROUTE_ALL);
	assert_int_equal(cfg.body_bytes, 1000);
	assert_int_equal(cfg.watch_s, 0);
	sidecar_config_free(&cfg);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "%s%s", CONTROLS_BASE, bad[i]);
		assert_int_equal(load(text, NULL, &cfg), SP_E_USAGE);
		sidecar_config_free(&cfg);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_full_file),
	    cmocka_unit_test(test_overrides),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_netaddr),
	    cmocka_unit_test(test_controls),
	    cmocka_unit_test(test_routes_ready_file),
	    cmocka_unit_test(test_error_shape),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
