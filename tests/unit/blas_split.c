/* Not a test: what OpenBLAS does to a product's bytes when the work is cut
 * differently, the question behind the orthogonal fill's fixed slices.
 *
 *   build/tests/unit/blas_split
 *
 * For the shapes of the fill's block-reflector update (C2 -= V2·W, W += V2ᵀ·C2,
 * W = V1ᵀ·W), one sgemm/strmm call on one OpenBLAS thread against the same
 * product cut in column slices of several widths, and against one call on 2
 * and 4 OpenBLAS threads. Prints "same" or "DIFFERENT" per case. With
 * OpenBLAS 0.3.21 (Cooperlake kernels) slices of 64 columns or more give the
 * same bytes, 1 or 7 do not, and the Vᵀ·C product (128 rows, a long inner
 * dimension) differs on 2 threads: the result depends on how the work is cut,
 * so the fill cuts it in a way that depends on the shape alone. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void sgemm_(const char *ta, const char *tb, const int *m, const int *n, const int *k,
                   const float *alpha, const float *a, const int *lda, const float *b,
                   const int *ldb, const float *beta, float *c, const int *ldc, size_t, size_t);
extern void strmm_(const char *side, const char *uplo, const char *ta, const char *diag,
                   const int *m, const int *n, const float *alpha, const float *a, const int *lda,
                   float *b, const int *ldb, size_t, size_t, size_t, size_t);
extern void openblas_set_num_threads(int n);

static unsigned long long state = 88172645463325252ull;

static float rnd(void)
{
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return (float)((double)(state >> 11) / 9007199254740992.0 * 2 - 1);
}

static float *rnd_array(size_t n)
{
	float *p = malloc((n ? n : 1) * sizeof *p);
	if (!p)
		exit(1);
	for (size_t i = 0; i < n; i++)
		p[i] = rnd();
	return p;
}

/* c += op(a)·b (or b = op(a)·b for trmm, a k × k unit lower), columns j .. j+n */
static void product(char ta, bool trmm, int m, int n, int k, const float *a, const float *b,
                    float *c)
{
	float one = 1;
	int lda = ta == 'T' ? k : m;
	if (trmm)
		strmm_("L", "L", &ta, "U", &m, &n, &one, a, &m, c, &m, 1, 1, 1, 1);
	else
		sgemm_(&ta, "N", &m, &n, &k, &one, a, &lda, b, &k, &one, c, &m, 1, 1);
}

static void compare(char ta, bool trmm, int m, int n, int k)
{
	float *a = rnd_array((size_t)m * (size_t)(trmm ? m : k)), *b = rnd_array((size_t)k * n);
	float *c0 = rnd_array((size_t)m * n), *ref = malloc((size_t)m * n * sizeof *ref);
	float *c = malloc((size_t)m * n * sizeof *c);
	if (!ref || !c)
		exit(1);
	size_t bytes = (size_t)m * n * sizeof *c;
	memcpy(ref, c0, bytes);
	openblas_set_num_threads(1);
	product(ta, trmm, m, n, k, a, b, ref);
	printf("%s %c, m %d, n %d, k %d:", trmm ? "strmm" : "sgemm", ta, m, n, trmm ? m : k);
	static const int widths[] = { 1, 7, 64, 100, 256 };
	for (size_t w = 0; w < sizeof widths / sizeof *widths; w++) {
		memcpy(c, c0, bytes);
		for (int j = 0; j < n; j += widths[w]) {
			int nn = n - j < widths[w] ? n - j : widths[w];
			product(ta, trmm, m, nn, k, a, b + (size_t)j * k, c + (size_t)j * m);
		}
		printf(" slices of %d %s,", widths[w], memcmp(c, ref, bytes) ? "DIFFERENT" : "same");
	}
	for (int th = 2; th <= 4; th += 2) {
		memcpy(c, c0, bytes);
		openblas_set_num_threads(th);
		product(ta, trmm, m, n, k, a, b, c);
		printf(" %d threads %s%s", th, memcmp(c, ref, bytes) ? "DIFFERENT" : "same",
		       th == 4 ? "\n" : ",");
	}
	openblas_set_num_threads(1);
	free(a);
	free(b);
	free(c0);
	free(ref);
	free(c);
}

int main(void)
{
	compare('N', false, 1000, 600, 128); /* C2 -= V2·W */
	compare('T', false, 128, 600, 1000); /* W += V2ᵀ·C2 */
	compare('T', true, 128, 600, 0);     /* W = V1ᵀ·W */
	return 0;
}
