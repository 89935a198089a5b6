/* onnxinit inspect MODEL [--json] [--fan-convention torch|keras] */
#include <getopt.h>

#include "cli.h"

static const char help[] =
	"Usage: onnxinit inspect MODEL [--json] [--fan-convention torch|keras]\n"
	"\n"
	"List every tensor of MODEL (initializers, Constant nodes, sparse initializers,\n"
	"tensor attributes; in every subgraph and function) with its graph, source,\n"
	"dtype, shape, storage, element count and bytes, and what the graph says of it.\n"
	"\n"
	"  --json                    one JSON object on stdout: model, ir_version,\n"
	"                            opset, warnings, and tensors: one object each,\n"
	"                            the table's columns in lower case as keys\n"
	"                            (numel for ELEMENTS), with consumers,\n"
	"                            conflict when its readers disagree, and\n"
	"                            residual for a residual block's branch;\n"
	"                            'man onnxinit' describes every field\n"
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
	oi_fan_convention fans = OI_FANS_TORCH;
	int c, ec;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":hqv", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'f':
			if ((ec = cli_parse_fans("inspect", optarg, &fans)) >= 0)
				return ec;
			break;
		case 'q': cli_verbosity = -1; break;
		case 'v': cli_verbosity++; break;
		case 'h': fputs(help, stdout); return EXIT_OK;
		default: return cli_option_error("inspect", c, argv);
		}
	}
	if (optind >= argc)
		return cli_usage_error("inspect", "no model given");
	if (argc - optind > 1)
		return cli_usage_error("inspect", "one model at a time (got '%s' too)", argv[optind + 1]);
	oi_model *m;
	/* inspect shows what it can of a broken model; init refuses one */
	int rc = cli_open_model(&m, argv[optind], OI_OPEN_LENIENT, fans);
	if (rc)
		return cli_error(cli_exit_for(rc), "%s", oi_last_error());
	cli_print_warnings(m);
	int ret;
	if (json) {
		ret = cli_print_json(cli_model_json(m, false));
	} else {
		cli_print_table(stdout, m, false);
		ret = cli_stdout_flush();
	}
	cli_close_model(m);
	return ret;
}
