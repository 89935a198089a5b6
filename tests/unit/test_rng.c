/* Philox known answers, the streams' values against an independent rebuild
 * (the normals' slow paths too), the ziggurat's layers, the elementary
 * functions against libm, moments and the normal's distribution. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rng.h"
#include "simd.h"
#include "support.h"

static void philox_known_answers(void **state)
{
	(void)state;
	/* Random123's kat_vectors for philox4x32-10 */
	static const uint32_t cases[3][10] = {
		{ 0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8 },
		{ 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
		  0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd },
		{ 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
		  0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1 },
	};
	for (int c = 0; c < 3; c++) {
		uint32_t out[4];
		oi__philox(cases[c], cases[c] + 4, out);
		assert_memory_equal(out, cases[c] + 6, sizeof out);
	}
}

static double ulps(double a, double b)
{
	if (a == b)
		return 0;
	return fabs(a - b) / (nextafter(fabs(b), INFINITY) - fabs(b));
}

static void elementary_functions(void **state)
{
	(void)state;
	double worst_exp = 0, worst_log = 0;
	for (int i = 0; i < 200000; i++) {
		double x = -40.0 + 80.0 * i / 200000.0;
		worst_exp = fmax(worst_exp, ulps(oi__exp(x), exp(x)));
		double y = ldexp(1.0 + i / 200000.0, (i % 200) - 100);
		worst_log = fmax(worst_log, fabs(oi__log(y) - log(y)) /
		                                (nextafter(fabs(log(y)), INFINITY) - fabs(log(y)) + 1e-300));
	}
	assert_true(worst_exp <= 4);
	assert_true(worst_log <= 4);
	assert_true(oi__exp(-1000) == 0 && isinf(oi__exp(1000)));
	assert_true(oi__log(1.0) == 0.0);
	assert_true(isinf(oi__log(0.0)));
}

static void keys_and_streams(void **state)
{
	(void)state;
	oi_key a = oi__rng_key(0, "w"), b = oi__rng_key(1, "w"), c = oi__rng_key(0, "v");
	assert_memory_not_equal(&a, &b, sizeof a);
	assert_memory_not_equal(&a, &c, sizeof a);
	assert_true(oi__fnv1a64("") == 0xcbf29ce484222325ULL);
	assert_true(oi__fnv1a64("a") == 0xaf63dc4c8601ec8cULL);
	/* neighbours differ, in a pair and across pairs */
	assert_true(oi__uniform(a, 6) != oi__uniform(a, 7));
	assert_true(oi__uniform(a, 7) != oi__uniform(a, 8));
	assert_true(oi__normal(a, 7, 0) != oi__normal(a, 8, 0));
	assert_true(oi__normal(a, 7, 0) != oi__normal(a, 7, 1));
}

/* The first elements of two tensors' streams, from the Python rebuild of the
 * stream's description: tests/rng/check_stream.py --vectors SEED NAME. All
 * exact, the normals too (the rebuild has onnxinit's ln and exp). Element i
 * of a uniform fill takes words 0-1 of block i/2 when i is even and words
 * 2-3 when odd: the odd elements are what catch a swapped pair. The slow
 * cases are the first elements whose normal (draw 0, draw 1) is accepted in
 * a wedge, comes after a rejected wedge, comes from the tail; the digests
 * (FNV-1a 64 of the values' bytes) hold every decision of many elements. */
typedef struct slow_case {
	uint32_t draw;
	uint64_t i;
	double z;
} slow_case;

static const struct stream_vector {
	uint64_t seed;
	const char *name;
	uint32_t key[2];
	double uniform[8], normal[8];
	size_t n;
	slow_case slow[6];
	uint64_t digest[2]; /* draw 0 over 100000 elements, draw 1 over 20000 */
} vectors[] = {
	{ 42, "W", { 0xe345e2f4, 0xf52d3c69 },
	  { 0x1.62a30c641541cp-2, 0x1.dad328703d279p-1, 0x1.7963829cacf2ap-2, 0x1.11090f1518733p-1,
	    0x1.e1fefa4a1946bp-1, 0x1.8cdff620a2a50p-4, 0x1.c9f45cb67eeb2p-2, 0x1.b710793bb0040p-2 },
	  { 0x1.552ef6c48f38bp-2, -0x1.bfd74a1aaee07p+0, -0x1.83a599da9f887p-2,
	    0x1.92a40b1a980c6p-1, 0x1.3e44f93dfe5a7p+0, -0x1.030d1a1c81d8ap-2,
	    -0x1.8b943f56499a1p-2, 0x1.710d223764b5ap-1 },
	  8,
	  { { 0, 153, -0x1.01be4e825d318p+0 }, { 0, 325, -0x1.93fc2614dad6ap+0 },
	    { 0, 1810, -0x1.f276b50d97534p+1 }, { 1, 123, 0x1.1f04638db940dp+0 },
	    { 1, 104, 0x1.5d73afeca8202p-1 }, { 1, 827, 0x1.dcfb6dcf8bba2p+1 } },
	  { 0x2a91705f275d7dc3ULL, 0xcd680f32e00be352ULL } },
	{ 12345678901234567890u, "encoder.layer.0.weight", { 0x1634126a, 0x638611d5 },
	  { 0x1.24294db7e3538p-1, 0x1.ec34032002840p-3, 0x1.0bb92ada30dc6p-1, 0x1.982b9fc0a7672p-1 },
	  { -0x1.4fa728f58e7eep+0, 0x1.005d2e1c432c9p-1, -0x1.b892c925d5e32p-1,
	    -0x1.404a103ed397ap+0 },
	  4,
	  { { 0, 57, -0x1.d0eb317add0f8p+0 }, { 0, 13, -0x1.90f0387ffc8dcp-2 },
	    { 0, 8135, -0x1.0c3a4c79a1b0ap+2 }, { 1, 37, -0x1.34f2a51303c5ap-1 },
	    { 1, 33, -0x1.81b12f38d3392p+0 }, { 1, 3156, 0x1.db940fc2409a4p+1 } },
	  { 0x6c3ebfc1d46ebb75ULL, 0xab02080c48d66760ULL } },
};

static void expect_exact(double got, double want, const char *what, uint64_t i)
{
	if (memcmp(&got, &want, sizeof got))
		fail_msg("%s %llu is %a, expected %a", what, (unsigned long long)i, got, want);
}

/* FNV-1a 64 of the little-endian bytes of draw `draw` of elements 0 .. n-1 */
static uint64_t normal_digest(oi_key k, uint32_t draw, uint64_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (uint64_t i = 0; i < n; i++) {
		double z = oi__normal(k, i, draw);
		uint64_t bits;
		memcpy(&bits, &z, 8);
		for (int b = 0; b < 8; b++) {
			h ^= (bits >> 8 * b) & 0xFF;
			h *= 0x100000001b3ULL;
		}
	}
	return h;
}

static void stream_vectors(void **state)
{
	(void)state;
	for (size_t v = 0; v < sizeof vectors / sizeof *vectors; v++) {
		const struct stream_vector *sv = &vectors[v];
		oi_key k = oi__rng_key(sv->seed, sv->name);
		assert_int_equal(k.k[0], sv->key[0]);
		assert_int_equal(k.k[1], sv->key[1]);
		for (size_t i = 0; i < sv->n; i++) {
			expect_exact(oi__uniform(k, i), sv->uniform[i], "uniform", i);
			expect_exact(oi__normal(k, i, 0), sv->normal[i], "normal", i);
		}
		for (int c = 0; c < 6; c++) {
			const slow_case *sc = &sv->slow[c];
			expect_exact(oi__normal(k, sc->i, sc->draw), sc->z,
			             sc->draw ? "slow normal, draw 1," : "slow normal, draw 0,", sc->i);
		}
		if (normal_digest(k, 0, 100000) != sv->digest[0])
			fail_msg("%s: draw 0's digest differs", sv->name);
		if (normal_digest(k, 1, 20000) != sv->digest[1])
			fail_msg("%s: draw 1's digest differs", sv->name);
	}
}

/* The layers: each box of area V (to rounding), the top one closing at
 * f = 1, the heights on the curve, the edges against the exact ziggurat
 * (mpmath, 50 digits) and against each other. */
static void ziggurat_tables(void **state)
{
	(void)state;
	const oi_zig *z = oi__zig();
	const double v = OI_ZIG_V;
	assert_true(z->x[1] == OI_ZIG_R && z->f[0] == 0 && z->x[OI_ZIG_LAYERS] == 0 &&
	            z->f[OI_ZIG_LAYERS] == 1);
	assert_true(fabs(z->x[0] * z->f[1] - v) <= 1e-15 * v);
	/* the base: the rectangle under f(R) plus the tail, sqrt(pi/2)·erfc(R/sqrt 2) */
	double tail = sqrt(M_PI / 2) * erfc(OI_ZIG_R / sqrt(2.0));
	assert_true(fabs(OI_ZIG_R * z->f[1] + tail - v) <= 1e-14 * v);
	for (int k = 1; k < OI_ZIG_LAYERS; k++) {
		double area = z->x[k] * (z->f[k + 1] - z->f[k]);
		if (fabs(area - v) > (k == OI_ZIG_LAYERS - 1 ? 1e-12 : 1e-13) * v)
			fail_msg("layer %d: area %a, V %a", k, area, v);
		if (!(z->x[k + 1] < z->x[k]) || !(z->f[k + 1] > z->f[k]))
			fail_msg("layer %d: not a ziggurat", k);
		if (fabs(z->f[k] - exp(-0.5 * z->x[k] * z->x[k])) > 4e-15 * z->f[k])
			fail_msg("layer %d: f %a off the curve", k, z->f[k]);
	}
	static const struct {
		int k;
		double x;
	} exact[] = { { 0, 3.910757959524915869549621 }, { 2, 3.449278298561431270627228 },
		      { 64, 2.025713947863854245252399 }, { 128, 1.535342571441514138082707 },
		      { 200, 1.035040439833440875887863 }, { 255, 0.2152418959848816993259761 } };
	for (size_t e = 0; e < sizeof exact / sizeof *exact; e++)
		if (fabs(z->x[exact[e].k] - exact[e].x) > 1e-13 * exact[e].x)
			fail_msg("x[%d] = %a, exactly %.17g", exact[e].k, z->x[exact[e].k], exact[e].x);
}

/* The same values through a plan and a save: a float64 tensor filled by
 * uniform(low=0,high=1) holds the uniforms themselves, normal(mean=0,std=1)
 * the normals. */
static void stream_through_save(void **state)
{
	(void)state;
	const struct stream_vector *sv = &vectors[0];
	tb *b = tb_new(17);
	tb_input(b, "x", OI_DTYPE_DOUBLE, "3,2");
	Onnx__TensorProto *w = tb_tensor(b, sv->name, OI_DTYPE_DOUBLE, "2,6", 0);
	tb_push(b, (void ***)&b->g.initializer, &b->g.n_initializer, w);
	tb_node(b, "MatMul", "x,W", "y");
	tb_output(b, "y", OI_DTYPE_DOUBLE, NULL);
	const char *in = tb_write(b, "stream.onnx");
	tb_free(b);
	static const char *const specs[2] = { "name:W=uniform(low=0,high=1)",
		                              "name:W=normal(mean=0,std=1)" };
	for (int s = 0; s < 2; s++) {
		oi_model *m = t_open(in, OI_FANS_TORCH);
		const char *rules[] = { specs[s], NULL };
		if (t_plan(m, "keep", sv->seed, rules))
			fail_msg("%s: %s", specs[s], oi_last_error());
		const char *out = t_path(s ? "stream-normal.onnx" : "stream-uniform.onnx");
		if (oi_model_save(m, out, NULL))
			fail_msg("save: %s", oi_last_error());
		oi_model_free(m);
		Onnx__ModelProto *pb = t_unpack(out);
		const Onnx__TensorProto *t = pb->graph->initializer[0];
		assert_int_equal(t->raw_data.len, 12 * sizeof(double));
		for (size_t i = 0; i < sv->n; i++) {
			double got;
			memcpy(&got, t->raw_data.data + 8 * i, 8);
			char what[80];
			snprintf(what, sizeof what, "%s, element %zu", specs[s], i);
			if (s == 0 && got != sv->uniform[i])
				fail_msg("%s: %a, expected %a", what, got, sv->uniform[i]);
			if (s == 1 && got != sv->normal[i])
				fail_msg("%s: %a, expected %a", what, got, sv->normal[i]);
		}
		onnx__model_proto__free_unpacked(pb, NULL);
	}
}

static void moments(void **state)
{
	(void)state;
	oi_key k = oi__rng_key(42, "moments");
	enum { N = 400000 };
	double s = 0, s2 = 0, us = 0, ts = 0, ts2 = 0, tmin = 1e9, tmax = -1e9;
	for (uint64_t i = 0; i < N; i++) {
		double z = oi__normal(k, i, 0);
		s += z;
		s2 += z * z;
		double u = oi__uniform(k, i);
		assert_true(u >= 0 && u < 1);
		us += u;
		double t = oi__trunc_normal(k, i, -2, 2);
		ts += t;
		ts2 += t * t;
		tmin = fmin(tmin, t);
		tmax = fmax(tmax, t);
	}
	assert_true(fabs(s / N) < 0.01);
	assert_true(fabs(s2 / N - 1) < 0.01);
	assert_true(fabs(us / N - 0.5) < 0.005);
	/* N(0,1) truncated to [-2, 2]: variance 0.7737413 */
	assert_true(fabs(ts / N) < 0.01);
	assert_true(fabs(ts2 / N - 0.7737413) < 0.01);
	assert_true(tmin >= -2 && tmax <= 2);
	/* tails, far and narrow: every sample inside */
	double lo[4] = { 3.0, 5.0, -8.0, 0.1 }, hi[4] = { INFINITY, 5.01, -7.0, 0.2 };
	for (int c = 0; c < 4; c++)
		for (uint64_t i = 0; i < 20000; i++) {
			double t = oi__trunc_normal(k, i, lo[c], hi[c]);
			assert_true(t >= lo[c] && t <= hi[c]);
		}
}

static double phi_cdf(double t) { return 0.5 * erfc(-t / sqrt(2.0)); }

/* |count - n·p| within 5 binomial standard deviations */
static void expect_binomial(double count, double n, double p, const char *what)
{
	double sd = sqrt(n * p * (1 - p));
	if (fabs(count - n * p) > 5 * sd)
		fail_msg("%s: %.0f, expected %.1f ± %.1f", what, count, n * p, 5 * sd);
}

/* 10^7 normals through the batch path (vector where the CPU has it): the
 * moments, the tails' frequencies, and the Kolmogorov-Smirnov distance on a
 * grid of 2401 points (a lower bound of the full one), each within about
 * five standard errors; a wrong layer or a wedge test against the wrong
 * box moves some of them far beyond. */
static void normal_distribution(void **state)
{
	(void)state;
	enum { N = 10000000, CHUNK = 1 << 16, GRID = 2400 };
	const double lo = -6.0, step = 12.0 / GRID;
	oi_key k = oi__rng_key(2000, "distribution");
	double *buf = malloc(CHUNK * sizeof *buf), s1 = 0, s2 = 0, s4 = 0, over3 = 0, over4 = 0;
	uint32_t *bins = calloc(GRID + 2, sizeof *bins);
	assert_non_null(buf);
	assert_non_null(bins);
	for (uint64_t first = 0; first < N; first += CHUNK) {
		size_t n = N - first < CHUNK ? (size_t)(N - first) : CHUNK;
		oi__normal_n(k, first, n, buf);
		for (size_t i = 0; i < n; i++) {
			double z = buf[i], z2 = z * z;
			s1 += z;
			s2 += z2;
			s4 += z2 * z2;
			over3 += fabs(z) > 3;
			over4 += fabs(z) > 4;
			double b = floor((z - lo) / step) + 1; /* bin b holds [lo + (b-1)·step, lo + b·step) */
			bins[b < 0 ? 0 : b > GRID + 1 ? GRID + 1 : (size_t)b]++;
		}
	}
	double mean = s1 / N, var = s2 / N, kurt = s4 / N / (var * var);
	if (fabs(mean) > 5 / sqrt(N) || fabs(var - 1) > 5 * sqrt(2.0 / N) ||
	    fabs(s4 / N - 3) > 5 * sqrt(96.0 / N))
		fail_msg("mean %.6f, variance %.6f, kurtosis %.5f", mean, var, kurt);
	expect_binomial(over3, N, 2 * phi_cdf(-3), "|z| > 3");
	expect_binomial(over4, N, 2 * phi_cdf(-4), "|z| > 4");
	double below = bins[0], ks = 0;
	for (int g = 1; g <= GRID; g++) {
		below += bins[g];
		ks = fmax(ks, fabs(below / N - phi_cdf(lo + g * step)));
	}
	/* P(D > 1.95/sqrt(N)) = 0.001 for the full statistic */
	if (ks > 1.95 / sqrt(N))
		fail_msg("Kolmogorov-Smirnov distance %.6f", ks);
	free(buf);
	free(bins);
}

/* Truncated normals, by each sampler: mean and variance against the
 * closed forms (φ, Φ of the standard normal), within 5 standard errors. */
static void trunc_normal_moments(void **state)
{
	(void)state;
	enum { N = 400000 };
	oi_key k = oi__rng_key(3000, "trunc");
	/* wide around 0 (normals, draws 0, 1, ...), narrow around 0 (uniform
	 * proposals), one side near (uniform) and far (exponential) */
	static const double lo[4] = { -1.0, -0.3, 1.0, 3.0 }, hi[4] = { 1.0, 0.4, 1.5, INFINITY };
	for (int c = 0; c < 4; c++) {
		double a = lo[c], b = hi[c];
		double pa = exp(-0.5 * a * a) / sqrt(2 * M_PI);
		double pb = isinf(b) ? 0 : exp(-0.5 * b * b) / sqrt(2 * M_PI);
		double zm = phi_cdf(b) - phi_cdf(a), bpb = isinf(b) ? 0 : b * pb;
		double want_mean = (pa - pb) / zm;
		double want_var = 1 + (a * pa - bpb) / zm - want_mean * want_mean;
		double s = 0, s2 = 0;
		for (uint64_t i = 0; i < N; i++) {
			double t = oi__trunc_normal(k, i, a, b);
			if (!(t >= a && t <= b))
				fail_msg("[%g, %g]: %a outside", a, b, t);
			s += t;
			s2 += t * t;
		}
		double mean = s / N, var = s2 / N - mean * mean;
		if (fabs(mean - want_mean) > 5 * sqrt(want_var / N) ||
		    fabs(var - want_var) > 5 * want_var * sqrt(3.0 / N))
			fail_msg("[%g, %g]: mean %.6f (%.6f), variance %.6f (%.6f)", a, b, mean, want_mean,
			         var, want_var);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(philox_known_answers),
		cmocka_unit_test(elementary_functions),
		cmocka_unit_test(keys_and_streams),
		cmocka_unit_test(stream_vectors),
		cmocka_unit_test(ziggurat_tables),
		cmocka_unit_test(stream_through_save),
		cmocka_unit_test(moments),
		cmocka_unit_test(normal_distribution),
		cmocka_unit_test(trunc_normal_moments),
	};
	return cmocka_run_group_tests_name("rng", tests, t_setup_dir, t_teardown_dir);
}
