/* The vector kernels give the bytes of their scalar twins: the uniform and
 * normal streams over many keys, starts (odd, even, near the 2^32-block
 * wrap) and lengths (tails), the normals' slow lanes among them, and
 * float16 / bfloat16 rounding at every value each format holds, the ties
 * between them and their neighbours. Skipped where the CPU has no AVX2. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fill.h"
#include "rng.h"
#include "simd.h"
#include "tensor.h"

#ifdef OI_HAVE_AVX2
#define NEED_AVX2()                       \
	do {                                  \
		if (!oi__simd_avx2())             \
			skip();                       \
	} while (0)
#else
#define NEED_AVX2() skip()
#endif

static const uint64_t starts[] = { 0, 1, 2, 3, 7, 15, 16, 17, 1000001, (1ULL << 33) - 21,
                                   (1ULL << 33) - 16, (1ULL << 32) - 3, (1ULL << 40) + 5 };
static const size_t lengths[] = { 0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100, 4099 };

#ifdef OI_HAVE_AVX2
/* The scalar and the vector twin of a generator, on one case. */
typedef void (*pair_fn)(oi_key key, uint64_t first, size_t n, double *scalar, double *vector);

static void uniform_pair(oi_key key, uint64_t first, size_t n, double *a, double *b)
{
	oi__uniform_n_scalar(key, first, n, -0.25, 0.5, a);
	oi__uniform_n_avx2(key, first, n, -0.25, 0.5, b);
	for (size_t i = 0; i < n && i < 40; i++)
		assert_true(a[i] == -0.25 + 0.5 * oi__uniform(key, first + i));
}

static void normal_pair(oi_key key, uint64_t first, size_t n, double *a, double *b)
{
	oi__normal_n_scalar(key, first, n, a);
	oi__normal_n_avx2(key, first, n, b);
}

/* Both twins give the same bytes for every name, seed, start and length
 * (seed_mul spreads the seeds). */
static void each_case(pair_fn fn, uint64_t seed_mul)
{
	double *a = malloc(4099 * sizeof *a), *b = malloc(4099 * sizeof *b);
	assert_non_null(a);
	assert_non_null(b);
	const char *names[] = { "W", "layer.0.weight", "x" };
	for (int kn = 0; kn < 3; kn++)
		for (uint64_t seed = 0; seed < 3; seed++) {
			oi_key key = oi__rng_key(seed * seed_mul, names[kn]);
			for (size_t s = 0; s < sizeof starts / sizeof *starts; s++)
				for (size_t l = 0; l < sizeof lengths / sizeof *lengths; l++) {
					size_t n = lengths[l];
					fn(key, starts[s], n, a, b);
					if (n)
						assert_memory_equal(a, b, n * sizeof *a);
				}
		}
	free(a);
	free(b);
}
#endif

static void uniform_same(void **state)
{
	(void)state;
	NEED_AVX2();
#ifdef OI_HAVE_AVX2
	each_case(uniform_pair, 0x9E3779B97F4A7C15ULL);
#endif
}

static void normal_same(void **state)
{
	(void)state;
	NEED_AVX2();
#ifdef OI_HAVE_AVX2
	each_case(normal_pair, 1);
	double *a = malloc(4096 * sizeof *a), *b = malloc(4096 * sizeof *b);
	assert_non_null(a);
	assert_non_null(b);
	/* a long run: every layer, and the slow lanes (wedge, retries, tail)
	 * thousands of times, counted from the first attempt's word */
	oi_key key = oi__rng_key(7, "long");
	const oi_zig *z = oi__zig();
	size_t slow = 0, tail = 0;
	for (uint64_t first = 0; first < 2000000; first += 4096) {
		oi__normal_n_scalar(key, first, 4096, a);
		oi__normal_n_avx2(key, first, 4096, b);
		assert_memory_equal(a, b, 4096 * sizeof *a);
		for (uint64_t e = first; e < first + 4096; e++) {
			uint32_t w[4];
			oi__rng_block(key, e >> 1, 0, 0, w);
			uint64_t w0 = e & 1 ? oi__word64(w[2], w[3]) : oi__word64(w[0], w[1]);
			unsigned k = (unsigned)(w0 % OI_ZIG_LAYERS);
			slow += !((double)(w0 >> 11) * 0x1p-53 * z->x[k] < z->x[k + 1]);
			tail += fabs(a[e - first]) > OI_ZIG_R;
		}
	}
	assert_true(slow > 20000 && tail > 300);
	free(a);
	free(b);
#endif
}

#ifdef OI_HAVE_AVX2
enum { BATCH = 4096 };

/* n values through the vector and the scalar encoders, f16 and bf16 */
static void check_codecs(const double *v, size_t n)
{
	uint8_t a[2 * BATCH], b[2 * BATCH];
	for (int fmt = 0; fmt < 2; fmt++) {
		for (size_t i = 0; i < n; i++) {
			uint16_t h = fmt ? oi__f64_to_bf16(v[i]) : oi__f64_to_f16(v[i]);
			memcpy(a + 2 * i, &h, 2);
		}
		(fmt ? oi__encode_bf16_avx2 : oi__encode_f16_avx2)(v, n, b);
		for (size_t i = 0; i < n; i++)
			if (memcmp(a + 2 * i, b + 2 * i, 2)) {
				uint16_t x, y;
				memcpy(&x, a + 2 * i, 2);
				memcpy(&y, b + 2 * i, 2);
				fail_msg("%s(%a): scalar %04x, vector %04x", fmt ? "bf16" : "f16", v[i], x, y);
			}
	}
}

static double widen(int fmt, uint16_t h) { return fmt ? oi__bf16_to_f64(h) : oi__f16_to_f64(h); }
#endif

static void halves_same(void **state)
{
	(void)state;
	NEED_AVX2();
#ifdef OI_HAVE_AVX2
	static double v[BATCH];
	size_t n = 0;
#define PUT(x)                        \
	do {                              \
		v[n++] = (x);                 \
		if (n == BATCH) {             \
			check_codecs(v, n);       \
			n = 0;                    \
		}                             \
	} while (0)
	/* every value of both formats, the midpoints to the next (ties), and
	 * a hair either side of each: a double->float->half path rounds those
	 * twice */
	for (int fmt = 0; fmt < 2; fmt++)
		for (uint32_t h = 0; h < 0x10000; h++) {
			double x = widen(fmt, (uint16_t)h);
			PUT(x);
			if (!isfinite(x))
				continue;
			double next = widen(fmt, (uint16_t)(h + 1));
			if (!isfinite(next) || fabs(next) < fabs(x))
				next = ldexp(fmt ? 0x1.ffp127 : 65520.0, 0) * (x < 0 ? -1 : 1);
			double mid = x + (next - x) / 2;
			PUT(mid);
			PUT(nextafter(mid, INFINITY));
			PUT(nextafter(mid, -INFINITY));
			PUT(mid + (next - x) * 0x1p-30);
			PUT(mid - (next - x) * 0x1p-30);
			PUT(mid + (next - x) * 0x1p-26);
			PUT(mid - (next - x) * 0x1p-26);
		}
	/* specials, double subnormals, the overflow edges, far outside float */
	const double special[] = { 0.0, -0.0, INFINITY, -INFINITY, NAN, -NAN, 0x1p-1074, -0x1p-1074,
	                           0x1p-1022, 0x1p-149, 0x1p-150, 0x1.8p-150, 0x1p-25, 0x1.0000000001p-25,
	                           65504.0, 65519.999, 65520.0, -65520.0, 0x1.fep127, 0x1.ff0000001p127,
	                           0x1p128, 1e300, -1e300, 0x1.fffffffffffffp1023, 3.4028235677973366e38,
	                           3.4028234663852886e38 };
	for (size_t i = 0; i < sizeof special / sizeof *special; i++)
		PUT(special[i]);
	/* random bit patterns over the exponents the formats reach */
	uint64_t x = 88172645463325252ULL;
	for (int i = 0; i < 2000000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint64_t e = 1023 - 40 + (x >> 20) % 180;
		uint64_t bits = (x & 0x800FFFFFFFFFFFFFULL) | (e << 52);
		double d;
		memcpy(&d, &bits, 8);
		PUT(d);
	}
	if (n)
		check_codecs(v, n);
	/* tails: lengths not a multiple of four */
	for (size_t len = 0; len < 9; len++)
		check_codecs((const double[]){ 0.1, -0.2, 0.3, 65519.0, 1e-8, -3.0, 0.5, 2.5, 7.0 },
		             len);
#undef PUT
#endif
}

/* The fills that take their normals in batches give each element what
 * the one-element functions give it. */
static void fills_same(void **state)
{
	(void)state;
	static double out[5000];
	oi_fill f = { .kind = OI_FILL_TRUNC, .p = { 0.1, 0.5, -0.9, 1.1 } };
	f.key = oi__rng_key(3, "trunc");
	for (int c = 0; c < 2; c++) {
		if (c) /* narrow: not the batched path */
			f.p[2] = 0.0, f.p[3] = 0.2;
		oi__fill_chunk(&f, 999, 5000, out);
		double lo = (f.p[2] - f.p[0]) / f.p[1], hi = (f.p[3] - f.p[0]) / f.p[1];
		for (uint64_t i = 0; i < 5000; i++) {
			double v = f.p[0] + f.p[1] * oi__trunc_normal(f.key, 999 + i, lo, hi);
			v = v < f.p[2] ? f.p[2] : v > f.p[3] ? f.p[3] : v;
			assert_true(out[i] == v);
		}
	}
	oi_fill g = { .kind = OI_FILL_NORMAL, .p = { -1.0, 3.0 } };
	g.key = oi__rng_key(4, "normal");
	oi__fill_chunk(&g, 12345, 5000, out);
	for (uint64_t i = 0; i < 5000; i++)
		assert_true(out[i] == -1.0 + 3.0 * oi__normal(g.key, 12345 + i, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(uniform_same),
		cmocka_unit_test(normal_same),
		cmocka_unit_test(halves_same),
		cmocka_unit_test(fills_same),
	};
	return cmocka_run_group_tests_name("simd", tests, NULL, NULL);
}
