/* The plan: for every tensor, the scheme it gets from the default scheme or
 * profile and the rules, resolved into a fill with its std and bound. */
#include <fnmatch.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model.h"
#include "schemes.h"
#include "tensor.h"
#include "untie.h"

enum { SEL_NAME, SEL_ROLE, SEL_OP };

typedef struct rule {
	int kind;
	char *glob;
	char *text;      /* the rule as given, for messages and provenance */
	oi_spec spec;
	size_t matched;
} rule;

static bool known_role(const char *r)
{
	return oi__role_parse(r) != OI_ROLE_NONE;
}

static int parse_rule(const char *selector, const char *spec_text, const char *text, rule *r)
{
	memset(r, 0, sizeof *r);
	const char *glob = selector;
	r->kind = SEL_NAME;
	if (!strncmp(selector, "name:", 5)) {
		glob = selector + 5;
	} else if (!strncmp(selector, "role:", 5)) {
		r->kind = SEL_ROLE;
		glob = selector + 5;
		if (!known_role(glob))
			return oi__fail(OI_EARG, "rule '%s': unknown role '%s'", text, glob);
	} else if (!strncmp(selector, "op:", 3)) {
		r->kind = SEL_OP;
		glob = selector + 3;
	}
	if (!*glob)
		return oi__fail(OI_EARG, "rule '%s': empty selector", text);
	int rc = oi__spec_parse(spec_text, &r->spec);
	if (!rc)
		rc = oi__spec_check(&r->spec);
	if (rc) {
		char why[512];
		snprintf(why, sizeof why, "%s", oi_last_error());
		return oi__fail(OI_EARG, "rule '%s': %s", text, why);
	}
	r->glob = oi__strdup(glob);
	r->text = oi__strdup(text);
	return r->glob && r->text ? 0 : OI_ENOMEM;
}

static int parse_rule_text(const char *text, rule *r)
{
	memset(r, 0, sizeof *r); /* freed on every path, parsed or not */
	const char *eq = strchr(text, '=');
	if (!eq)
		return oi__fail(OI_EARG, "rule '%s': expected SELECTOR=SPEC", text);
	char selector[256];
	size_t n = (size_t)(eq - text);
	if (n >= sizeof selector)
		return oi__fail(OI_EARG, "rule '%s': selector too long", text);
	memcpy(selector, text, n);
	selector[n] = 0;
	return parse_rule(selector, eq + 1, text, r);
}

static void free_rules(rule *rules, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(rules[i].glob);
		free(rules[i].text);
	}
	free(rules);
}

/* A rules file: {"scheme": SPEC, "rules": [...]} or just [...]; each rule is
 * "SELECTOR=SPEC" or {"select": SELECTOR, "scheme": SPEC}. */
static int parse_rules_json(const char *text, const char *name, rule **rules, size_t *n,
                            char **scheme)
{
	json_error_t err;
	json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &err);
	if (!root)
		return oi__fail(OI_EARG, "%s: not valid JSON: %s (line %d, column %d)", name, err.text,
		                err.line, err.column);
	int rc = 0;
	json_t *list = root;
	if (json_is_object(root)) {
		const char *key;
		json_t *val;
		json_object_foreach(root, key, val) {
			if (strcmp(key, "scheme") && strcmp(key, "rules")) {
				rc = oi__fail(OI_EARG, "%s: unknown key '%s' (expected \"scheme\" and \"rules\")",
				              name, key);
				goto out;
			}
		}
		json_t *s = json_object_get(root, "scheme");
		if (s) {
			if (!json_is_string(s)) {
				rc = oi__fail(OI_EARG, "%s: \"scheme\" must be a string", name);
				goto out;
			}
			*scheme = oi__strdup(json_string_value(s));
			if (!*scheme) {
				rc = OI_ENOMEM;
				goto out;
			}
		}
		list = json_object_get(root, "rules");
		if (!list)
			goto out;
	}
	if (!json_is_array(list)) {
		rc = oi__fail(OI_EARG, "%s: \"rules\" must be an array", name);
		goto out;
	}
	size_t count = json_array_size(list);
	rule *arr = oi__calloc(count, sizeof *arr);
	if (!arr) {
		rc = OI_ENOMEM;
		goto out;
	}
	*rules = arr;
	for (size_t i = 0; i < count && !rc; i++) {
		json_t *item = json_array_get(list, i);
		if (json_is_string(item)) {
			rc = parse_rule_text(json_string_value(item), &arr[i]);
		} else if (json_is_object(item) && json_is_string(json_object_get(item, "select")) &&
		           json_is_string(json_object_get(item, "scheme"))) {
			const char *sel = json_string_value(json_object_get(item, "select"));
			const char *sch = json_string_value(json_object_get(item, "scheme"));
			char *t = oi__asprintf("%s=%s", sel, sch);
			rc = t ? parse_rule(sel, sch, t, &arr[i]) : OI_ENOMEM;
			free(t);
		} else {
			rc = oi__fail(OI_EARG, "%s: rule %zu must be \"SELECTOR=SPEC\" or "
			              "{\"select\": ..., \"scheme\": ...}", name, i + 1);
		}
		*n = i + 1;
	}
	if (rc && rc != OI_ENOMEM && strncmp(oi_last_error(), name, strlen(name))) {
		char why[512];
		snprintf(why, sizeof why, "%s", oi_last_error());
		oi__fail(rc, "%s: %s", name, why);
	}
out:
	json_decref(root);
	return rc;
}

static bool rule_matches(const rule *r, const oi_tensor *t)
{
	const oi_tensor_info *i = &t->info;
	switch (r->kind) {
	case SEL_ROLE: return i->role && !strcmp(r->glob, i->role);
	case SEL_OP: return i->op && fnmatch(r->glob, i->op, 0) == 0;
	default: return fnmatch(r->glob, i->name, 0) == 0;
	}
}

/* Tensors nobody asked for by name stay as they are: shapes, scalars,
 * quantization parameters, integer tensors, other nodes' attributes. */
static bool protected_tensor(const oi_tensor *t)
{
	const oi_tensor_info *i = &t->info;
	return !oi__dtype_is_float(i->dtype) || i->source == OI_SOURCE_ATTRIBUTE ||
	       (i->role && !strcmp(i->role, "fixed"));
}

static void set_keep(oi_tensor *t)
{
	free(t->fill);
	t->fill = NULL;
	t->info.action = OI_ACTION_KEEP;
	t->info.std = t->info.bound = NAN;
}

static int plan_tensor(oi_model *m, oi_tensor *t, const oi_spec *dflt, rule *rules, size_t n,
                       uint64_t seed, size_t *fallbacks)
{
	const oi_spec *spec = dflt;
	const rule *by = NULL;
	bool prot = protected_tensor(t);
	for (size_t k = 0; k < n; k++) {
		if (!rule_matches(&rules[k], t) || (prot && rules[k].kind != SEL_NAME))
			continue;
		rules[k].matched++;
		spec = &rules[k].spec;
		by = &rules[k];
	}
	set_keep(t);
	free(t->scheme_own);
	t->scheme_own = NULL;
	/* running statistics are state, not learnable: a default scheme leaves
	 * them to the auto profile (mean 0, var 1); a rule may still name them */
	oi_spec auto_spec;
	const char *r = t->info.role ? t->info.role : "";
	if (!by && !oi__is_profile(spec->name) && strcmp(spec->name, "keep") &&
	    (!strcmp(r, "norm_mean") || !strcmp(r, "norm_var"))) {
		oi__spec_parse("auto", &auto_spec);
		spec = &auto_spec;
	}
	bool keep = !strcmp(spec->name, "keep") || (prot && !by);
	if (!keep && !oi__dtype_is_float(t->info.dtype)) {
		/* a glob that happens to cover an integer tensor leaves it alone; a
		 * rule naming it outright asks for the impossible */
		if (strpbrk(by->glob, "*?["))
			keep = true;
		else
			return oi__fail(OI_EARG, "rule '%s': tensor '%s' is %s; schemes write float "
			                "tensors", by->text, t->info.name, oi_dtype_name(t->info.dtype));
	}
	if (!keep && t->info.source == OI_SOURCE_SPARSE_INITIALIZER &&
	    (!strcmp(spec->name, "orthogonal") || !strcmp(spec->name, "sparse") ||
	     !strcmp(spec->name, "eye") || !strcmp(spec->name, "dirac")))
		return oi__fail(OI_EARG, "scheme '%s' cannot fill the sparse tensor '%s'", spec->name,
		                t->info.name);
	oi_fill f;
	int rc = 0;
	if (!keep) {
		rc = oi__resolve(m, t, spec, m->fan_convention, seed, &f);
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
			rc = oi__resolve(m, t, &a, m->fan_convention, seed, &f);
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
		t->scheme_own = oi__strdup("keep");
		t->info.scheme = t->scheme_own;
		return t->scheme_own ? 0 : OI_ENOMEM;
	}
	t->fill = malloc(sizeof f);
	t->scheme_own = oi__strdup(f.desc);
	if (!t->fill || !t->scheme_own)
		return oi__fail(OI_ENOMEM, "out of memory");
	*t->fill = f;
	t->info.scheme = t->scheme_own;
	t->info.action = OI_ACTION_REINIT;
	t->info.std = f.std;
	t->info.bound = f.bound;
	return 0;
}

/* What plan_tensor needs besides the tensor: untie.c plans its new tensors
 * through it, with the same rules. */
typedef struct plan_args {
	const oi_spec *dflt;
	rule *rules;
	size_t n;
	uint64_t seed;
	size_t *fallbacks;
} plan_args;

static int plan_one(oi_model *m, oi_tensor *t, void *ud)
{
	const plan_args *a = ud;
	return plan_tensor(m, t, a->dflt, a->rules, a->n, a->seed, a->fallbacks);
}

static char *provenance_json(const char *scheme, uint64_t seed, const rule *rules, size_t n)
{
	json_t *o = json_object(), *arr = json_array();
	json_object_set_new(o, "version", json_string(OI_VERSION_STRING));
	if (seed > (uint64_t)INT64_MAX) {
		char buf[24];
		snprintf(buf, sizeof buf, "%llu", (unsigned long long)seed);
		json_object_set_new(o, "seed", json_string(buf));
	} else {
		json_object_set_new(o, "seed", json_integer((json_int_t)seed));
	}
	json_object_set_new(o, "scheme", json_string(scheme));
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_string(rules[i].text));
	json_object_set_new(o, "rules", arr);
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

int oi_model_plan(oi_model *m, const oi_init_options *opts)
{
	if (!opts || opts->version != OI_INIT_OPTIONS_VERSION)
		return oi__fail(OI_EARG, "oi_init_options missing or of another version");
	rule *rules = NULL;
	size_t n = 0;
	char *json_scheme = NULL;
	int rc = 0;
	size_t n_files = opts->n_rule_files + (opts->rules_json != NULL);
	for (size_t f = 0; f < n_files && !rc; f++) {
		bool last = f == opts->n_rule_files;
		const char *text = last ? opts->rules_json : opts->rule_files[f];
		const char *name = last ? opts->rules_json_name
		                        : opts->rule_file_names ? opts->rule_file_names[f] : NULL;
		rule *more = NULL;
		size_t n_more = 0;
		char *sch = NULL;
		rc = parse_rules_json(text, name ? name : "rules file", &more, &n_more, &sch);
		if (sch) {
			free(json_scheme);
			json_scheme = sch;
		}
		rule *all = rc ? NULL : oi__reallocarray(rules, n + n_more, sizeof *rules);
		if (!rc && !all)
			rc = OI_ENOMEM;
		if (all) {
			rules = all;
			memcpy(rules + n, more, n_more * sizeof *more);
			n += n_more;
			free(more);
		} else {
			free_rules(more, n_more);
		}
	}
	if (!rc && opts->n_rules) {
		rule *more = oi__reallocarray(rules, n + opts->n_rules, sizeof *rules);
		if (!more) {
			rc = OI_ENOMEM;
		} else {
			rules = more;
			for (size_t i = 0; i < opts->n_rules && !rc; i++) {
				rc = parse_rule_text(opts->rules[i], &rules[n]);
				n++;
			}
		}
	}
	const char *scheme = opts->scheme ? opts->scheme : json_scheme ? json_scheme : "auto";
	oi_spec dflt;
	if (!rc) {
		rc = oi__spec_parse(scheme, &dflt);
		if (!rc)
			rc = oi__spec_check(&dflt);
	}
	m->threads = opts->threads;
	size_t fallbacks = 0;
	for (size_t i = 0; i < m->n_tensors && !rc; i++)
		rc = plan_tensor(m, &m->tensors[i], &dflt, rules, n, opts->seed, &fallbacks);
	if (!rc) {
		plan_args pa = { &dflt, rules, n, opts->seed, &fallbacks };
		rc = oi__untie_plan(m, opts->seed, !opts->no_untie, plan_one, &pa);
	}
	if (!rc && fallbacks > 20)
		rc = oi__warn(m, "%zu more tensors follow the auto profile where the default scheme '%s' "
		              "does not fit", fallbacks - 20, scheme);
	for (size_t k = 0; k < n && !rc; k++)
		if (!rules[k].matched)
			rc = oi__warn(m, "rule '%s' matches no tensor", rules[k].text);
	for (size_t i = 0; i < m->n_ext; i++)
		m->ext[i].changed = false;
	for (size_t i = 0; i < m->n_tensors; i++)
		if (m->tensors[i].info.action != OI_ACTION_KEEP && m->tensors[i].ext >= 0)
			m->ext[m->tensors[i].ext].changed = true;
	free(m->provenance);
	m->provenance = NULL;
	if (!rc && oi_model_changed_count(m) && !opts->no_provenance) {
		m->provenance = provenance_json(scheme, opts->seed, rules, n);
		if (!m->provenance)
			rc = oi__fail(OI_ENOMEM, "out of memory");
		if (!rc)
			rc = oi__untie_provenance(m);
	}
	if (rc) {
		for (size_t i = 0; i < m->n_tensors; i++)
			set_keep(&m->tensors[i]);
		oi__untie_clear(m);
	}
	free_rules(rules, n);
	free(json_scheme);
	return rc;
}

size_t oi_model_changed_count(const oi_model *m)
{
	size_t n = 0;
	for (size_t i = 0; i < m->n_tensors; i++)
		n += m->tensors[i].info.action != OI_ACTION_KEEP;
	return n + oi__untie_changed(m);
}

unsigned oi__threads(const oi_model *m)
{
	if (m->threads)
		return m->threads;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)(n > 64 ? 64 : n) : 1;
}
