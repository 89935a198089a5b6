/* Schemes: SPEC text → parameters → a fill for one tensor. Profiles choose
 * a SPEC per role. Every formula is the reference library's (REFERENCE.md). */
#ifndef OI_SCHEMES_H
#define OI_SCHEMES_H

#include "model.h"
#include "rng.h"

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
	OI_FILL_ORTHOGONAL, /* gain p0; materialized */
	OI_FILL_SPARSE      /* sparsity p0, std p1; materialized */
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
} oi_fill;

/* A parsed SPEC: NAME or NAME(key=value,...). */
#define OI_SPEC_MAX_PARAMS 8
typedef struct oi_spec {
	char name[32];
	size_t n;
	char key[OI_SPEC_MAX_PARAMS][32];
	char val[OI_SPEC_MAX_PARAMS][48];
} oi_spec;

/* Parse text; OI_EARG with a message quoting it on error. */
int oi__spec_parse(const char *text, oi_spec *out);
/* Whether a name is a profile (torch, keras, flax, auto). */
bool oi__is_profile(const char *name);
/* Check a SPEC's name and parameters without a tensor (bad values, unknown
 * keys), so that errors come before any work. */
int oi__spec_check(const oi_spec *spec);

/* Resolve a SPEC (a scheme or a profile) for tensor t into a fill.
 * convention: OI_FANS_TORCH/KERAS, for schemes given by the user.
 * Returns OI_EARG if the scheme cannot apply to t (rank, fans), with a
 * message naming the tensor. */
int oi__resolve(const oi_model *m, const oi_tensor *t, const oi_spec *spec, int convention,
                uint64_t seed, oi_fill *out);

/* Element values first .. first+n of an elementwise fill. */
void oi__fill_chunk(const oi_fill *f, uint64_t first, size_t n, double *out);
/* The whole tensor of a materialized fill (orthogonal, sparse). */
int oi__fill_materialize(const oi_fill *f, uint64_t numel, double **out);

#endif
