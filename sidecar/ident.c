/*
 * ident.c: client certificate identities against allow rules.
 */
#include <string.h>
#include <stdio.h>

#include <openssl/x509v3.h>

#include "ident.h"

static int
fold(int c, int nocase)
{
	return nocase && c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/*
 * Glob with '*' = one or more bytes other than sep (sep 0: any byte).
 * Recursion depth is bounded by the stars in p (IDENT_STARS_MAX).
 */
static int
glob(const char *p, const char *v, size_t len, int sep, int nocase)
{
	size_t k;
	int yes = 0;

	if (*p == '\0') {
		yes = len == 0;
	} else if (*p == '*') {
		for (k = 1; k <= len && !yes; k++) {
			if (sep != 0 && v[k - 1] == sep) {
				break;
			}
			yes = glob(p + 1, v + k, len - k, sep, nocase);
		}
	} else if (len > 0 && fold((unsigned char)*p, nocase) ==
				  fold((unsigned char)*v, nocase)) {
		yes = glob(p + 1, v + 1, len - 1, sep, nocase);
	}
	return yes;
}

int
ident_match(const struct ident_rule *r, const char *value, size_t len)
{
	int sep = r->kind == IDENT_DNS ? '.' : r->kind == IDENT_URI ? '/' : 0;
	int yes = 0;

	if (len <= IDENT_VALUE_MAX && memchr(value, '\0', len) == NULL) {
		yes = glob(r->pattern, value, len, sep, r->kind == IDENT_DNS);
	}
	return yes;
}

int
ident_parse(const char *record, struct ident_rule *out, const char **problem)
{
	static const char *const kinds[] = {"cn=", "dns=", "uri="};
	const char *nl = strchr(record, '\n');
	size_t len = nl != NULL ? (size_t)(nl - record) : strlen(record);
	size_t i;
	size_t klen;
	size_t stars = 0;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	*problem = "expected exactly one of cn, dns, uri";
	if (nl == NULL || nl[1] != '\0') {
		goto out;
	}
	for (i = 0; i < 3; i++) {
		klen = strlen(kinds[i]);
		if (len > klen && strncmp(record, kinds[i], klen) == 0) {
			break;
		}
	}
	if (i == 3) {
		goto out;
	}
	len -= klen;
	*problem = "pattern longer than 512 bytes";
	if (len > IDENT_PATTERN_MAX) {
		goto out;
	}
	memcpy(out->pattern, record + klen, len);
	for (i = 0; i < len; i++) {
		stars += out->pattern[i] == '*';
	}
	*problem = "more than 8 wildcards, or two in a row";
	if (stars > IDENT_STARS_MAX || strstr(out->pattern, "**") != NULL) {
		goto out;
	}
	out->kind = record[0] == 'c'   ? IDENT_CN
		    : record[0] == 'd' ? IDENT_DNS
				       : IDENT_URI;
	snprintf(out->text, sizeof(out->text), "%.*s:%s", (int)klen - 1, record,
		 out->pattern);
	*problem = NULL;
	rc = 0;
out:
	return rc;
}

static void
keep(struct ident_result *res, const char *rule, const char *v, size_t len)
{
	res->allowed = 1;
	res->rule = rule;
	if (len > IDENT_VALUE_MAX) {
		len = IDENT_VALUE_MAX;
	}
	memcpy(res->value, v, len);
	res->value[len] = '\0';
}

/* Try one name of the given kind against the rules. */
static void
try_name(const struct ident_rule *rules, size_t n, enum ident_kind kind,
	 const char *v, size_t len, struct ident_result *res)
{
	size_t i;

	for (i = 0; i < n && !res->allowed; i++) {
		if (rules[i].kind == kind && ident_match(&rules[i], v, len)) {
			keep(res, rules[i].text, v, len);
		}
	}
}

/* URI SANs first (pass 0), then DNS SANs (pass 1). */
static void
check_sans(X509 *x, const struct ident_rule *rules, size_t n, int any,
	   struct ident_result *res)
{
	GENERAL_NAMES *names =
	    X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	const GENERAL_NAME *g;
	const ASN1_STRING *s;
	int want;
	int pass;
	int i;
	int count = names != NULL ? sk_GENERAL_NAME_num(names) : 0;

	if (count > IDENT_NAMES_MAX) {
		count = IDENT_NAMES_MAX;
	}
	for (pass = 0; pass < 2 && !res->allowed; pass++) {
		want = pass == 0 ? GEN_URI : GEN_DNS;
		for (i = 0; i < count && !res->allowed; i++) {
			g = sk_GENERAL_NAME_value(names, i);
			if (g->type != want) {
				continue;
			}
			s = want == GEN_URI ? g->d.uniformResourceIdentifier
					    : g->d.dNSName;
			if (any) {
				keep(res, "any", (const char *)s->data,
				     (size_t)s->length);
			} else {
				try_name(rules, n,
					 want == GEN_URI ? IDENT_URI
							 : IDENT_DNS,
					 (const char *)s->data,
					 (size_t)s->length, res);
			}
		}
	}
	GENERAL_NAMES_free(names);
}

static void
check_cns(X509 *x, const struct ident_rule *rules, size_t n, int any,
	  struct ident_result *res)
{
	X509_NAME *subj = X509_get_subject_name(x);
	const ASN1_STRING *s;
	int i = -1;

	for (;;) {
		i = X509_NAME_get_index_by_NID(subj, NID_commonName, i);
		if (i < 0 || res->allowed) {
			break;
		}
		/* XXX: compared as stored; a BMPString CN never matches. */
		s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));
		if (any) {
			keep(res, "any", (const char *)s->data,
			     (size_t)s->length);
		} else {
			try_name(rules, n, IDENT_CN, (const char *)s->data,
				 (size_t)s->length, res);
		}
	}
}

void
ident_check(X509 *x, const struct ident_rule *rules, size_t n,
	    struct ident_result *res)
{
	memset(res, 0, sizeof(*res));
	if (x == NULL) {
		goto out;
	}
	check_sans(x, rules, n, n == 0, res);
	if (!res->allowed) {
		check_cns(x, rules, n, n == 0, res);
	}
	if (!res->allowed && n == 0) {
		/* A verified certificate without names is still allowed. */
		keep(res, "any", "-", 1);
	}
out:
	return;
}
