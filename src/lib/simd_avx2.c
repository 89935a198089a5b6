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

/* The uniforms of eight blocks' words: a[0] = words 0-1 of blocks 0, 1, 4,
 * 5; a[1] = of blocks 2, 3, 6, 7; b[] the same of words 2-3. */
static inline void split_u01(const __m256i c[4], __m256d a[2], __m256d b[2])
{
	a[0] = u01(_mm256_unpacklo_epi32(c[0], c[1]));
	a[1] = u01(_mm256_unpackhi_epi32(c[0], c[1]));
	b[0] = u01(_mm256_unpacklo_epi32(c[2], c[3]));
	b[1] = u01(_mm256_unpackhi_epi32(c[2], c[3]));
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
		__m256i c[4];
		__m256d a[2], b[2];
		philox8(key, b0, 0, 0, c);
		split_u01(c, a, b);
		for (int h = 0; h < 2; h++) {
			/* a[h] = blocks (2h, 2h+1, 2h+4, 2h+5) */
			__m256d t0 = _mm256_unpacklo_pd(a[h], b[h]), t1 = _mm256_unpackhi_pd(a[h], b[h]);
			__m256d first4 = _mm256_permute2f128_pd(t0, t1, 0x20);
			__m256d last4 = _mm256_permute2f128_pd(t0, t1, 0x31);
			_mm256_storeu_pd(out + k + 4 * h, _mm256_add_pd(vlo, _mm256_mul_pd(vw, first4)));
			_mm256_storeu_pd(out + k + 8 + 4 * h, _mm256_add_pd(vlo, _mm256_mul_pd(vw, last4)));
		}
	}
	if (k < n)
		oi__uniform_n_scalar(key, first + k, n - k, lo, w, out + k);
}

/* ---- the polar method, four lanes --------------------------------------- */

/* oi__log for s in (0, 1) (normal numbers): frexp by the bits, then the
 * same operations in the same order as rng.c's. */
static inline __m256d log4(__m256d s)
{
	const __m256i magic = _mm256_set1_epi64x(0x4330000000000000LL);
	__m256i bits = _mm256_castpd_si256(s);
	__m256i ebits = _mm256_srli_epi64(bits, 52); /* s > 0: no sign bit */
	__m256d e = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(ebits, magic)),
	                          _mm256_set1_pd(0x1p52 + 1022.0));
	__m256i mbits = _mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi64x(0x000FFFFFFFFFFFFFLL)),
	                                _mm256_set1_epi64x(0x3FE0000000000000LL));
	__m256d m = _mm256_castsi256_pd(mbits);
	__m256d small = _mm256_cmp_pd(m, _mm256_set1_pd(0.70710678118654752440), _CMP_LT_OQ);
	m = _mm256_blendv_pd(m, _mm256_mul_pd(m, _mm256_set1_pd(2.0)), small);
	e = _mm256_blendv_pd(e, _mm256_sub_pd(e, _mm256_set1_pd(1.0)), small);
	const __m256d one = _mm256_set1_pd(1.0);
	__m256d r = _mm256_div_pd(_mm256_sub_pd(m, one), _mm256_add_pd(m, one));
	__m256d z = _mm256_mul_pd(r, r);
#define C(x) _mm256_set1_pd(x)
#define LIN(p, q) _mm256_add_pd(C(p), _mm256_mul_pd(C(q), z))
	__m256d z2 = _mm256_mul_pd(z, z), z4 = _mm256_mul_pd(z2, z2), z8 = _mm256_mul_pd(z4, z4);
	__m256d q0 = LIN(1.0 / 3, 1.0 / 5), q1 = LIN(1.0 / 7, 1.0 / 9), q2 = LIN(1.0 / 11, 1.0 / 13);
	__m256d q3 = LIN(1.0 / 15, 1.0 / 17), q4 = LIN(1.0 / 19, 1.0 / 21), q5 = LIN(1.0 / 23, 1.0 / 25);
#undef LIN
	__m256d r0 = _mm256_add_pd(q0, _mm256_mul_pd(q1, z2));
	__m256d r1 = _mm256_add_pd(q2, _mm256_mul_pd(q3, z2));
	__m256d r2 = _mm256_add_pd(q4, _mm256_mul_pd(q5, z2));
	__m256d series = _mm256_mul_pd(
		z, _mm256_add_pd(_mm256_add_pd(r0, _mm256_mul_pd(r1, z4)), _mm256_mul_pd(r2, z8)));
	__m256d two_r = _mm256_mul_pd(C(2.0), r);
	__m256d logm = _mm256_add_pd(two_r, _mm256_mul_pd(two_r, series));
	return _mm256_add_pd(_mm256_mul_pd(e, C(6.93147180369123816490e-01)),
	                     _mm256_add_pd(logm, _mm256_mul_pd(e, C(1.90821492927058770002e-10))));
#undef C
}

/* The first attempt of four elements; lanes whose point falls outside the
 * circle are marked in *miss (bit l) and left for the scalar path. */
static inline __m256d polar4(__m256d u01a, __m256d u01b, int *miss)
{
	const __m256d one = _mm256_set1_pd(1.0), two = _mm256_set1_pd(2.0);
	__m256d u = _mm256_sub_pd(_mm256_mul_pd(two, u01a), one);
	__m256d v = _mm256_sub_pd(_mm256_mul_pd(two, u01b), one);
	__m256d s = _mm256_add_pd(_mm256_mul_pd(u, u), _mm256_mul_pd(v, v));
	__m256d ok = _mm256_and_pd(_mm256_cmp_pd(s, one, _CMP_LT_OQ),
	                           _mm256_cmp_pd(s, _mm256_setzero_pd(), _CMP_GT_OQ));
	*miss = ~_mm256_movemask_pd(ok) & 0xF;
	s = _mm256_blendv_pd(_mm256_set1_pd(0.5), s, ok); /* keep rejected lanes harmless */
	__m256d t = _mm256_div_pd(_mm256_mul_pd(_mm256_set1_pd(-2.0), log4(s)), s);
	return _mm256_mul_pd(u, _mm256_sqrt_pd(t));
}

/* Attempt j of elements idx[0..7]: z[l] the normal of idx[l], or bit l of
 * the result set if its point missed the circle. */
static inline int normal8(oi_key key, const uint64_t idx[8], uint32_t j, double z[8])
{
	uint32_t lo[8], hi[8];
	for (int l = 0; l < 8; l++) {
		lo[l] = (uint32_t)idx[l];
		hi[l] = (uint32_t)(idx[l] >> 32);
	}
	__m256i c[4];
	__m256d a[2], b[2];
	philox8v(key, _mm256_loadu_si256((const __m256i *)(const void *)lo),
	         _mm256_loadu_si256((const __m256i *)(const void *)hi), j, 0, c);
	split_u01(c, a, b);
	int miss0, miss1;
	__m256d z0 = polar4(a[0], b[0], &miss0); /* lanes 0, 1, 4, 5 */
	__m256d z1 = polar4(a[1], b[1], &miss1); /* lanes 2, 3, 6, 7 */
	_mm256_storeu_pd(z, _mm256_permute2f128_pd(z0, z1, 0x20));
	_mm256_storeu_pd(z + 4, _mm256_permute2f128_pd(z0, z1, 0x31));
	return (miss0 & 3) | (miss1 & 3) << 2 | (miss0 >> 2) << 4 | (miss1 >> 2) << 6;
}

enum { WINDOW = 512, VECTOR_TRIES = 4 };

/* Attempts 0 .. VECTOR_TRIES-1 eight elements at a time, the elements that
 * missed gathered for the next attempt; the few left after that take the
 * scalar path (which starts over at attempt 0 and ends where the stream
 * says). */
void oi__normal_n_avx2(oi_key key, uint64_t first, size_t n, double *out)
{
	uint64_t idx[WINDOW + 8];
	size_t at[WINDOW + 8];
	for (size_t w0 = 0; w0 < n; w0 += WINDOW) {
		size_t wn = n - w0 < WINDOW ? n - w0 : WINDOW, m = 0;
		for (size_t k = 0; k < wn; k++) {
			idx[m] = first + w0 + k;
			at[m++] = w0 + k;
		}
		for (uint32_t j = 0; j < VECTOR_TRIES && m > 0; j++) {
			size_t left = 0;
			for (size_t g = m; g % 8; g++) /* pad the last group: lanes not used */
				idx[g] = idx[m - 1];
			for (size_t g = 0; g < m; g += 8) {
				double z[8];
				int miss = normal8(key, idx + g, j, z);
				for (size_t l = 0; l < 8 && g + l < m; l++) {
					if (miss >> l & 1) {
						idx[left] = idx[g + l];
						at[left++] = at[g + l];
					} else {
						out[at[g + l]] = z[l];
					}
				}
			}
			m = left;
		}
		for (size_t g = 0; g < m; g++)
			out[at[g]] = oi__normal(key, idx[g], 0);
	}
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
