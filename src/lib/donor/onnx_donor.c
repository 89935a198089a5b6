/* An ONNX model as a donor: its initializers, Constant nodes' values and
 * subgraphs' tensors, read where they lie (raw_data, external data) or
 * decoded (typed fields). */
#include <stdlib.h>
#include <string.h>

#include "donor.h"
#include "../tensor.h"

static int typed_values(const oi_model *m, const oi_tensor *t, oi_donor_tensor *d)
{
	uint64_t n = t->info.numel;
	bool fl = oi__dtype_is_float(t->info.dtype);
	d->own = malloc(n ? (size_t)n * 8 : 1);
	if (!d->own)
		return oi__fail(OI_ENOMEM, "out of memory");
	size_t got = 0;
	int rc = fl ? oi__tensor_read_f64(m, t, (double *)(void *)d->own, (size_t)n, &got)
	            : oi__tensor_read_i64(m, t, (int64_t *)(void *)d->own, (size_t)n, &got);
	if (!rc && got != n)
		rc = oi__fail(OI_EFORMAT, "tensor '%s': %zu values for %llu elements", t->info.name,
		              got, (unsigned long long)n);
	d->dtype = fl ? OI_DTYPE_DOUBLE : OI_DTYPE_INT64;
	d->data = d->own;
	return rc;
}

static int take(oi_donor *d, const oi_model *m, size_t i)
{
	const oi_tensor *t = &m->tensors[i];
	oi_donor_tensor *o = oi__donor_add(d, t->info.name, strlen(t->info.name));
	if (!o)
		return OI_ENOMEM;
	o->onnx = (int32_t)i;
	o->dtype = o->orig_dtype = t->info.dtype;
	o->ndim = t->info.ndim;
	o->numel = t->info.numel;
	o->dims = oi__calloc(o->ndim ? o->ndim : 1, sizeof *o->dims);
	if (!o->dims)
		return OI_ENOMEM;
	memcpy(o->dims, t->info.dims, o->ndim * sizeof *o->dims);
	if (t->info.storage == OI_STORAGE_TYPED)
		return typed_values(m, t, o);
	o->data = oi__tensor_payload(m, t);
	if (t->info.storage == OI_STORAGE_EXTERNAL) {
		o->map = m->ext[t->ext].map;
		o->map_len = m->ext[t->ext].size;
		o->fd = m->ext[t->ext].fd;
		o->file = m->ext[t->ext].path;
	} else {
		o->map = m->in_memory ? NULL : m->map;
		o->map_len = m->in_memory ? 0 : m->size;
		o->fd = m->in_memory ? -1 : m->fd;
		o->file = d->path;
	}
	if (!o->data && o->numel)
		return oi__fail(OI_EFORMAT, "tensor '%s' has no payload", t->info.name);
	return 0;
}

int oi__donor_read_onnx(oi_donor *d)
{
	int rc = oi_model_open(&d->onnx, d->path, NULL);
	if (rc) {
		if (rc == OI_EFORMAT)
			oi__fail(OI_EFORMAT, "not a safetensors file, npz archive, .npy folder or ONNX "
			         "model (%s)", oi_last_error());
		return rc;
	}
	oi_model *m = d->onnx;
	oi_strset seen = { 0 };
	for (size_t i = 0; i < m->n_tensors && !rc; i++) {
		const oi_tensor *t = &m->tensors[i];
		/* sparse values, other nodes' attributes and a subgraph's shadowing
		 * name are nothing a checkpoint would hold */
		if (t->sparse || t->info.source == OI_SOURCE_ATTRIBUTE)
			continue;
		if (!oi__dtype_known(t->info.dtype) || !oi__donor_dtype_usable(t->info.dtype))
			continue;
		int added = oi__strset_add(&seen, t->info.name);
		if (added < 0)
			rc = added;
		else if (added)
			rc = take(d, m, i);
	}
	oi__strset_free(&seen);
	return rc;
}
