/*
 * reload.c: swapping in a new certificate generation.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "log.h"
#include "reload.h"
#include "server.h"
#include "tickets.h"
#include "tlsctx.h"
#include "util.h"

#define FINGERPRINT_BYTES 8

void
reload_fingerprint(SSL_CTX *ctx, char *out, size_t cap)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	X509 *x = SSL_CTX_get0_certificate(ctx);

	snprintf(out, cap, "-");
	if (x != NULL && cap > 2 * FINGERPRINT_BYTES &&
	    X509_digest(x, EVP_sha256(), md, &len) == 1 &&
	    len >= FINGERPRINT_BYTES) {
		hex_encode(md, FINGERPRINT_BYTES, out);
	}
}

enum sp_err
reload_certificates(struct server *srv)
{
	SSL_CTX *ctx = NULL;
	char fp[2 * FINGERPRINT_BYTES + 1];
	const char *reason;
	const char *file;
	enum sp_err rc;

	rc = tlsctx_new_cfg(srv->cfg, &ctx);
	if (rc == SP_OK) {
		/* The same ticket keys, so sessions resume across reloads. */
		rc = server_ctx_prepare(srv, ctx);
	}
	if (rc != SP_OK) {
		atomic_fetch_add(&srv->g.reloads_failed, 1);
		reason = tlsctx_last_failure(&file);
		log_event(LOG_ERR, "tls.reload.failed",
			  reason != NULL ? reason : sp_err_name(rc),
			  LOG_STR("file", file),
			  LOG_STR("kept", "previous certificate"));
		goto out;
	}

	reload_fingerprint(ctx, fp, sizeof(fp));
	server_ctx_swap(srv, ctx);
	ctx = NULL;
	atomic_fetch_add(&srv->g.reloads_ok, 1);
	log_event(LOG_INFO, "tls.reload.done", NULL, LOG_STR("fingerprint", fp),
		  LOG_U64("generation", atomic_load(&srv->ctx_gen)));
out:
	SSL_CTX_free(ctx);
	return rc;
}

static void
stamp(const char *path, struct reload_stamp *out)
{
	struct stat st;

	memset(out, 0, sizeof(*out));
	if (path != NULL && stat(path, &st) == 0) {
		out->dev = st.st_dev;
		out->ino = st.st_ino;
		out->size = st.st_size;
		out->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 +
				st.st_mtim.tv_nsec;
		out->ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 +
				st.st_ctim.tv_nsec;
	}
}

/* Stamp every watched file into st; returns 1 if any differs from rw. */
static int
stamp_all(const struct reload_watch *rw, const struct server *srv,
	  struct reload_stamp st[RELOAD_FILES])
{
	const char *paths[RELOAD_FILES];
	int changed = 0;
	size_t i;

	paths[0] = srv->cfg->tls_cert;
	paths[1] = srv->cfg->tls_key;
	paths[2] = srv->cfg->client_auth != SIDECAR_AUTH_NONE
		       ? srv->cfg->tls_client_ca
		       : NULL;
	for (i = 0; i < RELOAD_FILES; i++) {
		stamp(paths[i], &st[i]);
		if (memcmp(&st[i], &rw->st[i], sizeof(st[i])) != 0) {
			changed = 1;
		}
	}
	return changed;
}

void
reload_watch_init(struct reload_watch *rw, struct server *srv, uint64_t now)
{
	memset(rw, 0, sizeof(*rw));
	(void)stamp_all(rw, srv, rw->st);
	rw->next = now + srv->cfg->watch_s * RELOAD_POLL_NS;
}

enum sp_err
reload_signal(struct reload_watch *rw, struct server *srv)
{
	/*
	 * Stamped before loading: the watcher then sees these files as
	 * loaded, and a change made during the load still shows up later.
	 */
	(void)stamp_all(rw, srv, rw->st);
	return reload_certificates(srv);
}

void
reload_watch_poll(struct reload_watch *rw, struct server *srv, uint64_t now)
{
	struct reload_stamp st[RELOAD_FILES];
	enum sp_err rc;

	if (srv->cfg->watch_s == 0 || now < rw->next) {
		goto out;
	}
	rw->next = now + srv->cfg->watch_s * RELOAD_POLL_NS;
	if (!stamp_all(rw, srv, st)) {
		goto out;
	}
	memcpy(rw->st, st, sizeof(rw->st));
	log_event(LOG_INFO, "tls.reload.changed", NULL,
		  LOG_STR("trigger", "file_change"));
	rc = reload_certificates(srv);
	(void)rc; /* logged and counted; the old generation stays */
out:
	return;
}
