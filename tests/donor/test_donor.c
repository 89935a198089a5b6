/* The donor readers and transforms on small buffers made here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sys/stat.h>

#include "donor/donor.h"
#include "sha256.h"
#include "tensor.h"
#include "support.h"

/* A safetensors image: header text h, then n data bytes. */
static size_t st_image(uint8_t *out, const char *h, const void *data, size_t n)
{
	uint64_t len = strlen(h);
	memcpy(out, &len, 8);
	memcpy(out + 8, h, len);
	memcpy(out + 8 + len, data, n);
	return 8 + len + n;
}

static int st_open(const char *h, const void *data, size_t n, oi_donor **d)
{
	static uint8_t buf[4096];
	size_t len = st_image(buf, h, data, n);
	return oi__donor_open_bytes(d, buf, len, "t.safetensors");
}

static void test_safetensors_ok(void **state)
{
	(void)state;
	float v[6] = { 1, 2, 3, 4, 5, 6 };
	oi_donor *d;
	assert_int_equal(st_open("{\"__metadata__\":{\"format\":\"pt\"},"
	                         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]},"
	                         "\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}",
	                         v, sizeof v, &d), 0);
	assert_int_equal(oi_donor_tensor_count(d), 2);
	assert_string_equal(oi_donor_format(d), "safetensors");
	const oi_donor_tensor *a = oi__donor_find(d, "a"), *b = oi__donor_find(d, "b");
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(a->ndim, 2);
	assert_true(oi__donor_elem(a, 3) == 4.0);
	assert_true(oi__donor_elem(b, 1) == 6.0);
	assert_null(oi__donor_find(d, "__metadata__"));
	oi_donor_free(d);
}

static void test_safetensors_bad(void **state)
{
	(void)state;
	float v[4] = { 0 };
	oi_donor *d = NULL;
	/* overlapping, a gap, short, past the end, bad dtype, duplicate key */
	const char *bad[] = {
		"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		"\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
		"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
		"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}",
		"{\"a\":{\"dtype\":\"F32\",\"shape\":[8],\"data_offsets\":[0,32]}}",
		"{\"a\":{\"dtype\":\"F31\",\"shape\":[4],\"data_offsets\":[0,16]}}",
		"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
		"\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
		"{\"a\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}",
		"{\"a\":[1,2]",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_int_not_equal(st_open(bad[i], v, sizeof v, &d), 0);
		assert_null(d);
		assert_non_null(strstr(oi_last_error(), "t.safetensors"));
		assert_null(strchr(oi_last_error(), '\n'));
	}
	/* header length past the end of the file */
	uint8_t img[16] = { 0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}' };
	assert_int_equal(oi__donor_open_bytes(&d, img, sizeof img, "t"), OI_EFORMAT);
}

static size_t npy_image(uint8_t *out, const char *dict, const void *data, size_t n)
{
	size_t h = strlen(dict);
	memcpy(out, "\x93NUMPY\x01\x00", 8);
	out[8] = (uint8_t)h;
	out[9] = 0;
	memcpy(out + 10, dict, h);
	memcpy(out + 10 + h, data, n);
	return 10 + h + n;
}

static void test_npy(void **state)
{
	(void)state;
	oi_donor *d = oi__calloc(1, sizeof *d);
	uint8_t buf[512];
	double v[3] = { 1.5, -2, 3 };
	size_t n = npy_image(buf, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", v,
	                     sizeof v);
	assert_int_equal(oi__donor_parse_npy(d, "x", buf, n, "x.npy"), 0);
	assert_true(oi__donor_elem(&d->t[0], 1) == -2.0);
	assert_null(d->t[0].own); /* read where it lies */
	/* Fortran order: element (i, j) of a 2x3 array is at j*2 + i */
	float fo[6] = { 0, 3, 1, 4, 2, 5 };
	n = npy_image(buf, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", fo,
	              sizeof fo);
	assert_int_equal(oi__donor_parse_npy(d, "y", buf, n, "y.npy"), 0);
	assert_non_null(d->t[1].own);
	for (int k = 0; k < 6; k++)
		assert_true(oi__donor_elem(&d->t[1], (uint64_t)k) == (double)k);
	/* big-endian */
	uint8_t be[24];
	for (int k = 0; k < 3; k++)
		for (int b = 0; b < 8; b++)
			be[8 * k + b] = ((const uint8_t *)&v[k])[7 - b];
	n = npy_image(buf, "{'descr': '>f8', 'fortran_order': False, 'shape': (3,), }", be,
	              sizeof be);
	assert_int_equal(oi__donor_parse_npy(d, "v", buf, n, "v.npy"), 0);
	for (int k = 0; k < 3; k++)
		assert_true(oi__donor_elem(&d->t[2], (uint64_t)k) == v[k]);
	/* refused: a complex dtype, bfloat16 as raw bytes, data of the wrong size */
	n = npy_image(buf, "{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }", v, 16);
	assert_int_equal(oi__donor_parse_npy(d, "z", buf, n, "z.npy"), OI_EUNSUPPORTED);
	n = npy_image(buf, "{'descr': '<V2', 'fortran_order': False, 'shape': (1,), }", v, 2);
	assert_int_equal(oi__donor_parse_npy(d, "z", buf, n, "z.npy"), OI_EUNSUPPORTED);
	assert_non_null(strstr(oi_last_error(), "bfloat16"));
	n = npy_image(buf, "{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }", v, sizeof v);
	assert_int_equal(oi__donor_parse_npy(d, "w", buf, n, "w.npy"), OI_EFORMAT);
	for (size_t i = 0; i < d->n; i++) {
		free(d->t[i].name);
		free(d->t[i].dims);
		free(d->t[i].own);
	}
	free(d->t);
	free(d);
}

static void test_transforms(void **state)
{
	(void)state;
	/* Linear (out 2, in 3) into a MatMul operand (3, 2) */
	float w[6] = { 1, 2, 3, 4, 5, 6 };
	int64_t dims[2] = { 2, 3 };
	oi_donor_tensor t = { .name = (char *)"w", .dtype = OI_DTYPE_FLOAT, .ndim = 2,
		              .dims = dims, .numel = 6, .data = (const uint8_t *)w };
	oi_donor_src s = { .kind = OI_DT_TRANSPOSE, .a = &t, .rows = 2, .cols = 3 };
	double out[6];
	oi__donor_values(&s, 0, 6, out);
	double want[6] = { 1, 4, 2, 5, 3, 6 };
	assert_memory_equal(out, want, sizeof out);
	oi__donor_values(&s, 3, 2, out);
	assert_true(out[0] == 5 && out[1] == 3);
	/* fold: rows scaled by γ/√(σ²+ε) */
	double g[2] = { 2, 1 }, var[2] = { 3, 0 }, scale[2];
	oi__fold_bn_scale(g, var, 1, 2, scale);
	assert_true(scale[0] == 1.0 && scale[1] == 1.0);
	double sc[2] = { 2, -1 };
	oi_donor_src f = { .kind = OI_DT_SCALE_ROWS, .a = &t, .scale = sc, .per = 3 };
	oi__donor_values(&f, 0, 6, out);
	double fw[6] = { 2, 4, 6, -4, -5, -6 };
	assert_memory_equal(out, fw, sizeof out);
	/* LSTM gates: torch i,f,g,o rows (hidden 1) into ONNX i,o,f,c */
	float l[4] = { 10, 20, 30, 40 };
	int64_t ld[2] = { 4, 1 };
	oi_donor_tensor lt = { .name = (char *)"l", .dtype = OI_DTYPE_FLOAT, .ndim = 2, .dims = ld,
		               .numel = 4, .data = (const uint8_t *)l };
	oi_donor_src gs = { .kind = OI_DT_GATES, .part = { &lt }, .part_len = 4, .hidden = 1,
		            .gate_cols = 1, .perm = { 0, 3, 1, 2 } };
	oi__donor_values(&gs, 0, 4, out);
	double lw[4] = { 10, 40, 20, 30 };
	assert_memory_equal(out, lw, 4 * sizeof *out);
	/* GRU r,z,n into z,r,h; the second part (bias_hh) missing: zeros */
	oi_donor_src gr = { .kind = OI_DT_GATES, .part = { &lt }, .part_len = 3, .hidden = 1,
		            .gate_cols = 1, .perm = { 1, 0, 2 } };
	oi__donor_values(&gr, 0, 6, out);
	double gw[6] = { 20, 10, 30, 0, 0, 0 };
	assert_memory_equal(out, gw, sizeof gw);
	/* bytes of the same dtype pass through */
	uint8_t bytes[24];
	oi_donor_src c = { .kind = OI_DT_COPY, .a = &t };
	assert_true(oi__donor_bytes(&c, OI_DTYPE_FLOAT, 1, 2, bytes));
	assert_memory_equal(bytes, w + 1, 8);
	assert_false(oi__donor_bytes(&c, OI_DTYPE_DOUBLE, 1, 2, bytes));
}

static void test_names(void **state)
{
	(void)state;
	char out[256];
	assert_true(oi__module_path("/layer1/layer1.0/conv1/Conv", out, sizeof out));
	assert_string_equal(out, "layer1.0.conv1");
	assert_true(oi__module_path("/layer1/layer1.0/downsample/downsample.0/Conv", out,
	                            sizeof out));
	assert_string_equal(out, "layer1.0.downsample.0");
	assert_true(oi__module_path("/features/features.0/features.0.0/Conv", out, sizeof out));
	assert_string_equal(out, "features.0.0");
	assert_true(oi__module_path("/fc/Gemm", out, sizeof out));
	assert_string_equal(out, "fc");
	assert_false(oi__module_path("Conv_0", out, sizeof out));
	assert_false(oi__module_path("/Conv", out, sizeof out));
	assert_true(oi__glob_capture("enc.*.w", "enc.layer3.w", out, sizeof out));
	assert_string_equal(out, "layer3");
	assert_false(oi__glob_capture("enc.*.w", "dec.layer3.w", out, sizeof out));
	assert_true(oi__glob_capture("exact", "exact", out, sizeof out));
	assert_string_equal(out, "");
}

static void test_map(void **state)
{
	(void)state;
	float v[2] = { 1, 2 };
	oi_donor *d;
	assert_int_equal(st_open("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
	                         v, sizeof v, &d), 0);
	assert_int_equal(oi_donor_set_map(d, "{\"x*\": \"a*\"}", "m.json"), 0);
	assert_int_equal(oi_donor_set_map(d, "not json", "m.json"), OI_EARG);
	assert_non_null(strstr(oi_last_error(), "m.json"));
	assert_int_equal(oi_donor_set_map(d, "[1]", "m.json"), OI_EARG);
	assert_int_equal(oi_donor_set_map(d, "{\"x\": 1}", "m.json"), OI_EARG);
	oi_donor_free(d);
}

/* Values whose bytes the save copies straight from the donor's file: one
 * tensor past the kernel-copy threshold (256 KiB), one below it, one
 * needing a cast; from safetensors, a folder of .npy files and an ONNX
 * donor. The output must hold exactly the donor's bytes. */
enum { BIG_R = 256, BIG_C = 384 }; /* 384 KiB of float32 */

static float big_val(size_t i) { return (float)i * 0.25f - 7.0f; }

static void check_output(const char *path)
{
	Onnx__ModelProto *pb = t_unpack(path);
	int seen = 0;
	for (size_t i = 0; i < pb->graph->n_initializer; i++) {
		const Onnx__TensorProto *t = pb->graph->initializer[i];
		if (!strcmp(t->name, "big")) {
			assert_int_equal(t->raw_data.len, (size_t)BIG_R * BIG_C * 4);
			for (size_t k = 0; k < (size_t)BIG_R * BIG_C; k++) {
				float f;
				memcpy(&f, t->raw_data.data + 4 * k, 4);
				if (f != big_val(k))
					fail_msg("big[%zu] = %g, not %g", k, f, big_val(k));
			}
			seen++;
		} else if (!strcmp(t->name, "bias")) {
			float f[BIG_C];
			assert_int_equal(t->raw_data.len, sizeof f);
			memcpy(f, t->raw_data.data, sizeof f);
			for (int k = 0; k < BIG_C; k++)
				assert_true(f[k] == (float)(k + 1));
			seen++;
		} else if (!strcmp(t->name, "half")) {
			float f[BIG_C];
			assert_int_equal(t->raw_data.len, sizeof f);
			memcpy(f, t->raw_data.data, sizeof f);
			for (int k = 0; k < BIG_C; k++)
				assert_true(f[k] == (float)(-k));
			seen++;
		}
	}
	assert_int_equal(seen, 3);
	onnx__model_proto__free_unpacked(pb, NULL);
}

static void from_donor_file(const char *model, const char *donor_path, const char *out)
{
	oi_donor *d = NULL;
	if (oi_donor_open(&d, donor_path))
		fail_msg("%s: %s", donor_path, oi_last_error());
	oi_model *m = t_open(model, OI_FANS_TORCH);
	oi_init_options o = OI_INIT_OPTIONS_INIT;
	o.scheme = "zeros";
	o.donor = d;
	o.unmatched = OI_UNMATCHED_ERROR;
	if (oi_model_plan(m, &o))
		fail_msg("plan: %s", oi_last_error());
	oi_save_options so = OI_SAVE_OPTIONS_INIT;
	so.flags = OI_SAVE_NO_FSYNC;
	if (oi_model_save(m, out, &so))
		fail_msg("save: %s", oi_last_error());
	oi_model_free(m);
	oi_donor_free(d);
	check_output(out);
}

static void test_file_copy(void **state)
{
	(void)state;
	tb *b = tb_new(17);
	tb_input(b, "x", 1, "2,256");
	char shape[32];
	snprintf(shape, sizeof shape, "%d,%d", BIG_R, BIG_C);
	tb_init(b, "big", shape, 1.0);
	tb_init(b, "bias", "384", 1.0);
	tb_init(b, "half", "384", 1.0);
	tb_node(b, "MatMul", "x,big", "y");
	tb_node(b, "Add", "y,bias", "z");
	tb_node(b, "Add", "z,half", "w");
	tb_output(b, "w", 1, "2,384");
	const char *model = tb_write(b, "copy.onnx");
	tb_free(b);

	/* safetensors: big and bias float32, half as float16 (a cast) */
	size_t nbig = (size_t)BIG_R * BIG_C;
	size_t data_len = nbig * 4 + BIG_C * 4 + BIG_C * 2;
	uint8_t *data = malloc(data_len);
	assert_non_null(data);
	for (size_t k = 0; k < nbig; k++) {
		float f = big_val(k);
		memcpy(data + 4 * k, &f, 4);
	}
	for (int k = 0; k < BIG_C; k++) {
		float f = (float)(k + 1);
		memcpy(data + nbig * 4 + 4 * (size_t)k, &f, 4);
		uint16_t h = (uint16_t)(k ? 0x8000u | (uint16_t)(oi__f64_to_f16((double)k) & 0x7FFFu) : 0);
		memcpy(data + nbig * 4 + BIG_C * 4 + 2 * (size_t)k, &h, 2);
	}
	char head[512];
	snprintf(head, sizeof head,
	         "{\"big\":{\"dtype\":\"F32\",\"shape\":[%d,%d],\"data_offsets\":[0,%zu]},"
	         "\"bias\":{\"dtype\":\"F32\",\"shape\":[%d],\"data_offsets\":[%zu,%zu]},"
	         "\"half\":{\"dtype\":\"F16\",\"shape\":[%d],\"data_offsets\":[%zu,%zu]}}",
	         BIG_R, BIG_C, nbig * 4, BIG_C, nbig * 4, nbig * 4 + BIG_C * 4, BIG_C,
	         nbig * 4 + BIG_C * 4, data_len);
	uint8_t *img = malloc(8 + strlen(head) + data_len);
	assert_non_null(img);
	size_t n = st_image(img, head, data, data_len);
	t_spill(t_path("donor.safetensors"), img, n);
	from_donor_file(model, t_path("donor.safetensors"), t_path("out-st.onnx"));

	/* a folder of .npy files */
	char dir[512];
	snprintf(dir, sizeof dir, "%s", t_path("npy"));
	assert_int_equal(mkdir(dir, 0777), 0);
	struct { const char *name, *descr; size_t off, len; char shape[32]; } f[3] = {
		{ "big", "<f4", 0, nbig * 4, "" }, { "bias", "<f4", nbig * 4, BIG_C * 4, "" },
		{ "half", "<f2", nbig * 4 + BIG_C * 4, BIG_C * 2, "" } };
	snprintf(f[0].shape, sizeof f[0].shape, "(%d, %d)", BIG_R, BIG_C);
	snprintf(f[1].shape, sizeof f[1].shape, "(%d,)", BIG_C);
	snprintf(f[2].shape, sizeof f[2].shape, "(%d,)", BIG_C);
	for (int i = 0; i < 3; i++) {
		char dict[128], path[600];
		snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
		         f[i].descr, f[i].shape);
		size_t k = npy_image(img, dict, data + f[i].off, f[i].len);
		snprintf(path, sizeof path, "%s/%s.npy", dir, f[i].name);
		t_spill(path, img, k);
	}
	from_donor_file(model, dir, t_path("out-npy.onnx"));

	/* the output as an ONNX donor of the model */
	from_donor_file(model, t_path("out-st.onnx"), t_path("out-onnx.onnx"));
	free(img);
	free(data);
}

/* Two Convs of a fresh export share one zero bias; the donor gives each
 * its own: each Conv then reads its own values (untied), or, with
 * untying off, the shared bias is mismatched and keeps nothing of either. */
static const float *conv_bias(const Onnx__ModelProto *pb, const char *node)
{
	for (size_t k = 0; k < pb->graph->n_node; k++) {
		const Onnx__NodeProto *n = pb->graph->node[k];
		if (strcmp(n->name, node) || n->n_input < 3)
			continue;
		for (size_t i = 0; i < pb->graph->n_initializer; i++)
			if (!strcmp(pb->graph->initializer[i]->name, n->input[2]))
				return (const float *)(const void *)pb->graph->initializer[i]->raw_data.data;
	}
	return NULL;
}

static void test_shared_bias(void **state)
{
	(void)state;
	tb *b = tb_new(17);
	tb_input(b, "x", 1, "1,4,2,2");
	tb_init(b, "w1", "4,4,1,1", 0.5);
	tb_init(b, "w2", "4,4,1,1", 0.5);
	tb_init(b, "bias", "4", 0.0);
	tb_node(b, "Conv", "x,w1,bias", "y")->name = "/c1/Conv";
	tb_node(b, "Conv", "y,w2,bias", "z")->name = "/c2/Conv";
	tb_output(b, "z", 1, "1,4,2,2");
	const char *model = tb_write(b, "shared.onnx");
	tb_free(b);
	float v[4 * 4 * 2 + 8];
	for (int k = 0; k < 32; k++)
		v[k] = (float)k / 32;
	for (int k = 0; k < 8; k++)
		v[32 + k] = (float)(k + 1);
	static uint8_t img[4096];
	size_t n = st_image(img, "{\"c1.weight\":{\"dtype\":\"F32\",\"shape\":[4,4,1,1],\"data_offsets\":[0,64]},"
	                         "\"c2.weight\":{\"dtype\":\"F32\",\"shape\":[4,4,1,1],\"data_offsets\":[64,128]},"
	                         "\"c1.bias\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[128,144]},"
	                         "\"c2.bias\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[144,160]}}",
	                   v, sizeof v);
	t_spill(t_path("shared.safetensors"), img, n);
	for (int untie = 1; untie >= 0; untie--) {
		oi_donor *d = NULL;
		assert_int_equal(oi_donor_open(&d, t_path("shared.safetensors")), 0);
		oi_model *m = t_open(model, OI_FANS_TORCH);
		oi_init_options o = OI_INIT_OPTIONS_INIT;
		o.scheme = "zeros";
		o.donor = d;
		o.no_untie = !untie;
		if (oi_model_plan(m, &o))
			fail_msg("plan: %s", oi_last_error());
		const oi_tensor_info *bi = NULL;
		for (size_t k = 0; k < oi_model_tensor_count(m); k++)
			if (!strcmp(oi_model_tensor(m, k)->name, "bias"))
				bi = oi_model_tensor(m, k);
		assert_non_null(bi);
		assert_int_equal(bi->donor_status, untie ? OI_DONOR_MATCHED : OI_DONOR_MISMATCHED);
		oi_save_options so = OI_SAVE_OPTIONS_INIT;
		so.flags = OI_SAVE_NO_FSYNC;
		assert_int_equal(oi_model_save(m, t_path("shared-out.onnx"), &so), 0);
		oi_model_free(m);
		oi_donor_free(d);
		Onnx__ModelProto *pb = t_unpack(t_path("shared-out.onnx"));
		const float *b1 = conv_bias(pb, "/c1/Conv"), *b2 = conv_bias(pb, "/c2/Conv");
		assert_non_null(b1);
		assert_non_null(b2);
		for (int k = 0; k < 4; k++) {
			float x1, x2;
			memcpy(&x1, b1 + k, 4);
			memcpy(&x2, b2 + k, 4);
			assert_true(x1 == (untie ? (float)(k + 1) : 0.0f));
			assert_true(x2 == (untie ? (float)(k + 5) : 0.0f));
		}
		onnx__model_proto__free_unpacked(pb, NULL);
	}
}

/* The provenance of a save from a donor records the donor's sha256, hashed
 * while the save writes (threads > 1) or at the end (1 thread): the digest
 * of the bytes the save copied, from the descriptor the donor holds, even
 * when the donor's path names another file by the time of the save. */
static char *out_provenance(const char *path)
{
	Onnx__ModelProto *pb = t_unpack(path);
	char *s = NULL;
	for (size_t i = 0; i < pb->n_metadata_props; i++)
		if (!strcmp(pb->metadata_props[i]->key, "onnxinit"))
			s = strdup(pb->metadata_props[i]->value);
	onnx__model_proto__free_unpacked(pb, NULL);
	assert_non_null(s);
	return s;
}

static void expect_digest(const char *out, const char *hex)
{
	char *prov = out_provenance(out);
	char want[128];
	snprintf(want, sizeof want, "\"sha256\":\"%s\"", hex);
	if (!strstr(prov, want))
		fail_msg("%s: provenance %s, not %s", out, prov, want);
	free(prov);
}

/* The model planned with the donor (scheme zeros for the rest). */
static oi_model *planned(const char *model, oi_donor *d)
{
	oi_model *m = t_open(model, OI_FANS_TORCH);
	oi_init_options o = OI_INIT_OPTIONS_INIT;
	o.scheme = "zeros";
	o.donor = d;
	if (oi_model_plan(m, &o))
		fail_msg("plan: %s", oi_last_error());
	return m;
}

/* Save m to out with that many threads; its result (0 or an error code). */
static int save_with(oi_model *m, unsigned threads, const volatile int *cancel, const char *out)
{
	oi_save_options so = OI_SAVE_OPTIONS_INIT;
	so.flags = OI_SAVE_NO_FSYNC;
	so.threads = threads;
	so.cancel = cancel;
	return oi_model_save(m, out, &so);
}

static void saved(oi_model *m, unsigned threads, const char *out)
{
	if (save_with(m, threads, NULL, out))
		fail_msg("save: %s", oi_last_error());
}

/* path replaced (renamed over) by a file of bytes[0..n) with its last bit
 * flipped, written first as tmp */
static void replace_by_other(const char *path, uint8_t *bytes, size_t n, const char *tmp)
{
	bytes[n - 1] ^= 1;
	t_spill(tmp, bytes, n);
	bytes[n - 1] ^= 1;
	assert_int_equal(rename(tmp, path), 0);
}

static void test_digest(void **state)
{
	(void)state;
	tb *b = tb_new(17);
	tb_input(b, "x", 1, "2,256");
	tb_init(b, "w", "256,512", 1.0);
	tb_node(b, "MatMul", "x,w", "y");
	tb_output(b, "y", 1, "2,512");
	char model[600]; /* t_path's results do not last the test */
	snprintf(model, sizeof model, "%s", tb_write(b, "digest.onnx"));
	tb_free(b);
	size_t nw = 256 * 512;
	float *w = malloc(nw * 4);
	uint8_t *img = malloc(nw * 4 + 256);
	assert_non_null(w);
	assert_non_null(img);
	for (size_t k = 0; k < nw; k++)
		w[k] = (float)k;
	char head[128];
	snprintf(head, sizeof head, "{\"w\":{\"dtype\":\"F32\",\"shape\":[256,512],"
	         "\"data_offsets\":[0,%zu]}}", nw * 4);
	size_t n = st_image(img, head, w, nw * 4);
	char path[600], hex[65], other_hex[65];
	snprintf(path, sizeof path, "%s", t_path("digest.safetensors"));
	t_spill(path, img, n);
	assert_int_equal(oi__sha256_file(path, hex), 0);
	img[n - 1] ^= 1; /* another file, one bit apart */
	t_spill(t_path("digest-other"), img, n);
	assert_int_equal(oi__sha256_file(t_path("digest-other"), other_hex), 0);
	img[n - 1] ^= 1;
	assert_string_not_equal(hex, other_hex);

	for (unsigned threads = 1; threads <= 2; threads++) {
		t_spill(path, img, n);
		oi_donor *d = NULL;
		assert_int_equal(oi_donor_open(&d, path), 0);
		oi_model *m = planned(model, d);
		/* the path now names the other file: the save copies and hashes
		 * the one opened */
		replace_by_other(path, img, n, t_path("digest-other"));
		saved(m, threads, t_path("digest-out.onnx"));
		expect_digest(t_path("digest-out.onnx"), hex);
		/* saved again, and planned again (the digest known by then) */
		saved(m, threads, t_path("digest-out2.onnx"));
		expect_digest(t_path("digest-out2.onnx"), hex);
		oi_model_free(m);
		m = planned(model, d);
		saved(m, threads, t_path("digest-out3.onnx"));
		expect_digest(t_path("digest-out3.onnx"), hex);
		oi_model_free(m);
		/* a donor planned with and freed unsaved starts no hash */
		oi_model_free(planned(model, d));
		oi_donor_free(d);
	}

	/* a folder of .npy files: sha256 of each name, NUL, and the file's
	 * bytes, in name order; a small file (no descriptor kept) replaced
	 * after opening still counts as the one opened */
	char dir[512];
	snprintf(dir, sizeof dir, "%s", t_path("digest-npy"));
	assert_int_equal(mkdir(dir, 0777), 0);
	size_t k = npy_image(img, "{'descr': '<f4', 'fortran_order': False, 'shape': (256, 512), }",
	                     w, nw * 4);
	char f[700], fb[700];
	snprintf(f, sizeof f, "%s/w.npy", dir);
	snprintf(fb, sizeof fb, "%s/b.npy", dir);
	t_spill(f, img, k);
	uint8_t small[128];
	size_t ks = npy_image(small, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }",
	                      w + 1, 16);
	oi_sha256_ctx c;
	oi__sha256_init(&c);
	oi__sha256_update(&c, "b", 2);
	oi__sha256_update(&c, small, ks);
	oi__sha256_update(&c, "w", 2);
	oi__sha256_update(&c, img, k);
	oi__sha256_final_hex(&c, hex);
	for (unsigned threads = 1; threads <= 2; threads++) {
		t_spill(fb, small, ks);
		oi_donor *d = NULL;
		assert_int_equal(oi_donor_open(&d, dir), 0);
		oi_model *m = planned(model, d);
		replace_by_other(fb, small, ks, t_path("digest-b"));
		saved(m, threads, t_path("digest-npy.onnx"));
		expect_digest(t_path("digest-npy.onnx"), hex);
		oi_model_free(m);
		oi_donor_free(d);
	}

	/* a save stopped at once (its cancel flag set) and the donor freed
	 * while the hash may still run: the hash stops, nothing is read from
	 * what the donor freed (ASan checks), the output is not written; an
	 * unused 32 MiB array makes the hash long enough to be caught running */
	size_t nx = (size_t)8 << 20;
	float *x = calloc(nx, 4);
	uint8_t *ximg = malloc(nx * 4 + 256);
	assert_non_null(x);
	assert_non_null(ximg);
	snprintf(f, sizeof f, "%s/zz_unused.npy", dir);
	t_spill(f, ximg, npy_image(ximg, "{'descr': '<f4', 'fortran_order': False, 'shape': (8388608,), }",
	                           x, nx * 4));
	free(x);
	free(ximg);
	for (int round = 0; round < 3; round++) {
		oi_donor *d = NULL;
		assert_int_equal(oi_donor_open(&d, dir), 0);
		oi_model *m = planned(model, d);
		volatile int stop = 1;
		assert_int_equal(save_with(m, 2, &stop, t_path("digest-cancel.onnx")), OI_EIO);
		oi_donor_free(d);
		oi_model_free(m);
		struct stat st;
		assert_int_not_equal(stat(t_path("digest-cancel.onnx"), &st), 0);
	}
	free(img);
	free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_safetensors_ok), cmocka_unit_test(test_safetensors_bad),
		cmocka_unit_test(test_npy),            cmocka_unit_test(test_transforms),
		cmocka_unit_test(test_names),          cmocka_unit_test(test_map),
		cmocka_unit_test(test_file_copy),      cmocka_unit_test(test_shared_bias),
		cmocka_unit_test(test_digest),
	};
	return cmocka_run_group_tests(tests, t_setup_dir, t_teardown_dir);
}
