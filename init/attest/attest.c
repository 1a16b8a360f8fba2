/*
 * attest.c: the registry of evidence providers.
 *
 * Each provider lives in its own file under attest/ and exports one
 * const struct attest_provider. Adding a platform is adding that file and
 * its line in attest_providers[] below: the table is explicit because a
 * static library drops objects nothing references, which would silently
 * lose a provider that only registered itself.
 */
#include <stdio.h>
#include <string.h>

#include "attest.h"
#include "attest_providers.h"
#include "log.h"

/* Longest ", "-separated provider list we log. */
#define ATTEST_NAMES_MAX 256

/*
 * Table order is detection priority for "tee: auto": the most specific
 * platform first (Azure CVMs, then bare TDX and SNP), a plain TPM last;
 * sample never detects.
 */
static const struct attest_provider *const attest_providers[] = {
    &attest_sample,
    /* An Azure CVM may also show SNP or TDX to the guest, below the
     * paravisor (VMPL > 0): its HCL report is the more specific sign. */
    &attest_az_snp_vtpm,
    &attest_az_tdx_vtpm,
    &attest_tdx,
    &attest_snp,
    &attest_tpm,
    NULL,
};

const struct attest_provider *
attest_find(const char *tee)
{
	const struct attest_provider *rc = NULL;
	size_t i;

	if (tee == NULL) {
		goto out;
	}
	for (i = 0; attest_providers[i] != NULL; i++) {
		if (strcmp(attest_providers[i]->tee, tee) == 0) {
			rc = attest_providers[i];
			break;
		}
	}
out:
	return rc;
}

/* The development provider: evidence of nothing, never detected. */
static int
is_sample(const struct attest_provider *p)
{
	return strcmp(p->tee, "sample") == 0;
}

void
attest_list(char *out, size_t cap, int detectable)
{
	size_t i;
	size_t len = 0;
	int n;

	for (i = 0; attest_providers[i] != NULL && len + 1 < cap; i++) {
		if (detectable && is_sample(attest_providers[i])) {
			continue;
		}
		n = snprintf(out + len, cap - len, "%s%s", len > 0 ? ", " : "",
			     attest_providers[i]->tee);
		if (n < 0) {
			break;
		}
		len += (size_t)n;
	}
	if (cap > 0 && len == 0) {
		out[0] = '\0';
	}
}

enum sp_err
attest_detect(const char *root, const struct attest_provider **provider)
{
	const struct attest_provider *chosen = NULL;
	char names[ATTEST_NAMES_MAX];
	enum sp_err rc = SP_E_ATTEST;
	size_t i, found = 0;

	for (i = 0; attest_providers[i] != NULL; i++) {
		/* Evidence of nothing is never a fallback. */
		if (is_sample(attest_providers[i]) ||
		    !attest_providers[i]->detect(root)) {
			continue;
		}
		found++;
		if (chosen == NULL) {
			chosen = attest_providers[i];
		}
	}
	if (chosen == NULL) {
		attest_list(names, sizeof(names), 1);
		log_event(LOG_ERR, "attest.detect.failed", "no_tee_detected",
			  LOG_STR("root", root[0] == '\0' ? "/" : root),
			  LOG_STR("tried", names));
		goto out;
	}
	log_event(LOG_INFO, "attest.detect.chosen", NULL,
		  LOG_STR("tee", chosen->tee), LOG_U64("detected", found));
	*provider = chosen;
	rc = SP_OK;
out:
	return rc;
}
