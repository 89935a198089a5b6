/* Schemes: SPEC text → parameters → a fill for one tensor. Each scheme is a
 * row of the table in schemes.c; each formula is that of the library the
 * scheme is named after (torch.nn.init, Keras, Flax). */
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
/* Check a SPEC (a scheme or a profile) without a tensor: its name, unknown
 * keys, bad values; so that errors come before any work. */
int oi__spec_check(const oi_spec *spec);

/* Resolve a scheme's SPEC (not a profile's: plan.c turns those into a
 * scheme's) for tensor t into a fill, with the fans of convention
 * (OI_FANS_TORCH/KERAS). OI_EARG if the scheme cannot apply to t (rank,
 * fans), with a message naming the tensor. */
int oi__resolve_scheme(const oi_tensor *t, const oi_spec *spec, int convention, uint64_t seed,
                       oi_fill *out);

/* The scheme table, for listing: names 0 .. count-1. */
size_t oi__scheme_count(void);
const char *oi__scheme_name(size_t i);

/* The profiles (plan.c): whether a name is one, and their names in table
 * order (NULL past the last). */
bool oi__is_profile(const char *name);
const char *oi__profile_name(size_t i);

/* Element values first .. first+n of an elementwise fill. */
void oi__fill_chunk(const oi_fill *f, uint64_t first, size_t n, double *out);
/* The whole tensor of a materialized fill (orthogonal, sparse). */
int oi__fill_materialize(const oi_fill *f, uint64_t numel, double **out);

#endif
