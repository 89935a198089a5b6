/* safetensors: 8 bytes of little-endian header length N, N bytes of JSON
 * {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__":
 * {...}}, then the data. Checked as the reference reader checks it: N at
 * most 100,000,000 and within the file, no name twice, every tensor's
 * bytes = elements × dtype size, the tensors' ranges contiguous from 0 in
 * offset order and ending where the file ends. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "donor.h"

#define ST_MAX_HEADER 100000000ull

static int st_dtype(const char *s)
{
	static const struct { const char *n; int d; } tab[] = {
		{ "F32", OI_DTYPE_FLOAT }, { "F16", OI_DTYPE_FLOAT16 }, { "BF16", OI_DTYPE_BFLOAT16 },
		{ "F64", OI_DTYPE_DOUBLE }, { "I8", OI_DTYPE_INT8 }, { "U8", OI_DTYPE_UINT8 },
		{ "I16", OI_DTYPE_INT16 }, { "U16", OI_DTYPE_UINT16 }, { "I32", OI_DTYPE_INT32 },
		{ "U32", OI_DTYPE_UINT32 }, { "I64", OI_DTYPE_INT64 }, { "U64", OI_DTYPE_UINT64 },
		{ "BOOL", OI_DTYPE_BOOL }, { "F8_E4M3", OI_DTYPE_FLOAT8E4M3FN },
		{ "F8_E5M2", OI_DTYPE_FLOAT8E5M2 },
	};
	for (size_t i = 0; i < sizeof tab / sizeof *tab; i++)
		if (!strcmp(s, tab[i].n))
			return tab[i].d;
	return 0;
}

typedef struct st_range {
	uint64_t begin, end;
	size_t t;
} st_range;

static int by_begin(const void *a, const void *b)
{
	const st_range *x = a, *y = b;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	return x->end < y->end ? -1 : x->end > y->end;
}

static bool get_u64(json_t *j, uint64_t *out)
{
	if (!json_is_integer(j) || json_integer_value(j) < 0)
		return false;
	*out = (uint64_t)json_integer_value(j);
	return true;
}

/* One entry of the header into a tensor and its byte range. */
static int st_entry(oi_donor *d, const char *key, json_t *v, st_range *r)
{
	json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape");
	json_t *off = json_object_get(v, "data_offsets");
	if (!json_is_object(v) || !json_is_string(dt) || !json_is_array(sh) ||
	    !json_is_array(off) || json_array_size(off) != 2)
		return oi__fail(OI_EFORMAT, "tensor '%s': needs dtype, shape and data_offsets", key);
	int dtype = st_dtype(json_string_value(dt));
	if (!dtype)
		return oi__fail(OI_EFORMAT, "tensor '%s': unknown dtype '%s'", key,
		                json_string_value(dt));
	if (!get_u64(json_array_get(off, 0), &r->begin) || !get_u64(json_array_get(off, 1), &r->end)
	    || r->end < r->begin)
		return oi__fail(OI_EFORMAT, "tensor '%s': bad data_offsets", key);
	oi_donor_tensor *t = oi__donor_add(d, key, strlen(key));
	if (!t)
		return OI_ENOMEM;
	t->dtype = t->orig_dtype = dtype;
	t->ndim = json_array_size(sh);
	t->dims = oi__calloc(t->ndim ? t->ndim : 1, sizeof *t->dims);
	if (!t->dims)
		return OI_ENOMEM;
	uint64_t numel = 1;
	for (size_t i = 0; i < t->ndim; i++) {
		uint64_t k;
		if (!get_u64(json_array_get(sh, i), &k) || k > INT64_MAX || !oi__mul_u64(numel, k, &numel))
			return oi__fail(OI_EFORMAT, "tensor '%s': bad shape", key);
		t->dims[i] = (int64_t)k;
	}
	t->numel = numel;
	uint64_t bytes;
	if (!oi__mul_u64(numel, oi__dtype_size_any(dtype), &bytes) || bytes != r->end - r->begin)
		return oi__fail(OI_EFORMAT, "tensor '%s': %llu bytes for %llu %s elements", key,
		                (unsigned long long)(r->end - r->begin), (unsigned long long)numel,
		                json_string_value(dt));
	r->t = d->n - 1;
	return 0;
}

int oi__donor_read_safetensors(oi_donor *d, const uint8_t *p, uint64_t len)
{
	uint64_t n;
	if (len < 8)
		return oi__fail(OI_EFORMAT, "safetensors: shorter than its header length");
	memcpy(&n, p, 8);
	if (n > ST_MAX_HEADER)
		return oi__fail(OI_EFORMAT, "safetensors: header of %llu bytes (at most %llu)",
		                (unsigned long long)n, ST_MAX_HEADER);
	if (n > len - 8)
		return oi__fail(OI_EFORMAT, "safetensors: header of %llu bytes past the end of the "
		                "file (%llu bytes)", (unsigned long long)n, (unsigned long long)len);
	json_error_t err;
	json_t *h = json_loadb((const char *)p + 8, (size_t)n, JSON_REJECT_DUPLICATES, &err);
	if (!h)
		return oi__fail(OI_EFORMAT, "safetensors: header is not JSON: %s", err.text);
	int rc = json_is_object(h) ? 0 : oi__fail(OI_EFORMAT, "safetensors: header is not an object");
	size_t cap = json_object_size(h);
	st_range *r = rc ? NULL : oi__calloc(cap ? cap : 1, sizeof *r);
	if (!rc && !r)
		rc = OI_ENOMEM;
	size_t k = 0;
	const char *key;
	json_t *v;
	json_object_foreach(h, key, v) {
		if (rc)
			break;
		if (!strcmp(key, "__metadata__")) {
			if (!json_is_object(v))
				rc = oi__fail(OI_EFORMAT, "safetensors: __metadata__ is not an object");
			continue;
		}
		rc = st_entry(d, key, v, &r[k]);
		k++;
	}
	json_decref(h);
	if (!rc) {
		qsort(r, k, sizeof *r, by_begin);
		uint64_t at = 0, data_len = len - 8 - n;
		for (size_t i = 0; i < k && !rc; i++) {
			if (r[i].begin != at)
				rc = oi__fail(OI_EFORMAT, "safetensors: tensor '%s' starts at %llu, not %llu "
				              "(offsets must be contiguous)", d->t[r[i].t].name,
				              (unsigned long long)r[i].begin, (unsigned long long)at);
			at = r[i].end;
		}
		if (!rc && at != data_len)
			rc = oi__fail(OI_EFORMAT, "safetensors: the tensors take %llu bytes, the file "
			              "holds %llu after the header", (unsigned long long)at,
			              (unsigned long long)data_len);
		for (size_t i = 0; i < k && !rc; i++) {
			oi_donor_tensor *t = &d->t[r[i].t];
			t->data = p + 8 + n + r[i].begin;
			t->map = p;
			t->map_len = len;
		}
	}
	free(r);
	return rc;
}
