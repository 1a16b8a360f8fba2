/*
 * test_manifest.c: manifest parsing, path rules, canonical order and
 * printing (common/manifest.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "manifest.h"
#include "sealed.h"

#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const char *
parse_reason(const char *json)
{
	struct manifest *m = NULL;
	const char *reason = NULL;
	enum sp_err rc;

	rc = manifest_parse(json, strlen(json), &m, &reason);
	if (rc == SP_OK) {
		assert_null(reason);
		manifest_free(m);
		return NULL;
	}
	assert_int_equal(rc, SP_E_INTEGRITY);
	assert_non_null(reason);
	return reason;
}

/* One file entry with the given path, inside a valid document. */
static const char *
path_reason(const char *path_json)
{
	char buf[16384];

	assert_true(strlen(path_json) < 8192);
	snprintf(buf, sizeof(buf),
		 "{\"format\":\"sealpod/1\",\"version\":1,\"files\":"
		 "[{\"path\":%s,\"size\":1,\"blob\":\"" HEX_A "\"}]}",
		 path_json);
	return parse_reason(buf);
}

static void
test_parse_valid(void **state)
{
	const char *doc =
	    "{\"version\": 7, \"format\": \"sealpod/1\", \"files\": ["
	    "{\"path\": \"z.bin\", \"size\": 5, \"blob\": \"" HEX_A "\"},"
	    "{\"blob\": \"" HEX_B "\", \"size\": 0, \"path\": \"a/b c\","
	    " \"segment_size\": 4096},"
	    "{\"path\": \"a!\", \"size\": 1000, "
	    "\"blob\": \"" HEX_A "\"}]}";
	struct manifest *m = NULL;
	const char *reason = NULL;

	(void)state;
	assert_int_equal(manifest_parse(doc, strlen(doc), &m, &reason), SP_OK);
	assert_int_equal(m->version, 7);
	assert_int_equal(m->nfiles, 3);

	/* Canonical order: '/' sorts before every other byte. */
	assert_string_equal(m->files[0].path, "a/b c");
	assert_string_equal(m->files[1].path, "a!");
	assert_string_equal(m->files[2].path, "z.bin");
	assert_int_equal(m->files[0].segment_size, 4096);
	assert_int_equal(m->files[2].segment_size, SEALED_SEGMENT_DEFAULT);
	assert_string_equal(m->files[0].blob, HEX_B);
	assert_int_equal(m->files[1].size, 1000);
	assert_int_equal(m->total_size, 1005);
	manifest_free(m);
}

static void
test_parse_empty_files(void **state)
{
	(void)state;
	assert_null(parse_reason(
	    "{\"format\":\"sealpod/1\",\"version\":0,\"files\":[]}"));
}

static void
test_parse_shape(void **state)
{
	(void)state;
	assert_string_equal(parse_reason("[]"), "not_object");
	assert_string_equal(parse_reason("{"), "json_invalid");
	assert_string_equal(parse_reason(""), "json_invalid");
	assert_string_equal(
	    parse_reason("{\"format\":\"sealpod/2\",\"version\":1,"
			 "\"files\":[]}"),
	    "format_unsupported");
	assert_string_equal(
	    parse_reason("{\"format\":\"sealpod/1\",\"files\":[]}"),
	    "key_missing");
	assert_string_equal(
	    parse_reason("{\"format\":\"sealpod/1\",\"version\":1,"
			 "\"files\":[],\"extra\":1}"),
	    "key_unknown");
	/* Repeated keys: json_parse or the manifest refuses them. */
	assert_non_null(parse_reason("{\"format\":\"sealpod/1\",\"version\":1,"
				     "\"version\":2,\"files\":[]}"));
	assert_string_equal(
	    parse_reason("{\"format\":\"sealpod/1\",\"version\":-1,"
			 "\"files\":[]}"),
	    "version_invalid");
	assert_string_equal(
	    parse_reason("{\"format\":\"sealpod/1\",\"version\":1.5,"
			 "\"files\":[]}"),
	    "version_invalid");
	assert_string_equal(
	    parse_reason("{\"format\":\"sealpod/1\",\"version\":\"1\","
			 "\"files\":[]}"),
	    "version_invalid");
	assert_string_equal(
	    parse_reason("{\"format\":\"sealpod/1\",\"version\":1,"
			 "\"files\":{}}"),
	    "files_not_array");
	assert_string_equal(
	    parse_reason("{\"format\":\"sealpod/1\",\"version\":1,"
			 "\"files\":[1]}"),
	    "file_not_object");
}

static void
test_parse_entries(void **state)
{
	(void)state;
	assert_string_equal(
	    parse_reason("{\"format\":\"sealpod/1\",\"version\":1,\"files\":"
			 "[{\"path\":\"a\",\"size\":1}]}"),
	    "file_key_missing");
	assert_string_equal(
	    parse_reason("{\"format\":\"sealpod/1\",\"version\":1,\"files\":"
			 "[{\"path\":\"a\",\"size\":1,\"blob\":\"" HEX_A
			 "\",\"mode\":1}]}"),
	    "file_key_unknown");
	assert_non_null(
	    parse_reason("{\"format\":\"sealpod/1\",\"version\":1,\"files\":"
			 "[{\"path\":\"a\",\"path\":\"b\",\"size\":1,"
			 "\"blob\":\"" HEX_A "\"}]}"));
	assert_string_equal(
	    parse_reason("{\"format\":\"sealpod/1\",\"version\":1,\"files\":"
			 "[{\"path\":\"a\",\"size\":-1,\"blob\":\"" HEX_A
			 "\"}]}"),
	    "file_size_invalid");
	assert_string_equal(
	    parse_reason("{\"format\":\"sealpod/1\",\"version\":1,\"files\":"
			 "[{\"path\":\"a\",\"size\":1,\"blob\":\"ABCD\"}]}"),
	    "blob_digest_invalid");
	assert_string_equal(
	    parse_reason("{\"format\":\"sealpod/1\",\"version\":1,\"files\":"
			 "[{\"path\":\"a\",\"size\":1,\"blob\":\""
			 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
			 "AAAAAAAAAAAA\"}]}"),
	    "blob_digest_invalid");
	assert_string_equal(
	    parse_reason("{\"format\":\"sealpod/1\",\"version\":1,\"files\":"
			 "[{\"path\":\"a\",\"size\":1,\"blob\":\"" HEX_A
			 "\",\"segment_size\":10}]}"),
	    "segment_size_invalid");
	/* A size needing more than 2^32 one-MiB segments. */
	assert_string_equal(
	    parse_reason("{\"format\":\"sealpod/1\",\"version\":1,\"files\":"
			 "[{\"path\":\"a\",\"size\":18446744073709551615,"
			 "\"blob\":\"" HEX_A "\",\"segment_size\":4096}]}"),
	    "size_too_large");
}

static void
test_path_rules(void **state)
{
	char long_comp[512];
	char long_path[8192];
	char deep[512];
	size_t i;

	(void)state;
	assert_null(path_reason("\"model.gguf\""));
	assert_null(path_reason("\"dir/sub/w.bin\""));
	assert_null(path_reason("\".gitattributes\""));
	assert_null(path_reason("\"d/.sealpod-x\""));
	assert_null(path_reason("\"caf\\u00e9/\\u6a21\\u578b\""));
	assert_string_equal(path_reason("\"\""), "path_empty");
	assert_string_equal(path_reason("\"/etc/passwd\""),
			    "path_empty_component");
	assert_string_equal(path_reason("\"a//b\""), "path_empty_component");
	assert_string_equal(path_reason("\"a/\""), "path_empty_component");
	assert_string_equal(path_reason("\"../x\""), "path_dot_component");
	assert_string_equal(path_reason("\"a/../../x\""), "path_dot_component");
	assert_string_equal(path_reason("\"./x\""), "path_dot_component");
	assert_string_equal(path_reason("\"a/.\""), "path_dot_component");
	assert_string_equal(path_reason("\"a\\u0000b\""), "nul_escape");
	assert_null(path_reason("\"a\\\\u0000b\""));
	assert_string_equal(path_reason("\"a\\nb\""), "path_control_char");
	assert_string_equal(path_reason("\"a\\u007fb\""), "path_control_char");
	assert_string_equal(path_reason("\"a\\u0085b\""), "path_not_utf8");
	assert_string_equal(path_reason("\".sealpod-ready\""), "path_reserved");
	assert_string_equal(path_reason("\".sealpod-owned/x\""),
			    "path_reserved");
	assert_string_equal(path_reason("\"sealpod-manifest\""),
			    "path_reserved");

	memset(long_comp, 'c', 256);
	long_comp[256] = '\0';
	snprintf(long_path, sizeof(long_path), "\"%s\"", long_comp);
	assert_string_equal(path_reason(long_path), "path_component_too_long");

	/* 65 components. */
	deep[0] = '"';
	for (i = 0; i < 65; i++) {
		deep[1 + 2 * i] = 'd';
		deep[2 + 2 * i] = '/';
	}
	deep[130] = '"';
	deep[131] = '\0';
	assert_string_equal(path_reason(deep), "path_too_deep");

	long_path[0] = '"';
	for (i = 1; i <= 4097; i++) {
		long_path[i] = (i % 200 == 0) ? '/' : 'p';
	}
	long_path[4098] = '"';
	long_path[4099] = '\0';
	assert_string_equal(path_reason(long_path), "path_too_long");

	/* Raw bytes the JSON layer would refuse are refused here too. */
	assert_string_equal(manifest_path_check("a\xc0\xaf"
						"b"),
			    "path_not_utf8");
	assert_string_equal(manifest_path_check("a\xed\xa0\x80"),
			    "path_not_utf8");
	assert_string_equal(manifest_path_check("a\xff"), "path_not_utf8");
}

static void
test_duplicates_and_dirs(void **state)
{
	(void)state;
	assert_string_equal(
	    parse_reason("{\"format\":\"sealpod/1\",\"version\":1,\"files\":["
			 "{\"path\":\"x\",\"size\":1,\"blob\":\"" HEX_A "\"},"
			 "{\"path\":\"y\",\"size\":1,\"blob\":\"" HEX_A "\"},"
			 "{\"path\":\"x\",\"size\":2,\"blob\":\"" HEX_B
			 "\"}]}"),
	    "path_duplicate");

	/* "a" is a file and also the directory of "a/b", with "a!" and
	 * "a-b" sorting between them in plain byte order. */
	assert_string_equal(
	    parse_reason("{\"format\":\"sealpod/1\",\"version\":1,\"files\":["
			 "{\"path\":\"a/b\",\"size\":1,\"blob\":\"" HEX_A "\"},"
			 "{\"path\":\"a!\",\"size\":1,\"blob\":\"" HEX_A "\"},"
			 "{\"path\":\"a-b\",\"size\":1,\"blob\":\"" HEX_A "\"},"
			 "{\"path\":\"a\",\"size\":1,\"blob\":\"" HEX_A
			 "\"}]}"),
	    "path_file_is_directory");
	assert_null(parse_reason(
	    "{\"format\":\"sealpod/1\",\"version\":1,\"files\":["
	    "{\"path\":\"ab/c\",\"size\":1,\"blob\":\"" HEX_A "\"},"
	    "{\"path\":\"a\",\"size\":1,\"blob\":\"" HEX_A "\"}]}"));
}

/* 200 files of 2^57 bytes each (64 MiB segments) overflow 64 bits. */
static void
test_total_overflow(void **state)
{
	struct manifest *m;
	const char *reason = NULL;
	char path[32];
	size_t i;

	(void)state;
	m = manifest_new(1);
	assert_non_null(m);
	for (i = 0; i < 200; i++) {
		snprintf(path, sizeof(path), "f%zu", i);
		assert_int_equal(manifest_add(m, path, UINT64_C(1) << 57, HEX_A,
					      SEALED_SEGMENT_MAX),
				 SP_OK);
	}
	assert_int_equal(manifest_check(m, &reason), SP_E_INTEGRITY);
	assert_string_equal(reason, "total_size_overflow");
	manifest_free(m);
}

static void
test_too_many_files(void **state)
{
	struct manifest *m;
	char path[32];
	size_t i;

	(void)state;
	m = manifest_new(1);
	assert_non_null(m);
	for (i = 0; i < MANIFEST_FILES_MAX; i++) {
		snprintf(path, sizeof(path), "f%zu", i);
		assert_int_equal(manifest_add(m, path, 1, HEX_A, 0), SP_OK);
	}
	assert_int_equal(manifest_add(m, "one-more", 1, HEX_A, 0), SP_E_USAGE);
	manifest_free(m);
}

/* print → parse gives the same manifest; the default segment is implicit. */
static void
test_print_round_trip(void **state)
{
	struct manifest *m;
	struct manifest *back = NULL;
	const char *reason = NULL;
	struct strbuf sb;

	(void)state;
	m = manifest_new(42);
	assert_non_null(m);
	assert_int_equal(manifest_add(m, "w/\"q\"\\.bin", 10, HEX_A, 0), SP_OK);
	assert_int_equal(manifest_add(m, "caf\xc3\xa9", 0, HEX_B, 8192), SP_OK);
	assert_int_equal(manifest_check(m, &reason), SP_OK);
	strbuf_init(&sb, MANIFEST_MAX);
	assert_int_equal(manifest_print(m, &sb), SP_OK);
	assert_non_null(strstr(sb.buf, "\"segment_size\":8192"));
	assert_int_equal(strstr(sb.buf, "1048576"), NULL);

	assert_int_equal(manifest_parse(sb.buf, sb.len, &back, &reason), SP_OK);
	assert_int_equal(back->version, 42);
	assert_int_equal(back->nfiles, 2);
	assert_string_equal(back->files[0].path, "caf\xc3\xa9");
	assert_int_equal(back->files[0].segment_size, 8192);
	assert_string_equal(back->files[1].path, "w/\"q\"\\.bin");
	assert_int_equal(back->files[1].size, 10);
	assert_int_equal(back->total_size, 10);
	strbuf_free(&sb);
	manifest_free(m);
	manifest_free(back);
}

#define HDR_OK "KAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJw=="

/* One file entry with the given "header" member, inside a valid
 * document. */
static const char *
header_reason(const char *member)
{
	char buf[1024];

	snprintf(buf, sizeof(buf),
		 "{\"format\":\"sealpod/1\",\"version\":1,\"files\":"
		 "[{\"path\":\"a\",\"size\":1,\"blob\":\"" HEX_A "\"%s}]}",
		 member);
	return parse_reason(buf);
}

/* "header": optional, strict base64 of the 40 bytes the default
 * parameters give, with its own length byte. */
static void
test_header_member(void **state)
{
	struct manifest *m = NULL;
	const char *reason = NULL;
	char buf[1024];
	size_t i;

	(void)state;
	assert_null(header_reason(""));
	assert_null(header_reason(",\"header\":\"" HDR_OK "\""));
	/* Length byte 0x27, 39 bytes, a 16-byte-key header (24 bytes). */
	assert_string_equal(
	    header_reason(",\"header\":\"JwECAwQFBgcICQoLDA0ODxAREhMUFRYXGBka"
			  "GxwdHh8gISIjJCUmJw==\""),
	    "header_invalid");
	assert_string_equal(
	    header_reason(",\"header\":\"KAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBka"
			  "GxwdHh8gISIjJCUm\""),
	    "header_invalid");
	assert_string_equal(
	    header_reason(",\"header\":\"GAECAwQFBgcICQoLDA0ODxAREhMUFRYX\""),
	    "header_invalid");
	/* Too long for any header, not base64, unpadded, empty, a number. */
	assert_string_equal(header_reason(",\"header\":\"" HDR_OK HDR_OK "\""),
			    "header_invalid");
	assert_string_equal(header_reason(",\"header\":\"K@EC\""),
			    "header_invalid");
	assert_string_equal(
	    header_reason(",\"header\":\"KAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBka"
			  "GxwdHh8gISIjJCUmJw\""),
	    "header_invalid");
	assert_string_equal(header_reason(",\"header\":\"\""),
			    "header_invalid");
	assert_string_equal(header_reason(",\"header\":40"), "header_invalid");
	assert_non_null(header_reason(",\"header\":\"" HDR_OK
				      "\",\"header\":\"" HDR_OK "\""));

	/* Parsed bytes, and printed back the same. */
	snprintf(buf, sizeof(buf),
		 "{\"format\":\"sealpod/1\",\"version\":1,\"files\":"
		 "[{\"path\":\"a\",\"size\":1,\"blob\":\"" HEX_A
		 "\",\"header\":\"" HDR_OK "\"}]}");
	assert_int_equal(manifest_parse(buf, strlen(buf), &m, &reason), SP_OK);
	assert_int_equal(m->files[0].header_len, 40);
	for (i = 0; i < 40; i++) {
		assert_int_equal(m->files[0].header[i], i == 0 ? 0x28 : i);
	}
	manifest_free(m);
}

/* manifest_set_header() names the entry added last; print writes it. */
static void
test_header_print(void **state)
{
	unsigned char hdr[40];
	struct manifest *m;
	struct manifest *back = NULL;
	const char *reason = NULL;
	struct strbuf sb;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(hdr); i++) {
		hdr[i] = i == 0 ? 0x28 : (unsigned char)i;
	}
	m = manifest_new(1);
	assert_non_null(m);
	assert_int_equal(manifest_set_header(m, hdr, 40), SP_E_USAGE);
	assert_int_equal(manifest_add(m, "b", 1, HEX_A, 0), SP_OK);
	assert_int_equal(manifest_add(m, "a", 2, HEX_B, 0), SP_OK);
	assert_int_equal(manifest_set_header(m, hdr, 41), SP_E_USAGE);
	assert_int_equal(manifest_set_header(m, hdr, 40), SP_OK);
	assert_int_equal(manifest_check(m, &reason), SP_OK);
	strbuf_init(&sb, MANIFEST_MAX);
	assert_int_equal(manifest_print(m, &sb), SP_OK);
	assert_non_null(strstr(sb.buf,
			       "\"path\":\"a\",\"size\":2,\"blob\":\"" HEX_B
			       "\",\"header\":\"" HDR_OK "\"}"));
	assert_non_null(strstr(sb.buf, "\"blob\":\"" HEX_A "\"}"));
	assert_int_equal(manifest_parse(sb.buf, sb.len, &back, &reason), SP_OK);
	assert_int_equal(back->files[0].header_len, 40);
	assert_memory_equal(back->files[0].header, hdr, 40);
	assert_int_equal(back->files[1].header_len, 0);

	/* A header whose length byte lies is refused by the check. */
	m->files[0].header[0] = 0x18;
	assert_int_equal(manifest_check(m, &reason), SP_E_INTEGRITY);
	assert_string_equal(reason, "header_invalid");
	strbuf_free(&sb);
	manifest_free(m);
	manifest_free(back);
}

static void
test_too_large(void **state)
{
	struct manifest *m = NULL;
	const char *reason = NULL;

	(void)state;
	assert_int_equal(manifest_parse("{}", MANIFEST_MAX + 1, &m, &reason),
			 SP_E_INTEGRITY);
	assert_string_equal(reason, "manifest_too_large");
}

/* A document with the given top-level members before "files". */
static const char *
model_reason(const char *members)
{
	char buf[1024];

	snprintf(buf, sizeof(buf),
		 "{\"format\":\"sealpod/1\",\"version\":1%s,\"files\":"
		 "[{\"path\":\"a\",\"size\":1,\"blob\":\"" HEX_A "\"}]}",
		 members);
	return parse_reason(buf);
}

/* The identity's own rule: 1-128 characters of [A-Za-z0-9._-]. */
static void
test_model_id_check(void **state)
{
	char id[MANIFEST_MODEL_ID_MAX + 2];

	(void)state;
	assert_null(manifest_model_id_check("llama-3.1_8B.instruct"));
	assert_null(manifest_model_id_check("a"));
	assert_string_equal(manifest_model_id_check(""), "model_id_invalid");
	assert_string_equal(manifest_model_id_check("a b"), "model_id_invalid");
	assert_string_equal(manifest_model_id_check("a/b"), "model_id_invalid");
	assert_string_equal(manifest_model_id_check("caf\xc3\xa9"),
			    "model_id_invalid");
	assert_string_equal(manifest_model_id_check("a\"b"),
			    "model_id_invalid");
	memset(id, 'x', MANIFEST_MODEL_ID_MAX);
	id[MANIFEST_MODEL_ID_MAX] = '\0';
	assert_null(manifest_model_id_check(id));
	id[MANIFEST_MODEL_ID_MAX] = 'x';
	id[MANIFEST_MODEL_ID_MAX + 1] = '\0';
	assert_string_equal(manifest_model_id_check(id), "model_id_invalid");
}

/* "model": optional, a string that passes the rule, at most once. */
static void
test_model_member(void **state)
{
	char members[300];
	struct manifest *m = NULL;
	const char *reason = NULL;
	const char *doc = "{\"format\":\"sealpod/1\",\"model\":\"llama-a\","
			  "\"version\":2,\"files\":[]}";

	(void)state;
	assert_null(model_reason(""));
	assert_null(model_reason(",\"model\":\"llama-a\""));
	assert_string_equal(model_reason(",\"model\":\"\""),
			    "model_id_invalid");
	assert_string_equal(model_reason(",\"model\":\"a b\""),
			    "model_id_invalid");
	assert_string_equal(model_reason(",\"model\":\"a\\u00e9\""),
			    "model_id_invalid");
	assert_string_equal(model_reason(",\"model\":7"), "model_id_invalid");
	assert_string_equal(model_reason(",\"model\":null"),
			    "model_id_invalid");
	assert_string_equal(model_reason(",\"model\":[\"a\"]"),
			    "model_id_invalid");
	/* Repeated: json_parse or the manifest refuses it. */
	assert_non_null(model_reason(",\"model\":\"a\",\"model\":\"a\""));
	snprintf(members, sizeof(members), ",\"model\":\"%0129d\"", 0);
	assert_string_equal(model_reason(members), "model_id_invalid");
	snprintf(members, sizeof(members), ",\"model\":\"%0128d\"", 0);
	assert_null(model_reason(members));

	/* Without "files" the document is still incomplete. */
	assert_string_equal(parse_reason("{\"format\":\"sealpod/1\","
					 "\"version\":1,\"model\":\"a\"}"),
			    "key_missing");

	assert_int_equal(manifest_parse(doc, strlen(doc), &m, &reason), SP_OK);
	assert_string_equal(m->model, "llama-a");
	assert_int_equal(m->version, 2);
	manifest_free(m);
}

/* print writes "model" only when set; parse reads it back. */
static void
test_model_print(void **state)
{
	struct manifest *m;
	struct manifest *back = NULL;
	const char *reason = NULL;
	struct strbuf sb;

	(void)state;
	m = manifest_new(5);
	assert_non_null(m);
	assert_int_equal(manifest_add(m, "a", 1, HEX_A, 0), SP_OK);
	strbuf_init(&sb, MANIFEST_MAX);
	assert_int_equal(manifest_check(m, &reason), SP_OK);
	assert_int_equal(manifest_print(m, &sb), SP_OK);
	assert_null(strstr(sb.buf, "\"model\""));

	assert_int_equal(manifest_set_model(m, "bad id"), SP_E_USAGE);
	assert_string_equal(m->model, "");
	assert_int_equal(manifest_set_model(m, "Qwen2.5-7B_v1"), SP_OK);
	sb.len = 0;
	assert_int_equal(manifest_check(m, &reason), SP_OK);
	assert_int_equal(manifest_print(m, &sb), SP_OK);
	assert_non_null(strstr(sb.buf, "\"version\":5,\"model\":"
				       "\"Qwen2.5-7B_v1\",\"files\":["));
	assert_int_equal(manifest_parse(sb.buf, sb.len, &back, &reason), SP_OK);
	assert_string_equal(back->model, "Qwen2.5-7B_v1");
	assert_int_equal(back->nfiles, 1);
	manifest_free(back);

	/* Cleared again with NULL. */
	assert_int_equal(manifest_set_model(m, NULL), SP_OK);
	assert_string_equal(m->model, "");

	/* The check judges a model set behind the setter's back. */
	memcpy(m->model, "a;b", 4);
	assert_int_equal(manifest_check(m, &reason), SP_E_INTEGRITY);
	assert_string_equal(reason, "model_id_invalid");
	strbuf_free(&sb);
	manifest_free(m);
}

/* What a pod that pins a model accepts. */
static void
test_model_matches(void **state)
{
	struct manifest *m;

	(void)state;
	m = manifest_new(1);
	assert_non_null(m);
	/* Nothing pinned: with or without "model". */
	assert_true(manifest_model_matches(m, NULL));
	/* Pinned, but the manifest names none. */
	assert_false(manifest_model_matches(m, "llama-a"));
	assert_int_equal(manifest_set_model(m, "llama-a"), SP_OK);
	assert_true(manifest_model_matches(m, NULL));
	assert_true(manifest_model_matches(m, "llama-a"));
	assert_false(manifest_model_matches(m, "llama-b"));
	assert_false(manifest_model_matches(m, "llama-a2"));
	assert_false(manifest_model_matches(m, "llama-"));
	assert_false(manifest_model_matches(m, "LLAMA-A"));
	manifest_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_valid),
	    cmocka_unit_test(test_parse_empty_files),
	    cmocka_unit_test(test_parse_shape),
	    cmocka_unit_test(test_parse_entries),
	    cmocka_unit_test(test_path_rules),
	    cmocka_unit_test(test_duplicates_and_dirs),
	    cmocka_unit_test(test_total_overflow),
	    cmocka_unit_test(test_too_many_files),
	    cmocka_unit_test(test_print_round_trip),
	    cmocka_unit_test(test_too_large),
	    cmocka_unit_test(test_header_member),
	    cmocka_unit_test(test_header_print),
	    cmocka_unit_test(test_model_id_check),
	    cmocka_unit_test(test_model_member),
	    cmocka_unit_test(test_model_print),
	    cmocka_unit_test(test_model_matches),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
