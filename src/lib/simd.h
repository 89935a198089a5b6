/* The vector kernels (simd_avx2.c, compiled for AVX2 and F16C) and their
 * scalar twins. Each kernel gives exactly the bytes of its scalar twin: the
 * integer work is the same arithmetic, and the floating-point work is the
 * same IEEE operations (+ - * / sqrt, each correctly rounded) in the same
 * order, with no FMA (the unit is not compiled for it). The callers pick
 * the vector one only where the CPU has it (oi__simd_avx2), at run time. */
#ifndef OI_SIMD_H
#define OI_SIMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rng.h"

/* Whether this CPU runs the AVX2 (and F16C) kernels. */
bool oi__simd_avx2(void);

/* out[k] = lo + w·u where u is the [0, 1) uniform of element first+k
 * (oi__uniform). */
void oi__uniform_n_scalar(oi_key key, uint64_t first, size_t n, double lo, double w, double *out);
void oi__uniform_n_avx2(oi_key key, uint64_t first, size_t n, double lo, double w, double *out);
/* out[k] = oi__normal(key, first+k, 0). */
void oi__normal_n_scalar(oi_key key, uint64_t first, size_t n, double *out);
void oi__normal_n_avx2(oi_key key, uint64_t first, size_t n, double *out);
/* Dispatching versions. */
void oi__uniform_n(oi_key key, uint64_t first, size_t n, double lo, double w, double *out);
void oi__normal_n(oi_key key, uint64_t first, size_t n, double *out);

/* n doubles to float16 / bfloat16 (oi__f64_to_f16 / oi__f64_to_bf16),
 * little-endian. */
void oi__encode_f16_avx2(const double *v, size_t n, uint8_t *out);
void oi__encode_bf16_avx2(const double *v, size_t n, uint8_t *out);

#endif
