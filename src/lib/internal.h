/* Internal declarations shared by the library's modules. Never installed. */
#ifndef OI_INTERNAL_H
#define OI_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "onnxinit.h"

#define OI_UNUSED(x) ((void)(x))
#define OI_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* error.c: success: clear the message of this thread and return OI_OK. */
int oi__ok(void);
/* error.c: record the failure of this thread and return code. */
int oi__fail(int code, const char *fmt, ...) OI_PRINTF(2, 3);
int oi__failv(int code, const char *fmt, va_list ap);
/* Prefix the current message with "prefix: " (used to add the file name). */
void oi__error_prefix(const char *prefix);

/* Checked size arithmetic: return false on overflow. */
static inline bool oi__mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	return !__builtin_mul_overflow(a, b, out);
}
static inline bool oi__add_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	return !__builtin_add_overflow(a, b, out);
}
static inline bool oi__mul_i64(int64_t a, int64_t b, int64_t *out)
{
	return !__builtin_mul_overflow(a, b, out);
}
static inline bool oi__add_i64(int64_t a, int64_t b, int64_t *out)
{
	return !__builtin_add_overflow(a, b, out);
}

/* util.c */
void *oi__calloc(size_t n, size_t size);           /* sets OI_ENOMEM message */
void *oi__reallocarray(void *p, size_t n, size_t size);
char *oi__strdup(const char *s);
/* Room for one more element in a growable array: OI_GROW(arr, n, cap) is 0
 * when arr[n] may be written, else OI_ENOMEM (arr and cap unchanged). */
#define OI_GROW(arr, n, cap) ((n) < (cap) ? 0 : oi__grow(&(arr), &(cap), sizeof *(arr)))
int oi__grow(void *arrp, size_t *cap, size_t elem);
char *oi__asprintf(const char *fmt, ...) OI_PRINTF(1, 2);
/* The folder part of a path ("." when it has none); malloc'd. */
char *oi__dirname(const char *path);

/* A growable array of bytes. */
typedef struct oi_buf {
	uint8_t *data;
	size_t len, cap;
} oi_buf;
int oi__buf_reserve(oi_buf *b, size_t extra);
int oi__buf_append(oi_buf *b, const void *data, size_t len);
void oi__buf_free(oi_buf *b);

/* A set of strings (open addressing, FNV-1a); keys are borrowed. */
typedef struct oi_strset {
	const char **slots;
	size_t cap, count;
} oi_strset;
int oi__strset_add(oi_strset *s, const char *key); /* 1 added, 0 present, <0 error */
bool oi__strset_has(const oi_strset *s, const char *key);
void oi__strset_free(oi_strset *s);
uint64_t oi__hash_bytes(const void *data, size_t len, uint64_t seed);

#endif
