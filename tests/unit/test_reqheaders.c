/*
 * test_reqheaders.c: extra request headers from a private file
 * (init/reqheaders.c): parsing, every refusal, the privacy rule, and that
 * no header value ever reaches the log.
 */
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

#include "log.h"
#include "reqheaders.h"

#define LOG_CAP	 (64 * 1024)
#define PATH_CAP 256
#define TOKEN	 "s3cr3t-t0ken-value"

static char dir[] = "/tmp/test_reqheaders.XXXXXX";
static char path[PATH_CAP];
static FILE *log_file;
static char logtext[LOG_CAP];

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL) {
		return -1;
	}
	snprintf(path, sizeof(path), "%s/headers", dir);
	log_file = tmpfile();
	if (log_file == NULL) {
		return -1;
	}
	log_init("test_reqheaders", log_file);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	(void)unlink(path);
	(void)rmdir(dir);
	fclose(log_file);
	return 0;
}

static void
write_mode(const void *text, size_t len, mode_t mode)
{
	FILE *f;

	(void)unlink(path);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* Load path; the log lines land in logtext. */
static enum sp_err
load(struct reqheaders **out)
{
	enum sp_err rc;
	size_t n;

	assert_int_equal(ftruncate(fileno(log_file), 0), 0);
	rewind(log_file);
	*out = NULL;
	rc = reqheaders_load(path, out);
	fflush(log_file);
	rewind(log_file);
	n = fread(logtext, 1, sizeof(logtext) - 1, log_file);
	logtext[n] = '\0';
	return rc;
}

static void
test_good(void **state)
{
	static const char text[] = "# tokens for the store\r\n"
				   "Authorization: Bearer " TOKEN "\r\n"
				   "\n"
				   "X-Tenant:\tblue team\n"
				   "x-empty:";
	struct reqheaders *h = NULL;

	(void)state;
	write_mode(text, sizeof(text) - 1, 0600);
	assert_int_equal(load(&h), SP_OK);
	assert_int_equal(h->n, 3);
	assert_string_equal(h->lines[0], "Authorization: Bearer " TOKEN);
	assert_string_equal(h->lines[1], "X-Tenant:\tblue team");
	assert_string_equal(h->lines[2], "x-empty:");
	assert_null(h->lines[3]);
	reqheaders_free(h);
	reqheaders_free(NULL);
}

/* Each bad file is refused with its rule, and never echoes a value. */
static void
refused(const char *text, size_t len, mode_t mode, const char *reason)
{
	struct reqheaders *h = NULL;
	char want[128];

	write_mode(text, len, mode);
	assert_int_equal(load(&h), SP_E_USAGE);
	assert_null(h);
	snprintf(want, sizeof(want), "\"reason\":\"%s\"", reason);
	if (strstr(logtext, want) == NULL) {
		fail_msg("want %s in log:\n%s", want, logtext);
	}
	assert_null(strstr(logtext, TOKEN));
}

static void
refused_s(const char *text, const char *reason)
{
	refused(text, strlen(text), 0600, reason);
}

static void
test_refused(void **state)
{
	static const char ok[] = "Authorization: Bearer " TOKEN "\n";
	static const char nul[] = "Authorization: Bearer " TOKEN "\0x\n";
	char many[4096];
	size_t n = 0;
	int i;

	(void)state;
	refused(ok, sizeof(ok) - 1, 0640, "headers_file_not_private");
	refused(ok, sizeof(ok) - 1, 0604, "headers_file_not_private");
	refused_s("Authorization Bearer " TOKEN "\n", "header_name_invalid");
	refused_s(": " TOKEN "\n", "header_name_invalid");
	refused_s("Bad Name: " TOKEN "\n", "header_name_invalid");
	refused_s("Range: bytes=0-\n", "header_not_allowed");
	refused_s("host: evil.example\n", "header_not_allowed");
	refused_s("X-A: a\x01" TOKEN "\n", "header_value_invalid");
	refused(nul, sizeof(nul) - 1, 0600, "header_value_invalid");
	for (i = 0; i <= REQHEADERS_LINES_MAX; i++) {
		n += (size_t)snprintf(many + n, sizeof(many) - n, "X-H%d: %s\n",
				      i, TOKEN);
	}
	refused(many, n, 0600, "headers_too_many");

	/* Over the ceiling; a missing file. */
	{
		char *big = malloc(REQHEADERS_FILE_MAX + 2);

		assert_non_null(big);
		memset(big, 'a', REQHEADERS_FILE_MAX + 1);
		refused(big, REQHEADERS_FILE_MAX + 1, 0600,
			"headers_file_unreadable");
		free(big);
	}
	(void)unlink(path);
	{
		struct reqheaders *h = NULL;

		assert_int_equal(load(&h), SP_E_USAGE);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),
	    cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
