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
	char *name_own;
	int64_t *dims_own;
	uint32_t rec;         /* scanner record of the TensorProto holding the values */
	const Onnx__TensorProto *tp;
	int32_t ext;          /* index into ext files, or -1 */
	uint64_t ext_off;
	uint32_t typed_field; /* storage TYPED: the field holding the values */
	struct oi_fill *fill; /* plan: what fills the values (NULL: keep) */
	int32_t ns;           /* name space: 0 the model's graphs, k function k-1 */
	bool addressable;     /* nodes read it by name (not an attribute tensor) */
	bool sparse;          /* a SparseTensorProto's values: info.dims is the dense shape */
	/* analysis (roles.c); its texts in info live in the model's pool */
	oi_role role;         /* info.role is its name */
	int64_t fans[2][2];   /* [torch|keras][in|out], -1 unknown */
	int32_t layer_node;   /* bias: the layer (graph index node) it belongs to */
	int64_t rnn_hidden;   /* RNN roles: the node's hidden size, else -1 */
	int32_t role_node;    /* the graph index node that decided its role, or -1 */
	unsigned residual;    /* residual.c: OI_RES_*, what the residual modes do to it */
	const char *residual_note; /* residual.c: why its Add is no block (pool), or NULL */
} oi_tensor;

/* A graph, a subgraph or a function body, as the load walked it. */
typedef struct oi_graph_ref {
	char *path;           /* "main", "main/If_3.then_branch", "function:dom.F" */
	int32_t ns;           /* name space of its names */
	const Onnx__GraphProto *pb; /* NULL for a function body */
} oi_graph_ref;

/* Every node of the model, in the order of the load's one walk: a graph's
 * nodes in order, each node's subgraphs right after it; the main graph,
 * the training graphs, then the functions. */
typedef struct oi_node_ref {
	const Onnx__NodeProto *n;
	int32_t ns;           /* name space: 0 the model's graphs, k function k-1 */
	uint32_t graph;       /* index into graphs */
	uint32_t index;       /* its position in its graph */
} oi_node_ref;

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
	oi_graph_ref *graphs;
	size_t n_graphs, cap_graphs;
	oi_node_ref *nodes;
	size_t n_nodes, cap_nodes;
	char *provenance;     /* JSON to record, NULL for none */
	/* the donor whose sha256 the save puts in place of OI_DIGEST_PENDING
	 * in provenance (hashed while the save writes); NULL: none pending */
	struct oi_donor *prov_donor;
	bool in_memory;       /* OI_OPEN_IN_MEMORY: map is a malloc'd copy */
	int32_t cur_ns;       /* while loading */
	unsigned open_flags;
	/* analysis */
	bool analysed;
	int fan_convention;   /* of info.fan_in/fan_out and of the plan's schemes */
	/* warnings: the load's first, then the analysis's, then the plan's */
	const char **warnings;
	size_t n_warnings, cap_warnings;
	size_t n_load_warnings;
	size_t n_analysis_warnings; /* a plan drops back to these */
	/* strings handed out by oi_model_* that outlive what made them */
	char **pool;
	size_t n_pool, cap_pool;
	const char *saved_external; /* in the pool */
	struct oi_untie *untie; /* untie.c: shared tensors' readers, new tensors */
	/* donor/match.c: the last plan's unused donor tensors (in the pool) */
	const char **donor_unexpected;
	size_t n_donor_unexpected;
};

/* The model's string pool (pool.c): what oi_model_* hands out stays valid
 * until oi_model_free, however often the model is analysed, planned and
 * saved again. keep takes s (malloc'd) and returns it, or frees it and
 * returns NULL (OI_ENOMEM); strdup copies s into the pool. */
int oi__model_pool_reserve(oi_model *m, size_t more);
char *oi__model_keep(oi_model *m, char *s);
const char *oi__model_strdup(oi_model *m, const char *s);
void oi__model_pool_free(oi_model *m);

/* Record a warning (one line, no file name). */
int oi__warn(oi_model *m, const char *fmt, ...) OI_PRINTF(2, 3);


#endif
