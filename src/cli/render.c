/* JSON and table renderings of a model's tensors and plan. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "diagnostics.h"
#include "render.h"

static json_t *int_or_null(int64_t v)
{
	return v < 0 ? json_null() : json_integer(v);
}

static json_t *real_or_null(double v)
{
	return isnan(v) ? json_null() : json_real(v);
}

/* The length of the well-formed UTF-8 sequence at s, or 0: jansson's rules
 * (no overlong forms, no surrogates, nothing past U+10FFFF). */
static size_t utf8_len(const unsigned char *s)
{
	unsigned c = s[0], v;
	size_t n;
	if (c < 0x80)
		return 1;
	if (c < 0xC2)
		return 0;
	if (c < 0xE0) {
		n = 2;
		v = c & 0x1F;
	} else if (c < 0xF0) {
		n = 3;
		v = c & 0x0F;
	} else if (c < 0xF5) {
		n = 4;
		v = c & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80) /* the string's end too */
			return 0;
		v = (v << 6) | (s[i] & 0x3F);
	}
	if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000) || (v >= 0xD800 && v <= 0xDFFF) ||
	    v > 0x10FFFF)
		return 0;
	return n;
}

char *cli_utf8_text(const char *s)
{
	size_t len = strlen(s);
	char *out = malloc(2 * len + 1);
	if (!out)
		return NULL;
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;
	while (*p) {
		size_t k = utf8_len(p);
		if (k) {
			memcpy(out + o, p, k);
			o += k;
			p += k;
		} else { /* the byte as the character of that number, U+0080..U+00FF */
			out[o++] = (char)(0xC0 | (*p >> 6));
			out[o++] = (char)(0x80 | (*p & 0x3F));
			p++;
		}
	}
	out[o] = 0;
	return out;
}

json_t *cli_json_text(const char *s)
{
	if (!s)
		return json_null();
	json_t *j = json_string(s);
	if (j)
		return j;
	char *t = cli_utf8_text(s);
	j = t ? json_string(t) : NULL;
	free(t);
	return j;
}

json_t *cli_seed_json(uint64_t seed)
{
	char s[24];
	snprintf(s, sizeof s, "%llu", (unsigned long long)seed);
	return json_string(s);
}

json_t *cli_tensor_json(const oi_tensor_info *t, bool with_plan)
{
	json_t *shape = json_array();
	for (size_t d = 0; d < t->ndim; d++)
		json_array_append_new(shape, json_integer(t->dims[d]));
	json_t *o = json_object();
	json_object_set_new(o, "name", cli_json_text(t->name));
	json_object_set_new(o, "graph", cli_json_text(t->graph));
	json_object_set_new(o, "source", json_string(oi_source_name(t->source)));
	json_object_set_new(o, "dtype", json_string(oi_dtype_name(t->dtype)));
	json_object_set_new(o, "shape", shape);
	json_object_set_new(o, "storage", json_string(oi_storage_name(t->storage)));
	json_object_set_new(o, "numel", json_integer((json_int_t)t->numel));
	json_object_set_new(o, "bytes", json_integer((json_int_t)t->nbytes));
	json_object_set_new(o, "role", cli_json_text(t->role));
	json_object_set_new(o, "op", cli_json_text(t->op));
	json_object_set_new(o, "node", cli_json_text(t->node));
	json_object_set_new(o, "fan_in", int_or_null(t->fan_in));
	json_object_set_new(o, "fan_out", int_or_null(t->fan_out));
	json_object_set_new(o, "activation", cli_json_text(t->activation));
	json_object_set_new(o, "gain", real_or_null(t->gain));
	json_object_set_new(o, "consumers", json_integer((json_int_t)t->consumers));
	if (t->conflict)
		json_object_set_new(o, "conflict", cli_json_text(t->conflict));
	if (t->residual_block > 0) {
		json_t *r = json_object();
		json_object_set_new(r, "block", json_integer(t->residual_block));
		json_object_set_new(r, "blocks", json_integer(t->residual_blocks));
		json_object_set_new(r, "index", json_integer(t->residual_index));
		json_object_set_new(r, "length", json_integer(t->residual_length));
		json_object_set_new(r, "last", json_boolean(t->residual_last));
		json_object_set_new(r, "add", cli_json_text(t->residual_add));
		json_object_set_new(o, "residual", r);
	}
	if (with_plan) {
		json_object_set_new(o, "scheme", cli_json_text(t->scheme));
		json_object_set_new(o, "action", json_string(oi_action_name(t->action)));
		json_object_set_new(o, "std", real_or_null(t->std));
		json_object_set_new(o, "bound", real_or_null(t->bound));
		if (t->untied_from)
			json_object_set_new(o, "untied_from", cli_json_text(t->untied_from));
		if (t->donor_status == OI_DONOR_MATCHED || t->donor_status == OI_DONOR_MISMATCHED) {
			json_t *d = json_array(), *tr = json_array();
			for (size_t k = 0; k < t->n_donor; k++)
				json_array_append_new(d, cli_json_text(t->donor[k]));
			for (size_t k = 0; k < t->n_transform; k++)
				json_array_append_new(tr, json_string(t->transform[k]));
			json_object_set_new(o, "donor", d);
			json_object_set_new(o, "transform", tr);
			json_object_set_new(o, "match", cli_json_text(t->donor_match));
		}
		if (t->donor_note)
			json_object_set_new(o, "mismatch", cli_json_text(t->donor_note));
	}
	return o;
}

/* A plan with a donor: "from": {"matched", "missing", "unexpected",
 * "mismatched"} (names; mismatched ones with the reason). */
static void cli_donor_json(json_t *o, const oi_model *m)
{
	bool any = oi_model_donor_unexpected_count(m) > 0;
	for (size_t i = 0; i < oi_model_tensor_count(m) && !any; i++)
		any = oi_model_tensor(m, i)->donor_status != OI_DONOR_NONE;
	if (!any)
		return;
	json_t *f = json_object(), *mt = json_array(), *ms = json_array(), *un = json_array(),
	       *mm = json_array();
	for (size_t i = 0; i < oi_model_tensor_count(m); i++) {
		const oi_tensor_info *t = oi_model_tensor(m, i);
		if (t->donor_status == OI_DONOR_MATCHED)
			json_array_append_new(mt, cli_json_text(t->name));
		else if (t->donor_status == OI_DONOR_MISSING)
			json_array_append_new(ms, cli_json_text(t->name));
		else if (t->donor_status == OI_DONOR_MISMATCHED) {
			json_t *x = json_object();
			json_object_set_new(x, "name", cli_json_text(t->name));
			json_object_set_new(x, "donor", cli_json_text(t->n_donor ? t->donor[0] : NULL));
			json_object_set_new(x, "reason", cli_json_text(t->donor_note));
			json_array_append_new(mm, x);
		}
	}
	for (size_t i = 0; i < oi_model_donor_unexpected_count(m); i++)
		json_array_append_new(un, cli_json_text(oi_model_donor_unexpected(m, i)));
	json_object_set_new(f, "matched", mt);
	json_object_set_new(f, "missing", ms);
	json_object_set_new(f, "unexpected", un);
	json_object_set_new(f, "mismatched", mm);
	json_object_set_new(o, "from", f);
}

json_t *cli_model_json(const oi_model *m, bool with_plan)
{
	json_t *o = json_object();
	json_object_set_new(o, "model", cli_json_text(oi_model_path(m)));
	int64_t ir = oi_model_ir_version(m);
	json_object_set_new(o, "ir_version", int_or_null(ir));
	json_t *ops = json_object();
	for (size_t i = 0; i < oi_model_opset_count(m); i++) {
		const char *dom;
		int64_t ver;
		char *key;
		if (oi_model_opset(m, i, &dom, &ver) == 0 && (key = cli_utf8_text(dom))) {
			json_object_set_new(ops, key, json_integer(ver));
			free(key);
		}
	}
	json_object_set_new(o, "opset", ops);
	json_t *arr = json_array();
	for (size_t i = 0; i < oi_model_tensor_count(m); i++)
		json_array_append_new(arr, cli_tensor_json(oi_model_tensor(m, i), with_plan));
	json_object_set_new(o, "tensors", arr);
	if (with_plan)
		cli_donor_json(o, m);
	json_t *warn = json_array();
	for (size_t i = 0; i < oi_model_warning_count(m); i++)
		json_array_append_new(warn, cli_json_text(oi_model_warning(m, i)));
	json_object_set_new(o, "warnings", warn);
	return o;
}

int cli_print_json(json_t *j)
{
	if (!j)
		return cli_error(EXIT_FAIL, "out of memory");
	errno = 0;
	json_dumpf(j, stdout, JSON_COMPACT | JSON_REAL_PRECISION(17));
	json_decref(j);
	fputc('\n', stdout);
	return cli_stdout_flush();
}

enum { COL_NAME, COL_GRAPH, COL_SOURCE, COL_DTYPE, COL_SHAPE, COL_STORAGE, COL_NUMEL,
       COL_BYTES, COL_ROLE, COL_OP, COL_NODE, COL_FANIN, COL_FANOUT, COL_ACT, COL_GAIN,
       COL_RESIDUAL, COL_ACTION, COL_STD, COL_BOUND, COL_SCHEME, NCOLS };
static const char *const col_names[NCOLS] = {
	"NAME", "GRAPH", "SOURCE", "DTYPE", "SHAPE", "STORAGE", "ELEMENTS", "BYTES", "ROLE", "OP",
	"NODE", "FAN_IN", "FAN_OUT", "ACTIVATION", "GAIN", "RESIDUAL", "ACTION", "STD", "BOUND",
	"SCHEME"
};
static const bool col_right[NCOLS] = { [COL_NUMEL] = true, [COL_BYTES] = true,
	                               [COL_FANIN] = true, [COL_FANOUT] = true,
	                               [COL_GAIN] = true, [COL_STD] = true, [COL_BOUND] = true };

/* A cell is "-" where the value is unknown. */
#define CELL 128
static void cell_str(char *cell, const char *s)
{
	snprintf(cell, CELL, "%s", s ? s : "-");
}

static void cell_int(char *cell, int64_t v)
{
	if (v >= 0)
		snprintf(cell, CELL, "%lld", (long long)v);
	else
		cell_str(cell, NULL);
}

static void cell_real(char *cell, double v)
{
	if (isnan(v))
		cell_str(cell, NULL);
	else
		snprintf(cell, CELL, "%.4g", v);
}

static void cells_of(const oi_tensor_info *t, char cells[NCOLS][CELL])
{
	cell_str(cells[COL_NAME], t->name);
	cell_str(cells[COL_GRAPH], t->graph);
	cell_str(cells[COL_SOURCE], oi_source_name(t->source));
	cell_str(cells[COL_DTYPE], oi_dtype_name(t->dtype));
	size_t n = (size_t)snprintf(cells[COL_SHAPE], CELL, "[");
	for (size_t d = 0; d < t->ndim && n < CELL - 8; d++)
		n += (size_t)snprintf(cells[COL_SHAPE] + n, CELL - n, "%s%lld", d ? "," : "",
		                      (long long)t->dims[d]);
	snprintf(cells[COL_SHAPE] + n, CELL - n, "]");
	cell_str(cells[COL_STORAGE], oi_storage_name(t->storage));
	snprintf(cells[COL_NUMEL], CELL, "%llu", (unsigned long long)t->numel);
	snprintf(cells[COL_BYTES], CELL, "%llu", (unsigned long long)t->nbytes);
	cell_str(cells[COL_ROLE], t->role);
	cell_str(cells[COL_OP], t->op);
	cell_str(cells[COL_NODE], t->node);
	cell_int(cells[COL_FANIN], t->fan_in);
	cell_int(cells[COL_FANOUT], t->fan_out);
	cell_str(cells[COL_ACT], t->activation);
	cell_real(cells[COL_GAIN], t->gain);
	/* block/blocks index/length, and "last" */
	if (t->residual_block > 0)
		snprintf(cells[COL_RESIDUAL], CELL, "%d/%d %d/%d%s", t->residual_block,
		         t->residual_blocks, t->residual_index, t->residual_length,
		         t->residual_last ? " last" : "");
	else
		cell_str(cells[COL_RESIDUAL], NULL);
	cell_str(cells[COL_SCHEME], t->scheme);
	cell_str(cells[COL_ACTION], oi_action_name(t->action));
	cell_real(cells[COL_STD], t->std);
	cell_real(cells[COL_BOUND], t->bound);
}

void cli_print_table(FILE *out, const oi_model *m, bool with_plan)
{
	size_t n = oi_model_tensor_count(m);
	int ncols = with_plan ? NCOLS : COL_ACTION;
	errno = 0; /* for cli_stdout_flush */
	size_t width[NCOLS];
	for (int c = 0; c < NCOLS; c++)
		width[c] = strlen(col_names[c]);
	char cells[NCOLS][CELL];
	/* the RESIDUAL column only for a model with residual blocks */
	bool shown[NCOLS];
	for (int c = 0; c < NCOLS; c++)
		shown[c] = c < ncols && c != COL_RESIDUAL;
	for (size_t i = 0; i < n; i++)
		if (oi_model_tensor(m, i)->residual_block > 0)
			shown[COL_RESIDUAL] = true;
	int last = ncols - 1;
	while (last > 0 && !shown[last])
		last--;
	for (size_t i = 0; i < n; i++) {
		cells_of(oi_model_tensor(m, i), cells);
		for (int c = 0; c < ncols; c++)
			if (strlen(cells[c]) > width[c])
				width[c] = strlen(cells[c]);
	}
	fprintf(out, "model %s: ir_version %lld, opset", oi_model_path(m),
	        (long long)oi_model_ir_version(m));
	for (size_t i = 0; i < oi_model_opset_count(m); i++) {
		const char *dom;
		int64_t ver;
		if (oi_model_opset(m, i, &dom, &ver) == 0)
			fprintf(out, " %s=%lld", *dom ? dom : "ai.onnx", (long long)ver);
	}
	fprintf(out, ", %zu tensors\n", n);
	for (int c = 0; c < ncols; c++)
		if (shown[c])
			fprintf(out, "%s%-*s", c ? "  " : "", c == last ? 0 : (int)width[c],
			        col_names[c]);
	fputc('\n', out);
	for (size_t i = 0; i < n; i++) {
		cells_of(oi_model_tensor(m, i), cells);
		for (int c = 0; c < ncols; c++) {
			if (!shown[c])
				continue;
			int w = c == last && !col_right[c] ? 0 : (int)width[c];
			fprintf(out, col_right[c] ? "%s%*s" : "%s%-*s", c ? "  " : "", w, cells[c]);
		}
		fputc('\n', out);
	}
}
