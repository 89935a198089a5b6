/* Residual blocks: the analysis finds them in the graph index, the plan's
 * residual modes (oi_residual) change the values of their layers.
 *
 * A residual block is an Add (or a Sum of two) whose inputs both come from
 * one tensor, the fork: one through a skip path, a straight run of one-input
 * ops with no conv/dense layer (the identity) or one (a projection shortcut,
 * ResNet's downsample, with its norm), the other through a branch of more
 * layers. Blocks on one stream, each forking from the last one's output
 * through ops that are no layers (ReLU, a post-norm LayerNorm), form a chain. */
#ifndef OI_RESIDUAL_H
#define OI_RESIDUAL_H

#include "fill.h"
#include "graph.h"

/* oi_tensor.residual: what the modes do to a tensor */
enum {
	OI_RES_BRANCH = 1u << 0,     /* weight of a branch layer other than the last */
	OI_RES_LAST = 1u << 1,       /* weight of a branch's last layer */
	OI_RES_LAST_BIAS = 1u << 2,  /* bias of a branch's last layer */
	/* what zero sets to 0: the scale of the norms after the branch's last
	 * layer, or with none, that layer's weight and bias */
	OI_RES_ZERO = 1u << 3,
	/* weight or bias of the model's last dense layer, when it is in no
	 * branch and the model has blocks: fixup's classifier */
	OI_RES_CLASSIFIER = 1u << 4,
};

/* Analysis, once every tensor's role is decided: find the blocks, set every
 * tensor's info.residual_* and residual, and note the Adds whose paths
 * cannot be told apart. */
int oi__residual_find(oi_graph *g);
/* A tensor copied from another (an untied copy, read elsewhere): in no
 * branch. */
void oi__residual_forget(oi_tensor *t);
/* Whether the analysis found a block. */
bool oi__residual_any(const oi_model *m);
/* Plan, with a residual mode: warn about the Adds the analysis could not
 * tell to be blocks or not, once each. */
int oi__residual_notes(oi_model *m);
/* Plan: change t's fill (or its keep) as mode asks. A tensor the mode
 * cannot change is reported as a warning and left as it was. */
int oi__residual_adjust(oi_model *m, const oi_tensor *t, oi_residual mode, uint64_t seed,
                        oi_fill *f, bool *keep);

#endif
