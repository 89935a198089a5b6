/* The forward evaluator: the main graph run in float32 (integers in int64
 * for shape arithmetic), one node at a time in graph order, with OpenBLAS
 * sgemm under Conv, ConvTranspose, Gemm and MatMul. The kernels live in a
 * table keyed by op type (kernels.c); a node whose op has no kernel stops the
 * run there. The passes (stats, pretrain) drive it: run up to a node, look
 * at a value, change a weight, run a layer again. */
#ifndef OI_EVAL_H
#define OI_EVAL_H

#include "../data.h"
#include "../fill.h"
#include "../model.h"

#define EV_MAX_RANK 8

typedef enum ev_type { EV_F32 = 0, EV_I64 = 1 } ev_type;

typedef struct ev_tensor {
	ev_type type;
	int nd;
	int64_t d[EV_MAX_RANK];
	int64_t n;            /* elements */
	void *data;           /* float or int64_t; NULL until set */
	bool borrowed;        /* data belongs to someone else (a weight's buffer) */
} ev_tensor;

static inline float *ev_f(const ev_tensor *t) { return (float *)t->data; }
static inline int64_t *ev_i(const ev_tensor *t) { return (int64_t *)t->data; }

struct ev_ctx;
struct ev_node;

/* in[k] is NULL for an omitted optional input; out has nout tensors to set. */
typedef int (*ev_fn)(struct ev_ctx *c, const struct ev_node *node, ev_tensor *const *in,
                     size_t nin, ev_tensor *out, size_t nout);

typedef struct ev_kernel {
	const char *op;
	ev_fn fn;
	unsigned flags;       /* EV_K_* */
} ev_kernel;

enum {
	EV_K_LAYER = 1u << 0,  /* a layer: measured, and scaled by lsuv */
	EV_K_ACT = 1u << 1     /* an activation: measured */
};

typedef struct ev_node {
	const Onnx__NodeProto *n;
	char *label;          /* its name, or "<op>_<index>" */
	const ev_kernel *k;   /* NULL: no kernel */
	int32_t *in, *out;    /* value indices, -1 for an omitted one */
	size_t nin, nout;
} ev_node;

/* A layer (Conv, ConvTranspose, Gemm, MatMul with a constant operand)
 * or an activation, as the passes measure it. */
typedef struct ev_layer {
	size_t node;          /* the layer's node */
	size_t out_node;      /* the node whose output is measured: its bias Add, or itself */
	int32_t out_value;
	bool act;             /* an activation, not a layer */
	int32_t weight_value; /* the operand that is the weight, or -1 */
	int32_t weight_tensor;/* the model's tensor it is, or -1 (computed from several) */
	size_t chain[4];      /* layout nodes between the tensor and the layer, in order */
	size_t n_chain;
} ev_layer;

/* A value of the main graph. */
typedef struct ev_value {
	const char *name;
	int32_t producer;     /* node, or -1 */
	int32_t tensor;       /* the model's tensor that defines it, or -1 */
	int32_t input;        /* index into the data's inputs, or -1 */
	int32_t last_use;     /* the last node reading it; INT32_MAX: a graph output */
	bool ready;
	ev_tensor t;
} ev_value;

/* A constant's values as the save would write them, kept for the passes
 * that change them: doubles, times a scale, and the float32 the graph reads. */
typedef struct ev_weight {
	int32_t tensor;
	double *values;
	double scale;
	float *f;
	bool changed;
} ev_weight;

/* Buffers of values freed during a run, handed out again: the same shapes
 * come back every forward pass, and fresh pages cost more than the maths. */
typedef struct ev_pool {
	void **buf;
	size_t *size;
	size_t n, bytes;
} ev_pool;

typedef struct ev_ctx {
	oi_model *m;
	ev_pool pool;
	int64_t opset;        /* of the default domain */
	unsigned threads;
	ev_node *nodes;
	size_t n_nodes;
	ev_value *values;
	size_t n_values;
	int32_t *slots;       /* name hash -> value */
	size_t n_slots;
	ev_weight *weights;
	size_t n_weights;
	oi_input_batch *inputs;
	size_t n_inputs;
	size_t done;          /* nodes [0, done) have run */
	bool keep_all;        /* keep every value (the passes that look back) */
	bool blas_locked;     /* the pass holds OpenBLAS's thread count */
	char stop_msg[512];   /* why the run stopped early, "" if it did not */
	size_t stop_node;
	float *scratch;       /* im2col buffer */
	size_t scratch_len;
} ev_ctx;

int oi__ev_open(ev_ctx *c, oi_model *m, const oi_data *d, unsigned threads);
void oi__ev_close(ev_ctx *c);
/* Run nodes [c->done, upto); stops early (c->stop_msg set, c->done at the
 * node that could not run) when a node has no kernel or fails. Errors other
 * than that (no memory) are returned. */
int oi__ev_run(ev_ctx *c, size_t upto);
/* Run nodes first..last again (inclusive), their inputs being there. */
int oi__ev_rerun(ev_ctx *c, size_t first, size_t last);
int32_t oi__ev_find(const ev_ctx *c, const char *name);
/* The weight record of a tensor, made on first use from given (taken; NULL:
 * the values the save would write); NULL on error. */
ev_weight *oi__ev_weight(ev_ctx *c, int32_t tensor, double *given);
/* Free the values every reader of which has run (nodes before c->done). */
void oi__ev_release(ev_ctx *c);
/* Set a weight's float32 values from values × scale. */
void oi__ev_weight_refresh(ev_weight *w, uint64_t numel);

/* The layers and activations of the graph, in node order (stats.c). */
int oi__ev_layers(ev_ctx *c, ev_layer **out, size_t *n);

/* A report under construction (stats.c). */
int oi__report_new(oi_report **out, const ev_ctx *c);
oi_layer_report *oi__report_add(oi_report *r, const ev_ctx *c, const ev_layer *l);
const char *oi__report_str(oi_report *r, const char *s);
int oi__report_warn(oi_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void oi__report_done(oi_report *r, const ev_ctx *c);

/* Kernel table (kernels.c). */
const ev_kernel *oi__ev_kernel_find(const char *op);
size_t oi__ev_kernel_count(void);
const ev_kernel *oi__ev_kernel_at(size_t i);

/* Helpers for kernels. */
int oi__ev_alloc(ev_tensor *t, ev_type type, int nd, const int64_t *d);
void oi__ev_tensor_free(ev_tensor *t);
int oi__ev_fail(const struct ev_node *node, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Attributes. */
const Onnx__AttributeProto *oi__ev_attr(const struct ev_node *node, const char *name);
int64_t oi__ev_attr_i(const struct ev_node *node, const char *name, int64_t dflt);
float oi__ev_attr_f(const struct ev_node *node, const char *name, float dflt);
/* The ints of an attribute into out (at most max); the count, or -1 absent. */
int oi__ev_attr_ints(const struct ev_node *node, const char *name, int64_t *out, int max);
/* A tensor input as int64s (either type) into out; the count, or -1 if it
 * has more than max elements. */
int oi__ev_ints(const ev_tensor *t, int64_t *out, int max);
/* A node's tensor attribute's values (ConstantOfShape's value). */
int oi__ev_attr_tensor(struct ev_ctx *c, const Onnx__TensorProto *tp, ev_tensor *out);
/* The scratch buffer of at least n floats. */
float *oi__ev_scratch(struct ev_ctx *c, size_t n);

/* numpy broadcasting of two shapes into out; false if they do not. */
bool oi__ev_broadcast(const ev_tensor *a, const ev_tensor *b, int *nd, int64_t *d);

/* Statistics of a float tensor, in double, in index order. */
void oi__ev_stats(const ev_tensor *t, oi_value_stats *s);
/* Population variance, in double. */
double oi__ev_variance(const ev_tensor *t);

/* The kernels. */
int oi__k_conv(struct ev_ctx *, const struct ev_node *, ev_tensor *const *, size_t, ev_tensor *,
               size_t);
int oi__k_conv_transpose(struct ev_ctx *, const struct ev_node *, ev_tensor *const *, size_t,
                         ev_tensor *, size_t);
int oi__k_gemm(struct ev_ctx *, const struct ev_node *, ev_tensor *const *, size_t, ev_tensor *,
               size_t);
int oi__k_matmul(struct ev_ctx *, const struct ev_node *, ev_tensor *const *, size_t,
                 ev_tensor *, size_t);

#define EV_KERNEL(name) \
	int name(struct ev_ctx *c, const struct ev_node *node, ev_tensor *const *in, size_t nin, \
	         ev_tensor *out, size_t nout)

/* Opens a kernel that needs its first input x: a node without it fails. */
#define EV_INPUT0(x) \
	const ev_tensor *x = in[0]; \
	if (!x) \
		return oi__ev_fail(node, OI_EINVALID, "no input")

/* Opens a kernel of one input x and one output, which needs no context. */
#define EV_UNARY(x) \
	(void)c; \
	(void)nin; \
	(void)nout; \
	EV_INPUT0(x)

EV_KERNEL(oi__k_lstm);
EV_KERNEL(oi__k_gru);
EV_KERNEL(oi__k_maxpool);
EV_KERNEL(oi__k_avgpool);
EV_KERNEL(oi__k_global_avgpool);
EV_KERNEL(oi__k_global_maxpool);
EV_KERNEL(oi__k_batchnorm);
EV_KERNEL(oi__k_layernorm);
EV_KERNEL(oi__k_instancenorm);
EV_KERNEL(oi__k_softmax);
EV_KERNEL(oi__k_logsoftmax);

EV_KERNEL(oi__k_unary);
EV_KERNEL(oi__k_binary);
EV_KERNEL(oi__k_clip);
EV_KERNEL(oi__k_prelu);
EV_KERNEL(oi__k_where);
EV_KERNEL(oi__k_cast);
EV_KERNEL(oi__k_not);

EV_KERNEL(oi__k_identity);
EV_KERNEL(oi__k_reshape);
EV_KERNEL(oi__k_flatten);
EV_KERNEL(oi__k_transpose);
EV_KERNEL(oi__k_concat);
EV_KERNEL(oi__k_slice);
EV_KERNEL(oi__k_split);
EV_KERNEL(oi__k_squeeze);
EV_KERNEL(oi__k_unsqueeze);
EV_KERNEL(oi__k_gather);
EV_KERNEL(oi__k_shape);
EV_KERNEL(oi__k_constant);
EV_KERNEL(oi__k_expand);
EV_KERNEL(oi__k_range);
EV_KERNEL(oi__k_constant_of_shape);
EV_KERNEL(oi__k_reduce);
EV_KERNEL(oi__k_pad);

/* Naive references and low-level pieces, for the unit tests too. */
/* Broadcast index iteration: for each output element the a and b offsets. */
void oi__ev_bcast_offsets(int nd, const int64_t *od, const ev_tensor *a, int64_t *ao,
                          int64_t n);

#endif
