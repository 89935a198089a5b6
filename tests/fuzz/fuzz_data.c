/* libFuzzer target over the data readers (.npy, .npz): oi_data_open_memory()
 * on each input. Accepted: every array fits the bytes it came from, its
 * shape's product is its element count, its first axis numbers at least one
 * sample, and no float element is NaN or Inf. Refused: a one-line message
 * that starts with the name given. Anything else is a bug, and abort()s.
 *
 * Only the public API (onnxinit.h) and data.h's view of an opened data set.
 * Built two ways by meson.build: with -fsanitize=fuzzer (libFuzzer's main) and
 * with replay.c's main (test 'fuzz-data-replay' over corpus_data/). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void bug(const char *what)
{
	fprintf(stderr, "fuzz_data: %s\n", what);
	abort();
}

static void check_array(const oi_array *a, size_t size)
{
	if (!a->name || a->ndim < 1 || a->ndim > OI_DATA_MAX_RANK || a->dims[0] < 1)
		bug("an accepted array without a name or samples");
	uint64_t n = 1;
	for (size_t j = 0; j < a->ndim; j++) {
		if (a->dims[j] < 0)
			bug("a negative dim");
		n *= (uint64_t)a->dims[j];
	}
	if (n != a->numel)
		bug("numel is not the shape's product");
	if (!a->own && a->numel * a->itemsize > size)
		bug("an array larger than its file");
	for (uint64_t i = 0; a->kind == 'f' && i < a->numel; i++) {
		double v;
		if (a->itemsize == 4) {
			float f;
			memcpy(&f, a->bytes + 4 * i, 4);
			v = f;
		} else if (a->itemsize == 8) {
			memcpy(&v, a->bytes + 8 * i, 8);
		} else {
			uint16_t h;
			memcpy(&h, a->bytes + 2 * i, 2);
			v = (h & 0x7c00) == 0x7c00 ? NAN : 0.0;
		}
		if (!isfinite(v))
			bug("a NaN or Inf got through");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	oi_data *d = NULL;
	int rc = oi_data_open_memory(&d, data, size, "in.npz", NULL);
	if (rc) {
		const char *msg = oi_last_error();
		if (d || strncmp(msg, "in.npz", 6) || strchr(msg, '\n'))
			bug("a refusal without its one-line message");
		if (getenv("FUZZ_DATA_VERBOSE"))
			fprintf(stderr, "  refused: %s\n", msg);
		return 0;
	}
	if (!d || !d->n_arrays)
		bug("accepted without arrays");
	for (size_t i = 0; i < d->n_arrays; i++)
		check_array(&d->arrays[i], size);
	if (getenv("FUZZ_DATA_VERBOSE"))
		fprintf(stderr, "  accepted: %zu arrays\n", d->n_arrays);
	oi_data_free(d);
	return 0;
}
