/*
 * s3_auth.h: credentials for s3:// stores, as AWS SDKs find them.
 *
 *   1. AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN);
 *   2. AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (+ AWS_ROLE_SESSION_NAME):
 *      the token file (a projected service-account token, as IRSA mounts
 *      it) is traded for temporary credentials at the STS endpoint with
 *      AssumeRoleWithWebIdentity, an unsigned POST; they are traded again
 *      shortly before they expire, re-reading the file, which rotates;
 *   3. none: anonymous requests (a public bucket).
 *
 * The secret access key and the session token live in struct secret
 * only. The environment keeps its own copy for the life of the process
 * (XXX: we cannot wipe it without breaking the other workers' reads; the
 * process is not dumpable, so only root reads /proc/<pid>/environ).
 */
#ifndef SEALPOD_S3_AUTH_H
#define SEALPOD_S3_AUTH_H

#include <stddef.h>
#include <time.h>

#include "err.h"
#include "http.h"
#include "secret.h"

/* Ceilings on what the environment, the token file and STS may give. */
#define S3_KEY_ID_MAX	     128
#define S3_SECRET_KEY_MAX    256
#define S3_SESSION_TOKEN_MAX 8192
#define S3_WEB_TOKEN_MAX     16384 /* a JWT from the token file */
#define S3_ROLE_ARN_MAX	     2048
#define S3_STS_REPLY_MAX     65536
#define S3_STS_CODE_MAX	     64
/* Trade temporary credentials again this long before they expire. */
#define S3_REFRESH_MARGIN_S 300
#define S3_STS_DURATION_S   3600

struct s3_creds {
	int anonymous; /* no credentials: sign nothing */
	char key_id[S3_KEY_ID_MAX + 1];
	struct secret *secret_key;    /* NULL when anonymous */
	struct secret *session_token; /* NULL when none */
	time_t expires;		      /* 0: never (static keys) */
	int web_identity;	      /* refreshable through STS */
};

/* What STS answered: credentials or an error code. */
struct s3_sts_reply {
	char key_id[S3_KEY_ID_MAX + 1];
	struct secret *secret_key;
	struct secret *session_token;
	time_t expires;
	char code[S3_STS_CODE_MAX + 1]; /* <Code> of an error, "" else */
};

/*
 * Load credentials from the environment (see above). For web identity,
 * sts_url is the STS endpoint (https://sts.<region>.amazonaws.com when
 * NULL is passed, built from region) and http a client for the trade.
 * Returns SP_OK; SP_E_USAGE for incomplete or oversized variables or an
 * unreadable token file; SP_E_FETCH when STS is unreachable or refuses
 * (logged with its <Code>); SP_E_PROTOCOL for a malformed reply;
 * SP_E_INTERNAL. Free with s3_creds_wipe() whatever the result.
 */
SP_MUST_CHECK enum sp_err s3_creds_load(struct s3_creds *c,
					struct http_client *http,
					const char *sts_url,
					const char *region);

/*
 * Trade again when web-identity credentials expire within
 * S3_REFRESH_MARGIN_S of now. Returns SP_OK (also when nothing was due)
 * or as s3_creds_load().
 */
SP_MUST_CHECK enum sp_err s3_creds_refresh(struct s3_creds *c,
					   struct http_client *http,
					   const char *sts_url,
					   const char *region, time_t now);

/* Wipe and free what c holds; c may be reused after. */
void s3_creds_wipe(struct s3_creds *c);

/*
 * Parse an STS AssumeRoleWithWebIdentity reply body (len bytes, at most
 * S3_STS_REPLY_MAX): the four members of <Credentials>, each exactly
 * once, or an <ErrorResponse>'s <Code>. Returns SP_OK with out filled
 * (credentials, or code set and no credentials); SP_E_PROTOCOL for
 * anything else; SP_E_INTERNAL. Free with s3_sts_reply_wipe().
 */
SP_MUST_CHECK enum sp_err s3_sts_parse(const char *body, size_t len,
				       struct s3_sts_reply *out);

/* Wipe and free what r holds. */
void s3_sts_reply_wipe(struct s3_sts_reply *r);

/*
 * The text of the first <name>...</name> element in body, without the
 * markup, when it is short and holds only [A-Za-z0-9.]; for the <Code>
 * of S3 and STS error documents. Returns 0 with out set, or -1.
 */
int s3_xml_code(const char *body, size_t len, char *out, size_t cap);

#endif
