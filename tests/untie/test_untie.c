/* Untying through the public API, on a model built here: plans and re-plans,
 * the warnings each leaves, the new tensor's listing and lifetime, and what
 * the saved model is when read again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "support.h"

/* X -> Conv(W, B) -> BatchNormalization(S, B, M, V) -> Y; B [4] = 0 is both biases.
 * conv_out names the Conv's output (a name the new tensor must not take). */
static void write_conv_bn(const char *name, const char *conv_out)
{
	tb *b = tb_new(14);
	tb_input(b, "X", OI_DTYPE_FLOAT, NULL);
	float *w = (float *)tb_init(b, "W", "4,3,3,3", 0)->raw_data.data;
	for (int i = 0; i < 108; i++) /* varied, so that W is not read as a constant */
		w[i] = (float)((i * 7) % 11 - 5) / 10;
	tb_init(b, "B", "4", 0);
	tb_init(b, "S", "4", 1);
	tb_init(b, "M", "4", 0);
	tb_init(b, "V", "4", 1);
	char io[64];
	tb_node(b, "Conv", "X,W,B", conv_out)->name = tb_str(b, "conv");
	snprintf(io, sizeof io, "%s,S,B,M,V", conv_out);
	tb_node(b, "BatchNormalization", io, "Y")->name = tb_str(b, "bn");
	tb_output(b, "Y", OI_DTYPE_FLOAT, NULL);
	tb_write(b, name);
	tb_free(b);
}

static int setup(void **state)
{
	if (t_setup_dir(state))
		return -1;
	write_conv_bn("m.onnx", "C");
	write_conv_bn("taken.onnx", "B.untied.1");
	return 0;
}

/* t_plan has no no_untie: the one option this suite turns. */
static int plan(oi_model *m, const char *scheme, int no_untie)
{
	if (!no_untie)
		return t_plan(m, scheme, 0, NULL);
	oi_init_options io = OI_INIT_OPTIONS_INIT;
	io.scheme = scheme;
	io.no_untie = 1;
	return oi_model_plan(m, &io);
}

static void plans_and_replans(void **state)
{
	(void)state;
	oi_model *m = t_open(t_path("m.onnx"), OI_FANS_TORCH);
	assert_int_equal(oi_model_tensor_count(m), 5);
	assert_non_null(t_warning(m, "the first is used"));

	assert_int_equal(plan(m, "torch", 0), 0);
	assert_int_equal(oi_model_tensor_count(m), 6);
	const oi_tensor_info *u = oi_model_tensor(m, 5);
	assert_string_equal(u->name, "B.untied.1");
	assert_string_equal(u->untied_from, "B");
	assert_string_equal(u->role, "norm_bias");
	assert_string_equal(u->op, "BatchNormalization");
	assert_string_equal(u->node, "bn");
	assert_string_equal(u->scheme, "zeros");
	assert_int_equal(u->storage, OI_STORAGE_RAW);
	assert_int_equal(u->nbytes, 16);
	assert_int_equal(u->consumers, 1);
	assert_int_equal(u->action, OI_ACTION_REINIT);
	assert_null(t_find(m, "B")->untied_from);
	assert_string_equal(t_find(m, "B")->role, "bias");
	assert_int_equal(oi_model_changed_count(m), 6);
	assert_null(t_warning(m, "the first is used"));
	assert_non_null(t_warning(m, "untied: 'B.untied.1' for norm_bias by BatchNormalization 'bn'"));
	const char *name = u->name, *scheme = u->scheme;

	/* --no-untie: as before, and what the last plan returned stays readable */
	assert_int_equal(plan(m, "torch", 1), 0);
	assert_int_equal(oi_model_tensor_count(m), 5);
	assert_null(oi_model_tensor(m, 5));
	assert_non_null(t_warning(m, "the first is used"));
	assert_null(t_warning(m, "untied:"));
	assert_string_equal(name, "B.untied.1");
	assert_string_equal(scheme, "zeros");

	/* readers that get the same values: nothing to untie */
	assert_int_equal(plan(m, "auto", 0), 0);
	assert_int_equal(oi_model_tensor_count(m), 5);

	/* a failed plan leaves none either */
	assert_int_equal(plan(m, "torch", 0), 0);
	assert_int_equal(oi_model_tensor_count(m), 6);
	assert_int_equal(plan(m, "no_such_scheme", 0), OI_EARG);
	assert_int_equal(oi_model_tensor_count(m), 5);
	assert_non_null(t_warning(m, "the first is used"));

	assert_int_equal(plan(m, "torch", 0), 0);
	oi_save_options so = OI_SAVE_OPTIONS_INIT;
	so.flags = OI_SAVE_NO_FSYNC;
	assert_int_equal(oi_model_save(m, t_path("out.onnx"), &so), 0);
	oi_model_free(m);

	/* read again: two tensors, one reader each, no disagreement left */
	m = t_open(t_path("out.onnx"), OI_FANS_TORCH);
	assert_int_equal(oi_model_tensor_count(m), 6);
	assert_null(t_warning(m, "is read as"));
	assert_string_equal(t_find(m, "B")->role, "bias");
	assert_int_equal(t_find(m, "B")->consumers, 1);
	assert_string_equal(t_find(m, "B.untied.1")->role, "norm_bias");
	assert_string_equal(t_find(m, "B.untied.1")->node, "bn");
	assert_int_equal(t_find(m, "B.untied.1")->storage, OI_STORAGE_RAW);
	/* the untied output is left as it is by a second run */
	assert_int_equal(plan(m, "torch", 0), 0);
	assert_int_equal(oi_model_tensor_count(m), 6);
	oi_model_free(m);
}

static void takes_a_free_name(void **state)
{
	(void)state;
	oi_model *m = t_open(t_path("taken.onnx"), OI_FANS_TORCH);
	assert_int_equal(plan(m, "torch", 0), 0);
	assert_int_equal(oi_model_tensor_count(m), 6);
	assert_string_equal(oi_model_tensor(m, 5)->name, "B.untied.2");
	oi_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plans_and_replans),
		cmocka_unit_test(takes_a_free_name),
	};
	return cmocka_run_group_tests_name("untie", tests, setup, t_teardown_dir);
}
