/*
 * SHA-256 for cache keys and MAC derivation, from OpenSSL's libcrypto: the
 * library libssh already loads, so no second implementation to trust.
 */
#include "provision_internal.h"
#include "classlab/banned.h"

#include <stdlib.h>

#include <openssl/evp.h>

void cl_sha256(const void *data, size_t len, unsigned char out[32])
{
	unsigned int n = 0;

	/* Fails only without memory or a SHA-256 provider: nothing sane to hash with then. */
	if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 || n != 32)
		abort();
}

void cl_sha256_hex(const void *data, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[32];

	cl_sha256(data, len, d);
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[64] = '\0';
}
