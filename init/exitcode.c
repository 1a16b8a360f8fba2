/*
 * exitcode.c: error category to sealpod-init exit status.
 */
#include <stdio.h>
#include <unistd.h>

#include "exitcode.h"
#include "log.h"

/* exitcode_usage() ran: the command line was refused. */
static int exitcode_usage_flag;

int
exitcode_for(enum sp_err e)
{
	int rc = EXIT_INTERNAL;

	switch (e) {
	case SP_OK:
		rc = 0;
		break;
	case SP_E_USAGE:
		rc = EXIT_USAGE;
		break;
	case SP_E_ATTEST:
		rc = EXIT_ATTEST;
		break;
	case SP_E_POLICY:
		rc = EXIT_POLICY;
		break;
	case SP_E_NOTFOUND:
		rc = EXIT_NOTFOUND;
		break;
	case SP_E_FETCH:
		rc = EXIT_FETCH;
		break;
	case SP_E_INTEGRITY:
		rc = EXIT_INTEGRITY;
		break;
	case SP_E_TARGET:
		rc = EXIT_TARGET;
		break;
	case SP_E_PROTOCOL:
	case SP_E_INTERNAL:
		rc = EXIT_INTERNAL;
		break;
	}
	return rc;
}

int
exitcode_usage(const char *problem, const char *arg, const char *hint)
{
	log_event(LOG_ERR, "init.usage.invalid", "usage",
		  LOG_STR("problem", problem), LOG_STR("argument", arg));
	if (hint != NULL && isatty(STDERR_FILENO)) {
		fputs(hint, stderr);
	}
	exitcode_usage_flag = 1;
	return EXIT_USAGE;
}

int
exitcode_usage_seen(void)
{
	return exitcode_usage_flag;
}
