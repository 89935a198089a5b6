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

typedef void (*sgemm_fn)(const enum CBLAS_ORDER, const enum CBLAS_TRANSPOSE,
                         const enum CBLAS_TRANSPOSE, const blasint, const blasint, const blasint,
                         const float, const float *, const blasint, const float *, const blasint,
                         const float, float *, const blasint);
typedef void (*lapack_qrf_fn)(const int *, const int *, double *, const int *, double *,
                              double *, const int *, int *);
typedef void (*lapack_orgqr_fn)(const int *, const int *, const int *, double *, const int *,
                                const double *, double *, const int *, int *);
typedef void (*set_threads_fn)(int);
typedef int (*get_threads_fn)(void);

static struct {
	sgemm_fn sgemm;
	lapack_qrf_fn dgeqrf;
	lapack_orgqr_fn dorgqr;
	set_threads_fn set_threads;
	get_threads_fn get_threads;
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
	if (find(lib, "cblas_sgemm", &fn.sgemm) && find(lib, "dgeqrf_", &fn.dgeqrf) &&
	    find(lib, "dorgqr_", &fn.dorgqr) && find(lib, "openblas_set_num_threads", &fn.set_threads) &&
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
		fn.sgemm(Order, TransA, TransB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
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

void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau, double *work,
             const int *lwork, int *info)
{
	if (ready())
		fn.dgeqrf(m, n, a, lda, tau, work, lwork, info);
}

void dorgqr_(const int *m, const int *n, const int *k, double *a, const int *lda,
             const double *tau, double *work, const int *lwork, int *info)
{
	if (ready())
		fn.dorgqr(m, n, k, a, lda, tau, work, lwork, info);
}
