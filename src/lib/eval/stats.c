/* The layers a pass measures, the report it hands back, and the stats pass:
 * one forward pass, each layer's and activation's output measured as it is
 * made (and freed once its readers have run). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"

/* ---- layers ------------------------------------------------------------- */

static bool is_op(const ev_node *n, const char *op)
{
	return n->n->op_type && !strcmp(n->n->op_type, op);
}

/* Layout ops a weight may pass through on its way to its layer. */
static bool layout_op(const ev_node *n)
{
	static const char *const ops[] = { "Transpose", "Identity", "Reshape", "Cast", "Squeeze",
	                                   "Unsqueeze", "Flatten" };
	for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
		if (is_op(n, ops[i]))
			return true;
	return false;
}

/* The tensor behind a weight operand, through up to 4 layout nodes. */
static void find_weight(const ev_ctx *c, int32_t v, ev_layer *l)
{
	size_t chain[4], n = 0;
	l->weight_value = v;
	l->weight_tensor = -1;
	l->n_chain = 0;
	while (v >= 0) {
		const ev_value *val = &c->values[v];
		if (val->tensor >= 0) {
			l->weight_tensor = val->tensor;
			for (size_t k = 0; k < n; k++)
				l->chain[k] = chain[n - 1 - k];
			l->n_chain = n;
			return;
		}
		if (val->producer < 0 || n == 4)
			return;
		const ev_node *p = &c->nodes[val->producer];
		if (!layout_op(p) || p->nin < 1)
			return;
		chain[n++] = (size_t)val->producer;
		v = p->in[0];
	}
}

int oi__ev_layers(ev_ctx *c, ev_layer **out, size_t *n_out)
{
	*out = NULL;
	*n_out = 0;
	bool *dep = oi__calloc(c->n_values ? c->n_values : 1, sizeof *dep);
	uint32_t *uses = oi__calloc(c->n_values ? c->n_values : 1, sizeof *uses);
	ev_layer *l = oi__calloc(c->n_nodes ? c->n_nodes : 1, sizeof *l);
	if (!dep || !uses || !l) {
		free(dep);
		free(uses);
		free(l);
		return OI_ENOMEM;
	}
	for (size_t v = 0; v < c->n_values; v++)
		dep[v] = c->values[v].input >= 0;
	for (size_t i = 0; i < c->n_nodes; i++) {
		const ev_node *en = &c->nodes[i];
		bool d = false;
		for (size_t k = 0; k < en->nin; k++)
			if (en->in[k] >= 0) {
				d |= dep[en->in[k]];
				uses[en->in[k]]++;
			}
		for (size_t k = 0; k < en->nout; k++)
			if (en->out[k] >= 0 && c->values[en->out[k]].tensor < 0)
				dep[en->out[k]] = d;
	}
	size_t n = 0;
	for (size_t i = 0; i < c->n_nodes; i++) {
		const ev_node *en = &c->nodes[i];
		if (!en->k || en->nout < 1 || en->out[0] < 0 || en->nin < 1 || en->in[0] < 0)
			continue;
		ev_layer *ly = &l[n];
		memset(ly, 0, sizeof *ly);
		ly->node = ly->out_node = i;
		ly->out_value = en->out[0];
		ly->weight_value = ly->weight_tensor = -1;
		if (en->k->flags & EV_K_ACT) {
			if (!dep[en->in[0]])
				continue;
			ly->act = true;
			n++;
			continue;
		}
		if (!(en->k->flags & EV_K_LAYER) || en->nin < 2 || en->in[1] < 0)
			continue;
		int32_t a = en->in[0], b = en->in[1], w;
		if (is_op(en, "Conv") || is_op(en, "ConvTranspose"))
			w = dep[a] && !dep[b] ? b : -1;
		else
			w = dep[a] && !dep[b] ? b : dep[b] && !dep[a] ? a : -1;
		if (w < 0)
			continue;
		find_weight(c, w, ly);
		/* a bias Add after it, when the layer's output goes nowhere else */
		int32_t o = en->out[0];
		if (uses[o] == 1 && c->values[o].last_use != INT32_MAX) {
			size_t j = (size_t)c->values[o].last_use;
			const ev_node *an = &c->nodes[j];
			if (is_op(an, "Add") && an->nin == 2 && an->nout >= 1 && an->out[0] >= 0) {
				int32_t other = an->in[0] == o ? an->in[1] : an->in[0];
				if (other >= 0 && !dep[other]) {
					ly->out_node = j;
					ly->out_value = an->out[0];
				}
			}
		}
		n++;
	}
	free(dep);
	free(uses);
	*out = l;
	*n_out = n;
	return 0;
}

/* ---- reports ------------------------------------------------------------ */

struct oi_report {
	oi_layer_report *layers;
	size_t n_layers, cap_layers;
	char **strings;
	size_t n_strings, cap_strings;
	const char **warnings;
	size_t n_warnings, cap_warnings;
	size_t nodes_run, nodes_total;
};

static const oi_value_stats no_stats = { NAN, NAN, NAN, NAN, NAN };

int oi__report_new(oi_report **out, const ev_ctx *c)
{
	*out = oi__calloc(1, sizeof **out);
	if (!*out)
		return OI_ENOMEM;
	(*out)->nodes_total = c->n_nodes;
	return 0;
}

const char *oi__report_str(oi_report *r, const char *s)
{
	if (!s)
		return NULL;
	if (OI_GROW(r->strings, r->n_strings, r->cap_strings))
		return NULL;
	char *d = oi__strdup(s);
	if (d)
		r->strings[r->n_strings++] = d;
	return d;
}

oi_layer_report *oi__report_add(oi_report *r, const ev_ctx *c, const ev_layer *l)
{
	if (OI_GROW(r->layers, r->n_layers, r->cap_layers))
		return NULL;
	const ev_node *en = &c->nodes[l->node];
	oi_layer_report *lr = &r->layers[r->n_layers];
	memset(lr, 0, sizeof *lr);
	lr->node = oi__report_str(r, en->label);
	lr->op = oi__report_str(r, en->n->op_type ? en->n->op_type : "");
	lr->output = oi__report_str(r, c->values[l->out_value].name);
	if (!lr->node || !lr->op || !lr->output)
		return NULL;
	lr->stats = lr->before = no_stats;
	lr->variance = NAN;
	lr->loss_before = lr->loss_after = lr->seconds = NAN;
	r->n_layers++;
	return lr;
}

int oi__report_warn(oi_report *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0 || OI_GROW(r->warnings, r->n_warnings, r->cap_warnings) ||
	    OI_GROW(r->strings, r->n_strings, r->cap_strings)) {
		free(n < 0 ? NULL : s);
		return oi__fail(OI_ENOMEM, "out of memory");
	}
	r->strings[r->n_strings++] = s;
	r->warnings[r->n_warnings++] = s;
	return 0;
}

void oi__report_done(oi_report *r, const ev_ctx *c)
{
	r->nodes_run = c->stop_msg[0] ? c->stop_node : c->done;
}

size_t oi_report_layer_count(const oi_report *r) { return r ? r->n_layers : 0; }
const oi_layer_report *oi_report_layer(const oi_report *r, size_t i)
{
	return r && i < r->n_layers ? &r->layers[i] : NULL;
}
size_t oi_report_warning_count(const oi_report *r) { return r ? r->n_warnings : 0; }
const char *oi_report_warning(const oi_report *r, size_t i)
{
	return r && i < r->n_warnings ? r->warnings[i] : NULL;
}
size_t oi_report_nodes_run(const oi_report *r) { return r ? r->nodes_run : 0; }
size_t oi_report_nodes_total(const oi_report *r) { return r ? r->nodes_total : 0; }

void oi_report_free(oi_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_strings; i++)
		free(r->strings[i]);
	free(r->strings);
	free(r->warnings);
	free(r->layers);
	free(r);
}

/* ---- the stats pass ----------------------------------------------------- */

static int stats_run(ev_ctx *c, oi_report *r)
{
	ev_layer *layers;
	size_t n;
	int rc = oi__ev_layers(c, &layers, &n);
	if (rc)
		return rc;
	/* measure[node]: the layer measured at that node's output, +1 (0: none) */
	size_t *measure = oi__calloc(c->n_nodes ? c->n_nodes : 1, sizeof *measure);
	if (!measure) {
		free(layers);
		return OI_ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		measure[layers[i].out_node] = i + 1;
	for (size_t i = 0; i < c->n_nodes && !rc; i++) {
		rc = oi__ev_run(c, i + 1);
		if (rc || c->stop_msg[0])
			break;
		if (!measure[i])
			continue;
		const ev_layer *l = &layers[measure[i] - 1];
		oi_layer_report *lr = oi__report_add(r, c, l);
		if (!lr) {
			rc = OI_ENOMEM;
			break;
		}
		oi__ev_stats(&c->values[l->out_value].t, &lr->stats);
	}
	size_t left = 0;
	for (size_t i = 0; i < n; i++)
		left += c->stop_msg[0] && layers[i].out_node >= c->stop_node;
	if (!rc && c->stop_msg[0] && r->n_layers)
		rc = oi__report_warn(r, "%s; the forward pass stops there (%zu layers and activations "
		                     "after it not measured)", c->stop_msg, left);
	if (!rc && !r->n_layers)
		rc = c->stop_msg[0] ? oi__fail(OI_EUNSUPPORTED, "%s: no layer can be reached: %s",
		                               c->m->path, c->stop_msg)
		                    : oi__fail(OI_EUNSUPPORTED, "%s: the model has no layer or "
		                               "activation to measure", c->m->path);
	oi__report_done(r, c);
	free(measure);
	free(layers);
	return rc;
}

int oi_model_stats(oi_report **out, oi_model *m, const oi_data *d, const oi_eval_options *opts)
{
	*out = NULL;
	if (opts && opts->version != OI_EVAL_OPTIONS_VERSION)
		return oi__fail(OI_EARG, "oi_eval_options of another version");
	if (!d)
		return oi__fail(OI_EARG, "no data given");
	ev_ctx c;
	int rc = oi__ev_open(&c, m, d, opts ? opts->threads : 0);
	if (rc)
		return rc;
	oi_report *r;
	rc = oi__report_new(&r, &c);
	if (!rc)
		rc = stats_run(&c, r);
	oi__ev_close(&c);
	if (rc) {
		oi_report_free(r);
		return rc;
	}
	*out = r;
	return oi__ok();
}
