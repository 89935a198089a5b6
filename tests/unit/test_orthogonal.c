/* The orthogonal fill: W is gain times the Q of the QR of its normal matrix
 * with R's diagonal positive (torch.nn.init.orthogonal_), orthonormal to
 * float32's or float64's accuracy, for square, tall and wide matrices, and
 * the same bytes on any number of threads. The sizes span several panels and
 * update slices of the blocked QR. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fill.h"
#include "onnx.pb-c.h"
#include "onnxinit.h"
#include "orthogonal.h"
#include "simd.h"
#include "support.h"

static oi_fill ortho_fill(uint64_t batch, uint64_t rows, uint64_t cols, double gain, bool single)
{
	oi_fill f = { .kind = OI_FILL_ORTHOGONAL, .batch = batch, .rows = rows, .cols = cols };
	f.key = oi__rng_key(7, "W");
	f.p[0] = gain;
	f.p[1] = single;
	return f;
}

/* Matrix b of f, as materialized in w: with N its normal matrix and
 * Q = W/gain (Wᵀ/gain if wide), Qᵀ Q = I and Qᵀ N (or Qᵀ Nᵀ) is upper
 * triangular with a positive diagonal, to tol relative to N's scale. */
static void check_matrix(const oi_fill *f, uint64_t b, const double *w, double tol)
{
	uint64_t rows = f->rows, cols = f->cols, per = rows * cols;
	bool tall = rows >= cols;
	uint64_t m = tall ? rows : cols, n = tall ? cols : rows;
	double *nrm = malloc(per * sizeof *nrm);
	assert_non_null(nrm);
	oi__normal_n(f->key, b * per, (size_t)per, nrm);
	w += b * per;
	/* element (i, j) of the m × n Q, and of the m × n matrix it factors */
#define Q(i, j) (tall ? w[(i) * cols + (j)] : w[(j) * cols + (i)]) / f->p[0]
#define A(i, j) (tall ? nrm[(i) * cols + (j)] : nrm[(j) * cols + (i)])
	double orth = 0, low = 0, diag = INFINITY;
	/* QᵀQ is symmetric, and only R's lower part and diagonal are checked */
	for (uint64_t i = 0; i < n; i++)
		for (uint64_t j = 0; j <= i; j++) {
			double qq = 0, r = 0;
			for (uint64_t k = 0; k < m; k++) {
				qq += Q(k, i) * Q(k, j);
				r += Q(k, i) * A(k, j);
			}
			orth = fmax(orth, fabs(qq - (i == j)));
			if (i > j)
				low = fmax(low, fabs(r));
			if (i == j)
				diag = fmin(diag, r);
		}
#undef Q
#undef A
	free(nrm);
	if (!(orth <= tol) || !(low <= tol * sqrt((double)m)) || !(diag > 0))
		fail_msg("%llu x %llu (%s, gain %g): max |QᵀQ - I| %.3g, max |R below| %.3g, "
		         "min diag R %.3g", (unsigned long long)rows, (unsigned long long)cols,
		         f->p[1] ? "float32" : "float64", f->p[0], orth, low, diag);
}

/* Materialized on 1, 2, 3 and 8 threads: the same bytes; then checked. */
static void check_fill(const oi_fill *f, double tol)
{
	uint64_t numel = f->batch * f->rows * f->cols;
	double *one;
	assert_int_equal(oi__fill_materialize_on(f, numel, 1, &one), 0);
	static const unsigned threads[] = { 2, 3, 8 };
	for (size_t i = 0; i < sizeof threads / sizeof *threads; i++) {
		double *w;
		assert_int_equal(oi__fill_materialize_on(f, numel, threads[i], &w), 0);
		if (memcmp(one, w, numel * sizeof *w) != 0)
			fail_msg("%llu x %llu: %u threads give other bytes than one",
			         (unsigned long long)f->rows, (unsigned long long)f->cols, threads[i]);
		free(w);
	}
	for (uint64_t b = 0; b < f->batch; b++)
		check_matrix(f, b, one, tol);
	free(one);
}

static const struct {
	uint64_t batch, rows, cols;
	double gain;
} shapes[] = {
	{ 1, 400, 400, 1 },   /* square: 4 panels */
	{ 1, 700, 420, 2 },   /* tall: the first update in two slices */
	{ 1, 420, 650, 1 },   /* wide */
	{ 2, 160, 300, 0.5 }, /* an RNN weight: a matrix per direction */
	{ 1, 64, 27, 1 },     /* a conv weight (64, 3, 3, 3), one panel */
};

static void float64_qr(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
		oi_fill f = ortho_fill(shapes[i].batch, shapes[i].rows, shapes[i].cols, shapes[i].gain,
		                       false);
		check_fill(&f, 1e-12);
	}
}

/* float32 targets: a float32 QR, orthonormal as torch's (float32) is */
static void float32_qr(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
		oi_fill f = ortho_fill(shapes[i].batch, shapes[i].rows, shapes[i].cols, shapes[i].gain,
		                       true);
		check_fill(&f, 1e-5);
	}
}

/* Through the API: a float32 and a float64 weight saved with --threads 1, 2
 * and the default give the same file. */
static void save_threads(void **state)
{
	(void)state;
	tb *b = tb_new(13);
	tb_input(b, "x", OI_DTYPE_FLOAT, "1,520");
	tb_input(b, "x2", OI_DTYPE_DOUBLE, "1,300");
	tb_init(b, "W", "520,450", 0.5);
	Onnx__TensorProto *d = tb_tensor(b, "D", OI_DTYPE_DOUBLE, "300,500", 0.5);
	tb_push(b, (void ***)&b->g.initializer, &b->g.n_initializer, d);
	tb_node(b, "MatMul", "x,W", "y");
	tb_node(b, "MatMul", "x2,D", "y2");
	tb_output(b, "y", OI_DTYPE_FLOAT, "1,450");
	tb_output(b, "y2", OI_DTYPE_DOUBLE, "1,500");
	const char *in = tb_write(b, "orth_in.onnx");
	static const unsigned threads[] = { 1, 2, 0 };
	uint8_t *first = NULL;
	size_t first_len = 0;
	for (size_t i = 0; i < sizeof threads / sizeof *threads; i++) {
		oi_model *m;
		assert_int_equal(oi_model_open(&m, in, NULL), 0);
		oi_init_options io = OI_INIT_OPTIONS_INIT;
		io.scheme = "orthogonal";
		assert_int_equal(oi_model_plan(m, &io), 0);
		oi_save_options so = OI_SAVE_OPTIONS_INIT;
		so.threads = threads[i];
		assert_int_equal(oi_model_save(m, t_path("orth_out.onnx"), &so), 0);
		oi_model_free(m);
		size_t len;
		uint8_t *out = t_slurp(t_path("orth_out.onnx"), &len);
		if (!first) {
			first = out;
			first_len = len;
			continue;
		}
		if (len != first_len || memcmp(out, first, len) != 0)
			fail_msg("--threads %u gives another file than --threads 1", threads[i]);
		free(out);
	}
	free(first);
	tb_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(float64_qr),
		cmocka_unit_test(float32_qr),
		cmocka_unit_test(save_threads),
	};
	return cmocka_run_group_tests(tests, t_setup_dir, t_teardown_dir);
}
