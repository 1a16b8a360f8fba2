/*
 * unseal_cmd.c: `sealpod-init unseal` (unseal_cmd.h).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcode.h"
#include "http.h"
#include "log.h"
#include "manifest.h"
#include "secret.h"
#include "source.h"
#include "unseal.h"
#include "unseal_cmd.h"
#include "unseal_pipe.h"
#include "util.h"

#define UNSEAL_CMD_KEY_LEN   32
#define UNSEAL_CMD_KEY_MAX   64 /* read a little more to see a long file */
#define UNSEAL_CMD_TIME_MAX  (7ULL * 24 * 3600)
#define UNSEAL_CMD_TRIES_MAX 100
#define UNSEAL_CMD_CHUNK_MAX (64ULL * 1024 * 1024)

struct unseal_cmd_opts {
	struct unseal_opts uo;
	const char *key_file;
};

static void
usage_text(FILE *out)
{
	fprintf(out,
		"usage: sealpod-init unseal --key KEYFILE --source URL "
		"--target DIR\n"
		"           [--ca PEM] [--min-version N] [--model-id ID]\n"
		"           [--workers N] [--memory-mib N]\n"
		"           [--signing-key PEM] [--headers-file F] "
		"[--insecure-http]\n"
		"           [--idle-timeout S] [--deadline S] [--attempts N]\n"
		"           [--progress-s S]\n");
}

static int
unseal_usage(const char *problem, const char *arg)
{
	return exitcode_usage(problem, arg,
			      "Try 'sealpod-init unseal --help'.\n");
}

/* A number option in [min, max]; 0 or an exit code. */
static int
number(const char *arg, uint64_t min, uint64_t max, uint64_t *out)
{
	int rc = 0;

	if (parse_u64(arg, min, max, out) != 0) {
		rc = unseal_usage("number out of range", arg);
	}
	return rc;
}

/* One option into o; 0, -1 for help, or an exit code. */
static int
unseal_option(int c, const char *arg, struct unseal_cmd_opts *o)
{
	struct unseal_opts *u = &o->uo;
	uint64_t n = 0;
	int rc = 0;

	if (c == 'k') {
		o->key_file = arg;
	} else if (c == 's') {
		u->source = arg;
	} else if (c == 't') {
		u->target = arg;
	} else if (c == 'C') {
		u->ca_file = arg;
	} else if (c == 'S') {
		u->signing_key = arg;
	} else if (c == 'H') {
		u->headers_file = arg;
	} else if (c == 'I') {
		u->allow_http = 1;
	} else if (c == 'v') {
		rc = number(arg, 0, UINT64_MAX, &u->min_version);
	} else if (c == 'M') {
		u->model_id = arg;
		if (manifest_model_id_check(arg) != NULL) {
			rc = unseal_usage(MANIFEST_MODEL_ID_RULE, arg);
		}
	} else if (c == 'w') {
		rc = number(arg, 1, UNSEAL_PIPE_WORKERS_MAX, &n);
		u->workers = (unsigned)n;
	} else if (c == 'm') {
		rc = number(arg, 1, UNSEAL_MEMORY_MIB_MAX, &u->memory_mib);
	} else if (c == 'i') {
		rc = number(arg, 1, UNSEAL_CMD_TIME_MAX, &u->idle_timeout_s);
	} else if (c == 'd') {
		rc = number(arg, 1, UNSEAL_CMD_TIME_MAX, &u->deadline_s);
	} else if (c == 'a') {
		rc = number(arg, 1, UNSEAL_CMD_TRIES_MAX, &n);
		u->attempts = (unsigned)n;
	} else if (c == 'c') {
		rc = number(arg, 1, UNSEAL_CMD_CHUNK_MAX, &u->chunk);
	} else if (c == 'p') {
		rc = number(arg, 1, UNSEAL_CMD_TIME_MAX, &u->progress_s);
	} else if (c == 'h') {
		usage_text(stdout);
		rc = -1;
	} else {
		rc = unseal_usage("unknown option or missing value", "");
	}
	return rc;
}

static int
unseal_options(int argc, char **argv, struct unseal_cmd_opts *o)
{
	static const struct option longopts[] = {
	    {"key", required_argument, NULL, 'k'},
	    {"source", required_argument, NULL, 's'},
	    {"target", required_argument, NULL, 't'},
	    {"ca", required_argument, NULL, 'C'},
	    {"min-version", required_argument, NULL, 'v'},
	    {"model-id", required_argument, NULL, 'M'},
	    {"workers", required_argument, NULL, 'w'},
	    {"memory-mib", required_argument, NULL, 'm'},
	    {"signing-key", required_argument, NULL, 'S'},
	    {"headers-file", required_argument, NULL, 'H'},
	    {"insecure-http", no_argument, NULL, 'I'},
	    {"idle-timeout", required_argument, NULL, 'i'},
	    {"deadline", required_argument, NULL, 'd'},
	    {"attempts", required_argument, NULL, 'a'},
	    /* Benchmarks only: bytes per read. */
	    {"chunk-bytes", required_argument, NULL, 'c'},
	    {"progress-s", required_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int rc = 0;
	int c;

	for (;;) {
		c = getopt_long(argc, argv, "", longopts, NULL);
		if (c == -1) {
			break;
		}
		rc = unseal_option(c, optarg, o);
		if (rc != 0) {
			goto out;
		}
	}
	if (optind != argc) {
		rc = unseal_usage("unexpected argument", argv[optind]);
	} else if (o->key_file == NULL || o->uo.source == NULL ||
		   o->uo.target == NULL) {
		rc = unseal_usage("unseal needs --key, --source and --target",
				  "");
	} else if (source_url_problem(o->uo.source, o->uo.allow_http) != NULL) {
		/* Before anything touches --target: a typo must not cost
		 * the owner an earlier good unseal there. */
		rc = unseal_usage(
		    source_url_problem(o->uo.source, o->uo.allow_http),
		    "--source");
	}
out:
	return rc;
}

/* The 32-byte model key from a private file. */
static enum sp_err
key_load(const char *path, struct secret **out)
{
	char *buf = NULL;
	size_t len = 0;
	enum sp_err rc = SP_E_USAGE;

	if (file_check_private(path) != SP_OK ||
	    file_read_all(path, UNSEAL_CMD_KEY_MAX, &buf, &len) != SP_OK) {
		log_event(LOG_ERR, "unseal.key.failed", "key_file_unusable",
			  LOG_ERRNO(errno));
		goto out;
	}
	if (len != UNSEAL_CMD_KEY_LEN) {
		log_event(LOG_ERR, "unseal.key.failed", "model_key_length",
			  LOG_U64("bytes", len));
		goto out;
	}
	rc = SP_E_INTERNAL;
	*out = secret_from(buf, len);
	if (*out != NULL) {
		rc = SP_OK;
	}
out:
	if (buf != NULL) {
		secret_wipe_mem(buf, len);
	}
	free(buf);
	return rc;
}

int
unseal_cmd(int argc, char **argv)
{
	struct unseal_cmd_opts o;
	struct unseal_result res;
	struct secret *key = NULL;
	enum sp_err rc = SP_E_USAGE;
	int ec;

	memset(&o, 0, sizeof(o));
	memset(&res, 0, sizeof(res));
	ec = unseal_options(argc, argv, &o);
	if (ec != 0) {
		ec = ec < 0 ? 0 : ec;
		goto out;
	}

	rc = http_global_init();
	if (rc == SP_OK && unseal_stop_on_signals() != 0) {
		rc = SP_E_INTERNAL;
	}
	if (rc == SP_OK) {
		rc = key_load(o.key_file, &key);
	}
	if (rc == SP_OK) {
		rc = unseal_run(&o.uo, key, &res);
	}
	ec = exitcode_for(rc);
	/* Stopped by SIGTERM/SIGINT: whatever failed meanwhile, the run
	 * ended because it was asked to, as `run` reports it. */
	if (rc != SP_OK && unseal_pipe_interrupted()) {
		ec = EXIT_TERMINATED;
	}
	if (rc != SP_OK) {
		log_event(LOG_ERR, "unseal.failed",
			  ec == EXIT_TERMINATED ? "terminated"
						: sp_err_name(rc),
			  LOG_I64("exit_code", ec));
	}
out:
	secret_free(key);
	return ec;
}
