/* Parsing the options init and batch share, and making the library's
 * option structs from them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diagnostics.h"
#include "options.h"

void cli_init_args_start(cli_init_args *a)
{
	memset(a, 0, sizeof *a);
	a->fans = OI_FANS_TORCH;
}

/* Appends a borrowed argument (--rule, --input-shape) to its list: -1, or
 * the exit code of an error. */
static int add_arg(const char ***list, size_t *n, const char *arg)
{
	const char **r = realloc(*list, (*n + 1) * sizeof *r);
	if (!r)
		return cli_error(EXIT_FAIL, "out of memory");
	*list = r;
	r[(*n)++] = arg;
	return -1;
}

/* A number in (0, max], the whole of arg. */
static bool parse_positive(const char *arg, double max, double *out)
{
	char *end;
	errno = 0;
	double v = arg ? strtod(arg, &end) : 0;
	if (!arg || end == arg || *end || errno || !(v > 0) || v > max)
		return false;
	*out = v;
	return true;
}

/* --residual's value: -1, or the exit code of a usage error. */
static int parse_residual(const char *cmd, const char *arg, oi_residual *mode)
{
	for (int r = OI_RESIDUAL_NONE; r <= OI_RESIDUAL_FIXUP; r++)
		if (!strcmp(arg, oi_residual_name((oi_residual)r))) {
			*mode = (oi_residual)r;
			return -1;
		}
	return cli_usage_error(cmd, "--residual must be zero, scaled, fixup or none, not '%s'", arg);
}

static int parse_unmatched(const char *cmd, const char *arg, oi_unmatched *u)
{
	static const char *const names[] = { "scheme", "keep", "error" };
	for (int i = 0; i < 3; i++)
		if (!strcmp(arg, names[i])) {
			*u = (oi_unmatched)i;
			return -1;
		}
	return cli_usage_error(cmd, "--unmatched must be scheme, keep or error, not '%s'", arg);
}

int cli_init_option(cli_init_args *a, const char *cmd, int c, const char *arg, int *exit_code)
{
	unsigned long n;
	*exit_code = -1;
	switch (c) {
	case CLI_O_SCHEME: a->scheme = arg; return 1;
	case CLI_O_SEED:
		if (!cli_parse_u64(arg, &a->seed))
			*exit_code = cli_usage_error(cmd, "--seed takes an integer from 0 to "
			                             "18446744073709551615, not '%s'", arg);
		return 1;
	case CLI_O_DRY: a->dry = true; return 1;
	case CLI_O_JSON: a->json = true; return 1;
	case CLI_O_NOPROV: a->no_provenance = true; return 1;
	case CLI_O_THREADS:
		if (!cli_parse_count(arg, 1024, &n))
			*exit_code = cli_usage_error(cmd, "--threads takes a count from 0 to 1024, not "
			                             "'%s'", arg);
		else
			a->threads = (unsigned)n;
		return 1;
	case CLI_O_FAN: *exit_code = cli_parse_fans(cmd, arg, &a->fans); return 1;
	case CLI_O_RULE: *exit_code = add_arg(&a->rules, &a->n_rules, arg); return 1;
	case CLI_O_RULES: a->rules_file = arg; return 1;
	case CLI_O_INMEM: a->open_flags |= OI_OPEN_IN_MEMORY; return 1;
	case CLI_O_NOFSYNC: a->save_flags |= OI_SAVE_NO_FSYNC; return 1;
	case CLI_O_NOUNTIE: a->no_untie = true; return 1;
	case CLI_O_RESIDUAL: *exit_code = parse_residual(cmd, arg, &a->residual); return 1;
	case CLI_O_DATA: a->data = arg; return 1;
	case CLI_O_BATCH:
		if (!cli_parse_count(arg, 1u << 20, &n) || n == 0)
			*exit_code = cli_usage_error(cmd, "--batch takes a count from 1 to 1048576, not "
			                             "'%s'", arg);
		else
			a->batch = n;
		return 1;
	case CLI_O_INPUT_SHAPE: *exit_code = add_arg(&a->input_shapes, &a->n_input_shapes, arg);
		return 1;
	case CLI_O_DATA_SCALE:
		if (!parse_positive(arg, 1e30, &a->data_scale))
			*exit_code = cli_usage_error(cmd, "--data-scale takes a number > 0, not '%s'",
			                             arg ? arg : "");
		return 1;
	case CLI_O_PRETRAIN: a->pretrain = arg; return 1;
	case CLI_O_FROM: a->from = arg; return 1;
	case CLI_O_FROM_MAP: a->from_map = arg; return 1;
	case CLI_O_UNMATCHED: *exit_code = parse_unmatched(cmd, arg, &a->unmatched); return 1;
	case CLI_O_BN_EPS:
		if (!parse_positive(arg, 1, &a->bn_eps))
			*exit_code = cli_usage_error(cmd, "--bn-eps takes a number above 0 and at most 1, "
			                             "not '%s'", arg);
		return 1;
	case 'q': cli_verbosity = -1; return 1;
	case 'v': cli_verbosity++; return 1;
	default: return 0;
	}
}

static int open_donor(cli_init_args *a)
{
	if (!a->from)
		return a->from_map ? cli_usage_error("init", "--from-map needs --from DONOR") : 0;
	char *map = NULL;
	int rc = a->from_map ? cli_read_file(a->from_map, &map) : 0;
	if (rc)
		return rc;
	rc = oi_donor_open(&a->donor, a->from);
	if (rc) {
		free(map);
		return cli_error(EXIT_FAIL, "%s", oi_last_error());
	}
	if (map && oi_donor_set_map(a->donor, map, a->from_map)) {
		free(map);
		return cli_error(EXIT_FAIL, "%s", oi_last_error());
	}
	free(map);
	return 0;
}

int cli_init_args_finish(cli_init_args *a)
{
	int rc = a->rules_file ? cli_read_file(a->rules_file, &a->rules_text) : 0;
	return rc ? rc : open_donor(a);
}

void cli_init_args_free(cli_init_args *a)
{
	free(a->input_shapes);
	a->input_shapes = NULL;
	free(a->rules);
	free(a->rules_text);
	a->rules = NULL;
	a->rules_text = NULL;
	oi_donor_free(a->donor);
	a->donor = NULL;
}

int cli_parse_fans(const char *cmd, const char *arg, oi_fan_convention *fans)
{
	if (!strcmp(arg, "torch"))
		*fans = OI_FANS_TORCH;
	else if (!strcmp(arg, "keras"))
		*fans = OI_FANS_KERAS;
	else
		return cli_usage_error(cmd, "--fan-convention must be torch or keras, not '%s'", arg);
	return -1;
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

bool cli_parse_count(const char *s, unsigned long max, unsigned long *out)
{
	uint64_t v;
	if (!cli_parse_u64(s, &v) || v > max)
		return false;
	*out = (unsigned long)v;
	return true;
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

/* ---- the library's options ---------------------------------------------- */

int cli_open_model(oi_model **out, const char *path, unsigned open_flags,
                   oi_fan_convention fans)
{
	oi_open_options oo = OI_OPEN_OPTIONS_INIT;
	oo.flags = open_flags;
	cli_reading(path);
	int rc = oi_model_open(out, path, &oo);
	if (rc) {
		cli_reading(NULL);
		return rc;
	}
	oi_analyse_options ao = OI_ANALYSE_OPTIONS_INIT;
	ao.fan_convention = fans;
	rc = oi_model_analyse(*out, &ao);
	if (rc) {
		cli_close_model(*out);
		*out = NULL;
	}
	return rc;
}

void cli_close_model(oi_model *m)
{
	oi_model_free(m);
	cli_reading(NULL);
}

int cli_plan_options_make(cli_plan_options *p, const cli_init_args *a,
                          const cli_rule_files *dir_rules, uint64_t seed)
{
	static const oi_init_options init = OI_INIT_OPTIONS_INIT;
	p->io = init;
	p->io.scheme = a->scheme;
	p->io.seed = seed;
	p->io.no_provenance = a->no_provenance;
	p->io.no_untie = a->no_untie;
	p->io.residual = a->residual;
	p->io.donor = a->donor;
	p->io.unmatched = a->unmatched;
	p->io.bn_eps = a->bn_eps;
	/* the rules in the order they apply: batch's onnxinit.json files from
	 * the root down, then --rules FILE, then each --rule */
	int rc = oi_rules_new(&p->rules);
	for (size_t i = 0; dir_rules && i < dir_rules->n && !rc; i++)
		rc = oi_rules_add_json(p->rules, dir_rules->texts[i], dir_rules->names[i]);
	if (!rc && a->rules_text)
		rc = oi_rules_add_json(p->rules, a->rules_text, a->rules_file);
	for (size_t i = 0; i < a->n_rules && !rc; i++)
		rc = oi_rules_add(p->rules, a->rules[i]);
	p->io.rules = p->rules;
	return rc;
}

void cli_plan_options_free(cli_plan_options *p)
{
	oi_rules_free(p->rules);
	p->rules = NULL;
	p->io.rules = NULL;
}

void cli_donor_summary(const oi_model *m, const cli_init_args *a)
{
	if (!a->donor || cli_verbosity < 0)
		return;
	size_t n[5] = { 0 }, how[4] = { 0 };
	static const char *const ways[4] = { "map", "name", "module", "position" };
	static const char *const way_text[4] = { "by map", "by name", "by module path",
		                                 "by graph position" };
	for (size_t i = 0; i < oi_model_tensor_count(m); i++) {
		const oi_tensor_info *t = oi_model_tensor(m, i);
		if (t->donor_status >= 0 && t->donor_status < 5)
			n[t->donor_status]++;
		for (int k = 0; k < 4 && t->donor_status == OI_DONOR_MATCHED; k++)
			how[k] += t->donor_match && !strcmp(t->donor_match, ways[k]);
	}
	char detail[200] = "";
	size_t o = 0;
	for (int k = 0; k < 4; k++)
		if (how[k])
			o += (size_t)snprintf(detail + o, sizeof detail - o, "%s%zu %s", o ? ", " : "",
			                      how[k], way_text[k]);
	cli_notice("from %s: %zu matched (%s), %zu missing, %zu unexpected, %zu mismatched",
	           a->from, n[OI_DONOR_MATCHED], o ? detail : "none", n[OI_DONOR_MISSING],
	           oi_model_donor_unexpected_count(m), n[OI_DONOR_MISMATCHED]);
	size_t shown = 0;
	for (size_t i = 0; i < oi_model_tensor_count(m); i++) {
		const oi_tensor_info *t = oi_model_tensor(m, i);
		if (t->donor_status != OI_DONOR_MISMATCHED)
			continue;
		if (shown++ < 5 || cli_verbosity > 0)
			cli_notice("%s: mismatched: '%s': %s", oi_model_path(m), t->name, t->donor_note);
	}
	if (shown > 5 && cli_verbosity <= 0)
		cli_notice("%s: %zu more mismatched (-v shows all)", oi_model_path(m), shown - 5);
}

void cli_save_options(oi_save_options *so, const cli_init_args *a, unsigned flags)
{
	static const oi_save_options init = OI_SAVE_OPTIONS_INIT;
	*so = init;
	so->flags = flags | a->save_flags;
	so->threads = a->threads;
	so->on_temp = cli_temp_callback;
}

/* ---- the data-driven passes --------------------------------------------- */

int cli_check_pretrain(const cli_init_args *a, const char *cmd)
{
	if (a->pretrain && !a->data)
		return cli_usage_error(cmd, "--pretrain needs --data DATA (a .npy, an .npz, normal or "
		                       "uniform)");
	if (!a->pretrain && (a->data || a->batch || a->n_input_shapes || a->data_scale))
		return cli_usage_error(cmd, "--data, --batch, --input-shape and --data-scale are for "
		                       "--pretrain");
	return 0;
}

int cli_data_open(oi_data **out, const cli_init_args *a)
{
	oi_data_options o = OI_DATA_OPTIONS_INIT;
	o.batch = a->batch;
	o.scale = a->data_scale;
	o.seed = a->seed;
	o.input_shapes = a->input_shapes;
	o.n_input_shapes = a->n_input_shapes;
	return oi_data_open(out, a->data, &o);
}

/* A training pass's progress on a terminal: one line, rewritten. */
static void show_progress(void *user, const oi_pretrain_progress *p)
{
	(void)user;
	fprintf(stderr, "\r\033[Kautoencoder: layer %zu/%zu '%s' epoch %u/%u loss %.6g", p->layer,
	        p->layers, p->node, p->epoch, p->epochs, p->loss);
	if (p->epoch == p->epochs)
		fputc('\n', stderr);
	fflush(stderr);
}

int cli_pretrain(oi_report **report, oi_model *m, const oi_data *d, const cli_init_args *a,
                 const oi_rules *rules, uint64_t seed)
{
	oi_pretrain_options o = OI_PRETRAIN_OPTIONS_INIT;
	if (cli_verbosity >= 0 && isatty(STDERR_FILENO))
		o.progress = show_progress;
	o.pass = a->pretrain;
	o.threads = a->threads;
	o.seed = seed;
	o.rules = rules;
	o.no_provenance = a->no_provenance;
	return oi_model_pretrain(report, m, d, &o);
}
