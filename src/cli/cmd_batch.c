/* onnxinit batch: not in this version yet (it is the batch issue's). */
#include <string.h>

#include "cli.h"

int cmd_batch(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs("Usage: onnxinit batch PATH... -o OUTDIR [options]\n\n"
			      "Not available in this version.\n", stdout);
			return EXIT_OK;
		}
	return cli_usage_error(NULL, "'batch' is not available in this version; run 'onnxinit "
	                       "init' per model");
}
