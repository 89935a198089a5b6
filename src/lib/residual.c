/* See residual.h. Paths are followed over data only: the inputs of nodes
 * that depend on the graph's inputs ("live" values), never over weights,
 * shapes or indices (an op's fixed tail), so that a Reshape whose shape is
 * computed, or a MatMul whose weight arrives through a Transpose, still has
 * one data input. Every walk is bounded by the graph's node order, which
 * ONNX makes topological. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "residual.h"
#include "schemes.h"
#include "untie.h"

/* What a node is to a branch: a conv/dense layer (it reads a weight), or a
 * norm (it reads a norm scale). */
enum { K_NONE = 0, K_LAYER, K_NORM };
/* A branch member's flags: its branch's last layer; a norm after it. */
enum { M_LAST = 1, M_CLOSE = 2 };

enum {
	MAX_CHAIN = 64,        /* values on a skip path looked at */
	MAX_SKIP_LAYERS = 2,   /* a skip path is walked past this many layers no further */
	MAX_LINK_VISITS = 256  /* nodes looked through from a fork for the block before */
};

typedef struct block {
	int32_t join, fork;    /* the Add node; the value both paths start from */
	int32_t layers;        /* conv/dense layers in the branch */
	bool closed;           /* a norm comes after its last layer */
	int32_t parent;        /* union-find of the blocks on one stream */
	int32_t place, size;   /* its place in its chain, from 1; the chain's blocks */
	const char *add;       /* the join's label, in the model's pool */
} block;

typedef struct rctx {
	oi_graph *g;
	oi_model *m;
	uint8_t *live;         /* per value: depends on a graph input */
	uint8_t *kind;         /* per node: K_* */
	uint32_t *vmark, *nmark, *inb; /* per value, node, node: walk stamps */
	uint32_t stamp;
	int32_t *join_of;      /* per node: the block it ends, or -1 */
	int32_t *member;       /* per node: the block in whose branch it is, or -1 */
	int32_t *index;        /* per node: residual_index */
	uint8_t *flags;        /* per node: M_* */
	block *blocks;
	size_t n_blocks, cap_blocks;
	int32_t *stack;
	size_t n_stack, cap_stack;
	int32_t *list;         /* a branch's nodes, in graph order */
	size_t n_list, cap_list;
} rctx;

/* The values met on a skip path candidate, from the Add's input back. */
typedef struct path {
	int32_t v[MAX_CHAIN];
	int32_t layers[MAX_CHAIN]; /* layers between the Add's input and v[k] */
	size_t n;
	int32_t bound;         /* the earliest node producing one of them; -1: an input */
} path;

static int32_t producer(const rctx *c, int32_t v)
{
	return c->g->values[v].producer;
}

/* Input k of node when it is data that depends on the graph's inputs. */
static int32_t live_input(const rctx *c, int32_t node, size_t k)
{
	const oi_op_def *def = c->g->nodes[node].def;
	if (def && (def->flags & OI_OP_FIXED_TAIL) && k >= def->fixed_from)
		return -1;
	int32_t v = oi__node_input(c->g, node, k);
	return v >= 0 && c->live[v] ? v : -1;
}

static size_t n_inputs(const rctx *c, int32_t node)
{
	return c->g->nodes[node].n->n_input;
}

static int push(rctx *c, int32_t x)
{
	if (OI_GROW(c->stack, c->n_stack, c->cap_stack))
		return OI_ENOMEM;
	c->stack[c->n_stack++] = x;
	return 0;
}

/* Push the live inputs of node not yet marked in this walk. */
static int push_inputs(rctx *c, int32_t node)
{
	for (size_t k = 0; k < n_inputs(c, node); k++) {
		int32_t w = live_input(c, node, k);
		if (w < 0 || c->vmark[w] == c->stamp)
			continue;
		c->vmark[w] = c->stamp;
		if (push(c, w))
			return OI_ENOMEM;
	}
	return 0;
}

/* ---- what the nodes and values are ------------------------------------- */

/* A value is live when it is a graph input or computed from one through
 * data inputs; a node with no inputs but a Constant is a generator. */
static void find_live(rctx *c)
{
	oi_graph *g = c->g;
	for (size_t v = 0; v < g->n_values; v++)
		c->live[v] = g->values[v].tensor < 0 && g->values[v].producer < 0;
	for (size_t i = 0; i < g->n_nodes; i++) {
		const Onnx__NodeProto *n = g->nodes[i].n;
		const oi_op_def *def = g->nodes[i].def;
		bool live = !n->n_input && !oi__node_is(g, (int32_t)i, OI_OP_CONSTANT);
		for (size_t k = 0; k < n->n_input && !live; k++) {
			if (def && (def->flags & OI_OP_FIXED_TAIL) && k >= def->fixed_from)
				break;
			int32_t v = oi__node_input(g, (int32_t)i, k);
			live = v >= 0 && c->live[v];
		}
		/* what a subgraph reads is not followed: its outputs may be anything */
		for (size_t a = 0; a < n->n_attribute && !live; a++)
			live = n->attribute[a]->g || n->attribute[a]->n_graphs;
		for (size_t o = 0; o < n->n_output; o++) {
			int32_t v = oi__node_output(g, (int32_t)i, o);
			if (v >= 0 && g->values[v].producer == (int32_t)i)
				c->live[v] = live;
		}
	}
}

static void set_kind(rctx *c, int32_t node, oi_role role)
{
	if (node < 0)
		return;
	if (oi__role_is_layer_weight(role))
		c->kind[node] = K_LAYER;
	else if (role == OI_ROLE_NORM_SCALE && c->kind[node] != K_LAYER)
		c->kind[node] = K_NORM;
}

/* Layers and norms by what they read: every reader of a tensor the
 * exporter shares (say, the zero weights of two folded convolutions) too. */
static void find_kinds(rctx *c)
{
	oi_model *m = c->m;
	for (size_t i = 0; i < m->n_tensors; i++)
		set_kind(c, m->tensors[i].role_node, m->tensors[i].role);
	const oi_reader *rd;
	for (size_t i = 0; (rd = oi__untie_reader(m, i)); i++)
		set_kind(c, rd->node, rd->role);
}

/* An Add, or a Sum of two. */
static bool is_join(const rctx *c, int32_t node)
{
	const oi_gnode *gn = &c->g->nodes[node];
	return gn->n->n_input == 2 &&
	       (oi__node_is(c->g, node, OI_OP_ADD) || (gn->std_domain && !strcmp(gn->op, "Sum")));
}

/* ---- the two paths of an Add -------------------------------------------- */

/* The straight run of one-data-input nodes back from v: the values a skip
 * path from a fork to v would pass. */
static void walk_path(const rctx *c, int32_t v, path *p)
{
	int32_t layers = 0;
	p->n = 0;
	p->bound = INT32_MAX;
	while (p->n < MAX_CHAIN) {
		p->v[p->n] = v;
		p->layers[p->n++] = layers;
		int32_t node = producer(c, v);
		if (node < 0) {
			p->bound = -1;
			return;
		}
		if (node < p->bound)
			p->bound = node;
		int32_t next = -1;
		for (size_t k = 0; k < n_inputs(c, node); k++) {
			int32_t w = live_input(c, node, k);
			if (w < 0 || w == next)
				continue;
			if (next >= 0)
				return; /* two data inputs: no skip path goes on through it */
			next = w;
		}
		if (next < 0 || (c->kind[node] == K_LAYER && ++layers > MAX_SKIP_LAYERS))
			return;
		v = next;
	}
}

/* Mark (vmark) v and every value it is computed from through nodes after
 * bound. */
static int mark_ancestors(rctx *c, int32_t v, int32_t bound)
{
	c->stamp++;
	c->n_stack = 0;
	c->vmark[v] = c->stamp;
	int rc = push(c, v);
	while (!rc && c->n_stack) {
		int32_t node = producer(c, c->stack[--c->n_stack]);
		if (node > bound)
			rc = push_inputs(c, node);
	}
	return rc;
}

/* The first value of p that other is computed from: where a skip path
 * along p would fork; -1 if none. */
static int first_fork(rctx *c, const path *p, int32_t other, int32_t *layers, int *rc)
{
	*rc = mark_ancestors(c, other, p->bound);
	for (size_t k = 0; k < p->n && !*rc; k++)
		if (c->vmark[p->v[k]] == c->stamp) {
			*layers = p->layers[k];
			return p->v[k];
		}
	return -1;
}

static int cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	return (x > y) - (x < y);
}

/* The nodes on the paths from fork to end, in graph order, into c->list;
 * inb[node] == c->stamp marks them. */
static int branch_nodes(rctx *c, int32_t fork, int32_t end)
{
	int32_t bound = producer(c, fork);
	c->stamp++;
	c->n_stack = c->n_list = 0;
	c->vmark[end] = c->stamp;
	int rc = push(c, end);
	while (!rc && c->n_stack) {
		int32_t node = producer(c, c->stack[--c->n_stack]);
		if (node <= bound || c->nmark[node] == c->stamp)
			continue;
		c->nmark[node] = c->stamp;
		rc = OI_GROW(c->list, c->n_list, c->cap_list);
		if (!rc) {
			c->list[c->n_list++] = node;
			rc = push_inputs(c, node);
		}
	}
	if (rc)
		return rc;
	qsort(c->list, c->n_list, sizeof *c->list, cmp_i32);
	size_t kept = 0;
	for (size_t i = 0; i < c->n_list; i++) {
		int32_t node = c->list[i];
		bool in = false;
		for (size_t k = 0; k < n_inputs(c, node) && !in; k++) {
			int32_t w = live_input(c, node, k);
			int32_t p = w >= 0 ? producer(c, w) : -1;
			in = w == fork || (p >= 0 && c->inb[p] == c->stamp);
		}
		if (in) {
			c->inb[node] = c->stamp;
			c->list[kept++] = node;
		}
	}
	c->n_list = kept;
	return 0;
}

/* ---- a block ------------------------------------------------------------ */

/* The branch's last layers, and the norms after them: back from its end,
 * through everything but a layer. */
static int find_last(rctx *c, block *b, int32_t id, int32_t end)
{
	uint32_t in_branch = c->stamp;
	c->stamp++;
	c->n_stack = 0;
	c->vmark[end] = c->stamp;
	int rc = push(c, end);
	while (!rc && c->n_stack) {
		int32_t node = producer(c, c->stack[--c->n_stack]);
		if (node < 0 || c->inb[node] != in_branch || c->nmark[node] == c->stamp)
			continue;
		c->nmark[node] = c->stamp;
		bool mine = c->member[node] == id;
		if (c->kind[node] == K_LAYER) {
			if (mine)
				c->flags[node] |= M_LAST;
			continue;
		}
		if (c->kind[node] == K_NORM && mine) {
			c->flags[node] |= M_CLOSE;
			b->closed = true;
		}
		rc = push_inputs(c, node);
	}
	return rc;
}

static int add_block(rctx *c, int32_t join, int32_t fork, int32_t end, int32_t layers)
{
	if (OI_GROW(c->blocks, c->n_blocks, c->cap_blocks))
		return OI_ENOMEM;
	int32_t id = (int32_t)c->n_blocks++;
	block *b = &c->blocks[id];
	*b = (block){ .join = join, .fork = fork, .layers = layers, .parent = id };
	b->add = oi__model_strdup(c->m, c->g->nodes[join].label);
	if (!b->add)
		return OI_ENOMEM;
	c->join_of[join] = id;
	int32_t k = 0;
	for (size_t i = 0; i < c->n_list; i++) {
		int32_t node = c->list[i];
		if (c->kind[node] == K_NONE || c->member[node] >= 0)
			continue;
		k += c->kind[node] == K_LAYER;
		c->member[node] = id;
		c->index[node] = k;
	}
	return find_last(c, b, id, end);
}

/* An Add that may or may not be a block: said by a plan that has a residual
 * mode (a model looked at or planned without one has nothing to hear), so
 * kept on the tensors of one of its paths (c->list) until then. */
static int ambiguous(rctx *c, int32_t join, int32_t fork, int32_t a, int32_t b)
{
	const oi_gnode *gn = &c->g->nodes[join];
	char *msg = oi__asprintf("node '%s' (%s): the paths from '%s' to its inputs have %d and "
	                         "%d conv/dense layers, and neither is a skip path (none, or one "
	                         "layer, and fewer than the other); it is taken for no residual "
	                         "block, and those layers keep the plain scheme", gn->label,
	                         gn->op, c->g->values[fork].name, a, b);
	const char *note = msg ? oi__model_keep(c->m, msg) : NULL;
	if (!note)
		return OI_ENOMEM;
	for (size_t i = 0; i < c->m->n_tensors; i++) { /* inb marks c->list */
		oi_tensor *t = &c->m->tensors[i];
		if (t->role_node >= 0 && c->inb[t->role_node] == c->stamp && !t->residual_note)
			t->residual_note = note;
	}
	return 0;
}

/* Whether the Add join ends a residual block, and which. */
static int consider(rctx *c, int32_t join)
{
	int32_t in[2] = { live_input(c, join, 0), live_input(c, join, 1) };
	if (in[0] < 0 || in[1] < 0 || in[0] == in[1])
		return 0;
	path p;
	int32_t fork[2], skip[2] = { 0, 0 };
	int rc = 0;
	for (int s = 0; s < 2 && !rc; s++) {
		walk_path(c, in[s], &p);
		fork[s] = first_fork(c, &p, in[1 - s], &skip[s], &rc);
	}
	if (rc || (fork[0] < 0 && fork[1] < 0))
		return rc;
	int s = fork[1] < 0 || (fork[0] >= 0 && skip[0] <= skip[1]) ? 0 : 1;
	rc = branch_nodes(c, fork[s], in[1 - s]);
	if (rc)
		return rc;
	int32_t layers = 0;
	for (size_t i = 0; i < c->n_list; i++) {
		if (c->join_of[c->list[i]] >= 0)
			return 0; /* blocks inside: a long skip over a stream, not a block */
		layers += c->kind[c->list[i]] == K_LAYER;
	}
	if (!layers)
		return 0; /* a sum of two things, e.g. of two embeddings */
	bool tie = fork[0] >= 0 && fork[1] >= 0 && skip[0] == skip[1];
	if (tie || skip[s] > 1 || skip[s] >= layers)
		return ambiguous(c, join, fork[s], skip[s], tie ? skip[1 - s] : layers);
	return add_block(c, join, fork[s], in[1 - s], layers);
}

/* ---- chains ------------------------------------------------------------- */

static int32_t root(rctx *c, int32_t b)
{
	while (c->blocks[b].parent != b)
		b = c->blocks[b].parent = c->blocks[c->blocks[b].parent].parent;
	return b;
}

/* The nearest block whose Add the fork of b is computed from through ops
 * that are no layers (a ReLU, a norm), or -1. */
static int32_t block_before(rctx *c, int32_t b, int *rc)
{
	c->stamp++;
	c->n_stack = 0;
	int32_t fork = c->blocks[b].fork, best = -1;
	c->vmark[fork] = c->stamp;
	*rc = push(c, fork);
	for (int visits = 0; !*rc && c->n_stack && visits < MAX_LINK_VISITS; visits++) {
		int32_t node = producer(c, c->stack[--c->n_stack]);
		if (node < 0)
			continue;
		int32_t j = c->join_of[node];
		if (j >= 0 && j != b) {
			if (best < 0 || c->blocks[j].join > c->blocks[best].join)
				best = j;
			continue;
		}
		if (c->kind[node] != K_LAYER)
			*rc = push_inputs(c, node);
	}
	return best;
}

static int link_chains(rctx *c)
{
	int rc = 0;
	for (size_t b = 0; b < c->n_blocks && !rc; b++) {
		int32_t before = block_before(c, (int32_t)b, &rc);
		if (before >= 0)
			c->blocks[root(c, (int32_t)b)].parent = root(c, before);
	}
	/* blocks were found in graph order: number them so in each chain */
	for (size_t b = 0; b < c->n_blocks; b++)
		c->blocks[b].size = 0;
	for (size_t b = 0; b < c->n_blocks; b++)
		c->blocks[b].place = ++c->blocks[root(c, (int32_t)b)].size;
	return rc;
}

/* ---- the tensors -------------------------------------------------------- */

void oi__residual_forget(oi_tensor *t)
{
	oi_tensor_info *i = &t->info;
	t->residual = 0;
	t->residual_note = NULL;
	i->residual_block = i->residual_blocks = i->residual_index = i->residual_length = 0;
	i->residual_last = 0;
	i->residual_add = NULL;
}

/* A decomposed norm's shift is added after its scale's Mul. */
static int32_t norm_before(const rctx *c, int32_t node)
{
	for (size_t k = 0; k < n_inputs(c, node); k++) {
		int32_t w = live_input(c, node, k);
		int32_t p = w >= 0 ? producer(c, w) : -1;
		if (p >= 0 && c->kind[p] == K_NORM && c->member[p] >= 0)
			return p;
	}
	return -1;
}

static void tag_tensor(rctx *c, oi_tensor *t, int32_t classifier)
{
	bool weight = oi__role_is_layer_weight(t->role), bias = t->role == OI_ROLE_BIAS;
	int32_t node = bias && t->layer_node >= 0 ? t->layer_node : t->role_node;
	if (node < 0)
		return;
	if (node == classifier && (weight || bias))
		t->residual |= OI_RES_CLASSIFIER;
	if (c->member[node] < 0 && t->role == OI_ROLE_NORM_BIAS)
		node = norm_before(c, node);
	if (node < 0 || c->member[node] < 0)
		return;
	const block *b = &c->blocks[c->member[node]];
	unsigned fl = c->flags[node];
	bool layer = c->kind[node] == K_LAYER;
	oi_tensor_info *i = &t->info;
	i->residual_block = b->place;
	i->residual_blocks = c->blocks[root(c, c->member[node])].size;
	i->residual_index = c->index[node];
	i->residual_length = b->layers;
	i->residual_last = fl != 0;
	i->residual_add = b->add;
	if (layer && weight)
		t->residual |= fl & M_LAST ? OI_RES_LAST : OI_RES_BRANCH;
	if (layer && bias && (fl & M_LAST))
		t->residual |= OI_RES_LAST_BIAS;
	if (b->closed ? !layer && (fl & M_CLOSE) && t->role == OI_ROLE_NORM_SCALE
	              : layer && (fl & M_LAST) && (weight || bias))
		t->residual |= OI_RES_ZERO;
}

static void tag_tensors(rctx *c)
{
	oi_model *m = c->m;
	/* the classifier: the last dense layer, when it is in no branch */
	int32_t classifier = -1;
	for (size_t i = 0; i < m->n_tensors; i++)
		if (m->tensors[i].role == OI_ROLE_DENSE_WEIGHT && m->tensors[i].role_node > classifier)
			classifier = m->tensors[i].role_node;
	if (!c->n_blocks || (classifier >= 0 && c->member[classifier] >= 0))
		classifier = -1;
	for (size_t i = 0; i < m->n_tensors; i++)
		tag_tensor(c, &m->tensors[i], classifier);
}

static void free_ctx(rctx *c)
{
	free(c->live);
	free(c->kind);
	free(c->vmark);
	free(c->nmark);
	free(c->inb);
	free(c->join_of);
	free(c->member);
	free(c->index);
	free(c->flags);
	free(c->blocks);
	free(c->stack);
	free(c->list);
}

int oi__residual_find(oi_graph *g)
{
	oi_model *m = g->m;
	for (size_t i = 0; i < m->n_tensors; i++)
		oi__residual_forget(&m->tensors[i]);
	size_t nv = g->n_values ? g->n_values : 1, nn = g->n_nodes ? g->n_nodes : 1;
	rctx c = { .g = g, .m = m };
	c.live = oi__calloc(nv, 1);
	c.kind = oi__calloc(nn, 1);
	c.vmark = oi__calloc(nv, sizeof *c.vmark);
	c.nmark = oi__calloc(nn, sizeof *c.nmark);
	c.inb = oi__calloc(nn, sizeof *c.inb);
	c.join_of = oi__calloc(nn, sizeof *c.join_of);
	c.member = oi__calloc(nn, sizeof *c.member);
	c.index = oi__calloc(nn, sizeof *c.index);
	c.flags = oi__calloc(nn, 1);
	int rc = c.live && c.kind && c.vmark && c.nmark && c.inb && c.join_of && c.member &&
	         c.index && c.flags ? 0 : OI_ENOMEM;
	for (size_t i = 0; i < g->n_nodes && !rc; i++)
		c.join_of[i] = c.member[i] = -1;
	if (!rc) {
		find_live(&c);
		find_kinds(&c);
	}
	for (size_t i = 0; i < g->n_nodes && !rc; i++)
		if (is_join(&c, (int32_t)i))
			rc = consider(&c, (int32_t)i);
	if (!rc)
		rc = link_chains(&c);
	if (!rc)
		tag_tensors(&c);
	free_ctx(&c);
	return rc;
}

bool oi__residual_any(const oi_model *m)
{
	for (size_t i = 0; i < m->n_tensors; i++)
		if (m->tensors[i].info.residual_block > 0)
			return true;
	return false;
}

int oi__residual_notes(oi_model *m)
{
	oi_strset said = { 0 };
	int rc = 0;
	for (size_t i = 0; i < m->n_tensors && !rc; i++) {
		const char *note = m->tensors[i].residual_note;
		if (note && (rc = oi__strset_add(&said, note)) == 1)
			rc = oi__warn(m, "%s", note);
	}
	oi__strset_free(&said);
	return rc < 0 ? rc : 0;
}

/* ---- the plan ----------------------------------------------------------- */

const char *oi_residual_name(oi_residual mode)
{
	static const char *const names[] = { "default", "none", "zero", "scaled", "fixup" };
	return (unsigned)mode < sizeof names / sizeof *names ? names[mode] : "unknown";
}

/* The fill's values times k (k > 0); false for a fill that has no scale. */
static bool scale_fill(oi_fill *f, double k)
{
	switch (f->kind) {
	case OI_FILL_CONST:
	case OI_FILL_ORTHOGONAL: /* the gain */
		f->p[0] *= k;
		break;
	case OI_FILL_UNIFORM:
	case OI_FILL_NORMAL:
		f->p[0] *= k;
		f->p[1] *= k;
		break;
	case OI_FILL_TRUNC:
		for (int i = 0; i < 4; i++)
			f->p[i] *= k;
		break;
	case OI_FILL_SPARSE:
		f->p[1] *= k;
		break;
	default:
		return false;
	}
	f->std *= k;
	f->bound *= k;
	return true;
}

/* f->desc = "SCHEME·WHY": the values of SCHEME, changed as WHY says. */
static void describe(oi_fill *f, const char *scheme, const char *why)
{
	char base[sizeof f->desc]; /* scheme may be f->desc */
	size_t n = strlen(scheme) < sizeof base ? strlen(scheme) : sizeof base - 1;
	memcpy(base, scheme, n);
	base[n] = 0;
	if (snprintf(f->desc, sizeof f->desc, "%s\xc2\xb7%s", base, why) >= (int)sizeof f->desc)
		f->desc[sizeof f->desc - 1] = 0; /* cut short: what fits is said */
}

static void set_zeros(oi_fill *f, bool *keep, const char *why)
{
	memset(f, 0, sizeof *f);
	f->kind = OI_FILL_CONST;
	describe(f, "zeros", why);
	*keep = false;
}

int oi__residual_adjust(oi_model *m, const oi_tensor *t, oi_residual mode, uint64_t seed,
                        oi_fill *f, bool *keep)
{
	const oi_tensor_info *i = &t->info;
	unsigned r = t->residual;
	int blocks = i->residual_blocks, layers = i->residual_length;
	if (mode == OI_RESIDUAL_ZERO && (r & OI_RES_ZERO)) {
		set_zeros(f, keep, "residual_zero");
	} else if (mode == OI_RESIDUAL_FIXUP &&
	           (r & (OI_RES_LAST | OI_RES_LAST_BIAS | OI_RES_CLASSIFIER))) {
		set_zeros(f, keep, "residual_fixup");
	} else if (mode == OI_RESIDUAL_SCALED && (r & OI_RES_LAST) && !*keep && blocks > 0) {
		if (!scale_fill(f, 1.0 / sqrt((double)blocks)))
			return oi__warn(m, "residual mode 'scaled': '%s' (%s) cannot be scaled; it keeps "
			                "its scheme", i->name, f->desc);
		char why[48];
		snprintf(why, sizeof why, "residual_scaled(1/\xe2\x88\x9a%d)", blocks);
		describe(f, f->desc, why);
	} else if (mode == OI_RESIDUAL_FIXUP && (r & OI_RES_BRANCH) && layers > 1) {
		/* He et al.'s N(0, 2/fan_out), as the Fixup code draws its branches */
		oi_spec s;
		oi_fill g;
		int rc = oi__spec_parse("kaiming_normal(mode=fan_out,nonlinearity=relu)", &s);
		if (!rc)
			rc = oi__resolve_scheme(t, &s, m->fan_convention, seed, &g);
		if (rc == OI_EARG)
			return oi__warn(m, "residual mode 'fixup': %s; it keeps its scheme",
			                oi_last_error());
		if (rc)
			return rc;
		scale_fill(&g, pow((double)blocks, -1.0 / (2.0 * layers - 2.0)));
		char why[48];
		snprintf(why, sizeof why, "residual_fixup(%d^(-1/%d))", blocks, 2 * layers - 2);
		describe(&g, g.desc, why);
		*f = g;
		*keep = false;
	}
	return 0;
}
