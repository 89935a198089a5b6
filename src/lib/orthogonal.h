/* The orthogonal fill (torch.nn.init.orthogonal_): a blocked Householder QR
 * of a normal matrix, on worker threads, with bytes that do not depend on
 * their number. */
#ifndef OI_ORTHOGONAL_H
#define OI_ORTHOGONAL_H

#include "fill.h"

/* One rows × cols matrix of f (values base .. base + rows·cols of its
 * stream) into w, row-major, on up to `threads` threads. The QR runs in
 * float32 when f->p[1] is not 0, else in float64. */
int oi__orthogonal_matrix(const oi_fill *f, uint64_t base, unsigned threads, double *w);

#endif
