/* onnxinit inspect MODEL [--json] [--fan-convention torch|keras] */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char help[] =
	"Usage: onnxinit inspect MODEL [--json] [--fan-convention torch|keras]\n"
	"\n"
	"List every tensor of MODEL (initializers, Constant nodes, sparse initializers,\n"
	"tensor attributes; in every subgraph and function) with its graph, source,\n"
	"dtype, shape, storage, element count and bytes, and what the graph says of it.\n"
	"\n"
	"  --json                    one JSON object on stdout (see SPEC)\n"
	"  --fan-convention C        torch (default) or keras\n"
	"  -q, --quiet               no warnings on stderr\n"
	"  -v, --verbose             every warning on stderr\n"
	"  -h, --help                this text\n";

int cmd_inspect(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "fan-convention", required_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	bool json = false;
	int fans = OI_FANS_TORCH;
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":hqv", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'f':
			if (strcmp(optarg, "torch") && strcmp(optarg, "keras"))
				return cli_usage_error("inspect", "--fan-convention must be torch or keras, "
				                       "not '%s'", optarg);
			fans = strcmp(optarg, "keras") ? OI_FANS_TORCH : OI_FANS_KERAS;
			break;
		case 'q': cli_verbosity = -1; break;
		case 'v': cli_verbosity++; break;
		case 'h': fputs(help, stdout); return EXIT_OK;
		case ':': return cli_usage_error("inspect", "option '%s' needs a value", argv[optind - 1]);
		default: return cli_usage_error("inspect", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage_error("inspect", "no model given");
	if (argc - optind > 1)
		return cli_usage_error("inspect", "one model at a time (got '%s' too)", argv[optind + 1]);
	oi_model *m;
	/* inspect shows what it can of a broken model; init refuses one */
	oi_open_options oo = OI_OPEN_OPTIONS_INIT;
	oo.flags = OI_OPEN_LENIENT;
	int rc = oi_model_open(&m, argv[optind], &oo);
	if (rc)
		return cli_error(cli_exit_for(rc), "%s", oi_last_error());
	oi_analyse_options ao = OI_ANALYSE_OPTIONS_INIT;
	ao.fan_convention = fans;
	rc = oi_model_analyse(m, &ao);
	if (rc) {
		int ret = cli_error(cli_exit_for(rc), "%s", oi_last_error());
		oi_model_free(m);
		return ret;
	}
	cli_print_warnings(m);
	int ret;
	if (json) {
		ret = cli_print_json(cli_model_json(m, false));
	} else {
		cli_print_table(stdout, m, false);
		ret = fflush(stdout) ? cli_error(EXIT_FAIL, "cannot write to standard output") : EXIT_OK;
	}
	oi_model_free(m);
	return ret;
}
