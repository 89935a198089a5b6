/* What the unit tests share: ONNX models built here with protobuf-c, written
 * to a scratch folder, then opened, analysed and planned through the public
 * API. Opening and planning happen in t_open() and t_plan() only, so that an
 * API change touches one place. Include after <cmocka.h>. */
#ifndef OI_TEST_SUPPORT_H
#define OI_TEST_SUPPORT_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"
#include "onnxinit.h"

/* ---- the scratch folder -------------------------------------------------- */

static inline char *t_dir(void)
{
	static char dir[64];
	return dir;
}

/* cmocka group setup and teardown */
static inline int t_setup_dir(void **state)
{
	(void)state;
	snprintf(t_dir(), 64, "/tmp/oi-unit-XXXXXX");
	return mkdtemp(t_dir()) ? 0 : -1;
}

static inline int t_teardown_dir(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", t_dir());
	return system(cmd) == 0 ? 0 : -1;
}

/* DIR/name; the last eight results stay valid */
static inline const char *t_path(const char *name)
{
	static char buf[8][512];
	static int k;
	k = (k + 1) % 8;
	snprintf(buf[k], sizeof buf[k], "%s/%s", t_dir(), name);
	return buf[k];
}

static inline uint8_t *t_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *b = malloc(*len ? *len : 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, *len, f), *len);
	fclose(f);
	return b;
}

static inline void t_spill(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		fail_msg("cannot create %s", path);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* The file at path as protobuf-c sees it; free with onnx__model_proto__free_unpacked. */
static inline Onnx__ModelProto *t_unpack(const char *path)
{
	size_t len;
	uint8_t *b = t_slurp(path, &len);
	Onnx__ModelProto *pb = onnx__model_proto__unpack(NULL, len, b);
	free(b);
	if (!pb)
		fail_msg("%s: protobuf-c cannot parse it", path);
	return pb;
}

/* ---- building models ----------------------------------------------------- */

/* A model under construction; everything it points to belongs to it. */
typedef struct tb {
	Onnx__ModelProto m;
	Onnx__GraphProto g;
	Onnx__OperatorSetIdProto opset[2];
	Onnx__OperatorSetIdProto *opsets[2];
	void **owned;
	size_t n_owned, cap_owned;
} tb;

static inline void *tb_own(tb *b, void *p)
{
	assert_non_null(p);
	if (b->n_owned == b->cap_owned) {
		b->cap_owned = b->cap_owned ? 2 * b->cap_owned : 64;
		b->owned = realloc(b->owned, b->cap_owned * sizeof *b->owned);
		assert_non_null(b->owned);
	}
	b->owned[b->n_owned++] = p;
	return p;
}

static inline void *tb_alloc(tb *b, size_t n)
{
	return tb_own(b, calloc(1, n ? n : 1));
}

static inline char *tb_str(tb *b, const char *s)
{
	return strcpy(tb_alloc(b, strlen(s) + 1), s);
}

/* Append p to the array *arr of *n pointers. */
static inline void tb_push(tb *b, void ***arr, size_t *n, void *p)
{
	void **grown = tb_alloc(b, (*n + 1) * sizeof *grown);
	if (*n)
		memcpy(grown, *arr, *n * sizeof *grown);
	grown[(*n)++] = p;
	*arr = grown;
}

/* "8,3,3,3" -> dims; "" is a scalar. */
static inline size_t tb_dims(tb *b, const char *shape, int64_t **dims)
{
	size_t n = 0;
	*dims = tb_alloc(b, 8 * sizeof **dims);
	for (const char *p = shape; *p;) {
		assert_true(n < 8);
		char *end;
		(*dims)[n++] = strtoll(p, &end, 10);
		p = *end == ',' ? end + 1 : end;
	}
	return n;
}

/* "a,b,,c" -> {"a", "b", "", "c"} (an empty name is an absent optional input) */
static inline size_t tb_names(tb *b, const char *list, char ***out)
{
	size_t n = 0;
	*out = NULL;
	if (!*list)
		return 0;
	for (const char *p = list;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char *s = tb_alloc(b, len + 1);
		memcpy(s, p, len);
		tb_push(b, (void ***)out, &n, s);
		if (!comma)
			return n;
		p = comma + 1;
	}
}

static inline tb *tb_new(int64_t opset)
{
	tb *b = calloc(1, sizeof *b);
	assert_non_null(b);
	onnx__model_proto__init(&b->m);
	onnx__graph_proto__init(&b->g);
	for (int i = 0; i < 2; i++) {
		onnx__operator_set_id_proto__init(&b->opset[i]);
		b->opsets[i] = &b->opset[i];
	}
	b->opset[0].domain = (char *)"";
	b->opset[0].has_version = 1;
	b->opset[0].version = opset;
	b->m.has_ir_version = 1;
	b->m.ir_version = 8;
	b->m.n_opset_import = 1;
	b->m.opset_import = b->opsets;
	b->m.graph = &b->g;
	b->g.name = (char *)"g";
	return b;
}

/* Also import domain (e.g. "com.microsoft"). */
static inline void tb_import(tb *b, const char *domain, int64_t version)
{
	b->opset[1].domain = tb_str(b, domain);
	b->opset[1].has_version = 1;
	b->opset[1].version = version;
	b->m.n_opset_import = 2;
}

/* A tensor of float32 (dtype 1) or float64 (11) raw values, all `value`;
 * not yet in the graph. */
static inline Onnx__TensorProto *tb_tensor(tb *b, const char *name, int dtype, const char *shape,
                                           double value)
{
	Onnx__TensorProto *t = tb_alloc(b, sizeof *t);
	onnx__tensor_proto__init(t);
	t->name = tb_str(b, name);
	t->n_dims = tb_dims(b, shape, &t->dims);
	t->has_data_type = 1;
	t->data_type = dtype;
	size_t numel = 1;
	for (size_t i = 0; i < t->n_dims; i++)
		numel *= (size_t)t->dims[i];
	size_t esize = dtype == OI_DTYPE_DOUBLE ? 8 : 4;
	assert_true(dtype == OI_DTYPE_DOUBLE || dtype == OI_DTYPE_FLOAT);
	uint8_t *raw = tb_alloc(b, numel * esize);
	for (size_t i = 0; i < numel; i++) {
		if (esize == 8) {
			memcpy(raw + 8 * i, &value, 8);
		} else {
			float f = (float)value;
			memcpy(raw + 4 * i, &f, 4);
		}
	}
	t->has_raw_data = 1;
	t->raw_data.len = numel * esize;
	t->raw_data.data = raw;
	return t;
}

/* A float32 initializer of the main graph, every value `value`. */
static inline Onnx__TensorProto *tb_init(tb *b, const char *name, const char *shape, double value)
{
	Onnx__TensorProto *t = tb_tensor(b, name, OI_DTYPE_FLOAT, shape, value);
	tb_push(b, (void ***)&b->g.initializer, &b->g.n_initializer, t);
	return t;
}

static inline Onnx__ValueInfoProto *tb_value(tb *b, const char *name, int elem, const char *shape)
{
	Onnx__ValueInfoProto *v = tb_alloc(b, sizeof *v);
	onnx__value_info_proto__init(v);
	v->name = tb_str(b, name);
	Onnx__TypeProto *ty = tb_alloc(b, sizeof *ty);
	onnx__type_proto__init(ty);
	Onnx__TypeProto__Tensor *tt = tb_alloc(b, sizeof *tt);
	onnx__type_proto__tensor__init(tt);
	tt->has_elem_type = 1;
	tt->elem_type = elem;
	if (shape) {
		Onnx__TensorShapeProto *sh = tb_alloc(b, sizeof *sh);
		onnx__tensor_shape_proto__init(sh);
		int64_t *d;
		size_t n = tb_dims(b, shape, &d);
		for (size_t i = 0; i < n; i++) {
			Onnx__TensorShapeProto__Dimension *dim = tb_alloc(b, sizeof *dim);
			onnx__tensor_shape_proto__dimension__init(dim);
			dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
			dim->dim_value = d[i];
			tb_push(b, (void ***)&sh->dim, &sh->n_dim, dim);
		}
		tt->shape = sh;
	}
	ty->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
	ty->tensor_type = tt;
	v->type = ty;
	return v;
}

/* A graph input (elem: an oi_dtype); shape NULL: unknown. */
static inline void tb_input(tb *b, const char *name, int elem, const char *shape)
{
	tb_push(b, (void ***)&b->g.input, &b->g.n_input, tb_value(b, name, elem, shape));
}

static inline void tb_output(tb *b, const char *name, int elem, const char *shape)
{
	tb_push(b, (void ***)&b->g.output, &b->g.n_output, tb_value(b, name, elem, shape));
}

/* A node of the main graph: inputs and outputs as "a,b,c". */
static inline Onnx__NodeProto *tb_node(tb *b, const char *op, const char *inputs,
                                       const char *outputs)
{
	Onnx__NodeProto *n = tb_alloc(b, sizeof *n);
	onnx__node_proto__init(n);
	n->op_type = tb_str(b, op);
	char name[64];
	snprintf(name, sizeof name, "%s_%zu", op, b->g.n_node);
	n->name = tb_str(b, name);
	n->n_input = tb_names(b, inputs, &n->input);
	n->n_output = tb_names(b, outputs, &n->output);
	tb_push(b, (void ***)&b->g.node, &b->g.n_node, n);
	return n;
}

static inline Onnx__AttributeProto *tb_attr(tb *b, Onnx__NodeProto *n, const char *name,
                                            Onnx__AttributeProto__AttributeType type)
{
	Onnx__AttributeProto *a = tb_alloc(b, sizeof *a);
	onnx__attribute_proto__init(a);
	a->name = tb_str(b, name);
	a->has_type = 1;
	a->type = type;
	tb_push(b, (void ***)&n->attribute, &n->n_attribute, a);
	return a;
}

static inline void tb_attr_i(tb *b, Onnx__NodeProto *n, const char *name, int64_t v)
{
	Onnx__AttributeProto *a = tb_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
	a->has_i = 1;
	a->i = v;
}

static inline void tb_attr_f(tb *b, Onnx__NodeProto *n, const char *name, float v)
{
	Onnx__AttributeProto *a = tb_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
	a->has_f = 1;
	a->f = v;
}

static inline void tb_attr_s(tb *b, Onnx__NodeProto *n, const char *name, const char *v)
{
	Onnx__AttributeProto *a = tb_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
	a->has_s = 1;
	a->s.data = (uint8_t *)tb_str(b, v);
	a->s.len = strlen(v);
}

/* ints as "3,3" */
static inline void tb_attr_ints(tb *b, Onnx__NodeProto *n, const char *name, const char *list)
{
	Onnx__AttributeProto *a = tb_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
	a->n_ints = tb_dims(b, list, &a->ints);
}

/* strings as "Sigmoid,Tanh,Tanh" */
static inline void tb_attr_strings(tb *b, Onnx__NodeProto *n, const char *name, const char *list)
{
	Onnx__AttributeProto *a = tb_attr(b, n, name,
	                                  ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS);
	char **s;
	a->n_strings = tb_names(b, list, &s);
	a->strings = tb_alloc(b, (a->n_strings ? a->n_strings : 1) * sizeof *a->strings);
	for (size_t i = 0; i < a->n_strings; i++) {
		a->strings[i].data = (uint8_t *)s[i];
		a->strings[i].len = strlen(s[i]);
	}
}

/* Mark t as stored in external data: location, offset, length. */
static inline void tb_external(tb *b, Onnx__TensorProto *t, const char *location,
                               uint64_t offset, uint64_t length)
{
	const char *keys[3] = { "location", "offset", "length" };
	char val[3][64];
	snprintf(val[0], sizeof val[0], "%s", location);
	snprintf(val[1], sizeof val[1], "%llu", (unsigned long long)offset);
	snprintf(val[2], sizeof val[2], "%llu", (unsigned long long)length);
	t->has_raw_data = 0;
	t->raw_data.len = 0;
	t->raw_data.data = NULL;
	t->has_data_location = 1;
	t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
	t->n_external_data = 0;
	for (int i = 0; i < 3; i++) {
		Onnx__StringStringEntryProto *kv = tb_alloc(b, sizeof *kv);
		onnx__string_string_entry_proto__init(kv);
		kv->key = tb_str(b, keys[i]);
		kv->value = tb_str(b, val[i]);
		tb_push(b, (void ***)&t->external_data, &t->n_external_data, kv);
	}
}

/* Serialize m to path (models built by hand as well as with tb_*). */
static inline void t_write_model(const char *path, const Onnx__ModelProto *m)
{
	size_t len = onnx__model_proto__get_packed_size(m);
	uint8_t *buf = malloc(len ? len : 1);
	assert_non_null(buf);
	assert_int_equal(onnx__model_proto__pack(m, buf), len);
	t_spill(path, buf, len);
	free(buf);
}

/* Write the model to DIR/name; returns that path. */
static inline const char *tb_write(tb *b, const char *name)
{
	const char *path = t_path(name);
	t_write_model(path, &b->m);
	return path;
}

static inline void tb_free(tb *b)
{
	for (size_t i = 0; i < b->n_owned; i++)
		free(b->owned[i]);
	free(b->owned);
	free(b);
}

/* ---- the library --------------------------------------------------------- */

/* Open and analyse path with the fan convention (OI_FANS_TORCH or
 * OI_FANS_KERAS); fails the test if it cannot. */
static inline oi_model *t_open(const char *path, int convention)
{
	oi_model *m = NULL;
	if (oi_model_open(&m, path, NULL))
		fail_msg("%s: %s", path, oi_last_error());
	oi_analyse_options ao = OI_ANALYSE_OPTIONS_INIT;
	ao.fan_convention = (oi_fan_convention)convention;
	int rc = oi_model_analyse(m, &ao);
	if (rc)
		fail_msg("%s: analysis: %s", path, oi_last_error());
	return m;
}

/* Plan with scheme (NULL: the default), seed, the rules "SELECTOR=SPEC"
 * of a NULL-terminated list (NULL: none) and a residual mode; returns
 * oi_model_plan's code. */
static inline int t_plan_residual(oi_model *m, const char *scheme, uint64_t seed,
                                  const char *const *rules, oi_residual residual)
{
	oi_init_options io = OI_INIT_OPTIONS_INIT;
	io.residual = residual;
	io.scheme = scheme;
	io.seed = seed;
	oi_rules *r = NULL;
	int rc = oi_rules_new(&r);
	for (size_t i = 0; rules && rules[i] && !rc; i++)
		rc = oi_rules_add(r, rules[i]);
	io.rules = r;
	if (!rc)
		rc = oi_model_plan(m, &io);
	oi_rules_free(r); /* the plan keeps nothing of it */
	return rc;
}

/* t_plan_residual with the default residual mode. */
static inline int t_plan(oi_model *m, const char *scheme, uint64_t seed,
                         const char *const *rules)
{
	return t_plan_residual(m, scheme, seed, rules, OI_RESIDUAL_DEFAULT);
}

/* The tensor called name; fails the test if there is none. */
static inline const oi_tensor_info *t_find(const oi_model *m, const char *name)
{
	for (size_t i = 0; i < oi_model_tensor_count(m); i++)
		if (!strcmp(oi_model_tensor(m, i)->name, name))
			return oi_model_tensor(m, i);
	fail_msg("no tensor '%s'", name);
	return NULL;
}

/* The first warning of m that contains text, or NULL. */
static inline const char *t_warning(const oi_model *m, const char *text)
{
	for (size_t i = 0; i < oi_model_warning_count(m); i++)
		if (strstr(oi_model_warning(m, i), text))
			return oi_model_warning(m, i);
	return NULL;
}

/* |got - want| within rel·|want| (NaN equals NaN). */
static inline void t_near(double got, double want, double rel, const char *what)
{
	if (isnan(want) && isnan(got))
		return;
	if (!(fabs(got - want) <= rel * fabs(want)))
		fail_msg("%s: %.17g, expected %.17g", what, got, want);
}

#endif
