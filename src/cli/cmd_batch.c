/* onnxinit batch PATH... (-o OUTDIR | --in-place) [options]
 *
 * Finds every *.onnx below the paths, mirrors the input tree into OUTDIR,
 * and re-initializes the models on -j worker threads. Each model's seed is
 * derived from --seed and its path relative to the root it was found under,
 * so a tree gives the same bytes whatever -j or sharding. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "../lib/sha256.h" /* the library's own, compiled in here too */

static const char help[] =
	"Usage: onnxinit batch PATH... (-o OUTDIR | --in-place) [options]\n"
	"\n"
	"Re-initialize every *.onnx file given or found below the directories given.\n"
	"OUTDIR mirrors the input tree; external data files are written beside their\n"
	"models. A file onnxinit.json in an input directory holds rules for the models\n"
	"below it (outer files first, then --rules, then --rule).\n"
	"\n"
	"  -o, --output OUTDIR       where the outputs go\n"
	"      --in-place            replace each model atomically instead\n"
	"  -j, --jobs N              models in parallel (default: the cores)\n"
	"      --manifest FILE       JSON Lines, one object per model\n"
	"      --shard K/N           only the K-th of N slices of the sorted model list\n"
	"      --fail-fast           start no new model after a failure\n"
	"      --force               replace outputs that exist (else they are skipped)\n"
	"      --output-inside-input allow OUTDIR below an input directory\n"
	"      --progress WHEN       auto (stderr is a terminal), always, never\n"
	"      --scheme SPEC, --rule SEL=SPEC, --rules FILE, --seed N, --threads N,\n"
	"      --fan-convention C, --no-provenance, --in-memory, --no-fsync, --no-untie,\n"
	"      --residual MODE, --from DONOR, --from-map FILE, --unmatched MODE,\n"
	"      --bn-eps X, --dry-run, --json, --pretrain PASS, --data DATA,\n"
	"      --batch N, --input-shape NAME=D,..., --data-scale X:\n"
	"                            as for 'onnxinit init'; --threads is per model\n"
	"  -q, --quiet               only errors on stderr\n"
	"  -v, --verbose             more on stderr\n"
	"  -h, --help                this text\n";

typedef struct job {
	char *input;      /* path as found */
	char *rel;        /* path below its root, '/'-separated */
	char *output;
	uint64_t seed;
	uint64_t bytes;
	dev_t dev;
	ino_t ino;
	int root;
	char *dir;        /* the directory it was found in (for onnxinit.json) */
	/* result */
	const char *status;
	char *error;
	size_t tensors;
	char sha[65];
	double seconds;
} job;

/* What the command line said. */
typedef struct batch_opts {
	cli_init_args init; /* the options init shares; threads: per model */
	const char *outdir;
	const char *manifest;
	bool in_place, force, fail_fast, allow_inside;
	int progress;       /* 0 never, 1 always, -1 auto */
	unsigned long shard_k, shard_n;
	unsigned long jobs; /* 0: the cores */
} batch_opts;

/* A folder's onnxinit.json, read once. */
typedef struct dir_rules {
	char *dir;
	char *text;       /* NULL: there is none */
	bool unreadable;  /* it exists but cannot be read */
} dir_rules;

typedef struct batch {
	batch_opts *o;
	/* work */
	job *jobs;
	size_t n_jobs, cap_jobs;
	char **roots;     /* the folder each argument's models were found in */
	size_t n_roots;
	bool discovery_failed;
	dir_rules *rules;
	size_t n_rules;
	oi_data *data;    /* --data for --pretrain, opened once for every model */
	/* the run */
	FILE *manifest;
	int manifest_errno;   /* its first write error (said once) */
	unsigned workers;
	size_t group_models;  /* the most models a worker's group holds */
	size_t group_fds, group_temps; /* and the most open files and temporaries */
	pthread_mutex_t lock; /* the rules cache, stdout, the counts, the manifest */
	atomic_size_t next;
	atomic_bool stop;
	size_t done, failed, skipped, ok;
	uint64_t bytes_done, bytes_total;
	double start;
} batch;

/* First SIGINT/SIGTERM/SIGHUP: every save in flight stops cleanly (the
 * library removes its temporaries), no new model starts, the manifest is
 * closed; then the process dies by that signal. A second one kills at once.
 * The signal, or 0: the one piece of process-wide state, as a handler can
 * reach nothing else; the saves read it as their cancel flag. */
static volatile sig_atomic_t cancel_signal;
_Static_assert(_Generic((sig_atomic_t)0, int: 1, default: 0),
               "oi_save_options.cancel reads an int");

static void on_cancel(int sig)
{
	if (cancel_signal) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	cancel_signal = sig;
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void job_free(job *j)
{
	free(j->input);
	free(j->rel);
	free(j->dir);
	free(j->output);
	free(j->error);
}

static void set_error(job *j, const char *status, const char *msg)
{
	j->status = status;
	free(j->error);
	j->error = msg ? strdup(msg) : NULL;
}

static void fail(job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(job *j, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	set_error(j, "failed", msg);
}

/* ---- paths ------------------------------------------------------------- */

static bool inside(const char *dir, const char *parent)
{
	size_t n = strlen(parent);
	return !strncmp(dir, parent, n) && (dir[n] == '/' || dir[n] == 0 || !strcmp(parent, "/"));
}

/* The folders of a file's path. */
static int make_dirs_for(const char *file)
{
	char *p = strdup(file);
	if (!p)
		return -1;
	for (char *s = p + 1; (s = strchr(s, '/')); s++) {
		*s = 0;
		if (mkdir(p, 0777) != 0 && errno != EEXIST) {
			free(p);
			return -1;
		}
		*s = '/';
	}
	free(p);
	return 0;
}

/* mkdir -p */
static int make_dirs_for_dir(const char *dir)
{
	char *p = NULL;
	if (asprintf(&p, "%s/", dir) < 0)
		return -1;
	int rc = make_dirs_for(p);
	free(p);
	return rc;
}

/* realpath of a path that may not exist yet: its deepest existing ancestor
 * resolved, the rest appended. */
static char *future_realpath(const char *path)
{
	char *p = strdup(path), *rest = NULL, *out = NULL;
	if (!p)
		return NULL;
	for (;;) {
		char *real = realpath(p, NULL);
		if (real) {
			if (rest ? asprintf(&out, "%s/%s", real, rest) < 0 : !(out = strdup(real)))
				out = NULL;
			free(real);
			break;
		}
		char *slash = strrchr(p, '/');
		if (!slash) { /* relative, nothing exists: below the current directory */
			char *cwd = realpath(".", NULL);
			if (cwd && asprintf(&out, "%s/%s", cwd, path) < 0)
				out = NULL;
			free(cwd);
			break;
		}
		char *tail = NULL;
		if (asprintf(&tail, "%s%s%s", slash + 1, rest ? "/" : "", rest ? rest : "") < 0)
			break;
		free(rest);
		rest = tail;
		if (slash == p) {
			if (asprintf(&out, "/%s", rest) < 0)
				out = NULL;
			break;
		}
		*slash = 0;
	}
	free(p);
	free(rest);
	return out;
}

/* ---- discovery ---------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && !strcmp(s + a - b, suffix);
}

static int add_job(batch *b, const char *path, const char *rel, const char *dir, int root,
                   const struct stat *st)
{
	if (b->n_jobs == b->cap_jobs) {
		size_t cap = b->cap_jobs ? b->cap_jobs * 2 : 64;
		job *p = realloc(b->jobs, cap * sizeof *p);
		if (!p)
			return -1;
		b->jobs = p;
		b->cap_jobs = cap;
	}
	job *j = &b->jobs[b->n_jobs++];
	memset(j, 0, sizeof *j);
	j->input = strdup(path);
	j->rel = strdup(rel);
	j->dir = strdup(dir);
	j->root = root;
	j->dev = st->st_dev;
	j->ino = st->st_ino;
	j->bytes = (uint64_t)st->st_size;
	return j->input && j->rel && j->dir ? 0 : -1;
}

typedef struct visited {
	dev_t dev;
	ino_t ino;
} visited;

enum { MAX_DEPTH = 256 };

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in an open folder but . and .., sorted (the same order on
 * every machine); closes it. */
static char **sorted_names(DIR *d, size_t *count)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			char **p = realloc(names, cap * sizeof *names);
			if (!p)
				break;
			names = p;
		}
		names[n] = strdup(e->d_name);
		if (names[n])
			n++;
	}
	closedir(d);
	qsort(names, n, sizeof *names, cmp_str);
	*count = n;
	return names;
}

/* Whether the folder st is to be walked: not a link loop, not too deep, not
 * the output folder (when that is allowed inside an input). */
static bool enter_dir(const batch *b, const char *dir, const struct stat *st, visited *stack,
                      size_t depth)
{
	for (size_t i = 0; i < depth; i++)
		if (stack[i].dev == st->st_dev && stack[i].ino == st->st_ino) {
			cli_warn("%s: a symbolic link loop; not followed", dir);
			return false;
		}
	if (depth >= MAX_DEPTH) {
		cli_warn("%s: nested too deep; not followed", dir);
		return false;
	}
	stack[depth] = (visited){ st->st_dev, st->st_ino };
	if (b->o->outdir && b->o->allow_inside) {
		struct stat os;
		if (stat(b->o->outdir, &os) == 0 && os.st_dev == st->st_dev && os.st_ino == st->st_ino)
			return false;
	}
	return true;
}

static void walk(batch *b, const char *dir, const char *rel, int root, visited *stack,
                 size_t depth)
{
	struct stat st;
	if (stat(dir, &st) != 0) {
		cli_error(EXIT_FAIL, "%s: %s", dir, strerror(errno));
		b->discovery_failed = true;
		return;
	}
	if (!enter_dir(b, dir, &st, stack, depth))
		return;
	DIR *d = opendir(dir);
	if (!d) {
		cli_error(EXIT_FAIL, "%s: cannot read the directory: %s", dir, strerror(errno));
		b->discovery_failed = true;
		return;
	}
	size_t n;
	char **names = sorted_names(d, &n);
	for (size_t i = 0; i < n; i++) {
		char *path = NULL, *sub = NULL;
		if (asprintf(&path, "%s/%s", dir, names[i]) < 0 ||
		    asprintf(&sub, "%s%s%s", rel, *rel ? "/" : "", names[i]) < 0) {
			free(path);
			continue;
		}
		struct stat es;
		if (stat(path, &es) == 0) {
			if (S_ISDIR(es.st_mode))
				walk(b, path, sub, root, stack, depth + 1);
			else if (S_ISREG(es.st_mode) && ends_with(names[i], ".onnx") && names[i][0] != '.')
				add_job(b, path, sub, dir, root, &es);
		} else if (lstat(path, &es) == 0 && S_ISLNK(es.st_mode) && ends_with(names[i], ".onnx")) {
			cli_warn("%s: a dangling symbolic link; skipped", path);
		}
		free(path);
		free(sub);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The models of one argument, a folder or a file: 0, or an exit code that
 * ends the run (the output folder inside this input). */
static int add_root(batch *b, const char *p, int root, const char *out_real, visited *stack)
{
	struct stat st;
	if (stat(p, &st) != 0) {
		cli_error(EXIT_FAIL, "%s: %s", p, strerror(errno));
		b->discovery_failed = true;
		return 0;
	}
	size_t len = strlen(p);
	while (len > 1 && p[len - 1] == '/')
		len--;
	if (S_ISDIR(st.st_mode)) {
		char *real = realpath(p, NULL);
		bool nested = out_real && real && inside(out_real, real);
		free(real);
		if (nested && !b->o->allow_inside)
			return cli_usage_error("batch", "the output directory %s is inside the input "
			                       "directory %s (--output-inside-input allows it)", b->o->outdir,
			                       p);
		/* paths stay as found (not resolved), so that the rules files
		 * are looked up along the tree as the user sees it */
		b->roots[root] = strndup(p, len);
		if (b->roots[root])
			walk(b, b->roots[root], "", root, stack, 0);
	} else if (S_ISREG(st.st_mode)) {
		const char *slash = strrchr(p, '/');
		const char *base = slash ? slash + 1 : p;
		char *dir = slash ? strndup(p, (size_t)(slash - p)) : strdup(".");
		if (dir && !*dir) {
			free(dir);
			dir = strdup("/");
		}
		b->roots[root] = dir ? strdup(dir) : NULL;
		if (dir)
			add_job(b, p, base, dir, root, &st);
		free(dir);
	} else {
		cli_error(EXIT_FAIL, "%s: not a file or directory", p);
		b->discovery_failed = true;
	}
	return 0;
}

static int cmp_job(const void *a, const void *b)
{
	const job *x = a, *y = b;
	int c = strcmp(x->rel, y->rel);
	return c ? c : (x->root > y->root) - (x->root < y->root);
}

/* Every model below the paths, sorted by relative path: 0 or an exit code. */
static int discover(batch *b, char **paths, size_t n, const char *out_real)
{
	b->n_roots = n;
	b->roots = calloc(n, sizeof *b->roots);
	visited *stack = calloc(MAX_DEPTH + 1, sizeof *stack);
	int ret = b->roots && stack ? EXIT_OK : cli_error(EXIT_FAIL, "out of memory");
	for (size_t a = 0; ret == EXIT_OK && a < n; a++)
		ret = add_root(b, paths[a], (int)a, out_real, stack);
	free(stack);
	if (ret == EXIT_OK)
		qsort(b->jobs, b->n_jobs, sizeof *b->jobs, cmp_job);
	return ret;
}

/* ---- outputs, duplicates, shards ---------------------------------------- */

static int cmp_inode(const void *a, const void *b)
{
	const job *const *x = a, *const *y = b;
	if ((*x)->dev != (*y)->dev)
		return (*x)->dev < (*y)->dev ? -1 : 1;
	if ((*x)->ino != (*y)->ino)
		return (*x)->ino < (*y)->ino ? -1 : 1;
	return *x < *y ? -1 : *x > *y; /* list order: the first one is done */
}

/* The same model reached twice (two arguments, a link): done once, by the
 * first in the sorted list. */
static void mark_duplicates(batch *b)
{
	job **by = malloc((b->n_jobs ? b->n_jobs : 1) * sizeof *by);
	if (!by)
		return;
	for (size_t i = 0; i < b->n_jobs; i++)
		by[i] = &b->jobs[i];
	qsort(by, b->n_jobs, sizeof *by, cmp_inode);
	job *orig = NULL;
	for (size_t i = 0; i < b->n_jobs; i++) {
		job *j = by[i];
		if (!orig || orig->dev != j->dev || orig->ino != j->ino) {
			orig = j; /* the first of a run of one inode */
			continue;
		}
		char msg[1200];
		snprintf(msg, sizeof msg, "the same model as %s", orig->input);
		set_error(j, "skipped", msg);
		cli_warn("%s: given twice (the same model as %s); done once", j->input, orig->input);
	}
	free(by);
}

/* Outputs, seeds, duplicates and collisions: on the whole list, before
 * sharding (so that every shard decides alike) and before any work. 0 or
 * an exit code. */
static int assign_outputs(batch *b)
{
	const batch_opts *o = b->o;
	for (size_t i = 0; i < b->n_jobs; i++) {
		job *j = &b->jobs[i];
		if (o->in_place || !o->outdir)
			j->output = strdup(j->input);
		else if (asprintf(&j->output, "%s/%s", o->outdir, j->rel) < 0)
			j->output = NULL;
		if (!j->output)
			return cli_error(EXIT_FAIL, "out of memory");
		j->seed = oi_derive_seed(o->init.seed, j->rel);
		/* sorted by relative path: clashing outputs are neighbours */
		const job *prev = i ? &b->jobs[i - 1] : NULL;
		if (prev && !o->in_place && !strcmp(prev->output, j->output) &&
		    !(prev->dev == j->dev && prev->ino == j->ino))
			return cli_usage_error("batch", "%s and %s would both be written to %s",
			                       prev->input, j->input, j->output);
		struct stat st;
		if (!o->in_place && !o->init.dry && stat(j->output, &st) == 0 && st.st_dev == j->dev &&
		    st.st_ino == j->ino)
			return cli_usage_error("batch", "%s: the output would replace the input; use "
			                       "--in-place", j->input);
	}
	mark_duplicates(b);
	return EXIT_OK;
}

/* The shard: every N-th model of the sorted list, from the K-th. */
static void keep_shard(batch *b)
{
	unsigned long k = b->o->shard_k, n = b->o->shard_n;
	if (n > 1) {
		size_t kept = 0;
		for (size_t i = 0; i < b->n_jobs; i++) {
			if (i % n == k - 1)
				b->jobs[kept++] = b->jobs[i];
			else
				job_free(&b->jobs[i]);
		}
		b->n_jobs = kept;
	}
	for (size_t i = 0; i < b->n_jobs; i++)
		b->bytes_total += b->jobs[i].bytes;
}

/* ---- rules files in directories ----------------------------------------- */

/* DIR/onnxinit.json, read once; NULL when out of memory. */
static const dir_rules *find_dir_rules(batch *b, const char *dir)
{
	for (size_t i = 0; i < b->n_rules; i++)
		if (!strcmp(b->rules[i].dir, dir))
			return &b->rules[i];
	dir_rules *p = realloc(b->rules, (b->n_rules + 1) * sizeof *p);
	if (!p)
		return NULL;
	b->rules = p;
	dir_rules *r = &p[b->n_rules];
	char *path = NULL;
	if (!(r->dir = strdup(dir)) || asprintf(&path, "%s/onnxinit.json", dir) < 0) {
		free(r->dir);
		return NULL;
	}
	r->text = NULL;
	r->unreadable = access(path, F_OK) == 0 && cli_read_file(path, &r->text) != 0;
	free(path);
	return &b->rules[b->n_rules++];
}

enum { MAX_RULE_FILES = 64 };

/* The onnxinit.json files from a job's root down to its directory. */
typedef struct job_rules {
	const char *texts[MAX_RULE_FILES];
	const char *names[MAX_RULE_FILES];
	char *names_own[MAX_RULE_FILES];
	size_t n;
	bool unreadable; /* one of them cannot be read */
} job_rules;

static void add_job_rules(job_rules *jr, const dir_rules *r)
{
	if (!r || r->unreadable) {
		jr->unreadable = true;
	} else if (r->text) {
		jr->texts[jr->n] = r->text;
		if (asprintf(&jr->names_own[jr->n], "%s/onnxinit.json", r->dir) < 0)
			jr->names_own[jr->n] = NULL;
		jr->names[jr->n] = jr->names_own[jr->n] ? jr->names_own[jr->n] : "onnxinit.json";
		jr->n++;
	}
}

/* Under b->lock: the files are read once for all workers. */
static void rules_chain(batch *b, const job *j, job_rules *jr)
{
	memset(jr, 0, sizeof *jr);
	const char *root = b->roots[j->root];
	if (!root)
		return;
	size_t rl = strlen(root);
	if (strncmp(j->dir, root, rl) || (j->dir[rl] && j->dir[rl] != '/'))
		return;
	char *buf = strdup(j->dir);
	if (!buf)
		return;
	size_t cuts[MAX_DEPTH], nc = 0, len = strlen(buf);
	cuts[nc++] = rl;
	for (size_t i = rl + 1; i < len && nc < MAX_DEPTH - 1; i++)
		if (buf[i] == '/')
			cuts[nc++] = i;
	if (len > rl)
		cuts[nc++] = len;
	for (size_t k = 0; k < nc && jr->n < MAX_RULE_FILES; k++) {
		char saved = buf[cuts[k]];
		buf[cuts[k]] = 0;
		add_job_rules(jr, find_dir_rules(b, buf));
		buf[cuts[k]] = saved;
	}
	free(buf);
}

static void job_rules_free(job_rules *jr)
{
	for (size_t i = 0; i < jr->n; i++)
		free(jr->names_own[i]);
}

/* ---- one model ---------------------------------------------------------- */

/* Open and plan j's model with po: the model, or NULL with j failed. */
static oi_model *plan_job(batch *b, job *j, const job_rules *jr, cli_plan_options *po)
{
	const cli_init_args *a = &b->o->init;
	oi_model *m;
	if (cli_open_model(&m, j->input, a->open_flags, a->fans) != 0) {
		set_error(j, "failed", oi_last_error());
		return NULL;
	}
	cli_rule_files files = { jr->texts, jr->names, jr->n };
	int rc = cli_plan_options_make(po, a, &files, j->seed);
	if (!rc)
		rc = oi_model_plan(m, &po->io);
	cli_print_warnings(m);
	if (!rc && cli_verbosity > 0)
		cli_donor_summary(m, a);
	if (rc) {
		fail(j, "%s: %s", j->input, oi_last_error());
		cli_close_model(m);
		return NULL;
	}
	if (a->pretrain) {
		oi_report *rep = NULL;
		rc = cli_pretrain(&rep, m, b->data, a, po->rules, j->seed);
		if (!rc) {
			cli_print_report_warnings(j->input, rep);
			cli_print_pretrain_summary(j->input, oi_data_name(b->data), rep);
		}
		oi_report_free(rep);
		if (rc) {
			fail(j, "%s: %s", j->input, oi_last_error());
			cli_close_model(m);
			return NULL;
		}
	}
	j->tensors = oi_model_changed_count(m);
	return m;
}

/* --dry-run: the plan on stdout, whole between the workers' */
static void show_plan(batch *b, job *j, const oi_model *m)
{
	pthread_mutex_lock(&b->lock);
	/* a write error is said once, at the end (cli_stdout_close) */
	if (b->o->init.json) {
		json_t *o = cli_model_json(m, true);
		json_object_set_new(o, "seed", cli_seed_json(j->seed));
		cli_print_json(o);
	} else {
		cli_print_table(stdout, m, true);
		cli_stdout_flush();
	}
	pthread_mutex_unlock(&b->lock);
	set_error(j, "ok", NULL);
}

/* A model saved into its worker's commit group, not yet committed: what it
 * holds stays open until the group is. */
typedef struct pending {
	job *j;
	oi_model *m;
	cli_plan_options po;
	job_rules jr;
	double t0;
} pending;

/* Each worker commits its saves in groups: one sync for many models instead
 * of one per file. A group holds at most this many models or bytes of
 * input (each one open until the commit), fewer with many workers (see
 * group_size). */
enum { GROUP_MODELS = 128 };
#define GROUP_BYTES (64u << 20)
/* What a model waiting in a group holds: its file, its temporary, and
 * room for a data file or two. */
enum { FDS_PER_PENDING = 4 };
/* The temporaries the signal handlers can remove (diagnostics.c holds 256):
 * the groups' share. */
enum { TEMPS_FOR_GROUPS = 192 };

typedef struct worker_ctx {
	batch *b;
	oi_commit_group *group; /* NULL: each save commits alone (--no-fsync) */
	pending p[GROUP_MODELS];
	size_t n;
	uint64_t bytes;
	size_t fds, temps;      /* what the group's models hold (pending_cost) */
	char *made;             /* the folder of the last output, known to be there */
} worker_ctx;

/* The job's result, once its output is committed (or not). */
static void saved(batch *b, job *j, oi_model *m, int rc)
{
	if (rc) {
		set_error(j, "failed", oi_last_error());
		return;
	}
	set_error(j, "ok", NULL);
	if (oi_model_saved_external(m))
		cli_notice("%s: past protobuf's 2 GiB limit, so its weights went to '%s'", j->output,
		           oi_model_saved_external(m));
	if ((b->manifest || b->o->init.json) && oi__sha256_file(j->output, j->sha) != 0)
		j->sha[0] = 0;
}

/* The folder of an output, made if need be: the models come sorted, so
 * most share the previous one's, and need neither a stat nor a mkdir. */
static int output_folder(worker_ctx *w, const char *output)
{
	const char *slash = strrchr(output, '/');
	size_t n = slash ? (size_t)(slash - output) : 0;
	if (!n || (w->made && strlen(w->made) == n && !strncmp(w->made, output, n)))
		return 0;
	char *dir = strndup(output, n);
	if (!dir)
		return -1;
	struct stat st;
	if ((stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) && make_dirs_for(output) != 0) {
		free(dir);
		return -1;
	}
	free(w->made);
	w->made = dir;
	return 0;
}

/* Save j's model, alone or into the worker's group (then p is pending):
 * whether it was put into the group. */
static bool save_job(worker_ctx *w, job *j, oi_model *m, pending *p)
{
	batch *b = w->b;
	const batch_opts *o = b->o;
	if (!o->in_place && output_folder(w, j->output) != 0) {
		fail(j, "%s: cannot create its folder: %s", j->output, strerror(errno));
		return false;
	}
	oi_save_options so;
	/* the folders are synced once each at the end of the run */
	cli_save_options(&so, &o->init,
	                 (o->in_place ? OI_SAVE_REPLACE_INPUT : 0) | OI_SAVE_DEFER_DIR_SYNC);
	so.cancel = &cancel_signal;
	so.group = w->group;
	so.userdata = p;
	int rc = oi_model_save(m, j->output, &so);
	if (!rc && w->group)
		return true;
	saved(b, j, m, rc);
	return false;
}

static void pending_free(pending *p)
{
	cli_close_model(p->m);
	cli_plan_options_free(&p->po);
	job_rules_free(&p->jr);
	p->j->seconds = now_s() - p->t0;
}

static void on_commit(const char *path, int rc, void *userdata)
{
	(void)path;
	pending *p = userdata;
	p->j->status = rc ? "failed" : "ok"; /* the rest after the group */
	if (rc)
		set_error(p->j, "failed", oi_last_error());
}

static void finish_job(batch *b, job *j);

/* Commit the worker's group: each model's result, then its job finished. */
static void commit_group(worker_ctx *w)
{
	if (!w->n)
		return;
	oi_commit_group_commit(w->group, on_commit);
	for (size_t i = 0; i < w->n; i++) {
		pending *p = &w->p[i];
		if (p->j->status && !strcmp(p->j->status, "ok"))
			saved(w->b, p->j, p->m, 0);
		pending_free(p);
		finish_job(w->b, p->j);
	}
	w->n = 0;
	w->bytes = 0;
	w->fds = w->temps = 0;
}

/* Run j: whether it waits in the worker's group (finished at its commit). */
/* What a model waiting in a group holds at most: its file and temporary,
 * the output it replaces (read at commit), and per external data file its
 * input, its new data file and that one's temporary (every external tensor
 * counted as a file of its own). */
static void pending_cost(const oi_model *m, size_t *fds, size_t *temps)
{
	size_t ext = 0;
	for (size_t i = 0; i < oi_model_tensor_count(m); i++)
		ext += oi_model_tensor(m, i)->storage == OI_STORAGE_EXTERNAL;
	*fds = FDS_PER_PENDING + 2 * ext;
	*temps = 1 + ext;
}

static bool run_job(worker_ctx *w, job *j)
{
	batch *b = w->b;
	const batch_opts *o = b->o;
	pending *p = &w->p[w->n];
	memset(p, 0, sizeof *p);
	p->j = j;
	p->t0 = now_s();
	pthread_mutex_lock(&b->lock);
	rules_chain(b, j, &p->jr);
	pthread_mutex_unlock(&b->lock);
	struct stat st;
	if (p->jr.unreadable) {
		/* its rules would be silently missing: the model is not done */
		fail(j, "%s: an onnxinit.json above it cannot be read", j->input);
	} else if (!o->in_place && !o->force && !o->init.dry && stat(j->output, &st) == 0) {
		set_error(j, "skipped", "the output exists (--force replaces it)");
	} else {
		p->m = plan_job(b, j, &p->jr, &p->po);
		size_t fds = 0, temps = 0;
		if (p->m && !o->init.dry)
			pending_cost(p->m, &fds, &temps);
		if (p->m && w->group && w->n &&
		    (w->fds + fds > b->group_fds || w->temps + temps > b->group_temps)) {
			/* no room left in the group for this one: commit the others
			 * first (the plan, rules and model only point elsewhere) */
			pending keep = *p;
			commit_group(w);
			w->p[0] = keep;
			p = &w->p[0];
		}
		if (p->m && o->init.dry) {
			show_plan(b, j, p->m);
		} else if (p->m && save_job(w, j, p->m, p)) {
			w->bytes += j->bytes;
			w->fds += fds;
			w->temps += temps;
			w->n++;
			return true;
		}
	}
	pending_free(p);
	return false;
}

/* ---- the run ------------------------------------------------------------ */

static json_t *job_json(const job *j)
{
	json_t *o = json_object();
	json_object_set_new(o, "input", cli_json_text(j->input));
	json_object_set_new(o, "output", cli_json_text(j->output));
	json_object_set_new(o, "status", json_string(j->status));
	json_object_set_new(o, "error", cli_json_text(j->error));
	json_object_set_new(o, "tensors", json_integer((json_int_t)j->tensors));
	json_object_set_new(o, "seed", cli_seed_json(j->seed));
	json_object_set_new(o, "sha256", j->sha[0] ? json_string(j->sha) : json_null());
	json_object_set_new(o, "seconds", json_real(j->seconds));
	return o;
}

/* One JSON Lines record: what finished is on disk (flushed by the caller),
 * whatever stops us. */
static void write_record(FILE *f, const job *j)
{
	json_t *o = job_json(j);
	errno = 0; /* the errno of a write stdio makes on its own is kept */
	if (o)
		json_dumpf(o, f, JSON_COMPACT | JSON_REAL_PRECISION(6));
	fputc('\n', f);
	json_decref(o);
}

/* The manifest's record of j: 0, or errno of a write error. */
static int manifest_record(FILE *f, const job *j)
{
	write_record(f, j);
	int before = errno;
	if (fflush(f) == 0 && !ferror(f))
		return 0;
	return errno ? errno : before ? before : EIO;
}

static void show_progress(const batch *b, bool final)
{
	if (!b->o->progress || cli_verbosity < 0)
		return;
	double el = now_s() - b->start;
	double mbs = el > 0 ? (double)b->bytes_done / 1048576.0 / el : 0;
	double eta = b->bytes_done && b->bytes_total > b->bytes_done
		             ? el * (double)(b->bytes_total - b->bytes_done) / (double)b->bytes_done
		             : 0;
	char line[200];
	snprintf(line, sizeof line, "onnxinit: batch: %zu/%zu models, %.1f MB/s, ETA %.0f s   ",
	         b->done, b->n_jobs, mbs, eta);
	cli_progress(line, final);
}

static void finish_job(batch *b, job *j)
{
	pthread_mutex_lock(&b->lock);
	b->done++;
	b->bytes_done += j->bytes;
	if (!strcmp(j->status, "failed")) {
		b->failed++;
		if (b->o->fail_fast)
			atomic_store(&b->stop, true);
		cli_error(EXIT_FAIL, "%s", j->error ? j->error : j->input);
	} else if (!strcmp(j->status, "skipped")) {
		b->skipped++;
		if (cli_verbosity > 0)
			cli_notice("%s: skipped: %s", j->input, j->error ? j->error : "");
	} else {
		b->ok++;
	}
	int e;
	if (b->manifest && !b->manifest_errno && (e = manifest_record(b->manifest, j))) {
		/* the run goes on (its outputs are whole); its exit code says it */
		b->manifest_errno = e;
		cli_error(EXIT_FAIL, "%s: cannot write the manifest: %s", b->o->manifest, strerror(e));
	}
	if (b->o->init.json && !b->o->init.dry) {
		write_record(stdout, j);
		cli_stdout_flush(); /* its error is said at the end */
	}
	show_progress(b, false);
	pthread_mutex_unlock(&b->lock);
}

static void *worker(void *arg)
{
	batch *b = arg;
	worker_ctx *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->b = b;
	/* without fsync a group would only hold the models open longer */
	if (!(b->o->init.save_flags & OI_SAVE_NO_FSYNC) && !b->o->init.dry &&
	    oi_commit_group_new(&w->group) != 0)
		w->group = NULL;
	for (;;) {
		if (atomic_load(&b->stop) || cancel_signal)
			break;
		size_t i = atomic_fetch_add(&b->next, 1);
		if (i >= b->n_jobs)
			break;
		job *j = &b->jobs[i];
		/* a duplicate is decided before the run */
		if (j->status || !run_job(w, j))
			finish_job(b, j);
		else if (w->n >= b->group_models || w->bytes >= GROUP_BYTES)
			commit_group(w);
	}
	/* what is written is committed, even after a signal */
	commit_group(w);
	oi_commit_group_free(w->group);
	free(w->made);
	free(w);
	return NULL;
}

/* Now that every check passed: the output folder and the manifest. */
static int open_outputs(batch *b)
{
	const batch_opts *o = b->o;
	if (o->outdir && !o->init.dry && make_dirs_for_dir(o->outdir) != 0)
		return cli_error(EXIT_FAIL, "%s: cannot create the output directory: %s", o->outdir,
		                 strerror(errno));
	if (o->manifest && !o->init.dry) {
		b->manifest = fopen(o->manifest, "w");
		if (!b->manifest)
			return cli_error(EXIT_FAIL, "%s: %s", o->manifest, strerror(errno));
	}
	return EXIT_OK;
}

/* The models a worker's group may hold: the open files of every worker's
 * group within the process's limit, their temporaries within what the
 * signal handlers track (b->group_fds, b->group_temps: a worker's share). */
static size_t group_size(batch *b, unsigned workers)
{
	struct rlimit rl;
	size_t fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
		             ? (size_t)rl.rlim_cur
		             : 1024;
	size_t w = workers ? workers : 1;
	b->group_fds = fds > 128 ? (fds - 128) / w : 1;
	b->group_temps = TEMPS_FOR_GROUPS / w;
	size_t n = b->group_fds / FDS_PER_PENDING;
	if (n > b->group_temps)
		n = b->group_temps;
	return n < 1 ? 1 : n > GROUP_MODELS ? GROUP_MODELS : n;
}


/* The models on -j workers, this thread one of them. */
static void run_workers(batch *b)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	b->workers = b->o->jobs ? (unsigned)b->o->jobs : (unsigned)(cores > 0 ? cores : 1);
	if (b->workers > b->n_jobs && b->n_jobs)
		b->workers = (unsigned)b->n_jobs;
	if (!b->o->init.threads) /* the cores shared among the models in flight */
		b->o->init.threads = b->workers && cores > 0 && (unsigned)cores > b->workers
		                             ? (unsigned)cores / b->workers
		                             : 1;
	b->group_models = group_size(b, b->workers);
	pthread_mutex_init(&b->lock, NULL);
	b->start = now_s();
	if (!b->o->init.dry)
		cli_install_signals(on_cancel);
	pthread_t *tid = calloc(b->workers ? b->workers : 1, sizeof *tid);
	bool *up = calloc(b->workers ? b->workers : 1, sizeof *up);
	for (unsigned i = 1; tid && up && i < b->workers; i++)
		up[i] = pthread_create(&tid[i], NULL, worker, b) == 0;
	worker(b);
	for (unsigned i = 1; tid && up && i < b->workers; i++)
		if (up[i])
			pthread_join(tid[i], NULL);
	free(tid);
	free(up);
	pthread_mutex_destroy(&b->lock);
}

/* fsync each folder that received an output, once (the renames durable). */
static void sync_output_dirs(const batch *b)
{
	if ((b->o->init.save_flags & OI_SAVE_NO_FSYNC) || b->o->init.dry)
		return;
	char **dirs = calloc(b->n_jobs ? b->n_jobs : 1, sizeof *dirs);
	size_t n = 0;
	for (size_t i = 0; dirs && i < b->n_jobs; i++) {
		const job *j = &b->jobs[i];
		if (!j->status || strcmp(j->status, "ok"))
			continue;
		const char *slash = strrchr(j->output, '/');
		dirs[n] = slash ? strndup(j->output, (size_t)(slash - j->output)) : strdup(".");
		if (dirs[n])
			n++;
	}
	qsort(dirs, n, sizeof *dirs, cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (i && !strcmp(dirs[i], dirs[i - 1]))
			continue;
		int fd = open(*dirs[i] ? dirs[i] : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			fsync(fd);
			close(fd);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(dirs[i]);
	free(dirs);
}

/* The end of a run: the summary, the manifest closed, the exit code; after
 * a signal, death by it. */
static int report(batch *b)
{
	int ret = EXIT_OK;
	show_progress(b, true);
	sync_output_dirs(b);
	size_t not_run = b->n_jobs - b->done;
	cli_notice("batch: %zu ok, %zu failed, %zu skipped%s in %.2f s", b->ok, b->failed, b->skipped,
	           not_run ? " (stopped early)" : "", now_s() - b->start);
	if (b->failed || b->discovery_failed || not_run || b->manifest_errno)
		ret = EXIT_FAIL;
	if (b->manifest && fclose(b->manifest) != 0 && !b->manifest_errno)
		ret = cli_error(EXIT_FAIL, "%s: cannot write the manifest: %s", b->o->manifest,
		                strerror(errno));
	b->manifest = NULL;
	if (b->ok && !b->o->init.dry)
		cli_stdout_note("%zu %s written", b->ok, b->ok == 1 ? "model was" : "models were");
	if (cancel_signal) {
		int sig = cancel_signal;
		signal(sig, SIG_DFL);
		raise(sig);
	}
	return ret;
}

static void batch_free(batch *b)
{
	for (size_t i = 0; i < b->n_jobs; i++)
		job_free(&b->jobs[i]);
	free(b->jobs);
	for (size_t i = 0; i < b->n_roots; i++)
		free(b->roots[i]);
	free(b->roots);
	for (size_t i = 0; i < b->n_rules; i++) {
		free(b->rules[i].dir);
		free(b->rules[i].text);
	}
	free(b->rules);
	oi_data_free(b->data);
	if (b->manifest)
		fclose(b->manifest);
}

static int run_batch(batch_opts *o, char **paths, size_t n_paths)
{
	int ret = cli_init_args_finish(&o->init);
	if (!ret)
		ret = cli_check_pretrain(&o->init, "batch");
	if (ret)
		return ret;
	/* where the output directory is or will be, links resolved */
	char *out_real = o->outdir && !o->init.dry ? future_realpath(o->outdir) : NULL;
	if (o->outdir && !o->init.dry && !out_real)
		return cli_error(EXIT_FAIL, "%s: %s", o->outdir, strerror(errno));
	batch b = { .o = o };
	int drc = o->init.pretrain ? cli_data_open(&b.data, &o->init) : 0;
	if (drc) {
		ret = cli_error(cli_exit_for(drc), "%s", oi_last_error());
		free(out_real);
		return ret;
	}
	ret = discover(&b, paths, n_paths, out_real);
	if (ret == EXIT_OK)
		ret = assign_outputs(&b);
	if (ret == EXIT_OK) {
		keep_shard(&b);
		ret = open_outputs(&b);
	}
	if (ret == EXIT_OK) {
		run_workers(&b);
		ret = report(&b);
	}
	batch_free(&b);
	free(out_real);
	return ret;
}

/* ---- options ------------------------------------------------------------ */

static int parse_shard(batch_opts *o, const char *arg)
{
	const char *slash = strchr(arg, '/');
	char k[32];
	if (!slash || (size_t)(slash - arg) >= sizeof k)
		return cli_usage_error("batch", "--shard takes K/N, not '%s'", arg);
	memcpy(k, arg, (size_t)(slash - arg));
	k[slash - arg] = 0;
	if (!cli_parse_count(k, 1000000, &o->shard_k) ||
	    !cli_parse_count(slash + 1, 1000000, &o->shard_n) || !o->shard_n || o->shard_k < 1 ||
	    o->shard_k > o->shard_n)
		return cli_usage_error("batch", "--shard takes K/N with 1 <= K <= N, not '%s'", arg);
	return EXIT_OK;
}

static int parse_progress(batch_opts *o, const char *arg)
{
	if (!strcmp(arg, "auto"))
		o->progress = -1;
	else if (!strcmp(arg, "always"))
		o->progress = 1;
	else if (!strcmp(arg, "never"))
		o->progress = 0;
	else
		return cli_usage_error("batch", "--progress is auto, always or never, not '%s'", arg);
	return EXIT_OK;
}

enum { O_INPLACE = 256, O_MANIFEST, O_SHARD, O_FAILFAST, O_PROGRESS, O_FORCE, O_INSIDE,
       O_HELP_SHOWN = -2 };

/* One option of batch's own: EXIT_OK, O_HELP_SHOWN, or an exit code. */
static int batch_option(batch_opts *o, int c, char **argv)
{
	switch (c) {
	case 'o': o->outdir = optarg; break;
	case O_INPLACE: o->in_place = true; break;
	case 'j':
		if (!cli_parse_count(optarg, 4096, &o->jobs) || !o->jobs)
			return cli_usage_error("batch", "-j takes a count from 1 to 4096, not '%s'", optarg);
		break;
	case O_MANIFEST: o->manifest = optarg; break;
	case O_SHARD: return parse_shard(o, optarg);
	case O_FAILFAST: o->fail_fast = true; break;
	case O_FORCE: o->force = true; break;
	case O_INSIDE: o->allow_inside = true; break;
	case O_PROGRESS: return parse_progress(o, optarg);
	case 'h': fputs(help, stdout); return O_HELP_SHOWN;
	default: return cli_option_error("batch", c, argv);
	}
	return EXIT_OK;
}

/* The options: EXIT_OK, O_HELP_SHOWN, or an exit code. */
static int parse_args(batch_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "in-place", no_argument, NULL, O_INPLACE },
		{ "jobs", required_argument, NULL, 'j' },
		{ "manifest", required_argument, NULL, O_MANIFEST },
		{ "shard", required_argument, NULL, O_SHARD },
		{ "fail-fast", no_argument, NULL, O_FAILFAST },
		{ "force", no_argument, NULL, O_FORCE },
		{ "output-inside-input", no_argument, NULL, O_INSIDE },
		{ "progress", required_argument, NULL, O_PROGRESS },
		CLI_INIT_LONG_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0, 0, 0, 0 },
	};
	int c, ec;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":o:j:qvh", opts, NULL)) != -1) {
		if (cli_init_option(&o->init, "batch", c, optarg, &ec)) {
			if (ec >= 0)
				return ec;
			continue;
		}
		int ret = batch_option(o, c, argv);
		if (ret != EXIT_OK)
			return ret;
	}
	if (optind >= argc)
		return cli_usage_error("batch", "no input paths given");
	if (!o->init.dry && !o->outdir && !o->in_place)
		return cli_usage_error("batch", "say where to write: -o OUTDIR or --in-place");
	if (o->outdir && o->in_place)
		return cli_usage_error("batch", "-o and --in-place exclude each other");
	if (o->progress < 0)
		o->progress = isatty(STDERR_FILENO);
	return EXIT_OK;
}

int cmd_batch(int argc, char **argv)
{
	batch_opts o = { .progress = -1, .shard_k = 1, .shard_n = 1 };
	cli_init_args_start(&o.init);
	int ret = parse_args(&o, argc, argv);
	if (ret == EXIT_OK)
		ret = run_batch(&o, argv + optind, (size_t)(argc - optind));
	else if (ret == O_HELP_SHOWN)
		ret = EXIT_OK;
	cli_init_args_free(&o.init);
	return ret;
}
