/* Untying through the public API, on a model built here: plans and re-plans,
 * the warnings each leaves, the new tensor's listing and lifetime, and what
 * the saved model is when read again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "onnx.pb-c.h"
#include "onnxinit.h"

static char dir[] = "/tmp/oi-test-untie-XXXXXX";

static char *path_in(const char *name)
{
	static char buf[4][256];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
	return buf[k];
}

/* A raw float32 tensor of n values (d0 first), all `value`, or varied if vary. */
static Onnx__TensorProto *tensor(const char *name, int64_t d0, int64_t n, float value,
                                 bool vary, int64_t *dims, float *data)
{
	static Onnx__TensorProto t[8];
	static int k;
	Onnx__TensorProto *p = &t[k++ % 8];
	Onnx__TensorProto init = ONNX__TENSOR_PROTO__INIT;
	*p = init;
	for (int64_t i = 0; i < n; i++)
		data[i] = vary ? (float)((i * 7) % 11 - 5) / 10 : value;
	dims[0] = d0;
	p->name = (char *)name;
	p->n_dims = n == d0 ? 1 : 4;
	p->dims = dims;
	p->has_data_type = 1;
	p->data_type = 1;
	p->has_raw_data = 1;
	p->raw_data.len = (size_t)n * 4;
	p->raw_data.data = (uint8_t *)data;
	return p;
}

/* X -> Conv(W, B) -> BatchNormalization(S, B, M, V) -> Y; B [4] = 0 is both biases.
 * conv_out names the Conv's output (a name the new tensor must not take). */
static void write_conv_bn(const char *path, const char *conv_out)
{
	int64_t dw[4] = { 4, 3, 3, 3 }, db[1], ds[1], dm[1], dv[1];
	float w[108], b[4], s[4], mu[4], v[4];
	Onnx__TensorProto *inits[5] = {
		tensor("W", 4, 108, 0, true, dw, w), tensor("B", 4, 4, 0, false, db, b),
		tensor("S", 4, 4, 1, false, ds, s), tensor("M", 4, 4, 0, false, dm, mu),
		tensor("V", 4, 4, 1, false, dv, v),
	};
	char *conv_in[3] = { (char *)"X", (char *)"W", (char *)"B" }, *conv_o[1] = { (char *)conv_out };
	char *bn_in[5] = { (char *)conv_out, (char *)"S", (char *)"B", (char *)"M", (char *)"V" };
	char *bn_o[1] = { (char *)"Y" };
	Onnx__NodeProto conv = ONNX__NODE_PROTO__INIT, bn = ONNX__NODE_PROTO__INIT;
	conv.name = (char *)"conv"; conv.op_type = (char *)"Conv";
	conv.n_input = 3; conv.input = conv_in; conv.n_output = 1; conv.output = conv_o;
	bn.name = (char *)"bn"; bn.op_type = (char *)"BatchNormalization";
	bn.n_input = 5; bn.input = bn_in; bn.n_output = 1; bn.output = bn_o;
	Onnx__NodeProto *nodes[2] = { &conv, &bn };
	Onnx__ValueInfoProto x = ONNX__VALUE_INFO_PROTO__INIT, y = ONNX__VALUE_INFO_PROTO__INIT;
	x.name = (char *)"X"; y.name = (char *)"Y";
	Onnx__ValueInfoProto *ins[1] = { &x }, *outs[1] = { &y };
	Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
	g.name = (char *)"g"; g.n_node = 2; g.node = nodes; g.n_initializer = 5; g.initializer = inits;
	g.n_input = 1; g.input = ins; g.n_output = 1; g.output = outs;
	Onnx__OperatorSetIdProto op = ONNX__OPERATOR_SET_ID_PROTO__INIT;
	op.domain = (char *)""; op.has_version = 1; op.version = 14;
	Onnx__OperatorSetIdProto *ops[1] = { &op };
	Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
	m.has_ir_version = 1; m.ir_version = 8; m.graph = &g; m.n_opset_import = 1; m.opset_import = ops;
	size_t len = onnx__model_proto__get_packed_size(&m);
	uint8_t *buf = malloc(len);
	assert_non_null(buf);
	onnx__model_proto__pack(&m, buf);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
	free(buf);
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	write_conv_bn(path_in("m.onnx"), "C");
	write_conv_bn(path_in("taken.onnx"), "B.untied.1");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static const oi_tensor_info *find(const oi_model *m, const char *name)
{
	for (size_t i = 0; i < oi_model_tensor_count(m); i++)
		if (!strcmp(oi_model_tensor(m, i)->name, name))
			return oi_model_tensor(m, i);
	return NULL;
}

static const char *warning_with(const oi_model *m, const char *text)
{
	for (size_t i = 0; i < oi_model_warning_count(m); i++)
		if (strstr(oi_model_warning(m, i), text))
			return oi_model_warning(m, i);
	return NULL;
}

static int plan(oi_model *m, const char *scheme, int no_untie)
{
	oi_init_options io = OI_INIT_OPTIONS_INIT;
	io.scheme = scheme;
	io.no_untie = no_untie;
	return oi_model_plan(m, &io);
}

static void plans_and_replans(void **state)
{
	(void)state;
	oi_model *m;
	assert_int_equal(oi_model_open(&m, path_in("m.onnx"), NULL), 0);
	assert_int_equal(oi_model_analyse(m, NULL), 0);
	assert_int_equal(oi_model_tensor_count(m), 5);
	assert_non_null(warning_with(m, "the first is used"));

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
	assert_null(find(m, "B")->untied_from);
	assert_string_equal(find(m, "B")->role, "bias");
	assert_int_equal(oi_model_changed_count(m), 6);
	assert_null(warning_with(m, "the first is used"));
	assert_non_null(warning_with(m, "untied: 'B.untied.1' for norm_bias by BatchNormalization 'bn'"));
	const char *name = u->name, *scheme = u->scheme;

	/* --no-untie: as before, and what the last plan returned stays readable */
	assert_int_equal(plan(m, "torch", 1), 0);
	assert_int_equal(oi_model_tensor_count(m), 5);
	assert_null(oi_model_tensor(m, 5));
	assert_non_null(warning_with(m, "the first is used"));
	assert_null(warning_with(m, "untied:"));
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
	assert_non_null(warning_with(m, "the first is used"));

	assert_int_equal(plan(m, "torch", 0), 0);
	oi_save_options so = OI_SAVE_OPTIONS_INIT;
	so.flags = OI_SAVE_NO_FSYNC;
	assert_int_equal(oi_model_save(m, path_in("out.onnx"), &so), 0);
	oi_model_free(m);

	/* read again: two tensors, one reader each, no disagreement left */
	assert_int_equal(oi_model_open(&m, path_in("out.onnx"), NULL), 0);
	assert_int_equal(oi_model_analyse(m, NULL), 0);
	assert_int_equal(oi_model_tensor_count(m), 6);
	assert_null(warning_with(m, "is read as"));
	assert_string_equal(find(m, "B")->role, "bias");
	assert_int_equal(find(m, "B")->consumers, 1);
	assert_string_equal(find(m, "B.untied.1")->role, "norm_bias");
	assert_string_equal(find(m, "B.untied.1")->node, "bn");
	assert_int_equal(find(m, "B.untied.1")->storage, OI_STORAGE_RAW);
	/* the untied output is left as it is by a second run */
	assert_int_equal(plan(m, "torch", 0), 0);
	assert_int_equal(oi_model_tensor_count(m), 6);
	oi_model_free(m);
}

static void takes_a_free_name(void **state)
{
	(void)state;
	oi_model *m;
	assert_int_equal(oi_model_open(&m, path_in("taken.onnx"), NULL), 0);
	assert_int_equal(oi_model_analyse(m, NULL), 0);
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
	return cmocka_run_group_tests_name("untie", tests, setup, teardown);
}
