/* Elementwise kernels: activations and unary maths, binary arithmetic and
 * comparisons with numpy broadcasting, Clip, PRelu, Where, Cast. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../tensor.h"
#include "eval.h"

/* ---- broadcasting ------------------------------------------------------- */

/* Element strides of t in an output of nd dims (0 along broadcast dims). */
static void bstrides(const ev_tensor *t, int nd, int64_t *st)
{
	int64_t s = 1;
	for (int k = nd - 1; k >= 0; k--) {
		int tk = k - (nd - t->nd);
		if (tk >= 0 && t->d[tk] != 1) {
			st[k] = s;
			s *= t->d[tk];
		} else {
			st[k] = 0;
			if (tk >= 0)
				s *= t->d[tk];
		}
	}
}

/* Walks an output of nd dims row by row (the last dim), with the offsets of
 * up to three operands at the start of each row. */
typedef struct bwalk {
	int nd;
	int64_t d[EV_MAX_RANK], idx[EV_MAX_RANK];
	int64_t st[3][EV_MAX_RANK];
	int64_t off[3];
	int nops;
	int64_t row, rows;       /* the row length, the number of rows */
} bwalk;

static void bwalk_init(bwalk *w, int nd, const int64_t *d, const ev_tensor *const *ops, int nops)
{
	memset(w, 0, sizeof *w);
	w->nd = nd;
	memcpy(w->d, d, sizeof(int64_t) * (size_t)nd);
	w->nops = nops;
	for (int i = 0; i < nops; i++)
		bstrides(ops[i], nd, w->st[i]);
	w->row = nd ? d[nd - 1] : 1;
	w->rows = 1;
	for (int k = 0; k + 1 < nd; k++)
		w->rows *= d[k];
	if (w->row == 0)
		w->rows = 0;
}

/* The stride of operand i along the row. */
static inline int64_t bwalk_step(const bwalk *w, int i)
{
	return w->nd ? w->st[i][w->nd - 1] : 0;
}

static void bwalk_next(bwalk *w)
{
	for (int k = w->nd - 2; k >= 0; k--) {
		w->idx[k]++;
		for (int i = 0; i < w->nops; i++)
			w->off[i] += w->st[i][k];
		if (w->idx[k] < w->d[k])
			return;
		for (int i = 0; i < w->nops; i++)
			w->off[i] -= w->st[i][k] * w->d[k];
		w->idx[k] = 0;
	}
}

void oi__ev_bcast_offsets(int nd, const int64_t *od, const ev_tensor *a, int64_t *ao, int64_t n)
{
	bwalk w;
	const ev_tensor *ops[1] = { a };
	bwalk_init(&w, nd, od, ops, 1);
	int64_t k = 0, sa = bwalk_step(&w, 0);
	for (int64_t r = 0; r < w.rows && k < n; r++, bwalk_next(&w))
		for (int64_t j = 0; j < w.row && k < n; j++)
			ao[k++] = w.off[0] + j * sa;
}

/* ---- unary -------------------------------------------------------------- */

static float gelu(float x, bool tanh_)
{
	if (tanh_)
		return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
	return (float)(0.5 * x * (1.0 + erf(x * 0.70710678118654752440)));
}

EV_KERNEL(oi__k_unary)
{
	EV_UNARY(x);
	const char *op = node->n->op_type;
	bool isint = x->type == EV_I64;
	if (isint && strcmp(op, "Neg") && strcmp(op, "Abs") && strcmp(op, "Sign"))
		return oi__ev_fail(node, OI_EUNSUPPORTED, "integer input");
	int rc = oi__ev_alloc(&out[0], x->type, x->nd, x->d);
	if (rc)
		return rc;
	if (isint) {
		const int64_t *s = ev_i(x);
		int64_t *y = ev_i(&out[0]);
		for (int64_t i = 0; i < x->n; i++)
			y[i] = op[0] == 'N' ? -s[i] : op[0] == 'A' ? (s[i] < 0 ? -s[i] : s[i])
			                                         : (s[i] > 0) - (s[i] < 0);
		return 0;
	}
	const float *s = ev_f(x);
	float *y = ev_f(&out[0]);
	float alpha = oi__ev_attr_f(node, "alpha", NAN), beta = oi__ev_attr_f(node, "beta", NAN);
	int64_t n = x->n;
	if (!strcmp(op, "Relu")) {
		for (int64_t i = 0; i < n; i++)
			y[i] = s[i] > 0.0f ? s[i] : 0.0f;
	} else if (!strcmp(op, "LeakyRelu")) {
		float a = isnan(alpha) ? 0.01f : alpha;
		for (int64_t i = 0; i < n; i++)
			y[i] = s[i] >= 0.0f ? s[i] : a * s[i];
	} else if (!strcmp(op, "Sigmoid")) {
		for (int64_t i = 0; i < n; i++)
			y[i] = (float)(1.0 / (1.0 + exp(-(double)s[i])));
	} else if (!strcmp(op, "Tanh")) {
		for (int64_t i = 0; i < n; i++)
			y[i] = tanhf(s[i]);
	} else if (!strcmp(op, "Elu")) {
		float a = isnan(alpha) ? 1.0f : alpha;
		for (int64_t i = 0; i < n; i++)
			y[i] = s[i] >= 0.0f ? s[i] : a * expm1f(s[i]);
	} else if (!strcmp(op, "Selu")) {
		float a = isnan(alpha) ? 1.67326319217681884765625f : alpha;
		float g = oi__ev_attr_f(node, "gamma", 1.05070102214813232421875f);
		for (int64_t i = 0; i < n; i++)
			y[i] = s[i] > 0.0f ? g * s[i] : g * a * expm1f(s[i]);
	} else if (!strcmp(op, "Gelu")) {
		const Onnx__AttributeProto *ap = oi__ev_attr(node, "approximate");
		bool t = ap && ap->has_s && ap->s.len == 4 && !memcmp(ap->s.data, "tanh", 4);
		for (int64_t i = 0; i < n; i++)
			y[i] = gelu(s[i], t);
	} else if (!strcmp(op, "Erf")) {
		for (int64_t i = 0; i < n; i++)
			y[i] = erff(s[i]);
	} else if (!strcmp(op, "HardSigmoid")) {
		float a = isnan(alpha) ? 0.2f : alpha, b = isnan(beta) ? 0.5f : beta;
		for (int64_t i = 0; i < n; i++)
			y[i] = fmaxf(0.0f, fminf(1.0f, a * s[i] + b));
	} else if (!strcmp(op, "HardSwish")) {
		for (int64_t i = 0; i < n; i++)
			y[i] = s[i] * fmaxf(0.0f, fminf(1.0f, s[i] / 6.0f + 0.5f));
	} else if (!strcmp(op, "Softplus")) {
		for (int64_t i = 0; i < n; i++)
			y[i] = s[i] > 20.0f ? s[i] : log1pf(expf(s[i]));
	} else if (!strcmp(op, "Softsign")) {
		for (int64_t i = 0; i < n; i++)
			y[i] = s[i] / (1.0f + fabsf(s[i]));
	} else if (!strcmp(op, "Sqrt")) {
		for (int64_t i = 0; i < n; i++)
			y[i] = sqrtf(s[i]);
	} else if (!strcmp(op, "Exp")) {
		for (int64_t i = 0; i < n; i++)
			y[i] = expf(s[i]);
	} else if (!strcmp(op, "Log")) {
		for (int64_t i = 0; i < n; i++)
			y[i] = logf(s[i]);
	} else if (!strcmp(op, "Neg")) {
		for (int64_t i = 0; i < n; i++)
			y[i] = -s[i];
	} else if (!strcmp(op, "Abs")) {
		for (int64_t i = 0; i < n; i++)
			y[i] = fabsf(s[i]);
	} else if (!strcmp(op, "Reciprocal")) {
		for (int64_t i = 0; i < n; i++)
			y[i] = 1.0f / s[i];
	} else if (!strcmp(op, "Floor")) {
		for (int64_t i = 0; i < n; i++)
			y[i] = floorf(s[i]);
	} else if (!strcmp(op, "Ceil")) {
		for (int64_t i = 0; i < n; i++)
			y[i] = ceilf(s[i]);
	} else if (!strcmp(op, "Sign")) {
		for (int64_t i = 0; i < n; i++)
			y[i] = (float)((s[i] > 0.0f) - (s[i] < 0.0f));
	} else if (!strcmp(op, "Sin")) {
		for (int64_t i = 0; i < n; i++)
			y[i] = sinf(s[i]);
	} else if (!strcmp(op, "Cos")) {
		for (int64_t i = 0; i < n; i++)
			y[i] = cosf(s[i]);
	} else {
		oi__ev_tensor_free(&out[0]);
		return oi__ev_fail(node, OI_EUNSUPPORTED, "no such unary op");
	}
	return 0;
}

/* ---- binary ------------------------------------------------------------- */

enum { B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_MAX, B_MIN, B_EQ, B_LT, B_GT, B_LE, B_GE, B_AND,
       B_OR, B_MOD };

static int binary_code(const char *op)
{
	static const char *const names[] = { "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min",
	                                     "Equal", "Less", "Greater", "LessOrEqual",
	                                     "GreaterOrEqual", "And", "Or", "Mod" };
	for (int i = 0; i < (int)(sizeof names / sizeof *names); i++)
		if (!strcmp(op, names[i]))
			return i;
	return -1;
}

static inline float fop(int code, float a, float b)
{
	switch (code) {
	case B_ADD: return a + b;
	case B_SUB: return a - b;
	case B_MUL: return a * b;
	case B_DIV: return a / b;
	case B_POW: return b == 2.0f ? a * a : b == 1.0f ? a : powf(a, b);
	case B_MAX: return a > b ? a : b;
	case B_MIN: return a < b ? a : b;
	case B_MOD: return fmodf(a, b);
	default: return 0.0f;
	}
}

static inline int64_t iop(int code, int64_t a, int64_t b)
{
	switch (code) {
	case B_ADD: return (int64_t)((uint64_t)a + (uint64_t)b);
	case B_SUB: return (int64_t)((uint64_t)a - (uint64_t)b);
	case B_MUL: return (int64_t)((uint64_t)a * (uint64_t)b);
	case B_DIV: return b == 0 || (a == INT64_MIN && b == -1) ? 0 : a / b;
	case B_MAX: return a > b ? a : b;
	case B_MIN: return a < b ? a : b;
	case B_MOD: {
		if (b == 0 || (a == INT64_MIN && b == -1))
			return 0;
		int64_t r = a % b; /* ONNX's fmod=0: the sign of the divisor */
		return r != 0 && ((r < 0) != (b < 0)) ? r + b : r;
	}
	case B_AND: return (a != 0) && (b != 0);
	case B_OR: return (a != 0) || (b != 0);
	default: return 0;
	}
}

static inline int64_t cmp(int code, double a, double b)
{
	switch (code) {
	case B_EQ: return a == b;
	case B_LT: return a < b;
	case B_GT: return a > b;
	case B_LE: return a <= b;
	default: return a >= b;
	}
}

static double elem(const ev_tensor *t, int64_t i)
{
	return t->type == EV_F32 ? (double)ev_f(t)[i] : (double)ev_i(t)[i];
}

/* out = a op b, broadcast. */
static int binary(const ev_node *node, int code, const ev_tensor *a, const ev_tensor *b,
                  ev_tensor *out)
{
	int nd;
	int64_t d[EV_MAX_RANK];
	if (!oi__ev_broadcast(a, b, &nd, d))
		return oi__ev_fail(node, OI_EINVALID, "shapes do not broadcast");
	bool compare = code >= B_EQ && code <= B_GE;
	bool logic = code == B_AND || code == B_OR;
	ev_type t = compare || logic ? EV_I64 : a->type;
	if (!compare && !logic && a->type != b->type && code != B_POW)
		return oi__ev_fail(node, OI_EINVALID, "operands of different types");
	if (code == B_POW && a->type != EV_F32)
		return oi__ev_fail(node, OI_EUNSUPPORTED, "integer Pow");
	int rc = oi__ev_alloc(out, t, nd, d);
	if (rc)
		return rc;
	/* the same shapes (a residual Add): one flat row */
	ev_tensor fa = *a, fb = *b;
	int64_t flat[1] = { out->n };
	if (a->nd == b->nd && !memcmp(a->d, b->d, sizeof(int64_t) * (size_t)a->nd)) {
		fa.nd = fb.nd = 1;
		fa.d[0] = fb.d[0] = out->n;
		a = &fa;
		b = &fb;
		nd = 1;
		d[0] = flat[0];
	}
	const ev_tensor *ops[2] = { a, b };
	bwalk w;
	bwalk_init(&w, nd, d, ops, 2);
	int64_t sa = bwalk_step(&w, 0), sb = bwalk_step(&w, 1), k = 0;
	for (int64_t r = 0; r < w.rows; r++, bwalk_next(&w)) {
		int64_t oa = w.off[0], ob = w.off[1];
		if (compare) {
			for (int64_t j = 0; j < w.row; j++)
				ev_i(out)[k++] = cmp(code, elem(a, oa + j * sa), elem(b, ob + j * sb));
		} else if (t == EV_F32) {
			const float *x = ev_f(a) + oa;
			float *y = ev_f(out) + k;
			if (b->type == EV_F32) {
				const float *z = ev_f(b) + ob;
				if (code == B_ADD && sa == 1 && sb == 1)
					for (int64_t j = 0; j < w.row; j++)
						y[j] = x[j] + z[j];
				else
					for (int64_t j = 0; j < w.row; j++)
						y[j] = fop(code, x[j * sa], z[j * sb]);
			} else {
				for (int64_t j = 0; j < w.row; j++)
					y[j] = fop(code, x[j * sa], (float)ev_i(b)[ob + j * sb]);
			}
			k += w.row;
		} else {
			for (int64_t j = 0; j < w.row; j++)
				ev_i(out)[k++] = iop(code, ev_i(a)[oa + j * sa],
				                     b->type == EV_I64 ? ev_i(b)[ob + j * sb]
				                                       : (int64_t)ev_f(b)[ob + j * sb]);
		}
	}
	return 0;
}

EV_KERNEL(oi__k_binary)
{
	(void)c;
	(void)nout;
	const char *op = node->n->op_type;
	bool variadic = !strcmp(op, "Sum") || !strcmp(op, "Mean") || !strcmp(op, "Max") ||
	                !strcmp(op, "Min");
	int code = !strcmp(op, "Sum") || !strcmp(op, "Mean") ? B_ADD : binary_code(op);
	if (code < 0)
		return oi__ev_fail(node, OI_EUNSUPPORTED, "no such binary op");
	if (code == B_MOD && oi__ev_attr_i(node, "fmod", 0) == 0 && in[0] && in[0]->type == EV_F32)
		return oi__ev_fail(node, OI_EUNSUPPORTED, "float Mod without fmod=1");
	if (nin < 1 || !in[0] || (!variadic && (nin < 2 || !in[1])))
		return oi__ev_fail(node, OI_EINVALID, "missing operands");
	if (nin == 1) {
		int rc = oi__ev_alloc(&out[0], in[0]->type, in[0]->nd, in[0]->d);
		if (!rc)
			memcpy(out[0].data, in[0]->data, (size_t)in[0]->n * 8 / (in[0]->type == EV_F32 ? 2 : 1));
		return rc;
	}
	int rc = binary(node, code, in[0], in[1], &out[0]);
	for (size_t k = 2; k < nin && !rc; k++) {
		ev_tensor acc = out[0];
		memset(&out[0], 0, sizeof out[0]);
		rc = in[k] ? binary(node, code, &acc, in[k], &out[0]) : 0;
		if (!in[k])
			out[0] = acc;
		else
			oi__ev_tensor_free(&acc);
	}
	if (!rc && !strcmp(op, "Mean") && out[0].type == EV_F32)
		for (int64_t i = 0; i < out[0].n; i++)
			ev_f(&out[0])[i] /= (float)nin;
	return rc;
}

/* ---- Clip, PRelu, Where, Cast, Not -------------------------------------- */

EV_KERNEL(oi__k_clip)
{
	(void)nout;
	const ev_tensor *x = in[0];
	if (!x || x->type != EV_F32)
		return oi__ev_fail(node, OI_EUNSUPPORTED, "needs a float input");
	float lo = -INFINITY, hi = INFINITY;
	if (c->opset < 11) {
		lo = oi__ev_attr_f(node, "min", -INFINITY);
		hi = oi__ev_attr_f(node, "max", INFINITY);
	} else {
		if (nin > 1 && in[1] && in[1]->n >= 1)
			lo = (float)elem(in[1], 0);
		if (nin > 2 && in[2] && in[2]->n >= 1)
			hi = (float)elem(in[2], 0);
	}
	int rc = oi__ev_alloc(&out[0], EV_F32, x->nd, x->d);
	if (rc)
		return rc;
	for (int64_t i = 0; i < x->n; i++) {
		float v = ev_f(x)[i];
		ev_f(&out[0])[i] = v < lo ? lo : v > hi ? hi : v;
	}
	return 0;
}

EV_KERNEL(oi__k_prelu)
{
	(void)c;
	(void)nout;
	const ev_tensor *x = in[0], *s = nin > 1 ? in[1] : NULL;
	if (!x || !s || x->type != EV_F32 || s->type != EV_F32)
		return oi__ev_fail(node, OI_EUNSUPPORTED, "needs float X and slope");
	int nd;
	int64_t d[EV_MAX_RANK];
	if (!oi__ev_broadcast(x, s, &nd, d) || nd != x->nd || memcmp(d, x->d, sizeof(int64_t) * (size_t)nd))
		return oi__ev_fail(node, OI_EINVALID, "the slope does not broadcast to X");
	int rc = binary(node, B_MUL, x, s, &out[0]);
	if (rc)
		return rc;
	for (int64_t i = 0; i < x->n; i++)
		if (ev_f(x)[i] >= 0.0f)
			ev_f(&out[0])[i] = ev_f(x)[i];
	return 0;
}

EV_KERNEL(oi__k_where)
{
	(void)c;
	(void)nout;
	if (nin < 3 || !in[0] || !in[1] || !in[2] || in[1]->type != in[2]->type)
		return oi__ev_fail(node, OI_EINVALID, "needs a condition and two values of one type");
	int nd, nd2;
	int64_t d[EV_MAX_RANK], d2[EV_MAX_RANK];
	ev_tensor tmp;
	if (!oi__ev_broadcast(in[1], in[2], &nd, d))
		return oi__ev_fail(node, OI_EINVALID, "shapes do not broadcast");
	tmp.nd = nd;
	memcpy(tmp.d, d, sizeof d);
	if (!oi__ev_broadcast(in[0], &tmp, &nd2, d2))
		return oi__ev_fail(node, OI_EINVALID, "shapes do not broadcast");
	int rc = oi__ev_alloc(&out[0], in[1]->type, nd2, d2);
	if (rc)
		return rc;
	const ev_tensor *ops[3] = { in[0], in[1], in[2] };
	bwalk w;
	bwalk_init(&w, nd2, d2, ops, 3);
	int64_t s0 = bwalk_step(&w, 0), s1 = bwalk_step(&w, 1), s2 = bwalk_step(&w, 2), k = 0;
	for (int64_t r = 0; r < w.rows; r++, bwalk_next(&w))
		for (int64_t j = 0; j < w.row; j++, k++) {
			bool cond = elem(in[0], w.off[0] + j * s0) != 0.0;
			const ev_tensor *src = cond ? in[1] : in[2];
			int64_t at = cond ? w.off[1] + j * s1 : w.off[2] + j * s2;
			if (src->type == EV_F32)
				ev_f(&out[0])[k] = ev_f(src)[at];
			else
				ev_i(&out[0])[k] = ev_i(src)[at];
		}
	return 0;
}

EV_KERNEL(oi__k_cast)
{
	EV_UNARY(x);
	int64_t to = oi__ev_attr_i(node, "to", 0);
	bool tofloat = to == OI_DTYPE_FLOAT || to == OI_DTYPE_DOUBLE || to == OI_DTYPE_FLOAT16 ||
	               to == OI_DTYPE_BFLOAT16;
	bool toint = to == OI_DTYPE_INT64 || to == OI_DTYPE_INT32 || to == OI_DTYPE_INT8 ||
	             to == OI_DTYPE_UINT8 || to == OI_DTYPE_INT16 || to == OI_DTYPE_UINT16 ||
	             to == OI_DTYPE_UINT32 || to == OI_DTYPE_UINT64 || to == OI_DTYPE_BOOL;
	if (!tofloat && !toint)
		return oi__ev_fail(node, OI_EUNSUPPORTED, "cast to %s", oi_dtype_name((oi_dtype)to));
	int rc = oi__ev_alloc(&out[0], tofloat ? EV_F32 : EV_I64, x->nd, x->d);
	if (rc)
		return rc;
	for (int64_t i = 0; i < x->n; i++) {
		double v = elem(x, i);
		if (tofloat) {
			/* a float16 or bfloat16 value is what the narrow type holds */
			if (to == OI_DTYPE_FLOAT16)
				v = oi__f16_to_f64(oi__f64_to_f16(v));
			else if (to == OI_DTYPE_BFLOAT16)
				v = oi__bf16_to_f64(oi__f64_to_bf16(v));
			ev_f(&out[0])[i] = (float)v;
		} else if (to == OI_DTYPE_BOOL) {
			ev_i(&out[0])[i] = v != 0.0;
		} else if (x->type == EV_I64) {
			ev_i(&out[0])[i] = ev_i(x)[i];
		} else {
			ev_i(&out[0])[i] = isfinite(v) && fabs(v) < 9.2e18 ? (int64_t)v : 0;
		}
	}
	return 0;
}

EV_KERNEL(oi__k_not)
{
	EV_UNARY(x);
	int rc = oi__ev_alloc(&out[0], EV_I64, x->nd, x->d);
	for (int64_t i = 0; !rc && i < x->n; i++)
		ev_i(&out[0])[i] = elem(x, i) == 0.0;
	return rc;
}
