/* The command-line program: one file per command, on top of the shared
 * diagnostics (diagnostics.h), options (options.h) and renderings (render.h). */
#ifndef OI_CLI_H
#define OI_CLI_H

#include "diagnostics.h"
#include "options.h"
#include "render.h"

int cmd_inspect(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_batch(int argc, char **argv);

#endif
