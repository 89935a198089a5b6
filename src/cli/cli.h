/* Shared pieces of the command-line program: diagnostics, exit codes,
 * temporary-file cleanup on signals, and the tensor JSON/table renderers. */
#ifndef OI_CLI_H
#define OI_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
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
/* handler for SIGINT, SIGTERM and SIGHUP */
void cli_install_signals(void (*handler)(int));
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

/* The options init and batch share. */
enum { CLI_O_SCHEME = 300, CLI_O_SEED, CLI_O_DRY, CLI_O_JSON, CLI_O_NOPROV, CLI_O_THREADS,
       CLI_O_FAN, CLI_O_RULE, CLI_O_RULES, CLI_O_INMEM, CLI_O_NOFSYNC, CLI_O_NOUNTIE };
#define CLI_INIT_LONG_OPTIONS                                                         \
	{ "scheme", required_argument, NULL, CLI_O_SCHEME },                           \
	{ "seed", required_argument, NULL, CLI_O_SEED },                               \
	{ "dry-run", no_argument, NULL, CLI_O_DRY },                                   \
	{ "json", no_argument, NULL, CLI_O_JSON },                                     \
	{ "no-provenance", no_argument, NULL, CLI_O_NOPROV },                          \
	{ "threads", required_argument, NULL, CLI_O_THREADS },                         \
	{ "fan-convention", required_argument, NULL, CLI_O_FAN },                      \
	{ "rule", required_argument, NULL, CLI_O_RULE },                               \
	{ "rules", required_argument, NULL, CLI_O_RULES },                             \
	{ "in-memory", no_argument, NULL, CLI_O_INMEM },                               \
	{ "no-fsync", no_argument, NULL, CLI_O_NOFSYNC },                              \
	{ "no-untie", no_argument, NULL, CLI_O_NOUNTIE },                              \
	{ "quiet", no_argument, NULL, 'q' },                                           \
	{ "verbose", no_argument, NULL, 'v' }

typedef struct cli_init_args {
	oi_init_options io;
	int fans;              /* OI_FANS_* */
	const char **rules;    /* owned array of borrowed strings */
	size_t n_rules;
	const char *rules_file;
	char *rules_text;      /* owned, after cli_init_args_finish */
	unsigned open_flags;
	unsigned save_flags;
	bool dry, json;
} cli_init_args;

void cli_init_args_start(cli_init_args *a);
/* Take option c if it is one of CLI_INIT_LONG_OPTIONS: 1 taken (with
 * *exit_code -1), 0 not one of them, or 1 with *exit_code set on an error. */
int cli_init_option(cli_init_args *a, const char *cmd, int c, const char *arg, int *exit_code);
/* Read the rules file into io; 0 or an exit code. */
int cli_init_args_finish(cli_init_args *a);
void cli_init_args_free(cli_init_args *a);
/* Decimal digits only: no sign, no spaces, no octal or hex surprises. */
bool cli_parse_u64(const char *s, uint64_t *out);

int cmd_inspect(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_batch(int argc, char **argv);

#endif
