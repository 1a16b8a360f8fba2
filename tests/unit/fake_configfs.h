/*
 * fake_configfs.h: a directory tree that behaves like the kernel's
 * configfs-tsm for the tsm.c test hook, plus log capture. Included by
 * test_tsm.c and test_attest_tee.c after <cmocka.h>; all static.
 *
 * The fake kernel creates an entry's attributes on mkdir, counts writes
 * in "generation", and on a read of outblob writes a report that holds
 * the inblob (a template with the inblob patched in at rd_off, or
 * "FAKE" + inblob zero-padded to fake_len), the way a provider does.
 * Fault knobs make it race, report EBUSY, or fail with any errno.
 */
#ifndef SEALPOD_TEST_FAKE_CONFIGFS_H
#define SEALPOD_TEST_FAKE_CONFIGFS_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attest/tsm.h"
#include "log.h"

#define FAKE_PATH_MAX 4096
#define FAKE_BLOB_MAX (64 * 1024)

struct fake_kernel {
	const char *provider;	   /* NULL: no provider registered (ENXIO) */
	const unsigned char *tmpl; /* outblob template, or NULL */
	size_t tmpl_len;
	size_t rd_off;	 /* where the inblob goes in the template */
	int no_patch;	 /* leave the template's report data alone */
	size_t fake_len; /* outblob size without a template */
	const unsigned char *aux;
	size_t aux_len;
	int race_reads;	 /* outblob reads that see another writer */
	int busy_reads;	 /* outblob reads that fail with EBUSY */
	int read_errno;	 /* errno of every outblob read, 0 for none */
	int write_errno; /* errno of every inblob write */
	int mkdirs;	 /* entries made */
	int outblob_reads;
};

static char fake_log_path[] = "/tmp/sealpod-test-log.XXXXXX";
static FILE *fake_log;

static inline void
fake_write(const char *dir, const char *name, const void *p, size_t n)
{
	char path[FAKE_PATH_MAX];
	FILE *f;

	assert_true(snprintf(path, sizeof(path), "%s/%s", dir, name) <
		    (int)sizeof(path));
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static inline void
fake_write_append(const char *dir, const char *name, const char *text)
{
	char path[FAKE_PATH_MAX];
	FILE *f;

	assert_true(snprintf(path, sizeof(path), "%s/%s", dir, name) <
		    (int)sizeof(path));
	f = fopen(path, "ab");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Read a small file; returns its length, -1 when missing. */
static inline long
fake_read(const char *dir, const char *name, unsigned char *out, size_t cap)
{
	char path[FAKE_PATH_MAX];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (f == NULL) {
		return -1;
	}
	n = fread(out, 1, cap, f);
	fclose(f);
	return (long)n;
}

static inline void
fake_bump_generation(const char *entry)
{
	unsigned char buf[32];
	char text[32];
	long n = fake_read(entry, "generation", buf, sizeof(buf) - 1);
	unsigned long g;

	assert_true(n > 0);
	buf[n] = '\0';
	g = strtoul((char *)buf, NULL, 10);
	snprintf(text, sizeof(text), "%lu\n", g + 1);
	fake_write(entry, "generation", text, strlen(text));
}

/* The report a provider would make from the entry's inblob. */
static inline int
fake_outblob(struct fake_kernel *k, const char *entry)
{
	unsigned char in[TSM_INBLOB_LEN + 1];
	unsigned char *out;
	long n = fake_read(entry, "inblob", in, sizeof(in));
	size_t len;

	if (n != TSM_INBLOB_LEN) {
		return EINVAL; /* as the kernel: nothing or not 64 bytes */
	}
	len = k->tmpl != NULL ? k->tmpl_len : k->fake_len;
	out = calloc(1, len + TSM_INBLOB_LEN + 4);
	assert_non_null(out);
	if (k->tmpl != NULL) {
		memcpy(out, k->tmpl, len);
		if (!k->no_patch) {
			memcpy(out + k->rd_off, in, TSM_INBLOB_LEN);
		}
	} else if (len >= 4 + TSM_INBLOB_LEN) {
		memcpy(out, "FAKE", 4);
		memcpy(out + 4, in, TSM_INBLOB_LEN);
	}
	fake_write(entry, "outblob", out, len);
	free(out);
	return 0;
}

static inline int
fake_read_step(struct fake_kernel *k, const char *entry, const char *attr)
{
	int err = 0;

	if (strcmp(attr, "outblob") == 0) {
		k->outblob_reads++;
		if (k->busy_reads > 0) {
			k->busy_reads--;
			err = EBUSY;
		} else if (k->read_errno != 0) {
			err = k->read_errno;
		} else {
			err = fake_outblob(k, entry);
		}
		if (err == 0 && k->race_reads > 0) {
			k->race_reads--;
			fake_bump_generation(entry);
		}
	} else if (strcmp(attr, "auxblob") == 0) {
		fake_write(entry, "auxblob",
			   k->aux != NULL ? (const void *)k->aux : "",
			   k->aux != NULL ? k->aux_len : 0);
	} else if (strcmp(attr, "provider") == 0 && k->provider == NULL) {
		err = ENXIO;
	}
	return err;
}

static inline void
fake_clear(const char *entry)
{
	struct dirent *de;
	char path[FAKE_PATH_MAX];
	DIR *d = opendir(entry);

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", entry,
				 de->d_name);
			assert_int_equal(unlink(path), 0);
		}
	}
	closedir(d);
}

/* The tsm.c test hook: the kernel's side of configfs-tsm. */
static inline int
fake_hook(const char *entry, enum tsm_event ev, const char *attr, void *arg)
{
	struct fake_kernel *k = arg;
	const char *p;
	int err = 0;

	if (ev == TSM_EV_MKDIR) {
		k->mkdirs++;
		p = k->provider != NULL ? k->provider : "";
		fake_write(entry, "provider", p, strlen(p));
		fake_write_append(entry, "provider", "\n");
		fake_write(entry, "generation", "0\n", 2);
		fake_write(entry, "inblob", "", 0);
	} else if (ev == TSM_EV_WRITE) {
		err = k->write_errno;
		if (err == 0 && strcmp(attr, "inblob") == 0) {
			fake_bump_generation(entry);
		}
	} else if (ev == TSM_EV_READ) {
		err = fake_read_step(k, entry, attr);
	} else if (ev == TSM_EV_RMDIR) {
		fake_clear(entry);
	}
	return err;
}

static inline int
fake_rm(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

/* mkdir -p of rel under root. */
static inline void
fake_mkdirs(const char *root, const char *rel)
{
	char path[FAKE_PATH_MAX];
	size_t i, n;

	n = (size_t)snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (i = strlen(root) + 1; i <= n; i++) {
		if (path[i] == '/' || path[i] == '\0') {
			path[i] = '\0';
			if (mkdir(path, 0755) != 0) {
				assert_int_equal(errno, EEXIST);
			}
			if (i < n) {
				path[i] = '/';
			}
		}
	}
}

/* Entries left in the report directory (0 after every request). */
static inline int
fake_entries(const char *root)
{
	char path[FAKE_PATH_MAX];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s" TSM_REPORT_DIR, root);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		n += de->d_name[0] != '.';
	}
	closedir(d);
	return n;
}

/* Route the log to a file the test can read back. */
static inline void
fake_log_start(void)
{
	int fd = mkstemp(fake_log_path);

	assert_true(fd >= 0);
	fake_log = fdopen(fd, "w+");
	assert_non_null(fake_log);
	log_init("test", fake_log);
	log_set_level(LOG_DEBUG);
}

static inline void
fake_log_clear(void)
{
	assert_int_equal(ftruncate(fileno(fake_log), 0), 0);
	assert_int_equal(lseek(fileno(fake_log), 0, SEEK_SET), 0);
}

/* 1 when the log since the last clear contains s. */
static inline int
fake_log_has(const char *s)
{
	static char text[256 * 1024];
	ssize_t n;

	n = pread(fileno(fake_log), text, sizeof(text) - 1, 0);
	assert_true(n >= 0);
	text[n] = '\0';
	return strstr(text, s) != NULL;
}

static inline void
fake_log_stop(void)
{
	log_init("test", NULL);
	fclose(fake_log);
	unlink(fake_log_path);
}

#endif
