/* See sha256.h. */
#include <string.h>

#include "sha256.h"

#ifdef OI_HAVE_LIBCRYPTO
#include <openssl/evp.h>

void oi__sha256_init(oi_sha256_ctx *c)
{
	memset(c, 0, sizeof *c);
	EVP_MD_CTX *e = EVP_MD_CTX_new();
	if (e && EVP_DigestInit_ex(e, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(e);
		e = NULL;
	}
	c->evp = e;
}

void oi__sha256_update(oi_sha256_ctx *c, const void *data, size_t n)
{
	if (c->evp)
		EVP_DigestUpdate(c->evp, data, n);
}

void oi__sha256_final(oi_sha256_ctx *c, uint8_t out[32])
{
	unsigned len = 32;
	memset(out, 0, 32);
	if (c->evp) {
		EVP_DigestFinal_ex(c->evp, out, &len);
		EVP_MD_CTX_free(c->evp);
		c->evp = NULL;
	}
}
#else
#include "../../cli/sha256.h"

void oi__sha256_init(oi_sha256_ctx *c)
{
	memset(c, 0, sizeof *c);
	sha256_init((sha256_ctx *)(void *)c->h);
}

void oi__sha256_update(oi_sha256_ctx *c, const void *data, size_t n)
{
	sha256_update((sha256_ctx *)(void *)c->h, data, n);
}

void oi__sha256_final(oi_sha256_ctx *c, uint8_t out[32])
{
	sha256_final((sha256_ctx *)(void *)c->h, out);
}
#endif
