/*
 * conf.h: YAML configuration through keyword tables.
 *
 * A binary describes its configuration as a table of dotted keys (for
 * example "kbs.url") with a type and an offset into its own plain struct.
 * conf_load() reads the YAML file, rejects unknown keys, wrong types,
 * duplicates and missing required keys, collects every problem as
 * "file:line: key: problem" (one per line in errs), and writes into the
 * struct only when the whole file validates.
 *
 *	static const struct conf_key keys[] = {
 *		{ "kbs.url", CONF_STR, offsetof(struct cfg, kbs_url), 1, 0, 0 },
 *		{ "artifacts.min_version", CONF_U64,
 *		    offsetof(struct cfg, min_version), 0, 0, UINT32_MAX },
 *		{ NULL },
 *	};
 */
#ifndef SEALPOD_CONF_H
#define SEALPOD_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Ceilings on a configuration file. */
#define CONF_FILE_MAX	    (256 * 1024)
#define CONF_STR_MAX	    4096
#define CONF_LIST_MAX	    64
#define CONF_FLOW_DEPTH_MAX 8 /* [ and { nesting; libyaml is slow past it */
#define CONF_RECORD_MAX	    (16 * 1024) /* one CONF_RECORDS item as text */

enum conf_type {
	CONF_STR,  /* char *, malloc'd */
	CONF_U64,  /* uint64_t within [min, max] */
	CONF_BOOL, /* int, from true/false */
	CONF_LIST, /* char **, NULL-terminated, malloc'd; from a sequence */
	/*
	 * char **, NULL-terminated, malloc'd; from a sequence of mappings
	 * whose values are strings or lists of strings. Each item becomes
	 * one string of lines: "key=value" for a string, "key[]=item" for
	 * each list item. Keys hold no '=', nothing holds a newline.
	 */
	CONF_RECORDS,
};

struct conf_key {
	const char *name; /* dotted path; NULL ends the table */
	enum conf_type type;
	size_t offset;
	int required;
	uint64_t min; /* CONF_U64 only */
	uint64_t max; /* CONF_U64 only; 0 means UINT64_MAX */
};

/*
 * Load path into the struct at out using table. Keys absent from the file
 * keep whatever out already holds (so callers preset defaults); a loaded
 * CONF_STR or CONF_LIST value frees the one it replaces, so such presets
 * must be NULL or malloc'd. Returns SP_OK; SP_E_USAGE with errs set to a
 * malloc'd, newline-separated list of problems (caller frees); or
 * SP_E_NOTFOUND / SP_E_INTERNAL.
 */
SP_MUST_CHECK enum sp_err conf_load(const char *path,
				    const struct conf_key *table, void *out,
				    char **errs);

/* Free every CONF_STR and CONF_LIST field named by table in the struct. */
void conf_free(const struct conf_key *table, void *cfg);

#endif
