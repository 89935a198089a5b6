/* Role, fan and activation inference: each float constant is followed
 * through layout-only ops to the node that consumes it, whose op type, input
 * position and attributes say what the tensor is. One rule per op below. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "tensor.h"
#include "untie.h"

enum { TORCH = 0, KERAS = 1 };
enum { FIN = 0, FOUT = 1 };

typedef struct result {
	const char *role;
	int32_t node;          /* the consumer that decided; -1 none */
	int32_t input;         /* the input of node the tensor reached */
	int64_t fans[2][2];
	const char *act;       /* NULL: not applicable */
	double slope;          /* leaky_relu */
	int32_t act_node;      /* the node whose output the activation follows */
	int32_t layer;         /* bias: the layer whose weight's fans it carries */
	int64_t hidden;        /* RNN roles: hidden_size */
} result;

typedef struct ctx {
	oi_graph g;
	oi_model *m;
	result *found;
	size_t n_found, cap_found;
	/* the tensor being followed: its own shape, and for the value reaching the
	 * consumer, which of its axes each axis came from (-1: none or merged) */
	const int64_t *orig;
	size_t orig_nd;
	const int8_t *map;
} ctx;

/* What an axis of a weight operand is, for the fans. */
enum { L_IN = 1, L_OUT = 2, L_K = 3, L_D = 0 /* direction/batch: not counted */ };

static bool op_is(const oi_gnode *gn, const char *op)
{
	return gn->std_domain && !strcmp(gn->op, op);
}

static bool ms_op_is(const oi_gnode *gn, const char *op)
{
	return gn->ms_domain && !strcmp(gn->op, op);
}

static void set_fans(result *r, int64_t torch_in, int64_t torch_out, int64_t keras_in,
                     int64_t keras_out)
{
	r->fans[TORCH][FIN] = torch_in;
	r->fans[TORCH][FOUT] = torch_out;
	r->fans[KERAS][FIN] = keras_in;
	r->fans[KERAS][FOUT] = keras_out;
}

static void no_fans(result *r)
{
	set_fans(r, -1, -1, -1, -1);
}

/* Fans from the axes' labels, counted on the tensor's own shape when every
 * labeled axis maps back to one of its axes (a weight sliced, transposed or
 * stacked on the way keeps the fans of the parameter it is), else on the
 * operand's shape. keras_in/out >= 0 override the Keras fans. */
static void labeled_fans(ctx *c, result *r, size_t nd, const int64_t *d, const uint8_t *lab,
                         int64_t keras_in, int64_t keras_out)
{
	bool mapped = c->map != NULL;
	bool used[OI_MAX_RANK] = { 0 };
	for (size_t i = 0; i < nd && mapped; i++) {
		if (lab[i] == L_D)
			continue;
		int m = c->map[i];
		if (m < 0 || (size_t)m >= c->orig_nd || used[m])
			mapped = false;
		else
			used[m] = true;
	}
	int64_t fin = 1, fout = 1;
	for (size_t i = 0; i < nd; i++) {
		if (lab[i] == L_D)
			continue; /* not counted, and it may map to no axis at all */
		int64_t size = mapped ? c->orig[c->map[i]] : d[i];
		if (lab[i] == L_IN || lab[i] == L_K)
			fin *= size;
		if (lab[i] == L_OUT || lab[i] == L_K)
			fout *= size;
	}
	set_fans(r, fin, fout, keras_in >= 0 ? keras_in : fin, keras_out >= 0 ? keras_out : fout);
}

static int64_t prod(const int64_t *d, size_t from, size_t to)
{
	int64_t p = 1;
	for (size_t i = from; i < to; i++)
		p *= d[i];
	return p;
}

/* ---- activations -------------------------------------------------------- */

/* Layout and bookkeeping ops an activation is looked for through. */
static bool passes_to_activation(const oi_gnode *gn)
{
	static const char *const ops[] = { "Add", "Sub", "BatchNormalization", "Identity",
		                           "Dropout", "Reshape", "Flatten", "Transpose",
		                           "Squeeze", "Unsqueeze", "Cast" };
	if (!gn->std_domain)
		return false;
	for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
		if (!strcmp(gn->op, ops[i]))
			return true;
	return false;
}

static bool const_value(ctx *c, int32_t v)
{
	if (v < 0)
		return false;
	const oi_value *val = &c->g.values[v];
	if (val->tensor >= 0)
		return true;
	return val->producer >= 0 && op_is(&c->g.nodes[val->producer], "Constant");
}

static bool scalar_const(ctx *c, int32_t v, double *out)
{
	size_t n;
	double buf[1];
	if (!const_value(c, v) || !oi__value_floats(&c->g, v, buf, 1, &n) || n != 1)
		return false;
	if (c->g.values[v].tensor >= 0 && c->m->tensors[c->g.values[v].tensor].info.numel != 1)
		return false;
	*out = buf[0];
	return true;
}

/* The single reader of v, or -1. */
static int32_t only_reader(ctx *c, int32_t v)
{
	if (v < 0 || c->g.values[v].n_use != 1)
		return -1;
	return c->g.uses[c->g.values[v].first_use].node;
}

/* Activations spelled out in ops: x*sigmoid(x) (SiLU), x*0.5*(1+erf(x/√2))
 * and the tanh approximation (GELU), x*hardsigmoid(x) (HardSwish). */
static const char *pattern_activation(ctx *c, int32_t v)
{
	const oi_value *val = &c->g.values[v];
	bool sigmoid = false, hardsig = false, erf = false, pow3 = false, mul_self = false;
	for (uint32_t u = 0; u < val->n_use; u++) {
		const oi_use *use = &c->g.uses[val->first_use + u];
		const oi_gnode *gn = &c->g.nodes[use->node];
		if (op_is(gn, "Sigmoid"))
			sigmoid = true;
		else if (op_is(gn, "HardSigmoid"))
			hardsig = true;
		else if (op_is(gn, "Mul"))
			mul_self = true;
		if (op_is(gn, "Div") || op_is(gn, "Mul")) {
			int32_t r = only_reader(c, oi__node_output(&c->g, use->node, 0));
			if (r >= 0 && op_is(&c->g.nodes[r], "Erf"))
				erf = true;
		}
		if (op_is(gn, "Pow"))
			pow3 = true;
		if (op_is(gn, "Erf"))
			erf = true;
	}
	if (erf && mul_self)
		return "gelu";
	if (pow3 && mul_self)
		return "gelu";
	if (sigmoid && mul_self)
		return "silu";
	if (hardsig && mul_self)
		return "hard_swish";
	return NULL;
}

/* The decimal a float32 attribute was written as: the shortest that reads
 * back as the same float (alpha=0.2 is stored as 0.20000000298...; torch's
 * calculate_gain is given 0.2). */
static double float_as_written(float f)
{
	char buf[32];
	for (int digits = 1; digits <= 9; digits++) {
		snprintf(buf, sizeof buf, "%.*g", digits, (double)f);
		if (strtof(buf, NULL) == f)
			return strtod(buf, NULL);
	}
	return f;
}

static const char *activation_of_op(ctx *c, int32_t node, double *slope)
{
	const oi_gnode *gn = &c->g.nodes[node];
	const Onnx__NodeProto *n = gn->n;
	if (gn->ms_domain && (!strcmp(gn->op, "Gelu") || !strcmp(gn->op, "FastGelu") ||
	                      !strcmp(gn->op, "BiasGelu") || !strcmp(gn->op, "QuickGelu")))
		return "gelu";
	if (!gn->std_domain)
		return NULL;
	const char *op = gn->op;
	if (!strcmp(op, "Relu"))
		return "relu";
	if (!strcmp(op, "LeakyRelu")) {
		const Onnx__AttributeProto *a = oi__node_attr(n, "alpha");
		*slope = a && a->has_f ? float_as_written(a->f) : 0.01;
		return "leaky_relu";
	}
	if (!strcmp(op, "PRelu")) {
		double s[1];
		size_t k;
		*slope = oi__value_floats(&c->g, oi__node_input(&c->g, node, 1), s, 1, &k) && k
		             ? float_as_written((float)s[0]) : 0.25;
		return "leaky_relu";
	}
	if (!strcmp(op, "Tanh"))
		return "tanh";
	if (!strcmp(op, "Sigmoid"))
		return "sigmoid";
	if (!strcmp(op, "Selu"))
		return "selu";
	if (!strcmp(op, "Elu"))
		return "elu";
	if (!strcmp(op, "Gelu"))
		return "gelu";
	if (!strcmp(op, "HardSigmoid"))
		return "hard_sigmoid";
	if (!strcmp(op, "HardSwish"))
		return "hard_swish";
	if (!strcmp(op, "Clip")) {
		double lo = NAN, hi = NAN;
		const Onnx__AttributeProto *a;
		if ((a = oi__node_attr(n, "min")) && a->has_f)
			lo = a->f;
		if ((a = oi__node_attr(n, "max")) && a->has_f)
			hi = a->f;
		double x;
		if (scalar_const(c, oi__node_input(&c->g, node, 1), &x))
			lo = x;
		if (scalar_const(c, oi__node_input(&c->g, node, 2), &x))
			hi = x;
		if (lo == 0 && hi == 6)
			return "relu6";
		if (lo == 0 && isnan(hi))
			return "relu";
		return NULL;
	}
	return NULL;
}

/* The activation applied to the output of node, looking through bias and
 * residual Add, BatchNorm, Identity, Dropout and layout ops. */
static const char *activation_after(ctx *c, int32_t node, double *slope)
{
	*slope = NAN;
	int32_t v = oi__node_output(&c->g, node, 0);
	for (int step = 0; step < 16 && v >= 0; step++) {
		const char *pat = pattern_activation(c, v);
		if (pat)
			return pat;
		int32_t r = only_reader(c, v);
		if (r < 0)
			return "none";
		const char *act = activation_of_op(c, r, slope);
		if (act)
			return act;
		if (!passes_to_activation(&c->g.nodes[r]))
			return "none";
		v = oi__node_output(&c->g, r, 0);
	}
	return "none";
}

static const char *rnn_activation(const Onnx__NodeProto *n, size_t which)
{
	const Onnx__AttributeProto *a = oi__node_attr(n, "activations");
	const char *name = a && a->n_strings > which ? (const char *)a->strings[which].data : NULL;
	size_t len = a && a->n_strings > which ? a->strings[which].len : 0;
	if (!name)
		return "tanh";
	if (len == 4 && !strncmp(name, "Tanh", 4))
		return "tanh";
	if (len == 4 && !strncmp(name, "Relu", 4))
		return "relu";
	if (len == 7 && !strncmp(name, "Sigmoid", 7))
		return "sigmoid";
	return "none";
}

/* ---- consumers ---------------------------------------------------------- */

/* Weight operand shape of a layer node, for its bias's fans. */
static bool layer_weight_fans(ctx *c, int32_t node, result *r);
static bool layer_weight_fans_unmapped(ctx *c, int32_t node, result *r);

static bool operand_shape(ctx *c, int32_t v, size_t *nd, int64_t *d)
{
	return oi__value_shape(&c->g, v, nd, d);
}

static bool is_layer(const oi_gnode *gn)
{
	return op_is(gn, "Conv") || op_is(gn, "ConvTranspose") || op_is(gn, "Gemm") ||
	       op_is(gn, "MatMul");
}

/* The layer node that produced v, looking back through layout ops. */
static int32_t layer_before(ctx *c, int32_t v)
{
	for (int step = 0; step < 8 && v >= 0; step++) {
		int32_t p = c->g.values[v].producer;
		if (p < 0)
			return -1;
		const oi_gnode *gn = &c->g.nodes[p];
		if (is_layer(gn))
			return p;
		if (!(op_is(gn, "Reshape") || op_is(gn, "Transpose") || op_is(gn, "Flatten") ||
		      op_is(gn, "Identity") || op_is(gn, "Squeeze") || op_is(gn, "Unsqueeze")))
			return -1;
		v = oi__node_input(&c->g, p, 0);
	}
	return -1;
}

/* x / sqrt(...) or x * reciprocal(sqrt(...)): a normalization. */
static bool is_normalized(ctx *c, int32_t v)
{
	int32_t p = v >= 0 ? c->g.values[v].producer : -1;
	if (p < 0)
		return false;
	const oi_gnode *gn = &c->g.nodes[p];
	if (op_is(gn, "Div")) {
		int32_t q = oi__node_input(&c->g, p, 1);
		int32_t qp = q >= 0 ? c->g.values[q].producer : -1;
		return qp >= 0 && op_is(&c->g.nodes[qp], "Sqrt");
	}
	if (op_is(gn, "Mul")) {
		for (size_t i = 0; i < 2; i++) {
			int32_t q = oi__node_input(&c->g, p, i);
			int32_t qp = q >= 0 ? c->g.values[q].producer : -1;
			if (qp >= 0 && op_is(&c->g.nodes[qp], "Reciprocal"))
				return true;
		}
	}
	return false;
}

static bool is_norm_scale_mul(ctx *c, int32_t node)
{
	const oi_gnode *gn = &c->g.nodes[node];
	if (!op_is(gn, "Mul"))
		return false;
	for (size_t i = 0; i < 2; i++)
		if (is_normalized(c, oi__node_input(&c->g, node, i)) &&
		    const_value(c, oi__node_input(&c->g, node, 1 - i)))
			return true;
	return false;
}

static void norm_result(ctx *c, result *r, const char *role, int32_t node)
{
	r->role = role;
	no_fans(r);
	r->act = activation_after(c, node, &r->slope);
	r->act_node = node;
}

static void layer_act(ctx *c, result *r, int32_t node)
{
	r->act = activation_after(c, node, &r->slope);
	r->act_node = node;
}

static bool fixed_input(const oi_gnode *gn, int32_t input)
{
	/* inputs that are shapes, indices, scales or bounds, not weights */
	static const struct { const char *op; int32_t from; } t[] = {
		{ "Reshape", 1 }, { "Resize", 1 }, { "Upsample", 1 }, { "Slice", 1 }, { "Pad", 1 },
		{ "Clip", 1 }, { "Expand", 1 }, { "Tile", 1 }, { "TopK", 1 }, { "Squeeze", 1 },
		{ "Unsqueeze", 1 }, { "Split", 1 }, { "ReduceSum", 1 }, { "ReduceMean", 1 },
		{ "ReduceMax", 1 }, { "ReduceMin", 1 }, { "ReduceProd", 1 }, { "CumSum", 1 },
		{ "OneHot", 1 }, { "Range", 0 }, { "ConstantOfShape", 0 }, { "Where", 0 },
		{ "DequantizeLinear", 1 }, { "QuantizeLinear", 1 }, { "NonMaxSuppression", 2 },
		{ "RoiAlign", 1 }, { "GatherElements", 1 }, { "ScatterND", 1 },
		{ "ScatterElements", 1 }, { "GatherND", 1 }, { "Trilu", 1 },
	};
	if (!gn->std_domain)
		return false;
	for (size_t i = 0; i < sizeof t / sizeof *t; i++)
		if (!strcmp(gn->op, t[i].op) && input >= t[i].from)
			return true;
	return false;
}

/* What the tensor reaching input `input` of node (as value v) is. */
static bool unshaped(ctx *c, int32_t node, result *r)
{
	oi__warn(c->m, "node '%s' (%s): the shape of a weight reaching it cannot be followed "
	         "(dynamic shapes, or a bad perm/axes on the way)", c->g.nodes[node].label,
	         c->g.nodes[node].op);
	r->role = NULL;
	return true;
}

static void classify(ctx *c, int32_t node, int32_t input, int32_t v, result *r)
{
	const oi_gnode *gn = &c->g.nodes[node];
	const Onnx__NodeProto *n = gn->n;
	size_t nd = 0;
	int64_t d[OI_MAX_RANK];
	bool shaped = operand_shape(c, v, &nd, d);
	memset(r, 0, sizeof *r);
	r->node = node;
	r->act_node = -1;
	r->layer = -1;
	r->hidden = -1;
	r->slope = NAN;
	no_fans(r);

	if ((op_is(gn, "Conv") || op_is(gn, "ConvTranspose")) && input == 1) {
		bool transposed = gn->op[4] == 'T';
		r->role = transposed ? "conv_transpose_weight" : "conv_weight";
		const Onnx__AttributeProto *ks = oi__node_attr(n, "kernel_shape");
		if (!shaped || nd < 3 || (ks && ks->n_ints != nd - 2)) {
			r->role = "learnable_other";
			oi__warn(c->m, "node '%s' (%s): its weight's rank does not fit its attributes; "
			         "treating the weight as learnable_other", c->g.nodes[node].label, gn->op);
			return;
		}
		for (size_t i = 0; ks && i < ks->n_ints; i++)
			if (ks->ints[i] != d[2 + i]) {
				r->role = "learnable_other";
				oi__warn(c->m, "node '%s' (%s): kernel_shape disagrees with its weight",
				         c->g.nodes[node].label, gn->op);
				return;
			}
		int64_t k = prod(d, 2, nd), group = oi__attr_int(n, "group", 1);
		uint8_t lab[OI_MAX_RANK] = { L_OUT, L_IN, L_K, L_K, L_K, L_K, L_K, L_K };
		if (!transposed && group > 1 && d[1] == 1)
			/* depthwise: Keras's DepthwiseConv kernel (k..., in, multiplier) */
			labeled_fans(c, r, nd, d, lab, group * k, (d[0] / group) * k);
		else
			labeled_fans(c, r, nd, d, lab, -1, -1);
		layer_act(c, r, node);
		return;
	}
	if ((op_is(gn, "Conv") || op_is(gn, "ConvTranspose") || op_is(gn, "Gemm")) && input == 2) {
		r->role = "bias";
		r->layer = node;
		layer_weight_fans(c, node, r);
		layer_act(c, r, node);
		return;
	}
	if (op_is(gn, "Gemm") && input <= 1) {
		if (!shaped && unshaped(c, node, r))
			return;
		r->role = "dense_weight";
		if (shaped && nd == 2) {
			bool trans = oi__attr_int(n, input == 1 ? "transB" : "transA", 0) != 0;
			/* B: (K, N), or (N, K) transposed; A: (M, K), or (K, M) transposed */
			bool in_first = input == 1 ? !trans : trans;
			uint8_t lab[2] = { in_first ? L_IN : L_OUT, in_first ? L_OUT : L_IN };
			labeled_fans(c, r, nd, d, lab, -1, -1);
		}
		layer_act(c, r, node);
		return;
	}
	if (op_is(gn, "MatMul") && input <= 1) {
		if (shaped && nd >= 2) {
			r->role = "dense_weight";
			uint8_t lab[OI_MAX_RANK] = { 0 }; /* leading axes: batch */
			lab[nd - 2] = input == 1 ? L_IN : L_OUT;
			lab[nd - 1] = input == 1 ? L_OUT : L_IN;
			labeled_fans(c, r, nd, d, lab, -1, -1);
			layer_act(c, r, node);
			return;
		}
		if (!shaped && unshaped(c, node, r))
			return;
		r->role = NULL; /* a vector operand: the generic rule */
		return;
	}
	if (op_is(gn, "LSTM") || op_is(gn, "GRU") || op_is(gn, "RNN")) {
		size_t act_index = op_is(gn, "RNN") ? 0 : 1;
		/* hidden_size, or the R operand's last axis */
		r->hidden = oi__attr_int(n, "hidden_size", -1);
		if (r->hidden <= 0) {
			size_t rnd;
			int64_t rd[OI_MAX_RANK];
			if (operand_shape(c, oi__node_input(&c->g, node, 2), &rnd, rd) && rnd == 3)
				r->hidden = rd[2];
		}
		r->act = rnn_activation(n, act_index);
		r->act_node = node;
		int32_t wv = oi__node_input(&c->g, node, 1);
		size_t wnd;
		int64_t wd[OI_MAX_RANK];
		if ((input == 1 || input == 2) && !shaped && unshaped(c, node, r))
			return;
		switch (input) {
		case 1: case 2:
			r->role = input == 1 ? "rnn_input_weight" : "rnn_recurrent_weight";
			if (shaped && nd == 3) {
				static const uint8_t lab[3] = { L_D, L_OUT, L_IN }; /* per direction */
				labeled_fans(c, r, nd, d, lab, -1, -1);
			}
			return;
		case 3:
			r->role = "rnn_bias";
			r->layer = node;
			if (operand_shape(c, wv, &wnd, wd) && wnd == 3)
				set_fans(r, wd[2], wd[1], wd[2], wd[1]);
			return;
		case 7:
			r->role = "rnn_peephole";
			return;
		default: /* sequence_lens, initial states */
			r->role = "fixed";
			r->act = NULL;
			return;
		}
	}
	if (op_is(gn, "Gather") && input == 0) {
		if (!shaped && unshaped(c, node, r))
			return;
		r->role = "embedding";
		if (shaped && nd == 2) {
			/* torch's (V, D) gives fan_in D; Keras's compute_fans gives fan_in V */
			static const uint8_t lab[2] = { L_OUT, L_IN };
			labeled_fans(c, r, nd, d, lab, c->map && c->map[0] >= 0 ? c->orig[c->map[0]] : d[0],
			             c->map && c->map[1] >= 0 ? c->orig[c->map[1]] : d[1]);
		}
		layer_act(c, r, node);
		return;
	}
	if (op_is(gn, "BatchNormalization") && input >= 1 && input <= 4) {
		static const char *const roles[] = { NULL, "norm_scale", "norm_bias", "norm_mean",
			                             "norm_var" };
		norm_result(c, r, roles[input], node);
		return;
	}
	if ((op_is(gn, "LayerNormalization") || op_is(gn, "InstanceNormalization") ||
	     op_is(gn, "GroupNormalization") || ms_op_is(gn, "LayerNormalization") ||
	     ms_op_is(gn, "SimplifiedLayerNormalization")) && (input == 1 || input == 2)) {
		norm_result(c, r, input == 1 ? "norm_scale" : "norm_bias", node);
		return;
	}
	if ((ms_op_is(gn, "SkipLayerNormalization") || ms_op_is(gn, "SkipSimplifiedLayerNormalization"))
	    && input >= 2) {
		norm_result(c, r, input == 2 ? "norm_scale" : input == 3 ? "norm_bias" : "bias", node);
		return;
	}
	if (op_is(gn, "PRelu") && input == 1) {
		r->role = "prelu_slope";
		return;
	}
	if (ms_op_is(gn, "Attention") && (input == 1 || input == 2)) {
		r->role = input == 1 ? "dense_weight" : "bias";
		int32_t wv = oi__node_input(&c->g, node, 1);
		size_t wnd;
		int64_t wd[OI_MAX_RANK];
		if (operand_shape(c, wv, &wnd, wd) && wnd == 2)
			set_fans(r, wd[0], wd[1], wd[0], wd[1]);
		r->act = "none";
		r->act_node = node;
		return;
	}
	if (ms_op_is(gn, "MultiHeadAttention") && input == 3) {
		r->role = "bias";
		r->act = "none";
		return;
	}
	if (ms_op_is(gn, "EmbedLayerNormalization") && input >= 2 && input <= 6) {
		if (input <= 4) {
			r->role = "embedding";
			if (shaped && nd == 2)
				set_fans(r, d[1], d[0], d[0], d[1]);
		} else {
			r->role = input == 5 ? "norm_scale" : "norm_bias";
		}
		return;
	}
	if (fixed_input(gn, input)) {
		r->role = "fixed";
		return;
	}
	if ((op_is(gn, "Add") || op_is(gn, "Sub") || op_is(gn, "Mul")) && input <= 1) {
		int32_t other = oi__node_input(&c->g, node, (size_t)(1 - input));
		if (op_is(gn, "Mul") && is_normalized(c, other)) {
			norm_result(c, r, "norm_scale", node);
			return;
		}
		if (op_is(gn, "Add")) {
			int32_t op_node = other >= 0 ? c->g.values[other].producer : -1;
			if (op_node >= 0 && (is_norm_scale_mul(c, op_node) || is_normalized(c, other))) {
				norm_result(c, r, "norm_bias", node);
				return;
			}
			int32_t layer = layer_before(c, other);
			if (layer >= 0) {
				r->role = "bias";
				r->layer = layer;
				layer_weight_fans(c, layer, r);
				layer_act(c, r, layer);
				return;
			}
		}
	}
	r->role = NULL; /* undecided: the caller applies the generic rule */
}

static bool layer_weight_fans(ctx *c, int32_t node, result *r)
{
	const int8_t *saved = c->map;
	c->map = NULL; /* the map is the bias's, not the weight's */
	bool ok = layer_weight_fans_unmapped(c, node, r);
	c->map = saved;
	return ok;
}

/* The inputs of a layer node that may hold its weight, likeliest first. */
static size_t weight_inputs(const oi_gnode *gn, int32_t in[2])
{
	in[0] = 1;
	in[1] = 0;
	return op_is(gn, "Gemm") || op_is(gn, "MatMul") ? 2 : 1;
}

static bool layer_weight_fans_unmapped(ctx *c, int32_t node, result *r)
{
	int32_t in[2];
	size_t n = weight_inputs(&c->g.nodes[node], in);
	/* a constant operand first; else one whose shape follows from constants
	 * through layout ops */
	for (int pass = 0; pass < 2; pass++)
		for (size_t k = 0; k < n; k++) {
			int32_t wv = oi__node_input(&c->g, node, (size_t)in[k]);
			size_t nd;
			int64_t d[OI_MAX_RANK];
			if (wv < 0 || (pass == 0 ? !const_value(c, wv)
			                         : !oi__value_shape(&c->g, wv, &nd, d)))
				continue;
			result tmp;
			classify(c, node, in[k], wv, &tmp);
			memcpy(r->fans, tmp.fans, sizeof r->fans);
			return true;
		}
	return false;
}

/* ---- following a tensor ------------------------------------------------- */

static bool is_layout(ctx *c, int32_t node, int32_t input)
{
	const oi_gnode *gn = &c->g.nodes[node];
	if (!gn->std_domain)
		return false;
	const char *op = gn->op;
	if (!strcmp(op, "Concat"))
		return true;
	if (input != 0)
		return false;
	if (!strcmp(op, "Gather"))
		return const_value(c, oi__node_input(&c->g, node, 1));
	static const char *const ops[] = { "Transpose", "Reshape", "Flatten", "Squeeze",
		                           "Unsqueeze", "Cast", "CastLike", "Identity", "Dropout",
		                           "DequantizeLinear", "Slice", "Split", "Expand", "Tile" };
	for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
		if (!strcmp(op, ops[i]))
			return true;
	return false;
}

static int push_found(ctx *c, const result *r)
{
	if (c->n_found == c->cap_found) {
		size_t cap = c->cap_found ? c->cap_found * 2 : 16;
		result *p = oi__reallocarray(c->found, cap, sizeof *p);
		if (!p)
			return OI_ENOMEM;
		c->found = p;
		c->cap_found = cap;
	}
	c->found[c->n_found++] = *r;
	return 0;
}

/* How the axes of a layout op's output come from its input's: out_map[j] is
 * the original axis of output axis j, or -1. False if it cannot be told. */
static bool map_through(ctx *c, int32_t node, int32_t in_v, int32_t out_v, const int8_t *map,
                        size_t in_nd, int8_t *out_map, size_t *out_nd)
{
	const oi_gnode *gn = &c->g.nodes[node];
	const char *op = gn->op;
	size_t ind, ond;
	int64_t id[OI_MAX_RANK], od[OI_MAX_RANK];
	if (!oi__value_shape(&c->g, in_v, &ind, id) || !oi__value_shape(&c->g, out_v, &ond, od) ||
	    ind != in_nd)
		return false;
	*out_nd = ond;
	if (!strcmp(op, "Transpose")) {
		const Onnx__AttributeProto *a = oi__node_attr(gn->n, "perm");
		for (size_t i = 0; i < ond; i++)
			out_map[i] = map[a ? a->ints[i] : (int64_t)(ind - 1 - i)];
		return true;
	}
	if (!strcmp(op, "Gather")) {
		int64_t axis = oi__attr_int(gn->n, "axis", 0);
		if (axis < 0)
			axis += (int64_t)ind;
		size_t extra = ond + 1 - ind; /* rank of the indices */
		size_t k = 0;
		for (size_t i = 0; i < ind; i++) {
			if ((int64_t)i == axis) {
				for (size_t e = 0; e < extra; e++)
					out_map[k++] = -1;
				continue;
			}
			out_map[k++] = map[i];
		}
		return k == ond;
	}
	if (ind == ond && strcmp(op, "Reshape") && strcmp(op, "Flatten")) {
		/* Identity, Cast, Slice, Split, Concat, Dropout, Dequantize... */
		memcpy(out_map, map, ind);
		return true;
	}
	/* Reshape, Flatten, Squeeze, Unsqueeze: pair up the axes whose products
	 * meet; axes of size 1 and merged or split axes map to nothing */
	size_t i = 0, j = 0;
	while (j < ond) {
		if (od[j] == 1) {
			out_map[j++] = -1;
			continue;
		}
		while (i < ind && id[i] == 1)
			i++;
		if (i < ind && id[i] == od[j]) {
			out_map[j++] = map[i++];
			continue;
		}
		int64_t pi = i < ind ? id[i++] : 1, pj = od[j];
		size_t j0 = j++;
		while (pi != pj && (i < ind || j < ond)) {
			if (pi < pj && i < ind)
				pi *= id[i++];
			else if (j < ond)
				pj *= od[j++];
			else
				break;
		}
		for (size_t k = j0; k < j; k++)
			out_map[k] = -1;
	}
	return true;
}

static int follow(ctx *c, int32_t v, const int8_t *map, size_t nd, int depth, bool *too_deep)
{
	int8_t chain_map[OI_MAX_RANK];
	/* a straight run of one-reader layout ops is walked, not recursed, so
	 * that chains of any length cost no stack; shapes are settled on the way
	 * so that their own recursion stays one level deep */
	for (;;) {
		if (c->g.seen[v] == c->g.walk)
			return 0; /* met again: a diamond, or a cycle */
		c->g.seen[v] = c->g.walk;
		size_t snd;
		int64_t sd[OI_MAX_RANK];
		oi__value_shape(&c->g, v, &snd, sd);
		const oi_value *val = &c->g.values[v];
		if (val->n_use != 1)
			break;
		oi_use use = c->g.uses[val->first_use];
		if (!is_layout(c, use.node, use.input) || !strcmp(c->g.nodes[use.node].op, "Split"))
			break;
		int32_t ov = oi__node_output(&c->g, use.node, 0);
		if (ov < 0)
			return 0;
		int8_t omap[OI_MAX_RANK];
		size_t ond = 0;
		bool ok = map && map_through(c, use.node, v, ov, map, nd, omap, &ond);
		if (ok)
			memcpy(chain_map, omap, ond);
		map = ok ? chain_map : NULL;
		nd = ond;
		v = ov;
	}
	if (depth > 64) {
		*too_deep = true;
		return 0;
	}
	const oi_value *val = &c->g.values[v];
	for (uint32_t u = 0; u < val->n_use; u++) {
		oi_use use = c->g.uses[c->g.values[v].first_use + u];
		if (is_layout(c, use.node, use.input)) {
			const Onnx__NodeProto *n = c->g.nodes[use.node].n;
			size_t outs = !strcmp(c->g.nodes[use.node].op, "Split") ? n->n_output : 1;
			for (size_t o = 0; o < outs; o++) {
				int32_t ov = oi__node_output(&c->g, use.node, o);
				if (ov < 0)
					continue;
				int8_t omap[OI_MAX_RANK];
				size_t ond = 0;
				oi__value_shape(&c->g, ov, &ond, (int64_t[OI_MAX_RANK]){ 0 });
				bool ok = map && map_through(c, use.node, v, ov, map, nd, omap, &ond);
				int rc = follow(c, ov, ok ? omap : NULL, ond, depth + 1, too_deep);
				if (rc)
					return rc;
			}
			continue;
		}
		result r;
		c->map = map;
		classify(c, use.node, use.input, v, &r);
		r.input = use.input;
		c->map = NULL;
		int rc = push_found(c, &r);
		if (rc)
			return rc;
	}
	return 0;
}

static void generic_fans(const oi_tensor_info *t, int64_t fans[2][2])
{
	size_t nd = t->ndim;
	const int64_t *d = t->dims;
	fans[TORCH][FIN] = fans[TORCH][FOUT] = -1;
	if (nd >= 2) {
		int64_t rf = prod(d, 2, nd);
		fans[TORCH][FIN] = d[1] * rf;
		fans[TORCH][FOUT] = d[0] * rf;
	}
	if (nd == 0) {
		fans[KERAS][FIN] = fans[KERAS][FOUT] = 1;
	} else if (nd == 1) {
		fans[KERAS][FIN] = fans[KERAS][FOUT] = d[0];
	} else {
		int64_t rf = prod(d, 0, nd - 2);
		fans[KERAS][FIN] = d[nd - 2] * rf;
		fans[KERAS][FOUT] = d[nd - 1] * rf;
	}
}

static double gain_of(const char *act, double slope)
{
	if (!act)
		return NAN;
	if (!strcmp(act, "none") || !strcmp(act, "sigmoid"))
		return 1.0;
	if (!strcmp(act, "relu"))
		return sqrt(2.0);
	if (!strcmp(act, "tanh"))
		return 5.0 / 3.0;
	if (!strcmp(act, "selu"))
		return 3.0 / 4.0;
	if (!strcmp(act, "leaky_relu"))
		return sqrt(2.0 / (1.0 + slope * slope));
	return NAN; /* torch.nn.init.calculate_gain has none for the rest */
}

static int set_text(char **own, const char **view, const char *s)
{
	free(*own);
	*own = s ? oi__strdup(s) : NULL;
	if (s && !*own)
		return OI_ENOMEM;
	*view = *own;
	return 0;
}

/* Every reader's own result, for untie.c: when they want different values,
 * the plan may give each group of them its own tensor. */
static int note_readers(ctx *c, const oi_tensor *t)
{
	oi_reader *rd = c->n_found ? oi__calloc(c->n_found, sizeof *rd) : NULL;
	if (c->n_found && !rd)
		return OI_ENOMEM;
	for (size_t i = 0; i < c->n_found; i++) {
		const result *r = &c->found[i];
		bool fixed = r->role && !strcmp(r->role, "fixed");
		rd[i] = (oi_reader){ .node = r->node, .input = r->input, .role = oi__role_parse(r->role),
		                     .act = fixed ? NULL : r->act, .slope = fixed ? NAN : r->slope,
		                     .gain = fixed ? NAN : gain_of(r->act, r->slope),
		                     .layer = r->layer, .hidden = r->hidden };
		memcpy(rd[i].fans, r->fans, sizeof rd[i].fans);
	}
	int rc = oi__untie_note(c->m, (size_t)(t - c->m->tensors), &c->g, rd, c->n_found);
	free(rd);
	return rc;
}

static bool same_result(const result *a, const result *b)
{
	return !strcmp(a->role, b->role) && !memcmp(a->fans, b->fans, sizeof a->fans);
}

static int apply(ctx *c, oi_tensor *t)
{
	oi_tensor_info *info = &t->info;
	info->role = "fixed";
	info->activation = NULL;
	info->gain = NAN;
	info->act_slope = NAN;
	info->consumers = 0;
	t->layer_node = -1;
	t->rnn_hidden = -1;
	for (int k = 0; k < 2; k++)
		t->fans[k][0] = t->fans[k][1] = -1;
	if (!t->addressable || !oi__dtype_is_float(info->dtype))
		return 0;
	int32_t v = oi__graph_find(&c->g, t->ns, info->name);
	if (v < 0)
		return 0;
	c->n_found = 0;
	c->g.walk++;
	bool too_deep = false;
	int8_t map[OI_MAX_RANK];
	bool mappable = info->ndim <= OI_MAX_RANK;
	for (size_t i = 0; mappable && i < info->ndim; i++)
		map[i] = (int8_t)i;
	c->orig = info->dims;
	c->orig_nd = info->ndim;
	int rc = follow(c, v, mappable ? map : NULL, info->ndim, 0, &too_deep);
	if (rc)
		return rc;
	if (too_deep)
		oi__warn(c->m, "tensor '%s': its data flow loops or nests too deep to follow",
		         info->name);
	info->consumers = c->n_found;
	rc = note_readers(c, t);
	if (rc)
		return rc;
	result best = { 0 };
	bool have = false;
	for (size_t i = 0; i < c->n_found; i++) {
		result *r = &c->found[i];
		if (!r->role)
			continue;
		if (!have) {
			best = *r;
			have = true;
		} else if (!same_result(&best, r) && !t->conflict_own) {
			char *msg = oi__asprintf("%s by %s '%s' but %s by %s '%s'; the first is used",
			                         best.role, c->g.nodes[best.node].op,
			                         c->g.nodes[best.node].label, r->role,
			                         c->g.nodes[r->node].op, c->g.nodes[r->node].label);
			if (!msg)
				return OI_ENOMEM;
			t->conflict_own = msg;
			info->conflict = msg;
			oi__warn(c->m, "tensor '%s' is read as %s", info->name, msg);
		}
	}
	if (!have) {
		/* no consumer says what it is: scalars are constants of the computation,
		 * anything else is learnable with the generic rule */
		if (info->numel <= 1) {
			info->role = "fixed";
			if (c->n_found)
				set_text(&t->op_own, &info->op, c->g.nodes[c->found[0].node].op);
			return 0;
		}
		info->role = "learnable_other";
		generic_fans(info, t->fans);
		if (c->n_found) {
			rc = set_text(&t->op_own, &info->op, c->g.nodes[c->found[0].node].op);
			if (!rc)
				rc = set_text(&t->node_own, &info->node, c->g.nodes[c->found[0].node].label);
		}
		if (!rc)
			rc = oi__warn(c->m, "tensor '%s' %s: learnable_other, generic fans", info->name,
			              c->n_found ? "is read by no layer onnxinit knows"
			                         : "is read by no node");
		return rc;
	}
	info->role = best.role;
	t->layer_node = best.layer;
	t->rnn_hidden = best.hidden;
	for (int k = 0; k < 2; k++)
		for (int j = 0; j < 2; j++)
			t->fans[k][j] = best.fans[k][j];
	rc = set_text(&t->op_own, &info->op, c->g.nodes[best.node].op);
	if (!rc)
		rc = set_text(&t->node_own, &info->node, c->g.nodes[best.node].label);
	if (!strcmp(best.role, "fixed"))
		return rc;
	info->activation = best.act;
	info->act_slope = best.slope;
	info->gain = gain_of(best.act, best.slope);
	return rc;
}

static void publish_fans(oi_model *m)
{
	int k = m->fan_convention == OI_FANS_KERAS ? KERAS : TORCH;
	for (size_t i = 0; i < m->n_tensors; i++) {
		m->tensors[i].info.fan_in = m->tensors[i].fans[k][FIN];
		m->tensors[i].info.fan_out = m->tensors[i].fans[k][FOUT];
	}
}

int oi_model_set_fan_convention(oi_model *m, int convention)
{
	if (convention != OI_FANS_TORCH && convention != OI_FANS_KERAS)
		return oi__fail(OI_EARG, "unknown fan convention %d", convention);
	m->fan_convention = convention;
	publish_fans(m);
	return 0;
}

/* The constant tensor a value comes from through layout ops, or -1. */
static int32_t root_tensor(ctx *c, int32_t v)
{
	for (int step = 0; step < 32 && v >= 0; step++) {
		const oi_value *val = &c->g.values[v];
		if (val->tensor >= 0)
			return val->tensor;
		if (val->producer < 0 || !is_layout(c, val->producer, 0))
			return -1;
		v = oi__node_input(&c->g, val->producer, 0);
	}
	return -1;
}

/* The fans of the weight of layer (a tensor other than self), if known. */
static void layer_fans(ctx *c, int32_t layer, size_t self, int64_t fans[2][2])
{
	oi_model *m = c->m;
	int32_t in[2];
	size_t n = weight_inputs(&c->g.nodes[layer], in);
	for (size_t k = 0; k < n; k++) {
		int32_t w = root_tensor(c, oi__node_input(&c->g, layer, (size_t)in[k]));
		if (w < 0 || (size_t)w == self || m->tensors[w].fans[TORCH][FIN] < 0)
			continue;
		memcpy(fans, m->tensors[w].fans, sizeof m->tensors[w].fans);
		return;
	}
}

/* A bias carries the fans its layer's weight was given (those of the
 * parameter it is, however it reached the layer). */
static void bias_fans_from_weights(ctx *c)
{
	oi_model *m = c->m;
	for (size_t i = 0; i < m->n_tensors; i++)
		if (m->tensors[i].layer_node >= 0)
			layer_fans(c, m->tensors[i].layer_node, i, m->tensors[i].fans);
	oi_reader *rd;
	for (size_t i = 0; (rd = oi__untie_reader(m, i)); i++)
		if (rd->layer >= 0)
			layer_fans(c, rd->layer, rd->tensor, rd->fans);
}

int oi__analyse(oi_model *m)
{
	ctx c = { .m = m };
	oi__untie_reset(m);
	int rc = oi__graph_build(&c.g, m);
	for (size_t i = 0; i < m->n_tensors && !rc; i++)
		rc = apply(&c, &m->tensors[i]);
	if (!rc)
		bias_fans_from_weights(&c);
	for (size_t i = 0; i < m->n_tensors; i++)
		m->tensors[i].role = oi__role_parse(m->tensors[i].info.role);
	publish_fans(m);
	oi__graph_free(&c.g);
	free(c.found);
	return rc;
}
