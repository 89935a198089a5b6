/* The autoencoder's hand-written gradients against central finite
 * differences, on tiny dense and conv layers, for each activation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pretrain/autoencoder.h"

static unsigned long lcg = 12345;
static float rnd(void)
{
	lcg = lcg * 6364136223846793005ul + 1442695040888963407ul;
	return (float)((lcg >> 33) % 2000001) / 1000000.0f - 1.0f;
}

/* The loss in double precision is what the step returns; the check uses
 * float parameters, so the step h is moderate and the tolerance relative. */
static int check(ae_layer *a, size_t rows, const char *what)
{
	size_t nb = a->conv ? (size_t)a->M : a->dout, nc = a->conv ? (size_t)a->C : a->din;
	size_t n = rows * a->din;
	float *x = malloc(n * sizeof *x), *xn = malloc(n * sizeof *xn);
	for (size_t i = 0; i < n; i++) {
		x[i] = rnd();
		xn[i] = (i % 5 == 0) ? 0.0f : x[i];
	}
	for (size_t i = 0; i < a->nw; i++)
		a->w[i] = 0.5f * rnd();
	for (size_t i = 0; i < nb; i++)
		a->b[i] = 0.2f * rnd();
	for (size_t i = 0; i < nc; i++)
		a->c[i] = 0.2f * rnd();
	oi__ae_step(a, x, xn, rows, true);
	size_t tot = a->nw + nb + nc;
	float *g = malloc(tot * sizeof *g);
	memcpy(g, a->gw, a->nw * sizeof *g);
	memcpy(g + a->nw, a->gb, nb * sizeof *g);
	memcpy(g + a->nw + nb, a->gc, nc * sizeof *g);
	float *p[3] = { a->w, a->b, a->c };
	size_t np[3] = { a->nw, nb, nc };
	int bad = 0;
	size_t kinks = 0;
	double worst = 0;
	for (int k = 0, off = 0; k < 3; off += (int)np[k], k++)
		for (size_t i = 0; i < np[k]; i++) {
			float keep = p[k][i];
			double fds[3];
			for (int q = 0; q < 3; q++) {
				float h = 1e-2f / (float)(1 << q);
				p[k][i] = keep + h;
				double lp = oi__ae_step(a, x, xn, rows, false);
				p[k][i] = keep - h;
				double lm = oi__ae_step(a, x, xn, rows, false);
				p[k][i] = keep;
				fds[q] = (lp - lm) / (2.0 * (double)h);
			}
			double fd = fds[1], an = g[(size_t)off + i];
			/* a kink (relu's 0) inside a step: the differences disagree */
			double lo = fmin(fds[0], fmin(fds[1], fds[2])), hi = fmax(fds[0], fmax(fds[1], fds[2]));
			if ((a->act == AE_RELU || a->act == AE_LEAKY) && hi - lo > 0.01 * (fabs(hi) + fabs(lo)) + 1e-5) {
				kinks++;
				continue;
			}
			double err = fabs(fd - an) / (fabs(fd) + fabs(an) + 1e-4);
			worst = err > worst ? err : worst;
			if (err > 2e-2 && fabs(fd - an) > 1e-5) {
				if (bad < 5)
					fprintf(stderr, "%s: param %d[%zu]: analytic %g, finite difference %g\n", what,
					        k, i, an, fd);
				bad++;
			}
		}
	if (kinks * 5 > tot)
		bad++;
	printf("%s: %zu parameters (%zu at a kink, skipped), worst relative difference %.3g%s\n",
	       what, tot, kinks, worst, bad ? " FAIL" : "");
	free(x);
	free(xn);
	free(g);
	return bad != 0;
}

/* The error over all rows from given pre-activations (the evaluator's, in the
 * pass) against the error computed from scratch; the pre-activations here by
 * a direct loop. More rows than one chunk of oi__ae_loss. */
static int check_loss_z(ae_layer *a, size_t rows, const char *what)
{
	size_t zrow = a->conv ? (size_t)(a->M * a->oh * a->ow) : a->dout;
	float *x = malloc(rows * a->din * sizeof *x), *z = malloc(rows * zrow * sizeof *z);
	for (size_t i = 0; i < rows * a->din; i++)
		x[i] = rnd();
	for (size_t n = 0; n < rows; n++)
		for (size_t o = 0; o < zrow; o++) {
			double acc;
			if (!a->conv) {
				acc = a->b[o];
				for (size_t k = 0; k < a->din; k++)
					acc += (double)x[n * a->din + k] * a->w[k * a->dout + o];
			} else {
				int64_t P = a->oh * a->ow, m = (int64_t)o / P, oy = (int64_t)o % P / a->ow,
				        ox = (int64_t)o % a->ow;
				acc = a->b[m];
				for (int64_t c = 0; c < a->C; c++)
					for (int64_t i = 0; i < a->kh; i++)
						for (int64_t j = 0; j < a->kw; j++) {
							int64_t y = oy * a->sh - a->ph + i * a->dh, xx = ox * a->sw - a->pw + j * a->dw;
							if (y >= 0 && y < a->H && xx >= 0 && xx < a->W)
								acc += (double)a->w[((m * a->C + c) * a->kh + i) * a->kw + j] *
								       x[n * a->din + (size_t)((c * a->H + y) * a->W + xx)];
						}
			}
			z[n * zrow + o] = (float)acc;
		}
	double given = oi__ae_loss(a, x, z, rows, 4), fresh = oi__ae_loss(a, x, NULL, rows, 4);
	int bad = !(fabs(given - fresh) <= 1e-5 * fabs(fresh));
	printf("%s: error from given pre-activations %.9g, from scratch %.9g%s\n", what, given, fresh,
	       bad ? " FAIL" : "");
	free(x);
	free(z);
	return bad;
}

/* The optimizer against the formulas in double precision (torch.optim.Adam's,
 * and SGD with momentum 0.9), over a few steps; the inputs repeat with period
 * 8, so the values past the last whole 8 (the scalar tail of the vector
 * loop) must come out the same bits as the first ones. */
static int check_update(bool adam)
{
	ae_layer d = { .act = AE_SIGMOID, .din = 7, .dout = 5, .train_b = true };
	if (oi__ae_alloc(&d))
		return 1;
	size_t n[3] = { d.nw, d.dout, d.din };
	float *par[3] = { d.w, d.b, d.c }, *grad[3] = { d.gw, d.gb, d.gc };
	double ref[3][35], m1[3][35] = { { 0 } }, m2[3][35] = { { 0 } };
	for (int k = 0; k < 3; k++)
		for (size_t i = 0; i < n[k]; i++)
			ref[k][i] = par[k][i] = 0.1f * (float)(i % 8) - 0.3f;
	ae_opts o = { .lr = 0.01, .adam = adam };
	int bad = 0;
	for (int t = 1; t <= 3; t++) {
		for (int k = 0; k < 3; k++)
			for (size_t i = 0; i < n[k]; i++) {
				double g = grad[k][i] = 0.05f * (float)((i * 3 + (size_t)t) % 8) - 0.2f;
				if (adam) {
					m1[k][i] = 0.9 * m1[k][i] + 0.1 * g;
					m2[k][i] = 0.999 * m2[k][i] + 0.001 * g * g;
					ref[k][i] -= o.lr * m1[k][i] / (1 - pow(0.9, t)) /
					             (sqrt(m2[k][i]) / sqrt(1 - pow(0.999, t)) + 1e-8);
				} else {
					m1[k][i] = 0.9 * m1[k][i] + g;
					ref[k][i] -= o.lr * m1[k][i];
				}
			}
		oi__ae_update(&d, &o);
		for (int k = 0; k < 3; k++)
			for (size_t i = 0; i < n[k]; i++) {
				if (fabs(par[k][i] - ref[k][i]) > 1e-6 + 1e-5 * fabs(ref[k][i])) {
					if (bad++ < 5)
						fprintf(stderr, "%s step %d: param %d[%zu] %.9g, expected %.9g\n",
						        adam ? "adam" : "sgd", t, k, i, par[k][i], ref[k][i]);
				}
				if (i >= 8 && memcmp(&par[k][i], &par[k][i % 8], sizeof(float)) &&
				    bad++ < 5)
					fprintf(stderr, "%s step %d: param %d[%zu] %.9g differs from [%zu] %.9g\n",
					        adam ? "adam" : "sgd", t, k, i, par[k][i], i % 8, par[k][i % 8]);
			}
	}
	printf("update %s: %s\n", adam ? "adam" : "sgd", bad ? "FAIL" : "as the formulas");
	oi__ae_free(&d);
	return bad != 0;
}

int main(void)
{
	static const ae_act acts[] = { AE_LINEAR, AE_SIGMOID, AE_TANH, AE_RELU, AE_LEAKY, AE_ELU };
	static const char *const names[] = { "linear", "sigmoid", "tanh", "relu", "leakyrelu", "elu" };
	int fails = 0;
	for (size_t k = 0; k < sizeof acts / sizeof *acts; k++) {
		char what[64];
		ae_layer d = { .act = acts[k], .alpha = acts[k] == AE_ELU ? 1.0f : 0.1f, .din = 7, .dout = 5, .train_b = true };
		if (oi__ae_alloc(&d))
			return 2;
		snprintf(what, sizeof what, "dense 7-5 %s", names[k]);
		fails += check(&d, 4, what);
		fails += check_loss_z(&d, 1500, what);
		oi__ae_free(&d);
		/* 2 channels 5x6 in, 3 out, 3x2 kernel, stride 2x1, pad 1, dilation 1x2 */
		ae_layer c = { .conv = true, .act = acts[k], .alpha = acts[k] == AE_ELU ? 1.0f : 0.1f, .C = 2, .H = 5, .W = 6,
		               .M = 3, .kh = 3, .kw = 2, .sh = 2, .sw = 1, .ph = 1, .pw = 1, .dh = 1,
		               .dw = 2, .train_b = true };
		c.oh = (c.H + 2 * c.ph - ((c.kh - 1) * c.dh + 1)) / c.sh + 1;
		c.ow = (c.W + 2 * c.pw - ((c.kw - 1) * c.dw + 1)) / c.sw + 1;
		c.din = (size_t)(c.C * c.H * c.W);
		if (oi__ae_alloc(&c))
			return 2;
		snprintf(what, sizeof what, "conv 2x5x6 -> 3, 3x2 %s", names[k]);
		fails += check(&c, 3, what);
		fails += check_loss_z(&c, 1100, what);
		/* the minibatch in sgemms of 2 samples, then 1 */
		c.conv_chunk = 2;
		snprintf(what, sizeof what, "conv 2x5x6 -> 3, 3x2 %s, chunks of 2", names[k]);
		fails += check(&c, 3, what);
		fails += check_loss_z(&c, 1100, what);
		oi__ae_free(&c);
	}
	fails += check_update(true) + check_update(false);
	/* training lowers the error (adam and sgd) */
	for (int adam = 0; adam < 2; adam++) {
		ae_layer d = { .act = AE_SIGMOID, .din = 16, .dout = 8, .train_b = true };
		if (oi__ae_alloc(&d))
			return 2;
		size_t rows = 256;
		float *x = malloc(rows * d.din * sizeof *x);
		for (size_t i = 0; i < rows * d.din; i++)
			x[i] = 0.5f + 0.5f * rnd();
		for (size_t i = 0; i < d.nw; i++)
			d.w[i] = 0.3f * rnd();
		ae_opts o = { .epochs = 20, .lr = adam ? 0.01 : 0.05, .noise = 0.2, .batch = 32,
		              .adam = adam };
		double before = oi__ae_loss(&d, x, NULL, rows, o.batch);
		int rc = oi__ae_train(&d, x, rows, &o, 7, "t", NULL, NULL);
		double after = oi__ae_loss(&d, x, NULL, rows, o.batch);
		printf("train %s: %g -> %g\n", adam ? "adam" : "sgd", before, after);
		fails += rc || !(after < before);
		oi__ae_free(&d);
		free(x);
	}
	return fails ? 1 : 0;
}
