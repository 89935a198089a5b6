/* The model handle, shared by the library's modules. */
#ifndef OI_MODEL_H
#define OI_MODEL_H

#include "onnx.pb-c.h"
#include "role.h"
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
	struct oi_fill *fill; /* plan: what fills the values (NULL: keep) */
	int32_t ns;           /* name space: 0 the model's graphs, k function k-1 */
	bool addressable;     /* nodes read it by name (not an attribute tensor) */
	/* analysis (roles.c) */
	oi_role role;         /* info.role is its name */
	int64_t fans[2][2];   /* [torch|keras][in|out], -1 unknown */
	char *op_own, *node_own, *conflict_own;
	size_t consumers;
	int32_t layer_node;   /* bias: the layer (graph index node) it belongs to */
	int64_t rnn_hidden;   /* RNN roles: the node's hidden size, else -1 */
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
	unsigned threads;
	bool in_memory;       /* OI_OPEN_IN_MEMORY: map is a malloc'd copy */
	int32_t cur_ns;       /* while loading */
	unsigned open_flags;
	int fan_convention;
	char **warnings;
	size_t n_warnings;
	char *saved_external;
	struct oi_untie *untie; /* untie.c: shared tensors' readers, new tensors */
};

/* Analysis (graph.c, roles.c): fills role, op, node, fans, activation. */
int oi__analyse(oi_model *m);
/* Record a warning (one line, no file name). */
int oi__warn(oi_model *m, const char *fmt, ...) OI_PRINTF(2, 3);
/* Read up to max elements of a tensor as int64 / double; *n gets the count.
 * Fails for dtypes that are not integers / floats. */
int oi__tensor_read_i64(const oi_model *m, const oi_tensor *t, int64_t *out, size_t max,
                        size_t *n);
int oi__tensor_read_f64(const oi_model *m, const oi_tensor *t, double *out, size_t max,
                        size_t *n);

/* The byte range of a tensor's raw payload (storage RAW) in the model. */
const oi_field_ref *oi__tensor_raw_field(const oi_model *m, const oi_tensor *t);
/* Worker threads for generating values (reinit.c). */
unsigned oi__threads(const oi_model *m);

#endif
