/* Provenance: a save records what it did in one metadata_props entry
 * "onnxinit"; re-initializing an output again replaces that entry (one
 * entry, the last run's, where the old one was) and keeps every other. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"

static void add_meta(tb *b, const char *key, const char *value)
{
	Onnx__StringStringEntryProto *kv = tb_alloc(b, sizeof *kv);
	onnx__string_string_entry_proto__init(kv);
	kv->key = tb_str(b, key);
	kv->value = tb_str(b, value);
	tb_push(b, (void ***)&b->m.metadata_props, &b->m.n_metadata_props, kv);
}

static const char *write_model(const char *name, const char *const *meta)
{
	tb *b = tb_new(17);
	tb_input(b, "x", OI_DTYPE_FLOAT, "2,16");
	tb_init(b, "W", "16,4", 0.5);
	tb_node(b, "MatMul", "x,W", "y");
	tb_output(b, "y", OI_DTYPE_FLOAT, NULL);
	for (size_t i = 0; meta && meta[i]; i += 2)
		add_meta(b, meta[i], meta[i + 1]);
	const char *path = tb_write(b, name);
	tb_free(b);
	return path;
}

/* zeros with seed, from in to out */
static void reinit(const char *in, const char *out, uint64_t seed)
{
	oi_model *m = t_open(in, OI_FANS_TORCH);
	if (t_plan(m, "zeros", seed, NULL))
		fail_msg("%s: %s", in, oi_last_error());
	if (oi_model_save(m, out, NULL))
		fail_msg("%s: %s", out, oi_last_error());
	oi_model_free(m);
}

/* The metadata of path as "key=value;..." with the onnxinit entry's value
 * reduced to its seed: "author=me;onnxinit=seed 2;". */
static void check_meta(const char *path, const char *want)
{
	Onnx__ModelProto *pb = t_unpack(path);
	char got[1024] = "";
	for (size_t i = 0; i < pb->n_metadata_props; i++) {
		const Onnx__StringStringEntryProto *kv = pb->metadata_props[i];
		char v[256];
		snprintf(v, sizeof v, "%s", kv->value ? kv->value : "");
		if (kv->key && !strcmp(kv->key, "onnxinit")) {
			const char *seed = strstr(v, "\"seed\":");
			if (!seed || !strstr(v, "\"scheme\":\"zeros\"") || !strstr(v, "\"stream\":2,"))
				fail_msg("%s: provenance without seed, scheme or stream 2: %s", path, v);
			snprintf(v, sizeof v, "seed %lld", strtoll(seed + 7, NULL, 10));
		}
		snprintf(got + strlen(got), sizeof got - strlen(got), "%s=%s;",
		         kv->key ? kv->key : "", v);
	}
	onnx__model_proto__free_unpacked(pb, NULL);
	if (strcmp(got, want))
		fail_msg("%s: metadata %s, expected %s", path, got, want);
}

static void recorded_once(void **state)
{
	(void)state;
	const char *meta[] = { "author", "me", NULL };
	const char *in = write_model("p.onnx", meta);
	check_meta(in, "author=me;");
	reinit(in, t_path("p1.onnx"), 1);
	check_meta(t_path("p1.onnx"), "author=me;onnxinit=seed 1;");
}

/* the second run's entry replaces the first's, in its place */
static void rerun_replaces(void **state)
{
	(void)state;
	const char *meta[] = { "author", "me", NULL };
	const char *in = write_model("q.onnx", meta);
	reinit(in, t_path("q1.onnx"), 1);
	reinit(t_path("q1.onnx"), t_path("q2.onnx"), 2);
	check_meta(t_path("q2.onnx"), "author=me;onnxinit=seed 2;");
	reinit(t_path("q2.onnx"), t_path("q3.onnx"), 3);
	check_meta(t_path("q3.onnx"), "author=me;onnxinit=seed 3;");
}

/* entries of other tools around it stay where they are; a second "onnxinit"
 * entry (another writer's doing) goes */
static void replaced_in_place_and_duplicates_go(void **state)
{
	(void)state;
	const char *meta[] = { "a", "1", "onnxinit", "{\"seed\":8,\"scheme\":\"zeros\"}", "b", "2",
		               "onnxinit", "{\"seed\":9,\"scheme\":\"zeros\"}", "c", "3", NULL };
	const char *in = write_model("r.onnx", meta);
	reinit(in, t_path("r1.onnx"), 4);
	check_meta(t_path("r1.onnx"), "a=1;onnxinit=seed 4;b=2;c=3;");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(recorded_once),
		cmocka_unit_test(rerun_replaces),
		cmocka_unit_test(replaced_in_place_and_duplicates_go),
	};
	return cmocka_run_group_tests_name("provenance", tests, t_setup_dir, t_teardown_dir);
}
