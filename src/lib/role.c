/* See role.h. */
#include <string.h>

#include "role.h"

static const char *const names[OI_ROLE_COUNT] = {
	[OI_ROLE_NONE] = NULL,
	[OI_ROLE_CONV_WEIGHT] = "conv_weight",
	[OI_ROLE_CONV_TRANSPOSE_WEIGHT] = "conv_transpose_weight",
	[OI_ROLE_DENSE_WEIGHT] = "dense_weight",
	[OI_ROLE_EMBEDDING] = "embedding",
	[OI_ROLE_RNN_INPUT_WEIGHT] = "rnn_input_weight",
	[OI_ROLE_RNN_RECURRENT_WEIGHT] = "rnn_recurrent_weight",
	[OI_ROLE_RNN_BIAS] = "rnn_bias",
	[OI_ROLE_RNN_PEEPHOLE] = "rnn_peephole",
	[OI_ROLE_BIAS] = "bias",
	[OI_ROLE_NORM_SCALE] = "norm_scale",
	[OI_ROLE_NORM_BIAS] = "norm_bias",
	[OI_ROLE_NORM_MEAN] = "norm_mean",
	[OI_ROLE_NORM_VAR] = "norm_var",
	[OI_ROLE_PRELU_SLOPE] = "prelu_slope",
	[OI_ROLE_LEARNABLE_OTHER] = "learnable_other",
	[OI_ROLE_FIXED] = "fixed",
};

const char *oi__role_name(oi_role role)
{
	return (unsigned)role < OI_ROLE_COUNT ? names[role] : NULL;
}

oi_role oi__role_parse(const char *name)
{
	for (int r = 1; name && r < OI_ROLE_COUNT; r++)
		if (!strcmp(names[r], name))
			return (oi_role)r;
	return OI_ROLE_NONE;
}
