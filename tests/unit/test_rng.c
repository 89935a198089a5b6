/* Philox known answers, the elementary functions against libm, moments. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "rng.h"

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
	/* the same element always gives the same value */
	assert_true(oi__normal(a, 12345, 0) == oi__normal(a, 12345, 0));
	assert_true(oi__uniform(a, 7) != oi__uniform(a, 8));
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
		cmocka_unit_test(moments),
	};
	return cmocka_run_group_tests_name("rng", tests, NULL, NULL);
}
