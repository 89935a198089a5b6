/* onnxinit stats MODEL --data DATA [options]: a forward pass, and per layer
 * and activation the statistics of its output; and the renderings of the
 * data-driven passes' reports that init and batch share. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
	"Usage: onnxinit stats MODEL --data DATA [options]\n"
	"\n"
	"Run MODEL forward on a batch of DATA and show, for every Conv, ConvTranspose,\n"
	"Gemm and MatMul layer (after its bias Add) and every activation, the mean,\n"
	"std, min, max and fraction of zeros of its output, with a bar of the std by\n"
	"depth: a signal that vanishes or explodes shows at a glance.\n"
	"\n"
	"      --data DATA           a .npy (the model's only input, first axis =\n"
	"                            samples), an .npz (arrays named after the inputs),\n"
	"                            or normal / uniform (random inputs)\n"
	"      --batch N             samples in the batch (default 64)\n"
	"      --input-shape NAME=D,D,...\n"
	"                            an input's shape for random data (repeatable)\n"
	"      --data-scale X        multiply the data by X first\n"
	"      --seed N              seed of random data (default 0)\n"
	"      --threads N           threads of the forward pass (0: the cores)\n"
	"      --json                {\"layers\": [{node, op, output, mean, std, min,\n"
	"                            max, zeros}]} on stdout\n"
	"  -q, --quiet               only errors on stderr\n"
	"  -v, --verbose             more on stderr\n"
	"  -h, --help                this text\n";

/* ---- renderings --------------------------------------------------------- */

static json_t *num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static void stats_fields(json_t *o, const oi_value_stats *s)
{
	json_object_set_new(o, "mean", num(s->mean));
	json_object_set_new(o, "std", num(s->std));
	json_object_set_new(o, "min", num(s->min));
	json_object_set_new(o, "max", num(s->max));
	json_object_set_new(o, "zeros", num(s->zeros));
}

json_t *cli_report_json(const oi_report *r, bool pretrain)
{
	json_t *layers = json_array(), *warn = json_array();
	for (size_t i = 0; i < oi_report_layer_count(r); i++) {
		const oi_layer_report *l = oi_report_layer(r, i);
		json_t *o = json_object();
		json_object_set_new(o, "node", cli_json_text(l->node));
		json_object_set_new(o, "op", cli_json_text(l->op));
		json_object_set_new(o, "output", cli_json_text(l->output));
		if (!pretrain) {
			stats_fields(o, &l->stats);
		} else {
			json_t *b = json_object(), *a = json_object();
			json_object_set_new(o, "weight", cli_json_text(l->weight));
			json_object_set_new(o, "status", json_string(l->status ? l->status : ""));
			json_object_set_new(o, "iterations", json_integer(l->iterations));
			json_object_set_new(o, "variance", num(l->variance));
			stats_fields(b, &l->before);
			stats_fields(a, &l->stats);
			json_object_set_new(o, "before", b);
			json_object_set_new(o, "after", a);
			if (isfinite(l->loss_before) || isfinite(l->seconds)) {
				json_object_set_new(o, "loss_before", num(l->loss_before));
				json_object_set_new(o, "loss_after", num(l->loss_after));
				json_object_set_new(o, "seconds", num(l->seconds));
			}
		}
		json_array_append_new(layers, o);
	}
	for (size_t i = 0; i < oi_report_warning_count(r); i++)
		json_array_append_new(warn, cli_json_text(oi_report_warning(r, i)));
	json_t *j = json_object();
	json_object_set_new(j, "layers", layers);
	json_object_set_new(j, "warnings", warn);
	return j;
}

void cli_print_report_warnings(const char *path, const oi_report *r)
{
	for (size_t i = 0; cli_verbosity >= 0 && i < oi_report_warning_count(r); i++)
		cli_notice("%s: warning: %s", path, oi_report_warning(r, i));
}

/* A bar of v / max in eighths of a cell, width cells wide. */
static void print_bar(FILE *f, double v, double max, int width)
{
	static const char *const part[8] = { "", "\u258f", "\u258e", "\u258d", "\u258c", "\u258b",
	                                     "\u258a", "\u2589" };
	if (!(max > 0) || !isfinite(v) || v < 0)
		return;
	long eighths = lround(v / max * width * 8);
	if (eighths == 0 && v > 0)
		eighths = 1; /* a signal that is there, however small, shows */
	for (long k = 0; k < eighths / 8; k++)
		fputs("\u2588", f);
	fputs(part[eighths % 8], f);
}

static void print_table(FILE *f, const oi_report *r)
{
	size_t n = oi_report_layer_count(r);
	int w = 4, wo = 2;
	double max = 0;
	for (size_t i = 0; i < n; i++) {
		const oi_layer_report *l = oi_report_layer(r, i);
		int len = (int)strlen(l->node), lo = (int)strlen(l->op);
		w = len > w ? len : w;
		wo = lo > wo ? lo : wo;
		if (isfinite(l->stats.std) && l->stats.std > max)
			max = l->stats.std;
	}
	w = w > 36 ? 36 : w;
	wo = wo > 24 ? 24 : wo;
	fprintf(f, "%4s  %-*s  %-*s %10s %10s %10s %10s %6s  %s\n", "#", w, "node", wo, "op", "mean",
	        "std", "min", "max", "zeros", "std by depth");
	for (size_t i = 0; i < n; i++) {
		const oi_layer_report *l = oi_report_layer(r, i);
		const char *name = l->node;
		size_t len = strlen(name);
		char shown[64];
		if ((int)len > w)
			snprintf(shown, sizeof shown, "~%s", name + len - (size_t)(w - 1));
		else
			snprintf(shown, sizeof shown, "%s", name);
		fprintf(f, "%4zu  %-*s  %-*.*s %10.4g %10.4g %10.4g %10.4g %5.1f%%  ", i + 1, w, shown,
		        wo, wo, l->op, l->stats.mean, l->stats.std, l->stats.min, l->stats.max,
		        100.0 * l->stats.zeros);
		print_bar(f, l->stats.std, max, 20);
		fputc('\n', f);
	}
}

static bool autoencoder_report(const oi_report *r)
{
	for (size_t i = 0; i < oi_report_layer_count(r); i++) {
		const oi_layer_report *l = oi_report_layer(r, i);
		if (isfinite(l->loss_before) || !strcmp(l->status, "output") ||
		    !strcmp(l->status, "skipped"))
			return true;
	}
	return false;
}

static void print_autoencoder_summary(const char *path, const char *data, const oi_report *r)
{
	size_t n = oi_report_layer_count(r), done = 0;
	double secs = 0;
	for (size_t i = 0; i < n; i++) {
		const oi_layer_report *l = oi_report_layer(r, i);
		if (!strcmp(l->status, "done")) {
			done++;
			secs += l->seconds;
		}
		if (cli_verbosity > 0 && !strcmp(l->status, "done"))
			cli_notice("%s: autoencoder: layer '%s' (%s): reconstruction error %.6g -> %.6g in "
			           "%.2f s", path, l->node, l->op, l->loss_before, l->loss_after, l->seconds);
		else if (cli_verbosity > 0)
			cli_notice("%s: autoencoder: layer '%s' (%s): %s", path, l->node, l->op, l->status);
	}
	if (cli_verbosity >= 0)
		cli_notice("%s: autoencoder on %s: %zu layers, %zu trained, %zu left; %.2f s", path, data,
		           n, done, n - done, secs);
}

void cli_print_pretrain_summary(const char *path, const char *data, const oi_report *r)
{
	if (autoencoder_report(r)) {
		print_autoencoder_summary(path, data, r);
		return;
	}
	size_t n = oi_report_layer_count(r), done = 0, maxit = 0, dead = 0, left = 0;
	unsigned lo_it = ~0u, hi_it = 0;
	double lo = INFINITY, hi = -INFINITY;
	for (size_t i = 0; i < n; i++) {
		const oi_layer_report *l = oi_report_layer(r, i);
		if (cli_verbosity > 0)
			cli_notice("%s: lsuv: layer '%s' (%s): %s, %u iterations, variance %.6g -> %.6g",
			           path, l->node, l->op, l->status, l->iterations,
			           l->before.std * l->before.std, l->variance);
		if (!strcmp(l->status, "done"))
			done++;
		else if (!strcmp(l->status, "max_iter"))
			maxit++;
		else if (!strcmp(l->status, "dead"))
			dead++;
		else
			left++;
		if (!strcmp(l->status, "done") || !strcmp(l->status, "max_iter")) {
			lo = l->variance < lo ? l->variance : lo;
			hi = l->variance > hi ? l->variance : hi;
			lo_it = l->iterations < lo_it ? l->iterations : lo_it;
			hi_it = l->iterations > hi_it ? l->iterations : hi_it;
		}
	}
	if (cli_verbosity < 0)
		return;
	if (done + maxit)
		cli_notice("%s: lsuv on %s: %zu layers, %zu within tolerance, %zu at max_iter, %zu dead, "
		           "%zu left; variance %.4g..%.4g after %u-%u iterations", path, data, n, done,
		           maxit, dead, left, lo, hi, lo_it, hi_it);
	else
		cli_notice("%s: lsuv on %s: %zu layers, none scaled (%zu dead, %zu left)", path, data, n,
		           dead, left);
}

/* ---- the command -------------------------------------------------------- */

enum { O_HELP_SHOWN = -2 };

static int parse_args(cli_init_args *a, const char **model, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_DATA_LONG_OPTIONS,
		{ "seed", required_argument, NULL, CLI_O_SEED },
		{ "threads", required_argument, NULL, CLI_O_THREADS },
		{ "json", no_argument, NULL, CLI_O_JSON },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	int c, ec;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":qvh", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(help, stdout);
			return O_HELP_SHOWN;
		}
		if (c != ':' && c != '?' && cli_init_option(a, "stats", c, optarg, &ec)) {
			if (ec >= 0)
				return ec;
			continue;
		}
		return cli_option_error("stats", c, argv);
	}
	if (optind >= argc)
		return cli_usage_error("stats", "no model given");
	if (argc - optind > 1)
		return cli_usage_error("stats", "one model at a time (got '%s' too)", argv[optind + 1]);
	if (!a->data)
		return cli_usage_error("stats", "--data DATA is needed (a .npy, an .npz, normal or "
		                       "uniform)");
	*model = argv[optind];
	return EXIT_OK;
}

static int run_stats(const cli_init_args *a, const char *path)
{
	oi_model *m;
	int rc = cli_open_model(&m, path, 0, OI_FANS_TORCH);
	if (rc)
		return cli_error(cli_exit_for(rc), "%s", oi_last_error());
	oi_data *d = NULL;
	oi_report *r = NULL;
	rc = cli_data_open(&d, a);
	if (!rc) {
		oi_eval_options eo = OI_EVAL_OPTIONS_INIT;
		eo.threads = a->threads;
		rc = oi_model_stats(&r, m, d, &eo);
	}
	int ret;
	if (rc) {
		ret = cli_error(cli_exit_for(rc), "%s", oi_last_error());
	} else if (a->json) {
		cli_print_report_warnings(path, r);
		json_t *j = cli_report_json(r, false);
		json_object_set_new(j, "model", cli_json_text(path));
		json_object_set_new(j, "data", cli_json_text(oi_data_name(d)));
		ret = cli_print_json(j);
	} else {
		cli_print_report_warnings(path, r);
		printf("%s on %s: %zu of %zu nodes run, %zu layers and activations\n", path,
		       oi_data_name(d), oi_report_nodes_run(r), oi_report_nodes_total(r),
		       oi_report_layer_count(r));
		print_table(stdout, r);
		ret = cli_stdout_flush();
	}
	oi_report_free(r);
	oi_data_free(d);
	cli_close_model(m);
	return ret;
}

int cmd_stats(int argc, char **argv)
{
	cli_init_args a;
	cli_init_args_start(&a);
	const char *model = NULL;
	int ret = parse_args(&a, &model, argc, argv);
	if (ret == EXIT_OK)
		ret = run_stats(&a, model);
	else if (ret == O_HELP_SHOWN)
		ret = EXIT_OK;
	cli_init_args_free(&a);
	return ret;
}
