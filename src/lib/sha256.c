/* See sha256.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sha256.h"

static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

/* The portable compression of n 64-byte blocks into h. */
static void blocks_c(uint32_t h[8], const uint8_t *p, size_t n)
{
	for (; n; n--, p += 64) {
		uint32_t w[64], a, b, d, e, f, g, hh, cc;
		for (int i = 0; i < 16; i++)
			w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
			       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
		for (int i = 16; i < 64; i++) {
			uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
			uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
			w[i] = w[i - 16] + s0 + w[i - 7] + s1;
		}
		a = h[0]; b = h[1]; cc = h[2]; d = h[3];
		e = h[4]; f = h[5]; g = h[6]; hh = h[7];
		for (int i = 0; i < 64; i++) {
			uint32_t t1 = hh + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) +
			              K[i] + w[i];
			uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & cc) ^ (b & cc));
			hh = g; g = f; f = e; e = d + t1; d = cc; cc = b; b = a; a = t1 + t2;
		}
		h[0] += a; h[1] += b; h[2] += cc; h[3] += d;
		h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
	}
}

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#include <immintrin.h>
#include <cpuid.h>
#define HAVE_SHA_NI 1

/* The same with the SHA extensions (sha256rnds2 does two rounds,
 * sha256msg1/2 the message schedule): about 5x the portable code, which
 * matters for the digest of a donor or data file of hundreds of MiB. The
 * state lives as (A, B, E, F) and (C, D, G, H), as the instructions want. */
__attribute__((target("sha,sse4.1,ssse3")))
static void blocks_ni(uint32_t h[8], const uint8_t *p, size_t n)
{
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
	__m128i t = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)(const void *)h), 0xB1);
	__m128i s1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)(const void *)(h + 4)), 0x1B);
	__m128i s0 = _mm_alignr_epi8(t, s1, 8);    /* A B E F */
	s1 = _mm_blend_epi16(s1, t, 0xF0);         /* C D G H */
	for (; n; n--, p += 64) {
		__m128i save0 = s0, save1 = s1, w[4];
#pragma GCC unroll 16 /* so that w[] lives in registers */
		for (int g = 0; g < 16; g++) {
			/* rounds 4g .. 4g+3; w[g % 4] holds words 4g .. 4g+3 */
			__m128i *cur = &w[g % 4], *prev = &w[(g + 3) % 4], *next = &w[(g + 1) % 4];
			if (g < 4)
				*cur = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 16 * g)), bswap);
			__m128i m = _mm_add_epi32(*cur, _mm_loadu_si128((const __m128i *)(const void *)(K + 4 * g)));
			s1 = _mm_sha256rnds2_epu32(s1, s0, m);
			if (g >= 3 && g <= 14) /* words of group g+1 */
				*next = _mm_sha256msg2_epu32(_mm_add_epi32(*next, _mm_alignr_epi8(*cur, *prev, 4)),
				                             *cur);
			s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(m, 0x0E));
			if (g >= 1 && g <= 12) /* first part of group g+3's */
				*prev = _mm_sha256msg1_epu32(*prev, *cur);
		}
		s0 = _mm_add_epi32(s0, save0);
		s1 = _mm_add_epi32(s1, save1);
	}
	t = _mm_shuffle_epi32(s0, 0x1B);            /* F E B A */
	s1 = _mm_shuffle_epi32(s1, 0xB1);           /* D C H G */
	_mm_storeu_si128((__m128i *)(void *)h, _mm_blend_epi16(t, s1, 0xF0));
	_mm_storeu_si128((__m128i *)(void *)(h + 4), _mm_alignr_epi8(s1, t, 8));
}
#endif

/* Exposed for the test that compares both paths. */
void oi__sha256_blocks(uint32_t h[8], const uint8_t *p, size_t n, int portable);
void oi__sha256_blocks(uint32_t h[8], const uint8_t *p, size_t n, int portable)
{
#ifdef HAVE_SHA_NI
	static _Atomic int ni = -1; /* every thread stores the same answer */
	int have = atomic_load_explicit(&ni, memory_order_relaxed);
	if (have < 0) {
		/* SHA is CPUID.(7,0):EBX bit 29, read directly: not every
		 * compiler's __builtin_cpu_supports knows "sha" */
		unsigned a, b, c, d;
		__builtin_cpu_init();
		have = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b >> 29 & 1) &&
		       __builtin_cpu_supports("sse4.1") && __builtin_cpu_supports("ssse3");
		atomic_store_explicit(&ni, have, memory_order_relaxed);
	}
	if (have && !portable) {
		blocks_ni(h, p, n);
		return;
	}
#endif
	(void)portable;
	blocks_c(h, p, n);
}

static void block(oi_sha256_ctx *c, const uint8_t *p)
{
	oi__sha256_blocks(c->h, p, 1, 0);
}

void oi__sha256_init(oi_sha256_ctx *c)
{
	static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		                        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
	memcpy(c->h, iv, sizeof iv);
	c->len = 0;
	c->fill = 0;
}

void oi__sha256_update(oi_sha256_ctx *c, const void *data, size_t n)
{
	const uint8_t *p = data;
	c->len += n;
	if (c->fill) {
		size_t take = 64 - c->fill < n ? 64 - c->fill : n;
		memcpy(c->buf + c->fill, p, take);
		c->fill += take;
		p += take;
		n -= take;
		if (c->fill < 64)
			return;
		block(c, c->buf);
		c->fill = 0;
	}
	oi__sha256_blocks(c->h, p, n / 64, 0);
	p += n / 64 * 64;
	n %= 64;
	memcpy(c->buf, p, n);
	c->fill = n;
}

void oi__sha256_final(oi_sha256_ctx *c, uint8_t out[32])
{
	uint64_t bits = c->len * 8;
	uint8_t pad[72] = { 0x80 };
	size_t padlen = (c->fill < 56 ? 56 : 120) - c->fill;
	for (int i = 0; i < 8; i++)
		pad[padlen + i] = (uint8_t)(bits >> (56 - 8 * i));
	oi__sha256_update(c, pad, padlen + 8);
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(c->h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
		out[4 * i + 3] = (uint8_t)c->h[i];
	}
}

void oi__sha256_final_hex(oi_sha256_ctx *c, char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	uint8_t d[32];
	oi__sha256_final(c, d);
	for (int i = 0; i < 32; i++) {
		hex[2 * i] = digits[d[i] >> 4];
		hex[2 * i + 1] = digits[d[i] & 15];
	}
	hex[64] = 0;
}

int oi__sha256_fd(oi_sha256_ctx *c, int fd, bool (*stop)(void *), void *arg)
{
	enum { BUF = 1 << 20 };
	uint8_t *buf = malloc(BUF);
	int rc = buf ? 0 : ENOMEM;
	for (off_t off = 0; !rc;) {
		if (stop && stop(arg)) {
			rc = -1;
			break;
		}
		ssize_t n = pread(fd, buf, BUF, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = errno;
		if (n <= 0)
			break;
		oi__sha256_update(c, buf, (size_t)n);
		off += n;
	}
	free(buf);
	return rc;
}

int oi__sha256_file(const char *path, char hex[65])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	oi_sha256_ctx c;
	oi__sha256_init(&c);
	int rc = oi__sha256_fd(&c, fd, NULL, NULL);
	close(fd);
	if (rc) {
		errno = rc;
		return -1;
	}
	oi__sha256_final_hex(&c, hex);
	return 0;
}
