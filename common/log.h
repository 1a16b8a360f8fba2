/*
 * log.h: one JSON object per line, with a stable event name.
 *
 * Every line carries "ts" (RFC 3339 UTC, milliseconds), "level",
 * "component" and "event"; "reason" when a failure has one; then the
 * caller's fields in order. Values are escaped as JSON strings or written
 * as numbers. There is no printf-style message: an event name plus typed
 * fields is what operators and SIEMs alert on.
 *
 * Never pass a secret, a payload, a query string or a confidential model
 * name (a file path inside a model) as a field. Key material lives in
 * struct secret, which has no accessor that formats it.
 *
 *	log_event(LOG_ERR, "kbs.attest.failed", "policy_denied",
 *	    LOG_STR("kbs", url), LOG_U64("status", 401));
 */
#ifndef SEALPOD_LOG_H
#define SEALPOD_LOG_H

#include <stdint.h>
#include <stdio.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERR };

enum log_ftype {
	LOG_F_END,
	LOG_F_STR,
	LOG_F_U64,
	LOG_F_I64,
	LOG_F_F64,
	LOG_F_BOOL
};

struct log_field {
	const char *key;
	enum log_ftype type;
	const char *s;
	uint64_t u;
	int64_t i;
	double d;
};

#define LOG_STR(k, v)                                                          \
	((struct log_field){.key = (k), .type = LOG_F_STR, .s = (v)})
#define LOG_U64(k, v)                                                          \
	((struct log_field){.key = (k), .type = LOG_F_U64, .u = (v)})
#define LOG_I64(k, v)                                                          \
	((struct log_field){.key = (k), .type = LOG_F_I64, .i = (v)})
#define LOG_F64(k, v)                                                          \
	((struct log_field){.key = (k), .type = LOG_F_F64, .d = (v)})
#define LOG_BOOL(k, v)                                                         \
	((struct log_field){.key = (k), .type = LOG_F_BOOL, .u = !!(v)})
/* errno as "errno" (number) and "error" (strerror text). */
#define LOG_ERRNO(e) LOG_I64("errno", (e)), LOG_STR("error", strerror(e))

/*
 * Set the component name written on every line (e.g. "sealpod-init") and
 * the stream (stderr when NULL). Not thread-safe; call once at start.
 */
void log_init(const char *component, FILE *out);

/* Lines below this level are dropped. Default LOG_INFO. */
void log_set_level(enum log_level level);

/* Parse "debug", "info", "warn" or "error". Returns 0, or -1 if unknown. */
int log_level_parse(const char *name, enum log_level *out);

/*
 * Write one line. reason may be NULL. fields ends with a LOG_F_END entry.
 * Each line is written with a single write(2), so lines from threads never
 * interleave. Lines are capped at LOG_LINE_MAX bytes; longer string values
 * are truncated and marked with "...".
 */
#define LOG_LINE_MAX 8192
void log_emit(enum log_level level, const char *event, const char *reason,
	      const struct log_field *fields);

/*
 * The reason of the first LOG_ERR event logged with one in this process
 * (copied, at most LOG_REASON_MAX - 1 bytes), or NULL when there was
 * none. A run's final event carries it as its specific cause. Any
 * thread; the string stays valid and unchanged for the process's life.
 */
#define LOG_REASON_MAX 64
const char *log_first_error(void);

#define log_event(level, event, reason, ...)                                   \
	log_emit((level), (event), (reason),                                   \
		 (const struct log_field[]){                                   \
		     __VA_ARGS__ __VA_OPT__(, ){.type = LOG_F_END}})

#endif
