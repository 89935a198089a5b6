/* Greedy layer-wise denoising autoencoders (Bengio et al. 2007, "Greedy
 * layer-wise training of deep networks"; Vincent et al. 2008, "Extracting
 * and composing robust features with denoising autoencoders").
 *
 * In graph order, each dense or conv layer is trained, alone, to rebuild its
 * clean input from a masked copy: encoder = the layer and its activation as
 * the graph has them, decoder = the same weight transposed (a ConvTranspose
 * for a conv) plus a bias of its own, which is dropped afterwards. The
 * layer's input is the evaluator's value, computed once per layer (over
 * every sample, through the layers trained before it) and kept while the
 * layer trains: the layers below do not change meanwhile, so recomputing it
 * each epoch would give the same numbers.
 *
 * The gradients are written out by hand (dense_step, conv_step) over
 * OpenBLAS sgemm, a minibatch at a time; tests/autoencoder checks them
 * against finite differences, and the optimizer against its formulas. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../rng.h"
#include "../simd.h"
#include "autoencoder.h"
#include "pretrain.h"

extern void openblas_set_num_threads(int n);

typedef struct ae_params {
	ae_opts o;
	size_t samples;        /* 0: all */
	char desc[200];
} ae_params;

/* ---- parameters --------------------------------------------------------- */

static int parse_size(const char *k, const char *v, size_t lo, size_t hi, size_t *out)
{
	char *end;
	long long n = strtoll(v, &end, 10);
	if (*end || !*v || n < (long long)lo || (unsigned long long)n > hi)
		return oi__fail(OI_EARG, "autoencoder: %s must be an integer from %zu to %zu, not '%s'",
		                k, lo, hi, v);
	*out = (size_t)n;
	return 0;
}

static int parse(const oi_spec *s, ae_params *p)
{
	*p = (ae_params){ .o = { .epochs = 5, .lr = 0.001, .noise = 0.2, .batch = 64, .adam = true } };
	static const char *const keys[] = { "epochs", "lr", "batch", "noise", "optimizer",
	                                    "samples" };
	for (size_t i = 0; i < s->n; i++) {
		const char *k = s->key[i], *v = s->val[i];
		if (k[0] == '#' && k[1] >= '0' && k[1] <= '5' && !k[2])
			k = keys[k[1] - '0'];
		char *end;
		int rc = 0;
		if (!strcmp(k, "epochs")) {
			size_t e = 0;
			rc = parse_size(k, v, 1, 100000, &e);
			p->o.epochs = (unsigned)e;
		} else if (!strcmp(k, "lr")) {
			p->o.lr = strtod(v, &end);
			if (*end || !*v || !(p->o.lr > 0) || !isfinite(p->o.lr))
				rc = oi__fail(OI_EARG, "autoencoder: lr must be a number > 0, not '%s'", v);
		} else if (!strcmp(k, "batch")) {
			rc = parse_size(k, v, 1, (size_t)1 << 20, &p->o.batch);
		} else if (!strcmp(k, "noise")) {
			p->o.noise = strtod(v, &end);
			if (*end || !*v || !(p->o.noise >= 0 && p->o.noise < 1))
				rc = oi__fail(OI_EARG, "autoencoder: noise must be a number in [0, 1), not '%s'",
				              v);
		} else if (!strcmp(k, "optimizer")) {
			p->o.adam = !strcmp(v, "adam");
			if (!p->o.adam && strcmp(v, "sgd"))
				rc = oi__fail(OI_EARG, "autoencoder: optimizer must be adam or sgd, not '%s'",
				              s->val[i]);
		} else if (!strcmp(k, "samples")) {
			if (!strcmp(v, "all"))
				p->samples = 0;
			else
				rc = parse_size(k, v, 1, (size_t)1 << 40, &p->samples);
		} else {
			rc = oi__fail(OI_EARG, "autoencoder: unknown parameter '%s' (its parameters: epochs, "
			              "lr, batch, noise, optimizer, samples)", s->key[i]);
		}
		if (rc)
			return rc;
	}
	char samples[32] = "all";
	if (p->samples)
		snprintf(samples, sizeof samples, "%zu", p->samples);
	snprintf(p->desc, sizeof p->desc,
	         "autoencoder(epochs=%u,lr=%.10g,batch=%zu,noise=%.10g,optimizer=%s,samples=%s)",
	         p->o.epochs, p->o.lr, p->o.batch, p->o.noise, p->o.adam ? "adam" : "sgd", samples);
	return 0;
}

int oi__autoencoder_check(const oi_spec *spec)
{
	ae_params p;
	return parse(spec, &p);
}

/* ---- the autoencoder of one layer ---------------------------------------- */

static void act_forward(ae_layer *a, const float *z, float *h, size_t n)
{
	float al = a->alpha;
	switch (a->act) {
	case AE_SIGMOID:
		for (size_t i = 0; i < n; i++)
			h[i] = 1.0f / (1.0f + expf(-z[i]));
		break;
	case AE_TANH:
		for (size_t i = 0; i < n; i++)
			h[i] = tanhf(z[i]);
		break;
	case AE_RELU:
		for (size_t i = 0; i < n; i++)
			h[i] = z[i] > 0 ? z[i] : 0.0f;
		break;
	case AE_LEAKY:
		for (size_t i = 0; i < n; i++)
			h[i] = z[i] > 0 ? z[i] : al * z[i];
		break;
	case AE_ELU:
		for (size_t i = 0; i < n; i++)
			h[i] = z[i] > 0 ? z[i] : al * expm1f(z[i]);
		break;
	default:
		memcpy(h, z, n * sizeof *h);
	}
}

/* dz = dh · f'(z), from z and h = f(z) */
static void act_backward(const ae_layer *a, const float *z, const float *h, const float *dh,
                         float *dz, size_t n)
{
	float al = a->alpha;
	for (size_t i = 0; i < n; i++) {
		float d;
		switch (a->act) {
		case AE_SIGMOID: d = h[i] * (1.0f - h[i]); break;
		case AE_TANH: d = 1.0f - h[i] * h[i]; break;
		case AE_RELU: d = z[i] > 0 ? 1.0f : 0.0f; break;
		case AE_LEAKY: d = z[i] > 0 ? 1.0f : al; break;
		case AE_ELU: d = z[i] > 0 ? 1.0f : h[i] + al; break;
		default: d = 1.0f;
		}
		dz[i] = dh[i] * d;
	}
}

static float *grow(float **buf, size_t *cap, size_t n)
{
	if (n > *cap) {
		float *b = realloc(*buf, n * sizeof *b);
		if (!b)
			return NULL;
		*buf = b;
		*cap = n;
	}
	return *buf;
}

typedef struct ae_scratch {
	float *h, *r, *dh, *col;
	size_t ch, cr, cdh, ccol;
} ae_scratch;

static void scratch_free(ae_layer *a)
{
	ae_scratch *s = a->scratch;
	if (!s)
		return;
	free(s->h);
	free(s->r);
	free(s->dh);
	free(s->col);
	free(s);
	a->scratch = NULL;
}

static ae_scratch *scratch(ae_layer *a)
{
	if (!a->scratch)
		a->scratch = calloc(1, sizeof(ae_scratch));
	return a->scratch;
}

/* z[i·n + j] += b[j] over rows */
static void add_rows(float *z, const float *b, size_t rows, size_t n)
{
	for (size_t i = 0; i < rows; i++)
		for (size_t j = 0; j < n; j++)
			z[i * n + j] += b[j];
}

/* g[j] = Σ_i d[i·n + j] */
static void sum_rows(float *g, const float *d, size_t rows, size_t n)
{
	memset(g, 0, n * sizeof *g);
	for (size_t i = 0; i < rows; i++)
		for (size_t j = 0; j < n; j++)
			g[j] += d[i * n + j];
}

/* One row's error e = r + c - x: r becomes k·e, returns Σ e² (four sums, so
 * that the additions do not wait on each other). */
static double residual(float *r, const float *x, const float *c, size_t n, float k)
{
	double l0 = 0, l1 = 0, l2 = 0, l3 = 0;
	size_t j = 0;
	for (; j + 4 <= n; j += 4) {
		float e0 = r[j] + c[j] - x[j], e1 = r[j + 1] + c[j + 1] - x[j + 1];
		float e2 = r[j + 2] + c[j + 2] - x[j + 2], e3 = r[j + 3] + c[j + 3] - x[j + 3];
		l0 += (double)e0 * e0;
		l1 += (double)e1 * e1;
		l2 += (double)e2 * e2;
		l3 += (double)e3 * e3;
		r[j] = k * e0;
		r[j + 1] = k * e1;
		r[j + 2] = k * e2;
		r[j + 3] = k * e3;
	}
	for (; j < n; j++) {
		float e = r[j] + c[j] - x[j];
		l0 += (double)e * e;
		r[j] = k * e;
	}
	return (l0 + l1) + (l2 + l3);
}

/* Dense: x B×din (row-major), w din×dout. Z = xn·W + b (or zg, given),
 * H = f(Z), R = H·Wᵀ + c, loss = mean (R - x)². The tied weight's gradient
 * has a decoder share dRᵀ·H and an encoder share xnᵀ·dZ: one sgemm of depth
 * 2B over [dR; xn] and [H; dZ], stacked in r and h, writes it once. */
static double dense_step(ae_layer *a, const float *x, const float *xn, const float *zg, size_t B,
                         bool grad)
{
	ae_scratch *s = scratch(a);
	int din = (int)a->din, dout = (int)a->dout, b = (int)B;
	size_t nin = B * a->din, nout = B * a->dout;
	if (!s || !grow(&s->r, &s->cr, 2 * nin) || !grow(&s->h, &s->ch, 2 * nout) ||
	    !grow(&s->dh, &s->cdh, nout))
		return -1;
	float *r = s->r, *h = s->h, *z = s->h + nout, *dh = s->dh;
	if (zg) {
		act_forward(a, zg, h, nout);
	} else {
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b, dout, din, 1.0f, xn, din, a->w,
		            dout, 0.0f, z, dout);
		add_rows(z, a->b, B, a->dout);
		act_forward(a, z, h, nout);
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, din, dout, 1.0f, h, dout, a->w,
	            dout, 0.0f, r, din);
	double loss = 0;
	float k = 2.0f / ((float)B * (float)a->din);
	for (size_t i = 0; i < B; i++)
		loss += residual(r + i * a->din, x + i * a->din, a->c, a->din, k);
	loss /= (double)B * (double)a->din;
	if (!grad || zg)
		return loss;
	sum_rows(a->gc, r, B, a->din);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b, dout, din, 1.0f, r, din, a->w,
	            dout, 0.0f, dh, dout);
	act_backward(a, z, h, dh, z, nout); /* z becomes dZ */
	sum_rows(a->gb, z, B, a->dout);
	if (xn != r + nin) /* the trainer masks straight into it */
		memcpy(r + nin, xn, nin * sizeof *r);
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, din, dout, 2 * b, 1.0f, r, din, h, dout,
	            0.0f, a->gw, dout);
	return loss;
}

/* Where the trainer puts a dense minibatch's noisy rows: the second half of
 * the rows the weight gradient's sgemm reads (dense_step copies none). */
static float *noisy_rows(ae_layer *a, size_t B, float *fallback)
{
	ae_scratch *s = scratch(a);
	if (a->conv || !s || !grow(&s->r, &s->cr, 2 * B * a->din))
		return fallback;
	return s->r + B * a->din;
}

/* One sample's columns: row (c, i, j), column output position; rows ld
 * apart (the columns of several samples side by side). */
static void im2col(const ae_layer *a, const float *x, float *col, size_t ld)
{
	for (int64_t ch = 0; ch < a->C; ch++)
		for (int64_t i = 0; i < a->kh; i++)
			for (int64_t j = 0; j < a->kw; j++) {
				float *dst = col + (size_t)((ch * a->kh + i) * a->kw + j) * ld;
				for (int64_t oy = 0; oy < a->oh; oy++) {
					int64_t y = oy * a->sh - a->ph + i * a->dh;
					for (int64_t ox = 0; ox < a->ow; ox++) {
						int64_t xx = ox * a->sw - a->pw + j * a->dw;
						bool in = y >= 0 && y < a->H && xx >= 0 && xx < a->W;
						dst[oy * a->ow + ox] = in ? x[(ch * a->H + y) * a->W + xx] : 0.0f;
					}
				}
			}
}

/* im2col's adjoint: the columns summed back into an image (ConvTranspose). */
static void col2im(const ae_layer *a, const float *col, size_t ld, float *x)
{
	memset(x, 0, (size_t)(a->C * a->H * a->W) * sizeof *x);
	for (int64_t ch = 0; ch < a->C; ch++)
		for (int64_t i = 0; i < a->kh; i++)
			for (int64_t j = 0; j < a->kw; j++) {
				const float *src = col + (size_t)((ch * a->kh + i) * a->kw + j) * ld;
				for (int64_t oy = 0; oy < a->oh; oy++) {
					int64_t y = oy * a->sh - a->ph + i * a->dh;
					if (y < 0 || y >= a->H)
						continue;
					for (int64_t ox = 0; ox < a->ow; ox++) {
						int64_t xx = ox * a->sw - a->pw + j * a->dw;
						if (xx >= 0 && xx < a->W)
							x[(ch * a->H + y) * a->W + xx] += src[oy * a->ow + ox];
					}
				}
			}
}

/* Samples a conv sgemm takes at a time: all of the minibatch, or as many as
 * keep the columns (2·K·P floats a sample) near 16 MB. */
static size_t conv_chunk(const ae_layer *a, size_t B)
{
	size_t per = 2 * (size_t)(a->C * a->kh * a->kw) * (size_t)(a->oh * a->ow);
	size_t n = a->conv_chunk ? a->conv_chunk : ((size_t)1 << 22) / (per ? per : 1);
	return n < 1 ? 1 : n > B ? B : n;
}

/* The error of S samples (rows of img in x), from their pre-activations in
 * h's second half (M rows of N = S·P, ld 2N): H = f(Z) into its first half,
 * cols' first half = Wᵀ·H, R = col2im(cols) + c; r becomes k·(R - x), the
 * gradient of the loss in R. */
static double conv_decode(ae_layer *a, const float *x, float *h, float *col, float *r, size_t S,
                          float k)
{
	int M = (int)a->M, K = (int)(a->C * a->kh * a->kw);
	size_t P = (size_t)(a->oh * a->ow), N = S * P, hw = (size_t)(a->H * a->W);
	for (size_t m = 0; m < (size_t)M; m++)
		act_forward(a, h + m * 2 * N + N, h + m * 2 * N, N);
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, (int)N, M, 1.0f, a->w, K, h,
	            (int)(2 * N), 0.0f, col, (int)(2 * N));
	double loss = 0;
	for (size_t n = 0; n < S; n++) {
		float *rn = r + n * a->din;
		col2im(a, col + n * P, 2 * N, rn);
		for (size_t ch = 0; ch < (size_t)a->C; ch++)
			for (size_t q = ch * hw; q < (ch + 1) * hw; q++) {
				float e = rn[q] + a->c[ch] - x[n * a->din + q];
				loss += (double)e * e;
				rn[q] = k * e;
			}
	}
	return loss;
}

/* Conv (group 1), chunks of S samples side by side: cols = im2col(xn)
 * (K×N, N = S·P, K = C·kh·kw), Z = W·cols + b (or zg, given: B×M×P),
 * H = f(Z), R = col2im(Wᵀ·H) + c. W is M×K (the ONNX layout). As for a
 * dense layer, the weight's two gradient shares, H·dcolsᵀ and dZ·colsᵀ,
 * are one sgemm of depth 2N: cols and dcols side by side, and H and dZ. */
static double conv_step(ae_layer *a, const float *x, const float *xn, const float *zg, size_t B,
                        bool grad)
{
	ae_scratch *s = scratch(a);
	int M = (int)a->M, K = (int)(a->C * a->kh * a->kw);
	size_t P = (size_t)(a->oh * a->ow), S = conv_chunk(a, B), N = S * P, img = a->din;
	if (!s || !grow(&s->h, &s->ch, 2 * (size_t)M * N) || !grow(&s->dh, &s->cdh, (size_t)M * N) ||
	    !grow(&s->col, &s->ccol, 2 * (size_t)K * N) || !grow(&s->r, &s->cr, S * img))
		return -1;
	grad = grad && !zg;
	if (grad) {
		memset(a->gb, 0, (size_t)M * sizeof *a->gb);
		memset(a->gc, 0, (size_t)a->C * sizeof *a->gc);
	}
	double loss = 0;
	float k = 2.0f / ((float)B * (float)img);
	for (size_t n0 = 0; n0 < B; n0 += S) {
		size_t sn = B - n0 < S ? B - n0 : S, nn = sn * P, ld = 2 * nn;
		float *h = s->h, *z = s->h + nn, *col = s->col + nn, *dcol = s->col;
		for (size_t n = 0; n < sn; n++) {
			if (zg) {
				for (size_t m = 0; m < (size_t)M; m++)
					memcpy(z + m * ld + n * P, zg + ((n0 + n) * (size_t)M + m) * P,
					       P * sizeof *z);
			} else {
				im2col(a, xn + (n0 + n) * img, col + n * P, ld);
			}
		}
		if (!zg) {
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, (int)nn, K, 1.0f, a->w, K,
			            col, (int)ld, 0.0f, z, (int)ld);
			for (size_t m = 0; m < (size_t)M; m++)
				for (size_t q = 0; q < nn; q++)
					z[m * ld + q] += a->b[m];
		}
		loss += conv_decode(a, x + n0 * img, h, dcol, s->r, sn, k);
		if (!grad)
			continue;
		for (size_t n = 0; n < sn; n++) {
			const float *rn = s->r + n * img;
			for (size_t ch = 0; ch < (size_t)a->C; ch++)
				for (size_t q = 0; q < (size_t)(a->H * a->W); q++)
					a->gc[ch] += rn[ch * (size_t)(a->H * a->W) + q];
			im2col(a, rn, dcol + n * P, ld);
		}
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, (int)nn, K, 1.0f, a->w, K, dcol,
		            (int)ld, 0.0f, s->dh, (int)nn);
		for (size_t m = 0; m < (size_t)M; m++) {
			act_backward(a, z + m * ld, h + m * ld, s->dh + m * nn, z + m * ld, nn);
			for (size_t q = 0; q < nn; q++)
				a->gb[m] += z[m * ld + q];
		}
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, K, (int)ld, 1.0f, h, (int)ld,
		            s->col, (int)ld, n0 ? 1.0f : 0.0f, a->gw, K);
	}
	return loss / ((double)B * (double)img);
}

static double step(ae_layer *a, const float *x, const float *xn, const float *zg, size_t rows,
                   bool grad)
{
	return a->conv ? conv_step(a, x, xn, zg, rows, grad) : dense_step(a, x, xn, zg, rows, grad);
}

double oi__ae_step(ae_layer *a, const float *x, const float *xn, size_t rows, bool grad)
{
	return step(a, x, xn, NULL, rows, grad);
}

int oi__ae_alloc(ae_layer *a)
{
	size_t nb = a->conv ? (size_t)a->M : a->dout, nc = a->conv ? (size_t)a->C : a->din;
	a->nw = a->conv ? (size_t)(a->M * a->C * a->kh * a->kw) : a->din * a->dout;
	size_t total = 3 * (a->nw + nb + nc) + 2 * (a->nw + nb + nc);
	a->mem = calloc(total ? total : 1, sizeof *a->mem);
	if (!a->mem)
		return oi__fail(OI_ENOMEM, "out of memory for an autoencoder");
	float *p = a->mem;
	a->w = p, p += a->nw;
	a->b = p, p += nb;
	a->c = p, p += nc;
	a->gw = p, p += a->nw;
	a->gb = p, p += nb;
	a->gc = p, p += nc;
	a->m1 = p, p += a->nw + nb + nc;
	a->m2 = p;
	return 0;
}

void oi__ae_free(ae_layer *a)
{
	scratch_free(a);
	free(a->mem);
	a->mem = NULL;
}

/* Adam over n values (Kingma & Ba 2015, as torch.optim.Adam has it):
 * x -= step·m1 / (√m2·isb2 + ε), the bias corrections folded into step and
 * isb2 once per step. The AVX2 lanes do the same IEEE operations in the same
 * order as the scalar loop (no FMA), so the bytes do not depend on which ran. */
static void adam_scalar(float *x, const float *g, float *m1, float *m2, size_t n, float step,
                        float isb2)
{
	for (size_t i = 0; i < n; i++) {
		m1[i] = 0.9f * m1[i] + 0.1f * g[i];
		m2[i] = 0.999f * m2[i] + 0.001f * g[i] * g[i];
		x[i] -= step * m1[i] / (sqrtf(m2[i]) * isb2 + 1e-8f);
	}
}

#ifdef OI_HAVE_AVX2
#include <immintrin.h>

__attribute__((target("avx2"))) static size_t adam_avx2(float *x, const float *g, float *m1,
                                                        float *m2, size_t n, float step,
                                                        float isb2)
{
	const __m256 b1 = _mm256_set1_ps(0.9f), c1 = _mm256_set1_ps(0.1f);
	const __m256 b2 = _mm256_set1_ps(0.999f), c2 = _mm256_set1_ps(0.001f);
	const __m256 vs = _mm256_set1_ps(step), vi = _mm256_set1_ps(isb2);
	const __m256 eps = _mm256_set1_ps(1e-8f);
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 gi = _mm256_loadu_ps(g + i);
		__m256 a = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_loadu_ps(m1 + i)),
		                         _mm256_mul_ps(c1, gi));
		__m256 v = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_loadu_ps(m2 + i)),
		                         _mm256_mul_ps(_mm256_mul_ps(c2, gi), gi));
		_mm256_storeu_ps(m1 + i, a);
		_mm256_storeu_ps(m2 + i, v);
		__m256 d = _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(v), vi), eps);
		__m256 u = _mm256_div_ps(_mm256_mul_ps(vs, a), d);
		_mm256_storeu_ps(x + i, _mm256_sub_ps(_mm256_loadu_ps(x + i), u));
	}
	return i;
}
#endif

static void adam(float *x, const float *g, float *m1, float *m2, size_t n, float step,
                 float isb2)
{
	size_t i = 0;
#ifdef OI_HAVE_AVX2
	if (oi__simd_avx2())
		i = adam_avx2(x, g, m1, m2, n, step, isb2);
#endif
	adam_scalar(x + i, g + i, m1 + i, m2 + i, n - i, step, isb2);
}

void oi__ae_update(ae_layer *a, const ae_opts *p)
{
	size_t nb = a->conv ? (size_t)a->M : a->dout, nc = a->conv ? (size_t)a->C : a->din;
	float *par[3] = { a->w, a->b, a->c }, *g[3] = { a->gw, a->gb, a->gc };
	size_t n[3] = { a->nw, nb, nc }, off = 0;
	a->t++;
	double b1t = 1.0 - pow(0.9, (double)a->t), b2t = 1.0 - pow(0.999, (double)a->t);
	float step = (float)(p->lr / b1t), isb2 = (float)(1.0 / sqrt(b2t)), lr = (float)p->lr;
	for (int k = 0; k < 3; k++) {
		float *m1 = a->m1 + off, *m2 = a->m2 + off, *x = par[k], *gk = g[k];
		off += n[k];
		if (k == 1 && !a->train_b)
			continue;
		if (p->adam) {
			adam(x, gk, m1, m2, n[k], step, isb2);
		} else {
			for (size_t i = 0; i < n[k]; i++) {
				m1[i] = 0.9f * m1[i] + gk[i];
				x[i] -= lr * m1[i];
			}
		}
	}
}

/* ---- training ----------------------------------------------------------- */

double oi__ae_loss(ae_layer *a, const float *x, const float *z, size_t rows, size_t batch)
{
	/* in chunks of up to 1024 rows (at least batch, about 4 MB of input at
	 * most): bigger sgemms run faster */
	size_t most = ((size_t)1 << 20) / a->din, zrow = a->conv ? (size_t)(a->M * a->oh * a->ow)
	                                                        : a->dout;
	most = most < 1024 ? most : 1024;
	batch = batch > most ? batch : most;
	double sum = 0;
	for (size_t r0 = 0; r0 < rows; r0 += batch) {
		size_t b = rows - r0 < batch ? rows - r0 : batch;
		const float *xr = x + r0 * a->din;
		double l = step(a, xr, xr, z ? z + r0 * zrow : NULL, b, false);
		if (l < 0)
			return -1;
		sum += l * (double)b;
	}
	return sum / (double)rows;
}

/* Minibatch order of an epoch: Fisher-Yates over draws of stream 3. */
static void shuffle(size_t *perm, size_t n, oi_key key, unsigned epoch)
{
	for (size_t i = 0; i < n; i++)
		perm[i] = i;
	for (size_t i = n; i > 1; i--) {
		uint32_t w[4];
		oi__rng_block(key, i - 1, epoch, 3, w);
		size_t j = (size_t)(oi__u01(w[0], w[1]) * (double)i);
		size_t t = perm[i - 1];
		perm[i - 1] = perm[j];
		perm[j] = t;
	}
}

/* Masking noise: value f of a sample whose first value is element first of
 * the layer's input is set to 0 when the uniform of that element under the
 * epoch's key is below p (the vector generator, u its room). */
static void mask(float *xn, const float *src, size_t n, oi_key key, uint64_t first, double p,
                 double *u)
{
	if (!(p > 0)) {
		memcpy(xn, src, n * sizeof *xn);
		return;
	}
	oi__uniform_n(key, first, n, 0.0, 1.0, u);
	for (size_t f = 0; f < n; f++) /* a product, not a branch: 20 % of them mispredict */
		xn[f] = src[f] * (float)(u[f] >= p);
}

int oi__ae_train(ae_layer *a, const float *x, size_t rows, const ae_opts *o, uint64_t seed,
                 const char *name, ae_progress_fn fn, void *user)
{
	const ae_opts p = *o;
	size_t din = a->din, batch = p.batch;
	float *xc = malloc(batch * din * sizeof *xc), *xn = malloc(batch * din * sizeof *xn);
	size_t *perm = malloc((rows ? rows : 1) * sizeof *perm);
	double *u = malloc(din * sizeof *u);
	int rc = xc && xn && perm && u ? 0 : oi__fail(OI_ENOMEM, "out of memory for an autoencoder");
	oi_key key = oi__rng_key(seed, name);
	for (unsigned e = 1; e <= p.epochs && !rc; e++) {
		shuffle(perm, rows, key, e);
		oi_key noise = oi__rng_key(seed ^ oi__mix64(e), name);
		double sum = 0;
		for (size_t r0 = 0; r0 < rows && !rc; r0 += batch) {
			size_t b = rows - r0 < batch ? rows - r0 : batch;
			float *dst = noisy_rows(a, b, xn);
			for (size_t i = 0; i < b; i++) {
				const float *src = x + perm[r0 + i] * din;
				memcpy(xc + i * din, src, din * sizeof *xc);
				mask(dst + i * din, src, din, noise, (uint64_t)perm[r0 + i] * din, p.noise, u);
			}
			double l = oi__ae_step(a, xc, dst, b, true);
			if (l < 0)
				rc = oi__fail(OI_ENOMEM, "out of memory for an autoencoder");
			else if (!isfinite(l))
				rc = oi__fail(OI_EINVALID, "the reconstruction error became %g in epoch %u (lr=%g "
				              "too large?)", l, e, p.lr);
			else
				oi__ae_update(a, &p);
			sum += l * (double)b;
		}
		if (!rc && fn)
			fn(user, e, sum / (double)rows);
	}
	free(xc);
	free(xn);
	free(perm);
	free(u);
	return rc;
}

/* ---- the pass ----------------------------------------------------------- */

static bool op_is(const ev_node *n, const char *op)
{
	return n->n->op_type && !strcmp(n->n->op_type, op);
}

/* The activation right after value v (its only reader), or AE_LINEAR. */
static ae_act find_act(const ev_ctx *c, const uint32_t *uses, int32_t v, float *alpha,
                       int32_t *act_out, bool *unknown)
{
	*alpha = 0;
	*act_out = -1;
	*unknown = false;
	int32_t lu = c->values[v].last_use;
	if (uses[v] != 1 || lu < 0 || lu == INT32_MAX)
		return AE_LINEAR;
	const ev_node *n = &c->nodes[lu];
	static const struct { const char *op; ae_act a; float alpha; } acts[] = {
		{ "Sigmoid", AE_SIGMOID, 0 }, { "Tanh", AE_TANH, 0 }, { "Relu", AE_RELU, 0 },
		{ "LeakyRelu", AE_LEAKY, 0.01f }, { "Elu", AE_ELU, 1.0f },
	};
	for (size_t i = 0; i < sizeof acts / sizeof *acts; i++)
		if (op_is(n, acts[i].op)) {
			*alpha = oi__ev_attr_f(n, "alpha", acts[i].alpha);
			*act_out = n->nout ? n->out[0] : -1;
			return acts[i].a;
		}
	*unknown = n->k && (n->k->flags & EV_K_ACT);
	if (*unknown)
		*act_out = n->nout ? n->out[0] : -1;
	return AE_LINEAR;
}

/* The model's tensor a value is, directly, or -1. */
static int32_t value_tensor(const ev_ctx *c, int32_t v)
{
	return v >= 0 ? c->values[v].tensor : -1;
}

typedef struct ae_site {
	int32_t x;            /* the layer's data input */
	int32_t bias_value, bias_tensor;
	bool trans_w;         /* dense weight stored dout×din (Gemm transB=1) */
} ae_site;

/* Dense geometry (Gemm, MatMul); NULL, or why the layer cannot be trained. */
static const char *dense_site(const ev_ctx *c, const ev_layer *l, ae_layer *a, ae_site *s)
{
	const ev_node *n = &c->nodes[l->node];
	const oi_tensor *wt = &c->m->tensors[l->weight_tensor];
	if (wt->info.ndim != 2)
		return "its weight is not a matrix";
	if (op_is(n, "Gemm")) {
		if (oi__ev_attr_i(n, "transA", 0) || oi__ev_attr_f(n, "alpha", 1) != 1.0f ||
		    oi__ev_attr_f(n, "beta", 1) != 1.0f || n->in[1] != l->weight_value)
			return "a Gemm with transA, alpha or beta";
		s->trans_w = oi__ev_attr_i(n, "transB", 0) != 0;
		s->bias_value = n->nin > 2 ? n->in[2] : -1;
	} else {
		if (n->in[1] != l->weight_value)
			return "a MatMul whose weight comes first";
		s->trans_w = false;
		s->bias_value = -1;
		if (l->out_node != l->node) {
			const ev_node *an = &c->nodes[l->out_node];
			s->bias_value = an->in[0] == n->out[0] ? an->in[1] : an->in[0];
		}
	}
	s->x = n->in[0];
	const ev_tensor *x = &c->values[s->x].t;
	a->din = (size_t)wt->info.dims[s->trans_w ? 1 : 0];
	a->dout = (size_t)wt->info.dims[s->trans_w ? 0 : 1];
	if (x->nd < 1 || (size_t)x->d[x->nd - 1] != a->din)
		return "its input's last dim is not its weight's";
	return NULL;
}

/* Conv geometry (group 1, 1-D or 2-D). */
static const char *conv_site(const ev_ctx *c, const ev_layer *l, ae_layer *a, ae_site *s)
{
	const ev_node *n = &c->nodes[l->node];
	const oi_tensor *wt = &c->m->tensors[l->weight_tensor];
	s->x = n->in[0];
	s->bias_value = n->nin > 2 ? n->in[2] : -1;
	const ev_tensor *x = &c->values[s->x].t;
	int k = x->nd - 2;
	if (k < 1 || k > 2 || (int)wt->info.ndim != x->nd)
		return "not a 1-D or 2-D convolution";
	if (oi__ev_attr_i(n, "group", 1) != 1)
		return "a grouped or depthwise convolution (group > 1 is not trained)";
	int64_t st[2] = { 1, 1 }, dl[2] = { 1, 1 }, pd[4] = { 0, 0, 0, 0 };
	oi__ev_attr_ints(n, "strides", st, 2);
	oi__ev_attr_ints(n, "dilations", dl, 2);
	oi__ev_attr_ints(n, "pads", pd, 4);
	int64_t in[2], ker[2], pb[2], pe[2];
	for (int j = 0; j < k; j++) {
		in[j] = x->d[2 + j];
		ker[j] = (int64_t)wt->info.dims[2 + j];
		pb[j] = pd[j];
		pe[j] = pd[k + j];
	}
	const Onnx__AttributeProto *ap = oi__ev_attr(n, "auto_pad");
	const char *mode = ap && ap->s.data ? (const char *)ap->s.data : "NOTSET";
	size_t ml = ap && ap->s.data ? ap->s.len : 6;
	bool same = ml >= 4 && !strncmp(mode, "SAME", 4), lower = same && ml > 5 && mode[5] == 'L';
	int64_t out[2];
	for (int j = 0; j < k; j++) {
		if (st[j] < 1 || dl[j] < 1)
			return "a convolution with a stride or dilation below 1";
		int64_t span = (ker[j] - 1) * dl[j] + 1;
		if (same) {
			out[j] = (in[j] + st[j] - 1) / st[j];
			int64_t tot = (out[j] - 1) * st[j] + span - in[j];
			tot = tot > 0 ? tot : 0;
			pb[j] = lower ? tot - tot / 2 : tot / 2;
		} else {
			if (ml == 5 && !strncmp(mode, "VALID", 5))
				pb[j] = pe[j] = 0;
			out[j] = (in[j] + pb[j] + pe[j] - span) / st[j] + 1;
		}
		if (out[j] < 1)
			return "a convolution with no output";
	}
	int o = k == 2 ? 0 : 1; /* a 1-D conv is a 2-D one of height 1 */
	a->conv = true;
	a->C = x->d[1];
	a->M = (int64_t)wt->info.dims[0];
	a->H = o ? 1 : in[0];
	a->W = in[k - 1];
	a->kh = o ? 1 : ker[0];
	a->kw = ker[k - 1];
	a->sh = o ? 1 : st[0];
	a->sw = st[k - 1];
	a->dh = o ? 1 : dl[0];
	a->dw = dl[k - 1];
	a->ph = o ? 0 : pb[0];
	a->pw = pb[k - 1];
	a->oh = o ? 1 : out[0];
	a->ow = out[k - 1];
	a->din = (size_t)(a->C * a->H * a->W);
	if ((int64_t)wt->info.dims[1] != a->C)
		return "its weight's channels are not its input's";
	return NULL;
}

typedef struct ae_pass {
	ev_ctx *c;
	const ae_params *p;
	const oi_pretrain_options *o;
	oi_report *r;
	uint32_t *uses;
	size_t layer, layers;
	const char *node;
} ae_pass;

static void on_epoch(void *user, unsigned epoch, double loss)
{
	const ae_pass *s = user;
	if (!s->o->progress)
		return;
	oi_pretrain_progress pr = { s->layer, s->layers, s->node, epoch, s->p->o.epochs, loss };
	s->o->progress(s->o->progress_user, &pr);
}

/* The layer's weight and bias into a (load) or back from it. */
static int move_weights(ev_ctx *c, const ev_layer *l, ae_layer *a, const ae_site *st, bool load)
{
	if (!oi__ev_weight(c, l->weight_tensor, NULL))
		return OI_ENOMEM;
	if (a->train_b && !oi__ev_weight(c, st->bias_tensor, NULL))
		return OI_ENOMEM;
	/* the records, found again: a second one may have moved the array */
	ev_weight *w = oi__ev_weight(c, l->weight_tensor, NULL);
	ev_weight *bw = a->train_b ? oi__ev_weight(c, st->bias_tensor, NULL) : NULL;
	size_t nb = a->conv ? (size_t)a->M : a->dout;
	for (size_t i = 0; i < a->nw; i++) {
		size_t j = i;
		if (!a->conv && st->trans_w)
			j = (i % a->dout) * a->din + i / a->dout;
		if (load)
			a->w[i] = (float)(w->values[j] * w->scale);
		else
			w->values[j] = a->w[i];
	}
	if (!load) {
		w->scale = 1.0;
		w->changed = true;
		oi__ev_weight_refresh(w, a->nw);
		if (bw) {
			for (size_t i = 0; i < nb; i++)
				bw->values[i] = a->b[i];
			bw->scale = 1.0;
			bw->changed = true;
			oi__ev_weight_refresh(bw, nb);
		}
		return 0;
	}
	if (st->bias_value >= 0) {
		ev_tensor *bt = &c->values[st->bias_value].t;
		if (bw) {
			for (size_t i = 0; i < nb; i++)
				a->b[i] = (float)(bw->values[i] * bw->scale);
		} else if (c->values[st->bias_value].ready && bt->type == EV_F32 && (size_t)bt->n == nb) {
			memcpy(a->b, bt->data, nb * sizeof *a->b);
		}
	}
	return 0;
}

/* The reconstruction error over all rows of x, from the layer's output as
 * the evaluator just computed it (the pre-activations: it saves an sgemm
 * over all the samples), else from scratch; *out, or an error. */
static int measure(const ev_ctx *c, const ev_layer *l, ae_layer *a, const float *x, size_t rows,
                   size_t batch, const char *when, double *out)
{
	const ev_value *z = &c->values[l->out_value];
	size_t zrow = a->conv ? (size_t)(a->M * a->oh * a->ow) : a->dout;
	bool have = z->ready && z->t.type == EV_F32 && (size_t)z->t.n == rows * zrow;
	*out = oi__ae_loss(a, x, have ? ev_f(&z->t) : NULL, rows, batch);
	if (*out < 0)
		return oi__fail(OI_ENOMEM, "out of memory for an autoencoder");
	if (!isfinite(*out))
		return oi__fail(OI_EINVALID, "the reconstruction error became %g %s", *out, when);
	return 0;
}

/* OpenBLAS threads for the training sgemms: below about 8M multiply-adds
 * an sgemm runs no faster on two threads than on one (64×256×256 steps:
 * measured 5 % slower), while 64×784×256 ones run 1.8× faster when the
 * second core is free. The full-data ones always take the threads. */
static int train_threads(const ae_layer *a, size_t batch, int threads)
{
	double macs = a->conv ? (double)a->M * (double)(a->oh * a->ow) * (double)a->nw / (double)a->M
	                      : (double)batch * (double)a->nw;
	return macs >= 8e6 ? threads : 1;
}

/* Train the layer: its error before, the epochs, its weights back into the
 * model, the layer run again, its error after. */
static int train_layer(ae_pass *s, const ev_layer *l, ae_layer *a, const ae_site *st,
                       oi_layer_report *lr)
{
	ev_ctx *c = s->c;
	int rc = move_weights(c, l, a, st, true);
	if (rc)
		return rc;
	const ev_tensor *x = &c->values[st->x].t;
	size_t rows = (size_t)x->n / a->din, batch = s->p->o.batch;
	if (rows < batch)
		return oi__fail(OI_EINVALID, "%s: autoencoder: layer '%s' has %zu samples, fewer than one "
		                "batch of %zu", c->m->path, lr->node, rows, batch);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	openblas_set_num_threads((int)c->threads);
	rc = measure(c, l, a, ev_f(x), rows, batch, "before training", &lr->loss_before);
	if (!rc) {
		on_epoch(s, 0, lr->loss_before);
		openblas_set_num_threads(train_threads(a, batch, (int)c->threads));
		rc = oi__ae_train(a, ev_f(x), rows, &s->p->o, s->o->seed, lr->node, on_epoch, s);
	}
	openblas_set_num_threads(1);
	if (!rc)
		rc = move_weights(c, l, a, st, false);
	if (!rc)
		rc = oi__pretrain_run_layer(c, l);
	if (!rc && !c->stop_msg[0]) {
		char when[64];
		snprintf(when, sizeof when, "after epoch %u", s->p->o.epochs);
		openblas_set_num_threads((int)c->threads);
		rc = measure(c, l, a, ev_f(x), rows, batch, when, &lr->loss_after);
		openblas_set_num_threads(1);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	lr->seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
	lr->iterations = s->p->o.epochs;
	if (rc == OI_EINVALID) {
		char why[400];
		snprintf(why, sizeof why, "%s", oi_last_error());
		rc = oi__fail(OI_EINVALID, "%s: autoencoder: layer '%s' (%s): %s", c->m->path, lr->node,
		              lr->op, why);
	}
	return rc;
}

/* Why a layer is not trained (a report status), or NULL; sets a and st. */
static const char *classify(ae_pass *s, const ev_layer *l, bool last, ae_layer *a, ae_site *st,
                            const char **why)
{
	ev_ctx *c = s->c;
	const ev_node *n = &c->nodes[l->node];
	int32_t act_out;
	bool unknown;
	*why = NULL;
	a->act = find_act(c, s->uses, l->out_value, &a->alpha, &act_out, &unknown);
	bool out = c->values[l->out_value].last_use == INT32_MAX ||
	           (act_out >= 0 && c->values[act_out].last_use == INT32_MAX);
	if (last || out)
		return "output";
	const char *ws = oi__pretrain_tensor_status(c, l->weight_tensor, l->weight_value, s->uses,
	                                            s->o->rules);
	if (ws)
		return ws;
	if (l->n_chain) {
		*why = "its weight passes through layout ops";
		return "skipped";
	}
	if (unknown) {
		*why = "its activation is not one the autoencoder knows (Sigmoid, Tanh, Relu, "
		       "LeakyRelu, Elu)";
		return "skipped";
	}
	if (c->values[n->in[0]].t.type != EV_F32) {
		*why = "its input is not float";
		return "skipped";
	}
	bool conv = op_is(n, "Conv");
	if (!conv && !op_is(n, "Gemm") && !op_is(n, "MatMul")) {
		*why = "not a dense or conv layer";
		return "skipped";
	}
	*why = conv ? conv_site(c, l, a, st) : dense_site(c, l, a, st);
	if (*why)
		return "skipped";
	size_t nb = a->conv ? (size_t)a->M : a->dout;
	st->bias_tensor = value_tensor(c, st->bias_value);
	if (st->bias_value >= 0) {
		const oi_tensor *bt = st->bias_tensor >= 0 ? &c->m->tensors[st->bias_tensor] : NULL;
		if (!bt || bt->info.numel != nb) {
			*why = "its bias is not one value per output";
			return "skipped";
		}
		a->train_b = !oi__pretrain_tensor_status(c, st->bias_tensor, st->bias_value, s->uses,
		                                         s->o->rules);
	}
	return NULL;
}

static int pass_layer(ae_pass *s, const ev_layer *l, bool last)
{
	ev_ctx *c = s->c;
	int rc = oi__ev_run(c, l->node);
	if (rc || c->stop_msg[0])
		return rc;
	oi_layer_report *lr = oi__report_add(s->r, c, l);
	if (!lr)
		return OI_ENOMEM;
	lr->weight = l->weight_tensor >= 0
	                 ? oi__report_str(s->r, c->m->tensors[l->weight_tensor].info.name)
	                 : NULL;
	ae_layer a = { 0 };
	ae_site st = { .x = -1, .bias_value = -1, .bias_tensor = -1 };
	const char *why;
	/* run first: a graph input is made ready by its first reader */
	rc = oi__pretrain_run_layer(c, l);
	if (rc || c->stop_msg[0])
		return rc;
	const char *status = classify(s, l, last, &a, &st, &why);
	oi__ev_stats(&c->values[l->out_value].t, &lr->before);
	if (!status) {
		s->layer++;
		s->node = lr->node;
		rc = oi__ae_alloc(&a);
		if (!rc)
			rc = train_layer(s, l, &a, &st, lr);
		oi__ae_free(&a);
		if (rc || c->stop_msg[0])
			return rc;
		status = "done";
	}
	oi__ev_stats(&c->values[l->out_value].t, &lr->stats);
	lr->variance = oi__ev_variance(&c->values[l->out_value].t);
	lr->status = status;
	if (!strcmp(status, "skipped"))
		rc = oi__report_warn(s->r, "layer '%s' (%s): not trained: %s", lr->node, lr->op, why);
	else if (!strcmp(status, "shared"))
		rc = oi__report_warn(s->r, "layer '%s' (%s): its weight is not a tensor of its own; "
		                     "left as it is", lr->node, lr->op);
	oi__ev_release(c);
	return rc;
}

static int run_pass(ae_pass *s)
{
	ev_ctx *c = s->c;
	ev_layer *layers;
	size_t n;
	int rc = oi__ev_layers(c, &layers, &n);
	if (rc)
		return rc;
	s->uses = oi__pretrain_uses(c);
	rc = s->uses ? 0 : OI_ENOMEM;
	size_t last = SIZE_MAX, n_layers = 0, left = 0;
	for (size_t i = 0; i < n; i++)
		if (!layers[i].act) {
			last = i;
			n_layers++;
		}
	/* the layers to train, for the progress display: all but the last */
	s->layers = n_layers ? n_layers - 1 : 0;
	for (size_t i = 0; i < n && !rc; i++) {
		if (layers[i].act)
			continue;
		if (c->stop_msg[0]) {
			left++;
			continue;
		}
		rc = pass_layer(s, &layers[i], i == last);
		left += !rc && c->stop_msg[0];
	}
	free(layers);
	free(s->uses);
	if (!rc && n_layers == 0)
		rc = oi__fail(OI_EUNSUPPORTED, "%s: autoencoder: the model has no layer to train",
		              c->m->path);
	if (!rc && oi_report_layer_count(s->r) == 0)
		rc = oi__fail(OI_EUNSUPPORTED, "%s: autoencoder: no layer can be reached: %s",
		              c->m->path, c->stop_msg);
	if (!rc && c->stop_msg[0])
		rc = oi__report_warn(s->r, "%s; the autoencoder stops there (%zu later layers keep their "
		                     "planned values)", c->stop_msg, left);
	if (!rc)
		rc = oi__pretrain_commit(c, NULL, s->p->desc);
	oi__report_done(s->r, c);
	return rc;
}

/* Samples to train on: the file's (the fewest of its arrays), or samples. */
static size_t sample_count(const oi_data *d, const ae_params *p)
{
	if (d->kind != OI_DATA_FILE)
		return p->samples ? p->samples : 1024;
	uint64_t n = UINT64_MAX;
	for (size_t i = 0; i < d->n_arrays; i++)
		if (d->arrays[i].ndim && (uint64_t)d->arrays[i].dims[0] < n)
			n = (uint64_t)d->arrays[i].dims[0];
	if (n == UINT64_MAX)
		n = 1;
	return p->samples && p->samples < n ? p->samples : (size_t)n;
}

int oi__autoencoder(oi_model *m, const oi_spec *spec, const oi_data *d,
                    const oi_pretrain_options *o, oi_report **out)
{
	*out = NULL;
	ae_params p;
	int rc = parse(spec, &p);
	if (rc)
		return rc;
	/* the evaluator's batch is every sample trained on */
	oi_data all = *d;
	all.batch = sample_count(d, &p);
	if (all.batch < p.o.batch)
		return oi__fail(OI_EINVALID, "%s: autoencoder: %s has %zu samples, fewer than one batch "
		                "of %zu", m->path, oi_data_name(d), all.batch, p.o.batch);
	ev_ctx c;
	rc = oi__ev_open(&c, m, &all, o->threads);
	if (rc)
		return rc;
	int64_t got = c.n_inputs && c.inputs[0].ndim ? c.inputs[0].dims[0] : 0;
	if (got >= 0 && (size_t)got < p.o.batch) {
		rc = oi__fail(OI_EINVALID, "%s: autoencoder: the model's input takes %lld samples at a "
		              "time (a fixed batch dim), fewer than one batch of %zu", m->path,
		              (long long)got, p.o.batch);
		oi__ev_close(&c);
		return rc;
	}
	oi_report *r;
	rc = oi__report_new(&r, &c);
	ae_pass s = { .c = &c, .p = &p, .o = o, .r = r };
	if (!rc)
		rc = run_pass(&s);
	if (!rc && !o->no_provenance) {
		json_t *params = json_object();
		json_object_set_new(params, "epochs", json_integer(p.o.epochs));
		json_object_set_new(params, "lr", json_real(p.o.lr));
		json_object_set_new(params, "batch", json_integer((json_int_t)p.o.batch));
		json_object_set_new(params, "noise", json_real(p.o.noise));
		json_object_set_new(params, "optimizer", json_string(p.o.adam ? "adam" : "sgd"));
		json_object_set_new(params, "samples", p.samples ? json_integer((json_int_t)p.samples)
		                                                 : json_string("all"));
		rc = oi__pretrain_provenance(m, "autoencoder", params, d, got, o->seed);
	}
	oi__ev_close(&c);
	if (rc) {
		oi_report_free(r);
		return rc;
	}
	*out = r;
	return 0;
}
