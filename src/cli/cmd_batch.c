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
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "sha256.h"

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
	"      --dry-run, --json:\n"
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

typedef struct batch {
	/* options */
	const char *outdir;
	bool in_place, dry, json, force, fail_fast, allow_inside, in_memory;
	unsigned save_flags;
	int progress;     /* 0 never, 1 always, -1 auto */
	unsigned jobs;
	int fans;
	oi_init_options io;
	FILE *manifest;
	/* work */
	job *jobs_list;
	size_t n_jobs, cap_jobs;
	char **roots_real;
	size_t n_roots;
	bool discovery_failed;
	/* rules files found in directories: path -> text (NULL: none) */
	char **rf_dir, **rf_text;
	size_t n_rf;
	pthread_mutex_t lock;
	atomic_size_t next;
	atomic_bool stop;
	size_t done, failed, skipped, ok;
	uint64_t bytes_done, bytes_total;
	struct timespec start;
} batch;

/* First SIGINT/SIGTERM/SIGHUP: every save in flight stops cleanly (the
 * library removes its temporaries), no new model starts, the manifest is
 * closed; then the process dies by that signal. A second one kills at once. */
static volatile int cancel_flag;
static volatile sig_atomic_t cancel_signal;

static void on_cancel(int sig)
{
	if (cancel_flag) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	cancel_signal = sig;
	cancel_flag = 1;
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
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
		job *p = realloc(b->jobs_list, cap * sizeof *p);
		if (!p)
			return -1;
		b->jobs_list = p;
		b->cap_jobs = cap;
	}
	job *j = &b->jobs_list[b->n_jobs++];
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

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
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
	for (size_t i = 0; i < depth; i++)
		if (stack[i].dev == st.st_dev && stack[i].ino == st.st_ino) {
			cli_warn("%s: a symbolic link loop; not followed", dir);
			return;
		}
	if (depth >= 256) {
		cli_warn("%s: nested too deep; not followed", dir);
		return;
	}
	stack[depth] = (visited){ st.st_dev, st.st_ino };
	/* the output directory, when it is allowed inside an input, is not input */
	if (b->outdir && b->allow_inside) {
		struct stat os;
		if (stat(b->outdir, &os) == 0 && os.st_dev == st.st_dev && os.st_ino == st.st_ino)
			return;
	}
	DIR *d = opendir(dir);
	if (!d) {
		cli_error(EXIT_FAIL, "%s: cannot read the directory: %s", dir, strerror(errno));
		b->discovery_failed = true;
		return;
	}
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
	qsort(names, n, sizeof *names, cmp_str); /* the same order on every machine */
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

static int cmp_job(const void *a, const void *b)
{
	const job *x = a, *y = b;
	int c = strcmp(x->rel, y->rel);
	return c ? c : (x->root > y->root) - (x->root < y->root);
}

/* ---- rules files in directories ----------------------------------------- */

/* Marks a rules file that exists but cannot be read. */
static char unreadable_rules[] = "";

/* The text of DIR/onnxinit.json (read once), NULL if there is none, or
 * unreadable_rules. */
static const char *dir_rules(batch *b, const char *dir)
{
	for (size_t i = 0; i < b->n_rf; i++)
		if (!strcmp(b->rf_dir[i], dir))
			return b->rf_text[i];
	char **d = realloc(b->rf_dir, (b->n_rf + 1) * sizeof *d);
	if (d)
		b->rf_dir = d;
	char **t = d ? realloc(b->rf_text, (b->n_rf + 1) * sizeof *t) : NULL;
	if (t)
		b->rf_text = t;
	char *path = NULL, *text = NULL;
	if (!d || !t || asprintf(&path, "%s/onnxinit.json", dir) < 0)
		return unreadable_rules;
	if (access(path, F_OK) == 0 && cli_read_file(path, &text) != 0)
		text = unreadable_rules;
	free(path);
	b->rf_dir[b->n_rf] = strdup(dir);
	b->rf_text[b->n_rf++] = text;
	return text;
}

/* The onnxinit.json files from the job's root down to its directory. */
static size_t rules_chain(batch *b, const job *j, const char **texts, const char **names,
                          char **name_own, size_t cap, bool *unreadable)
{
	const char *root = b->roots_real[j->root];
	if (!root)
		return 0;
	size_t rl = strlen(root);
	if (strncmp(j->dir, root, rl) || (j->dir[rl] && j->dir[rl] != '/'))
		return 0;
	char *buf = strdup(j->dir);
	if (!buf)
		return 0;
	size_t cuts[256], nc = 0, n = 0, len = strlen(buf);
	cuts[nc++] = rl;
	for (size_t i = rl + 1; i < len && nc < 255; i++)
		if (buf[i] == '/')
			cuts[nc++] = i;
	if (len > rl)
		cuts[nc++] = len;
	for (size_t k = 0; k < nc && n < cap; k++) {
		char saved = buf[cuts[k]];
		buf[cuts[k]] = 0;
		const char *text = dir_rules(b, buf);
		if (text == unreadable_rules) {
			*unreadable = true;
		} else if (text) {
			texts[n] = text;
			if (asprintf(&name_own[n], "%s/onnxinit.json", buf) < 0)
				name_own[n] = NULL;
			names[n] = name_own[n] ? name_own[n] : "onnxinit.json";
			n++;
		}
		buf[cuts[k]] = saved;
	}
	free(buf);
	return n;
}

/* ---- one model ---------------------------------------------------------- */

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

static int cmp_inode(const void *a, const void *b)
{
	const job *const *x = a, *const *y = b;
	if ((*x)->dev != (*y)->dev)
		return (*x)->dev < (*y)->dev ? -1 : 1;
	if ((*x)->ino != (*y)->ino)
		return (*x)->ino < (*y)->ino ? -1 : 1;
	return *x < *y ? -1 : *x > *y; /* list order: the first one is done */
}

static void set_error(job *j, const char *status, const char *msg);

/* The same model reached twice (two arguments, a link): done once, by the
 * first in the sorted list. */
static void mark_duplicates(batch *b)
{
	job **by = malloc((b->n_jobs ? b->n_jobs : 1) * sizeof *by);
	if (!by)
		return;
	for (size_t i = 0; i < b->n_jobs; i++)
		by[i] = &b->jobs_list[i];
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

static void set_error(job *j, const char *status, const char *msg)
{
	j->status = status;
	free(j->error);
	j->error = msg ? strdup(msg) : NULL;
}

static void run_job(batch *b, job *j)
{
	double t0 = now_s();
	oi_init_options io = b->io;
	io.seed = j->seed;
	const char *texts[64], *names[64];
	char *name_own[64] = { 0 };
	pthread_mutex_lock(&b->lock);
	bool unreadable = false;
	size_t nf = rules_chain(b, j, texts, names, name_own, 64, &unreadable);
	pthread_mutex_unlock(&b->lock);
	if (unreadable) {
		/* its rules would be silently missing: the model is not done */
		char msg[1200];
		snprintf(msg, sizeof msg, "%s: an onnxinit.json above it cannot be read", j->input);
		set_error(j, "failed", msg);
		goto out;
	}
	io.rule_files = texts;
	io.rule_file_names = names;
	io.n_rule_files = nf;

	struct stat st;
	if (!b->in_place && !b->force && !b->dry && stat(j->output, &st) == 0) {
		set_error(j, "skipped", "the output exists (--force replaces it)");
		goto out;
	}
	oi_open_options oo = OI_OPEN_OPTIONS_INIT;
	oo.flags = b->in_memory ? OI_OPEN_IN_MEMORY : 0;
	oi_model *m = NULL;
	int rc = oi_model_open(&m, j->input, &oo);
	if (!rc) {
		oi_model_set_fan_convention(m, b->fans);
		rc = oi_model_plan(m, &io);
		cli_print_warnings(m);
		if (rc) {
			char msg[1200];
			snprintf(msg, sizeof msg, "%s: %s", j->input, oi_last_error());
			set_error(j, "failed", msg);
			oi_model_free(m);
			goto out;
		}
	}
	if (rc) {
		set_error(j, "failed", oi_last_error());
		goto out;
	}
	j->tensors = oi_model_changed_count(m);
	if (b->dry) {
		json_t *o = cli_model_json(m, true);
		char seed[24];
		snprintf(seed, sizeof seed, "%llu", (unsigned long long)j->seed);
		json_object_set_new(o, "seed", json_string(seed));
		pthread_mutex_lock(&b->lock);
		if (b->json)
			cli_print_json(o);
		else {
			json_decref(o);
			cli_print_table(stdout, m, true);
		}
		pthread_mutex_unlock(&b->lock);
		set_error(j, "ok", NULL);
		oi_model_free(m);
		goto out;
	}
	if (!b->in_place && make_dirs_for(j->output) != 0) {
		char msg[1200];
		snprintf(msg, sizeof msg, "%s: cannot create its folder: %s", j->output, strerror(errno));
		set_error(j, "failed", msg);
		oi_model_free(m);
		goto out;
	}
	oi_save_options so = OI_SAVE_OPTIONS_INIT;
	/* the folders are synced once each at the end of the run */
	so.flags = (b->in_place ? OI_SAVE_REPLACE_INPUT : 0) | OI_SAVE_DEFER_DIR_SYNC |
	           b->save_flags;
	so.on_temp = cli_temp_callback;
	so.cancel = &cancel_flag;
	rc = oi_model_save(m, j->output, &so);
	if (rc) {
		set_error(j, "failed", oi_last_error());
	} else {
		set_error(j, "ok", NULL);
		if (oi_model_saved_external(m))
			cli_notice("%s: past protobuf's 2 GiB limit, so its weights went to '%s'",
			           j->output, oi_model_saved_external(m));
		if ((b->manifest || b->json) && sha256_file(j->output, j->sha) != 0)
			j->sha[0] = 0;
	}
	oi_model_free(m);
out:
	for (size_t i = 0; i < nf; i++)
		free(name_own[i]);
	j->seconds = now_s() - t0;
}

/* fsync each folder that received an output, once (the renames durable). */
static void sync_output_dirs(batch *bt)
{
	if (bt->save_flags & OI_SAVE_NO_FSYNC)
		return;
	char **dirs = calloc(bt->n_jobs ? bt->n_jobs : 1, sizeof *dirs);
	size_t n = 0;
	for (size_t i = 0; dirs && i < bt->n_jobs; i++) {
		const job *j = &bt->jobs_list[i];
		if (!j->status || strcmp(j->status, "ok") || bt->dry)
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

/* ---- reporting ---------------------------------------------------------- */

static json_t *job_json(const job *j)
{
	json_t *o = json_object();
	json_object_set_new(o, "input", json_string(j->input));
	json_object_set_new(o, "output", json_string(j->output));
	json_object_set_new(o, "status", json_string(j->status));
	json_object_set_new(o, "error", j->error ? json_string(j->error) : json_null());
	json_object_set_new(o, "tensors", json_integer((json_int_t)j->tensors));
	char seed[24];
	snprintf(seed, sizeof seed, "%llu", (unsigned long long)j->seed);
	/* a 64-bit seed does not fit JSON's safe integers: a decimal string */
	json_object_set_new(o, "seed", json_string(seed));
	json_object_set_new(o, "sha256", j->sha[0] ? json_string(j->sha) : json_null());
	json_object_set_new(o, "seconds", json_real(j->seconds));
	return o;
}

static void show_progress(batch *b, bool final)
{
	if (!b->progress || cli_verbosity < 0)
		return;
	double el = now_s() - ((double)b->start.tv_sec + (double)b->start.tv_nsec * 1e-9);
	double mbs = el > 0 ? (double)b->bytes_done / 1048576.0 / el : 0;
	double eta = b->bytes_done && b->bytes_total > b->bytes_done
		             ? el * (double)(b->bytes_total - b->bytes_done) / (double)b->bytes_done
		             : 0;
	fprintf(stderr, "\ronnxinit: batch: %zu/%zu models, %.1f MB/s, ETA %.0f s   %s", b->done,
	        b->n_jobs, mbs, eta, final ? "\n" : "");
	fflush(stderr);
}

static void finish_job(batch *b, job *j)
{
	pthread_mutex_lock(&b->lock);
	b->done++;
	b->bytes_done += j->bytes;
	if (!strcmp(j->status, "failed")) {
		b->failed++;
		if (b->fail_fast)
			atomic_store(&b->stop, true);
		if (b->progress)
			fputc('\n', stderr);
		cli_error(EXIT_FAIL, "%s", j->error ? j->error : j->input);
	} else if (!strcmp(j->status, "skipped")) {
		b->skipped++;
		if (cli_verbosity > 0)
			cli_notice("%s: skipped: %s", j->input, j->error ? j->error : "");
	} else {
		b->ok++;
	}
	if (b->manifest) {
		json_t *o = job_json(j);
		json_dumpf(o, b->manifest, JSON_COMPACT | JSON_REAL_PRECISION(6));
		fputc('\n', b->manifest);
		fflush(b->manifest); /* what finished is on disk, whatever stops us */
		json_decref(o);
	}
	if (b->json && !b->dry) {
		json_t *o = job_json(j);
		json_dumpf(o, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6));
		fputc('\n', stdout);
		fflush(stdout);
		json_decref(o);
	}
	show_progress(b, false);
	pthread_mutex_unlock(&b->lock);
}

static void *worker(void *p)
{
	batch *b = p;
	for (;;) {
		if (atomic_load(&b->stop) || cancel_flag)
			break;
		size_t i = atomic_fetch_add(&b->next, 1);
		if (i >= b->n_jobs)
			break;
		job *j = &b->jobs_list[i];
		if (j->status) { /* decided before the run (a duplicate) */
			finish_job(b, j);
			continue;
		}
		run_job(b, j);
		finish_job(b, j);
	}
	return NULL;
}

/* ---- options ------------------------------------------------------------ */

static bool parse_count(const char *s, unsigned long max, unsigned long *out)
{
	uint64_t v;
	if (!cli_parse_u64(s, &v) || v > max)
		return false;
	*out = (unsigned long)v;
	return true;
}

static bool inside(const char *dir, const char *parent)
{
	size_t n = strlen(parent);
	return !strncmp(dir, parent, n) && (dir[n] == '/' || dir[n] == 0 || !strcmp(parent, "/"));
}

static batch b; /* one run per process */

static int run_batch(cli_init_args *ia, int argc, char **argv, const char *manifest,
                     unsigned long shard_k, unsigned long shard_n, unsigned long jobs);

int cmd_batch(int argc, char **argv)
{
	enum { O_INPLACE = 256, O_MANIFEST, O_SHARD, O_FAILFAST, O_PROGRESS, O_FORCE, O_INSIDE };
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
	memset(&b, 0, sizeof b);
	cli_init_args ia;
	cli_init_args_start(&ia);
	b.progress = -1;
	const char *manifest = NULL;
	unsigned long shard_k = 1, shard_n = 1, jobs = 0;
	int ret = EXIT_OK, c, ec;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":o:j:qvh", opts, NULL)) != -1) {
		if (cli_init_option(&ia, "batch", c, optarg, &ec)) {
			if (ec >= 0) {
				cli_init_args_free(&ia);
				return ec;
			}
			continue;
		}
		switch (c) {
		case 'o': b.outdir = optarg; break;
		case O_INPLACE: b.in_place = true; break;
		case 'j':
			if (!parse_count(optarg, 4096, &jobs) || !jobs)
				ret = cli_usage_error("batch", "-j takes a count from 1 to 4096, not '%s'", optarg);
			break;
		case O_MANIFEST: manifest = optarg; break;
		case O_SHARD: {
			char *slash = strchr(optarg, '/');
			char k[32];
			if (!slash || (size_t)(slash - optarg) >= sizeof k) {
				ret = cli_usage_error("batch", "--shard takes K/N, not '%s'", optarg);
				break;
			}
			memcpy(k, optarg, (size_t)(slash - optarg));
			k[slash - optarg] = 0;
			if (!parse_count(k, 1000000, &shard_k) || !parse_count(slash + 1, 1000000, &shard_n) ||
			    !shard_n || shard_k < 1 || shard_k > shard_n)
				ret = cli_usage_error("batch", "--shard takes K/N with 1 <= K <= N, not '%s'",
				                      optarg);
			break;
		}
		case O_FAILFAST: b.fail_fast = true; break;
		case O_FORCE: b.force = true; break;
		case O_INSIDE: b.allow_inside = true; break;
		case O_PROGRESS:
			if (!strcmp(optarg, "auto"))
				b.progress = -1;
			else if (!strcmp(optarg, "always"))
				b.progress = 1;
			else if (!strcmp(optarg, "never"))
				b.progress = 0;
			else
				ret = cli_usage_error("batch", "--progress is auto, always or never, not '%s'",
				                      optarg);
			break;
		case 'h': fputs(help, stdout); ret = -2; break;
		case ':': ret = cli_usage_error("batch", "option '%s' needs a value", argv[optind - 1]); break;
		default: ret = cli_usage_error("batch", "unknown option '%s'", argv[optind - 1]); break;
		}
		if (ret != EXIT_OK) {
			cli_init_args_free(&ia);
			return ret == -2 ? EXIT_OK : ret;
		}
	}
	ret = run_batch(&ia, argc, argv, manifest, shard_k, shard_n, jobs);
	cli_init_args_free(&ia);
	return ret;
}

static int run_batch(cli_init_args *ia, int argc, char **argv, const char *manifest,
                     unsigned long shard_k, unsigned long shard_n, unsigned long jobs)
{
	int ret = EXIT_OK;
	b.dry = ia->dry;
	b.json = ia->json;
	b.fans = ia->fans;
	b.in_memory = (ia->open_flags & OI_OPEN_IN_MEMORY) != 0;
	b.save_flags = ia->save_flags;
	if (optind >= argc)
		return cli_usage_error("batch", "no input paths given");
	if (!b.dry && !b.outdir && !b.in_place)
		return cli_usage_error("batch", "say where to write: -o OUTDIR or --in-place");
	if (b.outdir && b.in_place)
		return cli_usage_error("batch", "-o and --in-place exclude each other");
	if (b.progress < 0)
		b.progress = isatty(STDERR_FILENO);
	int frc = cli_init_args_finish(ia);
	if (frc)
		return frc;
	oi_init_options io = ia->io;

	/* where the output directory is or will be, links resolved */
	char *out_real = b.outdir && !b.dry ? future_realpath(b.outdir) : NULL;
	if (b.outdir && !b.dry && !out_real)
		return cli_error(EXIT_FAIL, "%s: %s", b.outdir, strerror(errno));

	b.n_roots = (size_t)(argc - optind);
	b.roots_real = calloc(b.n_roots, sizeof *b.roots_real);
	visited *stack = calloc(257, sizeof *stack);
	if (!b.roots_real || !stack)
		return cli_error(EXIT_FAIL, "out of memory");
	for (int a = optind; a < argc; a++) {
		const char *p = argv[a];
		int root = a - optind;
		struct stat st;
		if (stat(p, &st) != 0) {
			cli_error(EXIT_FAIL, "%s: %s", p, strerror(errno));
			b.discovery_failed = true;
			continue;
		}
		size_t len = strlen(p);
		while (len > 1 && p[len - 1] == '/')
			len--;
		if (S_ISDIR(st.st_mode)) {
			char *real = realpath(p, NULL);
			bool nested = out_real && real && inside(out_real, real);
			free(real);
			if (nested && !b.allow_inside) {
				ret = cli_usage_error("batch", "the output directory %s is inside the input "
				                      "directory %s (--output-inside-input allows it)", b.outdir, p);
				goto done;
			}
			/* paths stay as found (not resolved), so that the rules files
			 * are looked up along the tree as the user sees it */
			b.roots_real[root] = strndup(p, len);
			if (b.roots_real[root])
				walk(&b, b.roots_real[root], "", root, stack, 0);
		} else if (S_ISREG(st.st_mode)) {
			const char *base = strrchr(p, '/') ? strrchr(p, '/') + 1 : p;
			char *dir = strrchr(p, '/') ? strndup(p, (size_t)(strrchr(p, '/') - p)) : strdup(".");
			if (dir && !*dir) {
				free(dir);
				dir = strdup("/");
			}
			b.roots_real[root] = dir ? strdup(dir) : NULL;
			if (dir)
				add_job(&b, p, base, dir, root, &st);
			free(dir);
		} else {
			cli_error(EXIT_FAIL, "%s: not a file or directory", p);
			b.discovery_failed = true;
		}
	}
	qsort(b.jobs_list, b.n_jobs, sizeof *b.jobs_list, cmp_job);

	/* outputs, seeds, duplicates and collisions: on the whole list, before
	 * sharding (so that every shard decides alike) and before any work */
	for (size_t i = 0; i < b.n_jobs; i++) {
		job *j = &b.jobs_list[i];
		if (b.in_place || !b.outdir)
			j->output = strdup(j->input);
		else if (asprintf(&j->output, "%s/%s", b.outdir, j->rel) < 0)
			j->output = NULL;
		if (!j->output) {
			ret = cli_error(EXIT_FAIL, "out of memory");
			goto done;
		}
		j->seed = oi_derive_seed(io.seed, j->rel);
		/* sorted by relative path: clashing outputs are neighbours */
		if (i && !b.in_place && !strcmp(b.jobs_list[i - 1].output, j->output) &&
		    !(b.jobs_list[i - 1].dev == j->dev && b.jobs_list[i - 1].ino == j->ino)) {
			ret = cli_usage_error("batch", "%s and %s would both be written to %s",
			                      b.jobs_list[i - 1].input, j->input, j->output);
			goto done;
		}
		struct stat st;
		if (!b.in_place && !b.dry && stat(j->output, &st) == 0 && st.st_dev == j->dev &&
		    st.st_ino == j->ino) {
			ret = cli_usage_error("batch", "%s: the output would replace the input; use "
			                      "--in-place", j->input);
			goto done;
		}
	}
	mark_duplicates(&b);

	/* the shard: every N-th model of the sorted list, from the K-th */
	if (shard_n > 1) {
		size_t kept = 0;
		for (size_t i = 0; i < b.n_jobs; i++) {
			if (i % shard_n == shard_k - 1) {
				b.jobs_list[kept++] = b.jobs_list[i];
			} else {
				free(b.jobs_list[i].input);
				free(b.jobs_list[i].rel);
				free(b.jobs_list[i].dir);
				free(b.jobs_list[i].output);
				free(b.jobs_list[i].error);
			}
		}
		b.n_jobs = kept;
	}
	for (size_t i = 0; i < b.n_jobs; i++)
		b.bytes_total += b.jobs_list[i].bytes;

	/* every check passed: now the output directory may be made */
	if (b.outdir && !b.dry && make_dirs_for_dir(b.outdir) != 0) {
		ret = cli_error(EXIT_FAIL, "%s: cannot create the output directory: %s", b.outdir,
		                strerror(errno));
		goto done;
	}

	if (manifest && !b.dry) {
		b.manifest = fopen(manifest, "w");
		if (!b.manifest) {
			ret = cli_error(EXIT_FAIL, "%s: %s", manifest, strerror(errno));
			goto done;
		}
	}
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	b.jobs = jobs ? (unsigned)jobs : (unsigned)(cores > 0 ? cores : 1);
	if (b.jobs > b.n_jobs && b.n_jobs)
		b.jobs = (unsigned)b.n_jobs;
	if (!io.threads) /* the cores shared among the models in flight */
		io.threads = b.jobs && cores > 0 && (unsigned)cores > b.jobs ? (unsigned)cores / b.jobs : 1;
	b.io = io;
	pthread_mutex_init(&b.lock, NULL);
	clock_gettime(CLOCK_MONOTONIC, &b.start);
	if (!b.dry)
		cli_install_signals(on_cancel);
	pthread_t *tid = calloc(b.jobs ? b.jobs : 1, sizeof *tid);
	bool *up = calloc(b.jobs ? b.jobs : 1, sizeof *up);
	for (unsigned i = 1; tid && up && i < b.jobs; i++)
		up[i] = pthread_create(&tid[i], NULL, worker, &b) == 0;
	worker(&b);
	for (unsigned i = 1; tid && up && i < b.jobs; i++)
		if (up[i])
			pthread_join(tid[i], NULL);
	free(tid);
	free(up);
	show_progress(&b, true);
	sync_output_dirs(&b);
	size_t not_run = b.n_jobs - b.done;
	if (cli_verbosity >= 0)
		fprintf(stderr, "onnxinit: batch: %zu ok, %zu failed, %zu skipped%s in %.2f s\n", b.ok,
		        b.failed, b.skipped, not_run ? " (stopped early)" : "",
		        now_s() - ((double)b.start.tv_sec + (double)b.start.tv_nsec * 1e-9));
	if (b.failed || b.discovery_failed || not_run)
		ret = EXIT_FAIL;
	if (b.manifest && fclose(b.manifest) != 0)
		ret = cli_error(EXIT_FAIL, "%s: cannot write the manifest", manifest);
	b.manifest = NULL;
	if (cancel_flag) {
		int sig = cancel_signal;
		signal(sig, SIG_DFL);
		raise(sig);
	}
done:
	for (size_t i = 0; i < b.n_jobs; i++) {
		free(b.jobs_list[i].input);
		free(b.jobs_list[i].rel);
		free(b.jobs_list[i].dir);
		free(b.jobs_list[i].output);
		free(b.jobs_list[i].error);
	}
	free(b.jobs_list);
	for (size_t i = 0; i < b.n_roots; i++)
		free(b.roots_real[i]);
	free(b.roots_real);
	for (size_t i = 0; i < b.n_rf; i++) {
		free(b.rf_dir[i]);
		if (b.rf_text[i] != unreadable_rules)
			free(b.rf_text[i]);
	}
	free(b.rf_dir);
	free(b.rf_text);
	free(stack);
	free(out_real);
	return ret;
}
