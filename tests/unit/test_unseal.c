/*
 * test_unseal.c: seal a real directory, then unseal it into tmpfs, and
 * break it in every way issue #2 lists. Every failure case checks the
 * error category AND that the target holds no plaintext and no partial
 * file afterwards.
 *
 * Stores and inputs live under /tmp; targets under /dev/shm when that is
 * a tmpfs (otherwise skip_fs_check stands in).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/magic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "json.h"
#include "log.h"
#include "manifest.h"
#include "manifest_sig.h"
#include "seal.h"
#include "sealed.h"
#include "secret.h"
#include "unseal.h"
#include "util.h"

#define FX_PATH	    256
#define BIG_LEN	    (3 * 1048576 + 17)
#define ONE_SEG_LEN (1048576 - 40 - 16)
#define FILE_MAX    (64 * 1024 * 1024)

/* ASan's and TSan's shadow memory make RSS meaningless; skip the memory
 * bound. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

struct fx {
	/* Pipeline knobs for do_unseal_at(): 0 leaves the default. */
	unsigned workers;
	uint64_t memory_mib;
	uint64_t chunk;
	const char *signing_key;
	const char *model_id;	/* pinned by do_unseal_at() */
	const char *sign_key;	/* for do_seal() */
	const char *seal_model; /* for do_seal() */
	char base[FX_PATH];
	char in[FX_PATH];
	char store[FX_PATH];
	char key_file[FX_PATH];
	char target[FX_PATH];
	struct secret *key;
	int memfs;
	uint64_t segment_size;
};

/* ---- helpers ---- */

static void
path_join(char *out, const char *a, const char *b)
{
	int n = snprintf(out, FX_PATH, "%s/%s", a, b);

	assert_true(n > 0 && n < FX_PATH);
}

static void
mkdirs_for(const char *path)
{
	char tmp[FX_PATH];
	char *p;

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (p = tmp + 1; *p != '\0'; p++) {
		if (*p == '/') {
			*p = '\0';
			if (mkdir(tmp, 0755) != 0) {
				assert_int_equal(errno, EEXIST);
			}
			*p = '/';
		}
	}
}

static void
write_file(const char *dir, const char *rel, const void *data, size_t len)
{
	char path[FX_PATH];
	int fd;

	path_join(path, dir, rel);
	mkdirs_for(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static unsigned char *
pattern(size_t len, unsigned seed)
{
	unsigned char *p = malloc(len + 1);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < len; i++) {
		p[i] = (unsigned char)((i * 131 + seed) ^ (i >> 9));
	}
	return p;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
rm_rf(const char *path)
{
	(void)nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int counted;

static int
count_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)st;
	(void)flag;
	if (ftw->level > 0) {
		counted++;
	}
	return 0;
}

/* Entries below dir, at any depth. */
static int
entries(const char *dir)
{
	counted = 0;
	assert_int_equal(nftw(dir, count_one, 16, FTW_PHYS), 0);
	return counted;
}

static void
assert_target_empty(const struct fx *f)
{
	assert_int_equal(entries(f->target), 0);
}

static struct secret *
key_read(const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	struct secret *k;

	assert_int_equal(file_read_all(path, 64, &buf, &len), SP_OK);
	assert_int_equal(len, 32);
	k = secret_from(buf, len);
	secret_wipe_mem(buf, len);
	free(buf);
	assert_non_null(k);
	return k;
}

static int
on_memfs(const char *path)
{
	struct statfs s;

	return statfs(path, &s) == 0 &&
	       (s.f_type == TMPFS_MAGIC || s.f_type == RAMFS_MAGIC);
}

static enum sp_err
do_seal(struct fx *f, uint64_t version)
{
	struct seal_opts o;

	memset(&o, 0, sizeof(o));
	o.key_file = f->key_file;
	o.in_dir = f->in;
	o.out_dir = f->store;
	o.version = version;
	o.segment_size = f->segment_size;
	o.sign_key = f->sign_key;
	o.model_id = f->seal_model;
	return seal_run(&o);
}

static enum sp_err
do_unseal_at(struct fx *f, const char *target, uint64_t min_version,
	     struct unseal_result *res)
{
	char url[FX_PATH + 16];
	struct unseal_opts o;
	struct unseal_result dummy;

	snprintf(url, sizeof(url), "file://%s", f->store);
	memset(&o, 0, sizeof(o));
	o.source = url;
	o.min_version = min_version;
	o.target = target;
	o.skip_fs_check = !f->memfs;
	o.workers = f->workers;
	o.memory_mib = f->memory_mib;
	o.chunk = f->chunk;
	o.signing_key = f->signing_key;
	o.model_id = f->model_id;
	return unseal_run(&o, f->key, res != NULL ? res : &dummy);
}

static enum sp_err
do_unseal(struct fx *f, uint64_t min_version, struct unseal_result *res)
{
	return do_unseal_at(f, f->target, min_version, res);
}

static void
assert_file(const char *dir, const char *rel, const void *data, size_t len)
{
	char path[FX_PATH];
	char *buf = NULL;
	size_t got = 0;
	struct stat st;

	path_join(path, dir, rel);
	assert_int_equal(file_read_all(path, FILE_MAX, &buf, &got), SP_OK);
	assert_int_equal(got, len);
	if (len > 0) {
		assert_memory_equal(buf, data, len);
	}
	free(buf);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
}

static struct manifest *
store_manifest(const struct fx *f)
{
	struct sealed_params p;
	char path[FX_PATH];
	char *ct = NULL;
	size_t ct_len = 0;
	unsigned char *pt = NULL;
	size_t pt_len = 0;
	struct manifest *m = NULL;
	const char *reason = NULL;

	sealed_params_default(&p);
	path_join(path, f->store, MANIFEST_NAME);
	assert_int_equal(file_read_all(path, FILE_MAX, &ct, &ct_len), SP_OK);
	assert_int_equal(sealed_decrypt_mem(&p, f->key, MANIFEST_AAD,
					    strlen(MANIFEST_AAD), ct, ct_len,
					    MANIFEST_MAX, &pt, &pt_len),
			 SP_OK);
	assert_int_equal(manifest_parse((char *)pt, pt_len, &m, &reason),
			 SP_OK);
	free(pt);
	free(ct);
	return m;
}

/* Re-seal a (doctored) manifest into the store with the model key. */
static void
store_manifest_write(const struct fx *f, struct manifest *m)
{
	struct sealed_params p;
	struct strbuf sb;
	unsigned char *ct = NULL;
	size_t ct_len = 0;
	const char *reason = NULL;

	sealed_params_default(&p);
	strbuf_init(&sb, MANIFEST_MAX);
	assert_int_equal(manifest_check(m, &reason), SP_OK);
	assert_int_equal(manifest_print(m, &sb), SP_OK);
	assert_int_equal(sealed_encrypt_mem(&p, f->key, MANIFEST_AAD,
					    strlen(MANIFEST_AAD), sb.buf,
					    sb.len, &ct, &ct_len),
			 SP_OK);
	write_file(f->store, MANIFEST_NAME, ct, ct_len);
	free(ct);
	strbuf_free(&sb);
}

/* Path of the blob that holds rel. */
static void
blob_path(const struct fx *f, const char *rel, char *out)
{
	struct manifest *m = store_manifest(f);
	char name[FX_PATH];
	size_t i;

	out[0] = '\0';
	for (i = 0; i < m->nfiles; i++) {
		if (strcmp(m->files[i].path, rel) == 0) {
			snprintf(name, sizeof(name), "blobs/%s",
				 m->files[i].blob);
			path_join(out, f->store, name);
		}
	}
	manifest_free(m);
	assert_true(out[0] != '\0');
}

static void
flip_byte(const char *path, off_t off)
{
	unsigned char c;
	int fd = open(path, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= 0x20;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

/* ---- fixture: a small model with every size class ---- */

static void
populate(struct fx *f)
{
	unsigned char *big = pattern(BIG_LEN, 1);
	unsigned char *one = pattern(ONE_SEG_LEN, 2);

	write_file(f->in, "model.gguf", big, BIG_LEN);
	write_file(f->in, "empty.txt", "", 0);
	write_file(f->in, "one-segment.bin", one, ONE_SEG_LEN);
	write_file(f->in, "tokenizer/vocab.json", "{\"a\":1}", 7);
	write_file(f->in, "tokenizer/deep/er/x", "x", 1);
	write_file(f->in, ".gitattributes", "*.gguf lfs\n", 11);
	free(big);
	free(one);
}

static void
fx_dirs(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->base, sizeof(f->base), "/tmp/sp-unseal-XXXXXX");
	assert_non_null(mkdtemp(f->base));
	path_join(f->in, f->base, "in");
	path_join(f->store, f->base, "store");
	path_join(f->key_file, f->base, "model.key");
	assert_int_equal(mkdir(f->in, 0755), 0);

	f->memfs = on_memfs("/dev/shm");
	path_join(f->target, f->memfs ? "/dev/shm" : f->base,
		  "sp-target-XXXXXX");
	assert_non_null(mkdtemp(f->target));
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fx_dirs(f);
	populate(f);
	assert_int_equal(do_seal(f, 3), SP_OK);
	f->key = key_read(f->key_file);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	rm_rf(f->target);
	rm_rf(f->base);
	secret_free(f->key);
	free(f);
	return 0;
}

static void
check_all(const struct fx *f)
{
	unsigned char *big = pattern(BIG_LEN, 1);
	unsigned char *one = pattern(ONE_SEG_LEN, 2);

	assert_file(f->target, "model.gguf", big, BIG_LEN);
	assert_file(f->target, "empty.txt", "", 0);
	assert_file(f->target, "one-segment.bin", one, ONE_SEG_LEN);
	assert_file(f->target, "tokenizer/vocab.json", "{\"a\":1}", 7);
	assert_file(f->target, "tokenizer/deep/er/x", "x", 1);
	assert_file(f->target, ".gitattributes", "*.gguf lfs\n", 11);
	free(big);
	free(one);
}

/* ---- the good path ---- */

static void
test_round_trip(void **state)
{
	struct fx *f = *state;
	struct unseal_result res;
	char path[FX_PATH];
	char *ready = NULL;
	size_t len = 0;
	yajl_val v;
	uint64_t n = 0;

	memset(&res, 0, sizeof(res));
	assert_int_equal(do_unseal(f, 3, &res), SP_OK);
	check_all(f);
	assert_int_equal(res.version, 3);
	assert_int_equal(res.files, 6);
	assert_int_equal(res.bytes, BIG_LEN + ONE_SEG_LEN + 7 + 1 + 11);

	path_join(path, f->target, UNSEAL_READY_NAME);
	assert_int_equal(file_read_all(path, 4096, &ready, &len), SP_OK);
	v = json_parse(ready, len, 4096, NULL, 0);
	assert_non_null(v);
	assert_string_equal(json_get_str(v, "format"), "sealpod/1");
	assert_int_equal(json_get_u64(v, "version", &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(json_get_u64(v, "files", &n), 0);
	assert_int_equal(n, 6);
	yajl_tree_free(v);
	free(ready);

	/* 6 files, 3 directories and the ready marker: no partials. */
	assert_int_equal(entries(f->target), 6 + 3 + 1);

	/* A second run over the finished target starts clean and works. */
	assert_int_equal(do_unseal(f, 0, &res), SP_OK);
	check_all(f);
	assert_int_equal(entries(f->target), 6 + 3 + 1);

	unseal_clean(f->target);
	assert_target_empty(f);
}

static void
test_round_trip_small_segments(void **state)
{
	struct fx *f = *state;
	struct manifest *m;
	size_t i;

	rm_rf(f->store);
	f->segment_size = 4096;
	assert_int_equal(do_seal(f, 1), SP_OK);
	m = store_manifest(f);
	for (i = 0; i < m->nfiles; i++) {
		assert_int_equal(m->files[i].segment_size, 4096);
	}
	manifest_free(m);
	assert_int_equal(do_unseal(f, 1, NULL), SP_OK);
	check_all(f);
}

/* Stale output of a crashed run is wiped before unsealing. */
static void
test_stale_output_wiped(void **state)
{
	struct fx *f = *state;

	write_file(f->target, ".sealpod-owned", "", 0);
	write_file(f->target, "old/plain.bin", "secret", 6);
	write_file(f->target, ".0123.partial", "half", 4);
	write_file(f->target, UNSEAL_READY_NAME, "{}", 2);
	assert_int_equal(do_unseal(f, 0, NULL), SP_OK);
	check_all(f);
	assert_int_equal(entries(f->target), 6 + 3 + 1);
}

#if !defined(UNDER_ASAN)
/* Resident bytes now, from /proc/self/statm. */
static long
rss_kib(void)
{
	long size = 0;
	long resident = 0;
	FILE *fp = fopen("/proc/self/statm", "r");

	if (fp == NULL) {
		return -1;
	}
	if (fscanf(fp, "%ld %ld", &size, &resident) != 2) {
		resident = -1;
	}
	fclose(fp);
	return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* In a child, so the peak is this unseal's alone: KiB above the start. */
static long
unseal_peak_growth(struct fx *f)
{
	struct rusage ru;
	long growth = -1;
	long start;
	int fds[2];
	int status = 0;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		/* Secrets are wiped in a child (MADV_WIPEONFORK): reload. */
		f->key = key_read(f->key_file);
		start = rss_kib();
		if (start >= 0 && do_unseal(f, 1, NULL) == SP_OK &&
		    getrusage(RUSAGE_SELF, &ru) == 0) {
			growth = ru.ru_maxrss - start;
		}
		if (write(fds[1], &growth, sizeof(growth)) !=
		    (ssize_t)sizeof(growth)) {
			_exit(1);
		}
		_exit(0);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &growth, sizeof(growth)), sizeof(growth));
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return growth;
}

#endif

/* Peak memory stays within the budget, not the file size: 48 MiB through
 * a 4 MiB budget on three workers. */
static void
test_bounded_memory(void **state)
{
#if defined(UNDER_ASAN)
	(void)state;
	skip();
#else
	struct fx *f = *state;
	unsigned char *chunk = pattern(1048576, 3);
	char path[FX_PATH];
	long growth;
	int fd;
	int i;

	rm_rf(f->store);
	rm_rf(f->in);
	write_file(f->in, "huge.bin", "", 0);
	path_join(path, f->in, "huge.bin");
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	for (i = 0; i < 48; i++) {
		assert_int_equal(write(fd, chunk, 1048576), 1048576);
	}
	close(fd);
	free(chunk);
	assert_int_equal(do_seal(f, 1), SP_OK);

	f->workers = 3;
	f->memory_mib = 4;
	growth = unseal_peak_growth(f);
	assert_true(growth >= 0);
	/* The budget, three thread stacks touched, OpenSSL and libc. */
	assert_true(growth < (4 + 8) * 1024);
	assert_int_equal(entries(f->target), 1 + 1);
#endif
}

/* ---- every failure leaves nothing behind ---- */

static void
expect_fail(struct fx *f, uint64_t min_version, enum sp_err want)
{
	assert_int_equal(do_unseal(f, min_version, NULL), want);
	assert_target_empty(f);
}

static void
test_wrong_key(void **state)
{
	struct fx *f = *state;
	unsigned char raw[32];

	memcpy(raw, f->key->data, 32);
	raw[31] ^= 1;
	secret_free(f->key);
	f->key = secret_from(raw, sizeof(raw));
	expect_fail(f, 0, SP_E_INTEGRITY);
}

static void
test_short_key(void **state)
{
	struct fx *f = *state;
	unsigned char raw[16] = {0};

	secret_free(f->key);
	f->key = secret_from(raw, sizeof(raw));
	expect_fail(f, 0, SP_E_INTEGRITY);
}

/* A flipped bit in the header, the first, a middle and the last segment. */
static void
test_flipped_bits(void **state)
{
	static const off_t offsets[] = {0,
					5,
					39,
					40,
					1048575,
					1048576 + 9,
					2 * 1048576 + 100,
					BIG_LEN + 4 * 16 + 40 - 1};
	struct fx *f = *state;
	char blob[FX_PATH];
	size_t i;

	blob_path(f, "model.gguf", blob);
	for (i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		flip_byte(blob, offsets[i]);
		expect_fail(f, 0, SP_E_INTEGRITY);
		flip_byte(blob, offsets[i]);
	}
	assert_int_equal(do_unseal(f, 0, NULL), SP_OK);
}

static void
test_truncated_blob(void **state)
{
	static const off_t cuts[] = {0, 10, 1048576, 1048576 + 1,
				     BIG_LEN + 4 * 16 + 40 - 1};
	struct fx *f = *state;
	char blob[FX_PATH];
	char saved[FX_PATH];
	char cmd[3 * FX_PATH];
	size_t i;

	blob_path(f, "model.gguf", blob);
	path_join(saved, f->base, "saved.blob");
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", blob, saved);
	assert_int_equal(system(cmd), 0);
	for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		assert_int_equal(truncate(blob, cuts[i]), 0);
		expect_fail(f, 0, SP_E_INTEGRITY);
		snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", saved, blob);
		assert_int_equal(system(cmd), 0);
	}
	assert_int_equal(do_unseal(f, 0, NULL), SP_OK);
}

static void
test_extended_blob(void **state)
{
	struct fx *f = *state;
	char blob[FX_PATH];
	int fd;

	blob_path(f, "tokenizer/vocab.json", blob);
	fd = open(blob, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "more", 4), 4);
	close(fd);
	expect_fail(f, 0, SP_E_INTEGRITY);
}

/* Storage serves each path's blob under the other's name. */
static void
test_swapped_blobs(void **state)
{
	struct fx *f = *state;
	char a[FX_PATH];
	char b[FX_PATH];
	char t[FX_PATH];

	blob_path(f, "tokenizer/vocab.json", a);
	blob_path(f, "tokenizer/deep/er/x", b);
	path_join(t, f->base, "swap");
	assert_int_equal(rename(a, t), 0);
	assert_int_equal(rename(b, a), 0);
	assert_int_equal(rename(t, b), 0);
	expect_fail(f, 0, SP_E_INTEGRITY);
}

/* An authentic blob of the same path from another sealing run (an old
 * release, say) under this manifest's name: the pinned header catches
 * it (the digest did, before manifests carried "header"). */
static void
test_digest_mismatch(void **state)
{
	struct fx *f = *state;
	struct fx other;
	char mine[FX_PATH];
	char theirs[FX_PATH];
	char cmd[3 * FX_PATH];

	other = *f;
	path_join(other.store, f->base, "store2");
	assert_int_equal(do_seal(&other, 3), SP_OK);
	blob_path(f, "one-segment.bin", mine);
	blob_path(&other, "one-segment.bin", theirs);
	assert_string_not_equal(mine, theirs);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", theirs, mine);
	assert_int_equal(system(cmd), 0);
	expect_fail(f, 0, SP_E_INTEGRITY);
}

/* The manifest claims other sizes than the blob holds. */
static void
test_wrong_size(void **state)
{
	static const int64_t deltas[] = {-1, 1, -1048000, 16, -BIG_LEN};
	struct fx *f = *state;
	struct manifest *m;
	size_t i;
	size_t j;

	for (j = 0; j < sizeof(deltas) / sizeof(deltas[0]); j++) {
		m = store_manifest(f);
		for (i = 0; i < m->nfiles; i++) {
			if (strcmp(m->files[i].path, "model.gguf") == 0) {
				assert_int_equal(m->files[i].size, BIG_LEN);
				m->files[i].size =
				    (uint64_t)((int64_t)BIG_LEN + deltas[j]);
			}
		}
		store_manifest_write(f, m);
		manifest_free(m);
		expect_fail(f, 0, SP_E_INTEGRITY);

		/* Put the true size back for the next round. */
		m = store_manifest(f);
		for (i = 0; i < m->nfiles; i++) {
			if (strcmp(m->files[i].path, "model.gguf") == 0) {
				m->files[i].size = BIG_LEN;
			}
		}
		store_manifest_write(f, m);
		manifest_free(m);
	}
	assert_int_equal(do_unseal(f, 0, NULL), SP_OK);
}

static void
test_rollback(void **state)
{
	struct fx *f = *state;

	expect_fail(f, 4, SP_E_INTEGRITY);
	expect_fail(f, UINT64_MAX, SP_E_INTEGRITY);
	assert_int_equal(do_unseal(f, 3, NULL), SP_OK);
}

static void
test_missing_blob(void **state)
{
	struct fx *f = *state;
	char blob[FX_PATH];

	blob_path(f, "tokenizer/deep/er/x", blob);
	assert_int_equal(unlink(blob), 0);
	expect_fail(f, 0, SP_E_NOTFOUND);
}

static void
test_missing_manifest(void **state)
{
	struct fx *f = *state;
	char path[FX_PATH];

	path_join(path, f->store, MANIFEST_NAME);
	assert_int_equal(unlink(path), 0);
	expect_fail(f, 0, SP_E_NOTFOUND);
}

static void
test_manifest_swapped_for_blob(void **state)
{
	struct fx *f = *state;
	char blob[FX_PATH];
	char path[FX_PATH];

	blob_path(f, "tokenizer/vocab.json", blob);
	path_join(path, f->store, MANIFEST_NAME);
	assert_int_equal(rename(blob, path), 0);
	expect_fail(f, 0, SP_E_INTEGRITY);
}

/* A link planted in the store is refused, not followed. */
static void
test_symlink_in_store(void **state)
{
	struct fx *f = *state;
	char blob[FX_PATH];
	char moved[FX_PATH];

	blob_path(f, "model.gguf", blob);
	path_join(moved, f->base, "elsewhere.blob");
	assert_int_equal(rename(blob, moved), 0);
	assert_int_equal(symlink(moved, blob), 0);
	/* A store not laid out as sealed: exit 14, never retried. */
	expect_fail(f, 0, SP_E_INTEGRITY);
}

static void
test_symlink_blob_dir(void **state)
{
	struct fx *f = *state;
	char blobs[FX_PATH];
	char moved[FX_PATH];

	path_join(blobs, f->store, "blobs");
	path_join(moved, f->base, "blobs-elsewhere");
	assert_int_equal(rename(blobs, moved), 0);
	assert_int_equal(symlink(moved, blobs), 0);
	expect_fail(f, 0, SP_E_INTEGRITY);
}

static void
test_bad_scheme(void **state)
{
	static const char *const urls[] = {
	    "ftp://127.0.0.1/x",  "http://127.0.0.1:9/x",
	    "gs://bucket/prefix", "relative/dir",
	    "file://relative",	  "https://127.0.0.1/x?token=1"};
	struct fx *f = *state;
	struct unseal_opts o;
	struct unseal_result res;
	size_t i;

	for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		memset(&o, 0, sizeof(o));
		o.source = urls[i];
		o.target = f->target;
		o.skip_fs_check = !f->memfs;
		assert_int_equal(unseal_run(&o, f->key, &res), SP_E_USAGE);
		assert_target_empty(f);
	}
}

/* ---- the target ---- */

static void
test_target_on_disk(void **state)
{
	struct fx *f = *state;
	char disk[FX_PATH];
	struct unseal_opts o;
	struct unseal_result res;
	char url[FX_PATH + 16];

	snprintf(disk, sizeof(disk), "/var/tmp/sp-disk-XXXXXX");
	assert_non_null(mkdtemp(disk));
	if (on_memfs(disk)) {
		rm_rf(disk);
		skip();
	}
	snprintf(url, sizeof(url), "file://%s", f->store);
	memset(&o, 0, sizeof(o));
	o.source = url;
	o.target = disk;
	assert_int_equal(unseal_run(&o, f->key, &res), SP_E_TARGET);
	assert_int_equal(entries(disk), 0);
	rm_rf(disk);
}

static void
test_target_missing(void **state)
{
	struct fx *f = *state;
	char path[FX_PATH];

	path_join(path, f->target, "nope");
	assert_int_equal(do_unseal_at(f, path, 0, NULL), SP_E_TARGET);
}

/* Files that are not ours make the target unsuitable; they survive. */
static void
test_target_not_ours(void **state)
{
	struct fx *f = *state;
	char path[FX_PATH];
	struct stat st;

	write_file(f->target, "user-data.txt", "keep", 4);
	assert_int_equal(do_unseal(f, 0, NULL), SP_E_TARGET);
	path_join(path, f->target, "user-data.txt");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(entries(f->target), 1);
	unseal_clean(f->target);
	assert_int_equal(entries(f->target), 1);
}

static void
test_no_room(void **state)
{
	struct fx *f = *state;
	char mnt[FX_PATH];

	path_join(mnt, f->base, "tiny");
	assert_int_equal(mkdir(mnt, 0755), 0);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=64k") != 0) {
		rmdir(mnt);
		skip();
	}
	assert_int_equal(do_unseal_at(f, mnt, 0, NULL), SP_E_TARGET);
	assert_int_equal(entries(mnt), 0);
	assert_int_equal(umount(mnt), 0);
	rmdir(mnt);
}

/* ---- the parallel pipeline ---- */

#define MANY_FILES 300

static void
many_path(int i, char *rel, size_t cap)
{
	snprintf(rel, cap, "d%02d/s%d/f%03d.bin", i % 17, i % 3, i);
}

/* Hundreds of files in many directories, tiny segments and chunks, more
 * workers than CPUs: every file lands whole, nothing else does. */
static void
test_many_files(void **state)
{
	struct fx *f = *state;
	unsigned char *data;
	char rel[64];
	size_t len;
	int i;

	rm_rf(f->in);
	rm_rf(f->store);
	assert_int_equal(mkdir(f->in, 0755), 0);
	for (i = 0; i < MANY_FILES; i++) {
		len = (size_t)(i * 997) % 20000;
		many_path(i, rel, sizeof(rel));
		data = pattern(len, (unsigned)i);
		write_file(f->in, rel, data, len);
		free(data);
	}
	f->segment_size = 4096;
	assert_int_equal(do_seal(f, 1), SP_OK);

	f->workers = 5;
	f->memory_mib = 1;
	f->chunk = 8192;
	assert_int_equal(do_unseal(f, 1, NULL), SP_OK);
	for (i = 0; i < MANY_FILES; i++) {
		len = (size_t)(i * 997) % 20000;
		many_path(i, rel, sizeof(rel));
		data = pattern(len, (unsigned)i);
		assert_file(f->target, rel, data, len);
		free(data);
	}
	/* Files, 17 top directories with 3 below each where used, the
	 * ready marker: nothing partial. */
	assert_int_equal(entries(f->target), MANY_FILES + 17 + 17 * 3 + 1);
}

/* One file of 1,500 small segments through a 1 MiB budget, on one and
 * on three workers; then a flipped bit mid-file fails closed. */
static void
test_small_segments_parallel(void **state)
{
	static const unsigned workers[] = {1, 3};
	const size_t len = 6 * 1048576 + 123;
	struct fx *f = *state;
	unsigned char *big = pattern(len, 7);
	char blob[FX_PATH];
	size_t i;

	rm_rf(f->in);
	rm_rf(f->store);
	assert_int_equal(mkdir(f->in, 0755), 0);
	write_file(f->in, "big.bin", big, len);
	f->segment_size = 4096;
	assert_int_equal(do_seal(f, 1), SP_OK);
	f->memory_mib = 1;
	f->chunk = 65536;
	for (i = 0; i < sizeof(workers) / sizeof(workers[0]); i++) {
		f->workers = workers[i];
		assert_int_equal(do_unseal(f, 1, NULL), SP_OK);
		assert_file(f->target, "big.bin", big, len);
	}

	blob_path(f, "big.bin", blob);
	flip_byte(blob, 3 * 1048576 + 77);
	f->workers = 3;
	expect_fail(f, 0, SP_E_INTEGRITY);
	free(big);
}

/* A budget below one segment cannot work: refused, nothing written. */
static void
test_budget_too_small(void **state)
{
	struct fx *f = *state;

	rm_rf(f->store);
	f->segment_size = 4 * 1048576;
	assert_int_equal(do_seal(f, 1), SP_OK);
	f->memory_mib = 1;
	expect_fail(f, 0, SP_E_USAGE);
	f->memory_mib = 4;
	assert_int_equal(do_unseal(f, 1, NULL), SP_OK);
	check_all(f);
}

/* ---- the owner's signature ---- */

static void
pem_key(const struct fx *f, const char *priv, const char *pub)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	char path[FX_PATH];
	FILE *fp;

	assert_non_null(k);
	path_join(path, f->base, priv);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL),
			 1);
	fclose(fp);
	path_join(path, f->base, pub);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(PEM_write_PUBKEY(fp, k), 1);
	fclose(fp);
	EVP_PKEY_free(k);
}

static void
test_signature(void **state)
{
	struct fx *f = *state;
	char priv[FX_PATH];
	char pub[FX_PATH];
	char other[FX_PATH];
	char sig[FX_PATH];
	char saved[FX_PATH];
	char cmd[3 * FX_PATH];
	struct stat st;

	pem_key(f, "owner.key", "owner.pub");
	pem_key(f, "other.key", "other.pub");
	path_join(priv, f->base, "owner.key");
	path_join(pub, f->base, "owner.pub");
	path_join(other, f->base, "other.pub");
	path_join(sig, f->store, UNSEAL_SIG_NAME);
	path_join(saved, f->base, "saved.sig");

	/* Sealed and signed: good with the owner's key only. */
	rm_rf(f->store);
	f->sign_key = priv;
	assert_int_equal(do_seal(f, 3), SP_OK);
	assert_int_equal(stat(sig, &st), 0);
	f->signing_key = pub;
	assert_int_equal(do_unseal(f, 3, NULL), SP_OK);
	check_all(f);
	f->signing_key = other;
	expect_fail(f, 0, SP_E_INTEGRITY);

	/* A damaged signature, or none. */
	f->signing_key = pub;
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", sig, saved);
	assert_int_equal(system(cmd), 0);
	flip_byte(sig, 10);
	expect_fail(f, 0, SP_E_INTEGRITY);
	assert_int_equal(unlink(sig), 0);
	expect_fail(f, 0, SP_E_INTEGRITY);

	/* The signature of this release over another release's manifest. */
	f->sign_key = NULL;
	assert_int_equal(do_seal(f, 4), SP_OK);
	assert_int_equal(stat(sig, &st), -1);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", saved, sig);
	assert_int_equal(system(cmd), 0);
	expect_fail(f, 0, SP_E_INTEGRITY);

	/* Without a pinned key, a signature is neither needed nor read. */
	f->signing_key = NULL;
	assert_int_equal(do_unseal(f, 4, NULL), SP_OK);
	check_all(f);

	/* A signing key others can read is refused before sealing. */
	assert_int_equal(chmod(priv, 0644), 0);
	f->sign_key = priv;
	assert_int_equal(do_seal(f, 5), SP_E_USAGE);
	f->sign_key = NULL;
}

/* Run an unseal that must fail with want, and log reason among its
 * events. */
static void
expect_reason(struct fx *f, enum sp_err want, const char *reason)
{
	char line[1024];
	char needle[128];
	FILE *logf = tmpfile();
	int found = 0;

	assert_non_null(logf);
	snprintf(needle, sizeof(needle), "\"reason\":\"%s\"", reason);
	log_init(NULL, logf);
	assert_int_equal(do_unseal(f, 0, NULL), want);
	log_init(NULL, stderr);
	assert_target_empty(f);
	rewind(logf);
	while (!found && fgets(line, sizeof(line), logf) != NULL) {
		found = strstr(line, needle) != NULL;
	}
	fclose(logf);
	if (!found) {
		fail_msg("no event with reason %s", reason);
	}
}

/* The manifest entry of rel, in m. */
static struct manifest_file *
entry_of(struct manifest *m, const char *rel)
{
	struct manifest_file *e = NULL;
	size_t i;

	for (i = 0; i < m->nfiles; i++) {
		if (strcmp(m->files[i].path, rel) == 0) {
			e = &m->files[i];
		}
	}
	assert_non_null(e);
	return e;
}

/* Put the header the manifest pins for rel back at the front of blob. */
static void
blob_restore_header(struct fx *f, const char *rel, const char *blob)
{
	struct manifest *m = store_manifest(f);
	const struct manifest_file *e = entry_of(m, rel);
	int fd = open(blob, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, e->header, e->header_len, 0),
			 (ssize_t)e->header_len);
	close(fd);
	manifest_free(m);
}

/* Seal other plaintext of e's size under e's pinned salt and nonce
 * prefix, as only a holder of the model key can, over blob. */
static void
forge_blob(struct fx *f, const struct manifest_file *e, const char *blob)
{
	struct sealed_params p;
	struct sealed_ctx *c = NULL;
	unsigned char hdr[SEALED_HEADER_MAX];
	unsigned char *buf;
	size_t len = (size_t)e->size;
	int fd;

	sealed_params_default(&p);
	assert_true(len + 16 <= 1048576 - 40);
	buf = calloc(1, len + 16);
	assert_non_null(buf);
	memset(buf, 'F', len);
	assert_int_equal(sealed_encrypt_begin_kat(
			     &p, f->key, e->path, strlen(e->path),
			     e->header + 1, e->header + 1 + 32, hdr, &c),
			 SP_OK);
	assert_memory_equal(hdr, e->header, 40);
	assert_int_equal(sealed_seal_segment(c, 0, 1, buf, len, buf), SP_OK);
	fd = open(blob, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, hdr, 40), 40);
	assert_int_equal(write(fd, buf, len + 16), (ssize_t)(len + 16));
	close(fd);
	sealed_ctx_free(c);
	free(buf);
}
/* Rewrite the store's manifest as a seal before "header" wrote it. */
static void
store_make_old_format(struct fx *f)
{
	struct manifest *m = store_manifest(f);
	size_t i;

	for (i = 0; i < m->nfiles; i++) {
		assert_int_equal(m->files[i].header_len, 40);
		m->files[i].header_len = 0;
	}
	store_manifest_write(f, m);
	manifest_free(m);
}

/* seal pins every blob's header in the manifest, as the blob has it. */
static void
test_manifest_pins_headers(void **state)
{
	struct fx *f = *state;
	struct manifest *m = store_manifest(f);
	unsigned char hdr[40];
	char blob[FX_PATH];
	size_t i;
	int fd;

	for (i = 0; i < m->nfiles; i++) {
		assert_int_equal(m->files[i].header_len, 40);
		blob_path(f, m->files[i].path, blob);
		fd = open(blob, O_RDONLY);
		assert_true(fd >= 0);
		assert_int_equal(read(fd, hdr, sizeof(hdr)), sizeof(hdr));
		close(fd);
		assert_memory_equal(hdr, m->files[i].header, sizeof(hdr));
	}
	manifest_free(m);
}

/*
 * The same path sealed again under the same key (a new salt: an older
 * or newer release of this file) put under this manifest's name. The
 * digest is no longer taken; the pinned header refuses it, by name.
 */
static void
test_resealed_blob_refused(void **state)
{
	struct fx *f = *state;
	struct fx other;
	char mine[FX_PATH];
	char theirs[FX_PATH];
	char cmd[3 * FX_PATH];

	other = *f;
	path_join(other.store, f->base, "store2");
	assert_int_equal(do_seal(&other, 3), SP_OK);
	blob_path(f, "model.gguf", mine);
	blob_path(&other, "model.gguf", theirs);
	assert_string_not_equal(mine, theirs);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", theirs, mine);
	assert_int_equal(system(cmd), 0);
	expect_reason(f, SP_E_INTEGRITY, "blob_header_mismatch");

	/* The same, with the original header spliced in front: the header
	 * passes, and the first segment fails under the pinned key. */
	blob_restore_header(f, "model.gguf", mine);
	expect_reason(f, SP_E_INTEGRITY, "blob_segment_invalid");
}

/* The manifest pins another header than the blob has (one salt bit). */
static void
test_header_mismatch(void **state)
{
	struct fx *f = *state;
	struct manifest *m = store_manifest(f);

	entry_of(m, "tokenizer/vocab.json")->header[5] ^= 1;
	store_manifest_write(f, m);
	manifest_free(m);
	expect_reason(f, SP_E_INTEGRITY, "blob_header_mismatch");
}

/* A manifest from before "header" still unseals, through the digest,
 * and the digest still refuses a re-sealed blob there. */
static void
test_old_format_manifest(void **state)
{
	struct fx *f = *state;
	struct fx other;
	char mine[FX_PATH];
	char theirs[FX_PATH];
	char cmd[3 * FX_PATH];

	store_make_old_format(f);
	assert_int_equal(do_unseal(f, 0, NULL), SP_OK);
	check_all(f);

	other = *f;
	path_join(other.store, f->base, "store2");
	assert_int_equal(do_seal(&other, 3), SP_OK);
	blob_path(f, "one-segment.bin", mine);
	blob_path(&other, "one-segment.bin", theirs);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", theirs, mine);
	assert_int_equal(system(cmd), 0);
	expect_reason(f, SP_E_INTEGRITY, "blob_digest_mismatch");
}

/*
 * What the header cannot do: whoever holds the model key can seal other
 * bytes under a pinned header (GCM is not committing to a known key).
 * Without a signature that holder could as well seal a new manifest;
 * with one, the digest is still taken and refuses the blob.
 */
static void
test_key_holder_forgery_needs_signature(void **state)
{
	struct fx *f = *state;
	struct manifest *m;
	struct manifest_file *e;
	char priv[FX_PATH];
	char pub[FX_PATH];
	char blob[FX_PATH];

	pem_key(f, "owner.key", "owner.pub");
	path_join(priv, f->base, "owner.key");
	path_join(pub, f->base, "owner.pub");
	rm_rf(f->store);
	f->sign_key = priv;
	assert_int_equal(do_seal(f, 3), SP_OK);
	f->sign_key = NULL;

	m = store_manifest(f);
	e = entry_of(m, "one-segment.bin");
	blob_path(f, "one-segment.bin", blob);
	forge_blob(f, e, blob);
	manifest_free(m);

	/* Unsigned trust: the key holder's blob opens (documented). */
	assert_int_equal(do_unseal(f, 0, NULL), SP_OK);
	unseal_clean(f->target);

	/* Signed: the digest the owner signed refuses it. */
	f->signing_key = pub;
	expect_reason(f, SP_E_INTEGRITY, "blob_digest_mismatch");
	f->signing_key = NULL;
}

/*
 * Another model sealed under the same key, with a higher version, served
 * in place of this one (h22 F2): it authenticates, so only the pinned
 * model identity refuses it, before any blob is read (the store below
 * has none left to read).
 */
static void
test_model_id(void **state)
{
	struct fx *f = *state;
	struct fx other;
	char blobs[FX_PATH];
	char cmd[4 * FX_PATH];

	/* This model, sealed with its identity: pinned or not, it opens. */
	rm_rf(f->store);
	f->seal_model = "model-a";
	assert_int_equal(do_seal(f, 3), SP_OK);
	f->model_id = "model-a";
	assert_int_equal(do_unseal(f, 3, NULL), SP_OK);
	check_all(f);
	f->model_id = NULL;
	assert_int_equal(do_unseal(f, 3, NULL), SP_OK);
	check_all(f);

	/* Another model, same key, version 9, swapped in whole. */
	other = *f;
	path_join(other.in, f->base, "in-b");
	path_join(other.store, f->base, "store-b");
	assert_int_equal(mkdir(other.in, 0755), 0);
	write_file(other.in, "model.gguf", "other weights", 13);
	other.seal_model = "model-b";
	assert_int_equal(do_seal(&other, 9), SP_OK);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s' '%s'", f->store,
		 other.store, f->store);
	assert_int_equal(system(cmd), 0);

	/* Not pinned: accepted, as before model identities (documented). */
	assert_int_equal(do_unseal(f, 3, NULL), SP_OK);
	unseal_clean(f->target);

	f->model_id = "model-a";
	expect_reason(f, SP_E_INTEGRITY, "manifest_model_mismatch");
	path_join(blobs, f->store, MANIFEST_BLOB_DIR);
	rm_rf(blobs);
	expect_reason(f, SP_E_INTEGRITY, "manifest_model_mismatch");

	/* A manifest without "model" under a pin is refused too. */
	rm_rf(f->store);
	f->seal_model = NULL;
	assert_int_equal(do_seal(f, 3), SP_OK);
	expect_reason(f, SP_E_INTEGRITY, "manifest_model_mismatch");
	f->model_id = NULL;
	assert_int_equal(do_unseal(f, 3, NULL), SP_OK);
	check_all(f);
}

/* A manifest.sig over MANIFEST_SIG_MAX is a signature failure, not the
 * manifest's (h22 F5). */
static void
test_signature_too_large(void **state)
{
	struct fx *f = *state;
	unsigned char junk[MANIFEST_SIG_MAX + 45];
	char priv[FX_PATH];
	char pub[FX_PATH];

	pem_key(f, "owner.key", "owner.pub");
	path_join(priv, f->base, "owner.key");
	path_join(pub, f->base, "owner.pub");
	rm_rf(f->store);
	f->sign_key = priv;
	assert_int_equal(do_seal(f, 3), SP_OK);
	f->sign_key = NULL;
	memset(junk, 0x30, sizeof(junk));
	write_file(f->store, UNSEAL_SIG_NAME, junk, sizeof(junk));
	f->signing_key = pub;
	expect_reason(f, SP_E_INTEGRITY, "manifest_sig_too_large");
	f->signing_key = NULL;
}

/* A later file fails: the earlier, already renamed ones go too. */
static void
test_late_failure_removes_earlier(void **state)
{
	struct fx *f = *state;
	char blob[FX_PATH];

	/* tokenizer/vocab.json sorts after every other top-level file. */
	blob_path(f, "tokenizer/vocab.json", blob);
	flip_byte(blob, 60);
	expect_fail(f, 0, SP_E_INTEGRITY);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_round_trip_small_segments,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_output_wiped, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_bounded_memory, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_short_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flipped_bits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_truncated_blob, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_extended_blob, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_swapped_blobs, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_digest_mismatch, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_size, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rollback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_blob, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_manifest, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_manifest_swapped_for_blob,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_symlink_in_store, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_symlink_blob_dir, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_bad_scheme, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_target_on_disk, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_target_missing, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_target_not_ours, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_no_room, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_model_id, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_signature_too_large, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_late_failure_removes_earlier,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_small_segments_parallel, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_budget_too_small, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_signature, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_manifest_pins_headers, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_resealed_blob_refused, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_header_mismatch, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_old_format_manifest, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		test_key_holder_forgery_needs_signature, setup, teardown),
	};

	log_init("test_unseal", stderr);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
