/* Layer-sequential unit-variance initialization (Mishkin & Matas 2015, "All
 * you need is a good init"), and the pretrain entry point. The pass starts
 * from the planned values; it hands the save the weights it changed as
 * given values (OI_FILL_GIVEN), encoded to each tensor's dtype as any fill. */
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tensor.h"
#include "pretrain.h"

typedef struct lsuv_params {
	double tol;
	unsigned max_iter;
	bool ortho;
	char desc[160];       /* "lsuv(tol=0.1,max_iter=10,ortho=true)" */
} lsuv_params;

static bool parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "yes")) {
		*out = true;
		return true;
	}
	if (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "no")) {
		*out = false;
		return true;
	}
	return false;
}

static int parse_spec(const char *text, oi_spec *s)
{
	if (!text || !*text)
		return oi__fail(OI_EARG, "no pretrain pass given");
	if (oi__spec_parse(text, s)) {
		char why[400];
		snprintf(why, sizeof why, "%s", oi_last_error());
		const char *detail = strstr(why, "': ") ? strstr(why, "': ") + 3 : why;
		return oi__fail(OI_EARG, "pretrain pass '%s': %s", text, detail);
	}
	if (strcmp(s->name, "lsuv") && strcmp(s->name, "autoencoder"))
		return oi__fail(OI_EARG, "unknown pretrain pass '%s'; the passes are: lsuv, autoencoder",
		                s->name);
	return 0;
}

static int parse_pass(const oi_spec *sp, lsuv_params *p)
{
	const oi_spec s = *sp;
	p->tol = 0.1;
	p->max_iter = 10;
	p->ortho = true;
	for (size_t i = 0; i < s.n; i++) {
		const char *k = s.key[i], *v = s.val[i];
		char *end;
		if (!strcmp(k, "tol") || !strcmp(k, "#0")) {
			double t = strtod(v, &end);
			if (*end || !(t > 0) || !isfinite(t))
				return oi__fail(OI_EARG, "lsuv: tol must be a number > 0, not '%s'", v);
			p->tol = t;
		} else if (!strcmp(k, "max_iter") || !strcmp(k, "#1")) {
			long n = strtol(v, &end, 10);
			if (*end || n < 0 || n > 1000)
				return oi__fail(OI_EARG, "lsuv: max_iter must be an integer from 0 to 1000, not "
				                "'%s'", v);
			p->max_iter = (unsigned)n;
		} else if (!strcmp(k, "ortho") || !strcmp(k, "#2")) {
			if (!parse_bool(v, &p->ortho))
				return oi__fail(OI_EARG, "lsuv: ortho must be true or false, not '%s'", v);
		} else {
			return oi__fail(OI_EARG, "lsuv: unknown parameter '%s' (its parameters: tol, "
			                "max_iter, ortho)", k);
		}
	}
	snprintf(p->desc, sizeof p->desc, "lsuv(tol=%.10g,max_iter=%u,ortho=%s)", p->tol,
	         p->max_iter, p->ortho ? "true" : "false");
	return 0;
}

bool oi__pretrain_kept(const oi_rules *rules, const oi_tensor *t)
{
	bool keep = false;
	for (size_t k = 0; rules && k < rules->n; k++) {
		const oi_rule *r = &rules->rule[k];
		if (oi__rule_matches(r, t))
			keep = !strcmp(r->spec.name, "keep");
	}
	return keep;
}

static bool float_dtype(int dt)
{
	return dt == OI_DTYPE_FLOAT || dt == OI_DTYPE_DOUBLE || dt == OI_DTYPE_FLOAT16 ||
	       dt == OI_DTYPE_BFLOAT16;
}

const char *oi__pretrain_tensor_status(const ev_ctx *c, int32_t tensor, int32_t v,
                                       const uint32_t *uses, const oi_rules *rules)
{
	if (tensor < 0 || v < 0)
		return "shared";
	const oi_tensor *t = &c->m->tensors[tensor];
	if (!float_dtype(t->info.dtype) || t->info.source == OI_SOURCE_SPARSE_INITIALIZER ||
	    t->info.numel == 0)
		return "shared";
	/* read by this layer alone, through its chain */
	int32_t tv = oi__ev_find(c, t->info.name);
	if (tv < 0 || uses[tv] != 1 || uses[v] != 1)
		return "shared";
	if (oi__pretrain_kept(rules, t))
		return "kept";
	return NULL;
}

uint32_t *oi__pretrain_uses(const ev_ctx *c)
{
	uint32_t *uses = oi__calloc(c->n_values ? c->n_values : 1, sizeof *uses);
	for (size_t i = 0; uses && i < c->n_nodes; i++)
		for (size_t k = 0; k < c->nodes[i].nin; k++)
			if (c->nodes[i].in[k] >= 0)
				uses[c->nodes[i].in[k]]++;
	return uses;
}

/* Why a layer's weight cannot be scaled: NULL if it can. */
static const char *weight_status(const ev_ctx *c, const ev_layer *l, const uint32_t *uses,
                                 const oi_rules *rules)
{
	return oi__pretrain_tensor_status(c, l->weight_tensor, l->weight_value, uses, rules);
}

/* The orthonormal start (orthogonal(gain=1), torch's flattening), or NULL
 * where the scheme does not apply to the tensor. */
static int ortho_values(const ev_ctx *c, const oi_tensor *t, uint64_t seed, double **out)
{
	*out = NULL;
	oi_role r = t->role;
	bool layer_weight = r == OI_ROLE_CONV_WEIGHT || r == OI_ROLE_DENSE_WEIGHT ||
	                    r == OI_ROLE_CONV_TRANSPOSE_WEIGHT ||
	                    ((r == OI_ROLE_LEARNABLE_OTHER || r == OI_ROLE_NONE) && t->info.ndim >= 2);
	if (!layer_weight || t->info.ndim < 2)
		return 0;
	oi_spec s;
	oi_fill f;
	int rc = oi__spec_parse("orthogonal(gain=1)", &s);
	if (!rc && oi__resolve_scheme(t, &s, c->m->fan_convention, seed, &f) != 0)
		return 0; /* not a matrix orthogonal can fill: its planned values stay */
	return rc ? rc : oi__fill_materialize(&f, t->info.numel, out);
}

int oi__pretrain_run_layer(ev_ctx *c, const ev_layer *l)
{
	int rc = 0;
	for (size_t k = 0; k < l->n_chain && !rc; k++)
		rc = oi__ev_rerun(c, l->chain[k], l->chain[k]);
	if (!rc)
		rc = oi__ev_rerun(c, l->node, l->out_node);
	return rc;
}

typedef struct lsuv_state {
	ev_ctx *c;
	const lsuv_params *p;
	const oi_pretrain_options *o;
	oi_report *r;
	uint32_t *uses;
	bool *reached;        /* per weight record: its layer was reached */
} lsuv_state;

static int lsuv_layer(lsuv_state *s, const ev_layer *l)
{
	ev_ctx *c = s->c;
	int rc = oi__ev_run(c, l->node);
	if (rc || c->stop_msg[0])
		return rc;
	const char *why = weight_status(c, l, s->uses, s->o->rules);
	ev_weight *w = NULL;
	if (!why) {
		double *start = NULL;
		const oi_tensor *t = &c->m->tensors[l->weight_tensor];
		rc = s->p->ortho ? ortho_values(c, t, s->o->seed, &start) : 0;
		w = rc ? NULL : oi__ev_weight(c, l->weight_tensor, start);
		if (!w)
			return rc ? rc : OI_ENOMEM;
		w->changed = start != NULL;
	}
	rc = oi__pretrain_run_layer(c, l);
	if (rc || c->stop_msg[0])
		return rc;
	oi_layer_report *lr = oi__report_add(s->r, c, l);
	if (!lr)
		return OI_ENOMEM;
	const oi_tensor *t = l->weight_tensor >= 0 ? &c->m->tensors[l->weight_tensor] : NULL;
	lr->weight = t ? oi__report_str(s->r, t->info.name) : NULL;
	ev_tensor *y = &c->values[l->out_value].t;
	oi__ev_stats(y, &lr->before);
	double var = lr->before.std * lr->before.std;
	unsigned it = 0;
	while (w && isfinite(var) && var > 0 && fabs(var - 1.0) >= s->p->tol && it < s->p->max_iter) {
		w->scale /= sqrt(var);
		w->changed = true;
		oi__ev_weight_refresh(w, t->info.numel);
		rc = oi__pretrain_run_layer(c, l);
		if (rc || c->stop_msg[0])
			return rc;
		y = &c->values[l->out_value].t;
		var = oi__ev_variance(y);
		it++;
	}
	if (w)
		s->reached[w - c->weights] = true;
	oi__ev_stats(y, &lr->stats);
	lr->iterations = it;
	lr->variance = var;
	if (why) {
		lr->status = why;
	} else if (!isfinite(var) || var <= 0) {
		/* left as planned: neither orthonormal nor scaled */
		lr->status = "dead";
		w->changed = false;
	}
	else
		lr->status = fabs(var - 1.0) < s->p->tol ? "done" : "max_iter";
	if (!strcmp(lr->status, "dead"))
		rc = oi__report_warn(s->r, "layer '%s' (%s): its output has variance %g on the batch "
		                     "(a dead layer); its weight is left as it is", lr->node, lr->op, var);
	else if (!strcmp(lr->status, "shared") && !rc)
		rc = oi__report_warn(s->r, "layer '%s' (%s): its weight is not a tensor of its own; "
		                     "left as it is", lr->node, lr->op);
	oi__ev_release(c);
	return rc;
}

int oi__pretrain_commit(ev_ctx *c, const bool *reached, const char *pass_desc)
{
	oi_model *m = c->m;
	for (size_t i = 0; i < c->n_weights; i++) {
		ev_weight *w = &c->weights[i];
		if ((reached && !reached[i]) || !w->changed)
			continue;
		oi_tensor *t = &m->tensors[w->tensor];
		uint64_t n = t->info.numel;
		double *v = malloc((n ? n : 1) * sizeof *v);
		oi_fill *f = calloc(1, sizeof *f);
		if (!v || !f || !oi__model_keep(m, (char *)v)) {
			free(f);
			return oi__fail(OI_ENOMEM, "out of memory");
		}
		double ss = 0, mx = 0;
		for (uint64_t e = 0; e < n; e++) {
			v[e] = w->values[e] * w->scale;
			ss += v[e] * v[e];
			mx = fabs(v[e]) > mx ? fabs(v[e]) : mx;
		}
		f->kind = OI_FILL_GIVEN;
		f->given = v;
		f->batch = f->rows = 1;
		f->cols = n;
		f->std = n ? sqrt(ss / (double)n) : NAN;
		f->bound = mx;
		snprintf(f->desc, sizeof f->desc, "%s", pass_desc);
		const char *desc = oi__model_strdup(m, f->desc);
		if (!desc) {
			free(f);
			return OI_ENOMEM;
		}
		free(t->fill);
		t->fill = f;
		t->info.scheme = desc;
		t->info.action = OI_ACTION_REINIT;
		t->info.std = f->std;
		t->info.bound = f->bound;
		if (t->ext >= 0)
			m->ext[t->ext].changed = true;
	}
	return 0;
}

static int provenance(oi_model *m, const lsuv_params *p, const oi_data *d, const ev_ctx *c,
                      const oi_pretrain_options *o)
{
	json_t *params = json_object();
	json_object_set_new(params, "tol", json_real(p->tol));
	json_object_set_new(params, "max_iter", json_integer(p->max_iter));
	json_object_set_new(params, "ortho", json_boolean(p->ortho));
	int64_t batch = c->n_inputs && c->inputs[0].ndim ? c->inputs[0].dims[0] : 0;
	return oi__pretrain_provenance(m, "lsuv", params, d, batch, o->seed);
}

int oi__pretrain_provenance(oi_model *m, const char *pass, json_t *params, const oi_data *d,
                            int64_t batch, uint64_t seed)
{
	json_error_t err;
	json_t *root = m->provenance ? json_loads(m->provenance, 0, &err) : json_object();
	if (!root) {
		json_decref(params);
		return oi__fail(OI_ENOMEM, "out of memory");
	}
	if (!m->provenance) {
		json_object_set_new(root, "version", json_string(OI_VERSION_STRING));
		if (seed > (uint64_t)INT64_MAX) {
			char buf[24];
			snprintf(buf, sizeof buf, "%llu", (unsigned long long)seed);
			json_object_set_new(root, "seed", json_string(buf));
		} else {
			json_object_set_new(root, "seed", json_integer((json_int_t)seed));
		}
	}
	json_t *pt = json_object();
	json_object_set_new(pt, "pass", json_string(pass));
	json_object_set_new(pt, "params", params);
	json_object_set_new(pt, "data", json_string(oi_data_name(d)));
	json_object_set_new(pt, "sha256", oi_data_sha256(d) ? json_string(oi_data_sha256(d))
	                                                    : json_null());
	json_object_set_new(pt, "batch", json_integer(batch));
	json_object_set_new(root, "pretrain", pt);
	char *s = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(root);
	if (!s)
		return oi__fail(OI_ENOMEM, "out of memory");
	free(m->provenance);
	m->provenance = s;
	return 0;
}

static int lsuv(ev_ctx *c, const lsuv_params *p, const oi_pretrain_options *o, oi_report *r)
{
	ev_layer *layers;
	size_t n;
	int rc = oi__ev_layers(c, &layers, &n);
	if (rc)
		return rc;
	lsuv_state s = { c, p, o, r, NULL, NULL };
	s.uses = oi__pretrain_uses(c);
	/* one weight record at most per layer */
	s.reached = oi__calloc(n ? n : 1, sizeof *s.reached);
	rc = s.uses && s.reached ? 0 : OI_ENOMEM;
	size_t n_layers = 0, left = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		if (layers[i].act)
			continue;
		n_layers++;
		if (c->stop_msg[0]) {
			left++;
			continue;
		}
		rc = lsuv_layer(&s, &layers[i]);
		left += !rc && c->stop_msg[0];
	}
	free(layers);
	free(s.uses);
	if (!rc && n_layers == 0)
		rc = oi__fail(OI_EUNSUPPORTED, "%s: lsuv: the model has no layer to scale", c->m->path);
	if (!rc && oi_report_layer_count(r) == 0)
		rc = oi__fail(OI_EUNSUPPORTED, "%s: lsuv: no layer can be reached: %s", c->m->path,
		              c->stop_msg);
	if (!rc && c->stop_msg[0])
		rc = oi__report_warn(r, "%s; lsuv stops there (%zu later layers keep their planned "
		                     "values)", c->stop_msg, left);
	if (!rc)
		rc = oi__pretrain_commit(c, s.reached, p->desc);
	free(s.reached);
	oi__report_done(r, c);
	return rc;
}

int oi_model_pretrain(oi_report **out, oi_model *m, const oi_data *d,
                      const oi_pretrain_options *o)
{
	*out = NULL;
	if (!o || (o->version != OI_PRETRAIN_OPTIONS_VERSION && o->version != 1))
		return oi__fail(OI_EARG, "oi_pretrain_options missing or of another version");
	oi_pretrain_options o2;
	if (o->version == 1) {
		/* a version-1 struct ends before progress */
		memset(&o2, 0, sizeof o2);
		memcpy(&o2, o, offsetof(oi_pretrain_options, progress));
		o = &o2;
	}
	if (!d)
		return oi__fail(OI_EARG, "no data given");
	oi_spec spec;
	lsuv_params p;
	int rc = parse_spec(o->pass, &spec);
	bool ae = !rc && !strcmp(spec.name, "autoencoder");
	if (!rc)
		rc = ae ? oi__autoencoder_check(&spec) : parse_pass(&spec, &p);
	if (!rc)
		rc = m->analysed ? 0 : oi_model_analyse(m, NULL);
	if (rc)
		return rc;
	if (ae) {
		rc = oi__autoencoder(m, &spec, d, o, out);
		return rc ? rc : oi__ok();
	}
	ev_ctx c;
	rc = oi__ev_open(&c, m, d, o->threads);
	if (rc)
		return rc;
	oi_report *r;
	rc = oi__report_new(&r, &c);
	if (!rc)
		rc = lsuv(&c, &p, o, r);
	if (!rc && !o->no_provenance)
		rc = provenance(m, &p, d, &c, o);
	oi__ev_close(&c);
	if (rc) {
		oi_report_free(r);
		return rc;
	}
	*out = r;
	return oi__ok();
}
