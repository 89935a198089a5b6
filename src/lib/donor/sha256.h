/* SHA-256 of a donor for provenance: OpenSSL's (SHA extensions where the
 * CPU has them) when the build found libcrypto, else the portable one. */
#ifndef OI_DONOR_SHA256_H
#define OI_DONOR_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct oi_sha256_ctx {
	void *evp;
	uint32_t h[8];
	uint64_t len;
	uint8_t buf[64];
	size_t fill;
} oi_sha256_ctx;

void oi__sha256_init(oi_sha256_ctx *c);
void oi__sha256_update(oi_sha256_ctx *c, const void *data, size_t n);
void oi__sha256_final(oi_sha256_ctx *c, uint8_t out[32]);

#endif
