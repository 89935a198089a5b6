/* Matching a model's tensors to a donor's, and the transform that makes
 * each fit. For each target tensor the first method that finds a donor
 * tensor decides: the map, the same name, the PyTorch module path of the
 * consuming node's scope, the same place in an ONNX donor's graph. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "donor.h"
#include "../fill.h"
#include "../graph.h"
#include "../untie.h"
#include "../tensor.h"

typedef struct use {
	uint32_t tensor, node, slot;
} use;

struct oi_donor_plan {
	const oi_donor *d;
	double eps;
	bool untie;           /* see oi__donor_plan_begin */
	uint8_t *used;        /* per donor tensor */
	size_t *names;        /* target tensors (main name space) by name */
	size_t n_names;
	use *uses;            /* direct readers, sorted by tensor */
	size_t n_uses;
	uint32_t *ord;        /* per node: its place among nodes of its op type */
	oi_strset bn_inputs;  /* names BatchNormalization nodes normalize */
	size_t matched;
};

static const oi_model *sort_model;
static int by_tname(const void *a, const void *b)
{
	return strcmp(sort_model->tensors[*(const size_t *)a].info.name,
	              sort_model->tensors[*(const size_t *)b].info.name);
}

static int by_use(const void *a, const void *b)
{
	const use *x = a, *y = b;
	if (x->tensor != y->tensor)
		return x->tensor < y->tensor ? -1 : 1;
	if (x->node != y->node)
		return x->node < y->node ? -1 : 1;
	return x->slot < y->slot ? -1 : x->slot > y->slot;
}

static long find_tensor(const oi_model *m, const oi_donor_plan *p, const char *name)
{
	size_t lo = 0, hi = p->n_names;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(m->tensors[p->names[mid]].info.name, name);
		if (!c)
			return (long)p->names[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static pthread_mutex_t sort_lock = PTHREAD_MUTEX_INITIALIZER;

static int index_target(oi_model *m, oi_donor_plan *p)
{
	p->names = oi__calloc(m->n_tensors ? m->n_tensors : 1, sizeof *p->names);
	p->ord = oi__calloc(m->n_nodes ? m->n_nodes : 1, sizeof *p->ord);
	if (!p->names || !p->ord)
		return OI_ENOMEM;
	for (size_t i = 0; i < m->n_tensors; i++)
		if (m->tensors[i].ns == 0 && m->tensors[i].addressable)
			p->names[p->n_names++] = i;
	pthread_mutex_lock(&sort_lock);
	sort_model = m;
	qsort(p->names, p->n_names, sizeof *p->names, by_tname);
	pthread_mutex_unlock(&sort_lock);
	size_t cap = 0, n_alias = 0, cap_alias = 0;
	/* an exporter's Identity copies of a shared initializer read as it */
	struct alias { const char *name; long t; } *alias = NULL;
	for (size_t k = 0; k < m->n_nodes; k++) {
		const Onnx__NodeProto *n = m->nodes[k].n;
		if (m->nodes[k].ns != 0)
			continue;
		uint32_t o = 0;
		for (size_t j = 0; j < k; j++)
			o += m->nodes[j].ns == 0 && !strcmp(m->nodes[j].n->op_type, n->op_type);
		p->ord[k] = o;
		if (!strcmp(n->op_type, "BatchNormalization") && n->n_input &&
		    oi__strset_add(&p->bn_inputs, n->input[0]) < 0)
			return OI_ENOMEM;
		for (size_t j = 0; j < n->n_input; j++) {
			long t = *n->input[j] ? find_tensor(m, p, n->input[j]) : -1;
			for (size_t a = 0; t < 0 && *n->input[j] && a < n_alias; a++)
				if (!strcmp(alias[a].name, n->input[j]))
					t = alias[a].t;
			if (t < 0)
				continue;
			if (!strcmp(n->op_type, "Identity") && n->n_output == 1) {
				if (OI_GROW(alias, n_alias, cap_alias)) {
					free(alias);
					return OI_ENOMEM;
				}
				alias[n_alias++] = (struct alias){ n->output[0], t };
				continue;
			}
			if (OI_GROW(p->uses, p->n_uses, cap)) {
				free(alias);
				return OI_ENOMEM;
			}
			p->uses[p->n_uses++] = (use){ (uint32_t)t, (uint32_t)k, (uint32_t)j };
		}
	}
	free(alias);
	qsort(p->uses, p->n_uses, sizeof *p->uses, by_use);
	return 0;
}

int oi__donor_plan_begin(oi_model *m, const oi_donor *d, double eps, bool untie,
                         oi_donor_plan **out)
{
	oi_donor_plan *p = oi__calloc(1, sizeof *p);
	if (!p)
		return OI_ENOMEM;
	p->d = d;
	p->eps = eps > 0 ? eps : 1e-5;
	p->untie = untie;
	p->used = oi__calloc(d->n ? d->n : 1, 1);
	int rc = p->used ? index_target(m, p) : OI_ENOMEM;
	if (rc) {
		oi__donor_plan_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void oi__donor_plan_free(oi_donor_plan *p)
{
	if (!p)
		return;
	free(p->used);
	free(p->names);
	free(p->uses);
	free(p->ord);
	oi__strset_free(&p->bn_inputs);
	free(p);
}

/* ---- names -------------------------------------------------------------- */

bool oi__module_path(const char *node, char *out, size_t cap)
{
	if (!node || node[0] != '/')
		return false;
	const char *last = strrchr(node, '/');
	size_t o = 0;
	char prev[256] = "";
	const char *s = node + 1;
	while (s < last) {
		const char *e = strchr(s, '/');
		size_t n = (size_t)(e - s);
		if (!n || n >= sizeof prev)
			return false;
		/* "/layer1/layer1.0/conv1": a component that repeats its parent's
		 * name adds only what follows it */
		const char *seg = s;
		size_t pl = strlen(prev);
		if (pl && n > pl + 1 && !strncmp(s, prev, pl) && s[pl] == '.') {
			seg = s + pl + 1;
		}
		size_t sl = n - (size_t)(seg - s);
		if (o + sl + 2 > cap)
			return false;
		if (o)
			out[o++] = '.';
		memcpy(out + o, seg, sl);
		o += sl;
		memcpy(prev, s, n);
		prev[n] = 0;
		s = e + 1;
	}
	out[o] = 0;
	return o > 0;
}

bool oi__glob_capture(const char *g, const char *s, char *cap, size_t capn)
{
	const char *star = strchr(g, '*');
	if (!star) {
		if (strcmp(g, s))
			return false;
		if (capn)
			cap[0] = 0;
		return true;
	}
	size_t pre = (size_t)(star - g);
	if (strncmp(g, s, pre))
		return false;
	const char *rest = star + 1;
	/* the capture is the shortest that lets the rest match (fnmatch-like:
	 * a later '*' matches anything, '?' one character) */
	size_t sl = strlen(s);
	for (size_t k = pre; k <= sl; k++) {
		const char *a = rest, *b = s + k;
		bool ok = true;
		const char *bt_a = NULL, *bt_b = NULL;
		while (*b || *a) {
			if (*a == '*') {
				bt_a = ++a;
				bt_b = b;
				continue;
			}
			if (*b && (*a == '?' || *a == *b)) {
				a++;
				b++;
				continue;
			}
			if (bt_a && *bt_b) {
				a = bt_a;
				b = ++bt_b;
				continue;
			}
			ok = false;
			break;
		}
		if (ok) {
			size_t n = k - pre < capn - 1 ? k - pre : capn - 1;
			memcpy(cap, s + pre, n);
			cap[n] = 0;
			return true;
		}
	}
	return false;
}

static void subst(const char *val, const char *cap, char *out, size_t n)
{
	const char *star = strchr(val, '*');
	if (star)
		snprintf(out, n, "%.*s%s%s", (int)(star - val), val, cap, star + 1);
	else
		snprintf(out, n, "%s", val);
}

/* ---- proposals ---------------------------------------------------------- */

enum { M_MAP, M_NAME, M_MODULE, M_POSITION };
static const char *const method_names[] = { "map", "name", "module", "position" };

typedef struct proposal {
	bool hit;               /* a donor tensor was found */
	bool fits;
	char why[400];          /* mismatched: why */
	oi_donor_src src;
	const oi_donor_tensor *donors[6];
	size_t n_donors;
	const char *transforms[3];
	size_t n_transforms;
	double *vals;           /* VALUES / scale: malloc'd, into the pool when used */
} proposal;

static void shape_text(const int64_t *dims, size_t nd, char *out, size_t n)
{
	size_t o = (size_t)snprintf(out, n, "[");
	for (size_t i = 0; i < nd && o < n - 24; i++)
		o += (size_t)snprintf(out + o, n - o, "%s%lld", i ? "," : "", (long long)dims[i]);
	snprintf(out + o, n - o, "]");
}

static void mismatch(proposal *pr, const oi_tensor *t, const oi_donor_tensor *d,
                     const char *what)
{
	char a[128], b[128];
	shape_text(t->info.dims, t->info.ndim, a, sizeof a);
	shape_text(d->dims, d->ndim, b, sizeof b);
	pr->hit = true;
	pr->fits = false;
	if (what)
		snprintf(pr->why, sizeof pr->why, "%s", what);
	else
		snprintf(pr->why, sizeof pr->why, "shape %s, donor '%s' has %s", a, d->name, b);
	pr->donors[0] = d;
	pr->n_donors = 1;
}

/* Shapes equal but for dimensions of 1 (a PReLU slope (C) into (C,1,1)). */
static bool same_squeezed(const int64_t *a, size_t na, const int64_t *b, size_t nb)
{
	size_t i = 0, j = 0;
	for (;;) {
		while (i < na && a[i] == 1)
			i++;
		while (j < nb && b[j] == 1)
			j++;
		if (i == na || j == nb)
			return i == na && j == nb;
		if (a[i++] != b[j++])
			return false;
	}
}

static void add_cast(proposal *pr, const oi_tensor *t)
{
	for (size_t i = 0; i < pr->n_donors; i++)
		if (pr->donors[i]->orig_dtype != t->info.dtype) {
			pr->transforms[pr->n_transforms++] = "cast";
			return;
		}
}

/* One donor tensor as it is, or transposed into a MatMul operand. */
static void fit_one(proposal *pr, const oi_tensor *t, const oi_donor_tensor *d, bool transpose_ok)
{
	pr->hit = true;
	pr->donors[0] = d;
	pr->n_donors = 1;
	if (!oi__donor_dtype_usable(d->dtype)) {
		mismatch(pr, t, d, NULL);
		snprintf(pr->why, sizeof pr->why, "donor '%s' is %s, which cannot be cast", d->name,
		         oi_dtype_name(d->orig_dtype));
		return;
	}
	const oi_tensor_info *i = &t->info;
	if (d->numel == i->numel && same_squeezed(i->dims, i->ndim, d->dims, d->ndim)) {
		pr->fits = true;
		pr->src.kind = OI_DT_COPY;
		pr->src.a = d;
	} else if (transpose_ok && i->ndim == 2 && d->ndim == 2 && i->dims[0] == d->dims[1] &&
	           i->dims[1] == d->dims[0]) {
		pr->fits = true;
		pr->src.kind = OI_DT_TRANSPOSE;
		pr->src.a = d;
		pr->src.rows = (uint64_t)d->dims[0];
		pr->src.cols = (uint64_t)d->dims[1];
		pr->transforms[pr->n_transforms++] = "transpose";
	} else {
		mismatch(pr, t, d, NULL);
		return;
	}
	add_cast(pr, t);
}

static const oi_donor_tensor *dget(const oi_donor *d, const char *a, const char *b)
{
	char name[600];
	snprintf(name, sizeof name, "%s%s", a, b);
	return oi__donor_find(d, name);
}

/* The BatchNorm a state_dict has after module mod (channels c): the next
 * index of a Sequential, convN's bnN, or the next norm in the donor's
 * order; its name into bn. */
static bool find_bn(const oi_donor *d, const char *mod, int64_t c, char *bn, size_t cap)
{
	char cand[3][512];
	size_t nc = 0;
	const char *dot = strrchr(mod, '.'), *last = dot ? dot + 1 : mod;
	char *end;
	long k = strtol(last, &end, 10);
	if (*last && !*end && k >= 0)
		snprintf(cand[nc++], sizeof cand[0], "%.*s%ld", (int)(last - mod), mod, k + 1);
	const char *cv = strstr(last, "conv");
	if (cv)
		snprintf(cand[nc++], sizeof cand[0], "%.*sbn%s", (int)(cv - mod), mod, cv + 4);
	const oi_donor_tensor *w = dget(d, mod, ".weight");
	if (d->ordered && w) {
		for (size_t i = (size_t)(w - d->t) + 1; i < d->n; i++) {
			const char *n = d->t[i].name;
			size_t l = strlen(n);
			if (l > 12 && !strcmp(n + l - 12, ".running_var")) {
				snprintf(cand[nc++], sizeof cand[0], "%.*s", (int)(l - 12), n);
				break;
			}
			if (d->t[i].ndim >= 2 && l > 7 && !strcmp(n + l - 7, ".weight"))
				break;
		}
	}
	for (size_t i = 0; i < nc; i++) {
		const oi_donor_tensor *mu = dget(d, cand[i], ".running_mean");
		const oi_donor_tensor *var = dget(d, cand[i], ".running_var");
		if (mu && var && mu->numel == (uint64_t)c && var->numel == (uint64_t)c) {
			snprintf(bn, cap, "%s", cand[i]);
			return true;
		}
	}
	return false;
}

static double elem_or(const oi_donor_tensor *t, uint64_t i, double dflt)
{
	return t ? oi__donor_elem(t, i) : dflt;
}

/* The epsilon of an ONNX donor's BatchNormalization node that reads the
 * running mean mean (its attribute, ONNX's 1e-5 if absent); dflt if the
 * donor is no ONNX model or has no such node. */
static double onnx_bn_eps(const oi_donor *d, const char *mean, double dflt)
{
	const oi_model *dm = d->onnx;
	for (size_t i = 0; dm && i < dm->n_nodes; i++) {
		const Onnx__NodeProto *n = dm->nodes[i].n;
		if (strcmp(n->op_type, "BatchNormalization") || n->n_input < 5 || strcmp(n->input[3], mean))
			continue;
		const Onnx__AttributeProto *a = oi__node_attr(n, "epsilon");
		return a && a->has_f ? (double)a->f : 1e-5;
	}
	return dflt;
}

/* A folded export's Conv/Gemm weight or bias from the donor's layer mod
 * and the BatchNorm bn after it. */
static int fold(proposal *pr, const oi_tensor *t, const oi_donor_plan *p, const char *mod,
                const char *bn, bool bias)
{
	const oi_donor *d = p->d;
	const oi_donor_tensor *g = dget(d, bn, ".weight"), *be = dget(d, bn, ".bias");
	const oi_donor_tensor *mu = dget(d, bn, ".running_mean"), *var = dget(d, bn, ".running_var");
	/* the donor's own word, where it has one, beats --bn-eps */
	double eps = onnx_bn_eps(d, mu->name, p->eps);
	const oi_donor_tensor *w = dget(d, mod, ".weight"), *b = dget(d, mod, ".bias");
	uint64_t c = mu->numel;
	if (!w)
		return 0;
	pr->hit = true;
	if ((g && g->numel != c) || (be && be->numel != c)) {
		mismatch(pr, t, mu, "the donor's BatchNorm tensors disagree on channels");
		return 0;
	}
	double *scale = malloc(c * sizeof *scale * 2 + 1);
	if (!scale)
		return oi__fail(OI_ENOMEM, "out of memory");
	for (uint64_t i = 0; i < c; i++)
		scale[i] = elem_or(g, i, 1.0) / sqrt(oi__donor_elem(var, i) + eps);
	pr->n_donors = 0;
	if (!bias) {
		if (w->numel != t->info.numel || w->ndim != t->info.ndim || (uint64_t)w->dims[0] != c ||
		    memcmp(w->dims, t->info.dims, w->ndim * sizeof *w->dims)) {
			free(scale);
			mismatch(pr, t, w, NULL);
			return 0;
		}
		pr->src.kind = OI_DT_SCALE_ROWS;
		pr->src.a = w;
		pr->src.scale = scale;
		pr->src.per = w->numel / c;
		pr->donors[pr->n_donors++] = w;
	} else {
		if (t->info.numel != c || (b && b->numel != c)) {
			free(scale);
			mismatch(pr, t, mu, NULL);
			return 0;
		}
		double *v = scale + c;
		for (uint64_t i = 0; i < c; i++)
			v[i] = (elem_or(b, i, 0.0) - oi__donor_elem(mu, i)) * scale[i] + elem_or(be, i, 0.0);
		memmove(scale, v, c * sizeof *v);
		pr->src.kind = OI_DT_VALUES;
		pr->src.vals = scale;
		if (b)
			pr->donors[pr->n_donors++] = b;
	}
	pr->vals = scale;
	if (g)
		pr->donors[pr->n_donors++] = g;
	if (be && bias)
		pr->donors[pr->n_donors++] = be;
	if (bias)
		pr->donors[pr->n_donors++] = mu;
	pr->donors[pr->n_donors++] = var;
	pr->fits = true;
	pr->transforms[pr->n_transforms++] = "fold_bn";
	add_cast(pr, t);
	return 0;
}

/* ONNX W, R, B of an LSTM/GRU/RNN from PyTorch's per-layer tensors. */
static void rnn_gates(proposal *pr, const oi_tensor *t, const oi_donor *d, const char *mod,
                      const char *op, uint32_t slot, uint32_t layer)
{
	int gates = !strcmp(op, "LSTM") ? 4 : !strcmp(op, "GRU") ? 3 : 1;
	static const int lstm[4] = { 0, 3, 1, 2 }, gru[3] = { 1, 0, 2 }, rnn[1] = { 0 };
	const int *perm = gates == 4 ? lstm : gates == 3 ? gru : rnn;
	const oi_tensor_info *i = &t->info;
	if (slot < 1 || slot > 3 || i->ndim < 2 || i->dims[0] < 1 || i->dims[0] > 2)
		return;
	uint64_t dirs = (uint64_t)i->dims[0];
	uint64_t gh = slot == 3 ? (uint64_t)i->dims[1] / 2 : (uint64_t)i->dims[1];
	uint64_t h = gh / (uint64_t)gates;
	uint64_t cols = slot == 3 ? 1 : (i->ndim == 3 ? (uint64_t)i->dims[2] : 0);
	const char *kinds[2] = { slot == 1 ? "weight_ih" : slot == 2 ? "weight_hh" : "bias_ih",
		                 slot == 3 ? "bias_hh" : NULL };
	oi_donor_src *s = &pr->src;
	memset(s, 0, sizeof *s);
	s->kind = OI_DT_GATES;
	s->hidden = h;
	s->gate_cols = cols;
	s->part_len = gh * cols;
	memcpy(s->perm, perm, (size_t)gates * sizeof *perm);
	size_t found = 0;
	for (uint64_t dir = 0; dir < dirs; dir++)
		for (int k = 0; k < (slot == 3 ? 2 : 1); k++) {
			char name[600];
			snprintf(name, sizeof name, "%s.%s_l%u%s", mod, kinds[k], layer,
			         dir ? "_reverse" : "");
			const oi_donor_tensor *x = oi__donor_find(d, name);
			s->part[dir * (slot == 3 ? 2 : 1) + (uint64_t)k] = x;
			if (!x)
				continue;
			found++;
			pr->hit = true;
			pr->donors[pr->n_donors++] = x;
			if (x->numel != s->part_len || !oi__donor_dtype_usable(x->dtype)) {
				char why[400];
				char a[128];
				shape_text(x->dims, x->ndim, a, sizeof a);
				snprintf(why, sizeof why, "donor '%s' has shape %s, not what %s %s of %llu "
				         "hidden units takes", x->name, a, op,
				         slot == 1 ? "W" : slot == 2 ? "R" : "B", (unsigned long long)h);
				mismatch(pr, t, x, why);
				return;
			}
		}
	if (!found)
		return;
	if (found < (slot == 3 ? 2 : 1) * dirs && slot != 3) {
		mismatch(pr, t, pr->donors[0], "the donor lacks a direction of this layer");
		return;
	}
	pr->fits = true;
	pr->transforms[pr->n_transforms++] = "rnn_gates";
	add_cast(pr, t);
}

static const char *param_of(oi_role r)
{
	switch (r) {
	case OI_ROLE_CONV_WEIGHT: case OI_ROLE_CONV_TRANSPOSE_WEIGHT: case OI_ROLE_DENSE_WEIGHT:
	case OI_ROLE_EMBEDDING: case OI_ROLE_NORM_SCALE: case OI_ROLE_PRELU_SLOPE:
	case OI_ROLE_LEARNABLE_OTHER:
		return "weight";
	case OI_ROLE_BIAS: case OI_ROLE_NORM_BIAS: return "bias";
	case OI_ROLE_NORM_MEAN: return "running_mean";
	case OI_ROLE_NORM_VAR: return "running_var";
	default: return NULL;
	}
}

/* The first direct reader of t, or NULL. */
static const use *first_use(const oi_donor_plan *p, size_t ti)
{
	size_t lo = 0, hi = p->n_uses;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (p->uses[mid].tensor < ti)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < p->n_uses && p->uses[lo].tensor == ti ? &p->uses[lo] : NULL;
}

static uint32_t rnn_layer(const oi_model *m, uint32_t node, const char *mod)
{
	uint32_t k = 0;
	const char *op = m->nodes[node].n->op_type;
	for (uint32_t j = 0; j < node; j++) {
		char mp[512];
		if (m->nodes[j].ns == 0 && !strcmp(m->nodes[j].n->op_type, op) &&
		    oi__module_path(m->nodes[j].n->name, mp, sizeof mp) && !strcmp(mp, mod))
			k++;
	}
	return k;
}

static int by_module(oi_model *m, oi_donor_plan *p, oi_tensor *t, const use *u,
                     proposal *pr)
{
	const char *node = u ? m->nodes[u->node].n->name : t->info.node;
	char mod[512];
	if (!oi__module_path(node, mod, sizeof mod))
		return 0;
	const char *op = u ? m->nodes[u->node].n->op_type : t->info.op ? t->info.op : "";
	if (t->role == OI_ROLE_RNN_INPUT_WEIGHT || t->role == OI_ROLE_RNN_RECURRENT_WEIGHT ||
	    t->role == OI_ROLE_RNN_BIAS) {
		if (u)
			rnn_gates(pr, t, p->d, mod, op, u->slot, rnn_layer(m, u->node, mod));
		return 0;
	}
	const char *param = param_of(t->role);
	if (!param)
		return 0;
	/* a Conv/Gemm whose BatchNorm the export folded in */
	bool layer = !strcmp(op, "Conv") || !strcmp(op, "Gemm");
	bool folded = layer && u && m->nodes[u->node].n->n_output &&
	              !oi__strset_has(&p->bn_inputs, m->nodes[u->node].n->output[0]);
	char bn[512];
	int64_t c = t->info.ndim ? t->info.dims[0] : 0;
	if (folded && (t->role == OI_ROLE_CONV_WEIGHT || t->role == OI_ROLE_BIAS ||
	               (t->role == OI_ROLE_DENSE_WEIGHT && !strcmp(op, "Gemm"))) &&
	    find_bn(p->d, mod, c, bn, sizeof bn))
		return fold(pr, t, p, mod, bn, t->role == OI_ROLE_BIAS);
	const oi_donor_tensor *d = dget(p->d, mod, !strcmp(param, "weight") ? ".weight"
	                                           : !strcmp(param, "bias") ? ".bias"
	                                           : !strcmp(param, "running_mean") ? ".running_mean"
	                                                                             : ".running_var");
	if (d)
		fit_one(pr, t, d, !strcmp(op, "MatMul") || t->role == OI_ROLE_DENSE_WEIGHT);
	return 0;
}

/* The same place in an ONNX donor's graph: the k-th node of the op type,
 * the same input. */
static void by_position(const oi_model *m, const oi_donor_plan *p, const oi_tensor *t,
                        const use *u, proposal *pr)
{
	const oi_model *dm = p->d->onnx;
	if (!dm || !u)
		return;
	const Onnx__NodeProto *n = m->nodes[u->node].n;
	uint32_t k = 0;
	for (size_t j = 0; j < dm->n_nodes; j++) {
		const Onnx__NodeProto *x = dm->nodes[j].n;
		if (dm->nodes[j].ns != 0 || strcmp(x->op_type, n->op_type))
			continue;
		if (k++ != p->ord[u->node])
			continue;
		if (u->slot < x->n_input) {
			const oi_donor_tensor *d = oi__donor_find(p->d, x->input[u->slot]);
			if (d)
				fit_one(pr, t, d, false);
		}
		return;
	}
}

bool oi__donor_same(const oi_donor_src *a, const oi_donor_src *b, uint64_t n)
{
	for (uint64_t i = 0; i < n; i += 4096) {
		double x[4096], y[4096];
		size_t k = (size_t)(n - i < 4096 ? n - i : 4096);
		oi__donor_values(a, i, k, x);
		oi__donor_values(b, i, k, y);
		if (memcmp(x, y, k * sizeof *x))
			return false;
	}
	return true;
}

/* The values two proposals give. */
static bool same_values(const proposal *a, const proposal *b, uint64_t n)
{
	return oi__donor_same(&a->src, &b->src, n);
}

/* Another reader of a shared tensor gets other values by its module path
 * than this one: the donor has two values for one tensor. */
static int shared_conflict(oi_model *m, oi_donor_plan *p, oi_tensor *t, const use *u,
                           const proposal *pr, char *why, size_t n, bool *conflict)
{
	*conflict = false;
	if (!u)
		return 0;
	size_t ti = (size_t)(t - m->tensors);
	for (const use *v = first_use(p, ti); v && v < p->uses + p->n_uses && v->tensor == ti &&
	     !*conflict; v++) {
		if (v->node == u->node)
			continue;
		proposal o;
		memset(&o, 0, sizeof o);
		int rc = by_module(m, p, t, v, &o);
		if (rc)
			return rc;
		if (o.hit && (!o.fits || !same_values(pr, &o, t->info.numel))) {
			*conflict = true;
			snprintf(why, n, "shared by layers to which the donor gives different values "
			         "('%s' and '%s')", m->nodes[u->node].n->name, m->nodes[v->node].n->name);
		}
		free(o.vals);
	}
	return 0;
}

/* ---- the tensor's result ------------------------------------------------ */

static void *keep_mem(oi_model *m, void *p)
{
	return oi__model_keep(m, p);
}

static int record(oi_model *m, oi_tensor *t, proposal *pr, int method)
{
	oi_tensor_info *i = &t->info;
	const char **names = malloc((pr->n_donors ? pr->n_donors : 1) * sizeof *names);
	const char **tr = malloc((pr->n_transforms ? pr->n_transforms : 1) * sizeof *tr);
	if (!keep_mem(m, (void *)names) || !keep_mem(m, (void *)tr))
		return oi__fail(OI_ENOMEM, "out of memory");
	for (size_t k = 0; k < pr->n_donors; k++)
		names[k] = pr->donors[k]->name;
	for (size_t k = 0; k < pr->n_transforms; k++)
		tr[k] = pr->transforms[k];
	i->donor = names;
	i->n_donor = pr->n_donors;
	i->transform = tr;
	i->n_transform = pr->n_transforms;
	i->donor_match = method_names[method];
	return 0;
}

/* The use of tensor ti by the node named node, or NULL. */
static const use *use_by(const oi_model *m, const oi_donor_plan *p, size_t ti, const char *node)
{
	for (const use *u = first_use(p, ti); node && u && u < p->uses + p->n_uses && u->tensor == ti;
	     u++)
		if (m->nodes[u->node].n->name && !strcmp(m->nodes[u->node].n->name, node))
			return u;
	return NULL;
}

/* Which reader's values t takes: a tensor of the model, the reader its
 * analysis reports (as the plan's untying counts it), else its first; a
 * tensor the untying made for a reader of another, that reader. */
static const use *reader_of(const oi_model *m, const oi_donor_plan *p, const oi_tensor *t,
                            bool *own)
{
	uintptr_t a = (uintptr_t)m->tensors, x = (uintptr_t)t;
	*own = x >= a && x < a + m->n_tensors * sizeof *m->tensors;
	if (*own) {
		size_t k = (x - a) / sizeof *m->tensors;
		const use *u = use_by(m, p, k, t->info.node);
		return u ? u : first_use(p, k);
	}
	long o = t->info.untied_from ? find_tensor(m, p, t->info.untied_from) : -1;
	return o >= 0 ? use_by(m, p, (size_t)o, t->info.node) : NULL;
}

int oi__donor_match(oi_model *m, oi_donor_plan *p, oi_tensor *t, oi_fill *f)
{
	oi_tensor_info *i = &t->info;
	i->donor_status = OI_DONOR_MISSING;
	bool own;
	const use *u = reader_of(m, p, t, &own);
	proposal pr;
	memset(&pr, 0, sizeof pr);
	int method = M_MAP, rc = 0;
	const oi_donor *d = p->d;
	for (size_t k = 0; k < d->n_map && !pr.hit; k++) {
		char cap[512], name[1100];
		if (!oi__glob_capture(d->map_key[k], i->name, cap, sizeof cap))
			continue;
		subst(d->map_val[k], cap, name, sizeof name);
		const oi_donor_tensor *x = oi__donor_find(d, name);
		if (x)
			fit_one(&pr, t, x, true);
		break; /* the first key that matches decides */
	}
	if (!pr.hit) {
		method = M_NAME;
		const oi_donor_tensor *x = oi__donor_find(d, i->name);
		if (x)
			fit_one(&pr, t, x, false);
	}
	if (!pr.hit) {
		method = M_MODULE;
		rc = by_module(m, p, t, u, &pr);
	}
	if (!rc && !pr.hit) {
		method = M_POSITION;
		by_position(m, p, t, u, &pr);
	}
	char why[400];
	bool conflict = false;
	/* a merged constant is untied per reader after the plan; anything else
	 * shared, or with untying off, cannot hold two values */
	if (!rc && pr.fits && method == M_MODULE && own && !(p->untie && oi__untie_constant(m, t)))
		rc = shared_conflict(m, p, t, u, &pr, why, sizeof why, &conflict);
	if (conflict) {
		pr.fits = false;
		snprintf(pr.why, sizeof pr.why, "%s", why);
	}
	for (size_t k = 0; k < pr.n_donors; k++)
		p->used[pr.donors[k] - d->t] = 1;
	if (rc || !pr.hit) {
		free(pr.vals);
		return rc ? rc : 0;
	}
	if (!pr.fits) {
		free(pr.vals);
		i->donor_status = OI_DONOR_MISMATCHED;
		i->donor_note = oi__model_strdup(m, pr.why);
		rc = record(m, t, &pr, method);
		return rc ? rc : (i->donor_note ? 0 : OI_ENOMEM);
	}
	oi_donor_src *src = malloc(sizeof *src);
	if (!keep_mem(m, src) || (pr.vals && !keep_mem(m, pr.vals)))
		return oi__fail(OI_ENOMEM, "out of memory");
	*src = pr.src;
	memset(f, 0, sizeof *f);
	f->kind = OI_FILL_DONOR;
	f->src = src;
	f->std = f->bound = NAN;
	f->batch = 1;
	f->rows = 1;
	f->cols = i->numel;
	snprintf(f->desc, sizeof f->desc, "donor");
	i->donor_status = OI_DONOR_MATCHED;
	p->matched++;
	return record(m, t, &pr, method) ? OI_ENOMEM : 1;
}

int oi__donor_plan_end(oi_model *m, oi_donor_plan *p, size_t *matched)
{
	const oi_donor *d = p->d;
	size_t n = 0;
	for (size_t k = 0; k < d->n; k++) {
		size_t l = strlen(d->t[k].name);
		if (!p->used[k] && !(l >= 19 && !strcmp(d->t[k].name + l - 19, "num_batches_tracked")))
			n++;
	}
	const char **u = malloc((n ? n : 1) * sizeof *u);
	if (!keep_mem(m, (void *)u))
		return oi__fail(OI_ENOMEM, "out of memory");
	n = 0;
	for (size_t k = 0; k < d->n; k++) {
		size_t l = strlen(d->t[k].name);
		if (!p->used[k] && !(l >= 19 && !strcmp(d->t[k].name + l - 19, "num_batches_tracked")))
			u[n++] = d->t[k].name;
	}
	m->donor_unexpected = u;
	m->n_donor_unexpected = n;
	*matched = p->matched;
	return 0;
}

size_t oi_model_donor_unexpected_count(const oi_model *m)
{
	return m ? m->n_donor_unexpected : 0;
}

const char *oi_model_donor_unexpected(const oi_model *m, size_t i)
{
	return m && i < m->n_donor_unexpected ? m->donor_unexpected[i] : NULL;
}
