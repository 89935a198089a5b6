/* float16 / bfloat16 codecs: exhaustive round trips and tie rounding. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tensor.h"

typedef uint16_t (*narrow_fn)(double);
typedef double (*widen_fn)(uint16_t);

static bool is_nan_bits(uint16_t h, unsigned ebits, unsigned mbits)
{
	unsigned e = (h >> mbits) & ((1u << ebits) - 1);
	return e == (1u << ebits) - 1 && (h & ((1u << mbits) - 1));
}

/* Every finite pattern widens and narrows back to itself; the midpoint of two
 * neighbours rounds to the even one; just past it rounds away. */
static void check_format(narrow_fn narrow, widen_fn widen, unsigned ebits, unsigned mbits)
{
	uint16_t inf = (uint16_t)(((1u << ebits) - 1) << mbits);
	for (uint32_t h = 0; h <= 0xffff; h++) {
		if (is_nan_bits((uint16_t)h, ebits, mbits)) {
			uint16_t r = narrow(widen((uint16_t)h));
			assert_true(is_nan_bits(r, ebits, mbits));
			continue;
		}
		assert_int_equal(narrow(widen((uint16_t)h)), h);
		uint16_t mag = h & (uint16_t)~(1u << (ebits + mbits));
		if (mag >= inf - 1)
			continue; /* next is inf or beyond */
		double a = widen((uint16_t)h), b = widen((uint16_t)(h + 1));
		double mid = (a + b) / 2; /* exact in double */
		uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
		assert_int_equal(narrow(mid), even);
		assert_int_equal(narrow(nextafter(mid, b)), h + 1);
		assert_int_equal(narrow(nextafter(mid, a)), h);
	}
}

static void f16_exhaustive(void **state)
{
	(void)state;
	check_format(oi__f64_to_f16, oi__f16_to_f64, 5, 10);
}

static void bf16_exhaustive(void **state)
{
	(void)state;
	check_format(oi__f64_to_bf16, oi__bf16_to_f64, 8, 7);
}

static void known_values(void **state)
{
	(void)state;
	assert_int_equal(oi__f64_to_f16(1.0), 0x3c00);
	assert_int_equal(oi__f64_to_f16(-2.0), 0xc000);
	assert_int_equal(oi__f64_to_f16(65504.0), 0x7bff);
	assert_int_equal(oi__f64_to_f16(65519.99), 0x7bff);
	assert_int_equal(oi__f64_to_f16(65520.0), 0x7c00); /* ties to even: inf */
	assert_int_equal(oi__f64_to_f16(1e10), 0x7c00);
	assert_int_equal(oi__f64_to_f16(ldexp(1, -24)), 0x0001);
	assert_int_equal(oi__f64_to_f16(ldexp(1, -25)), 0x0000);       /* tie to even 0 */
	assert_int_equal(oi__f64_to_f16(ldexp(3, -26)), 0x0001);
	assert_int_equal(oi__f64_to_f16(ldexp(3, -25)), 0x0002);       /* 1.5 ulp: to even */
	assert_int_equal(oi__f64_to_f16(-0.0), 0x8000);
	assert_int_equal(oi__f64_to_f16(0.1), 0x2e66);
	assert_int_equal(oi__f64_to_f16(INFINITY), 0x7c00);
	assert_int_equal(oi__f64_to_f16(1e-300), 0);
	assert_int_equal(oi__f64_to_bf16(1.0), 0x3f80);
	assert_int_equal(oi__f64_to_bf16(3.140625), 0x4049);
	assert_int_equal(oi__f64_to_bf16(-INFINITY), 0xff80);
	assert_int_equal(oi__f64_to_bf16(3.4e38), 0x7f80); /* past the largest bf16: inf */
	assert_true(isnan(oi__f16_to_f64(oi__f64_to_f16(NAN))));
	/* straight from double: no double rounding through float32 */
	double v = 1.0 + ldexp(1, -8) + ldexp(1, -30); /* just above a bf16 tie */
	assert_int_equal(oi__f64_to_bf16(v), 0x3f81);
}

static void raw_roundtrip(void **state)
{
	(void)state;
	/* every value, each rounded to nearest even in its type: 1e-3 and 65504
	 * are not all exact (65504, float16's largest, is between two bfloat16s) */
	static const double in[5] = { 0.5, -1.25, 3.0, 1e-3, 65504 };
	static const struct {
		int dtype;
		double want[5];
		uint16_t bits[5]; /* the 16-bit types' encodings */
	} cases[4] = {
		{ OI_DTYPE_FLOAT, { 0.5, -1.25, 3.0, 0x1.0624dep-10, 65504 }, { 0 } },
		{ OI_DTYPE_DOUBLE, { 0.5, -1.25, 3.0, 1e-3, 65504 }, { 0 } },
		{ OI_DTYPE_FLOAT16, { 0.5, -1.25, 3.0, 0x1.064p-10, 65504 },
		  { 0x3800, 0xbd00, 0x4200, 0x1419, 0x7bff } },
		{ OI_DTYPE_BFLOAT16, { 0.5, -1.25, 3.0, 0x1.06p-10, 65536 },
		  { 0x3f00, 0xbfa0, 0x4040, 0x3a83, 0x4780 } },
	};
	for (int d = 0; d < 4; d++) {
		uint8_t bytes[40];
		double out[5];
		memset(bytes, 0xee, sizeof bytes);
		oi__encode_raw(cases[d].dtype, in, 5, bytes);
		size_t size = oi__float_size(cases[d].dtype);
		for (size_t i = 5 * size; i < sizeof bytes; i++)
			assert_int_equal(bytes[i], 0xee); /* nothing past the end */
		oi__decode_raw(cases[d].dtype, bytes, 5, out);
		for (int i = 0; i < 5; i++) {
			if (out[i] != cases[d].want[i])
				fail_msg("%s: %g became %a, expected %a", oi_dtype_name(cases[d].dtype), in[i],
				         out[i], cases[d].want[i]);
			if (size == 2) {
				uint16_t b = (uint16_t)(bytes[2 * i] | bytes[2 * i + 1] << 8);
				assert_int_equal(b, cases[d].bits[i]);
			}
		}
	}
	assert_int_equal(oi__float_size(OI_DTYPE_BFLOAT16), 2);
	assert_int_equal(oi__dtype_bits(OI_DTYPE_INT4), 4);
	assert_false(oi__dtype_known(99));
	assert_false(oi__dtype_known(0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(f16_exhaustive),
		cmocka_unit_test(bf16_exhaustive),
		cmocka_unit_test(known_values),
		cmocka_unit_test(raw_roundtrip),
	};
	return cmocka_run_group_tests_name("codec", tests, NULL, NULL);
}
