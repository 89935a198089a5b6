/* See ops.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

#define ONNX OI_DOMAIN_ONNX
#define MS OI_DOMAIN_MS
/* ROW(id, domain, "OpType", fields...) */
#define ROW(id_, dom_, ...) [id_] = { .id = id_, .domain = dom_, .name = __VA_ARGS__ }

/* Reshapes input 0: followed through, looked through for activations and
 * for the layer a bias follows. */
#define RESHAPING (OI_OP_LAYOUT | OI_OP_SAME_VALUES | OI_OP_PASSES_ACT)
#define FIXED_FROM(k) .fixed_from = (k)

const oi_op_def oi__ops[OI_OP_COUNT] = {
	ROW(OI_OP_ADD, ONNX, "Add", .flags = OI_OP_PASSES_ACT, .role = oi__role_arith),
	ROW(OI_OP_BATCH_NORMALIZATION, ONNX, "BatchNormalization", .flags = OI_OP_PASSES_ACT,
	    .role = oi__role_batch_norm),
	ROW(OI_OP_CAST, ONNX, "Cast", .flags = OI_OP_LAYOUT | OI_OP_PASSES_ACT,
	    .shape = oi__shape_same),
	ROW(OI_OP_CAST_LIKE, ONNX, "CastLike", .flags = OI_OP_LAYOUT, .shape = oi__shape_same),
	ROW(OI_OP_CLIP, ONNX, "Clip", .flags = OI_OP_FIXED_TAIL, FIXED_FROM(1),
	    .act_fn = oi__act_clip),
	ROW(OI_OP_CONCAT, ONNX, "Concat", .flags = OI_OP_LAYOUT_ALL, .shape = oi__shape_concat),
	ROW(OI_OP_CONSTANT, ONNX, "Constant", .flags = OI_OP_SHAPE_FROM_ATTRS,
	    .shape = oi__shape_constant),
	ROW(OI_OP_CONSTANT_OF_SHAPE, ONNX, "ConstantOfShape", .flags = OI_OP_FIXED_TAIL,
	    FIXED_FROM(0)),
	ROW(OI_OP_CONV, ONNX, "Conv", .flags = OI_OP_LAYER, .role = oi__role_conv),
	ROW(OI_OP_CONV_TRANSPOSE, ONNX, "ConvTranspose", .flags = OI_OP_LAYER,
	    .role = oi__role_conv),
	ROW(OI_OP_CUM_SUM, ONNX, "CumSum", .flags = OI_OP_FIXED_TAIL, FIXED_FROM(1)),
	ROW(OI_OP_DEQUANTIZE_LINEAR, ONNX, "DequantizeLinear",
	    .flags = OI_OP_LAYOUT | OI_OP_FIXED_TAIL, FIXED_FROM(1), .shape = oi__shape_same),
	ROW(OI_OP_DIV, ONNX, "Div"),
	ROW(OI_OP_DROPOUT, ONNX, "Dropout", .flags = OI_OP_LAYOUT | OI_OP_PASSES_ACT,
	    .shape = oi__shape_same),
	ROW(OI_OP_ELU, ONNX, "Elu", .act = OI_ACT_ELU),
	ROW(OI_OP_ERF, ONNX, "Erf"),
	ROW(OI_OP_EXPAND, ONNX, "Expand", .flags = OI_OP_LAYOUT | OI_OP_FIXED_TAIL,
	    FIXED_FROM(1)),
	ROW(OI_OP_FLATTEN, ONNX, "Flatten", .flags = RESHAPING, .axes = OI_AXES_REGROUP,
	    .shape = oi__shape_flatten),
	ROW(OI_OP_GRU, ONNX, "GRU", .role = oi__role_rnn),
	ROW(OI_OP_GATHER, ONNX, "Gather", .flags = OI_OP_LAYOUT_CONST_INDEX,
	    .axes = OI_AXES_GATHER, .role = oi__role_gather, .shape = oi__shape_gather),
	ROW(OI_OP_GATHER_ELEMENTS, ONNX, "GatherElements", .flags = OI_OP_FIXED_TAIL,
	    FIXED_FROM(1)),
	ROW(OI_OP_GATHER_ND, ONNX, "GatherND", .flags = OI_OP_FIXED_TAIL, FIXED_FROM(1)),
	ROW(OI_OP_GELU, ONNX, "Gelu", .act = OI_ACT_GELU),
	ROW(OI_OP_GEMM, ONNX, "Gemm", .flags = OI_OP_LAYER | OI_OP_WEIGHT_EITHER,
	    .role = oi__role_gemm),
	ROW(OI_OP_GROUP_NORMALIZATION, ONNX, "GroupNormalization", .role = oi__role_norm),
	ROW(OI_OP_HARD_SIGMOID, ONNX, "HardSigmoid", .act = OI_ACT_HARD_SIGMOID),
	ROW(OI_OP_HARD_SWISH, ONNX, "HardSwish", .act = OI_ACT_HARD_SWISH),
	ROW(OI_OP_IDENTITY, ONNX, "Identity", .flags = RESHAPING, .shape = oi__shape_same),
	ROW(OI_OP_INSTANCE_NORMALIZATION, ONNX, "InstanceNormalization", .role = oi__role_norm),
	ROW(OI_OP_LSTM, ONNX, "LSTM", .role = oi__role_rnn),
	ROW(OI_OP_LAYER_NORMALIZATION, ONNX, "LayerNormalization", .role = oi__role_norm),
	ROW(OI_OP_LEAKY_RELU, ONNX, "LeakyRelu", .act_fn = oi__act_leaky_relu),
	ROW(OI_OP_MAT_MUL, ONNX, "MatMul", .flags = OI_OP_LAYER | OI_OP_WEIGHT_EITHER,
	    .role = oi__role_matmul),
	ROW(OI_OP_MUL, ONNX, "Mul", .role = oi__role_arith),
	ROW(OI_OP_NON_MAX_SUPPRESSION, ONNX, "NonMaxSuppression", .flags = OI_OP_FIXED_TAIL,
	    FIXED_FROM(2)),
	ROW(OI_OP_ONE_HOT, ONNX, "OneHot", .flags = OI_OP_FIXED_TAIL, FIXED_FROM(1)),
	ROW(OI_OP_PRELU, ONNX, "PRelu", .act_fn = oi__act_prelu, .role = oi__role_prelu),
	ROW(OI_OP_PAD, ONNX, "Pad", .flags = OI_OP_FIXED_TAIL, FIXED_FROM(1)),
	ROW(OI_OP_POW, ONNX, "Pow"),
	ROW(OI_OP_QUANTIZE_LINEAR, ONNX, "QuantizeLinear", .flags = OI_OP_FIXED_TAIL,
	    FIXED_FROM(1), .shape = oi__shape_same),
	ROW(OI_OP_RNN, ONNX, "RNN", .role = oi__role_rnn),
	ROW(OI_OP_RANGE, ONNX, "Range", .flags = OI_OP_FIXED_TAIL, FIXED_FROM(0)),
	ROW(OI_OP_RECIPROCAL, ONNX, "Reciprocal"),
	ROW(OI_OP_REDUCE_MAX, ONNX, "ReduceMax", .flags = OI_OP_FIXED_TAIL, FIXED_FROM(1)),
	ROW(OI_OP_REDUCE_MEAN, ONNX, "ReduceMean", .flags = OI_OP_FIXED_TAIL, FIXED_FROM(1)),
	ROW(OI_OP_REDUCE_MIN, ONNX, "ReduceMin", .flags = OI_OP_FIXED_TAIL, FIXED_FROM(1)),
	ROW(OI_OP_REDUCE_PROD, ONNX, "ReduceProd", .flags = OI_OP_FIXED_TAIL, FIXED_FROM(1)),
	ROW(OI_OP_REDUCE_SUM, ONNX, "ReduceSum", .flags = OI_OP_FIXED_TAIL, FIXED_FROM(1)),
	ROW(OI_OP_RELU, ONNX, "Relu", .act = OI_ACT_RELU),
	ROW(OI_OP_RESHAPE, ONNX, "Reshape", .flags = RESHAPING | OI_OP_FIXED_TAIL, FIXED_FROM(1),
	    .axes = OI_AXES_REGROUP, .shape = oi__shape_reshape),
	ROW(OI_OP_RESIZE, ONNX, "Resize", .flags = OI_OP_FIXED_TAIL, FIXED_FROM(1)),
	ROW(OI_OP_ROI_ALIGN, ONNX, "RoiAlign", .flags = OI_OP_FIXED_TAIL, FIXED_FROM(1)),
	ROW(OI_OP_SCATTER_ELEMENTS, ONNX, "ScatterElements", .flags = OI_OP_FIXED_TAIL,
	    FIXED_FROM(1)),
	ROW(OI_OP_SCATTER_ND, ONNX, "ScatterND", .flags = OI_OP_FIXED_TAIL, FIXED_FROM(1)),
	ROW(OI_OP_SELU, ONNX, "Selu", .act = OI_ACT_SELU),
	ROW(OI_OP_SIGMOID, ONNX, "Sigmoid", .act = OI_ACT_SIGMOID),
	ROW(OI_OP_SLICE, ONNX, "Slice", .flags = OI_OP_LAYOUT | OI_OP_FIXED_TAIL, FIXED_FROM(1),
	    .shape = oi__shape_slice),
	ROW(OI_OP_SPLIT, ONNX, "Split",
	    .flags = OI_OP_LAYOUT | OI_OP_EVERY_OUTPUT | OI_OP_FIXED_TAIL, FIXED_FROM(1),
	    .shape = oi__shape_split),
	ROW(OI_OP_SQRT, ONNX, "Sqrt"),
	ROW(OI_OP_SQUEEZE, ONNX, "Squeeze", .flags = RESHAPING | OI_OP_FIXED_TAIL, FIXED_FROM(1),
	    .shape = oi__shape_squeeze),
	ROW(OI_OP_SUB, ONNX, "Sub", .flags = OI_OP_PASSES_ACT, .role = oi__role_arith),
	ROW(OI_OP_TANH, ONNX, "Tanh", .act = OI_ACT_TANH),
	ROW(OI_OP_TILE, ONNX, "Tile", .flags = OI_OP_LAYOUT | OI_OP_FIXED_TAIL, FIXED_FROM(1)),
	ROW(OI_OP_TOP_K, ONNX, "TopK", .flags = OI_OP_FIXED_TAIL, FIXED_FROM(1)),
	ROW(OI_OP_TRANSPOSE, ONNX, "Transpose", .flags = RESHAPING, .axes = OI_AXES_PERM,
	    .shape = oi__shape_transpose),
	ROW(OI_OP_TRILU, ONNX, "Trilu", .flags = OI_OP_FIXED_TAIL, FIXED_FROM(1)),
	ROW(OI_OP_UNSQUEEZE, ONNX, "Unsqueeze", .flags = RESHAPING | OI_OP_FIXED_TAIL,
	    FIXED_FROM(1), .shape = oi__shape_unsqueeze),
	ROW(OI_OP_UPSAMPLE, ONNX, "Upsample", .flags = OI_OP_FIXED_TAIL, FIXED_FROM(1)),
	ROW(OI_OP_WHERE, ONNX, "Where", .flags = OI_OP_FIXED_TAIL, FIXED_FROM(0)),

	ROW(OI_OP_MS_ATTENTION, MS, "Attention", .role = oi__role_attention),
	ROW(OI_OP_MS_BIAS_GELU, MS, "BiasGelu", .act = OI_ACT_GELU),
	ROW(OI_OP_MS_EMBED_LAYER_NORMALIZATION, MS, "EmbedLayerNormalization",
	    .role = oi__role_embed_norm),
	ROW(OI_OP_MS_FAST_GELU, MS, "FastGelu", .act = OI_ACT_GELU),
	ROW(OI_OP_MS_GELU, MS, "Gelu", .act = OI_ACT_GELU),
	ROW(OI_OP_MS_LAYER_NORMALIZATION, MS, "LayerNormalization", .role = oi__role_norm),
	ROW(OI_OP_MS_MULTI_HEAD_ATTENTION, MS, "MultiHeadAttention", .role = oi__role_mha),
	ROW(OI_OP_MS_QUICK_GELU, MS, "QuickGelu", .act = OI_ACT_GELU),
	ROW(OI_OP_MS_SIMPLIFIED_LAYER_NORMALIZATION, MS, "SimplifiedLayerNormalization",
	    .role = oi__role_norm),
	ROW(OI_OP_MS_SKIP_LAYER_NORMALIZATION, MS, "SkipLayerNormalization",
	    .role = oi__role_skip_norm),
	ROW(OI_OP_MS_SKIP_SIMPLIFIED_LAYER_NORMALIZATION, MS, "SkipSimplifiedLayerNormalization",
	    .role = oi__role_skip_norm),
};

static int cmp_row(oi_op_domain dom, const char *name, const oi_op_def *row)
{
	if (dom != row->domain)
		return dom < row->domain ? -1 : 1;
	return strcmp(name, row->name);
}

const oi_op_def *oi__op_find(const char *domain, const char *op)
{
	oi_op_domain dom;
	if (!domain || !*domain || !strcmp(domain, "ai.onnx"))
		dom = OI_DOMAIN_ONNX;
	else if (!strcmp(domain, "com.microsoft"))
		dom = OI_DOMAIN_MS;
	else
		return NULL;
	if (!op)
		return NULL;
	size_t lo = 0, hi = OI_OP_COUNT;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_row(dom, op, &oi__ops[mid]);
		if (!c)
			return &oi__ops[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* ---- activations -------------------------------------------------------- */

static const struct {
	const char *name;
	double gain;   /* torch.nn.init.calculate_gain; NaN where it has none */
} acts[OI_ACT_COUNT] = {
	[OI_ACT_UNSET] = { NULL, NAN },
	[OI_ACT_NONE] = { "none", 1.0 },
	[OI_ACT_RELU] = { "relu", M_SQRT2 },
	[OI_ACT_RELU6] = { "relu6", NAN },
	[OI_ACT_LEAKY_RELU] = { "leaky_relu", NAN }, /* from the slope */
	[OI_ACT_TANH] = { "tanh", 5.0 / 3.0 },
	[OI_ACT_SIGMOID] = { "sigmoid", 1.0 },
	[OI_ACT_SELU] = { "selu", 3.0 / 4.0 },
	[OI_ACT_ELU] = { "elu", NAN },
	[OI_ACT_GELU] = { "gelu", NAN },
	[OI_ACT_SILU] = { "silu", NAN },
	[OI_ACT_HARD_SIGMOID] = { "hard_sigmoid", NAN },
	[OI_ACT_HARD_SWISH] = { "hard_swish", NAN },
};

const char *oi__act_name(oi_act act)
{
	return (unsigned)act < OI_ACT_COUNT ? acts[act].name : NULL;
}

double oi__act_gain(oi_act act, double slope)
{
	if (act == OI_ACT_LEAKY_RELU)
		return sqrt(2.0 / (1.0 + slope * slope));
	return (unsigned)act < OI_ACT_COUNT ? acts[act].gain : NAN;
}
