/* Gains and scheme parameters through the plan: the std and bound the plan
 * gives each tensor, against the formulas of torch.nn.init and Keras 3
 * written out by hand below.
 *  - torch: calculate_gain(relu) = √2, (leaky_relu, a) = √(2/(1+a²)),
 *    tanh = 5/3, selu = 3/4, linear = sigmoid = 1;
 *    kaiming_normal std = gain/√fan, kaiming_uniform bound = gain·√(3/fan);
 *    xavier_uniform bound = gain·√(6/(fan_in+fan_out)), xavier_normal std =
 *    gain·√(2/(fan_in+fan_out)); trunc_normal cuts N(mean, std) at the
 *    absolute a, b; orthogonal: (rows, cols) with orthonormal rows or
 *    columns, so std = gain/√max(rows, cols) and |x| <= gain;
 *  - Keras variance_scaling: n = fan_in, fan_out or their mean; scale/n is
 *    the variance; "truncated_normal" draws N(0, s) cut at ±2s with
 *    s = √(scale/n)/0.87962566103423978 (the std of N(0, 1) cut at ±2), so
 *    the std comes out √(scale/n); "uniform" has limit √(3·scale/n);
 *    glorot = (1, fan_avg), he = (2, fan_in), lecun = (1, fan_in);
 *  - a uniform on [lo, hi] has std (hi-lo)/√12.
 * The model: W (10, 16) of a Gemm with transB (fan_in 16, fan_out 10) and
 * Relu after it, Wc (8, 3, 3, 3) of a Conv with Tanh after it (27, 72), a
 * depthwise Wd (8, 1, 3, 3) in 4 groups (torch 9, 72; Keras 36, 18), an
 * embedding E (50, 8), an LSTM with hidden size 2 and input 4. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"

#define TRUNC2 0.87962566103423978 /* std of N(0, 1) cut at ±2 */

enum { F = OI_DTYPE_FLOAT };

static const char *model_path;

static int setup(void **state)
{
	if (t_setup_dir(state))
		return -1;
	tb *b = tb_new(17);
	tb_input(b, "x1", F, "2,16");
	tb_init(b, "W", "10,16", 0.1);
	tb_init(b, "C", "10", 0.1);
	tb_attr_i(b, tb_node(b, "Gemm", "x1,W,C", "h1"), "transB", 1);
	tb_node(b, "Relu", "h1", "y1");
	tb_input(b, "x2", F, "1,3,8,8");
	tb_init(b, "Wc", "8,3,3,3", 0.1);
	tb_init(b, "bc", "8", 0.1);
	tb_node(b, "Conv", "x2,Wc,bc", "h2");
	tb_node(b, "Tanh", "h2", "y2");
	tb_input(b, "x3", F, "1,4,6,6");
	tb_init(b, "Wd", "8,1,3,3", 0.1);
	tb_attr_i(b, tb_node(b, "Conv", "x3,Wd", "y3"), "group", 4);
	tb_input(b, "idx", OI_DTYPE_INT64, "2,3");
	tb_init(b, "E", "50,8", 0.1);
	tb_node(b, "Gather", "E,idx", "y4");
	tb_input(b, "X", F, "5,2,4");
	tb_init(b, "Wih", "1,8,4", 0.1);
	tb_init(b, "R", "1,8,2", 0.1);
	tb_init(b, "Bl", "1,16", 0.1);
	tb_attr_i(b, tb_node(b, "LSTM", "X,Wih,R,Bl", "Y"), "hidden_size", 2);
	tb_output(b, "y1", F, NULL);
	tb_output(b, "y2", F, NULL);
	tb_output(b, "y3", F, NULL);
	tb_output(b, "y4", F, NULL);
	tb_output(b, "Y", F, NULL);
	model_path = tb_write(b, "plan.onnx");
	static char keep[512];
	snprintf(keep, sizeof keep, "%s", model_path);
	model_path = keep;
	tb_free(b);
	return 0;
}

typedef struct row {
	const char *tensor, *spec;
	double std, bound; /* NaN: none */
	const char *scheme; /* the plan's scheme text, or NULL: not checked */
} row;

static void check_row(const oi_model *m, const row *r, const char *how)
{
	const oi_tensor_info *t = t_find(m, r->tensor);
	char what[300];
	snprintf(what, sizeof what, "%s %s=%s", how, r->tensor, r->spec ? r->spec : "");
	if (t->action != OI_ACTION_REINIT)
		fail_msg("%s: not re-initialized (scheme %s)", what, t->scheme ? t->scheme : "(null)");
	char w[340];
	snprintf(w, sizeof w, "%s: std", what);
	t_near(t->std, r->std, 1e-12, w);
	snprintf(w, sizeof w, "%s: bound", what);
	t_near(t->bound, r->bound, 1e-12, w);
	if (r->scheme && strcmp(t->scheme, r->scheme))
		fail_msg("%s: scheme %s, expected %s", what, t->scheme, r->scheme);
}

/* One rule at a time on the Gemm's W: fan_in 16, fan_out 10. */
static void schemes_on_a_dense_weight(void **state)
{
	(void)state;
	const double fi = 16, fo = 10, s3 = sqrt(3.0);
	const row rows[] = {
		{ "W", "kaiming_normal(nonlinearity=relu)", sqrt(2.0) / sqrt(fi), NAN,
		  "kaiming_normal(a=0,mode=fan_in,nonlinearity=relu)" },
		{ "W", "kaiming_normal(mode=fan_out,nonlinearity=relu)", sqrt(2.0) / sqrt(fo), NAN, NULL },
		{ "W", "kaiming_normal(nonlinearity=tanh)", (5.0 / 3.0) / sqrt(fi), NAN, NULL },
		{ "W", "kaiming_normal(a=0.2,nonlinearity=leaky_relu)",
		  sqrt(2.0 / (1 + 0.2 * 0.2)) / sqrt(fi), NAN, NULL },
		/* torch's defaults: a=0, leaky_relu, so √2 */
		{ "W", "kaiming_normal", sqrt(2.0) / sqrt(fi), NAN, NULL },
		{ "W", "kaiming_normal(nonlinearity=selu)", 0.75 / sqrt(fi), NAN, NULL },
		{ "W", "kaiming_normal(nonlinearity=linear)", 1 / sqrt(fi), NAN, NULL },
		{ "W", "kaiming_normal(nonlinearity=sigmoid)", 1 / sqrt(fi), NAN, NULL },
		/* nn.Linear's own: a=√5, so gain √(1/3) and bound 1/√fan_in */
		{ "W", "kaiming_uniform(a=2.23606797749979)", 0.25 / s3, 0.25, NULL },
		{ "W", "kaiming_uniform(nonlinearity=relu)", sqrt(2.0) * sqrt(3 / fi) / s3,
		  sqrt(2.0) * sqrt(3 / fi), NULL },
		{ "W", "kaiming_uniform(mode=fan_out,nonlinearity=tanh)",
		  (5.0 / 3.0) * sqrt(3 / fo) / s3, (5.0 / 3.0) * sqrt(3 / fo), NULL },
		{ "W", "xavier_uniform", sqrt(6 / (fi + fo)) / s3, sqrt(6 / (fi + fo)), NULL },
		{ "W", "xavier_normal(gain=2)", 2 * sqrt(2 / (fi + fo)), NAN, NULL },
		{ "W", "lecun_normal", sqrt(1 / fi), 2 * sqrt(1 / fi) / TRUNC2, NULL },
		{ "W", "lecun_uniform", sqrt(3 / fi) / s3, sqrt(3 / fi), NULL },
		{ "W", "glorot_uniform", sqrt(6 / (fi + fo)) / s3, sqrt(6 / (fi + fo)), NULL },
		{ "W", "glorot_normal", sqrt(2 / (fi + fo)), 2 * sqrt(2 / (fi + fo)) / TRUNC2, NULL },
		{ "W", "he_normal", sqrt(2 / fi), 2 * sqrt(2 / fi) / TRUNC2, NULL },
		{ "W", "he_uniform", sqrt(6 / fi) / s3, sqrt(6 / fi), NULL },
		{ "W", "variance_scaling(scale=0.5,mode=fan_out)", sqrt(0.5 / fo),
		  2 * sqrt(0.5 / fo) / TRUNC2, NULL },
		{ "W", "variance_scaling(scale=2,mode=fan_avg,distribution=untruncated_normal)",
		  sqrt(2 / ((fi + fo) / 2)), NAN, NULL },
		{ "W", "variance_scaling(scale=3,mode=fan_out,distribution=uniform)",
		  sqrt(3 * 3 / fo) / s3, sqrt(3 * 3 / fo), NULL },
		/* N(0, 0.02) cut at ±2 (absolute, torch's): 100 stds, nothing lost */
		{ "W", "trunc_normal(std=0.02)", 0.02, 2, NULL },
		/* N(0, 1) cut at ±1: variance 1 - 2φ(1)/(2Φ(1) - 1) */
		{ "W", "trunc_normal(mean=0,std=1,a=-1,b=1)", 0.5395600937548969, 1, NULL },
		{ "W", "trunc_normal(std=0.5,a=-1,b=1)", 0.5 * TRUNC2, 1, NULL },
		/* (10, 16): orthonormal rows of length 16 */
		{ "W", "orthogonal(gain=2)", 2 / sqrt(16.0), 2, NULL },
		{ "W", "normal(mean=1,std=3)", 3, NAN, NULL },
		{ "W", "uniform(low=-1,high=3)", 4 / sqrt(12.0), 3, NULL },
		{ "W", "constant(value=-0.5)", 0, 0.5, NULL },
		/* on the Conv weight: fan_in 3·9, fan_out 8·9 */
		{ "Wc", "kaiming_normal(nonlinearity=relu)", sqrt(2.0) / sqrt(27), NAN, NULL },
		{ "Wc", "kaiming_uniform(mode=fan_out,nonlinearity=leaky_relu,a=0.1)",
		  sqrt(2 / 1.01) * sqrt(3.0 / 72) / s3, sqrt(2 / 1.01) * sqrt(3.0 / 72), NULL },
		{ "Wc", "xavier_uniform(gain=1)", sqrt(6.0 / 99) / s3, sqrt(6.0 / 99), NULL },
		/* Wc as (8, 27): orthonormal rows of length 27 */
		{ "Wc", "orthogonal", 1 / sqrt(27.0), 1, NULL },
	};
	oi_model *m = t_open(model_path, OI_FANS_TORCH);
	for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
		char rule[200];
		snprintf(rule, sizeof rule, "name:%s=%s", rows[i].tensor, rows[i].spec);
		const char *rules[] = { rule, NULL };
		if (t_plan(m, "keep", 1, rules))
			fail_msg("rule %s: %s", rule, oi_last_error());
		check_row(m, &rows[i], "rule");
		assert_int_equal(oi_model_changed_count(m), 1);
	}
	oi_model_free(m);
}

static void check_profile(const char *profile, int convention, const row *rows, size_t n)
{
	oi_model *m = t_open(model_path, convention);
	if (t_plan(m, profile, 7, NULL))
		fail_msg("--scheme %s: %s", profile, oi_last_error());
	char how[64];
	snprintf(how, sizeof how, "profile %s:", profile);
	for (size_t i = 0; i < n; i++)
		check_row(m, &rows[i], how);
	oi_model_free(m);
}

/* auto follows the activation after each layer */
static void profile_auto(void **state)
{
	(void)state;
	const row rows[] = {
		{ "W", NULL, sqrt(2.0) / 4, NAN, "kaiming_normal(a=0,mode=fan_in,nonlinearity=relu)" },
		{ "C", NULL, 0, 0, "zeros" },
		{ "Wc", NULL, (5.0 / 3.0) * sqrt(2.0 / 99), (5.0 / 3.0) * sqrt(6.0 / 99), NULL },
		{ "bc", NULL, 0, 0, "zeros" },
		{ "Wd", NULL, sqrt(2.0 / 81), sqrt(6.0 / 81), "xavier_uniform(gain=1)" },
		{ "E", NULL, 1, NAN, "normal(mean=0,std=1)" },
		{ "Wih", NULL, sqrt(2.0 / 12), sqrt(6.0 / 12), "xavier_uniform(gain=1)" },
		/* one direction, (8, 2): orthonormal columns of length 8 */
		{ "R", NULL, 1 / sqrt(8.0), 1, "orthogonal(gain=1)" },
		{ "Bl", NULL, 0, 0, "zeros" },
	};
	check_profile("auto", OI_FANS_TORCH, rows, sizeof rows / sizeof *rows);
}

/* torch: what the PyTorch modules' reset_parameters do */
static void profile_torch(void **state)
{
	(void)state;
	const double s3 = sqrt(3.0);
	const row rows[] = {
		{ "W", NULL, 0.25 / s3, 0.25, NULL },      /* kaiming_uniform(a=√5): 1/√16 */
		{ "C", NULL, 0.25 / s3, 0.25, NULL },      /* U(±1/√fan_in) */
		{ "Wc", NULL, 1 / sqrt(27.0) / s3, 1 / sqrt(27.0), NULL },
		{ "bc", NULL, 1 / sqrt(27.0) / s3, 1 / sqrt(27.0), NULL },
		{ "Wd", NULL, 1 / 3.0 / s3, 1 / 3.0, NULL }, /* fan_in 9 */
		{ "E", NULL, 1, NAN, "normal(mean=0,std=1)" },
		{ "Wih", NULL, sqrt(0.5) / s3, sqrt(0.5), NULL }, /* U(±1/√hidden) */
		{ "R", NULL, sqrt(0.5) / s3, sqrt(0.5), NULL },
		{ "Bl", NULL, sqrt(0.5) / s3, sqrt(0.5), NULL },
	};
	check_profile("torch", OI_FANS_TORCH, rows, sizeof rows / sizeof *rows);
}

/* keras: Keras 3's layer defaults, on Keras fans whatever the analysis's */
static void profile_keras(void **state)
{
	(void)state;
	const double s3 = sqrt(3.0);
	const row rows[] = {
		{ "W", NULL, sqrt(6.0 / 26) / s3, sqrt(6.0 / 26), NULL }, /* glorot_uniform */
		{ "C", NULL, 0, 0, "zeros" },
		{ "Wc", NULL, sqrt(6.0 / 99) / s3, sqrt(6.0 / 99), NULL },
		/* DepthwiseConv2D kernel (3, 3, 4, 2): fans 36, 18 */
		{ "Wd", NULL, sqrt(6.0 / 54) / s3, sqrt(6.0 / 54), NULL },
		{ "E", NULL, 0.1 / sqrt(12.0), 0.05, "uniform(low=-0.050000000000000003,high=0.050000000000000003)" },
		{ "Wih", NULL, sqrt(6.0 / 12) / s3, sqrt(6.0 / 12), NULL },
		{ "R", NULL, 1 / sqrt(8.0), 1, NULL },
		/* B (1, 16) = [Wb | Rb], gates i, o, f, c of 2: the f block of Wb is 1 */
		{ "Bl", NULL, sqrt(0.125 * 0.875), 1, "unit_forget_bias" },
	};
	check_profile("keras", OI_FANS_TORCH, rows, sizeof rows / sizeof *rows);
	check_profile("keras", OI_FANS_KERAS, rows, sizeof rows / sizeof *rows);
}

/* A scheme that is not a profile uses the fans of the analysis's convention. */
static void scheme_fans_follow_the_convention(void **state)
{
	(void)state;
	const char *rules[] = { "name:Wd=xavier_uniform", NULL };
	const row torch = { "Wd", "xavier_uniform", sqrt(2.0 / 81), sqrt(6.0 / 81), NULL };
	const row keras = { "Wd", "xavier_uniform", sqrt(2.0 / 54), sqrt(6.0 / 54), NULL };
	oi_model *m = t_open(model_path, OI_FANS_TORCH);
	assert_int_equal(t_plan(m, "keep", 0, rules), 0);
	check_row(m, &torch, "torch fans:");
	oi_model_free(m);
	m = t_open(model_path, OI_FANS_KERAS);
	assert_int_equal(t_plan(m, "keep", 0, rules), 0);
	check_row(m, &keras, "keras fans:");
	oi_model_free(m);
}

/* A sparse tensor of dense shape `shape` holding 3 float32 values at the
 * flat indices 0, 3, 5; not yet in the graph. */
static Onnx__SparseTensorProto *sparse_tensor(tb *b, const char *name, const char *shape)
{
	Onnx__SparseTensorProto *sp = tb_alloc(b, sizeof *sp);
	onnx__sparse_tensor_proto__init(sp);
	sp->values = tb_tensor(b, name, F, "3", 0.5);
	Onnx__TensorProto *idx = tb_alloc(b, sizeof *idx);
	onnx__tensor_proto__init(idx);
	idx->name = tb_str(b, "idx");
	idx->n_dims = tb_dims(b, "3", &idx->dims);
	idx->has_data_type = 1;
	idx->data_type = OI_DTYPE_INT64;
	idx->n_int64_data = 3;
	idx->int64_data = tb_alloc(b, 3 * sizeof *idx->int64_data);
	idx->int64_data[1] = 3;
	idx->int64_data[2] = 5;
	sp->indices = idx;
	sp->n_dims = tb_dims(b, shape, &sp->dims);
	return sp;
}

/* The schemes that fill a dense shape (orthogonal, eye, dirac, sparse)
 * cannot fill a sparse tensor, whose values are a few of its elements: a
 * sparse initializer S, a Constant's sparse_value C, the sparse_value Rs of
 * an LSTM's recurrent weight. Asked for by name (default scheme or rule) it
 * is an error; a profile that would pick one keeps the tensor. */
static void dense_schemes_refuse_sparse_tensors(void **state)
{
	(void)state;
	tb *b = tb_new(17);
	tb_input(b, "x", F, "2,4");
	tb_push(b, (void ***)&b->g.sparse_initializer, &b->g.n_sparse_initializer,
	        sparse_tensor(b, "S", "4,4"));
	tb_node(b, "MatMul", "x,S", "y1");
	tb_attr(b, tb_node(b, "Constant", "", "C"), "sparse_value",
	        ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR)->sparse_tensor =
		sparse_tensor(b, "C", "4,4");
	tb_node(b, "MatMul", "y1,C", "y2");
	tb_input(b, "X", F, "5,2,4");
	tb_init(b, "Wi", "1,8,4", 0.1);
	tb_attr(b, tb_node(b, "Constant", "", "Rs"), "sparse_value",
	        ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR)->sparse_tensor =
		sparse_tensor(b, "Rs", "1,8,2");
	tb_attr_i(b, tb_node(b, "LSTM", "X,Wi,Rs", "Y"), "hidden_size", 2);
	tb_output(b, "y2", F, NULL);
	tb_output(b, "Y", F, NULL);
	const char *path = tb_write(b, "sparse.onnx");
	tb_free(b);

	oi_model *m = t_open(path, OI_FANS_TORCH);
	assert_string_equal(t_find(m, "C")->role, "dense_weight");
	assert_string_equal(t_find(m, "Rs")->role, "rnn_recurrent_weight");
	static const char *const dense[] = { "orthogonal", "eye", "dirac", "sparse(sparsity=0.5)" };
	for (size_t i = 0; i < sizeof dense / sizeof *dense; i++) {
		char name[32];
		snprintf(name, sizeof name, "%.*s", (int)strcspn(dense[i], "("), dense[i]);
		char want[96];
		assert_int_equal(t_plan(m, dense[i], 0, NULL), OI_EARG);
		snprintf(want, sizeof want, "scheme '%s' cannot fill the sparse tensor '", name);
		if (!strstr(oi_last_error(), want))
			fail_msg("--scheme %s: %s", dense[i], oi_last_error());
		static const char *const names[] = { "S", "C", "Rs" };
		for (size_t k = 0; k < 3; k++) {
			char rule[64];
			snprintf(rule, sizeof rule, "name:%s=%s", names[k], dense[i]);
			const char *rules[] = { rule, NULL };
			assert_int_equal(t_plan(m, "keep", 0, rules), OI_EARG);
			snprintf(want, sizeof want, "scheme '%s' cannot fill the sparse tensor '%s'", name,
			         names[k]);
			if (!strstr(oi_last_error(), want))
				fail_msg("rule %s: %s", rule, oi_last_error());
		}
	}
	/* element-wise schemes fill the stored values */
	assert_int_equal(t_plan(m, "uniform", 0, NULL), 0);
	assert_int_equal(t_find(m, "S")->action, OI_ACTION_REINIT);
	assert_int_equal(t_find(m, "C")->action, OI_ACTION_REINIT);
	assert_int_equal(t_find(m, "Rs")->action, OI_ACTION_REINIT);
	/* auto and keras give a recurrent weight orthogonal: kept, with a warning */
	static const char *const profiles[] = { "auto", "keras" };
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(t_plan(m, profiles[i], 0, NULL), 0);
		assert_int_equal(t_find(m, "Rs")->action, OI_ACTION_KEEP);
		assert_int_equal(t_find(m, "C")->action, OI_ACTION_REINIT);
		assert_non_null(t_warning(m, "scheme 'orthogonal' cannot fill the sparse tensor 'Rs'"));
	}
	oi_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(schemes_on_a_dense_weight),
		cmocka_unit_test(profile_auto),
		cmocka_unit_test(profile_torch),
		cmocka_unit_test(profile_keras),
		cmocka_unit_test(scheme_fans_follow_the_convention),
		cmocka_unit_test(dense_schemes_refuse_sparse_tensors),
	};
	return cmocka_run_group_tests_name("plan", tests, setup, t_teardown_dir);
}
