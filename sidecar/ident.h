/*
 * ident.h: who the client is, from its verified certificate.
 *
 * With mutual TLS the sidecar checks a client certificate's identities
 * (subject CN, DNS SANs, URI SANs such as SPIFFE IDs) against allow
 * rules. A rule names one kind and a pattern in which '*' stands for one
 * or more characters within a single DNS label (dns), path segment (uri)
 * or anywhere (cn); e.g. "spiffe://gw.example/ns/ * /sa/gateway" (without
 * the spaces) or "*.gw.example". DNS names compare case-insensitively,
 * URIs and CNs exactly. Names with NUL bytes never match.
 */
#ifndef SEALPOD_IDENT_H
#define SEALPOD_IDENT_H

#include <stddef.h>

#include <openssl/x509.h>

/* Ceilings: allow rules, a pattern, an identity value we look at. */
#define IDENT_RULES_MAX	  64
#define IDENT_PATTERN_MAX 512
#define IDENT_VALUE_MAX	  512
#define IDENT_STARS_MAX	  8
#define IDENT_NAMES_MAX	  64 /* SAN entries examined per certificate */

enum ident_kind { IDENT_CN, IDENT_DNS, IDENT_URI };

struct ident_rule {
	enum ident_kind kind;
	char pattern[IDENT_PATTERN_MAX + 1];
	char text[IDENT_PATTERN_MAX + 8]; /* "uri:pattern", for logs */
};

/* What ident_check() found. */
struct ident_result {
	int allowed;
	const char *rule;		 /* rule text, "any" or NULL */
	char value[IDENT_VALUE_MAX + 1]; /* the identity that matched */
};

/*
 * Parse a CONF_RECORDS item with exactly one of "cn=", "dns=", "uri=".
 * Returns 0, or -1 with *problem set to a static description.
 */
int ident_parse(const char *record, struct ident_rule *out,
		const char **problem);

/* 1 when value[0..len) matches the rule's pattern. */
int ident_match(const struct ident_rule *r, const char *value, size_t len);

/*
 * Check the verified leaf x against rules[0..n). With no rules, any
 * certificate is allowed and its first URI SAN, else DNS SAN, else CN is
 * reported with rule "any". Fills res (never fails).
 */
void ident_check(X509 *x, const struct ident_rule *rules, size_t n,
		 struct ident_result *res);

#endif
