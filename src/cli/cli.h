/* Shared pieces of the command-line program: diagnostics, exit codes,
 * temporary-file cleanup on signals, and the tensor JSON/table renderers. */
#ifndef OI_CLI_H
#define OI_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "onnxinit.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

extern int cli_verbosity; /* -1 quiet, 0 normal, 1+ verbose */

/* "onnxinit: what" on stderr; returns the exit code given. */
int cli_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The exit code for a library error: 2 for bad arguments, 1 otherwise. */
int cli_exit_for(int rc);

/* Read a whole (small) file, NUL-terminated; an exit code on failure. */
int cli_read_file(const char *path, char **out);

/* Remove the temporaries of an interrupted save, then die by the signal. */
void cli_install_signal_cleanup(void);
void cli_temp_callback(const char *path, int created, void *userdata);

/* One JSON object per tensor, as SPEC's inspect --json (plan adds fields). */
json_t *cli_tensor_json(const oi_tensor_info *t, bool with_plan);
json_t *cli_model_json(const oi_model *m, bool with_plan);
/* Print the tensors as an aligned table. */
void cli_print_table(FILE *out, const oi_model *m, bool with_plan);
/* The model's analysis warnings on stderr (a few; all with -v; none with -q). */
void cli_print_warnings(const oi_model *m);
/* Dump JSON to stdout followed by a newline. */
int cli_print_json(json_t *j);

int cmd_inspect(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_batch(int argc, char **argv);

#endif
