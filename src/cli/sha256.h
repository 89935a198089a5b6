/* SHA-256 (FIPS 180-4), for the batch manifest's output digests. */
#ifndef OI_SHA256_H
#define OI_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct sha256_ctx {
	uint32_t h[8];
	uint64_t len;
	uint8_t buf[64];
	size_t fill;
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
void sha256_final(sha256_ctx *c, uint8_t out[32]);
/* Hex digest of a file; 0, or -1 with errno. */
int sha256_file(const char *path, char hex[65]);

#endif
