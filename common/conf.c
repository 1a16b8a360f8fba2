/*
 * conf.c: YAML configuration through keyword tables, over libyaml's event
 * API.
 *
 * The walk only descends into mappings whose dotted path is a prefix of
 * some table key, so recursion depth is bounded by the table, not by the
 * file; anything else is skipped iteratively. Values are parsed into a
 * scratch array, one slot per table entry, and copied into the caller's
 * struct only when the whole file validated.
 *
 * Refused outright: anchors and aliases (no billion laughs, and one
 * spelling per value), explicit tags, complex keys, keys containing '.',
 * several documents, invalid UTF-8 and NUL bytes.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "conf.h"
#include "json.h"
#include "utf8.h"
#include "util.h"

/* Longest dotted key path we look up; longer keys are unknown anyway. */
#define CONF_PATH_MAX 256
/* Stop collecting after this many problems. */
#define CONF_ERRORS_MAX 50
/* Room for every message plus the path of the file on each line. */
#define CONF_ERRTEXT_MAX ((CONF_ERRORS_MAX + 1) * (PATH_MAX + 1024))

struct conf_val {
	int seen;    /* the key appeared (valid or not) */
	size_t line; /* where it first appeared */
	int set;     /* a valid value is in s, u, b or list */
	char *s;
	uint64_t u;
	int b;
	char **list;
};

/* A mapping we descended into, to catch a second "kbs:" block. */
struct conf_prefix {
	char path[CONF_PATH_MAX];
	size_t line;
};

struct conf_ctx {
	const char *file;
	const struct conf_key *table;
	size_t nkeys;
	struct conf_val *vals;
	struct conf_prefix *prefixes;
	size_t nprefixes;
	size_t maxprefixes;
	yaml_parser_t parser;
	struct strbuf errs;
	size_t nerrs;
	int stop;     /* syntax error or too many errors: parse no further */
	int oom;      /* allocation failed */
	size_t line0; /* line of the root mapping */
};

static void conf_errf(struct conf_ctx *ctx, size_t line, const char *key,
		      const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
conf_errf(struct conf_ctx *ctx, size_t line, const char *key, const char *fmt,
	  ...)
{
	va_list ap;
	char msg[512];

	if (ctx->nerrs >= CONF_ERRORS_MAX) {
		ctx->stop = 1;
		goto out;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	strbuf_appendf(&ctx->errs, "%s%s:%zu: %s: %s",
		       ctx->nerrs > 0 ? "\n" : "", ctx->file, line, key, msg);
	ctx->nerrs++;
	if (ctx->nerrs == CONF_ERRORS_MAX) {
		strbuf_appendf(&ctx->errs, "\n%s:%zu: (file): too many errors",
			       ctx->file, line);
		ctx->stop = 1;
	}
out:
	return;
}

static size_t
ev_line(const yaml_event_t *ev)
{
	return ev->start_mark.line + 1;
}

/* Next event, or -1 after recording the syntax error. */
static int
conf_next(struct conf_ctx *ctx, yaml_event_t *ev)
{
	int rc = -1;

	if (ctx->stop) {
		goto out;
	}
	if (!yaml_parser_parse(&ctx->parser, ev)) {
		conf_errf(ctx, ctx->parser.problem_mark.line + 1, "(syntax)",
			  "%s",
			  ctx->parser.problem != NULL ? ctx->parser.problem
						      : "malformed YAML");
		ctx->stop = 1;
		goto out;
	}
	rc = 0;
out:
	return rc;
}

/* The anchor and tag of a node event, when it has them. */
static void
ev_props(const yaml_event_t *ev, const yaml_char_t **anchor,
	 const yaml_char_t **tag)
{
	*anchor = NULL;
	*tag = NULL;
	if (ev->type == YAML_SCALAR_EVENT) {
		*anchor = ev->data.scalar.anchor;
		*tag = ev->data.scalar.tag;
	} else if (ev->type == YAML_MAPPING_START_EVENT) {
		*anchor = ev->data.mapping_start.anchor;
		*tag = ev->data.mapping_start.tag;
	} else if (ev->type == YAML_SEQUENCE_START_EVENT) {
		*anchor = ev->data.sequence_start.anchor;
		*tag = ev->data.sequence_start.tag;
	}
}

/* Refuse aliases, anchors and tags. Returns 0 when the node is plain. */
static int
conf_node_ok(struct conf_ctx *ctx, const yaml_event_t *ev, const char *key)
{
	const yaml_char_t *anchor;
	const yaml_char_t *tag;
	int rc = -1;

	ev_props(ev, &anchor, &tag);
	if (ev->type == YAML_ALIAS_EVENT) {
		conf_errf(ctx, ev_line(ev), key, "aliases are not allowed");
	} else if (anchor != NULL) {
		conf_errf(ctx, ev_line(ev), key, "anchors are not allowed");
	} else if (tag != NULL) {
		conf_errf(ctx, ev_line(ev), key, "tags are not allowed");
	} else {
		rc = 0;
	}
	return rc;
}

/*
 * Consume the rest of the node that ev starts (nothing for a scalar or
 * alias), iteratively, so a deeply nested unknown value costs no stack.
 */
static int
conf_skip(struct conf_ctx *ctx, const yaml_event_t *ev)
{
	yaml_event_t e;
	size_t depth = 0;
	int rc = 0;

	if (ev->type == YAML_MAPPING_START_EVENT ||
	    ev->type == YAML_SEQUENCE_START_EVENT) {
		depth = 1;
	}
	while (depth > 0) {
		if (conf_next(ctx, &e) != 0) {
			rc = -1;
			break;
		}
		if (e.type == YAML_MAPPING_START_EVENT ||
		    e.type == YAML_SEQUENCE_START_EVENT) {
			depth++;
		} else if (e.type == YAML_MAPPING_END_EVENT ||
			   e.type == YAML_SEQUENCE_END_EVENT) {
			depth--;
		}
		yaml_event_delete(&e);
	}
	return rc;
}

static const char *
ev_kind(const yaml_event_t *ev)
{
	const char *kind = "a scalar";

	if (ev->type == YAML_MAPPING_START_EVENT) {
		kind = "a mapping";
	} else if (ev->type == YAML_SEQUENCE_START_EVENT) {
		kind = "a list";
	} else if (ev->type == YAML_ALIAS_EVENT) {
		kind = "an alias";
	}
	return kind;
}

static long
conf_find(const struct conf_ctx *ctx, const char *path)
{
	size_t i;
	long rc = -1;

	for (i = 0; i < ctx->nkeys; i++) {
		if (strcmp(ctx->table[i].name, path) == 0) {
			rc = (long)i;
			break;
		}
	}
	return rc;
}

/* 1 when some table key starts with path followed by a dot. */
static int
conf_is_prefix(const struct conf_ctx *ctx, const char *path)
{
	size_t n = strlen(path);
	size_t i;
	int rc = 0;

	for (i = 0; i < ctx->nkeys; i++) {
		if (strncmp(ctx->table[i].name, path, n) == 0 &&
		    ctx->table[i].name[n] == '.') {
			rc = 1;
			break;
		}
	}
	return rc;
}

/*
 * A string scalar: not empty, at most CONF_STR_MAX bytes, no NUL. Returns
 * a malloc'd copy or NULL after recording the problem.
 */
static char *
conf_string(struct conf_ctx *ctx, const yaml_event_t *ev, const char *key)
{
	const char *v = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	char *s = NULL;

	if (ev->type != YAML_SCALAR_EVENT) {
		conf_errf(ctx, ev_line(ev), key, "expected a string, got %s",
			  ev_kind(ev));
	} else if (len == 0) {
		conf_errf(ctx, ev_line(ev), key, "empty value");
	} else if (len > CONF_STR_MAX) {
		conf_errf(ctx, ev_line(ev), key, "longer than %d bytes",
			  CONF_STR_MAX);
	} else if (memchr(v, '\0', len) != NULL) {
		conf_errf(ctx, ev_line(ev), key, "contains a NUL byte");
	} else {
		s = strndup(v, len);
		if (s == NULL) {
			ctx->oom = 1;
			ctx->stop = 1;
		}
	}
	return s;
}

/* True for an unquoted scalar, the only kind numbers and booleans take. */
static int
ev_plain(const yaml_event_t *ev)
{
	return ev->type == YAML_SCALAR_EVENT &&
	       ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static void
conf_u64(struct conf_ctx *ctx, const yaml_event_t *ev, const struct conf_key *k,
	 struct conf_val *val)
{
	const char *v = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	uint64_t max = k->max != 0 ? k->max : UINT64_MAX;

	if (!ev_plain(ev)) {
		conf_errf(ctx, ev_line(ev), k->name,
			  "expected a number, got a quoted string");
	} else if (len == 0 || strspn(v, "0123456789") != len) {
		conf_errf(ctx, ev_line(ev), k->name, "expected a number");
	} else if (parse_u64(v, k->min, max, &val->u) != 0) {
		conf_errf(ctx, ev_line(ev), k->name,
			  "out of range [%llu, %llu]",
			  (unsigned long long)k->min, (unsigned long long)max);
	} else {
		val->set = 1;
	}
}

static void
conf_bool(struct conf_ctx *ctx, const yaml_event_t *ev,
	  const struct conf_key *k, struct conf_val *val)
{
	const char *v = (const char *)ev->data.scalar.value;

	/* Only the two YAML 1.2 spellings: no yes/no/on/off. */
	if (ev_plain(ev) && strcmp(v, "true") == 0) {
		val->b = 1;
		val->set = 1;
	} else if (ev_plain(ev) && strcmp(v, "false") == 0) {
		val->b = 0;
		val->set = 1;
	} else {
		conf_errf(ctx, ev_line(ev), k->name, "expected true or false");
	}
}

static void
conf_list_free(char **list)
{
	size_t i;

	for (i = 0; list != NULL && list[i] != NULL; i++) {
		free(list[i]);
	}
	free(list);
}

/* The items of a sequence whose start event was already read. */
static void
conf_list(struct conf_ctx *ctx, const yaml_event_t *start,
	  const struct conf_key *k, struct conf_val *val)
{
	char **list = NULL;
	char item[CONF_PATH_MAX + 16];
	yaml_event_t ev;
	size_t n = 0;
	int bad = 0;

	list = calloc(CONF_LIST_MAX + 1, sizeof(*list));
	if (list == NULL) {
		ctx->oom = 1;
		ctx->stop = 1;
		bad = 1;
	}
	while (conf_next(ctx, &ev) == 0) {
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		snprintf(item, sizeof(item), "%s[%zu]", k->name, n);
		if (n == CONF_LIST_MAX) {
			conf_errf(ctx, ev_line(&ev), k->name,
				  "more than %d items", CONF_LIST_MAX);
			bad = 1;
		}
		if (n < CONF_LIST_MAX && conf_node_ok(ctx, &ev, item) != 0) {
			bad = 1;
		} else if (n < CONF_LIST_MAX && !bad) {
			list[n] = conf_string(ctx, &ev, item);
			bad = list[n] == NULL;
		}
		n++;
		if (conf_skip(ctx, &ev) != 0) {
			bad = 1;
		}
		yaml_event_delete(&ev);
	}
	(void)start;
	if (bad || ctx->stop) {
		conf_list_free(list);
	} else {
		val->list = list;
		val->set = 1;
	}
}

/* One "key=value" line of a record; the value must be a plain string. */
static int
conf_record_line(struct conf_ctx *ctx, const yaml_event_t *ev, const char *item,
		 const char *key, const char *suffix, struct strbuf *sb)
{
	char *v;
	int rc = -1;

	if (conf_node_ok(ctx, ev, item) != 0) {
		goto out;
	}
	v = conf_string(ctx, ev, item);
	if (v == NULL) {
		goto out;
	}
	if (strchr(v, '\n') != NULL || strchr(v, '\r') != NULL) {
		conf_errf(ctx, ev_line(ev), item, "contains a line break");
	} else {
		strbuf_appendf(sb, "%s%s=%s\n", key, suffix, v);
		rc = 0;
	}
	free(v);
out:
	return rc;
}

/* A record value that is a list of strings; its start was read. */
static int
conf_record_list(struct conf_ctx *ctx, const char *item, const char *key,
		 struct strbuf *sb)
{
	yaml_event_t ev;
	size_t n = 0;
	int rc = 0;

	while (conf_next(ctx, &ev) == 0) {
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (n++ == CONF_LIST_MAX) {
			conf_errf(ctx, ev_line(&ev), item, "more than %d items",
				  CONF_LIST_MAX);
			rc = -1;
		}
		if (rc == 0 &&
		    conf_record_line(ctx, &ev, item, key, "[]", sb) != 0) {
			rc = -1;
		}
		if (conf_skip(ctx, &ev) != 0) {
			rc = -1;
		}
		yaml_event_delete(&ev);
	}
	if (n == 0 && rc == 0) {
		conf_errf(ctx, ctx->parser.mark.line + 1, item, "empty list");
		rc = -1;
	}
	return rc;
}

/* One pair of a record mapping; kev is the key. */
static int
conf_record_pair(struct conf_ctx *ctx, const yaml_event_t *kev,
		 const char *item, struct strbuf *sb)
{
	char path[2 * CONF_PATH_MAX + 32];
	char *key = NULL;
	yaml_event_t vev;
	int rc = -1;

	key = conf_string(ctx, kev, item);
	if (kev->type != YAML_SCALAR_EVENT) {
		(void)conf_skip(ctx, kev);
	}
	if (conf_next(ctx, &vev) != 0) {
		goto out;
	}
	if (key != NULL &&
	    (strpbrk(key, "=[]\n\r") != NULL || strlen(key) > CONF_PATH_MAX)) {
		conf_errf(ctx, ev_line(kev), item, "invalid key name");
		free(key);
		key = NULL;
	}
	snprintf(path, sizeof(path), "%s.%s", item, key != NULL ? key : "?");
	if (key == NULL) {
		(void)conf_skip(ctx, &vev);
	} else if (vev.type == YAML_SEQUENCE_START_EVENT &&
		   conf_node_ok(ctx, &vev, path) == 0) {
		rc = conf_record_list(ctx, path, key, sb);
	} else if (vev.type == YAML_SEQUENCE_START_EVENT ||
		   vev.type == YAML_MAPPING_START_EVENT) {
		if (vev.type == YAML_MAPPING_START_EVENT) {
			conf_errf(ctx, ev_line(&vev), path,
				  "expected a string or a list, got %s",
				  ev_kind(&vev));
		}
		(void)conf_skip(ctx, &vev);
	} else {
		rc = conf_record_line(ctx, &vev, path, key, "", sb);
	}
	yaml_event_delete(&vev);
out:
	free(key);
	return rc;
}

/* One record (a mapping) as text; start is its first event. */
static char *
conf_record(struct conf_ctx *ctx, const yaml_event_t *start, const char *item)
{
	struct strbuf sb;
	yaml_event_t kev;
	int bad = 0;

	strbuf_init(&sb, CONF_RECORD_MAX);
	if (start->type != YAML_MAPPING_START_EVENT) {
		conf_errf(ctx, ev_line(start), item,
			  "expected a mapping, got %s", ev_kind(start));
		(void)conf_skip(ctx, start);
		bad = 1;
		goto out;
	}
	while (conf_next(ctx, &kev) == 0) {
		if (kev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&kev);
			break;
		}
		if (conf_record_pair(ctx, &kev, item, &sb) != 0) {
			bad = 1;
		}
		yaml_event_delete(&kev);
	}
	strbuf_append(&sb, "", 1);
	if (!bad && !strbuf_ok(&sb)) {
		conf_errf(ctx, ev_line(start), item, "longer than %d bytes",
			  CONF_RECORD_MAX);
		bad = 1;
	}
out:
	if (bad || ctx->stop) {
		strbuf_free(&sb);
	}
	return bad || ctx->stop ? NULL : sb.buf;
}

/* The records of a sequence whose start event was already read. */
static void
conf_records(struct conf_ctx *ctx, const struct conf_key *k,
	     struct conf_val *val)
{
	char **list = NULL;
	char item[CONF_PATH_MAX + 16];
	yaml_event_t ev;
	size_t n = 0;
	int bad = 0;

	list = calloc(CONF_LIST_MAX + 1, sizeof(*list));
	if (list == NULL) {
		ctx->oom = 1;
		ctx->stop = 1;
		bad = 1;
	}
	while (conf_next(ctx, &ev) == 0) {
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		snprintf(item, sizeof(item), "%s[%zu]", k->name, n);
		if (n >= CONF_LIST_MAX) {
			if (n == CONF_LIST_MAX) {
				conf_errf(ctx, ev_line(&ev), k->name,
					  "more than %d items", CONF_LIST_MAX);
			}
			bad = 1;
			(void)conf_skip(ctx, &ev);
		} else if (conf_node_ok(ctx, &ev, item) != 0) {
			bad = 1;
			(void)conf_skip(ctx, &ev);
		} else {
			list[n] = conf_record(ctx, &ev, item);
			bad |= list[n] == NULL;
		}
		n++;
		yaml_event_delete(&ev);
	}
	if (bad || ctx->stop) {
		conf_list_free(list);
	} else {
		val->list = list;
		val->set = 1;
	}
}

/* The value of table key idx (key on line kline); ev is its first event. */
static void
conf_value(struct conf_ctx *ctx, const yaml_event_t *ev, size_t idx,
	   size_t kline)
{
	const struct conf_key *k = &ctx->table[idx];
	struct conf_val *val = &ctx->vals[idx];

	if (val->seen) {
		conf_errf(ctx, kline, k->name,
			  "duplicate key (first on line %zu)", val->line);
		goto out;
	}
	val->seen = 1;
	val->line = kline;
	if (conf_node_ok(ctx, ev, k->name) != 0) {
		goto out;
	}

	if (k->type == CONF_LIST && ev->type != YAML_SEQUENCE_START_EVENT) {
		conf_errf(ctx, ev_line(ev), k->name, "expected a list, got %s",
			  ev_kind(ev));
	} else if (k->type == CONF_LIST) {
		conf_list(ctx, ev, k, val);
		goto done;
	} else if (k->type == CONF_RECORDS &&
		   ev->type != YAML_SEQUENCE_START_EVENT) {
		conf_errf(ctx, ev_line(ev), k->name,
			  "expected a list of mappings, got %s", ev_kind(ev));
	} else if (k->type == CONF_RECORDS) {
		conf_records(ctx, k, val);
		goto done;
	} else if (k->type == CONF_STR) {
		val->s = conf_string(ctx, ev, k->name);
		val->set = val->s != NULL;
	} else if (ev->type != YAML_SCALAR_EVENT) {
		conf_errf(ctx, ev_line(ev), k->name, "expected %s, got %s",
			  k->type == CONF_BOOL ? "true or false" : "a number",
			  ev_kind(ev));
	} else if (k->type == CONF_U64) {
		conf_u64(ctx, ev, k, val);
	} else {
		conf_bool(ctx, ev, k, val);
	}
out:
	(void)conf_skip(ctx, ev);
done:
	return;
}

static void conf_mapping(struct conf_ctx *ctx, const char *prefix);

/* A known intermediate key such as "kbs": its value must be a mapping. */
static void
conf_section(struct conf_ctx *ctx, const yaml_event_t *ev, const char *path,
	     size_t kline)
{
	size_t i;

	for (i = 0; i < ctx->nprefixes; i++) {
		if (strcmp(ctx->prefixes[i].path, path) == 0) {
			conf_errf(ctx, kline, path,
				  "duplicate key (first on line %zu)",
				  ctx->prefixes[i].line);
			goto skip;
		}
	}
	if (ctx->nprefixes < ctx->maxprefixes) {
		snprintf(ctx->prefixes[ctx->nprefixes].path, CONF_PATH_MAX,
			 "%s", path);
		ctx->prefixes[ctx->nprefixes].line = kline;
		ctx->nprefixes++;
	}
	if (conf_node_ok(ctx, ev, path) != 0) {
		goto skip;
	}
	if (ev->type != YAML_MAPPING_START_EVENT) {
		conf_errf(ctx, ev_line(ev), path, "expected a mapping, got %s",
			  ev_kind(ev));
		goto skip;
	}
	conf_mapping(ctx, path);
	goto out;
skip:
	(void)conf_skip(ctx, ev);
out:
	return;
}

/* Key text joined to prefix, or -1 with the problem recorded. */
static int
conf_key_path(struct conf_ctx *ctx, const yaml_event_t *kev, const char *prefix,
	      char *path)
{
	const char *k = (const char *)kev->data.scalar.value;
	size_t klen = kev->data.scalar.length;
	const char *where = prefix[0] != '\0' ? prefix : "(root)";
	int n;
	int rc = -1;

	if (kev->type != YAML_SCALAR_EVENT) {
		conf_errf(ctx, ev_line(kev), where, "keys must be scalars");
		goto out;
	}
	if (klen == 0 || memchr(k, '.', klen) != NULL ||
	    memchr(k, '\0', klen) != NULL) {
		conf_errf(ctx, ev_line(kev), where, "invalid key name");
		goto out;
	}
	n = snprintf(path, CONF_PATH_MAX, "%s%s%.*s", prefix,
		     prefix[0] != '\0' ? "." : "", (int)klen, k);
	if (n < 0 || n >= CONF_PATH_MAX) {
		conf_errf(ctx, ev_line(kev), where, "key name too long");
		goto out;
	}
	rc = 0;
out:
	return rc;
}

/* One "key: value" pair of the mapping at prefix; kev is the key. */
static void
conf_pair(struct conf_ctx *ctx, const yaml_event_t *kev, const char *prefix)
{
	char path[CONF_PATH_MAX];
	yaml_event_t vev;
	int key_ok;
	long idx;

	key_ok = conf_node_ok(ctx, kev, prefix[0] ? prefix : "(root)") == 0 &&
		 conf_key_path(ctx, kev, prefix, path) == 0;
	if (kev->type != YAML_SCALAR_EVENT) {
		(void)conf_skip(ctx, kev);
	}
	if (conf_next(ctx, &vev) != 0) {
		goto out;
	}

	idx = key_ok ? conf_find(ctx, path) : -1;
	if (!key_ok) {
		(void)conf_skip(ctx, &vev);
	} else if (idx >= 0) {
		conf_value(ctx, &vev, (size_t)idx, ev_line(kev));
	} else if (conf_is_prefix(ctx, path)) {
		conf_section(ctx, &vev, path, ev_line(kev));
	} else {
		conf_errf(ctx, ev_line(kev), path, "unknown key");
		(void)conf_skip(ctx, &vev);
	}
	yaml_event_delete(&vev);
out:
	return;
}

/* The pairs of a mapping whose start event was already read. */
static void
conf_mapping(struct conf_ctx *ctx, const char *prefix)
{
	yaml_event_t kev;

	while (conf_next(ctx, &kev) == 0) {
		if (kev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&kev);
			break;
		}
		conf_pair(ctx, &kev, prefix);
		yaml_event_delete(&kev);
	}
}

/* The root node of the document whose start event was already read. */
static void
conf_root(struct conf_ctx *ctx)
{
	yaml_event_t ev;

	if (conf_next(ctx, &ev) != 0) {
		goto out;
	}
	ctx->line0 = ev_line(&ev);
	if (conf_node_ok(ctx, &ev, "(root)") != 0) {
		(void)conf_skip(ctx, &ev);
	} else if (ev.type == YAML_MAPPING_START_EVENT) {
		conf_mapping(ctx, "");
	} else if (ev.type != YAML_SCALAR_EVENT || ev.data.scalar.length != 0) {
		/* An empty document is an empty mapping; all else is not. */
		conf_errf(ctx, ev_line(&ev), "(root)",
			  "expected a mapping, got %s", ev_kind(&ev));
		(void)conf_skip(ctx, &ev);
	}
	yaml_event_delete(&ev);
out:
	return;
}

/* The stream: at most one document. */
static void
conf_stream(struct conf_ctx *ctx)
{
	yaml_event_t ev;
	int docs = 0;

	while (conf_next(ctx, &ev) == 0) {
		if (ev.type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (ev.type == YAML_DOCUMENT_START_EVENT && docs > 0) {
			conf_errf(ctx, ev_line(&ev), "(file)",
				  "more than one document");
			ctx->stop = 1;
		} else if (ev.type == YAML_DOCUMENT_START_EVENT) {
			docs++;
			conf_root(ctx);
		}
		yaml_event_delete(&ev);
	}
}

static void
conf_required(struct conf_ctx *ctx)
{
	size_t i;

	for (i = 0; i < ctx->nkeys && !ctx->stop; i++) {
		if (ctx->table[i].required && !ctx->vals[i].seen) {
			conf_errf(ctx, ctx->line0, ctx->table[i].name,
				  "missing required key");
		}
	}
}

/* Line (1-based) of the first byte that is NUL or not valid UTF-8. */
static size_t
conf_bad_text_line(const char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)buf;
	size_t line = 1;
	size_t i = 0;
	size_t step;
	uint32_t cp;
	size_t rc = 0;

	while (i < len) {
		step = utf8_decode(p + i, len - i, &cp);
		if (step == 0 || cp == 0) {
			rc = line;
			break;
		}
		line += cp == '\n';
		i += step;
	}
	return rc;
}

/* Move every valid value into the caller's struct. */
static void
conf_commit(struct conf_ctx *ctx, void *out)
{
	const struct conf_key *k;
	struct conf_val *val;
	char *field;
	size_t i;

	for (i = 0; i < ctx->nkeys; i++) {
		k = &ctx->table[i];
		val = &ctx->vals[i];
		field = (char *)out + k->offset;
		if (!val->set) {
			continue;
		}
		if (k->type == CONF_STR) {
			free(*(char **)field);
			*(char **)field = val->s;
			val->s = NULL;
		} else if (k->type == CONF_LIST || k->type == CONF_RECORDS) {
			conf_list_free(*(char ***)field);
			*(char ***)field = val->list;
			val->list = NULL;
		} else if (k->type == CONF_U64) {
			*(uint64_t *)field = val->u;
		} else {
			*(int *)field = val->b;
		}
	}
}

static enum sp_err
conf_ctx_init(struct conf_ctx *ctx, const char *path,
	      const struct conf_key *table)
{
	size_t i;
	const char *p;
	enum sp_err rc = SP_E_INTERNAL;

	memset(ctx, 0, sizeof(*ctx));
	ctx->file = path;
	ctx->table = table;
	ctx->line0 = 1;
	strbuf_init(&ctx->errs, CONF_ERRTEXT_MAX);
	for (i = 0; table[i].name != NULL; i++) {
		/* Every dot in a key names one possible section. */
		for (p = table[i].name; *p != '\0'; p++) {
			ctx->maxprefixes += *p == '.';
		}
	}
	ctx->nkeys = i;

	ctx->vals = calloc(ctx->nkeys + 1, sizeof(*ctx->vals));
	ctx->prefixes = calloc(ctx->maxprefixes + 1, sizeof(*ctx->prefixes));
	if (ctx->vals == NULL || ctx->prefixes == NULL) {
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

static void
conf_ctx_free(struct conf_ctx *ctx)
{
	size_t i;

	for (i = 0; ctx->vals != NULL && i < ctx->nkeys; i++) {
		free(ctx->vals[i].s);
		conf_list_free(ctx->vals[i].list);
	}
	free(ctx->vals);
	free(ctx->prefixes);
	strbuf_free(&ctx->errs);
}

/*
 * Line of the first flow collection ("[", "{") nested deeper than
 * CONF_FLOW_DEPTH_MAX, or 0. libyaml's scanner slows down
 * quadratically on deep flow nesting (a 250 KB file of "[" costs a
 * minute of CPU), and no configuration needs more than a few levels,
 * so the text is refused before libyaml sees it. Quoted scalars and
 * comments are skipped.
 */
static size_t
conf_deep_flow_line(const char *buf, size_t len)
{
	size_t i, line = 1, depth = 0, rc = 0;
	char quote = 0;
	int comment = 0;

	for (i = 0; i < len && rc == 0; i++) {
		char c = buf[i];

		if (c == '\n') {
			line++;
			comment = 0;
		} else if (comment) {
			continue;
		} else if (quote != 0) {
			if (c == '\\' && quote == '"' && i + 1 < len) {
				i++;
			} else if (c == quote) {
				quote = 0;
			}
		} else if (c == '"' || c == '\'') {
			quote = c;
		} else if (c == '#') {
			comment = 1;
		} else if (c == '[' || c == '{') {
			if (++depth > CONF_FLOW_DEPTH_MAX) {
				rc = line;
			}
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return rc;
}

/* Parse buf into ctx->vals, collecting problems into ctx->errs. */
static enum sp_err
conf_parse(struct conf_ctx *ctx, const char *buf, size_t len)
{
	size_t bad;
	enum sp_err rc = SP_E_INTERNAL;

	bad = conf_bad_text_line(buf, len);
	if (bad != 0) {
		conf_errf(ctx, bad, "(file)", "invalid UTF-8 or NUL byte");
		rc = SP_E_USAGE;
		goto out;
	}
	bad = conf_deep_flow_line(buf, len);
	if (bad != 0) {
		conf_errf(ctx, bad, "(syntax)",
			  "flow collections nested deeper than %d",
			  CONF_FLOW_DEPTH_MAX);
		rc = SP_E_USAGE;
		goto out;
	}

	if (!yaml_parser_initialize(&ctx->parser)) {
		goto out;
	}
	/* UTF-8 only: no BOM sniffing into UTF-16. */
	yaml_parser_set_encoding(&ctx->parser, YAML_UTF8_ENCODING);
	yaml_parser_set_input_string(&ctx->parser, (const unsigned char *)buf,
				     len);
	conf_stream(ctx);
	yaml_parser_delete(&ctx->parser);
	conf_required(ctx);

	rc = SP_OK;
	if (ctx->oom || !strbuf_ok(&ctx->errs)) {
		rc = SP_E_INTERNAL;
	} else if (ctx->nerrs > 0) {
		rc = SP_E_USAGE;
	}
out:
	return rc;
}

/* A whole-file problem (errno from file_read_all) as the errs text. */
static char *
conf_file_err(const char *path, int e)
{
	struct strbuf sb;

	strbuf_init(&sb, CONF_ERRTEXT_MAX);
	if (e == EFBIG) {
		strbuf_appendf(&sb, "%s:1: (file): larger than %d bytes", path,
			       CONF_FILE_MAX);
	} else {
		strbuf_appendf(&sb, "%s:1: (file): not a regular file", path);
	}
	if (!strbuf_ok(&sb)) {
		strbuf_free(&sb);
	}
	return sb.buf;
}

enum sp_err
conf_load(const char *path, const struct conf_key *table, void *out,
	  char **errs)
{
	struct conf_ctx ctx;
	char *buf = NULL;
	size_t len = 0;
	enum sp_err rc;

	*errs = NULL;
	rc = conf_ctx_init(&ctx, path, table);
	if (rc != SP_OK) {
		goto out;
	}

	rc = file_read_all(path, CONF_FILE_MAX, &buf, &len);
	if (rc == SP_E_USAGE) {
		*errs = conf_file_err(path, errno);
		goto out;
	} else if (rc != SP_OK) {
		goto out;
	}

	rc = conf_parse(&ctx, buf, len);
	if (rc == SP_E_USAGE) {
		*errs = ctx.errs.buf;
		ctx.errs.buf = NULL;
	} else if (rc == SP_OK) {
		conf_commit(&ctx, out);
	}
out:
	conf_ctx_free(&ctx);
	free(buf);
	return rc;
}

void
conf_free(const struct conf_key *table, void *cfg)
{
	char *field;
	size_t i;

	for (i = 0; table[i].name != NULL; i++) {
		field = (char *)cfg + table[i].offset;
		if (table[i].type == CONF_STR) {
			free(*(char **)field);
			*(char **)field = NULL;
		} else if (table[i].type == CONF_LIST ||
			   table[i].type == CONF_RECORDS) {
			conf_list_free(*(char ***)field);
			*(char ***)field = NULL;
		}
	}
}
