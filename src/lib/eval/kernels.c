/* The kernel table: one row per op type of the default domain, sorted by
 * name for the bisection. Teaching the evaluator an op is adding a row. The
 * analysis's op table (ops.c) knows only the ops that matter to roles, so
 * this table is its own, keyed by the same op type names. */
#include <string.h>

#include "eval.h"

static const ev_kernel kernels[] = {
	{ "Abs", oi__k_unary, 0 },
	{ "Add", oi__k_binary, 0 },
	{ "And", oi__k_binary, 0 },
	{ "AveragePool", oi__k_avgpool, 0 },
	{ "BatchNormalization", oi__k_batchnorm, 0 },
	{ "Cast", oi__k_cast, 0 },
	{ "Ceil", oi__k_unary, 0 },
	{ "Clip", oi__k_clip, EV_K_ACT },
	{ "Concat", oi__k_concat, 0 },
	{ "Constant", oi__k_constant, 0 },
	{ "ConstantOfShape", oi__k_constant_of_shape, 0 },
	{ "Conv", oi__k_conv, EV_K_LAYER },
	{ "ConvTranspose", oi__k_conv_transpose, EV_K_LAYER },
	{ "Cos", oi__k_unary, 0 },
	{ "Div", oi__k_binary, 0 },
	{ "Dropout", oi__k_identity, 0 },
	{ "Elu", oi__k_unary, EV_K_ACT },
	{ "Equal", oi__k_binary, 0 },
	{ "Erf", oi__k_unary, 0 },
	{ "Exp", oi__k_unary, 0 },
	{ "Expand", oi__k_expand, 0 },
	{ "Flatten", oi__k_flatten, 0 },
	{ "Floor", oi__k_unary, 0 },
	{ "GRU", oi__k_gru, 0 },
	{ "Gather", oi__k_gather, 0 },
	{ "Gelu", oi__k_unary, EV_K_ACT },
	{ "Gemm", oi__k_gemm, EV_K_LAYER },
	{ "GlobalAveragePool", oi__k_global_avgpool, 0 },
	{ "GlobalMaxPool", oi__k_global_maxpool, 0 },
	{ "Greater", oi__k_binary, 0 },
	{ "GreaterOrEqual", oi__k_binary, 0 },
	{ "HardSigmoid", oi__k_unary, EV_K_ACT },
	{ "HardSwish", oi__k_unary, EV_K_ACT },
	{ "Identity", oi__k_identity, 0 },
	{ "InstanceNormalization", oi__k_instancenorm, 0 },
	{ "LSTM", oi__k_lstm, 0 },
	{ "LayerNormalization", oi__k_layernorm, 0 },
	{ "LeakyRelu", oi__k_unary, EV_K_ACT },
	{ "Less", oi__k_binary, 0 },
	{ "LessOrEqual", oi__k_binary, 0 },
	{ "Log", oi__k_unary, 0 },
	{ "LogSoftmax", oi__k_logsoftmax, 0 },
	{ "MatMul", oi__k_matmul, EV_K_LAYER },
	{ "Max", oi__k_binary, 0 },
	{ "MaxPool", oi__k_maxpool, 0 },
	{ "Mean", oi__k_binary, 0 },
	{ "Min", oi__k_binary, 0 },
	{ "Mod", oi__k_binary, 0 },
	{ "Mul", oi__k_binary, 0 },
	{ "Neg", oi__k_unary, 0 },
	{ "Not", oi__k_not, 0 },
	{ "Or", oi__k_binary, 0 },
	{ "PRelu", oi__k_prelu, EV_K_ACT },
	{ "Pad", oi__k_pad, 0 },
	{ "Pow", oi__k_binary, 0 },
	{ "Range", oi__k_range, 0 },
	{ "Reciprocal", oi__k_unary, 0 },
	{ "ReduceMax", oi__k_reduce, 0 },
	{ "ReduceMean", oi__k_reduce, 0 },
	{ "ReduceMin", oi__k_reduce, 0 },
	{ "ReduceSum", oi__k_reduce, 0 },
	{ "Relu", oi__k_unary, EV_K_ACT },
	{ "Reshape", oi__k_reshape, 0 },
	{ "Selu", oi__k_unary, EV_K_ACT },
	{ "Shape", oi__k_shape, 0 },
	{ "Sigmoid", oi__k_unary, EV_K_ACT },
	{ "Sign", oi__k_unary, 0 },
	{ "Sin", oi__k_unary, 0 },
	{ "Slice", oi__k_slice, 0 },
	{ "Softmax", oi__k_softmax, 0 },
	{ "Softplus", oi__k_unary, EV_K_ACT },
	{ "Softsign", oi__k_unary, EV_K_ACT },
	{ "Split", oi__k_split, 0 },
	{ "Sqrt", oi__k_unary, 0 },
	{ "Squeeze", oi__k_squeeze, 0 },
	{ "Sub", oi__k_binary, 0 },
	{ "Sum", oi__k_binary, 0 },
	{ "Tanh", oi__k_unary, EV_K_ACT },
	{ "Transpose", oi__k_transpose, 0 },
	{ "Unsqueeze", oi__k_unsqueeze, 0 },
	{ "Where", oi__k_where, 0 },
};

enum { N_KERNELS = sizeof kernels / sizeof *kernels };

const ev_kernel *oi__ev_kernel_find(const char *op)
{
	size_t lo = 0, hi = N_KERNELS;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(op, kernels[mid].op);
		if (!c)
			return &kernels[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

size_t oi__ev_kernel_count(void)
{
	return N_KERNELS;
}

const ev_kernel *oi__ev_kernel_at(size_t i)
{
	return i < N_KERNELS ? &kernels[i] : NULL;
}
