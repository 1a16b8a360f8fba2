/*
 * oci_wire.c: references, challenges, manifests, tokens and credentials
 * of OCI registries (oci_wire.h). Every parser here reads bytes a
 * registry, its token service or a mounted file chose; each has a
 * ceiling and a fuzz target.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "b64.h"
#include "json.h"
#include "oci_wire.h"
#include "util.h"

#define OCI_SHA256_PREFIX "sha256:"
#define OCI_BLOB_PREFIX	  "blobs/"
#define OCI_ERR_MAX	  128
#define OCI_USERPASS_MAX  (OCI_BASIC_MAX / 4 * 3)

/* ---- references ---- */

static int
is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One path component: alphanumeric runs joined by ".", "_", "__", "-+". */
static int
repo_component_ok(const char *p, size_t n)
{
	size_t i = 0;
	size_t run;
	int ok = n > 0 && is_lower_alnum(p[0]) && is_lower_alnum(p[n - 1]);

	while (ok && i < n) {
		if (is_lower_alnum(p[i])) {
			i++;
			continue;
		}
		run = strspn(p + i, p[i] == '-'	  ? "-"
				    : p[i] == '_' ? "_"
						  : ".");
		ok = (p[i] == '-' || (p[i] == '_' && run <= 2) ||
		      (p[i] == '.' && run == 1)) &&
		     i + run < n && is_lower_alnum(p[i + run]);
		i += run;
	}
	return ok;
}

static int
repo_ok(const char *p, size_t n)
{
	size_t start = 0;
	size_t i;
	int ok = n > 0 && n <= OCI_REPO_MAX;

	for (i = 0; ok && i <= n; i++) {
		if (i == n || p[i] == '/') {
			ok = repo_component_ok(p + start, i - start);
			start = i + 1;
		}
	}
	return ok;
}

static int
tag_ok(const char *t, size_t n)
{
	size_t i;
	int ok = n > 0 && n <= OCI_TAG_MAX && t[0] != '.' && t[0] != '-';

	for (i = 0; ok && i < n; i++) {
		ok = is_lower_alnum(t[i]) || (t[i] >= 'A' && t[i] <= 'Z') ||
		     t[i] == '_' || t[i] == '.' || t[i] == '-';
	}
	return ok;
}

/* "sha256:" and 64 lower-case hex digits, nothing else. */
static int
digest_ok(const char *d, size_t n)
{
	size_t plen = strlen(OCI_SHA256_PREFIX);
	size_t i;
	int ok =
	    n == OCI_DIGEST_LEN && strncmp(d, OCI_SHA256_PREFIX, plen) == 0;

	for (i = plen; ok && i < n; i++) {
		ok = (d[i] >= '0' && d[i] <= '9') ||
		     (d[i] >= 'a' && d[i] <= 'f');
	}
	return ok;
}

static int
host_ok(const char *h, size_t n)
{
	size_t i;
	int ok = n > 0 && n <= OCI_HOST_MAX;

	for (i = 0; ok && i < n; i++) {
		ok = is_lower_alnum(h[i]) || (h[i] >= 'A' && h[i] <= 'Z') ||
		     (h[i] != '\0' && strchr(".-:[]", h[i]) != NULL);
	}
	return ok;
}

enum sp_err
oci_ref_parse(const char *url, struct oci_ref *out, const char **reason)
{
	const char *h = url + strlen("oci://");
	const char *r;
	const char *sep;
	size_t hlen;
	size_t rlen;
	enum sp_err rc = SP_E_USAGE;

	memset(out, 0, sizeof(*out));
	*reason = "oci_reference_invalid";
	if (strncmp(url, "oci://", 6) != 0) {
		goto out;
	}
	hlen = strcspn(h, "/");
	if (!host_ok(h, hlen) || h[hlen] != '/') {
		*reason = "oci_registry_invalid";
		goto out;
	}
	r = h + hlen + 1;
	sep = strchr(r, '@');
	if (sep == NULL) {
		sep = strrchr(r, ':');
		if (sep != NULL && strchr(sep, '/') != NULL) {
			sep = NULL;
		}
	}
	if (sep == NULL) {
		*reason = "oci_tag_or_digest_missing";
		goto out;
	}
	rlen = (size_t)(sep - r);
	if (!repo_ok(r, rlen)) {
		*reason = "oci_repository_invalid";
		goto out;
	}
	out->by_digest = *sep == '@';
	if (out->by_digest ? !digest_ok(sep + 1, strlen(sep + 1))
			   : !tag_ok(sep + 1, strlen(sep + 1))) {
		*reason =
		    out->by_digest ? "oci_digest_invalid" : "oci_tag_invalid";
		goto out;
	}
	memcpy(out->host, h, hlen);
	memcpy(out->repo, r, rlen);
	memcpy(out->ref, sep + 1, strlen(sep + 1));
	*reason = NULL;
	rc = SP_OK;
out:
	return rc;
}

/* ---- challenges ---- */

static int
tchar(char c)
{
	/* strchr() finds the terminator too: NUL is no token character. */
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~/:", c) != NULL);
}

/* A quoted string or a token at *p into out (cap bytes). */
static int
param_value(const char **p, char *out, size_t cap)
{
	const char *s = *p;
	size_t n = 0;
	int rc = -1;

	if (*s != '"') {
		while (tchar(*s) || *s == '=') {
			if (n + 1 >= cap) {
				goto out;
			}
			out[n++] = *s++;
		}
		rc = n > 0 ? 0 : -1;
		goto out;
	}
	for (s++; *s != '"'; s++) {
		if (*s == '\\') {
			s++;
		}
		if (*s == '\0' || (unsigned char)*s < 0x20 || n + 1 >= cap) {
			goto out;
		}
		out[n++] = *s;
	}
	s++;
	rc = 0;
out:
	out[n] = '\0';
	*p = s;
	return rc;
}

/*
 * Where a parameter's value goes: *slot, or NULL to drop it. Returns -1
 * for a repeated parameter, which has no single meaning.
 */
static int
param_slot(struct oci_challenge *c, const char *name, size_t n, unsigned *seen,
	   char **slot)
{
	static const char *const names[] = {"realm", "service", "scope"};
	char *slots[] = {c->realm, c->service, c->scope};
	size_t i;
	int rc = 0;

	*slot = NULL;
	for (i = 0; i < 3; i++) {
		if (strlen(names[i]) != n ||
		    strncasecmp(name, names[i], n) != 0) {
			continue;
		}
		if ((*seen & (1u << i)) != 0) {
			rc = -1;
		}
		*seen |= 1u << i;
		*slot = slots[i];
	}
	return rc;
}

static enum sp_err
challenge_params(const char *p, struct oci_challenge *c)
{
	char junk[OCI_PARAM_MAX + 1];
	const char *name;
	unsigned seen = 0;
	size_t n;
	char *slot;
	enum sp_err rc = SP_E_PROTOCOL;

	for (;;) {
		p += strspn(p, " \t,");
		if (*p == '\0') {
			break;
		}
		name = p;
		n = 0;
		while (tchar(p[n]) && p[n] != '/' && p[n] != ':') {
			n++;
		}
		if (n == 0 || p[n] != '=' ||
		    param_slot(c, name, n, &seen, &slot) != 0) {
			goto out;
		}
		p += n + 1;
		if (param_value(&p, slot != NULL ? slot : junk,
				OCI_PARAM_MAX + 1) != 0) {
			goto out;
		}
		if (*p != '\0' && *p != ',' && *p != ' ') {
			goto out;
		}
	}
	rc = SP_OK;
out:
	return rc;
}

enum sp_err
oci_challenge_parse(const char *value, struct oci_challenge *out)
{
	const char *p = value;
	enum sp_err rc = SP_E_PROTOCOL;

	memset(out, 0, sizeof(*out));
	if (value == NULL || strlen(value) > OCI_CHALLENGE_MAX) {
		goto out;
	}
	p += strspn(p, " \t");
	if (strncasecmp(p, "Basic", 5) == 0 && (p[5] == '\0' || p[5] == ' ')) {
		out->scheme = OCI_AUTH_BASIC;
		rc = SP_OK;
		goto out;
	}
	if (strncasecmp(p, "Bearer ", 7) != 0) {
		goto out;
	}
	out->scheme = OCI_AUTH_BEARER;
	rc = challenge_params(p + 7, out);
	if (rc == SP_OK && out->realm[0] == '\0') {
		rc = SP_E_PROTOCOL;
	}
out:
	return rc;
}

/* ---- manifests ---- */

/* Layers we cannot hand over byte for byte. */
static int
layer_media_ok(const char *mt)
{
	return mt != NULL && mt[0] != '\0' && strstr(mt, "+gzip") == NULL &&
	       strstr(mt, "+zstd") == NULL &&
	       strstr(mt, "+encrypted") == NULL &&
	       strstr(mt, ".gzip") == NULL && strstr(mt, ".zstd") == NULL;
}

/* One layer descriptor into l; *why names the broken rule. */
static enum sp_err
layer_parse(yajl_val v, struct oci_layer *l, const char **why)
{
	yajl_val ann = json_get(v, "annotations");
	const char *mt = json_get_str(v, "mediaType");
	const char *dg = json_get_str(v, "digest");
	const char *title = json_get_str(ann, OCI_TITLE);
	const char *unpack = json_get_str(ann, "io.deis.oras.content.unpack");
	enum sp_err rc = SP_E_PROTOCOL;

	if (!YAJL_IS_OBJECT(v) || !layer_media_ok(mt) ||
	    (unpack != NULL && strcmp(unpack, "true") == 0)) {
		*why = "oci_layer_media_type";
		goto out;
	}
	if (json_get(v, "urls") != NULL) {
		*why = "oci_layer_foreign_urls";
		goto out;
	}
	if (dg == NULL || !digest_ok(dg, strlen(dg)) ||
	    json_get_u64(v, "size", &l->size) != 0) {
		*why = "oci_layer_descriptor_invalid";
		goto out;
	}
	if (title == NULL || !source_name_valid(title)) {
		*why = "oci_layer_title_invalid";
		goto out;
	}
	memcpy(l->digest, dg, OCI_DIGEST_LEN + 1);
	snprintf(l->name, sizeof(l->name), "%s", title);

	/* blobs/<hex> is named by its digest; so must the layer be. */
	if (strncmp(title, OCI_BLOB_PREFIX, strlen(OCI_BLOB_PREFIX)) == 0 &&
	    strcmp(title + strlen(OCI_BLOB_PREFIX),
		   dg + strlen(OCI_SHA256_PREFIX)) != 0) {
		*why = "oci_layer_digest_mismatch";
		rc = SP_E_INTEGRITY;
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

static int
layer_cmp(const void *a, const void *b)
{
	return strcmp(((const struct oci_layer *)a)->name,
		      ((const struct oci_layer *)b)->name);
}

/* The top-level members: version, media type, config, layers array. */
static yajl_val
manifest_layers(yajl_val root, const char **why)
{
	yajl_val layers = json_get(root, "layers");
	yajl_val cfg = json_get(root, "config");
	const char *mt = json_get_str(root, "mediaType");
	uint64_t version = 0;
	yajl_val rc = NULL;

	if (!YAJL_IS_OBJECT(root) ||
	    json_get_u64(root, "schemaVersion", &version) != 0 ||
	    version != 2) {
		*why = "oci_manifest_schema";
	} else if ((json_get(root, "mediaType") != NULL &&
		    (mt == NULL || strcmp(mt, OCI_MEDIA_MANIFEST) != 0)) ||
		   json_get(root, "manifests") != NULL) {
		*why = "oci_manifest_media_type";
	} else if (!YAJL_IS_OBJECT(cfg) ||
		   json_get_str(cfg, "digest") == NULL) {
		*why = "oci_manifest_config_missing";
	} else if (!YAJL_IS_ARRAY(layers) || layers->u.array.len == 0 ||
		   layers->u.array.len > OCI_LAYERS_MAX) {
		*why = "oci_manifest_layers_invalid";
	} else {
		rc = layers;
	}
	return rc;
}

static enum sp_err
layers_collect(yajl_val arr, struct oci_layer *out, const char **why)
{
	size_t n = arr->u.array.len;
	size_t i;
	enum sp_err rc = SP_OK;

	for (i = 0; i < n && rc == SP_OK; i++) {
		rc = layer_parse(arr->u.array.values[i], &out[i], why);
	}
	if (rc != SP_OK) {
		goto out;
	}
	qsort(out, n, sizeof(*out), layer_cmp);
	for (i = 1; i < n; i++) {
		if (strcmp(out[i - 1].name, out[i].name) == 0) {
			*why = "oci_layer_title_repeated";
			rc = SP_E_PROTOCOL;
			goto out;
		}
	}
out:
	return rc;
}

enum sp_err
oci_manifest_parse(const char *body, size_t len, struct oci_layer **layers,
		   size_t *n, const char **reason)
{
	char err[OCI_ERR_MAX];
	struct oci_layer *out = NULL;
	yajl_val root = NULL;
	yajl_val arr;
	enum sp_err rc = SP_E_PROTOCOL;

	*reason = "oci_manifest_invalid_json";
	root = json_parse(body, len, OCI_MANIFEST_MAX, err, sizeof(err));
	if (root == NULL) {
		goto out;
	}
	arr = manifest_layers(root, reason);
	if (arr == NULL) {
		goto out;
	}

	rc = SP_E_INTERNAL;
	out = calloc(arr->u.array.len, sizeof(*out));
	if (out == NULL) {
		goto out;
	}
	rc = layers_collect(arr, out, reason);
	if (rc != SP_OK) {
		goto out;
	}
	*n = arr->u.array.len;
	*layers = out;
	out = NULL;
	*reason = NULL;
out:
	free(out);
	yajl_tree_free(root);
	return rc;
}

const struct oci_layer *
oci_layer_find(const struct oci_layer *layers, size_t n, const char *name)
{
	const struct oci_layer *l = NULL;
	struct oci_layer key;

	if (strlen(name) < sizeof(key.name)) {
		snprintf(key.name, sizeof(key.name), "%s", name);
		l = bsearch(&key, layers, n, sizeof(key), layer_cmp);
	}
	return l;
}

/* ---- tokens and credentials ---- */

/* Wipe every string and key of a tree that held credentials. */
static void
tree_wipe(yajl_val v)
{
	size_t i;

	if (v == NULL) {
		return;
	}
	if (YAJL_IS_STRING(v)) {
		secret_wipe_mem(v->u.string, strlen(v->u.string));
	} else if (YAJL_IS_OBJECT(v)) {
		for (i = 0; i < v->u.object.len; i++) {
			tree_wipe(v->u.object.values[i]);
		}
	} else if (YAJL_IS_ARRAY(v)) {
		for (i = 0; i < v->u.array.len; i++) {
			tree_wipe(v->u.array.values[i]);
		}
	}
}

static int
printable(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);
	size_t i;
	int ok = n > 0 && n <= max;

	for (i = 0; ok && i < n; i++) {
		ok = (unsigned char)s[i] > 0x20 && (unsigned char)s[i] < 0x7f;
	}
	return ok;
}

enum sp_err
oci_token_parse(const char *body, size_t len, struct secret **out)
{
	char err[OCI_ERR_MAX];
	yajl_val root = NULL;
	const char *tok;
	enum sp_err rc = SP_E_PROTOCOL;

	root = json_parse(body, len, OCI_TOKEN_REPLY_MAX, err, sizeof(err));
	tok = json_get_str(root, "token");
	if (tok == NULL) {
		tok = json_get_str(root, "access_token");
	}
	if (tok == NULL || !printable(tok, OCI_TOKEN_MAX)) {
		goto out;
	}
	*out = secret_from(tok, strlen(tok));
	rc = *out != NULL ? SP_OK : SP_E_INTERNAL;
out:
	tree_wipe(root);
	yajl_tree_free(root);
	return rc;
}

/* "https://host/v1/" or "host" names host? */
static int
auth_key_matches(const char *key, const char *host)
{
	size_t n;

	if (strncasecmp(key, "https://", 8) == 0) {
		key += 8;
	} else if (strncasecmp(key, "http://", 7) == 0) {
		key += 7;
	}
	n = strcspn(key, "/");
	return n == strlen(host) && strncasecmp(key, host, n) == 0;
}

/* The entry of auths for host; Docker Hub is filed as index.docker.io. */
static yajl_val
auth_entry(yajl_val auths, const char *host)
{
	const char *alias = NULL;
	yajl_val e = NULL;
	size_t i;

	if (strcmp(host, "docker.io") == 0 ||
	    strcmp(host, "registry-1.docker.io") == 0) {
		alias = "index.docker.io";
	}
	for (i = 0; YAJL_IS_OBJECT(auths) && i < auths->u.object.len; i++) {
		if (auth_key_matches(auths->u.object.keys[i], host) ||
		    (alias != NULL &&
		     auth_key_matches(auths->u.object.keys[i], alias))) {
			e = auths->u.object.values[i];
			break;
		}
	}
	return e;
}

/* An "auth" value must decode to user:password; keep it as it is. */
static enum sp_err
auth_basic(const char *b64, struct secret **out)
{
	unsigned char dec[OCI_USERPASS_MAX];
	long n;
	enum sp_err rc = SP_E_USAGE;

	if (!printable(b64, OCI_BASIC_MAX)) {
		goto out;
	}
	n = b64_decode(b64, strlen(b64), B64_STD, dec, sizeof(dec));
	if (n <= 0 || memchr(dec, ':', (size_t)n) == NULL) {
		goto out;
	}
	*out = secret_from(b64, strlen(b64));
	rc = *out != NULL ? SP_OK : SP_E_INTERNAL;
out:
	secret_wipe_mem(dec, sizeof(dec));
	return rc;
}

/* "username" and "password" into base64 of user:password. */
static enum sp_err
auth_userpass(const char *user, const char *pass, struct secret **out)
{
	char up[OCI_USERPASS_MAX];
	char b64[OCI_BASIC_MAX + 1];
	size_t ulen = strnlen(user, OCI_USERPASS_MAX);
	size_t plen = strnlen(pass, OCI_USERPASS_MAX);
	long n;
	enum sp_err rc = SP_E_USAGE;

	if (ulen == 0 || memchr(user, ':', ulen) != NULL ||
	    ulen + 1 + plen > sizeof(up)) {
		goto out;
	}
	memcpy(up, user, ulen);
	up[ulen] = ':';
	memcpy(up + ulen + 1, pass, plen);
	n = b64_encode(up, ulen + 1 + plen, B64_STD, b64, sizeof(b64));
	if (n <= 0) {
		goto out;
	}
	*out = secret_from(b64, (size_t)n);
	rc = *out != NULL ? SP_OK : SP_E_INTERNAL;
out:
	secret_wipe_mem(up, sizeof(up));
	secret_wipe_mem(b64, sizeof(b64));
	return rc;
}

enum sp_err
oci_auth_lookup(const char *json, size_t len, const char *host,
		struct secret **out)
{
	char err[OCI_ERR_MAX];
	yajl_val root = NULL;
	yajl_val e;
	const char *auth;
	const char *user;
	const char *pass;
	enum sp_err rc = SP_E_USAGE;

	*out = NULL;
	root = json_parse(json, len, OCI_AUTH_FILE_MAX, err, sizeof(err));
	if (root == NULL || !YAJL_IS_OBJECT(root)) {
		goto out;
	}
	e = auth_entry(json_get(root, "auths"), host);
	if (e == NULL) {
		rc = SP_OK;
		goto out;
	}
	/* XXX: credsStore, credHelpers and identitytoken are not read. */
	auth = json_get_str(e, "auth");
	user = json_get_str(e, "username");
	pass = json_get_str(e, "password");
	if (auth != NULL && auth[0] != '\0') {
		rc = auth_basic(auth, out);
	} else if (user != NULL && pass != NULL) {
		rc = auth_userpass(user, pass, out);
	}
out:
	tree_wipe(root);
	yajl_tree_free(root);
	return rc;
}
