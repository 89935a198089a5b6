/* See fill.h. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#include "blas.h"
#include "donor/donor.h"
#include "fill.h"
#include "orthogonal.h"
#include "simd.h"
#include "tensor.h"
#include "wire.h"

/* ---- values ------------------------------------------------------------- */

void oi__fill_chunk(const oi_fill *f, uint64_t first, size_t n, double *out)
{
	switch (f->kind) {
	case OI_FILL_CONST:
		for (size_t i = 0; i < n; i++)
			out[i] = f->p[0];
		break;
	case OI_FILL_UNIFORM:
		oi__uniform_n(f->key, first, n, f->p[0], f->p[1] - f->p[0], out);
		break;
	case OI_FILL_NORMAL: {
		double mean = f->p[0], std = f->p[1];
		oi__normal_n(f->key, first, n, out);
		for (size_t i = 0; i < n; i++)
			out[i] = mean + std * out[i];
		break;
	}
	case OI_FILL_TRUNC: {
		double mean = f->p[0], std = f->p[1];
		if (std == 0) {
			for (size_t i = 0; i < n; i++)
				out[i] = mean;
			break;
		}
		double lo = (f->p[2] - mean) / std, hi = (f->p[3] - mean) / std;
		/* oi__trunc_normal's first try, when the interval holds 0 and is
		 * wide, is the element's normal: take it from the batch */
		bool batch = lo <= 0 && hi >= 0 && hi - lo >= 1.0;
		if (batch)
			oi__normal_n(f->key, first, n, out);
		for (size_t i = 0; i < n; i++) {
			double z;
			if (!batch)
				z = oi__trunc_normal(f->key, first + i, lo, hi);
			else if (out[i] >= lo && out[i] <= hi)
				z = out[i];
			else
				z = oi__trunc_normal_wide(f->key, first + i, lo, hi, 1);
			double v = mean + std * z;
			/* rounding may step a hair past a bound */
			out[i] = v < f->p[2] ? f->p[2] : v > f->p[3] ? f->p[3] : v;
		}
		break;
	}
	case OI_FILL_EYE:
		for (size_t i = 0; i < n; i++) {
			uint64_t e = (first + i) % (f->rows * f->cols);
			out[i] = e / f->cols == e % f->cols ? 1.0 : 0.0;
		}
		break;
	case OI_FILL_DIRAC: {
		/* W (O, I, k...): W[g·(O/g)+d, d, centre] = 1 for d < min(O/g, I) */
		uint64_t out_ch = f->rows, per = f->cols; /* per = I · ∏k */
		uint64_t groups = (uint64_t)f->p[0], og = out_ch / groups;
		uint64_t in_ch = f->p[1] > 0 ? (uint64_t)f->p[1] : 1, k = per / in_ch;
		uint64_t centre = (uint64_t)f->p[2];
		for (size_t i = 0; i < n; i++) {
			uint64_t e = first + i, o = e / per, rest = e % per, c = rest / k, pos = rest % k;
			uint64_t d = o % og;
			out[i] = (d == c && d < in_ch && pos == centre) ? 1.0 : 0.0;
		}
		break;
	}
	case OI_FILL_FORGET: {
		/* B (D, 8H) = [Wb: i, o, f, c | Rb]: the f block of Wb */
		uint64_t width = f->cols, h = width / 8;
		for (size_t i = 0; i < n; i++) {
			uint64_t col = (first + i) % width;
			out[i] = col >= 2 * h && col < 3 * h ? 1.0 : 0.0;
		}
		break;
	}
	case OI_FILL_GIVEN:
		memcpy(out, f->given + first, n * sizeof *out);
		break;
	case OI_FILL_DONOR:
		oi__donor_values(f->src, first, n, out);
		break;
	default:
		for (size_t i = 0; i < n; i++)
			out[i] = 0;
	}
}

/* ---- whole-tensor fills ------------------------------------------------- */

/* torch.nn.init.sparse_: N(0, std), then in each column ⌈sparsity·rows⌉
 * distinct rows, chosen by a partial Fisher–Yates shuffle on stream 1. */
static int sparse_matrix(const oi_fill *f, uint64_t base, uint64_t mat, double *w)
{
	uint64_t rows = f->rows, cols = f->cols;
	uint64_t zeros = (uint64_t)ceil(f->p[0] * (double)rows);
	uint64_t *perm = malloc((rows ? rows : 1) * sizeof *perm);
	if (!perm)
		return oi__fail(OI_ENOMEM, "out of memory");
	oi__normal_n(f->key, base, (size_t)(rows * cols), w);
	for (uint64_t e = 0; e < rows * cols; e++)
		w[e] = f->p[1] * w[e];
	for (uint64_t c = 0; c < cols; c++) {
		for (uint64_t r = 0; r < rows; r++)
			perm[r] = r;
		for (uint64_t j = 0; j < zeros; j++) {
			uint32_t word[4];
			oi__rng_block(f->key, mat * cols + c, (uint32_t)j, 1, word);
			uint64_t pick = j + (uint64_t)(oi__u01(word[0], word[1]) * (double)(rows - j));
			if (pick >= rows)
				pick = rows - 1;
			uint64_t tmp = perm[j];
			perm[j] = perm[pick];
			perm[pick] = tmp;
			w[perm[j] * cols + c] = 0.0;
		}
	}
	free(perm);
	return 0;
}

int oi__fill_materialize(const oi_fill *f, uint64_t numel, double **out)
{
	return oi__fill_materialize_on(f, numel, 1, out);
}

int oi__fill_materialize_on(const oi_fill *f, uint64_t numel, unsigned threads, double **out)
{
	*out = NULL;
	if (numel > SIZE_MAX / sizeof(double))
		return oi__fail(OI_ETOOBIG, "tensor too large to hold in memory");
	/* zeroed: a Constant's sparse_value has fewer values than its dense
	 * shape's matrices hold, and what they leave must not be garbage */
	double *w = calloc(numel ? numel : 1, sizeof *w);
	if (!w)
		return oi__fail(OI_ENOMEM, "out of memory for a %llu-element tensor",
		                (unsigned long long)numel);
	uint64_t per = f->rows * f->cols;
	int rc = 0;
	for (uint64_t b = 0; b < f->batch && !rc; b++) {
		if (f->kind == OI_FILL_ORTHOGONAL)
			rc = oi__orthogonal_matrix(f, b * per, threads, w + b * per);
		else
			rc = sparse_matrix(f, b * per, b, w + b * per);
	}
	if (rc) {
		free(w);
		return rc;
	}
	*out = w;
	return 0;
}

#define FILL_CHUNK (1u << 20)

/* ---- threads ------------------------------------------------------------ */

unsigned oi__fill_threads(unsigned requested)
{
	if (requested)
		return requested;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)(n > 64 ? 64 : n) : 1;
}

/* One worker's share of a chunk: values, then raw bytes if wanted. */
typedef struct gen_job {
	const oi_tensor *t;
	const double *mat;   /* a materialized tensor, or NULL */
	uint64_t first;
	size_t n;
	double *vals;
	uint8_t *bytes;      /* NULL: values only */
} gen_job;

static void run_job(const gen_job *j)
{
	/* a donor's bytes of the same dtype go through untouched */
	if (j->bytes && j->t->fill->kind == OI_FILL_DONOR &&
	    oi__donor_bytes(j->t->fill->src, j->t->info.dtype, j->first, j->n, j->bytes))
		return;
	if (j->mat)
		memcpy(j->vals, j->mat + j->first, j->n * sizeof *j->vals);
	else
		oi__fill_chunk(j->t->fill, j->first, j->n, j->vals);
	if (j->bytes)
		oi__encode_raw(j->t->info.dtype, j->vals, j->n, j->bytes);
}

static void *job_thread(void *p)
{
	run_job(p);
	return NULL;
}

enum { MAX_THREADS = 64, MIN_SHARE = 16384 };

/* One chunk being generated, split in shares among threads. */
typedef struct gen_batch {
	gen_job jobs[MAX_THREADS];
	pthread_t tid[MAX_THREADS];
	bool started[MAX_THREADS];
	unsigned k;
} gen_batch;

/* Elements first .. first+n of t into vals (and bytes), on up to `threads`
 * threads, the caller taking the first share if `caller_helps`. Each
 * element's value depends only on its index, so how the work is split never
 * shows in the result. */
static void gen_begin(gen_batch *g, const oi_tensor *t, const double *mat, unsigned threads,
                      uint64_t first, size_t n, double *vals, uint8_t *bytes, bool caller_helps)
{
	size_t esz = oi__float_size(t->info.dtype);
	unsigned k = threads < MAX_THREADS ? threads : MAX_THREADS;
	if (k > n / MIN_SHARE)
		k = (unsigned)(n / MIN_SHARE);
	if (k < 1)
		k = 1;
	g->k = k;
	size_t per = (n + k - 1) / k;
	for (unsigned i = 0; i < k; i++) {
		size_t lo = (size_t)i * per, hi = lo + per < n ? lo + per : n;
		g->jobs[i] = (gen_job){ t, mat, first + lo, hi > lo ? hi - lo : 0, vals + lo,
		                        bytes ? bytes + lo * esz : NULL };
		g->started[i] = false;
	}
	for (unsigned i = caller_helps ? 1 : 0; i < k; i++)
		g->started[i] = pthread_create(&g->tid[i], NULL, job_thread, &g->jobs[i]) == 0;
	if (caller_helps) {
		run_job(&g->jobs[0]);
		g->jobs[0].n = 0; /* done: gen_end neither joins nor runs it */
	}
}

static void gen_end(gen_batch *g)
{
	for (unsigned i = 0; i < g->k; i++) {
		if (g->started[i])
			pthread_join(g->tid[i], NULL);
		else if (g->jobs[i].n)
			run_job(&g->jobs[i]); /* no thread to be had: do it here */
	}
}

static int generate(const oi_tensor *t, const double *mat, unsigned threads, uint64_t first,
                    size_t n, double *vals, uint8_t *bytes)
{
	gen_batch g;
	gen_begin(&g, t, mat, threads, first, n, vals, bytes, true);
	gen_end(&g);
	return 0;
}

static bool materialized(const oi_tensor *t)
{
	return t->fill->kind == OI_FILL_ORTHOGONAL || t->fill->kind == OI_FILL_SPARSE;
}

/* ---- writers ------------------------------------------------------------ */

/* Writes a float tensor's new values as raw little-endian bytes: chunk k+1
 * is generated while chunk k is written. */
int oi__fill_produce_raw(const oi_edit *e, oi_sink *sink)
{
	const oi_fill_ctx *c = e->ud;
	const oi_tensor *t = c->t;
	uint64_t numel = t->info.numel;
	size_t esz = oi__float_size(t->info.dtype);
	const uint8_t *dmap;
	const char *dfile;
	int dfd;
	uint64_t doff;
	if (t->fill->kind == OI_FILL_DONOR &&
	    oi__donor_file_range(t->fill->src, t->info.dtype, &dmap, &dfd, &doff, &dfile)) {
		/* a donor's bytes of the same dtype straight from its file, copied
		 * in the kernel: they never pass through this process */
		const char *sp = sink->src_path, *sl = sink->src_loc;
		sink->src_path = dfile; /* what a shrinking source is called */
		sink->src_loc = NULL;
		int rc = oi__sink_copy(sink, dmap, dfd, doff, numel * esz);
		sink->src_path = sp;
		sink->src_loc = sl;
		return rc;
	}
	/* in chunks in memory too: a whole tensor in float64 would cost 12
	 * bytes a value and the overlap of generating with writing */
	size_t chunk = numel < FILL_CHUNK ? (size_t)numel : FILL_CHUNK;
	double *mat = NULL;
	int rc = materialized(t) ? oi__fill_materialize_on(t->fill, numel, c->threads, &mat) : 0;
	bool two = numel > chunk;
	double *vals[2] = { NULL, NULL };
	uint8_t *bytes[2] = { NULL, NULL };
	for (int b = 0; b < (two ? 2 : 1) && !rc; b++) {
		vals[b] = malloc((chunk ? chunk : 1) * sizeof *vals[b]);
		bytes[b] = malloc((chunk ? chunk : 1) * esz);
		if (!vals[b] || !bytes[b])
			rc = oi__fail(OI_ENOMEM, "out of memory");
	}
	unsigned threads = c->threads;
	if (!rc && numel)
		rc = generate(t, mat, threads, 0, (size_t)(numel < chunk ? numel : chunk), vals[0],
		              bytes[0]);
	int cur = 0;
	for (uint64_t i = 0; i < numel && !rc; i += chunk) {
		size_t n = (size_t)(numel - i < chunk ? numel - i : chunk);
		gen_batch next;
		bool ahead = i + chunk < numel;
		if (ahead) {
			uint64_t j = i + chunk;
			size_t m = (size_t)(numel - j < chunk ? numel - j : chunk);
			gen_begin(&next, t, mat, threads, j, m, vals[1 - cur], bytes[1 - cur], false);
		}
		rc = oi__sink_write(sink, bytes[cur], n * esz);
		if (t->fill->kind == OI_FILL_DONOR)
			oi__donor_release(t->fill->src, i, n);
		if (ahead)
			gen_end(&next);
		cur = 1 - cur;
	}
	free(mat);
	for (int b = 0; b < 2; b++) {
		free(vals[b]);
		free(bytes[b]);
	}
	return rc;
}

/* The whole replacement field of a typed tensor: one packed field. */
int oi__fill_encode_typed(const oi_fill_ctx *c, oi_buf *out)
{
	const oi_tensor *t = c->t;
	uint64_t n = t->info.numel;
	oi_buf body = { 0 };
	double *mat = NULL;
	int rc = materialized(t) ? oi__fill_materialize_on(t->fill, n, c->threads, &mat) : 0;
	size_t chunk = n < FILL_CHUNK ? (size_t)n : FILL_CHUNK;
	double *vals = rc ? NULL : malloc((chunk ? chunk : 1) * sizeof *vals);
	if (!rc && !vals)
		rc = oi__fail(OI_ENOMEM, "out of memory");
	for (uint64_t i = 0; i < n && !rc; i += chunk) {
		size_t k = (size_t)(n - i < chunk ? n - i : chunk);
		rc = generate(t, mat, c->threads, i, k, vals, NULL);
		if (!rc)
			rc = oi__buf_reserve(&body, k * 10);
		for (size_t j = 0; j < k && !rc; j++) {
			uint8_t *p = body.data + body.len;
			switch (t->info.dtype) {
			case OI_DTYPE_FLOAT: {
				float f = (float)vals[j];
				memcpy(p, &f, 4);
				body.len += 4;
				break;
			}
			case OI_DTYPE_DOUBLE:
				memcpy(p, &vals[j], 8);
				body.len += 8;
				break;
			case OI_DTYPE_FLOAT16:
				body.len += oi__varint_put(p, oi__f64_to_f16(vals[j]));
				break;
			case OI_DTYPE_BFLOAT16:
				body.len += oi__varint_put(p, oi__f64_to_bf16(vals[j]));
				break;
			}
		}
	}
	free(vals);
	free(mat);
	if (!rc) {
		uint8_t head[20];
		size_t h = oi__varint_put(head, ((uint64_t)t->typed_field << 3) | OI_WIRE_LEN);
		h += oi__varint_put(head + h, body.len);
		rc = oi__buf_append(out, head, h);
		if (!rc)
			rc = oi__buf_append(out, body.data, body.len);
	}
	oi__buf_free(&body);
	return rc;
}

