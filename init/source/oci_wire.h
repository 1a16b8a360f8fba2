/*
 * oci_wire.h: what an OCI registry and its token service send us, parsed
 * with ceilings; for source_oci.c, the unit tests and the fuzz targets.
 *
 * The OCI Distribution Specification 1.1 and Image Specification 1.1
 * define the manifest, the blob and manifest endpoints and the digest
 * form; the token handshake is the one Docker's registry documents
 * ("Token Authentication Specification"), which every public registry
 * follows; the credentials file is Docker's config.json "auths" map.
 */
#ifndef SEALPOD_OCI_WIRE_H
#define SEALPOD_OCI_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "secret.h"
#include "source.h"

/* Ceilings on what a registry or the URI may hold. */
#define OCI_HOST_MAX   255
#define OCI_REPO_MAX   255
#define OCI_TAG_MAX    128
#define OCI_DIGEST_LEN (7 + 64) /* "sha256:" + lower-case hex */
/* A tag or a digest, whichever is longer. */
#define OCI_REF_MAX                                                            \
	(OCI_TAG_MAX > OCI_DIGEST_LEN ? OCI_TAG_MAX : OCI_DIGEST_LEN)
#define OCI_MANIFEST_MAX    (4 * 1024 * 1024) /* what registries accept */
#define OCI_LAYERS_MAX	    65537	      /* files + manifest */
#define OCI_CHALLENGE_MAX   2048
#define OCI_PARAM_MAX	    1024 /* realm, service or scope */
#define OCI_TOKEN_REPLY_MAX (64 * 1024)
#define OCI_TOKEN_MAX	    (16 * 1024)
#define OCI_AUTH_FILE_MAX   (1024 * 1024)
#define OCI_BASIC_MAX	    4096 /* base64 of "user:password" */

#define OCI_MEDIA_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_TITLE	   "org.opencontainers.image.title"

/* oci://host[:port]/repository(:tag|@sha256:<hex>) */
struct oci_ref {
	char host[OCI_HOST_MAX + 1]; /* with the port, as written */
	char repo[OCI_REPO_MAX + 1];
	char ref[OCI_REF_MAX + 1]; /* the tag, or the digest */
	int by_digest;
};

/* A WWW-Authenticate challenge we can answer. */
enum oci_auth_scheme { OCI_AUTH_BEARER, OCI_AUTH_BASIC };

struct oci_challenge {
	enum oci_auth_scheme scheme;
	char realm[OCI_PARAM_MAX + 1];
	char service[OCI_PARAM_MAX + 1];
	char scope[OCI_PARAM_MAX + 1];
};

/* One layer of the artifact: a file of the sealed store. */
struct oci_layer {
	char name[SOURCE_NAME_MAX + 1]; /* its title annotation */
	char digest[OCI_DIGEST_LEN + 1];
	uint64_t size;
};

/*
 * Parse url (starting "oci://"). The repository is lower-case
 * components of [a-z0-9] joined by '.', '_', '__' or '-' runs and '/';
 * a tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}; a digest is sha256 with 64
 * lower-case hex digits. Returns SP_OK or SP_E_USAGE with *reason set.
 */
SP_MUST_CHECK enum sp_err oci_ref_parse(const char *url, struct oci_ref *out,
					const char **reason);

/*
 * Parse a WWW-Authenticate value: "Bearer" with realm (required),
 * service and scope, or "Basic". Parameter values are tokens or quoted
 * strings with backslash escapes. Returns SP_OK, or SP_E_PROTOCOL for
 * another scheme, a malformed value or a parameter over OCI_PARAM_MAX.
 */
SP_MUST_CHECK enum sp_err oci_challenge_parse(const char *value,
					      struct oci_challenge *out);

/*
 * Parse an image manifest (len bytes, at most OCI_MANIFEST_MAX):
 * schemaVersion 2, mediaType (when present) OCI_MEDIA_MANIFEST, a config
 * descriptor, and layers with a digest, a size and a title annotation
 * that source_name_valid() accepts, unique. A title "blobs/<hex>" must
 * come with the digest "sha256:<hex>": blobs are named by their digest.
 * Layers that are compressed, encrypted or meant to be unpacked are
 * refused: a layer is a file's bytes as they are. On SP_OK *layers
 * (sorted by name, the caller frees) and *n are set; otherwise
 * SP_E_PROTOCOL (not a manifest we read) or SP_E_INTEGRITY (a blob
 * title and its digest disagree) with *reason set; SP_E_INTERNAL.
 */
SP_MUST_CHECK enum sp_err oci_manifest_parse(const char *body, size_t len,
					     struct oci_layer **layers,
					     size_t *n, const char **reason);

/* The layer called name in a sorted table, or NULL. */
const struct oci_layer *oci_layer_find(const struct oci_layer *layers, size_t n,
				       const char *name);

/*
 * The bearer token of a token service reply (JSON with "token" or
 * "access_token", at most OCI_TOKEN_REPLY_MAX bytes) into a new secret.
 * Returns SP_OK, or SP_E_PROTOCOL when neither is a plain string of at
 * most OCI_TOKEN_MAX printable characters; SP_E_INTERNAL.
 */
SP_MUST_CHECK enum sp_err oci_token_parse(const char *body, size_t len,
					  struct secret **out);

/*
 * The credentials for registry host in a Docker config.json (at most
 * OCI_AUTH_FILE_MAX bytes): "auths"."<host>" (also written as
 * "https://<host>" or "<host>/v1/" style) with "auth" (base64 of
 * user:password) or "username" and "password". *out gets the base64
 * "user:password" for a Basic header, or stays NULL when the file has no
 * entry for host. Returns SP_OK; SP_E_USAGE for a malformed file or
 * entry; SP_E_INTERNAL.
 */
SP_MUST_CHECK enum sp_err oci_auth_lookup(const char *json, size_t len,
					  const char *host,
					  struct secret **out);

#endif
