/* Diagnostics, signal cleanup and renderers shared by the commands. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cli_verbosity = 0;

static void vmsg(const char *fmt, va_list ap)
{
	fputs("onnxinit: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int cli_error(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	return code;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try 'onnxinit %s%s--help' for more information.\n", cmd ? cmd : "",
	        cmd ? " " : "");
	return EXIT_USAGE;
}

void cli_warn(const char *fmt, ...)
{
	if (cli_verbosity < 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	fputs("onnxinit: warning: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void cli_notice(const char *fmt, ...)
{
	if (cli_verbosity < 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

int cli_exit_for(int rc)
{
	return rc == OI_EARG ? EXIT_USAGE : EXIT_FAIL;
}

bool cli_parse_u64(const char *s, uint64_t *out)
{
	if (!s || !*s)
		return false;
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

void cli_init_args_start(cli_init_args *a)
{
	static const oi_init_options init = OI_INIT_OPTIONS_INIT;
	memset(a, 0, sizeof *a);
	a->io = init;
	a->fans = OI_FANS_TORCH;
}

int cli_init_option(cli_init_args *a, const char *cmd, int c, const char *arg, int *exit_code)
{
	uint64_t n;
	*exit_code = -1;
	switch (c) {
	case CLI_O_SCHEME: a->io.scheme = arg; return 1;
	case CLI_O_SEED:
		if (!cli_parse_u64(arg, &a->io.seed))
			*exit_code = cli_usage_error(cmd, "--seed takes an integer from 0 to "
			                             "18446744073709551615, not '%s'", arg);
		return 1;
	case CLI_O_DRY: a->dry = true; return 1;
	case CLI_O_JSON: a->json = true; return 1;
	case CLI_O_NOPROV: a->io.no_provenance = 1; return 1;
	case CLI_O_THREADS:
		if (!cli_parse_u64(arg, &n) || n > 1024)
			*exit_code = cli_usage_error(cmd, "--threads takes a count from 0 to 1024, not "
			                             "'%s'", arg);
		else
			a->io.threads = (unsigned)n;
		return 1;
	case CLI_O_FAN:
		if (strcmp(arg, "torch") && strcmp(arg, "keras"))
			*exit_code = cli_usage_error(cmd, "--fan-convention must be torch or keras, not "
			                             "'%s'", arg);
		a->fans = strcmp(arg, "keras") ? OI_FANS_TORCH : OI_FANS_KERAS;
		return 1;
	case CLI_O_RULE: {
		const char **r = realloc(a->rules, (a->n_rules + 1) * sizeof *r);
		if (!r) {
			*exit_code = cli_error(EXIT_FAIL, "out of memory");
			return 1;
		}
		a->rules = r;
		a->rules[a->n_rules++] = arg;
		return 1;
	}
	case CLI_O_RULES: a->rules_file = arg; return 1;
	case CLI_O_INMEM: a->open_flags |= OI_OPEN_IN_MEMORY; return 1;
	case CLI_O_NOFSYNC: a->save_flags |= OI_SAVE_NO_FSYNC; return 1;
	case CLI_O_NOUNTIE: a->io.no_untie = 1; return 1;
	case 'q': cli_verbosity = -1; return 1;
	case 'v': cli_verbosity++; return 1;
	default: return 0;
	}
}

int cli_init_args_finish(cli_init_args *a)
{
	if (a->rules_file) {
		int rc = cli_read_file(a->rules_file, &a->rules_text);
		if (rc)
			return rc;
	}
	a->io.rules = a->rules;
	a->io.n_rules = a->n_rules;
	a->io.rules_json = a->rules_text;
	a->io.rules_json_name = a->rules_file;
	return 0;
}

void cli_init_args_free(cli_init_args *a)
{
	free(a->rules);
	free(a->rules_text);
	a->rules = NULL;
	a->rules_text = NULL;
}

int cli_read_file(const char *path, char **out)
{
	*out = NULL;
	FILE *f = fopen(path, "rb");
	if (!f)
		return cli_error(EXIT_FAIL, "%s: %s", path, strerror(errno));
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (!buf) {
			fclose(f);
			return cli_error(EXIT_FAIL, "out of memory");
		}
		len += fread(buf + len, 1, cap - len - 1, f);
		if (len < cap - 1)
			break;
		cap *= 2;
		char *nb = realloc(buf, cap);
		if (!nb)
			free(buf);
		buf = nb;
	}
	bool bad = ferror(f);
	fclose(f);
	if (bad) {
		free(buf);
		return cli_error(EXIT_FAIL, "%s: cannot read it", path);
	}
	buf[len] = 0;
	*out = buf;
	return 0;
}

/* ---- temporaries removed on SIGINT/SIGTERM ------------------------------ */

#define TEMP_SLOTS 256
static struct {
	volatile sig_atomic_t used;
	char path[4096];
} temps[TEMP_SLOTS];
static pthread_mutex_t temps_lock = PTHREAD_MUTEX_INITIALIZER;

void cli_temp_callback(const char *path, int created, void *userdata)
{
	(void)userdata;
	if (strlen(path) >= sizeof temps[0].path)
		return;
	pthread_mutex_lock(&temps_lock);
	for (int i = 0; i < TEMP_SLOTS; i++) {
		if (created && !temps[i].used) {
			strcpy(temps[i].path, path);
			temps[i].used = 1;
			break;
		}
		if (!created && temps[i].used && !strcmp(temps[i].path, path)) {
			temps[i].used = 0;
			break;
		}
	}
	pthread_mutex_unlock(&temps_lock);
}

static void on_signal(int sig)
{
	for (int i = 0; i < TEMP_SLOTS; i++)
		if (temps[i].used)
			unlink(temps[i].path);
	signal(sig, SIG_DFL);
	raise(sig);
}

void cli_install_signals(void (*handler)(int))
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

void cli_install_signal_cleanup(void)
{
	cli_install_signals(on_signal);
}

/* ---- renderers ---------------------------------------------------------- */

static json_t *int_or_null(int64_t v)
{
	return v < 0 ? json_null() : json_integer(v);
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *cli_tensor_json(const oi_tensor_info *t, bool with_plan)
{
	json_t *shape = json_array();
	for (size_t d = 0; d < t->ndim; d++)
		json_array_append_new(shape, json_integer(t->dims[d]));
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(t->name));
	json_object_set_new(o, "graph", json_string(t->graph));
	json_object_set_new(o, "source", json_string(oi_source_name(t->source)));
	json_object_set_new(o, "dtype", json_string(oi_dtype_name(t->dtype)));
	json_object_set_new(o, "shape", shape);
	json_object_set_new(o, "storage", json_string(oi_storage_name(t->storage)));
	json_object_set_new(o, "numel", json_integer((json_int_t)t->numel));
	json_object_set_new(o, "bytes", json_integer((json_int_t)t->nbytes));
	json_object_set_new(o, "role", str_or_null(t->role));
	json_object_set_new(o, "op", str_or_null(t->op));
	json_object_set_new(o, "node", str_or_null(t->node));
	json_object_set_new(o, "fan_in", int_or_null(t->fan_in));
	json_object_set_new(o, "fan_out", int_or_null(t->fan_out));
	json_object_set_new(o, "activation", str_or_null(t->activation));
	json_object_set_new(o, "gain", isnan(t->gain) ? json_null() : json_real(t->gain));
	json_object_set_new(o, "consumers", json_integer((json_int_t)t->consumers));
	if (t->conflict)
		json_object_set_new(o, "conflict", json_string(t->conflict));
	if (with_plan) {
		json_object_set_new(o, "scheme", str_or_null(t->scheme));
		json_object_set_new(o, "action", json_string(oi_action_name(t->action)));
		json_object_set_new(o, "std", isnan(t->std) ? json_null() : json_real(t->std));
		json_object_set_new(o, "bound", isnan(t->bound) ? json_null() : json_real(t->bound));
		if (t->untied_from)
			json_object_set_new(o, "untied_from", json_string(t->untied_from));
	}
	return o;
}

json_t *cli_model_json(const oi_model *m, bool with_plan)
{
	json_t *o = json_object();
	json_object_set_new(o, "model", json_string(oi_model_path(m)));
	int64_t ir = oi_model_ir_version(m);
	json_object_set_new(o, "ir_version", int_or_null(ir));
	json_t *ops = json_object();
	for (size_t i = 0; i < oi_model_opset_count(m); i++) {
		const char *dom;
		int64_t ver;
		if (oi_model_opset(m, i, &dom, &ver) == 0)
			json_object_set_new(ops, dom, json_integer(ver));
	}
	json_object_set_new(o, "opset", ops);
	json_t *arr = json_array();
	for (size_t i = 0; i < oi_model_tensor_count(m); i++)
		json_array_append_new(arr, cli_tensor_json(oi_model_tensor(m, i), with_plan));
	json_object_set_new(o, "tensors", arr);
	json_t *warn = json_array();
	for (size_t i = 0; i < oi_model_warning_count(m); i++)
		json_array_append_new(warn, json_string(oi_model_warning(m, i)));
	json_object_set_new(o, "warnings", warn);
	return o;
}

void cli_print_warnings(const oi_model *m)
{
	size_t n = oi_model_warning_count(m);
	if (cli_verbosity < 0 || !n)
		return;
	size_t shown = cli_verbosity > 0 ? n : (n < 5 ? n : 5);
	for (size_t i = 0; i < shown; i++)
		fprintf(stderr, "onnxinit: %s: warning: %s\n", oi_model_path(m), oi_model_warning(m, i));
	if (shown < n)
		fprintf(stderr, "onnxinit: %s: %zu more warnings (-v shows all)\n", oi_model_path(m),
		        n - shown);
}

int cli_print_json(json_t *j)
{
	if (!j)
		return cli_error(EXIT_FAIL, "out of memory");
	int rc = json_dumpf(j, stdout, JSON_COMPACT | JSON_REAL_PRECISION(17));
	json_decref(j);
	fputc('\n', stdout);
	if (rc != 0 || fflush(stdout) != 0)
		return cli_error(EXIT_FAIL, "cannot write to standard output: %s", strerror(errno));
	return EXIT_OK;
}

enum { COL_NAME, COL_GRAPH, COL_SOURCE, COL_DTYPE, COL_SHAPE, COL_STORAGE, COL_NUMEL,
       COL_BYTES, COL_ROLE, COL_OP, COL_NODE, COL_FANIN, COL_FANOUT, COL_ACT, COL_GAIN, COL_ACTION,
       COL_STD, COL_BOUND, COL_SCHEME, NCOLS };
static const char *const col_names[NCOLS] = {
	"NAME", "GRAPH", "SOURCE", "DTYPE", "SHAPE", "STORAGE", "ELEMENTS", "BYTES", "ROLE", "OP",
	"NODE", "FAN_IN", "FAN_OUT", "ACTIVATION", "GAIN", "ACTION", "STD", "BOUND", "SCHEME"
};
static const bool col_right[NCOLS] = { [COL_NUMEL] = true, [COL_BYTES] = true,
	                               [COL_FANIN] = true, [COL_FANOUT] = true,
	                               [COL_GAIN] = true, [COL_STD] = true, [COL_BOUND] = true };

static void cells_of(const oi_tensor_info *t, char cells[NCOLS][128])
{
	snprintf(cells[COL_NAME], 128, "%s", t->name);
	snprintf(cells[COL_GRAPH], 128, "%s", t->graph);
	snprintf(cells[COL_SOURCE], 128, "%s", oi_source_name(t->source));
	snprintf(cells[COL_DTYPE], 128, "%s", oi_dtype_name(t->dtype));
	size_t n = (size_t)snprintf(cells[COL_SHAPE], 128, "[");
	for (size_t d = 0; d < t->ndim && n < 120; d++)
		n += (size_t)snprintf(cells[COL_SHAPE] + n, 128 - n, "%s%lld", d ? "," : "",
		                      (long long)t->dims[d]);
	snprintf(cells[COL_SHAPE] + n, 128 - n, "]");
	snprintf(cells[COL_STORAGE], 128, "%s", oi_storage_name(t->storage));
	snprintf(cells[COL_NUMEL], 128, "%llu", (unsigned long long)t->numel);
	snprintf(cells[COL_BYTES], 128, "%llu", (unsigned long long)t->nbytes);
	snprintf(cells[COL_ROLE], 128, "%s", t->role ? t->role : "-");
	snprintf(cells[COL_OP], 128, "%s", t->op ? t->op : "-");
	snprintf(cells[COL_NODE], 128, "%s", t->node ? t->node : "-");
	if (t->fan_in >= 0)
		snprintf(cells[COL_FANIN], 128, "%lld", (long long)t->fan_in);
	else
		snprintf(cells[COL_FANIN], 128, "-");
	if (t->fan_out >= 0)
		snprintf(cells[COL_FANOUT], 128, "%lld", (long long)t->fan_out);
	else
		snprintf(cells[COL_FANOUT], 128, "-");
	snprintf(cells[COL_ACT], 128, "%s", t->activation ? t->activation : "-");
	if (isnan(t->gain))
		snprintf(cells[COL_GAIN], 128, "-");
	else
		snprintf(cells[COL_GAIN], 128, "%.4g", t->gain);
	snprintf(cells[COL_SCHEME], 128, "%s", t->scheme ? t->scheme : "-");
	snprintf(cells[COL_ACTION], 128, "%s", oi_action_name(t->action));
	if (isnan(t->std))
		snprintf(cells[COL_STD], 128, "-");
	else
		snprintf(cells[COL_STD], 128, "%.4g", t->std);
	if (isnan(t->bound))
		snprintf(cells[COL_BOUND], 128, "-");
	else
		snprintf(cells[COL_BOUND], 128, "%.4g", t->bound);
}

void cli_print_table(FILE *out, const oi_model *m, bool with_plan)
{
	size_t n = oi_model_tensor_count(m);
	int ncols = with_plan ? NCOLS : COL_ACTION;
	size_t width[NCOLS];
	for (int c = 0; c < NCOLS; c++)
		width[c] = strlen(col_names[c]);
	char cells[NCOLS][128];
	for (size_t i = 0; i < n; i++) {
		cells_of(oi_model_tensor(m, i), cells);
		for (int c = 0; c < ncols; c++)
			if (strlen(cells[c]) > width[c])
				width[c] = strlen(cells[c]);
	}
	fprintf(out, "model %s: ir_version %lld, opset", oi_model_path(m),
	        (long long)oi_model_ir_version(m));
	for (size_t i = 0; i < oi_model_opset_count(m); i++) {
		const char *dom;
		int64_t ver;
		if (oi_model_opset(m, i, &dom, &ver) == 0)
			fprintf(out, " %s=%lld", *dom ? dom : "ai.onnx", (long long)ver);
	}
	fprintf(out, ", %zu tensors\n", n);
	for (int c = 0; c < ncols; c++)
		fprintf(out, "%s%-*s", c ? "  " : "", c == ncols - 1 ? 0 : (int)width[c],
		        col_names[c]);
	fputc('\n', out);
	for (size_t i = 0; i < n; i++) {
		cells_of(oi_model_tensor(m, i), cells);
		for (int c = 0; c < ncols; c++) {
			int w = c == ncols - 1 && !col_right[c] ? 0 : (int)width[c];
			fprintf(out, col_right[c] ? "%s%*s" : "%s%-*s", c ? "  " : "", w, cells[c]);
		}
		fputc('\n', out);
	}
}
