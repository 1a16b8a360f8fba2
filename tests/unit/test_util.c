/*
 * test_util.c: hex, whole-file reads with ceilings, private-file checks,
 * atomic writes that leave nothing behind, strict numbers, clocks.
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

#include "util.h"

static char dir[] = "/tmp/sealpod-test-util.XXXXXX";

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static void
path_of(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

static int
count_entries(void)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		/* Hidden temporaries count; "." and ".." do not. */
		n += strcmp(de->d_name, ".") != 0 &&
		     strcmp(de->d_name, "..") != 0;
	}
	closedir(d);
	return n;
}

static void
test_hex(void **state)
{
	static const unsigned char raw[] = {0x00, 0x01, 0xab, 0xff};
	unsigned char back[4];
	char out[9];

	(void)state;
	assert_string_equal(hex_encode(raw, 4, out), "0001abff");
	assert_int_equal(hex_decode("0001ABff", 8, back, 4), 0);
	assert_memory_equal(back, raw, 4);
	assert_int_equal(hex_decode("0001abf", 7, back, 4), -1);
	assert_int_equal(hex_decode("0001abfff", 9, back, 4), -1);
	assert_int_equal(hex_decode("0001abfg", 8, back, 4), -1);
	assert_int_equal(hex_decode(" 001abff", 8, back, 4), -1);
	assert_string_equal(hex_encode(raw, 0, out), "");
}

static void
test_parse_u64(void **state)
{
	uint64_t v = 9;

	(void)state;
	assert_int_equal(parse_u64("0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse_u64("18446744073709551615", 0, UINT64_MAX, &v),
			 0);
	assert_int_equal(v, UINT64_MAX);
	v = 9;
	assert_int_equal(parse_u64("18446744073709551616", 0, UINT64_MAX, &v),
			 -1);
	assert_int_equal(parse_u64("", 0, 10, &v), -1);
	assert_int_equal(parse_u64("-1", 0, 10, &v), -1);
	assert_int_equal(parse_u64("+1", 0, 10, &v), -1);
	assert_int_equal(parse_u64(" 1", 0, 10, &v), -1);
	assert_int_equal(parse_u64("1 ", 0, 10, &v), -1);
	assert_int_equal(parse_u64("0x1", 0, 10, &v), -1);
	assert_int_equal(parse_u64("11", 0, 10, &v), -1);
	assert_int_equal(parse_u64("4", 5, 10, &v), -1);
	assert_int_equal(parse_u64(NULL, 0, 10, &v), -1);
	assert_int_equal(v, 9);
}

static void
test_read_all(void **state)
{
	char p[512];
	char *buf = NULL;
	size_t len = 0;

	(void)state;
	path_of(p, sizeof(p), "r.txt");
	assert_int_equal(file_write_atomic(p, "hello", 5, 0644), SP_OK);
	assert_int_equal(file_read_all(p, 5, &buf, &len), SP_OK);
	assert_int_equal(len, 5);
	assert_string_equal(buf, "hello");
	free(buf);

	buf = NULL;
	assert_int_equal(file_read_all(p, 4, &buf, &len), SP_E_USAGE);
	assert_int_equal(errno, EFBIG);
	assert_null(buf);

	path_of(p, sizeof(p), "empty");
	assert_int_equal(file_write_atomic(p, "", 0, 0644), SP_OK);
	assert_int_equal(file_read_all(p, 0, &buf, &len), SP_OK);
	assert_int_equal(len, 0);
	assert_string_equal(buf, "");
	free(buf);

	path_of(p, sizeof(p), "missing");
	assert_int_equal(file_read_all(p, 10, &buf, &len), SP_E_NOTFOUND);
	path_of(p, sizeof(p), "missing/deeper");
	assert_int_equal(file_read_all(p, 10, &buf, &len), SP_E_NOTFOUND);
	assert_int_equal(file_read_all(dir, 10, &buf, &len), SP_E_USAGE);
}

/* A FIFO must be refused by type, not block the reader forever. */
static void
test_read_fifo_refused(void **state)
{
	char p[512];
	char *buf = NULL;
	size_t len;

	(void)state;
	path_of(p, sizeof(p), "fifo");
	assert_int_equal(mkfifo(p, 0600), 0);
	assert_int_equal(file_read_all(p, 10, &buf, &len), SP_E_USAGE);
	assert_null(buf);
	unlink(p);
}

/* Files with no size in stat (procfs) are read up to the ceiling. */
static void
test_read_sizeless_file(void **state)
{
	char *buf = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(
	    file_read_all("/proc/self/status", 1 << 20, &buf, &len), SP_OK);
	assert_true(len > 0);
	assert_non_null(strstr(buf, "Name:"));
	free(buf);
	assert_int_equal(file_read_all("/proc/self/status", 16, &buf, &len),
			 SP_E_USAGE);
}

static void
test_write_atomic(void **state)
{
	struct stat st;
	char p[512];
	char *buf = NULL;
	size_t len;
	int before;

	(void)state;
	before = count_entries();
	path_of(p, sizeof(p), "w.bin");
	assert_int_equal(file_write_atomic(p, "one", 3, 0600), SP_OK);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(file_write_atomic(p, "second", 6, 0640), SP_OK);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(file_read_all(p, 100, &buf, &len), SP_OK);
	assert_string_equal(buf, "second");
	free(buf);
	/* Exactly one new entry: no temporary left behind. */
	assert_int_equal(count_entries(), before + 1);

	/* Failure leaves nothing: the directory does not exist. */
	path_of(p, sizeof(p), "nodir/x");
	assert_int_equal(file_write_atomic(p, "x", 1, 0600), SP_E_TARGET);
	/* Renaming over a directory fails after the temp file was made. */
	path_of(p, sizeof(p), "adir");
	assert_int_equal(mkdir(p, 0700), 0);
	before = count_entries();
	assert_int_equal(file_write_atomic(p, "x", 1, 0600), SP_E_TARGET);
	assert_int_equal(count_entries(), before);
	assert_int_equal(file_write_atomic("", "x", 1, 0600), SP_E_TARGET);
	path_of(p, sizeof(p), "trailing/");
	assert_int_equal(file_write_atomic(p, "x", 1, 0600), SP_E_TARGET);
}

static void
test_check_private(void **state)
{
	char p[512];
	char l[512];

	(void)state;
	path_of(p, sizeof(p), "key");
	assert_int_equal(file_write_atomic(p, "k", 1, 0600), SP_OK);
	assert_int_equal(file_check_private(p), SP_OK);
	assert_int_equal(chmod(p, 0400), 0);
	assert_int_equal(file_check_private(p), SP_OK);
	assert_int_equal(chmod(p, 0640), 0);
	assert_int_equal(file_check_private(p), SP_E_USAGE);
	assert_int_equal(chmod(p, 0604), 0);
	assert_int_equal(file_check_private(p), SP_E_USAGE);
	assert_int_equal(chmod(p, 0602), 0);
	assert_int_equal(file_check_private(p), SP_E_USAGE);
	assert_int_equal(chmod(p, 0600), 0);

	/* Through a symlink the target's mode counts (Kubernetes secrets). */
	path_of(l, sizeof(l), "key.link");
	assert_int_equal(symlink(p, l), 0);
	assert_int_equal(file_check_private(l), SP_OK);
	assert_int_equal(file_check_private(dir), SP_E_USAGE);
	path_of(p, sizeof(p), "nokey");
	assert_int_equal(file_check_private(p), SP_E_USAGE);
}

static void
test_clocks(void **state)
{
	char ts[40];
	uint64_t a;
	uint64_t b;

	(void)state;
	a = now_ns();
	b = now_ns();
	assert_true(b >= a);
	now_rfc3339(ts, sizeof(ts));
	assert_int_equal(strlen(ts), 24);
	assert_int_equal(ts[4], '-');
	assert_int_equal(ts[10], 'T');
	assert_int_equal(ts[19], '.');
	assert_int_equal(ts[23], 'Z');
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hex),
	    cmocka_unit_test(test_parse_u64),
	    cmocka_unit_test(test_read_all),
	    cmocka_unit_test(test_read_fifo_refused),
	    cmocka_unit_test(test_read_sizeless_file),
	    cmocka_unit_test(test_write_atomic),
	    cmocka_unit_test(test_check_private),
	    cmocka_unit_test(test_clocks),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
