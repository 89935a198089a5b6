/* The options init and batch share, and the one place each library call's
 * options are made from them: opening (and analysing) a model, planning,
 * saving. */
#ifndef OI_CLI_OPTIONS_H
#define OI_CLI_OPTIONS_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "onnxinit.h"

enum { CLI_O_SCHEME = 300, CLI_O_SEED, CLI_O_DRY, CLI_O_JSON, CLI_O_NOPROV, CLI_O_THREADS,
       CLI_O_FAN, CLI_O_RULE, CLI_O_RULES, CLI_O_INMEM, CLI_O_NOFSYNC, CLI_O_NOUNTIE,
       CLI_O_RESIDUAL, CLI_O_DATA, CLI_O_BATCH, CLI_O_INPUT_SHAPE, CLI_O_DATA_SCALE, CLI_O_PRETRAIN,
       CLI_O_FROM, CLI_O_FROM_MAP, CLI_O_UNMATCHED, CLI_O_BN_EPS };
/* The data options init, batch and stats share. */
#define CLI_DATA_LONG_OPTIONS                                                         \
	{ "data", required_argument, NULL, CLI_O_DATA },                               \
	{ "batch", required_argument, NULL, CLI_O_BATCH },                             \
	{ "input-shape", required_argument, NULL, CLI_O_INPUT_SHAPE },                 \
	{ "data-scale", required_argument, NULL, CLI_O_DATA_SCALE }
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
	{ "residual", required_argument, NULL, CLI_O_RESIDUAL },                       \
	{ "pretrain", required_argument, NULL, CLI_O_PRETRAIN },                       \
	CLI_DATA_LONG_OPTIONS,                                                         \
	{ "from", required_argument, NULL, CLI_O_FROM },                               \
	{ "from-map", required_argument, NULL, CLI_O_FROM_MAP },                       \
	{ "unmatched", required_argument, NULL, CLI_O_UNMATCHED },                     \
	{ "bn-eps", required_argument, NULL, CLI_O_BN_EPS },                           \
	{ "quiet", no_argument, NULL, 'q' },                                           \
	{ "verbose", no_argument, NULL, 'v' }

/* What the command line said, before any library struct is made of it. */
typedef struct cli_init_args {
	const char *scheme;    /* --scheme; NULL: none given */
	uint64_t seed;
	unsigned threads;      /* 0: as many as cores */
	bool no_provenance;
	bool no_untie;         /* --no-untie */
	oi_residual residual;  /* --residual; OI_RESIDUAL_DEFAULT: none given */
	oi_fan_convention fans;
	const char **rules;    /* each --rule in order: owned array of borrowed strings */
	size_t n_rules;
	const char *rules_file;
	char *rules_text;      /* owned, after cli_init_args_finish */
	unsigned open_flags;   /* OI_OPEN_* */
	unsigned save_flags;   /* OI_SAVE_* */
	bool dry, json;
	/* the data-driven passes: --data, --batch, --input-shape, --data-scale,
	 * --pretrain */
	const char *data;
	unsigned long batch;   /* 0: the library's default */
	const char **input_shapes;
	size_t n_input_shapes;
	double data_scale;     /* 0: none */
	const char *pretrain;
	const char *from;      /* --from DONOR */
	const char *from_map;  /* --from-map FILE */
	oi_unmatched unmatched;
	double bn_eps;         /* 0: the library's default */
	oi_donor *donor;       /* opened by cli_init_args_finish; owned */
} cli_init_args;

void cli_init_args_start(cli_init_args *a);
/* Take option c if it is one of CLI_INIT_LONG_OPTIONS: 1 taken (with
 * *exit_code -1), 0 not one of them, or 1 with *exit_code set on an error. */
int cli_init_option(cli_init_args *a, const char *cmd, int c, const char *arg, int *exit_code);
/* Read the rules file, open the donor and its map; 0 or an exit code. */
int cli_init_args_finish(cli_init_args *a);
void cli_init_args_free(cli_init_args *a);

/* --data and --pretrain go together: 0, or the exit code of a usage error. */
int cli_check_pretrain(const cli_init_args *a, const char *cmd);
/* Open --data with the data options: 0, or the library's error code. */
int cli_data_open(oi_data **out, const cli_init_args *a);
/* Run --pretrain on a model planned with rules and seed: 0, or the
 * library's error code; its report (to free) in *report. */
int cli_pretrain(oi_report **report, oi_model *m, const oi_data *d, const cli_init_args *a,
                 const oi_rules *rules, uint64_t seed);

/* --fan-convention's value into *fans: -1, or the exit code of a usage error. */
int cli_parse_fans(const char *cmd, const char *arg, oi_fan_convention *fans);
/* Decimal digits only: no sign, no spaces, no octal or hex surprises. */
bool cli_parse_u64(const char *s, uint64_t *out);
/* cli_parse_u64 of a count no greater than max. */
bool cli_parse_count(const char *s, unsigned long max, unsigned long *out);
/* Read a whole (small) file, NUL-terminated; an exit code on failure. */
int cli_read_file(const char *path, char **out);

/* ---- the library's options, made from the command line's ---------------- */

/* Open the model at path and analyse its graph with the fan convention
 * fans: 0, or the library's error code (oi_last_error() says why). Until
 * cli_close_model, the calling thread reads path (cli_reading). */
int cli_open_model(oi_model **out, const char *path, unsigned open_flags,
                   oi_fan_convention fans);

/* Free a model from cli_open_model (NULL too): its input no longer read. */
void cli_close_model(oi_model *m);

/* The rules files found above a model (batch's onnxinit.json files),
 * outermost first; they come before --rules FILE and --rule. */
typedef struct cli_rule_files {
	const char *const *texts;
	const char *const *names; /* for messages */
	size_t n;
} cli_rule_files;

/* The options one plan is given, with what they own. */
typedef struct cli_plan_options {
	oi_init_options io;
	oi_rules *rules;
} cli_plan_options;

/* The plan options of one model: the command line's, the rules files above
 * it (NULL: none) and its seed. 0, or the library's error code (oi_last_error()
 * says why). Free them after the model: its plan may point into them. */
int cli_plan_options_make(cli_plan_options *p, const cli_init_args *a,
                          const cli_rule_files *dir_rules, uint64_t seed);
/* Also on a zeroed one that was never made. */
void cli_plan_options_free(cli_plan_options *p);

/* The stderr summary of a plan with a donor: "from DONOR: N matched (...),
 * N missing, N unexpected, N mismatched", and the mismatched ones. */
void cli_donor_summary(const oi_model *m, const cli_init_args *a);

/* The save options: the command line's and flags (OI_SAVE_*), temporaries
 * recorded for the signal cleanup. */
void cli_save_options(oi_save_options *so, const cli_init_args *a, unsigned flags);

#endif
