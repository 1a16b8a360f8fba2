/*
 * kserve_cmd.c: the command line of `sealpod-init import-kserve`
 * (kserve.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "exitcode.h"
#include "kserve.h"
#include "log.h"
#include "manifest.h"
#include "util.h"

#define KSERVE_USAGE                                                           \
	"usage: sealpod-init import-kserve --kek FILE --in DIR "               \
	"--key KEYFILE --out DIR\n"                                            \
	"           [--version N] [--model-id ID]\n"

static int
kserve_usage(const char *problem, const char *arg)
{
	return exitcode_usage(problem, arg, KSERVE_USAGE);
}

/* One option into o; 0, -1 for help, or an exit code. */
static int
kserve_option(int c, const char *arg, struct kserve_opts *o)
{
	int rc = 0;

	if (c == 'K') {
		o->kek_file = arg;
	} else if (c == 'i') {
		o->in_dir = arg;
	} else if (c == 'k') {
		o->key_file = arg;
	} else if (c == 'o') {
		o->out_dir = arg;
	} else if (c == 'n') {
		if (parse_u64(arg, 1, UINT64_MAX, &o->version) != 0) {
			rc = kserve_usage("--version needs a number >= 1", arg);
		}
	} else if (c == 'M') {
		o->model_id = arg;
		if (manifest_model_id_check(arg) != NULL) {
			rc = kserve_usage(MANIFEST_MODEL_ID_RULE, arg);
		}
	} else if (c == 'h') {
		printf(
		    KSERVE_USAGE
		    "\nConvert a KServe confidential model directory (files\n"
		    "encrypted as JWE compact, alg A256KW, enc A256GCM, with\n"
		    "the 32-byte key in --kek) into sealpod's sealed layout\n"
		    "under --out, sealed with the model key in --key (created\n"
		    "when absent). Files not encrypted are sealed as they\n"
		    "are; a \".jwe\" suffix is dropped from the name.\n"
		    "--model-id names the model in the manifest, for pods\n"
		    "that pin artifacts.model_id.\n");
		rc = -1;
	} else {
		rc = kserve_usage("unknown option or missing value", "");
	}
	return rc;
}

static int
kserve_options(int argc, char **argv, struct kserve_opts *o)
{
	static const struct option longopts[] = {
	    {"kek", required_argument, NULL, 'K'},
	    {"in", required_argument, NULL, 'i'},
	    {"key", required_argument, NULL, 'k'},
	    {"out", required_argument, NULL, 'o'},
	    {"version", required_argument, NULL, 'n'},
	    {"model-id", required_argument, NULL, 'M'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int rc = 0;
	int c;

	for (;;) {
		c = getopt_long(argc, argv, "K:i:k:o:n:M:h", longopts, NULL);
		if (c == -1) {
			break;
		}
		rc = kserve_option(c, optarg, o);
		if (rc != 0) {
			goto out;
		}
	}
	if (optind != argc) {
		rc = kserve_usage("unexpected argument", argv[optind]);
	} else if (o->kek_file == NULL || o->in_dir == NULL ||
		   o->key_file == NULL || o->out_dir == NULL) {
		rc = kserve_usage("import-kserve needs --kek, --in, --key and "
				  "--out",
				  "");
	}
out:
	return rc;
}

int
kserve_cmd(int argc, char **argv)
{
	struct kserve_opts o;
	enum sp_err rc;
	int ec;

	memset(&o, 0, sizeof(o));
	o.version = 1;
	ec = kserve_options(argc, argv, &o);
	if (ec != 0) {
		goto out;
	}
	rc = kserve_import(&o);
	if (rc != SP_OK) {
		log_event(LOG_ERR, "kserve.import.failed", sp_err_name(rc),
			  LOG_I64("exit_code", exitcode_for(rc)));
	}
	ec = exitcode_for(rc);
out:
	return ec < 0 ? 0 : ec;
}
