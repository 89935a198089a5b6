/* The graph index: every node of every graph (subgraphs and functions
 * included, as the load recorded them) with its op table row, every value
 * name with its producer, its readers and, for constants, its tensor;
 * static shapes of constant-derived values. */
#ifndef OI_GRAPH_H
#define OI_GRAPH_H

#include "model.h"
#include "ops.h"

#define OI_MAX_RANK 8

typedef struct oi_gnode {
	const Onnx__NodeProto *n;
	int32_t ns;          /* name space: 0 the model's graphs, k function k-1 */
	char *label;         /* its name, or "<op>_<index>" */
	const char *op;      /* op_type, "" if none */
	bool std_domain;     /* "" or "ai.onnx" */
	const oi_op_def *def; /* its row in the op table, or NULL */
} oi_gnode;

typedef struct oi_use {
	int32_t node;
	int32_t input;
} oi_use;

enum { OI_SHAPE_UNKNOWN = 0, OI_SHAPE_BUSY, OI_SHAPE_KNOWN, OI_SHAPE_NONE };

typedef struct oi_value {
	const char *name;
	int32_t ns;
	int32_t producer;    /* node index or -1 */
	int32_t tensor;      /* constant: index into the tensor table, or -1 */
	uint32_t first_use, n_use;
	uint8_t shape_state;
	uint8_t ndim;
	int64_t dims[OI_MAX_RANK];
} oi_value;

typedef struct oi_graph {
	oi_model *m;
	oi_gnode *nodes;     /* as the model's node records */
	size_t n_nodes;
	oi_value *values;
	size_t n_values, cap_values;
	oi_use *uses;
	size_t n_uses;
	int32_t *slots;      /* hash of (ns, name) -> value index */
	size_t n_slots;
	uint32_t *seen;      /* per value: the walk that last visited it */
	uint32_t walk;
	int shape_depth;     /* recursion guard of oi__value_shape */
} oi_graph;

int oi__graph_build(oi_graph *g, oi_model *m);
void oi__graph_free(oi_graph *g);
/* The value (ns, name), or -1. */
int32_t oi__graph_find(const oi_graph *g, int32_t ns, const char *name);
/* The value of a node's input / output i, or -1 (absent or ""). */
int32_t oi__node_input(const oi_graph *g, int32_t node, size_t i);
int32_t oi__node_output(const oi_graph *g, int32_t node, size_t i);
/* Static shape of a value derived from constants only; false if unknown. */
bool oi__value_shape(oi_graph *g, int32_t v, size_t *ndim, int64_t *dims);
/* Constant integers of a value (a tensor, or a Constant node's value_int(s)). */
bool oi__value_ints(oi_graph *g, int32_t v, int64_t *out, size_t max, size_t *n);
/* Constant floats of a value. */
bool oi__value_floats(oi_graph *g, int32_t v, double *out, size_t max, size_t *n);
/* Whether node's row is op id (ONNX or com.microsoft, as the id says). */
static inline bool oi__node_is(const oi_graph *g, int32_t node, oi_op_id id)
{
	return g->nodes[node].def == &oi__ops[id];
}
/* An attribute of a node, or NULL. */
const Onnx__AttributeProto *oi__node_attr(const Onnx__NodeProto *n, const char *name);
int64_t oi__attr_int(const Onnx__NodeProto *n, const char *name, int64_t dflt);

#endif
