/* libFuzzer target over the donor readers (safetensors, npz, .npy): an
 * input either opens, and then every element of every tensor reads, or
 * fails with a one-line message that names it. Built with replay.c's main
 * for the default suite (corpus_donor/). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "donor/donor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	oi_donor *d = NULL;
	int rc = oi__donor_open_bytes(&d, data, size, "fuzz");
	if (rc) {
		const char *e = oi_last_error();
		if (d || strncmp(e, "fuzz", 4) || strchr(e, '\n')) {
			fprintf(stderr, "fuzz_donor: bad failure: %s\n", e);
			abort();
		}
		return 0;
	}
	volatile double sink = 0;
	for (size_t i = 0; i < d->n; i++)
		for (uint64_t k = 0; k < d->t[i].numel && oi__donor_dtype_usable(d->t[i].dtype); k++)
			sink += oi__donor_elem(&d->t[i], k);
	(void)sink;
	oi_donor_free(d);
	return 0;
}
