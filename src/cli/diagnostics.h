/* What the program says on stderr, its exit codes, standard output's write
 * errors, and the temporaries removed when a signal ends it. */
#ifndef OI_CLI_DIAGNOSTICS_H
#define OI_CLI_DIAGNOSTICS_H

#include "onnxinit.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

extern int cli_verbosity; /* -1 quiet, 0 normal, 1+ verbose */

/* Every message is one line: control characters in it (a newline in a path
 * or a name) are printed as spaces. */

/* "onnxinit: what" on stderr; returns the exit code given. */
int cli_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Also names CMD's --help; returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* getopt's ':' (a value missing) or '?' (an unknown option) for CMD. */
int cli_option_error(const char *cmd, int c, char **argv);
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The exit code for a library error: 2 for bad arguments, 1 otherwise. */
int cli_exit_for(int rc);
/* The model's warnings on stderr (a few; all with -v; none with -q). */
void cli_print_warnings(const oi_model *m);

/* A progress line on stderr, redrawn in place ('\r'): the messages above
 * clear it before they print and draw it again after. final: the line is
 * ended with a newline and forgotten. Not with -q. */
void cli_progress(const char *line, int final);

/* ---- standard output -------------------------------------------------- */

/* Flush stdout: EXIT_OK, or EXIT_FAIL with the error kept for
 * cli_stdout_close (nothing printed here). Writers set errno to 0 before
 * they print, so that the errno of a write stdio made on its own is kept. */
int cli_stdout_flush(void);
/* What was done already when stdout fails (e.g. "the model was written to
 * OUT"): said in parentheses after the error. */
void cli_stdout_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The program's last word: stdout flushed and closed; a write error on it
 * said in one line. The exit code: ret, or EXIT_FAIL if ret was 0 and
 * stdout failed. */
int cli_stdout_close(int ret);

/* ---- signals ------------------------------------------------------------ */

/* Remove the temporaries of an interrupted save, then die by the signal. */
void cli_install_signal_cleanup(void);
/* HANDLER for SIGINT, SIGTERM and SIGHUP */
void cli_install_signals(void (*handler)(int));
/* An oi_save_options.on_temp that records the temporaries for the cleanup. */
void cli_temp_callback(const char *path, int created, void *userdata);
/* SIGBUS (a mapped input truncated by another process): one line naming
 * the input this thread reads, the temporaries removed, exit 1. */
void cli_install_sigbus(void);
/* The input the calling thread reads from now on (NULL: none), named if
 * it shrinks under its mapping. */
void cli_reading(const char *path);

#endif
