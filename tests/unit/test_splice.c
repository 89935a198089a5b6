/* The scanner and the splicer on messages built with protobuf-c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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
		cmocka_unit_test(scan_rejects_malformed),
		cmocka_unit_test(scan_limits_depth),
	};
	return cmocka_run_group_tests_name("splice", tests, NULL, NULL);
}
