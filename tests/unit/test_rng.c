/* Philox known answers, the streams' first values against an independent
 * rebuild, the elementary functions against libm, moments. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "rng.h"
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
 * README's description: tests/rng/check_stream.py --vectors SEED NAME.
 * Uniforms are exact; the normals there use Python's math.log instead of
 * onnxinit's own ln, so they agree to a few ulps. Element i of a uniform
 * fill takes words 0-1 of block i/2 when i is even and words 2-3 when odd:
 * the odd elements are what catch a swapped pair. */
static const struct stream_vector {
	uint64_t seed;
	const char *name;
	uint32_t key[2];
	double uniform[8], normal[8];
	size_t n;
} vectors[] = {
	{ 42, "W", { 0xe345e2f4, 0xf52d3c69 },
	  { 0x1.62a30c641541cp-2, 0x1.dad328703d279p-1, 0x1.7963829cacf2ap-2, 0x1.11090f1518733p-1,
	    0x1.e1fefa4a1946bp-1, 0x1.8cdff620a2a50p-4, 0x1.c9f45cb67eeb2p-2, 0x1.b710793bb0040p-2 },
	  { -0x1.ada9035a538aap-3, -0x1.1b7e4b04ee1e7p+1, -0x1.094559e07c4bep+0,
	    -0x1.90ed109c5af6bp+0, -0x1.c8a1b6b0209ccp-3, 0x1.9e9965459b44ep+0,
	    0x1.aab9ef27dd129p-3, -0x1.f7cee607b022cp+0 },
	  8 },
	{ 12345678901234567890u, "encoder.layer.0.weight", { 0x1634126a, 0x638611d5 },
	  { 0x1.24294db7e3538p-1, 0x1.ec34032002840p-3, 0x1.0bb92ada30dc6p-1, 0x1.982b9fc0a7672p-1 },
	  { 0x1.a713c9e07a098p-2, 0x1.c48b7b3e913b4p-4, -0x1.4d44a558451ebp-2,
	    -0x1.52ebf313eb798p-1 },
	  4 },
};

static void stream_vectors(void **state)
{
	(void)state;
	for (size_t v = 0; v < sizeof vectors / sizeof *vectors; v++) {
		const struct stream_vector *sv = &vectors[v];
		oi_key k = oi__rng_key(sv->seed, sv->name);
		assert_int_equal(k.k[0], sv->key[0]);
		assert_int_equal(k.k[1], sv->key[1]);
		for (size_t i = 0; i < sv->n; i++) {
			double u = oi__uniform(k, i);
			if (u != sv->uniform[i])
				fail_msg("%s: uniform %zu is %a, expected %a", sv->name, i, u, sv->uniform[i]);
			char what[64];
			snprintf(what, sizeof what, "%s: normal %zu", sv->name, i);
			t_near(oi__normal(k, i, 0), sv->normal[i], 1e-14, what);
		}
	}
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
			if (s == 1)
				t_near(got, sv->normal[i], 1e-14, what);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(philox_known_answers),
		cmocka_unit_test(elementary_functions),
		cmocka_unit_test(keys_and_streams),
		cmocka_unit_test(stream_vectors),
		cmocka_unit_test(stream_through_save),
		cmocka_unit_test(moments),
	};
	return cmocka_run_group_tests_name("rng", tests, t_setup_dir, t_teardown_dir);
}
