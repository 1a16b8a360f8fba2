/*
 * fuzz_manifest.c: manifest_parse() over arbitrary bytes. A manifest that
 * parses must print and parse back to the same files, in the same order,
 * and the same model identity.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_round_trip(const struct manifest *m)
{
	struct manifest *back = NULL;
	const char *reason = NULL;
	struct strbuf sb;
	size_t i;

	strbuf_init(&sb, MANIFEST_MAX);
	if (manifest_print(m, &sb) != SP_OK) {
		abort();
	}
	if (manifest_parse(sb.buf, sb.len, &back, &reason) != SP_OK ||
	    back->nfiles != m->nfiles || back->version != m->version ||
	    back->total_size != m->total_size ||
	    strcmp(back->model, m->model) != 0 ||
	    (m->model[0] != '\0' &&
	     manifest_model_id_check(m->model) != NULL)) {
		abort();
	}
	for (i = 0; i < m->nfiles; i++) {
		if (strcmp(back->files[i].path, m->files[i].path) != 0 ||
		    back->files[i].size != m->files[i].size ||
		    back->files[i].segment_size != m->files[i].segment_size ||
		    strcmp(back->files[i].blob, m->files[i].blob) != 0 ||
		    manifest_path_check(m->files[i].path) != NULL) {
			abort();
		}
	}
	manifest_free(back);
	strbuf_free(&sb);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	struct manifest *m = NULL;
	const char *reason = NULL;

	if (!quiet) {
		log_set_level(LOG_ERR);
		quiet = 1;
	}
	if (manifest_parse((const char *)data, size, &m, &reason) == SP_OK) {
		check_round_trip(m);
		manifest_free(m);
	} else if (reason == NULL) {
		abort();
	}
	return 0;
}
