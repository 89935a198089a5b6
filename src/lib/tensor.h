/* dtype facts and the element codecs (float16 and bfloat16 by round to
 * nearest even, straight from double so that nothing is rounded twice). */
#ifndef OI_TENSOR_H
#define OI_TENSOR_H

#include "internal.h"

/* Bits per element in raw_data: 4 for the 4-bit types, 0 for STRING and
 * for unknown types. */
unsigned oi__dtype_bits(int dtype);
bool oi__dtype_known(int dtype);
/* The dtypes a scheme may write: float32, float16, bfloat16, float64. */
bool oi__dtype_is_float(int dtype);
/* The typed field that holds this dtype (OI_TP_*), 0 if none. */
uint32_t oi__dtype_typed_field(int dtype);
/* Typed-field values per element: 2 for complex, else 1. */
unsigned oi__dtype_typed_per_elem(int dtype);

uint16_t oi__f64_to_f16(double v);
uint16_t oi__f64_to_bf16(double v);
double oi__f16_to_f64(uint16_t h);
double oi__bf16_to_f64(uint16_t h);

/* Bytes per element of an encodable float dtype in raw_data. */
size_t oi__float_size(int dtype);
/* Encode n values as dtype little-endian raw bytes (a float dtype). */
void oi__encode_raw(int dtype, const double *values, size_t n, uint8_t *out);
/* Decode n raw little-endian elements of a float dtype. */
void oi__decode_raw(int dtype, const uint8_t *in, size_t n, double *out);

#endif
