/* The evaluator's kernels against naive loops (Conv, ConvTranspose, MatMul
 * broadcasting, elementwise broadcasting, pooling), and the data readers
 * (.npy headers, dtypes, Fortran order, byte order, NaN, .npz stored and
 * deflated), with no python. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "data.h"
#include "eval/eval.h"

/* ---- nodes with attributes ---------------------------------------------- */

typedef struct tnode {
	Onnx__NodeProto n;
	Onnx__AttributeProto a[8];
	Onnx__AttributeProto *ap[8];
	int64_t ints[8][8];
	ev_node en;
	int32_t in[4], out[4];
} tnode;

static void tn_init(tnode *t, const char *op, size_t nin, size_t nout)
{
	memset(t, 0, sizeof *t);
	onnx__node_proto__init(&t->n);
	t->n.op_type = (char *)op;
	t->n.attribute = t->ap;
	t->en.n = &t->n;
	t->en.label = (char *)"test";
	t->en.in = t->in;
	t->en.out = t->out;
	t->en.nin = nin;
	t->en.nout = nout;
	for (int i = 0; i < 4; i++)
		t->in[i] = t->out[i] = i;
}

static Onnx__AttributeProto *tn_attr(tnode *t, const char *name)
{
	size_t k = t->n.n_attribute++;
	onnx__attribute_proto__init(&t->a[k]);
	t->a[k].name = (char *)name;
	t->ap[k] = &t->a[k];
	return &t->a[k];
}

static void tn_ints(tnode *t, const char *name, int n, const int64_t *v)
{
	size_t k = t->n.n_attribute;
	Onnx__AttributeProto *a = tn_attr(t, name);
	memcpy(t->ints[k], v, sizeof(int64_t) * (size_t)n);
	a->ints = t->ints[k];
	a->n_ints = (size_t)n;
}

static void tn_int(tnode *t, const char *name, int64_t v)
{
	Onnx__AttributeProto *a = tn_attr(t, name);
	a->i = v;
	a->has_i = 1;
}

static void tn_str(tnode *t, const char *name, const char *s)
{
	Onnx__AttributeProto *a = tn_attr(t, name);
	a->s.data = (uint8_t *)s;
	a->s.len = strlen(s);
	a->has_s = 1;
}

static ev_tensor rand_tensor(int nd, const int64_t *d, unsigned *seed)
{
	ev_tensor t;
	assert_int_equal(oi__ev_alloc(&t, EV_F32, nd, d), 0);
	for (int64_t i = 0; i < t.n; i++) {
		*seed = *seed * 1103515245u + 12345u;
		ev_f(&t)[i] = (float)((*seed >> 8) % 2001) / 1000.0f - 1.0f;
	}
	return t;
}

static void assert_close(const float *a, const double *b, int64_t n)
{
	double scale = 1e-6;
	for (int64_t i = 0; i < n; i++)
		scale = fabs(b[i]) > scale ? fabs(b[i]) : scale;
	for (int64_t i = 0; i < n; i++)
		if (fabs(a[i] - b[i]) > 1e-5 * scale) {
			print_error("element %lld: %g, expected %g\n", (long long)i, a[i], b[i]);
			fail();
		}
}

/* ---- Conv --------------------------------------------------------------- */

typedef struct conv_case {
	int64_t n, c, h, w, m, kh, kw, group, sh, sw, dh, dw, pt, pl, pb, pr;
	const char *auto_pad;
} conv_case;

static void naive_conv(const conv_case *k, const ev_tensor *x, const ev_tensor *w,
                       const ev_tensor *b, int64_t oh, int64_t ow, int64_t pt, int64_t pl,
                       double *y)
{
	int64_t cg = k->c / k->group, mg = k->m / k->group;
	for (int64_t n = 0; n < k->n; n++)
		for (int64_t m = 0; m < k->m; m++)
			for (int64_t i = 0; i < oh; i++)
				for (int64_t j = 0; j < ow; j++) {
					double acc = b ? ev_f(b)[m] : 0.0;
					int64_t g = m / mg;
					for (int64_t c = 0; c < cg; c++)
						for (int64_t u = 0; u < k->kh; u++)
							for (int64_t v = 0; v < k->kw; v++) {
								int64_t r = i * k->sh - pt + u * k->dh, s = j * k->sw - pl + v * k->dw;
								if (r < 0 || r >= k->h || s < 0 || s >= k->w)
									continue;
								acc += (double)ev_f(x)[((n * k->c + g * cg + c) * k->h + r) * k->w + s] *
								       ev_f(w)[((m * cg + c) * k->kh + u) * k->kw + v];
							}
					y[((n * k->m + m) * oh + i) * ow + j] = acc;
				}
}

typedef int kernel_fn(struct ev_ctx *, const struct ev_node *, ev_tensor *const *, size_t,
                      ev_tensor *, size_t);

/* Runs a convolution kernel on X, W, B at opset 17; the output must be oh x ow. */
static ev_tensor run_conv(kernel_fn *kernel, tnode *t, ev_tensor *x, ev_tensor *w, ev_tensor *b,
                          int64_t oh, int64_t ow)
{
	ev_ctx c;
	memset(&c, 0, sizeof c);
	c.opset = 17;
	ev_tensor *in[3] = { x, w, b }, out[1];
	memset(out, 0, sizeof out);
	assert_int_equal(kernel(&c, &t->en, in, 3, out, 1), 0);
	free(c.scratch);
	assert_int_equal(out[0].d[2], oh);
	assert_int_equal(out[0].d[3], ow);
	return out[0];
}

/* The output against ref; then frees them and the inputs. */
static void check_conv(ev_tensor *out, double *ref, ev_tensor *x, ev_tensor *w, ev_tensor *b)
{
	assert_close(ev_f(out), ref, out->n);
	free(ref);
	oi__ev_tensor_free(out);
	oi__ev_tensor_free(x);
	oi__ev_tensor_free(w);
	oi__ev_tensor_free(b);
}

static void test_conv(void **state)
{
	(void)state;
	static const conv_case cases[] = {
		{ 2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, NULL },
		{ 1, 4, 9, 9, 6, 3, 2, 2, 2, 1, 1, 2, 0, 1, 2, 0, NULL },
		{ 3, 4, 8, 8, 4, 3, 3, 4, 1, 1, 1, 1, 1, 1, 1, 1, NULL },   /* depthwise */
		{ 2, 2, 10, 7, 3, 3, 3, 1, 2, 2, 2, 1, 0, 0, 0, 0, NULL },
		{ 1, 3, 7, 7, 2, 4, 4, 1, 2, 2, 1, 1, 0, 0, 0, 0, "SAME_UPPER" },
		{ 1, 3, 7, 7, 2, 4, 4, 1, 2, 2, 1, 1, 0, 0, 0, 0, "SAME_LOWER" },
		{ 2, 5, 6, 6, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, NULL },   /* 1x1 */
	};
	unsigned seed = 7;
	for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
		const conv_case *k = &cases[ci];
		int64_t xd[4] = { k->n, k->c, k->h, k->w }, wd[4] = { k->m, k->c / k->group, k->kh, k->kw };
		int64_t bd[1] = { k->m };
		ev_tensor x = rand_tensor(4, xd, &seed), w = rand_tensor(4, wd, &seed),
		          b = rand_tensor(1, bd, &seed);
		tnode t;
		tn_init(&t, "Conv", 3, 1);
		int64_t v[4] = { k->sh, k->sw };
		tn_ints(&t, "strides", 2, v);
		v[0] = k->dh;
		v[1] = k->dw;
		tn_ints(&t, "dilations", 2, v);
		tn_int(&t, "group", k->group);
		int64_t pt = k->pt, pl = k->pl, pb = k->pb, pr = k->pr, oh, ow;
		if (k->auto_pad) {
			tn_str(&t, "auto_pad", k->auto_pad);
			oh = (k->h + k->sh - 1) / k->sh;
			ow = (k->w + k->sw - 1) / k->sw;
			int64_t th = (oh - 1) * k->sh + (k->kh - 1) * k->dh + 1 - k->h;
			int64_t tw = (ow - 1) * k->sw + (k->kw - 1) * k->dw + 1 - k->w;
			bool up = !strcmp(k->auto_pad, "SAME_UPPER");
			pt = up ? th / 2 : th - th / 2;
			pl = up ? tw / 2 : tw - tw / 2;
		} else {
			int64_t p[4] = { pt, pl, pb, pr };
			tn_ints(&t, "pads", 4, p);
			oh = (k->h + pt + pb - (k->kh - 1) * k->dh - 1) / k->sh + 1;
			ow = (k->w + pl + pr - (k->kw - 1) * k->dw - 1) / k->sw + 1;
		}
		ev_tensor out = run_conv(oi__k_conv, &t, &x, &w, &b, oh, ow);
		double *ref = calloc((size_t)out.n, sizeof *ref);
		naive_conv(k, &x, &w, &b, oh, ow, pt, pl, ref);
		check_conv(&out, ref, &x, &w, &b);
	}
}

static void test_conv_transpose(void **state)
{
	(void)state;
	unsigned seed = 3;
	/* X (2, 4, 5, 4), W (4, 3, 3, 2), stride (2, 1), pads (1, 0, 0, 1), output_padding (1, 0) */
	int64_t xd[4] = { 2, 4, 5, 4 }, wd[4] = { 4, 3, 3, 2 }, bd[1] = { 3 };
	ev_tensor x = rand_tensor(4, xd, &seed), w = rand_tensor(4, wd, &seed),
	          b = rand_tensor(1, bd, &seed);
	tnode t;
	tn_init(&t, "ConvTranspose", 3, 1);
	int64_t s[2] = { 2, 1 }, p[4] = { 1, 0, 0, 1 }, op[2] = { 1, 0 };
	tn_ints(&t, "strides", 2, s);
	tn_ints(&t, "pads", 4, p);
	tn_ints(&t, "output_padding", 2, op);
	int64_t oh = 2 * (5 - 1) + 1 + 3 - 1 - 0, ow = 1 * (4 - 1) + 0 + 2 - 0 - 1;
	ev_tensor out = run_conv(oi__k_conv_transpose, &t, &x, &w, &b, oh, ow);
	double *ref = calloc((size_t)out.n, sizeof *ref);
	for (int64_t n = 0; n < 2; n++)
		for (int64_t m = 0; m < 3; m++)
			for (int64_t i = 0; i < oh * ow; i++)
				ref[(n * 3 + m) * oh * ow + i] = ev_f(&b)[m];
	for (int64_t n = 0; n < 2; n++)
		for (int64_t ch = 0; ch < 4; ch++)
			for (int64_t i = 0; i < 5; i++)
				for (int64_t j = 0; j < 4; j++)
					for (int64_t m = 0; m < 3; m++)
						for (int64_t u = 0; u < 3; u++)
							for (int64_t v = 0; v < 2; v++) {
								int64_t r = i * 2 - 1 + u, q = j - 0 + v;
								if (r < 0 || r >= oh || q < 0 || q >= ow)
									continue;
								ref[((n * 3 + m) * oh + r) * ow + q] +=
									(double)ev_f(&x)[((n * 4 + ch) * 5 + i) * 4 + j] *
									ev_f(&w)[((ch * 3 + m) * 3 + u) * 2 + v];
							}
	check_conv(&out, ref, &x, &w, &b);
}

/* ---- MatMul and elementwise broadcasting -------------------------------- */

static void test_matmul_broadcast(void **state)
{
	(void)state;
	unsigned seed = 11;
	int64_t ad[4] = { 2, 1, 3, 4 }, bd[3] = { 5, 4, 6 };
	ev_tensor a = rand_tensor(4, ad, &seed), b = rand_tensor(3, bd, &seed);
	tnode t;
	tn_init(&t, "MatMul", 2, 1);
	ev_ctx c;
	memset(&c, 0, sizeof c);
	ev_tensor *in[2] = { &a, &b }, out[1];
	memset(out, 0, sizeof out);
	assert_int_equal(oi__k_matmul(&c, &t.en, in, 2, out, 1), 0);
	assert_int_equal(out[0].nd, 4);
	int64_t want[4] = { 2, 5, 3, 6 };
	assert_memory_equal(out[0].d, want, sizeof want);
	double ref[2 * 5 * 3 * 6];
	for (int64_t i = 0; i < 2; i++)
		for (int64_t j = 0; j < 5; j++)
			for (int64_t r = 0; r < 3; r++)
				for (int64_t q = 0; q < 6; q++) {
					double acc = 0;
					for (int64_t k = 0; k < 4; k++)
						acc += (double)ev_f(&a)[(i * 3 + r) * 4 + k] * ev_f(&b)[(j * 4 + k) * 6 + q];
					ref[((i * 5 + j) * 3 + r) * 6 + q] = acc;
				}
	assert_close(ev_f(&out[0]), ref, out[0].n);
	oi__ev_tensor_free(&out[0]);
	oi__ev_tensor_free(&a);
	oi__ev_tensor_free(&b);
}

static void test_binary_broadcast(void **state)
{
	(void)state;
	unsigned seed = 5;
	int64_t ad[3] = { 2, 3, 4 }, bd[2] = { 3, 1 };
	ev_tensor a = rand_tensor(3, ad, &seed), b = rand_tensor(2, bd, &seed);
	const char *ops[] = { "Add", "Sub", "Mul", "Div" };
	for (size_t o = 0; o < 4; o++) {
		tnode t;
		tn_init(&t, ops[o], 2, 1);
		ev_ctx c;
		memset(&c, 0, sizeof c);
		ev_tensor *in[2] = { &b, &a }, out[1]; /* the small one first: both sides broadcast */
		memset(out, 0, sizeof out);
		assert_int_equal(oi__k_binary(&c, &t.en, in, 2, out, 1), 0);
		assert_int_equal(out[0].n, 24);
		double ref[24];
		for (int64_t i = 0; i < 2; i++)
			for (int64_t j = 0; j < 3; j++)
				for (int64_t k = 0; k < 4; k++) {
					float x = ev_f(&b)[j], y = ev_f(&a)[(i * 3 + j) * 4 + k];
					ref[(i * 3 + j) * 4 + k] = o == 0 ? x + y : o == 1 ? x - y : o == 2 ? x * y : x / y;
				}
		assert_close(ev_f(&out[0]), ref, 24);
		oi__ev_tensor_free(&out[0]);
	}
	/* shapes that do not broadcast */
	int64_t cd[1] = { 5 };
	ev_tensor cc = rand_tensor(1, cd, &seed);
	tnode t;
	tn_init(&t, "Add", 2, 1);
	ev_ctx c;
	memset(&c, 0, sizeof c);
	ev_tensor *in[2] = { &a, &cc }, out[1];
	memset(out, 0, sizeof out);
	assert_int_equal(oi__k_binary(&c, &t.en, in, 2, out, 1), OI_EINVALID);
	oi__ev_tensor_free(&cc);
	oi__ev_tensor_free(&a);
	oi__ev_tensor_free(&b);
}

/* ---- pooling ------------------------------------------------------------ */

static void test_pooling(void **state)
{
	(void)state;
	unsigned seed = 9;
	int64_t xd[4] = { 2, 3, 7, 8 };
	ev_tensor x = rand_tensor(4, xd, &seed);
	for (int avg = 0; avg < 2; avg++)
		for (int ceil_mode = 0; ceil_mode < 2; ceil_mode++)
			for (int incl = 0; incl < 2; incl++) {
				tnode t;
				tn_init(&t, avg ? "AveragePool" : "MaxPool", 1, 1);
				int64_t ks[2] = { 3, 3 }, st[2] = { 2, 2 }, p[4] = { 1, 0, 1, 1 };
				tn_ints(&t, "kernel_shape", 2, ks);
				tn_ints(&t, "strides", 2, st);
				tn_ints(&t, "pads", 4, p);
				tn_int(&t, "ceil_mode", ceil_mode);
				tn_int(&t, "count_include_pad", incl);
				ev_ctx c;
				memset(&c, 0, sizeof c);
				ev_tensor *in[1] = { &x }, out[1];
				memset(out, 0, sizeof out);
				int rc = avg ? oi__k_avgpool(&c, &t.en, in, 1, out, 1)
				             : oi__k_maxpool(&c, &t.en, in, 1, out, 1);
				assert_int_equal(rc, 0);
				/* H: 7 + 1 + 1 - 3 = 6 -> 6/2+1 = 4 (ceil 4); W: 8 + 0 + 1 - 3 = 6 -> 4 */
				int64_t oh = out[0].d[2], ow = out[0].d[3];
				assert_int_equal(oh, 4);
				assert_int_equal(ow, 4);
				double *ref = calloc((size_t)out[0].n, sizeof *ref);
				for (int64_t nc = 0; nc < 6; nc++)
					for (int64_t i = 0; i < oh; i++)
						for (int64_t j = 0; j < ow; j++) {
							double best = -INFINITY, sum = 0;
							int cnt = 0;
							int64_t r0 = i * 2 - 1, c0 = j * 2 - 0;
							for (int64_t r = r0; r < r0 + 3; r++)
								for (int64_t q = c0; q < c0 + 3; q++) {
									if (r < 0 || r >= 7 || q < 0 || q >= 8)
										continue;
									double v = ev_f(&x)[(nc * 7 + r) * 8 + q];
									best = v > best ? v : best;
									sum += v;
									cnt++;
								}
							int64_t rh = (r0 + 3 < 7 + 1 ? r0 + 3 : 7 + 1) - r0;
							int64_t rw = (c0 + 3 < 8 + 1 ? c0 + 3 : 8 + 1) - c0;
							ref[(nc * oh + i) * ow + j] = !avg ? best : sum / (incl ? rh * rw : cnt);
						}
				assert_close(ev_f(&out[0]), ref, out[0].n);
				free(ref);
				oi__ev_tensor_free(&out[0]);
			}
	oi__ev_tensor_free(&x);
}

/* ---- data readers ------------------------------------------------------- */

/* A .npy of header text h and n data bytes. */
static size_t make_npy(uint8_t *buf, const char *h, const void *data, size_t n, int major)
{
	size_t hl = strlen(h), off = major == 1 ? 10 : 12;
	memcpy(buf, "\x93NUMPY", 6);
	buf[6] = (uint8_t)major;
	buf[7] = 0;
	buf[8] = (uint8_t)hl;
	buf[9] = (uint8_t)(hl >> 8);
	if (major > 1)
		buf[10] = buf[11] = 0;
	memcpy(buf + off, h, hl);
	memcpy(buf + off + hl, data, n);
	return off + hl + n;
}

static int open_bytes(const uint8_t *b, size_t n, oi_data **d)
{
	return oi_data_open_memory(d, b, n, "t.npy", NULL);
}

static void test_npy(void **state)
{
	(void)state;
	uint8_t buf[1024];
	oi_data *d;
	float f[6] = { 1, 2, 3, 4, 5, 6 };
	size_t n = make_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", f,
	                    sizeof f, 1);
	assert_int_equal(open_bytes(buf, n, &d), 0);
	assert_int_equal(d->n_arrays, 1);
	assert_int_equal(d->arrays[0].ndim, 2);
	assert_int_equal(d->arrays[0].dims[1], 3);
	oi_data_free(d);
	/* version 2, keys in another order, a 1-tuple shape */
	n = make_npy(buf, "{'shape': (6,), 'fortran_order': False, 'descr': '<f4'}", f, sizeof f, 2);
	assert_int_equal(open_bytes(buf, n, &d), 0);
	oi_data_free(d);
	/* truncated data, extra bytes, bad magic, bad header, empty */
	n = make_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f, 20, 1);
	assert_int_equal(open_bytes(buf, n, &d), OI_EFORMAT);
	assert_non_null(strstr(oi_last_error(), "truncated"));
	n = make_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), }", f, 16, 1);
	assert_int_equal(open_bytes(buf, n, &d), OI_EFORMAT);
	buf[1] = 'X';
	assert_int_equal(open_bytes(buf, n, &d), OI_EFORMAT);
	n = make_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", f, 24, 1);
	assert_int_equal(open_bytes(buf, n, &d), OI_EFORMAT);
	n = make_npy(buf, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", f, 8, 1);
	assert_int_equal(open_bytes(buf, n, &d), OI_EUNSUPPORTED);
	assert_int_equal(open_bytes(buf, 0, &d), OI_EFORMAT);
	assert_non_null(strstr(oi_last_error(), "empty file"));
	/* a header length past the end */
	n = make_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f, 0, 1);
	buf[9] = 0x7f;
	assert_int_equal(open_bytes(buf, n, &d), OI_EFORMAT);
	/* NaN, with its index */
	f[4] = NAN;
	n = make_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f, sizeof f, 1);
	assert_int_equal(open_bytes(buf, n, &d), OI_EINVALID);
	assert_non_null(strstr(oi_last_error(), "NaN at index [1, 1]"));
	f[4] = 5;
}

static void test_npy_dtypes(void **state)
{
	(void)state;
	uint8_t buf[1024];
	oi_data *d;
	/* Fortran order (2, 3): memory holds columns; big-endian int16 */
	int16_t fo[6] = { 1, 4, 2, 5, 3, 6 };
	size_t n = make_npy(buf, "{'descr': '<i2', 'fortran_order': True, 'shape': (2, 3), }", fo,
	                    sizeof fo, 1);
	assert_int_equal(open_bytes(buf, n, &d), 0);
	const int16_t *c = (const int16_t *)d->arrays[0].bytes;
	for (int i = 0; i < 6; i++)
		assert_int_equal(c[i], i + 1);
	oi_data_free(d);
	uint8_t be[4] = { 0x01, 0x02, 0xff, 0xfe };
	n = make_npy(buf, "{'descr': '>i2', 'fortran_order': False, 'shape': (2,), }", be, 4, 1);
	assert_int_equal(open_bytes(buf, n, &d), 0);
	c = (const int16_t *)d->arrays[0].bytes;
	assert_int_equal(c[0], 0x0102);
	assert_int_equal(c[1], -2);
	oi_data_free(d);
	uint8_t u[8] = { 0, 128, 255 };
	n = make_npy(buf, "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", u, 3, 1);
	assert_int_equal(open_bytes(buf, n, &d), 0);
	oi_data_free(d);
	n = make_npy(buf, "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", u, 8, 1);
	assert_int_equal(open_bytes(buf, n, &d), OI_EUNSUPPORTED);
	/* a scalar has no samples */
	n = make_npy(buf, "{'descr': '|u1', 'fortran_order': False, 'shape': (), }", u, 1, 1);
	assert_int_equal(open_bytes(buf, n, &d), OI_EINVALID);
}

/* A zip of members (name, bytes), stored or deflated, as numpy writes it;
 * zip64: the directory's sizes and offsets in zip64 extra fields and the
 * zip64 end records, as for archives past 4 GiB. */
static size_t make_zip(uint8_t *out, const char *const *names, const uint8_t *const *data,
                       const size_t *lens, int n, bool deflated, bool zip64)
{
	size_t at = 0, offs[4], csz[4];
	uint32_t crcs[4];
	for (int i = 0; i < n; i++) {
		uint8_t comp[2048];
		uLongf cl = sizeof comp;
		const uint8_t *body = data[i];
		size_t bl = lens[i];
		if (deflated) {
			z_stream s;
			memset(&s, 0, sizeof s);
			deflateInit2(&s, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
			s.next_in = (Bytef *)(uintptr_t)data[i];
			s.avail_in = (uInt)lens[i];
			s.next_out = comp;
			s.avail_out = sizeof comp;
			deflate(&s, Z_FINISH);
			cl = s.total_out;
			deflateEnd(&s);
			body = comp;
			bl = cl;
		}
		crcs[i] = (uint32_t)crc32(0, data[i], (uInt)lens[i]);
		offs[i] = at;
		csz[i] = bl;
		uint8_t h[30] = { 0x50, 0x4b, 0x03, 0x04, 20, 0, 0, 0, deflated ? 8 : 0, 0 };
		memcpy(h + 14, &crcs[i], 4);
		uint32_t c32 = (uint32_t)bl, u32 = (uint32_t)lens[i];
		memcpy(h + 18, &c32, 4);
		memcpy(h + 22, &u32, 4);
		h[26] = (uint8_t)strlen(names[i]);
		memcpy(out + at, h, 30);
		memcpy(out + at + 30, names[i], strlen(names[i]));
		memcpy(out + at + 30 + strlen(names[i]), body, bl);
		at += 30 + strlen(names[i]) + bl;
	}
	size_t cd = at;
	for (int i = 0; i < n; i++) {
		uint8_t h[46] = { 0x50, 0x4b, 0x01, 0x02, 20, 0, 20, 0, 0, 0, deflated ? 8 : 0, 0 };
		memcpy(h + 16, &crcs[i], 4);
		uint32_t c32 = (uint32_t)csz[i], u32 = (uint32_t)lens[i], o32 = (uint32_t)offs[i];
		if (zip64)
			c32 = u32 = o32 = 0xFFFFFFFFu;
		memcpy(h + 20, &c32, 4);
		memcpy(h + 24, &u32, 4);
		h[28] = (uint8_t)strlen(names[i]);
		h[30] = zip64 ? 28 : 0; /* the extra field: id 1, 24 bytes */
		memcpy(h + 42, &o32, 4);
		memcpy(out + at, h, 46);
		memcpy(out + at + 46, names[i], strlen(names[i]));
		at += 46 + strlen(names[i]);
		if (zip64) {
			uint8_t x[28] = { 1, 0, 24, 0 };
			uint64_t v[3] = { lens[i], csz[i], offs[i] }; /* usize, csize, offset */
			memcpy(x + 4, v, 24);
			memcpy(out + at, x, 28);
			at += 28;
		}
	}
	uint64_t cds = at - cd, cdo = cd, cnt = (uint64_t)n;
	if (zip64) {
		uint8_t r[56] = { 0x50, 0x4b, 0x06, 0x06, 44, 0, 0, 0, 0, 0, 0, 0, 45, 0, 45, 0 };
		memcpy(r + 24, &cnt, 8);
		memcpy(r + 32, &cnt, 8);
		memcpy(r + 40, &cds, 8);
		memcpy(r + 48, &cdo, 8);
		uint8_t l[20] = { 0x50, 0x4b, 0x06, 0x07 };
		uint64_t ro = at;
		memcpy(l + 8, &ro, 8);
		l[16] = 1;
		memcpy(out + at, r, 56);
		memcpy(out + at + 56, l, 20);
		at += 76;
	}
	uint8_t e[22] = { 0x50, 0x4b, 0x05, 0x06 };
	e[8] = e[10] = (uint8_t)n;
	uint32_t cds32 = (uint32_t)cds, cdo32 = (uint32_t)cdo;
	if (zip64) {
		e[8] = e[9] = e[10] = e[11] = 0xFF;
		cds32 = cdo32 = 0xFFFFFFFFu;
	}
	memcpy(e + 12, &cds32, 4);
	memcpy(e + 16, &cdo32, 4);
	memcpy(out + at, e, 22);
	return at + 22;
}

static void test_npz(void **state)
{
	(void)state;
	uint8_t a[256], b[256], zip[4096];
	float f[4] = { 1, 2, 3, 4 };
	size_t la = make_npy(a, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", f,
	                     sizeof f, 1);
	size_t lb = make_npy(b, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", f,
	                     sizeof f, 1);
	const char *names[2] = { "x.npy", "y.npy" };
	const uint8_t *data[2] = { a, b };
	size_t lens[2] = { la, lb };
	for (int k = 0; k < 4; k++) {
		int deflate = k & 1, zip64 = k >> 1;
		size_t n = make_zip(zip, names, data, lens, 2, deflate, zip64);
		oi_data *d;
		assert_int_equal(oi_data_open_memory(&d, zip, n, "t.npz", NULL), 0);
		assert_int_equal(oi_data_array_count(d), 2);
		const char *name;
		size_t nd;
		const int64_t *dims;
		assert_int_equal(oi_data_array(d, 1, &name, &nd, &dims), 0);
		assert_string_equal(name, "y");
		assert_int_equal(nd, 1);
		assert_int_equal(dims[0], 4);
		oi_data_free(d);
		/* a flipped byte in a member: the CRC (stored) or the inflate (deflated) says so */
		zip[40] ^= 0x55;
		assert_int_equal(oi_data_open_memory(&d, zip, n, "t.npz", NULL), OI_EFORMAT);
		/* cut short: no directory */
		assert_int_equal(oi_data_open_memory(&d, zip, n - 30, "t.npz", NULL), OI_EFORMAT);
	}
}

static void test_options(void **state)
{
	(void)state;
	oi_data *d;
	oi_data_options o = OI_DATA_OPTIONS_INIT;
	const char *shapes[1] = { "x=2,,3" };
	o.input_shapes = shapes;
	o.n_input_shapes = 1;
	assert_int_equal(oi_data_open(&d, "normal", &o), OI_EARG);
	shapes[0] = "x=2,3";
	assert_int_equal(oi_data_open(&d, "uniform", &o), 0);
	assert_string_equal(oi_data_name(d), "uniform");
	assert_null(oi_data_sha256(d));
	oi_data_free(d);
	o.scale = NAN;
	assert_int_equal(oi_data_open(&d, "normal", &o), OI_EARG);
}

/* the bisection needs the table sorted, and every row found by its name */
static void test_kernel_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < oi__ev_kernel_count(); i++) {
		const ev_kernel *k = oi__ev_kernel_at(i);
		if (i)
			assert_true(strcmp(oi__ev_kernel_at(i - 1)->op, k->op) < 0);
		assert_ptr_equal(oi__ev_kernel_find(k->op), k);
	}
	assert_null(oi__ev_kernel_find("Hardmax"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kernel_table),
		cmocka_unit_test(test_conv),
		cmocka_unit_test(test_conv_transpose),
		cmocka_unit_test(test_matmul_broadcast),
		cmocka_unit_test(test_binary_broadcast),
		cmocka_unit_test(test_pooling),
		cmocka_unit_test(test_npy),
		cmocka_unit_test(test_npy_dtypes),
		cmocka_unit_test(test_npz),
		cmocka_unit_test(test_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
