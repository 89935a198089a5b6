/* See rules.h. */
#include <fnmatch.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"

static int parse_rule(const char *selector, const char *spec_text, const char *text,
                      oi_rule *r)
{
	memset(r, 0, sizeof *r);
	const char *glob = selector;
	r->kind = OI_SEL_NAME;
	if (!strncmp(selector, "name:", 5)) {
		glob = selector + 5;
	} else if (!strncmp(selector, "role:", 5)) {
		r->kind = OI_SEL_ROLE;
		glob = selector + 5;
		r->role = oi__role_parse(glob);
		if (r->role == OI_ROLE_NONE)
			return oi__fail(OI_EARG, "rule '%s': unknown role '%s'", text, glob);
	} else if (!strncmp(selector, "op:", 3)) {
		r->kind = OI_SEL_OP;
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

static int parse_rule_text(const char *text, oi_rule *r)
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

static void free_rule_array(oi_rule *rules, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(rules[i].glob);
		free(rules[i].text);
	}
	free(rules);
}

/* The rules of a file's list into *rules (n parsed or being parsed). */
static int parse_rule_list(const json_t *list, const char *name, oi_rule **rules, size_t *n)
{
	size_t count = json_array_size(list);
	oi_rule *arr = oi__calloc(count, sizeof *arr);
	if (!arr)
		return OI_ENOMEM;
	*rules = arr;
	int rc = 0;
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
	return rc;
}

/* A rules file: {"scheme": SPEC, "rules": [...]} or just [...]; each rule is
 * "SELECTOR=SPEC" or {"select": SELECTOR, "scheme": SPEC}. */
static int parse_rules_json(const char *text, const char *name, oi_rule **rules, size_t *n,
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
	rc = parse_rule_list(list, name, rules, n);
	if (rc && rc != OI_ENOMEM && strncmp(oi_last_error(), name, strlen(name))) {
		char why[512];
		snprintf(why, sizeof why, "%s", oi_last_error());
		oi__fail(rc, "%s: %s", name, why);
	}
out:
	json_decref(root);
	return rc;
}

bool oi__rule_matches(const oi_rule *r, const oi_tensor *t)
{
	const oi_tensor_info *i = &t->info;
	switch (r->kind) {
	case OI_SEL_ROLE: return t->role == r->role;
	case OI_SEL_OP: return i->op && fnmatch(r->glob, i->op, 0) == 0;
	default: return fnmatch(r->glob, i->name, 0) == 0;
	}
}

bool oi__rule_is_glob(const oi_rule *r)
{
	return strpbrk(r->glob, "*?[") != NULL;
}

/* ---- the public object -------------------------------------------------- */

int oi_rules_new(oi_rules **out)
{
	if (!out)
		return oi__fail(OI_EARG, "oi_rules_new: out is NULL");
	*out = oi__calloc(1, sizeof **out);
	return *out ? oi__ok() : OI_ENOMEM;
}

void oi_rules_free(oi_rules *rules)
{
	if (!rules)
		return;
	free_rule_array(rules->rule, rules->n);
	free(rules->scheme);
	free(rules);
}

/* Room for more rules. */
static int reserve(oi_rules *rules, size_t more)
{
	if (rules->n + more <= rules->cap)
		return 0;
	size_t cap = rules->cap ? rules->cap : 8;
	while (cap < rules->n + more)
		cap *= 2;
	oi_rule *p = oi__reallocarray(rules->rule, cap, sizeof *p);
	if (!p)
		return OI_ENOMEM;
	rules->rule = p;
	rules->cap = cap;
	return 0;
}

int oi_rules_add(oi_rules *rules, const char *text)
{
	if (!rules || !text)
		return oi__fail(OI_EARG, "oi_rules_add: rules or rule is NULL");
	int rc = reserve(rules, 1);
	if (rc)
		return rc;
	oi_rule r;
	rc = parse_rule_text(text, &r);
	if (rc) {
		free(r.glob);
		free(r.text);
		return rc;
	}
	rules->rule[rules->n++] = r;
	return oi__ok();
}

int oi_rules_add_json(oi_rules *rules, const char *json, const char *name)
{
	if (!rules || !json)
		return oi__fail(OI_EARG, "oi_rules_add_json: rules or json is NULL");
	oi_rule *more = NULL;
	size_t n = 0;
	char *scheme = NULL;
	int rc = parse_rules_json(json, name ? name : "rules file", &more, &n, &scheme);
	if (!rc)
		rc = reserve(rules, n);
	if (rc) {
		free_rule_array(more, n);
		free(scheme);
		return rc;
	}
	if (n)
		memcpy(rules->rule + rules->n, more, n * sizeof *more);
	rules->n += n;
	free(more);
	if (scheme) {
		free(rules->scheme);
		rules->scheme = scheme;
	}
	return oi__ok();
}
