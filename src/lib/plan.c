/* The plan: for every tensor, the scheme it gets from the default scheme or
 * profile and the rules, resolved into a fill with its std and bound. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "donor/donor.h"
#include "fill.h"
#include "model.h"
#include "residual.h"
#include "rules.h"
#include "schemes.h"
#include "tensor.h"
#include "untie.h"

/* ---- profiles: a SPEC per role ------------------------------------------ */

/* Writes the SPEC for t where it depends on the tensor (fans, hidden size,
 * activation, op). */
typedef void (*spec_fn)(const oi_tensor *t, char *out, size_t cap);

typedef struct role_spec {
	const char *text; /* the SPEC, if fn is NULL */
	spec_fn fn;
} role_spec;

typedef struct profile_def {
	const char *name;
	int conv;                        /* its fan convention; -1: the model's */
	role_spec role[OI_ROLE_COUNT];   /* a role without a row is kept */
	oi_residual residual;            /* the residual mode it implies */
} profile_def;

/* torch.nn's reset_parameters: Linear/Conv weight kaiming_uniform(a=√5) */
static void torch_weight(const oi_tensor *t, char *out, size_t cap)
{
	OI_UNUSED(t);
	snprintf(out, cap, "kaiming_uniform(a=%.17g)", sqrt(5.0));
}

/* Linear/Conv bias: U(±1/√fan_in) */
static void torch_bias(const oi_tensor *t, char *out, size_t cap)
{
	int64_t fi = t->fans[OI_FANS_TORCH][0];
	double b = fi > 0 ? 1.0 / sqrt((double)fi) : 0.0;
	snprintf(out, cap, "uniform(low=%.17g,high=%.17g)", -b, b);
}

/* RNN/LSTM/GRU: every tensor U(±1/√hidden) */
static void torch_rnn(const oi_tensor *t, char *out, size_t cap)
{
	int64_t h = t->rnn_hidden;
	double b = h > 0 ? 1.0 / sqrt((double)h) : 0.0;
	snprintf(out, cap, "uniform(low=%.17g,high=%.17g)", -b, b);
}

/* The forget gate is found in ONNX's B (D, 8H) only; a PyTorch bias routed
 * in by a training-mode export is in torch's gate order. */
static void keras_rnn_bias(const oi_tensor *t, char *out, size_t cap)
{
	const oi_tensor_info *i = &t->info;
	snprintf(out, cap, i->op && !strcmp(i->op, "LSTM") && i->ndim == 2 ? "unit_forget_bias"
	                                                                     : "zeros");
}

/* flax.linen.Embed: variance_scaling(1, fan_in, normal, out_axis=0) on
 * (V, D): fan_in is D, and JAX's "normal" is untruncated */
static void flax_embedding(const oi_tensor *t, char *out, size_t cap)
{
	const oi_tensor_info *i = &t->info;
	int64_t d = i->ndim == 2 ? i->dims[1] : 1;
	snprintf(out, cap, "normal(mean=0,std=%.17g)", 1.0 / sqrt((double)(d > 0 ? d : 1)));
}

static bool relu_family(const char *act)
{
	return act && (!strcmp(act, "relu") || !strcmp(act, "relu6") || !strcmp(act, "gelu") ||
	               !strcmp(act, "silu") || !strcmp(act, "elu") || !strcmp(act, "hard_swish"));
}

/* auto: the scheme made for the activation that follows the layer */
static void auto_weight(const oi_tensor *t, char *out, size_t cap)
{
	const oi_tensor_info *i = &t->info;
	const char *act = i->activation;
	if (relu_family(act))
		snprintf(out, cap, "kaiming_normal(mode=fan_in,nonlinearity=relu)");
	else if (act && !strcmp(act, "leaky_relu"))
		snprintf(out, cap, "kaiming_normal(a=%.17g,mode=fan_in,nonlinearity=leaky_relu)",
		         isnan(i->act_slope) ? 0.01 : i->act_slope);
	else if (act && !strcmp(act, "tanh"))
		snprintf(out, cap, "xavier_uniform(gain=%.17g)", 5.0 / 3.0);
	else if (act && !strcmp(act, "selu"))
		snprintf(out, cap, "lecun_normal");
	else
		snprintf(out, cap, "xavier_uniform(gain=1)");
}

/* What every profile does with state: fixed tensors stay, a norm starts as
 * the identity (scale and running variance 1, shift and running mean 0). */
#define STATE_ROWS                                                                  \
	[OI_ROLE_FIXED] = { "keep", NULL }, [OI_ROLE_NORM_SCALE] = { "ones", NULL },  \
	[OI_ROLE_NORM_VAR] = { "ones", NULL }, [OI_ROLE_NORM_BIAS] = { "zeros", NULL }, \
	[OI_ROLE_NORM_MEAN] = { "zeros", NULL }

/* Adding a profile is adding a row. learnable_other of rank 2 or more takes
 * the dense_weight row; below that it is kept (profile_spec). */
static const profile_def profiles[] = {
	{ "torch", OI_FANS_TORCH, {
		STATE_ROWS,
		[OI_ROLE_CONV_WEIGHT] = { NULL, torch_weight },
		[OI_ROLE_CONV_TRANSPOSE_WEIGHT] = { NULL, torch_weight },
		[OI_ROLE_DENSE_WEIGHT] = { NULL, torch_weight },
		[OI_ROLE_BIAS] = { NULL, torch_bias },
		[OI_ROLE_EMBEDDING] = { "normal(mean=0,std=1)", NULL },
		[OI_ROLE_RNN_INPUT_WEIGHT] = { NULL, torch_rnn },
		[OI_ROLE_RNN_RECURRENT_WEIGHT] = { NULL, torch_rnn },
		[OI_ROLE_RNN_BIAS] = { NULL, torch_rnn },
		[OI_ROLE_RNN_PEEPHOLE] = { NULL, torch_rnn },
		[OI_ROLE_PRELU_SLOPE] = { "constant(value=0.25)", NULL },
	}, OI_RESIDUAL_NONE },
	{ "keras", OI_FANS_KERAS, {
		STATE_ROWS,
		[OI_ROLE_CONV_WEIGHT] = { "glorot_uniform", NULL },
		[OI_ROLE_CONV_TRANSPOSE_WEIGHT] = { "glorot_uniform", NULL },
		[OI_ROLE_DENSE_WEIGHT] = { "glorot_uniform", NULL },
		[OI_ROLE_BIAS] = { "zeros", NULL },
		[OI_ROLE_EMBEDDING] = { "uniform(low=-0.05,high=0.05)", NULL },
		[OI_ROLE_RNN_INPUT_WEIGHT] = { "glorot_uniform", NULL },
		[OI_ROLE_RNN_RECURRENT_WEIGHT] = { "orthogonal", NULL },
		[OI_ROLE_RNN_BIAS] = { NULL, keras_rnn_bias },
		[OI_ROLE_RNN_PEEPHOLE] = { "zeros", NULL },
		[OI_ROLE_PRELU_SLOPE] = { "zeros", NULL },
	}, OI_RESIDUAL_NONE },
	{ "flax", OI_FANS_KERAS, {
		STATE_ROWS,
		[OI_ROLE_CONV_WEIGHT] = { "lecun_normal", NULL },
		[OI_ROLE_CONV_TRANSPOSE_WEIGHT] = { "lecun_normal", NULL },
		[OI_ROLE_DENSE_WEIGHT] = { "lecun_normal", NULL },
		[OI_ROLE_BIAS] = { "zeros", NULL },
		[OI_ROLE_EMBEDDING] = { NULL, flax_embedding },
		[OI_ROLE_RNN_INPUT_WEIGHT] = { "lecun_normal", NULL },
		[OI_ROLE_RNN_RECURRENT_WEIGHT] = { "orthogonal", NULL },
		[OI_ROLE_RNN_BIAS] = { "zeros", NULL },
		[OI_ROLE_RNN_PEEPHOLE] = { "zeros", NULL },
		[OI_ROLE_PRELU_SLOPE] = { "constant(value=0.01)", NULL },
	}, OI_RESIDUAL_NONE },
	/* follows the graph: the activation after each layer */
	{ "auto", -1, {
		STATE_ROWS,
		[OI_ROLE_CONV_WEIGHT] = { NULL, auto_weight },
		[OI_ROLE_CONV_TRANSPOSE_WEIGHT] = { NULL, auto_weight },
		[OI_ROLE_DENSE_WEIGHT] = { NULL, auto_weight },
		[OI_ROLE_BIAS] = { "zeros", NULL },
		[OI_ROLE_EMBEDDING] = { "normal(mean=0,std=1)", NULL },
		[OI_ROLE_RNN_INPUT_WEIGHT] = { "xavier_uniform(gain=1)", NULL },
		[OI_ROLE_RNN_RECURRENT_WEIGHT] = { "orthogonal(gain=1)", NULL },
		[OI_ROLE_RNN_BIAS] = { "zeros", NULL },
		[OI_ROLE_RNN_PEEPHOLE] = { "zeros", NULL },
		[OI_ROLE_PRELU_SLOPE] = { "constant(value=0.25)", NULL },
	}, OI_RESIDUAL_NONE },
	/* GPT-2 (Radford et al. 2019) as its reference code and Hugging Face's
	 * and nanoGPT's _init_weights: N(0, 0.02) for every Linear/Conv1D and
	 * Embedding weight, zero biases, LayerNorm 1/0; and the residual
	 * projections scaled by 1/√(2·n_layer): residual mode scaled */
	{ "gpt2", -1, {
		STATE_ROWS,
		[OI_ROLE_CONV_WEIGHT] = { "normal(mean=0,std=0.02)", NULL },
		[OI_ROLE_CONV_TRANSPOSE_WEIGHT] = { "normal(mean=0,std=0.02)", NULL },
		[OI_ROLE_DENSE_WEIGHT] = { "normal(mean=0,std=0.02)", NULL },
		[OI_ROLE_EMBEDDING] = { "normal(mean=0,std=0.02)", NULL },
		[OI_ROLE_BIAS] = { "zeros", NULL },
		[OI_ROLE_RNN_INPUT_WEIGHT] = { "xavier_uniform(gain=1)", NULL },
		[OI_ROLE_RNN_RECURRENT_WEIGHT] = { "orthogonal(gain=1)", NULL },
		[OI_ROLE_RNN_BIAS] = { "zeros", NULL },
		[OI_ROLE_RNN_PEEPHOLE] = { "zeros", NULL },
		[OI_ROLE_PRELU_SLOPE] = { "constant(value=0.25)", NULL },
	}, OI_RESIDUAL_SCALED },
};

static const profile_def *find_profile(const char *name)
{
	for (size_t i = 0; i < sizeof profiles / sizeof *profiles; i++)
		if (!strcmp(profiles[i].name, name))
			return &profiles[i];
	return NULL;
}

bool oi__is_profile(const char *name)
{
	return find_profile(name) != NULL;
}

const char *oi__profile_name(size_t i)
{
	return i < sizeof profiles / sizeof *profiles ? profiles[i].name : NULL;
}

/* The SPEC profile p gives tensor t. */
static void profile_spec(const profile_def *p, const oi_tensor *t, char *out, size_t cap)
{
	oi_role r = t->role == OI_ROLE_NONE ? OI_ROLE_LEARNABLE_OTHER : t->role;
	if (r == OI_ROLE_LEARNABLE_OTHER) {
		if (t->info.ndim < 2) {
			snprintf(out, cap, "keep");
			return;
		}
		r = OI_ROLE_DENSE_WEIGHT;
	}
	const role_spec *rs = &p->role[r];
	if (rs->fn)
		rs->fn(t, out, cap);
	else
		snprintf(out, cap, "%s", rs->text ? rs->text : "keep");
}

/* A sparse tensor (a sparse initializer, a Constant's sparse_value, an
 * attribute's) stores fewer values than its dense shape, in the order of
 * its indices: the schemes that fill a shape (orthogonal, eye, dirac,
 * sparse) would write the wrong elements. */
static int fits_sparse(const oi_tensor *t, const char *scheme)
{
	if (t->sparse && oi__scheme_needs_dense(scheme))
		return oi__fail(OI_EARG, "scheme '%s' cannot fill the sparse tensor '%s'", scheme,
		                t->info.name);
	return 0;
}

/* Resolve a SPEC, a scheme's or a profile's, for t. */
static int resolve_spec(const oi_model *m, const oi_tensor *t, const oi_spec *spec,
                        uint64_t seed, oi_fill *out)
{
	const profile_def *p = find_profile(spec->name);
	if (!p)
		return oi__resolve_scheme(t, spec, m->fan_convention, seed, out);
	char text[160];
	profile_spec(p, t, text, sizeof text);
	oi_spec s;
	int rc = oi__spec_parse(text, &s);
	if (!rc)
		rc = fits_sparse(t, s.name);
	return rc ? rc : oi__resolve_scheme(t, &s, p->conv < 0 ? m->fan_convention : p->conv,
	                                    seed, out);
}

/* ---- the plan of one tensor --------------------------------------------- */

/* Tensors nobody asked for by name stay as they are: shapes, scalars,
 * quantization parameters, integer tensors, other nodes' attributes. */
static bool protected_tensor(const oi_tensor *t)
{
	const oi_tensor_info *i = &t->info;
	return !oi__dtype_is_float(i->dtype) || i->source == OI_SOURCE_ATTRIBUTE ||
	       t->role == OI_ROLE_FIXED;
}

static void set_keep(oi_tensor *t)
{
	free(t->fill);
	t->fill = NULL;
	t->info.action = OI_ACTION_KEEP;
	t->info.std = t->info.bound = NAN;
	t->info.donor_status = OI_DONOR_NONE;
	t->info.n_donor = t->info.n_transform = 0;
	t->info.donor = t->info.transform = NULL;
	t->info.donor_match = t->info.donor_note = NULL;
}

/* A plan's donor: the matching state and what to do with what it lacks. */
typedef struct donor_args {
	oi_donor_plan *plan;
	const oi_donor *donor;
	oi_unmatched unmatched;
	size_t n_unmatched;
	const char *first_unmatched; /* for --unmatched error's message */
} donor_args;

/* The donor's values for t, if the plan has a donor and no rule naming t
 * decides instead: 1 taken, 0 not (*keep set when t keeps its values), or
 * an error. */
static int plan_donor(oi_model *m, oi_tensor *t, const oi_spec *spec, const oi_rule *by,
                      bool prot, donor_args *da, bool *keep)
{
	bool want = !strcmp(spec->name, "donor");
	if (want && !da)
		return oi__fail(OI_EARG, "%s '%s': scheme 'donor' needs a donor to take values from",
		                by ? "rule" : "scheme", by ? by->text : spec->name);
	if (!da || (prot && !want))
		return 0;
	if (by && by->kind == OI_SEL_NAME && !want) {
		t->info.donor_status = OI_DONOR_RULE;
		return 0;
	}
	oi_fill f;
	int rc = oi__donor_match(m, da->plan, t, &f);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		t->fill = malloc(sizeof f);
		if (!t->fill)
			return oi__fail(OI_ENOMEM, "out of memory");
		*t->fill = f;
		/* the table's SCHEME column: where the values come from */
		char desc[600];
		size_t o = (size_t)snprintf(desc, sizeof desc, "donor(");
		for (size_t k = 0; k < t->info.n_donor && o < sizeof desc; k++)
			o += (size_t)snprintf(desc + o, sizeof desc - o, "%s%s", k ? "," : "",
			                      t->info.donor[k]);
		for (size_t k = 0; k < t->info.n_transform && o < sizeof desc; k++)
			o += (size_t)snprintf(desc + o, sizeof desc - o, "%s%s", k ? "," : "; ",
			                      t->info.transform[k]);
		if (o < sizeof desc)
			snprintf(desc + o, sizeof desc - o, ")");
		t->info.scheme = oi__model_strdup(m, desc);
		if (!t->info.scheme)
			return oi__fail(OI_ENOMEM, "out of memory");
		t->info.action = OI_ACTION_DONOR;
		return 1;
	}
	if (want)
		return oi__fail(OI_EINVALID, "%s '%s': the donor has no value for '%s'%s%s",
		                by ? "rule" : "scheme", by ? by->text : spec->name, t->info.name,
		                t->info.donor_note ? ": " : "",
		                t->info.donor_note ? t->info.donor_note : "");
	if (!da->n_unmatched++)
		da->first_unmatched = t->info.name;
	*keep = da->unmatched != OI_UNMATCHED_SCHEME;
	return 0;
}

/* matched[k] counts the tensors rule k selects; *fallbacks those that
 * follow the auto profile where the default scheme does not fit; residual
 * is the residual mode (not OI_RESIDUAL_DEFAULT). */
static int plan_tensor(oi_model *m, oi_tensor *t, const oi_spec *dflt, const oi_rules *rules,
                       size_t *matched, uint64_t seed, size_t *fallbacks, oi_residual residual,
                       donor_args *da)
{
	const oi_spec *spec = dflt;
	const oi_rule *by = NULL;
	bool prot = protected_tensor(t);
	for (size_t k = 0; k < rules->n; k++) {
		const oi_rule *r = &rules->rule[k];
		if (!oi__rule_matches(r, t) || (prot && r->kind != OI_SEL_NAME))
			continue;
		matched[k]++;
		spec = &r->spec;
		by = r;
	}
	set_keep(t);
	bool dkeep = false;
	int drc = plan_donor(m, t, spec, by, prot, da, &dkeep);
	if (drc)
		return drc < 0 ? drc : 0;
	if (dkeep) {
		t->info.scheme = "keep";
		return 0;
	}
	/* running statistics are state, not learnable: a default scheme leaves
	 * them to the auto profile (mean 0, var 1); a rule may still name them */
	oi_spec auto_spec;
	if (!by && !oi__is_profile(spec->name) && strcmp(spec->name, "keep") &&
	    (t->role == OI_ROLE_NORM_MEAN || t->role == OI_ROLE_NORM_VAR)) {
		oi__spec_parse("auto", &auto_spec);
		spec = &auto_spec;
	}
	bool keep = !strcmp(spec->name, "keep") || (prot && !by);
	if (!keep && !oi__dtype_is_float(t->info.dtype)) {
		/* a glob that happens to cover an integer tensor leaves it alone; a
		 * rule naming it outright asks for the impossible */
		if (oi__rule_is_glob(by))
			keep = true;
		else
			return oi__fail(OI_EARG, "rule '%s': tensor '%s' is %s; schemes write float "
			                "tensors", by->text, t->info.name, oi_dtype_name(t->info.dtype));
	}
	/* a scheme asked for by name is refused; a profile's keeps the tensor */
	int rc = keep ? 0 : fits_sparse(t, spec->name);
	if (rc)
		return rc;
	oi_fill f;
	if (!keep) {
		rc = resolve_spec(m, t, spec, seed, &f);
		if (rc == OI_EARG && !by && oi__is_profile(spec->name)) {
			/* a profile never fails a run: what it cannot fill stays */
			rc = oi__warn(m, "profile '%s' cannot fill '%s' (%s); it is kept", spec->name,
			              t->info.name, oi_last_error());
			keep = true;
			f.kind = OI_FILL_KEEP;
		} else if (rc == OI_EARG && !by && !oi__is_profile(spec->name)) {
			/* the default scheme does not fit this tensor (a norm's missing
			 * fans, a 1-D bias for orthogonal): the auto profile decides */
			char why[512];
			snprintf(why, sizeof why, "%s", oi_last_error());
			oi_spec a;
			oi__spec_parse("auto", &a);
			rc = resolve_spec(m, t, &a, seed, &f);
			if (!rc) {
				(*fallbacks)++;
				if (*fallbacks <= 20)
					rc = oi__warn(m, "%s; '%s' follows the auto profile: %s", why,
					              t->info.name, f.desc);
			}
		} else if (rc == OI_EARG && by) {
			char why[512];
			snprintf(why, sizeof why, "%s", oi_last_error());
			return oi__fail(OI_EARG, "rule '%s': %s", by->text, why);
		}
		if (rc)
			return rc;
		keep = f.kind == OI_FILL_KEEP;
	}
	/* the residual mode adjusts what the scheme gave, unless a rule chose
	 * this tensor by name */
	if (residual != OI_RESIDUAL_NONE && !prot && !(by && by->kind == OI_SEL_NAME)) {
		rc = oi__residual_adjust(m, t, residual, seed, &f, &keep);
		if (rc)
			return rc;
	}
	if (!keep) {
		double max = t->info.dtype == OI_DTYPE_FLOAT16 ? 65504.0
		             : t->info.dtype == OI_DTYPE_DOUBLE ? 1.79769313486231570815e308
		                                                 : 3.40282346638528859812e38;
		if (!keep && !isnan(f.bound) && f.bound > max)
			return oi__fail(OI_EARG, "%s '%s': tensor '%s' would get values up to %g, which "
			                "%s cannot hold (largest %g)", by ? "rule" : "scheme",
			                by ? by->text : spec->name, t->info.name, f.bound,
			                oi_dtype_name(t->info.dtype), max);
	}
	if (keep) {
		t->info.scheme = "keep";
		return 0;
	}
	/* the previous plan's scheme string stays in the pool: a caller may
	 * still hold it */
	t->fill = malloc(sizeof f);
	const char *desc = oi__model_strdup(m, f.desc);
	if (!t->fill || !desc)
		return oi__fail(OI_ENOMEM, "out of memory");
	*t->fill = f;
	t->info.scheme = desc;
	t->info.action = OI_ACTION_REINIT;
	t->info.std = f.std;
	t->info.bound = f.bound;
	return 0;
}

/* ---- the plan of the model ---------------------------------------------- */

static char *provenance_json(oi_model *m, const char *scheme, uint64_t seed,
                             const oi_rules *rules, oi_residual residual, const oi_donor *donor)
{
	json_t *o = json_object(), *arr = json_array();
	json_object_set_new(o, "version", json_string(OI_VERSION_STRING));
	/* which random stream made the values (rng.h): bytes are reproducible
	 * within one stream version */
	json_object_set_new(o, "stream", json_integer(OI_STREAM_VERSION));
	if (seed > (uint64_t)INT64_MAX) {
		char buf[24];
		snprintf(buf, sizeof buf, "%llu", (unsigned long long)seed);
		json_object_set_new(o, "seed", json_string(buf));
	} else {
		json_object_set_new(o, "seed", json_integer((json_int_t)seed));
	}
	json_object_set_new(o, "scheme", json_string(scheme));
	for (size_t i = 0; i < rules->n; i++)
		json_array_append_new(arr, json_string(rules->rule[i].text));
	json_object_set_new(o, "rules", arr);
	if (residual != OI_RESIDUAL_NONE)
		json_object_set_new(o, "residual", json_string(oi_residual_name(residual)));
	if (donor) {
		/* the digest, if the donor was hashed already; else the save
		 * hashes it while it writes and puts it in place of the mark */
		oi_donor *dd = (oi_donor *)(uintptr_t)donor;
		const char *sha = oi__donor_digest_ready(dd);
		if (!sha) {
			sha = OI_DIGEST_PENDING;
			m->prov_donor = dd;
		}
		const char *base = strrchr(donor->path, '/');
		json_t *from = json_object();
		json_object_set_new(from, "file", json_string(base && base[1] ? base + 1 : donor->path));
		json_object_set_new(from, "sha256", json_string(sha));
		json_object_set_new(o, "from", from);
	}
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* What plan_tensor needs besides the tensor: untie.c plans its new tensors
 * through it, with the same rules. */
typedef struct plan_args {
	const oi_spec *dflt;
	const oi_rules *rules;
	size_t *matched;
	uint64_t seed;
	size_t *fallbacks;
	oi_residual residual;
	donor_args *da;
} plan_args;

static int plan_one(oi_model *m, oi_tensor *t, void *ud)
{
	const plan_args *a = ud;
	return plan_tensor(m, t, a->dflt, a->rules, a->matched, a->seed, a->fallbacks,
	                   a->residual, a->da);
}

/* Plan every tensor, untie those whose readers want different values; then
 * the warnings about the whole plan. */
static int plan_tensors(oi_model *m, const oi_spec *dflt, const char *scheme,
                        const oi_rules *rules, uint64_t seed, bool untie, oi_residual residual,
                        donor_args *da)
{
	size_t *matched = oi__calloc(rules->n ? rules->n : 1, sizeof *matched);
	if (!matched)
		return OI_ENOMEM;
	size_t fallbacks = 0;
	int rc = 0;
	for (size_t i = 0; i < m->n_tensors && !rc; i++)
		rc = plan_tensor(m, &m->tensors[i], dflt, rules, matched, seed, &fallbacks, residual,
		                 da);
	if (!rc) {
		plan_args pa = { dflt, rules, matched, seed, &fallbacks, residual, da };
		rc = oi__untie_plan(m, seed, untie, da && da->plan, plan_one, &pa);
	}
	if (!rc && fallbacks > 20)
		rc = oi__warn(m, "%zu more tensors follow the auto profile where the default scheme '%s' "
		              "does not fit", fallbacks - 20, scheme);
	for (size_t k = 0; k < rules->n && !rc; k++)
		if (!matched[k])
			rc = oi__warn(m, "rule '%s' matches no tensor", rules->rule[k].text);
	free(matched);
	return rc;
}

/* After the tensors: the donor's unexpected tensors, and the failures a
 * donor brings (matching nothing; --unmatched error). */
static int donor_finish(oi_model *m, donor_args *da)
{
	size_t n = 0;
	int rc = oi__donor_plan_end(m, da->plan, &n);
	if (rc)
		return rc;
	if (!n)
		return oi__fail(OI_EINVALID, "%s: none of its %zu tensors matches a tensor of the "
		                "model by name, module path or place in the graph; name them with "
		                "--from-map", da->donor->path, da->donor->n);
	if (da->unmatched == OI_UNMATCHED_ERROR && da->n_unmatched)
		return oi__fail(OI_EINVALID, "%zu learnable tensor%s the donor does not provide "
		                "(the first: '%s'); --unmatched scheme or keep lets them be",
		                da->n_unmatched, da->n_unmatched == 1 ? "" : "s", da->first_unmatched);
	return 0;
}

/* The residual mode asked for, or the one the default profile implies; the
 * Adds that might be blocks, and a model with no blocks, are told so. */
static int residual_mode(oi_model *m, oi_residual asked, const oi_spec *dflt, oi_residual *out)
{
	if ((unsigned)asked > OI_RESIDUAL_FIXUP)
		return oi__fail(OI_EARG, "unknown residual mode %d", (int)asked);
	const profile_def *p = find_profile(dflt->name);
	*out = asked ? asked : p ? p->residual : OI_RESIDUAL_NONE;
	if (*out == OI_RESIDUAL_NONE)
		return 0;
	int rc = oi__residual_notes(m);
	if (rc || oi__residual_any(m))
		return rc;
	return oi__warn(m, "residual mode '%s'%s: the model has no residual blocks; nothing "
	                "changes for it", oi_residual_name(*out), asked ? "" : " (the profile's)");
}

int oi_model_plan(oi_model *m, const oi_init_options *opts)
{
	static const oi_rules no_rules;
	/* version 2 ends before the donor fields */
	if (!opts || (opts->version != OI_INIT_OPTIONS_VERSION && opts->version != 2))
		return oi__fail(OI_EARG, "oi_init_options missing or of another version");
	const oi_donor *donor = opts->version >= 3 ? opts->donor : NULL;
	if (donor && (unsigned)opts->unmatched > OI_UNMATCHED_ERROR)
		return oi__fail(OI_EARG, "unknown unmatched mode %d", (int)opts->unmatched);
	int rc = m->analysed ? 0 : oi_model_analyse(m, NULL);
	if (rc)
		return rc;
	/* the previous plan's warnings go; their strings stay in the pool */
	m->n_warnings = m->n_analysis_warnings;
	const oi_rules *rules = opts->rules ? opts->rules : &no_rules;
	const char *scheme = opts->scheme ? opts->scheme : rules->scheme ? rules->scheme : "auto";
	oi_spec dflt;
	rc = oi__spec_parse(scheme, &dflt);
	if (!rc)
		rc = oi__spec_check(&dflt);
	oi_residual residual = OI_RESIDUAL_NONE;
	if (!rc)
		rc = residual_mode(m, opts->residual, &dflt, &residual);
	donor_args da = { NULL, donor, donor ? opts->unmatched : OI_UNMATCHED_SCHEME, 0, NULL };
	m->donor_unexpected = NULL;
	m->n_donor_unexpected = 0;
	if (!rc && donor)
		rc = oi__donor_plan_begin(m, donor, opts->bn_eps, !opts->no_untie, &da.plan);
	if (!rc)
		rc = plan_tensors(m, &dflt, scheme, rules, opts->seed, !opts->no_untie, residual,
		                  donor ? &da : NULL);
	if (!rc && donor)
		rc = donor_finish(m, &da);
	oi__donor_plan_free(da.plan);
	for (size_t i = 0; i < m->n_ext; i++)
		m->ext[i].changed = false;
	for (size_t i = 0; i < m->n_tensors; i++)
		if (m->tensors[i].info.action != OI_ACTION_KEEP && m->tensors[i].ext >= 0)
			m->ext[m->tensors[i].ext].changed = true;
	free(m->provenance);
	m->provenance = NULL;
	m->prov_donor = NULL;
	if (!rc && oi_model_changed_count(m) && !opts->no_provenance) {
		m->provenance = provenance_json(m, scheme, opts->seed, rules, residual, donor);
		if (!m->provenance)
			rc = oi__fail(OI_ENOMEM, "out of memory");
		if (!rc)
			rc = oi__untie_provenance(m);
	}
	if (rc) {
		for (size_t i = 0; i < m->n_tensors; i++)
			set_keep(&m->tensors[i]);
		oi__untie_clear(m);
		return rc;
	}
	return oi__ok();
}

size_t oi_model_changed_count(const oi_model *m)
{
	size_t n = 0;
	for (size_t i = 0; i < m->n_tensors; i++)
		n += m->tensors[i].info.action != OI_ACTION_KEEP;
	return n + oi__untie_changed(m);
}
