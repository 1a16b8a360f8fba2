/*
 * test_seal.c: the model owner's command (init/seal.c): key handling,
 * the content-addressed layout, the sealed manifest, and refused inputs.
 */
#include <dirent.h>
#include <errno.h>
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
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "log.h"
#include "manifest.h"
#include "seal.h"
#include "sealed.h"
#include "secret.h"
#include "util.h"

#define FX_PATH	 256
#define FILE_MAX (16 * 1024 * 1024)
/* A name that must never show up in the sealed output. */
#define SECRET_NAME "confidential-model-name.gguf"

struct fx {
	char base[FX_PATH];
	char in[FX_PATH];
	char out[FX_PATH];
	char key_file[FX_PATH];
};

static void
path_join(char *out, const char *a, const char *b)
{
	int n = snprintf(out, FX_PATH, "%s/%s", a, b);

	assert_true(n > 0 && n < FX_PATH);
}

static void
write_file(const char *dir, const char *rel, const void *data, size_t len,
	   unsigned mode)
{
	char path[FX_PATH];
	int fd;

	path_join(path, dir, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
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
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char sub[FX_PATH];

	assert_non_null(f);
	snprintf(f->base, sizeof(f->base), "/tmp/sp-seal-XXXXXX");
	assert_non_null(mkdtemp(f->base));
	path_join(f->in, f->base, "in");
	path_join(f->out, f->base, "out");
	path_join(f->key_file, f->base, "model.key");
	assert_int_equal(mkdir(f->in, 0755), 0);
	path_join(sub, f->in, "sub");
	assert_int_equal(mkdir(sub, 0755), 0);
	write_file(f->in, SECRET_NAME, "GGUF....weights", 15, 0644);
	write_file(f->in, "sub/config.json", "{}", 2, 0644);
	write_file(f->in, "sub/empty", "", 0, 0644);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	(void)nftw(f->base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static enum sp_err
seal_follow(struct fx *f, uint64_t version, uint64_t segment_size,
	    int follow_external)
{
	struct seal_opts o;

	memset(&o, 0, sizeof(o));
	o.key_file = f->key_file;
	o.in_dir = f->in;
	o.out_dir = f->out;
	o.version = version;
	o.segment_size = segment_size;
	o.follow_external = follow_external;
	return seal_run(&o);
}

static enum sp_err
seal(struct fx *f, uint64_t version, uint64_t segment_size)
{
	return seal_follow(f, version, segment_size, 0);
}

/* Entries in dir other than "." and "..", or -1 when it is absent. */
static int
entries(const char *dir)
{
	struct dirent *de;
	int n = 0;
	DIR *d;

	d = opendir(dir);
	if (d == NULL) {
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		n += strcmp(de->d_name, ".") != 0 &&
		     strcmp(de->d_name, "..") != 0;
	}
	closedir(d);
	return n;
}

static int
blob_count(const struct fx *f)
{
	char path[FX_PATH];

	path_join(path, f->out, "blobs");
	return entries(path);
}

/* The bytes of out/manifest.sealed, malloc'd. */
static char *
manifest_bytes(const struct fx *f, size_t *len)
{
	char path[FX_PATH];
	char *buf = NULL;

	path_join(path, f->out, MANIFEST_NAME);
	assert_int_equal(file_read_all(path, FILE_MAX, &buf, len), SP_OK);
	return buf;
}

static struct secret *
key_load(const struct fx *f)
{
	char *buf = NULL;
	size_t len = 0;
	struct secret *k;

	assert_int_equal(file_read_all(f->key_file, 64, &buf, &len), SP_OK);
	assert_int_equal(len, 32);
	k = secret_from(buf, len);
	assert_non_null(k);
	free(buf);
	return k;
}

static struct manifest *
open_manifest(const struct fx *f, const struct secret *key)
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
	path_join(path, f->out, MANIFEST_NAME);
	assert_int_equal(file_read_all(path, FILE_MAX, &ct, &ct_len), SP_OK);
	assert_int_equal(sealed_decrypt_mem(&p, key, MANIFEST_AAD,
					    strlen(MANIFEST_AAD), ct, ct_len,
					    MANIFEST_MAX, &pt, &pt_len),
			 SP_OK);
	assert_int_equal(manifest_parse((char *)pt, pt_len, &m, &reason),
			 SP_OK);
	free(pt);
	free(ct);
	return m;
}

static void
sha256_hex(const void *buf, size_t len, char *hex)
{
	unsigned char md[32];
	unsigned int md_len = 0;

	assert_int_equal(EVP_Digest(buf, len, md, &md_len, EVP_sha256(), NULL),
			 1);
	hex_encode(md, md_len, hex);
}

/* Each blob decrypts, under its path, to the input file. */
static void
check_blob(const struct fx *f, const struct secret *key,
	   const struct manifest_file *mf)
{
	struct sealed_params p;
	char rel[FX_PATH];
	char path[FX_PATH];
	char hex[65];
	char *ct = NULL;
	size_t ct_len = 0;
	char *plain = NULL;
	size_t plain_len = 0;
	unsigned char *pt = NULL;
	size_t pt_len = 0;

	snprintf(rel, sizeof(rel), "blobs/%s", mf->blob);
	path_join(path, f->out, rel);
	assert_int_equal(file_read_all(path, FILE_MAX, &ct, &ct_len), SP_OK);
	sha256_hex(ct, ct_len, hex);
	assert_string_equal(hex, mf->blob);

	sealed_params_default(&p);
	p.segment_size = mf->segment_size;
	assert_int_equal(sealed_decrypt_mem(&p, key, mf->path, strlen(mf->path),
					    ct, ct_len, FILE_MAX, &pt, &pt_len),
			 SP_OK);
	path_join(path, f->in, mf->path);
	assert_int_equal(file_read_all(path, FILE_MAX, &plain, &plain_len),
			 SP_OK);
	assert_int_equal(pt_len, plain_len);
	assert_int_equal(mf->size, plain_len);
	assert_memory_equal(pt, plain, plain_len);
	free(pt);
	free(plain);
	free(ct);
}

static void
test_layout(void **state)
{
	struct fx *f = *state;
	struct secret *key;
	struct manifest *m;
	struct dirent *de;
	char path[FX_PATH];
	struct stat st;
	size_t blobs = 0;
	size_t i;
	DIR *d;

	assert_int_equal(seal(f, 5, 0), SP_OK);
	assert_int_equal(stat(f->key_file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 32);
	key = key_load(f);

	m = open_manifest(f, key);
	assert_int_equal(m->version, 5);
	assert_int_equal(m->nfiles, 3);
	assert_string_equal(m->files[0].path, SECRET_NAME);
	assert_string_equal(m->files[1].path, "sub/config.json");
	assert_string_equal(m->files[2].path, "sub/empty");
	for (i = 0; i < m->nfiles; i++) {
		check_blob(f, key, &m->files[i]);
	}

	/* blobs/ holds exactly the digests: no names, no temporary files. */
	path_join(path, f->out, "blobs");
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' &&
		    (de->d_name[1] == '\0' || strcmp(de->d_name, "..") == 0)) {
			continue;
		}
		assert_int_equal(strlen(de->d_name), 64);
		blobs++;
	}
	closedir(d);
	assert_int_equal(blobs, 3);
	manifest_free(m);
	secret_free(key);
}

/* Grep every output byte for the confidential file name. */
static int
scan_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	char *buf = NULL;
	size_t len = 0;
	int found = 0;

	(void)ftw;
	if (strstr(path, SECRET_NAME) != NULL) {
		return 1;
	}
	if (flag != FTW_F || st->st_size == 0) {
		return 0;
	}
	if (file_read_all(path, FILE_MAX, &buf, &len) != SP_OK) {
		return 1;
	}
	found = memmem(buf, len, SECRET_NAME, strlen(SECRET_NAME)) != NULL ||
		memmem(buf, len, "GGUF", 4) != NULL;
	free(buf);
	return found;
}

static void
test_no_names_in_output(void **state)
{
	struct fx *f = *state;

	assert_int_equal(seal(f, 1, 0), SP_OK);
	assert_int_equal(nftw(f->out, scan_one, 16, FTW_PHYS), 0);
}

static void
test_key_reused(void **state)
{
	struct fx *f = *state;
	struct secret *k1;
	struct secret *k2;
	struct manifest *m;

	assert_int_equal(seal(f, 1, 0), SP_OK);
	k1 = key_load(f);
	assert_int_equal(seal(f, 2, 0), SP_OK);
	k2 = key_load(f);
	assert_memory_equal(k1->data, k2->data, 32);
	m = open_manifest(f, k1);
	assert_int_equal(m->version, 2);
	manifest_free(m);
	secret_free(k1);
	secret_free(k2);
}

static void
test_key_not_private(void **state)
{
	struct fx *f = *state;
	char path[FX_PATH];
	unsigned char raw[32] = {1};
	struct stat st;

	write_file(f->base, "model.key", raw, sizeof(raw), 0644);
	assert_int_equal(seal(f, 1, 0), SP_E_USAGE);
	path_join(path, f->out, MANIFEST_NAME);
	assert_int_not_equal(stat(path, &st), 0);
}

static void
test_key_wrong_size(void **state)
{
	struct fx *f = *state;
	unsigned char raw[33] = {1};

	write_file(f->base, "model.key", raw, 31, 0600);
	assert_int_equal(seal(f, 1, 0), SP_E_USAGE);
	write_file(f->base, "model.key", raw, 33, 0600);
	assert_int_equal(seal(f, 1, 0), SP_E_USAGE);
}

static void
test_key_symlink_refused(void **state)
{
	struct fx *f = *state;
	char real[FX_PATH];
	unsigned char raw[32] = {1};

	write_file(f->base, "real.key", raw, sizeof(raw), 0600);
	path_join(real, f->base, "real.key");
	assert_int_equal(symlink(real, f->key_file), 0);
	assert_int_equal(seal(f, 1, 0), SP_E_USAGE);
}

static void
test_out_inside_in(void **state)
{
	struct fx *f = *state;
	struct stat st;

	path_join(f->out, f->in, "sealed");
	assert_int_equal(seal(f, 1, 0), SP_E_USAGE);
	assert_int_not_equal(stat(f->out, &st), 0);
	path_join(f->out, f->in, "sealed/");
	assert_int_equal(seal(f, 1, 0), SP_E_USAGE);
	snprintf(f->out, sizeof(f->out), "%s", f->in);
	assert_int_equal(seal(f, 1, 0), SP_E_USAGE);
	path_join(f->out, f->in, "sub/..");
	assert_int_equal(seal(f, 1, 0), SP_E_USAGE);

	/* The key may not be sealed along with the model either. */
	path_join(f->out, f->base, "out");
	path_join(f->key_file, f->in, "model.key");
	assert_int_equal(seal(f, 1, 0), SP_E_USAGE);
	assert_int_not_equal(stat(f->key_file, &st), 0);
}

static void
test_symlinks(void **state)
{
	struct fx *f = *state;
	char target[FX_PATH];
	char link[FX_PATH];
	char inside[FX_PATH];
	struct secret *key;
	struct manifest *m;
	struct stat st;

	/* A link leaving --in (say to /etc/passwd) is refused by default,
	 * and the failed run leaves neither output nor a new key. */
	write_file(f->base, "outside.bin", "abc", 3, 0644);
	path_join(target, f->base, "outside.bin");
	path_join(link, f->in, "linked.bin");
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(seal(f, 1, 0), SP_E_USAGE);
	assert_int_not_equal(stat(f->out, &st), 0);
	assert_int_not_equal(stat(f->key_file, &st), 0);

	/* With follow_external it is sealed as that file. */
	assert_int_equal(seal_follow(f, 1, 0, 1), SP_OK);
	key = key_load(f);
	m = open_manifest(f, key);
	assert_int_equal(m->nfiles, 4);
	assert_string_equal(m->files[1].path, "linked.bin");
	assert_int_equal(m->files[1].size, 3);
	manifest_free(m);

	/* A link that stays inside --in needs no option, also through
	 * "..": what counts is where the opened file lies. */
	assert_int_equal(unlink(link), 0);
	path_join(inside, f->in, "sub/config.json");
	assert_int_equal(symlink(inside, link), 0);
	assert_int_equal(seal(f, 2, 0), SP_OK);
	assert_int_equal(unlink(link), 0);
	assert_int_equal(symlink("sub/../sub/config.json", link), 0);
	assert_int_equal(seal(f, 3, 0), SP_OK);
	m = open_manifest(f, key);
	assert_int_equal(m->version, 3);
	assert_string_equal(m->files[1].path, "linked.bin");
	assert_int_equal(m->files[1].size, 2);
	manifest_free(m);
	secret_free(key);

	/* A relative link that climbs out is refused like an absolute one. */
	assert_int_equal(unlink(link), 0);
	assert_int_equal(symlink("../outside.bin", link), 0);
	assert_int_equal(seal(f, 4, 0), SP_E_USAGE);

	/* A link to a directory, or a dangling one, is refused. */
	assert_int_equal(unlink(link), 0);
	assert_int_equal(symlink(f->base, link), 0);
	assert_int_equal(seal_follow(f, 4, 0, 1), SP_E_USAGE);
	assert_int_equal(unlink(link), 0);
	assert_int_equal(symlink("/nonexistent/x", link), 0);
	assert_int_equal(seal_follow(f, 4, 0, 1), SP_E_USAGE);
}

/* --out: absent, empty, or a store that opens with our key (F5). */
static void
test_out_dir_rules(void **state)
{
	struct fx *f = *state;
	unsigned char other[32];
	char notes[FX_PATH];
	char *before;
	char *after;
	size_t blen = 0;
	size_t alen = 0;
	struct stat st;

	assert_int_equal(seal(f, 1, 0), SP_OK);
	before = manifest_bytes(f, &blen);

	/* Another key over the store: refused, the store untouched. */
	memset(other, 0x5a, sizeof(other));
	path_join(f->key_file, f->base, "other.key");
	write_file(f->base, "other.key", other, sizeof(other), 0600);
	assert_int_equal(seal(f, 2, 0), SP_E_USAGE);
	after = manifest_bytes(f, &alen);
	assert_int_equal(alen, blen);
	assert_memory_equal(after, before, blen);
	free(after);
	assert_int_equal(blob_count(f), 3);

	/* A store, but no key file yet: refused, and no key is made. */
	path_join(f->key_file, f->base, "new.key");
	assert_int_equal(seal(f, 2, 0), SP_E_USAGE);
	assert_int_not_equal(stat(f->key_file, &st), 0);

	/* The same key: an update; the old blobs stay. */
	path_join(f->key_file, f->base, "model.key");
	assert_int_equal(seal(f, 2, 0), SP_OK);
	assert_int_equal(blob_count(f), 6);
	free(before);

	/* Someone else's directory is refused and left as it was. */
	path_join(f->out, f->base, "foreign");
	assert_int_equal(mkdir(f->out, 0755), 0);
	write_file(f->out, "notes.txt", "mine", 4, 0644);
	assert_int_equal(seal(f, 1, 0), SP_E_USAGE);
	assert_int_equal(entries(f->out), 1);
	path_join(notes, f->out, "notes.txt");
	assert_int_equal(stat(notes, &st), 0);

	/* An empty one is fine. */
	path_join(f->out, f->base, "empty");
	assert_int_equal(mkdir(f->out, 0755), 0);
	assert_int_equal(seal(f, 1, 0), SP_OK);
	assert_int_equal(blob_count(f), 3);
}

static enum sp_err
seal_model(struct fx *f, uint64_t version, const char *model_id)
{
	struct seal_opts o;

	memset(&o, 0, sizeof(o));
	o.key_file = f->key_file;
	o.in_dir = f->in;
	o.out_dir = f->out;
	o.version = version;
	o.model_id = model_id;
	return seal_run(&o);
}

/* The model of out's manifest ("" for none). */
static void
assert_model(const struct fx *f, const char *want)
{
	struct secret *key = key_load(f);
	struct manifest *m = open_manifest(f, key);

	assert_string_equal(m->model, want);
	manifest_free(m);
	secret_free(key);
}

/* --model-id goes into the manifest; an update keeps a store's model
 * (h22 F2): another one, or none, is refused and the store untouched. */
static void
test_model_id(void **state)
{
	struct fx *f = *state;
	char *before;
	char *after;
	size_t blen = 0;
	size_t alen = 0;

	assert_int_equal(seal_model(f, 1, "bad id"), SP_E_USAGE);
	assert_int_equal(entries(f->out), -1);

	assert_int_equal(seal_model(f, 1, "model-a"), SP_OK);
	assert_model(f, "model-a");
	before = manifest_bytes(f, &blen);

	assert_int_equal(seal_model(f, 2, "model-b"), SP_E_USAGE);
	assert_int_equal(seal_model(f, 2, NULL), SP_E_USAGE);
	after = manifest_bytes(f, &alen);
	assert_int_equal(alen, blen);
	assert_memory_equal(after, before, blen);
	assert_int_equal(blob_count(f), 3);
	free(after);
	free(before);

	/* The same model: an update as before. */
	assert_int_equal(seal_model(f, 2, "model-a"), SP_OK);
	assert_model(f, "model-a");
	assert_int_equal(blob_count(f), 6);

	/* A store without a model may gain one, and then keeps it. */
	path_join(f->out, f->base, "plain");
	assert_int_equal(seal_model(f, 1, NULL), SP_OK);
	assert_model(f, "");
	assert_int_equal(seal_model(f, 2, NULL), SP_OK);
	assert_int_equal(seal_model(f, 3, "model-c"), SP_OK);
	assert_model(f, "model-c");
	assert_int_equal(seal_model(f, 4, NULL), SP_E_USAGE);
	assert_model(f, "model-c");
}

/* A failed seal removes what it created, and only that (F6). */
static void
test_failed_seal_cleans(void **state)
{
	struct fx *f = *state;
	char fifo[FX_PATH];
	char *before;
	char *after;
	size_t blen = 0;
	size_t alen = 0;
	struct stat st;

	/* A FIFO fails the run (after some blobs, in most readdir
	 * orders): no output directory and no new key remain. */
	path_join(fifo, f->in, "zz-pipe");
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(seal(f, 1, 0), SP_E_USAGE);
	assert_int_not_equal(stat(f->out, &st), 0);
	assert_int_not_equal(stat(f->key_file, &st), 0);

	/* Into an existing store: the new blobs go, the old ones stay. */
	assert_int_equal(unlink(fifo), 0);
	assert_int_equal(seal(f, 1, 0), SP_OK);
	before = manifest_bytes(f, &blen);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(seal(f, 2, 0), SP_E_USAGE);
	assert_int_equal(blob_count(f), 3);
	after = manifest_bytes(f, &alen);
	assert_int_equal(alen, blen);
	assert_memory_equal(after, before, blen);
	assert_int_equal(stat(f->key_file, &st), 0);
	free(before);
	free(after);
}

static void
test_fifo_refused(void **state)
{
	struct fx *f = *state;
	char path[FX_PATH];

	path_join(path, f->in, "pipe");
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(seal(f, 1, 0), SP_E_USAGE);
}

static void
test_bad_name_refused(void **state)
{
	struct fx *f = *state;

	write_file(f->in, "bad\nname", "x", 1, 0644);
	assert_int_equal(seal(f, 1, 0), SP_E_USAGE);
}

static void
test_bad_segment_size(void **state)
{
	struct fx *f = *state;

	assert_int_equal(seal(f, 1, 10), SP_E_USAGE);
	assert_int_equal(seal(f, 1, (uint64_t)SEALED_SEGMENT_MAX + 1),
			 SP_E_USAGE);
}

static void
test_empty_input_and_default_version(void **state)
{
	struct fx *f = *state;
	struct secret *key;
	struct manifest *m;

	struct seal_opts o;
	struct stat st;

	(void)nftw(f->in, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	assert_int_equal(mkdir(f->in, 0755), 0);
	/* An empty --in is most likely a typo: refused, nothing left. */
	assert_int_equal(seal(f, 0, 0), SP_E_USAGE);
	assert_int_not_equal(stat(f->out, &st), 0);

	memset(&o, 0, sizeof(o));
	o.key_file = f->key_file;
	o.in_dir = f->in;
	o.out_dir = f->out;
	o.allow_empty = 1;
	assert_int_equal(seal_run(&o), SP_OK);
	key = key_load(f);
	m = open_manifest(f, key);
	assert_int_equal(m->version, 1);
	assert_int_equal(m->nfiles, 0);
	manifest_free(m);
	secret_free(key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_layout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_names_in_output, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_key_reused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_key_not_private, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_key_wrong_size, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_key_symlink_refused, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_out_inside_in, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_symlinks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_out_dir_rules, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_model_id, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_seal_cleans, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_fifo_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_name_refused, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_bad_segment_size, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		test_empty_input_and_default_version, setup, teardown),
	};

	log_init("test_seal", stderr);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
