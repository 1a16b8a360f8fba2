/*
 * test_http.c: the libcurl client against a real HTTPS server on
 * 127.0.0.1 (tests/unit/http_server.py, certificates made with the
 * openssl CLI in a temporary directory).
 */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "http.h"
#include "util.h"

#define SERVER_WAIT_MS 30000
#define BIG	       100000

static char workdir[] = "/tmp/sealpod-test-http.XXXXXX";
static pid_t server_pid = -1;
static int https_port;
static int http_port;
static char ca_path[256];
static char otherca_path[256];

static void
url(char *out, size_t cap, int tls, const char *path)
{
	snprintf(out, cap, "%s://127.0.0.1:%d%s", tls ? "https" : "http",
		 tls ? https_port : http_port, path);
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

static void
stop_server(void)
{
	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		waitpid(server_pid, NULL, 0);
		server_pid = -1;
	}
	nftw(workdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int
start_server(void **state)
{
	char script[512];
	char ports[300];
	FILE *f = NULL;
	int waited;

	(void)state;
	if (mkdtemp(workdir) == NULL) {
		return -1;
	}
	snprintf(script, sizeof(script), "%s/tests/unit/http_server.py",
		 SEALPOD_SRCDIR);
	snprintf(ports, sizeof(ports), "%s/ports", workdir);
	snprintf(ca_path, sizeof(ca_path), "%s/ca.pem", workdir);
	snprintf(otherca_path, sizeof(otherca_path), "%s/otherca.pem", workdir);

	server_pid = fork();
	if (server_pid == 0) {
		execl("/usr/bin/python3", "python3", script, workdir,
		      (char *)NULL);
		_exit(127);
	}
	if (server_pid < 0) {
		return -1;
	}
	for (waited = 0; waited < SERVER_WAIT_MS; waited += 50) {
		f = fopen(ports, "r");
		if (f != NULL) {
			break;
		}
		if (waitpid(server_pid, NULL, WNOHANG) == server_pid) {
			server_pid = -1;
			return -1;
		}
		usleep(50 * 1000);
	}
	if (f == NULL) {
		stop_server();
		return -1;
	}
	if (fscanf(f, "%d %d", &https_port, &http_port) != 2) {
		fclose(f);
		stop_server();
		return -1;
	}
	fclose(f);
	return 0;
}

static int
stop_server_group(void **state)
{
	(void)state;
	stop_server();
	return 0;
}

static struct http_client *
client(const char *ca, int allow_http, long idle)
{
	struct http_opts o = {0};
	struct http_client *c;

	o.ca_file = ca;
	o.allow_http = allow_http;
	o.idle_timeout_s = idle;
	o.connect_timeout_ms = 5000;
	o.total_timeout_s = 60;
	c = http_client_new(&o);
	assert_non_null(c);
	return c;
}

static enum sp_err
get(struct http_client *c, const char *path, size_t max,
    struct http_response *r)
{
	char u[256];

	url(u, sizeof(u), 1, path);
	return http_request(c, "GET", u, NULL, NULL, 0, max, r);
}

static void
check_pattern(const unsigned char *p, size_t n, size_t from)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] != (unsigned char)((from + i) % 251)) {
			fail_msg("byte %zu differs", from + i);
		}
	}
}

static void
test_status_and_body(void **state)
{
	struct http_client *c = client(ca_path, 0, 0);
	struct http_response r;

	(void)state;
	assert_int_equal(get(c, "/status/418", 1000, &r), SP_OK);
	assert_int_equal(r.status, 418);
	assert_string_equal(r.body, "status 418");
	assert_string_equal(r.errbuf, "");
	free(r.body);

	assert_int_equal(get(c, "/bytes/1000", 1000, &r), SP_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, 1000);
	check_pattern((unsigned char *)r.body, r.len, 0);
	assert_int_equal(r.body[1000], '\0');
	free(r.body);

	assert_int_equal(get(c, "/status/204", 1000, &r), SP_OK);
	assert_int_equal(r.status, 204);
	assert_non_null(r.body);
	assert_int_equal(r.len, 0);
	free(r.body);
	http_client_free(c);
}

static void
test_body_ceiling(void **state)
{
	struct http_client *c = client(ca_path, 0, 0);
	struct http_response r;

	(void)state;
	/* Refused from Content-Length. */
	assert_int_equal(get(c, "/bytes/1001", 1000, &r), SP_E_FETCH);
	assert_string_equal(r.errbuf, "body over ceiling");
	assert_null(r.body);
	free(r.body);

	/* Chunked: no length up front, refused in the write callback. */
	assert_int_equal(get(c, "/chunked/5000", 4000, &r), SP_E_FETCH);
	assert_string_equal(r.errbuf, "body over ceiling");
	free(r.body);

	assert_int_equal(get(c, "/chunked/5000", 5000, &r), SP_OK);
	assert_int_equal(r.len, 5000);
	assert_int_equal(r.oversize, 0);
	check_pattern((unsigned char *)r.body, r.len, 0);
	free(r.body);
	http_client_free(c);
}

/* Oversized replies are told apart from transport failures (F9). */
static void
test_oversize_flag(void **state)
{
	struct http_client *c = client(ca_path, 0, 0);
	struct http_response r;

	(void)state;
	assert_int_equal(get(c, "/bytes/1001", 1000, &r), SP_E_FETCH);
	assert_int_equal(r.oversize, 1);
	free(r.body);

	assert_int_equal(get(c, "/many-headers", 1000, &r), SP_E_FETCH);
	assert_int_equal(r.oversize, 1);
	assert_string_equal(r.errbuf, "response headers over ceiling");
	free(r.body);

	assert_int_equal(get(c, "/big-cookie", 1000, &r), SP_E_FETCH);
	assert_int_equal(r.oversize, 1);
	assert_string_equal(r.errbuf, "response headers over ceiling");
	free(r.body);

	/* The client is still usable, and a fair header block passes. */
	assert_int_equal(get(c, "/some-headers", 1000, &r), SP_OK);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.oversize, 0);
	free(r.body);
	http_client_free(c);

	/* A transport failure is not an oversize. */
	c = client(NULL, 0, 0);
	assert_int_equal(get(c, "/bytes/10", 1000, &r), SP_E_FETCH);
	assert_int_equal(r.oversize, 0);
	free(r.body);
	http_client_free(c);
}

static void
test_ca_mismatch_refused(void **state)
{
	struct http_client *c;
	struct http_response r;

	(void)state;
	c = client(otherca_path, 0, 0);
	assert_int_equal(get(c, "/status/200", 1000, &r), SP_E_FETCH);
	assert_true(r.errbuf[0] != '\0');
	assert_int_equal(r.status, 0);
	free(r.body);
	http_client_free(c);

	/* The system store does not know our test CA either. */
	c = client(NULL, 0, 0);
	assert_int_equal(get(c, "/status/200", 1000, &r), SP_E_FETCH);
	free(r.body);
	http_client_free(c);
}

static void
test_cookie_round_trip(void **state)
{
	struct http_client *c = client(ca_path, 0, 0);
	struct http_client *other = client(ca_path, 0, 0);
	struct http_response r;

	(void)state;
	assert_int_equal(get(c, "/echo-cookie", 1000, &r), SP_OK);
	assert_string_equal(r.body, "");
	free(r.body);

	assert_int_equal(get(c, "/set-cookie", 1000, &r), SP_OK);
	free(r.body);
	assert_int_equal(get(c, "/echo-cookie", 1000, &r), SP_OK);
	assert_string_equal(r.body, "sess=abc123");
	free(r.body);

	/* Each client has its own jar. */
	assert_int_equal(get(other, "/echo-cookie", 1000, &r), SP_OK);
	assert_string_equal(r.body, "");
	free(r.body);
	http_client_free(other);
	http_client_free(c);
}

static void
test_http_refused_by_default(void **state)
{
	struct http_client *c = client(ca_path, 0, 0);
	struct http_response r;
	char u[256];
	char err[HTTP_ERRBUF];

	(void)state;
	url(u, sizeof(u), 0, "/status/200");
	assert_int_equal(http_request(c, "GET", u, NULL, NULL, 0, 100, &r),
			 SP_E_USAGE);
	free(r.body);
	assert_int_equal(http_stream(c, u, NULL, 0, 0, NULL, NULL, err),
			 SP_E_USAGE);
	/* Mixed case scheme still counts as http. */
	snprintf(u, sizeof(u), "HtTp://127.0.0.1:%d/status/200", http_port);
	assert_int_equal(http_request(c, "GET", u, NULL, NULL, 0, 100, &r),
			 SP_E_USAGE);
	free(r.body);
	http_client_free(c);

	c = client(ca_path, 1, 0);
	url(u, sizeof(u), 0, "/status/200");
	assert_int_equal(http_request(c, "GET", u, NULL, NULL, 0, 100, &r),
			 SP_OK);
	assert_int_equal(r.status, 200);
	free(r.body);
	assert_int_equal(http_request(c, "GET", "file:///etc/passwd", NULL,
				      NULL, 0, 100, &r),
			 SP_E_USAGE);
	free(r.body);
	assert_int_equal(
	    http_request(c, "GET", "ftp://127.0.0.1/", NULL, NULL, 0, 100, &r),
	    SP_E_USAGE);
	free(r.body);
	http_client_free(c);
}

static void
test_no_redirects(void **state)
{
	struct http_client *c = client(ca_path, 0, 0);
	struct http_response r;

	(void)state;
	assert_int_equal(get(c, "/redirect", 1000, &r), SP_OK);
	assert_int_equal(r.status, 302);
	assert_string_equal(r.body, "moved");
	free(r.body);
	http_client_free(c);
}

static void
test_methods_headers_and_reset(void **state)
{
	static const char *const hdrs[] = {
	    "X-Test: hello", "Content-Type: application/json", NULL};
	struct http_client *c = client(ca_path, 0, 0);
	struct http_response r;
	char u[256];

	(void)state;
	url(u, sizeof(u), 1, "/echo");
	assert_int_equal(
	    http_request(c, "POST", u, hdrs, "{\"a\":1}", 7, 100, &r), SP_OK);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"a\":1}");
	free(r.body);

	url(u, sizeof(u), 1, "/x");
	assert_int_equal(http_request(c, "PUT", u, NULL, "b", 1, 100, &r),
			 SP_OK);
	assert_int_equal(r.status, 201);
	assert_string_equal(r.body, "PUT b");
	free(r.body);

	/* Nothing of the PUT (method, body, headers) carries over. */
	url(u, sizeof(u), 1, "/echo-header");
	assert_int_equal(http_request(c, "GET", u, NULL, NULL, 0, 100, &r),
			 SP_OK);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "");
	free(r.body);

	assert_int_equal(http_request(c, "GET", u, hdrs, NULL, 0, 100, &r),
			 SP_OK);
	assert_string_equal(r.body, "hello");
	free(r.body);

	url(u, sizeof(u), 1, "/x");
	assert_int_equal(http_request(c, "DELETE", u, NULL, NULL, 0, 100, &r),
			 SP_OK);
	assert_string_equal(r.body, "DELETE");
	free(r.body);
	http_client_free(c);
}

struct collect {
	unsigned char *buf;
	size_t len;
	size_t cap;
	int calls;
	int fail_with;
};

static int
collect_sink(void *arg, const void *buf, size_t len)
{
	struct collect *k = arg;

	k->calls++;
	if (k->fail_with != 0) {
		return k->fail_with;
	}
	if (len > k->cap - k->len) {
		return SP_E_INTERNAL;
	}
	memcpy(k->buf + k->len, buf, len);
	k->len += len;
	return 0;
}

static int
stream(struct http_client *c, const char *path, unsigned long long off,
       unsigned long long len, struct collect *k, char *err)
{
	char u[256];

	url(u, sizeof(u), 1, path);
	k->len = 0;
	k->calls = 0;
	return http_stream(c, u, NULL, off, len, collect_sink, k, err);
}

static void
test_stream_range(void **state)
{
	static unsigned char buf[BIG];
	struct http_client *c = client(ca_path, 0, 0);
	struct collect k = {buf, 0, sizeof(buf), 0, 0};
	char err[HTTP_ERRBUF];

	(void)state;
	assert_int_equal(stream(c, "/bytes/100000", 1000, 5000, &k, err),
			 SP_OK);
	assert_int_equal(k.len, 5000);
	check_pattern(buf, k.len, 1000);

	assert_int_equal(stream(c, "/bytes/100000", 0, 7, &k, err), SP_OK);
	assert_int_equal(k.len, 7);
	check_pattern(buf, k.len, 0);

	/* Offset only: from there to the end. */
	assert_int_equal(stream(c, "/bytes/100000", 99990, 0, &k, err), SP_OK);
	assert_int_equal(k.len, 10);
	check_pattern(buf, k.len, 99990);

	/* Whole body, chunked, arrives in more than one piece. */
	assert_int_equal(stream(c, "/chunked/50000", 0, 0, &k, err), SP_OK);
	assert_int_equal(k.len, 50000);
	assert_true(k.calls > 1);
	check_pattern(buf, k.len, 0);
	http_client_free(c);
}

static void
test_stream_refusals(void **state)
{
	static unsigned char buf[BIG];
	struct http_client *c = client(ca_path, 0, 0);
	struct collect k = {buf, 0, sizeof(buf), 0, 0};
	char err[HTTP_ERRBUF];

	(void)state;
	assert_int_equal(stream(c, "/nothing", 0, 0, &k, err), SP_E_NOTFOUND);
	assert_int_equal(k.len, 0);

	assert_int_equal(stream(c, "/status/500", 0, 0, &k, err), SP_E_FETCH);
	assert_int_equal(k.len, 0);
	assert_string_equal(err, "unexpected HTTP status");

	/* A server that ignores Range would hand us the wrong bytes. */
	assert_int_equal(stream(c, "/norange/1000", 10, 20, &k, err),
			 SP_E_FETCH);
	assert_int_equal(k.len, 0);
	assert_int_equal(stream(c, "/badrange/1000", 10, 20, &k, err),
			 SP_E_FETCH);
	assert_int_equal(k.len, 0);
	assert_int_equal(stream(c, "/bytes/1000", 5000, 20, &k, err),
			 SP_E_FETCH);

	/* Truncated body. */
	assert_int_equal(stream(c, "/lie-length", 0, 0, &k, err), SP_E_FETCH);

	/* The sink's verdict is returned as is. */
	k.fail_with = SP_E_INTEGRITY;
	assert_int_equal(stream(c, "/bytes/1000", 0, 0, &k, err),
			 SP_E_INTEGRITY);
	assert_int_equal(k.calls, 1);
	k.fail_with = 0;

	/* Overflowing range end. */
	assert_int_equal(stream(c, "/bytes/1000", ~0ULL - 2, 10, &k, err),
			 SP_E_INTERNAL);
	http_client_free(c);
}

static void
test_idle_timeout(void **state)
{
	struct http_client *c = client(ca_path, 0, 1);
	struct http_response r;
	uint64_t t0 = now_ns();
	uint64_t ms;

	(void)state;
	assert_int_equal(get(c, "/slow", 1000, &r), SP_E_FETCH);
	ms = (now_ns() - t0) / 1000000;
	assert_true(ms < 4500);
	assert_string_equal(r.errbuf, "idle timeout");
	free(r.body);
	http_client_free(c);
}

static void
test_connection_refused(void **state)
{
	struct http_client *c = client(ca_path, 0, 0);
	struct http_response r;

	(void)state;
	/* Port 1 on loopback: nothing listens there in the test host. */
	assert_int_equal(http_request(c, "GET", "https://127.0.0.1:1/", NULL,
				      NULL, 0, 100, &r),
			 SP_E_FETCH);
	assert_true(r.errbuf[0] != '\0');
	free(r.body);
	http_client_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_and_body),
	    cmocka_unit_test(test_body_ceiling),
	    cmocka_unit_test(test_oversize_flag),
	    cmocka_unit_test(test_ca_mismatch_refused),
	    cmocka_unit_test(test_cookie_round_trip),
	    cmocka_unit_test(test_http_refused_by_default),
	    cmocka_unit_test(test_no_redirects),
	    cmocka_unit_test(test_methods_headers_and_reset),
	    cmocka_unit_test(test_stream_range),
	    cmocka_unit_test(test_stream_refusals),
	    cmocka_unit_test(test_idle_timeout),
	    cmocka_unit_test(test_connection_refused),
	};
	static const char *const proxies[] = {"http_proxy",  "https_proxy",
					      "HTTPS_PROXY", "all_proxy",
					      "ALL_PROXY",   NULL};
	size_t i;

	/* The peer is on loopback; a proxy from the environment is not. */
	for (i = 0; proxies[i] != NULL; i++) {
		unsetenv(proxies[i]);
	}
	if (http_global_init() != SP_OK) {
		return 1;
	}
	return cmocka_run_group_tests(tests, start_server, stop_server_group);
}
