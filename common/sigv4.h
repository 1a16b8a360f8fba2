/*
 * sigv4.h: AWS Signature Version 4 for requests with a header
 * Authorization (S3 and S3-compatible stores: MinIO, Ceph RGW, R2, GCS
 * interoperability).
 *
 * Ours rather than libcurl's CURLOPT_AWS_SIGV4 (7.75+): libcurl 7.88
 * takes the secret key as a password string copied into its own memory
 * (never wiped), decides the signed header set and the payload-hash
 * header by itself, and offers nothing to check against AWS's published
 * vectors without a server. Here the secret key lives only in a struct
 * secret, the caller names every signed header, and
 * tests/unit/test_sigv4.c checks the published examples.
 *
 *	canonical request = method \n path \n query \n
 *			    name:value \n ... \n signed names \n payload hash
 *	string to sign    = "AWS4-HMAC-SHA256" \n date \n scope \n
 *			    hex(SHA-256(canonical request))
 *	signing key	  = HMAC chain over "AWS4" || secret, day, region,
 *			    service, "aws4_request"
 */
#ifndef SEALPOD_SIGV4_H
#define SEALPOD_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "err.h"
#include "json.h"
#include "secret.h"

#define SIGV4_DATE_LEN	  16 /* "YYYYMMDDTHHMMSSZ" */
#define SIGV4_HEX_LEN	  64 /* hex SHA-256 */
#define SIGV4_HEADERS_MAX 16
/* Ceilings on what goes into one signature. */
#define SIGV4_FIELD_MAX	 4096 /* a header value, path or query */
#define SIGV4_KEYID_MAX	 128  /* access key id */
#define SIGV4_SECRET_MAX 256  /* secret access key, bytes */
#define SIGV4_AUTH_MAX	 1024 /* the Authorization value we write */
/* SHA-256 of the empty string: the payload hash of a GET. */
#define SIGV4_EMPTY_SHA256                                                     \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

struct sigv4_header {
	const char *name;  /* lower case, e.g. "x-amz-date" */
	const char *value; /* as sent; trimmed and blanks folded here */
};

struct sigv4_request {
	const char *method; /* "GET" */
	const char *path;   /* canonical URI, already encoded */
	const char *query;  /* canonical query string, "" for none */
	const struct sigv4_header *headers; /* sorted by name, unique */
	size_t nheaders;		    /* 1..SIGV4_HEADERS_MAX */
	const char *payload_hash; /* hex SHA-256 or UNSIGNED-PAYLOAD */
	const char *amz_date;	  /* YYYYMMDDTHHMMSSZ, also x-amz-date */
	const char *region;	  /* "us-east-1" */
	const char *service;	  /* "s3" */
};

/*
 * The value of the Authorization header for r, signed with the secret
 * access key, into out (cap bytes, SIGV4_AUTH_MAX is enough):
 * "AWS4-HMAC-SHA256 Credential=<id>/<scope>, SignedHeaders=<names>,
 * Signature=<hex>". Returns SP_OK; SP_E_USAGE when r breaks a rule
 * (unsorted, repeated or upper-case header names, a field over its
 * ceiling, a malformed date, a secret key over SIGV4_SECRET_MAX) or
 * out is too small; SP_E_INTERNAL. The signature is a credential too:
 * never log out.
 */
SP_MUST_CHECK enum sp_err sigv4_authorization(const struct sigv4_request *r,
					      const char *key_id,
					      const struct secret *secret_key,
					      char *out, size_t cap);

/*
 * Append s to sb percent-encoded as SigV4 wants: RFC 3986 unreserved
 * characters (A-Z a-z 0-9 - . _ ~) stay, every other byte becomes %XX in
 * upper-case hex; '/' stays too when keep_slash is set (an S3 object
 * key in a path).
 */
void sigv4_uri_encode(struct strbuf *sb, const char *s, int keep_slash);

/* t as YYYYMMDDTHHMMSSZ (UTC) into out (SIGV4_DATE_LEN + 1 bytes). */
void sigv4_amz_date(time_t t, char *out);

#endif
