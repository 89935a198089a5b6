/* The op table: what the analysis knows of an ONNX op, one row per op.
 * graph.c looks a node's row up once when it indexes the graph; the shape
 * walk asks the row for the output's shape, the role inference for what a
 * tensor is to the op reading it, and the row's flags say which ops a tensor
 * or an activation is followed through. Teaching onnxinit an op is adding a
 * row (and a handler when the op reads its weights in a new way). */
#ifndef OI_OPS_H
#define OI_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "role.h"

typedef enum oi_op_domain {
	OI_DOMAIN_ONNX = 0,  /* "" or "ai.onnx" */
	OI_DOMAIN_MS         /* "com.microsoft" (onnxruntime's contrib ops) */
} oi_op_domain;

/* One id per row; the table is sorted by (domain, name) in this order so
 * that oi__op_find can bisect it. */
typedef enum oi_op_id {
	OI_OP_ADD, OI_OP_BATCH_NORMALIZATION, OI_OP_CAST, OI_OP_CAST_LIKE, OI_OP_CLIP,
	OI_OP_CONCAT, OI_OP_CONSTANT, OI_OP_CONSTANT_OF_SHAPE, OI_OP_CONV,
	OI_OP_CONV_TRANSPOSE, OI_OP_CUM_SUM, OI_OP_DEQUANTIZE_LINEAR, OI_OP_DIV, OI_OP_DROPOUT,
	OI_OP_ELU, OI_OP_ERF, OI_OP_EXPAND, OI_OP_FLATTEN, OI_OP_GRU, OI_OP_GATHER,
	OI_OP_GATHER_ELEMENTS, OI_OP_GATHER_ND, OI_OP_GELU, OI_OP_GEMM,
	OI_OP_GROUP_NORMALIZATION, OI_OP_HARD_SIGMOID, OI_OP_HARD_SWISH, OI_OP_IDENTITY,
	OI_OP_INSTANCE_NORMALIZATION, OI_OP_LSTM, OI_OP_LAYER_NORMALIZATION, OI_OP_LEAKY_RELU,
	OI_OP_MAT_MUL, OI_OP_MUL, OI_OP_NON_MAX_SUPPRESSION, OI_OP_ONE_HOT, OI_OP_PRELU,
	OI_OP_PAD, OI_OP_POW, OI_OP_QUANTIZE_LINEAR, OI_OP_RNN, OI_OP_RANGE, OI_OP_RECIPROCAL,
	OI_OP_REDUCE_MAX, OI_OP_REDUCE_MEAN, OI_OP_REDUCE_MIN, OI_OP_REDUCE_PROD,
	OI_OP_REDUCE_SUM, OI_OP_RELU, OI_OP_RESHAPE, OI_OP_RESIZE, OI_OP_ROI_ALIGN,
	OI_OP_SCATTER_ELEMENTS, OI_OP_SCATTER_ND, OI_OP_SELU, OI_OP_SIGMOID, OI_OP_SLICE,
	OI_OP_SPLIT, OI_OP_SQRT, OI_OP_SQUEEZE, OI_OP_SUB, OI_OP_TANH, OI_OP_TILE, OI_OP_TOP_K,
	OI_OP_TRANSPOSE, OI_OP_TRILU, OI_OP_UNSQUEEZE, OI_OP_UPSAMPLE, OI_OP_WHERE,
	/* com.microsoft */
	OI_OP_MS_ATTENTION, OI_OP_MS_BIAS_GELU, OI_OP_MS_EMBED_LAYER_NORMALIZATION,
	OI_OP_MS_FAST_GELU, OI_OP_MS_GELU, OI_OP_MS_LAYER_NORMALIZATION,
	OI_OP_MS_MULTI_HEAD_ATTENTION, OI_OP_MS_QUICK_GELU,
	OI_OP_MS_SIMPLIFIED_LAYER_NORMALIZATION, OI_OP_MS_SKIP_LAYER_NORMALIZATION,
	OI_OP_MS_SKIP_SIMPLIFIED_LAYER_NORMALIZATION,
	OI_OP_COUNT
} oi_op_id;

/* The activation a layer's output goes through, as torch's calculate_gain
 * and the inspect output name it. */
typedef enum oi_act {
	OI_ACT_UNSET = 0,    /* not an activation / not applicable */
	OI_ACT_NONE,         /* the output goes on unchanged */
	OI_ACT_RELU, OI_ACT_RELU6, OI_ACT_LEAKY_RELU, OI_ACT_TANH, OI_ACT_SIGMOID,
	OI_ACT_SELU, OI_ACT_ELU, OI_ACT_GELU, OI_ACT_SILU, OI_ACT_HARD_SIGMOID,
	OI_ACT_HARD_SWISH,
	OI_ACT_COUNT
} oi_act;

/* "relu", ...; NULL for OI_ACT_UNSET. */
const char *oi__act_name(oi_act act);
/* torch.nn.init.calculate_gain (slope: leaky_relu's); NaN where it has none. */
double oi__act_gain(oi_act act, double slope);

/* Row flags. */
enum {
	/* input 0 reaches output 0 moved, not computed on: a weight is followed
	 * through it to the op that reads it */
	OI_OP_LAYOUT = 1u << 0,
	OI_OP_LAYOUT_ALL = 1u << 1,         /* every input does (Concat) */
	OI_OP_LAYOUT_CONST_INDEX = 1u << 2, /* input 0 does when input 1 is a constant (Gather) */
	OI_OP_EVERY_OUTPUT = 1u << 3,       /* each output carries a part of input 0 (Split) */
	/* output 0 holds input 0's values, only reshaped: a bias added after it
	 * still belongs to the layer before it */
	OI_OP_SAME_VALUES = 1u << 4,
	/* the activation after it counts as the activation of what feeds it */
	OI_OP_PASSES_ACT = 1u << 5,
	OI_OP_LAYER = 1u << 6,              /* a layer with a weight and maybe a bias */
	OI_OP_WEIGHT_EITHER = 1u << 7,      /* either operand may be its weight (input 1 first) */
	/* inputs from fixed_from on are shapes, indices, scales or bounds */
	OI_OP_FIXED_TAIL = 1u << 8,
	OI_OP_SHAPE_FROM_ATTRS = 1u << 9,   /* its output's shape needs no input's (Constant) */
};

/* How the axes of a layout op's output come from its input's. */
typedef enum oi_axes {
	OI_AXES_KEEP = 0,    /* the same axes when the rank is kept, else regrouped */
	OI_AXES_PERM,        /* permuted by "perm" (Transpose) */
	OI_AXES_GATHER,      /* the gathered axis replaced by the indices' */
	OI_AXES_REGROUP      /* merged and split by size, even at the same rank */
} oi_axes;

struct oi_graph;
struct oi_role_ctx;
struct oi_operand;
struct oi_role_result;
typedef struct oi_op_def oi_op_def;

/* What the tensor reaching an operand is (roles.c); leaves the result's
 * role OI_ROLE_NONE when the op does not say. */
typedef void (*oi_role_fn)(struct oi_role_ctx *c, const struct oi_operand *o,
                           struct oi_role_result *r);
/* The static shape of output value v of node, given input 0's (graph.c). */
typedef bool (*oi_shape_fn)(struct oi_graph *g, int32_t node, int32_t v, size_t in_nd,
                            const int64_t *in, size_t *nd, int64_t *d);
/* The activation an op is, when its attributes or inputs decide (roles.c). */
typedef oi_act (*oi_act_fn)(struct oi_graph *g, int32_t node, double *slope);

struct oi_op_def {
	oi_op_id id;
	oi_op_domain domain;
	const char *name;
	unsigned flags;        /* OI_OP_* */
	uint8_t fixed_from;    /* OI_OP_FIXED_TAIL: the first such input */
	uint8_t axes;          /* oi_axes */
	uint8_t act;           /* oi_act: the activation it is; OI_ACT_UNSET if none */
	oi_act_fn act_fn;      /* else, when its attributes decide it */
	oi_role_fn role;
	oi_shape_fn shape;
};

/* The table, indexed by oi_op_id. */
extern const oi_op_def oi__ops[OI_OP_COUNT];
/* The row of (domain, op_type), or NULL; domain NULL is the ONNX domain. */
const oi_op_def *oi__op_find(const char *domain, const char *op);

/* Role handlers (roles.c). */
void oi__role_conv(struct oi_role_ctx *c, const struct oi_operand *o, struct oi_role_result *r);
void oi__role_gemm(struct oi_role_ctx *c, const struct oi_operand *o, struct oi_role_result *r);
void oi__role_matmul(struct oi_role_ctx *c, const struct oi_operand *o,
                     struct oi_role_result *r);
void oi__role_rnn(struct oi_role_ctx *c, const struct oi_operand *o, struct oi_role_result *r);
void oi__role_gather(struct oi_role_ctx *c, const struct oi_operand *o,
                     struct oi_role_result *r);
void oi__role_batch_norm(struct oi_role_ctx *c, const struct oi_operand *o,
                         struct oi_role_result *r);
void oi__role_norm(struct oi_role_ctx *c, const struct oi_operand *o, struct oi_role_result *r);
void oi__role_skip_norm(struct oi_role_ctx *c, const struct oi_operand *o,
                        struct oi_role_result *r);
void oi__role_prelu(struct oi_role_ctx *c, const struct oi_operand *o,
                    struct oi_role_result *r);
void oi__role_attention(struct oi_role_ctx *c, const struct oi_operand *o,
                        struct oi_role_result *r);
void oi__role_mha(struct oi_role_ctx *c, const struct oi_operand *o, struct oi_role_result *r);
void oi__role_embed_norm(struct oi_role_ctx *c, const struct oi_operand *o,
                         struct oi_role_result *r);
void oi__role_arith(struct oi_role_ctx *c, const struct oi_operand *o,
                    struct oi_role_result *r);

/* Activations decided by attributes or inputs (roles.c). */
oi_act oi__act_leaky_relu(struct oi_graph *g, int32_t node, double *slope);
oi_act oi__act_prelu(struct oi_graph *g, int32_t node, double *slope);
oi_act oi__act_clip(struct oi_graph *g, int32_t node, double *slope);

/* Shape functions (graph.c). */
bool oi__shape_constant(struct oi_graph *g, int32_t node, int32_t v, size_t in_nd,
                        const int64_t *in, size_t *nd, int64_t *d);
bool oi__shape_same(struct oi_graph *g, int32_t node, int32_t v, size_t in_nd,
                    const int64_t *in, size_t *nd, int64_t *d);
bool oi__shape_transpose(struct oi_graph *g, int32_t node, int32_t v, size_t in_nd,
                         const int64_t *in, size_t *nd, int64_t *d);
bool oi__shape_reshape(struct oi_graph *g, int32_t node, int32_t v, size_t in_nd,
                       const int64_t *in, size_t *nd, int64_t *d);
bool oi__shape_flatten(struct oi_graph *g, int32_t node, int32_t v, size_t in_nd,
                       const int64_t *in, size_t *nd, int64_t *d);
bool oi__shape_squeeze(struct oi_graph *g, int32_t node, int32_t v, size_t in_nd,
                       const int64_t *in, size_t *nd, int64_t *d);
bool oi__shape_unsqueeze(struct oi_graph *g, int32_t node, int32_t v, size_t in_nd,
                         const int64_t *in, size_t *nd, int64_t *d);
bool oi__shape_slice(struct oi_graph *g, int32_t node, int32_t v, size_t in_nd,
                     const int64_t *in, size_t *nd, int64_t *d);
bool oi__shape_split(struct oi_graph *g, int32_t node, int32_t v, size_t in_nd,
                     const int64_t *in, size_t *nd, int64_t *d);
bool oi__shape_concat(struct oi_graph *g, int32_t node, int32_t v, size_t in_nd,
                      const int64_t *in, size_t *nd, int64_t *d);
bool oi__shape_gather(struct oi_graph *g, int32_t node, int32_t v, size_t in_nd,
                      const int64_t *in, size_t *nd, int64_t *d);

#endif
