/* The model's string pool: what oi_model_* hands out stays valid until
 * oi_model_free, however often the model is planned and saved again. */
#include <stdlib.h>

#include "model.h"

int oi__model_pool_reserve(oi_model *m, size_t more)
{
	if (m->cap_pool - m->n_pool >= more)
		return 0;
	size_t cap = m->cap_pool ? m->cap_pool : 64;
	while (cap - m->n_pool < more)
		cap *= 2;
	char **p = oi__reallocarray(m->pool, cap, sizeof *p);
	if (!p)
		return OI_ENOMEM;
	m->pool = p;
	m->cap_pool = cap;
	return 0;
}

char *oi__model_keep(oi_model *m, char *s)
{
	if (s && oi__model_pool_reserve(m, 1) == 0) {
		m->pool[m->n_pool++] = s;
		return s;
	}
	free(s);
	return NULL;
}

const char *oi__model_strdup(oi_model *m, const char *s)
{
	return oi__model_keep(m, oi__strdup(s));
}

void oi__model_pool_free(oi_model *m)
{
	for (size_t i = 0; i < m->n_pool; i++)
		free(m->pool[i]);
	free(m->pool);
	m->pool = NULL;
	m->n_pool = m->cap_pool = 0;
}
