/*
 * test_source.c: artifact sources (init/source/): names, schemes,
 * file:// containment and ranges, and https:// against the independent
 * artifact server peer (tests/peers/artifact_server.py) on 127.0.0.1.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/magic.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "http.h"
#include "log.h"
#include "seal.h"
#include "secret.h"
#include "source.h"
#include "unseal.h"
#include "util.h"

#define FX_PATH		512
#define OBJ_LEN		(300 * 1024 + 7)
#define COLLECT_MAX	(1024 * 1024)
#define PEER_WAIT_STEPS 400 /* of 50 ms: 20 s */
#define PY		"/usr/bin/python3"

struct collect {
	unsigned char *buf;
	size_t len;
	size_t stop_after; /* 0: never stop */
	int calls;
};

struct fx {
	char base[FX_PATH];
	char store[FX_PATH];
	char url[FX_PATH + 16];
	unsigned char *obj;
};

static void
path_join(char *out, const char *a, const char *b)
{
	int n = snprintf(out, FX_PATH, "%s/%s", a, b);

	assert_true(n > 0 && n < FX_PATH);
}

static void
write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
collect_sink(void *arg, const void *buf, size_t len)
{
	struct collect *c = arg;

	c->calls++;
	if (c->len + len > COLLECT_MAX) {
		return SP_E_INTERNAL;
	}
	memcpy(c->buf + c->len, buf, len);
	c->len += len;
	if (c->stop_after > 0 && c->len >= c->stop_after) {
		return SP_E_INTEGRITY;
	}
	return SP_OK;
}

static void
collect_init(struct collect *c)
{
	memset(c, 0, sizeof(*c));
	c->buf = malloc(COLLECT_MAX);
	assert_non_null(c->buf);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char path[FX_PATH];
	size_t i;

	assert_non_null(f);
	snprintf(f->base, sizeof(f->base), "/tmp/sp-source-XXXXXX");
	assert_non_null(mkdtemp(f->base));
	path_join(f->store, f->base, "store");
	assert_int_equal(mkdir(f->store, 0755), 0);
	path_join(path, f->store, "blobs");
	assert_int_equal(mkdir(path, 0755), 0);
	f->obj = malloc(OBJ_LEN);
	assert_non_null(f->obj);
	for (i = 0; i < OBJ_LEN; i++) {
		f->obj[i] = (unsigned char)(i * 13 + (i >> 8));
	}
	path_join(path, f->store, "blobs/obj");
	write_file(path, f->obj, OBJ_LEN);
	snprintf(f->url, sizeof(f->url), "file://%s", f->store);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	(void)nftw(f->base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f->obj);
	free(f);
	return 0;
}

static void
test_names(void **state)
{
	char long_name[SOURCE_NAME_MAX + 2];

	(void)state;
	assert_true(source_name_valid("manifest.sealed"));
	assert_true(source_name_valid("blobs/0123abcdef"));
	assert_true(source_name_valid("a/b/c_d-e.f"));
	assert_false(source_name_valid(""));
	assert_false(source_name_valid("/etc/passwd"));
	assert_false(source_name_valid("blobs/../x"));
	assert_false(source_name_valid(".."));
	assert_false(source_name_valid("./x"));
	assert_false(source_name_valid("a//b"));
	assert_false(source_name_valid("a/"));
	assert_false(source_name_valid("a?b"));
	assert_false(source_name_valid("a%2fb"));
	assert_false(source_name_valid("a b"));
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_false(source_name_valid(long_name));
	long_name[SOURCE_NAME_MAX] = '\0';
	assert_true(source_name_valid(long_name));
}

static void
test_schemes(void **state)
{
	static const char *const bad[] = {
	    "ftp://x/y",	"gs://bucket/p",  "http://127.0.0.1/x",
	    "/abs/dir",		"file://rel/dir", "https://h/x?token=1",
	    "https://h/x#frag", "FILE:///x"};
	struct source_opts o;
	struct source *s = NULL;
	struct fx *f = *state;
	size_t i;

	memset(&o, 0, sizeof(o));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(source_open(bad[i], &o, &s), SP_E_USAGE);
	}
	assert_int_equal(source_open("file:///nonexistent-sp-dir", &o, &s),
			 SP_E_NOTFOUND);

	assert_int_equal(source_open(f->url, NULL, &s), SP_OK);
	assert_string_equal(source_scheme(s), "file");
	source_free(s);

	/* http:// only when the network is declared trusted. */
	o.allow_http = 1;
	assert_int_equal(source_open("http://127.0.0.1:9/x", &o, &s), SP_OK);
	assert_string_equal(source_scheme(s), "http");
	source_free(s);
}

static void
test_file_whole_and_range(void **state)
{
	struct fx *f = *state;
	struct source *s = NULL;
	struct collect c;

	collect_init(&c);
	assert_int_equal(source_open(f->url, NULL, &s), SP_OK);
	assert_int_equal(source_fetch(s, "blobs/obj", 0, 0, collect_sink, &c),
			 SP_OK);
	assert_int_equal(c.len, OBJ_LEN);
	assert_memory_equal(c.buf, f->obj, OBJ_LEN);
	assert_true(c.calls >= 2);

	c.len = 0;
	assert_int_equal(
	    source_fetch(s, "blobs/obj", 1000, 70000, collect_sink, &c), SP_OK);
	assert_int_equal(c.len, 70000);
	assert_memory_equal(c.buf, f->obj + 1000, 70000);

	/* A range past the end is a short object. */
	c.len = 0;
	assert_int_equal(
	    source_fetch(s, "blobs/obj", OBJ_LEN - 10, 11, collect_sink, &c),
	    SP_E_FETCH);

	/* Offset without length is refused. */
	assert_int_equal(source_fetch(s, "blobs/obj", 5, 0, collect_sink, &c),
			 SP_E_USAGE);
	assert_int_equal(
	    source_fetch(s, "blobs/../blobs/obj", 0, 0, collect_sink, &c),
	    SP_E_USAGE);
	assert_int_equal(source_fetch(s, "blobs/none", 0, 0, collect_sink, &c),
			 SP_E_NOTFOUND);
	assert_int_equal(source_fetch(s, "none/obj", 0, 0, collect_sink, &c),
			 SP_E_NOTFOUND);
	source_free(s);
	free(c.buf);
}

/* The sink's own category comes back unchanged, and nothing more is
 * delivered after it said stop. */
static void
test_file_sink_stop(void **state)
{
	struct fx *f = *state;
	struct source *s = NULL;
	struct collect c;
	int calls;

	collect_init(&c);
	c.stop_after = 1;
	assert_int_equal(source_open(f->url, NULL, &s), SP_OK);
	assert_int_equal(source_fetch(s, "blobs/obj", 0, 0, collect_sink, &c),
			 SP_E_INTEGRITY);
	calls = c.calls;
	assert_int_equal(calls, 1);
	source_free(s);
	free(c.buf);
}

static void
test_file_refusals(void **state)
{
	struct fx *f = *state;
	struct source *s = NULL;
	char path[FX_PATH];
	char outside[FX_PATH];
	struct collect c;

	collect_init(&c);
	path_join(outside, f->base, "outside");
	write_file(outside, "secret", 6);

	path_join(path, f->store, "blobs/link");
	assert_int_equal(symlink(outside, path), 0);
	path_join(path, f->store, "blobs/fifo");
	assert_int_equal(mkfifo(path, 0600), 0);
	path_join(path, f->store, "blobs/dir");
	assert_int_equal(mkdir(path, 0755), 0);
	path_join(path, f->store, "linkdir");
	assert_int_equal(symlink(f->base, path), 0);

	assert_int_equal(source_open(f->url, NULL, &s), SP_OK);
	/* A store not laid out as sealed: integrity (exit 14), which no
	 * retry mends, not a transient fetch failure (h32 L22). */
	assert_int_equal(source_fetch(s, "blobs/link", 0, 0, collect_sink, &c),
			 SP_E_INTEGRITY);
	assert_int_equal(source_fetch(s, "blobs/fifo", 0, 0, collect_sink, &c),
			 SP_E_INTEGRITY);
	assert_int_equal(source_fetch(s, "blobs/dir", 0, 0, collect_sink, &c),
			 SP_E_INTEGRITY);
	assert_int_equal(
	    source_fetch(s, "linkdir/outside", 0, 0, collect_sink, &c),
	    SP_E_INTEGRITY);
	assert_int_equal(c.len, 0);
	source_free(s);

	/* The base itself may be reached through a link (a mount path). */
	path_join(path, f->base, "store-link");
	assert_int_equal(symlink(f->store, path), 0);
	snprintf(f->url, sizeof(f->url), "file://%s", path);
	assert_int_equal(source_open(f->url, NULL, &s), SP_OK);
	assert_int_equal(source_fetch(s, "blobs/obj", 0, 0, collect_sink, &c),
			 SP_OK);
	assert_int_equal(c.len, OBJ_LEN);
	source_free(s);
	free(c.buf);
}

/* ---- https:// against the artifact server peer ---- */

struct peer {
	pid_t pid;
	int port;
	char certs[FX_PATH];
};

static int
peer_available(void)
{
	return access(PY, X_OK) == 0 &&
	       access(SEALPOD_SRCDIR "/tests/peers/artifact_server.py", R_OK) ==
		   0 &&
	       access(SEALPOD_SRCDIR "/tests/peers/mkcerts.sh", R_OK) == 0;
}

static void
make_certs(const struct fx *f, struct peer *p)
{
	char cmd[3 * FX_PATH];

	path_join(p->certs, f->base, "certs");
	snprintf(cmd, sizeof(cmd),
		 "bash '" SEALPOD_SRCDIR "/tests/peers/mkcerts.sh' '%s' "
		 ">/dev/null 2>&1",
		 p->certs);
	assert_int_equal(system(cmd), 0);
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Start the peer with extra arguments; wait for its port file. */
static void
peer_start(const struct fx *f, struct peer *p, const char *extra)
{
	char port_file[FX_PATH];
	char cert[FX_PATH];
	char key[FX_PATH];
	char log[FX_PATH];
	char *buf = NULL;
	size_t len = 0;
	uint64_t port = 0;
	int i;

	path_join(port_file, f->base, "port");
	(void)unlink(port_file);
	path_join(cert, p->certs, "artifacts.crt");
	path_join(key, p->certs, "artifacts.key");
	path_join(log, f->base, "peer.log");
	p->pid = fork();
	assert_true(p->pid >= 0);
	if (p->pid == 0) {
		execl(PY, PY, SEALPOD_SRCDIR "/tests/peers/artifact_server.py",
		      "--root", f->store, "--cert", cert, "--key", key,
		      "--port", "0", "--port-file", port_file, "--max-seconds",
		      "120", "--log", log, extra != NULL ? extra : (char *)NULL,
		      (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < PEER_WAIT_STEPS; i++) {
		if (file_read_all(port_file, 64, &buf, &len) == SP_OK) {
			break;
		}
		sleep_ms(50);
	}
	assert_non_null(buf);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' ')) {
		buf[--len] = '\0';
	}
	assert_int_equal(parse_u64(buf, 1, 65535, &port), 0);
	p->port = (int)port;
	free(buf);
}

static void
peer_stop(struct peer *p)
{
	int status = 0;

	if (p->pid > 0) {
		kill(p->pid, SIGTERM);
		waitpid(p->pid, &status, 0);
		p->pid = 0;
	}
}

static enum sp_err
https_open(const struct peer *p, const char *ca, struct source **s)
{
	char url[128];
	char ca_path[FX_PATH];
	struct source_opts o;

	path_join(ca_path, p->certs, ca);
	memset(&o, 0, sizeof(o));
	o.ca_file = ca_path;
	o.idle_timeout_s = 10;
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/", p->port);
	return source_open(url, &o, s);
}

static void
test_https(void **state)
{
	struct fx *f = *state;
	struct source *s = NULL;
	struct peer p;
	struct collect c;

	if (!peer_available()) {
		skip();
	}
	memset(&p, 0, sizeof(p));
	collect_init(&c);
	make_certs(f, &p);
	peer_start(f, &p, NULL);

	assert_int_equal(https_open(&p, "ca.crt", &s), SP_OK);
	assert_string_equal(source_scheme(s), "https");
	assert_int_equal(source_fetch(s, "blobs/obj", 0, 0, collect_sink, &c),
			 SP_OK);
	assert_int_equal(c.len, OBJ_LEN);
	assert_memory_equal(c.buf, f->obj, OBJ_LEN);

	c.len = 0;
	assert_int_equal(
	    source_fetch(s, "blobs/obj", 4096, 5000, collect_sink, &c), SP_OK);
	assert_int_equal(c.len, 5000);
	assert_memory_equal(c.buf, f->obj + 4096, 5000);

	assert_int_equal(source_fetch(s, "blobs/none", 0, 0, collect_sink, &c),
			 SP_E_NOTFOUND);

	c.len = 0;
	c.stop_after = 1;
	assert_int_equal(source_fetch(s, "blobs/obj", 0, 0, collect_sink, &c),
			 SP_E_INTEGRITY);
	source_free(s);

	/* A server certificate from another CA is refused. */
	assert_int_equal(https_open(&p, "other-ca.crt", &s), SP_OK);
	c.len = 0;
	c.stop_after = 0;
	assert_int_equal(source_fetch(s, "blobs/obj", 0, 0, collect_sink, &c),
			 SP_E_FETCH);
	assert_int_equal(c.len, 0);
	source_free(s);
	peer_stop(&p);
	free(c.buf);
}

/* The store cuts the body short: a fetch failure, never success. */
static void
test_https_truncated(void **state)
{
	struct fx *f = *state;
	struct source *s = NULL;
	struct peer p;
	struct collect c;

	if (!peer_available()) {
		skip();
	}
	memset(&p, 0, sizeof(p));
	collect_init(&c);
	make_certs(f, &p);
	peer_start(f, &p, "--truncate=100000");
	assert_int_equal(https_open(&p, "ca.crt", &s), SP_OK);
	assert_int_equal(source_fetch(s, "blobs/obj", 0, 0, collect_sink, &c),
			 SP_E_FETCH);
	assert_true(c.len <= 100000);
	source_free(s);
	peer_stop(&p);
	free(c.buf);
}

/* One source_read of [off, off + len) of blobs/obj into a fresh buffer. */
static enum sp_err
range_read(struct source *s, uint64_t off, size_t len, int probe_end,
	   struct source_read_req *r, unsigned char *buf)
{
	memset(r, 0, sizeof(*r));
	r->name = "blobs/obj";
	r->offset = off;
	r->buf = buf;
	r->len = len;
	r->probe_end = probe_end;
	return source_read(s, r);
}

/*
 * How source_read judges a store that breaks the range rules (h22 F3,
 * F9): a 206 cut short while its Content-Range total says the bytes
 * exist is a transfer to resume (size unknown), not an object that
 * ends; a reply cut at the object's real end, or a 416, tells the size;
 * more than the range is an overrun wherever the surplus starts.
 */
static void
test_https_range_rules(void **state)
{
	struct fx *f = *state;
	struct source_read_req r;
	struct source *s = NULL;
	struct peer p;
	unsigned char *buf;

	if (!peer_available()) {
		skip();
	}
	buf = malloc(OBJ_LEN + 1);
	assert_non_null(buf);
	memset(&p, 0, sizeof(p));
	make_certs(f, &p);

	peer_start(f, &p, "--short-range-once");
	assert_int_equal(https_open(&p, "ca.crt", &s), SP_OK);
	assert_int_equal(range_read(s, 1000, 100000, 0, &r, buf), SP_E_FETCH);
	assert_int_equal(r.got, 50000);
	assert_true(r.size == UINT64_MAX);
	assert_false(r.overrun);
	assert_memory_equal(buf, f->obj + 1000, r.got);
	assert_int_equal(range_read(s, 1000, 100000, 0, &r, buf), SP_OK);
	assert_memory_equal(buf, f->obj + 1000, 100000);

	/* An object shorter than the range: its end, and past it a 416. */
	assert_int_equal(range_read(s, OBJ_LEN - 100, 1000, 0, &r, buf),
			 SP_E_FETCH);
	assert_int_equal(r.got, 100);
	assert_true(r.size == OBJ_LEN);
	assert_int_equal(range_read(s, OBJ_LEN + 10, 1000, 0, &r, buf),
			 SP_E_FETCH);
	assert_true(r.size == OBJ_LEN);
	source_free(s);
	peer_stop(&p);

	/* Seven bytes past the end, in the same write as the last piece. */
	peer_start(f, &p, "--overrun-end=7");
	assert_int_equal(https_open(&p, "ca.crt", &s), SP_OK);
	assert_int_equal(range_read(s, 1001, OBJ_LEN - 1001, 1, &r, buf),
			 SP_E_FETCH);
	assert_true(r.overrun);
	source_free(s);
	peer_stop(&p);

	/* The file's next bytes past a range inside it. */
	peer_start(f, &p, "--overrun=4096");
	assert_int_equal(https_open(&p, "ca.crt", &s), SP_OK);
	assert_int_equal(range_read(s, 1001, 70001, 0, &r, buf), SP_E_FETCH);
	assert_true(r.overrun);
	assert_int_equal(r.got, 70001);
	assert_memory_equal(buf, f->obj + 1001, 70001);
	source_free(s);
	peer_stop(&p);
	free(buf);
}

static int
on_memfs(const char *path)
{
	struct statfs s;

	return statfs(path, &s) == 0 &&
	       (s.f_type == TMPFS_MAGIC || s.f_type == RAMFS_MAGIC);
}

/* Seal, serve over HTTPS, unseal into tmpfs: the whole path. */
static void
test_https_unseal(void **state)
{
	struct fx *f = *state;
	struct unseal_result res;
	struct unseal_opts uo;
	struct seal_opts so;
	struct secret *key;
	struct peer p;
	char in[FX_PATH];
	char key_file[FX_PATH];
	char target[FX_PATH];
	char ca[FX_PATH];
	char url[128];
	char path[FX_PATH];
	char *buf = NULL;
	size_t len = 0;

	if (!peer_available()) {
		skip();
	}
	path_join(in, f->base, "in");
	path_join(key_file, f->base, "model.key");
	assert_int_equal(mkdir(in, 0755), 0);
	path_join(path, in, "weights.bin");
	write_file(path, f->obj, OBJ_LEN);
	/* seal refuses a non-empty --out that is not a store: empty it. */
	path_join(path, f->store, "blobs/obj");
	assert_int_equal(unlink(path), 0);
	path_join(path, f->store, "blobs");
	assert_int_equal(rmdir(path), 0);
	memset(&so, 0, sizeof(so));
	so.key_file = key_file;
	so.in_dir = in;
	so.out_dir = f->store;
	so.version = 2;
	assert_int_equal(seal_run(&so), SP_OK);
	assert_int_equal(file_read_all(key_file, 64, &buf, &len), SP_OK);
	key = secret_from(buf, len);
	assert_non_null(key);
	free(buf);
	buf = NULL;

	memset(&p, 0, sizeof(p));
	make_certs(f, &p);
	peer_start(f, &p, NULL);
	snprintf(target, sizeof(target), "/dev/shm/sp-source-XXXXXX");
	assert_non_null(mkdtemp(target));
	path_join(ca, p.certs, "ca.crt");
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", p.port);
	memset(&uo, 0, sizeof(uo));
	uo.source = url;
	uo.ca_file = ca;
	uo.min_version = 2;
	uo.target = target;
	uo.skip_fs_check = !on_memfs(target);
	assert_int_equal(unseal_run(&uo, key, &res), SP_OK);
	assert_int_equal(res.files, 1);
	assert_int_equal(res.bytes, OBJ_LEN);
	path_join(path, target, "weights.bin");
	assert_int_equal(file_read_all(path, COLLECT_MAX, &buf, &len), SP_OK);
	assert_int_equal(len, OBJ_LEN);
	assert_memory_equal(buf, f->obj, OBJ_LEN);
	free(buf);

	/* The same store over HTTPS with a newer floor is refused. */
	uo.min_version = 3;
	assert_int_equal(unseal_run(&uo, key, &res), SP_E_INTEGRITY);
	unseal_clean(target);
	assert_int_equal(rmdir(target), 0);
	peer_stop(&p);
	secret_free(key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test_setup_teardown(test_schemes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_whole_and_range, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_file_sink_stop, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_file_refusals, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_https, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_https_truncated, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_https_unseal, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_https_range_rules, setup,
					    teardown),
	};

	log_init("test_source", stderr);
	if (http_global_init() != SP_OK) {
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
