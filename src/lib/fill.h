/* Fill: the new values of a planned tensor, generated element by element
 * (or whole, for orthogonal and sparse) from its fill, on worker threads,
 * straight into the bytes the save writes. */
#ifndef OI_FILL_H
#define OI_FILL_H

#include "model.h"
#include "rng.h"
#include "splice.h"

/* What fills a tensor's values. */
enum {
	OI_FILL_KEEP = 0,
	OI_FILL_CONST,      /* p0 */
	OI_FILL_UNIFORM,    /* [p0, p1) */
	OI_FILL_NORMAL,     /* mean p0, std p1 */
	OI_FILL_TRUNC,      /* mean p0, std p1, cut at absolute p2, p3 */
	OI_FILL_EYE,        /* identity per matrix */
	OI_FILL_DIRAC,      /* groups p0 */
	OI_FILL_FORGET,     /* LSTM B: 1 on the forget gate of Wb, else 0 */
	OI_FILL_ORTHOGONAL, /* gain p0; QR in float32 if p1 != 0; materialized */
	OI_FILL_SPARSE,     /* sparsity p0, std p1; materialized */
	OI_FILL_GIVEN,      /* the values in given (a pass computed them) */
	OI_FILL_DONOR       /* a donor's values through a transform (src) */
};

typedef struct oi_fill {
	int kind;
	double p[4];
	/* the tensor seen as batch × rows × cols matrices (RNN weights are one
	 * matrix per direction; others as torch flattens them) */
	uint64_t batch, rows, cols;
	oi_key key;
	double std, bound;   /* what the values get; NaN where unbounded/unknown */
	char desc[160];      /* the scheme with every parameter, e.g. "uniform(low=-0.1,high=0.1)" */
	/* OI_FILL_GIVEN: every element's value, encoded to the tensor's dtype by
	 * the save like any fill's; owned by the model's pool */
	const double *given;
	const struct oi_donor_src *src; /* OI_FILL_DONOR (donor/donor.h; in the model's pool) */
} oi_fill;

/* Element values first .. first+n of an elementwise fill. */
void oi__fill_chunk(const oi_fill *f, uint64_t first, size_t n, double *out);
/* The whole tensor of a materialized fill (orthogonal, sparse), on one
 * thread or on up to `threads`: the values are the same. */
int oi__fill_materialize(const oi_fill *f, uint64_t numel, double **out);
int oi__fill_materialize_on(const oi_fill *f, uint64_t numel, unsigned threads, double **out);

/* One tensor to write: the ud of the save's edits that produce its values. */
typedef struct oi_fill_ctx {
	const oi_tensor *t;  /* planned: t->fill is set */
	unsigned threads;    /* worker threads, 1 or more */
} oi_fill_ctx;

/* An oi_produce_fn: the new values of e->ud (an oi_fill_ctx) as raw
 * little-endian bytes, the next chunk generated while one is written. */
int oi__fill_produce_raw(const oi_edit *e, oi_sink *sink);
/* The new values of a typed tensor as one packed field of its typed field. */
int oi__fill_encode_typed(const oi_fill_ctx *c, oi_buf *out);
/* The worker threads for a requested count (0: the cores, at most 64). */
unsigned oi__fill_threads(unsigned requested);

#endif
