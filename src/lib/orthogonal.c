/* See orthogonal.h.
 *
 * Not ?geqrf/?orgqr with OpenBLAS's own threads: with OpenBLAS 0.3.21 their
 * bytes change with its thread count (so do a product's when cut in other
 * column slices: tests/unit/blas_split.c), and they update the trailing
 * matrix 32 columns at a time. Here each panel of NB columns is factored by ?geqrt3
 * (recursive, level 3) and the columns right of it are updated by the block
 * reflector (?larfb's arithmetic, through ?gemm and ?trmm) in slices of
 * SLICE columns, a task each. Every task calls OpenBLAS with one
 * thread and its result depends only on the slice, which depends only on the
 * matrix's shape: the bytes are the same however many threads share the
 * tasks. Q is formed the same way, applying the panels' reflectors backwards
 * to the identity, in place. */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "blas.h"
#include "orthogonal.h"
#include "simd.h"


enum {
	NB = 128,       /* columns per panel */
	SLICE = 256,    /* columns per update task */
	ROWS = 32,      /* rows per task drawing the matrix or writing it out */
	TILE = 64,      /* columns per tile of those transposing copies */
	MAX_THREADS = 64,
};

/* OpenBLAS's thread count is the process's: one QR at a time sets it to 1
 * and puts back what it found (the header says so). */

/* One matrix being filled. */
typedef struct qr {
	const oi_fill *f;
	uint64_t base;       /* its first value's index in f's stream */
	double *w;           /* out: rows × cols, row-major */
	bool single;         /* float32 QR, else float64 */
	bool tall;           /* rows >= cols: a is W, else Wᵀ */
	int m, n;            /* a is m × n (m >= n), column-major */
	size_t esz;
	void *a;
	void *t;             /* every panel's T: NB × n, panel k's at column k */
	void *v;             /* forming Q: a copy of the panel's reflectors */
	double *sign;        /* R's diagonal's signs */
	/* the update the tasks share */
	char trans;          /* 'T' factoring, 'N' forming Q */
	int k, kb, first;    /* panel k .. k+kb, applied to columns first .. n */
	const void *vp;
	int ldv;
	atomic_bool failed;  /* a task had no memory */
} qr;

static void *at(const qr *q, const void *base, size_t i)
{
	return (char *)base + i * q->esz;
}

static double get(const qr *q, size_t i)
{
	return q->single ? ((const float *)q->a)[i] : ((const double *)q->a)[i];
}

static void put(const qr *q, size_t i, double v)
{
	if (q->single)
		((float *)q->a)[i] = (float)v;
	else
		((double *)q->a)[i] = v;
}

/* ---- tasks on threads --------------------------------------------------- */

typedef void (*task_fn)(qr *q, size_t task);

typedef struct par {
	task_fn fn;
	qr *q;
	size_t n;
	atomic_size_t next;
} par;

static void *par_worker(void *p)
{
	par *j = p;
	for (size_t i; (i = atomic_fetch_add(&j->next, 1)) < j->n;)
		j->fn(j->q, i);
	return NULL;
}

/* Tasks 0 .. n-1 on up to `threads` threads, the caller's among them: which
 * thread runs a task never shows in its result. */
static void par_for(unsigned threads, size_t n, task_fn fn, qr *q)
{
	par j = { .fn = fn, .q = q, .n = n };
	atomic_init(&j.next, 0);
	pthread_t tid[MAX_THREADS];
	bool started[MAX_THREADS] = { false };
	size_t k = threads < MAX_THREADS ? threads : MAX_THREADS;
	if (k > n)
		k = n;
	for (size_t i = 1; i < k; i++)
		started[i] = pthread_create(&tid[i], NULL, par_worker, &j) == 0;
	par_worker(&j);
	for (size_t i = 1; i < k; i++)
		if (started[i])
			pthread_join(tid[i], NULL);
}

static size_t ceil_div(uint64_t a, uint64_t b)
{
	return (size_t)((a + b - 1) / b);
}

/* ---- the matrix in and out ---------------------------------------------- */

/* Element (r, c) of W in a. */
static size_t w_index(const qr *q, uint64_t r, uint64_t c)
{
	return q->tall ? r + c * (size_t)q->m : c + r * (size_t)q->m;
}

/* Rows ROWS·i .. of W: N(0, 1) into a, in tiles (a is column-major). */
static void draw_task(qr *q, size_t i)
{
	uint64_t rows = q->f->rows, cols = q->f->cols, r0 = (uint64_t)i * ROWS;
	uint64_t r1 = r0 + ROWS < rows ? r0 + ROWS : rows;
	double *buf = malloc((size_t)((r1 - r0) * cols) * sizeof *buf);
	if (!buf) {
		q->failed = true;
		return;
	}
	oi__normal_n(q->f->key, q->base + r0 * cols, (size_t)((r1 - r0) * cols), buf);
	for (uint64_t c0 = 0; c0 < cols; c0 += TILE)
		for (uint64_t r = r0; r < r1; r++)
			for (uint64_t c = c0; c < c0 + TILE && c < cols; c++)
				put(q, w_index(q, r, c), buf[(r - r0) * cols + c]);
	free(buf);
}

/* Rows ROWS·i .. of the result: gain · Q · sign(diag R), transposed back. */
static void write_task(qr *q, size_t i)
{
	uint64_t rows = q->f->rows, cols = q->f->cols, r0 = (uint64_t)i * ROWS;
	uint64_t r1 = r0 + ROWS < rows ? r0 + ROWS : rows;
	double gain = q->f->p[0];
	for (uint64_t c0 = 0; c0 < cols; c0 += TILE)
		for (uint64_t r = r0; r < r1; r++)
			for (uint64_t c = c0; c < c0 + TILE && c < cols; c++)
				q->w[r * cols + c] =
					gain * (get(q, w_index(q, r, c)) * q->sign[q->tall ? c : r]);
}

/* ---- the QR ------------------------------------------------------------- */

/* c (m × n, ldc) = alpha · op(a) · op(b) + c */
static void gemm(const qr *q, char ta, char tb, int m, int n, int k, double alpha, const void *a,
                 int lda, const void *b, int ldb, void *c, int ldc)
{
	if (q->single) {
		float al = (float)alpha, one = 1;
		sgemm_(&ta, &tb, &m, &n, &k, &al, a, &lda, b, &ldb, &one, c, &ldc, 1, 1);
	} else {
		double one = 1;
		dgemm_(&ta, &tb, &m, &n, &k, &alpha, a, &lda, b, &ldb, &one, c, &ldc, 1, 1);
	}
}

/* b (m × n) = op(a) · b, a triangular */
static void trmm(const qr *q, char uplo, char ta, char diag, int m, int n, const void *a,
                 int lda, void *b)
{
	const char side = 'L';
	if (q->single) {
		float one = 1;
		strmm_(&side, &uplo, &ta, &diag, &m, &n, &one, a, &lda, b, &m, 1, 1, 1, 1);
	} else {
		double one = 1;
		dtrmm_(&side, &uplo, &ta, &diag, &m, &n, &one, a, &lda, b, &m, 1, 1, 1, 1);
	}
}

/* Columns first + SLICE·i .. of rows k .. m: C = (I - V T Vᵀ) C, or with
 * Tᵀ while factoring. ?larfb's arithmetic, but with W = Vᵀ C (kb × n) rather
 * than Cᵀ V: its last step, C's top rows minus W, then reads both by
 * columns, where ?larfb's walks C across its rows. */
static void slice_task(qr *q, size_t i)
{
	int c0 = q->first + (int)i * SLICE, n = q->n - c0 < SLICE ? q->n - c0 : SLICE;
	int kb = q->kb, rest = q->m - q->k - kb, ldc = q->m, ldv = q->ldv;
	void *w = malloc((size_t)n * (size_t)kb * q->esz);
	if (!w) {
		q->failed = true;
		return;
	}
	void *c1 = at(q, q->a, (size_t)q->k + (size_t)c0 * (size_t)ldc), *c2 = at(q, c1, (size_t)kb);
	const void *v2 = at(q, q->vp, (size_t)kb), *t = at(q, q->t, (size_t)q->k * NB);
	for (int j = 0; j < n; j++)
		memcpy(at(q, w, (size_t)j * (size_t)kb), at(q, c1, (size_t)j * (size_t)ldc),
		       (size_t)kb * q->esz);
	trmm(q, 'L', 'T', 'U', kb, n, q->vp, ldv, w); /* W = V1ᵀ C1 */
	if (rest > 0)
		gemm(q, 'T', 'N', kb, n, rest, 1, v2, ldv, c2, ldc, w, kb); /* W += V2ᵀ C2 */
	trmm(q, 'U', q->trans == 'T' ? 'T' : 'N', 'N', kb, n, t, NB, w); /* W = op(T) W */
	if (rest > 0)
		gemm(q, 'N', 'N', rest, n, kb, -1, v2, ldv, w, kb, c2, ldc); /* C2 -= V2 W */
	trmm(q, 'L', 'N', 'U', kb, n, q->vp, ldv, w); /* W = V1 W */
	for (int j = 0; j < n; j++) /* C1 -= W */
		for (int r = 0; r < kb; r++) {
			size_t ci = (size_t)r + (size_t)j * (size_t)ldc, wi = (size_t)r + (size_t)j * (size_t)kb;
			if (q->single)
				((float *)c1)[ci] -= ((float *)w)[wi];
			else
				((double *)c1)[ci] -= ((double *)w)[wi];
		}
	free(w);
}

static void apply_panel(qr *q, unsigned threads, char trans, int k, int kb, int first,
                        const void *v, int ldv)
{
	q->trans = trans;
	q->k = k;
	q->kb = kb;
	q->first = first;
	q->vp = v;
	q->ldv = ldv;
	par_for(threads, ceil_div((uint64_t)(q->n - first), SLICE), slice_task, q);
}

/* a = QR: R above the diagonal, the reflectors below, each panel's T in t. */
static int factor(qr *q, unsigned threads)
{
	int m = q->m, ldt = NB;
	for (int k = 0; k < q->n && !q->failed; k += NB) {
		int kb = q->n - k < NB ? q->n - k : NB, rows = m - k, info = 0;
		size_t kk = (size_t)k + (size_t)k * (size_t)m;
		void *panel = at(q, q->a, kk), *t = at(q, q->t, (size_t)k * NB);
		if (q->single)
			sgeqrt3_(&rows, &kb, panel, &m, t, &ldt, &info);
		else
			dgeqrt3_(&rows, &kb, panel, &m, t, &ldt, &info);
		if (info)
			return oi__fail(OI_EINVALID, "orthogonal: LAPACK %cgeqrt3 failed (%d)",
			                q->single ? 's' : 'd', info);
		for (int j = 0; j < kb; j++)
			q->sign[k + j] = get(q, kk + (size_t)j * ((size_t)m + 1)) < 0 ? -1.0 : 1.0;
		apply_panel(q, threads, 'T', k, kb, k + kb, panel, m);
	}
	return 0;
}

/* a = the first n columns of Q (?orgqr's result): from the last panel to the
 * first, its columns set to the identity's, then its reflectors applied to
 * columns k .. n (rows above k are those of the identity already). */
static void form_q(qr *q, unsigned threads)
{
	size_t m = (size_t)q->m;
	for (int k = (q->n - 1) / NB * NB; k >= 0 && !q->failed; k -= NB) {
		int kb = q->n - k < NB ? q->n - k : NB;
		size_t rows = m - (size_t)k;
		for (int j = 0; j < kb; j++) {
			void *col = at(q, q->a, (size_t)(k + j) * m);
			memcpy(at(q, q->v, (size_t)j * rows), at(q, col, (size_t)k), rows * q->esz);
			memset(col, 0, m * q->esz);
			put(q, (size_t)(k + j) * (m + 1), 1.0);
		}
		apply_panel(q, threads, 'N', k, kb, k, q->v, (int)rows);
	}
}

static int qr_run(qr *q, unsigned threads)
{
	if (oi__blas_load())
		return OI_EUNSUPPORTED;
	oi__blas_lock();
	int saved = openblas_get_num_threads();
	/* the tasks are the threads: OpenBLAS runs each call on its caller's */
	openblas_set_num_threads(1);
	int rc = factor(q, threads);
	if (!rc)
		form_q(q, threads);
	openblas_set_num_threads(saved);
	oi__blas_unlock();
	return rc;
}

int oi__orthogonal_matrix(const oi_fill *f, uint64_t base, unsigned threads, double *w)
{
	uint64_t rows = f->rows, cols = f->cols;
	bool tall = rows >= cols;
	uint64_t mm = tall ? rows : cols, nn = tall ? cols : rows;
	if (mm > INT32_MAX || nn > INT32_MAX || mm * nn > (uint64_t)INT32_MAX)
		return oi__fail(OI_ETOOBIG, "orthogonal: a %llu x %llu matrix is too large for LAPACK",
		                (unsigned long long)rows, (unsigned long long)cols);
	if (!mm || !nn)
		return 0;
	if (threads < 1)
		threads = 1;
	qr q = { .f = f, .base = base, .w = w, .single = f->p[1] != 0, .tall = tall, .m = (int)mm,
	         .n = (int)nn };
	q.esz = q.single ? sizeof(float) : sizeof(double);
	atomic_init(&q.failed, false);
	size_t nb = nn < NB ? (size_t)nn : NB;
	q.a = malloc((size_t)(mm * nn) * q.esz);
	q.t = malloc(NB * (size_t)nn * q.esz);
	q.v = malloc((size_t)mm * nb * q.esz);
	q.sign = malloc((size_t)nn * sizeof *q.sign);
	int rc = 0;
	if (q.a && q.t && q.v && q.sign) {
		par_for(threads, ceil_div(rows, ROWS), draw_task, &q);
		if (!q.failed)
			rc = qr_run(&q, threads);
		if (!rc && !q.failed)
			par_for(threads, ceil_div(rows, ROWS), write_task, &q);
	}
	if (!rc && (!q.a || !q.t || !q.v || !q.sign || q.failed))
		rc = oi__fail(OI_ENOMEM, "out of memory for a %llu x %llu orthogonal matrix",
		              (unsigned long long)rows, (unsigned long long)cols);
	free(q.a);
	free(q.t);
	free(q.v);
	free(q.sign);
	return rc;
}
