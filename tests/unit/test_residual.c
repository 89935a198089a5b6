/* Residual blocks on graphs built here, and what the residual modes make of
 * them. The expected numbers are worked out by hand:
 *  - a block: an Add of a tensor x (or one conv of it, a projection) and a
 *    branch of more conv/dense layers from x; blocks whose forks follow one
 *    another's Add (through a ReLU) are one chain of L blocks;
 *  - scaled: the last layer's std over √L;
 *  - fixup: the other branch layers N(0, 2/fan_out)·L^(−1/(2m−2)), m layers in
 *    the branch, fan_out = out channels × kernel (4·3·3 = 36 below); the
 *    last layer, its bias and the last dense layer 0;
 *  - zero: the norm after the last layer 0, else the last layer and its bias.
 * The CNN: x (1,4,8,8) → stem Conv → ReLU → L blocks, each m Convs "c<k><j>"
 * (4,4,3,3) with biases "c<k><j>.b", ReLUs between, optionally a
 * BatchNormalization "n<k><j>" after each, then Add(block input, branch) →
 * ReLU; then GlobalAveragePool → Flatten → Gemm "fc" (10, 4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"

enum { F = OI_DTYPE_FLOAT, I64 = OI_DTYPE_INT64 };

typedef struct cnn {
	int blocks, layers;
	bool norms;       /* a BatchNormalization after each conv */
	bool projection;  /* block 0's skip path is a 1×1 Conv "p0" with a norm */
} cnn;

static void batch_norm(tb *b, const char *name, const char *in, const char *out)
{
	char s[4][32], inputs[160];
	const char *suffix[4] = { "s", "b", "m", "v" };
	for (int i = 0; i < 4; i++) {
		snprintf(s[i], sizeof s[i], "%s.%s", name, suffix[i]);
		tb_init(b, s[i], "4", i == 0 || i == 3 ? 1.0 : 0.0);
	}
	snprintf(inputs, sizeof inputs, "%s,%s,%s,%s,%s", in, s[0], s[1], s[2], s[3]);
	tb_node(b, "BatchNormalization", inputs, out);
}

static void conv(tb *b, const char *name, const char *shape, const char *in, const char *out)
{
	char w[32], bias[32], inputs[128];
	snprintf(w, sizeof w, "%s", name);
	snprintf(bias, sizeof bias, "%s.b", name);
	tb_init(b, w, shape, 0.1);
	tb_init(b, bias, "4", 0.1);
	snprintf(inputs, sizeof inputs, "%s,%s,%s", in, w, bias);
	tb_node(b, "Conv", inputs, out);
}

static const char *build_cnn(const cnn *c, const char *file)
{
	tb *b = tb_new(17);
	tb_input(b, "x", F, "1,4,8,8");
	conv(b, "stem", "4,4,3,3", "x", "s0");
	tb_node(b, "Relu", "s0", "h0");
	char in[48] = "h0", v[48], w[48];
	for (int k = 0; k < c->blocks; k++) {
		snprintf(v, sizeof v, "%s", in);
		for (int j = 0; j < c->layers; j++) {
			char name[32], out[48];
			snprintf(name, sizeof name, "c%d%d", k, j);
			snprintf(out, sizeof out, "%s.o", name);
			conv(b, name, "4,4,3,3", v, out);
			snprintf(v, sizeof v, "%s", out);
			if (c->norms) {
				snprintf(name, sizeof name, "n%d%d", k, j);
				snprintf(out, sizeof out, "%s.o", name);
				batch_norm(b, name, v, out);
				snprintf(v, sizeof v, "%s", out);
			}
			if (j + 1 < c->layers) {
				snprintf(out, sizeof out, "r%d%d", k, j);
				tb_node(b, "Relu", v, out);
				snprintf(v, sizeof v, "%s", out);
			}
		}
		char skip[64], sum[64], inputs[160];
		snprintf(skip, sizeof skip, "%s", in);
		if (k == 0 && c->projection) {
			conv(b, "p0", "4,4,1,1", in, "p0.o");
			batch_norm(b, "q0", "p0.o", "q0.o");
			snprintf(skip, sizeof skip, "q0.o");
		}
		snprintf(sum, sizeof sum, "sum%d", k);
		snprintf(inputs, sizeof inputs, "%s,%s", skip, v);
		tb_node(b, "Add", inputs, sum);
		snprintf(w, sizeof w, "out%d", k);
		tb_node(b, "Relu", sum, w);
		snprintf(in, sizeof in, "%s", w);
	}
	tb_node(b, "GlobalAveragePool", in, "pool");
	tb_node(b, "Flatten", "pool", "flat");
	tb_init(b, "fc", "10,4", 0.1);
	tb_init(b, "fc.b", "10", 0.1);
	tb_attr_i(b, tb_node(b, "Gemm", "flat,fc,fc.b", "y"), "transB", 1);
	tb_output(b, "y", F, NULL);
	const char *path = tb_write(b, file);
	tb_free(b);
	return path;
}

static oi_model *open_cnn(const cnn *c)
{
	return t_open(build_cnn(c, "cnn.onnx"), OI_FANS_TORCH);
}

static bool has_warning(const oi_model *m, const char *a, const char *b)
{
	for (size_t i = 0; i < oi_model_warning_count(m); i++) {
		const char *w = oi_model_warning(m, i);
		if (strstr(w, a) && (!b || strstr(w, b)))
			return true;
	}
	return false;
}

static void residual_is(const oi_model *m, const char *name, int block, int blocks, int index,
                        int length, int last)
{
	const oi_tensor_info *t = t_find(m, name);
	if (t->residual_block != block || t->residual_blocks != blocks ||
	    t->residual_index != index || t->residual_length != length ||
	    t->residual_last != last)
		fail_msg("%s: residual %d/%d %d/%d last %d, expected %d/%d %d/%d last %d", name,
		         t->residual_block, t->residual_blocks, t->residual_index,
		         t->residual_length, t->residual_last, block, blocks, index, length, last);
}

/* ---- finding blocks ------------------------------------------------------ */

static void finds_chain_of_blocks(void **state)
{
	(void)state;
	cnn c = { .blocks = 3, .layers = 2 };
	oi_model *m = open_cnn(&c);
	for (int k = 0; k < 3; k++) {
		char name[16];
		snprintf(name, sizeof name, "c%d0", k);
		residual_is(m, name, k + 1, 3, 1, 2, 0);
		snprintf(name, sizeof name, "c%d1", k);
		residual_is(m, name, k + 1, 3, 2, 2, 1);
		snprintf(name, sizeof name, "c%d1.b", k);
		residual_is(m, name, k + 1, 3, 2, 2, 1);
	}
	residual_is(m, "stem", 0, 0, 0, 0, 0);
	residual_is(m, "fc", 0, 0, 0, 0, 0);
	assert_string_equal(t_find(m, "c10")->residual_add, "Add_10");
	assert_null(t_find(m, "fc")->residual_add);
	assert_false(has_warning(m, "residual", NULL));
	oi_model_free(m);
}

static void norms_and_projection(void **state)
{
	(void)state;
	cnn c = { .blocks = 2, .layers = 3, .norms = true, .projection = true };
	oi_model *m = open_cnn(&c);
	residual_is(m, "c00", 1, 2, 1, 3, 0);
	residual_is(m, "n00.s", 1, 2, 1, 3, 0);
	residual_is(m, "n01.m", 1, 2, 2, 3, 0);
	residual_is(m, "c02", 1, 2, 3, 3, 1);
	residual_is(m, "n02.s", 1, 2, 3, 3, 1);
	residual_is(m, "n02.v", 1, 2, 3, 3, 1);
	residual_is(m, "c12", 2, 2, 3, 3, 1);
	/* the projection shortcut is the skip path, not a branch */
	residual_is(m, "p0", 0, 0, 0, 0, 0);
	residual_is(m, "q0.s", 0, 0, 0, 0, 0);
	oi_model_free(m);
}

/* Two convolutions of one tensor added: neither is a skip path. */
static void parallel_paths_warn(void **state)
{
	(void)state;
	tb *b = tb_new(17);
	tb_input(b, "x", F, "1,4,8,8");
	conv(b, "Wa", "4,4,3,3", "x", "a");
	conv(b, "Wb", "4,4,3,3", "x", "b");
	tb_node(b, "Add", "a,b", "y");
	tb_output(b, "y", F, NULL);
	oi_model *m = t_open(tb_write(b, "parallel.onnx"), OI_FANS_TORCH);
	tb_free(b);
	residual_is(m, "Wa", 0, 0, 0, 0, 0);
	residual_is(m, "Wb", 0, 0, 0, 0, 0);
	/* said to a plan with a residual mode only, once */
	assert_false(has_warning(m, "node 'Add_2' (Add)", NULL));
	assert_int_equal(t_plan(m, NULL, 1, NULL), 0);
	assert_false(has_warning(m, "node 'Add_2' (Add)", NULL));
	assert_int_equal(t_plan_residual(m, NULL, 1, NULL, OI_RESIDUAL_ZERO), 0);
	assert_true(has_warning(m, "node 'Add_2' (Add)", "1 and 1 conv/dense layers"));
	assert_true(t_find(m, "Wa")->std > 0);
	assert_true(has_warning(m, "residual mode 'zero'", "no residual blocks"));
	assert_int_equal(oi_model_warning_count(m), 2);
	oi_model_free(m);
}

/* Token and position embeddings summed: a sum, no block, nothing said. */
static void embedding_sum_is_no_block(void **state)
{
	(void)state;
	tb *b = tb_new(17);
	tb_input(b, "idx", I64, "2,5");
	tb_input(b, "pos", I64, "2,5");
	tb_init(b, "wte", "50,8", 0.1);
	tb_init(b, "wpe", "16,8", 0.1);
	tb_node(b, "Gather", "wte,idx", "t");
	tb_node(b, "Gather", "wpe,pos", "p");
	tb_node(b, "Add", "t,p", "y");
	tb_output(b, "y", F, NULL);
	oi_model *m = t_open(tb_write(b, "emb.onnx"), OI_FANS_TORCH);
	tb_free(b);
	assert_string_equal(t_find(m, "wpe")->role, "embedding");
	residual_is(m, "wte", 0, 0, 0, 0, 0);
	assert_int_equal(oi_model_warning_count(m), 0);
	oi_model_free(m);
}

/* A pre-norm transformer layout: LayerNorm, a MatMul whose weight comes
 * through a Transpose, a Reshape to a shape computed from the input, a
 * second MatMul and its bias, Add; twice. */
static void prenorm_transformer(void **state)
{
	(void)state;
	tb *b = tb_new(17);
	tb_input(b, "x", F, "2,5,8");
	char in[32] = "x";
	for (int k = 0; k < 2; k++) {
		char n[24][32];
		for (int i = 0; i < 24; i++)
			snprintf(n[i], sizeof n[i], "%d.%d", k, i);
		char ln_s[16], ln_b[16], w1[16], b1[16], w2[16], b2[16], list[160];
		snprintf(ln_s, sizeof ln_s, "ln%d.s", k);
		snprintf(ln_b, sizeof ln_b, "ln%d.b", k);
		snprintf(w1, sizeof w1, "fc%d", k);
		snprintf(b1, sizeof b1, "fc%d.b", k);
		snprintf(w2, sizeof w2, "proj%d", k);
		snprintf(b2, sizeof b2, "proj%d.b", k);
		tb_init(b, ln_s, "8", 1.0);
		tb_init(b, ln_b, "8", 0.0);
		tb_init(b, w1, "32,8", 0.1); /* torch's Linear (out, in) */
		tb_init(b, b1, "32", 0.1);
		tb_init(b, w2, "8,32", 0.1);
		tb_init(b, b2, "8", 0.1);
		snprintf(list, sizeof list, "%s,%s,%s", in, ln_s, ln_b);
		tb_node(b, "LayerNormalization", list, n[0]);
		tb_node(b, "Transpose", w1, n[1]);
		snprintf(list, sizeof list, "%s,%s", n[0], n[1]);
		tb_node(b, "MatMul", list, n[2]);
		snprintf(list, sizeof list, "%s,%s", n[2], b1);
		tb_node(b, "Add", list, n[3]);
		tb_node(b, "Relu", n[3], n[4]);
		tb_node(b, "Shape", n[4], n[5]);
		snprintf(list, sizeof list, "%s,%s", n[4], n[5]);
		tb_node(b, "Reshape", list, n[6]); /* a no-op, shape computed */
		tb_node(b, "Transpose", w2, n[7]);
		snprintf(list, sizeof list, "%s,%s", n[6], n[7]);
		tb_node(b, "MatMul", list, n[8]);
		snprintf(list, sizeof list, "%s,%s", n[8], b2);
		tb_node(b, "Add", list, n[9]);
		snprintf(list, sizeof list, "%s,%s", in, n[9]);
		tb_node(b, "Add", list, n[10]);
		snprintf(in, sizeof in, "%s", n[10]);
	}
	tb_output(b, in, F, NULL);
	oi_model *m = t_open(tb_write(b, "prenorm.onnx"), OI_FANS_TORCH);
	tb_free(b);
	residual_is(m, "ln0.s", 1, 2, 0, 2, 0);
	residual_is(m, "ln1.b", 2, 2, 0, 2, 0);
	residual_is(m, "fc0", 1, 2, 1, 2, 0);
	residual_is(m, "fc0.b", 1, 2, 1, 2, 0);
	residual_is(m, "proj1", 2, 2, 2, 2, 1);
	residual_is(m, "proj1.b", 2, 2, 2, 2, 1);
	/* no norm after the last layer: zero is the last layer's weight and bias */
	assert_int_equal(t_plan_residual(m, NULL, 1, NULL, OI_RESIDUAL_ZERO), 0);
	assert_string_equal(t_find(m, "proj0")->scheme, "zeros\xc2\xb7residual_zero");
	assert_string_equal(t_find(m, "proj1.b")->scheme, "zeros\xc2\xb7residual_zero");
	assert_string_equal(t_find(m, "ln1.s")->scheme, "ones");
	assert_true(t_find(m, "fc1")->std > 0);
	oi_model_free(m);
}

/* ---- the modes ----------------------------------------------------------- */

static void zero_norm_or_layer(void **state)
{
	(void)state;
	cnn c = { .blocks = 2, .layers = 2, .norms = true, .projection = true };
	oi_model *m = open_cnn(&c);
	assert_int_equal(t_plan_residual(m, NULL, 1, NULL, OI_RESIDUAL_ZERO), 0);
	assert_string_equal(t_find(m, "n01.s")->scheme, "zeros\xc2\xb7residual_zero");
	assert_string_equal(t_find(m, "n11.s")->scheme, "zeros\xc2\xb7residual_zero");
	assert_string_equal(t_find(m, "n00.s")->scheme, "ones");
	assert_string_equal(t_find(m, "q0.s")->scheme, "ones");
	assert_true(t_find(m, "c01")->std > 0);
	oi_model_free(m);
	c.norms = c.projection = false; /* BatchNorm folded into the convs */
	m = open_cnn(&c);
	assert_int_equal(t_plan_residual(m, "normal(mean=0,std=0.5)", 1, NULL, OI_RESIDUAL_ZERO),
	                 0);
	for (size_t i = 0; i < oi_model_tensor_count(m); i++) {
		const oi_tensor_info *t = oi_model_tensor(m, i);
		bool last = t->name[0] == 'c' && t->name[2] == '1';
		if ((t->std == 0) != last)
			fail_msg("%s: std %g", t->name, t->std);
	}
	oi_model_free(m);
}

static void scaled_std(void **state)
{
	(void)state;
	cnn c = { .blocks = 3, .layers = 2 };
	oi_model *m = open_cnn(&c);
	assert_int_equal(t_plan_residual(m, "normal(mean=0,std=0.5)", 1, NULL,
	                                 OI_RESIDUAL_SCALED), 0);
	t_near(t_find(m, "c21")->std, 0.5 / sqrt(3.0), 1e-12, "c21 std");
	assert_string_equal(t_find(m, "c21")->scheme,
	                    "normal(mean=0,std=0.5)\xc2\xb7residual_scaled(1/\xe2\x88\x9a" "3)");
	t_near(t_find(m, "c20")->std, 0.5, 1e-12, "c20 std");
	t_near(t_find(m, "c21.b")->std, 0.5, 1e-12, "c21.b std (biases stay)");
	t_near(t_find(m, "fc")->std, 0.5, 1e-12, "fc std");
	/* a uniform's bound scales the same way */
	assert_int_equal(t_plan_residual(m, "uniform(low=-1,high=1)", 1, NULL,
	                                 OI_RESIDUAL_SCALED), 0);
	t_near(t_find(m, "c01")->bound, 1 / sqrt(3.0), 1e-12, "c01 bound");
	t_near(t_find(m, "c01")->std, 2 / sqrt(12.0) / sqrt(3.0), 1e-12, "c01 std");
	/* the gpt2 profile implies scaled; an explicit mode overrides it */
	assert_int_equal(t_plan_residual(m, "gpt2", 1, NULL, OI_RESIDUAL_DEFAULT), 0);
	t_near(t_find(m, "c11")->std, 0.02 / sqrt(3.0), 1e-12, "gpt2 c11 std");
	t_near(t_find(m, "c10")->std, 0.02, 1e-12, "gpt2 c10 std");
	assert_string_equal(t_find(m, "c10.b")->scheme, "zeros");
	assert_int_equal(t_plan_residual(m, "gpt2", 1, NULL, OI_RESIDUAL_NONE), 0);
	t_near(t_find(m, "c11")->std, 0.02, 1e-12, "gpt2 none c11 std");
	oi_model_free(m);
}

static void fixup_std(void **state)
{
	(void)state;
	for (int layers = 2; layers <= 3; layers++) {
		cnn c = { .blocks = 4, .layers = layers };
		oi_model *m = open_cnn(&c);
		assert_int_equal(t_plan_residual(m, NULL, 1, NULL, OI_RESIDUAL_FIXUP), 0);
		/* √(2/36)·4^(−1/(2m−2)): m = 2 halves it, m = 3 takes 4^(1/4) = √2 */
		double want = sqrt(2.0 / 36.0) * (layers == 2 ? 0.5 : 1 / sqrt(2.0));
		for (int k = 0; k < 4; k++)
			for (int j = 0; j < layers; j++) {
				char name[16];
				snprintf(name, sizeof name, "c%d%d", k, j);
				t_near(t_find(m, name)->std, j + 1 < layers ? want : 0, 1e-12, name);
				snprintf(name, sizeof name, "c%d%d.b", k, j);
				if (j + 1 == layers)
					t_near(t_find(m, name)->std, 0, 0, name);
			}
		assert_string_equal(t_find(m, "c00")->scheme,
		                    layers == 2 ? "kaiming_normal(a=0,mode=fan_out,nonlinearity=relu)"
		                                  "\xc2\xb7residual_fixup(4^(-1/2))"
		                                : "kaiming_normal(a=0,mode=fan_out,nonlinearity=relu)"
		                                  "\xc2\xb7residual_fixup(4^(-1/4))");
		assert_string_equal(t_find(m, "fc")->scheme, "zeros\xc2\xb7residual_fixup");
		assert_string_equal(t_find(m, "fc.b")->scheme, "zeros\xc2\xb7residual_fixup");
		assert_true(t_find(m, "stem")->std > 0);
		oi_model_free(m);
	}
}

/* A rule naming a tensor wins over the mode; a rule by role does not. */
static void name_rule_wins(void **state)
{
	(void)state;
	cnn c = { .blocks = 2, .layers = 2 };
	oi_model *m = open_cnn(&c);
	const char *rules[] = { "c01=normal(mean=0,std=1)", "role:conv_weight=normal(mean=0,std=2)",
		                NULL };
	assert_int_equal(t_plan_residual(m, NULL, 1, rules, OI_RESIDUAL_ZERO), 0);
	t_near(t_find(m, "c01")->std, 0, 0, "c01: the role rule came last");
	t_near(t_find(m, "c11")->std, 0, 0, "c11: zeroed");
	const char *named[] = { "role:conv_weight=normal(mean=0,std=2)", "name:c01=normal(mean=0,std=1)",
		                NULL };
	assert_int_equal(t_plan_residual(m, NULL, 1, named, OI_RESIDUAL_ZERO), 0);
	t_near(t_find(m, "c01")->std, 1, 1e-12, "c01: named");
	t_near(t_find(m, "c11")->std, 0, 0, "c11: zeroed");
	oi_model_free(m);
}

static void bad_mode_and_no_blocks(void **state)
{
	(void)state;
	cnn c = { .blocks = 0, .layers = 2 };
	oi_model *m = open_cnn(&c);
	assert_int_equal(t_plan_residual(m, NULL, 1, NULL, (oi_residual)9), OI_EARG);
	assert_non_null(strstr(oi_last_error(), "residual mode"));
	assert_int_equal(t_plan_residual(m, NULL, 1, NULL, OI_RESIDUAL_NONE), 0);
	double stem = t_find(m, "stem")->std, fc = t_find(m, "fc")->std;
	assert_false(has_warning(m, "residual", NULL));
	assert_int_equal(t_plan_residual(m, NULL, 1, NULL, OI_RESIDUAL_FIXUP), 0);
	assert_true(has_warning(m, "residual mode 'fixup'", "no residual blocks"));
	t_near(t_find(m, "stem")->std, stem, 0, "stem unchanged");
	t_near(t_find(m, "fc")->std, fc, 0, "fc unchanged: no blocks, no classifier");
	assert_int_equal(t_plan_residual(m, "gpt2", 1, NULL, OI_RESIDUAL_DEFAULT), 0);
	assert_true(has_warning(m, "residual mode 'scaled' (the profile's)", "no residual blocks"));
	assert_string_equal(oi_residual_name(OI_RESIDUAL_SCALED), "scaled");
	assert_string_equal(oi_residual_name((oi_residual)7), "unknown");
	oi_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(finds_chain_of_blocks),
		cmocka_unit_test(norms_and_projection),
		cmocka_unit_test(parallel_paths_warn),
		cmocka_unit_test(embedding_sum_is_no_block),
		cmocka_unit_test(prenorm_transformer),
		cmocka_unit_test(zero_norm_or_layer),
		cmocka_unit_test(scaled_std),
		cmocka_unit_test(fixup_std),
		cmocka_unit_test(name_rule_wins),
		cmocka_unit_test(bad_mode_and_no_blocks),
	};
	return cmocka_run_group_tests(tests, t_setup_dir, t_teardown_dir);
}
