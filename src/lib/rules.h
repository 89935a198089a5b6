/* Rules: "SELECTOR=SPEC" each, from the caller or a rules file, checked as
 * they are added; a plan reads them and never changes them. */
#ifndef OI_RULES_H
#define OI_RULES_H

#include "model.h"
#include "schemes.h"

enum { OI_SEL_NAME, OI_SEL_ROLE, OI_SEL_OP };

typedef struct oi_rule {
	int kind;        /* OI_SEL_* */
	oi_role role;    /* OI_SEL_ROLE: the role */
	char *glob;      /* the selector without its prefix */
	char *text;      /* the rule as given, for messages and provenance */
	oi_spec spec;
} oi_rule;

struct oi_rules {
	oi_rule *rule;   /* in the order added: later ones win */
	size_t n, cap;
	char *scheme;    /* the last rules file's "scheme", or NULL */
};

bool oi__rule_matches(const oi_rule *r, const oi_tensor *t);
/* Whether the selector is a pattern, not one tensor's name. */
bool oi__rule_is_glob(const oi_rule *r);

#endif
