/* Untying: an initializer whose readers want different values gets one
 * initializer per group of readers.
 *
 * Exporters merge initializers of equal values: PyTorch's makes a fresh
 * BatchNorm's weight (all ones) serve as its running_var too, and a zero
 * attention bias serve as a LayerNorm's bias. Re-initialized, each reader
 * wants its own values. The analysis notes what every reader of a shared
 * tensor wants (oi__untie_note), the plan gives each group of readers that
 * would get other values than the first its own tensor (oi__untie_plan),
 * and the save inserts that tensor at the end of its graph and points the
 * readers' inputs at it (oi__untie_edits). Everything else stays as it was. */
#ifndef OI_UNTIE_H
#define OI_UNTIE_H

#include "graph.h"
#include "splice.h"

/* What one reader of a tensor wants, as the analysis decided it. */
typedef struct oi_reader {
	int32_t node, input;   /* the graph index's node, and the input reached */
	oi_role role;          /* OI_ROLE_NONE: no consumer rule decided */
	int64_t fans[2][2];    /* [torch|keras][in|out], -1 unknown */
	const char *act;       /* a static name, or NULL */
	double slope, gain;    /* NaN where none */
	int32_t layer;         /* bias: the layer node whose weight's fans it carries */
	int64_t hidden;        /* RNN roles: hidden_size, else -1 */
	size_t tensor;         /* set by oi__untie_note */
} oi_reader;

/* Analysis: what the n readers of m->tensors[tensor] want (in the order the
 * analysis met them; the first with a role is the one the tensor reports),
 * with the graph index they were found in. Replaces what was noted before. */
int oi__untie_note(oi_model *m, size_t tensor, const oi_graph *g, const oi_reader *readers,
                   size_t n);
/* The i-th reader noted (of any tensor), NULL past the last: the analysis
 * gives biases the fans of their layer's weight once all tensors are known. */
oi_reader *oi__untie_reader(oi_model *m, size_t i);
/* Forget every note and plan (before an analysis runs again). */
void oi__untie_reset(oi_model *m);

/* Plans one tensor as the plan does every tensor (rules, default scheme). */
typedef int (*oi_untie_plan_fn)(oi_model *m, oi_tensor *t, void *ud);
/* Plan: after every tensor is planned, untie those whose reader groups get
 * different values (enabled false: none, as before). The new tensors' values
 * are planned by plan under the original's name (so that its name rules
 * apply), then keyed by their own name. per_reader: each reader is
 * planned on its own, not once per group of readers that want the same
 * (a donor gives each layer its own values). */
int oi__untie_plan(oi_model *m, uint64_t seed, bool enabled, bool per_reader,
                   oi_untie_plan_fn plan, void *ud);
/* Whether all of t's elements are equal: what an exporter merges, and
 * the only kind of shared tensor that is untied. */
bool oi__untie_constant(const oi_model *m, const oi_tensor *t);
/* Undo the last plan's untying (a failed plan). */
void oi__untie_clear(oi_model *m);
/* Add {"untied": {"NAME": ["NAME.untied.1", ...]}} to m->provenance. */
int oi__untie_provenance(oi_model *m);

/* The new tensors of the last plan, listed after the model's own. */
size_t oi__untie_count(const oi_model *m);
const oi_tensor *oi__untie_tensor(const oi_model *m, size_t i);
/* How many of them are re-initialized (not copies of the original). */
size_t oi__untie_changed(const oi_model *m);

/* Save: how many edits oi__untie_edits adds at most, and add them to out
 * (returns the count): each new TensorProto inserted at the end of its
 * graph, each rewired node input replaced. */
size_t oi__untie_edit_count(const oi_model *m);
size_t oi__untie_edits(const oi_model *m, oi_edit *out);

void oi__untie_free(oi_model *m);

#endif
