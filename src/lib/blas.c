/* OpenBLAS, loaded on first use rather than linked: its library starts a
 * thread pool when it is loaded (and its loading alone costs more than the
 * rest of a small run's start-up), which a run that never multiplies a
 * matrix — inspect, most inits, a donor copy — should not pay for. The
 * functions the library calls are defined here under OpenBLAS's own names
 * (their prototypes come from its header, so they cannot drift) and forward
 * to the real ones, found with dlsym once the library is loaded.
 *
 * Code that is about to use BLAS calls oi__blas_load() first, which fails
 * with a message if OpenBLAS cannot be had; the forwarders themselves cannot
 * report anything, and are only reached after that check. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <cblas.h>

#include "blas.h"
#include "internal.h"

/* The real functions: a pointer of each one's own type. */
static struct {
	__typeof__(&cblas_sgemm) cblas_sgemm;
	__typeof__(&sgeqrt3_) sgeqrt3;
	__typeof__(&dgeqrt3_) dgeqrt3;
	__typeof__(&sgemm_) sgemm;
	__typeof__(&dgemm_) dgemm;
	__typeof__(&strmm_) strmm;
	__typeof__(&dtrmm_) dtrmm;
	__typeof__(&openblas_set_num_threads) set_threads;
	__typeof__(&openblas_get_num_threads) get_threads;
} fn;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static _Atomic bool loaded; /* read without the once by the forwarders */
static char why[256]; /* if not */

/* dlsym's object pointer into a function pointer, as POSIX allows. */
static bool find(void *lib, const char *name, void *slot)
{
	void *p = dlsym(lib, name);
	if (!p) {
		snprintf(why, sizeof why, "it has no %s", name);
		return false;
	}
	memcpy(slot, &p, sizeof p);
	return true;
}

static void load(void)
{
	static const char *const names[] = { "libopenblas.so.0", "libopenblas.so" };
	void *lib = NULL;
	for (size_t i = 0; !lib && i < sizeof names / sizeof *names; i++)
		lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		const char *e = dlerror();
		snprintf(why, sizeof why, "%s", e ? e : "not found");
		return;
	}
	if (find(lib, "cblas_sgemm", &fn.cblas_sgemm) && find(lib, "sgeqrt3_", &fn.sgeqrt3) &&
	    find(lib, "dgeqrt3_", &fn.dgeqrt3) && find(lib, "sgemm_", &fn.sgemm) &&
	    find(lib, "dgemm_", &fn.dgemm) && find(lib, "strmm_", &fn.strmm) &&
	    find(lib, "dtrmm_", &fn.dtrmm) &&
	    find(lib, "openblas_set_num_threads", &fn.set_threads) &&
	    find(lib, "openblas_get_num_threads", &fn.get_threads))
		loaded = true;
}

int oi__blas_load(void)
{
	pthread_once(&once, load);
	if (!loaded)
		return oi__fail(OI_EUNSUPPORTED, "OpenBLAS (libopenblas.so.0) cannot be loaded: %s", why);
	return 0;
}

/* OpenBLAS's thread count is the process's: whoever changes it holds this
 * one lock while it is changed (recursive: the evaluator, which holds it,
 * builds orthogonal matrices, which take it too). */
static pthread_mutex_t count_lock;
static pthread_once_t count_once = PTHREAD_ONCE_INIT;

static void count_init(void)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&count_lock, &a);
	pthread_mutexattr_destroy(&a);
}

void oi__blas_lock(void)
{
	pthread_once(&count_once, count_init);
	pthread_mutex_lock(&count_lock);
}

void oi__blas_unlock(void)
{
	pthread_mutex_unlock(&count_lock);
}

/* ---- the forwarders ------------------------------------------------------ */

/* Loaded (loading it if need be): code that skipped oi__blas_load still
 * works where OpenBLAS is there. */
static bool ready(void)
{
	if (!loaded)
		pthread_once(&once, load);
	return loaded;
}

void cblas_sgemm(OPENBLAS_CONST enum CBLAS_ORDER Order, OPENBLAS_CONST enum CBLAS_TRANSPOSE TransA,
                 OPENBLAS_CONST enum CBLAS_TRANSPOSE TransB, OPENBLAS_CONST blasint M,
                 OPENBLAS_CONST blasint N, OPENBLAS_CONST blasint K, OPENBLAS_CONST float alpha,
                 OPENBLAS_CONST float *A, OPENBLAS_CONST blasint lda, OPENBLAS_CONST float *B,
                 OPENBLAS_CONST blasint ldb, OPENBLAS_CONST float beta, float *C,
                 OPENBLAS_CONST blasint ldc)
{
	if (ready())
		fn.cblas_sgemm(Order, TransA, TransB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void openblas_set_num_threads(int num_threads)
{
	if (ready())
		fn.set_threads(num_threads);
}

int openblas_get_num_threads(void)
{
	return ready() ? fn.get_threads() : 1;
}

void sgeqrt3_(const int *m, const int *n, float *a, const int *lda, float *t, const int *ldt,
              int *info)
{
	if (ready())
		fn.sgeqrt3(m, n, a, lda, t, ldt, info);
}

void dgeqrt3_(const int *m, const int *n, double *a, const int *lda, double *t, const int *ldt,
              int *info)
{
	if (ready())
		fn.dgeqrt3(m, n, a, lda, t, ldt, info);
}

void sgemm_(const char *ta, const char *tb, const int *m, const int *n, const int *k,
            const float *alpha, const float *a, const int *lda, const float *b, const int *ldb,
            const float *beta, float *c, const int *ldc, size_t la, size_t lb)
{
	if (ready())
		fn.sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, la, lb);
}

void dgemm_(const char *ta, const char *tb, const int *m, const int *n, const int *k,
            const double *alpha, const double *a, const int *lda, const double *b,
            const int *ldb, const double *beta, double *c, const int *ldc, size_t la, size_t lb)
{
	if (ready())
		fn.dgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, la, lb);
}

void strmm_(const char *side, const char *uplo, const char *ta, const char *diag, const int *m,
            const int *n, const float *alpha, const float *a, const int *lda, float *b,
            const int *ldb, size_t l1, size_t l2, size_t l3, size_t l4)
{
	if (ready())
		fn.strmm(side, uplo, ta, diag, m, n, alpha, a, lda, b, ldb, l1, l2, l3, l4);
}

void dtrmm_(const char *side, const char *uplo, const char *ta, const char *diag, const int *m,
            const int *n, const double *alpha, const double *a, const int *lda, double *b,
            const int *ldb, size_t l1, size_t l2, size_t l3, size_t l4)
{
	if (ready())
		fn.dtrmm(side, uplo, ta, diag, m, n, alpha, a, lda, b, ldb, l1, l2, l3, l4);
}
