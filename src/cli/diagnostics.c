/* Messages, exit codes, standard output's write errors, the progress line,
 * and the temporaries removed on SIGINT/SIGTERM/SIGHUP and SIGBUS. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diagnostics.h"

int cli_verbosity = 0;

/* ---- stderr ------------------------------------------------------------- */

/* Messages come from several workers at once, and share stderr with the
 * progress line: one lock for all of it. */
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;
static char progress_line[512];
static size_t progress_len;          /* 0: no progress line on screen */
static volatile sig_atomic_t progress_shown; /* for the SIGBUS handler */

/* Control characters (a newline in a path or a tensor name) as spaces: a
 * message stays one line, and a name cannot move the cursor. */
static void one_line(char *s)
{
	for (unsigned char *p = (unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

/* "\r", spaces over the progress line, "\r": the cursor where it began. */
static void clear_progress(void)
{
	char blank[sizeof progress_line + 2];
	blank[0] = '\r';
	memset(blank + 1, ' ', progress_len);
	blank[progress_len + 1] = '\r';
	fwrite(blank, 1, progress_len + 2, stderr);
}

/* prefix, the message, a newline; the progress line cleared and redrawn */
static void say(const char *prefix, const char *fmt, va_list ap)
{
	char buf[1024], *msg = buf;
	va_list again;
	va_copy(again, ap);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	if (n >= (int)sizeof buf && (msg = malloc((size_t)n + 1)))
		vsnprintf(msg, (size_t)n + 1, fmt, again);
	else
		msg = buf;
	va_end(again);
	one_line(msg);
	pthread_mutex_lock(&err_lock);
	if (progress_len)
		clear_progress();
	fputs(prefix, stderr);
	fputs(msg, stderr);
	fputc('\n', stderr);
	if (progress_len)
		fputs(progress_line, stderr);
	fflush(stderr);
	pthread_mutex_unlock(&err_lock);
	if (msg != buf)
		free(msg);
}

int cli_error(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say("onnxinit: ", fmt, ap);
	va_end(ap);
	return code;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say("onnxinit: ", fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try 'onnxinit %s%s--help' for more information.\n", cmd ? cmd : "",
	        cmd ? " " : "");
	return EXIT_USAGE;
}

static void vnotice(const char *prefix, const char *fmt, va_list ap)
{
	if (cli_verbosity >= 0)
		say(prefix, fmt, ap);
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
	/* a conflict is an output the command line named badly, refused before
	 * anything was written */
	return rc == OI_EARG || rc == OI_ECONFLICT ? EXIT_USAGE : EXIT_FAIL;
}

void cli_print_warnings(const oi_model *m)
{
	size_t n = oi_model_warning_count(m);
	if (cli_verbosity < 0 || !n)
		return;
	size_t shown = cli_verbosity > 0 ? n : (n < 5 ? n : 5);
	for (size_t i = 0; i < shown; i++)
		cli_notice("%s: warning: %s", oi_model_path(m), oi_model_warning(m, i));
	if (shown < n)
		cli_notice("%s: %zu more warnings (-v shows all)", oi_model_path(m), n - shown);
}

void cli_progress(const char *line, int final)
{
	if (cli_verbosity < 0)
		return;
	pthread_mutex_lock(&err_lock);
	size_t n = strlen(line);
	if (n > sizeof progress_line - 2)
		n = sizeof progress_line - 2;
	/* drawn over the last one: what it had past this one's end blanked */
	char buf[2 * sizeof progress_line + 2];
	size_t len = 0;
	buf[len++] = '\r';
	memcpy(buf + len, line, n);
	len += n;
	size_t pad = progress_len > n + 1 ? progress_len - n - 1 : 0;
	memset(buf + len, ' ', pad);
	len += pad;
	if (final) {
		buf[len++] = '\n';
		progress_len = 0;
	} else {
		memcpy(progress_line, buf, n + 1);
		progress_line[n + 1] = 0;
		progress_len = n + 1;
	}
	progress_shown = !final;
	fwrite(buf, 1, len, stderr);
	fflush(stderr);
	pthread_mutex_unlock(&err_lock);
}

/* ---- standard output ---------------------------------------------------- */

static int stdout_errno;            /* the first write error on stdout */
static char stdout_note_text[1200]; /* what was done regardless */

int cli_stdout_flush(void)
{
	/* a write that failed before (stdio flushes as its buffer fills) left
	 * its errno, if nothing since changed it */
	int before = errno;
	if (fflush(stdout) == 0 && !ferror(stdout))
		return EXIT_OK;
	if (!stdout_errno)
		stdout_errno = errno ? errno : before ? before : EIO;
	return EXIT_FAIL;
}

void cli_stdout_note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(stdout_note_text, sizeof stdout_note_text, fmt, ap);
	va_end(ap);
}

int cli_stdout_close(int ret)
{
	bool wrote_ok = cli_stdout_flush() == EXIT_OK;
	/* a closed stdout (>&-) that was never written to is no error */
	if (fclose(stdout) != 0 && !stdout_errno && !(wrote_ok && errno == EBADF))
		stdout_errno = errno ? errno : EIO;
	if (!stdout_errno)
		return ret;
	if (stdout_note_text[0])
		cli_error(EXIT_FAIL, "cannot write to standard output: %s (%s)", strerror(stdout_errno),
		          stdout_note_text);
	else
		cli_error(EXIT_FAIL, "cannot write to standard output: %s", strerror(stdout_errno));
	return ret ? ret : EXIT_FAIL;
}

/* ---- temporaries removed on signals --------------------------------------- */

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

static void remove_temps(void)
{
	for (int i = 0; i < TEMP_SLOTS; i++)
		if (temps[i].used)
			unlink(temps[i].path);
}

static void on_signal(int sig)
{
	remove_temps();
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

/* ---- SIGBUS --------------------------------------------------------------- */

/* Per thread, as SIGBUS is delivered to the thread that touched the
 * mapping: each batch worker names its own model. A copy, so that it
 * outlives nothing it points to. */
static _Thread_local char reading[4096];

void cli_reading(const char *path)
{
	if (!path) {
		reading[0] = 0;
		return;
	}
	size_t n = strlen(path);
	if (n >= sizeof reading)
		n = sizeof reading - 1;
	memcpy(reading, path, n);
	reading[n] = 0;
}

static size_t put(char *buf, size_t len, size_t cap, const char *s)
{
	while (*s && len < cap)
		buf[len++] = *s++;
	return len;
}

/* Only write, unlink and _exit here: any other thread may hold any lock. */
static void on_sigbus(int sig)
{
	(void)sig;
	char msg[sizeof reading + 160];
	size_t len = 0, cap = sizeof msg - 1;
	if (progress_shown)
		len = put(msg, len, cap, "\n");
	len = put(msg, len, cap, "onnxinit: ");
	if (reading[0]) {
		size_t start = len;
		len = put(msg, len, cap, reading);
		for (size_t i = start; i < len; i++)
			if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
				msg[i] = ' ';
		len = put(msg, len, cap, ": the model or its external data");
	} else {
		len = put(msg, len, cap, "an input");
	}
	len = put(msg, len, cap, " was truncated while it was being read (by another program?)");
	msg[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, msg, len);
	(void)w;
	remove_temps();
	_exit(EXIT_FAIL);
}

void cli_install_sigbus(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigbus;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
}
