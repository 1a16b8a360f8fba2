/*
 * test_source_s3.c: the s3:// source (init/source/source_s3.c) against
 * the S3 stand-in (tests/peers/s3_standin.py, which verifies SigV4
 * itself) over plain HTTP on 127.0.0.1: signed whole and ranged reads
 * with static keys and with web-identity credentials, a refusal
 * explained by its error code, a missing object, and a stalled transfer.
 */
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/rand.h>

#include "err.h"
#include "http.h"
#include "peer_spawn.h"
#include "source.h"

#define OBJ_LEN	    (500 * 1024 + 11)
#define COLLECT_MAX (1024 * 1024)
#define AKID	    "AKIAUNITTEST000001"
#define SKEY	    "unit/test+secret/key=="
#define ROLE	    "arn:aws:iam::123456789012:role/unit"

static char workdir[] = "/tmp/sealpod-test-s3.XXXXXX";
static char root[600];
static char token_file[600];
static unsigned char *obj;

struct collect {
	unsigned char buf[COLLECT_MAX];
	size_t len;
};

static int
collect_sink(void *arg, const void *buf, size_t len)
{
	struct collect *c = arg;

	if (len > sizeof(c->buf) - c->len) {
		return SP_E_INTERNAL;
	}
	memcpy(c->buf + c->len, buf, len);
	c->len += len;
	return SP_OK;
}

static void
write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void
clear_env(void)
{
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
	unsetenv("AWS_ROLE_ARN");
	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
}

static int
setup(void **state)
{
	char path[700];

	(void)state;
	if (mkdtemp(workdir) == NULL || http_global_init() != SP_OK) {
		return -1;
	}
	snprintf(root, sizeof(root), "%s/root", workdir);
	snprintf(path, sizeof(path), "%s/m+v=1", root);
	if (mkdir(root, 0755) != 0 || mkdir(path, 0755) != 0) {
		return -1;
	}
	obj = malloc(OBJ_LEN);
	if (obj == NULL || RAND_bytes(obj, OBJ_LEN) != 1) {
		return -1;
	}
	/* A prefix with + and =: the path must be encoded as signed. */
	snprintf(path, sizeof(path), "%s/m+v=1/obj.bin", root);
	write_file(path, obj, OBJ_LEN);
	snprintf(token_file, sizeof(token_file), "%s/token", workdir);
	write_file(token_file, "eyJ0eXAiOiJKV1QifQ.e30.c2ln\n", 28);
	clear_env();
	return 0;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

static int
teardown(void **state)
{
	(void)state;
	peer_stop_all();
	nftw(workdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(obj);
	clear_env();
	return 0;
}

static int
store(struct peer *p, const char *a, const char *b)
{
	const char *args[] = {"--root",
			      root,
			      "--bucket",
			      "unit-bucket",
			      "--region",
			      "eu-west-3",
			      "--access-key",
			      AKID,
			      "--secret-key",
			      SKEY,
			      "--sts-role-arn",
			      ROLE,
			      "--sts-token-file",
			      token_file,
			      a,
			      b,
			      NULL};

	assert_int_equal(peer_start(p, workdir, "s3_standin.py", args), 0);
	return p->port;
}

static enum sp_err
open_src(int port, long idle, struct source **s)
{
	char ep[64];
	char sts[80];
	struct source_s3_opts s3 = {.region = "eu-west-3",
				    .endpoint = ep,
				    .path_style = 1,
				    .sts_endpoint = sts};
	struct source_opts o = {
	    .allow_http = 1, .idle_timeout_s = idle, .s3 = &s3};

	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", port);
	snprintf(sts, sizeof(sts), "http://127.0.0.1:%d/", port);
	return source_open("s3://unit-bucket/m+v=1/", &o, s);
}

static void
reads(struct source *s)
{
	struct collect *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	assert_int_equal(source_fetch(s, "obj.bin", 0, 0, collect_sink, c),
			 SP_OK);
	assert_int_equal(c->len, OBJ_LEN);
	assert_memory_equal(c->buf, obj, OBJ_LEN);
	c->len = 0;
	assert_int_equal(
	    source_fetch(s, "obj.bin", 77777, 100000, collect_sink, c), SP_OK);
	assert_int_equal(c->len, 100000);
	assert_memory_equal(c->buf, obj + 77777, 100000);
	free(c);
}

static void
test_static(void **state)
{
	struct collect c1;
	struct source *s = NULL;
	struct peer p;

	(void)state;
	setenv("AWS_ACCESS_KEY_ID", AKID, 1);
	setenv("AWS_SECRET_ACCESS_KEY", SKEY, 1);
	assert_int_equal(open_src(store(&p, NULL, NULL), 30, &s), SP_OK);
	reads(s);
	c1.len = 0;
	assert_int_equal(source_fetch(s, "absent", 0, 0, collect_sink, &c1),
			 SP_E_NOTFOUND);
	assert_non_null(strstr(source_last_error(s), "NoSuchKey"));
	assert_int_equal(
	    peer_log_wait(&p, "\"auth\": \"static\"", "\"status\": 206", 1), 1);
	source_free(s);

	/* The wrong secret: refused, and the log names why. */
	setenv("AWS_SECRET_ACCESS_KEY", SKEY "x", 1);
	assert_int_equal(open_src(p.port, 30, &s), SP_OK);
	assert_int_equal(source_fetch(s, "obj.bin", 0, 0, collect_sink, &c1),
			 SP_E_FETCH);
	assert_non_null(strstr(source_last_error(s), "SignatureDoesNotMatch"));
	assert_null(strstr(source_last_error(s), SKEY));
	source_free(s);
	peer_stop(&p);
	clear_env();
}

static void
test_web_identity(void **state)
{
	struct source *s = NULL;
	struct peer p;

	(void)state;
	setenv("AWS_WEB_IDENTITY_TOKEN_FILE", token_file, 1);
	setenv("AWS_ROLE_ARN", ROLE, 1);
	assert_int_equal(open_src(store(&p, NULL, NULL), 30, &s), SP_OK);
	reads(s);
	assert_int_equal(peer_log_wait(&p, "s3.sts.issued", NULL, 1), 1);
	assert_int_equal(
	    peer_log_wait(&p, "\"auth\": \"sts\"", "\"token\": true", 2), 2);
	source_free(s);

	/* STS refuses another role: open fails, nothing is fetched. */
	setenv("AWS_ROLE_ARN", ROLE "x", 1);
	assert_int_equal(open_src(p.port, 30, &s), SP_E_FETCH);
	peer_stop(&p);
	clear_env();
}

static void
test_stall(void **state)
{
	struct collect *c = calloc(1, sizeof(*c));
	struct source *s = NULL;
	struct peer p;
	time_t t0;

	(void)state;
	assert_non_null(c);
	setenv("AWS_ACCESS_KEY_ID", AKID, 1);
	setenv("AWS_SECRET_ACCESS_KEY", SKEY, 1);
	assert_int_equal(open_src(store(&p, "--stall", "25"), 2, &s), SP_OK);
	t0 = time(NULL);
	assert_int_equal(source_fetch(s, "obj.bin", 0, 0, collect_sink, c),
			 SP_E_FETCH);
	assert_true(time(NULL) - t0 < 15);
	source_free(s);
	peer_stop(&p);
	clear_env();
	free(c);
}

static void
test_bad_urls(void **state)
{
	struct source_opts o = {.allow_http = 0};
	struct source_s3_opts s3 = {.endpoint = "http://127.0.0.1:1"};
	struct source *s = NULL;

	(void)state;
	assert_int_equal(source_open("s3://UPPER/x", &o, &s), SP_E_USAGE);
	assert_int_equal(source_open("s3://ab/x", &o, &s), SP_E_USAGE);
	assert_int_equal(source_open("s3://-bucket/x", &o, &s), SP_E_USAGE);
	assert_int_equal(source_open("s3://bucket/a b\x01", &o, &s),
			 SP_E_USAGE);
	/* An http:// endpoint needs allow_http. */
	o.s3 = &s3;
	assert_int_equal(source_open("s3://bucket/x", &o, &s), SP_E_USAGE);
	s3.endpoint = "https://host/with/path";
	assert_int_equal(source_open("s3://bucket/x", &o, &s), SP_E_USAGE);
	s3.endpoint = NULL;
	s3.region = "Bad Region";
	assert_int_equal(source_open("s3://bucket/x", &o, &s), SP_E_USAGE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_static),
	    cmocka_unit_test(test_web_identity),
	    cmocka_unit_test(test_stall),
	    cmocka_unit_test(test_bad_urls),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
