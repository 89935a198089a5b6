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
int cmd_stats(int argc, char **argv);

/* The data-driven passes' reports (cmd_stats.c): as JSON (pretrain: with
 * status, iterations, variance, before and after), their warnings on
 * stderr, and pretrain's summary on stderr (each layer with -v). */
json_t *cli_report_json(const oi_report *r, bool pretrain);
void cli_print_report_warnings(const char *path, const oi_report *r);
void cli_print_pretrain_summary(const char *path, const char *data, const oi_report *r);

#endif
