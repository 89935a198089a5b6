/* Roles, fans, activations and gains on graphs built here, one small graph
 * per layer kind. The expected fans are worked out by hand:
 *  - torch: torch.nn.init._calculate_fan_in_and_fan_out on the PyTorch
 *    parameter, fan_in = size(1)·receptive field, fan_out = size(0)·receptive
 *    field, where the parameter is Conv's (out, in/groups, k...),
 *    ConvTranspose's (in, out/groups, k...), Linear's (out, in), Embedding's
 *    (num, dim), an RNN's weight_ih (gates·hidden, input) and weight_hh
 *    (gates·hidden, hidden) per direction;
 *  - keras: Keras 3 compute_fans on the Keras kernel, (k..., in, out) for
 *    convolutions and (in, out) for Dense: fan_in = receptive·shape[-2],
 *    fan_out = receptive·shape[-1]; DepthwiseConv2D's kernel is
 *    (k..., in, multiplier) and Embedding's (num, dim);
 *  - gains: torch.nn.init.calculate_gain of the activation after the layer:
 *    relu √2, leaky_relu(a) √(2/(1+a²)), tanh 5/3, sigmoid 1, selu 3/4,
 *    none (linear) 1; PReLU counts as leaky_relu with its slope. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"

#define SQRT2 1.4142135623730951
#define GAIN_LEAKY_02 1.3867504905630728  /* sqrt(2 / (1 + 0.2²)) */
#define GAIN_LEAKY_025 1.3719886811400708 /* sqrt(2 / (1 + 0.25²)) */
#define GAIN_TANH (5.0 / 3.0)

enum { F = OI_DTYPE_FLOAT, I64 = OI_DTYPE_INT64 };

typedef struct expect {
	const char *name, *role;
	int64_t fan_in, fan_out;   /* torch; -1: none */
	int64_t kfan_in, kfan_out; /* keras; 0: as torch */
	const char *act;           /* NULL: none given */
	double gain;               /* NaN: none */
	double slope;              /* NaN: none */
} expect;

#define NO_GAIN .gain = NAN, .slope = NAN
#define NOSLOPE .slope = NAN

typedef struct role_case {
	const char *name;
	void (*build)(tb *b);
	expect e[6];
} role_case;

/* ---- the graphs ---------------------------------------------------------- */

static void conv2d_relu(tb *b)
{
	tb_input(b, "x", F, "1,3,10,12");
	tb_init(b, "W", "8,3,3,5", 0.1);
	tb_init(b, "B", "8", 0.1);
	Onnx__NodeProto *n = tb_node(b, "Conv", "x,W,B", "h");
	tb_attr_ints(b, n, "kernel_shape", "3,5");
	tb_node(b, "Relu", "h", "y");
	tb_output(b, "y", F, NULL);
}

static void conv1d_leaky(tb *b)
{
	tb_input(b, "x", F, "1,4,20");
	tb_init(b, "W", "6,4,5", 0.1);
	tb_node(b, "Conv", "x,W", "h");
	tb_attr_f(b, tb_node(b, "LeakyRelu", "h", "y"), "alpha", 0.2f);
	tb_output(b, "y", F, NULL);
}

static void conv3d_tanh(tb *b)
{
	tb_input(b, "x", F, "1,2,8,8,8");
	tb_init(b, "W", "4,2,3,3,3", 0.1);
	tb_node(b, "Conv", "x,W", "h");
	tb_node(b, "Tanh", "h", "y");
	tb_output(b, "y", F, NULL);
}

static void conv_grouped_sigmoid(tb *b)
{
	tb_input(b, "x", F, "1,8,10,10");
	tb_init(b, "W", "6,4,3,3", 0.1);
	tb_attr_i(b, tb_node(b, "Conv", "x,W", "h"), "group", 2);
	tb_node(b, "Sigmoid", "h", "y");
	tb_output(b, "y", F, NULL);
}

/* 4 channels, multiplier 2 */
static void conv_depthwise_selu(tb *b)
{
	tb_input(b, "x", F, "1,4,10,10");
	tb_init(b, "W", "8,1,3,3", 0.1);
	tb_attr_i(b, tb_node(b, "Conv", "x,W", "h"), "group", 4);
	tb_node(b, "Selu", "h", "y");
	tb_output(b, "y", F, NULL);
}

/* 6 channels in, 2 groups of 4 out */
static void conv_transpose_grouped(tb *b)
{
	tb_input(b, "x", F, "1,6,5,5");
	tb_init(b, "W", "6,4,3,3", 0.1);
	tb_init(b, "B", "8", 0.1);
	tb_attr_i(b, tb_node(b, "ConvTranspose", "x,W,B", "y"), "group", 2);
	tb_output(b, "y", F, NULL);
}

static void gemm_trans_b(tb *b)
{
	tb_input(b, "x", F, "2,16");
	tb_init(b, "W", "10,16", 0.1);
	tb_init(b, "C", "10", 0.1);
	tb_attr_i(b, tb_node(b, "Gemm", "x,W,C", "y"), "transB", 1);
	tb_output(b, "y", F, NULL);
}

static void gemm_plain(tb *b)
{
	tb_input(b, "x", F, "2,16");
	tb_init(b, "W", "16,10", 0.1);
	tb_init(b, "C", "10", 0.1);
	tb_attr_i(b, tb_node(b, "Gemm", "x,W,C", "y"), "transB", 0);
	tb_output(b, "y", F, NULL);
}

static void matmul_add_relu(tb *b)
{
	tb_input(b, "x", F, "2,16");
	tb_init(b, "W", "16,12", 0.1);
	tb_init(b, "bias", "12", 0.1);
	tb_node(b, "MatMul", "x,W", "h");
	tb_node(b, "Add", "h,bias", "z");
	tb_node(b, "Relu", "z", "y");
	tb_output(b, "y", F, NULL);
}

/* hidden 3, input 5, both directions */
static void lstm_bidirectional(tb *b)
{
	tb_input(b, "X", F, "7,2,5");
	tb_init(b, "W", "2,12,5", 0.1);
	tb_init(b, "R", "2,12,3", 0.1);
	tb_init(b, "B", "2,24", 0.1);
	Onnx__NodeProto *n = tb_node(b, "LSTM", "X,W,R,B", "Y");
	tb_attr_i(b, n, "hidden_size", 3);
	tb_attr_s(b, n, "direction", "bidirectional");
	tb_output(b, "Y", F, NULL);
}

/* hidden 3, input 5; activations f = Sigmoid, g = Relu */
static void gru_relu(tb *b)
{
	tb_input(b, "X", F, "7,2,5");
	tb_init(b, "W", "1,9,5", 0.1);
	tb_init(b, "R", "1,9,3", 0.1);
	Onnx__NodeProto *n = tb_node(b, "GRU", "X,W,R", "Y");
	tb_attr_i(b, n, "hidden_size", 3);
	tb_attr_strings(b, n, "activations", "Sigmoid,Relu");
	tb_output(b, "Y", F, NULL);
}

static void gather_embedding(tb *b)
{
	tb_input(b, "idx", I64, "2,3");
	tb_init(b, "E", "100,16", 0.1);
	tb_node(b, "Gather", "E,idx", "y");
	tb_output(b, "y", F, NULL);
}

static void batchnorm_relu(tb *b)
{
	tb_input(b, "x", F, "1,8,4,4");
	tb_init(b, "s", "8", 1);
	tb_init(b, "bb", "8", 0);
	tb_init(b, "mean", "8", 0);
	tb_init(b, "var", "8", 1);
	tb_node(b, "BatchNormalization", "x,s,bb,mean,var", "h");
	tb_node(b, "Relu", "h", "y");
	tb_output(b, "y", F, NULL);
}

static void layernorm_tanh(tb *b)
{
	tb_input(b, "x", F, "2,5,16");
	tb_init(b, "g", "16", 1);
	tb_init(b, "bb", "16", 0);
	tb_attr_i(b, tb_node(b, "LayerNormalization", "x,g,bb", "h"), "axis", -1);
	tb_node(b, "Tanh", "h", "y");
	tb_output(b, "y", F, NULL);
}

static void conv_prelu(tb *b)
{
	tb_input(b, "x", F, "1,3,8,8");
	tb_init(b, "W", "8,3,3,3", 0.1);
	tb_init(b, "slope", "8,1,1", 0.25);
	tb_node(b, "Conv", "x,W", "h");
	tb_node(b, "PRelu", "h,slope", "y");
	tb_output(b, "y", F, NULL);
}

/* ---- the expectations ---------------------------------------------------- */

static const role_case cases[] = {
	{ "Conv 2-D, Relu", conv2d_relu, {
		/* (8, 3, 3, 5): in 3·15, out 8·15; Keras (3, 5, 3, 8) the same */
		{ "W", "conv_weight", 45, 120, 0, 0, "relu", SQRT2, NOSLOPE },
		{ "B", "bias", 45, 120, 0, 0, "relu", SQRT2, NOSLOPE } } },
	{ "Conv 1-D, LeakyRelu(0.2)", conv1d_leaky, {
		{ "W", "conv_weight", 20, 30, 0, 0, "leaky_relu", GAIN_LEAKY_02, .slope = 0.2 } } },
	{ "Conv 3-D, Tanh", conv3d_tanh, {
		{ "W", "conv_weight", 54, 108, 0, 0, "tanh", GAIN_TANH, NOSLOPE } } },
	{ "Conv grouped, Sigmoid", conv_grouped_sigmoid, {
		/* (6, 8/2, 3, 3) */
		{ "W", "conv_weight", 36, 54, 0, 0, "sigmoid", 1.0, NOSLOPE } } },
	{ "Conv depthwise, Selu", conv_depthwise_selu, {
		/* torch (8, 1, 3, 3); Keras DepthwiseConv2D (3, 3, 4, 2): in 9·4, out 9·2 */
		{ "W", "conv_weight", 9, 72, 36, 18, "selu", 0.75, NOSLOPE } } },
	{ "ConvTranspose grouped", conv_transpose_grouped, {
		/* (in 6, out/groups 4, 3, 3): fan_in 4·9, fan_out 6·9 */
		{ "W", "conv_transpose_weight", 36, 54, 0, 0, "none", 1.0, NOSLOPE },
		{ "B", "bias", 36, 54, 0, 0, "none", 1.0, NOSLOPE } } },
	{ "Gemm transB=1", gemm_trans_b, {
		/* Linear(16, 10).weight is (10, 16) */
		{ "W", "dense_weight", 16, 10, 0, 0, "none", 1.0, NOSLOPE },
		{ "C", "bias", 16, 10, 0, 0, "none", 1.0, NOSLOPE } } },
	{ "Gemm transB=0", gemm_plain, {
		/* (in 16, out 10), the Keras Dense kernel */
		{ "W", "dense_weight", 16, 10, 0, 0, "none", 1.0, NOSLOPE },
		{ "C", "bias", 16, 10, 0, 0, "none", 1.0, NOSLOPE } } },
	{ "MatMul + Add bias, Relu", matmul_add_relu, {
		{ "W", "dense_weight", 16, 12, 0, 0, "relu", SQRT2, NOSLOPE },
		{ "bias", "bias", 16, 12, 0, 0, "relu", SQRT2, NOSLOPE } } },
	{ "LSTM bidirectional", lstm_bidirectional, {
		/* per direction: weight_ih (12, 5), weight_hh (12, 3); the bias,
		 * 1-D in torch (no fans there), carries weight_ih's */
		{ "W", "rnn_input_weight", 5, 12, 0, 0, "tanh", GAIN_TANH, NOSLOPE },
		{ "R", "rnn_recurrent_weight", 3, 12, 0, 0, "tanh", GAIN_TANH, NOSLOPE },
		{ "B", "rnn_bias", 5, 12, 0, 0, "tanh", GAIN_TANH, NOSLOPE } } },
	{ "GRU, activations Sigmoid,Relu", gru_relu, {
		{ "W", "rnn_input_weight", 5, 9, 0, 0, "relu", SQRT2, NOSLOPE },
		{ "R", "rnn_recurrent_weight", 3, 9, 0, 0, "relu", SQRT2, NOSLOPE } } },
	{ "Gather embedding", gather_embedding, {
		/* torch Embedding (100, 16): fan_in 16; Keras: fan_in 100 */
		{ "E", "embedding", 16, 100, 100, 16, "none", 1.0, NOSLOPE } } },
	{ "BatchNormalization, Relu", batchnorm_relu, {
		{ "s", "norm_scale", -1, -1, 0, 0, "relu", SQRT2, NOSLOPE },
		{ "bb", "norm_bias", -1, -1, 0, 0, "relu", SQRT2, NOSLOPE },
		{ "mean", "norm_mean", -1, -1, 0, 0, "relu", SQRT2, NOSLOPE },
		{ "var", "norm_var", -1, -1, 0, 0, "relu", SQRT2, NOSLOPE } } },
	{ "LayerNormalization, Tanh", layernorm_tanh, {
		{ "g", "norm_scale", -1, -1, 0, 0, "tanh", GAIN_TANH, NOSLOPE },
		{ "bb", "norm_bias", -1, -1, 0, 0, "tanh", GAIN_TANH, NOSLOPE } } },
	{ "Conv, PRelu(0.25)", conv_prelu, {
		{ "W", "conv_weight", 27, 72, 0, 0, "leaky_relu", GAIN_LEAKY_025, .slope = 0.25 },
		{ "slope", "prelu_slope", -1, -1, 0, 0, NULL, NO_GAIN } } },
};

/* ---- the check ----------------------------------------------------------- */

static void check_case(const role_case *c, int convention)
{
	tb *b = tb_new(17);
	c->build(b);
	char file[64];
	snprintf(file, sizeof file, "roles-%zu.onnx", (size_t)(c - cases));
	const char *path = tb_write(b, file);
	tb_free(b);
	oi_model *m = t_open(path, convention);
	for (size_t w = 0; w < oi_model_warning_count(m); w++)
		fail_msg("%s: warning: %s", c->name, oi_model_warning(m, w));
	for (const expect *e = c->e; e < c->e + 6 && e->name; e++) {
		const oi_tensor_info *t = t_find(m, e->name);
		char what[160];
		snprintf(what, sizeof what, "%s, %s (%s fans)", c->name, e->name,
		         convention == OI_FANS_KERAS ? "keras" : "torch");
		if (!t->role || strcmp(t->role, e->role))
			fail_msg("%s: role %s, expected %s", what, t->role ? t->role : "(null)", e->role);
		int64_t fi = e->fan_in, fo = e->fan_out;
		if (convention == OI_FANS_KERAS && e->kfan_in)
			fi = e->kfan_in, fo = e->kfan_out;
		if (t->fan_in != fi || t->fan_out != fo)
			fail_msg("%s: fans %lld/%lld, expected %lld/%lld", what, (long long)t->fan_in,
			         (long long)t->fan_out, (long long)fi, (long long)fo);
		if (!e->act != !t->activation || (e->act && strcmp(t->activation, e->act)))
			fail_msg("%s: activation %s, expected %s", what,
			         t->activation ? t->activation : "(null)", e->act ? e->act : "(null)");
		char w2[200];
		snprintf(w2, sizeof w2, "%s: gain", what);
		t_near(t->gain, e->gain, 1e-15, w2);
		snprintf(w2, sizeof w2, "%s: activation slope", what);
		t_near(t->act_slope, e->slope, 1e-15, w2);
	}
	oi_model_free(m);
}

static void roles_torch_fans(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		check_case(&cases[i], OI_FANS_TORCH);
}

static void roles_keras_fans(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		check_case(&cases[i], OI_FANS_KERAS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(roles_torch_fans),
		cmocka_unit_test(roles_keras_fans),
	};
	return cmocka_run_group_tests_name("roles", tests, t_setup_dir, t_teardown_dir);
}
