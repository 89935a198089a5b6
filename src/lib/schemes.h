/* Schemes: SPEC text → parameters → a fill for one tensor. Each scheme is a
 * row of the table in schemes.c; each formula is that of the library the
 * scheme is named after (torch.nn.init, Keras, Flax). */
#ifndef OI_SCHEMES_H
#define OI_SCHEMES_H

#include "fill.h"
#include "model.h"

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

/* Whether a scheme fills the dense shape (matrices, kernels), which a
 * sparse tensor's values are not. */
bool oi__scheme_needs_dense(const char *name);

/* The scheme table, for listing: names 0 .. count-1. */
size_t oi__scheme_count(void);
const char *oi__scheme_name(size_t i);

/* The profiles (plan.c): whether a name is one, and their names in table
 * order (NULL past the last). */
bool oi__is_profile(const char *name);
const char *oi__profile_name(size_t i);

#endif
