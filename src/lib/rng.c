/* See rng.h. */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>

#include "onnxinit.h"
#include "rng.h"
#include "simd.h"

uint64_t oi__fnv1a64(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

uint64_t oi__mix64(uint64_t x)
{
	uint64_t z = x + 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint64_t oi_derive_seed(uint64_t seed, const char *text)
{
	return oi__mix64(seed ^ oi__fnv1a64(text));
}

oi_key oi__rng_key(uint64_t seed, const char *name)
{
	uint64_t k = oi__mix64(seed ^ oi__mix64(oi__fnv1a64(name)));
	return (oi_key){ { (uint32_t)k, (uint32_t)(k >> 32) } };
}

/* ---- elementary functions from + - * / only ------------------------------ */

static const double LN2_HI = 6.93147180369123816490e-01; /* fdlibm's split of ln 2 */
static const double LN2_LO = 1.90821492927058770002e-10;

double oi__exp(double x)
{
	if (x != x)
		return x;
	if (x > 709.78)
		return INFINITY;
	if (x < -745.2)
		return 0.0;
	double kd = floor(x * 1.44269504088896338700 + 0.5);
	int k = (int)kd;
	double r = (x - kd * LN2_HI) - kd * LN2_LO; /* |r| <= ln2/2 */
	/* Horner on the Taylor series; the reciprocals are folded by the
	 * compiler into correctly rounded constants */
	static const double inv[18] = { 0, 1.0, 1.0 / 2, 1.0 / 3, 1.0 / 4, 1.0 / 5, 1.0 / 6,
		1.0 / 7, 1.0 / 8, 1.0 / 9, 1.0 / 10, 1.0 / 11, 1.0 / 12, 1.0 / 13, 1.0 / 14,
		1.0 / 15, 1.0 / 16, 1.0 / 17 };
	double sum = 1.0;
	for (int n = 17; n >= 1; n--)
		sum = 1.0 + sum * r * inv[n];
	return ldexp(sum, k);
}

double oi__log(double x)
{
	if (!(x > 0))
		return x == 0 ? -INFINITY : NAN;
	if (isinf(x))
		return x;
	int e;
	double m = frexp(x, &e); /* x = m·2^e, m in [0.5, 1) */
	if (m < 0.70710678118654752440) {
		m *= 2.0;
		e--;
	}
	double s = (m - 1.0) / (m + 1.0), z = s * s; /* |s| <= 0.1716, z <= 0.0295 */
	/* series = Σ_{k=1..12} z^k/(2k+1), by Estrin's scheme: a fixed order of
	 * operations (so the same bits everywhere) with a short dependency chain */
	static const double a[13] = { 1.0, 1.0 / 3, 1.0 / 5, 1.0 / 7, 1.0 / 9, 1.0 / 11,
		1.0 / 13, 1.0 / 15, 1.0 / 17, 1.0 / 19, 1.0 / 21, 1.0 / 23, 1.0 / 25 };
	double z2 = z * z, z4 = z2 * z2, z8 = z4 * z4;
	double q0 = a[1] + a[2] * z, q1 = a[3] + a[4] * z, q2 = a[5] + a[6] * z;
	double q3 = a[7] + a[8] * z, q4 = a[9] + a[10] * z, q5 = a[11] + a[12] * z;
	double r0 = q0 + q1 * z2, r1 = q2 + q3 * z2, r2 = q4 + q5 * z2;
	double series = z * ((r0 + r1 * z4) + r2 * z8);
	double logm = 2.0 * s + 2.0 * s * series;
	return e * LN2_HI + (logm + e * LN2_LO);
}

/* ---- distributions ------------------------------------------------------ */

/* The ziggurat (rng.h): a table built once, from IEEE operations and our
 * own ln and exp, so the same on every machine. */
static oi_zig zig;
static pthread_once_t zig_once = PTHREAD_ONCE_INIT;

static void zig_build(void)
{
	zig.f[0] = 0.0;
	zig.x[1] = OI_ZIG_R;
	zig.f[1] = oi__exp(-0.5 * OI_ZIG_R * OI_ZIG_R);
	zig.x[0] = OI_ZIG_V / zig.f[1];
	for (int k = 1; k < OI_ZIG_LAYERS - 1; k++) {
		zig.f[k + 1] = OI_ZIG_V / zig.x[k] + zig.f[k];
		zig.x[k + 1] = sqrt(-2.0 * oi__log(zig.f[k + 1]));
	}
	zig.x[OI_ZIG_LAYERS] = 0.0;
	zig.f[OI_ZIG_LAYERS] = 1.0;
}

const oi_zig *oi__zig(void)
{
	pthread_once(&zig_once, zig_build);
	return &zig;
}

static inline double u53(uint64_t w) { return (double)(w >> 11) * 0x1p-53; }

/* The words W1, W2, ... of a draw: two a block, (i, t, s) for t = 0, 1, ... */
typedef struct words {
	oi_key key;
	uint64_t i;
	uint32_t s, t;
	bool odd;
	uint32_t w[4];
} words;

static uint64_t next_word(words *q)
{
	q->odd = !q->odd;
	if (!q->odd)
		return oi__word64(q->w[2], q->w[3]);
	oi__rng_block(q->key, q->i, q->t++, q->s, q->w);
	return oi__word64(q->w[0], q->w[1]);
}

enum { ZIG_TRIES = 64 };

/* Marsaglia's tail beyond R: exponential proposals until one is under the
 * curve; 1 - u is in (0, 1], so the ln is finite. */
static double zig_tail(words *q)
{
	for (int n = 0; n < ZIG_TRIES; n++) {
		double a = -oi__log(1.0 - u53(next_word(q))) / OI_ZIG_R;
		double b = -oi__log(1.0 - u53(next_word(q)));
		if (b + b >= a * a)
			return OI_ZIG_R + a;
	}
	return OI_ZIG_R;
}

/* Attempts from word w on: a rejected wedge starts over with a new word,
 * which keeps the distribution exact. */
static double zig_attempts(const oi_zig *z, words *q, uint64_t w)
{
	for (int n = 0; n < ZIG_TRIES; n++, w = next_word(q)) {
		unsigned k = (unsigned)(w & (OI_ZIG_LAYERS - 1));
		double x = u53(w) * z->x[k], v;
		if (x < z->x[k + 1])
			v = x;
		else if (k == 0)
			v = zig_tail(q);
		else if (z->f[k] + u53(next_word(q)) * (z->f[k + 1] - z->f[k]) < oi__exp(-0.5 * x * x))
			v = x;
		else
			continue;
		return w >> 8 & 1 ? -v : v;
	}
	return 0.0;
}

double oi__normal_slow(oi_key key, uint64_t i, uint64_t w0)
{
	words q = { .key = key, .i = i, .s = 2 };
	return zig_attempts(oi__zig(), &q, w0);
}

double oi__normal(oi_key key, uint64_t i, uint32_t draw)
{
	if (draw == 0) {
		uint32_t w[4];
		oi__rng_block(key, i >> 1, 0, 0, w);
		return oi__normal_slow(key, i, i & 1 ? oi__word64(w[2], w[3]) : oi__word64(w[0], w[1]));
	}
	words q = { .key = key, .i = i, .s = 2 + draw };
	return zig_attempts(oi__zig(), &q, next_word(&q));
}

/* Draw 0's first attempt, which decides 98.5% of values: the vector
 * path does the same operations (simd_avx2.c). */
static inline double zig_first(const oi_zig *z, oi_key key, uint64_t i, uint64_t w)
{
	unsigned k = (unsigned)(w & (OI_ZIG_LAYERS - 1));
	double x = u53(w) * z->x[k];
	if (x < z->x[k + 1])
		return w >> 8 & 1 ? -x : x;
	return oi__normal_slow(key, i, w);
}

#define MAX_DRAWS 100000u

double oi__trunc_normal_wide(oi_key key, uint64_t i, double lo, double hi, uint32_t from)
{
	double z = 0;
	for (uint32_t j = from; j < MAX_DRAWS; j++) {
		z = oi__normal(key, i, j);
		if (z >= lo && z <= hi)
			return z;
	}
	return z < lo ? lo : hi;
}

/* Rejection samplers chosen so that each accepts at least about 30% of
 * draws (Robert, "Simulation of truncated normal variables", 1995). */
double oi__trunc_normal(oi_key key, uint64_t i, double lo, double hi)
{
	uint32_t w[4];
	if (lo <= 0 && hi >= 0) {
		if (hi - lo >= 1.0)
			return oi__trunc_normal_wide(key, i, lo, hi, 0);
		double x = 0;
		for (uint32_t j = 0; j < MAX_DRAWS; j++) {
			oi__rng_block(key, i, j, 0, w);
			x = lo + (hi - lo) * oi__u01(w[0], w[1]);
			if (oi__u01(w[2], w[3]) < oi__exp(-0.5 * x * x))
				return x;
		}
		return x;
	}
	double sign = 1.0;
	if (hi < 0) { /* mirror into the right tail */
		double t = lo;
		lo = -hi;
		hi = -t;
		sign = -1.0;
	}
	double lambda = 0.5 * (lo + sqrt(lo * lo + 4.0));
	double x = lo;
	if ((hi - lo) * lambda < 1.0) {
		for (uint32_t j = 0; j < MAX_DRAWS; j++) {
			oi__rng_block(key, i, j, 0, w);
			x = lo + (hi - lo) * oi__u01(w[0], w[1]);
			if (oi__u01(w[2], w[3]) < oi__exp(0.5 * (lo * lo - x * x)))
				return sign * x;
		}
		return sign * x;
	}
	for (uint32_t j = 0; j < MAX_DRAWS; j++) {
		oi__rng_block(key, i, j, 0, w);
		x = lo - oi__log(1.0 - oi__u01(w[0], w[1])) / lambda;
		if (x > hi)
			continue;
		double d = x - lambda;
		if (oi__u01(w[2], w[3]) < oi__exp(-0.5 * d * d))
			return sign * x;
	}
	return sign * (x > hi ? hi : x);
}

/* ---- many elements at once (simd.h) -------------------------------------- */

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

bool oi__simd_avx2(void)
{
#if defined(__x86_64__) || defined(__i386__)
	/* F16C is CPUID.1:ECX bit 29, read directly: not every compiler's
	 * __builtin_cpu_supports knows "f16c" */
	unsigned a, b, c, d;
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1);
#else
	return false;
#endif
}

void oi__uniform_n_scalar(oi_key key, uint64_t first, size_t n, double lo, double w, double *out)
{
	/* two elements a block (oi__uniform's layout), one block per pair */
	size_t k = 0;
	uint64_t e = first;
	if (n && (e & 1))
		out[k++] = lo + w * oi__uniform(key, e++);
	for (; k + 1 < n; k += 2, e += 2) {
		uint32_t wd[4];
		oi__rng_block(key, e >> 1, 0, 0, wd);
		out[k] = lo + w * oi__u01(wd[0], wd[1]);
		out[k + 1] = lo + w * oi__u01(wd[2], wd[3]);
	}
	if (k < n)
		out[k] = lo + w * oi__uniform(key, e);
}

void oi__normal_n_scalar(oi_key key, uint64_t first, size_t n, double *out)
{
	const oi_zig *z = oi__zig();
	size_t k = 0;
	uint64_t e = first;
	if (n && (e & 1))
		out[k++] = oi__normal(key, e++, 0);
	for (; k + 1 < n; k += 2, e += 2) {
		uint32_t w[4];
		oi__rng_block(key, e >> 1, 0, 0, w);
		out[k] = zig_first(z, key, e, oi__word64(w[0], w[1]));
		out[k + 1] = zig_first(z, key, e + 1, oi__word64(w[2], w[3]));
	}
	if (k < n)
		out[k] = oi__normal(key, e, 0);
}

#ifdef OI_HAVE_AVX2
void oi__uniform_n(oi_key key, uint64_t first, size_t n, double lo, double w, double *out)
{
	(oi__simd_avx2() ? oi__uniform_n_avx2 : oi__uniform_n_scalar)(key, first, n, lo, w, out);
}

void oi__normal_n(oi_key key, uint64_t first, size_t n, double *out)
{
	(oi__simd_avx2() ? oi__normal_n_avx2 : oi__normal_n_scalar)(key, first, n, out);
}
#else
void oi__uniform_n(oi_key key, uint64_t first, size_t n, double lo, double w, double *out)
{
	oi__uniform_n_scalar(key, first, n, lo, w, out);
}

void oi__normal_n(oi_key key, uint64_t first, size_t n, double *out)
{
	oi__normal_n_scalar(key, first, n, out);
}
#endif
