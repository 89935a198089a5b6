/* Messages, exit codes, and the temporaries removed on SIGINT/SIGTERM/SIGHUP. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "diagnostics.h"

int cli_verbosity = 0;

static void vmsg(const char *fmt, va_list ap)
{
	fputs("onnxinit: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int cli_error(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	return code;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try 'onnxinit %s%s--help' for more information.\n", cmd ? cmd : "",
	        cmd ? " " : "");
	return EXIT_USAGE;
}

static void vnotice(const char *prefix, const char *fmt, va_list ap)
{
	if (cli_verbosity < 0)
		return;
	fputs(prefix, stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vnotice("onnxinit: warning: ", fmt, ap);
	va_end(ap);
}

void cli_notice(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vnotice("onnxinit: ", fmt, ap);
	va_end(ap);
}

int cli_option_error(const char *cmd, int c, char **argv)
{
	if (c == ':')
		return cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
	return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
}

int cli_exit_for(int rc)
{
	return rc == OI_EARG ? EXIT_USAGE : EXIT_FAIL;
}

void cli_print_warnings(const oi_model *m)
{
	size_t n = oi_model_warning_count(m);
	if (cli_verbosity < 0 || !n)
		return;
	size_t shown = cli_verbosity > 0 ? n : (n < 5 ? n : 5);
	for (size_t i = 0; i < shown; i++)
		fprintf(stderr, "onnxinit: %s: warning: %s\n", oi_model_path(m), oi_model_warning(m, i));
	if (shown < n)
		fprintf(stderr, "onnxinit: %s: %zu more warnings (-v shows all)\n", oi_model_path(m),
		        n - shown);
}

/* ---- temporaries removed on SIGINT/SIGTERM ------------------------------ */

/* A signal handler can reach nothing else: the table is process-wide. */
#define TEMP_SLOTS 256
static struct {
	volatile sig_atomic_t used;
	char path[4096];
} temps[TEMP_SLOTS];
static pthread_mutex_t temps_lock = PTHREAD_MUTEX_INITIALIZER;

void cli_temp_callback(const char *path, int created, void *userdata)
{
	(void)userdata;
	if (strlen(path) >= sizeof temps[0].path)
		return;
	pthread_mutex_lock(&temps_lock);
	for (int i = 0; i < TEMP_SLOTS; i++) {
		if (created && !temps[i].used) {
			strcpy(temps[i].path, path);
			temps[i].used = 1;
			break;
		}
		if (!created && temps[i].used && !strcmp(temps[i].path, path)) {
			temps[i].used = 0;
			break;
		}
	}
	pthread_mutex_unlock(&temps_lock);
}

static void on_signal(int sig)
{
	for (int i = 0; i < TEMP_SLOTS; i++)
		if (temps[i].used)
			unlink(temps[i].path);
	signal(sig, SIG_DFL);
	raise(sig);
}

void cli_install_signals(void (*handler)(int))
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

void cli_install_signal_cleanup(void)
{
	cli_install_signals(on_signal);
}
