/* Role, fan and activation inference: each float constant is followed
 * through layout-only ops to the nodes that consume it; the op table row of
 * each consumer (ops.c) names the handler below that says, from its input
 * position, attributes and operand shape, what the tensor is. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "residual.h"
#include "tensor.h"
#include "untie.h"

enum { TORCH = 0, KERAS = 1 };
enum { FIN = 0, FOUT = 1 };

typedef struct oi_role_result {
	oi_role role;          /* OI_ROLE_NONE: the consumer does not say */
	int32_t node;          /* the consumer that decided; -1 none */
	int32_t input;         /* the input of node the tensor reached */
	int64_t fans[2][2];
	oi_act act;            /* OI_ACT_UNSET: not applicable */
	double slope;          /* leaky_relu */
	int32_t act_node;      /* the node whose output the activation follows */
	int32_t layer;         /* bias: the layer whose weight's fans it carries */
	int64_t hidden;        /* RNN roles: hidden_size */
} result;

/* The value reaching input `input` of node, with its shape if known. */
typedef struct oi_operand {
	int32_t node, input, v;
	const oi_op_def *def;
	bool shaped;
	size_t nd;
	int64_t d[OI_MAX_RANK];
} operand;

typedef struct oi_role_ctx {
	oi_graph g;
	oi_model *m;
	result *found;
	size_t n_found, cap_found;
	/* the tensor being followed: its own shape, and for the value reaching the
	 * consumer, which of its axes each axis came from (-1: none or merged) */
	const int64_t *orig;
	size_t orig_nd;
	const int8_t *map;
	bool quiet;            /* looking at a weight for its bias: said already */
	int32_t gather;        /* the first Gather by constant indices it went through, or -1 */
} ctx;

/* What an axis of a weight operand is, for the fans. */
enum { L_IN = 1, L_OUT = 2, L_K = 3, L_D = 0 /* direction/batch: not counted */ };

static void classify(ctx *c, int32_t node, int32_t input, int32_t v, result *r);

static bool op_is(const ctx *c, int32_t node, oi_op_id id)
{
	return oi__node_is(&c->g, node, id);
}

static bool has_flag(const ctx *c, int32_t node, unsigned flag)
{
	const oi_op_def *def = c->g.nodes[node].def;
	return def && (def->flags & flag);
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

/* Fans past 64 bits (dims a zero-sized weight may have) are not known. */
static void fans_overflow(ctx *c, int32_t node, result *r)
{
	no_fans(r);
	if (!c->quiet)
		oi__warn(c->m, "node '%s' (%s): the fans of its weight overflow 64 bits; they are "
		         "unknown", c->g.nodes[node].label, c->g.nodes[node].op);
}

/* The product of d[from..to), false if it overflows. */
static bool prod(const int64_t *d, size_t from, size_t to, int64_t *out)
{
	int64_t p = 1;
	for (size_t i = from; i < to; i++)
		if (!oi__mul_i64(p, d[i], &p))
			return false;
	*out = p;
	return true;
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
		if (((lab[i] == L_IN || lab[i] == L_K) && !oi__mul_i64(fin, size, &fin)) ||
		    ((lab[i] == L_OUT || lab[i] == L_K) && !oi__mul_i64(fout, size, &fout))) {
			fans_overflow(c, r->node, r);
			return;
		}
	}
	set_fans(r, fin, fout, keras_in >= 0 ? keras_in : fin, keras_out >= 0 ? keras_out : fout);
}

/* ---- activations -------------------------------------------------------- */

static bool const_value(const oi_graph *g, int32_t v)
{
	if (v < 0)
		return false;
	const oi_value *val = &g->values[v];
	if (val->tensor >= 0)
		return true;
	return val->producer >= 0 && oi__node_is(g, val->producer, OI_OP_CONSTANT);
}

static bool scalar_const(oi_graph *g, int32_t v, double *out)
{
	size_t n;
	double buf[1];
	if (!const_value(g, v) || !oi__value_floats(g, v, buf, 1, &n) || n != 1)
		return false;
	if (g->values[v].tensor >= 0 && g->m->tensors[g->values[v].tensor].info.numel != 1)
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
static oi_act pattern_activation(ctx *c, int32_t v)
{
	const oi_value *val = &c->g.values[v];
	bool sigmoid = false, hardsig = false, erf = false, pow3 = false, mul_self = false;
	for (uint32_t u = 0; u < val->n_use; u++) {
		int32_t node = c->g.uses[val->first_use + u].node;
		if (op_is(c, node, OI_OP_SIGMOID))
			sigmoid = true;
		else if (op_is(c, node, OI_OP_HARD_SIGMOID))
			hardsig = true;
		else if (op_is(c, node, OI_OP_MUL))
			mul_self = true;
		if (op_is(c, node, OI_OP_DIV) || op_is(c, node, OI_OP_MUL)) {
			int32_t r = only_reader(c, oi__node_output(&c->g, node, 0));
			if (r >= 0 && op_is(c, r, OI_OP_ERF))
				erf = true;
		}
		if (op_is(c, node, OI_OP_POW))
			pow3 = true;
		if (op_is(c, node, OI_OP_ERF))
			erf = true;
	}
	if ((erf || pow3) && mul_self)
		return OI_ACT_GELU;
	if (sigmoid && mul_self)
		return OI_ACT_SILU;
	if (hardsig && mul_self)
		return OI_ACT_HARD_SWISH;
	return OI_ACT_UNSET;
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

oi_act oi__act_leaky_relu(oi_graph *g, int32_t node, double *slope)
{
	const Onnx__AttributeProto *a = oi__node_attr(g->nodes[node].n, "alpha");
	*slope = a && a->has_f ? float_as_written(a->f) : 0.01;
	return OI_ACT_LEAKY_RELU;
}

oi_act oi__act_prelu(oi_graph *g, int32_t node, double *slope)
{
	double s[1];
	size_t k;
	*slope = oi__value_floats(g, oi__node_input(g, node, 1), s, 1, &k) && k
	             ? float_as_written((float)s[0]) : 0.25;
	return OI_ACT_LEAKY_RELU;
}

oi_act oi__act_clip(oi_graph *g, int32_t node, double *slope)
{
	OI_UNUSED(slope);
	const Onnx__NodeProto *n = g->nodes[node].n;
	double lo = NAN, hi = NAN;
	const Onnx__AttributeProto *a;
	if ((a = oi__node_attr(n, "min")) && a->has_f)
		lo = a->f;
	if ((a = oi__node_attr(n, "max")) && a->has_f)
		hi = a->f;
	double x;
	if (scalar_const(g, oi__node_input(g, node, 1), &x))
		lo = x;
	if (scalar_const(g, oi__node_input(g, node, 2), &x))
		hi = x;
	if (lo == 0 && hi == 6)
		return OI_ACT_RELU6;
	if (lo == 0 && isnan(hi))
		return OI_ACT_RELU;
	return OI_ACT_UNSET;
}

static oi_act activation_of_op(ctx *c, int32_t node, double *slope)
{
	const oi_op_def *def = c->g.nodes[node].def;
	if (!def)
		return OI_ACT_UNSET;
	return def->act_fn ? def->act_fn(&c->g, node, slope) : (oi_act)def->act;
}

/* The activation applied to the output of node, looking through bias and
 * residual Add, BatchNorm, Identity, Dropout and layout ops. */
static oi_act activation_after(ctx *c, int32_t node, double *slope)
{
	*slope = NAN;
	int32_t v = oi__node_output(&c->g, node, 0);
	for (int step = 0; step < 16 && v >= 0; step++) {
		oi_act pat = pattern_activation(c, v);
		if (pat)
			return pat;
		int32_t r = only_reader(c, v);
		if (r < 0)
			return OI_ACT_NONE;
		oi_act act = activation_of_op(c, r, slope);
		if (act)
			return act;
		if (!has_flag(c, r, OI_OP_PASSES_ACT))
			return OI_ACT_NONE;
		v = oi__node_output(&c->g, r, 0);
	}
	return OI_ACT_NONE;
}

static oi_act rnn_activation(const Onnx__NodeProto *n, size_t which)
{
	const Onnx__AttributeProto *a = oi__node_attr(n, "activations");
	const char *name = a && a->n_strings > which ? (const char *)a->strings[which].data : NULL;
	size_t len = a && a->n_strings > which ? a->strings[which].len : 0;
	if (!name)
		return OI_ACT_TANH;
	if (len == 4 && !strncmp(name, "Tanh", 4))
		return OI_ACT_TANH;
	if (len == 4 && !strncmp(name, "Relu", 4))
		return OI_ACT_RELU;
	if (len == 7 && !strncmp(name, "Sigmoid", 7))
		return OI_ACT_SIGMOID;
	return OI_ACT_NONE;
}

/* ---- what a consumer says ----------------------------------------------- */

/* The inputs of a layer node that may hold its weight, likeliest first. */
static size_t weight_inputs(const ctx *c, int32_t node, int32_t in[2])
{
	in[0] = 1;
	in[1] = 0;
	return has_flag(c, node, OI_OP_WEIGHT_EITHER) ? 2 : 1;
}

/* A layer's weight's fans, for its bias: a constant operand first; else one
 * whose shape follows from constants through layout ops. */
static bool layer_weight_fans(ctx *c, int32_t node, result *r)
{
	const int8_t *saved = c->map;
	bool was_quiet = c->quiet;
	c->map = NULL; /* the map is the bias's, not the weight's */
	c->quiet = true;
	int32_t in[2];
	size_t n = weight_inputs(c, node, in);
	bool found = false;
	for (int pass = 0; pass < 2 && !found; pass++)
		for (size_t k = 0; k < n && !found; k++) {
			int32_t wv = oi__node_input(&c->g, node, (size_t)in[k]);
			size_t nd;
			int64_t d[OI_MAX_RANK];
			if (wv < 0 || (pass == 0 ? !const_value(&c->g, wv)
			                         : !oi__value_shape(&c->g, wv, &nd, d)))
				continue;
			result tmp;
			classify(c, node, in[k], wv, &tmp);
			memcpy(r->fans, tmp.fans, sizeof r->fans);
			found = true;
		}
	c->map = saved;
	c->quiet = was_quiet;
	return found;
}

/* The layer node that produced v, looking back through reshaping ops. */
static int32_t layer_before(ctx *c, int32_t v)
{
	for (int step = 0; step < 8 && v >= 0; step++) {
		int32_t p = c->g.values[v].producer;
		if (p < 0)
			return -1;
		if (has_flag(c, p, OI_OP_LAYER))
			return p;
		if (!has_flag(c, p, OI_OP_SAME_VALUES))
			return -1;
		v = oi__node_input(&c->g, p, 0);
	}
	return -1;
}

static bool produced_by(ctx *c, int32_t v, oi_op_id id)
{
	int32_t p = v >= 0 ? c->g.values[v].producer : -1;
	return p >= 0 && op_is(c, p, id);
}

/* x / sqrt(...) or x * reciprocal(sqrt(...)): a normalization. */
static bool is_normalized(ctx *c, int32_t v)
{
	int32_t p = v >= 0 ? c->g.values[v].producer : -1;
	if (p < 0)
		return false;
	if (op_is(c, p, OI_OP_DIV))
		return produced_by(c, oi__node_input(&c->g, p, 1), OI_OP_SQRT);
	if (op_is(c, p, OI_OP_MUL))
		for (size_t i = 0; i < 2; i++)
			if (produced_by(c, oi__node_input(&c->g, p, i), OI_OP_RECIPROCAL))
				return true;
	return false;
}

static bool is_norm_scale_mul(ctx *c, int32_t node)
{
	if (!op_is(c, node, OI_OP_MUL))
		return false;
	for (size_t i = 0; i < 2; i++)
		if (is_normalized(c, oi__node_input(&c->g, node, i)) &&
		    const_value(&c->g, oi__node_input(&c->g, node, 1 - i)))
			return true;
	return false;
}

static void layer_act(ctx *c, result *r, int32_t node)
{
	r->act = activation_after(c, node, &r->slope);
	r->act_node = node;
}

static void norm_result(ctx *c, result *r, oi_role role, int32_t node)
{
	r->role = role;
	no_fans(r);
	layer_act(c, r, node);
}

static void layer_bias(ctx *c, result *r, int32_t layer)
{
	r->role = OI_ROLE_BIAS;
	r->layer = layer;
	layer_weight_fans(c, layer, r);
	layer_act(c, r, layer);
}

/* A weight whose shape cannot be followed: said once per consumer, and
 * left to the generic rule. */
static bool unshaped(ctx *c, const operand *o, result *r)
{
	if (o->shaped)
		return false;
	oi__warn(c->m, "node '%s' (%s): the shape of a weight reaching it cannot be followed "
	         "(dynamic shapes, or a bad perm/axes on the way)", c->g.nodes[o->node].label,
	         c->g.nodes[o->node].op);
	r->role = OI_ROLE_NONE;
	return true;
}

void oi__role_conv(ctx *c, const operand *o, result *r)
{
	if (o->input == 2) {
		layer_bias(c, r, o->node);
		return;
	}
	if (o->input != 1)
		return;
	const oi_gnode *gn = &c->g.nodes[o->node];
	bool transposed = o->def->id == OI_OP_CONV_TRANSPOSE;
	size_t nd = o->nd;
	const int64_t *d = o->d;
	const Onnx__AttributeProto *ks = oi__node_attr(gn->n, "kernel_shape");
	if (!o->shaped || nd < 3 || (ks && ks->n_ints != nd - 2)) {
		r->role = OI_ROLE_LEARNABLE_OTHER;
		oi__warn(c->m, "node '%s' (%s): its weight's rank does not fit its attributes; "
		         "treating the weight as %s", gn->label, gn->op, oi__role_name(r->role));
		return;
	}
	for (size_t i = 0; ks && i < ks->n_ints; i++)
		if (ks->ints[i] != d[2 + i]) {
			r->role = OI_ROLE_LEARNABLE_OTHER;
			oi__warn(c->m, "node '%s' (%s): kernel_shape disagrees with its weight",
			         gn->label, gn->op);
			return;
		}
	r->role = transposed ? OI_ROLE_CONV_TRANSPOSE_WEIGHT : OI_ROLE_CONV_WEIGHT;
	int64_t k, group = oi__attr_int(gn->n, "group", 1);
	uint8_t lab[OI_MAX_RANK] = { L_OUT, L_IN, L_K, L_K, L_K, L_K, L_K, L_K };
	if (!prod(d, 2, nd, &k)) {
		fans_overflow(c, o->node, r);
	} else if (!transposed && group > 1 && d[1] == 1) {
		/* depthwise: Keras's DepthwiseConv kernel (k..., in, multiplier) */
		int64_t kin, kout;
		if (oi__mul_i64(group, k, &kin) && oi__mul_i64(d[0] / group, k, &kout))
			labeled_fans(c, r, nd, d, lab, kin, kout);
		else
			fans_overflow(c, o->node, r);
	} else {
		labeled_fans(c, r, nd, d, lab, -1, -1);
	}
	layer_act(c, r, o->node);
}

void oi__role_gemm(ctx *c, const operand *o, result *r)
{
	if (o->input == 2) {
		layer_bias(c, r, o->node);
		return;
	}
	if (o->input > 1 || unshaped(c, o, r))
		return;
	r->role = OI_ROLE_DENSE_WEIGHT;
	if (o->nd == 2) {
		bool trans = oi__attr_int(c->g.nodes[o->node].n, o->input == 1 ? "transB" : "transA",
		                          0) != 0;
		/* B: (K, N), or (N, K) transposed; A: (M, K), or (K, M) transposed */
		bool in_first = o->input == 1 ? !trans : trans;
		uint8_t lab[2] = { in_first ? L_IN : L_OUT, in_first ? L_OUT : L_IN };
		labeled_fans(c, r, o->nd, o->d, lab, -1, -1);
	}
	layer_act(c, r, o->node);
}

void oi__role_matmul(ctx *c, const operand *o, result *r)
{
	if (o->input > 1)
		return;
	if (o->shaped && o->nd >= 2) {
		r->role = OI_ROLE_DENSE_WEIGHT;
		uint8_t lab[OI_MAX_RANK] = { 0 }; /* leading axes: batch */
		lab[o->nd - 2] = o->input == 1 ? L_IN : L_OUT;
		lab[o->nd - 1] = o->input == 1 ? L_OUT : L_IN;
		labeled_fans(c, r, o->nd, o->d, lab, -1, -1);
		layer_act(c, r, o->node);
		return;
	}
	unshaped(c, o, r); /* else a vector operand: the generic rule */
}

void oi__role_rnn(ctx *c, const operand *o, result *r)
{
	int32_t node = o->node;
	const Onnx__NodeProto *n = c->g.nodes[node].n;
	size_t act_index = o->def->id == OI_OP_RNN ? 0 : 1;
	/* hidden_size, or the R operand's last axis */
	r->hidden = oi__attr_int(n, "hidden_size", -1);
	if (r->hidden <= 0) {
		size_t rnd;
		int64_t rd[OI_MAX_RANK];
		if (oi__value_shape(&c->g, oi__node_input(&c->g, node, 2), &rnd, rd) && rnd == 3)
			r->hidden = rd[2];
	}
	r->act = rnn_activation(n, act_index);
	r->act_node = node;
	size_t wnd;
	int64_t wd[OI_MAX_RANK];
	if ((o->input == 1 || o->input == 2) && unshaped(c, o, r))
		return;
	switch (o->input) {
	case 1: case 2:
		r->role = o->input == 1 ? OI_ROLE_RNN_INPUT_WEIGHT : OI_ROLE_RNN_RECURRENT_WEIGHT;
		if (o->nd == 3) {
			static const uint8_t lab[3] = { L_D, L_OUT, L_IN }; /* per direction */
			labeled_fans(c, r, o->nd, o->d, lab, -1, -1);
		}
		return;
	case 3:
		r->role = OI_ROLE_RNN_BIAS;
		r->layer = node;
		if (oi__value_shape(&c->g, oi__node_input(&c->g, node, 1), &wnd, wd) && wnd == 3)
			set_fans(r, wd[2], wd[1], wd[2], wd[1]);
		return;
	case 7:
		r->role = OI_ROLE_RNN_PEEPHOLE;
		return;
	default: /* sequence_lens, initial states */
		r->role = OI_ROLE_FIXED;
		r->act = OI_ACT_UNSET;
		return;
	}
}

void oi__role_gather(ctx *c, const operand *o, result *r)
{
	if (o->input != 0 || unshaped(c, o, r))
		return;
	r->role = OI_ROLE_EMBEDDING;
	if (o->nd == 2) {
		/* torch's (V, D) gives fan_in D; Keras's compute_fans gives fan_in V */
		static const uint8_t lab[2] = { L_OUT, L_IN };
		labeled_fans(c, r, o->nd, o->d, lab,
		             c->map && c->map[0] >= 0 ? c->orig[c->map[0]] : o->d[0],
		             c->map && c->map[1] >= 0 ? c->orig[c->map[1]] : o->d[1]);
	}
	layer_act(c, r, o->node);
}

void oi__role_batch_norm(ctx *c, const operand *o, result *r)
{
	static const oi_role roles[] = { OI_ROLE_NONE, OI_ROLE_NORM_SCALE, OI_ROLE_NORM_BIAS,
		                         OI_ROLE_NORM_MEAN, OI_ROLE_NORM_VAR };
	if (o->input >= 1 && o->input <= 4)
		norm_result(c, r, roles[o->input], o->node);
}

void oi__role_norm(ctx *c, const operand *o, result *r)
{
	if (o->input == 1 || o->input == 2)
		norm_result(c, r, o->input == 1 ? OI_ROLE_NORM_SCALE : OI_ROLE_NORM_BIAS, o->node);
}

void oi__role_skip_norm(ctx *c, const operand *o, result *r)
{
	if (o->input >= 2)
		norm_result(c, r, o->input == 2 ? OI_ROLE_NORM_SCALE
		                  : o->input == 3 ? OI_ROLE_NORM_BIAS : OI_ROLE_BIAS, o->node);
}

void oi__role_prelu(ctx *c, const operand *o, result *r)
{
	OI_UNUSED(c);
	if (o->input == 1)
		r->role = OI_ROLE_PRELU_SLOPE;
}

void oi__role_attention(ctx *c, const operand *o, result *r)
{
	if (o->input != 1 && o->input != 2)
		return;
	r->role = o->input == 1 ? OI_ROLE_DENSE_WEIGHT : OI_ROLE_BIAS;
	size_t wnd;
	int64_t wd[OI_MAX_RANK];
	if (oi__value_shape(&c->g, oi__node_input(&c->g, o->node, 1), &wnd, wd) && wnd == 2)
		set_fans(r, wd[0], wd[1], wd[0], wd[1]);
	r->act = OI_ACT_NONE;
	r->act_node = o->node;
}

void oi__role_mha(ctx *c, const operand *o, result *r)
{
	OI_UNUSED(c);
	if (o->input == 3) {
		r->role = OI_ROLE_BIAS;
		r->act = OI_ACT_NONE;
	}
}

void oi__role_embed_norm(ctx *c, const operand *o, result *r)
{
	OI_UNUSED(c);
	if (o->input < 2 || o->input > 6)
		return;
	if (o->input <= 4) {
		r->role = OI_ROLE_EMBEDDING;
		if (o->shaped && o->nd == 2)
			set_fans(r, o->d[1], o->d[0], o->d[0], o->d[1]);
	} else {
		r->role = o->input == 5 ? OI_ROLE_NORM_SCALE : OI_ROLE_NORM_BIAS;
	}
}

/* Add, Sub, Mul: a normalization's scale or shift, or a layer's bias. */
void oi__role_arith(ctx *c, const operand *o, result *r)
{
	if (o->input > 1)
		return;
	int32_t node = o->node;
	int32_t other = oi__node_input(&c->g, node, (size_t)(1 - o->input));
	if (o->def->id == OI_OP_MUL && is_normalized(c, other)) {
		norm_result(c, r, OI_ROLE_NORM_SCALE, node);
		return;
	}
	if (o->def->id != OI_OP_ADD)
		return;
	int32_t op_node = other >= 0 ? c->g.values[other].producer : -1;
	if (op_node >= 0 && (is_norm_scale_mul(c, op_node) || is_normalized(c, other))) {
		norm_result(c, r, OI_ROLE_NORM_BIAS, node);
		return;
	}
	if (c->gather < 0 && op_node >= 0 && op_is(c, op_node, OI_OP_GATHER) && o->shaped &&
	    o->nd >= 2 && const_value(&c->g, oi__node_input(&c->g, op_node, 0))) {
		/* added to a token embedding's lookup: a learned positional embedding
		 * whose rows 0..T-1 the exporter looked up itself (one looked up in
		 * the graph is the Gather's to say: apply) */
		r->role = OI_ROLE_EMBEDDING;
		if (o->nd == 2) {
			static const uint8_t lab[2] = { L_OUT, L_IN };
			labeled_fans(c, r, o->nd, o->d, lab, o->d[0], o->d[1]);
		}
		layer_act(c, r, node);
		return;
	}
	int32_t layer = layer_before(c, other);
	if (layer >= 0)
		layer_bias(c, r, layer);
}

/* What the tensor reaching input `input` of node (as value v) is. */
static void classify(ctx *c, int32_t node, int32_t input, int32_t v, result *r)
{
	operand o = { .node = node, .input = input, .v = v, .def = c->g.nodes[node].def };
	o.shaped = oi__value_shape(&c->g, v, &o.nd, o.d);
	memset(r, 0, sizeof *r);
	r->node = node;
	r->act_node = -1;
	r->layer = -1;
	r->hidden = -1;
	r->slope = NAN;
	no_fans(r);
	if (!o.def)
		return; /* undecided: the caller applies the generic rule */
	if (o.def->role)
		o.def->role(c, &o, r);
	else if ((o.def->flags & OI_OP_FIXED_TAIL) && input >= o.def->fixed_from)
		r->role = OI_ROLE_FIXED;
}

/* ---- following a tensor ------------------------------------------------- */

static bool is_layout(ctx *c, int32_t node, int32_t input)
{
	const oi_op_def *def = c->g.nodes[node].def;
	if (!def)
		return false;
	if (def->flags & OI_OP_LAYOUT_ALL)
		return true;
	if (input != 0)
		return false;
	if (def->flags & OI_OP_LAYOUT_CONST_INDEX)
		return const_value(&c->g, oi__node_input(&c->g, node, 1));
	return (def->flags & OI_OP_LAYOUT) != 0;
}

/* Reshape, Flatten, Squeeze, Unsqueeze: pair up the axes whose products
 * meet; axes of size 1 and merged or split axes map to nothing. False if
 * the products overflow. */
static bool regroup_axes(const int64_t *id, size_t ind, const int64_t *od, size_t ond,
                         const int8_t *map, int8_t *out_map)
{
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
			if (pi < pj && i < ind) {
				if (!oi__mul_i64(pi, id[i++], &pi))
					return false;
			} else if (j < ond) {
				if (!oi__mul_i64(pj, od[j++], &pj))
					return false;
			} else {
				break;
			}
		}
		for (size_t k = j0; k < j; k++)
			out_map[k] = -1;
	}
	return true;
}

/* How the axes of a layout op's output come from its input's: out_map[j] is
 * the original axis of output axis j, or -1. False if it cannot be told. */
static bool map_through(ctx *c, int32_t node, int32_t in_v, int32_t out_v, const int8_t *map,
                        size_t in_nd, int8_t *out_map, size_t *out_nd)
{
	const oi_gnode *gn = &c->g.nodes[node];
	size_t ind, ond;
	int64_t id[OI_MAX_RANK], od[OI_MAX_RANK];
	if (!oi__value_shape(&c->g, in_v, &ind, id) || !oi__value_shape(&c->g, out_v, &ond, od) ||
	    ind != in_nd)
		return false;
	*out_nd = ond;
	switch (gn->def->axes) {
	case OI_AXES_PERM: {
		const Onnx__AttributeProto *a = oi__node_attr(gn->n, "perm");
		for (size_t i = 0; i < ond; i++)
			out_map[i] = map[a ? a->ints[i] : (int64_t)(ind - 1 - i)];
		return true;
	}
	case OI_AXES_GATHER: {
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
	case OI_AXES_KEEP:
		if (ind == ond) {
			/* Identity, Cast, Slice, Split, Concat, Dropout, Dequantize... */
			memcpy(out_map, map, ind);
			return true;
		}
		break;
	default:
		break;
	}
	return regroup_axes(id, ind, od, ond, map, out_map);
}

static int push_found(ctx *c, const result *r)
{
	if (OI_GROW(c->found, c->n_found, c->cap_found))
		return OI_ENOMEM;
	c->found[c->n_found++] = *r;
	return 0;
}

/* A table looked up by constant indices (a learned positional embedding
 * read at positions 0..T-1) is followed as a slice of itself; if nothing
 * after it says what it is, it is an embedding all the same. */
static void note_gather(ctx *c, oi_use use)
{
	if (c->gather < 0 && use.input == 0 && op_is(c, use.node, OI_OP_GATHER))
		c->gather = use.node;
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
		if (!is_layout(c, use.node, use.input) || has_flag(c, use.node, OI_OP_EVERY_OUTPUT))
			break;
		note_gather(c, use);
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
			note_gather(c, use);
			const Onnx__NodeProto *n = c->g.nodes[use.node].n;
			size_t outs = has_flag(c, use.node, OI_OP_EVERY_OUTPUT) ? n->n_output : 1;
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

/* ---- deciding a tensor -------------------------------------------------- */

/* torch's _calculate_fan_in_and_fan_out and Keras's compute_fans on the
 * tensor's own shape; false (those fans left -1) where they overflow. */
static bool generic_fans(const oi_tensor_info *t, int64_t fans[2][2])
{
	size_t nd = t->ndim;
	const int64_t *d = t->dims;
	int64_t rf;
	bool torch_ok = true, keras_ok = true;
	fans[TORCH][FIN] = fans[TORCH][FOUT] = -1;
	if (nd >= 2)
		torch_ok = prod(d, 2, nd, &rf) && oi__mul_i64(d[1], rf, &fans[TORCH][FIN]) &&
		           oi__mul_i64(d[0], rf, &fans[TORCH][FOUT]);
	if (nd == 0) {
		fans[KERAS][FIN] = fans[KERAS][FOUT] = 1;
	} else if (nd == 1) {
		fans[KERAS][FIN] = fans[KERAS][FOUT] = d[0];
	} else {
		keras_ok = prod(d, 0, nd - 2, &rf) && oi__mul_i64(d[nd - 2], rf, &fans[KERAS][FIN]) &&
		           oi__mul_i64(d[nd - 1], rf, &fans[KERAS][FOUT]);
	}
	if (!torch_ok)
		fans[TORCH][FIN] = fans[TORCH][FOUT] = -1;
	if (!keras_ok)
		fans[KERAS][FIN] = fans[KERAS][FOUT] = -1;
	return torch_ok && keras_ok;
}

static int set_text(oi_model *m, const char **view, const char *s)
{
	*view = s ? oi__model_strdup(m, s) : NULL;
	return s && !*view ? OI_ENOMEM : 0;
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
		bool fixed = r->role == OI_ROLE_FIXED;
		rd[i] = (oi_reader){ .node = r->node, .input = r->input, .role = r->role,
		                     .act = fixed ? NULL : oi__act_name(r->act),
		                     .slope = fixed ? NAN : r->slope,
		                     .gain = fixed ? NAN : oi__act_gain(r->act, r->slope),
		                     .layer = r->layer, .hidden = r->hidden };
		memcpy(rd[i].fans, r->fans, sizeof rd[i].fans);
	}
	int rc = oi__untie_note(c->m, (size_t)(t - c->m->tensors), &c->g, rd, c->n_found);
	free(rd);
	return rc;
}

static bool same_result(const result *a, const result *b)
{
	return a->role == b->role && !memcmp(a->fans, b->fans, sizeof a->fans);
}

static void reset(oi_tensor *t)
{
	oi_tensor_info *info = &t->info;
	t->role = OI_ROLE_FIXED;
	info->role = oi__role_name(t->role);
	info->op = info->node = info->conflict = NULL;
	info->activation = NULL;
	info->gain = NAN;
	info->act_slope = NAN;
	info->consumers = 0;
	t->layer_node = -1;
	t->role_node = -1;
	t->rnn_hidden = -1;
	for (int k = 0; k < 2; k++)
		t->fans[k][0] = t->fans[k][1] = -1;
}

/* The first consumer that says what t is; the others that disagree are a
 * conflict, reported once. */
static int pick(ctx *c, oi_tensor *t, result *best)
{
	bool have = false;
	for (size_t i = 0; i < c->n_found; i++) {
		result *r = &c->found[i];
		if (!r->role)
			continue;
		if (!have) {
			*best = *r;
			have = true;
		} else if (!same_result(best, r) && !t->info.conflict) {
			char *msg = oi__asprintf("%s by %s '%s' but %s by %s '%s'; the first is used",
			                         oi__role_name(best->role), c->g.nodes[best->node].op,
			                         c->g.nodes[best->node].label, oi__role_name(r->role),
			                         c->g.nodes[r->node].op, c->g.nodes[r->node].label);
			int rc = msg ? set_text(c->m, &t->info.conflict, msg) : OI_ENOMEM;
			free(msg);
			if (rc)
				return rc;
			oi__warn(c->m, "tensor '%s' is read as %s", t->info.name, t->info.conflict);
		}
	}
	return have ? 1 : 0;
}

/* No consumer says what t is: scalars are constants of the computation,
 * anything else is learnable with the generic rule. */
static int undecided(ctx *c, oi_tensor *t)
{
	oi_tensor_info *info = &t->info;
	const oi_gnode *first = c->n_found ? &c->g.nodes[c->found[0].node] : NULL;
	if (info->numel <= 1) {
		if (first)
			set_text(c->m, &info->op, first->op);
		return 0;
	}
	t->role = OI_ROLE_LEARNABLE_OTHER;
	info->role = oi__role_name(t->role);
	int rc = 0;
	if (!generic_fans(info, t->fans))
		rc = oi__warn(c->m, "tensor '%s': its fans overflow 64 bits; they are unknown",
		              info->name);
	if (first && !rc) {
		rc = set_text(c->m, &info->op, first->op);
		if (!rc)
			rc = set_text(c->m, &info->node, first->label);
	}
	if (!rc)
		rc = oi__warn(c->m, "tensor '%s' %s: %s, generic fans", info->name,
		              first ? "is read by no layer onnxinit knows" : "is read by no node",
		              info->role);
	return rc;
}

static int apply(ctx *c, oi_tensor *t)
{
	oi_tensor_info *info = &t->info;
	reset(t);
	if (!t->addressable || !oi__dtype_is_float(info->dtype))
		return 0;
	int32_t v = oi__graph_find(&c->g, t->ns, info->name);
	if (v < 0)
		return 0;
	c->n_found = 0;
	c->gather = -1;
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
	rc = pick(c, t, &best);
	if (rc == 0 && c->gather >= 0) {
		/* the Gather's own verdict, on the table's own shape */
		classify(c, c->gather, 0, v, &best);
		rc = best.role ? 1 : 0;
	}
	if (rc <= 0)
		return rc < 0 ? rc : undecided(c, t);
	t->role = best.role;
	info->role = oi__role_name(t->role);
	t->layer_node = best.layer;
	t->role_node = best.node;
	t->rnn_hidden = best.hidden;
	for (int k = 0; k < 2; k++)
		for (int j = 0; j < 2; j++)
			t->fans[k][j] = best.fans[k][j];
	rc = set_text(c->m, &info->op, c->g.nodes[best.node].op);
	if (!rc)
		rc = set_text(c->m, &info->node, c->g.nodes[best.node].label);
	if (best.role == OI_ROLE_FIXED)
		return rc;
	info->activation = oi__act_name(best.act);
	info->act_slope = best.slope;
	info->gain = oi__act_gain(best.act, best.slope);
	return rc;
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
	size_t n = weight_inputs(c, layer, in);
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

static void publish_fans(oi_model *m)
{
	int k = m->fan_convention == OI_FANS_KERAS ? KERAS : TORCH;
	for (size_t i = 0; i < m->n_tensors; i++) {
		m->tensors[i].info.fan_in = m->tensors[i].fans[k][FIN];
		m->tensors[i].info.fan_out = m->tensors[i].fans[k][FOUT];
	}
}

int oi_model_analyse(oi_model *m, const oi_analyse_options *opts)
{
	if (!m)
		return oi__fail(OI_EARG, "no model given");
	if (opts && opts->version != OI_ANALYSE_OPTIONS_VERSION)
		return oi__fail(OI_EARG, "%s: oi_analyse_options version %u is not %u", m->path,
		                opts->version, OI_ANALYSE_OPTIONS_VERSION);
	int convention = opts ? (int)opts->fan_convention : OI_FANS_TORCH;
	if (convention != OI_FANS_TORCH && convention != OI_FANS_KERAS)
		return oi__fail(OI_EARG, "unknown fan convention %d", convention);
	/* a new analysis replaces the last one's results and warnings */
	m->analysed = false;
	m->n_warnings = m->n_analysis_warnings = m->n_load_warnings;
	m->fan_convention = convention;
	ctx c = { .m = m };
	oi__untie_reset(m);
	int rc = oi__graph_build(&c.g, m);
	for (size_t i = 0; i < m->n_tensors && !rc; i++)
		rc = apply(&c, &m->tensors[i]);
	if (!rc)
		bias_fans_from_weights(&c);
	if (!rc)
		rc = oi__residual_find(&c.g);
	publish_fans(m);
	oi__graph_free(&c.g);
	free(c.found);
	if (rc) {
		oi__error_prefix(m->path);
		return rc;
	}
	m->analysed = true;
	m->n_analysis_warnings = m->n_warnings;
	return oi__ok();
}
