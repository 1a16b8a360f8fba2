/*
 * test_conf.c: the YAML loader accepts exactly the table, and every
 * refusal names file, line, key and problem.
 */
#include <errno.h>
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

#include "conf.h"

struct cfg {
	char *tee;
	char *kbs_url;
	char *kbs_ca;
	uint64_t min_version;
	uint64_t port;
	int debug;
	char **files;
	char *deep;
};

static const struct conf_key keys[] = {
    {"tee", CONF_STR, offsetof(struct cfg, tee), 1, 0, 0},
    {"kbs.url", CONF_STR, offsetof(struct cfg, kbs_url), 1, 0, 0},
    {"kbs.ca", CONF_STR, offsetof(struct cfg, kbs_ca), 0, 0, 0},
    {"artifacts.min_version", CONF_U64, offsetof(struct cfg, min_version), 0, 0,
     UINT32_MAX},
    {"listen.port", CONF_U64, offsetof(struct cfg, port), 0, 1, 65535},
    {"debug", CONF_BOOL, offsetof(struct cfg, debug), 0, 0, 0},
    {"tls.files", CONF_LIST, offsetof(struct cfg, files), 0, 0, 0},
    {"a.b.c", CONF_STR, offsetof(struct cfg, deep), 0, 0, 0},
    {NULL, 0, 0, 0, 0, 0},
};

#define VALID "tee: sample\nkbs:\n  url: https://kbs\n"

static char dir[] = "/tmp/sealpod-test-conf.XXXXXX";
static char oldcwd[4096];

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
	if (getcwd(oldcwd, sizeof(oldcwd)) == NULL || mkdtemp(dir) == NULL ||
	    chdir(dir) != 0) {
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	if (chdir(oldcwd) != 0) {
		return -1;
	}
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static void
write_file(const char *name, const char *text, size_t len)
{
	FILE *f = fopen(name, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Load text as c.yaml into a struct holding sentinels. */
static enum sp_err
load_n(const char *text, size_t len, struct cfg *c, char **errs)
{
	memset(c, 0, sizeof(*c));
	c->min_version = 77;
	c->port = 8443;
	c->debug = 5;
	write_file("c.yaml", text, len);
	return conf_load("c.yaml", keys, c, errs);
}

static enum sp_err
load(const char *text, struct cfg *c, char **errs)
{
	return load_n(text, strlen(text), c, errs);
}

/* The file must be refused with exactly want, and out left untouched. */
static void
expect_errs(const char *text, size_t len, const char *want)
{
	struct cfg c;
	char *errs = NULL;

	assert_int_equal(load_n(text, len, &c, &errs), SP_E_USAGE);
	assert_non_null(errs);
	if (strcmp(errs, want) != 0) {
		fail_msg("for:\n%s\nwant:\n%s\ngot:\n%s", text, want, errs);
	}
	assert_null(c.tee);
	assert_null(c.kbs_url);
	assert_null(c.files);
	assert_int_equal(c.min_version, 77);
	assert_int_equal(c.port, 8443);
	assert_int_equal(c.debug, 5);
	free(errs);
}

#define EXPECT(text, want) expect_errs((text), strlen(text), (want))

static void
test_valid_full(void **state)
{
	struct cfg c;
	char *errs = NULL;

	(void)state;
	assert_int_equal(load("# comment\n"
			      "tee: sample\n"
			      "kbs:\n"
			      "  url: \"https://kbs:8080\"\n"
			      "  ca: /etc/ca.pem\n"
			      "artifacts: {min_version: 4294967295}\n"
			      "listen:\n"
			      "  port: 443\n"
			      "debug: true\n"
			      "tls:\n"
			      "  files:\n"
			      "  - cert.pem\n"
			      "  - 'key.pem'\n"
			      "a: {b: {c: deep}}\n",
			      &c, &errs),
			 SP_OK);
	assert_null(errs);
	assert_string_equal(c.tee, "sample");
	assert_string_equal(c.kbs_url, "https://kbs:8080");
	assert_string_equal(c.kbs_ca, "/etc/ca.pem");
	assert_int_equal(c.min_version, UINT32_MAX);
	assert_int_equal(c.port, 443);
	assert_int_equal(c.debug, 1);
	assert_string_equal(c.files[0], "cert.pem");
	assert_string_equal(c.files[1], "key.pem");
	assert_null(c.files[2]);
	assert_string_equal(c.deep, "deep");
	conf_free(keys, &c);
	assert_null(c.tee);
	assert_null(c.files);
}

static void
test_defaults_kept(void **state)
{
	struct cfg c;
	char *errs = NULL;

	(void)state;
	assert_int_equal(load(VALID, &c, &errs), SP_OK);
	assert_int_equal(c.min_version, 77);
	assert_int_equal(c.port, 8443);
	assert_int_equal(c.debug, 5);
	assert_null(c.kbs_ca);
	assert_null(c.files);
	conf_free(keys, &c);
}

/* A second load into the same struct replaces (and frees) old values. */
static void
test_reload_replaces(void **state)
{
	struct cfg c;
	char *errs = NULL;

	(void)state;
	assert_int_equal(load(VALID "tls: {files: [a]}\n", &c, &errs), SP_OK);
	write_file("c.yaml", "tee: other\nkbs: {url: u2}\ntls: {files: []}\n",
		   42);
	assert_int_equal(conf_load("c.yaml", keys, &c, &errs), SP_OK);
	assert_string_equal(c.tee, "other");
	assert_string_equal(c.kbs_url, "u2");
	assert_non_null(c.files);
	assert_null(c.files[0]);

	/* A failed load leaves the previous values in place. */
	write_file("c.yaml", "tee: third\nbogus: 1\n", 20);
	assert_int_equal(conf_load("c.yaml", keys, &c, &errs), SP_E_USAGE);
	free(errs);
	assert_string_equal(c.tee, "other");
	conf_free(keys, &c);
}

static void
test_unknown_keys(void **state)
{
	(void)state;
	EXPECT(VALID "bogus: 1\n", "c.yaml:4: bogus: unknown key");
	EXPECT(VALID "kbs2:\n  url: x\n", "c.yaml:4: kbs2: unknown key");
	EXPECT("tee: sample\nkbs:\n  url: https://kbs\n  urll: x\n",
	       "c.yaml:4: kbs.urll: unknown key");
	EXPECT(VALID "a:\n  b:\n    d: x\n", "c.yaml:6: a.b.d: unknown key");
	/* A key named like a dotted path is not the nested key. */
	EXPECT("tee: sample\nkbs.url: x\n",
	       "c.yaml:2: (root): invalid key name\n"
	       "c.yaml:1: kbs.url: missing required key");
	EXPECT(VALID "? [a, b]\n: c\n",
	       "c.yaml:4: (root): keys must be scalars");
	/*
	 * Unknown subtrees are skipped without recursion; deeper flow
	 * nesting is refused up front (test_deep_flow).
	 */
	EXPECT(VALID "deep: [[[[[[[[1]]]]]]]]\n",
	       "c.yaml:4: deep: unknown key");
	EXPECT(VALID "deep:\n  a:\n    b:\n      c:\n        d:\n"
		     "          e: [1]\n",
	       "c.yaml:4: deep: unknown key");
}

static void
test_duplicates(void **state)
{
	(void)state;
	EXPECT(VALID "tee: again\n",
	       "c.yaml:4: tee: duplicate key (first on line 1)");
	EXPECT("tee: sample\nkbs:\n  url: a\n  url: b\n",
	       "c.yaml:4: kbs.url: duplicate key (first on line 3)");
	EXPECT(VALID "kbs:\n  ca: x\n",
	       "c.yaml:4: kbs: duplicate key (first on line 2)");
	EXPECT(VALID "debug: true\ndebug: false\n",
	       "c.yaml:5: debug: duplicate key (first on line 4)");
}

static void
test_wrong_types(void **state)
{
	(void)state;
	EXPECT("tee:\n  x: y\nkbs: {url: u}\n",
	       "c.yaml:2: tee: expected a string, got a mapping");
	EXPECT("tee: [a]\nkbs: {url: u}\n",
	       "c.yaml:1: tee: expected a string, got a list");
	EXPECT(VALID "artifacts:\n  min_version: abc\n",
	       "c.yaml:5: artifacts.min_version: expected a number");
	EXPECT(VALID "artifacts:\n  min_version: -1\n",
	       "c.yaml:5: artifacts.min_version: expected a number");
	EXPECT(VALID "artifacts:\n  min_version: 0x10\n",
	       "c.yaml:5: artifacts.min_version: expected a number");
	EXPECT(VALID "artifacts:\n  min_version: 1.5\n",
	       "c.yaml:5: artifacts.min_version: expected a number");
	EXPECT(VALID "artifacts:\n  min_version: \"12\"\n",
	       "c.yaml:5: artifacts.min_version: expected a number, got a "
	       "quoted string");
	EXPECT(VALID "artifacts:\n  min_version: {a: 1}\n",
	       "c.yaml:5: artifacts.min_version: expected a number, got a "
	       "mapping");
	EXPECT(VALID "artifacts:\n  min_version:\n",
	       "c.yaml:5: artifacts.min_version: expected a number");
	EXPECT(VALID "debug: yes\n", "c.yaml:4: debug: expected true or false");
	EXPECT(VALID "debug: 'true'\n",
	       "c.yaml:4: debug: expected true or false");
	EXPECT(VALID "debug: [true]\n",
	       "c.yaml:4: debug: expected true or false, got a list");
	EXPECT(VALID "kbs2: 1\nkbs:\n",
	       "c.yaml:4: kbs2: unknown key\n"
	       "c.yaml:5: kbs: duplicate key (first on "
	       "line 2)");
	EXPECT("tee: x\nkbs: https://kbs\n",
	       "c.yaml:2: kbs: expected a mapping, got a scalar\n"
	       "c.yaml:1: kbs.url: missing required key");
	EXPECT(VALID "tls:\n  files: a.pem\n",
	       "c.yaml:5: tls.files: expected a list, got a scalar");
	EXPECT(VALID "tls:\n  files: [a, {b: c}, d]\n",
	       "c.yaml:5: tls.files[1]: expected a string, got a mapping");
	EXPECT(VALID "tls:\n  files: [a, '']\n",
	       "c.yaml:5: tls.files[1]: empty value");
}

static void
test_ranges(void **state)
{
	(void)state;
	EXPECT(VALID "listen: {port: 0}\n",
	       "c.yaml:4: listen.port: out of range [1, 65535]");
	EXPECT(VALID "listen: {port: 65536}\n",
	       "c.yaml:4: listen.port: out of range [1, 65535]");
	EXPECT(VALID "artifacts: {min_version: 4294967296}\n",
	       "c.yaml:4: artifacts.min_version: out of range [0, 4294967295]");
	EXPECT(VALID "artifacts: {min_version: 99999999999999999999999}\n",
	       "c.yaml:4: artifacts.min_version: out of range [0, 4294967295]");
}

static void
test_strings(void **state)
{
	char text[CONF_STR_MAX + 100];
	struct cfg c;
	char *errs = NULL;
	int n;

	(void)state;
	EXPECT("tee:\nkbs: {url: u}\n", "c.yaml:1: tee: empty value");
	EXPECT("tee: ''\nkbs: {url: u}\n", "c.yaml:1: tee: empty value");
	EXPECT("tee: \"a\\0b\"\nkbs: {url: u}\n",
	       "c.yaml:1: tee: contains a NUL byte");

	n = snprintf(text, sizeof(text), "kbs: {url: u}\ntee: %0*d\n",
		     CONF_STR_MAX, 0);
	assert_true(n > 0);
	assert_int_equal(load(text, &c, &errs), SP_OK);
	assert_int_equal(strlen(c.tee), CONF_STR_MAX);
	conf_free(keys, &c);

	snprintf(text, sizeof(text), "kbs: {url: u}\ntee: %0*d\n",
		 CONF_STR_MAX + 1, 0);
	EXPECT(text, "c.yaml:2: tee: longer than 4096 bytes");

	/* Non-ASCII UTF-8 is fine. */
	assert_int_equal(
	    load("tee: \xc3\xa9t\xc3\xa9\nkbs: {url: u}\n", &c, &errs), SP_OK);
	assert_string_equal(c.tee, "\xc3\xa9t\xc3\xa9");
	conf_free(keys, &c);
}

static void
test_missing_required(void **state)
{
	(void)state;
	EXPECT("tee: sample\n", "c.yaml:1: kbs.url: missing required key");
	EXPECT("debug: true\n", "c.yaml:1: tee: missing required key\n"
				"c.yaml:1: kbs.url: missing required key");
	EXPECT("", "c.yaml:1: tee: missing required key\n"
		   "c.yaml:1: kbs.url: missing required key");
	EXPECT("\n\n---\ndebug: true\n", "c.yaml:4: tee: missing required key\n"
					 "c.yaml:4: kbs.url: missing required "
					 "key");
	/* An invalid value still counts as present. */
	EXPECT("tee: [x]\nkbs: {url: u}\n",
	       "c.yaml:1: tee: expected a string, got a list");
}

static void
test_anchors_aliases_tags(void **state)
{
	(void)state;
	EXPECT("tee: &a sample\nkbs: {url: u}\n",
	       "c.yaml:1: tee: anchors are not allowed");
	EXPECT("tee: sample\nkbs:\n  ca: &x y\n  url: *x\n",
	       "c.yaml:3: kbs.ca: anchors are not allowed\n"
	       "c.yaml:4: kbs.url: aliases are not allowed");
	EXPECT(VALID "tls: &t\n  files: [a]\n",
	       "c.yaml:4: tls: anchors are not allowed");
	EXPECT("tee: !!str sample\nkbs: {url: u}\n",
	       "c.yaml:1: tee: tags are not allowed");
	EXPECT("tee: !custom sample\nkbs: {url: u}\n",
	       "c.yaml:1: tee: tags are not allowed");
	EXPECT("&r\ntee: sample\nkbs: {url: u}\n",
	       "c.yaml:1: (root): anchors are not allowed\n"
	       "c.yaml:1: tee: missing required key\n"
	       "c.yaml:1: kbs.url: missing required key");
}

/* The classic exponential alias bomb is refused, and fast. */
/*
 * Deep flow nesting is refused before libyaml, whose scanner is
 * quadratic in it; brackets inside quotes and comments do not count.
 */
static void
test_deep_flow(void **state)
{
	static const char deep[] = "tee: [[[[[[[[[x]]]]]]]]]\n";
	static const char quoted[] = "tee: \"[[[[[[[[[[\" # [[[[[[[[[[\n"
				     "kbs:\n  url: https://k\n";
	char *text;
	size_t n = 200 * 1024;
	struct cfg c;
	char *errs = NULL;

	(void)state;
	EXPECT(deep, "c.yaml:1: (syntax): flow collections nested deeper "
		     "than 8");

	assert_int_equal(load(quoted, &c, &errs), SP_OK);
	free(c.tee);
	free(c.kbs_url);

	text = malloc(n + 1);
	assert_non_null(text);
	memset(text, '[', n);
	text[n] = '\0';
	/* libyaml itself would spend tens of seconds before failing. */
	expect_errs(text, n,
		    "c.yaml:1: (syntax): flow collections nested "
		    "deeper than 8");
	free(text);
}

static void
test_billion_laughs(void **state)
{
	(void)state;
	EXPECT(VALID "tls:\n  files: [&a lol, *a, *a]\n",
	       "c.yaml:5: tls.files[0]: anchors are not allowed\n"
	       "c.yaml:5: tls.files[1]: aliases are not allowed\n"
	       "c.yaml:5: tls.files[2]: aliases are not allowed");
	EXPECT(VALID "a: &a [lol, lol, lol, lol, lol, lol, lol, lol]\n"
		     "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
		     "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
		     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
		     "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
		     "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
		     "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
		     "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n"
		     "tee: *i\n",
	       "c.yaml:4: a: anchors are not allowed\n"
	       "c.yaml:5: b: unknown key\n"
	       "c.yaml:6: c: unknown key\n"
	       "c.yaml:7: d: unknown key\n"
	       "c.yaml:8: e: unknown key\n"
	       "c.yaml:9: f: unknown key\n"
	       "c.yaml:10: g: unknown key\n"
	       "c.yaml:11: h: unknown key\n"
	       "c.yaml:12: i: unknown key\n"
	       "c.yaml:13: tee: duplicate key (first on line 1)");
}

static void
test_documents_and_root(void **state)
{
	(void)state;
	EXPECT(VALID "---\ntee: x\n",
	       "c.yaml:4: (file): more than one document");
	EXPECT("- a\n- b\n",
	       "c.yaml:1: (root): expected a mapping, got a list\n"
	       "c.yaml:1: tee: missing required key\n"
	       "c.yaml:1: kbs.url: missing required key");
	EXPECT("just text\n",
	       "c.yaml:1: (root): expected a mapping, got a scalar\n"
	       "c.yaml:1: tee: missing required key\n"
	       "c.yaml:1: kbs.url: missing required key");
}

static void
test_syntax_errors(void **state)
{
	struct cfg c;
	char *errs = NULL;

	(void)state;
	EXPECT(VALID "tls: [\n",
	       "c.yaml:4: tls: expected a mapping, got a list\n"
	       "c.yaml:5: (syntax): did not find expected "
	       "node content");
	EXPECT("tee: 'unterminated\nkbs: {url: u}\n",
	       "c.yaml:3: (syntax): found unexpected end of stream");
	EXPECT("tee: a\n\tkbs: b\n",
	       "c.yaml:2: (syntax): found a tab character that violates "
	       "indentation");

	/* Errors before the syntax error are kept. */
	assert_int_equal(load("bogus: 1\ntee: [\n", &c, &errs), SP_E_USAGE);
	assert_string_equal(errs,
			    "c.yaml:1: bogus: unknown key\n"
			    "c.yaml:2: tee: expected a string, got a list\n"
			    "c.yaml:3: (syntax): did not find expected "
			    "node content");
	free(errs);
}

static void
test_text_encoding(void **state)
{
	static const char nul[] = "tee: sample\nkbs: {url: u}\n# \0\n";

	(void)state;
	EXPECT(VALID "debug: \xff\n",
	       "c.yaml:4: (file): invalid UTF-8 or NUL byte");
	EXPECT("tee: \xc0\xaf\nkbs: {url: u}\n",
	       "c.yaml:1: (file): invalid UTF-8 or NUL byte");
	EXPECT("tee: \xed\xa0\x80\nkbs: {url: u}\n",
	       "c.yaml:1: (file): invalid UTF-8 or NUL byte");
	expect_errs(nul, sizeof(nul) - 1,
		    "c.yaml:3: (file): invalid UTF-8 or NUL byte");
	/* UTF-16 with a BOM is not sniffed and decoded. */
	expect_errs("\xff\xfet\0e\0e\0:\0 \0x\0\n\0", 16,
		    "c.yaml:1: (file): invalid UTF-8 or NUL byte");
}

static void
test_many_errors_capped(void **state)
{
	char text[4096];
	size_t len = 0;
	struct cfg c;
	char *errs = NULL;
	size_t lines = 1;
	char *p;
	int i;

	(void)state;
	for (i = 0; i < 80; i++) {
		len += (size_t)snprintf(text + len, sizeof(text) - len,
					"k%d: 1\n", i);
	}
	assert_int_equal(load(text, &c, &errs), SP_E_USAGE);
	for (p = errs; *p != '\0'; p++) {
		lines += *p == '\n';
	}
	assert_int_equal(lines, 51);
	assert_non_null(strstr(errs, "c.yaml:50: k49: unknown key\n"
				     "c.yaml:50: (file): too many errors"));
	free(errs);
}

static void
test_file_problems(void **state)
{
	struct cfg c = {0};
	char *errs = NULL;
	char *big;

	(void)state;
	assert_int_equal(conf_load("missing.yaml", keys, &c, &errs),
			 SP_E_NOTFOUND);
	assert_null(errs);

	assert_int_equal(mkdir("d.yaml", 0700), 0);
	assert_int_equal(conf_load("d.yaml", keys, &c, &errs), SP_E_USAGE);
	assert_string_equal(errs, "d.yaml:1: (file): not a regular file");
	free(errs);

	big = malloc(CONF_FILE_MAX + 1);
	assert_non_null(big);
	memset(big, '#', CONF_FILE_MAX + 1);
	big[0] = '\n';
	expect_errs(big, CONF_FILE_MAX + 1,
		    "c.yaml:1: (file): larger than 262144 bytes");

	/* Exactly at the ceiling is fine (a comment, so only required). */
	expect_errs(big, CONF_FILE_MAX,
		    "c.yaml:1: tee: missing required key\n"
		    "c.yaml:1: kbs.url: missing required "
		    "key");
	free(big);
	assert_null(c.tee);
}

static void
test_list_ceiling(void **state)
{
	char text[4096];
	size_t len;
	struct cfg c;
	char *errs = NULL;
	int i;

	(void)state;
	len = (size_t)snprintf(text, sizeof(text), VALID "tls:\n  files:\n");
	for (i = 0; i < CONF_LIST_MAX; i++) {
		len += (size_t)snprintf(text + len, sizeof(text) - len,
					"  - f%d\n", i);
	}
	assert_int_equal(load(text, &c, &errs), SP_OK);
	assert_string_equal(c.files[CONF_LIST_MAX - 1], "f63");
	assert_null(c.files[CONF_LIST_MAX]);
	conf_free(keys, &c);

	snprintf(text + len, sizeof(text) - len, "  - extra\n");
	EXPECT(text, "c.yaml:70: tls.files: more than 64 items");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_full),
	    cmocka_unit_test(test_defaults_kept),
	    cmocka_unit_test(test_reload_replaces),
	    cmocka_unit_test(test_unknown_keys),
	    cmocka_unit_test(test_duplicates),
	    cmocka_unit_test(test_wrong_types),
	    cmocka_unit_test(test_ranges),
	    cmocka_unit_test(test_strings),
	    cmocka_unit_test(test_missing_required),
	    cmocka_unit_test(test_anchors_aliases_tags),
	    cmocka_unit_test(test_billion_laughs),
	    cmocka_unit_test(test_deep_flow),
	    cmocka_unit_test(test_documents_and_root),
	    cmocka_unit_test(test_syntax_errors),
	    cmocka_unit_test(test_text_encoding),
	    cmocka_unit_test(test_many_errors_capped),
	    cmocka_unit_test(test_file_problems),
	    cmocka_unit_test(test_list_ceiling),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
