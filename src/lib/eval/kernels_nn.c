/* The layers (Conv, ConvTranspose, Gemm, MatMul: OpenBLAS sgemm), pooling,
 * the norms and softmax. */
#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"

/* ---- spatial geometry --------------------------------------------------- */

/* Up to 3 spatial dims, padded in front with 1s so that loops are 3-deep. */
typedef struct geom {
	int k;                 /* spatial dims */
	int64_t in[3], ker[3], out[3], str[3], dil[3], pb[3], pe[3];
} geom;

static int64_t prod3(const int64_t *v) { return v[0] * v[1] * v[2]; }

/* The attributes of a Conv/pool: strides, dilations, pads, auto_pad; the
 * kernel's dims in ker; in from the input. ceil: pools' ceil_mode. */
static int geometry(const ev_node *node, const ev_tensor *x, const int64_t *kshape, int k,
                    bool ceil_mode, bool transpose, geom *g)
{
	if (k < 1 || k > 3 || x->nd != k + 2)
		return oi__ev_fail(node, OI_EUNSUPPORTED, "%d spatial dims (input rank %d): 1 to 3 "
		                   "are supported", k, x->nd);
	int64_t v[6];
	int off = 3 - k;
	for (int j = 0; j < 3; j++) {
		g->in[j] = g->ker[j] = g->out[j] = g->str[j] = g->dil[j] = 1;
		g->pb[j] = g->pe[j] = 0;
	}
	g->k = k;
	for (int j = 0; j < k; j++) {
		g->in[off + j] = x->d[2 + j];
		g->ker[off + j] = kshape[j];
	}
	int n = oi__ev_attr_ints(node, "strides", v, 3);
	for (int j = 0; j < n && n == k; j++)
		g->str[off + j] = v[j];
	n = oi__ev_attr_ints(node, "dilations", v, 3);
	for (int j = 0; j < n && n == k; j++)
		g->dil[off + j] = v[j];
	n = oi__ev_attr_ints(node, "pads", v, 6);
	for (int j = 0; j < k && n == 2 * k; j++) {
		g->pb[off + j] = v[j];
		g->pe[off + j] = v[k + j];
	}
	const int64_t big = (int64_t)1 << 30; /* past that the arithmetic below could overflow */
	for (int j = 0; j < 3; j++)
		if (g->str[j] < 1 || g->dil[j] < 1 || g->ker[j] < 1 || g->pb[j] < 0 || g->pe[j] < 0 ||
		    g->str[j] > big || g->dil[j] > big || g->ker[j] > big || g->pb[j] > big ||
		    g->pe[j] > big)
			return oi__ev_fail(node, OI_EINVALID, "bad strides, dilations, pads or kernel");
	const Onnx__AttributeProto *ap = oi__ev_attr(node, "auto_pad");
	char pad[16] = "NOTSET";
	if (ap && ap->has_s && ap->s.len < sizeof pad) {
		memcpy(pad, ap->s.data, ap->s.len);
		pad[ap->s.len] = 0;
	}
	bool same = !strcmp(pad, "SAME_UPPER") || !strcmp(pad, "SAME_LOWER");
	if (!same && strcmp(pad, "NOTSET") && strcmp(pad, "VALID") && pad[0])
		return oi__ev_fail(node, OI_EINVALID, "auto_pad '%s'", pad);
	for (int j = 0; j < 3; j++) {
		int64_t eff = (g->ker[j] - 1) * g->dil[j] + 1;
		if (transpose)
			continue; /* ConvTranspose works its own out */
		if (same) {
			g->out[j] = (g->in[j] + g->str[j] - 1) / g->str[j];
			int64_t total = (g->out[j] - 1) * g->str[j] + eff - g->in[j];
			if (total < 0)
				total = 0;
			g->pb[j] = !strcmp(pad, "SAME_UPPER") ? total / 2 : total - total / 2;
			g->pe[j] = total - g->pb[j];
		} else {
			if (!strcmp(pad, "VALID"))
				g->pb[j] = g->pe[j] = 0;
			int64_t span = g->in[j] + g->pb[j] + g->pe[j] - eff;
			if (span < 0)
				return oi__ev_fail(node, OI_EINVALID, "the kernel is larger than the padded "
				                   "input");
			g->out[j] = (ceil_mode ? (span + g->str[j] - 1) / g->str[j] : span / g->str[j]) + 1;
			/* the last window must start inside the input or its front padding */
			if (ceil_mode && (g->out[j] - 1) * g->str[j] >= g->in[j] + g->pb[j])
				g->out[j]--;
		}
	}
	return 0;
}

static int out_dims(const geom *g, int64_t n, int64_t c, int64_t *d)
{
	d[0] = n;
	d[1] = c;
	for (int j = 0; j < g->k; j++)
		d[2 + j] = g->out[3 - g->k + j];
	return g->k + 2;
}

static bool blas_ok(int64_t a, int64_t b, int64_t c)
{
	return a <= INT_MAX && b <= INT_MAX && c <= INT_MAX;
}

/* Row-major sgemm that also takes empty matrices, which OpenBLAS would
 * report on stderr as invalid leading dimensions. */
static void sgemm(enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int m, int n, int k,
                  float alpha, const float *a, int lda, const float *b, int ldb, float beta,
                  float *c, int ldc)
{
	if (m <= 0 || n <= 0)
		return;
	if (k <= 0) {
		for (int i = 0; i < m; i++)
			for (int j = 0; j < n; j++)
				c[(size_t)i * (size_t)ldc + (size_t)j] =
					beta == 0.0f ? 0.0f : beta * c[(size_t)i * (size_t)ldc + (size_t)j];
		return;
	}
	cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* ---- Conv --------------------------------------------------------------- */

/* Output positions o (0..out) whose input i = o*str + off lies in [0, in):
 * [*lo, *hi). */
static void valid_range(int64_t off, int64_t str, int64_t in, int64_t out, int64_t *lo,
                        int64_t *hi)
{
	int64_t a = off >= 0 ? 0 : (-off + str - 1) / str;
	int64_t b = in - off <= 0 ? 0 : (in - off + str - 1) / str;
	*lo = a < out ? a : out;
	*hi = b < out ? b : out;
	if (*hi < *lo)
		*hi = *lo;
}

/* Columns of samples n0..n0+nb, channels c0..c0+cg: row (c, k0, k1, k2),
 * column n·P + output position. Each output row is split into its padded
 * ends (zeros) and its inside (a copy, strided or not). */
static void im2col(const float *x, const geom *g, int64_t C, int64_t c0, int64_t cg, int64_t n0,
                   int64_t nb, float *col)
{
	int64_t P = prod3(g->out), IN = prod3(g->in), cols = nb * P;
	for (int64_t c = 0; c < cg; c++)
		for (int64_t k0 = 0; k0 < g->ker[0]; k0++)
			for (int64_t k1 = 0; k1 < g->ker[1]; k1++)
				for (int64_t k2 = 0; k2 < g->ker[2]; k2++) {
					int64_t row = ((c * g->ker[0] + k0) * g->ker[1] + k1) * g->ker[2] + k2;
					int64_t off2 = k2 * g->dil[2] - g->pb[2], lo, hi;
					valid_range(off2, g->str[2], g->in[2], g->out[2], &lo, &hi);
					float *dst = col + row * cols;
					for (int64_t n = 0; n < nb; n++) {
						const float *src = x + ((n0 + n) * C + c0 + c) * IN;
						float *o = dst + n * P;
						for (int64_t o0 = 0; o0 < g->out[0]; o0++) {
							int64_t i0 = o0 * g->str[0] - g->pb[0] + k0 * g->dil[0];
							for (int64_t o1 = 0; o1 < g->out[1]; o1++) {
								int64_t i1 = o1 * g->str[1] - g->pb[1] + k1 * g->dil[1];
								float *orow = o + (o0 * g->out[1] + o1) * g->out[2];
								if (i0 < 0 || i0 >= g->in[0] || i1 < 0 || i1 >= g->in[1]) {
									memset(orow, 0, (size_t)g->out[2] * sizeof *orow);
									continue;
								}
								const float *srow = src + (i0 * g->in[1] + i1) * g->in[2] + off2;
								for (int64_t o2 = 0; o2 < lo; o2++)
									orow[o2] = 0.0f;
								if (g->str[2] == 1)
									memcpy(orow + lo, srow + lo, (size_t)(hi - lo) * sizeof *orow);
								else
									for (int64_t o2 = lo; o2 < hi; o2++)
										orow[o2] = srow[o2 * g->str[2]];
								for (int64_t o2 = hi; o2 < g->out[2]; o2++)
									orow[o2] = 0.0f;
							}
						}
					}
				}
}

/* A Conv split by samples among the pass's threads: each takes a range,
 * with its own columns, and OpenBLAS runs on one thread under each. A
 * sample's values depend on the chunk it is computed in only through
 * sgemm's blocking, so a given thread count gives the same values. */
typedef struct conv_job {
	const geom *g;
	const float *x, *w, *b;
	float *o;
	int64_t C, M, group, cg, mg, rows, P, nb;
	bool pointwise;
} conv_job;

typedef struct conv_part {
	const conv_job *j;
	int64_t lo, hi;       /* samples */
	int rc;
} conv_part;

static void *conv_range(void *arg)
{
	conv_part *part = arg;
	const conv_job *j = part->j;
	int64_t rows = j->rows, P = j->P, mg = j->mg, nb = j->nb;
	float *col = malloc((size_t)(rows * nb * P + (nb > 1 ? mg * nb * P : 0) + 1) * sizeof *col);
	if (!col) {
		part->rc = OI_ENOMEM;
		return NULL;
	}
	float *y = col + rows * nb * P;
	for (int64_t n0 = part->lo; n0 < part->hi; n0 += nb) {
		int64_t cnt = part->hi - n0 < nb ? part->hi - n0 : nb;
		for (int64_t gi = 0; gi < j->group; gi++) {
			const float *wg = j->w + gi * mg * rows;
			if (cnt == 1) {
				/* one sample: straight into the output (a 1x1 conv reads X itself) */
				const float *src = j->x + (n0 * j->C + gi * j->cg) * P;
				if (!j->pointwise) {
					im2col(j->x, j->g, j->C, gi * j->cg, j->cg, n0, 1, col);
					src = col;
				}
				float *dst = j->o + (n0 * j->M + gi * mg) * P;
				sgemm(CblasNoTrans, CblasNoTrans, (int)mg, (int)P, (int)rows, 1.0f, wg, (int)rows,
				      src, (int)P, 0.0f, dst, (int)P);
				for (int64_t m = 0; j->b && m < mg; m++) {
					float bias = j->b[gi * mg + m];
					for (int64_t p = 0; p < P; p++)
						dst[m * P + p] += bias;
				}
				continue;
			}
			im2col(j->x, j->g, j->C, gi * j->cg, j->cg, n0, cnt, col);
			sgemm(CblasNoTrans, CblasNoTrans, (int)mg, (int)(cnt * P), (int)rows, 1.0f, wg,
			      (int)rows, col, (int)(cnt * P), 0.0f, y, (int)(cnt * P));
			for (int64_t n = 0; n < cnt; n++)
				for (int64_t m = 0; m < mg; m++) {
					float *dst = j->o + ((n0 + n) * j->M + gi * mg + m) * P;
					const float *src = y + m * cnt * P + n * P;
					float bias = j->b ? j->b[gi * mg + m] : 0.0f;
					for (int64_t p = 0; p < P; p++)
						dst[p] = src[p] + bias;
				}
		}
	}
	free(col);
	return NULL;
}

static int conv_parallel(ev_ctx *c, const conv_job *j, int64_t N)
{
	enum { MAX_PARTS = 64 };
	conv_part parts[MAX_PARTS];
	pthread_t tid[MAX_PARTS];
	bool started[MAX_PARTS] = { false };
	int64_t k = c->threads < MAX_PARTS ? (int64_t)c->threads : MAX_PARTS;
	if (k > N)
		k = N;
	if (k < 1)
		k = 1;
	for (int64_t i = 0; i < k; i++)
		parts[i] = (conv_part){ j, N * i / k, N * (i + 1) / k, 0 };
	for (int64_t i = 1; i < k; i++)
		started[i] = pthread_create(&tid[i], NULL, conv_range, &parts[i]) == 0;
	conv_range(&parts[0]);
	int rc = parts[0].rc;
	for (int64_t i = 1; i < k; i++) {
		if (started[i])
			pthread_join(tid[i], NULL);
		else
			conv_range(&parts[i]); /* no thread to be had: here */
		if (!rc)
			rc = parts[i].rc;
	}
	return rc ? oi__fail(rc, "out of memory for a convolution's columns") : 0;
}

EV_KERNEL(oi__k_conv)
{
	(void)nout;
	const ev_tensor *x = in[0], *w = nin > 1 ? in[1] : NULL, *b = nin > 2 ? in[2] : NULL;
	if (!x || !w || x->type != EV_F32 || w->type != EV_F32)
		return oi__ev_fail(node, OI_EUNSUPPORTED, "needs float X and W");
	int k = x->nd - 2;
	int64_t group = oi__ev_attr_i(node, "group", 1);
	int64_t N = x->d[0], C = x->d[1], M = w->d[0];
	if (w->nd != x->nd || group < 1 || C % group || M % group || w->d[1] * group != C)
		return oi__ev_fail(node, OI_EINVALID, "X has %lld channels, W is %lld x %lld x ..., "
		                   "group %lld", (long long)C, (long long)M, (long long)w->d[1],
		                   (long long)group);
	geom g;
	int rc = geometry(node, x, w->d + 2, k, false, false, &g);
	if (rc)
		return rc;
	if (b && (b->type != EV_F32 || b->n != M))
		return oi__ev_fail(node, OI_EINVALID, "B has %lld values for %lld outputs",
		                   (long long)b->n, (long long)M);
	int64_t d[5];
	rc = oi__ev_alloc(&out[0], EV_F32, out_dims(&g, N, M, d), d);
	if (rc)
		return rc;
	conv_job job = { .g = &g, .x = ev_f(x), .w = ev_f(w), .b = b ? ev_f(b) : NULL,
	                 .o = ev_f(&out[0]), .C = C, .M = M, .group = group };
	job.cg = C / group;
	job.mg = M / group;
	job.rows = job.cg * prod3(g.ker);
	job.P = prod3(g.out);
	/* samples per im2col: columns of about 2^18 floats, which stay in cache */
	int64_t rp = job.rows * job.P;
	job.nb = rp > 0 ? ((int64_t)1 << 18) / rp : N;
	job.nb = job.nb < 1 ? 1 : job.nb > N ? N : job.nb;
	if (!blas_ok(job.mg, job.nb * job.P, job.rows))
		return oi__ev_fail(node, OI_EUNSUPPORTED, "too large for sgemm");
	job.pointwise = prod3(g.ker) == 1 && g.str[0] == 1 && g.str[1] == 1 && g.str[2] == 1 &&
	                !g.pb[0] && !g.pb[1] && !g.pb[2] && !g.pe[0] && !g.pe[1] && !g.pe[2];
	return conv_parallel(c, &job, N);
}

/* ---- ConvTranspose ------------------------------------------------------ */

EV_KERNEL(oi__k_conv_transpose)
{
	(void)nout;
	const ev_tensor *x = in[0], *w = nin > 1 ? in[1] : NULL, *b = nin > 2 ? in[2] : NULL;
	if (!x || !w || x->type != EV_F32 || w->type != EV_F32)
		return oi__ev_fail(node, OI_EUNSUPPORTED, "needs float X and W");
	int k = x->nd - 2;
	int64_t group = oi__ev_attr_i(node, "group", 1);
	int64_t N = x->d[0], C = x->d[1];
	if (w->nd != x->nd || group < 1 || w->d[0] != C || C % group)
		return oi__ev_fail(node, OI_EINVALID, "X has %lld channels, W's first dim is %lld",
		                   (long long)C, (long long)w->d[0]);
	int64_t mg = w->d[1], M = mg * group, cg = C / group;
	geom g;
	int rc = geometry(node, x, w->d + 2, k, false, true, &g);
	if (rc)
		return rc;
	int64_t op[3] = { 0, 0, 0 }, os[3], v[3];
	int off = 3 - k, n = oi__ev_attr_ints(node, "output_padding", v, 3);
	for (int j = 0; j < k && n == k; j++)
		op[off + j] = v[j];
	for (int j = 0; j < 3; j++)
		if (op[j] < 0 || op[j] > ((int64_t)1 << 30) || g.in[j] > ((int64_t)1 << 30))
			return oi__ev_fail(node, OI_EINVALID, "bad output_padding");
	int n_os = oi__ev_attr_ints(node, "output_shape", v, 3);
	if (n_os > k)
		n_os = -1;
	for (int j = 0; j < n_os; j++)
		if (v[j] < 1 || v[j] > ((int64_t)1 << 30))
			return oi__ev_fail(node, OI_EINVALID, "bad output_shape");
	const Onnx__AttributeProto *ap = oi__ev_attr(node, "auto_pad");
	bool upper = ap && ap->has_s && ap->s.len == 10 && !memcmp(ap->s.data, "SAME_UPPER", 10);
	bool same = upper || (ap && ap->has_s && ap->s.len == 10 &&
	                      !memcmp(ap->s.data, "SAME_LOWER", 10));
	bool valid = ap && ap->has_s && ap->s.len == 5 && !memcmp(ap->s.data, "VALID", 5);
	for (int j = 0; j < 3; j++) {
		int64_t eff = (g.ker[j] - 1) * g.dil[j] + 1, full = g.str[j] * (g.in[j] - 1) + op[j] + eff;
		os[j] = -1;
		if (j >= off && n_os == k)
			os[j] = v[j - off];
		else if (j >= off && same)
			os[j] = g.in[j] * g.str[j];
		if (valid)
			g.pb[j] = g.pe[j] = 0;
		if (os[j] >= 0) {
			int64_t total = full - os[j];
			if (total < 0)
				total = 0;
			g.pb[j] = upper ? total / 2 : total - total / 2;
			g.pe[j] = total - g.pb[j];
			g.out[j] = os[j];
		} else {
			g.out[j] = full - g.pb[j] - g.pe[j];
		}
		if (g.out[j] < 1)
			return oi__ev_fail(node, OI_EINVALID, "output dim %lld", (long long)g.out[j]);
	}
	if (b && (b->type != EV_F32 || b->n != M))
		return oi__ev_fail(node, OI_EINVALID, "B has %lld values for %lld outputs",
		                   (long long)b->n, (long long)M);
	int64_t d[5];
	rc = oi__ev_alloc(&out[0], EV_F32, out_dims(&g, N, M, d), d);
	if (rc)
		return rc;
	int64_t K = prod3(g.ker), PI = prod3(g.in), PO = prod3(g.out), rows = mg * K;
	if (!blas_ok(rows, PI, cg))
		return oi__ev_fail(node, OI_EUNSUPPORTED, "too large for sgemm");
	float *col = oi__ev_scratch(c, (size_t)(rows * PI));
	if (!col)
		return OI_ENOMEM;
	float *o = ev_f(&out[0]);
	const float *xf = ev_f(x), *wf = ev_f(w);
	for (int64_t s = 0; s < N; s++)
		for (int64_t gi = 0; gi < group; gi++) {
			sgemm(CblasTrans, CblasNoTrans, (int)rows, (int)PI, (int)cg, 1.0f,
			            wf + gi * cg * rows, (int)rows, xf + (s * C + gi * cg) * PI, (int)PI, 0.0f,
			            col, (int)PI);
			for (int64_t m = 0; m < mg; m++) {
				float *dst = o + (s * M + gi * mg + m) * PO;
				float bias = b ? ev_f(b)[gi * mg + m] : 0.0f;
				for (int64_t p = 0; p < PO; p++)
					dst[p] = bias;
				for (int64_t k0 = 0; k0 < g.ker[0]; k0++)
					for (int64_t k1 = 0; k1 < g.ker[1]; k1++)
						for (int64_t k2 = 0; k2 < g.ker[2]; k2++) {
							const float *src =
								col + (m * K + (k0 * g.ker[1] + k1) * g.ker[2] + k2) * PI;
							for (int64_t i0 = 0; i0 < g.in[0]; i0++) {
								int64_t o0 = i0 * g.str[0] - g.pb[0] + k0 * g.dil[0];
								if (o0 < 0 || o0 >= g.out[0])
									continue;
								for (int64_t i1 = 0; i1 < g.in[1]; i1++) {
									int64_t o1 = i1 * g.str[1] - g.pb[1] + k1 * g.dil[1];
									if (o1 < 0 || o1 >= g.out[1])
										continue;
									const float *srow = src + (i0 * g.in[1] + i1) * g.in[2];
									float *drow = dst + (o0 * g.out[1] + o1) * g.out[2];
									int64_t o2 = -g.pb[2] + k2 * g.dil[2];
									for (int64_t i2 = 0; i2 < g.in[2]; i2++, o2 += g.str[2])
										if (o2 >= 0 && o2 < g.out[2])
											drow[o2] += srow[i2];
								}
							}
						}
			}
		}
	return 0;
}

/* ---- Gemm, MatMul ------------------------------------------------------- */

EV_KERNEL(oi__k_gemm)
{
	(void)c;
	(void)nout;
	const ev_tensor *a = in[0], *b = nin > 1 ? in[1] : NULL, *cc = nin > 2 ? in[2] : NULL;
	if (!a || !b || a->type != EV_F32 || b->type != EV_F32 || a->nd != 2 || b->nd != 2)
		return oi__ev_fail(node, OI_EINVALID, "needs 2-D float A and B");
	bool ta = oi__ev_attr_i(node, "transA", 0), tb = oi__ev_attr_i(node, "transB", 0);
	float alpha = oi__ev_attr_f(node, "alpha", 1.0f), beta = oi__ev_attr_f(node, "beta", 1.0f);
	int64_t M = ta ? a->d[1] : a->d[0], K = ta ? a->d[0] : a->d[1];
	int64_t K2 = tb ? b->d[1] : b->d[0], N = tb ? b->d[0] : b->d[1];
	if (K != K2)
		return oi__ev_fail(node, OI_EINVALID, "A is %lld x %lld, B %lld x %lld",
		                   (long long)a->d[0], (long long)a->d[1], (long long)b->d[0],
		                   (long long)b->d[1]);
	if (!blas_ok(M, N, K))
		return oi__ev_fail(node, OI_EUNSUPPORTED, "too large for sgemm");
	int64_t d[2] = { M, N };
	int rc = oi__ev_alloc(&out[0], EV_F32, 2, d);
	if (rc)
		return rc;
	float *y = ev_f(&out[0]);
	float bet = 0.0f;
	if (cc && cc->n) {
		if (cc->type != EV_F32 || cc->nd > 2)
			return oi__ev_fail(node, OI_EINVALID, "C must be float, rank 2 at most");
		int64_t cr = cc->nd == 2 ? cc->d[0] : 1, ccol = cc->nd >= 1 ? cc->d[cc->nd - 1] : 1;
		if ((cr != 1 && cr != M) || (ccol != 1 && ccol != N))
			return oi__ev_fail(node, OI_EINVALID, "C does not broadcast to %lld x %lld",
			                   (long long)M, (long long)N);
		for (int64_t i = 0; i < M; i++)
			for (int64_t j = 0; j < N; j++)
				y[i * N + j] = beta * ev_f(cc)[(cr == 1 ? 0 : i) * ccol + (ccol == 1 ? 0 : j)];
		bet = 1.0f;
	}
	sgemm(ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
	            (int)M, (int)N, (int)K, alpha, ev_f(a), (int)a->d[1], ev_f(b), (int)b->d[1], bet, y,
	            (int)N);
	return 0;
}

EV_KERNEL(oi__k_matmul)
{
	(void)c;
	(void)nout;
	(void)nin;
	const ev_tensor *a = in[0], *b = in[1];
	if (!a || !b || a->type != EV_F32 || b->type != EV_F32 || a->nd < 1 || b->nd < 1)
		return oi__ev_fail(node, OI_EUNSUPPORTED, "needs float operands of rank 1 or more");
	/* numpy: a 1-D a is a row, a 1-D b a column, dropped from the result */
	int64_t M = a->nd == 1 ? 1 : a->d[a->nd - 2], K = a->d[a->nd - 1];
	int64_t K2 = b->nd == 1 ? b->d[0] : b->d[b->nd - 2], N = b->nd == 1 ? 1 : b->d[b->nd - 1];
	if (K != K2)
		return oi__ev_fail(node, OI_EINVALID, "inner dims %lld and %lld differ", (long long)K,
		                   (long long)K2);
	ev_tensor ab = { .nd = a->nd > 2 ? a->nd - 2 : 0 }, bb = { .nd = b->nd > 2 ? b->nd - 2 : 0 };
	memcpy(ab.d, a->d, sizeof(int64_t) * (size_t)ab.nd);
	memcpy(bb.d, b->d, sizeof(int64_t) * (size_t)bb.nd);
	int bnd;
	int64_t bd[EV_MAX_RANK + 2], d[EV_MAX_RANK + 2];
	if (!oi__ev_broadcast(&ab, &bb, &bnd, bd))
		return oi__ev_fail(node, OI_EINVALID, "batch dims do not broadcast");
	int nd = 0;
	for (int j = 0; j < bnd; j++)
		d[nd++] = bd[j];
	if (a->nd > 1)
		d[nd++] = M;
	if (b->nd > 1)
		d[nd++] = N;
	if (nd > EV_MAX_RANK || !blas_ok(M, N, K))
		return oi__ev_fail(node, OI_EUNSUPPORTED, "too large");
	int rc = oi__ev_alloc(&out[0], EV_F32, nd, d);
	if (rc)
		return rc;
	int64_t batches = 1;
	for (int j = 0; j < bnd; j++)
		batches *= bd[j];
	float *y = ev_f(&out[0]);
	const float *af = ev_f(a), *bf = ev_f(b);
	if (b->nd <= 2 && batches * M <= INT_MAX) {
		/* one product: a's batches are rows */
		sgemm(CblasNoTrans, CblasNoTrans, (int)(batches * M), (int)N, (int)K,
		            1.0f, af, (int)K, bf, (int)N, 0.0f, y, (int)N);
		return 0;
	}
	/* each batch: the offsets of a and b in their own (broadcast) batch dims */
	int64_t sa[EV_MAX_RANK], sb[EV_MAX_RANK], s = M * K, t = K * N;
	for (int j = bnd - 1; j >= 0; j--) {
		int ja = j - (bnd - ab.nd), jb = j - (bnd - bb.nd);
		sa[j] = ja >= 0 && ab.d[ja] != 1 ? s : 0;
		sb[j] = jb >= 0 && bb.d[jb] != 1 ? t : 0;
		if (ja >= 0)
			s *= ab.d[ja];
		if (jb >= 0)
			t *= bb.d[jb];
	}
	for (int64_t i = 0; i < batches; i++) {
		int64_t rem = i, oa = 0, ob = 0;
		for (int j = bnd - 1; j >= 0; j--) {
			int64_t idx = rem % bd[j];
			rem /= bd[j];
			oa += idx * sa[j];
			ob += idx * sb[j];
		}
		sgemm(CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0f,
		            af + oa, (int)K, bf + ob, (int)N, 0.0f, y + i * M * N, (int)N);
	}
	return 0;
}

/* ---- pooling ------------------------------------------------------------ */

static int pool(ev_ctx *c, const ev_node *node, ev_tensor *const *in, ev_tensor *out, bool max)
{
	(void)c;
	const ev_tensor *x = in[0];
	if (!x || x->type != EV_F32 || x->nd < 3)
		return oi__ev_fail(node, OI_EUNSUPPORTED, "needs a float input of rank 3 or more");
	int64_t ks[3];
	int k = oi__ev_attr_ints(node, "kernel_shape", ks, 3);
	if (k != x->nd - 2)
		return oi__ev_fail(node, OI_EINVALID, "kernel_shape does not fit the input");
	geom g;
	int rc = geometry(node, x, ks, k, oi__ev_attr_i(node, "ceil_mode", 0) != 0, false, &g);
	if (rc)
		return rc;
	if (!max && (g.dil[0] != 1 || g.dil[1] != 1 || g.dil[2] != 1))
		return oi__ev_fail(node, OI_EUNSUPPORTED, "dilated average pooling");
	bool incl = oi__ev_attr_i(node, "count_include_pad", 0) != 0;
	int64_t d[5], NC = x->d[0] * x->d[1];
	rc = oi__ev_alloc(&out[0], EV_F32, out_dims(&g, x->d[0], x->d[1], d), d);
	if (rc)
		return rc;
	int64_t IN = prod3(g.in), P = prod3(g.out);
	float *o = ev_f(&out[0]);
	for (int64_t nc = 0; nc < NC; nc++) {
		const float *src = ev_f(x) + nc * IN;
		for (int64_t o0 = 0; o0 < g.out[0]; o0++)
			for (int64_t o1 = 0; o1 < g.out[1]; o1++)
				for (int64_t o2 = 0; o2 < g.out[2]; o2++) {
					int64_t s[3] = { o0 * g.str[0] - g.pb[0], o1 * g.str[1] - g.pb[1],
					                 o2 * g.str[2] - g.pb[2] };
					float best = -INFINITY, sum = 0.0f;
					int64_t cnt = 0, span = 1;
					for (int j = 0; j < 3; j++) {
						int64_t e = s[j] + g.ker[j];
						int64_t lim = g.in[j] + g.pe[j];
						span *= (e < lim ? e : lim) - s[j];
					}
					for (int64_t k0 = 0; k0 < g.ker[0]; k0++) {
						int64_t i0 = s[0] + k0 * g.dil[0];
						if (i0 < 0 || i0 >= g.in[0])
							continue;
						for (int64_t k1 = 0; k1 < g.ker[1]; k1++) {
							int64_t i1 = s[1] + k1 * g.dil[1];
							if (i1 < 0 || i1 >= g.in[1])
								continue;
							for (int64_t k2 = 0; k2 < g.ker[2]; k2++) {
								int64_t i2 = s[2] + k2 * g.dil[2];
								if (i2 < 0 || i2 >= g.in[2])
									continue;
								float v = src[(i0 * g.in[1] + i1) * g.in[2] + i2];
								best = v > best ? v : best;
								sum += v;
								cnt++;
							}
						}
					}
					float r = max ? best : sum / (float)(incl ? span : cnt > 0 ? cnt : 1);
					o[nc * P + (o0 * g.out[1] + o1) * g.out[2] + o2] = r;
				}
	}
	return 0;
}

EV_KERNEL(oi__k_maxpool)
{
	(void)nin;
	if (nout > 1 && node->out[1] >= 0)
		return oi__ev_fail(node, OI_EUNSUPPORTED, "the Indices output");
	return pool(c, node, in, out, true);
}

EV_KERNEL(oi__k_avgpool)
{
	(void)nin;
	(void)nout;
	return pool(c, node, in, out, false);
}

static int global_pool(const ev_node *node, ev_tensor *const *in, ev_tensor *out, bool max)
{
	const ev_tensor *x = in[0];
	if (!x || x->type != EV_F32 || x->nd < 2)
		return oi__ev_fail(node, OI_EUNSUPPORTED, "needs a float input of rank 2 or more");
	int64_t d[EV_MAX_RANK], inner = 1;
	for (int j = 0; j < x->nd; j++) {
		d[j] = j < 2 ? x->d[j] : 1;
		if (j >= 2)
			inner *= x->d[j];
	}
	int rc = oi__ev_alloc(&out[0], EV_F32, x->nd, d);
	if (rc)
		return rc;
	for (int64_t i = 0; i < x->d[0] * x->d[1]; i++) {
		const float *s = ev_f(x) + i * inner;
		float acc = max ? -INFINITY : 0.0f;
		for (int64_t j = 0; j < inner; j++)
			acc = max ? (s[j] > acc ? s[j] : acc) : acc + s[j];
		ev_f(&out[0])[i] = max ? acc : acc / (float)inner;
	}
	return 0;
}

EV_KERNEL(oi__k_global_avgpool)
{
	(void)c;
	(void)nin;
	(void)nout;
	return global_pool(node, in, out, false);
}

EV_KERNEL(oi__k_global_maxpool)
{
	(void)c;
	(void)nin;
	(void)nout;
	return global_pool(node, in, out, true);
}

/* ---- norms -------------------------------------------------------------- */

/* The elements of one channel of x (N, C, ...). */
static int64_t spatial(const ev_tensor *x)
{
	int64_t inner = 1;
	for (int j = 2; j < x->nd; j++)
		inner *= x->d[j];
	return inner;
}

/* The first of the per-channel inputs in[1..n) that is not C floats; 0 if none. */
static int bad_channel_input(ev_tensor *const *in, int n, int64_t C)
{
	for (int k = 1; k < n; k++)
		if (!in[k] || in[k]->type != EV_F32 || in[k]->n != C)
			return k;
	return 0;
}

EV_KERNEL(oi__k_batchnorm)
{
	(void)c;
	(void)nout;
	const ev_tensor *x = in[0];
	if (nin < 5 || !x || x->type != EV_F32 || x->nd < 2)
		return oi__ev_fail(node, OI_EUNSUPPORTED, "needs X, scale, B, mean and var");
	int64_t C = x->d[1], inner = spatial(x);
	int k = bad_channel_input(in, 5, C);
	if (k)
		return oi__ev_fail(node, OI_EINVALID, "input %d has not %lld values", k, (long long)C);
	if (oi__ev_attr_i(node, "training_mode", 0))
		return oi__ev_fail(node, OI_EUNSUPPORTED, "training_mode");
	float eps = oi__ev_attr_f(node, "epsilon", 1e-5f);
	int rc = oi__ev_alloc(&out[0], EV_F32, x->nd, x->d);
	if (rc)
		return rc;
	for (int64_t n = 0; n < x->d[0]; n++)
		for (int64_t ch = 0; ch < C; ch++) {
			float sc = ev_f(in[1])[ch] / sqrtf(ev_f(in[4])[ch] + eps);
			float sh = ev_f(in[2])[ch] - ev_f(in[3])[ch] * sc;
			const float *s = ev_f(x) + (n * C + ch) * inner;
			float *o = ev_f(&out[0]) + (n * C + ch) * inner;
			for (int64_t i = 0; i < inner; i++)
				o[i] = s[i] * sc + sh;
		}
	return 0;
}

/* Normalize rows of `inner` elements; scale/bias indexed per element of the
 * row (per_elem) or per row % channels. */
static void normalize(const float *x, float *y, int64_t rows, int64_t inner, float eps,
                      const float *scale, const float *bias, int64_t channels, bool per_elem,
                      float *mean_out, float *inv_out)
{
	for (int64_t r = 0; r < rows; r++) {
		const float *s = x + r * inner;
		double sum = 0, ss = 0;
		for (int64_t i = 0; i < inner; i++)
			sum += s[i];
		double mean = sum / (double)inner;
		for (int64_t i = 0; i < inner; i++)
			ss += (s[i] - mean) * (s[i] - mean);
		double inv = 1.0 / sqrt(ss / (double)inner + eps);
		if (mean_out)
			mean_out[r] = (float)mean;
		if (inv_out)
			inv_out[r] = (float)inv;
		for (int64_t i = 0; i < inner; i++) {
			int64_t ci = per_elem ? i : r % channels;
			float v = (float)((s[i] - mean) * inv);
			y[r * inner + i] = v * (scale ? scale[ci] : 1.0f) + (bias ? bias[ci] : 0.0f);
		}
	}
}

EV_KERNEL(oi__k_layernorm)
{
	(void)c;
	const ev_tensor *x = in[0], *sc = nin > 1 ? in[1] : NULL, *b = nin > 2 ? in[2] : NULL;
	if (!x || x->type != EV_F32 || x->nd < 1)
		return oi__ev_fail(node, OI_EUNSUPPORTED, "needs a float input");
	int64_t axis = oi__ev_attr_i(node, "axis", -1);
	if (axis < 0)
		axis += x->nd;
	if (axis < 0 || axis >= x->nd)
		return oi__ev_fail(node, OI_EINVALID, "axis out of range");
	int64_t inner = 1, rows = 1;
	for (int j = 0; j < x->nd; j++)
		*(j < axis ? &rows : &inner) *= x->d[j];
	if ((sc && (sc->type != EV_F32 || sc->n != inner)) || (b && (b->type != EV_F32 || b->n != inner)))
		return oi__ev_fail(node, OI_EUNSUPPORTED, "Scale and B must have the normalized shape");
	int rc = oi__ev_alloc(&out[0], EV_F32, x->nd, x->d);
	int64_t sd[EV_MAX_RANK];
	for (int j = 0; j < x->nd; j++)
		sd[j] = j < axis ? x->d[j] : 1;
	for (size_t k = 1; k < nout && k < 3 && !rc; k++)
		if (node->out[k] >= 0)
			rc = oi__ev_alloc(&out[k], EV_F32, x->nd, sd);
	if (rc)
		return rc;
	normalize(ev_f(x), ev_f(&out[0]), rows, inner, oi__ev_attr_f(node, "epsilon", 1e-5f),
	          sc ? ev_f(sc) : NULL, b ? ev_f(b) : NULL, 1, true,
	          nout > 1 && out[1].data ? ev_f(&out[1]) : NULL,
	          nout > 2 && out[2].data ? ev_f(&out[2]) : NULL);
	return 0;
}

EV_KERNEL(oi__k_instancenorm)
{
	(void)c;
	(void)nout;
	const ev_tensor *x = in[0];
	if (nin < 3 || !x || x->type != EV_F32 || x->nd < 3)
		return oi__ev_fail(node, OI_EUNSUPPORTED, "needs X (rank 3 or more), scale and B");
	int64_t C = x->d[1], inner = spatial(x);
	if (bad_channel_input(in, 3, C))
		return oi__ev_fail(node, OI_EINVALID, "scale and B need %lld values", (long long)C);
	int rc = oi__ev_alloc(&out[0], EV_F32, x->nd, x->d);
	if (rc)
		return rc;
	normalize(ev_f(x), ev_f(&out[0]), x->d[0] * C, inner, oi__ev_attr_f(node, "epsilon", 1e-5f),
	          ev_f(in[1]), ev_f(in[2]), C, false, NULL, NULL);
	return 0;
}

/* ---- softmax ------------------------------------------------------------ */

static int softmax(ev_ctx *c, const ev_node *node, ev_tensor *const *in, ev_tensor *out,
                   bool log_)
{
	const ev_tensor *x = in[0];
	if (!x || x->type != EV_F32 || x->nd < 1)
		return oi__ev_fail(node, OI_EUNSUPPORTED, "needs a float input");
	int64_t axis = oi__ev_attr_i(node, "axis", c->opset >= 13 ? -1 : 1);
	if (axis < 0)
		axis += x->nd;
	if (axis < 0 || axis >= x->nd)
		return oi__ev_fail(node, OI_EINVALID, "axis out of range");
	/* before opset 13 the input is a 2-D matrix at axis: rows of all the rest */
	int64_t outer = 1, len = 1, inner = 1;
	for (int j = 0; j < x->nd; j++) {
		if (j < axis)
			outer *= x->d[j];
		else if (j == axis || c->opset < 13)
			len *= x->d[j];
		else
			inner *= x->d[j];
	}
	int rc = oi__ev_alloc(&out[0], EV_F32, x->nd, x->d);
	if (rc)
		return rc;
	for (int64_t o = 0; o < outer; o++)
		for (int64_t i = 0; i < inner; i++) {
			const float *s = ev_f(x) + o * len * inner + i;
			float *y = ev_f(&out[0]) + o * len * inner + i;
			float mx = -INFINITY;
			for (int64_t k = 0; k < len; k++)
				mx = s[k * inner] > mx ? s[k * inner] : mx;
			double sum = 0;
			for (int64_t k = 0; k < len; k++)
				sum += exp((double)s[k * inner] - mx);
			for (int64_t k = 0; k < len; k++)
				y[k * inner] = log_ ? (float)((double)s[k * inner] - mx - log(sum))
				                    : (float)(exp((double)s[k * inner] - mx) / sum);
		}
	return 0;
}

EV_KERNEL(oi__k_softmax)
{
	(void)nin;
	(void)nout;
	return softmax(c, node, in, out, false);
}

EV_KERNEL(oi__k_logsoftmax)
{
	(void)nin;
	(void)nout;
	return softmax(c, node, in, out, true);
}

/* ---- LSTM, GRU ---------------------------------------------------------- */

static inline float sigm(float x) { return (float)(1.0 / (1.0 + exp(-(double)x))); }

typedef struct rnn_args {
	const ev_tensor *x, *w, *r, *b, *h0, *c0, *p;
	int64_t seq, batch, in, hid, dirs;
	float clip;                 /* 0: none */
	bool lbr;                   /* GRU linear_before_reset */
	bool reverse;               /* direction "reverse": its one direction runs backwards */
} rnn_args;

/* The attributes and inputs LSTM and GRU share; gates per direction. */
static int rnn_setup(const ev_node *node, ev_tensor *const *in, size_t nin, int gates,
                     rnn_args *a)
{
	memset(a, 0, sizeof *a);
	a->x = in[0];
	a->w = nin > 1 ? in[1] : NULL;
	a->r = nin > 2 ? in[2] : NULL;
	a->b = nin > 3 ? in[3] : NULL;
	a->h0 = nin > 5 ? in[5] : NULL;
	if (!a->x || !a->w || !a->r || a->x->type != EV_F32 || a->w->type != EV_F32 ||
	    a->r->type != EV_F32 || a->x->nd != 3 || a->w->nd != 3 || a->r->nd != 3)
		return oi__ev_fail(node, OI_EUNSUPPORTED, "needs float X, W, R of rank 3");
	if (oi__ev_attr(node, "activations") || oi__ev_attr_i(node, "layout", 0) ||
	    oi__ev_attr_i(node, "input_forget", 0))
		return oi__ev_fail(node, OI_EUNSUPPORTED, "activations, layout or input_forget other "
		                   "than the defaults");
	if (nin > 4 && in[4]) {
		for (int64_t i = 0; i < in[4]->n; i++)
			if ((in[4]->type == EV_I64 ? ev_i(in[4])[i] : (int64_t)ev_f(in[4])[i]) !=
			    a->x->d[0])
				return oi__ev_fail(node, OI_EUNSUPPORTED, "sequence_lens shorter than the "
				                   "sequence");
	}
	const Onnx__AttributeProto *dir = oi__ev_attr(node, "direction");
	bool bi = dir && dir->has_s && dir->s.len == 13 && !memcmp(dir->s.data, "bidirectional", 13);
	a->dirs = bi ? 2 : 1;
	a->reverse = dir && dir->has_s && dir->s.len == 7 && !memcmp(dir->s.data, "reverse", 7);
	a->seq = a->x->d[0];
	a->batch = a->x->d[1];
	a->in = a->x->d[2];
	a->hid = a->r->d[2];
	a->clip = oi__ev_attr_f(node, "clip", 0.0f);
	a->lbr = oi__ev_attr_i(node, "linear_before_reset", 0) != 0;
	int64_t gh = gates * a->hid;
	if (a->w->d[0] != a->dirs || a->w->d[1] != gh || a->w->d[2] != a->in ||
	    a->r->d[0] != a->dirs || a->r->d[1] != gh || (a->b && a->b->n != a->dirs * 2 * gh) ||
	    (a->h0 && a->h0->n != a->dirs * a->batch * a->hid))
		return oi__ev_fail(node, OI_EINVALID, "W, R, B or initial_h do not fit X and the "
		                   "hidden size");
	if (!blas_ok(a->seq * a->batch, gh, a->in > a->hid ? a->in : a->hid))
		return oi__ev_fail(node, OI_EUNSUPPORTED, "too large for sgemm");
	return 0;
}

static float clip_to(float v, float c)
{
	return c > 0 ? (v < -c ? -c : v > c ? c : v) : v;
}

/* One direction d of an LSTM (gates = 4: i, o, f, c) or GRU (3: z, r, h):
 * Y[t, d], and H (and C) left at the last step. */
static int rnn_dir(ev_ctx *c, const rnn_args *a, int gates, int64_t d, float *y, float *h,
                   float *cell, const float *c0)
{
	int64_t H = a->hid, B = a->batch, G = gates * H, T = a->seq;
	float *xw = oi__ev_scratch(c, (size_t)(T * B * G + B * G + 2 * B * H));
	if (!xw)
		return OI_ENOMEM;
	float *hr = xw + T * B * G, *gru_tmp = hr + B * G;
	const float *W = ev_f(a->w) + d * G * a->in, *R = ev_f(a->r) + d * G * H;
	const float *wb = a->b ? ev_f(a->b) + d * 2 * G : NULL, *rb = wb ? wb + G : NULL;
	/* X·Wᵀ for every step at once */
	sgemm(CblasNoTrans, CblasTrans, (int)(T * B), (int)G, (int)a->in, 1.0f, ev_f(a->x),
	      (int)a->in, W, (int)a->in, 0.0f, xw, (int)G);
	if (a->h0)
		memcpy(h, ev_f(a->h0) + d * B * H, (size_t)(B * H) * sizeof *h);
	else
		memset(h, 0, (size_t)(B * H) * sizeof *h);
	if (cell) {
		if (c0)
			memcpy(cell, c0 + d * B * H, (size_t)(B * H) * sizeof *cell);
		else
			memset(cell, 0, (size_t)(B * H) * sizeof *cell);
	}
	const float *P = a->p ? ev_f(a->p) + d * 3 * H : NULL;
	for (int64_t s = 0; s < T; s++) {
		int64_t t = d == 1 || a->reverse ? T - 1 - s : s;
		sgemm(CblasNoTrans, CblasTrans, (int)B, (int)G, (int)H, 1.0f, h, (int)H, R, (int)H, 0.0f,
		      hr, (int)G);
		for (int64_t b = 0; b < B; b++) {
			const float *xg = xw + (t * B + b) * G;
			float *hg = hr + b * G, *hb = h + b * H;
			for (int64_t j = 0; j < H; j++) {
				if (gates == 4) {
					float *cb = cell + b * H;
					float gi = xg[j] + hg[j], go = xg[H + j] + hg[H + j];
					float gf = xg[2 * H + j] + hg[2 * H + j], gc = xg[3 * H + j] + hg[3 * H + j];
					if (wb) {
						gi += wb[j] + rb[j];
						go += wb[H + j] + rb[H + j];
						gf += wb[2 * H + j] + rb[2 * H + j];
						gc += wb[3 * H + j] + rb[3 * H + j];
					}
					if (P) {
						gi += P[j] * cb[j];
						gf += P[2 * H + j] * cb[j];
					}
					float it = sigm(clip_to(gi, a->clip)), ft = sigm(clip_to(gf, a->clip));
					float ct = tanhf(clip_to(gc, a->clip));
					cb[j] = ft * cb[j] + it * ct;
					if (P)
						go += P[H + j] * cb[j];
					float ot = sigm(clip_to(go, a->clip));
					hb[j] = ot * tanhf(cb[j]);
				} else {
					float gz = xg[j] + hg[j] + (wb ? wb[j] + rb[j] : 0.0f);
					float gr = xg[H + j] + hg[H + j] + (wb ? wb[H + j] + rb[H + j] : 0.0f);
					/* z and r kept in hr's first blocks: the hidden gate needs all of r */
					hg[j] = sigm(clip_to(gz, a->clip));
					hg[H + j] = sigm(clip_to(gr, a->clip));
				}
			}
		}
		if (gates == 3) {
			/* h~ = tanh(X·Whᵀ + (r ⊙ H)·Rhᵀ + Rbh + Wbh), or with linear_before_reset
			 * tanh(X·Whᵀ + r ⊙ (H·Rhᵀ + Rbh) + Wbh), whose H·Rhᵀ is hr's third block */
			float *rin = gru_tmp, *prod = gru_tmp + B * H;
			if (!a->lbr) {
				for (int64_t b = 0; b < B; b++)
					for (int64_t j = 0; j < H; j++)
						rin[b * H + j] = hr[b * G + H + j] * h[b * H + j];
				sgemm(CblasNoTrans, CblasTrans, (int)B, (int)H, (int)H, 1.0f, rin, (int)H,
				      R + 2 * H * H, (int)H, 0.0f, prod, (int)H);
			}
			for (int64_t b = 0; b < B; b++) {
				float *hb = h + b * H, *hg = hr + b * G;
				const float *xg = xw + (t * B + b) * G;
				for (int64_t j = 0; j < H; j++) {
					float rbh = rb ? rb[2 * H + j] : 0.0f, wbh = wb ? wb[2 * H + j] : 0.0f;
					float g = a->lbr ? xg[2 * H + j] + hg[H + j] * (hg[2 * H + j] + rbh) + wbh
					                 : xg[2 * H + j] + prod[b * H + j] + rbh + wbh;
					float ht = tanhf(clip_to(g, a->clip)), zt = hg[j];
					hb[j] = (1.0f - zt) * ht + zt * hb[j];
				}
			}
		}
		if (y)
			for (int64_t b = 0; b < B; b++)
				memcpy(y + ((t * a->dirs + d) * B + b) * H, h + b * H, (size_t)H * sizeof *y);
	}
	return 0;
}

static int rnn(ev_ctx *c, const ev_node *node, ev_tensor *const *in, size_t nin, ev_tensor *out,
               size_t nout, int gates)
{
	rnn_args a;
	int rc = rnn_setup(node, in, nin, gates, &a);
	if (rc)
		return rc;
	const ev_tensor *c0 = gates == 4 && nin > 6 ? in[6] : NULL;
	a.p = gates == 4 && nin > 7 ? in[7] : NULL;
	if ((c0 && c0->n != a.dirs * a.batch * a.hid) || (a.p && a.p->n != a.dirs * 3 * a.hid))
		return oi__ev_fail(node, OI_EINVALID, "initial_c or P do not fit");
	int64_t yd[4] = { a.seq, a.dirs, a.batch, a.hid }, hd[3] = { a.dirs, a.batch, a.hid };
	rc = oi__ev_alloc(&out[0], EV_F32, 4, yd);
	if (!rc && nout > 1)
		rc = oi__ev_alloc(&out[1], EV_F32, 3, hd);
	if (!rc && nout > 2 && gates == 4)
		rc = oi__ev_alloc(&out[2], EV_F32, 3, hd);
	float *h = rc ? NULL : malloc((size_t)(a.batch * a.hid * 2) * sizeof *h);
	if (!rc && !h)
		rc = oi__fail(OI_ENOMEM, "out of memory");
	for (int64_t d = 0; d < a.dirs && !rc; d++) {
		float *cell = gates == 4 ? h + a.batch * a.hid : NULL;
		rc = rnn_dir(c, &a, gates, d, ev_f(&out[0]), h, cell, c0 ? ev_f(c0) : NULL);
		if (!rc && nout > 1)
			memcpy(ev_f(&out[1]) + d * a.batch * a.hid, h, (size_t)(a.batch * a.hid) * sizeof *h);
		if (!rc && nout > 2 && gates == 4)
			memcpy(ev_f(&out[2]) + d * a.batch * a.hid, cell,
			       (size_t)(a.batch * a.hid) * sizeof *h);
	}
	free(h);
	return rc;
}

EV_KERNEL(oi__k_lstm)
{
	return rnn(c, node, in, nin, out, nout, 4);
}

EV_KERNEL(oi__k_gru)
{
	return rnn(c, node, in, nin, out, nout, 3);
}
