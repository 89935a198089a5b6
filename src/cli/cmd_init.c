/* onnxinit init MODEL (-o OUT | --in-place) [options] */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static const char help[] =
	"Usage: onnxinit init MODEL (-o OUT | --in-place) [options]\n"
	"\n"
	"Write MODEL with its weights re-initialized and every other byte kept.\n"
	"\n"
	"  -o, --output OUT          where to write (its external data goes beside it)\n"
	"      --in-place            replace MODEL atomically instead\n"
	"      --scheme SPEC         for every learnable tensor: a profile (auto, the\n"
	"                            default; torch, keras, flax, gpt2) or a scheme such\n"
	"                            as kaiming_normal(mode=fan_out); 'man onnxinit'\n"
	"                            lists them\n"
	"      --residual MODE       residual blocks' branches: zero (last norm scale,\n"
	"                            or last layer, 0), scaled (last layer's values\n"
	"                            over sqrt(blocks in the chain)), fixup, or none\n"
	"                            (default; gpt2 implies scaled)\n"
	"      --rule SEL=SPEC       per-tensor rule, repeatable, later wins; SEL is\n"
	"                            name:GLOB, role:ROLE, op:OPTYPE or a bare GLOB\n"
	"      --rules FILE          rules from a JSON file (before --rule ones)\n"
	"      --seed N              64-bit seed (default 0)\n"
	"      --dry-run             print the plan, write nothing\n"
	"      --json                machine-readable report on stdout\n"
	"      --no-provenance       do not record provenance in metadata_props\n"
	"      --threads N           worker threads; never changes the bytes written\n"
	"      --in-memory           read the model into memory instead of mapping it\n"
	"                            (same bytes; for files that cannot be mapped)\n"
	"      --no-fsync            do not fsync: outputs stay complete or absent for\n"
	"                            readers and crashes, not for power failures\n"
	"      --fan-convention C    torch (default) or keras\n"
	"      --from DONOR          values from DONOR where it has them: an ONNX model,\n"
	"                            a safetensors file, an .npz archive or a folder of\n"
	"                            NAME.npy files (matched by name, PyTorch module\n"
	"                            path, or place in the graph; transposed, cast,\n"
	"                            BatchNorm-folded, RNN gates reordered as needed)\n"
	"      --from-map FILE       JSON {\"target name or glob\": \"donor name\"},\n"
	"                            consulted first ('*' in a value: what it matched)\n"
	"      --unmatched MODE      learnable tensors the donor does not provide:\n"
	"                            scheme (default: the scheme fills them), keep, or\n"
	"                            error (fail, write nothing)\n"
	"      --bn-eps X            BatchNorm epsilon when folding, if the donor does not\n"
	"                            say it (an ONNX donor does; default 1e-5)\n"
	"      --no-untie            keep an initializer whose readers want different\n"
	"                            values shared (its first reader decides) instead\n"
	"                            of giving them their own copies (NAME.untied.K)\n"
	"      --pretrain PASS       after the scheme: lsuv(tol=0.1,max_iter=10,ortho=true)\n"
	"                            scales each layer to unit output variance on --data\n"
	"      --data DATA           .npy, .npz, normal or uniform (for --pretrain)\n"
	"      --batch N             samples per forward pass (default 64)\n"
	"      --input-shape NAME=D,D,...  an input's shape for random data\n"
	"      --data-scale X        multiply the data by X first\n"
	"  -q, --quiet               only errors on stderr\n"
	"  -v, --verbose             more on stderr\n"
	"  -h, --help                this text\n";

/* One init: where from, where to, and what the command line said. */
typedef struct init_request {
	const char *model;
	const char *out;     /* the model itself with in_place */
	bool in_place;
	cli_init_args args;
} init_request;

enum { O_INPLACE = 256, O_HELP_SHOWN = -2 };

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/* The model and where it goes, after the options. */
static int check_args(init_request *r, int argc, char **argv)
{
	if (optind >= argc)
		return cli_usage_error("init", "no model given");
	if (argc - optind > 1)
		return cli_usage_error("init", "one model at a time (got '%s' too); see 'onnxinit batch'",
		                       argv[optind + 1]);
	r->model = argv[optind];
	if (!r->args.dry && !r->out && !r->in_place)
		return cli_usage_error("init", "say where to write: -o OUT or --in-place");
	if (r->out && r->in_place)
		return cli_usage_error("init", "-o and --in-place exclude each other");
	if (r->out && same_file(r->model, r->out))
		return cli_usage_error("init", "the output '%s' is the input; use --in-place to "
		                       "replace it", r->out);
	if (r->in_place)
		r->out = r->model;
	return cli_check_pretrain(&r->args, "init");
}

/* EXIT_OK, O_HELP_SHOWN, or an exit code. */
static int parse_args(init_request *r, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "in-place", no_argument, NULL, O_INPLACE },
		CLI_INIT_LONG_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	int c, ec;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":o:qvh", opts, NULL)) != -1) {
		if (cli_init_option(&r->args, "init", c, optarg, &ec)) {
			if (ec >= 0)
				return ec;
			continue;
		}
		switch (c) {
		case 'o': r->out = optarg; break;
		case O_INPLACE: r->in_place = true; break;
		case 'h': fputs(help, stdout); return O_HELP_SHOWN;
		default: return cli_option_error("init", c, argv);
		}
	}
	return check_args(r, argc, argv);
}

/* The plan (with the pretrain pass's report) as JSON. */
static json_t *plan_json(const oi_model *m, const oi_report *rep, const char *pass)
{
	json_t *j = cli_model_json(m, true);
	if (rep) {
		json_t *p = cli_report_json(rep, true);
		json_object_set_new(p, "pass", cli_json_text(pass));
		json_object_set_new(j, "pretrain", p);
	}
	return j;
}

/* The plan as a table or JSON, writing nothing. */
static int show_plan(const oi_model *m, bool json, const oi_report *rep, const char *pass)
{
	if (json)
		return cli_print_json(plan_json(m, rep, pass));
	cli_print_table(stdout, m, true);
	return cli_stdout_flush();
}

static int save(oi_model *m, const init_request *r, const oi_report *rep)
{
	cli_install_signal_cleanup();
	oi_save_options so;
	cli_save_options(&so, &r->args, r->in_place ? OI_SAVE_REPLACE_INPUT : 0);
	int rc = oi_model_save(m, r->out, &so);
	if (rc)
		return cli_error(cli_exit_for(rc), "%s", oi_last_error());
	if (oi_model_saved_external(m))
		cli_notice("%s: past protobuf's 2 GiB limit, so its weights went to external data "
		           "in '%s'", r->out, oi_model_saved_external(m));
	if (r->args.json) {
		cli_stdout_note("the model was written to %s", r->out);
		json_t *j = plan_json(m, rep, r->args.pretrain);
		json_object_set_new(j, "output", cli_json_text(r->out));
		return cli_print_json(j);
	}
	if (cli_verbosity > 0)
		cli_notice("%s: %zu of %zu tensors re-initialized", r->out, oi_model_changed_count(m),
		           oi_model_tensor_count(m));
	return EXIT_OK;
}

static int run_init(const init_request *r)
{
	const cli_init_args *a = &r->args;
	oi_model *m;
	int rc = cli_open_model(&m, r->model, a->open_flags, a->fans);
	if (rc)
		return cli_error(cli_exit_for(rc), "%s", oi_last_error());
	cli_plan_options po = { 0 };
	rc = cli_plan_options_make(&po, a, NULL, a->seed);
	if (!rc)
		rc = oi_model_plan(m, &po.io);
	cli_print_warnings(m);
	if (!rc)
		cli_donor_summary(m, a);
	oi_data *d = NULL;
	oi_report *rep = NULL;
	if (!rc && a->pretrain) {
		rc = cli_data_open(&d, a);
		if (!rc)
			rc = cli_pretrain(&rep, m, d, a, po.rules, a->seed);
		if (!rc) {
			cli_print_report_warnings(r->model, rep);
			cli_print_pretrain_summary(r->model, oi_data_name(d), rep);
		}
	}
	int ret;
	if (rc)
		ret = cli_error(cli_exit_for(rc), "%s", oi_last_error());
	else
		ret = a->dry ? show_plan(m, a->json, rep, a->pretrain) : save(m, r, rep);
	oi_report_free(rep);
	oi_data_free(d);
	cli_close_model(m);
	cli_plan_options_free(&po);
	return ret;
}

int cmd_init(int argc, char **argv)
{
	init_request r = { 0 };
	cli_init_args_start(&r.args);
	int ret = parse_args(&r, argc, argv);
	if (ret == EXIT_OK)
		ret = cli_init_args_finish(&r.args);
	if (ret == EXIT_OK)
		ret = run_init(&r);
	else if (ret == O_HELP_SHOWN)
		ret = EXIT_OK;
	cli_init_args_free(&r.args);
	return ret;
}
