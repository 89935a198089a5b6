/* Data for the data-driven passes: .npy and .npz files read whole and
 * checked when opened (header, size, finite values), or random inputs from
 * the counter-based generator; cut into the batch the model's inputs take. */
#ifndef OI_DATA_H
#define OI_DATA_H

#include "model.h"

#define OI_DATA_MAX_RANK 8

/* One array of a file, in C order (a Fortran-order array is converted). */
typedef struct oi_array {
	char *name;            /* the .npz member without ".npy"; "" for a .npy */
	char kind;             /* 'f' float, 'i' signed, 'u' unsigned, 'b' bool */
	unsigned itemsize;     /* bytes per element */
	size_t ndim;
	int64_t dims[OI_DATA_MAX_RANK];
	uint64_t numel;
	const uint8_t *bytes;  /* little-endian elements */
	uint8_t *own;          /* what bytes points into, when not the file */
} oi_array;

enum { OI_DATA_FILE = 0, OI_DATA_NORMAL, OI_DATA_UNIFORM };

typedef struct oi_shape_fix {
	char *name;
	size_t ndim;
	int64_t dims[OI_DATA_MAX_RANK];
} oi_shape_fix;

struct oi_data {
	int kind;              /* OI_DATA_* */
	char *name;            /* the file's base name, or "normal" / "uniform" */
	char sha256[65];       /* of the file; "" for random data */
	uint8_t *file;
	size_t file_len;
	oi_array *arrays;
	size_t n_arrays;
	size_t batch;
	double scale;
	uint64_t seed;
	oi_shape_fix *shapes;  /* --input-shape */
	size_t n_shapes;
};

/* One input of the model's main graph, as a batch. */
typedef struct oi_input_batch {
	const char *name;      /* the model's */
	bool integer;          /* an integer input: i holds the values, else f */
	size_t ndim;
	int64_t dims[OI_DATA_MAX_RANK];
	uint64_t numel;
	float *f;
	int64_t *i;
} oi_input_batch;

/* The batch every input of the model's main graph gets (inputs that an
 * initializer also defines are not data). Fails, naming both shapes, when
 * the data does not fit. */
int oi__data_inputs(const oi_data *d, const oi_model *m, oi_input_batch **out, size_t *n);
void oi__data_inputs_free(oi_input_batch *b, size_t n);

/* Parse a .npy's bytes into a; bytes must outlive it. what names it in
 * messages. */
int oi__npy_parse(const uint8_t *p, size_t len, const char *what, oi_array *a);

#endif
