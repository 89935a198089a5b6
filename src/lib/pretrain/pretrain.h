/* What the pretrain passes share (lsuv.c): which weights a pass may change,
 * handing the changed values to the save, provenance. */
#ifndef OI_PRETRAIN_H
#define OI_PRETRAIN_H

#include <jansson.h>

#include "../eval/eval.h"
#include "../rules.h"
#include "../schemes.h"

/* Whether the last rule that selects t keeps it. */
bool oi__pretrain_kept(const oi_rules *rules, const oi_tensor *t);
/* Why a tensor read through value index v (one layer's operand) cannot be
 * changed: "shared", "kept", or NULL if it can. uses: readers per value. */
const char *oi__pretrain_tensor_status(const ev_ctx *c, int32_t tensor, int32_t v,
                                       const uint32_t *uses, const oi_rules *rules);
/* Hand the weights that are changed (reached[i], or all when reached is
 * NULL) to the save as given values, their scheme reading desc. */
int oi__pretrain_commit(ev_ctx *c, const bool *reached, const char *desc);
/* Provenance's "pretrain": {"pass", "params" (taken), "data", "sha256", "batch"}. */
int oi__pretrain_provenance(oi_model *m, const char *pass, json_t *params, const oi_data *d,
                            int64_t batch, uint64_t seed);
/* Run a layer again (its weight's layout chain, its node, up to its bias
 * Add): the inputs stay, oi__ev_rerun frees nothing. */
int oi__pretrain_run_layer(ev_ctx *c, const ev_layer *l);
/* Readers per value of the main graph (calloc'd), NULL on no memory. */
uint32_t *oi__pretrain_uses(const ev_ctx *c);

/* The autoencoder pass (autoencoder.c), its spec parsed; it opens the
 * evaluator itself (on all the samples it trains on). */
int oi__autoencoder(oi_model *m, const oi_spec *spec, const oi_data *d,
                    const oi_pretrain_options *o, oi_report **out);
/* Its parameters checked before any work (the pass text's errors first). */
int oi__autoencoder_check(const oi_spec *spec);

#endif
