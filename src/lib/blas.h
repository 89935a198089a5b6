/* OpenBLAS, loaded on first use (blas.c says why). The library calls the
 * usual cblas_* / LAPACK / openblas_* functions; before the first of them
 * in a code path, it calls oi__blas_load(). */
#ifndef OI_BLAS_H
#define OI_BLAS_H

#include <stddef.h>

/* 0 once OpenBLAS is loaded (the first call loads it); else fails with
 * OI_EUNSUPPORTED and a message. Thread-safe. */
int oi__blas_load(void);

/* Held by whoever sets OpenBLAS's (process-wide) thread count, from the
 * change until it is put back; recursive. */
void oi__blas_lock(void);
void oi__blas_unlock(void);

/* BLAS and LAPACK as OpenBLAS provides them: Fortran, the lengths of the
 * character arguments passed last (the cblas_* and openblas_* ones come
 * from <cblas.h>) */
void sgeqrt3_(const int *m, const int *n, float *a, const int *lda, float *t, const int *ldt,
              int *info);
void dgeqrt3_(const int *m, const int *n, double *a, const int *lda, double *t, const int *ldt,
              int *info);
void sgemm_(const char *ta, const char *tb, const int *m, const int *n, const int *k,
            const float *alpha, const float *a, const int *lda, const float *b, const int *ldb,
            const float *beta, float *c, const int *ldc, size_t, size_t);
void dgemm_(const char *ta, const char *tb, const int *m, const int *n, const int *k,
            const double *alpha, const double *a, const int *lda, const double *b,
            const int *ldb, const double *beta, double *c, const int *ldc, size_t, size_t);
void strmm_(const char *side, const char *uplo, const char *ta, const char *diag, const int *m,
            const int *n, const float *alpha, const float *a, const int *lda, float *b,
            const int *ldb, size_t, size_t, size_t, size_t);
void dtrmm_(const char *side, const char *uplo, const char *ta, const char *diag, const int *m,
            const int *n, const double *alpha, const double *a, const int *lda, double *b,
            const int *ldb, size_t, size_t, size_t, size_t);

#endif
