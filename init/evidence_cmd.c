/*
 * evidence_cmd.c: `sealpod-init evidence`. Runs one provider's collect
 * outside the KBS handshake, so an operator can see whether the platform
 * attests and what the verifier would get, without a KBS or a model.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest.h"
#include "attest/attest_providers.h"
#include "evidence_cmd.h"
#include "exitcode.h"
#include "attest/tpm.h"
#include "log.h"
#include "util.h"

#define EVIDENCE_RD_MAX 64 /* report data the TEEs carry */

struct evidence_opts {
	const char *tee;
	const char *root;
	const char *tcti;
	unsigned char rd[EVIDENCE_RD_MAX];
	size_t rdlen;
};

static int
evidence_usage(const char *problem, const char *arg)
{
	return exitcode_usage(problem, arg,
			      "usage: sealpod-init evidence --tee T "
			      "[--report-data HEX] [--root DIR] "
			      "[--tcti SPEC]\n");
}

/* 1..64 bytes as 2..128 hex digits. */
static int
parse_report_data(const char *hex, struct evidence_opts *o)
{
	size_t n = strlen(hex);

	if (n == 0 || n % 2 != 0 || n / 2 > EVIDENCE_RD_MAX ||
	    hex_decode(hex, n, o->rd, n / 2) != 0) {
		return evidence_usage("--report-data needs 1-64 bytes of hex",
				      hex);
	}
	o->rdlen = n / 2;
	return 0;
}

/* Options into o; 0, or an exit code. */
static int
evidence_options(int argc, char **argv, struct evidence_opts *o)
{
	static const struct option longopts[] = {
	    {"tee", required_argument, NULL, 't'},
	    {"report-data", required_argument, NULL, 'r'},
	    {"root", required_argument, NULL, 'R'},
	    {"tcti", required_argument, NULL, 'T'},
	    {NULL, 0, NULL, 0},
	};
	int rc = 0;
	int c;

	while (rc == 0) {
		c = getopt_long(argc, argv, "t:r:R:T:", longopts, NULL);
		if (c == -1) {
			break;
		}
		if (c == 't') {
			o->tee = optarg;
		} else if (c == 'r') {
			rc = parse_report_data(optarg, o);
		} else if (c == 'R') {
			o->root = optarg;
		} else if (c == 'T' && tpm_tcti_check(optarg) == 0) {
			o->tcti = optarg;
		} else if (c == 'T') {
			rc = evidence_usage("--tcti is not a valid TCTI",
					    optarg);
		} else {
			rc = evidence_usage("unknown option or missing value",
					    argv[optind - 1]);
		}
	}
	if (rc == 0 && optind != argc) {
		rc = evidence_usage("unexpected argument", argv[optind]);
	} else if (rc == 0 && o->tee == NULL) {
		rc = evidence_usage("evidence needs --tee", "");
	}
	return rc;
}

/* The named provider, or the detected one for "auto". */
static enum sp_err
evidence_provider(const struct evidence_opts *o,
		  const struct attest_provider **p)
{
	enum sp_err rc = SP_OK;

	if (strcmp(o->tee, ATTEST_TEE_AUTO) == 0) {
		rc = attest_detect(o->root, p);
	} else {
		*p = attest_find(o->tee);
		if (*p == NULL) {
			log_event(LOG_ERR, "init.evidence.failed",
				  "unsupported_tee", LOG_STR("tee", o->tee));
			rc = SP_E_USAGE;
		}
	}
	return rc;
}

int
evidence_cmd(int argc, char **argv)
{
	const struct attest_provider *p = NULL;
	struct evidence_opts o;
	char *json = NULL;
	enum sp_err rc;
	int ec;

	memset(&o, 0, sizeof(o));
	o.root = "";
	o.rdlen = EVIDENCE_CMD_RD_DEFAULT;
	ec = evidence_options(argc, argv, &o);
	if (ec != 0) {
		goto out;
	}

	tpm_set_options(o.tcti, TPM_AK_CREATE);
	rc = evidence_provider(&o, &p);
	if (rc == SP_OK) {
		rc = p->collect(o.root, o.rd, o.rdlen, &json);
	}
	if (rc != SP_OK) {
		log_event(LOG_ERR, "init.evidence.failed", sp_err_name(rc),
			  LOG_STR("tee", p != NULL ? p->tee : o.tee),
			  LOG_I64("exit_code", exitcode_for(rc)));
	} else if (printf("%s\n", json) < 0 || fflush(stdout) != 0) {
		rc = SP_E_INTERNAL;
	} else {
		log_event(LOG_INFO, "init.evidence.done", NULL,
			  LOG_STR("tee", p->tee),
			  LOG_U64("bytes", strlen(json)));
	}
	ec = exitcode_for(rc);
out:
	free(json);
	return ec;
}
