/* See data.h. .npy and .npz files are read by npyzip.c; this makes their
 * arrays C-ordered, little-endian and checked (samples, finite values). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "npyzip.h"
#include "rng.h"
#include "sha256.h"
#include "tensor.h"

/* ---- .npy --------------------------------------------------------------- */

int oi__npy_parse(const uint8_t *p, size_t len, const char *what, oi_array *a)
{
	oi_npy h;
	int rc = oi__npy_header(p, len, what, &h);
	if (rc)
		return rc;
	if (h.ndim > OI_DATA_MAX_RANK)
		return oi__fail(OI_EUNSUPPORTED, "%s: rank %zu; data of rank %d at most", what, h.ndim,
		                OI_DATA_MAX_RANK);
	a->kind = h.kind;
	a->itemsize = h.itemsize;
	a->ndim = h.ndim;
	memcpy(a->dims, h.dims, h.ndim * sizeof *h.dims);
	a->numel = h.numel;
	a->bytes = p + h.off;
	if (oi__npy_needs_copy(&h)) {
		a->own = malloc(h.bytes ? (size_t)h.bytes : 1);
		if (!a->own)
			return oi__fail(OI_ENOMEM, "%s: out of memory", what);
		oi__npy_to_c(a->bytes, a->own, &h);
		a->bytes = a->own;
	}
	return 0;
}

/* ---- elements ----------------------------------------------------------- */

static double elem_f64(const oi_array *a, uint64_t i)
{
	const uint8_t *p = a->bytes + i * a->itemsize;
	switch (a->kind) {
	case 'f':
		if (a->itemsize == 2) {
			uint16_t h;
			memcpy(&h, p, 2);
			return oi__f16_to_f64(h);
		} else if (a->itemsize == 4) {
			float f;
			memcpy(&f, p, 4);
			return f;
		} else {
			double d;
			memcpy(&d, p, 8);
			return d;
		}
	case 'b':
		return p[0] != 0;
	case 'u': {
		uint64_t v = 0;
		memcpy(&v, p, a->itemsize);
		return (double)v;
	}
	default: {
		uint64_t v = 0;
		memcpy(&v, p, a->itemsize);
		unsigned shift = 64 - 8 * a->itemsize;
		return (double)((int64_t)(v << shift) >> shift);
	}
	}
}

static int64_t elem_i64(const oi_array *a, uint64_t i)
{
	if (a->kind == 'f')
		return (int64_t)elem_f64(a, i);
	const uint8_t *p = a->bytes + i * a->itemsize;
	uint64_t v = 0;
	memcpy(&v, p, a->itemsize);
	if (a->kind == 'b')
		return p[0] != 0;
	if (a->kind == 'u')
		return (int64_t)v;
	unsigned shift = 64 - 8 * a->itemsize;
	return (int64_t)(v << shift) >> shift;
}

static void format_index(const oi_array *a, uint64_t e, char *out, size_t cap)
{
	int64_t idx[OI_DATA_MAX_RANK];
	for (size_t j = a->ndim; j-- > 0;) {
		idx[j] = (int64_t)(e % (uint64_t)a->dims[j]);
		e /= (uint64_t)a->dims[j];
	}
	size_t n = (size_t)snprintf(out, cap, "[");
	for (size_t j = 0; j < a->ndim && n < cap; j++)
		n += (size_t)snprintf(out + n, cap - n, "%s%lld", j ? ", " : "", (long long)idx[j]);
	if (n < cap)
		snprintf(out + n, cap - n, "]");
}

/* NaN or Inf anywhere: refused, with the first one's index. */
static int check_finite(const oi_array *a, const char *what)
{
	if (a->kind != 'f')
		return 0;
	for (uint64_t e = 0; e < a->numel; e++) {
		double v = elem_f64(a, e);
		if (!isfinite(v)) {
			char idx[200];
			format_index(a, e, idx, sizeof idx);
			return oi__fail(OI_EINVALID, "%s: %s at index %s; the data must be finite", what,
			                isnan(v) ? "NaN" : "Inf", idx);
		}
	}
	return 0;
}

/* ---- .npz --------------------------------------------------------------- */

static int add_array(oi_data *d, oi_array *a)
{
	oi_array *arr = oi__reallocarray(d->arrays, d->n_arrays + 1, sizeof *arr);
	if (!arr)
		return OI_ENOMEM;
	d->arrays = arr;
	d->arrays[d->n_arrays++] = *a;
	return 0;
}

/* One member: its name, its bytes (inflated if need be), its array. */
static int npz_member(oi_data *d, const uint8_t *p, const oi_zip_member *z, const char *what)
{
	char name[256];
	snprintf(name, sizeof name, "%.*s", (int)(z->name_len < 255 ? z->name_len : 255), z->name);
	size_t nl = strlen(name);
	if (nl < 4 || strcmp(name + nl - 4, ".npy"))
		return 0; /* not an array */
	char mwhat[600];
	snprintf(mwhat, sizeof mwhat, "%s: member '%s'", what, name);
	oi_array a = { 0 };
	const uint8_t *bytes;
	uint8_t *buf;
	int rc = oi__zip_member_bytes(p, z, mwhat, true, &bytes, &buf);
	if (!rc)
		rc = oi__npy_parse(bytes, (size_t)z->usize, mwhat, &a);
	if (!rc && buf && !a.own) {
		a.own = buf; /* the array points into the inflated bytes */
		buf = NULL;
	}
	free(buf);
	if (!rc) {
		name[nl - 4] = 0;
		a.name = oi__strdup(name);
		rc = a.name ? add_array(d, &a) : OI_ENOMEM;
	}
	if (rc) {
		free(a.own);
		free(a.name);
	}
	return rc;
}

static int npz_parse(oi_data *d, const uint8_t *p, size_t len, const char *what)
{
	oi_zip_member *z;
	size_t n;
	int rc = oi__zip_members(p, len, what, &z, &n);
	for (size_t k = 0; k < n && !rc; k++)
		rc = npz_member(d, p, &z[k], what);
	free(z);
	if (!rc && d->n_arrays == 0)
		rc = oi__fail(OI_EFORMAT, "%s: the archive holds no .npy arrays", what);
	for (size_t i = 0; i < d->n_arrays && !rc; i++)
		for (size_t j = 0; j < i && !rc; j++)
			if (!strcmp(d->arrays[i].name, d->arrays[j].name))
				rc = oi__fail(OI_EFORMAT, "%s: two arrays are named '%s'", what,
				              d->arrays[i].name);
	return rc;
}

/* ---- opening ------------------------------------------------------------ */

static int parse_input_shape(oi_data *d, const char *spec)
{
	const char *eq = strrchr(spec, '=');
	if (!eq || eq == spec || !eq[1])
		return oi__fail(OI_EARG, "input shape '%s': expected NAME=D,D,...", spec);
	oi_shape_fix f = { 0 };
	const char *s = eq + 1;
	while (*s) {
		char *end;
		errno = 0;
		if (*s < '0' || *s > '9' || f.ndim == OI_DATA_MAX_RANK)
			return oi__fail(OI_EARG, "input shape '%s': expected NAME=D,D,... with up to %d "
			                "positive dims", spec, OI_DATA_MAX_RANK);
		long long v = strtoll(s, &end, 10);
		if (errno || v <= 0 || v > (1LL << 40) || (*end && *end != ','))
			return oi__fail(OI_EARG, "input shape '%s': expected NAME=D,D,... with positive "
			                "dims", spec);
		f.dims[f.ndim++] = v;
		s = *end ? end + 1 : end;
		if (*end && !*s)
			return oi__fail(OI_EARG, "input shape '%s': a dim is missing after ','", spec);
	}
	f.name = oi__asprintf("%.*s", (int)(eq - spec), spec);
	oi_shape_fix *arr = f.name ? oi__reallocarray(d->shapes, d->n_shapes + 1, sizeof *arr) : NULL;
	if (!arr) {
		free(f.name);
		return OI_ENOMEM;
	}
	d->shapes = arr;
	d->shapes[d->n_shapes++] = f;
	return 0;
}

static int data_new(oi_data **out, const char *name, const oi_data_options *opts)
{
	*out = NULL;
	if (opts && opts->version != OI_DATA_OPTIONS_VERSION)
		return oi__fail(OI_EARG, "oi_data_options of another version");
	if (opts && (!isfinite(opts->scale) || opts->scale < 0))
		return oi__fail(OI_EARG, "data scale %g: a finite number >= 0 (0: 1)", opts->scale);
	oi_data *d = oi__calloc(1, sizeof *d);
	if (!d)
		return OI_ENOMEM;
	const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
	d->name = oi__strdup(base);
	d->batch = opts && opts->batch ? opts->batch : 64;
	d->scale = opts && opts->scale != 0 ? opts->scale : 1.0;
	d->seed = opts ? opts->seed : 0;
	int rc = d->name ? 0 : OI_ENOMEM;
	for (size_t i = 0; opts && i < opts->n_input_shapes && !rc; i++)
		rc = parse_input_shape(d, opts->input_shapes[i]);
	if (rc) {
		oi_data_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

/* Parse bytes the data owns (d->file). */
static int parse_file(oi_data *d, const char *what)
{
	const uint8_t *p = d->file;
	size_t len = d->file_len;
	oi_sha256_ctx c;
	oi__sha256_init(&c);
	oi__sha256_update(&c, p, len);
	oi__sha256_final_hex(&c, d->sha256);
	int rc;
	if (len == 0)
		return oi__fail(OI_EFORMAT, "%s: empty file", what);
	if (len >= 4 && p[0] == 'P' && p[1] == 'K') {
		rc = npz_parse(d, p, len, what);
	} else if (len >= 6 && p[0] == 0x93 && !memcmp(p + 1, "NUMPY", 5)) {
		oi_array a = { 0 };
		rc = oi__npy_parse(p, len, what, &a);
		if (!rc) {
			a.name = oi__strdup("");
			rc = a.name ? add_array(d, &a) : OI_ENOMEM;
		}
		if (rc) {
			free(a.own);
			free(a.name);
		}
	} else {
		return oi__fail(OI_EFORMAT, "%s: not a .npy or .npz file", what);
	}
	for (size_t i = 0; i < d->n_arrays && !rc; i++) {
		oi_array *a = &d->arrays[i];
		char w[600];
		snprintf(w, sizeof w, a->name[0] ? "%s: array '%s'" : "%s%s", what, a->name);
		if (a->ndim == 0)
			rc = oi__fail(OI_EINVALID, "%s is a scalar; the first axis must number the "
			              "samples", w);
		else if (a->dims[0] == 0)
			rc = oi__fail(OI_EINVALID, "%s holds no samples", w);
		else
			rc = check_finite(a, w);
	}
	return rc;
}

int oi_data_open_memory(oi_data **out, const void *bytes, size_t len, const char *name,
                        const oi_data_options *opts)
{
	const char *what = name ? name : "data";
	int rc = data_new(out, what, opts);
	if (rc)
		return rc;
	oi_data *d = *out;
	d->file = malloc(len ? len : 1);
	if (!d->file) {
		oi_data_free(d);
		*out = NULL;
		return oi__fail(OI_ENOMEM, "%s: out of memory", what);
	}
	if (len)
		memcpy(d->file, bytes, len);
	d->file_len = len;
	rc = parse_file(d, what);
	if (rc) {
		oi_data_free(d);
		*out = NULL;
		return rc;
	}
	return oi__ok();
}

int oi_data_open(oi_data **out, const char *data, const oi_data_options *opts)
{
	*out = NULL;
	if (!data || !*data)
		return oi__fail(OI_EARG, "no data given");
	if (!strcmp(data, "normal") || !strcmp(data, "uniform")) {
		int rc = data_new(out, data, opts);
		if (rc)
			return rc;
		(*out)->kind = data[0] == 'n' ? OI_DATA_NORMAL : OI_DATA_UNIFORM;
		return oi__ok();
	}
	FILE *f = fopen(data, "rb");
	if (!f)
		return oi__fail(OI_EIO, "%s: %s", data, strerror(errno));
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	int rc = 0;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 1 << 16;
			uint8_t *q = realloc(buf, cap);
			if (!q) {
				rc = oi__fail(OI_ENOMEM, "%s: out of memory", data);
				break;
			}
			buf = q;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (!rc && ferror(f))
		rc = oi__fail(OI_EIO, "%s: read error", data);
	fclose(f);
	if (!rc)
		rc = data_new(out, data, opts);
	if (rc) {
		free(buf);
		return rc;
	}
	(*out)->file = buf;
	(*out)->file_len = len;
	rc = parse_file(*out, data);
	if (rc) {
		oi_data_free(*out);
		*out = NULL;
		return rc;
	}
	return oi__ok();
}

void oi_data_free(oi_data *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_arrays; i++) {
		free(d->arrays[i].name);
		free(d->arrays[i].own);
	}
	for (size_t i = 0; i < d->n_shapes; i++)
		free(d->shapes[i].name);
	free(d->shapes);
	free(d->arrays);
	free(d->file);
	free(d->name);
	free(d);
}

const char *oi_data_name(const oi_data *d) { return d ? d->name : NULL; }
const char *oi_data_sha256(const oi_data *d) { return d && d->sha256[0] ? d->sha256 : NULL; }
size_t oi_data_array_count(const oi_data *d) { return d ? d->n_arrays : 0; }

int oi_data_array(const oi_data *d, size_t i, const char **name, size_t *ndim,
                  const int64_t **dims)
{
	if (!d || i >= d->n_arrays)
		return oi__fail(OI_EARG, "array index %zu out of range", i);
	*name = d->arrays[i].name;
	*ndim = d->arrays[i].ndim;
	*dims = d->arrays[i].dims;
	return oi__ok();
}

/* ---- batches for the model's inputs ------------------------------------- */

typedef struct model_input {
	const char *name;
	int dtype;
	bool has_shape;
	size_t ndim;
	int64_t dims[OI_DATA_MAX_RANK];     /* -1 where symbolic or unknown */
	const char *params[OI_DATA_MAX_RANK];
} model_input;

static bool is_initializer(const Onnx__GraphProto *g, const char *name)
{
	for (size_t i = 0; i < g->n_initializer; i++)
		if (g->initializer[i]->name && !strcmp(g->initializer[i]->name, name))
			return true;
	for (size_t i = 0; i < g->n_sparse_initializer; i++) {
		const Onnx__SparseTensorProto *s = g->sparse_initializer[i];
		if (s->values && s->values->name && !strcmp(s->values->name, name))
			return true;
	}
	return false;
}

static int model_inputs(const oi_model *m, model_input **out, size_t *n)
{
	const Onnx__GraphProto *g = m->pb->graph;
	*out = NULL;
	*n = 0;
	if (!g)
		return oi__fail(OI_EINVALID, "%s: the model has no graph", m->path);
	model_input *in = oi__calloc(g->n_input ? g->n_input : 1, sizeof *in);
	if (!in)
		return OI_ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < g->n_input; i++) {
		const Onnx__ValueInfoProto *v = g->input[i];
		if (!v->name || is_initializer(g, v->name))
			continue;
		model_input *mi = &in[k++];
		mi->name = v->name;
		const Onnx__TypeProto *t = v->type;
		if (!t || t->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !t->tensor_type) {
			free(in);
			return oi__fail(OI_EUNSUPPORTED, "%s: input '%s' is not a tensor", m->path,
			                v->name);
		}
		mi->dtype = t->tensor_type->elem_type;
		const Onnx__TensorShapeProto *s = t->tensor_type->shape;
		if (s && s->n_dim <= OI_DATA_MAX_RANK) {
			mi->has_shape = true;
			mi->ndim = s->n_dim;
			for (size_t j = 0; j < s->n_dim; j++) {
				const Onnx__TensorShapeProto__Dimension *dm = s->dim[j];
				bool fixed = dm->value_case ==
				             ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
				             dm->dim_value > 0;
				mi->dims[j] = fixed ? dm->dim_value : -1;
				mi->params[j] = dm->value_case ==
				                ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM
				                ? dm->dim_param : NULL;
			}
		}
	}
	*out = in;
	*n = k;
	return 0;
}

static void format_dims(const int64_t *dims, const char *const *params, size_t nd, char *out,
                        size_t cap)
{
	size_t n = (size_t)snprintf(out, cap, "[");
	for (size_t j = 0; j < nd && n < cap; j++) {
		if (dims[j] >= 0)
			n += (size_t)snprintf(out + n, cap - n, "%s%lld", j ? "," : "", (long long)dims[j]);
		else
			n += (size_t)snprintf(out + n, cap - n, "%s%s", j ? "," : "",
			                      params && params[j] && *params[j] ? params[j] : "?");
	}
	if (n < cap)
		snprintf(out + n, cap - n, "]");
}

static bool float_dtype(int dt)
{
	return dt == OI_DTYPE_FLOAT || dt == OI_DTYPE_DOUBLE || dt == OI_DTYPE_FLOAT16 ||
	       dt == OI_DTYPE_BFLOAT16;
}

static bool int_dtype(int dt)
{
	return dt == OI_DTYPE_INT64 || dt == OI_DTYPE_INT32 || dt == OI_DTYPE_INT8 ||
	       dt == OI_DTYPE_UINT8 || dt == OI_DTYPE_INT16 || dt == OI_DTYPE_UINT16 ||
	       dt == OI_DTYPE_UINT32 || dt == OI_DTYPE_UINT64 || dt == OI_DTYPE_BOOL;
}

/* Which array feeds input k of n. */
static int pick_array(const oi_data *d, const model_input *in, size_t n, size_t k,
                      const oi_array **out)
{
	if (d->n_arrays == 1 && n == 1) {
		*out = &d->arrays[0];
		return 0;
	}
	if (d->n_arrays == 1 && !d->arrays[0].name[0]) {
		char names[400] = "";
		for (size_t i = 0, len = 0; i < n && len < sizeof names; i++)
			len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "",
			                        in[i].name);
		return oi__fail(OI_EINVALID, "%s: the model has %zu inputs (%s) and a .npy holds one "
		                "array; use an .npz with an array named after each", d->name, n, names);
	}
	for (size_t i = 0; i < d->n_arrays; i++)
		if (!strcmp(d->arrays[i].name, in[k].name)) {
			*out = &d->arrays[i];
			return 0;
		}
	return oi__fail(OI_EINVALID, "%s: no array is named after the model's input '%s'%s",
	                d->name, in[k].name, d->n_arrays == 1 ? " (one array, but the model has "
	                "more inputs)" : "");
}

static int fit_array(const oi_data *d, const model_input *mi, const oi_array *a)
{
	char ds[200], ms[200];
	format_dims(a->dims, NULL, a->ndim, ds, sizeof ds);
	format_dims(mi->dims, mi->params, mi->ndim, ms, sizeof ms);
	bool ok = !mi->has_shape || a->ndim == mi->ndim;
	for (size_t j = 1; ok && j < a->ndim && mi->has_shape; j++)
		ok = mi->dims[j] < 0 || mi->dims[j] == a->dims[j];
	if (ok && mi->has_shape && mi->dims[0] > 0 && a->dims[0] < mi->dims[0])
		ok = false;
	if (!ok)
		return oi__fail(OI_EINVALID, "%s: data of shape %s does not fit input '%s' of shape %s",
		                d->name, ds, mi->name, ms);
	if (!float_dtype(mi->dtype) && !int_dtype(mi->dtype))
		return oi__fail(OI_EUNSUPPORTED, "input '%s' is %s; the passes feed float and integer "
		                "inputs", mi->name, oi_dtype_name(mi->dtype));
	return 0;
}

static int alloc_batch(oi_input_batch *b)
{
	uint64_t n = 1;
	for (size_t j = 0; j < b->ndim; j++)
		if (!oi__mul_u64(n, (uint64_t)b->dims[j], &n) || n > ((uint64_t)1 << 40))
			return oi__fail(OI_ETOOBIG, "input '%s': the batch is too large", b->name);
	b->numel = n;
	if (b->integer)
		b->i = malloc((n ? n : 1) * sizeof *b->i);
	else
		b->f = malloc((n ? n : 1) * sizeof *b->f);
	if (!b->i && !b->f)
		return oi__fail(OI_ENOMEM, "out of memory for a batch of input '%s'", b->name);
	return 0;
}

static int random_input(const oi_data *d, const model_input *mi, oi_input_batch *b)
{
	const oi_shape_fix *fix = NULL;
	for (size_t i = 0; i < d->n_shapes; i++)
		if (!strcmp(d->shapes[i].name, mi->name))
			fix = &d->shapes[i];
	char ms[200];
	format_dims(mi->dims, mi->params, mi->ndim, ms, sizeof ms);
	if (!float_dtype(mi->dtype))
		return oi__fail(OI_EUNSUPPORTED, "input '%s' is %s: random data is for float inputs; "
		                "give an .npz", mi->name, oi_dtype_name(mi->dtype));
	if (fix) {
		bool ok = !mi->has_shape || fix->ndim == mi->ndim;
		for (size_t j = 0; ok && mi->has_shape && j < fix->ndim; j++)
			ok = mi->dims[j] < 0 || mi->dims[j] == fix->dims[j];
		if (!ok) {
			char fs[200];
			format_dims(fix->dims, NULL, fix->ndim, fs, sizeof fs);
			return oi__fail(OI_EARG, "input shape %s does not fit input '%s' of shape %s", fs,
			                mi->name, ms);
		}
		b->ndim = fix->ndim;
		memcpy(b->dims, fix->dims, sizeof b->dims);
	} else {
		if (!mi->has_shape || mi->ndim == 0)
			return oi__fail(OI_EINVALID, "input '%s' has no shape in the model: give it as "
			                "%s=D,D,...", mi->name, mi->name);
		b->ndim = mi->ndim;
		for (size_t j = 0; j < mi->ndim; j++) {
			b->dims[j] = mi->dims[j] > 0 ? mi->dims[j] : j == 0 ? (int64_t)d->batch : -1;
			if (b->dims[j] < 0)
				return oi__fail(OI_EINVALID, "input '%s' of shape %s has dynamic dims: give "
				                "its shape as %s=D,D,...", mi->name, ms, mi->name);
		}
	}
	int rc = alloc_batch(b);
	if (rc)
		return rc;
	char label[600];
	snprintf(label, sizeof label, "data/%s", mi->name);
	oi_key key = oi__rng_key(d->seed, label);
	for (uint64_t e = 0; e < b->numel; e++) {
		double v = d->kind == OI_DATA_NORMAL ? oi__normal(key, e, 0) : oi__uniform(key, e);
		b->f[e] = (float)(v * d->scale);
	}
	return 0;
}

static int file_input(const oi_data *d, const oi_array *a, int64_t samples, oi_input_batch *b)
{
	b->ndim = a->ndim;
	memcpy(b->dims, a->dims, sizeof b->dims);
	b->dims[0] = samples;
	int rc = alloc_batch(b);
	if (rc)
		return rc;
	for (uint64_t e = 0; e < b->numel; e++) {
		if (b->integer)
			b->i[e] = elem_i64(a, e);
		else
			b->f[e] = (float)(elem_f64(a, e) * d->scale);
	}
	return 0;
}

int oi__data_inputs(const oi_data *d, const oi_model *m, oi_input_batch **out, size_t *n)
{
	model_input *in;
	size_t k;
	*out = NULL;
	*n = 0;
	int rc = model_inputs(m, &in, &k);
	if (rc)
		return rc;
	if (k == 0) {
		free(in);
		return oi__fail(OI_EINVALID, "%s: the model has no inputs to feed", m->path);
	}
	oi_input_batch *b = oi__calloc(k, sizeof *b);
	const oi_array **arr = oi__calloc(k, sizeof *arr);
	rc = b && arr ? 0 : OI_ENOMEM;
	int64_t samples = (int64_t)d->batch;
	for (size_t i = 0; i < k && !rc && d->kind == OI_DATA_FILE; i++) {
		rc = pick_array(d, in, k, i, &arr[i]);
		if (!rc)
			rc = fit_array(d, &in[i], arr[i]);
		if (!rc && arr[i]->dims[0] < samples)
			samples = arr[i]->dims[0];
	}
	/* a fixed batch dim is what the model takes, whatever was asked */
	for (size_t i = 0; i < k && !rc && d->kind == OI_DATA_FILE; i++)
		if (in[i].has_shape && in[i].dims[0] > 0)
			samples = in[i].dims[0];
	for (size_t i = 0; i < k && !rc; i++) {
		b[i].name = in[i].name;
		b[i].integer = !float_dtype(in[i].dtype);
		if (d->kind == OI_DATA_FILE) {
			rc = file_input(d, arr[i], samples, &b[i]);
		} else {
			rc = random_input(d, &in[i], &b[i]);
			if (rc && rc != OI_ENOMEM)
				oi__error_prefix(m->path);
		}
	}
	for (size_t i = 0; i < d->n_shapes && !rc; i++) {
		size_t j = 0;
		while (j < k && strcmp(in[j].name, d->shapes[i].name))
			j++;
		if (j == k)
			rc = oi__fail(OI_EARG, "%s: input shape for '%s': the model has no such input",
			              m->path, d->shapes[i].name);
	}
	free(in);
	free(arr);
	if (rc) {
		oi__data_inputs_free(b, b ? k : 0);
		return rc;
	}
	*out = b;
	*n = k;
	return 0;
}

void oi__data_inputs_free(oi_input_batch *b, size_t n)
{
	for (size_t i = 0; b && i < n; i++) {
		free(b[i].f);
		free(b[i].i);
	}
	free(b);
}
