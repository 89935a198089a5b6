/* dtype facts, the element codecs (float16 and bfloat16 by round to
 * nearest even, straight from double so that nothing is rounded twice), and
 * reading the values of small tensors (shapes, indices, slopes). */
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

struct oi_tensor;
struct oi_field_ref;

/* The byte range of a tensor's raw payload (storage RAW) in the model. */
const struct oi_field_ref *oi__tensor_raw_field(const oi_model *m, const struct oi_tensor *t);
/* The payload bytes of raw or external storage in their map, or NULL (no
 * raw_data field, external file empty). */
const uint8_t *oi__tensor_payload(const oi_model *m, const struct oi_tensor *t);
/* Read up to max elements of a tensor as int64 / double; *n gets the count.
 * Fails for dtypes that are not integers / floats. */
int oi__tensor_read_i64(const oi_model *m, const struct oi_tensor *t, int64_t *out, size_t max,
                        size_t *n);
int oi__tensor_read_f64(const oi_model *m, const struct oi_tensor *t, double *out, size_t max,
                        size_t *n);

#endif
