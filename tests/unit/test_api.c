/* The promises of the public header: error names, oi_last_error cleared on
 * success, returned strings that outlive re-plans and re-saves, warnings
 * per plan, rules checked as they are added, the scheme list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "onnx.pb-c.h"
#include "onnxinit.h"
#include "schemes.h"
#include "support.h"

void oi__set_protobuf_limit(uint64_t limit);
extern int openblas_get_num_threads(void);
extern void openblas_set_num_threads(int n);

static Onnx__TensorProto float_tensor(const char *name, int64_t *dims, size_t ndim, float *v)
{
	Onnx__TensorProto t = ONNX__TENSOR_PROTO__INIT;
	size_t n = 1;
	for (size_t i = 0; i < ndim; i++)
		n *= (size_t)dims[i];
	for (size_t i = 0; i < n; i++)
		v[i] = (float)i / 7.0f;
	t.name = (char *)name;
	t.n_dims = ndim;
	t.dims = dims;
	t.has_data_type = 1;
	t.data_type = OI_DTYPE_FLOAT;
	t.has_raw_data = 1;
	t.raw_data.len = n * sizeof *v;
	t.raw_data.data = (uint8_t *)v;
	return t;
}

/* x -> MatMul(W 32x16) -> Add(b 16) -> Mul(k 8x2: read by no layer, which
 * the analysis warns about) -> y */
static void write_model(const char *path)
{
	static float w[32 * 16], b[16], k[16];
	int64_t wd[2] = { 32, 16 }, bd[1] = { 16 }, kd[2] = { 8, 2 };
	Onnx__TensorProto W = float_tensor("W", wd, 2, w), B = float_tensor("b", bd, 1, b),
	                  K = float_tensor("k", kd, 2, k);
	Onnx__TensorProto *inits[3] = { &W, &B, &K };
	char *mm_in[2] = { (char *)"x", (char *)"W" }, *mm_out[1] = { (char *)"h" };
	char *add_in[2] = { (char *)"h", (char *)"b" }, *add_out[1] = { (char *)"a" };
	char *mul_in[2] = { (char *)"a", (char *)"k" }, *mul_out[1] = { (char *)"y" };
	Onnx__NodeProto mm = ONNX__NODE_PROTO__INIT, add = ONNX__NODE_PROTO__INIT,
	                mul = ONNX__NODE_PROTO__INIT;
	mm.op_type = (char *)"MatMul"; mm.n_input = 2; mm.input = mm_in; mm.n_output = 1; mm.output = mm_out;
	add.op_type = (char *)"Add"; add.n_input = 2; add.input = add_in; add.n_output = 1; add.output = add_out;
	mul.op_type = (char *)"Mul"; mul.n_input = 2; mul.input = mul_in; mul.n_output = 1; mul.output = mul_out;
	Onnx__NodeProto *nodes[3] = { &mm, &add, &mul };
	Onnx__ValueInfoProto x = ONNX__VALUE_INFO_PROTO__INIT, y = ONNX__VALUE_INFO_PROTO__INIT;
	x.name = (char *)"x";
	y.name = (char *)"y";
	Onnx__ValueInfoProto *ins[1] = { &x }, *outs[1] = { &y };
	Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
	g.name = (char *)"g"; g.n_node = 3; g.node = nodes; g.n_initializer = 3; g.initializer = inits;
	g.n_input = 1; g.input = ins; g.n_output = 1; g.output = outs;
	Onnx__OperatorSetIdProto op = ONNX__OPERATOR_SET_ID_PROTO__INIT;
	op.domain = (char *)"";
	op.has_version = 1;
	op.version = 13;
	Onnx__OperatorSetIdProto *ops[1] = { &op };
	Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
	m.has_ir_version = 1; m.ir_version = 8; m.graph = &g; m.n_opset_import = 1; m.opset_import = ops;
	t_write_model(path, &m);
}

static int setup(void **state)
{
	if (t_setup_dir(state))
		return -1;
	write_model(t_path("m.onnx"));
	return 0;
}

static int plan(oi_model *m, const char *scheme, const oi_rules *rules)
{
	oi_init_options io = OI_INIT_OPTIONS_INIT;
	io.scheme = scheme;
	io.rules = rules;
	return oi_model_plan(m, &io);
}

static void error_names(void **state)
{
	(void)state;
	static const struct {
		oi_error code;
		const char *name;
	} all[] = {
		{ OI_OK, "ok" }, { OI_ENOMEM, "nomem" }, { OI_EIO, "io" }, { OI_EFORMAT, "format" },
		{ OI_EINVALID, "invalid" }, { OI_EEXTERNAL, "external" }, { OI_ETOOBIG, "toobig" },
		{ OI_EUNSUPPORTED, "unsupported" }, { OI_EARG, "arg" }, { OI_ECONFLICT, "conflict" },
	};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		assert_string_equal(oi_error_name(all[i].code), all[i].name);
	assert_string_equal(oi_error_name((oi_error)-100), "unknown");
	assert_string_equal(oi_error_name((oi_error)1), "unknown");
	assert_string_equal(oi_action_name(OI_ACTION_KEEP), "keep");
	assert_string_equal(oi_action_name(OI_ACTION_REINIT), "reinit");
	assert_string_equal(oi_action_name((oi_action)3), "unknown");
}

static void init_macros(void **state)
{
	(void)state;
	oi_init_options io = OI_INIT_OPTIONS_INIT;
	oi_save_options so = OI_SAVE_OPTIONS_INIT;
	oi_open_options oo = OI_OPEN_OPTIONS_INIT;
	assert_int_equal(io.version, OI_INIT_OPTIONS_VERSION);
	assert_null(io.scheme);
	assert_null(io.rules);
	assert_int_equal(io.seed, 0);
	assert_int_equal(so.version, OI_SAVE_OPTIONS_VERSION);
	assert_int_equal(so.threads, 0);
	assert_null(so.cancel);
	assert_int_equal(oo.version, OI_OPEN_OPTIONS_VERSION);
	assert_int_equal(oo.flags, 0);
}

static void last_error_cleared_on_success(void **state)
{
	(void)state;
	oi_model *m = NULL;
	assert_int_equal(oi_model_open(&m, t_path("missing.onnx"), NULL), OI_EIO);
	assert_string_not_equal(oi_last_error(), "");
	assert_int_equal(oi_model_open(&m, t_path("m.onnx"), NULL), 0);
	assert_string_equal(oi_last_error(), "");

	oi_rules *r = NULL;
	assert_int_equal(oi_rules_new(&r), 0);
	assert_string_equal(oi_last_error(), "");
	assert_int_equal(oi_rules_add(r, "no selector"), OI_EARG);
	assert_int_equal(oi_rules_add(r, "W=zeros"), 0);
	assert_string_equal(oi_last_error(), "");
	assert_int_equal(oi_rules_add_json(r, "[", NULL), OI_EARG);
	assert_int_equal(oi_rules_add_json(r, "[\"b=ones\"]", "r.json"), 0);
	assert_string_equal(oi_last_error(), "");

	assert_int_equal(plan(m, "no_such_scheme", NULL), OI_EARG);
	/* the default scheme, xavier, needs fans that k has not: k follows the
	 * auto profile, the failure inside the plan is not left behind */
	assert_int_equal(plan(m, "xavier_uniform", r), 0);
	assert_string_equal(oi_last_error(), "");
	const char *domain;
	int64_t version;
	assert_int_equal(oi_model_opset(m, 5, &domain, &version), OI_EARG);
	assert_int_equal(oi_model_opset(m, 0, &domain, &version), 0);
	assert_string_equal(oi_last_error(), "");

	assert_int_equal(oi_model_save(m, t_path("m.onnx"), NULL), OI_ECONFLICT);
	assert_int_equal(oi_model_save(m, t_path("cleared.onnx"), NULL), 0);
	assert_string_equal(oi_last_error(), "");
	oi_rules_free(r);
	oi_model_free(m);
}

/* Strings from a first plan and save stay readable, unchanged, after a
 * second (ASan reports a use after free). */
static void strings_outlive_replans(void **state)
{
	(void)state;
	oi_model *m;
	assert_int_equal(oi_model_open(&m, t_path("m.onnx"), NULL), 0);
	assert_int_equal(plan(m, "uniform(low=-0.25,high=0.5)", NULL), 0);
	const char *s1 = t_find(m, "W")->scheme;
	assert_non_null(s1);
	char copy[200];
	snprintf(copy, sizeof copy, "%s", s1);
	assert_string_equal(copy, "uniform(low=-0.25,high=0.5)");

	oi__set_protobuf_limit(1000);
	int rc = oi_model_save(m, t_path("ext.onnx"), NULL);
	oi__set_protobuf_limit(0);
	assert_int_equal(rc, 0);
	const char *ext = oi_model_saved_external(m);
	assert_non_null(ext);
	assert_string_equal(ext, "ext.onnx.data");

	assert_int_equal(plan(m, "normal(mean=1,std=2)", NULL), 0);
	assert_string_equal(t_find(m, "W")->scheme, "normal(mean=1,std=2)");
	assert_string_equal(s1, copy);
	assert_int_equal(oi_model_save(m, t_path("plain.onnx"), NULL), 0);
	assert_null(oi_model_saved_external(m));
	assert_string_equal(ext, "ext.onnx.data");
	oi_model_free(m);
}

/* A plan's warnings replace the previous plan's; the analysis's stay. */
static void warnings_per_plan(void **state)
{
	(void)state;
	oi_model *m;
	assert_int_equal(oi_model_open(&m, t_path("m.onnx"), NULL), 0);
	assert_int_equal(plan(m, "auto", NULL), 0);
	size_t analysis = oi_model_warning_count(m);
	assert_true(analysis >= 1); /* k is read by no layer */
	const char *first = oi_model_warning(m, 0);
	char first_copy[512];
	snprintf(first_copy, sizeof first_copy, "%s", first);

	oi_rules *r;
	assert_int_equal(oi_rules_new(&r), 0);
	assert_int_equal(oi_rules_add(r, "nothing_by_this_name=zeros"), 0);
	assert_int_equal(plan(m, "auto", r), 0);
	assert_int_equal(oi_model_warning_count(m), analysis + 1);
	const char *w = oi_model_warning(m, analysis);
	assert_non_null(strstr(w, "matches no tensor"));
	/* the same rules again: one warning, not two */
	assert_int_equal(plan(m, "auto", r), 0);
	assert_int_equal(oi_model_warning_count(m), analysis + 1);

	assert_int_equal(plan(m, "auto", NULL), 0);
	assert_int_equal(oi_model_warning_count(m), analysis);
	assert_null(t_warning(m, "matches no tensor"));
	assert_ptr_equal(oi_model_warning(m, 0), first);
	assert_string_equal(first, first_copy);
	assert_non_null(strstr(w, "matches no tensor")); /* still readable */
	oi_rules_free(r);
	oi_model_free(m);
}

static void rules_checked_when_added(void **state)
{
	(void)state;
	oi_rules *r;
	assert_int_equal(oi_rules_new(&r), 0);
	static const char *const bad[] = {
		"no selector",            /* no '=' */
		"=zeros",                 /* empty selector */
		"name:=zeros",
		"role:=zeros",
		"role:nonsense=zeros",    /* unknown role */
		"op:Conv=no_such_scheme", /* unknown scheme */
		"W=uniform(low=2,high=1)",
		"W=normal(sd=1)",         /* unknown parameter */
		"W=torch(x=1)",           /* profiles take none */
		"W=zeros(",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_int_equal(oi_rules_add(r, bad[i]), OI_EARG);
		assert_non_null(strstr(oi_last_error(), bad[i]));
	}
	assert_non_null(strstr((oi_rules_add(r, "role:nonsense=zeros"), oi_last_error()),
	                       "unknown role 'nonsense'"));
	static const char *const bad_json[] = {
		"[",
		"{\"rules\": [\"W=zeros\"], \"extra\": 1}",
		"{\"scheme\": 3}",
		"{\"rules\": \"W=zeros\"}",
		"[\"W=zeros\", 7]",
		"[\"W=zeros\", \"role:nonsense=ones\"]",
		"[{\"select\": \"W\"}]",
	};
	for (size_t i = 0; i < sizeof bad_json / sizeof *bad_json; i++) {
		assert_int_equal(oi_rules_add_json(r, bad_json[i], "bad.json"), OI_EARG);
		assert_non_null(strstr(oi_last_error(), "bad.json"));
	}

	/* nothing of the failed adds is in the set: a plan sees no rule */
	oi_model *m;
	assert_int_equal(oi_model_open(&m, t_path("m.onnx"), NULL), 0);
	assert_int_equal(plan(m, "keep", r), 0);
	assert_int_equal(oi_model_changed_count(m), 0);
	/* later rules win; a file's scheme is the default when none is given */
	assert_int_equal(oi_rules_add_json(r, "{\"scheme\": \"zeros\", \"rules\": [\"W=ones\"]}",
	                                   NULL), 0);
	assert_int_equal(oi_rules_add(r, "W=constant(3)"), 0);
	assert_int_equal(plan(m, NULL, r), 0);
	assert_string_equal(t_find(m, "W")->scheme, "constant(value=3)");
	assert_string_equal(t_find(m, "b")->scheme, "zeros");
	oi_model_free(m);
	oi_rules_free(r);
	oi_rules_free(NULL);
}

static void unknown_scheme_lists_the_table(void **state)
{
	(void)state;
	oi_rules *r;
	assert_int_equal(oi_rules_new(&r), 0);
	assert_int_equal(oi_rules_add(r, "W=no_such_scheme"), OI_EARG);
	char msg[1024];
	snprintf(msg, sizeof msg, "%s", oi_last_error());
	assert_non_null(strstr(msg, "unknown scheme 'no_such_scheme'"));
	assert_true(oi__scheme_count() >= 23);
	for (size_t i = 0; i < oi__scheme_count(); i++) {
		char item[64];
		snprintf(item, sizeof item, " %s%c", oi__scheme_name(i),
		         i + 1 < oi__scheme_count() ? ',' : ';');
		if (!strstr(msg, item))
			fail_msg("'%s' is not in: %s", oi__scheme_name(i), msg);
	}
	size_t n = 0;
	for (; oi__profile_name(n); n++)
		assert_non_null(strstr(msg, oi__profile_name(n)));
	assert_int_equal(n, 5); /* torch, keras, flax, auto, gpt2 */
	oi_rules_free(r);
}

static bool openblas_mapped(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[1024];
	bool found = false;
	while (f && fgets(line, sizeof line, f))
		found = found || strstr(line, "libopenblas") != NULL;
	if (f)
		fclose(f);
	return found;
}

/* OpenBLAS is loaded (and its thread pool started) only by what needs it:
 * not by open, plan and save of a model with no orthogonal fill. Runs
 * before every other test of this program. */
static void openblas_loaded_on_demand(void **state)
{
	(void)state;
	assert_false(openblas_mapped());
	oi_model *m;
	assert_int_equal(oi_model_open(&m, t_path("m.onnx"), NULL), 0);
	assert_int_equal(plan(m, "kaiming_normal", NULL), 0);
	assert_int_equal(oi_model_save(m, t_path("kn.onnx"), NULL), 0);
	oi_model_free(m);
	assert_false(openblas_mapped());
	assert_int_equal(oi_model_open(&m, t_path("m.onnx"), NULL), 0);
	assert_int_equal(plan(m, "orthogonal", NULL), 0);
	assert_int_equal(oi_model_save(m, t_path("orth.onnx"), NULL), 0);
	oi_model_free(m);
	assert_true(openblas_mapped());
}

/* The orthogonal fill runs LAPACK on one OpenBLAS thread and puts back the
 * caller's setting. */
static void openblas_threads_restored(void **state)
{
	(void)state;
	openblas_set_num_threads(3);
	int before = openblas_get_num_threads();
	oi_model *m;
	assert_int_equal(oi_model_open(&m, t_path("m.onnx"), NULL), 0);
	assert_int_equal(plan(m, "orthogonal", NULL), 0);
	assert_string_equal(t_find(m, "W")->scheme, "orthogonal(gain=1)");
	assert_int_equal(oi_model_save(m, t_path("orth.onnx"), NULL), 0);
	assert_int_equal(openblas_get_num_threads(), before);
	oi_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(openblas_loaded_on_demand),
		cmocka_unit_test(error_names),
		cmocka_unit_test(init_macros),
		cmocka_unit_test(last_error_cleared_on_success),
		cmocka_unit_test(strings_outlive_replans),
		cmocka_unit_test(warnings_per_plan),
		cmocka_unit_test(rules_checked_when_added),
		cmocka_unit_test(unknown_scheme_lists_the_table),
		cmocka_unit_test(openblas_threads_restored),
	};
	return cmocka_run_group_tests_name("api", tests, setup, t_teardown_dir);
}
