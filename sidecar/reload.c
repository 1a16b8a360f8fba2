/*
 * reload.c: swapping in a new certificate generation.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "log.h"
#include "reload.h"
#include "server.h"
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
	enum sp_err rc;

	rc = tlsctx_new(srv->cfg->tls_cert, srv->cfg->tls_key, &ctx);
	if (rc != SP_OK) {
		atomic_fetch_add(&srv->g.reloads_failed, 1);
		log_event(LOG_ERR, "tls.reload.failed", sp_err_name(rc),
			  LOG_STR("kept", "previous certificate"));
		goto out;
	}

	reload_fingerprint(ctx, fp, sizeof(fp));
	server_ctx_swap(srv, ctx);
	atomic_fetch_add(&srv->g.reloads_ok, 1);
	log_event(LOG_INFO, "tls.reload.done", NULL, LOG_STR("fingerprint", fp),
		  LOG_U64("generation", atomic_load(&srv->ctx_gen)));
out:
	return rc;
}
