/* The transforms that make a donor tensor fit, element by element: each
 * target element's value depends only on its index, so the save may
 * generate any chunk on any thread. */
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "donor.h"
#include "../tensor.h"

static void copy_values(const oi_donor_tensor *a, uint64_t first, size_t n, double *out)
{
	if (oi__dtype_is_float(a->dtype))
		oi__decode_raw(a->dtype, a->data + first * oi__float_size(a->dtype), n, out);
	else
		for (size_t i = 0; i < n; i++)
			out[i] = oi__donor_elem(a, first + i);
}

/* ONNX W/R (D, G·H, C) or B (D, 2·G·H) from PyTorch's per-direction
 * tensors in PyTorch's gate order. */
static double gate_value(const oi_donor_src *s, uint64_t e)
{
	uint64_t part = e / s->part_len, within = e % s->part_len;
	const oi_donor_tensor *t = part < 4 ? s->part[part] : NULL;
	if (!t)
		return 0; /* a bias PyTorch does not have (bias=False) */
	uint64_t row = within / s->gate_cols, col = within % s->gate_cols;
	uint64_t g = row / s->hidden, h = row % s->hidden;
	uint64_t src = ((uint64_t)s->perm[g] * s->hidden + h) * s->gate_cols + col;
	return oi__donor_elem(t, src);
}

void oi__donor_values(const oi_donor_src *s, uint64_t first, size_t n, double *out)
{
	switch (s->kind) {
	case OI_DT_COPY:
		copy_values(s->a, first, n, out);
		break;
	case OI_DT_TRANSPOSE:
		/* target (cols, rows) element (r, c) is the donor's (c, r) */
		for (size_t i = 0; i < n; i++) {
			uint64_t e = first + i, r = e / s->rows, c = e % s->rows;
			out[i] = oi__donor_elem(s->a, c * s->cols + r);
		}
		break;
	case OI_DT_SCALE_ROWS:
		copy_values(s->a, first, n, out);
		for (size_t i = 0; i < n; i++)
			out[i] *= s->scale[(first + i) / s->per];
		break;
	case OI_DT_VALUES:
		memcpy(out, s->vals + first, n * sizeof *out);
		break;
	case OI_DT_GATES:
		for (size_t i = 0; i < n; i++)
			out[i] = gate_value(s, first + i);
		break;
	default:
		memset(out, 0, n * sizeof *out);
	}
}

bool oi__donor_bytes(const oi_donor_src *s, int dtype, uint64_t first, size_t n, uint8_t *out)
{
	if (s->kind != OI_DT_COPY || s->a->dtype != dtype || !oi__dtype_is_float(dtype))
		return false;
	size_t esz = oi__float_size(dtype);
	memcpy(out, s->a->data + first * esz, n * esz);
	return true;
}

bool oi__donor_file_range(const oi_donor_src *s, int dtype, const uint8_t **map, int *fd,
                          uint64_t *off, const char **file)
{
	const oi_donor_tensor *a = s->a;
	if (s->kind != OI_DT_COPY || a->dtype != dtype || !oi__dtype_is_float(dtype) ||
	    a->fd < 0 || !a->map || a->own)
		return false;
	*map = a->map;
	*fd = a->fd;
	*off = (uint64_t)(a->data - a->map);
	*file = a->file;
	return true;
}

void oi__donor_release(const oi_donor_src *s, uint64_t first, size_t n)
{
	/* only what one tensor reads in order, and only whole pages inside it:
	 * RSS stays a few chunks however large the donor */
	if ((s->kind != OI_DT_COPY && s->kind != OI_DT_SCALE_ROWS) || !s->a->map ||
	    !s->a->map_len || s->a->own || !n)
		return;
	size_t esz = oi__dtype_size_any(s->a->dtype);
	uintptr_t lo = (uintptr_t)(s->a->data + first * esz);
	uintptr_t hi = (uintptr_t)(s->a->data + (first + n) * esz);
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = (uintptr_t)s->a->data, end = start + s->a->numel * esz;
	/* pages wholly inside this tensor and wholly inside the range done */
	uintptr_t a = (lo + page - 1) / page * page, b = hi / page * page;
	if (a < (start + page - 1) / page * page)
		a = (start + page - 1) / page * page;
	if (b > end / page * page)
		b = end / page * page;
	if (b > a)
		madvise((void *)a, b - a, MADV_DONTNEED);
}

void oi__fold_bn_scale(const double *gamma, const double *var, double eps, size_t c,
                       double *scale)
{
	for (size_t i = 0; i < c; i++)
		scale[i] = gamma[i] / sqrt(var[i] + eps);
}
