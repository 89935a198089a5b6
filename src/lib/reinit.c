/* The plan: which tensors get new values, and from what. This issue's
 * schemes are `keep` and `zeros`; the scheme registry replaces the lookup
 * below when the full set arrives. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "tensor.h"

/* Sources whose tensors are weights; tensors in other nodes' attributes
 * (ConstantOfShape's value, ...) are parameters of an op and never touched. */
static bool is_weight_source(int source)
{
	return source == OI_SOURCE_INITIALIZER || source == OI_SOURCE_CONSTANT_NODE ||
	       source == OI_SOURCE_SPARSE_INITIALIZER;
}

int oi_model_plan(oi_model *m, const oi_init_options *opts)
{
	if (!opts || opts->version != OI_INIT_OPTIONS_VERSION)
		return oi__fail(OI_EARG, "oi_init_options missing or of another version");
	const char *scheme = opts->scheme ? opts->scheme : "auto";
	int fill;
	if (!strcmp(scheme, "keep"))
		fill = OI_FILL_NONE;
	else if (!strcmp(scheme, "zeros"))
		fill = OI_FILL_CONSTANT;
	else
		return oi__fail(OI_EUNSUPPORTED, "scheme '%s' is not available in this version "
		                "(available: keep, zeros)", scheme);

	size_t changed = 0;
	for (size_t i = 0; i < m->n_tensors; i++) {
		oi_tensor *t = &m->tensors[i];
		free(t->scheme_own);
		t->scheme_own = NULL;
		/* fixed tensors (shapes, scalars, quantization) are never touched
		 * unless a rule names them */
		bool reinit = fill != OI_FILL_NONE && is_weight_source(t->info.source) &&
		              oi__dtype_is_float(t->info.dtype) &&
		              !(t->info.role && !strcmp(t->info.role, "fixed"));
		t->fill = reinit ? fill : OI_FILL_NONE;
		t->fill_value = 0.0;
		t->info.action = reinit ? OI_ACTION_REINIT : OI_ACTION_KEEP;
		t->scheme_own = oi__strdup(reinit ? scheme : "keep");
		if (!t->scheme_own)
			return OI_ENOMEM;
		t->info.scheme = t->scheme_own;
		changed += reinit;
	}
	for (size_t i = 0; i < m->n_ext; i++)
		m->ext[i].changed = false;
	for (size_t i = 0; i < m->n_tensors; i++)
		if (m->tensors[i].info.action != OI_ACTION_KEEP && m->tensors[i].ext >= 0)
			m->ext[m->tensors[i].ext].changed = true;

	free(m->provenance);
	m->provenance = NULL;
	if (changed && !opts->no_provenance) {
		json_t *o = json_pack("{s:s, s:I, s:s, s:[]}", "version", OI_VERSION_STRING, "seed",
		                      (json_int_t)opts->seed, "scheme", scheme, "rules");
		if (o) {
			/* the seed is 64-bit unsigned: json_int_t is signed, so store text
			 * for seeds past INT64_MAX */
			if (opts->seed > (uint64_t)INT64_MAX) {
				char buf[24];
				snprintf(buf, sizeof buf, "%llu", (unsigned long long)opts->seed);
				json_object_set_new(o, "seed", json_string(buf));
			}
			m->provenance = json_dumps(o, JSON_COMPACT);
			json_decref(o);
		}
		if (!m->provenance)
			return oi__fail(OI_ENOMEM, "out of memory");
	}
	return 0;
}

size_t oi_model_changed_count(const oi_model *m)
{
	size_t n = 0;
	for (size_t i = 0; i < m->n_tensors; i++)
		n += m->tensors[i].info.action != OI_ACTION_KEEP;
	return n;
}

int oi__fill_values(const oi_tensor *t, uint64_t first, size_t n, double *out)
{
	OI_UNUSED(first);
	switch (t->fill) {
	case OI_FILL_CONSTANT:
		for (size_t i = 0; i < n; i++)
			out[i] = t->fill_value;
		return 0;
	default:
		return oi__fail(OI_EINVALID, "internal: tensor '%s' has no fill", t->info.name);
	}
}
