/* See tensor.h. */
#include <math.h>
#include <string.h>

#include "model.h"
#include "simd.h"
#include "tensor.h"
#include "wire.h"

unsigned oi__dtype_bits(int dtype)
{
	switch (dtype) {
	case OI_DTYPE_FLOAT: case OI_DTYPE_INT32: case OI_DTYPE_UINT32: return 32;
	case OI_DTYPE_UINT8: case OI_DTYPE_INT8: case OI_DTYPE_BOOL:
	case OI_DTYPE_FLOAT8E4M3FN: case OI_DTYPE_FLOAT8E4M3FNUZ:
	case OI_DTYPE_FLOAT8E5M2: case OI_DTYPE_FLOAT8E5M2FNUZ: return 8;
	case OI_DTYPE_UINT16: case OI_DTYPE_INT16: case OI_DTYPE_FLOAT16:
	case OI_DTYPE_BFLOAT16: return 16;
	case OI_DTYPE_INT64: case OI_DTYPE_DOUBLE: case OI_DTYPE_UINT64:
	case OI_DTYPE_COMPLEX64: return 64;
	case OI_DTYPE_COMPLEX128: return 128;
	case OI_DTYPE_UINT4: case OI_DTYPE_INT4: case OI_DTYPE_FLOAT4E2M1: return 4;
	default: return 0;
	}
}

bool oi__dtype_known(int dtype)
{
	return dtype >= OI_DTYPE_FLOAT && dtype <= OI_DTYPE_FLOAT4E2M1;
}

bool oi__dtype_is_float(int dtype)
{
	return dtype == OI_DTYPE_FLOAT || dtype == OI_DTYPE_FLOAT16 ||
	       dtype == OI_DTYPE_BFLOAT16 || dtype == OI_DTYPE_DOUBLE;
}

uint32_t oi__dtype_typed_field(int dtype)
{
	switch (dtype) {
	case OI_DTYPE_FLOAT: case OI_DTYPE_COMPLEX64: return OI_TP_FLOAT_DATA;
	case OI_DTYPE_DOUBLE: case OI_DTYPE_COMPLEX128: return OI_TP_DOUBLE_DATA;
	case OI_DTYPE_INT64: return OI_TP_INT64_DATA;
	case OI_DTYPE_UINT32: case OI_DTYPE_UINT64: return OI_TP_UINT64_DATA;
	case OI_DTYPE_STRING: return OI_TP_STRING_DATA;
	case OI_DTYPE_UNDEFINED: return 0;
	default: return oi__dtype_known(dtype) ? OI_TP_INT32_DATA : 0;
	}
}

unsigned oi__dtype_typed_per_elem(int dtype)
{
	return dtype == OI_DTYPE_COMPLEX64 || dtype == OI_DTYPE_COMPLEX128 ? 2 : 1;
}

const char *oi_dtype_name(oi_dtype dtype)
{
	static const char *const names[] = {
		"undefined", "float32", "uint8", "int8", "uint16", "int16", "int32", "int64",
		"string", "bool", "float16", "float64", "uint32", "uint64", "complex64",
		"complex128", "bfloat16", "float8e4m3fn", "float8e4m3fnuz", "float8e5m2",
		"float8e5m2fnuz", "uint4", "int4", "float4e2m1",
	};
	if (dtype < 0 || dtype >= (int)(sizeof names / sizeof *names))
		return "unknown";
	return names[dtype];
}

/* Round a double to a binary format with ebits exponent and mbits mantissa
 * bits (IEEE layout, with infinities), to nearest, ties to even. */
static uint16_t round_small(double v, unsigned ebits, unsigned mbits)
{
	uint64_t b;
	memcpy(&b, &v, sizeof b);
	uint16_t sign = (uint16_t)((b >> 63) << (ebits + mbits));
	uint64_t exp = (b >> 52) & 0x7ff, man = b & ((1ULL << 52) - 1);
	uint32_t emax = (1u << ebits) - 1;
	int bias = (1 << (ebits - 1)) - 1;
	if (exp == 0x7ff) {
		if (!man)
			return sign | (uint16_t)(emax << mbits);
		/* NaN: keep the top payload bits, force quiet */
		uint64_t payload = man >> (52 - mbits);
		return sign | (uint16_t)(emax << mbits) | (uint16_t)payload |
		       (uint16_t)(1u << (mbits - 1));
	}
	if (exp == 0)
		return sign; /* double subnormals are far below both formats */
	int e = (int)exp - 1023 + bias;
	uint64_t m, q, rem, half;
	unsigned shift;
	if (e >= 1) {
		m = man;
		shift = 52 - mbits;
	} else {
		m = man | (1ULL << 52);
		if (52 - (int)mbits + 1 - e >= 64)
			return sign;
		shift = (unsigned)(52 - (int)mbits + 1 - e);
		e = 0;
	}
	q = m >> shift;
	rem = m & ((1ULL << shift) - 1);
	half = 1ULL << (shift - 1);
	if (rem > half || (rem == half && (q & 1)))
		q++;
	uint64_t r = ((uint64_t)e << mbits) + q; /* a carry moves into the exponent */
	if (r >= ((uint64_t)emax << mbits))
		return sign | (uint16_t)(emax << mbits);
	return sign | (uint16_t)r;
}

static double widen_small(uint16_t h, unsigned ebits, unsigned mbits)
{
	unsigned sign = (h >> (ebits + mbits)) & 1;
	unsigned exp = (h >> mbits) & ((1u << ebits) - 1);
	unsigned man = h & ((1u << mbits) - 1);
	int bias = (1 << (ebits - 1)) - 1;
	double v;
	if (exp == (1u << ebits) - 1)
		v = man ? NAN : INFINITY;
	else if (exp == 0)
		v = ldexp((double)man, 1 - bias - (int)mbits);
	else
		v = ldexp((double)(man | (1u << mbits)), (int)exp - bias - (int)mbits);
	return sign ? -v : v;
}

uint16_t oi__f64_to_f16(double v) { return round_small(v, 5, 10); }
uint16_t oi__f64_to_bf16(double v) { return round_small(v, 8, 7); }
double oi__f16_to_f64(uint16_t h) { return widen_small(h, 5, 10); }
double oi__bf16_to_f64(uint16_t h) { return widen_small(h, 8, 7); }

size_t oi__float_size(int dtype)
{
	switch (dtype) {
	case OI_DTYPE_FLOAT: return 4;
	case OI_DTYPE_FLOAT16: case OI_DTYPE_BFLOAT16: return 2;
	case OI_DTYPE_DOUBLE: return 8;
	default: return 0;
	}
}

/* Byte order: raw_data is little-endian; so are the machines we build for,
 * which the build checks (meson.build). */
void oi__encode_raw(int dtype, const double *values, size_t n, uint8_t *out)
{
	switch (dtype) {
	case OI_DTYPE_FLOAT:
		for (size_t i = 0; i < n; i++) {
			float f = (float)values[i];
			memcpy(out + 4 * i, &f, 4);
		}
		break;
	case OI_DTYPE_DOUBLE:
		memcpy(out, values, n * 8);
		break;
	case OI_DTYPE_FLOAT16:
#ifdef OI_HAVE_AVX2
		if (oi__simd_avx2()) {
			oi__encode_f16_avx2(values, n, out);
			break;
		}
#endif
		for (size_t i = 0; i < n; i++) {
			uint16_t h = oi__f64_to_f16(values[i]);
			memcpy(out + 2 * i, &h, 2);
		}
		break;
	case OI_DTYPE_BFLOAT16:
#ifdef OI_HAVE_AVX2
		if (oi__simd_avx2()) {
			oi__encode_bf16_avx2(values, n, out);
			break;
		}
#endif
		for (size_t i = 0; i < n; i++) {
			uint16_t h = oi__f64_to_bf16(values[i]);
			memcpy(out + 2 * i, &h, 2);
		}
		break;
	default:
		break;
	}
}

void oi__decode_raw(int dtype, const uint8_t *in, size_t n, double *out)
{
	for (size_t i = 0; i < n; i++) {
		switch (dtype) {
		case OI_DTYPE_FLOAT: {
			float f;
			memcpy(&f, in + 4 * i, 4);
			out[i] = f;
			break;
		}
		case OI_DTYPE_DOUBLE:
			memcpy(&out[i], in + 8 * i, 8);
			break;
		case OI_DTYPE_FLOAT16: case OI_DTYPE_BFLOAT16: {
			uint16_t h;
			memcpy(&h, in + 2 * i, 2);
			out[i] = dtype == OI_DTYPE_FLOAT16 ? oi__f16_to_f64(h) : oi__bf16_to_f64(h);
			break;
		}
		default:
			out[i] = 0;
		}
	}
}

/* ---- reading values (small tensors: shapes, indices, slopes) ------------ */

const oi_field_ref *oi__tensor_raw_field(const oi_model *m, const oi_tensor *t)
{
	const oi_tensor_rec *r = &m->scan.tensors[t->rec];
	const oi_field_ref *raw = NULL;
	for (uint32_t i = 0; i < r->n_fields; i++)
		if (m->scan.fields[r->first_field + i].field == OI_TP_RAW_DATA)
			raw = &m->scan.fields[r->first_field + i];
	return raw;
}

const uint8_t *oi__tensor_payload(const oi_model *m, const oi_tensor *t)
{
	if (t->info.storage == OI_STORAGE_EXTERNAL)
		return m->ext[t->ext].map ? m->ext[t->ext].map + t->ext_off : NULL;
	const oi_field_ref *f = oi__tensor_raw_field(m, t);
	return f ? m->map + f->start : NULL;
}

static int read_values(const oi_model *m, const oi_tensor *t, int64_t *iout, double *fout,
                       size_t max, size_t *n)
{
	int dtype = t->info.dtype;
	uint64_t count = t->info.numel < max ? t->info.numel : max;
	*n = 0;
	if (t->info.storage != OI_STORAGE_TYPED) {
		const uint8_t *p = oi__tensor_payload(m, t);
		if (!p && count)
			return oi__fail(OI_EINVALID, "tensor '%s' has no payload", t->info.name);
		for (uint64_t i = 0; i < count; i++) {
			int64_t iv = 0;
			double fv = 0;
			switch (dtype) {
			case OI_DTYPE_INT64: memcpy(&iv, p + 8 * i, 8); fv = (double)iv; break;
			case OI_DTYPE_INT32: { int32_t v; memcpy(&v, p + 4 * i, 4); iv = v; fv = v; break; }
			case OI_DTYPE_UINT8: iv = p[i]; fv = (double)iv; break;
			case OI_DTYPE_INT8: iv = (int8_t)p[i]; fv = (double)iv; break;
			case OI_DTYPE_BOOL: iv = p[i] != 0; fv = (double)iv; break;
			case OI_DTYPE_FLOAT: case OI_DTYPE_DOUBLE: case OI_DTYPE_FLOAT16:
			case OI_DTYPE_BFLOAT16:
				oi__decode_raw(dtype, p + i * oi__float_size(dtype), 1, &fv);
				iv = (int64_t)fv;
				break;
			default:
				return oi__fail(OI_EUNSUPPORTED, "tensor '%s': cannot read %s values",
				                t->info.name, oi_dtype_name(dtype));
			}
			if (iout)
				iout[i] = iv;
			if (fout)
				fout[i] = fv;
		}
		*n = (size_t)count;
		return 0;
	}
	const oi_tensor_rec *r = &m->scan.tensors[t->rec];
	size_t k = 0;
	for (uint32_t fi = 0; fi < r->n_fields && k < count; fi++) {
		const oi_field_ref *f = &m->scan.fields[r->first_field + fi];
		uint64_t pos = f->start;
		while (pos < f->end && k < count) {
			int64_t iv = 0;
			double fv = 0;
			if (f->field == OI_TP_FLOAT_DATA) {
				float x;
				memcpy(&x, m->map + pos, 4);
				pos += 4;
				fv = x;
				iv = (int64_t)x;
			} else if (f->field == OI_TP_DOUBLE_DATA) {
				memcpy(&fv, m->map + pos, 8);
				pos += 8;
				iv = (int64_t)fv;
			} else if (f->field == OI_TP_INT32_DATA || f->field == OI_TP_INT64_DATA ||
			           f->field == OI_TP_UINT64_DATA) {
				uint64_t v;
				if (!oi__wire_varint(m->map, f->end, &pos, &v))
					return oi__fail(OI_EFORMAT, "tensor '%s': bad varint", t->info.name);
				if (dtype == OI_DTYPE_FLOAT16 || dtype == OI_DTYPE_BFLOAT16) {
					fv = dtype == OI_DTYPE_FLOAT16 ? oi__f16_to_f64((uint16_t)v)
					                               : oi__bf16_to_f64((uint16_t)v);
					iv = (int64_t)fv;
				} else {
					iv = f->field == OI_TP_INT32_DATA ? (int32_t)v : (int64_t)v;
					fv = (double)iv;
				}
			} else {
				return oi__fail(OI_EUNSUPPORTED, "tensor '%s': cannot read %s values",
				                t->info.name, oi_dtype_name(dtype));
			}
			if (iout)
				iout[k] = iv;
			if (fout)
				fout[k] = fv;
			k++;
		}
	}
	*n = k;
	return 0;
}

int oi__tensor_read_i64(const oi_model *m, const oi_tensor *t, int64_t *out, size_t max,
                        size_t *n)
{
	return read_values(m, t, out, NULL, max, n);
}

int oi__tensor_read_f64(const oi_model *m, const oi_tensor *t, double *out, size_t max,
                        size_t *n)
{
	return read_values(m, t, NULL, out, max, n);
}
