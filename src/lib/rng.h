/* The random numbers: Philox4x32-10 (Salmon et al., "Parallel random
 * numbers: as easy as 1, 2, 3", SC 2011), counter-based, so that element i of
 * a tensor depends only on the seed, the tensor's name and i: not on threads,
 * chunking, the order of tensors, or the machine.
 *
 * The stream, precisely (README "Reproducible bytes" says the same; this is
 * stream version 2, recorded as "stream" in the provenance):
 *   h    = FNV-1a 64 of the tensor name's bytes
 *   k    = mix64(seed XOR mix64(h)), mix64 = SplitMix64's finalizer
 *   key  = (low 32 bits of k, high 32 bits of k)
 *   block(i, j, s) = Philox4x32-10(key, counter = (low32(i), high32(i), j, s))
 * i is the element index in the tensor's row-major order; j numbers the
 * draws of one element (rejection sampling); s is 0 for values, 1 for
 * auxiliary choices (sparse's zeroed rows), 2 + d for the later words of
 * normal draw d. A 64-bit word is w1·2^32 + w0 (words 0-1 of a block) or
 * w3·2^32 + w2 (words 2-3); a uniform double in [0, 1) is (word >> 11)·2^-53.
 * Plain uniform fills take two elements per block: element i uses block
 * (i div 2, 0, 0), words 0-1 if i is even, 2-3 if odd.
 *
 * Normals: the ziggurat of Marsaglia and Tsang (2000) with 256 layers,
 * exact in distribution. Draw d of element i reads 64-bit words W0, W1, ...
 * in turn: for d = 0, W0 is the uniform's word of element i (above) and
 * W1, W2, W3, W4, ... are words 0-1, 2-3 of blocks (i, 0, 2), (i, 1, 2), ...;
 * for d >= 1, W0, W1, ... are words 0-1, 2-3 of blocks (i, 0, 2 + d),
 * (i, 1, 2 + d), ... An attempt reads a word W: layer k = W mod 256, sign
 * bit W >> 8 & 1, u = (W >> 11)·2^-53, x = u·X[k]. If x < X[k+1] the value
 * is ±x. Else if k = 0, the tail: words A, B, a = -ln(1 - u(A)) / R,
 * b = -ln(1 - u(B)), until b + b >= a·a, and the value is ±(R + a). Else
 * the wedge: the next word C; if F[k] + u(C)·(F[k+1] - F[k]) < exp(-0.5·x·x)
 * the value is ±x, else the next attempt (from scratch) reads the next
 * word. (At most 64 attempts and 64 tail rounds: the value is then 0, or
 * ±R in the tail — probabilities below 10^-130 and 10^-77.)
 * The layers (oi__zig), with R = 0x1.d3bb48209ad33p+1 and
 * V = 0x1.43016a5a43732p-8 (each layer's area, f(x) = exp(-x²/2)):
 *   F[1] = exp(-0.5·R·R), X[1] = R, X[0] = V / F[1], F[0] = 0,
 *   F[k+1] = V / X[k] + F[k], X[k+1] = sqrt(-2·ln F[k+1])  (k = 1 .. 254),
 *   X[256] = 0, F[256] = 1,
 * each operation in double precision, left to right.
 *
 * The elementary functions (ln, exp, in rng.c) are our own, built from
 * + - * / (each correctly rounded by IEEE 754; the build forbids contraction
 * into FMA) and exact scalings by powers of two, so that the values are the
 * same on every machine whatever its libm. */
#ifndef OI_RNG_H
#define OI_RNG_H

#include <stdint.h>

/* The stream described above; recorded in the provenance. Version 1 drew
 * normals by the polar method. */
#define OI_STREAM_VERSION 2

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

/* The 64-bit word of two block words. */
static inline uint64_t oi__word64(uint32_t lo, uint32_t hi) { return (uint64_t)hi << 32 | lo; }

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
/* N(0, 1), the ziggurat (above); draw < 2^32 - 2. */
double oi__normal(oi_key key, uint64_t i, uint32_t draw);
/* Draw 0 of element i from its first word w0 on (the batch paths' lanes
 * whose first attempt is not taken). */
double oi__normal_slow(oi_key key, uint64_t i, uint64_t w0);
/* N(0, 1) conditioned on [lo, hi] (lo < hi; either may be infinite). */
double oi__trunc_normal(oi_key key, uint64_t i, double lo, double hi);
/* Its path where lo <= 0 <= hi and hi - lo >= 1: normals until one falls
 * inside, from draw `from` on (the draws before it having missed). */
double oi__trunc_normal_wide(oi_key key, uint64_t i, double lo, double hi, uint32_t from);

/* The ziggurat's layers (above), built once at first use. Layer k is the
 * box [0, x[k]] × [f[k], f[k+1]]; layer 0 the base, [0, x[1]] × [0, f[1]]
 * and the tail beyond x[1] = R, x[0] its width as a box of area V. */
enum { OI_ZIG_LAYERS = 256 };
#define OI_ZIG_R 0x1.d3bb48209ad33p+1 /* 3.654152885361008771645429720399515762975 */
#define OI_ZIG_V 0x1.43016a5a43732p-8 /* 0.004928673233974655347361775402336028069135 */
typedef struct oi_zig {
	double x[OI_ZIG_LAYERS + 1], f[OI_ZIG_LAYERS + 1];
} oi_zig;
const oi_zig *oi__zig(void);

#endif
