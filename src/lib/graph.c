/* See graph.h. */
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "tensor.h"

static uint64_t key_hash(int32_t ns, const char *name)
{
	return oi__hash_bytes(name, strlen(name), (uint64_t)(uint32_t)ns * 0x9e3779b97f4a7c15ULL);
}

int32_t oi__graph_find(const oi_graph *g, int32_t ns, const char *name)
{
	if (!name || !*name || !g->n_slots)
		return -1;
	size_t mask = g->n_slots - 1, i = (size_t)key_hash(ns, name) & mask;
	while (g->slots[i] >= 0) {
		const oi_value *v = &g->values[g->slots[i]];
		if (v->ns == ns && !strcmp(v->name, name))
			return g->slots[i];
		i = (i + 1) & mask;
	}
	return -1;
}

static int rehash(oi_graph *g, size_t n_slots)
{
	int32_t *slots = malloc(n_slots * sizeof *slots);
	if (!slots)
		return oi__fail(OI_ENOMEM, "out of memory");
	for (size_t i = 0; i < n_slots; i++)
		slots[i] = -1;
	for (size_t v = 0; v < g->n_values; v++) {
		size_t i = (size_t)key_hash(g->values[v].ns, g->values[v].name) & (n_slots - 1);
		while (slots[i] >= 0)
			i = (i + 1) & (n_slots - 1);
		slots[i] = (int32_t)v;
	}
	free(g->slots);
	g->slots = slots;
	g->n_slots = n_slots;
	return 0;
}

/* The value (ns, name), added if new; -1 for "" (an omitted optional). */
static int32_t intern(oi_graph *g, int32_t ns, const char *name, int *rc)
{
	if (!name || !*name)
		return -1;
	int32_t v = oi__graph_find(g, ns, name);
	if (v >= 0)
		return v;
	if (OI_GROW(g->values, g->n_values, g->cap_values)) {
		*rc = OI_ENOMEM;
		return -1;
	}
	v = (int32_t)g->n_values++;
	g->values[v] = (oi_value){ .name = name, .ns = ns, .producer = -1, .tensor = -1 };
	if ((g->n_values + 1) * 2 > g->n_slots) {
		int r = rehash(g, g->n_slots ? g->n_slots * 2 : 128);
		if (r) {
			*rc = r;
			return -1;
		}
	} else {
		size_t i = (size_t)key_hash(ns, name) & (g->n_slots - 1);
		while (g->slots[i] >= 0)
			i = (i + 1) & (g->n_slots - 1);
		g->slots[i] = v;
	}
	return v;
}

static int index_node(oi_gnode *gn, const oi_node_ref *ref)
{
	const Onnx__NodeProto *n = ref->n;
	gn->n = n;
	gn->ns = ref->ns;
	gn->op = n->op_type ? n->op_type : "";
	gn->std_domain = !n->domain || !*n->domain || !strcmp(n->domain, "ai.onnx");
	gn->def = oi__op_find(n->domain, gn->op);
	gn->label = n->name && *n->name ? oi__strdup(n->name)
	                                : oi__asprintf("%s_%u", *gn->op ? gn->op : "node", ref->index);
	return gn->label ? 0 : OI_ENOMEM;
}

/* Readers of each value, grouped by value in node order. */
static int place_uses(oi_graph *g)
{
	uint32_t total = 0;
	for (size_t v = 0; v < g->n_values; v++) {
		g->values[v].first_use = total;
		total += g->values[v].n_use;
		g->values[v].n_use = 0;
	}
	g->uses = oi__calloc(total, sizeof *g->uses);
	g->seen = oi__calloc(g->n_values, sizeof *g->seen);
	if (!g->uses || !g->seen)
		return OI_ENOMEM;
	g->n_uses = total;
	for (size_t i = 0; i < g->n_nodes; i++) {
		const oi_gnode *gn = &g->nodes[i];
		for (size_t k = 0; k < gn->n->n_input; k++) {
			int32_t v = oi__graph_find(g, gn->ns, gn->n->input[k]);
			if (v < 0)
				continue;
			oi_value *val = &g->values[v];
			g->uses[val->first_use + val->n_use++] = (oi_use){ (int32_t)i, (int32_t)k };
		}
	}
	return 0;
}

int oi__graph_build(oi_graph *g, oi_model *m)
{
	memset(g, 0, sizeof *g);
	g->m = m;
	g->nodes = oi__calloc(m->n_nodes, sizeof *g->nodes);
	if (!g->nodes)
		return OI_ENOMEM;
	int rc = 0;
	for (size_t i = 0; i < m->n_nodes && !rc; i++, g->n_nodes++)
		rc = index_node(&g->nodes[i], &m->nodes[i]);
	/* producers, then readers counted, then readers placed */
	for (size_t i = 0; i < g->n_nodes && !rc; i++) {
		const oi_gnode *gn = &g->nodes[i];
		for (size_t o = 0; o < gn->n->n_output && !rc; o++) {
			int32_t v = intern(g, gn->ns, gn->n->output[o], &rc);
			if (v >= 0 && g->values[v].producer < 0)
				g->values[v].producer = (int32_t)i;
		}
		for (size_t k = 0; k < gn->n->n_input && !rc; k++) {
			int32_t v = intern(g, gn->ns, gn->n->input[k], &rc);
			if (v >= 0)
				g->values[v].n_use++;
		}
	}
	for (size_t t = 0; t < m->n_tensors && !rc; t++) {
		const oi_tensor *tt = &m->tensors[t];
		if (!tt->addressable)
			continue;
		int32_t v = intern(g, tt->ns, tt->info.name, &rc);
		if (v >= 0 && g->values[v].tensor < 0)
			g->values[v].tensor = (int32_t)t;
	}
	return rc ? rc : place_uses(g);
}

void oi__graph_free(oi_graph *g)
{
	for (size_t i = 0; i < g->n_nodes; i++)
		free(g->nodes[i].label);
	free(g->nodes);
	free(g->values);
	free(g->uses);
	free(g->seen);
	free(g->slots);
	memset(g, 0, sizeof *g);
}

int32_t oi__node_input(const oi_graph *g, int32_t node, size_t i)
{
	const oi_gnode *gn = &g->nodes[node];
	return i < gn->n->n_input ? oi__graph_find(g, gn->ns, gn->n->input[i]) : -1;
}

int32_t oi__node_output(const oi_graph *g, int32_t node, size_t i)
{
	const oi_gnode *gn = &g->nodes[node];
	return i < gn->n->n_output ? oi__graph_find(g, gn->ns, gn->n->output[i]) : -1;
}

const Onnx__AttributeProto *oi__node_attr(const Onnx__NodeProto *n, const char *name)
{
	for (size_t i = 0; i < n->n_attribute; i++)
		if (n->attribute[i]->name && !strcmp(n->attribute[i]->name, name))
			return n->attribute[i];
	return NULL;
}

int64_t oi__attr_int(const Onnx__NodeProto *n, const char *name, int64_t dflt)
{
	const Onnx__AttributeProto *a = oi__node_attr(n, name);
	return a && a->has_i ? a->i : dflt;
}

static bool constant_attr_values(const oi_graph *g, int32_t v, int64_t *iout, double *fout,
                                 size_t max, size_t *n)
{
	const oi_value *val = &g->values[v];
	if (val->producer < 0)
		return false;
	if (!oi__node_is(g, val->producer, OI_OP_CONSTANT))
		return false;
	const oi_gnode *gn = &g->nodes[val->producer];
	const Onnx__AttributeProto *a;
	*n = 0;
	if ((a = oi__node_attr(gn->n, "value_int")) || (a = oi__node_attr(gn->n, "value_float"))) {
		if (max < 1)
			return false;
		if (iout)
			iout[0] = a->has_i ? a->i : (int64_t)a->f;
		if (fout)
			fout[0] = a->has_i ? (double)a->i : a->f;
		*n = 1;
		return true;
	}
	if ((a = oi__node_attr(gn->n, "value_ints"))) {
		for (size_t i = 0; i < a->n_ints && i < max; i++) {
			if (iout)
				iout[i] = a->ints[i];
			if (fout)
				fout[i] = (double)a->ints[i];
			(*n)++;
		}
		return a->n_ints <= max;
	}
	if ((a = oi__node_attr(gn->n, "value_floats"))) {
		for (size_t i = 0; i < a->n_floats && i < max; i++) {
			if (iout)
				iout[i] = (int64_t)a->floats[i];
			if (fout)
				fout[i] = a->floats[i];
			(*n)++;
		}
		return a->n_floats <= max;
	}
	return false;
}

bool oi__value_ints(oi_graph *g, int32_t v, int64_t *out, size_t max, size_t *n)
{
	if (v < 0)
		return false;
	const oi_value *val = &g->values[v];
	if (val->tensor >= 0) {
		const oi_tensor *t = &g->m->tensors[val->tensor];
		if (t->info.numel > max || t->info.source == OI_SOURCE_SPARSE_INITIALIZER)
			return false;
		return oi__tensor_read_i64(g->m, t, out, max, n) == 0;
	}
	return constant_attr_values(g, v, out, NULL, max, n);
}

bool oi__value_floats(oi_graph *g, int32_t v, double *out, size_t max, size_t *n)
{
	if (v < 0)
		return false;
	const oi_value *val = &g->values[v];
	if (val->tensor >= 0) {
		const oi_tensor *t = &g->m->tensors[val->tensor];
		if (t->info.source == OI_SOURCE_SPARSE_INITIALIZER)
			return false;
		return oi__tensor_read_f64(g->m, t, out, max, n) == 0;
	}
	return constant_attr_values(g, v, NULL, out, max, n);
}

/* ---- static shapes ------------------------------------------------------ */

static int64_t norm_axis(int64_t axis, size_t rank)
{
	return axis < 0 ? axis + (int64_t)rank : axis;
}

static bool ints_input_or_attr(oi_graph *g, int32_t node, size_t input, const char *attr,
                               int64_t *out, size_t max, size_t *n)
{
	const Onnx__AttributeProto *a = oi__node_attr(g->nodes[node].n, attr);
	if (a && a->n_ints) {
		if (a->n_ints > max)
			return false;
		memcpy(out, a->ints, a->n_ints * sizeof *out);
		*n = a->n_ints;
		return true;
	}
	int32_t v = oi__node_input(g, node, input);
	if (v < 0) {
		*n = 0;
		return !a; /* absent: the op's default */
	}
	return oi__value_ints(g, v, out, max, n);
}

static bool compute_shape(oi_graph *g, int32_t v, size_t *nd, int64_t *d);

bool oi__value_shape(oi_graph *g, int32_t v, size_t *ndim, int64_t *dims)
{
	if (v < 0)
		return false;
	oi_value *val = &g->values[v];
	if (val->shape_state == OI_SHAPE_UNKNOWN) {
		if (g->shape_depth > 200)
			return false; /* too long a chain to follow; asked again later */
		val->shape_state = OI_SHAPE_BUSY; /* a cycle ends here */
		size_t nd = 0;
		int64_t d[OI_MAX_RANK];
		g->shape_depth++;
		bool ok = compute_shape(g, v, &nd, d);
		g->shape_depth--;
		val = &g->values[v];
		val->shape_state = ok ? OI_SHAPE_KNOWN : OI_SHAPE_NONE;
		if (ok) {
			val->ndim = (uint8_t)nd;
			memcpy(val->dims, d, nd * sizeof *d);
		}
	}
	if (val->shape_state != OI_SHAPE_KNOWN)
		return false;
	*ndim = val->ndim;
	memcpy(dims, val->dims, val->ndim * sizeof *dims);
	return true;
}

static bool compute_shape(oi_graph *g, int32_t v, size_t *nd, int64_t *d)
{
	const oi_value *val = &g->values[v];
	if (val->tensor >= 0) {
		const oi_tensor_info *t = &g->m->tensors[val->tensor].info;
		if (t->ndim > OI_MAX_RANK)
			return false;
		*nd = t->ndim;
		memcpy(d, t->dims, t->ndim * sizeof *d);
		return true;
	}
	if (val->producer < 0)
		return false;
	int32_t node = val->producer;
	const oi_gnode *gn = &g->nodes[node];
	const oi_op_def *def = gn->def;
	if (!gn->std_domain)
		return false;
	if (def && (def->flags & OI_OP_SHAPE_FROM_ATTRS))
		return def->shape(g, node, v, 0, NULL, nd, d);
	/* input 0's shape is settled first, whatever the op: the order in which
	 * shapes are settled decides those of a cyclic graph */
	size_t in_nd;
	int64_t in[OI_MAX_RANK];
	if (!oi__value_shape(g, oi__node_input(g, node, 0), &in_nd, in))
		return false;
	return def && def->shape && def->shape(g, node, v, in_nd, in, nd, d);
}

bool oi__shape_constant(oi_graph *g, int32_t node, int32_t v, size_t in_nd, const int64_t *in,
                        size_t *nd, int64_t *d)
{
	OI_UNUSED(in_nd);
	OI_UNUSED(in);
	int64_t tmp[64];
	size_t cnt;
	if (!constant_attr_values(g, v, tmp, NULL, 64, &cnt))
		return false;
	const Onnx__NodeProto *n = g->nodes[node].n;
	bool scalar = oi__node_attr(n, "value_int") || oi__node_attr(n, "value_float");
	*nd = scalar ? 0 : 1;
	d[0] = (int64_t)cnt;
	return true;
}

bool oi__shape_same(oi_graph *g, int32_t node, int32_t v, size_t in_nd, const int64_t *in,
                    size_t *nd, int64_t *d)
{
	OI_UNUSED(g);
	OI_UNUSED(node);
	OI_UNUSED(v);
	*nd = in_nd;
	memcpy(d, in, in_nd * sizeof *d);
	return true;
}

bool oi__shape_transpose(oi_graph *g, int32_t node, int32_t v, size_t in_nd, const int64_t *in,
                         size_t *nd, int64_t *d)
{
	OI_UNUSED(v);
	const Onnx__AttributeProto *a = oi__node_attr(g->nodes[node].n, "perm");
	bool seen[OI_MAX_RANK] = { 0 };
	if (a && a->n_ints != in_nd)
		return false;
	for (size_t i = 0; i < in_nd; i++) {
		int64_t p = a ? a->ints[i] : (int64_t)(in_nd - 1 - i);
		if (p < 0 || p >= (int64_t)in_nd || seen[p])
			return false;
		seen[p] = true;
		d[i] = in[p];
	}
	*nd = in_nd;
	return true;
}

bool oi__shape_reshape(oi_graph *g, int32_t node, int32_t v, size_t in_nd, const int64_t *in,
                       size_t *nd, int64_t *d)
{
	OI_UNUSED(v);
	int64_t tmp[OI_MAX_RANK];
	size_t cnt;
	if (!oi__value_ints(g, oi__node_input(g, node, 1), tmp, OI_MAX_RANK, &cnt))
		return false;
	bool allowzero = oi__attr_int(g->nodes[node].n, "allowzero", 0) != 0;
	int64_t total = 1, known = 1;
	int minus = -1;
	for (size_t i = 0; i < in_nd; i++)
		if (!oi__mul_i64(total, in[i], &total))
			return false;
	for (size_t i = 0; i < cnt; i++) {
		if (tmp[i] == 0 && !allowzero) {
			if (i >= in_nd)
				return false;
			d[i] = in[i];
		} else if (tmp[i] == -1) {
			if (minus >= 0)
				return false;
			minus = (int)i;
			continue;
		} else if (tmp[i] < 0) {
			return false;
		} else {
			d[i] = tmp[i];
		}
		if (!oi__mul_i64(known, d[i], &known))
			return false;
	}
	if (minus >= 0) {
		if (!known || total % known)
			return false;
		d[minus] = total / known;
	} else if (known != total) {
		return false;
	}
	*nd = cnt;
	return true;
}

bool oi__shape_flatten(oi_graph *g, int32_t node, int32_t v, size_t in_nd, const int64_t *in,
                       size_t *nd, int64_t *d)
{
	OI_UNUSED(v);
	int64_t axis = norm_axis(oi__attr_int(g->nodes[node].n, "axis", 1), in_nd);
	if (axis < 0 || axis > (int64_t)in_nd)
		return false;
	d[0] = d[1] = 1;
	for (size_t i = 0; i < in_nd; i++) {
		int64_t *p = &d[(int64_t)i < axis ? 0 : 1];
		if (!oi__mul_i64(*p, in[i], p))
			return false;
	}
	*nd = 2;
	return true;
}

static bool squeeze_shape(oi_graph *g, int32_t node, bool squeeze, size_t in_nd,
                          const int64_t *in, size_t *nd, int64_t *d)
{
	int64_t tmp[OI_MAX_RANK];
	size_t cnt;
	if (!ints_input_or_attr(g, node, 1, "axes", tmp, OI_MAX_RANK, &cnt))
		return false;
	size_t out_nd = squeeze ? in_nd : in_nd + cnt;
	if (out_nd > OI_MAX_RANK)
		return false;
	bool mark[OI_MAX_RANK] = { 0 };
	for (size_t i = 0; i < cnt; i++) {
		int64_t ax = norm_axis(tmp[i], out_nd);
		if (ax < 0 || ax >= (int64_t)out_nd || mark[ax])
			return false;
		mark[ax] = true;
	}
	size_t k = 0, j = 0;
	if (squeeze) {
		for (size_t i = 0; i < in_nd; i++) {
			bool drop = cnt ? mark[i] : in[i] == 1;
			if (drop && in[i] != 1)
				return false;
			if (!drop)
				d[k++] = in[i];
		}
		*nd = k;
	} else {
		for (size_t i = 0; i < out_nd; i++)
			d[i] = mark[i] ? 1 : in[j++];
		*nd = out_nd;
	}
	return true;
}

bool oi__shape_squeeze(oi_graph *g, int32_t node, int32_t v, size_t in_nd, const int64_t *in,
                       size_t *nd, int64_t *d)
{
	OI_UNUSED(v);
	return squeeze_shape(g, node, true, in_nd, in, nd, d);
}

bool oi__shape_unsqueeze(oi_graph *g, int32_t node, int32_t v, size_t in_nd, const int64_t *in,
                         size_t *nd, int64_t *d)
{
	OI_UNUSED(v);
	return squeeze_shape(g, node, false, in_nd, in, nd, d);
}

/* The length of a slice start..end by step of an axis of length dim, as
 * ONNX clamps it; false where the arithmetic would overflow. */
static bool slice_len(int64_t dim, int64_t s, int64_t e, int64_t step, int64_t *len)
{
	int64_t last, span;
	if ((s < 0 && !oi__add_i64(s, dim, &s)) || (e < 0 && !oi__add_i64(e, dim, &e)) ||
	    __builtin_sub_overflow(dim, 1, &last))
		return false;
	if (step > 0) {
		s = s < 0 ? 0 : (s > dim ? dim : s);
		e = e < 0 ? 0 : (e > dim ? dim : e);
		if (e <= s) {
			*len = 0;
			return true;
		}
		if (__builtin_sub_overflow(e, s, &span))
			return false;
	} else {
		s = s < 0 ? -1 : (s > last ? last : s);
		e = e < -1 ? -1 : (e > last ? last : e);
		if (s <= e) {
			*len = 0;
			return true;
		}
		if (__builtin_sub_overflow(s, e, &span))
			return false;
	}
	/* ceil(span / |step|), |step| taken unsigned so that INT64_MIN has one */
	uint64_t u = step > 0 ? (uint64_t)step : 0 - (uint64_t)step;
	*len = (int64_t)((uint64_t)span / u + ((uint64_t)span % u != 0));
	return true;
}

bool oi__shape_slice(oi_graph *g, int32_t node, int32_t v, size_t in_nd, const int64_t *in,
                     size_t *nd, int64_t *d)
{
	OI_UNUSED(v);
	int64_t st[OI_MAX_RANK], en[OI_MAX_RANK], ax[OI_MAX_RANK], sp[OI_MAX_RANK];
	size_t ns, ne, na = 0, nsp = 0;
	bool old = oi__node_attr(g->nodes[node].n, "starts") != NULL;
	if (!ints_input_or_attr(g, node, 1, "starts", st, OI_MAX_RANK, &ns) ||
	    !ints_input_or_attr(g, node, 2, "ends", en, OI_MAX_RANK, &ne) || ns != ne)
		return false;
	if (old ? !ints_input_or_attr(g, node, 99, "axes", ax, OI_MAX_RANK, &na)
	        : (oi__node_input(g, node, 3) >= 0 &&
	           !oi__value_ints(g, oi__node_input(g, node, 3), ax, OI_MAX_RANK, &na)))
		return false;
	if (!old && oi__node_input(g, node, 4) >= 0 &&
	    !oi__value_ints(g, oi__node_input(g, node, 4), sp, OI_MAX_RANK, &nsp))
		return false;
	memcpy(d, in, in_nd * sizeof *d);
	for (size_t i = 0; i < ns; i++) {
		int64_t a = na ? norm_axis(ax[i], in_nd) : (int64_t)i;
		int64_t step = nsp ? sp[i] : 1;
		if (a < 0 || a >= (int64_t)in_nd || step == 0 || !slice_len(in[a], st[i], en[i], step, &d[a]))
			return false;
	}
	*nd = in_nd;
	return true;
}

bool oi__shape_split(oi_graph *g, int32_t node, int32_t v, size_t in_nd, const int64_t *in,
                     size_t *nd, int64_t *d)
{
	const Onnx__NodeProto *n = g->nodes[node].n;
	int64_t tmp[OI_MAX_RANK * 2];
	size_t cnt, which = 0;
	for (; which < n->n_output; which++)
		if (oi__node_output(g, node, which) == v)
			break;
	int64_t axis = norm_axis(oi__attr_int(n, "axis", 0), in_nd);
	if (axis < 0 || axis >= (int64_t)in_nd || which == n->n_output)
		return false;
	memcpy(d, in, in_nd * sizeof *d);
	*nd = in_nd;
	if (ints_input_or_attr(g, node, 1, "split", tmp, OI_MAX_RANK * 2, &cnt) && cnt) {
		if (cnt != n->n_output)
			return false;
		d[axis] = tmp[which];
	} else {
		if (in[axis] % (int64_t)n->n_output)
			return false;
		d[axis] = in[axis] / (int64_t)n->n_output;
	}
	return true;
}

bool oi__shape_concat(oi_graph *g, int32_t node, int32_t v, size_t in_nd, const int64_t *in,
                      size_t *nd, int64_t *d)
{
	OI_UNUSED(v);
	const Onnx__NodeProto *n = g->nodes[node].n;
	int64_t axis = norm_axis(oi__attr_int(n, "axis", 0), in_nd);
	if (axis < 0 || axis >= (int64_t)in_nd)
		return false;
	memcpy(d, in, in_nd * sizeof *d);
	for (size_t i = 1; i < n->n_input; i++) {
		size_t k_nd;
		int64_t k[OI_MAX_RANK];
		if (!oi__value_shape(g, oi__node_input(g, node, i), &k_nd, k) || k_nd != in_nd ||
		    !oi__add_i64(d[axis], k[axis], &d[axis]))
			return false;
	}
	*nd = in_nd;
	return true;
}

bool oi__shape_gather(oi_graph *g, int32_t node, int32_t v, size_t in_nd, const int64_t *in,
                      size_t *nd, int64_t *d)
{
	OI_UNUSED(v);
	size_t i_nd;
	int64_t idx[OI_MAX_RANK];
	int64_t axis = norm_axis(oi__attr_int(g->nodes[node].n, "axis", 0), in_nd);
	if (axis < 0 || axis >= (int64_t)in_nd ||
	    !oi__value_shape(g, oi__node_input(g, node, 1), &i_nd, idx) ||
	    in_nd - 1 + i_nd > OI_MAX_RANK)
		return false;
	size_t k = 0;
	for (int64_t i = 0; i < axis; i++)
		d[k++] = in[i];
	for (size_t i = 0; i < i_nd; i++)
		d[k++] = idx[i];
	for (size_t i = (size_t)axis + 1; i < in_nd; i++)
		d[k++] = in[i];
	*nd = k;
	return true;
}
