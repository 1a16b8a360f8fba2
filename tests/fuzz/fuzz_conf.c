/*
 * fuzz_conf.c: the YAML config loader on arbitrary bytes. The input goes
 * to a temporary file (conf_load reads a path) and is loaded with a small
 * table covering every value type.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_cfg {
	char *tee;
	char *url;
	uint64_t version;
	uint64_t port;
	int debug;
	char **files;
	char *deep;
};

static const struct conf_key fuzz_keys[] = {
    {"tee", CONF_STR, offsetof(struct fuzz_cfg, tee), 1, 0, 0},
    {"kbs.url", CONF_STR, offsetof(struct fuzz_cfg, url), 1, 0, 0},
    {"artifacts.min_version", CONF_U64, offsetof(struct fuzz_cfg, version), 0,
     0, UINT32_MAX},
    {"listen.port", CONF_U64, offsetof(struct fuzz_cfg, port), 0, 1, 65535},
    {"debug", CONF_BOOL, offsetof(struct fuzz_cfg, debug), 0, 0, 0},
    {"tls.files", CONF_LIST, offsetof(struct fuzz_cfg, files), 0, 0, 0},
    {"a.b.c", CONF_STR, offsetof(struct fuzz_cfg, deep), 0, 0, 0},
    {NULL, 0, 0, 0, 0, 0},
};

static char fuzz_path[] = "/tmp/sealpod-fuzz-conf.XXXXXX";
static int fuzz_ready;

static void
fuzz_cleanup(void)
{
	unlink(fuzz_path);
}

static int
fuzz_write(const uint8_t *data, size_t size)
{
	FILE *f;
	int rc = -1;

	if (!fuzz_ready) {
		int fd = mkstemp(fuzz_path);

		if (fd < 0) {
			goto out;
		}
		close(fd);
		atexit(fuzz_cleanup);
		fuzz_ready = 1;
	}
	f = fopen(fuzz_path, "wb");
	if (f == NULL) {
		goto out;
	}
	if (fwrite(data, 1, size, f) == size) {
		rc = 0;
	}
	if (fclose(f) != 0) {
		rc = -1;
	}
out:
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_cfg c;
	char *errs = NULL;
	enum sp_err rc;

	if (fuzz_write(data, size) != 0) {
		abort();
	}
	memset(&c, 0, sizeof(c));
	rc = conf_load(fuzz_path, fuzz_keys, &c, &errs);

	/* Success and a problem list exclude each other. */
	if ((rc == SP_OK) != (errs == NULL) && rc != SP_E_INTERNAL) {
		abort();
	}
	/* On success the required keys are there. */
	if (rc == SP_OK && (c.tee == NULL || c.url == NULL)) {
		abort();
	}
	free(errs);
	conf_free(fuzz_keys, &c);
	return 0;
}
