/* External data: tensors may share bytes exactly (tied weights) but not in
 * part, which no tensor-at-a-time rewrite could honour; a model that does is
 * refused at open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"

/* Two 4x4 float32 tensors (64 bytes each; W2 is 2x2 if len2 is 16) read
 * from files loc1/loc2 at off1/off2; both data files hold 256 bytes. */
static const char *write_model(const char *name, const char *loc1, uint64_t off1,
                               const char *loc2, uint64_t off2, uint64_t len2)
{
	uint8_t bytes[256];
	for (int i = 0; i < 256; i++)
		bytes[i] = (uint8_t)i;
	t_spill(t_path(loc1), bytes, sizeof bytes);
	t_spill(t_path(loc2), bytes, sizeof bytes);
	tb *b = tb_new(17);
	tb_input(b, "x", OI_DTYPE_FLOAT, "4,4");
	tb_external(b, tb_init(b, "W1", "4,4", 0), loc1, off1, 64);
	tb_external(b, tb_init(b, "W2", len2 == 64 ? "4,4" : "2,2", 0), loc2, off2, len2);
	tb_node(b, "MatMul", "x,W1", "h");
	tb_node(b, "MatMul", "h,W1", "y");
	if (len2 == 64)
		tb_node(b, "MatMul", "h,W2", "z"); /* else W2 is read by nothing */
	tb_output(b, "y", OI_DTYPE_FLOAT, NULL);
	const char *path = tb_write(b, name);
	tb_free(b);
	return path;
}

static void refused(const char *path)
{
	oi_model *m = NULL;
	int rc = oi_model_open(&m, path, NULL);
	if (rc != OI_EINVALID)
		fail_msg("%s: open gave %d (%s), not OI_EINVALID", path, rc, oi_last_error());
	assert_null(m);
	const char *e = oi_last_error();
	if (!strstr(e, "W1") || !strstr(e, "W2") || !strstr(e, "overlap"))
		fail_msg("the message does not name both tensors and the overlap: %s", e);
}

static void partial_overlap_refused(void **state)
{
	(void)state;
	refused(write_model("half.onnx", "w.bin", 0, "w.bin", 32, 64));
	/* the other order in the file */
	refused(write_model("half2.onnx", "w.bin", 32, "w.bin", 0, 64));
	/* one inside the other */
	refused(write_model("inside.onnx", "w.bin", 0, "w.bin", 16, 16));
	refused(write_model("last-byte.onnx", "w.bin", 0, "w.bin", 63, 64));
}

static void opened(const char *path)
{
	oi_model *m = t_open(path, OI_FANS_TORCH);
	assert_int_equal(t_find(m, "W1")->storage, OI_STORAGE_EXTERNAL);
	assert_int_equal(t_find(m, "W2")->storage, OI_STORAGE_EXTERNAL);
	oi_model_free(m);
}

static void sharing_exactly_or_not_at_all_opens(void **state)
{
	(void)state;
	opened(write_model("tied.onnx", "w.bin", 0, "w.bin", 0, 64));
	opened(write_model("tied-late.onnx", "w.bin", 128, "w.bin", 128, 64));
	opened(write_model("adjacent.onnx", "w.bin", 0, "w.bin", 64, 64));
	opened(write_model("adjacent2.onnx", "w.bin", 64, "w.bin", 0, 64));
	opened(write_model("two-files.onnx", "w.bin", 0, "v.bin", 32, 64));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(partial_overlap_refused),
		cmocka_unit_test(sharing_exactly_or_not_at_all_opens),
	};
	return cmocka_run_group_tests_name("external", tests, t_setup_dir, t_teardown_dir);
}
