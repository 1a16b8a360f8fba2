/*
 * reload.h: certificate reload (SIGHUP).
 *
 * The configured chain and key are loaded into a new SSL_CTX; only when
 * that succeeds does it become the generation for new handshakes.
 * Connections already established keep the generation they started with.
 * Every generation shares the process's session ticket keys, so tickets
 * issued before a reload still resume after it.
 * A bad new certificate or key keeps the old generation and logs
 * "tls.reload.failed" with the specific reason.
 */
#ifndef SEALPOD_RELOAD_H
#define SEALPOD_RELOAD_H

#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "err.h"

struct server;

/* Unit of tls.watch_s, how often the files are looked at (main thread). */
#define RELOAD_POLL_NS (1000ull * 1000 * 1000)
#define RELOAD_FILES   3 /* tls.cert, tls.key, tls.client_ca */

/* What stat() says of a file (through symlinks); zero when missing. */
struct reload_stamp {
	dev_t dev;
	ino_t ino;
	off_t size;
	int64_t mtime_ns;
	int64_t ctime_ns;
};

/*
 * Change detection by polling: every tls.watch_s seconds (default 2; 0
 * turns it off) the certificate, key
 * and client CA paths are stat()ed through their symlinks, so both an
 * in-place rewrite or rename and Kubernetes' atomic swap of the "..data"
 * symlink show up as a new inode, size or time. A change triggers one
 * reload_certificates(); a failed reload is retried only after the next
 * change, so a bad file is logged once, not every poll.
 */
struct reload_watch {
	struct reload_stamp st[RELOAD_FILES];
	uint64_t next;
};

/* Take the current stamps as the baseline (at start, now in ns). */
void reload_watch_init(struct reload_watch *rw, struct server *srv,
		       uint64_t now);

/* Poll when due; reloads if any file changed since the last look. */
void reload_watch_poll(struct reload_watch *rw, struct server *srv,
		       uint64_t now);

/*
 * SIGHUP: take the files' stamps as rw's baseline, then reload. So one
 * rotation followed by SIGHUP loads once: the watcher's next poll finds
 * nothing new. Returns what reload_certificates() returns.
 */
SP_MUST_CHECK enum sp_err reload_signal(struct reload_watch *rw,
					struct server *srv);

/*
 * Reload srv's certificate files. Returns SP_OK or the load's category;
 * a failure logs "tls.reload.failed" with the load's own reason (e.g.
 * "key_mismatch") and the file role.
 */
SP_MUST_CHECK enum sp_err reload_certificates(struct server *srv);

/*
 * SHA-256 of ctx's leaf certificate as 16 hex digits (a public
 * identifier for logs) into out (at least 17 bytes); "-" if none.
 */
void reload_fingerprint(SSL_CTX *ctx, char *out, size_t cap);

#endif
