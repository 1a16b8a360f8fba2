/*
 * log.c: the JSON-lines log writer.
 *
 * A line is built in a stack buffer of LOG_LINE_MAX bytes and written with
 * one write(2). Output is pure ASCII: every byte outside printable ASCII is
 * escaped, valid UTF-8 as \uXXXX (surrogate pairs above the BMP) and
 * invalid bytes as \ufffd, so a hostile string can neither break the line
 * nor smuggle terminal escapes or malformed UTF-8 into a log pipeline.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "utf8.h"
#include "util.h"

/* Room kept free at the end of the line for "}\n". */
#define LOG_TAIL 2
/* Room a truncated string value needs to close: `..."`. */
#define LOG_TRUNC_TAIL 4
/* Doubles: decimals printed, and where fixed notation stops. */
#define LOG_F64_DECIMALS  6
#define LOG_F64_FIXED_MAX 1e15

struct log_line {
	char buf[LOG_LINE_MAX];
	size_t len;
	size_t limit; /* LOG_LINE_MAX - LOG_TAIL */
	int full;     /* a field did not fit; later fields are dropped */
};

/* log_first_error(): 0 empty, 1 being written, 2 set for good. */
static int log_first_state;
static char log_first_reason[LOG_REASON_MAX];

static const char *log_component = "sealpod";
static FILE *log_out;
static enum log_level log_min = LOG_INFO;

void
log_init(const char *component, FILE *out)
{
	if (component != NULL) {
		log_component = component;
	}
	log_out = out;
}

void
log_set_level(enum log_level level)
{
	log_min = level;
}

int
log_level_parse(const char *name, enum log_level *out)
{
	static const struct {
		const char *name;
		enum log_level level;
	} levels[] = {
	    {"debug", LOG_DEBUG},
	    {"info", LOG_INFO},
	    {"warn", LOG_WARN},
	    {"error", LOG_ERR},
	};
	size_t i;
	int rc = -1;

	if (name == NULL) {
		goto out;
	}
	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		if (strcmp(name, levels[i].name) == 0) {
			*out = levels[i].level;
			rc = 0;
			break;
		}
	}
out:
	return rc;
}

static const char *
log_level_name(enum log_level level)
{
	const char *name = "error";

	switch (level) {
	case LOG_DEBUG:
		name = "debug";
		break;
	case LOG_INFO:
		name = "info";
		break;
	case LOG_WARN:
		name = "warn";
		break;
	case LOG_ERR:
		break;
	}
	return name;
}

/* Keep the first error reason; later ones and racing writers lose. */
static void
log_note_error(const char *reason)
{
	int expected = 0;
	size_t n;

	if (!__atomic_compare_exchange_n(&log_first_state, &expected, 1, 0,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		return;
	}
	n = strnlen(reason, sizeof(log_first_reason) - 1);
	memcpy(log_first_reason, reason, n);
	log_first_reason[n] = '\0';
	__atomic_store_n(&log_first_state, 2, __ATOMIC_RELEASE);
}

const char *
log_first_error(void)
{
	return __atomic_load_n(&log_first_state, __ATOMIC_ACQUIRE) == 2
		   ? log_first_reason
		   : NULL;
}

/* Append n bytes whole, or nothing. Returns 0, or -1 when they do not fit. */
static int
line_put(struct log_line *l, const char *s, size_t n, size_t reserve)
{
	int rc = -1;

	if (l->len + n + reserve > l->limit) {
		goto out;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	rc = 0;
out:
	return rc;
}

/* Escape one code point (or one invalid byte, cp = U+FFFD) into out. */
static size_t
log_escape_cp(uint32_t cp, char *out, size_t cap)
{
	int n;

	if (cp == '"' || cp == '\\') {
		n = snprintf(out, cap, "\\%c", (char)cp);
	} else if (cp == '\n') {
		n = snprintf(out, cap, "\\n");
	} else if (cp == '\t') {
		n = snprintf(out, cap, "\\t");
	} else if (cp == '\r') {
		n = snprintf(out, cap, "\\r");
	} else if (cp >= 0x20 && cp < 0x7f) {
		n = snprintf(out, cap, "%c", (char)cp);
	} else if (cp < 0x10000) {
		n = snprintf(out, cap, "\\u%04x", (unsigned)cp);
	} else {
		cp -= 0x10000;
		n = snprintf(out, cap, "\\u%04x\\u%04x",
			     (unsigned)(0xd800 + (cp >> 10)),
			     (unsigned)(0xdc00 + (cp & 0x3ff)));
	}
	return n < 0 ? 0 : (size_t)n;
}

/*
 * Append s as a quoted JSON string. When it does not fit, as much as fits
 * is kept and the value ends in "..." and the line is marked full.
 */
static void
line_put_str(struct log_line *l, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);
	size_t i = 0;
	size_t step;
	uint32_t cp;
	char esc[16];
	size_t elen;

	/* The caller reserved LOG_TRUNC_TAIL bytes before calling. */
	l->buf[l->len++] = '"';
	while (i < n) {
		step = utf8_decode(p + i, n - i, &cp);
		if (step == 0) {
			cp = 0xfffd;
			step = 1;
		}
		elen = log_escape_cp(cp, esc, sizeof(esc));
		if (line_put(l, esc, elen, LOG_TRUNC_TAIL) != 0) {
			memcpy(l->buf + l->len, "...", 3);
			l->len += 3;
			l->full = 1;
			break;
		}
		i += step;
	}
	l->buf[l->len++] = '"';
}

/* Append `,"key":` or nothing; returns -1 when even that does not fit. */
static int
line_put_key(struct log_line *l, const char *key)
{
	size_t start = l->len;
	int rc = -1;

	if (l->full || line_put(l, ",", 1, LOG_TRUNC_TAIL + 1) != 0) {
		goto out;
	}
	line_put_str(l, key);
	if (l->full || line_put(l, ":", 1, LOG_TRUNC_TAIL + 1) != 0) {
		/* A key that does not fit whole is dropped with its value. */
		l->len = start;
		l->full = 1;
		goto out;
	}
	rc = 0;
out:
	return rc;
}

/*
 * A finite double with at most LOG_F64_DECIMALS decimals, trailing
 * zeros dropped but one kept ("0.070128", "3.0"), so durations read
 * well and the JSON type stays a number with a fraction. Magnitudes
 * where %f would be long fall back to %g. Returns as snprintf.
 */
static int
fmt_f64(char *num, size_t cap, double d)
{
	int n;

	if (fabs(d) >= LOG_F64_FIXED_MAX) {
		n = snprintf(num, cap, "%.15g", d);
		goto out;
	}
	n = snprintf(num, cap, "%.*f", LOG_F64_DECIMALS, d);
	if (n <= 0 || (size_t)n >= cap) {
		goto out;
	}
	while (n > 2 && num[n - 1] == '0' && num[n - 2] != '.') {
		num[--n] = '\0';
	}
out:
	return n;
}

static void
line_put_num(struct log_line *l, const struct log_field *f)
{
	char num[40];
	int n = 0;

	switch (f->type) {
	case LOG_F_U64:
		n = snprintf(num, sizeof(num), "%" PRIu64, f->u);
		break;
	case LOG_F_I64:
		n = snprintf(num, sizeof(num), "%" PRId64, f->i);
		break;
	case LOG_F_F64:
		/* JSON has no NaN or infinity. */
		if (isfinite(f->d)) {
			n = fmt_f64(num, sizeof(num), f->d);
		} else {
			n = snprintf(num, sizeof(num), "null");
		}
		break;
	case LOG_F_BOOL:
		n = snprintf(num, sizeof(num), "%s", f->u ? "true" : "false");
		break;
	default:
		n = snprintf(num, sizeof(num), "null");
		break;
	}
	if (n < 0 || line_put(l, num, (size_t)n, 0) != 0) {
		l->full = 1;
	}
}

static void
line_put_field(struct log_line *l, const struct log_field *f)
{
	size_t start = l->len;

	if (f->key == NULL || line_put_key(l, f->key) != 0) {
		goto out;
	}
	if (f->type == LOG_F_STR && f->s != NULL) {
		line_put_str(l, f->s);
	} else if (f->type == LOG_F_STR) {
		if (line_put(l, "null", 4, 0) != 0) {
			l->full = 1;
		}
	} else {
		line_put_num(l, f);
	}

	/* A number that did not fit must not leave a dangling key. */
	if (l->full && l->buf[l->len - 1] == ':') {
		l->len = start;
	}
out:
	return;
}

static void
line_write(const struct log_line *l, FILE *out)
{
	size_t off = 0;
	ssize_t n;
	int fd;

	fflush(out);
	fd = fileno(out);
	if (fd < 0) {
		goto out;
	}
	/* One write(2); the loop only finishes a short write or EINTR. */
	while (off < l->len) {
		n = write(fd, l->buf + off, l->len - off);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			break;
		}
		off += (size_t)n;
	}
out:
	return;
}

void
log_emit(enum log_level level, const char *event, const char *reason,
	 const struct log_field *fields)
{
	struct log_line l;
	char ts[40];
	int saved = errno;
	size_t i;

	if (level == LOG_ERR && reason != NULL && reason[0] != '\0') {
		log_note_error(reason);
	}
	if (level < log_min) {
		goto out;
	}
	l.len = 0;
	l.limit = LOG_LINE_MAX - LOG_TAIL;
	l.full = 0;
	now_rfc3339(ts, sizeof(ts));

	/* The fixed head is short; the ceiling is far above it. */
	l.buf[l.len++] = '{';
	line_put_str(&l, "ts");
	l.buf[l.len++] = ':';
	line_put_str(&l, ts);
	line_put_field(&l, &LOG_STR("level", log_level_name(level)));
	line_put_field(&l, &LOG_STR("component", log_component));
	line_put_field(&l, &LOG_STR("event", event != NULL ? event : "?"));
	if (reason != NULL) {
		line_put_field(&l, &LOG_STR("reason", reason));
	}
	for (i = 0; fields != NULL && fields[i].type != LOG_F_END; i++) {
		line_put_field(&l, &fields[i]);
	}
	memcpy(l.buf + l.len, "}\n", 2);
	l.len += 2;

	line_write(&l, log_out != NULL ? log_out : stderr);
out:
	errno = saved;
}
