/*
 * util.c: hex, whole-file reads, atomic writes, numbers and clocks.
 *
 * The file helpers do not log: they cannot tell a config path from a
 * confidential model path. On failure errno holds the cause (EFBIG for a
 * file over the ceiling, EINVAL for a non-regular file) for the caller's
 * log line.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* Chunk by which a file that outgrows its fstat size is read. */
#define UTIL_READ_STEP 65536

char *
hex_encode(const void *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = in;
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0x0f];
	}
	out[2 * n] = '\0';
	return out;
}

static int
hex_digit(char c)
{
	int v = -1;

	if (c >= '0' && c <= '9') {
		v = c - '0';
	} else if (c >= 'a' && c <= 'f') {
		v = c - 'a' + 10;
	} else if (c >= 'A' && c <= 'F') {
		v = c - 'A' + 10;
	}
	return v;
}

int
hex_decode(const char *in, size_t inlen, unsigned char *out, size_t n)
{
	size_t i;
	int hi;
	int lo;
	int rc = -1;

	if (n > SIZE_MAX / 2 || inlen != 2 * n) {
		goto out;
	}
	for (i = 0; i < n; i++) {
		hi = hex_digit(in[2 * i]);
		lo = hex_digit(in[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			goto out;
		}
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	rc = 0;
out:
	return rc;
}

static enum sp_err
errno_to_sp(int e)
{
	enum sp_err rc = SP_E_INTERNAL;

	if (e == ENOENT || e == ENOTDIR) {
		rc = SP_E_NOTFOUND;
	}
	return rc;
}

/* Grow *buf (capacity *cap, content len) by up to step bytes, max total. */
static enum sp_err
read_grow(char **buf, size_t *cap, size_t len, size_t max)
{
	size_t want;
	char *p;
	enum sp_err rc = SP_E_USAGE;

	if (len >= max) {
		errno = EFBIG;
		goto out;
	}
	want = len + (max - len < UTIL_READ_STEP ? max - len : UTIL_READ_STEP);
	p = realloc(*buf, want + 1);
	if (p == NULL) {
		rc = SP_E_INTERNAL;
		goto out;
	}
	*buf = p;
	*cap = want;
	rc = SP_OK;
out:
	return rc;
}

/* Read fd to EOF into a buffer of at most max bytes plus a NUL. */
static enum sp_err
read_fd(int fd, size_t hint, size_t max, char **out, size_t *outlen)
{
	char *buf = NULL;
	size_t cap = hint;
	size_t len = 0;
	ssize_t n;
	char extra;
	enum sp_err rc = SP_E_INTERNAL;

	buf = malloc(cap + 1);
	if (buf == NULL) {
		goto out;
	}
	for (;;) {
		if (len == cap) {
			/* Probe before growing: most files end here. */
			n = read(fd, &extra, 1);
			if (n < 0 && errno == EINTR) {
				continue;
			}
			if (n < 0) {
				goto out;
			}
			if (n == 0) {
				break;
			}
			rc = read_grow(&buf, &cap, len, max);
			if (rc != SP_OK) {
				goto out;
			}
			rc = SP_E_INTERNAL;
			buf[len++] = extra;
			continue;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			goto out;
		}
		if (n == 0) {
			break;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	buf = NULL;
	rc = SP_OK;
out:
	free(buf);
	return rc;
}

enum sp_err
file_read_all(const char *path, size_t max, char **out, size_t *len)
{
	struct stat st;
	int fd = -1;
	int saved;
	enum sp_err rc = SP_E_INTERNAL;

	/* O_NONBLOCK so that a FIFO cannot hang us before the type check. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		rc = errno_to_sp(errno);
		goto out;
	}

	if (fstat(fd, &st) != 0) {
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		rc = SP_E_USAGE;
		goto out;
	}
	if (st.st_size < 0 || (unsigned long long)st.st_size > max) {
		errno = EFBIG;
		rc = SP_E_USAGE;
		goto out;
	}

	rc = read_fd(fd, (size_t)st.st_size, max, out, len);
out:
	if (fd >= 0) {
		saved = errno;
		close(fd);
		errno = saved;
	}
	return rc;
}

enum sp_err
file_check_private(const char *path)
{
	struct stat st;
	enum sp_err rc = SP_E_USAGE;

	/* stat, not lstat: Kubernetes mounts secrets through symlinks. */
	if (stat(path, &st) != 0) {
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto out;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		errno = EPERM;
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

/* Split path into its directory and a hidden temporary name beside it. */
static int
tmp_name(const char *path, char *tmp, size_t tmpcap, char *dir, size_t dircap)
{
	const char *slash;
	const char *base;
	size_t dlen;
	int n;
	int rc = -1;

	slash = strrchr(path, '/');
	base = slash != NULL ? slash + 1 : path;
	dlen = slash != NULL ? (size_t)(slash - path) : 0;
	if (*base == '\0' || dlen >= dircap) {
		errno = EINVAL;
		goto out;
	}
	if (slash == NULL) {
		n = snprintf(dir, dircap, ".");
	} else if (dlen == 0) {
		n = snprintf(dir, dircap, "/");
	} else {
		n = snprintf(dir, dircap, "%.*s", (int)dlen, path);
	}
	if (n < 0 || (size_t)n >= dircap) {
		errno = ENAMETOOLONG;
		goto out;
	}

	n = snprintf(tmp, tmpcap, "%s/.%s.tmpXXXXXX", dir, base);
	if (n < 0 || (size_t)n >= tmpcap) {
		errno = ENAMETOOLONG;
		goto out;
	}
	rc = 0;
out:
	return rc;
}

static int
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	size_t off = 0;
	ssize_t n;
	int rc = -1;

	while (off < len) {
		n = write(fd, p + off, len - off);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			goto out;
		}
		off += (size_t)n;
	}
	rc = 0;
out:
	return rc;
}

/* fsync a directory so that a rename inside it survives a crash. */
static int
fsync_dir(const char *dir)
{
	int fd;
	int rc = -1;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		goto out;
	}
	rc = fsync(fd);
	close(fd);
out:
	return rc;
}

enum sp_err
file_write_atomic(const char *path, const void *buf, size_t len, unsigned mode)
{
	char tmp[PATH_MAX];
	char dir[PATH_MAX];
	int fd = -1;
	int created = 0;
	int saved;
	enum sp_err rc = SP_E_TARGET;

	if (tmp_name(path, tmp, sizeof(tmp), dir, sizeof(dir)) != 0) {
		goto out;
	}

	/* mkostemp creates the file 0600, so nobody reads it early. */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		goto out;
	}
	created = 1;

	if (fchmod(fd, (mode_t)(mode & 07777)) != 0) {
		goto out;
	}

	if (write_all(fd, buf, len) != 0 || fsync(fd) != 0) {
		goto out;
	}

	if (close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;

	if (rename(tmp, path) != 0) {
		goto out;
	}
	created = 0;

	/* The data is in place; a failed directory sync is not fatal. */
	(void)fsync_dir(dir);
	rc = SP_OK;
out:
	saved = errno;
	if (fd >= 0) {
		close(fd);
	}
	if (created) {
		unlink(tmp);
	}
	errno = saved;
	return rc;
}

int
parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	unsigned d;
	size_t i;
	int rc = -1;

	if (s == NULL || s[0] == '\0') {
		goto out;
	}
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9') {
			goto out;
		}
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10) {
			goto out;
		}
		v = v * 10 + d;
	}
	if (v < min || v > max) {
		goto out;
	}
	*out = v;
	rc = 0;
out:
	return rc;
}

uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
now_rfc3339(char *out, size_t cap)
{
	struct timespec ts;
	struct tm tm;
	char base[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	if (gmtime_r(&ts.tv_sec, &tm) == NULL ||
	    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(base, sizeof(base), "1970-01-01T00:00:00");
	}
	snprintf(out, cap, "%s.%03ldZ", base, ts.tv_nsec / 1000000);
}
