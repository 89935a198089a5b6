/* OpenBLAS, loaded on first use (blas.c says why). The library calls the
 * usual cblas_* / LAPACK / openblas_* functions; before the first of them
 * in a code path, it calls oi__blas_load(). */
#ifndef OI_BLAS_H
#define OI_BLAS_H

/* 0 once OpenBLAS is loaded (the first call loads it); else fails with
 * OI_EUNSUPPORTED and a message. Thread-safe. */
int oi__blas_load(void);

/* LAPACK, as OpenBLAS provides it (Fortran calling convention) */
void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau, double *work,
             const int *lwork, int *info);
void dorgqr_(const int *m, const int *n, const int *k, double *a, const int *lda,
             const double *tau, double *work, const int *lwork, int *info);

#endif
