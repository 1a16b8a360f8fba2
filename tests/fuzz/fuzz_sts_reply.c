/*
 * fuzz_sts_reply.c: the STS AssumeRoleWithWebIdentity reply parser and
 * the error-document <Code> reader of s3_auth.c.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "source/s3_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct s3_sts_reply r;
	char code[S3_STS_CODE_MAX + 1];

	if (s3_sts_parse((const char *)data, size, &r) == SP_OK) {
		if (r.code[0] == '\0' &&
		    (r.secret_key == NULL || r.session_token == NULL ||
		     r.key_id[0] == '\0' || r.expires <= 0)) {
			__builtin_trap();
		}
		s3_sts_reply_wipe(&r);
	}
	if (s3_xml_code((const char *)data, size, code, sizeof(code)) == 0 &&
	    (code[0] == '\0' || strlen(code) > S3_STS_CODE_MAX)) {
		__builtin_trap();
	}
	return 0;
}
