/* Small allocation helpers, a byte buffer and a string set. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void *oi__calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oi__fail(OI_ENOMEM, "out of memory");
	return p;
}

void *oi__reallocarray(void *p, size_t n, size_t size)
{
	size_t bytes;
	if (__builtin_mul_overflow(n, size, &bytes)) {
		oi__fail(OI_ENOMEM, "out of memory (size overflow)");
		return NULL;
	}
	void *q = realloc(p, bytes ? bytes : 1);
	if (!q)
		oi__fail(OI_ENOMEM, "out of memory");
	return q;
}

int oi__grow(void *arrp, size_t *cap, size_t elem)
{
	/* arrp is the address of a T *: read and written as bytes, which any
	 * object pointer of the platforms we build for is */
	void *arr;
	memcpy(&arr, arrp, sizeof arr);
	size_t ncap = *cap ? *cap * 2 : 16;
	if (ncap < *cap)
		return oi__fail(OI_ENOMEM, "out of memory (size overflow)");
	void *p = oi__reallocarray(arr, ncap, elem);
	if (!p)
		return OI_ENOMEM;
	memcpy(arrp, &p, sizeof p);
	*cap = ncap;
	return 0;
}

char *oi__strdup(const char *s)
{
	char *d = strdup(s ? s : "");
	if (!d)
		oi__fail(OI_ENOMEM, "out of memory");
	return d;
}

char *oi__asprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		oi__fail(OI_ENOMEM, "out of memory");
		return NULL;
	}
	return s;
}

char *oi__dirname(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return oi__strdup(".");
	if (slash == path)
		return oi__strdup("/");
	return oi__asprintf("%.*s", (int)(slash - path), path);
}

int oi__buf_reserve(oi_buf *b, size_t extra)
{
	if (b->cap - b->len >= extra)
		return 0;
	size_t need;
	if (__builtin_add_overflow(b->len, extra, &need))
		return oi__fail(OI_ENOMEM, "out of memory (buffer overflow)");
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	uint8_t *d = realloc(b->data, cap);
	if (!d)
		return oi__fail(OI_ENOMEM, "out of memory");
	b->data = d;
	b->cap = cap;
	return 0;
}

int oi__buf_append(oi_buf *b, const void *data, size_t len)
{
	int rc = oi__buf_reserve(b, len);
	if (rc)
		return rc;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

void oi__buf_free(oi_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

uint64_t oi__hash_bytes(const void *data, size_t len, uint64_t seed)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static size_t slot_of(const oi_strset *s, const char *key)
{
	size_t mask = s->cap - 1;
	size_t i = (size_t)oi__hash_bytes(key, strlen(key), 0) & mask;
	while (s->slots[i] && strcmp(s->slots[i], key) != 0)
		i = (i + 1) & mask;
	return i;
}

int oi__strset_add(oi_strset *s, const char *key)
{
	if ((s->count + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		oi_strset grown = { calloc(cap, sizeof *grown.slots), cap, 0 };
		if (!grown.slots)
			return oi__fail(OI_ENOMEM, "out of memory");
		for (size_t i = 0; i < s->cap; i++)
			if (s->slots[i])
				grown.slots[slot_of(&grown, s->slots[i])] = s->slots[i];
		grown.count = s->count;
		free(s->slots);
		*s = grown;
	}
	size_t i = slot_of(s, key);
	if (s->slots[i])
		return 0;
	s->slots[i] = key;
	s->count++;
	return 1;
}

bool oi__strset_has(const oi_strset *s, const char *key)
{
	return s->cap && s->slots[slot_of(s, key)] != NULL;
}

void oi__strset_free(oi_strset *s)
{
	free(s->slots);
	s->slots = NULL;
	s->cap = s->count = 0;
}
