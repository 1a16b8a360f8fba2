/*
 * source_file.c: file:///abs/dir, a PersistentVolume or a read-only image
 * volume (source.h).
 *
 * The base directory is trusted configuration and may be reached through
 * symbolic links; nothing below it may be. Each component of an object
 * name is opened with O_NOFOLLOW relative to the one before, so a link
 * planted in the store cannot point the pipeline at other files.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "source.h"

/* Read size: large enough for few syscalls, small next to a segment. */
#define SOURCE_FILE_CHUNK (256 * 1024)

struct file_state {
	int dirfd;
	unsigned char *buf;
	/* The object read last, kept open: a pipeline reads one blob in
	 * many ranges. */
	int rfd;
	char rname[SOURCE_NAME_MAX + 1];
};

static enum sp_err
file_open(const char *url, const struct source_opts *opts, void **state)
{
	struct file_state *st = NULL;
	const char *path = url + strlen("file://");
	enum sp_err rc = SP_E_USAGE;

	(void)opts;
	if (path[0] != '/') {
		log_event(LOG_ERR, "source.open.failed", "source_url_invalid",
			  LOG_STR("scheme", "file"));
		goto out;
	}

	rc = SP_E_INTERNAL;
	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		goto out;
	}
	st->rfd = -1;
	st->dirfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (st->dirfd < 0) {
		rc = errno == ENOENT ? SP_E_NOTFOUND : SP_E_FETCH;
		log_event(LOG_ERR, "source.open.failed",
			  rc == SP_E_NOTFOUND ? "source_base_missing"
					      : "source_base_unusable",
			  LOG_STR("scheme", "file"), LOG_ERRNO(errno));
		goto out;
	}
	*state = st;
	st = NULL;
	rc = SP_OK;
out:
	free(st);
	return rc;
}

static void
file_close(void *state)
{
	struct file_state *st = state;

	if (st == NULL) {
		return;
	}
	if (st->dirfd >= 0) {
		close(st->dirfd);
	}
	if (st->rfd >= 0) {
		close(st->rfd);
	}
	free(st->buf);
	free(st);
}

static enum sp_err
open_errno(int e)
{
	const char *reason = "source_open_failed";
	enum sp_err rc = SP_E_FETCH;

	if (e == ENOENT) {
		rc = SP_E_NOTFOUND;
		goto out;
	}
	/* A link or a non-directory where the layout has a directory:
	 * the store is not as sealed (exit 14), and stays so on a retry. */
	if (e == ELOOP) {
		reason = "source_symlink_refused";
		rc = SP_E_INTEGRITY;
	} else if (e == ENOTDIR) {
		reason = "source_entry_refused";
		rc = SP_E_INTEGRITY;
	}
	log_event(LOG_ERR, "source.fetch.failed", reason,
		  LOG_STR("scheme", "file"), LOG_ERRNO(e));
out:
	return rc;
}

/* Open name beneath dirfd without following any link. Returns an fd. */
static enum sp_err
open_beneath(int dirfd, const char *name, int *out)
{
	char comp[SOURCE_NAME_MAX + 1];
	const char *p = name;
	const char *slash;
	int cur = dirfd;
	int next;
	enum sp_err rc = SP_E_INTERNAL;

	slash = strchr(p, '/');
	while (slash != NULL) {
		memcpy(comp, p, (size_t)(slash - p));
		comp[slash - p] = '\0';
		next = openat(cur, comp,
			      O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cur != dirfd) {
			close(cur);
		}
		if (next < 0) {
			rc = open_errno(errno);
			goto out;
		}
		cur = next;
		p = slash + 1;
		slash = strchr(p, '/');
	}

	/* O_NONBLOCK: a FIFO planted in the store must not hang us. */
	next = openat(cur, p, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (next < 0) {
		rc = open_errno(errno);
		goto out;
	}
	*out = next;
	rc = SP_OK;
out:
	if (cur != dirfd) {
		close(cur);
	}
	return rc;
}

static enum sp_err
check_regular(int fd, uint64_t offset, uint64_t length)
{
	struct stat st;
	enum sp_err rc = SP_E_FETCH;

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		log_event(LOG_ERR, "source.fetch.failed",
			  "source_not_regular_file", LOG_STR("scheme", "file"));
		rc = SP_E_INTEGRITY;
		goto out;
	}
	if (length > 0 && (uint64_t)st.st_size < offset + length) {
		log_event(LOG_ERR, "source.fetch.failed", "source_short_object",
			  LOG_STR("scheme", "file"));
		goto out;
	}
	rc = SP_OK;
out:
	return rc;
}

/* pread from offset until length bytes (or EOF when length is 0). */
static int
pump(struct file_state *st, int fd, uint64_t offset, uint64_t length,
     source_sink_fn sink, void *arg)
{
	uint64_t done = 0;
	size_t want;
	ssize_t n;
	int rc = SP_E_FETCH;

	for (;;) {
		want = SOURCE_FILE_CHUNK;
		if (length > 0 && length - done < want) {
			want = (size_t)(length - done);
		}
		if (want == 0) {
			break;
		}
		n = pread(fd, st->buf, want, (off_t)(offset + done));
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			log_event(LOG_ERR, "source.fetch.failed",
				  "source_read_failed",
				  LOG_STR("scheme", "file"), LOG_ERRNO(errno));
			goto out;
		}
		if (n == 0 && length > 0) {
			log_event(LOG_ERR, "source.fetch.failed",
				  "source_short_object",
				  LOG_STR("scheme", "file"));
			goto out;
		}
		if (n == 0) {
			break;
		}
		rc = sink(arg, st->buf, (size_t)n);
		if (rc != SP_OK) {
			goto out;
		}
		done += (uint64_t)n;
	}
	rc = SP_OK;
out:
	return rc;
}

static int
file_fetch(void *state, const char *name, uint64_t offset, uint64_t length,
	   source_sink_fn sink, void *arg)
{
	struct file_state *st = state;
	int fd = -1;
	int rc = SP_E_USAGE;

	if (!source_name_valid(name)) {
		goto out;
	}

	rc = SP_E_INTERNAL;
	if (st->buf == NULL) {
		st->buf = malloc(SOURCE_FILE_CHUNK);
		if (st->buf == NULL) {
			goto out;
		}
	}

	rc = open_beneath(st->dirfd, name, &fd);
	if (rc != SP_OK) {
		goto out;
	}

	rc = check_regular(fd, offset, length);
	if (rc != SP_OK) {
		goto out;
	}
	(void)posix_fadvise(fd, (off_t)offset, (off_t)length,
			    POSIX_FADV_SEQUENTIAL);

	rc = pump(st, fd, offset, length, sink, arg);
out:
	if (fd >= 0) {
		close(fd);
	}
	return rc;
}

/* The object to read from: the one kept open, or name opened now. */
static enum sp_err
read_fd(struct file_state *st, const char *name, int *out)
{
	int fd = -1;
	enum sp_err rc = SP_OK;

	if (st->rfd >= 0 && strcmp(st->rname, name) == 0) {
		goto out;
	}
	if (st->rfd >= 0) {
		close(st->rfd);
		st->rfd = -1;
	}

	rc = open_beneath(st->dirfd, name, &fd);
	if (rc != SP_OK) {
		goto out;
	}
	rc = check_regular(fd, 0, 0);
	if (rc != SP_OK) {
		close(fd);
		goto out;
	}
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	st->rfd = fd;
	snprintf(st->rname, sizeof(st->rname), "%s", name);
out:
	*out = st->rfd;
	return rc;
}

/* Straight into the caller's buffer: no bounce through st->buf. */
static int
file_read(void *state, const char *name, uint64_t offset, void *buf, size_t len,
	  uint64_t *size)
{
	struct file_state *st = state;
	unsigned char *p = buf;
	struct stat sb;
	size_t done = 0;
	ssize_t n;
	int fd = -1;
	int rc = SP_E_USAGE;

	if (!source_name_valid(name)) {
		goto out;
	}
	rc = read_fd(st, name, &fd);
	if (rc != SP_OK) {
		goto out;
	}

	/* The size now, not at open: the store may change under us. */
	rc = SP_E_FETCH;
	if (fstat(fd, &sb) != 0) {
		log_event(LOG_ERR, "source.fetch.failed", "source_read_failed",
			  LOG_STR("scheme", "file"), LOG_ERRNO(errno));
		goto out;
	}
	*size = (uint64_t)sb.st_size;
	if (offset > *size || len > *size - offset) {
		goto out;
	}

	while (done < len) {
		n = pread(fd, p + done, len - done, (off_t)(offset + done));
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			log_event(LOG_ERR, "source.fetch.failed",
				  "source_read_failed",
				  LOG_STR("scheme", "file"), LOG_ERRNO(errno));
			goto out;
		}
		if (n == 0) {
			/* Shrunk since fstat: report what is there now. */
			*size = offset + done;
			goto out;
		}
		done += (size_t)n;
	}
	rc = SP_OK;
out:
	return rc;
}

const struct source_ops source_file_ops = {
    .scheme = "file",
    .open = file_open,
    .fetch = file_fetch,
    .close = file_close,
    .read = file_read,
};
