/* The scanner and the splicer on messages built with protobuf-c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "onnx.pb-c.h"
#include "splice.h"
#include "wire.h"

static uint8_t *pack_model(size_t raw_len, size_t *out_len)
{
	Onnx__TensorProto t = ONNX__TENSOR_PROTO__INIT;
	int64_t dims[1] = { (int64_t)raw_len / 4 };
	t.n_dims = 1;
	t.dims = dims;
	t.has_data_type = 1;
	t.data_type = 1;
	t.name = (char *)"W";
	uint8_t *raw = calloc(raw_len ? raw_len : 1, 1);
	for (size_t i = 0; i < raw_len; i++)
		raw[i] = (uint8_t)i;
	t.has_raw_data = 1;
	t.raw_data.len = raw_len;
	t.raw_data.data = raw;
	Onnx__TensorProto *inits[1] = { &t };
	Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
	g.name = (char *)"g";
	g.n_initializer = 1;
	g.initializer = inits;
	g.doc_string = (char *)"after the initializer";
	Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
	m.has_ir_version = 1;
	m.ir_version = 8;
	m.graph = &g;
	m.producer_name = (char *)"test";
	*out_len = onnx__model_proto__get_packed_size(&m);
	uint8_t *buf = malloc(*out_len);
	onnx__model_proto__pack(&m, buf);
	free(raw);
	return buf;
}

static void scan_finds_payload(void **state)
{
	(void)state;
	size_t len;
	uint8_t *buf = pack_model(100, &len);
	oi_scan s;
	assert_int_equal(oi__scan(&s, buf, len, &onnx__model_proto__descriptor), 0);
	assert_int_equal(s.n_tensors, 1);
	assert_int_equal(s.tensors[0].n_fields, 1);
	const oi_field_ref *f = &s.fields[s.tensors[0].first_field];
	assert_int_equal(f->field, OI_TP_RAW_DATA);
	assert_int_equal(f->end - f->start, 100);
	assert_int_equal(buf[f->start + 7], 7);
	/* spans: graph, then the initializer inside it */
	assert_true(s.n_spans >= 2);
	assert_int_equal(s.spans[s.tensors[0].span].field, 5);
	assert_int_equal(s.spans[s.spans[s.tensors[0].span].parent].field, 7);
	oi__scan_free(&s);
	free(buf);
}

static void splice_identity_and_growth(void **state)
{
	(void)state;
	size_t len;
	uint8_t *buf = pack_model(100, &len);
	oi_scan s;
	assert_int_equal(oi__scan(&s, buf, len, &onnx__model_proto__descriptor), 0);
	oi_buf out = { 0 };
	oi_sink sink;
	oi__sink_init_mem(&sink, &out);
	assert_int_equal(oi__splice(buf, len, -1, &s, NULL, 0, &sink, NULL), 0);
	assert_int_equal(out.len, len);
	assert_memory_equal(out.data, buf, len);
	oi__buf_free(&out);

	/* 100 raw bytes become 300: every enclosing length prefix grows */
	const oi_field_ref *f = &s.fields[0];
	uint8_t repl[310];
	uint8_t *p = repl;
	p += oi__varint_put(p, 300);
	memset(p, 0xab, 300);
	oi_edit e = { .start = f->start - 1, .end = f->end, .new_len = (uint64_t)(p - repl) + 300,
	              .span = s.tensors[0].span, .bytes = repl };
	uint64_t predicted;
	oi__sink_init_mem(&sink, &out);
	assert_int_equal(oi__splice(buf, len, -1, &s, &e, 1, &sink, &predicted), 0);
	assert_int_equal(predicted, out.len);
	Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, out.len, out.data);
	assert_non_null(m);
	assert_int_equal(m->graph->initializer[0]->raw_data.len, 300);
	assert_int_equal(m->graph->initializer[0]->raw_data.data[299], 0xab);
	assert_string_equal(m->graph->doc_string, "after the initializer");
	assert_string_equal(m->producer_name, "test");
	assert_int_equal(m->ir_version, 8);
	onnx__model_proto__free_unpacked(m, NULL);
	oi__buf_free(&out);

	/* delete the field, insert an unknown field at the tensor's end */
	uint8_t mk[8];
	size_t mn = oi__varint_put(mk, (uint64_t)OI_MARKER_FIELD << 3);
	mn += oi__varint_put(mk + mn, 42);
	oi_edit two[2] = {
		{ .start = f->tag_off, .end = f->end, .new_len = 0, .span = s.tensors[0].span,
		  .bytes = mk },
		{ .start = s.spans[s.tensors[0].span].end, .end = s.spans[s.tensors[0].span].end,
		  .new_len = mn, .span = s.tensors[0].span, .bytes = mk },
	};
	oi__sink_init_mem(&sink, &out);
	assert_int_equal(oi__splice(buf, len, -1, &s, two, 2, &sink, NULL), 0);
	m = onnx__model_proto__unpack(NULL, out.len, out.data);
	assert_non_null(m);
	Onnx__TensorProto *t = m->graph->initializer[0];
	assert_false(t->has_raw_data);
	assert_int_equal(t->base.n_unknown_fields, 1);
	assert_int_equal(t->base.unknown_fields[0].tag, OI_MARKER_FIELD);
	assert_int_equal(t->base.unknown_fields[0].data[0], 42);
	onnx__model_proto__free_unpacked(m, NULL);
	oi__buf_free(&out);

	oi__scan_free(&s);
	free(buf);
}

/* An unknown varint field: tag, value (3 bytes for field 16..2047, value < 128). */
static size_t unknown_field(uint8_t *out, uint32_t field, uint8_t value)
{
	size_t n = oi__varint_put(out, (uint64_t)field << 3);
	out[n++] = value;
	return n;
}

static void expect_unknown(const ProtobufCMessage *msg, size_t n, const uint32_t *fields,
                           const uint8_t *values, const char *what)
{
	if (msg->n_unknown_fields != n)
		fail_msg("%s: %u unknown fields, expected %zu", what, msg->n_unknown_fields, n);
	for (size_t i = 0; i < n; i++) {
		const ProtobufCMessageUnknownField *u = &msg->unknown_fields[i];
		if (u->tag != fields[i] || u->len != 1 || u->data[0] != values[i])
			fail_msg("%s: unknown field %zu is %u=%u, expected %u=%u", what, i, u->tag,
			         u->len ? u->data[0] : 0, fields[i], values[i]);
	}
}

/* Two insertions at one offset, the end of the tensor, which is also where
 * the graph's next field starts: the tensor's goes inside it, the graph's
 * after it. Written in the other order, each would land in the other's
 * message, as valid protobuf. */
static void insertions_at_one_offset_nested_first(void **state)
{
	(void)state;
	size_t len;
	uint8_t *buf = pack_model(100, &len);
	oi_scan s;
	assert_int_equal(oi__scan(&s, buf, len, &onnx__model_proto__descriptor), 0);
	int32_t tspan = s.tensors[0].span, gspan = s.spans[tspan].parent;
	assert_true(gspan >= 0);
	uint64_t at = s.spans[tspan].end;
	assert_true(at < s.spans[gspan].end); /* the doc_string follows */
	uint8_t a[4], b[4];
	size_t an = unknown_field(a, 1000, 42), bn = unknown_field(b, 1001, 7);
	for (int order = 0; order < 2; order++) {
		oi_edit tensor_edit = { .start = at, .end = at, .new_len = an, .span = tspan, .bytes = a };
		oi_edit graph_edit = { .start = at, .end = at, .new_len = bn, .span = gspan, .bytes = b };
		oi_edit e[2];
		e[order] = tensor_edit;
		e[1 - order] = graph_edit;
		oi_buf out = { 0 };
		oi_sink sink;
		oi__sink_init_mem(&sink, &out);
		uint64_t predicted;
		assert_int_equal(oi__splice(buf, len, -1, &s, e, 2, NULL, &predicted), 0);
		assert_int_equal(oi__splice(buf, len, -1, &s, e, 2, &sink, NULL), 0);
		assert_int_equal(out.len, predicted);
		assert_int_equal(out.len, len + an + bn);
		Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, out.len, out.data);
		assert_non_null(m);
		const Onnx__TensorProto *t = m->graph->initializer[0];
		expect_unknown(&t->base, 1, (uint32_t[]){ 1000 }, (uint8_t[]){ 42 }, "the tensor");
		expect_unknown(&m->graph->base, 1, (uint32_t[]){ 1001 }, (uint8_t[]){ 7 }, "the graph");
		assert_int_equal(t->raw_data.len, 100);
		assert_int_equal(t->raw_data.data[99], 99);
		assert_string_equal(m->graph->doc_string, "after the initializer");
		assert_string_equal(m->producer_name, "test");
		onnx__model_proto__free_unpacked(m, NULL);
		oi__buf_free(&out);
	}
	oi__scan_free(&s);
	free(buf);
}

/* A model whose last bytes close a tensor, its graph and the model at once:
 * the graph is written last, and the initializer last in it. */
static uint8_t *pack_model_ending_in_tensor(size_t *out_len)
{
	Onnx__TensorProto t = ONNX__TENSOR_PROTO__INIT;
	int64_t dims[1] = { 2 };
	float vals[2] = { 1.5f, -2.5f };
	t.name = (char *)"W";
	t.n_dims = 1;
	t.dims = dims;
	t.has_data_type = 1;
	t.data_type = 1;
	t.has_raw_data = 1;
	t.raw_data.len = sizeof vals;
	t.raw_data.data = (uint8_t *)vals;
	Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
	g.name = (char *)"g";
	Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
	m.has_ir_version = 1;
	m.ir_version = 8;
	m.producer_name = (char *)"test";
	size_t tl = onnx__tensor_proto__get_packed_size(&t);
	size_t gl = onnx__graph_proto__get_packed_size(&g);
	size_t ml = onnx__model_proto__get_packed_size(&m);
	uint8_t *buf = malloc(ml + gl + tl + 32);
	size_t n = onnx__model_proto__pack(&m, buf);
	buf[n++] = (7 << 3) | 2; /* graph */
	uint8_t lenbuf[10];
	size_t ll = oi__varint_put(lenbuf, tl); /* the initializer's length prefix */
	ll = oi__varint_put(lenbuf, 1 + ll + tl + gl);
	memcpy(buf + n, lenbuf, ll);
	n += ll;
	n += onnx__graph_proto__pack(&g, buf + n);
	buf[n++] = (5 << 3) | 2; /* initializer */
	n += oi__varint_put(buf + n, tl);
	n += onnx__tensor_proto__pack(&t, buf + n);
	*out_len = n;
	return buf;
}

/* Three insertions at the end of the file: tensor, graph and model, given in
 * every order; depth alone decides (the deepest, closing first, first). Two
 * in one message keep the caller's order. */
static void insertions_at_the_end_of_everything(void **state)
{
	(void)state;
	size_t len;
	uint8_t *buf = pack_model_ending_in_tensor(&len);
	Onnx__ModelProto *orig = onnx__model_proto__unpack(NULL, len, buf);
	assert_non_null(orig);
	assert_int_equal(orig->graph->n_initializer, 1);
	onnx__model_proto__free_unpacked(orig, NULL);
	oi_scan s;
	assert_int_equal(oi__scan(&s, buf, len, &onnx__model_proto__descriptor), 0);
	int32_t tspan = s.tensors[0].span, gspan = s.spans[tspan].parent;
	assert_int_equal(s.spans[tspan].end, len);
	assert_int_equal(s.spans[gspan].end, len);
	assert_int_equal(s.spans[gspan].parent, -1);
	uint8_t f[4][4];
	size_t fn[4];
	fn[0] = unknown_field(f[0], 1000, 1); /* tensor */
	fn[1] = unknown_field(f[1], 1001, 2); /* graph */
	fn[2] = unknown_field(f[2], 1002, 3); /* model */
	fn[3] = unknown_field(f[3], 1003, 4); /* tensor, after f[0] when given after it */
	const int32_t spans[4] = { tspan, gspan, -1, tspan };
	static const int perms[6][3] = { { 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 },
		                         { 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 } };
	for (int p = 0; p < 6; p++) {
		for (int with_second = 0; with_second < 2; with_second++) {
			oi_edit e[4];
			size_t n = 0;
			for (int k = 0; k < 3; k++) {
				int w = perms[p][k];
				e[n++] = (oi_edit){ .start = len, .end = len, .new_len = fn[w],
				                    .span = spans[w], .bytes = f[w] };
				if (w == 0 && with_second)
					e[n++] = (oi_edit){ .start = len, .end = len, .new_len = fn[3],
					                    .span = tspan, .bytes = f[3] };
			}
			oi_buf out = { 0 };
			oi_sink sink;
			oi__sink_init_mem(&sink, &out);
			uint64_t predicted;
			assert_int_equal(oi__splice(buf, len, -1, &s, e, n, NULL, &predicted), 0);
			assert_int_equal(oi__splice(buf, len, -1, &s, e, n, &sink, NULL), 0);
			assert_int_equal(out.len, predicted);
			/* everything before the graph's length prefix is as it was */
			assert_memory_equal(out.data, buf, s.spans[gspan].prefix_off);
			Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, out.len, out.data);
			if (!m)
				fail_msg("order %d: the result does not parse", p);
			const Onnx__TensorProto *t = m->graph->initializer[0];
			char what[64];
			snprintf(what, sizeof what, "order %d%s: the tensor", p, with_second ? "+1" : "");
			if (with_second)
				expect_unknown(&t->base, 2, (uint32_t[]){ 1000, 1003 },
				               (uint8_t[]){ 1, 4 }, what);
			else
				expect_unknown(&t->base, 1, (uint32_t[]){ 1000 }, (uint8_t[]){ 1 }, what);
			snprintf(what, sizeof what, "order %d: the graph", p);
			expect_unknown(&m->graph->base, 1, (uint32_t[]){ 1001 }, (uint8_t[]){ 2 }, what);
			snprintf(what, sizeof what, "order %d: the model", p);
			expect_unknown(&m->base, 1, (uint32_t[]){ 1002 }, (uint8_t[]){ 3 }, what);
			assert_int_equal(t->raw_data.len, 8);
			float v[2];
			memcpy(v, t->raw_data.data, sizeof v);
			assert_true(v[0] == 1.5f && v[1] == -2.5f);
			assert_string_equal(m->graph->name, "g");
			assert_string_equal(m->producer_name, "test");
			onnx__model_proto__free_unpacked(m, NULL);
			oi__buf_free(&out);
		}
	}
	oi__scan_free(&s);
	free(buf);
}

static void scan_rejects_malformed(void **state)
{
	(void)state;
	oi_scan s;
	size_t len;
	uint8_t *buf = pack_model(100, &len);
	/* every truncation either scans cleanly or fails; never reads past */
	for (size_t cut = 1; cut < len; cut++) {
		uint8_t *copy = malloc(cut);
		memcpy(copy, buf, cut);
		int rc = oi__scan(&s, copy, cut, &onnx__model_proto__descriptor);
		if (rc == 0)
			oi__scan_free(&s);
		else
			assert_int_equal(rc, OI_EFORMAT);
		free(copy);
	}
	free(buf);
	const uint8_t group[] = { 0x0b, 0x0c };            /* field 1, start group */
	assert_int_equal(oi__scan(&s, group, sizeof group, &onnx__model_proto__descriptor),
	                 OI_EFORMAT);
	const uint8_t longlen[] = { 0x3a, 0xff, 0xff, 0x03 }; /* graph, length past end */
	assert_int_equal(oi__scan(&s, longlen, sizeof longlen, &onnx__model_proto__descriptor),
	                 OI_EFORMAT);
	const uint8_t graph_as_int[] = { 0x38, 0x01 };     /* graph with varint wire type */
	assert_int_equal(oi__scan(&s, graph_as_int, sizeof graph_as_int,
	                          &onnx__model_proto__descriptor), OI_EFORMAT);
	const uint8_t two_graphs[] = { 0x3a, 0x00, 0x3a, 0x00 };
	assert_int_equal(oi__scan(&s, two_graphs, sizeof two_graphs,
	                          &onnx__model_proto__descriptor), OI_EUNSUPPORTED);
}

/* graph { node { attribute { g { node { ... } } } } }, nested far too deep */
static void scan_limits_depth(void **state)
{
	(void)state;
	enum { LEVELS = 400 };
	oi_buf b = { 0 };
	assert_int_equal(oi__buf_append(&b, "", 0), 0);
	for (int i = 0; i < LEVELS; i++) {
		static const uint8_t tags[3] = { (6 << 3) | 2, (5 << 3) | 2, (1 << 3) | 2 };
		/* wrap: AttributeProto.g(6) <- NodeProto.attribute(5) <- GraphProto.node(1) */
		for (int k = 0; k < 3; k++) {
			uint8_t h[12];
			size_t n = 0;
			h[n++] = tags[k];
			n += oi__varint_put(h + n, b.len);
			oi_buf nb = { 0 };
			assert_int_equal(oi__buf_append(&nb, h, n), 0);
			assert_int_equal(oi__buf_append(&nb, b.data, b.len), 0);
			oi__buf_free(&b);
			b = nb;
		}
	}
	oi_buf model = { 0 };
	uint8_t h[12];
	size_t n = 0;
	h[n++] = (7 << 3) | 2;
	n += oi__varint_put(h + n, b.len);
	assert_int_equal(oi__buf_append(&model, h, n), 0);
	assert_int_equal(oi__buf_append(&model, b.data, b.len), 0);
	oi_scan s;
	assert_int_equal(oi__scan(&s, model.data, model.len, &onnx__model_proto__descriptor),
	                 OI_EFORMAT);
	oi__buf_free(&b);
	oi__buf_free(&model);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(scan_finds_payload),
		cmocka_unit_test(splice_identity_and_growth),
		cmocka_unit_test(insertions_at_one_offset_nested_first),
		cmocka_unit_test(insertions_at_the_end_of_everything),
		cmocka_unit_test(scan_rejects_malformed),
		cmocka_unit_test(scan_limits_depth),
	};
	return cmocka_run_group_tests_name("splice", tests, NULL, NULL);
}
