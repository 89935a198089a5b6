/* Kernels that move values or compute shapes: Identity, Reshape, Flatten,
 * Transpose, Concat, Slice, Split, Squeeze, Unsqueeze, Gather, Shape,
 * Constant, Expand, Range, ConstantOfShape, Pad, and the reductions. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tensor.h"
#include "eval.h"

static size_t esize(ev_type t) { return t == EV_F32 ? sizeof(float) : sizeof(int64_t); }

static int copy_as(ev_tensor *out, const ev_tensor *x, int nd, const int64_t *d)
{
	int rc = oi__ev_alloc(out, x->type, nd, d);
	if (!rc && x->n)
		memcpy(out->data, x->data, (size_t)x->n * esize(x->type));
	return rc;
}

static int64_t norm_axis(int64_t a, int rank) { return a < 0 ? a + rank : a; }

/* Ints from input k (opset >= since) or attribute name; -1 if neither. */
static int ints_arg(ev_ctx *c, const ev_node *node, ev_tensor *const *in, size_t nin, size_t k,
                    int64_t since, const char *name, int64_t *out, int max)
{
	if (c->opset >= since || (nin > k && in[k])) {
		if (nin > k && in[k])
			return oi__ev_ints(in[k], out, max);
		return -1;
	}
	return oi__ev_attr_ints(node, name, out, max);
}

EV_KERNEL(oi__k_identity)
{
	(void)c;
	(void)nin;
	EV_INPUT0(x);
	int rc = copy_as(&out[0], x, x->nd, x->d);
	/* Dropout's mask: all true in inference */
	if (!rc && nout > 1 && node->out[1] >= 0) {
		rc = oi__ev_alloc(&out[1], EV_I64, x->nd, x->d);
		for (int64_t i = 0; !rc && i < x->n; i++)
			ev_i(&out[1])[i] = 1;
	}
	return rc;
}

EV_KERNEL(oi__k_reshape)
{
	(void)nout;
	const ev_tensor *x = in[0];
	int64_t s[EV_MAX_RANK];
	int n = ints_arg(c, node, in, nin, 1, 5, "shape", s, EV_MAX_RANK);
	if (!x || n < 0)
		return oi__ev_fail(node, OI_EUNSUPPORTED, "needs data and a shape of rank %d at most",
		                   EV_MAX_RANK);
	bool allowzero = oi__ev_attr_i(node, "allowzero", 0) != 0;
	int64_t known = 1, infer = -1;
	for (int j = 0; j < n; j++) {
		if (s[j] == 0 && !allowzero) {
			if (j >= x->nd)
				return oi__ev_fail(node, OI_EINVALID, "0 at dim %d of a rank %d input", j, x->nd);
			s[j] = x->d[j];
		}
		if (s[j] == -1) {
			if (infer >= 0)
				return oi__ev_fail(node, OI_EINVALID, "two -1 in the shape");
			infer = j;
		} else if (s[j] < 0) {
			return oi__ev_fail(node, OI_EINVALID, "negative dim in the shape");
		} else if (!oi__mul_i64(known, s[j], &known)) {
			return oi__ev_fail(node, OI_EINVALID, "the shape overflows");
		}
	}
	if (infer >= 0)
		s[infer] = known ? x->n / known : 0;
	int64_t total = 1;
	for (int j = 0; j < n; j++)
		if (!oi__mul_i64(total, s[j], &total))
			return oi__ev_fail(node, OI_EINVALID, "the shape overflows");
	if (total != x->n) {
		char buf[200];
		size_t len = 0;
		for (int j = 0; j < x->nd && len < sizeof buf; j++)
			len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%lld", j ? "," : "",
			                        (long long)x->d[j]);
		return oi__ev_fail(node, OI_EINVALID, "cannot reshape [%s] (%lld elements) to %lld "
		                   "elements (a batch size baked into the graph?)", buf,
		                   (long long)x->n, (long long)total);
	}
	return copy_as(&out[0], x, n, s);
}

EV_KERNEL(oi__k_flatten)
{
	EV_UNARY(x);
	int64_t axis = norm_axis(oi__ev_attr_i(node, "axis", 1), x->nd);
	if (axis < 0 || axis > x->nd)
		return oi__ev_fail(node, OI_EINVALID, "axis out of range");
	int64_t d[2] = { 1, 1 };
	for (int j = 0; j < x->nd; j++)
		d[j < axis ? 0 : 1] *= x->d[j];
	return copy_as(&out[0], x, 2, d);
}

EV_KERNEL(oi__k_transpose)
{
	EV_UNARY(x);
	int64_t perm[EV_MAX_RANK];
	int n = oi__ev_attr_ints(node, "perm", perm, EV_MAX_RANK);
	if (n < 0) {
		n = x->nd;
		for (int j = 0; j < n; j++)
			perm[j] = n - 1 - j;
	}
	if (n != x->nd)
		return oi__ev_fail(node, OI_EINVALID, "perm does not fit the rank");
	int64_t d[EV_MAX_RANK], st[EV_MAX_RANK], ist[EV_MAX_RANK], s = 1;
	bool seen[EV_MAX_RANK] = { false };
	for (int j = n - 1; j >= 0; j--) {
		ist[j] = s;
		s *= x->d[j];
	}
	for (int j = 0; j < n; j++) {
		if (perm[j] < 0 || perm[j] >= n || seen[perm[j]])
			return oi__ev_fail(node, OI_EINVALID, "perm is not a permutation");
		seen[perm[j]] = true;
		d[j] = x->d[perm[j]];
		st[j] = ist[perm[j]];
	}
	int rc = oi__ev_alloc(&out[0], x->type, n, d);
	if (rc)
		return rc;
	int64_t idx[EV_MAX_RANK] = { 0 }, off = 0;
	size_t es = esize(x->type);
	const char *src = x->data;
	char *dst = out[0].data;
	for (int64_t e = 0; e < x->n; e++) {
		memcpy(dst + (size_t)e * es, src + (size_t)off * es, es);
		for (int j = n - 1; j >= 0; j--) {
			off += st[j];
			if (++idx[j] < d[j])
				break;
			off -= st[j] * d[j];
			idx[j] = 0;
		}
	}
	return 0;
}

EV_KERNEL(oi__k_concat)
{
	(void)c;
	(void)nout;
	const ev_tensor *first = NULL;
	for (size_t k = 0; k < nin && !first; k++)
		first = in[k];
	if (!first)
		return oi__ev_fail(node, OI_EINVALID, "no input");
	int64_t axis = norm_axis(oi__ev_attr_i(node, "axis", 0), first->nd);
	if (axis < 0 || axis >= first->nd)
		return oi__ev_fail(node, OI_EINVALID, "axis out of range");
	int64_t d[EV_MAX_RANK];
	memcpy(d, first->d, sizeof d);
	d[axis] = 0;
	for (size_t k = 0; k < nin; k++) {
		const ev_tensor *t = in[k];
		if (!t)
			continue;
		if (t->nd != first->nd || t->type != first->type)
			return oi__ev_fail(node, OI_EINVALID, "inputs of different ranks or types");
		for (int j = 0; j < t->nd; j++)
			if (j != axis && t->d[j] != first->d[j])
				return oi__ev_fail(node, OI_EINVALID, "inputs differ off the axis");
		d[axis] += t->d[axis];
	}
	int rc = oi__ev_alloc(&out[0], first->type, first->nd, d);
	if (rc)
		return rc;
	int64_t outer = 1, inner = 1;
	for (int j = 0; j < first->nd; j++) {
		if (j < axis)
			outer *= d[j];
		else if (j > axis)
			inner *= d[j];
	}
	size_t es = esize(first->type);
	char *dst = out[0].data;
	int64_t at = 0;
	for (size_t k = 0; k < nin; k++) {
		const ev_tensor *t = in[k];
		if (!t)
			continue;
		int64_t chunk = t->d[axis] * inner;
		for (int64_t o = 0; o < outer; o++)
			memcpy(dst + (size_t)((o * d[axis]) * inner + at) * es,
			       (const char *)t->data + (size_t)(o * chunk) * es, (size_t)chunk * es);
		at += chunk;
	}
	return 0;
}

/* Copy the box start[j] + i*step[j], i < len[j], of x into out. */
static void copy_box(const ev_tensor *x, const int64_t *start, const int64_t *step,
                     ev_tensor *out)
{
	int nd = x->nd;
	int64_t ist[EV_MAX_RANK], s = 1, idx[EV_MAX_RANK] = { 0 };
	for (int j = nd - 1; j >= 0; j--) {
		ist[j] = s;
		s *= x->d[j];
	}
	size_t es = esize(x->type);
	for (int64_t e = 0; e < out->n; e++) {
		int64_t off = 0;
		for (int j = 0; j < nd; j++)
			off += (start[j] + idx[j] * step[j]) * ist[j];
		memcpy((char *)out->data + (size_t)e * es, (const char *)x->data + (size_t)off * es, es);
		for (int j = nd - 1; j >= 0; j--) {
			if (++idx[j] < out->d[j])
				break;
			idx[j] = 0;
		}
	}
}

EV_KERNEL(oi__k_slice)
{
	(void)nout;
	EV_INPUT0(x);
	int64_t st[EV_MAX_RANK], en[EV_MAX_RANK], ax[EV_MAX_RANK], sp[EV_MAX_RANK];
	int ns, ne, na, nsp = -1;
	if (c->opset >= 10) {
		ns = nin > 1 && in[1] ? oi__ev_ints(in[1], st, EV_MAX_RANK) : -1;
		ne = nin > 2 && in[2] ? oi__ev_ints(in[2], en, EV_MAX_RANK) : -1;
		na = nin > 3 && in[3] ? oi__ev_ints(in[3], ax, EV_MAX_RANK) : -1;
		nsp = nin > 4 && in[4] ? oi__ev_ints(in[4], sp, EV_MAX_RANK) : -1;
	} else {
		ns = oi__ev_attr_ints(node, "starts", st, EV_MAX_RANK);
		ne = oi__ev_attr_ints(node, "ends", en, EV_MAX_RANK);
		na = oi__ev_attr_ints(node, "axes", ax, EV_MAX_RANK);
	}
	if (ns < 0 || ne != ns || (na >= 0 && na != ns) || (nsp >= 0 && nsp != ns))
		return oi__ev_fail(node, OI_EINVALID, "starts, ends, axes and steps disagree");
	int64_t start[EV_MAX_RANK], step[EV_MAX_RANK], d[EV_MAX_RANK];
	for (int j = 0; j < x->nd; j++) {
		start[j] = 0;
		step[j] = 1;
		d[j] = x->d[j];
	}
	for (int k = 0; k < ns; k++) {
		int64_t a = norm_axis(na >= 0 ? ax[k] : k, x->nd), dim;
		int64_t s = st[k], e = en[k], p = nsp >= 0 ? sp[k] : 1;
		if (a < 0 || a >= x->nd || p == 0 || p == INT64_MIN)
			return oi__ev_fail(node, OI_EINVALID, "bad axis or step");
		dim = x->d[a];
		if (s < 0)
			s += dim;
		if (e < 0 && e > INT64_MIN / 2)
			e += dim;
		if (p > 0) {
			s = s < 0 ? 0 : s > dim ? dim : s;
			e = e < 0 ? 0 : e > dim ? dim : e;
			d[a] = e > s ? (e - s + p - 1) / p : 0;
		} else {
			s = s < 0 ? 0 : s > dim - 1 ? dim - 1 : s;
			e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
			d[a] = s > e ? (s - e + (-p) - 1) / (-p) : 0;
		}
		start[a] = s;
		step[a] = p;
	}
	int rc = oi__ev_alloc(&out[0], x->type, x->nd, d);
	if (!rc)
		copy_box(x, start, step, &out[0]);
	return rc;
}

EV_KERNEL(oi__k_split)
{
	EV_INPUT0(x);
	int64_t axis = norm_axis(oi__ev_attr_i(node, "axis", 0), x->nd);
	if (axis < 0 || axis >= x->nd || nout > 16)
		return oi__ev_fail(node, OI_EINVALID, "axis out of range");
	int64_t sz[16];
	int n = ints_arg(c, node, in, nin, 1, 13, "split", sz, 16);
	if (n < 0) {
		int64_t parts = (int64_t)nout, each = (x->d[axis] + parts - 1) / parts;
		for (int64_t k = 0; k < parts; k++) {
			int64_t rest = x->d[axis] - k * each;
			sz[k] = rest < each ? (rest > 0 ? rest : 0) : each;
		}
		n = (int)nout;
	}
	int64_t total = 0;
	for (int k = 0; k < n; k++)
		total += sz[k];
	if ((size_t)n != nout || total != x->d[axis])
		return oi__ev_fail(node, OI_EINVALID, "split sizes do not add up");
	int64_t start[EV_MAX_RANK] = { 0 }, step[EV_MAX_RANK], d[EV_MAX_RANK];
	for (int j = 0; j < x->nd; j++)
		step[j] = 1;
	for (int k = 0; k < n; k++) {
		memcpy(d, x->d, sizeof d);
		d[axis] = sz[k];
		int rc = oi__ev_alloc(&out[k], x->type, x->nd, d);
		if (rc)
			return rc;
		copy_box(x, start, step, &out[k]);
		start[axis] += sz[k];
	}
	return 0;
}

EV_KERNEL(oi__k_squeeze)
{
	(void)nout;
	EV_INPUT0(x);
	int64_t axes[EV_MAX_RANK];
	int n = ints_arg(c, node, in, nin, 1, 13, "axes", axes, EV_MAX_RANK);
	bool drop[EV_MAX_RANK] = { false };
	for (int j = 0; j < x->nd; j++)
		drop[j] = n < 0 && x->d[j] == 1;
	for (int k = 0; k < n; k++) {
		int64_t a = norm_axis(axes[k], x->nd);
		if (a < 0 || a >= x->nd || x->d[a] != 1)
			return oi__ev_fail(node, OI_EINVALID, "axis %lld is not of size 1", (long long)axes[k]);
		drop[a] = true;
	}
	int64_t d[EV_MAX_RANK];
	int nd = 0;
	for (int j = 0; j < x->nd; j++)
		if (!drop[j])
			d[nd++] = x->d[j];
	return copy_as(&out[0], x, nd, d);
}

EV_KERNEL(oi__k_unsqueeze)
{
	(void)nout;
	EV_INPUT0(x);
	int64_t axes[EV_MAX_RANK];
	int n = ints_arg(c, node, in, nin, 1, 13, "axes", axes, EV_MAX_RANK);
	int nd = x->nd + (n > 0 ? n : 0);
	if (n < 0 || nd > EV_MAX_RANK)
		return oi__ev_fail(node, OI_EINVALID, "bad axes");
	bool add[EV_MAX_RANK] = { false };
	for (int k = 0; k < n; k++) {
		int64_t a = norm_axis(axes[k], nd);
		if (a < 0 || a >= nd || add[a])
			return oi__ev_fail(node, OI_EINVALID, "bad axes");
		add[a] = true;
	}
	int64_t d[EV_MAX_RANK];
	for (int j = 0, k = 0; j < nd; j++)
		d[j] = add[j] ? 1 : x->d[k++];
	return copy_as(&out[0], x, nd, d);
}

EV_KERNEL(oi__k_gather)
{
	(void)c;
	(void)nout;
	const ev_tensor *x = in[0], *ix = nin > 1 ? in[1] : NULL;
	if (!x || !ix)
		return oi__ev_fail(node, OI_EINVALID, "needs data and indices");
	int64_t axis = norm_axis(oi__ev_attr_i(node, "axis", 0), x->nd);
	if (axis < 0 || axis >= x->nd || x->nd - 1 + ix->nd > EV_MAX_RANK)
		return oi__ev_fail(node, OI_EINVALID, "axis out of range");
	int64_t d[EV_MAX_RANK];
	int nd = 0;
	for (int j = 0; j < axis; j++)
		d[nd++] = x->d[j];
	for (int j = 0; j < ix->nd; j++)
		d[nd++] = ix->d[j];
	for (int j = (int)axis + 1; j < x->nd; j++)
		d[nd++] = x->d[j];
	int rc = oi__ev_alloc(&out[0], x->type, nd, d);
	if (rc)
		return rc;
	int64_t outer = 1, inner = 1, dim = x->d[axis];
	for (int j = 0; j < x->nd; j++) {
		if (j < axis)
			outer *= x->d[j];
		else if (j > axis)
			inner *= x->d[j];
	}
	size_t es = esize(x->type);
	char *dst = out[0].data;
	for (int64_t o = 0; o < outer; o++)
		for (int64_t k = 0; k < ix->n; k++) {
			float fi = ix->type == EV_F32 ? ev_f(ix)[k] : 0.0f;
			int64_t i = ix->type == EV_I64 ? ev_i(ix)[k] : fabsf(fi) < 9.0e18f ? (int64_t)fi : dim;
			if (i < 0)
				i += dim;
			if (i < 0 || i >= dim) {
				oi__ev_tensor_free(&out[0]);
				return oi__ev_fail(node, OI_EINVALID, "index %lld out of range [0, %lld)",
				                   (long long)i, (long long)dim);
			}
			memcpy(dst + (size_t)((o * ix->n + k) * inner) * es,
			       (const char *)x->data + (size_t)((o * dim + i) * inner) * es,
			       (size_t)inner * es);
		}
	return 0;
}

EV_KERNEL(oi__k_shape)
{
	EV_UNARY(x);
	int64_t s = oi__ev_attr_i(node, "start", 0), e = oi__ev_attr_i(node, "end", x->nd);
	s = s < 0 ? s + x->nd : s;
	e = e < 0 ? e + x->nd : e;
	s = s < 0 ? 0 : s > x->nd ? x->nd : s;
	e = e < 0 ? 0 : e > x->nd ? x->nd : e;
	int64_t d[1] = { e > s ? e - s : 0 };
	int rc = oi__ev_alloc(&out[0], EV_I64, 1, d);
	for (int64_t j = 0; !rc && j < d[0]; j++)
		ev_i(&out[0])[j] = x->d[s + j];
	return rc;
}

EV_KERNEL(oi__k_constant)
{
	(void)c;
	(void)in;
	(void)nin;
	(void)nout;
	const Onnx__AttributeProto *a;
	if ((a = oi__ev_attr(node, "value_float"))) {
		int rc = oi__ev_alloc(&out[0], EV_F32, 0, NULL);
		if (!rc)
			ev_f(&out[0])[0] = a->f;
		return rc;
	}
	if ((a = oi__ev_attr(node, "value_int"))) {
		int rc = oi__ev_alloc(&out[0], EV_I64, 0, NULL);
		if (!rc)
			ev_i(&out[0])[0] = a->i;
		return rc;
	}
	if ((a = oi__ev_attr(node, "value_floats"))) {
		int64_t d[1] = { (int64_t)a->n_floats };
		int rc = oi__ev_alloc(&out[0], EV_F32, 1, d);
		for (size_t i = 0; !rc && i < a->n_floats; i++)
			ev_f(&out[0])[i] = a->floats[i];
		return rc;
	}
	if ((a = oi__ev_attr(node, "value_ints"))) {
		int64_t d[1] = { (int64_t)a->n_ints };
		int rc = oi__ev_alloc(&out[0], EV_I64, 1, d);
		for (size_t i = 0; !rc && i < a->n_ints; i++)
			ev_i(&out[0])[i] = a->ints[i];
		return rc;
	}
	return oi__ev_fail(node, OI_EUNSUPPORTED, "this kind of constant");
}

/* Broadcast x to d (bidirectional: d grows to x's dims where it has 1s). */
EV_KERNEL(oi__k_expand)
{
	(void)c;
	(void)nout;
	const ev_tensor *x = in[0];
	int64_t s[EV_MAX_RANK];
	int n = nin > 1 && in[1] ? oi__ev_ints(in[1], s, EV_MAX_RANK) : -1;
	if (!x || n < 0)
		return oi__ev_fail(node, OI_EINVALID, "needs data and a shape");
	ev_tensor shape = { .nd = n };
	memcpy(shape.d, s, sizeof s);
	int nd;
	int64_t d[EV_MAX_RANK];
	if (!oi__ev_broadcast(x, &shape, &nd, d))
		return oi__ev_fail(node, OI_EINVALID, "the shape does not broadcast");
	int rc = oi__ev_alloc(&out[0], x->type, nd, d);
	if (rc)
		return rc;
	int64_t *off = malloc((size_t)(out[0].n ? out[0].n : 1) * sizeof *off);
	if (!off)
		return oi__fail(OI_ENOMEM, "out of memory");
	oi__ev_bcast_offsets(nd, d, x, off, out[0].n);
	size_t es = esize(x->type);
	for (int64_t e = 0; e < out[0].n; e++)
		memcpy((char *)out[0].data + (size_t)e * es, (const char *)x->data + (size_t)off[e] * es, es);
	free(off);
	return 0;
}

EV_KERNEL(oi__k_range)
{
	(void)c;
	(void)nout;
	if (nin < 3 || !in[0] || !in[1] || !in[2] || in[0]->n != 1 || in[1]->n != 1 || in[2]->n != 1)
		return oi__ev_fail(node, OI_EINVALID, "needs scalar start, limit and delta");
	ev_type t = in[0]->type;
	double s = t == EV_F32 ? ev_f(in[0])[0] : (double)ev_i(in[0])[0];
	double l = in[1]->type == EV_F32 ? ev_f(in[1])[0] : (double)ev_i(in[1])[0];
	double dl = in[2]->type == EV_F32 ? ev_f(in[2])[0] : (double)ev_i(in[2])[0];
	if (dl == 0)
		return oi__ev_fail(node, OI_EINVALID, "delta 0");
	double cnt = ceil((l - s) / dl);
	int64_t d[1] = { cnt > 0 ? (int64_t)cnt : 0 };
	if (cnt > 1e9)
		return oi__ev_fail(node, OI_EUNSUPPORTED, "a range of %g elements", cnt);
	int rc = oi__ev_alloc(&out[0], t, 1, d);
	for (int64_t i = 0; !rc && i < d[0]; i++) {
		if (t == EV_F32)
			ev_f(&out[0])[i] = (float)(s + (double)i * dl);
		else
			ev_i(&out[0])[i] = ev_i(in[0])[0] + i * ev_i(in[2])[0];
	}
	return rc;
}

EV_KERNEL(oi__k_constant_of_shape)
{
	(void)nout;
	int64_t s[EV_MAX_RANK];
	int n = nin > 0 && in[0] ? oi__ev_ints(in[0], s, EV_MAX_RANK) : -1;
	if (n < 0)
		return oi__ev_fail(node, OI_EINVALID, "needs a shape");
	const Onnx__AttributeProto *a = oi__ev_attr(node, "value");
	if (a && a->t) {
		ev_tensor v;
		int rc = oi__ev_attr_tensor(c, a->t, &v);
		if (rc)
			return rc;
		if (v.n != 1) {
			oi__ev_tensor_free(&v);
			return oi__ev_fail(node, OI_EINVALID, "value has %lld elements", (long long)v.n);
		}
		rc = oi__ev_alloc(&out[0], v.type, n, s);
		for (int64_t i = 0; !rc && i < out[0].n; i++) {
			if (v.type == EV_F32)
				ev_f(&out[0])[i] = ev_f(&v)[0];
			else
				ev_i(&out[0])[i] = ev_i(&v)[0];
		}
		oi__ev_tensor_free(&v);
		return rc;
	}
	int rc = oi__ev_alloc(&out[0], EV_F32, n, s);
	if (!rc)
		memset(out[0].data, 0, (size_t)out[0].n * sizeof(float));
	return rc;
}

EV_KERNEL(oi__k_pad)
{
	(void)nout;
	EV_INPUT0(x);
	const Onnx__AttributeProto *m = oi__ev_attr(node, "mode");
	if (m && m->has_s && !(m->s.len == 8 && !memcmp(m->s.data, "constant", 8)))
		return oi__ev_fail(node, OI_EUNSUPPORTED, "mode '%.*s' (constant only)", (int)m->s.len,
		                   (const char *)m->s.data);
	int64_t p[2 * EV_MAX_RANK];
	int n = ints_arg(c, node, in, nin, 1, 11, "pads", p, 2 * EV_MAX_RANK);
	if (n != 2 * x->nd || (nin > 3 && in[3]))
		return oi__ev_fail(node, OI_EUNSUPPORTED, "pads of every axis (no axes input)");
	double value = c->opset >= 11 ? (nin > 2 && in[2] && in[2]->n ? (in[2]->type == EV_F32 ?
	               ev_f(in[2])[0] : (double)ev_i(in[2])[0]) : 0.0)
	               : oi__ev_attr_f(node, "value", 0.0f);
	int64_t d[EV_MAX_RANK];
	for (int j = 0; j < x->nd; j++) {
		if (p[j] < 0 || p[x->nd + j] < 0 || p[j] > (1 << 30) || p[x->nd + j] > (1 << 30))
			return oi__ev_fail(node, OI_EUNSUPPORTED, "negative or huge pads");
		d[j] = x->d[j] + p[j] + p[x->nd + j];
	}
	int rc = oi__ev_alloc(&out[0], x->type, x->nd, d);
	if (rc)
		return rc;
	for (int64_t e = 0; e < out[0].n; e++) {
		if (x->type == EV_F32)
			ev_f(&out[0])[e] = (float)value;
		else
			ev_i(&out[0])[e] = (int64_t)value;
	}
	int64_t idx[EV_MAX_RANK] = { 0 }, ost[EV_MAX_RANK], s = 1;
	for (int j = x->nd - 1; j >= 0; j--) {
		ost[j] = s;
		s *= d[j];
	}
	size_t es = esize(x->type);
	for (int64_t e = 0; e < x->n; e++) {
		int64_t off = 0;
		for (int j = 0; j < x->nd; j++)
			off += (idx[j] + p[j]) * ost[j];
		memcpy((char *)out[0].data + (size_t)off * es, (const char *)x->data + (size_t)e * es, es);
		for (int j = x->nd - 1; j >= 0; j--) {
			if (++idx[j] < x->d[j])
				break;
			idx[j] = 0;
		}
	}
	return 0;
}

/* ReduceMean, ReduceSum, ReduceMax, ReduceMin over some axes. */
EV_KERNEL(oi__k_reduce)
{
	(void)nout;
	const ev_tensor *x = in[0];
	const char *op = node->n->op_type;
	if (!x || x->type != EV_F32)
		return oi__ev_fail(node, OI_EUNSUPPORTED, "needs a float input");
	bool sum_ = !strcmp(op, "ReduceSum");
	int64_t axes[EV_MAX_RANK];
	int64_t since = sum_ ? 13 : 18;
	int n = ints_arg(c, node, in, nin, 1, since, "axes", axes, EV_MAX_RANK);
	bool keep = oi__ev_attr_i(node, "keepdims", 1) != 0;
	if (n <= 0 && oi__ev_attr_i(node, "noop_with_empty_axes", 0))
		return copy_as(&out[0], x, x->nd, x->d);
	bool red[EV_MAX_RANK] = { false };
	for (int j = 0; j < x->nd; j++)
		red[j] = n <= 0;
	for (int k = 0; k < n; k++) {
		int64_t a = norm_axis(axes[k], x->nd);
		if (a < 0 || a >= x->nd)
			return oi__ev_fail(node, OI_EINVALID, "axis out of range");
		red[a] = true;
	}
	int64_t d[EV_MAX_RANK], kd[EV_MAX_RANK], cnt = 1;
	int nd = 0;
	for (int j = 0; j < x->nd; j++) {
		kd[j] = red[j] ? 1 : x->d[j];
		if (red[j])
			cnt *= x->d[j];
		if (!red[j] || keep)
			d[nd++] = kd[j];
	}
	int rc = oi__ev_alloc(&out[0], EV_F32, nd, d);
	if (rc)
		return rc;
	int code = !strcmp(op, "ReduceMax") ? 1 : !strcmp(op, "ReduceMin") ? 2 : 0;
	double *acc = calloc((size_t)(out[0].n ? out[0].n : 1), sizeof *acc);
	if (!acc)
		return oi__fail(OI_ENOMEM, "out of memory");
	for (int64_t i = 0; i < out[0].n; i++)
		acc[i] = code == 1 ? -INFINITY : code == 2 ? INFINITY : 0.0;
	int64_t idx[EV_MAX_RANK] = { 0 };
	for (int64_t e = 0; e < x->n; e++) {
		int64_t o = 0;
		for (int j = 0; j < x->nd; j++)
			o = o * kd[j] + (red[j] ? 0 : idx[j]);
		double v = ev_f(x)[e];
		acc[o] = code == 1 ? (v > acc[o] ? v : acc[o]) : code == 2 ? (v < acc[o] ? v : acc[o])
		                                                           : acc[o] + v;
		for (int j = x->nd - 1; j >= 0; j--) {
			if (++idx[j] < x->d[j])
				break;
			idx[j] = 0;
		}
	}
	bool mean = !strcmp(op, "ReduceMean");
	for (int64_t i = 0; i < out[0].n; i++)
		ev_f(&out[0])[i] = (float)(mean ? acc[i] / (double)(cnt ? cnt : 1) : acc[i]);
	free(acc);
	return 0;
}
