/*
 * test_source_oci.c: the oci:// source (init/source/source_oci.c) against
 * the registry stand-in (tests/peers/oci_standin.py) over plain HTTP on
 * 127.0.0.1: whole and ranged layer reads, bearer tokens that expire
 * between reads, a registry that corrupts a blob, and one that stalls.
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
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "err.h"
#include "http.h"
#include "peer_spawn.h"
#include "source.h"
#include "util.h"

#define BLOB_LEN    (700 * 1024 + 3)
#define SMALL_LEN   100
#define COLLECT_MAX (1024 * 1024)

static char workdir[] = "/tmp/sealpod-test-oci.XXXXXX";
static char store[600];
static char blob_hex[65];
static unsigned char *blob;

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
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* blobs/<sha256 of data> in the store. */
static void
put_blob(const unsigned char *data, size_t len, char *hex)
{
	unsigned char md[32];
	unsigned int n = 0;
	char path[700];

	assert_int_equal(EVP_Digest(data, len, md, &n, EVP_sha256(), NULL), 1);
	hex_encode(md, 32, hex);
	snprintf(path, sizeof(path), "%s/blobs/%s", store, hex);
	write_file(path, data, len);
}

static int
setup(void **state)
{
	unsigned char small[SMALL_LEN];
	char path[700];
	char hex[65];

	(void)state;
	if (mkdtemp(workdir) == NULL || http_global_init() != SP_OK) {
		return -1;
	}
	snprintf(store, sizeof(store), "%s/store", workdir);
	snprintf(path, sizeof(path), "%s/blobs", store);
	if (mkdir(store, 0755) != 0 || mkdir(path, 0755) != 0) {
		return -1;
	}
	blob = malloc(BLOB_LEN);
	if (blob == NULL || RAND_bytes(blob, BLOB_LEN) != 1 ||
	    RAND_bytes(small, sizeof(small)) != 1) {
		return -1;
	}
	put_blob(blob, BLOB_LEN, blob_hex);
	put_blob(small, 10, hex);
	snprintf(path, sizeof(path), "%s/manifest.sealed", store);
	write_file(path, small, sizeof(small));
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
	free(blob);
	return 0;
}

/* A registry with extra stand-in options; returns its port. */
static int
registry(struct peer *p, const char *a, const char *b, const char *c)
{
	const char *args[] = {"--store", store, "--repo", "models/t", "--tag",
			      "v1",	 a,	b,	  c,	      NULL};

	assert_int_equal(peer_start(p, workdir, "oci_standin.py", args), 0);
	return p->port;
}

static struct source *
open_src(int port, long idle)
{
	struct source_opts o = {.allow_http = 1, .idle_timeout_s = idle};
	struct source *s = NULL;
	char url[128];

	snprintf(url, sizeof(url), "oci://127.0.0.1:%d/models/t:v1", port);
	assert_int_equal(source_open(url, &o, &s), SP_OK);
	return s;
}

static void
test_reads(void **state)
{
	struct collect *c = calloc(1, sizeof(*c));
	struct peer p;
	struct source *s;
	char name[80];

	(void)state;
	assert_non_null(c);
	s = open_src(registry(&p, NULL, NULL, NULL), 30);
	snprintf(name, sizeof(name), "blobs/%s", blob_hex);

	assert_int_equal(source_fetch(s, name, 0, 0, collect_sink, c), SP_OK);
	assert_int_equal(c->len, BLOB_LEN);
	assert_memory_equal(c->buf, blob, BLOB_LEN);

	c->len = 0;
	assert_int_equal(source_fetch(s, name, 123457, 300000, collect_sink, c),
			 SP_OK);
	assert_int_equal(c->len, 300000);
	assert_memory_equal(c->buf, blob + 123457, 300000);

	/* A range past the end is delivered short, for the caller. */
	c->len = 0;
	assert_int_equal(
	    source_fetch(s, name, BLOB_LEN - 10, 100, collect_sink, c), SP_OK);
	assert_int_equal(c->len, 10);

	c->len = 0;
	assert_int_equal(
	    source_fetch(s, "manifest.sealed", 0, 0, collect_sink, c), SP_OK);
	assert_int_equal(c->len, SMALL_LEN);

	assert_int_equal(source_fetch(s, "blobs/0000", 0, 0, collect_sink, c),
			 SP_E_NOTFOUND);
	source_free(s);
	peer_stop(&p);
	free(c);
}

/* Tokens last one second: the second read meets 401 and trades again. */
static void
test_token_expiry(void **state)
{
	struct collect *c = calloc(1, sizeof(*c));
	struct peer p;
	struct source *s;

	(void)state;
	assert_non_null(c);
	s = open_src(registry(&p, "--auth=bearer", "--token-seconds=1", NULL),
		     30);
	assert_int_equal(peer_log_wait(&p, "\"/token\"", "\"status\": 200", 1),
			 1);
	sleep(2);
	assert_int_equal(
	    source_fetch(s, "manifest.sealed", 0, 0, collect_sink, c), SP_OK);
	assert_int_equal(c->len, SMALL_LEN);
	assert_int_equal(peer_log_wait(&p, "\"/token\"", "\"status\": 200", 2),
			 2);
	assert_true(peer_log_wait(&p, "\"status\": 401", NULL, 2) >= 2);
	source_free(s);
	peer_stop(&p);
	free(c);
}

/* A whole read is hashed; a ranged one cannot be (unseal checks it). */
static void
test_corrupt(void **state)
{
	struct collect *c = calloc(1, sizeof(*c));
	struct peer p;
	struct source *s;
	char name[80];

	(void)state;
	assert_non_null(c);
	s = open_src(registry(&p, "--corrupt-blob", NULL, NULL), 30);
	snprintf(name, sizeof(name), "blobs/%s", blob_hex);
	assert_int_equal(source_fetch(s, name, 0, 0, collect_sink, c),
			 SP_E_INTEGRITY);
	c->len = 0;
	assert_int_equal(
	    source_fetch(s, name, BLOB_LEN / 2 - 5, 10, collect_sink, c),
	    SP_OK);
	assert_int_equal(c->len, 10);
	assert_memory_not_equal(c->buf, blob + BLOB_LEN / 2 - 5, 10);
	source_free(s);
	peer_stop(&p);
	free(c);
}

static void
test_stall(void **state)
{
	struct collect *c = calloc(1, sizeof(*c));
	struct peer p;
	struct source *s;
	char name[80];
	time_t t0;

	(void)state;
	assert_non_null(c);
	s = open_src(registry(&p, "--stall=25", NULL, NULL), 2);
	snprintf(name, sizeof(name), "blobs/%s", blob_hex);
	t0 = time(NULL);
	assert_int_equal(source_fetch(s, name, 0, 0, collect_sink, c),
			 SP_E_FETCH);
	assert_true(time(NULL) - t0 < 15);
	assert_string_not_equal(source_last_error(s), "");
	source_free(s);
	peer_stop(&p);
	free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reads),
	    cmocka_unit_test(test_token_expiry),
	    cmocka_unit_test(test_corrupt),
	    cmocka_unit_test(test_stall),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
