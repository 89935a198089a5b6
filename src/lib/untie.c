/* See untie.h. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "donor/donor.h"
#include "schemes.h"
#include "tensor.h"
#include "residual.h"
#include "untie.h"
#include "wire.h"

/* A walk from a tensor that meets more uses than this is no exporter's
 * merge: it is left alone. */
enum { MAX_USES = 1024 };

/* One use of a value on the way from the tensor to its readers. */
typedef struct edge {
	int32_t value;               /* the local value read (0: the tensor itself) */
	int32_t node, input;         /* graph index node, its input slot */
	int32_t reader;              /* index into the entry's readers, or -1 */
	int32_t out_first, out_n;    /* not a reader: the node's outputs (local values) */
	const Onnx__NodeProto *np;
	const char *op;              /* the model's own string */
	char *label;
} edge;

typedef struct lvalue {
	int32_t gv;                  /* graph index value */
	int32_t producer;            /* graph index node; -1 for the tensor */
	bool alias;                  /* the tensor itself or it through Identity nodes */
	int32_t first_edge, n_edges; /* its uses */
} lvalue;

/* A tensor with two or more readers, as the analysis left it. */
typedef struct entry {
	size_t tensor;
	oi_reader *readers;
	int32_t *reader_edge;        /* per reader: its edge, -1 if the walk missed it */
	size_t n_readers;
	edge *edges;
	size_t n_edges;
	lvalue *vals;
	size_t n_vals;
	bool cut;                    /* the walk gave up: never untied */
} entry;

/* A node input pointed at the new tensor. */
typedef struct rewire {
	int32_t span;                /* the NodeProto */
	uint64_t start, end;         /* the field's length prefix and bytes */
	oi_buf bytes;
} rewire;

/* A new tensor. Shown ones live until oi_model_free (their strings are
 * borrowed by callers), so a later plan never frees them. */
typedef struct untied {
	oi_tensor t;
	const oi_model *m;
	size_t from;                 /* the original's index */
	int32_t graph_span;
	oi_buf head;                 /* the TensorProto field up to its raw bytes */
	rewire *rw;
	size_t n_rw;
	struct untied *next;         /* the pool */
} untied;

typedef struct swapped {
	size_t index;
	const char *orig;            /* in the model's pool, as the rewritten text */
} swapped;

typedef struct oi_untie {
	entry *entries;
	size_t n_entries, cap_entries;
	untied *pool;
	untied **cur;
	size_t n_cur, cap_cur;
	swapped *sw;                 /* warnings of the analysis this plan rewrote */
	size_t n_sw, cap_sw;
	size_t at_entry, at_base;    /* oi__untie_reader's place: entry, its first i */
} oi_untie;

static oi_untie *state(oi_model *m)
{
	if (!m->untie)
		m->untie = oi__calloc(1, sizeof *m->untie);
	return m->untie;
}

/* ---- analysis: the readers and the ways to them ------------------------- */

static void entry_free(entry *e)
{
	for (size_t i = 0; i < e->n_edges; i++)
		free(e->edges[i].label);
	free(e->edges);
	free(e->vals);
	free(e->readers);
	free(e->reader_edge);
}

static int32_t local_value(const entry *e, int32_t gv)
{
	for (size_t i = 0; i < e->n_vals; i++)
		if (e->vals[i].gv == gv)
			return (int32_t)i;
	return -1;
}

/* The local values node produced (contiguous: made when it was first met). */
static bool expanded(const entry *e, int32_t node, int32_t *first, int32_t *n)
{
	*first = *n = 0;
	for (size_t i = 1; i < e->n_vals; i++)
		if (e->vals[i].producer == node) {
			if (!*n)
				*first = (int32_t)i;
			++*n;
		}
	return *n > 0;
}

static int32_t reader_at(const entry *e, int32_t node, int32_t input)
{
	for (size_t r = 0; r < e->n_readers; r++)
		if (e->readers[r].node == node && e->readers[r].input == input)
			return (int32_t)r;
	return -1;
}

static bool std_op(const oi_gnode *gn, const char *op)
{
	return gn->std_domain && !strcmp(gn->op, op);
}

/* Every use of every value from the tensor to its readers, through the
 * nodes the analysis followed (their first output; every output of Split). */
static int walk(entry *e, const oi_graph *g, int32_t v0)
{
	size_t cap_vals = 0, cap_edges = 0;
	if (OI_GROW(e->vals, e->n_vals, cap_vals))
		return OI_ENOMEM;
	e->vals[e->n_vals++] = (lvalue){ v0, -1, true, 0, 0 };
	for (size_t i = 0; i < e->n_vals; i++) {
		const oi_value *val = &g->values[e->vals[i].gv];
		e->vals[i].first_edge = (int32_t)e->n_edges;
		for (uint32_t u = 0; u < val->n_use; u++) {
			oi_use use = g->uses[val->first_use + u];
			const oi_gnode *gn = &g->nodes[use.node];
			if (e->n_edges == MAX_USES || e->n_vals == MAX_USES) {
				e->cut = true;
				return 0;
			}
			if (OI_GROW(e->edges, e->n_edges, cap_edges))
				return OI_ENOMEM;
			int32_t r = reader_at(e, use.node, use.input);
			edge *ed = &e->edges[e->n_edges++];
			*ed = (edge){ (int32_t)i, use.node, use.input, r, 0, 0, gn->n, gn->op,
			              oi__strdup(gn->label) };
			if (!ed->label)
				return OI_ENOMEM;
			if (r >= 0) {
				e->reader_edge[r] = (int32_t)(e->n_edges - 1);
				continue;
			}
			if (expanded(e, use.node, &ed->out_first, &ed->out_n))
				continue;
			ed->out_first = (int32_t)e->n_vals;
			size_t outs = std_op(gn, "Split") ? gn->n->n_output : 1;
			bool identity = std_op(gn, "Identity");
			for (size_t o = 0; o < outs; o++) {
				int32_t ov = oi__node_output(g, use.node, o);
				if (ov < 0 || local_value(e, ov) >= 0)
					continue;
				if (OI_GROW(e->vals, e->n_vals, cap_vals))
					return OI_ENOMEM;
				e->vals[e->n_vals] = (lvalue){ ov, use.node, identity && e->vals[i].alias, 0, 0 };
				e->n_vals++;
				e->edges[e->n_edges - 1].out_n++;
			}
		}
		e->vals[i].n_edges = (int32_t)e->n_edges - e->vals[i].first_edge;
	}
	for (size_t r = 0; r < e->n_readers; r++)
		if (e->reader_edge[r] < 0)
			e->cut = true; /* a reader the walk did not meet cannot be rewired */
	return 0;
}

static void drop_entry(oi_untie *u, size_t tensor)
{
	for (size_t i = 0; i < u->n_entries; i++) {
		if (u->entries[i].tensor != tensor)
			continue;
		entry_free(&u->entries[i]);
		memmove(&u->entries[i], &u->entries[i + 1], (u->n_entries - i - 1) * sizeof *u->entries);
		u->n_entries--;
		return;
	}
}

int oi__untie_note(oi_model *m, size_t tensor, const oi_graph *g, const oi_reader *readers,
                   size_t n)
{
	oi_untie *u = state(m);
	if (!u)
		return OI_ENOMEM;
	drop_entry(u, tensor);
	u->at_entry = u->at_base = 0;
	size_t decided = 0;
	for (size_t i = 0; i < n; i++)
		decided += readers[i].role != OI_ROLE_NONE;
	const oi_tensor *t = &m->tensors[tensor];
	/* only initializers are untied: nothing to keep for the rest */
	if (decided < 2 || t->info.source != OI_SOURCE_INITIALIZER)
		return 0;
	int32_t v0 = oi__graph_find(g, t->ns, t->info.name);
	if (v0 < 0)
		return 0;
	if (OI_GROW(u->entries, u->n_entries, u->cap_entries))
		return OI_ENOMEM;
	entry *e = &u->entries[u->n_entries++];
	memset(e, 0, sizeof *e);
	e->tensor = tensor;
	e->readers = oi__calloc(n, sizeof *e->readers);
	e->reader_edge = oi__calloc(n, sizeof *e->reader_edge);
	if (!e->readers || !e->reader_edge)
		return OI_ENOMEM;
	e->n_readers = n;
	for (size_t i = 0; i < n; i++) {
		e->readers[i] = readers[i];
		e->readers[i].tensor = tensor;
		e->reader_edge[i] = -1;
	}
	return walk(e, g, v0);
}

oi_reader *oi__untie_reader(oi_model *m, size_t i)
{
	oi_untie *u = m->untie;
	if (!u)
		return NULL;
	if (i < u->at_base) /* callers walk i upwards: resume where the last call was */
		u->at_entry = u->at_base = 0;
	for (; u->at_entry < u->n_entries; u->at_entry++) {
		size_t n = u->entries[u->at_entry].n_readers;
		if (i < u->at_base + n)
			return &u->entries[u->at_entry].readers[i - u->at_base];
		u->at_base += n;
	}
	return NULL;
}

/* ---- the file: where graphs and nodes are ------------------------------- */

typedef struct ptr_span {
	const void *p;
	int32_t span;
} ptr_span;

typedef struct span_map {
	ptr_span *nodes, *graphs;
	size_t n_nodes, cap_nodes, n_graphs, cap_graphs;
	bool bad;                /* the unpacked model and the scan disagree */
} span_map;

static void map_add(ptr_span **arr, size_t *n, size_t *cap, const void *p, int32_t span,
                    bool *bad)
{
	if (OI_GROW(*arr, *n, *cap)) {
		*bad = true;
		return;
	}
	(*arr)[(*n)++] = (ptr_span){ p, span };
}

/* The next direct child of span parent (of field `field`, or any if 0)
 * from *cursor on, or -1. Spans are in pre-order: a span's descendants
 * follow it and lie inside it. */
static int32_t next_child(const oi_scan *sc, int32_t parent, uint32_t field, size_t *cursor)
{
	uint64_t end = sc->spans[parent].end;
	for (size_t i = *cursor; i < sc->n_spans && sc->spans[i].tag_off < end; i++) {
		if (sc->spans[i].parent != parent || (field && sc->spans[i].field != field))
			continue;
		*cursor = i + 1;
		return (int32_t)i;
	}
	*cursor = sc->n_spans;
	return -1;
}

static void map_graph(span_map *mp, const oi_scan *sc, const Onnx__GraphProto *g, int32_t gs);

static void map_node(span_map *mp, const oi_scan *sc, const Onnx__NodeProto *n, int32_t ns)
{
	map_add(&mp->nodes, &mp->n_nodes, &mp->cap_nodes, n, ns, &mp->bad);
	size_t ac = (size_t)ns + 1, ai = 0;
	int32_t as;
	while ((as = next_child(sc, ns, 5, &ac)) >= 0 && !mp->bad) {
		if (ai >= n->n_attribute) {
			mp->bad = true;
			return;
		}
		const Onnx__AttributeProto *at = n->attribute[ai++];
		size_t gc = (size_t)as + 1, gi = 0;
		int32_t x;
		while ((x = next_child(sc, as, 0, &gc)) >= 0 && !mp->bad) {
			if (sc->spans[x].field == 6 && at->g)
				map_graph(mp, sc, at->g, x);
			else if (sc->spans[x].field == 11 && gi < at->n_graphs)
				map_graph(mp, sc, at->graphs[gi++], x);
		}
	}
	if (ai != n->n_attribute)
		mp->bad = true;
}

static void map_graph(span_map *mp, const oi_scan *sc, const Onnx__GraphProto *g, int32_t gs)
{
	map_add(&mp->graphs, &mp->n_graphs, &mp->cap_graphs, g, gs, &mp->bad);
	size_t cur = (size_t)gs + 1, ni = 0;
	int32_t s;
	while ((s = next_child(sc, gs, 1, &cur)) >= 0 && !mp->bad) {
		if (ni >= g->n_node) {
			mp->bad = true;
			return;
		}
		map_node(mp, sc, g->node[ni++], s);
	}
	if (ni != g->n_node)
		mp->bad = true;
}

static int cmp_ptr(const void *a, const void *b)
{
	const ptr_span *x = a, *y = b;
	return (uintptr_t)x->p < (uintptr_t)y->p ? -1 : (uintptr_t)x->p > (uintptr_t)y->p;
}

/* The model's graphs (main, training, and every subgraph of theirs). */
static void map_model(span_map *mp, const oi_model *m)
{
	const oi_scan *sc = &m->scan;
	size_t ti = 0;
	for (size_t i = 0; i < sc->n_spans && !mp->bad; i++) {
		const oi_span *sp = &sc->spans[i];
		if (sp->parent != -1)
			continue;
		if (sp->field == 7) {
			map_graph(mp, sc, m->pb->graph, (int32_t)i);
		} else if (sp->field == 20 && ti < m->pb->n_training_info) {
			const Onnx__TrainingInfoProto *tr = m->pb->training_info[ti++];
			size_t c = i + 1;
			int32_t x;
			while ((x = next_child(sc, (int32_t)i, 0, &c)) >= 0 && !mp->bad) {
				if (sc->spans[x].field == 1 && tr->initialization)
					map_graph(mp, sc, tr->initialization, x);
				else if (sc->spans[x].field == 2 && tr->algorithm)
					map_graph(mp, sc, tr->algorithm, x);
			}
		}
	}
	qsort(mp->nodes, mp->n_nodes, sizeof *mp->nodes, cmp_ptr);
}

static int32_t node_span(const span_map *mp, const Onnx__NodeProto *n)
{
	ptr_span key = { n, -1 };
	const ptr_span *hit = bsearch(&key, mp->nodes, mp->n_nodes, sizeof key, cmp_ptr);
	return hit ? hit->span : -1;
}

static const Onnx__GraphProto *graph_at(const span_map *mp, int32_t span)
{
	for (size_t i = 0; i < mp->n_graphs; i++)
		if (mp->graphs[i].span == span)
			return mp->graphs[i].p;
	return NULL;
}

/* The GraphProto span holding an initializer, or -1. */
static int32_t tensor_graph_span(const oi_model *m, const oi_tensor *t)
{
	int32_t s = m->scan.tensors[t->rec].span;
	if (s < 0 || m->scan.spans[s].field != 5)
		return -1;
	int32_t p = m->scan.spans[s].parent;
	return p >= 0 && m->scan.spans[p].desc == &onnx__graph_proto__descriptor ? p : -1;
}

/* The bytes of the k-th `input` of the NodeProto at span ns: its length
 * prefix and content, which must spell expect. */
static bool input_field(const oi_model *m, int32_t ns, size_t k, const char *expect,
                        uint64_t *start, uint64_t *end)
{
	const oi_span *sp = &m->scan.spans[ns];
	const uint8_t *d = m->map;
	uint64_t pos = sp->start, tag, v;
	size_t seen = 0;
	while (pos < sp->end) {
		if (!oi__wire_varint(d, sp->end, &pos, &tag))
			return false;
		switch (tag & 7) {
		case OI_WIRE_VARINT:
			if (!oi__wire_varint(d, sp->end, &pos, &v))
				return false;
			break;
		case OI_WIRE_I64:
		case OI_WIRE_I32: {
			uint64_t w = (tag & 7) == OI_WIRE_I64 ? 8 : 4;
			if (sp->end - pos < w)
				return false;
			pos += w;
			break;
		}
		case OI_WIRE_LEN: {
			uint64_t prefix = pos;
			if (!oi__wire_varint(d, sp->end, &pos, &v) || v > sp->end - pos)
				return false;
			uint64_t content = pos;
			pos += v;
			if ((tag >> 3) != 1 || seen++ != k)
				break;
			if (v != strlen(expect) || memcmp(d + content, expect, (size_t)v))
				return false;
			*start = prefix;
			*end = pos;
			return true;
		}
		default:
			return false;
		}
	}
	return false;
}

/* ---- the plan ----------------------------------------------------------- */

typedef struct plan_ctx {
	oi_model *m;
	oi_untie *u;
	uint64_t seed;
	oi_untie_plan_fn plan;
	void *ud;
	bool per_reader;         /* every reader its own group (a donor's values differ by reader) */
	bool ready;              /* names and map built */
	oi_strset names;         /* every name the model's graphs use */
	span_map map;
} plan_ctx;

/* Every name the model's graphs (not function bodies) use, from the
 * graphs and nodes the load recorded. */
static int collect_names(oi_strset *s, const oi_model *m)
{
	int rc = 0;
#define ADD(x) do { if (!rc && (x) && oi__strset_add(s, (x)) < 0) rc = OI_ENOMEM; } while (0)
	for (size_t gi = 0; gi < m->n_graphs && !rc; gi++) {
		const Onnx__GraphProto *g = m->graphs[gi].pb;
		if (!g || m->graphs[gi].ns != 0)
			continue;
		for (size_t i = 0; i < g->n_input; i++)
			ADD(g->input[i]->name);
		for (size_t i = 0; i < g->n_output; i++)
			ADD(g->output[i]->name);
		for (size_t i = 0; i < g->n_value_info; i++)
			ADD(g->value_info[i]->name);
		for (size_t i = 0; i < g->n_initializer; i++)
			ADD(g->initializer[i]->name);
		for (size_t i = 0; i < g->n_sparse_initializer; i++)
			if (g->sparse_initializer[i]->values)
				ADD(g->sparse_initializer[i]->values->name);
	}
	for (size_t i = 0; i < m->n_nodes && !rc; i++) {
		const Onnx__NodeProto *n = m->nodes[i].n;
		if (m->nodes[i].ns != 0)
			continue;
		for (size_t k = 0; k < n->n_input; k++)
			ADD(n->input[k]);
		for (size_t k = 0; k < n->n_output; k++)
			ADD(n->output[k]);
	}
#undef ADD
	return rc;
}

static int prepare(plan_ctx *pc)
{
	if (pc->ready)
		return 0;
	pc->ready = true;
	int rc = collect_names(&pc->names, pc->m);
	if (!rc)
		map_model(&pc->map, pc->m);
	return rc;
}

static void untied_free(untied *c)
{
	if (!c)
		return;
	free(c->t.name_own);
	free(c->t.fill);
	oi__buf_free(&c->head);
	for (size_t i = 0; i < c->n_rw; i++)
		oi__buf_free(&c->rw[i].bytes);
	free(c->rw);
	free(c);
}

/* What the readers of group `r` would be as a tensor of their own: the
 * original's shape and dtype, the reader's analysis, raw storage. */
static untied *candidate(plan_ctx *pc, const oi_tensor *t, const entry *e, size_t r)
{
	const oi_reader *rd = &e->readers[r];
	const edge *ed = &e->edges[e->reader_edge[r]];
	untied *c = oi__calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->m = pc->m;
	c->from = e->tensor;
	c->graph_span = -1;
	oi_tensor *v = &c->t;
	*v = *t;
	v->name_own = NULL;
	v->dims_own = NULL;
	v->fill = NULL;
	const char *node = oi__model_strdup(pc->m, ed->label);
	if (!node) {
		free(c);
		return NULL;
	}
	v->ext = -1;
	v->ext_off = 0;
	v->typed_field = 0;
	v->role = rd->role;
	memcpy(v->fans, rd->fans, sizeof v->fans);
	v->layer_node = rd->layer;
	v->rnn_hidden = rd->hidden;
	oi_tensor_info *i = &v->info;
	int k = pc->m->fan_convention == OI_FANS_KERAS;
	i->role = oi__role_name(rd->role);
	i->op = ed->op;
	i->node = node;
	i->fan_in = rd->fans[k][0];
	i->fan_out = rd->fans[k][1];
	i->activation = rd->act;
	i->gain = rd->gain;
	i->act_slope = rd->slope;
	i->storage = OI_STORAGE_RAW;
	i->nbytes = i->numel * oi__float_size(i->dtype);
	i->consumers = 0;
	i->conflict = NULL;
	i->action = OI_ACTION_KEEP;
	i->scheme = NULL;
	i->std = i->bound = NAN;
	i->untied_from = t->info.name;
	oi__residual_forget(v); /* its readers are not those the analysis placed */
	return c;
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool same_num(double a, double b)
{
	return a == b || (isnan(a) && isnan(b));
}

/* Readers that want the same: one group. */
static bool same_want(const oi_reader *a, const oi_reader *b)
{
	return a->role == b->role && !memcmp(a->fans, b->fans, sizeof a->fans) &&
	       same_str(a->act, b->act) && same_num(a->slope, b->slope) && a->hidden == b->hidden;
}

/* Whether two planned tensors get the same values. */
static bool same_values(const oi_tensor *a, const oi_tensor *b)
{
	bool ka = a->info.action == OI_ACTION_KEEP || !a->fill;
	bool kb = b->info.action == OI_ACTION_KEEP || !b->fill;
	if (ka || kb)
		return ka && kb;
	const oi_fill *x = a->fill, *y = b->fill;
	if (x->kind == OI_FILL_DONOR && y->kind == OI_FILL_DONOR)
		return a->info.numel == b->info.numel && oi__donor_same(x->src, y->src, a->info.numel);
	return x->kind == y->kind && !memcmp(x->p, y->p, sizeof x->p) && x->batch == y->batch &&
	       x->rows == y->rows && x->cols == y->cols && !strcmp(x->desc, y->desc);
}

/* All elements equal: what an exporter merges (fresh ones, zeros). A
 * tensor of varied values that several readers share is a weight the model
 * itself ties (tied embeddings, a layer applied twice): it stays shared. */
bool oi__untie_constant(const oi_model *m, const oi_tensor *t)
{
	uint64_t n = t->info.numel;
	if (n <= 1)
		return true;
	size_t esz = oi__float_size(t->info.dtype);
	const uint8_t *p = t->info.storage != OI_STORAGE_TYPED ? oi__tensor_payload(m, t) : NULL;
	if (p) {
		for (uint64_t i = 1; i < n; i++)
			if (memcmp(p + i * esz, p, esz))
				return false;
		return true;
	}
	double *v = malloc(n * sizeof *v);
	size_t got = 0;
	bool same = v && !oi__tensor_read_f64(m, t, v, (size_t)n, &got) && got == n;
	for (size_t i = 1; same && i < got; i++)
		same = !memcmp(&v[i], &v[0], sizeof *v);
	free(v);
	return same;
}

static int32_t merge(int32_t a, int32_t b)
{
	return a == -2 ? b : b == -2 ? a : a == b ? a : -1;
}

enum { UNSET = -3 };

static int32_t value_class(const entry *e, const int32_t *rclass, int32_t *ec, int32_t *vc,
                           int32_t v);

static int32_t edge_class(const entry *e, const int32_t *rclass, int32_t *ec, int32_t *vc,
                          int32_t x)
{
	if (ec[x] != UNSET)
		return ec[x];
	const edge *ed = &e->edges[x];
	ec[x] = -1; /* met again before it is known: a cycle, counted as shared */
	int32_t c = ed->reader >= 0 ? rclass[ed->reader] : -2;
	for (int32_t v = ed->out_first; ed->reader < 0 && v < ed->out_first + ed->out_n; v++)
		c = merge(c, value_class(e, rclass, ec, vc, v));
	return ec[x] = c;
}

static int32_t value_class(const entry *e, const int32_t *rclass, int32_t *ec, int32_t *vc,
                           int32_t v)
{
	if (vc[v] != UNSET)
		return vc[v];
	vc[v] = -1;
	int32_t c = -2;
	for (int32_t x = 0; x < e->vals[v].n_edges; x++)
		c = merge(c, edge_class(e, rclass, ec, vc, e->vals[v].first_edge + x));
	return vc[v] = c;
}

/* ec[x]: the class of the readers below use x, vc[v] of value v: a class,
 * -1 several, -2 none. Every use and value is met once. */
static void classes_below(const entry *e, const int32_t *rclass, int32_t *ec, int32_t *vc)
{
	for (size_t x = 0; x < e->n_edges; x++)
		ec[x] = UNSET;
	for (size_t v = 0; v < e->n_vals; v++)
		vc[v] = UNSET;
	for (size_t v = 0; v < e->n_vals; v++)
		value_class(e, rclass, ec, vc, (int32_t)v);
}

/* The TensorProto field of the new tensor, up to its raw bytes. */
static int build_head(untied *c)
{
	const oi_tensor_info *i = &c->t.info;
	oi_buf in = { 0 };
	uint8_t h[24];
	size_t k;
	int rc = 0;
	for (size_t d = 0; d < i->ndim && !rc; d++) {
		k = oi__varint_put(h, (1u << 3) | OI_WIRE_VARINT);
		k += oi__varint_put(h + k, (uint64_t)i->dims[d]);
		rc = oi__buf_append(&in, h, k);
	}
	size_t nl = strlen(i->name);
	k = oi__varint_put(h, (2u << 3) | OI_WIRE_VARINT);
	k += oi__varint_put(h + k, (uint64_t)i->dtype);
	k += oi__varint_put(h + k, (8u << 3) | OI_WIRE_LEN);
	k += oi__varint_put(h + k, nl);
	if (!rc)
		rc = oi__buf_append(&in, h, k);
	if (!rc)
		rc = oi__buf_append(&in, i->name, nl);
	k = oi__varint_put(h, (OI_TP_RAW_DATA << 3) | OI_WIRE_LEN);
	k += oi__varint_put(h + k, i->nbytes);
	if (!rc)
		rc = oi__buf_append(&in, h, k);
	k = oi__varint_put(h, (5u << 3) | OI_WIRE_LEN); /* GraphProto.initializer */
	k += oi__varint_put(h + k, in.len + i->nbytes);
	if (!rc)
		rc = oi__buf_append(&c->head, h, k);
	if (!rc)
		rc = oi__buf_append(&c->head, in.data, in.len);
	oi__buf_free(&in);
	return rc;
}

/* Point the cut uses at c's name. False if a node cannot be found in the file. */
static int build_rewires(plan_ctx *pc, untied *c, const entry *e, const size_t *cuts,
                         size_t n_cuts, bool *ok)
{
	*ok = false;
	c->rw = oi__calloc(n_cuts ? n_cuts : 1, sizeof *c->rw);
	if (!c->rw)
		return OI_ENOMEM;
	for (size_t i = 0; i < n_cuts; i++) {
		const edge *ed = &e->edges[cuts[i]];
		int32_t ns = node_span(&pc->map, ed->np);
		rewire *rw = &c->rw[c->n_rw];
		if (ns < 0 || (size_t)ed->input >= ed->np->n_input ||
		    !input_field(pc->m, ns, (size_t)ed->input, ed->np->input[ed->input], &rw->start,
		                 &rw->end))
			return 0;
		c->n_rw++;
		rw->span = ns;
		uint8_t h[10];
		size_t nl = strlen(c->t.info.name), k = oi__varint_put(h, nl);
		int rc = oi__buf_append(&rw->bytes, h, k);
		if (!rc)
			rc = oi__buf_append(&rw->bytes, c->t.info.name, nl);
		if (rc)
			return rc;
	}
	*ok = true;
	return 0;
}

/* "NAME.untied.K" with the first K from *next on that no graph uses. */
static char *free_name(plan_ctx *pc, const char *base, unsigned *next)
{
	for (;;) {
		char *s = oi__asprintf("%s.untied.%u", base, (*next)++);
		if (!s)
			return NULL;
		if (!oi__strset_has(&pc->names, s))
			return s;
		free(s);
	}
}

/* Append to *s (malloc'd text, or NULL). */
static int append(char **s, const char *fmt, ...) OI_PRINTF(2, 3);
static int append(char **s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *more = NULL;
	int n = vasprintf(&more, fmt, ap);
	va_end(ap);
	char *all = n < 0 ? NULL : oi__asprintf("%s%s", *s ? *s : "", more);
	free(more);
	free(*s);
	*s = all;
	return all ? 0 : oi__fail(OI_ENOMEM, "out of memory");
}

/* The analysis's warning about t ("...; the first is used") says what
 * happened instead; a plan warning if the analysis had none. */
static int tell(plan_ctx *pc, const oi_tensor *t, untied **made, size_t n_made)
{
	oi_model *m = pc->m;
	oi_untie *u = pc->u;
	const oi_tensor_info *a = &t->info, *b = &made[0]->t.info;
	char *text = NULL;
	bool donor = t->fill && t->fill->kind == OI_FILL_DONOR;
	int rc = donor ? append(&text, "tensor '%s' is shared by layers to which the donor gives "
	                        "different values ('%s' and '%s'); untied:", a->name, a->node, b->node)
	               : append(&text, "tensor '%s' is read as %s by %s '%s' but %s by %s '%s'; "
	                        "untied:", a->name, a->role, a->op, a->node, b->role, b->op, b->node);
	for (size_t i = 0; i < n_made && !rc; i++) {
		const oi_tensor_info *c = &made[i]->t.info;
		rc = append(&text, "%s '%s' for %s by %s '%s'", i ? "," : "", c->name, c->role, c->op,
		            c->node);
		if (!rc && c->consumers > 1)
			rc = append(&text, " and %zu more reader%s", c->consumers - 1,
			            c->consumers > 2 ? "s" : "");
	}
	char *was = rc || !a->conflict ? NULL : oi__asprintf("tensor '%s' is read as %s",
	                                                     a->name, a->conflict);
	size_t i = 0;
	while (was && i < m->n_warnings && strcmp(m->warnings[i], was))
		i++;
	if (!rc && was && i < m->n_warnings) {
		rc = OI_GROW(u->sw, u->n_sw, u->cap_sw);
		if (rc)
			free(text);
		else if (!oi__model_keep(m, text))
			rc = OI_ENOMEM;
		if (!rc) {
			u->sw[u->n_sw++] = (swapped){ i, m->warnings[i] };
			m->warnings[i] = text;
		}
	} else if (!rc) {
		rc = oi__warn(m, "%s", text);
		free(text);
	} else {
		free(text);
	}
	free(was);
	return rc;
}

static int show(oi_untie *u, untied *c)
{
	if (OI_GROW(u->cur, u->n_cur, u->cap_cur))
		return OI_ENOMEM;
	u->cur[u->n_cur++] = c;
	c->next = u->pool;
	u->pool = c;
	return 0;
}

/* Give class k (candidate c) its own tensor if its readers can be reached
 * through uses that no other class needs. *done: it was. */
static int untie_class(plan_ctx *pc, const entry *e, untied *c, int32_t k, const int32_t *ec,
                       const int32_t *vc, const int32_t *rclass, unsigned *next, bool *done)
{
	oi_model *m = pc->m;
	const oi_tensor *t = &m->tensors[e->tensor];
	*done = false;
	size_t *cuts = oi__calloc(e->n_edges, sizeof *cuts), n_cuts = 0;
	if (!cuts)
		return OI_ENOMEM;
	/* the topmost uses that lead to class k's readers only; each must read
	 * the tensor itself or it through Identity nodes, which it may skip */
	const edge *blocked = NULL;
	bool shared = false;
	for (size_t x = 0; x < e->n_edges && !shared; x++) {
		const edge *ed = &e->edges[x];
		if (ec[x] != k || (ed->value != 0 && vc[ed->value] == k))
			continue;
		shared = !e->vals[ed->value].alias;
		for (size_t y = 0; shared && y < e->n_edges && !blocked; y++)
			if (e->edges[y].node == e->vals[ed->value].producer)
				blocked = &e->edges[y];
		cuts[n_cuts++] = x;
	}
	int rc = 0;
	if (shared) {
		rc = oi__warn(m, "tensor '%s': its %s readers (%s '%s') are not given their own copy: "
		              "they read it through node '%s' (%s), which other readers share",
		              t->info.name, c->t.info.role, c->t.info.op, c->t.info.node,
		              blocked ? blocked->label : "?", blocked ? blocked->op : "?");
		free(cuts);
		return rc;
	}
	char *name = free_name(pc, t->info.name, next);
	if (!name) {
		free(cuts);
		return OI_ENOMEM;
	}
	c->t.name_own = name;
	c->t.info.name = name;
	bool ok = false;
	rc = build_rewires(pc, c, e, cuts, n_cuts, &ok);
	free(cuts);
	if (rc || !ok)
		return rc ? rc : oi__warn(m, "tensor '%s': a reader could not be found in the file; "
		                          "it is not untied", t->info.name);
	if (oi__strset_add(&pc->names, name) < 0)
		return OI_ENOMEM;
	if (c->t.fill)
		c->t.fill->key = oi__rng_key(pc->seed, name);
	c->t.info.consumers = 0;
	for (size_t r = 0; r < e->n_readers; r++)
		c->t.info.consumers += rclass[r] == k;
	c->graph_span = tensor_graph_span(m, t);
	rc = build_head(c);
	if (!rc)
		rc = show(pc->u, c);
	*done = !rc;
	return rc;
}

/* The groups of e's readers (*gid per reader; reps: each group's first):
 * those that want the same, or each its own if per_reader. */
static size_t group_readers(const entry *e, bool per_reader, int32_t *gid, size_t *reps)
{
	size_t n = 0;
	for (size_t r = 0; r < e->n_readers; r++) {
		gid[r] = -1;
		if (e->readers[r].role == OI_ROLE_NONE)
			continue;
		for (size_t g = 0; g < n && gid[r] < 0 && !per_reader; g++)
			if (same_want(&e->readers[reps[g]], &e->readers[r]))
				gid[r] = (int32_t)g;
		if (gid[r] < 0) {
			reps[n] = r;
			gid[r] = (int32_t)n++;
		}
	}
	for (size_t r = 0; r < e->n_readers; r++)
		if (gid[r] < 0)
			gid[r] = 0; /* undecided readers stay with the tensor */
	return n;
}

static void drop_warnings(oi_model *m, size_t from)
{
	if (m->n_warnings > from)
		m->n_warnings = from; /* the texts stay in the pool */
}

/* Plan each group; groups that get the first's values stay with it, the
 * others share one new tensor per distinct plan (class). cls[g]: the class
 * of group g; crep[k]: class k's tensor (k >= 1). Returns the classes. */
static int plan_groups(plan_ctx *pc, const entry *e, const size_t *reps, size_t n_groups,
                       int32_t *cls, untied **crep, size_t *n_cls)
{
	const oi_tensor *t = &pc->m->tensors[e->tensor];
	*n_cls = 1;
	cls[0] = 0;
	for (size_t g = 1; g < n_groups; g++) {
		untied *c = candidate(pc, t, e, reps[g]);
		if (!c)
			return OI_ENOMEM;
		int rc = pc->plan(pc->m, &c->t, pc->ud);
		if (rc) {
			untied_free(c);
			return rc;
		}
		cls[g] = -1;
		if (same_values(&c->t, t))
			cls[g] = 0;
		for (size_t k = 1; k < *n_cls && cls[g] < 0; k++)
			if (same_values(&c->t, &crep[k]->t))
				cls[g] = (int32_t)k;
		if (cls[g] >= 0) {
			untied_free(c);
			continue;
		}
		crep[*n_cls] = c;
		cls[g] = (int32_t)(*n_cls)++;
	}
	return 0;
}

/* Where t's readers' new tensors go: its graph, unless t cannot be untied
 * there (NULL; *why_input: because a caller may feed it as an input). */
static const Onnx__GraphProto *home_graph(plan_ctx *pc, const oi_tensor *t, bool *why_input)
{
	*why_input = false;
	int32_t gspan = tensor_graph_span(pc->m, t);
	const Onnx__GraphProto *gp = gspan >= 0 && !pc->map.bad ? graph_at(&pc->map, gspan) : NULL;
	for (size_t i = 0; gp && i < gp->n_input; i++)
		if (gp->input[i]->name && !strcmp(gp->input[i]->name, t->info.name)) {
			*why_input = true; /* what is fed must reach every reader */
			return NULL;
		}
	return gp;
}

static int untie_one(plan_ctx *pc, const entry *e)
{
	oi_model *m = pc->m;
	const oi_tensor *t = &m->tensors[e->tensor];
	if (e->cut || t->info.source != OI_SOURCE_INITIALIZER)
		return 0;
	size_t n = e->n_readers, n_cls = 0, n_made = 0, warn0 = m->n_warnings;
	int32_t *gid = oi__calloc(n, sizeof *gid), *cls = oi__calloc(n, sizeof *cls);
	int32_t *rclass = oi__calloc(n, sizeof *rclass);
	int32_t *ec = oi__calloc(e->n_edges ? e->n_edges : 1, sizeof *ec);
	int32_t *vc = oi__calloc(e->n_vals, sizeof *vc);
	size_t *reps = oi__calloc(n, sizeof *reps);
	untied **crep = oi__calloc(n + 1, sizeof *crep), **made = oi__calloc(n + 1, sizeof *made);
	int rc = gid && cls && rclass && ec && vc && reps && crep && made ? 0 : OI_ENOMEM;
	size_t n_groups = rc ? 0 : group_readers(e, pc->per_reader, gid, reps);
	if (!rc && n_groups > 1)
		rc = plan_groups(pc, e, reps, n_groups, cls, crep, &n_cls);
	bool go = !rc && n_cls > 1 && oi__untie_constant(m, t), fed = false;
	if (go)
		rc = prepare(pc);
	const Onnx__GraphProto *gp = go && !rc ? home_graph(pc, t, &fed) : NULL;
	if (!rc && !gp) {
		/* nothing changes: what planning the groups said goes too */
		drop_warnings(m, warn0);
		if (fed)
			rc = oi__warn(m, "tensor '%s' is also an input of graph %s; it is not untied",
			              t->info.name, t->info.graph);
	}
	unsigned next = 1;
	for (size_t r = 0; gp && r < n; r++)
		rclass[r] = cls[gid[r]];
	if (gp && !rc)
		classes_below(e, rclass, ec, vc);
	for (size_t k = 1; gp && !rc && k < n_cls; k++) {
		bool done = false;
		rc = untie_class(pc, e, crep[k], (int32_t)k, ec, vc, rclass, &next, &done);
		if (done) {
			made[n_made++] = crep[k];
			crep[k] = NULL;
		}
	}
	if (!rc && n_made)
		rc = tell(pc, t, made, n_made);
	for (size_t k = 1; crep && k < n_cls; k++)
		untied_free(crep[k]);
	free(gid);
	free(cls);
	free(rclass);
	free(ec);
	free(vc);
	free(reps);
	free(crep);
	free(made);
	return rc;
}

void oi__untie_clear(oi_model *m)
{
	oi_untie *u = m->untie;
	if (!u)
		return;
	/* the rewritten texts stay alive: a caller may still hold them */
	while (u->n_sw) {
		swapped *s = &u->sw[--u->n_sw];
		if (s->index < m->n_warnings)
			m->warnings[s->index] = s->orig;
	}
	u->n_cur = 0;
}

int oi__untie_plan(oi_model *m, uint64_t seed, bool enabled, bool per_reader,
                   oi_untie_plan_fn plan, void *ud)
{
	oi__untie_clear(m);
	oi_untie *u = m->untie;
	if (!enabled || !u || !u->n_entries)
		return 0;
	plan_ctx pc = { .m = m, .u = u, .seed = seed, .plan = plan, .ud = ud,
	                .per_reader = per_reader };
	int rc = 0;
	for (size_t i = 0; i < u->n_entries && !rc; i++)
		rc = untie_one(&pc, &u->entries[i]);
	oi__strset_free(&pc.names);
	free(pc.map.nodes);
	free(pc.map.graphs);
	if (rc)
		oi__untie_clear(m);
	return rc;
}

int oi__untie_provenance(oi_model *m)
{
	oi_untie *u = m->untie;
	if (!m->provenance || !u || !u->n_cur)
		return 0;
	json_t *o = json_loads(m->provenance, 0, NULL), *map = json_object();
	int rc = o && map ? 0 : oi__fail(OI_ENOMEM, "out of memory");
	for (size_t i = 0; i < u->n_cur && !rc; i++) {
		const oi_tensor_info *ti = &u->cur[i]->t.info;
		json_t *arr = json_object_get(map, ti->untied_from);
		if (!arr) {
			arr = json_array();
			if (json_object_set_new(map, ti->untied_from, arr))
				rc = oi__fail(OI_ENOMEM, "out of memory");
		}
		if (!rc && json_array_append_new(arr, json_string(ti->name)))
			rc = oi__fail(OI_ENOMEM, "out of memory");
	}
	if (!rc && json_object_set(o, "untied", map))
		rc = oi__fail(OI_ENOMEM, "out of memory");
	char *s = rc ? NULL : json_dumps(o, JSON_COMPACT);
	if (!rc && !s)
		rc = oi__fail(OI_ENOMEM, "out of memory");
	if (s) {
		free(m->provenance);
		m->provenance = s;
	}
	json_decref(map);
	json_decref(o);
	return rc;
}

size_t oi__untie_count(const oi_model *m)
{
	return m->untie ? m->untie->n_cur : 0;
}

const oi_tensor *oi__untie_tensor(const oi_model *m, size_t i)
{
	return i < oi__untie_count(m) ? &m->untie->cur[i]->t : NULL;
}

size_t oi__untie_changed(const oi_model *m)
{
	size_t n = 0;
	for (size_t i = 0; i < oi__untie_count(m); i++)
		n += m->untie->cur[i]->t.info.action != OI_ACTION_KEEP;
	return n;
}

/* ---- the save ----------------------------------------------------------- */

enum { CHUNK = 1 << 16 };

/* The original's values, as they are (a group whose plan keeps them). */
static int copy_values(const oi_model *m, const oi_tensor *o, uint64_t nbytes, oi_sink *sink)
{
	const uint8_t *p = NULL;
	if (o->info.storage == OI_STORAGE_RAW) {
		const oi_field_ref *f = oi__tensor_raw_field(m, o);
		if (f && f->end - f->start == nbytes)
			p = m->map + f->start;
	} else if (o->info.storage == OI_STORAGE_EXTERNAL && o->info.nbytes == nbytes) {
		p = m->ext[o->ext].map ? m->ext[o->ext].map + o->ext_off : NULL;
	}
	if (p || !nbytes)
		return nbytes ? oi__sink_write(sink, p, (size_t)nbytes) : 0;
	uint64_t n = o->info.numel;
	double *v = malloc((size_t)n * sizeof *v);
	uint8_t *b = malloc((size_t)nbytes);
	size_t got = 0;
	int rc = v && b ? oi__tensor_read_f64(m, o, v, (size_t)n, &got) : OI_ENOMEM;
	if (!rc && got != n)
		rc = oi__fail(OI_EINVALID, "tensor '%s': fewer values than elements", o->info.name);
	if (!rc) {
		oi__encode_raw(o->info.dtype, v, (size_t)n, b);
		rc = oi__sink_write(sink, b, (size_t)nbytes);
	}
	free(v);
	free(b);
	return rc == OI_ENOMEM ? oi__fail(OI_ENOMEM, "out of memory") : rc;
}

/* Writes the new TensorProto field: its head, then its values as raw bytes. */
static int produce_untied(const oi_edit *e, oi_sink *sink)
{
	const untied *c = e->ud;
	const oi_tensor *t = &c->t;
	int rc = oi__sink_write(sink, c->head.data, c->head.len);
	if (rc)
		return rc;
	if (!t->fill)
		return copy_values(c->m, &c->m->tensors[c->from], t->info.nbytes, sink);
	uint64_t numel = t->info.numel;
	size_t esz = oi__float_size(t->info.dtype);
	double *mat = NULL;
	if (t->fill->kind == OI_FILL_ORTHOGONAL || t->fill->kind == OI_FILL_SPARSE)
		rc = oi__fill_materialize(t->fill, numel, &mat);
	size_t chunk = numel < CHUNK ? (size_t)numel : CHUNK;
	double *vals = malloc((chunk ? chunk : 1) * sizeof *vals);
	uint8_t *bytes = malloc((chunk ? chunk : 1) * esz);
	if (!rc && (!vals || !bytes))
		rc = oi__fail(OI_ENOMEM, "out of memory");
	for (uint64_t i = 0; i < numel && !rc; i += chunk) {
		size_t n = (size_t)(numel - i < chunk ? numel - i : chunk);
		if (mat)
			memcpy(vals, mat + i, n * sizeof *vals);
		else
			oi__fill_chunk(t->fill, i, n, vals);
		oi__encode_raw(t->info.dtype, vals, n, bytes);
		rc = oi__sink_write(sink, bytes, n * esz);
	}
	free(mat);
	free(vals);
	free(bytes);
	return rc;
}

size_t oi__untie_edit_count(const oi_model *m)
{
	size_t n = 0;
	for (size_t i = 0; i < oi__untie_count(m); i++)
		n += 1 + m->untie->cur[i]->n_rw;
	return n;
}

size_t oi__untie_edits(const oi_model *m, oi_edit *out)
{
	size_t k = 0;
	for (size_t i = 0; i < oi__untie_count(m); i++) {
		untied *c = m->untie->cur[i];
		uint64_t at = m->scan.spans[c->graph_span].end;
		out[k++] = (oi_edit){ .start = at, .end = at, .new_len = c->head.len + c->t.info.nbytes,
		                      .span = c->graph_span, .produce = produce_untied, .ud = c };
		for (size_t j = 0; j < c->n_rw; j++)
			out[k++] = (oi_edit){ .start = c->rw[j].start, .end = c->rw[j].end,
			                      .new_len = c->rw[j].bytes.len, .span = c->rw[j].span,
			                      .bytes = c->rw[j].bytes.data };
	}
	return k;
}

void oi__untie_reset(oi_model *m)
{
	oi_untie *u = m->untie;
	if (!u)
		return;
	oi__untie_clear(m);
	for (size_t i = 0; i < u->n_entries; i++)
		entry_free(&u->entries[i]);
	u->n_entries = 0;
	u->at_entry = u->at_base = 0;
}

void oi__untie_free(oi_model *m)
{
	oi_untie *u = m->untie;
	if (!u)
		return;
	oi__untie_reset(m);
	while (u->pool) {
		untied *c = u->pool;
		u->pool = c->next;
		untied_free(c);
	}
	free(u->sw);
	free(u->cur);
	free(u->entries);
	free(u);
	m->untie = NULL;
}
