/* The model handle, shared by the library's modules. */
#ifndef OI_MODEL_H
#define OI_MODEL_H

#include "onnx.pb-c.h"
#include "scan.h"

typedef struct oi_ext_file {
	char *location;      /* as written in the model */
	char *path;          /* the file it resolves to */
	int fd;
	const uint8_t *map;  /* NULL for an empty file */
	uint64_t size;
	uint64_t dev, ino;
	bool changed;        /* a tensor in it is re-initialized */
} oi_ext_file;

typedef struct oi_tensor {
	oi_tensor_info info;
	char *name_own, *graph_own, *scheme_own;
	int64_t *dims_own;
	uint32_t rec;         /* scanner record of the TensorProto holding the values */
	const Onnx__TensorProto *tp;
	int32_t ext;          /* index into ext files, or -1 */
	uint64_t ext_off;
	uint32_t typed_field; /* storage TYPED: the field holding the values */
	int fill;             /* plan: what fills the values */
	double fill_value;
} oi_tensor;

struct oi_model {
	char *path, *dir;
	int fd;
	const uint8_t *map;
	uint64_t size;
	uint64_t dev, ino;
	oi_scan scan;
	Onnx__ModelProto *pb;
	oi_tensor *tensors;
	size_t n_tensors, cap_tensors;
	oi_ext_file *ext;
	size_t n_ext, cap_ext;
	char *provenance;     /* JSON to record, NULL for none */
	char *saved_external;
};

/* Fills (reinit.c). */
enum { OI_FILL_NONE = 0, OI_FILL_CONSTANT = 1 };

/* The byte range of a tensor's raw payload (storage RAW) in the model. */
const oi_field_ref *oi__tensor_raw_field(const oi_model *m, const oi_tensor *t);
/* Produce n values of tensor t starting at element first (reinit.c). */
int oi__fill_values(const oi_tensor *t, uint64_t first, size_t n, double *out);

#endif
