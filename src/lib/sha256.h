/* SHA-256 (FIPS 180-4): the provenance of data and donors, the batch manifest. */
#ifndef OI_LIB_SHA256_H
#define OI_LIB_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct oi_sha256_ctx {
	uint32_t h[8];
	uint64_t len;
	uint8_t buf[64];
	size_t fill;
} oi_sha256_ctx;

void oi__sha256_init(oi_sha256_ctx *c);
void oi__sha256_update(oi_sha256_ctx *c, const void *data, size_t n);
void oi__sha256_final(oi_sha256_ctx *c, uint8_t out[32]);
/* The digest as 64 lowercase hex digits and a NUL. */
void oi__sha256_final_hex(oi_sha256_ctx *c, char hex[65]);
/* Feed c the whole file open as fd, read with pread(2) from offset 0 (its
 * offset is left alone; a file cut short is a short read, not a fault);
 * stop(arg), if given, is asked before each MiB. 0, an errno, or -1 if
 * stopped. */
int oi__sha256_fd(oi_sha256_ctx *c, int fd, bool (*stop)(void *), void *arg);
/* Hex digest of a file; 0, or -1 with errno. */
int oi__sha256_file(const char *path, char hex[65]);

#endif
