/* Open, plan and save through the public API, on models built here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "onnx.pb-c.h"
#include "onnxinit.h"
#include "ops.h"
#include "support.h"
#include "tensor.h"

void oi__set_protobuf_limit(uint64_t limit);

/* A model of one graph: input x, the nodes and initializers given, and
 * output y if output is not NULL; opset 13. The tensors keep the storage
 * they are given (tb_* writes raw float tensors only). */
static void write_graph(const char *path, Onnx__NodeProto **nodes, size_t n_nodes,
                        Onnx__TensorProto **inits, size_t n_inits, const char *output)
{
	Onnx__ValueInfoProto x = ONNX__VALUE_INFO_PROTO__INIT, y = ONNX__VALUE_INFO_PROTO__INIT;
	x.name = (char *)"x";
	y.name = (char *)output;
	Onnx__ValueInfoProto *ins[1] = { &x }, *outs[1] = { &y };
	Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
	g.name = (char *)"g"; g.n_node = n_nodes; g.node = nodes;
	g.n_initializer = n_inits; g.initializer = inits; g.n_input = 1; g.input = ins;
	g.n_output = output ? 1 : 0; g.output = outs;
	Onnx__OperatorSetIdProto op = ONNX__OPERATOR_SET_ID_PROTO__INIT;
	op.domain = (char *)""; op.has_version = 1; op.version = 13;
	Onnx__OperatorSetIdProto *ops[1] = { &op };
	Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
	m.has_ir_version = 1; m.ir_version = 8; m.graph = &g; m.n_opset_import = 1; m.opset_import = ops;
	t_write_model(path, &m);
}

/* x -> MatMul(W: rows x 64 raw float32) -> Add(b: typed float16) -> y */
static void write_model_rows(const char *path, int rows)
{
	float *w = malloc(sizeof *w * (size_t)rows * 64);
	for (int i = 0; i < rows * 64; i++)
		w[i] = (float)i;
	Onnx__TensorProto W = ONNX__TENSOR_PROTO__INIT, B = ONNX__TENSOR_PROTO__INIT;
	int64_t wd[2] = { rows, 64 }, bd[1] = { 64 };
	W.name = (char *)"W"; W.n_dims = 2; W.dims = wd; W.has_data_type = 1; W.data_type = 1;
	W.has_raw_data = 1; W.raw_data.len = sizeof *w * (size_t)rows * 64; W.raw_data.data = (uint8_t *)w;
	int32_t bv[64];
	for (int i = 0; i < 64; i++)
		bv[i] = oi__f64_to_f16(0.5 + i);
	B.name = (char *)"b"; B.n_dims = 1; B.dims = bd; B.has_data_type = 1; B.data_type = 10;
	B.n_int32_data = 64; B.int32_data = bv;
	Onnx__TensorProto *inits[2] = { &W, &B };
	char *mm_in[2] = { (char *)"x", (char *)"W" }, *mm_out[1] = { (char *)"h" };
	char *add_in[2] = { (char *)"h", (char *)"b" }, *add_out[1] = { (char *)"y" };
	Onnx__NodeProto mm = ONNX__NODE_PROTO__INIT, add = ONNX__NODE_PROTO__INIT;
	mm.op_type = (char *)"MatMul"; mm.n_input = 2; mm.input = mm_in; mm.n_output = 1; mm.output = mm_out;
	add.op_type = (char *)"Add"; add.n_input = 2; add.input = add_in; add.n_output = 1; add.output = add_out;
	Onnx__NodeProto *nodes[2] = { &mm, &add };
	write_graph(path, nodes, 2, inits, 2, "y");
	free(w);
}

static void write_model(const char *path)
{
	write_model_rows(path, 16);
}

static int setup(void **state)
{
	if (t_setup_dir(state))
		return -1;
	write_model(t_path("m.onnx"));
	return 0;
}

static void open_lists_tensors(void **state)
{
	(void)state;
	oi_model *m;
	assert_int_equal(oi_model_open(&m, t_path("m.onnx"), NULL), 0);
	assert_int_equal(oi_model_tensor_count(m), 2);
	const oi_tensor_info *w = t_find(m, "W"), *b = t_find(m, "b");
	assert_non_null(w);
	assert_non_null(b);
	assert_int_equal(w->storage, OI_STORAGE_RAW);
	assert_int_equal(w->numel, 1024);
	assert_int_equal(w->nbytes, 4096);
	assert_string_equal(w->graph, "main");
	assert_int_equal(b->storage, OI_STORAGE_TYPED);
	assert_int_equal(b->dtype, OI_DTYPE_FLOAT16);
	assert_int_equal(oi_model_ir_version(m), 8);
	oi_model_free(m);
}

static void zeros_typed_and_raw(void **state)
{
	(void)state;
	oi_model *m;
	assert_int_equal(oi_model_open(&m, t_path("m.onnx"), NULL), 0);
	oi_init_options io = OI_INIT_OPTIONS_INIT;
	io.scheme = "zeros";
	io.no_provenance = 1;
	assert_int_equal(oi_model_plan(m, &io), 0);
	assert_int_equal(oi_model_changed_count(m), 2);
	assert_int_equal(oi_model_save(m, t_path("z.onnx"), NULL), 0);
	oi_model_free(m);

	FILE *f = fopen(t_path("z.onnx"), "rb");
	uint8_t buf[16384];
	size_t len = fread(buf, 1, sizeof buf, f);
	fclose(f);
	Onnx__ModelProto *pb = onnx__model_proto__unpack(NULL, len, buf);
	assert_non_null(pb);
	const Onnx__TensorProto *W = pb->graph->initializer[0], *B = pb->graph->initializer[1];
	assert_int_equal(W->raw_data.len, 4096);
	for (size_t i = 0; i < W->raw_data.len; i++)
		assert_int_equal(W->raw_data.data[i], 0);
	assert_int_equal(B->n_int32_data, 64); /* stays typed, now packed zeros */
	for (size_t i = 0; i < B->n_int32_data; i++)
		assert_int_equal(B->int32_data[i], 0);
	assert_int_equal(pb->n_metadata_props, 0);
	onnx__model_proto__free_unpacked(pb, NULL);
}

static void output_is_input_refused(void **state)
{
	(void)state;
	oi_model *m;
	assert_int_equal(oi_model_open(&m, t_path("m.onnx"), NULL), 0);
	oi_init_options io = OI_INIT_OPTIONS_INIT;
	io.scheme = "keep";
	assert_int_equal(oi_model_plan(m, &io), 0);
	assert_int_equal(oi_model_save(m, t_path("m.onnx"), NULL), OI_ECONFLICT);
	assert_non_null(strstr(oi_last_error(), "m.onnx"));
	io.scheme = "no_such_scheme";
	assert_int_equal(oi_model_plan(m, &io), OI_EARG);
	assert_non_null(strstr(oi_last_error(), "no_such_scheme"));
	oi_model_free(m);
}

/* A model that would pass the protobuf limit is written with external data. */
static void past_limit_goes_external(void **state)
{
	(void)state;
	oi_model *m;
	assert_int_equal(oi_model_open(&m, t_path("m.onnx"), NULL), 0);
	oi_init_options io = OI_INIT_OPTIONS_INIT;
	io.scheme = "zeros";
	assert_int_equal(oi_model_plan(m, &io), 0);
	oi__set_protobuf_limit(2000);
	int rc = oi_model_save(m, t_path("big.onnx"), NULL);
	oi__set_protobuf_limit(0);
	assert_int_equal(rc, 0);
	assert_string_equal(oi_model_saved_external(m), "big.onnx.data");
	oi_model_free(m);

	assert_int_equal(oi_model_open(&m, t_path("big.onnx"), NULL), 0);
	const oi_tensor_info *w = t_find(m, "W"), *b = t_find(m, "b");
	assert_int_equal(w->storage, OI_STORAGE_EXTERNAL);
	assert_int_equal(w->nbytes, 4096);
	assert_int_equal(b->storage, OI_STORAGE_TYPED); /* small and typed: stays */
	oi_model_free(m);
	struct stat st;
	assert_int_equal(stat(t_path("big.onnx.data"), &st), 0);
	assert_int_equal(st.st_size, 4096);
	FILE *f = fopen(t_path("big.onnx.data"), "rb");
	uint8_t buf[4096];
	assert_int_equal(fread(buf, 1, sizeof buf, f), 4096);
	fclose(f);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(buf[i], 0);

	/* and a limit that even that cannot meet fails, leaving nothing */
	assert_int_equal(oi_model_open(&m, t_path("m.onnx"), NULL), 0);
	assert_int_equal(oi_model_plan(m, &io), 0);
	oi__set_protobuf_limit(100);
	rc = oi_model_save(m, t_path("huge.onnx"), NULL);
	oi__set_protobuf_limit(0);
	assert_int_equal(rc, OI_ETOOBIG);
	assert_int_not_equal(stat(t_path("huge.onnx"), &st), 0);
	assert_int_not_equal(stat(t_path("huge.onnx.data"), &st), 0);
	oi_model_free(m);
}

/* Large unchanged ranges go through the kernel copy: still byte-identical. */
static void large_keep_is_identical(void **state)
{
	(void)state;
	write_model_rows(t_path("large.onnx"), 8192); /* 2 MiB of weights */
	oi_model *m;
	assert_int_equal(oi_model_open(&m, t_path("large.onnx"), NULL), 0);
	oi_init_options io = OI_INIT_OPTIONS_INIT;
	io.scheme = "keep";
	assert_int_equal(oi_model_plan(m, &io), 0);
	assert_int_equal(oi_model_save(m, t_path("large-keep.onnx"), NULL), 0);
	oi_model_free(m);
	size_t a_len, b_len;
	uint8_t *a = t_slurp(t_path("large.onnx"), &a_len);
	uint8_t *b = t_slurp(t_path("large-keep.onnx"), &b_len);
	assert_int_equal(a_len, b_len);
	assert_memory_equal(a, b, a_len);
	free(a);
	free(b);
}

/* Analysis is a step of its own: open leaves the analysis fields unset, and
 * analysing again (another convention) replaces results and warnings. */
static void analyse_is_a_step(void **state)
{
	(void)state;
	oi_model *m;
	assert_int_equal(oi_model_open(&m, t_path("m.onnx"), NULL), 0);
	const oi_tensor_info *w = t_find(m, "W");
	assert_null(w->role);
	assert_int_equal(w->fan_in, -1);
	assert_int_equal(oi_model_analyse(m, NULL), 0);
	assert_string_equal(w->role, "dense_weight");
	assert_string_equal(w->op, "MatMul");
	assert_int_equal(w->fan_in, 16);
	assert_int_equal(w->fan_out, 64);
	const char *role = w->role;
	size_t warnings = oi_model_warning_count(m);
	oi_analyse_options ao = OI_ANALYSE_OPTIONS_INIT;
	ao.fan_convention = OI_FANS_KERAS;
	assert_int_equal(oi_model_analyse(m, &ao), 0);
	assert_int_equal(oi_model_warning_count(m), warnings);
	assert_string_equal(role, "dense_weight"); /* still readable */
	assert_int_equal(w->fan_in, 16);
	ao.fan_convention = (oi_fan_convention)7;
	assert_int_equal(oi_model_analyse(m, &ao), OI_EARG);
	ao.version = 99;
	assert_int_equal(oi_model_analyse(m, &ao), OI_EARG);
	oi_model_free(m);
}

/* A weight with a zero dim holds no value, but its other dims may be as
 * large as int64 allows: its fans (and its bias's) overflow, and are unknown,
 * with one warning. */
static void zero_dim_fans_overflow(void **state)
{
	(void)state;
	int64_t huge = (int64_t)1 << 32;
	int64_t wd[4] = { 0, huge, huge, huge }, bd[1] = { 0 };
	Onnx__TensorProto W = ONNX__TENSOR_PROTO__INIT, B = ONNX__TENSOR_PROTO__INIT;
	W.name = (char *)"W"; W.n_dims = 4; W.dims = wd; W.has_data_type = 1; W.data_type = 1;
	B.name = (char *)"B"; B.n_dims = 1; B.dims = bd; B.has_data_type = 1; B.data_type = 1;
	Onnx__TensorProto *inits[2] = { &W, &B };
	char *conv_in[3] = { (char *)"x", (char *)"W", (char *)"B" }, *conv_out[1] = { (char *)"y" };
	Onnx__NodeProto conv = ONNX__NODE_PROTO__INIT;
	conv.op_type = (char *)"Conv"; conv.n_input = 3; conv.input = conv_in;
	conv.n_output = 1; conv.output = conv_out;
	Onnx__NodeProto *nodes[1] = { &conv };
	write_graph(t_path("zero.onnx"), nodes, 1, inits, 2, NULL);

	oi_model *m;
	assert_int_equal(oi_model_open(&m, t_path("zero.onnx"), NULL), 0);
	assert_int_equal(oi_model_analyse(m, NULL), 0);
	const oi_tensor_info *w = t_find(m, "W"), *b = t_find(m, "B");
	assert_string_equal(w->role, "conv_weight");
	assert_int_equal(w->fan_in, -1);
	assert_int_equal(w->fan_out, -1);
	assert_string_equal(b->role, "bias");
	assert_int_equal(b->fan_in, -1);
	assert_int_equal(b->fan_out, -1);
	size_t overflows = 0;
	for (size_t i = 0; i < oi_model_warning_count(m); i++)
		overflows += strstr(oi_model_warning(m, i), "overflow") != NULL;
	assert_int_equal(overflows, 1);
	oi_init_options io = OI_INIT_OPTIONS_INIT;
	io.scheme = "torch";
	oi_model_plan(m, &io); /* whatever it decides, without undefined behaviour */
	oi_model_free(m);
}

/* oi__op_find bisects the op table: rows in oi_op_id order, sorted by
 * (domain, name), each found by its own name and no other domain. */
static void op_table_is_sorted(void **state)
{
	(void)state;
	for (int i = 0; i < OI_OP_COUNT; i++) {
		const oi_op_def *row = &oi__ops[i];
		assert_int_equal(row->id, i);
		assert_non_null(row->name);
		if (i > 0) {
			const oi_op_def *prev = &oi__ops[i - 1];
			assert_true(prev->domain < row->domain ||
			            (prev->domain == row->domain && strcmp(prev->name, row->name) < 0));
		}
		const char *dom = row->domain == OI_DOMAIN_MS ? "com.microsoft" : "";
		assert_ptr_equal(oi__op_find(dom, row->name), row);
		if (row->domain == OI_DOMAIN_ONNX) {
			assert_ptr_equal(oi__op_find(NULL, row->name), row);
			assert_ptr_equal(oi__op_find("ai.onnx", row->name), row);
		}
		assert_null(oi__op_find("ai.onnx.ml", row->name));
		assert_true(!(row->flags & OI_OP_SHAPE_FROM_ATTRS) || row->shape);
	}
	assert_null(oi__op_find("", "NoSuchOp"));
	assert_null(oi__op_find("", NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(open_lists_tensors),
		cmocka_unit_test(zeros_typed_and_raw),
		cmocka_unit_test(output_is_input_refused),
		cmocka_unit_test(past_limit_goes_external),
		cmocka_unit_test(large_keep_is_identical),
		cmocka_unit_test(analyse_is_a_step),
		cmocka_unit_test(zero_dim_fans_overflow),
		cmocka_unit_test(op_table_is_sorted),
	};
	return cmocka_run_group_tests_name("model", tests, setup, t_teardown_dir);
}
