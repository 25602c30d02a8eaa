/*
 * Web access: one-time invitation links and the sessions they open. Tokens are 256
 * bits from getrandom; only their SHA-256 (libcrypto) reaches the store.
 */
#include "classlab/cl_students.h"
#include "classlab/banned.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static int random_hex(size_t bytes, char **out)
{
	unsigned char raw[64];
	static const char hex[] = "0123456789abcdef";
	size_t got = 0;

	while (got < bytes) {
		ssize_t n = getrandom(raw + got, bytes - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cl_error_set(CL_EFAIL, "cannot read random bytes: %s",
					    strerror(errno));
		got += (size_t)n;
	}
	char *s = cl_malloc(2 * bytes + 1);
	for (size_t i = 0; i < bytes; i++) {
		s[2 * i] = hex[raw[i] >> 4];
		s[2 * i + 1] = hex[raw[i] & 15];
	}
	s[2 * bytes] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));
	*out = s;
	return 0;
}

/* A token as we make them: exactly 64 lowercase hex digits. */
static bool token_wellformed(const char *t)
{
	size_t i;
	for (i = 0; t && t[i]; i++)
		if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f')))
			return false;
	return t && i == CL_WEB_TOKEN_HEX;
}

static int token_hash(const char *token, unsigned char out[32])
{
	unsigned int len = 0;
	if (!EVP_Digest(token, strlen(token), out, &len, EVP_sha256(), NULL) || len != 32)
		return cl_error_set(CL_EFAIL, "cannot hash a token (libcrypto)");
	return 0;
}

bool cl_token_equal(const char *a, const char *b)
{
	size_t la = a ? strlen(a) : 0, lb = b ? strlen(b) : 0;
	return a && b && la == lb && la > 0 && CRYPTO_memcmp(a, b, la) == 0;
}

int cl_invite_issue(cl_ctx *ctx, const char *lab, const char *student, const char *base_url,
		    char **link)
{
	cl_store *st = cl_ctx_store(ctx);
	unsigned char h[32];
	char *token = NULL;
	size_t blen = strlen(base_url);
	int rc;

	*link = NULL;
	while (blen && base_url[blen - 1] == '/')
		blen--;
	if ((rc = random_hex(CL_WEB_TOKEN_HEX / 2, &token)) || (rc = token_hash(token, h)))
		goto out;
	if ((rc = cl_store_begin(st)))
		goto out;
	rc = cl_store_end(st, cl_store_invite_put(st, lab, student, h, cl_ctx_now(ctx)));
	if (rc == 0)
		*link = cl_aprintf("%.*s/join/%s", (int)blen, base_url, token);
out:
	if (token)
		OPENSSL_cleanse(token, strlen(token));
	free(token);
	return rc;
}

int cl_invite_revoke(cl_ctx *ctx, const char *lab, const char *student, int64_t *n)
{
	cl_store *st = cl_ctx_store(ctx);
	int rc = cl_store_begin(st);
	if (rc)
		return rc;
	return cl_store_end(st, cl_store_web_revoke(st, lab, student, n));
}

int cl_invite_redeem(cl_ctx *ctx, const char *token, char **session_token, cl_web_grant *grant)
{
	cl_store *st = cl_ctx_store(ctx);
	unsigned char h[32], sh[32];
	char *sess = NULL;
	int64_t now = cl_ctx_now(ctx);
	int rc;

	*session_token = NULL;
	memset(grant, 0, sizeof(*grant));
	if (!token_wellformed(token))
		return cl_error_set(CL_ENOTFOUND,
				    "no such invitation (used, revoked or never issued)");
	if ((rc = token_hash(token, h)) || (rc = random_hex(CL_WEB_TOKEN_HEX / 2, &sess)) ||
	    (rc = token_hash(sess, sh)) || (rc = cl_store_begin(st)))
		goto out;
	rc = cl_store_invite_take(st, h, now, grant);
	if (rc == 0 && (rc = random_hex(16, &grant->csrf)) == 0) {
		grant->expires = now + CL_WEB_SESSION_S;
		rc = cl_store_session_put(st, sh, grant, now);
	}
	if ((rc = cl_store_end(st, rc)) == CL_ENOTFOUND)
		rc = cl_error_set(CL_ENOTFOUND,
				  "no such invitation (used, revoked or never issued)");
	if (rc == 0) {
		*session_token = sess;
		sess = NULL;
	}
out:
	if (rc)
		cl_web_grant_clear(grant);
	free(sess);
	return rc;
}

int cl_session_find(cl_ctx *ctx, const char *session_token, cl_web_grant *grant)
{
	unsigned char h[32];
	int rc;

	memset(grant, 0, sizeof(*grant));
	if (!token_wellformed(session_token))
		return cl_error_set(CL_ENOTFOUND, "no session");
	if ((rc = token_hash(session_token, h)))
		return rc;
	rc = cl_store_session_get(cl_ctx_store(ctx), h, cl_ctx_now(ctx), grant);
	if (rc == CL_ENOTFOUND)
		rc = cl_error_set(CL_ENOTFOUND, "no session");
	return rc;
}

int cl_session_end(cl_ctx *ctx, const char *session_token)
{
	unsigned char h[32];
	int rc;

	if (!token_wellformed(session_token))
		return 0;
	if ((rc = token_hash(session_token, h)))
		return rc;
	return cl_store_session_delete(cl_ctx_store(ctx), h);
}
