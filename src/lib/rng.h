/* The random numbers: Philox4x32-10 (Salmon et al., "Parallel random
 * numbers: as easy as 1, 2, 3", SC 2011), counter-based, so that element i of
 * a tensor depends only on the seed, the tensor's name and i: not on threads,
 * chunking, the order of tensors, or the machine.
 *
 * The stream, precisely (README "Reproducible bytes" says the same):
 *   h    = FNV-1a 64 of the tensor name's bytes
 *   k    = mix64(seed XOR mix64(h)), mix64 = SplitMix64's finalizer
 *   key  = (low 32 bits of k, high 32 bits of k)
 *   block(i, j) = Philox4x32-10(key, counter = (low32(i), high32(i), j, stream))
 * i is the element index in the tensor's row-major order; j numbers the
 * draws of one element (rejection sampling); stream is 0 for values and 1 for
 * auxiliary choices (sparse's zeroed rows). A uniform double in [0, 1) is
 * (w1·2^32 + w0) >> 11 times 2^-53 from words w0, w1 of a block. Plain
 * uniform fills take two elements per block: element i uses block (i div 2, 0),
 * words 0-1 if i is even, 2-3 if odd.
 *
* The elementary functions (ln, exp) are our own, built from + - * / only (each correctly rounded by IEEE 754, and the build forbids
 * contraction into FMA), so that the values are the same on every machine
 * whatever its libm. */
#ifndef OI_RNG_H
#define OI_RNG_H

#include <stdint.h>

typedef struct oi_key {
	uint32_t k[2];
} oi_key;

/* Inline: it is the inner loop of every scheme. */
static inline void oi__philox(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
	uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
	uint32_t k0 = key[0], k1 = key[1];
	for (int round = 0; round < 10; round++) {
		uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
		uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
		c1 = (uint32_t)p1;
		c3 = (uint32_t)p0;
		c0 = n0;
		c2 = n2;
		k0 += 0x9E3779B9u;
		k1 += 0xBB67AE85u;
	}
	out[0] = c0;
	out[1] = c1;
	out[2] = c2;
	out[3] = c3;
}
uint64_t oi__fnv1a64(const char *s);
uint64_t oi__mix64(uint64_t x);
oi_key oi__rng_key(uint64_t seed, const char *name);

/* Element i, draw j, stream s: four random words. */
static inline void oi__rng_block(oi_key key, uint64_t i, uint32_t j, uint32_t s,
                                 uint32_t out[4])
{
	uint32_t ctr[4] = { (uint32_t)i, (uint32_t)(i >> 32), j, s };
	oi__philox(ctr, key.k, out);
}

/* [0, 1) from two words. */
static inline double oi__u01(uint32_t lo, uint32_t hi)
{
	return (double)((((uint64_t)hi << 32) | lo) >> 11) * 0x1p-53;
}

/* Deterministic elementary functions (see above). */
double oi__exp(double x);
double oi__log(double x);   /* x > 0 */

/* Samples for element i. */
/* [0, 1): elements 2m and 2m+1 share block (m, 0), words 0-1 and 2-3 */
static inline double oi__uniform(oi_key key, uint64_t i)
{
	uint32_t w[4];
	oi__rng_block(key, i >> 1, 0, 0, w);
	return i & 1 ? oi__u01(w[2], w[3]) : oi__u01(w[0], w[1]);
}
double oi__normal(oi_key key, uint64_t i, uint32_t draw);   /* N(0, 1), polar method */
/* N(0, 1) conditioned on [lo, hi] (lo < hi; either may be infinite). */
double oi__trunc_normal(oi_key key, uint64_t i, double lo, double hi);
/* Its path where lo <= 0 <= hi and hi - lo >= 1: normals until one falls
 * inside, from draw `from` on (the draws before it having missed). */
double oi__trunc_normal_wide(oi_key key, uint64_t i, double lo, double hi, uint32_t from);

#endif
