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
	"      --scheme SPEC         scheme or profile for every learnable tensor\n"
	"                            (default auto; see README for the list)\n"
	"      --rule SEL=SPEC       per-tensor rule, repeatable, later wins; SEL is\n"
	"                            name:GLOB, role:ROLE, op:OPTYPE or a bare GLOB\n"
	"      --rules FILE          rules from a JSON file (before --rule ones)\n"
	"      --seed N              64-bit seed (default 0)\n"
	"      --dry-run             print the plan, write nothing\n"
	"      --json                machine-readable report on stdout\n"
	"      --no-provenance       do not record provenance in metadata_props\n"
	"      --threads N           worker threads; never changes the bytes written\n"
	"      --in-memory           read the model into memory, build each tensor whole\n"
	"                            (same bytes; for files that cannot be mapped)\n"
	"      --no-fsync            do not fsync: outputs stay complete or absent for\n"
	"                            readers and crashes, not for power failures\n"
	"      --fan-convention C    torch (default) or keras\n"
	"      --no-untie            keep an initializer whose readers want different\n"
	"                            values shared (its first reader decides) instead\n"
	"                            of giving them their own copies (NAME.untied.K)\n"
	"  -q, --quiet               only errors on stderr\n"
	"  -v, --verbose             more on stderr\n"
	"  -h, --help                this text\n";

static int run_init(const char *model, const char *out, const oi_init_options *iop, int fans,
                    unsigned open_flags, unsigned save_flags, bool dry, bool json,
                    bool in_place);
static int check_and_run(int argc, char **argv, cli_init_args *ia, const char *out,
                         bool in_place);

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

int cmd_init(int argc, char **argv)
{
	enum { O_INPLACE = 256 };
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "in-place", no_argument, NULL, O_INPLACE },
		CLI_INIT_LONG_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	cli_init_args ia;
	cli_init_args_start(&ia);
	const char *out = NULL;
	bool in_place = false;
	int c, ec;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":o:qvh", opts, NULL)) != -1) {
		if (cli_init_option(&ia, "init", c, optarg, &ec)) {
			if (ec >= 0) {
				cli_init_args_free(&ia);
				return ec;
			}
			continue;
		}
		switch (c) {
		case 'o': out = optarg; break;
		case O_INPLACE: in_place = true; break;
		case 'h': fputs(help, stdout); cli_init_args_free(&ia); return EXIT_OK;
		case ':':
			cli_init_args_free(&ia);
			return cli_usage_error("init", "option '%s' needs a value", argv[optind - 1]);
		default:
			cli_init_args_free(&ia);
			return cli_usage_error("init", "unknown option '%s'", argv[optind - 1]);
		}
	}
	int ret = check_and_run(argc, argv, &ia, out, in_place);
	cli_init_args_free(&ia);
	return ret;
}

static int check_and_run(int argc, char **argv, cli_init_args *ia, const char *out,
                         bool in_place)
{
	bool dry = ia->dry, json = ia->json;
	if (optind >= argc)
		return cli_usage_error("init", "no model given");
	if (argc - optind > 1)
		return cli_usage_error("init", "one model at a time (got '%s' too); see 'onnxinit batch'",
		                       argv[optind + 1]);
	const char *model = argv[optind];
	if (!dry && !out && !in_place)
		return cli_usage_error("init", "say where to write: -o OUT or --in-place");
	if (out && in_place)
		return cli_usage_error("init", "-o and --in-place exclude each other");
	if (out && same_file(model, out))
		return cli_usage_error("init", "the output '%s' is the input; use --in-place to "
		                       "replace it", out);
	if (in_place)
		out = model;
	int rc = cli_init_args_finish(ia);
	if (rc)
		return rc;
	return run_init(model, out, &ia->io, ia->fans, ia->open_flags, ia->save_flags, dry, json,
	                in_place);
}

static int run_init(const char *model, const char *out, const oi_init_options *iop, int fans,
                    unsigned open_flags, unsigned save_flags, bool dry, bool json,
                    bool in_place)
{
	oi_init_options io = *iop;
	oi_model *m;
	oi_open_options oo = OI_OPEN_OPTIONS_INIT;
	oo.flags = open_flags;
	int rc = oi_model_open(&m, model, &oo);
	if (rc)
		return cli_error(cli_exit_for(rc), "%s", oi_last_error());
	oi_model_set_fan_convention(m, fans);
	rc = oi_model_plan(m, &io);
	cli_print_warnings(m);
	if (rc) {
		int ret = cli_error(cli_exit_for(rc), "%s", oi_last_error());
		oi_model_free(m);
		return ret;
	}
	int ret = EXIT_OK;
	if (dry) {
		if (json)
			ret = cli_print_json(cli_model_json(m, true));
		else
			cli_print_table(stdout, m, true);
		oi_model_free(m);
		return ret;
	}
	cli_install_signal_cleanup();
	oi_save_options so = OI_SAVE_OPTIONS_INIT;
	so.flags = (in_place ? OI_SAVE_REPLACE_INPUT : 0) | save_flags;
	so.on_temp = cli_temp_callback;
	rc = oi_model_save(m, out, &so);
	if (rc) {
		ret = cli_error(cli_exit_for(rc), "%s", oi_last_error());
	} else {
		if (oi_model_saved_external(m))
			cli_notice("%s: past protobuf's 2 GiB limit, so its weights went to external data "
			           "in '%s'", out, oi_model_saved_external(m));
		if (json) {
			json_t *j = cli_model_json(m, true);
			json_object_set_new(j, "output", json_string(out));
			ret = cli_print_json(j);
		} else if (cli_verbosity > 0) {
			cli_notice("%s: %zu of %zu tensors re-initialized", out, oi_model_changed_count(m),
			           oi_model_tensor_count(m));
		}
	}
	oi_model_free(m);
	return ret;
}
