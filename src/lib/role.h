/* What a tensor is, as the analysis decides it: one enum, one name table.
 * The names are the contract's (inspect --json "role", rules' role:ROLE). */
#ifndef OI_ROLE_H
#define OI_ROLE_H

typedef enum oi_role {
	OI_ROLE_NONE = 0,        /* not decided (before analysis) */
	OI_ROLE_CONV_WEIGHT,
	OI_ROLE_CONV_TRANSPOSE_WEIGHT,
	OI_ROLE_DENSE_WEIGHT,
	OI_ROLE_EMBEDDING,
	OI_ROLE_RNN_INPUT_WEIGHT,
	OI_ROLE_RNN_RECURRENT_WEIGHT,
	OI_ROLE_RNN_BIAS,
	OI_ROLE_RNN_PEEPHOLE,
	OI_ROLE_BIAS,
	OI_ROLE_NORM_SCALE,
	OI_ROLE_NORM_BIAS,
	OI_ROLE_NORM_MEAN,
	OI_ROLE_NORM_VAR,
	OI_ROLE_PRELU_SLOPE,
	OI_ROLE_LEARNABLE_OTHER,
	OI_ROLE_FIXED,
	OI_ROLE_COUNT
} oi_role;

/* "conv_weight", ...; NULL for OI_ROLE_NONE or out of range. */
const char *oi__role_name(oi_role role);
/* The role of a name, or OI_ROLE_NONE if it names none. */
oi_role oi__role_parse(const char *name);

/* Families the profiles and schemes ask about. */
static inline int oi__role_is_layer_weight(oi_role r)
{
	return r == OI_ROLE_CONV_WEIGHT || r == OI_ROLE_CONV_TRANSPOSE_WEIGHT ||
	       r == OI_ROLE_DENSE_WEIGHT;
}
static inline int oi__role_is_rnn(oi_role r)
{
	return r == OI_ROLE_RNN_INPUT_WEIGHT || r == OI_ROLE_RNN_RECURRENT_WEIGHT ||
	       r == OI_ROLE_RNN_BIAS || r == OI_ROLE_RNN_PEEPHOLE;
}

#endif
