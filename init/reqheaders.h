/*
 * reqheaders.h: extra HTTP request headers for the artifact store, read
 * from a file (artifacts.headers_file), e.g. "Authorization: Bearer ...".
 *
 * The file must be private (file_check_private). Its bytes live only in
 * a struct secret; the lines point into it. Neither the values nor the
 * header names are ever logged: problems name the line number only.
 */
#ifndef SEALPOD_REQHEADERS_H
#define SEALPOD_REQHEADERS_H

#include "err.h"
#include "secret.h"

/* Ceilings on the file and on its header lines. */
#define REQHEADERS_FILE_MAX  (16 * 1024)
#define REQHEADERS_LINES_MAX 32

struct reqheaders {
	struct secret *raw; /* the file; each line NUL-terminated in place */
	const char **lines; /* "Name: value" lines, NULL-terminated */
	size_t n;
};

/*
 * Load path: one "Name: value" per line; blank lines and lines starting
 * with '#' are skipped; CR before LF is dropped. Names are HTTP tokens;
 * values hold no control characters but tab; Host, Range, Connection,
 * Content-Length, Transfer-Encoding and Expect are refused (the client
 * sets them). Returns SP_OK and *out (free with reqheaders_free());
 * SP_E_USAGE (missing, not private, too large, a bad line), logged;
 * SP_E_INTERNAL.
 */
SP_MUST_CHECK enum sp_err reqheaders_load(const char *path,
					  struct reqheaders **out);

/* Wipe and free. NULL is allowed. */
void reqheaders_free(struct reqheaders *h);

#endif
