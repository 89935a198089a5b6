/* See schemes.h. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schemes.h"
#include "tensor.h"

/* ---- SPEC text ---------------------------------------------------------- */

static void trim_copy(char *dst, size_t cap, const char *s, size_t n)
{
	while (n && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, s, n);
	dst[n] = 0;
}

int oi__spec_parse(const char *text, oi_spec *out)
{
	memset(out, 0, sizeof *out);
	const char *open = strchr(text, '(');
	size_t name_len = open ? (size_t)(open - text) : strlen(text);
	trim_copy(out->name, sizeof out->name, text, name_len);
	if (!*out->name)
		return oi__fail(OI_EARG, "scheme '%s': no name", text);
	for (const char *p = out->name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return oi__fail(OI_EARG, "scheme '%s': '%s' is not a scheme name", text, out->name);
	if (!open)
		return 0;
	const char *close = strrchr(text, ')');
	if (!close || close < open)
		return oi__fail(OI_EARG, "scheme '%s': missing ')'", text);
	for (const char *p = close + 1; *p; p++)
		if (!isspace((unsigned char)*p))
			return oi__fail(OI_EARG, "scheme '%s': text after ')'", text);
	const char *p = open + 1;
	while (p < close) {
		const char *end = memchr(p, ',', (size_t)(close - p));
		if (!end)
			end = close;
		const char *eq = memchr(p, '=', (size_t)(end - p));
		char item[96];
		trim_copy(item, sizeof item, p, (size_t)(end - p));
		if (!*item) {
			if (end == close && p == open + 1)
				break; /* NAME() */
			return oi__fail(OI_EARG, "scheme '%s': empty parameter", text);
		}
		if (out->n == OI_SPEC_MAX_PARAMS)
			return oi__fail(OI_EARG, "scheme '%s': too many parameters", text);
		if (eq) {
			trim_copy(out->key[out->n], sizeof out->key[0], p, (size_t)(eq - p));
			trim_copy(out->val[out->n], sizeof out->val[0], eq + 1, (size_t)(end - eq - 1));
			if (!*out->key[out->n] || !*out->val[out->n])
				return oi__fail(OI_EARG, "scheme '%s': malformed parameter '%s'", text, item);
		} else {
			/* positional: keyed by position, named later against the scheme */
			snprintf(out->key[out->n], sizeof out->key[0], "#%zu", out->n);
			trim_copy(out->val[out->n], sizeof out->val[0], p, (size_t)(end - p));
		}
		out->n++;
		p = end + 1;
	}
	return 0;
}

/* ---- what the resolve functions share ----------------------------------- */

#define MAX_PARAMS 5

/* The parameter values of a SPEC against its scheme, defaults filled in:
 * v the text, num the number (for parameters that are numbers). */
typedef struct args {
	const char *v[MAX_PARAMS];
	double num[MAX_PARAMS];
} args;

typedef struct scheme_def scheme_def;

/* Fill f (matrix view set, std and bound NaN) for tensor t; conv is the fan
 * convention. OI_EARG with a message naming t if the scheme cannot apply. */
typedef int (*resolve_fn)(const scheme_def *d, const oi_tensor *t, const args *a, int conv,
                          oi_fill *f);
/* Reject values that are wrong whatever the tensor. */
typedef int (*check_fn)(const scheme_def *d, const args *a);

typedef struct param_def {
	const char *key;
	const char *dflt;    /* NULL: required */
	const char *choices; /* NULL: a number; else "a|b|c" */
} param_def;

struct scheme_def {
	const char *name;
	param_def params[MAX_PARAMS];
	resolve_fn resolve;
	check_fn check;      /* NULL: every value is fine */
	bool dense;          /* fills the dense shape (matrices, kernels): not a
	                      * sparse tensor's values */
	/* the fixed settings of rows that share a resolve function */
	double value;        /* zeros, ones */
	bool normal;         /* xavier_*, kaiming_*: normal, not uniform */
	double scale;        /* the Keras shorthands: variance_scaling's arguments */
	const char *mode, *dist;
};

static int need_fans(const oi_tensor *t, int conv, const char *scheme, int64_t *fi,
                     int64_t *fo)
{
	*fi = t->fans[conv][0];
	*fo = t->fans[conv][1];
	if (*fi < 0 || *fo < 0)
		return oi__fail(OI_EARG, "scheme '%s' needs fans, and tensor '%s' (%s) has none",
		                scheme, t->info.name, t->info.role ? t->info.role : "?");
	return 0;
}

static void set_uniform(oi_fill *f, double lo, double hi)
{
	f->kind = OI_FILL_UNIFORM;
	f->p[0] = lo;
	f->p[1] = hi;
	f->std = (hi - lo) / sqrt(12.0);
	f->bound = fmax(fabs(lo), fabs(hi));
}

static void set_normal(oi_fill *f, double mean, double std)
{
	f->kind = OI_FILL_NORMAL;
	f->p[0] = mean;
	f->p[1] = std;
	f->std = std;
	f->bound = std == 0 ? fabs(mean) : NAN;
}

/* The std of N(mean, std) cut to [a, b] (absolute), for the plan. */
static double truncated_std(double std, double alpha, double beta)
{
	double pa = 0.5 * erfc(-alpha / sqrt(2.0)), pb = 0.5 * erfc(-beta / sqrt(2.0));
	double z = pb - pa;
	double phia = isinf(alpha) ? 0 : exp(-0.5 * alpha * alpha) / sqrt(2 * M_PI);
	double phib = isinf(beta) ? 0 : exp(-0.5 * beta * beta) / sqrt(2 * M_PI);
	double ta = isinf(alpha) ? 0 : alpha * phia, tb = isinf(beta) ? 0 : beta * phib;
	if (!(z > 0))
		return 0;
	double m = (phia - phib) / z;
	double var = 1.0 + (ta - tb) / z - m * m;
	return std * sqrt(var > 0 ? var : 0);
}

static void set_trunc(oi_fill *f, double mean, double std, double a, double b)
{
	f->kind = OI_FILL_TRUNC;
	f->p[0] = mean;
	f->p[1] = std;
	f->p[2] = a;
	f->p[3] = b;
	f->std = std > 0 ? truncated_std(std, (a - mean) / std, (b - mean) / std) : 0;
	f->bound = fmax(fabs(a), fabs(b));
	if (std == 0)
		f->bound = fabs(mean);
}

static void set_const(oi_fill *f, double v)
{
	f->kind = OI_FILL_CONST;
	f->p[0] = v;
	f->std = 0;
	f->bound = fabs(v);
}

static double fan_for(const char *mode, int64_t fi, int64_t fo)
{
	if (!strcmp(mode, "fan_out"))
		return (double)fo;
	if (!strcmp(mode, "fan_avg"))
		return ((double)fi + (double)fo) / 2.0;
	return (double)fi;
}

/* The tensor as matrices: RNN tensors one per direction, others flattened
 * as torch does, (size(0), numel / size(0)). */
static void matrix_view(const oi_tensor *t, oi_fill *f)
{
	const oi_tensor_info *i = &t->info;
	f->batch = 1;
	if (i->ndim == 0) {
		f->rows = f->cols = 1;
		return;
	}
	/* ONNX's stacked (D, rows, cols); a PyTorch parameter routed in by a
	 * training-mode export is one (rows, cols) matrix */
	if (oi__role_is_rnn(t->role) && i->ndim == 3) {
		f->batch = (uint64_t)i->dims[0];
		f->rows = (uint64_t)i->dims[1];
		f->cols = f->batch && f->rows ? i->numel / f->batch / f->rows : 0;
		return;
	}
	f->rows = (uint64_t)i->dims[0];
	f->cols = f->rows ? i->numel / f->rows : 0;
}

/* ---- value checks ------------------------------------------------------- */

static int check_std(const scheme_def *d, const args *a)
{
	if (a->num[1] < 0)
		return oi__fail(OI_EARG, "scheme '%s': std=%s is negative", d->name, a->v[1]);
	return 0;
}

static int check_trunc_normal(const scheme_def *d, const args *a)
{
	int rc = check_std(d, a);
	if (!rc && !(a->num[2] < a->num[3]))
		rc = oi__fail(OI_EARG, "scheme 'trunc_normal': a=%s is not below b=%s", a->v[2],
		              a->v[3]);
	return rc;
}

static int check_uniform(const scheme_def *d, const args *a)
{
	OI_UNUSED(d);
	if (!(a->num[0] <= a->num[1]))
		return oi__fail(OI_EARG, "scheme 'uniform': low=%s is above high=%s", a->v[0], a->v[1]);
	return 0;
}

static int check_sparse(const scheme_def *d, const args *a)
{
	if (!(a->num[0] >= 0 && a->num[0] < 1))
		return oi__fail(OI_EARG, "scheme 'sparse': sparsity=%s is outside [0, 1)", a->v[0]);
	if (a->num[1] < 0)
		return oi__fail(OI_EARG, "scheme '%s': std=%s is negative", d->name, a->v[1]);
	return 0;
}

static int check_variance_scaling(const scheme_def *d, const args *a)
{
	OI_UNUSED(d);
	if (!(a->num[0] > 0))
		return oi__fail(OI_EARG, "scheme 'variance_scaling': scale=%s is not positive", a->v[0]);
	return 0;
}

static int check_dirac(const scheme_def *d, const args *a)
{
	OI_UNUSED(d);
	if (a->num[0] < 1 || a->num[0] != floor(a->num[0]))
		return oi__fail(OI_EARG, "scheme 'dirac': groups=%s is not a positive integer", a->v[0]);
	return 0;
}

static int check_kaiming(const scheme_def *d, const args *a)
{
	if (a->num[0] < 0)
		return oi__fail(OI_EARG, "scheme '%s': a=%s is negative", d->name, a->v[0]);
	return 0;
}

/* ---- resolve functions, one per family ---------------------------------- */

static int resolve_keep(const scheme_def *d, const oi_tensor *t, const args *a, int conv,
                        oi_fill *f)
{
	OI_UNUSED(d), OI_UNUSED(t), OI_UNUSED(a), OI_UNUSED(conv);
	f->kind = OI_FILL_KEEP;
	snprintf(f->desc, sizeof f->desc, "keep");
	return 0;
}

/* zeros, ones */
static int resolve_fixed_value(const scheme_def *d, const oi_tensor *t, const args *a,
                               int conv, oi_fill *f)
{
	OI_UNUSED(t), OI_UNUSED(a), OI_UNUSED(conv);
	set_const(f, d->value);
	snprintf(f->desc, sizeof f->desc, "%s", d->name);
	return 0;
}

static int resolve_constant(const scheme_def *d, const oi_tensor *t, const args *a, int conv,
                            oi_fill *f)
{
	OI_UNUSED(d), OI_UNUSED(t), OI_UNUSED(conv);
	set_const(f, a->num[0]);
	snprintf(f->desc, sizeof f->desc, "constant(value=%.17g)", a->num[0]);
	return 0;
}

static int resolve_uniform(const scheme_def *d, const oi_tensor *t, const args *a, int conv,
                           oi_fill *f)
{
	OI_UNUSED(d), OI_UNUSED(t), OI_UNUSED(conv);
	set_uniform(f, a->num[0], a->num[1]);
	snprintf(f->desc, sizeof f->desc, "uniform(low=%.17g,high=%.17g)", a->num[0], a->num[1]);
	return 0;
}

static int resolve_normal(const scheme_def *d, const oi_tensor *t, const args *a, int conv,
                          oi_fill *f)
{
	OI_UNUSED(d), OI_UNUSED(t), OI_UNUSED(conv);
	set_normal(f, a->num[0], a->num[1]);
	snprintf(f->desc, sizeof f->desc, "normal(mean=%.17g,std=%.17g)", a->num[0], a->num[1]);
	return 0;
}

static int resolve_trunc_normal(const scheme_def *d, const oi_tensor *t, const args *a,
                                int conv, oi_fill *f)
{
	OI_UNUSED(d), OI_UNUSED(t), OI_UNUSED(conv);
	set_trunc(f, a->num[0], a->num[1], a->num[2], a->num[3]);
	snprintf(f->desc, sizeof f->desc, "trunc_normal(mean=%.17g,std=%.17g,a=%.17g,b=%.17g)",
	         a->num[0], a->num[1], a->num[2], a->num[3]);
	return 0;
}

/* torch.nn.init.xavier_uniform_ / xavier_normal_ */
static int resolve_xavier(const scheme_def *d, const oi_tensor *t, const args *a, int conv,
                          oi_fill *f)
{
	int64_t fi, fo;
	int rc = need_fans(t, conv, d->name, &fi, &fo);
	if (rc)
		return rc;
	double gain = a->num[0], s = gain * sqrt(2.0 / (double)(fi + fo > 0 ? fi + fo : 1));
	if (d->normal)
		set_normal(f, 0, s);
	else
		set_uniform(f, -sqrt(3.0) * s, sqrt(3.0) * s);
	snprintf(f->desc, sizeof f->desc, "%s(gain=%.17g)", d->name, gain);
	return 0;
}

/* torch.nn.init.calculate_gain */
static double torch_gain(const char *nl, double a)
{
	if (!strcmp(nl, "tanh"))
		return 5.0 / 3.0;
	if (!strcmp(nl, "relu"))
		return sqrt(2.0);
	if (!strcmp(nl, "leaky_relu"))
		return sqrt(2.0 / (1.0 + a * a));
	if (!strcmp(nl, "selu"))
		return 3.0 / 4.0;
	return 1.0; /* linear, conv*, sigmoid */
}

/* The gain of the graph's activation; torch has none for some, whose
 * family decides (the relu-like ones take relu's). */
static double graph_gain(const oi_tensor_info *t)
{
	const char *act = t->activation;
	if (!act)
		return 1.0;
	if (!isnan(t->gain))
		return t->gain;
	if (!strcmp(act, "relu6") || !strcmp(act, "gelu") || !strcmp(act, "silu") ||
	    !strcmp(act, "elu") || !strcmp(act, "hard_swish"))
		return sqrt(2.0);
	return 1.0;
}

/* torch.nn.init.kaiming_uniform_ / kaiming_normal_; nonlinearity=auto takes
 * the graph's activation */
static int resolve_kaiming(const scheme_def *d, const oi_tensor *t, const args *a, int conv,
                           oi_fill *f)
{
	int64_t fi, fo;
	int rc = need_fans(t, conv, d->name, &fi, &fo);
	if (rc)
		return rc;
	const char *nl = a->v[2];
	double gain = !strcmp(nl, "auto") ? graph_gain(&t->info) : torch_gain(nl, a->num[0]);
	double fan = fan_for(a->v[1], fi, fo);
	double s = fan > 0 ? gain / sqrt(fan) : 0;
	if (d->normal)
		set_normal(f, 0, s);
	else
		set_uniform(f, -sqrt(3.0) * s, sqrt(3.0) * s);
	snprintf(f->desc, sizeof f->desc, "%s(a=%.17g,mode=%s,nonlinearity=%s)", d->name,
	         a->num[0], a->v[1], nl);
	return 0;
}

/* Keras/JAX variance_scaling, written out in the desc whatever row asked. */
static int variance_scaling(const oi_tensor *t, int conv, const char *name, double scale,
                            const char *mode, const char *dist, oi_fill *f)
{
	int64_t fi, fo;
	int rc = need_fans(t, conv, name, &fi, &fo);
	if (rc)
		return rc;
	double n = fan_for(mode, fi, fo), s2 = scale / (n > 1 ? n : 1);
	if (!strcmp(dist, "truncated_normal") || !strcmp(dist, "normal")) {
		double s = sqrt(s2) / 0.87962566103423978;
		set_trunc(f, 0, s, -2 * s, 2 * s);
	} else if (!strcmp(dist, "untruncated_normal")) {
		set_normal(f, 0, sqrt(s2));
	} else {
		double lim = sqrt(3.0 * s2);
		set_uniform(f, -lim, lim);
	}
	snprintf(f->desc, sizeof f->desc, "variance_scaling(scale=%.17g,mode=%s,distribution=%s)",
	         scale, mode, dist);
	return 0;
}

static int resolve_variance_scaling(const scheme_def *d, const oi_tensor *t, const args *a,
                                    int conv, oi_fill *f)
{
	return variance_scaling(t, conv, d->name, a->num[0], a->v[1], a->v[2], f);
}

/* glorot_*, he_*, lecun_*: variance_scaling with the row's settings */
static int resolve_keras_shorthand(const scheme_def *d, const oi_tensor *t, const args *a,
                                   int conv, oi_fill *f)
{
	OI_UNUSED(a);
	return variance_scaling(t, conv, d->name, d->scale, d->mode, d->dist, f);
}

static int resolve_orthogonal(const scheme_def *d, const oi_tensor *t, const args *a,
                              int conv, oi_fill *f)
{
	OI_UNUSED(d), OI_UNUSED(conv);
	const oi_tensor_info *ti = &t->info;
	if (ti->ndim < 2)
		return oi__fail(OI_EARG, "scheme 'orthogonal' needs 2 or more dimensions; tensor "
		                "'%s' has %zu", ti->name, ti->ndim);
	f->kind = OI_FILL_ORTHOGONAL;
	f->p[0] = a->num[0];
	/* float32 holds no more than a float32 QR gives (as torch computes it) */
	f->p[1] = ti->dtype == OI_DTYPE_DOUBLE ? 0 : 1;
	uint64_t big = f->rows > f->cols ? f->rows : f->cols;
	f->std = big ? fabs(a->num[0]) / sqrt((double)big) : 0;
	f->bound = fabs(a->num[0]);
	snprintf(f->desc, sizeof f->desc, "orthogonal(gain=%.17g)", a->num[0]);
	return 0;
}

/* eye and sparse take one matrix, or an RNN's matrix per direction */
static bool matrix_shaped(const oi_tensor *t)
{
	return t->info.ndim == 2 || (oi__role_is_rnn(t->role) && t->info.ndim == 3);
}

static int resolve_eye(const scheme_def *d, const oi_tensor *t, const args *a, int conv,
                       oi_fill *f)
{
	OI_UNUSED(d), OI_UNUSED(a), OI_UNUSED(conv);
	if (!matrix_shaped(t))
		return oi__fail(OI_EARG, "scheme 'eye' needs a 2-D tensor; '%s' has %zu dimensions",
		                t->info.name, t->info.ndim);
	f->kind = OI_FILL_EYE;
	uint64_t k = f->rows < f->cols ? f->rows : f->cols;
	double mean = f->rows && f->cols ? (double)k / (double)(f->rows * f->cols) : 0;
	f->std = sqrt(mean * (1 - mean));
	f->bound = 1;
	snprintf(f->desc, sizeof f->desc, "eye");
	return 0;
}

static int resolve_dirac(const scheme_def *d, const oi_tensor *t, const args *a, int conv,
                         oi_fill *f)
{
	OI_UNUSED(d), OI_UNUSED(conv);
	const oi_tensor_info *ti = &t->info;
	if (ti->ndim < 3 || ti->ndim > 5)
		return oi__fail(OI_EARG, "scheme 'dirac' needs a 3-, 4- or 5-D tensor; '%s' has %zu "
		                "dimensions", ti->name, ti->ndim);
	int64_t g = (int64_t)a->num[0];
	if (ti->dims[0] % g)
		return oi__fail(OI_EARG, "scheme 'dirac': %lld output channels of '%s' do not split "
		                "into %lld groups", (long long)ti->dims[0], ti->name, (long long)g);
	f->kind = OI_FILL_DIRAC;
	f->p[0] = (double)g;
	f->p[1] = (double)ti->dims[1];
	uint64_t centre = 0;
	for (size_t k = 2; k < ti->ndim; k++)
		centre = centre * (uint64_t)ti->dims[k] + (uint64_t)(ti->dims[k] / 2);
	f->p[2] = (double)centre;
	f->bound = 1;
	snprintf(f->desc, sizeof f->desc, "dirac(groups=%lld)", (long long)g);
	return 0;
}

static int resolve_sparse(const scheme_def *d, const oi_tensor *t, const args *a, int conv,
                          oi_fill *f)
{
	OI_UNUSED(d), OI_UNUSED(conv);
	if (!matrix_shaped(t))
		return oi__fail(OI_EARG, "scheme 'sparse' needs a 2-D tensor; '%s' has %zu "
		                "dimensions", t->info.name, t->info.ndim);
	f->kind = OI_FILL_SPARSE;
	f->p[0] = a->num[0];
	f->p[1] = a->num[1];
	double zeros = f->rows ? ceil(a->num[0] * (double)f->rows) / (double)f->rows : 0;
	f->std = a->num[1] * sqrt(1 - zeros);
	snprintf(f->desc, sizeof f->desc, "sparse(sparsity=%.17g,std=%.17g)", a->num[0], a->num[1]);
	return 0;
}

/* Keras's LSTM bias: zeros with unit_forget_bias */
static int resolve_unit_forget_bias(const scheme_def *d, const oi_tensor *t, const args *a,
                                    int conv, oi_fill *f)
{
	OI_UNUSED(d), OI_UNUSED(a), OI_UNUSED(conv);
	const oi_tensor_info *ti = &t->info;
	if (!(ti->op && !strcmp(ti->op, "LSTM")) || ti->ndim != 2)
		return oi__fail(OI_EARG, "scheme 'unit_forget_bias' is for an LSTM's B; '%s' is not "
		                "one", ti->name);
	f->kind = OI_FILL_FORGET;
	f->bound = 1;
	f->std = sqrt(0.125 * (1 - 0.125)); /* 1 in 8 entries */
	snprintf(f->desc, sizeof f->desc, "unit_forget_bias");
	return 0;
}

/* ---- the scheme table: adding a scheme is adding a row ------------------ */

#define NONLIN "linear|conv1d|conv2d|conv3d|conv_transpose1d|conv_transpose2d|" \
               "conv_transpose3d|sigmoid|tanh|relu|leaky_relu|selu|auto"
#define KAIMING_PARAMS { { "a", "0", NULL }, { "mode", "fan_in", "fan_in|fan_out" }, \
                         { "nonlinearity", "leaky_relu", NONLIN } }

/* .value, .normal, .scale/.mode/.dist are the settings of rows that share a
 * resolve function */
static const scheme_def schemes[] = {
	{ .name = "keep", .resolve = resolve_keep },
	{ .name = "zeros", .resolve = resolve_fixed_value, .value = 0 },
	{ .name = "ones", .resolve = resolve_fixed_value, .value = 1 },
	{ .name = "constant", .params = { { "value", NULL, NULL } }, .resolve = resolve_constant },
	{ .name = "uniform", .params = { { "low", "0", NULL }, { "high", "1", NULL } },
	  .resolve = resolve_uniform, .check = check_uniform },
	{ .name = "normal", .params = { { "mean", "0", NULL }, { "std", "1", NULL } },
	  .resolve = resolve_normal, .check = check_std },
	{ .name = "trunc_normal",
	  .params = { { "mean", "0", NULL }, { "std", "1", NULL }, { "a", "-2", NULL },
	              { "b", "2", NULL } },
	  .resolve = resolve_trunc_normal, .check = check_trunc_normal },
	{ .name = "xavier_uniform", .params = { { "gain", "1", NULL } }, .resolve = resolve_xavier },
	{ .name = "xavier_normal", .params = { { "gain", "1", NULL } }, .resolve = resolve_xavier,
	  .normal = true },
	{ .name = "glorot_uniform", .resolve = resolve_keras_shorthand,
	  .scale = 1, .mode = "fan_avg", .dist = "uniform" },
	{ .name = "glorot_normal", .resolve = resolve_keras_shorthand,
	  .scale = 1, .mode = "fan_avg", .dist = "truncated_normal" },
	{ .name = "kaiming_uniform", .params = KAIMING_PARAMS, .resolve = resolve_kaiming,
	  .check = check_kaiming },
	{ .name = "kaiming_normal", .params = KAIMING_PARAMS, .resolve = resolve_kaiming,
	  .check = check_kaiming, .normal = true },
	{ .name = "he_uniform", .resolve = resolve_keras_shorthand,
	  .scale = 2, .mode = "fan_in", .dist = "uniform" },
	{ .name = "he_normal", .resolve = resolve_keras_shorthand,
	  .scale = 2, .mode = "fan_in", .dist = "truncated_normal" },
	{ .name = "lecun_uniform", .resolve = resolve_keras_shorthand,
	  .scale = 1, .mode = "fan_in", .dist = "uniform" },
	{ .name = "lecun_normal", .resolve = resolve_keras_shorthand,
	  .scale = 1, .mode = "fan_in", .dist = "truncated_normal" },
	{ .name = "variance_scaling",
	  .params = { { "scale", "1", NULL }, { "mode", "fan_in", "fan_in|fan_out|fan_avg" },
	              { "distribution", "truncated_normal",
	                "truncated_normal|normal|untruncated_normal|uniform" } },
	  .resolve = resolve_variance_scaling, .check = check_variance_scaling },
	{ .name = "orthogonal", .params = { { "gain", "1", NULL } }, .resolve = resolve_orthogonal,
	  .dense = true },
	{ .name = "eye", .resolve = resolve_eye, .dense = true },
	{ .name = "dirac", .params = { { "groups", "1", NULL } }, .resolve = resolve_dirac,
	  .check = check_dirac, .dense = true },
	{ .name = "sparse", .params = { { "sparsity", NULL, NULL }, { "std", "0.01", NULL } },
	  .resolve = resolve_sparse, .check = check_sparse, .dense = true },
	{ .name = "unit_forget_bias", .resolve = resolve_unit_forget_bias },
};

size_t oi__scheme_count(void)
{
	return sizeof schemes / sizeof *schemes;
}

const char *oi__scheme_name(size_t i)
{
	return i < oi__scheme_count() ? schemes[i].name : NULL;
}

static const scheme_def *find_scheme(const char *name)
{
	for (size_t i = 0; i < oi__scheme_count(); i++)
		if (!strcmp(schemes[i].name, name))
			return &schemes[i];
	return NULL;
}

bool oi__scheme_needs_dense(const char *name)
{
	const scheme_def *d = find_scheme(name);
	return d && d->dense;
}

/* "unknown scheme" with every name the tables hold. */
static int unknown_scheme(const char *name)
{
	char list[768];
	size_t len = 0;
	for (size_t i = 0; i < oi__scheme_count() && len < sizeof list; i++)
		len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "",
		                        schemes[i].name);
	for (size_t i = 0; oi__profile_name(i) && len < sizeof list; i++)
		len += (size_t)snprintf(list + len, sizeof list - len, "%s%s",
		                        i ? ", " : "; profiles: ", oi__profile_name(i));
	return oi__fail(OI_EARG, "unknown scheme '%s' (schemes: %s)", name, list);
}

/* ---- binding a SPEC to its scheme --------------------------------------- */

static bool choice_ok(const char *choices, const char *v)
{
	size_t n = strlen(v);
	for (const char *p = choices; p;) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == n && !strncmp(p, v, n))
			return true;
		p = bar ? bar + 1 : NULL;
	}
	return false;
}

/* Name each value of spec (positional ones by their place). */
static int name_args(const oi_spec *spec, const scheme_def *def, size_t np, args *a)
{
	for (size_t i = 0; i < spec->n; i++) {
		size_t k = np;
		if (spec->key[i][0] == '#') {
			k = i < np ? i : np;
			if (k == np)
				return oi__fail(OI_EARG, "scheme '%s': too many parameters (it takes %zu)",
				                spec->name, np);
		} else {
			for (k = 0; k < np; k++)
				if (!strcmp(def->params[k].key, spec->key[i]))
					break;
			if (k == np) {
				char known[160] = "";
				for (size_t j = 0; j < np; j++)
					snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s",
					         j ? ", " : "", def->params[j].key);
				return oi__fail(OI_EARG, "scheme '%s': unknown parameter '%s' (it takes %s)",
				                spec->name, spec->key[i], np ? known : "none");
			}
		}
		if (a->v[k])
			return oi__fail(OI_EARG, "scheme '%s': parameter '%s' given twice", spec->name,
			                def->params[k].key);
		a->v[k] = spec->val[i];
	}
	return 0;
}

static int bind_args(const oi_spec *spec, const scheme_def *def, args *a)
{
	memset(a, 0, sizeof *a);
	size_t np = 0;
	while (np < MAX_PARAMS && def->params[np].key)
		np++;
	int rc = name_args(spec, def, np, a);
	if (rc)
		return rc;
	for (size_t k = 0; k < np; k++) {
		const param_def *p = &def->params[k];
		if (!a->v[k])
			a->v[k] = p->dflt;
		if (!a->v[k])
			return oi__fail(OI_EARG, "scheme '%s': parameter '%s' is required", spec->name,
			                p->key);
		if (p->choices) {
			if (!choice_ok(p->choices, a->v[k]))
				return oi__fail(OI_EARG, "scheme '%s': %s='%s' is not one of %s", spec->name,
				                p->key, a->v[k], p->choices);
			continue;
		}
		char *end;
		errno = 0;
		a->num[k] = strtod(a->v[k], &end);
		if (*end || errno || !isfinite(a->num[k]))
			return oi__fail(OI_EARG, "scheme '%s': %s='%s' is not a number", spec->name, p->key,
			                a->v[k]);
	}
	return def->check ? def->check(def, a) : 0;
}

int oi__spec_check(const oi_spec *spec)
{
	/* the donor's value (oi_init_options.donor): the plan checks that
	 * there is one */
	if (!strcmp(spec->name, "donor")) {
		if (spec->n)
			return oi__fail(OI_EARG, "scheme 'donor' takes no parameters");
		return 0;
	}
	if (oi__is_profile(spec->name)) {
		if (spec->n)
			return oi__fail(OI_EARG, "profile '%s' takes no parameters", spec->name);
		return 0;
	}
	const scheme_def *def = find_scheme(spec->name);
	if (!def)
		return unknown_scheme(spec->name);
	args a;
	return bind_args(spec, def, &a);
}

int oi__resolve_scheme(const oi_tensor *t, const oi_spec *spec, int convention, uint64_t seed,
                       oi_fill *f)
{
	memset(f, 0, sizeof *f);
	f->key = oi__rng_key(seed, t->info.name);
	const scheme_def *def = find_scheme(spec->name);
	if (!def)
		return unknown_scheme(spec->name);
	args a;
	int rc = bind_args(spec, def, &a);
	if (rc)
		return rc;
	f->std = f->bound = NAN;
	matrix_view(t, f);
	return def->resolve(def, t, &a, convention, f);
}
