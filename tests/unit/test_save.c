/* The save's promises about files: one rename commits a model with its
 * external data, an output named like a data file is refused, a failed save
 * leaves nothing, data shared by two models is not lost, FIFOs are refused,
 * stale temporaries go and live ones stay, and an input that shrinks while
 * it is copied is said to have shrunk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support.h"
#include "files.h"
#include "splice.h"

void oi__set_protobuf_limit(uint64_t limit);

static const float HALF[16] = { 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f,
	                            0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f };

/* dir/name (dir below the scratch folder) */
static const char *at(const char *dir, const char *name)
{
	static char buf[4][600];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/%s", t_path(dir), name);
	return buf[k];
}

static void make_dir(const char *dir)
{
	if (mkdir(t_path(dir), 0777) != 0 && errno != EEXIST)
		fail_msg("mkdir %s: %s", dir, strerror(errno));
}

/* The names in dir, sorted, joined by spaces ("" for none). */
static const char *names_in(const char *dir)
{
	static char out[2048];
	struct dirent **list;
	int n = scandir(t_path(dir), &list, NULL, alphasort);
	out[0] = 0;
	for (int i = 0; i < n; i++) {
		const char *s = list[i]->d_name;
		if (strcmp(s, ".") && strcmp(s, ".."))
			snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s", out[0] ? " " : "", s);
		free(list[i]);
	}
	if (n >= 0)
		free(list);
	return out;
}

/* DIR/name: one MatMul whose 4x4 weight W (all 0.5) is in external data
 * loc at off. The data file, of len bytes all 0.5 (a multiple of 64), is
 * written too, unless it exists. */
static const char *ext_model(const char *dir, const char *name, const char *loc, uint64_t off,
                             size_t len)
{
	make_dir(dir);
	char rel[300];
	snprintf(rel, sizeof rel, "%s/%s", dir, loc);
	struct stat st;
	if (stat(t_path(rel), &st) != 0) {
		uint8_t bytes[256] = { 0 };
		for (int i = 0; i < 4; i++)
			memcpy(bytes + 64 * i, HALF, 64);
		assert_true(len <= sizeof bytes);
		t_spill(t_path(rel), bytes, len);
	}
	tb *b = tb_new(17);
	tb_input(b, "x", OI_DTYPE_FLOAT, "1,4");
	tb_external(b, tb_init(b, "W", "4,4", 0.5), loc, off, 64);
	tb_node(b, "MatMul", "x,W", "y");
	tb_output(b, "y", OI_DTYPE_FLOAT, NULL);
	snprintf(rel, sizeof rel, "%s/%s", dir, name);
	/* a copy of its own: t_path's results are soon reused */
	static char keep[8][600];
	static int k;
	k = (k + 1) % 8;
	snprintf(keep[k], sizeof keep[k], "%s", tb_write(b, rel));
	tb_free(b);
	return keep[k];
}

/* The location of W in the model at path. */
static const char *location_of(const char *path)
{
	static char loc[256];
	Onnx__ModelProto *pb = t_unpack(path);
	loc[0] = 0;
	const Onnx__TensorProto *t = pb->graph->initializer[0];
	for (size_t i = 0; i < t->n_external_data; i++)
		if (!strcmp(t->external_data[i]->key, "location"))
			snprintf(loc, sizeof loc, "%s", t->external_data[i]->value);
	onnx__model_proto__free_unpacked(pb, NULL);
	return loc;
}

/* Whether the 64 bytes at off of dir/loc are all zero. */
static bool zeros_at(const char *dir, const char *loc, uint64_t off)
{
	size_t len;
	uint8_t *b = t_slurp(at(dir, loc), &len);
	bool z = len >= off + 64;
	for (size_t i = 0; z && i < 64; i++)
		z = b[off + i] == 0;
	free(b);
	return z;
}

static int save_zeros(const char *in, const char *out, unsigned flags)
{
	oi_model *m = t_open(in, OI_FANS_TORCH);
	assert_int_equal(t_plan(m, "zeros", 0, NULL), 0);
	oi_save_options so = OI_SAVE_OPTIONS_INIT;
	so.flags = flags | OI_SAVE_NO_FSYNC;
	int rc = oi_model_save(m, out, &so);
	oi_model_free(m);
	return rc;
}

/* ---- one rename commits -------------------------------------------------- */

static void in_place_names_new_data(void **state)
{
	(void)state;
	const char *m = ext_model("ip", "m.onnx", "m.onnx.data", 0, 64);
	assert_int_equal(save_zeros(m, m, OI_SAVE_REPLACE_INPUT), 0);
	/* the new data under a new name, the old one (named after the model,
	 * nothing else in it) removed */
	char loc[256];
	snprintf(loc, sizeof loc, "%s", location_of(m));
	assert_true(strncmp(loc, "m.onnx.", 7) == 0 && strcmp(loc, "m.onnx.data") != 0);
	char want[600];
	snprintf(want, sizeof want, "m.onnx %s", loc);
	assert_string_equal(names_in("ip"), want);
	assert_true(zeros_at("ip", loc, 0));
	/* again: back to the plain name */
	assert_int_equal(save_zeros(m, m, OI_SAVE_REPLACE_INPUT), 0);
	assert_string_equal(location_of(m), "m.onnx.data");
	assert_string_equal(names_in("ip"), "m.onnx m.onnx.data");
}

static void data_not_named_after_the_model_stays(void **state)
{
	(void)state;
	/* weights.bin may be another model's too: in place, it is left */
	const char *m = ext_model("ip2", "m.onnx", "weights.bin", 64, 256);
	assert_int_equal(save_zeros(m, m, OI_SAVE_REPLACE_INPUT), 0);
	assert_string_equal(location_of(m), "m.onnx.weights.bin");
	assert_string_equal(names_in("ip2"), "m.onnx m.onnx.weights.bin weights.bin");
	assert_true(zeros_at("ip2", "m.onnx.weights.bin", 64));
	assert_false(zeros_at("ip2", "weights.bin", 64));
}

static void rerun_over_an_output(void **state)
{
	(void)state;
	const char *in = ext_model("src", "m.onnx", "m.onnx.data", 0, 64);
	make_dir("dst");
	const char *out = at("dst", "out.onnx");
	/* first: the input's location is free beside the output */
	assert_int_equal(save_zeros(in, out, 0), 0);
	assert_string_equal(location_of(out), "m.onnx.data");
	/* then the output names it: another name, the old file removed */
	assert_int_equal(save_zeros(in, out, 0), 0);
	assert_string_equal(location_of(out), "out.onnx.data");
	assert_string_equal(names_in("dst"), "out.onnx out.onnx.data");
	assert_int_equal(save_zeros(in, out, 0), 0);
	assert_string_equal(location_of(out), "m.onnx.data");
	assert_string_equal(names_in("dst"), "m.onnx.data out.onnx");
}

static void stale_data_name_reused_others_kept(void **state)
{
	(void)state;
	const char *in = ext_model("src2", "m.onnx", "m.onnx.data", 0, 64);
	make_dir("dst2");
	/* another model's file by the input's name, and a leftover named after
	 * the output that no model names */
	t_spill(at("dst2", "m.onnx.data"), "other", 5);
	t_spill(at("dst2", "out.onnx.data"), "leftover", 8);
	assert_int_equal(save_zeros(in, at("dst2", "out.onnx"), 0), 0);
	assert_string_equal(location_of(at("dst2", "out.onnx")), "out.onnx.data");
	assert_true(zeros_at("dst2", "out.onnx.data", 0));
	size_t len;
	uint8_t *b = t_slurp(at("dst2", "m.onnx.data"), &len);
	assert_int_equal(len, 5);
	free(b);
}

static void past_2gib_names_alternate(void **state)
{
	(void)state;
	tb *b = tb_new(17);
	tb_input(b, "x", OI_DTYPE_FLOAT, "1,64");
	tb_init(b, "W", "64,64", 0.5);
	tb_node(b, "MatMul", "x,W", "y");
	tb_output(b, "y", OI_DTYPE_FLOAT, NULL);
	make_dir("big");
	char in[600];
	snprintf(in, sizeof in, "%s", tb_write(b, "big/in.onnx"));
	tb_free(b);
	const char *out = at("big", "out.onnx");
	oi__set_protobuf_limit(1000);
	assert_int_equal(save_zeros(in, out, 0), 0);
	assert_string_equal(location_of(out), "out.onnx.data");
	assert_int_equal(save_zeros(in, out, 0), 0);
	char second[256];
	snprintf(second, sizeof second, "%s", location_of(out));
	assert_true(strncmp(second, "out.onnx.", 9) == 0 && strcmp(second, "out.onnx.data") != 0);
	char want[600];
	snprintf(want, sizeof want, "in.onnx out.onnx %s", second);
	assert_string_equal(names_in("big"), want);
	assert_int_equal(save_zeros(in, out, 0), 0);
	oi__set_protobuf_limit(0);
	assert_string_equal(names_in("big"), "in.onnx out.onnx out.onnx.data");
}

/* ---- refused, failed ----------------------------------------------------- */

static void output_named_like_its_data_refused(void **state)
{
	(void)state;
	const char *in = ext_model("nl", "m.onnx", "m.onnx.data", 0, 64);
	make_dir("nl-out");
	assert_int_equal(save_zeros(in, at("nl-out", "m.onnx.data"), 0), OI_ECONFLICT);
	assert_string_equal(names_in("nl-out"), "");
	assert_int_equal(save_zeros(in, at("nl", "m.onnx.data"), 0), OI_ECONFLICT);
	assert_string_equal(names_in("nl"), "m.onnx m.onnx.data");
}

static void failed_save_writes_nothing(void **state)
{
	(void)state;
	const char *in = ext_model("fs", "m.onnx", "m.onnx.data", 0, 64);
	make_dir("fs-out");
	make_dir("fs-out/out.onnx");
	t_spill(at("fs-out", "m.onnx.data"), "precious", 8);
	t_spill(at("fs-out", "out.onnx.data"), "precious", 8);
	assert_int_equal(save_zeros(in, at("fs-out", "out.onnx"), 0), OI_EIO);
	assert_non_null(strstr(oi_last_error(), "directory"));
	assert_string_equal(names_in("fs-out"), "m.onnx.data out.onnx out.onnx.data");
	size_t len;
	uint8_t *b = t_slurp(at("fs-out", "m.onnx.data"), &len);
	assert_memory_equal(b, "precious", 8);
	free(b);
}

/* ---- data shared by two models ------------------------------------------- */

static void shared_data_each_output_its_own(void **state)
{
	(void)state;
	const char *a = ext_model("sh", "a.onnx", "w.bin", 0, 128);
	const char *b = ext_model("sh", "b.onnx", "w.bin", 64, 128);
	make_dir("sh-out");
	assert_int_equal(save_zeros(a, at("sh-out", "a.onnx"), 0), 0);
	assert_int_equal(save_zeros(b, at("sh-out", "b.onnx"), 0), 0);
	char la[256], lb[256];
	snprintf(la, sizeof la, "%s", location_of(at("sh-out", "a.onnx")));
	snprintf(lb, sizeof lb, "%s", location_of(at("sh-out", "b.onnx")));
	assert_string_not_equal(la, lb);
	assert_true(zeros_at("sh-out", la, 0));
	assert_true(zeros_at("sh-out", lb, 64));
	/* in place, both: each its own file, the shared one left as it was */
	assert_int_equal(save_zeros(a, a, OI_SAVE_REPLACE_INPUT), 0);
	assert_int_equal(save_zeros(b, b, OI_SAVE_REPLACE_INPUT), 0);
	assert_true(zeros_at("sh", location_of(a), 0));
	assert_true(zeros_at("sh", location_of(b), 64));
	assert_false(zeros_at("sh", "w.bin", 0));
}

/* ---- FIFOs --------------------------------------------------------------- */

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "a FIFO was waited on\n";
	ssize_t w = write(2, msg, sizeof msg - 1);
	(void)w;
	_exit(1);
}

static void fifos_refused(void **state)
{
	(void)state;
	signal(SIGALRM, on_alarm);
	alarm(10);
	make_dir("fifo");
	assert_int_equal(mkfifo(at("fifo", "m.onnx"), 0600), 0);
	oi_model *m = NULL;
	assert_int_equal(oi_model_open(&m, at("fifo", "m.onnx"), NULL), OI_EIO);
	assert_non_null(strstr(oi_last_error(), "regular file"));
	const char *p = ext_model("fifo", "e.onnx", "d.bin", 0, 64);
	unlink(at("fifo", "d.bin"));
	assert_int_equal(mkfifo(at("fifo", "d.bin"), 0600), 0);
	assert_int_equal(oi_model_open(&m, p, NULL), OI_EEXTERNAL);
	assert_non_null(strstr(oi_last_error(), "regular file"));
	alarm(0);
}

/* ---- temporaries --------------------------------------------------------- */

static void stale_temps_removed_live_kept(void **state)
{
	(void)state;
	const char *in = ext_model("tmp-src", "m.onnx", "m.onnx.data", 0, 64);
	make_dir("tmp");
	t_spill(at("tmp", ".out.onnx.oi-Stale1"), "x", 1);
	t_spill(at("tmp", ".out.onnx.data.oi-Stale2"), "x", 1);
	t_spill(at("tmp", ".m.onnx.data.oi-Stale3"), "x", 1);
	t_spill(at("tmp", ".out.onnx.oi-long123"), "x", 1);  /* not mkostemp's */
	t_spill(at("tmp", ".other.onnx.oi-Other1"), "x", 1); /* another output's */
	assert_int_equal(symlink("out.onnx", at("tmp", ".out.onnx.oi-Link01")), 0);
	t_spill(at("tmp", ".out.onnx.oi-Live01"), "x", 1);
	int fd = open(at("tmp", ".out.onnx.oi-Live01"), O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0); /* its writer runs */
	assert_int_equal(save_zeros(in, at("tmp", "out.onnx"), 0), 0);
	assert_string_equal(names_in("tmp"), ".other.onnx.oi-Other1 .out.onnx.oi-Link01 "
	                    ".out.onnx.oi-Live01 .out.onnx.oi-long123 m.onnx.data out.onnx");
	close(fd);
}

static void temp_create_locks(void **state)
{
	(void)state;
	make_dir("lock");
	oi_temp t;
	assert_int_equal(oi__temp_create(&t, t_path("lock"), "x.onnx", 0644), 0);
	assert_true(oi__temps_live(t_path("lock"), "x.onnx", NULL));
	assert_false(oi__temps_live(t_path("lock"), "x.onnx", &t));
	oi__remove_stale_temps(t_path("lock"), "x.onnx");
	struct stat st;
	assert_int_equal(stat(t.path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	char *path = strdup(t.path);
	oi__temp_close(&t, false); /* the writer is gone: now it is stale */
	assert_false(oi__temps_live(t_path("lock"), "x.onnx", NULL));
	oi__remove_stale_temps(t_path("lock"), "x.onnx");
	assert_int_not_equal(stat(path, &st), 0);
	free(path);
}

static void unique_names(void **state)
{
	(void)state;
	char *a = oi__name_with_hex("sub/m.onnx.data");
	assert_int_equal(strlen(a), strlen("sub/m.onnx.12345678.data"));
	assert_true(strncmp(a, "sub/m.onnx.", 11) == 0 && !strcmp(a + 19, ".data"));
	char *b = oi__name_without_hex(a);
	assert_string_equal(b, "sub/m.onnx.data");
	free(a);
	free(b);
	a = oi__name_with_hex("weights");
	b = oi__name_without_hex(a);
	assert_string_equal(b, "weights");
	free(a);
	free(b);
	b = oi__name_without_hex("m.onnx.notahex1.data");
	assert_string_equal(b, "m.onnx.notahex1.data");
	free(b);
}

/* ---- an input that shrinks ----------------------------------------------- */

static void shrunk_input_said(void **state)
{
	(void)state;
	const size_t n = 1u << 20;
	uint8_t *bytes = calloc(1, n);
	assert_non_null(bytes);
	memset(bytes, 7, n);
	make_dir("shrink");
	t_spill(at("shrink", "in.bin"), bytes, n);
	free(bytes);
	int in = open(at("shrink", "in.bin"), O_RDONLY);
	int out = open(at("shrink", "out.bin"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(in >= 0 && out >= 0);
	const uint8_t *map = mmap(NULL, n, PROT_READ, MAP_PRIVATE, in, 0);
	assert_true(map != MAP_FAILED);
	assert_int_equal(truncate(at("shrink", "in.bin"), 4096), 0);
	oi_sink s;
	assert_int_equal(oi__sink_init_fd(&s, out, "out.bin"), 0);
	s.src_path = "in.onnx";
	assert_int_equal(oi__sink_copy(&s, map, in, 0, n), OI_EIO);
	assert_non_null(strstr(oi_last_error(), "in.onnx: the input shrank"));
	oi__sink_free(&s);
	munmap((void *)map, n);
	close(in);
	close(out);
}

/* ---- commit groups ------------------------------------------------------- */

/* DIR/name: one MatMul with its 8x8 weight in the model. */
static const char *plain_model(const char *dir, const char *name)
{
	make_dir(dir);
	tb *b = tb_new(17);
	tb_input(b, "x", OI_DTYPE_FLOAT, "1,8");
	tb_init(b, "W", "8,8", 0.5);
	tb_node(b, "MatMul", "x,W", "y");
	tb_output(b, "y", OI_DTYPE_FLOAT, NULL);
	char rel[300];
	snprintf(rel, sizeof rel, "%s/%s", dir, name);
	static char keep[4][600];
	static int k;
	k = (k + 1) % 4;
	snprintf(keep[k], sizeof keep[k], "%s", tb_write(b, rel));
	tb_free(b);
	return keep[k];
}

/* The commit callback's calls, in order: "rc:path:userdata;" each. */
static char committed[4096];

static void note_commit(const char *path, int rc, void *userdata)
{
	const char *base = strrchr(path, '/');
	snprintf(committed + strlen(committed), sizeof committed - strlen(committed), "%d:%s:%s%s;",
	         rc, base ? base + 1 : path, (const char *)userdata,
	         rc && !strstr(oi_last_error(), path) ? " (error without the path)" : "");
}

/* Save in (planned normal, seed 1) to out, in group g (NULL: alone). */
static int save_in(const char *in, const char *out, oi_commit_group *g, const char *tag,
                   oi_model **keep)
{
	oi_model *m = t_open(in, OI_FANS_TORCH);
	assert_int_equal(t_plan(m, "normal", 1, NULL), 0);
	oi_save_options so = OI_SAVE_OPTIONS_INIT;
	so.group = g;
	so.userdata = (void *)tag;
	int rc = oi_model_save(m, out, &so);
	if (keep)
		*keep = m;
	else
		oi_model_free(m);
	return rc;
}

static bool same_bytes(const char *a, const char *b)
{
	size_t la, lb;
	uint8_t *x = t_slurp(a, &la), *y = t_slurp(b, &lb);
	bool same = la == lb && !memcmp(x, y, la);
	free(x);
	free(y);
	return same;
}

/* A group's saves write, then commit together: the same bytes as alone. */
static void group_commits_as_alone(void **state)
{
	(void)state;
	const char *p = plain_model("g-in", "p.onnx");
	const char *e = ext_model("g-in", "e.onnx", "e.onnx.data", 0, 64);
	make_dir("g-alone");
	make_dir("g-out");
	make_dir("g-out/sub");
	assert_int_equal(save_in(p, at("g-alone", "p.onnx"), NULL, "", NULL), 0);
	assert_int_equal(save_in(e, at("g-alone", "e.onnx"), NULL, "", NULL), 0);
	oi_commit_group *g;
	assert_int_equal(oi_commit_group_new(&g), 0);
	oi_model *m[3];
	assert_int_equal(save_in(p, at("g-out", "p.onnx"), g, "one", &m[0]), 0);
	assert_int_equal(save_in(e, at("g-out", "e.onnx"), g, "two", &m[1]), 0);
	assert_int_equal(save_in(p, at("g-out", "sub/p.onnx"), g, "three", &m[2]), 0);
	assert_int_equal(oi_commit_group_size(g), 3);
	/* written, not committed: temporaries (and the data file, under a name
	 * no model gives it yet), no model */
	const char *before = names_in("g-out");
	assert_non_null(strstr(before, ".p.onnx.oi-"));
	assert_non_null(strstr(before, ".e.onnx.oi-"));
	assert_null(strstr(before, " p.onnx"));
	assert_null(strstr(before, " e.onnx "));
	committed[0] = 0;
	assert_int_equal(oi_commit_group_commit(g, note_commit), 0);
	assert_string_equal(committed, "0:p.onnx:one;0:e.onnx:two;0:p.onnx:three;");
	assert_int_equal(oi_commit_group_size(g), 0);
	assert_string_equal(names_in("g-out"), "e.onnx e.onnx.data p.onnx sub");
	assert_string_equal(names_in("g-out/sub"), "p.onnx");
	assert_true(same_bytes(at("g-out", "p.onnx"), at("g-alone", "p.onnx")));
	assert_true(same_bytes(at("g-out", "sub/p.onnx"), at("g-alone", "p.onnx")));
	assert_true(same_bytes(at("g-out", "e.onnx"), at("g-alone", "e.onnx")));
	assert_true(same_bytes(at("g-out", "e.onnx.data"), at("g-alone", "e.onnx.data")));
	/* the group is empty again: it takes more, and committing none is fine */
	oi_model *again;
	assert_int_equal(save_in(p, at("g-out", "again.onnx"), g, "four", &again), 0);
	assert_int_equal(oi_commit_group_commit(g, NULL), 0);
	oi_model_free(again);
	assert_int_equal(oi_commit_group_commit(g, NULL), 0);
	assert_true(same_bytes(at("g-out", "again.onnx"), at("g-alone", "p.onnx")));
	for (int i = 0; i < 3; i++)
		oi_model_free(m[i]);
	oi_commit_group_free(g);
}

/* A group freed before its commit leaves every output as it was. */
static void group_freed_leaves_nothing(void **state)
{
	(void)state;
	const char *p = plain_model("gf-in", "p.onnx");
	const char *e = ext_model("gf-in", "e.onnx", "e.onnx.data", 0, 64);
	make_dir("gf-out");
	t_spill(at("gf-out", "p.onnx"), "old", 3);
	oi_commit_group *g;
	assert_int_equal(oi_commit_group_new(&g), 0);
	oi_model *m[2];
	assert_int_equal(save_in(p, at("gf-out", "p.onnx"), g, "", &m[0]), 0);
	assert_int_equal(save_in(e, at("gf-out", "e.onnx"), g, "", &m[1]), 0);
	oi_commit_group_free(g);
	assert_string_equal(names_in("gf-out"), "p.onnx");
	size_t len;
	uint8_t *b = t_slurp(at("gf-out", "p.onnx"), &len);
	assert_int_equal(len, 3);
	free(b);
	oi_model_free(m[0]);
	oi_model_free(m[1]);
	oi_commit_group_free(NULL);
}

/* One save of a group fails at the commit: said, by its callback and the
 * result; the others are committed. */
static void group_failure_is_its_own(void **state)
{
	(void)state;
	const char *p = plain_model("gx-in", "p.onnx");
	make_dir("gx-a");
	make_dir("gx-b");
	oi_commit_group *g;
	assert_int_equal(oi_commit_group_new(&g), 0);
	oi_model *m[2];
	assert_int_equal(save_in(p, at("gx-a", "p.onnx"), g, "a", &m[0]), 0);
	assert_int_equal(save_in(p, at("gx-b", "p.onnx"), g, "b", &m[1]), 0);
	/* the first one's folder goes away: its rename cannot be */
	char moved[600];
	snprintf(moved, sizeof moved, "%s", t_path("gx-a-moved"));
	assert_int_equal(rename(t_path("gx-a"), moved), 0);
	committed[0] = 0;
	assert_int_equal(oi_commit_group_commit(g, note_commit), OI_EIO);
	assert_non_null(strstr(oi_last_error(), "gx-a/p.onnx"));
	assert_string_equal(committed, "-2:p.onnx:a;0:p.onnx:b;");
	assert_string_equal(names_in("gx-b"), "p.onnx");
	assert_int_equal(strstr(names_in("gx-a-moved"), "p.onnx") != NULL, 1); /* its temporary */
	oi_model_free(m[0]);
	oi_model_free(m[1]);
	oi_commit_group_free(g);
}

/* A version 2 struct ends before the group: whatever follows is ignored. */
static void save_options_version_2(void **state)
{
	(void)state;
	const char *p = plain_model("gv-in", "p.onnx");
	make_dir("gv");
	oi_model *m = t_open(p, OI_FANS_TORCH);
	assert_int_equal(t_plan(m, "normal", 1, NULL), 0);
	oi_save_options so = OI_SAVE_OPTIONS_INIT;
	so.version = 2;
	so.group = (oi_commit_group *)&so; /* not a group: must not be read */
	assert_int_equal(oi_model_save(m, at("gv", "p.onnx"), &so), 0);
	assert_string_equal(names_in("gv"), "p.onnx");
	so.version = 4;
	assert_int_equal(oi_model_save(m, at("gv", "q.onnx"), &so), OI_EARG);
	oi_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(in_place_names_new_data),
		cmocka_unit_test(data_not_named_after_the_model_stays),
		cmocka_unit_test(rerun_over_an_output),
		cmocka_unit_test(stale_data_name_reused_others_kept),
		cmocka_unit_test(past_2gib_names_alternate),
		cmocka_unit_test(output_named_like_its_data_refused),
		cmocka_unit_test(failed_save_writes_nothing),
		cmocka_unit_test(shared_data_each_output_its_own),
		cmocka_unit_test(fifos_refused),
		cmocka_unit_test(stale_temps_removed_live_kept),
		cmocka_unit_test(temp_create_locks),
		cmocka_unit_test(unique_names),
		cmocka_unit_test(shrunk_input_said),
		cmocka_unit_test(group_commits_as_alone),
		cmocka_unit_test(group_freed_leaves_nothing),
		cmocka_unit_test(group_failure_is_its_own),
		cmocka_unit_test(save_options_version_2),
	};
	return cmocka_run_group_tests_name("save", tests, t_setup_dir, t_teardown_dir);
}
