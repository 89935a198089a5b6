/* See simd.h. Compiled with -mavx2 -mf16c (and never -mfma): only called
 * after oi__simd_avx2() said yes. */
#include <immintrin.h>
#include <string.h>

#include "simd.h"
#include "tensor.h"

/* ---- Philox4x32-10, eight blocks at once -------------------------------- */

/* lo and hi 32 bits of each of the eight 32-bit products a·m */
static inline void mulhilo(__m256i a, __m256i m, __m256i *lo, __m256i *hi)
{
	__m256i even = _mm256_mul_epu32(a, m);
	__m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
	*lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
	*hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}

/* Blocks (c0[l] | c1[l] << 32, j, s) for the eight lanes l: the words in
 * c[0..3]. */
static inline void philox8v(oi_key key, __m256i c0, __m256i c1, uint32_t j, uint32_t s,
                            __m256i c[4])
{
	const __m256i m0 = _mm256_set1_epi32((int)0xD2511F53u), m1 = _mm256_set1_epi32((int)0xCD9E8D57u);
	__m256i c2 = _mm256_set1_epi32((int)j), c3 = _mm256_set1_epi32((int)s);
	uint32_t k0 = key.k[0], k1 = key.k[1];
	for (int round = 0; round < 10; round++) {
		__m256i lo0, hi0, lo1, hi1;
		mulhilo(c0, m0, &lo0, &hi0);
		mulhilo(c2, m1, &lo1, &hi1);
		c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32((int)k0));
		c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32((int)k1));
		c1 = lo1;
		c3 = lo0;
		k0 += 0x9E3779B9u;
		k1 += 0xBB67AE85u;
	}
	c[0] = c0;
	c[1] = c1;
	c[2] = c2;
	c[3] = c3;
}

/* Blocks (b, j, s) for b = b0 .. b0+7, where the low words of b0 .. b0+7
 * do not wrap (the callers check). */
static inline void philox8(oi_key key, uint64_t b0, uint32_t j, uint32_t s, __m256i c[4])
{
	philox8v(key,
	         _mm256_add_epi32(_mm256_set1_epi32((int)(uint32_t)b0),
	                          _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)),
	         _mm256_set1_epi32((int)(uint32_t)(b0 >> 32)), j, s, c);
}

/* (double)(x >> 11) · 2^-53 for four 64-bit x: oi__u01, exactly (the
 * 53-bit integer is split in two halves each converted exactly, and their
 * sum is exact). */
static inline __m256d u01(__m256i x)
{
	const __m256i magic = _mm256_set1_epi64x(0x4330000000000000LL);
	const __m256d two52 = _mm256_set1_pd(0x1p52);
	__m256i v = _mm256_srli_epi64(x, 11);
	__m256i vh = _mm256_srli_epi64(v, 26), vl = _mm256_and_si256(v, _mm256_set1_epi64x((1LL << 26) - 1));
	__m256d dh = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(vh, magic)), two52);
	__m256d dl = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(vl, magic)), two52);
	__m256d d = _mm256_add_pd(_mm256_mul_pd(dh, _mm256_set1_pd(0x1p26)), dl);
	return _mm256_mul_pd(d, _mm256_set1_pd(0x1p-53));
}

/* The 64-bit words of eight blocks: a[0] = words 0-1 of blocks 0, 1, 4, 5;
 * a[1] = of blocks 2, 3, 6, 7; b[] the same of words 2-3. */
static inline void split_words(const __m256i c[4], __m256i a[2], __m256i b[2])
{
	a[0] = _mm256_unpacklo_epi32(c[0], c[1]);
	a[1] = _mm256_unpackhi_epi32(c[0], c[1]);
	b[0] = _mm256_unpacklo_epi32(c[2], c[3]);
	b[1] = _mm256_unpackhi_epi32(c[2], c[3]);
}

/* Sixteen elements' values laid out as split_words' (element 2b from words
 * 0-1 of block b, 2b+1 from words 2-3) into element order: o[q] holds
 * elements 4q .. 4q+3. */
static inline void order16(const __m256d a[2], const __m256d b[2], __m256d o[4])
{
	for (int h = 0; h < 2; h++) {
		/* a[h] = blocks (2h, 2h+1, 2h+4, 2h+5) */
		__m256d t0 = _mm256_unpacklo_pd(a[h], b[h]), t1 = _mm256_unpackhi_pd(a[h], b[h]);
		o[h] = _mm256_permute2f128_pd(t0, t1, 0x20);
		o[2 + h] = _mm256_permute2f128_pd(t0, t1, 0x31);
	}
}

static inline bool wraps(uint64_t b0) { return (uint32_t)b0 > UINT32_MAX - 7; }

void oi__uniform_n_avx2(oi_key key, uint64_t first, size_t n, double lo, double w, double *out)
{
	size_t k = 0;
	if (n && (first & 1)) {
		oi__uniform_n_scalar(key, first, 1, lo, w, out);
		k = 1;
	}
	const __m256d vlo = _mm256_set1_pd(lo), vw = _mm256_set1_pd(w);
	/* 16 elements = 8 blocks: element 2b takes words 0-1 of block b, 2b+1 words 2-3 */
	for (; k + 16 <= n; k += 16) {
		uint64_t b0 = (first + k) >> 1;
		if (wraps(b0)) {
			oi__uniform_n_scalar(key, first + k, 16, lo, w, out + k);
			continue;
		}
		__m256i c[4], wa[2], wb[2];
		__m256d a[2], b[2], o[4];
		philox8(key, b0, 0, 0, c);
		split_words(c, wa, wb);
		for (int h = 0; h < 2; h++) {
			a[h] = u01(wa[h]);
			b[h] = u01(wb[h]);
		}
		order16(a, b, o);
		for (int q = 0; q < 4; q++)
			_mm256_storeu_pd(out + k + 4 * q, _mm256_add_pd(vlo, _mm256_mul_pd(vw, o[q])));
	}
	if (k < n)
		oi__uniform_n_scalar(key, first + k, n - k, lo, w, out + k);
}

/* ---- the ziggurat's first attempt, sixteen elements ---------------------- */

/* The first attempt of four elements from their words w (rng.c's
 * zig_first): the values in *v, and the lanes that take it (x < X[k+1])
 * set in the result; the others go to the scalar path. */
static inline __m256d zig4(const oi_zig *z, __m256i w, __m256d *v)
{
	/* X[k], X[k+1] side by side: one 16-byte load a lane, 9% faster in all
	 * than two vgatherqpd on the AMD EPYC this was measured on */
	uint64_t k[4];
	__m256i layer = _mm256_and_si256(w, _mm256_set1_epi64x(OI_ZIG_LAYERS - 1));
	_mm256_storeu_si256((__m256i *)(void *)k, layer);
	__m256d p02 = _mm256_insertf128_pd(_mm256_castpd128_pd256(_mm_loadu_pd(z->x + k[0])),
	                                   _mm_loadu_pd(z->x + k[2]), 1);
	__m256d p13 = _mm256_insertf128_pd(_mm256_castpd128_pd256(_mm_loadu_pd(z->x + k[1])),
	                                   _mm_loadu_pd(z->x + k[3]), 1);
	__m256d xk = _mm256_unpacklo_pd(p02, p13), xk1 = _mm256_unpackhi_pd(p02, p13);
	__m256d x = _mm256_mul_pd(u01(w), xk);
	__m256i sign = _mm256_slli_epi64(_mm256_srli_epi64(w, 8), 63);
	*v = _mm256_xor_pd(x, _mm256_castsi256_pd(sign));
	return _mm256_cmp_pd(x, xk1, _CMP_LT_OQ);
}

void oi__normal_n_avx2(oi_key key, uint64_t first, size_t n, double *out)
{
	const oi_zig *z = oi__zig();
	size_t k = 0;
	if (n && (first & 1)) {
		oi__normal_n_scalar(key, first, 1, out);
		k = 1;
	}
	for (; k + 16 <= n; k += 16) {
		uint64_t b0 = (first + k) >> 1;
		if (wraps(b0)) {
			oi__normal_n_scalar(key, first + k, 16, out + k);
			continue;
		}
		__m256i c[4], wa[2], wb[2];
		__m256d a[2], b[2], ta[2], tb[2], o[4], t[4];
		philox8(key, b0, 0, 0, c);
		split_words(c, wa, wb);
		for (int h = 0; h < 2; h++) {
			ta[h] = zig4(z, wa[h], &a[h]);
			tb[h] = zig4(z, wb[h], &b[h]);
		}
		order16(a, b, o);
		order16(ta, tb, t);
		unsigned slow = 0;
		for (int q = 0; q < 4; q++) {
			_mm256_storeu_pd(out + k + 4 * q, o[q]);
			slow |= (unsigned)(~_mm256_movemask_pd(t[q]) & 0xF) << 4 * q;
		}
		if (slow) {
			__m256d wo[4], pa[2] = { _mm256_castsi256_pd(wa[0]), _mm256_castsi256_pd(wa[1]) },
				       pb[2] = { _mm256_castsi256_pd(wb[0]), _mm256_castsi256_pd(wb[1]) };
			uint64_t words[16];
			order16(pa, pb, wo);
			for (int q = 0; q < 4; q++)
				_mm256_storeu_pd((double *)(void *)(words + 4 * q), wo[q]);
			for (; slow; slow &= slow - 1) {
				unsigned l = (unsigned)__builtin_ctz(slow);
				out[k + l] = oi__normal_slow(key, first + k + l, words[l]);
			}
		}
	}
	if (k < n)
		oi__normal_n_scalar(key, first + k, n - k, out + k);
}

/* ---- float16 / bfloat16 ------------------------------------------------- */

/* Four doubles to float rounded to odd (truncated, the last bit set if
 * anything was cut off): rounding that float once more to a format at least
 * two bits narrower is the same as rounding the double directly, so there is
 * no double rounding. NaN lanes are marked in *nan for the scalar path. */
static inline __m128i round_odd4(__m256d d, int *nan)
{
	*nan = _mm256_movemask_pd(_mm256_cmp_pd(d, d, _CMP_UNORD_Q));
	__m128 f = _mm256_cvtpd_ps(d);
	__m256d back = _mm256_cvtps_pd(f);
	const __m256d abs_mask = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7FFFFFFFFFFFFFFFLL));
	__m256d away = _mm256_cmp_pd(_mm256_and_pd(back, abs_mask), _mm256_and_pd(d, abs_mask),
	                             _CMP_GT_OQ);
	__m256d inexact = _mm256_cmp_pd(back, d, _CMP_NEQ_OQ);
	const __m256i pick = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
	__m128i away32 = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(_mm256_castpd_si256(away), pick));
	__m128i inex32 = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(_mm256_castpd_si256(inexact), pick));
	__m128i bits = _mm_add_epi32(_mm_castps_si128(f), away32); /* away: one step back */
	return _mm_or_si128(bits, _mm_and_si128(inex32, _mm_set1_epi32(1)));
}

void oi__encode_f16_avx2(const double *v, size_t n, uint8_t *out)
{
	size_t k = 0;
	for (; k + 4 <= n; k += 4) {
		int nan;
		__m128i f = round_odd4(_mm256_loadu_pd(v + k), &nan);
		__m128i h = _mm_cvtps_ph(_mm_castsi128_ps(f), _MM_FROUND_TO_NEAREST_INT);
		_mm_storel_epi64((__m128i *)(void *)(out + 2 * k), h);
		for (int l = 0; l < 4; l++)
			if (nan >> l & 1) {
				uint16_t x = oi__f64_to_f16(v[k + l]);
				memcpy(out + 2 * (k + l), &x, 2);
			}
	}
	for (; k < n; k++) {
		uint16_t x = oi__f64_to_f16(v[k]);
		memcpy(out + 2 * k, &x, 2);
	}
}

void oi__encode_bf16_avx2(const double *v, size_t n, uint8_t *out)
{
	size_t k = 0;
	for (; k + 4 <= n; k += 4) {
		int nan;
		__m128i f = round_odd4(_mm256_loadu_pd(v + k), &nan);
		/* to nearest, ties to even, on the top 16 bits */
		__m128i odd = _mm_and_si128(_mm_srli_epi32(f, 16), _mm_set1_epi32(1));
		__m128i r = _mm_srli_epi32(_mm_add_epi32(_mm_add_epi32(f, _mm_set1_epi32(0x7FFF)), odd), 16);
		_mm_storel_epi64((__m128i *)(void *)(out + 2 * k), _mm_packus_epi32(r, r));
		for (int l = 0; l < 4; l++)
			if (nan >> l & 1) {
				uint16_t x = oi__f64_to_bf16(v[k + l]);
				memcpy(out + 2 * (k + l), &x, 2);
			}
	}
	for (; k < n; k++) {
		uint16_t x = oi__f64_to_bf16(v[k]);
		memcpy(out + 2 * k, &x, 2);
	}
}
