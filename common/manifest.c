/*
 * manifest.c: parse, check and print the sealed manifest (manifest.h).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "manifest.h"
#include "sealed.h"
#include "secret.h"
#include "utf8.h"
#include "util.h"

#define MANIFEST_ERR_MAX 128

/* Length of a valid UTF-8 sequence at s that is not a C1 control, or 0. */
static size_t
utf8_seq_len(const unsigned char *s, size_t n)
{
	uint32_t cp = 0;
	size_t len;

	len = utf8_decode(s, n, &cp);
	if (cp >= 0x80 && cp <= 0x9f) {
		len = 0;
	}
	return len;
}

/* Check one component [s, s+n) of a path. */
static const char *
component_check(const char *s, size_t n, int first)
{
	size_t rlen = strlen(MANIFEST_RESERVED_PREFIX);
	const char *why = NULL;

	if (n == 0) {
		why = "path_empty_component";
	} else if (n > MANIFEST_COMPONENT_MAX) {
		why = "path_component_too_long";
	} else if ((n == 1 && s[0] == '.') ||
		   (n == 2 && s[0] == '.' && s[1] == '.')) {
		why = "path_dot_component";
	} else if (first && n >= rlen &&
		   memcmp(s, MANIFEST_RESERVED_PREFIX, rlen) == 0) {
		why = "path_reserved";
	}
	return why;
}

const char *
manifest_path_check(const char *path)
{
	const unsigned char *p = (const unsigned char *)path;
	size_t len = strnlen(path, MANIFEST_PATH_MAX + 1);
	const char *why = NULL;
	size_t start = 0;
	size_t depth = 0;
	size_t i = 0;
	size_t n;

	if (len == 0) {
		why = "path_empty";
	} else if (len > MANIFEST_PATH_MAX) {
		why = "path_too_long";
	} else if (strcmp(path, MANIFEST_AAD) == 0) {
		why = "path_reserved";
	}

	while (why == NULL && i <= len) {
		if (i == len || p[i] == '/') {
			why = component_check(path + start, i - start,
					      depth == 0);
			depth++;
			start = ++i;
		} else if (p[i] < 0x20 || p[i] == 0x7f) {
			why = "path_control_char";
		} else {
			n = utf8_seq_len(p + i, len - i);
			why = n == 0 ? "path_not_utf8" : NULL;
			i += n;
		}
	}
	if (why == NULL && depth > MANIFEST_DEPTH_MAX) {
		why = "path_too_deep";
	}
	return why;
}

const char *
manifest_model_id_check(const char *id)
{
	size_t len = strnlen(id, MANIFEST_MODEL_ID_MAX + 1);
	const char *why = NULL;
	size_t i;

	if (len == 0 || len > MANIFEST_MODEL_ID_MAX) {
		why = "model_id_invalid";
	}
	for (i = 0; why == NULL && i < len; i++) {
		if (!((id[i] >= 'A' && id[i] <= 'Z') ||
		      (id[i] >= 'a' && id[i] <= 'z') ||
		      (id[i] >= '0' && id[i] <= '9') || id[i] == '.' ||
		      id[i] == '_' || id[i] == '-')) {
			why = "model_id_invalid";
		}
	}
	return why;
}

enum sp_err
manifest_set_model(struct manifest *m, const char *id)
{
	enum sp_err rc = SP_E_USAGE;

	if (id == NULL) {
		m->model[0] = '\0';
		rc = SP_OK;
		goto out;
	}
	if (manifest_model_id_check(id) != NULL) {
		goto out;
	}
	memcpy(m->model, id, strlen(id) + 1);
	rc = SP_OK;
out:
	return rc;
}

int
manifest_model_matches(const struct manifest *m, const char *want)
{
	return want == NULL ||
	       (m->model[0] != '\0' && strcmp(m->model, want) == 0);
}

struct manifest *
manifest_new(uint64_t version)
{
	struct manifest *m;

	m = calloc(1, sizeof(*m));
	if (m != NULL) {
		m->version = version;
	}
	return m;
}

void
manifest_free(struct manifest *m)
{
	size_t i;

	if (m == NULL) {
		return;
	}
	for (i = 0; i < m->nfiles; i++) {
		secret_wipe_mem(m->files[i].path, strlen(m->files[i].path));
		free(m->files[i].path);
	}
	free(m->files);
	free(m);
}

enum sp_err
manifest_add(struct manifest *m, const char *path, uint64_t size,
	     const char *blob_hex, uint32_t segment_size)
{
	struct manifest_file *f;
	struct manifest_file *grown;
	size_t cap;
	enum sp_err rc = SP_E_USAGE;

	if (m->nfiles >= MANIFEST_FILES_MAX ||
	    strnlen(path, MANIFEST_PATH_MAX + 1) > MANIFEST_PATH_MAX ||
	    strnlen(blob_hex, MANIFEST_BLOB_HEX + 1) > MANIFEST_BLOB_HEX) {
		goto out;
	}

	rc = SP_E_INTERNAL;
	if (m->nfiles == m->cap) {
		cap = m->cap == 0 ? 16 : m->cap * 2;
		grown = reallocarray(m->files, cap, sizeof(*grown));
		if (grown == NULL) {
			goto out;
		}
		m->files = grown;
		m->cap = cap;
	}
	f = &m->files[m->nfiles];
	memset(f, 0, sizeof(*f));
	f->path = strdup(path);
	if (f->path == NULL) {
		goto out;
	}
	f->size = size;
	memcpy(f->blob, blob_hex, strlen(blob_hex) + 1);
	f->segment_size =
	    segment_size == 0 ? SEALED_SEGMENT_DEFAULT : segment_size;
	m->nfiles++;
	rc = SP_OK;
out:
	return rc;
}

enum sp_err
manifest_set_header(struct manifest *m, const unsigned char *hdr, size_t len)
{
	struct manifest_file *f;
	enum sp_err rc = SP_E_USAGE;

	if (m->nfiles == 0 || len == 0 || len > SEALED_HEADER_MAX) {
		goto out;
	}
	f = &m->files[m->nfiles - 1];
	memcpy(f->header, hdr, len);
	f->header_len = len;
	rc = SP_OK;
out:
	return rc;
}

/*
 * Canonical order: bytes compared unsigned, with '/' below every other
 * byte (control characters never occur in a valid path). Then every path
 * under "a/" sorts directly after "a", so one pass over neighbours finds
 * both duplicates and a file that is also a directory.
 */
static int
path_cmp(const char *a, const char *b)
{
	const unsigned char *x = (const unsigned char *)a;
	const unsigned char *y = (const unsigned char *)b;
	unsigned cx;
	unsigned cy;

	while (*x != '\0' && *x == *y) {
		x++;
		y++;
	}
	cx = *x == '/' ? 1 : *x;
	cy = *y == '/' ? 1 : *y;
	return (cx > cy) - (cx < cy);
}

static int
file_cmp(const void *a, const void *b)
{
	const struct manifest_file *fa = a;
	const struct manifest_file *fb = b;

	return path_cmp(fa->path, fb->path);
}

static int
blob_hex_valid(const char *s)
{
	int ok = 1;
	size_t i;

	for (i = 0; ok && i < MANIFEST_BLOB_HEX; i++) {
		ok = (s[i] >= '0' && s[i] <= '9') ||
		     (s[i] >= 'a' && s[i] <= 'f');
	}
	return ok && s[MANIFEST_BLOB_HEX] == '\0';
}

static const char *
entry_check(const struct manifest_file *f)
{
	struct sealed_params p;
	uint64_t ct_len;
	const char *why;

	sealed_params_default(&p);
	p.segment_size = f->segment_size;
	why = manifest_path_check(f->path);
	if (why != NULL) {
		goto out;
	}
	if (!blob_hex_valid(f->blob)) {
		why = "blob_digest_invalid";
	} else if (sealed_params_check(&p) != SP_OK) {
		why = "segment_size_invalid";
	} else if (sealed_ciphertext_len(&p, f->size, &ct_len) != 0) {
		why = "size_too_large";
	} else if (f->header_len != 0 &&
		   (f->header_len != sealed_header_len(&p) ||
		    f->header[0] != f->header_len)) {
		/* The length byte is the one header byte we can judge
		 * without the key; the rest is compared with the blob. */
		why = "header_invalid";
	}
out:
	return why;
}

/* Neighbours in canonical order: same path, or b inside a as a dir. */
static const char *
pair_check(const char *a, const char *b)
{
	size_t n = strlen(a);
	const char *why = NULL;

	if (strcmp(a, b) == 0) {
		why = "path_duplicate";
	} else if (strncmp(a, b, n) == 0 && b[n] == '/') {
		why = "path_file_is_directory";
	}
	return why;
}

enum sp_err
manifest_check(struct manifest *m, const char **reason)
{
	uint64_t total = 0;
	const char *why = NULL;
	size_t i;
	enum sp_err rc = SP_E_INTEGRITY;

	if (m->model[0] != '\0') {
		why = manifest_model_id_check(m->model);
	}
	for (i = 0; i < m->nfiles && why == NULL; i++) {
		why = entry_check(&m->files[i]);
		if (why == NULL && m->files[i].size > UINT64_MAX - total) {
			why = "total_size_overflow";
		}
		if (why == NULL) {
			total += m->files[i].size;
		}
	}
	if (why != NULL) {
		goto out;
	}

	if (m->nfiles > 1) {
		qsort(m->files, m->nfiles, sizeof(m->files[0]), file_cmp);
	}
	for (i = 1; i < m->nfiles && why == NULL; i++) {
		why = pair_check(m->files[i - 1].path, m->files[i].path);
	}
	if (why != NULL) {
		goto out;
	}
	m->total_size = total;
	rc = SP_OK;
out:
	*reason = why;
	return rc;
}

/* An unsigned JSON integer: digits only (no sign, fraction or exponent). */
static int
get_u64(yajl_val v, uint64_t max, uint64_t *out)
{
	return YAJL_IS_NUMBER(v) && v->u.number.r != NULL &&
	       parse_u64(v->u.number.r, 0, max, out) == 0;
}

/* The members of one file entry, as they are read. */
struct file_fields {
	const char *path;
	const char *blob;
	uint64_t size;
	uint64_t seg;
	unsigned char header[SEALED_HEADER_MAX];
	size_t header_len;
	unsigned seen;
};

/* "header": strict base64 of at most SEALED_HEADER_MAX bytes. */
static const char *
get_header(struct file_fields *ff, yajl_val v)
{
	const char *s = YAJL_GET_STRING(v);
	const char *why = "header_invalid";
	long n;

	if (s == NULL) {
		goto out;
	}
	n = b64_decode(s, strlen(s), B64_STD, ff->header, sizeof(ff->header));
	if (n <= 0) {
		goto out;
	}
	ff->header_len = (size_t)n;
	why = NULL;
out:
	return why;
}

/* Read one member of a file entry; repeated and unknown keys fail. */
static const char *
file_member(struct file_fields *ff, const char *key, yajl_val v)
{
	const char *why = NULL;
	unsigned bit = 0;

	if (strcmp(key, "path") == 0) {
		bit = 1;
		ff->path = YAJL_GET_STRING(v);
		why = ff->path == NULL ? "path_not_string" : NULL;
	} else if (strcmp(key, "blob") == 0) {
		bit = 2;
		ff->blob = YAJL_GET_STRING(v);
		why = ff->blob == NULL ? "blob_digest_invalid" : NULL;
	} else if (strcmp(key, "size") == 0) {
		bit = 4;
		why = get_u64(v, UINT64_MAX, &ff->size) ? NULL
							: "file_size_invalid";
	} else if (strcmp(key, "segment_size") == 0) {
		bit = 8;
		why = get_u64(v, UINT32_MAX, &ff->seg) ? NULL
						       : "segment_size_invalid";
	} else if (strcmp(key, "header") == 0) {
		bit = 16;
		why = get_header(ff, v);
	} else {
		why = "file_key_unknown";
	}
	if (why == NULL && (ff->seen & bit) != 0) {
		why = "file_key_repeated";
	}
	ff->seen |= bit;
	return why;
}

static const char *
parse_file(yajl_val obj, struct manifest *m)
{
	struct file_fields ff;
	const char *why = NULL;
	size_t i;

	memset(&ff, 0, sizeof(ff));
	ff.seg = SEALED_SEGMENT_DEFAULT;
	if (!YAJL_IS_OBJECT(obj)) {
		why = "file_not_object";
		goto out;
	}
	for (i = 0; why == NULL && i < obj->u.object.len; i++) {
		why = file_member(&ff, obj->u.object.keys[i],
				  obj->u.object.values[i]);
	}
	if (why == NULL && (ff.seen & 7) != 7) {
		why = "file_key_missing";
	}
	if (why != NULL) {
		goto out;
	}

	if (strnlen(ff.blob, MANIFEST_BLOB_HEX + 1) != MANIFEST_BLOB_HEX) {
		why = "blob_digest_invalid";
	} else if (strnlen(ff.path, MANIFEST_PATH_MAX + 1) >
		   MANIFEST_PATH_MAX) {
		why = "path_too_long";
	} else if (manifest_add(m, ff.path, ff.size, ff.blob,
				(uint32_t)ff.seg) != SP_OK) {
		why = "manifest_add_failed";
	} else if (ff.header_len != 0 &&
		   manifest_set_header(m, ff.header, ff.header_len) != SP_OK) {
		why = "header_invalid";
	}
out:
	return why;
}

static const char *
parse_files(yajl_val arr, struct manifest *m)
{
	const char *why = NULL;
	size_t i;

	if (!YAJL_IS_ARRAY(arr)) {
		why = "files_not_array";
	} else if (arr->u.array.len > MANIFEST_FILES_MAX) {
		why = "too_many_files";
	}
	for (i = 0; why == NULL && i < arr->u.array.len; i++) {
		why = parse_file(arr->u.array.values[i], m);
	}
	return why;
}

/* The top-level members, as they are read. */
struct top_fields {
	const char *format;
	yajl_val files;
	unsigned seen;
};

/* "model": a string that passes manifest_model_id_check(). */
static const char *
get_model(yajl_val v, struct manifest *m)
{
	const char *s = YAJL_GET_STRING(v);
	const char *why = "model_id_invalid";

	if (s != NULL && manifest_set_model(m, s) == SP_OK) {
		why = NULL;
	}
	return why;
}

static const char *
top_member(struct top_fields *tf, const char *key, yajl_val v,
	   struct manifest *m)
{
	const char *why = NULL;
	unsigned bit = 0;

	if (strcmp(key, "format") == 0) {
		bit = 1;
		tf->format = YAJL_GET_STRING(v);
		why = tf->format == NULL ? "format_unsupported" : NULL;
	} else if (strcmp(key, "version") == 0) {
		bit = 2;
		why = get_u64(v, UINT64_MAX, &m->version) ? NULL
							  : "version_invalid";
	} else if (strcmp(key, "files") == 0) {
		bit = 4;
		tf->files = v;
	} else if (strcmp(key, "model") == 0) {
		bit = 8;
		why = get_model(v, m);
	} else {
		why = "key_unknown";
	}
	if (why == NULL && (tf->seen & bit) != 0) {
		why = "key_repeated";
	}
	tf->seen |= bit;
	return why;
}

static const char *
parse_top(yajl_val top, struct manifest *m)
{
	struct top_fields tf = {NULL, NULL, 0};
	const char *why = NULL;
	size_t i;

	if (!YAJL_IS_OBJECT(top)) {
		why = "not_object";
		goto out;
	}
	for (i = 0; why == NULL && i < top->u.object.len; i++) {
		why = top_member(&tf, top->u.object.keys[i],
				 top->u.object.values[i], m);
	}
	if (why == NULL && (tf.seen & 7) != 7) {
		why = "key_missing";
	} else if (why == NULL && strcmp(tf.format, MANIFEST_FORMAT) != 0) {
		why = "format_unsupported";
	}
	if (why == NULL) {
		why = parse_files(tf.files, m);
	}
out:
	return why;
}

/*
 * Wipe every string in the tree before it is freed: the paths of a model
 * are confidential. json_parse() bounds the depth, so recursion is too.
 */
static void
wipe_strings(yajl_val v)
{
	size_t i;

	if (v == NULL) {
		return;
	}
	if (YAJL_IS_STRING(v) && v->u.string != NULL) {
		secret_wipe_mem(v->u.string, strlen(v->u.string));
	} else if (YAJL_IS_ARRAY(v)) {
		for (i = 0; i < v->u.array.len; i++) {
			wipe_strings(v->u.array.values[i]);
		}
	} else if (YAJL_IS_OBJECT(v)) {
		for (i = 0; i < v->u.object.len; i++) {
			wipe_strings(v->u.object.values[i]);
		}
	}
}

/*
 * yajl decodes "\u0000" into a NUL that silently cuts the C string it
 * hands us, so "a\u0000b" would read as "a". Refuse the escape outright.
 */
static int
has_nul_escape(const char *buf, size_t len)
{
	int found = 0;
	int in_str = 0;
	int esc = 0;
	size_t i;

	for (i = 0; !found && i < len; i++) {
		if (esc) {
			found = buf[i] == 'u' && len - i > 4 &&
				memcmp(buf + i + 1, "0000", 4) == 0;
			esc = 0;
		} else if (in_str && buf[i] == '\\') {
			esc = 1;
		} else if (buf[i] == '"') {
			in_str = !in_str;
		}
	}
	return found;
}

enum sp_err
manifest_parse(const char *buf, size_t len, struct manifest **out,
	       const char **reason)
{
	char err[MANIFEST_ERR_MAX];
	struct manifest *m = NULL;
	yajl_val top = NULL;
	const char *why = NULL;
	enum sp_err rc = SP_E_INTERNAL;

	m = manifest_new(0);
	if (m == NULL) {
		goto out;
	}

	rc = SP_E_INTEGRITY;
	if (len > MANIFEST_MAX) {
		why = "manifest_too_large";
		goto out;
	}
	if (has_nul_escape(buf, len)) {
		why = "nul_escape";
		goto out;
	}
	top = json_parse(buf, len, MANIFEST_MAX, err, sizeof(err));
	if (top == NULL) {
		why = "json_invalid";
		goto out;
	}

	why = parse_top(top, m);
	if (why != NULL) {
		goto out;
	}

	rc = manifest_check(m, &why);
	if (rc != SP_OK) {
		goto out;
	}
	*out = m;
	m = NULL;
out:
	*reason = why;
	wipe_strings(top);
	yajl_tree_free(top);
	manifest_free(m);
	return rc;
}

/* Returns 0, or -1 when the header does not encode (never when
 * checked). */
static int
header_print(struct strbuf *sb, const struct manifest_file *f)
{
	char b64[((SEALED_HEADER_MAX + 2) / 3) * 4 + 1];
	int rc = -1;

	if (b64_encode(f->header, f->header_len, B64_STD, b64, sizeof(b64)) <
	    0) {
		goto out;
	}
	strbuf_appendf(sb, ",\"header\":\"%s\"", b64);
	rc = 0;
out:
	return rc;
}

enum sp_err
manifest_print(const struct manifest *m, struct strbuf *sb)
{
	const struct manifest_file *f;
	size_t i;
	enum sp_err rc = SP_E_INTERNAL;

	strbuf_appendf(sb, "{\"format\":\"%s\",\"version\":%" PRIu64,
		       MANIFEST_FORMAT, m->version);
	if (m->model[0] != '\0') {
		strbuf_appends(sb, ",\"model\":");
		strbuf_append_json_str(sb, m->model);
	}
	strbuf_appends(sb, ",\"files\":[");
	for (i = 0; i < m->nfiles; i++) {
		f = &m->files[i];
		strbuf_appends(sb, i == 0 ? "\n{\"path\":" : ",\n{\"path\":");
		strbuf_append_json_str(sb, f->path);
		strbuf_appendf(sb, ",\"size\":%" PRIu64 ",\"blob\":\"%s\"",
			       f->size, f->blob);
		if (f->segment_size != SEALED_SEGMENT_DEFAULT) {
			strbuf_appendf(sb, ",\"segment_size\":%" PRIu32,
				       f->segment_size);
		}
		if (f->header_len != 0 && header_print(sb, f) != 0) {
			goto out;
		}
		strbuf_appends(sb, "}");
	}
	strbuf_appends(sb, "]}\n");
	if (!strbuf_ok(sb)) {
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}
