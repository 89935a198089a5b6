/* onnxinit: the command-line program. It owns all output and exit codes;
 * the library below it never prints. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
	"Usage: onnxinit COMMAND [options]\n"
	"\n"
	"Re-initialize the weights of ONNX models, keeping everything else.\n"
	"\n"
	"Commands:\n"
	"  inspect MODEL [--json]          list every tensor: role, shape, storage, fans\n"
	"  init MODEL -o OUT [options]     write MODEL with re-initialized weights\n"
	"  batch PATH... -o OUTDIR         re-initialize whole trees of models\n"
	"  stats MODEL --data DATA         per-layer output statistics of a forward pass\n"
	"\n"
	"  onnxinit --help | --version | COMMAND --help\n"
	"\n"
	"Exit status: 0 success, 1 a model or file could not be read, understood or\n"
	"written, 2 usage error.\n";

static int run(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error(NULL, "no command given");
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(usage, stdout);
		return EXIT_OK;
	}
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
		printf("onnxinit %s\n", oi_version());
		return EXIT_OK;
	}
	if (!strcmp(cmd, "inspect"))
		return cmd_inspect(argc - 1, argv + 1);
	if (!strcmp(cmd, "init"))
		return cmd_init(argc - 1, argv + 1);
	if (!strcmp(cmd, "batch"))
		return cmd_batch(argc - 1, argv + 1);
	if (!strcmp(cmd, "stats"))
		return cmd_stats(argc - 1, argv + 1);
	return cli_usage_error(NULL, "unknown command '%s'", cmd);
}

int main(int argc, char **argv)
{
	cli_install_sigbus();
	/* every command's report checked to its last byte, --help's too */
	return cli_stdout_close(run(argc, argv));
}
