/* libFuzzer target over the loader and the writer.
 *
 * Each input is written to IN/model.onnx in a private folder (under /dev/shm
 * when it exists, else $TMPDIR or /tmp), beside a fixed external data file
 * IN/external.onnx.data so that external-data models reach their payloads.
 * If oi_model_open() accepts it, it is analysed (twice), every tensor is read,
 * the model is planned with scheme "zeros" and saved to OUT/model.onnx, and the saved file must
 * open again with the same tensors (names, dtypes, shapes); then planned with
 * "keep" and no provenance, the save must give back the input byte for byte.
 * Anything else is a bug, and abort()s. A failed open must leave a one-line message that
 * starts with the path. Everything is freed and the files removed.
 *
 * Set FUZZ_LOAD_VERBOSE=1 to see what became of each input.
 *
 * Only the public API (onnxinit.h) is used. Built two ways by meson.build:
 * with -fsanitize=fuzzer (libFuzzer's main) and with replay.c's main.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "onnxinit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int verbose; /* $FUZZ_LOAD_VERBOSE: say what became of each input */
static char base_dir[256], in_dir[300], out_dir[300], in_path[320], out_path[320];

static void cleanup(void);

static void fatal(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_load: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	cleanup();
	abort();
}

/* Remove everything below path (not path itself). */
static void empty_dir(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char p[4096];
		if (snprintf(p, sizeof p, "%s/%s", path, e->d_name) >= (int)sizeof p)
			continue;
		struct stat st;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
			empty_dir(p);
			rmdir(p);
		} else {
			unlink(p);
		}
	}
	closedir(d);
}

static void cleanup(void)
{
	if (!base_dir[0])
		return;
	empty_dir(base_dir);
	rmdir(base_dir);
}

static int write_file(const char *path, const void *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	const uint8_t *p = data;
	while (size) {
		ssize_t n = write(fd, p, size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return -1;
		}
		p += n;
		size -= (size_t)n;
	}
	return close(fd);
}

static void setup(void)
{
	if (base_dir[0])
		return;
	verbose = getenv("FUZZ_LOAD_VERBOSE") != NULL;
	const char *root = "/dev/shm";
	struct stat st;
	if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode) || access(root, W_OK) != 0) {
		root = getenv("TMPDIR");
		if (!root || !*root)
			root = "/tmp";
	}
	if (snprintf(base_dir, sizeof base_dir, "%s/oi-fuzz-XXXXXX", root) >= (int)sizeof base_dir)
		fatal("temporary folder name too long", root);
	if (!mkdtemp(base_dir))
		fatal("mkdtemp", strerror(errno));
	atexit(cleanup);
	snprintf(in_dir, sizeof in_dir, "%s/in", base_dir);
	snprintf(out_dir, sizeof out_dir, "%s/out", base_dir);
	snprintf(in_path, sizeof in_path, "%s/model.onnx", in_dir);
	snprintf(out_path, sizeof out_path, "%s/model.onnx", out_dir);
	if (mkdir(in_dir, 0755) != 0 || mkdir(out_dir, 0755) != 0)
		fatal("mkdir", strerror(errno));
	/* 8 KiB of small float32 values: external data for whoever names it */
	static float ext[2048];
	for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
		ext[i] = (float)((int)(i % 17) - 8) / 64.0f;
	char p[400];
	snprintf(p, sizeof p, "%s/external.onnx.data", in_dir);
	if (write_file(p, ext, sizeof ext) != 0)
		fatal("cannot write the external data file", strerror(errno));
}

static int same_dims(const oi_tensor_info *a, const oi_tensor_info *b)
{
	if (a->ndim != b->ndim)
		return 0;
	for (size_t d = 0; d < a->ndim; d++)
		if (a->dims[d] != b->dims[d])
			return 0;
	return 1;
}

static int same_bytes(const char *path, const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return 0;
	int same = 1;
	uint8_t buf[65536];
	size_t at = 0, n;
	while (same && (n = fread(buf, 1, sizeof buf, f)) > 0) {
		if (n > size - at || memcmp(buf, data + at, n) != 0)
			same = 0;
		at += n;
	}
	fclose(f);
	return same && at == size;
}

static void check_message(const char *path)
{
	const char *msg = oi_last_error();
	if (!msg || !*msg)
		fatal("oi_model_open failed without a message", NULL);
	if (strchr(msg, '\n') || strchr(msg, '\r'))
		fatal("the message is more than one line", msg);
	if (strncmp(msg, path, strlen(path)) != 0)
		fatal("the message does not start with the path", msg);
}

static void no_temporaries(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] == '.' && strstr(e->d_name, ".oi-"))
			fatal("a temporary file was left behind", e->d_name);
	closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	if (write_file(in_path, data, size) != 0)
		fatal("cannot write the input", strerror(errno));

	oi_model *m = NULL;
	int rc = oi_model_open(&m, in_path, NULL);
	if (rc) {
		if (m)
			fatal("oi_model_open failed but set *out", NULL);
		check_message(in_path);
		if (verbose)
			fprintf(stderr, "fuzz_load: rejected: %s\n", oi_last_error());
		goto done;
	}
	/* twice: a second analysis (another convention) replaces the first */
	oi_analyse_options ao = OI_ANALYSE_OPTIONS_INIT;
	ao.fan_convention = OI_FANS_KERAS;
	rc = oi_model_analyse(m, &ao);
	if (!rc)
		rc = oi_model_analyse(m, NULL);
	if (rc == OI_ENOMEM) {
		oi_model_free(m);
		goto done;
	}
	if (rc)
		fatal("oi_model_analyse failed on a model that opened", oi_last_error());
	size_t n = oi_model_tensor_count(m);
	if (verbose)
		fprintf(stderr, "fuzz_load: opened, %zu tensors\n", n);
	for (size_t i = 0; i < n; i++) {
		const oi_tensor_info *t = oi_model_tensor(m, i);
		if (!t || !t->name || !t->graph || (t->ndim && !t->dims))
			fatal("oi_model_tensor returned an incomplete tensor", NULL);
		/* touch every field, so that a sanitizer sees a bad pointer */
		volatile size_t sink = strlen(t->name) + strlen(t->graph) + t->ndim;
		for (size_t d = 0; d < t->ndim; d++)
			sink += (size_t)t->dims[d];
		sink += strlen(oi_dtype_name(t->dtype)) + strlen(oi_source_name(t->source)) +
		        strlen(oi_storage_name(t->storage));
		if (t->role)
			sink += strlen(t->role);
		if (t->op)
			sink += strlen(t->op);
		if (t->node)
			sink += strlen(t->node);
		if (t->activation)
			sink += strlen(t->activation);
		(void)sink;
	}
	if (oi_model_tensor(m, n) != NULL)
		fatal("oi_model_tensor(count) is not NULL", NULL);
	for (size_t i = 0; i < oi_model_opset_count(m); i++) {
		const char *dom = NULL;
		int64_t ver;
		if (oi_model_opset(m, i, &dom, &ver) != 0 || !dom)
			fatal("oi_model_opset failed", oi_last_error());
	}

	oi_init_options io = OI_INIT_OPTIONS_INIT;
	io.scheme = "zeros";
	io.seed = 1;
	rc = oi_model_plan(m, &io);
	if (rc)
		fatal("oi_model_plan(zeros) failed on a model that opened", oi_last_error());
	oi_save_options so = OI_SAVE_OPTIONS_INIT;
	so.threads = 1;
	rc = oi_model_save(m, out_path, &so);
	if (rc == OI_ENOMEM || rc == OI_ETOOBIG) {
		oi_model_free(m);
		goto done;
	}
	if (rc)
		fatal("oi_model_save failed on a model that opened", oi_last_error());
	no_temporaries(out_dir);

	oi_model *again = NULL;
	rc = oi_model_open(&again, out_path, NULL);
	if (rc)
		fatal("the saved model does not open", oi_last_error());
	if (oi_model_tensor_count(again) != n)
		fatal("the saved model has another number of tensors", NULL);
	for (size_t i = 0; i < n; i++) {
		const oi_tensor_info *a = oi_model_tensor(m, i), *b = oi_model_tensor(again, i);
		if (strcmp(a->name, b->name) || strcmp(a->graph, b->graph) || a->dtype != b->dtype ||
		    a->source != b->source || !same_dims(a, b) || a->numel != b->numel)
			fatal("a tensor changed its name, graph, source, dtype or shape in the save",
			      a->name);
	}
	oi_model_free(again);

	/* keep + no provenance: the very bytes of the input */
	io.scheme = "keep";
	io.no_provenance = 1;
	rc = oi_model_plan(m, &io);
	if (rc)
		fatal("oi_model_plan(keep) failed on a model that opened", oi_last_error());
	if (oi_model_changed_count(m) != 0)
		fatal("scheme keep changes tensors", NULL);
	empty_dir(out_dir);
	rc = oi_model_save(m, out_path, NULL);
	if (rc && rc != OI_ENOMEM)
		fatal("oi_model_save(keep) failed on a model that opened", oi_last_error());
	if (!rc && !same_bytes(out_path, data, size))
		fatal("keep without provenance did not write the input's bytes", NULL);
	oi_model_free(m);
done:
	unlink(in_path);
	empty_dir(out_dir);
	return 0;
}
