/* See eval.h: the graph, its values, constants with the values the save
 * would write, and running nodes. */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../blas.h"
#include "../tensor.h"
#include "eval.h"

#include <cblas.h>

/* OpenBLAS's thread count is the process's: one pass at a time sets it and
 * puts back what it found. */
static int blas_saved;

/* ---- buffers ------------------------------------------------------------ */

enum { POOL_MAX = 64 };
#define POOL_MAX_BYTES ((size_t)1 << 31)

/* The pool of the context open on this thread (kernels allocate through
 * oi__ev_alloc, which takes no context); NULL: plain malloc. */
static _Thread_local ev_pool *tl_pool;

static void *pool_get(size_t bytes)
{
	ev_pool *p = tl_pool;
	if (p) {
		size_t best = SIZE_MAX;
		for (size_t i = 0; i < p->n; i++)
			if (p->size[i] >= bytes && p->size[i] <= bytes + bytes / 2 + 4096 &&
			    (best == SIZE_MAX || p->size[i] < p->size[best]))
				best = i;
		if (best != SIZE_MAX) {
			void *b = p->buf[best];
			p->bytes -= p->size[best];
			p->buf[best] = p->buf[p->n - 1];
			p->size[best] = p->size[p->n - 1];
			p->n--;
			return b;
		}
	}
	return malloc(bytes ? bytes : 1);
}

static void pool_put(void *b, size_t bytes)
{
	ev_pool *p = tl_pool;
	if (!b)
		return;
	if (!p || p->n == POOL_MAX || p->bytes + bytes > POOL_MAX_BYTES) {
		free(b);
		return;
	}
	if (!p->buf) {
		p->buf = malloc(POOL_MAX * sizeof *p->buf);
		p->size = malloc(POOL_MAX * sizeof *p->size);
		if (!p->buf || !p->size) {
			free(p->buf);
			free(p->size);
			p->buf = NULL;
			p->size = NULL;
			free(b);
			return;
		}
	}
	p->buf[p->n] = b;
	p->size[p->n++] = bytes;
	p->bytes += bytes;
}

static void pool_free(ev_pool *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->buf[i]);
	free(p->buf);
	free(p->size);
	memset(p, 0, sizeof *p);
}

/* ---- helpers for kernels ------------------------------------------------ */

int oi__ev_alloc(ev_tensor *t, ev_type type, int nd, const int64_t *d)
{
	int64_t n = 1;
	if (nd < 0 || nd > EV_MAX_RANK)
		return oi__fail(OI_EUNSUPPORTED, "rank %d is past the evaluator's %d", nd, EV_MAX_RANK);
	for (int k = 0; k < nd; k++) {
		if (d[k] < 0 || !oi__mul_i64(n, d[k], &n) || n > ((int64_t)1 << 36))
			return oi__fail(OI_EUNSUPPORTED, "a value of more than 2^36 elements (or a "
			                "negative dim)");
	}
	memset(t, 0, sizeof *t);
	t->type = type;
	t->nd = nd;
	for (int k = 0; k < nd; k++)
		t->d[k] = d[k];
	t->n = n;
	size_t esz = type == EV_F32 ? sizeof(float) : sizeof(int64_t);
	t->data = pool_get((size_t)(n ? n : 1) * esz);
	if (!t->data)
		return oi__fail(OI_ENOMEM, "out of memory for a value of %lld elements", (long long)n);
	return 0;
}

void oi__ev_tensor_free(ev_tensor *t)
{
	if (!t->borrowed && t->data)
		pool_put(t->data, (size_t)(t->n ? t->n : 1) *
		                  (t->type == EV_F32 ? sizeof(float) : sizeof(int64_t)));
	t->data = NULL;
	t->borrowed = false;
}

int oi__ev_fail(const ev_node *node, int code, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return oi__fail(code, "node '%s' (%s): %s", node->label, node->n->op_type, msg);
}

const Onnx__AttributeProto *oi__ev_attr(const ev_node *node, const char *name)
{
	const Onnx__NodeProto *n = node->n;
	for (size_t i = 0; i < n->n_attribute; i++)
		if (n->attribute[i]->name && !strcmp(n->attribute[i]->name, name))
			return n->attribute[i];
	return NULL;
}

int64_t oi__ev_attr_i(const ev_node *node, const char *name, int64_t dflt)
{
	const Onnx__AttributeProto *a = oi__ev_attr(node, name);
	return a ? a->i : dflt;
}

float oi__ev_attr_f(const ev_node *node, const char *name, float dflt)
{
	const Onnx__AttributeProto *a = oi__ev_attr(node, name);
	return a ? a->f : dflt;
}

int oi__ev_attr_ints(const ev_node *node, const char *name, int64_t *out, int max)
{
	const Onnx__AttributeProto *a = oi__ev_attr(node, name);
	if (!a)
		return -1;
	if (a->n_ints > (size_t)max)
		return -1;
	for (size_t i = 0; i < a->n_ints; i++)
		out[i] = a->ints[i];
	return (int)a->n_ints;
}

int oi__ev_ints(const ev_tensor *t, int64_t *out, int max)
{
	if (t->n > max)
		return -1;
	for (int64_t i = 0; i < t->n; i++) {
		float f = t->type == EV_F32 ? ev_f(t)[i] : 0.0f;
		if (t->type == EV_F32 && !(fabsf(f) < 9.0e18f))
			return -1; /* NaN or past int64: no shape */
		out[i] = t->type == EV_I64 ? ev_i(t)[i] : (int64_t)f;
	}
	return (int)t->n;
}

float *oi__ev_scratch(ev_ctx *c, size_t n)
{
	if (n > c->scratch_len) {
		float *p = realloc(c->scratch, (n ? n : 1) * sizeof *p);
		if (!p) {
			oi__fail(OI_ENOMEM, "out of memory (%zu scratch floats)", n);
			return NULL;
		}
		c->scratch = p;
		c->scratch_len = n;
	}
	return c->scratch;
}

bool oi__ev_broadcast(const ev_tensor *a, const ev_tensor *b, int *nd, int64_t *d)
{
	int n = a->nd > b->nd ? a->nd : b->nd;
	for (int k = 0; k < n; k++) {
		int ka = k - (n - a->nd), kb = k - (n - b->nd);
		int64_t da = ka >= 0 ? a->d[ka] : 1, db = kb >= 0 ? b->d[kb] : 1;
		if (da != db && da != 1 && db != 1)
			return false;
		d[k] = da == 1 ? db : da;
	}
	*nd = n;
	return true;
}

void oi__ev_stats(const ev_tensor *t, oi_value_stats *s)
{
	if (t->type != EV_F32 || t->n == 0) {
		*s = (oi_value_stats){ NAN, NAN, NAN, NAN, NAN };
		return;
	}
	const float *x = ev_f(t);
	double sum = 0, lo = x[0], hi = x[0];
	int64_t zeros = 0;
	for (int64_t i = 0; i < t->n; i++) {
		sum += x[i];
		lo = x[i] < lo ? x[i] : lo;
		hi = x[i] > hi ? x[i] : hi;
		zeros += x[i] == 0.0f;
	}
	double mean = sum / (double)t->n, ss = 0;
	for (int64_t i = 0; i < t->n; i++) {
		double e = x[i] - mean;
		ss += e * e;
	}
	s->mean = mean;
	s->std = sqrt(ss / (double)t->n);
	s->min = lo;
	s->max = hi;
	s->zeros = (double)zeros / (double)t->n;
}

double oi__ev_variance(const ev_tensor *t)
{
	oi_value_stats s;
	oi__ev_stats(t, &s);
	return s.std * s.std;
}

/* ---- constants ---------------------------------------------------------- */

static bool float_dtype(int dt)
{
	return dt == OI_DTYPE_FLOAT || dt == OI_DTYPE_DOUBLE || dt == OI_DTYPE_FLOAT16 ||
	       dt == OI_DTYPE_BFLOAT16;
}

/* The values the save would write: the plan's, else the model's own. */
static int tensor_values(oi_model *m, const oi_tensor *t, double **out)
{
	uint64_t numel = t->info.numel;
	*out = NULL;
	if (t->info.source == OI_SOURCE_SPARSE_INITIALIZER)
		return oi__fail(OI_EUNSUPPORTED, "tensor '%s' is sparse", t->info.name);
	if (t->fill && t->info.action != OI_ACTION_KEEP &&
	    (t->fill->kind == OI_FILL_ORTHOGONAL || t->fill->kind == OI_FILL_SPARSE))
		return oi__fill_materialize(t->fill, numel, out);
	double *v = malloc((numel ? numel : 1) * sizeof *v);
	if (!v)
		return oi__fail(OI_ENOMEM, "out of memory for tensor '%s'", t->info.name);
	if (t->fill && t->info.action != OI_ACTION_KEEP) {
		oi__fill_chunk(t->fill, 0, (size_t)numel, v);
	} else {
		size_t n = 0;
		int rc = oi__tensor_read_f64(m, t, v, (size_t)numel, &n);
		if (!rc && n != numel)
			rc = oi__fail(OI_EINVALID, "tensor '%s' holds %zu values, its shape %llu", t->info.name,
			              n, (unsigned long long)numel);
		if (rc) {
			free(v);
			return rc;
		}
	}
	*out = v;
	return 0;
}

void oi__ev_weight_refresh(ev_weight *w, uint64_t numel)
{
	for (uint64_t i = 0; i < numel; i++)
		w->f[i] = (float)(w->values[i] * w->scale);
}

ev_weight *oi__ev_weight(ev_ctx *c, int32_t tensor, double *given)
{
	for (size_t i = 0; i < c->n_weights; i++)
		if (c->weights[i].tensor == tensor) {
			free(given);
			return &c->weights[i];
		}
	const oi_tensor *t = &c->m->tensors[tensor];
	ev_weight *arr = oi__reallocarray(c->weights, c->n_weights + 1, sizeof *arr);
	if (!arr) {
		free(given);
		return NULL;
	}
	c->weights = arr;
	ev_weight *w = &arr[c->n_weights];
	memset(w, 0, sizeof *w);
	w->tensor = tensor;
	w->scale = 1.0;
	w->values = given;
	if (!given && tensor_values(c->m, t, &w->values))
		return NULL;
	w->f = malloc((t->info.numel ? t->info.numel : 1) * sizeof *w->f);
	if (!w->f) {
		free(w->values);
		oi__fail(OI_ENOMEM, "out of memory");
		return NULL;
	}
	oi__ev_weight_refresh(w, t->info.numel);
	c->n_weights++;
	/* a value already loaded from it now reads the weight's buffer */
	for (size_t v = 0; v < c->n_values; v++)
		if (c->values[v].tensor == tensor && c->values[v].ready) {
			oi__ev_tensor_free(&c->values[v].t);
			c->values[v].ready = false;
		}
	return w;
}

static int load_const(ev_ctx *c, ev_value *v)
{
	const oi_tensor *t = &c->m->tensors[v->tensor];
	const oi_tensor_info *i = &t->info;
	if (i->ndim > EV_MAX_RANK)
		return oi__fail(OI_EUNSUPPORTED, "tensor '%s' has rank %zu", i->name, i->ndim);
	int64_t d[EV_MAX_RANK];
	for (size_t k = 0; k < i->ndim; k++)
		d[k] = i->dims[k];
	if (i->source == OI_SOURCE_SPARSE_INITIALIZER)
		return oi__fail(OI_EUNSUPPORTED, "tensor '%s' is sparse", i->name);
	if (float_dtype(i->dtype)) {
		for (size_t k = 0; k < c->n_weights; k++)
			if (c->weights[k].tensor == v->tensor) {
				memset(&v->t, 0, sizeof v->t);
				v->t.type = EV_F32;
				v->t.nd = (int)i->ndim;
				memcpy(v->t.d, d, sizeof d);
				v->t.n = (int64_t)i->numel;
				v->t.data = c->weights[k].f;
				v->t.borrowed = true;
				return 0;
			}
		double *vals;
		int rc = tensor_values(c->m, t, &vals);
		if (!rc)
			rc = oi__ev_alloc(&v->t, EV_F32, (int)i->ndim, d);
		for (uint64_t e = 0; !rc && e < i->numel; e++)
			ev_f(&v->t)[e] = (float)vals[e];
		free(vals);
		return rc;
	}
	int rc = oi__ev_alloc(&v->t, EV_I64, (int)i->ndim, d);
	size_t n = 0;
	if (!rc)
		rc = oi__tensor_read_i64(c->m, t, ev_i(&v->t), (size_t)i->numel, &n);
	if (!rc && n != i->numel)
		rc = oi__fail(OI_EUNSUPPORTED, "tensor '%s': cannot read its %s values", i->name,
		              oi_dtype_name(i->dtype));
	if (rc)
		oi__ev_tensor_free(&v->t);
	return rc;
}

int oi__ev_attr_tensor(ev_ctx *c, const Onnx__TensorProto *tp, ev_tensor *out)
{
	/* the load keeps payloads on disk: the tensor table reads them */
	for (size_t i = 0; i < c->m->n_tensors; i++) {
		if (c->m->tensors[i].tp != tp)
			continue;
		ev_value v = { .tensor = (int32_t)i };
		int rc = load_const(c, &v);
		if (!rc && v.t.borrowed) {
			ev_tensor copy;
			rc = oi__ev_alloc(&copy, v.t.type, v.t.nd, v.t.d);
			if (!rc)
				memcpy(copy.data, v.t.data, (size_t)v.t.n * sizeof(float));
			v.t = copy;
		}
		if (!rc)
			*out = v.t;
		return rc;
	}
	return oi__fail(OI_EUNSUPPORTED, "a tensor attribute the model's tensors do not list");
}

/* ---- the graph ---------------------------------------------------------- */

static uint64_t name_hash(const char *s)
{
	return oi__hash_bytes(s, strlen(s), 0x51ed270b);
}

int32_t oi__ev_find(const ev_ctx *c, const char *name)
{
	if (!name || !*name || !c->n_slots)
		return -1;
	size_t mask = c->n_slots - 1, i = (size_t)name_hash(name) & mask;
	while (c->slots[i] >= 0) {
		if (!strcmp(c->values[c->slots[i]].name, name))
			return c->slots[i];
		i = (i + 1) & mask;
	}
	return -1;
}

/* The value named name, added if new (-1 for "", -2 on error). */
static int32_t intern(ev_ctx *c, const char *name, size_t cap)
{
	if (!name || !*name)
		return -1;
	int32_t v = oi__ev_find(c, name);
	if (v >= 0)
		return v;
	if (c->n_values >= cap) {
		oi__fail(OI_EINVALID, "too many values");
		return -2;
	}
	v = (int32_t)c->n_values++;
	c->values[v] = (ev_value){ .name = name, .producer = -1, .tensor = -1, .input = -1,
	                           .last_use = -1 };
	size_t mask = c->n_slots - 1, i = (size_t)name_hash(name) & mask;
	while (c->slots[i] >= 0)
		i = (i + 1) & mask;
	c->slots[i] = v;
	return v;
}

static int64_t default_opset(const oi_model *m)
{
	for (size_t i = 0; i < m->pb->n_opset_import; i++) {
		const Onnx__OperatorSetIdProto *o = m->pb->opset_import[i];
		if (!o->domain || !*o->domain || !strcmp(o->domain, "ai.onnx"))
			return o->version;
	}
	return 1;
}

static int index_graph(ev_ctx *c)
{
	const Onnx__GraphProto *g = c->m->pb->graph;
	size_t cap = g->n_input + g->n_initializer + g->n_sparse_initializer;
	for (size_t i = 0; i < g->n_node; i++)
		cap += g->node[i]->n_input + g->node[i]->n_output;
	c->values = oi__calloc(cap ? cap : 1, sizeof *c->values);
	c->n_slots = 16;
	while (c->n_slots < 2 * (cap + 1))
		c->n_slots *= 2;
	c->slots = malloc(c->n_slots * sizeof *c->slots);
	c->nodes = oi__calloc(g->n_node ? g->n_node : 1, sizeof *c->nodes);
	if (!c->values || !c->slots || !c->nodes)
		return oi__fail(OI_ENOMEM, "out of memory");
	for (size_t i = 0; i < c->n_slots; i++)
		c->slots[i] = -1;
	for (size_t i = 0; i < g->n_input; i++)
		if (intern(c, g->input[i]->name, cap) == -2)
			return OI_EINVALID;
	for (size_t t = 0; t < c->m->n_tensors; t++) {
		const oi_tensor *tt = &c->m->tensors[t];
		if (tt->ns != 0 || !tt->addressable || strcmp(tt->info.graph, "main"))
			continue;
		int32_t v = intern(c, tt->info.name, cap);
		if (v == -2)
			return OI_EINVALID;
		if (v >= 0 && c->values[v].tensor < 0)
			c->values[v].tensor = (int32_t)t;
	}
	for (size_t i = 0; i < g->n_node; i++, c->n_nodes++) {
		const Onnx__NodeProto *n = g->node[i];
		ev_node *en = &c->nodes[i];
		en->n = n;
		const char *op = n->op_type ? n->op_type : "";
		en->label = n->name && *n->name ? oi__strdup(n->name)
		                                : oi__asprintf("%s_%zu", *op ? op : "node", i);
		bool std = !n->domain || !*n->domain || !strcmp(n->domain, "ai.onnx");
		en->k = std ? oi__ev_kernel_find(op) : NULL;
		en->in = malloc((n->n_input + 1) * sizeof *en->in);
		en->out = malloc((n->n_output + 1) * sizeof *en->out);
		if (!en->label || !en->in || !en->out)
			return oi__fail(OI_ENOMEM, "out of memory");
		en->nin = n->n_input;
		en->nout = n->n_output;
		for (size_t k = 0; k < n->n_input; k++) {
			int32_t v = intern(c, n->input[k], cap);
			if (v == -2)
				return OI_EINVALID;
			en->in[k] = v;
			if (v >= 0)
				c->values[v].last_use = (int32_t)i;
		}
		for (size_t k = 0; k < n->n_output; k++) {
			int32_t v = intern(c, n->output[k], cap);
			if (v == -2)
				return OI_EINVALID;
			en->out[k] = v;
			if (v >= 0 && c->values[v].producer < 0)
				c->values[v].producer = (int32_t)i;
		}
	}
	for (size_t i = 0; i < g->n_output; i++) {
		int32_t v = oi__ev_find(c, g->output[i]->name);
		if (v >= 0)
			c->values[v].last_use = INT32_MAX;
	}
	return 0;
}

int oi__ev_open(ev_ctx *c, oi_model *m, const oi_data *d, unsigned threads)
{
	memset(c, 0, sizeof *c);
	c->m = m;
	if (!m->pb->graph)
		return oi__fail(OI_EINVALID, "%s: the model has no graph", m->path);
	if (oi__blas_load())
		return OI_EUNSUPPORTED;
	c->opset = default_opset(m);
	c->threads = oi__fill_threads(threads);
	int rc = index_graph(c);
	if (!rc)
		rc = oi__data_inputs(d, m, &c->inputs, &c->n_inputs);
	for (size_t i = 0; i < c->n_inputs && !rc; i++) {
		int32_t v = oi__ev_find(c, c->inputs[i].name);
		if (v < 0)
			continue;
		c->values[v].input = (int32_t)i;
	}
	if (rc) {
		oi__ev_close(c);
		return rc;
	}
	oi__blas_lock();
	blas_saved = openblas_get_num_threads();
	/* the pass splits its work among its own threads, each calling OpenBLAS
	 * on one: the values then depend on no thread count of OpenBLAS's */
	openblas_set_num_threads(1);
	c->blas_locked = true;
	tl_pool = &c->pool;
	return 0;
}

void oi__ev_close(ev_ctx *c)
{
	bool locked = c->blas_locked;
	for (size_t v = 0; v < c->n_values; v++)
		oi__ev_tensor_free(&c->values[v].t);
	for (size_t i = 0; i < c->n_nodes; i++) {
		free(c->nodes[i].label);
		free(c->nodes[i].in);
		free(c->nodes[i].out);
	}
	for (size_t i = 0; i < c->n_weights; i++) {
		free(c->weights[i].values);
		free(c->weights[i].f);
	}
	oi__data_inputs_free(c->inputs, c->n_inputs);
	free(c->weights);
	free(c->nodes);
	free(c->values);
	free(c->slots);
	free(c->scratch);
	if (tl_pool == &c->pool)
		tl_pool = NULL;
	pool_free(&c->pool);
	if (locked) {
		openblas_set_num_threads(blas_saved);
		oi__blas_unlock();
	}
	memset(c, 0, sizeof *c);
}

/* ---- running ------------------------------------------------------------ */

static void stop(ev_ctx *c, size_t node, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void stop(ev_ctx *c, size_t node, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->stop_msg, sizeof c->stop_msg, fmt, ap);
	va_end(ap);
	c->stop_node = node;
}

/* The value ready to read: a constant loaded, an input set. */
static int ready_value(ev_ctx *c, int32_t vi)
{
	ev_value *v = &c->values[vi];
	if (v->ready)
		return 0;
	if (v->input >= 0) {
		const oi_input_batch *b = &c->inputs[v->input];
		memset(&v->t, 0, sizeof v->t);
		v->t.type = b->integer ? EV_I64 : EV_F32;
		v->t.nd = (int)b->ndim;
		memcpy(v->t.d, b->dims, sizeof v->t.d);
		v->t.n = (int64_t)b->numel;
		v->t.data = b->integer ? (void *)b->i : (void *)b->f;
		v->t.borrowed = true;
		v->ready = true;
		return 0;
	}
	if (v->tensor >= 0) {
		int rc = load_const(c, v);
		if (!rc)
			v->ready = true;
		return rc;
	}
	return 1; /* nothing defines it yet */
}

/* Whether a Constant node's output is a tensor of the model (its planned
 * values are read like an initializer's). */
static bool constant_tensor(const ev_ctx *c, const ev_node *en)
{
	return en->nout == 1 && en->out[0] >= 0 && c->values[en->out[0]].tensor >= 0 &&
	       en->n->op_type && !strcmp(en->n->op_type, "Constant");
}

/* One node; 0, a stop (1), or an error. */
static int run_node(ev_ctx *c, size_t i)
{
	ev_node *en = &c->nodes[i];
	const char *op = en->n->op_type ? en->n->op_type : "";
	if (constant_tensor(c, en)) {
		int rc = ready_value(c, en->out[0]);
		if (rc == OI_ENOMEM)
			return rc;
		if (rc) {
			stop(c, i, "node '%s' (Constant): %s", en->label, oi_last_error());
			return 1;
		}
		return 0;
	}
	if (!en->k) {
		stop(c, i, "op '%s%s%s' (node '%s') is not supported by the evaluator",
		     en->n->domain && *en->n->domain ? en->n->domain : "",
		     en->n->domain && *en->n->domain ? "." : "", op, en->label);
		return 1;
	}
	ev_tensor *in[64] = { 0 };
	ev_tensor out[16];
	if (en->nin > 64 || en->nout > 16) {
		stop(c, i, "node '%s' (%s) has too many inputs or outputs", en->label, op);
		return 1;
	}
	for (size_t k = 0; k < en->nin; k++) {
		if (en->in[k] < 0)
			continue;
		int rc = ready_value(c, en->in[k]);
		if (rc == 1) {
			stop(c, i, "node '%s' (%s) reads '%s', which nothing computed", en->label, op,
			     c->values[en->in[k]].name);
			return 1;
		}
		if (rc) {
			if (rc == OI_ENOMEM)
				return rc;
			stop(c, i, "%s", oi_last_error());
			return 1;
		}
		in[k] = &c->values[en->in[k]].t;
	}
	memset(out, 0, sizeof out);
	int rc = en->k->fn(c, en, in, en->nin, out, en->nout);
	if (rc) {
		for (size_t k = 0; k < en->nout; k++)
			oi__ev_tensor_free(&out[k]);
		if (rc == OI_ENOMEM)
			return rc;
		stop(c, i, "%s", oi_last_error());
		return 1;
	}
	for (size_t k = 0; k < en->nout; k++) {
		if (en->out[k] < 0 || !out[k].data) {
			oi__ev_tensor_free(&out[k]);
			continue;
		}
		ev_value *v = &c->values[en->out[k]];
		oi__ev_tensor_free(&v->t);
		v->t = out[k];
		v->ready = true;
	}
	return 0;
}

static void release(ev_ctx *c, size_t node)
{
	if (c->keep_all)
		return;
	const ev_node *en = &c->nodes[node];
	for (size_t k = 0; k < en->nin; k++) {
		int32_t vi = en->in[k];
		if (vi < 0)
			continue;
		ev_value *v = &c->values[vi];
		if (v->last_use <= (int32_t)node && v->ready && v->producer >= 0) {
			oi__ev_tensor_free(&v->t);
			v->ready = false;
		}
	}
}

int oi__ev_run(ev_ctx *c, size_t upto)
{
	if (upto > c->n_nodes)
		upto = c->n_nodes;
	while (c->done < upto && !c->stop_msg[0]) {
		int rc = run_node(c, c->done);
		if (rc == 1)
			return 0;
		if (rc)
			return rc;
		release(c, c->done);
		c->done++;
	}
	return 0;
}

int oi__ev_rerun(ev_ctx *c, size_t first, size_t last)
{
	for (size_t i = first; i <= last && i < c->n_nodes && !c->stop_msg[0]; i++) {
		int rc = run_node(c, i);
		if (rc == 1)
			return 0;
		if (rc)
			return rc;
		if (i >= c->done)
			c->done = i + 1;
	}
	return 0;
}

void oi__ev_release(ev_ctx *c)
{
	if (c->keep_all)
		return;
	for (size_t i = 0; i < c->n_values; i++) {
		ev_value *v = &c->values[i];
		if (v->ready && v->producer >= 0 && v->last_use < (int64_t)c->done) {
			oi__ev_tensor_free(&v->t);
			v->ready = false;
		}
	}
}
