/* eval_dump MODEL DATA OUTDIR [BATCH]: run onnxinit's evaluator on the
 * first batch of DATA (a .npy/.npz, or normal/uniform) and write every value
 * the graph computed, and the inputs it was fed, as OUTDIR/NNNN.npy (float32,
 * or int64 for integer values), with OUTDIR/values.tsv listing
 * "NNNN<TAB>name". The graph runs
 * as far as the evaluator goes; the reason it stopped, if it did, goes to
 * stderr and the exit status is 3. Errors: 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"

static int write_npy(const char *path, const ev_tensor *t)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	char shape[256];
	size_t n = (size_t)snprintf(shape, sizeof shape, "(");
	for (int j = 0; j < t->nd; j++)
		n += (size_t)snprintf(shape + n, sizeof shape - n, "%lld,%s", (long long)t->d[j],
		                      j + 1 < t->nd ? " " : "");
	snprintf(shape + n, sizeof shape - n, ")");
	char hdr[400];
	int h = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
	                 t->type == EV_F32 ? "<f4" : "<i8", shape);
	int total = 10 + h + 1;
	int pad = (64 - total % 64) % 64;
	fwrite("\x93NUMPY\x01\x00", 1, 8, f);
	unsigned short hl = (unsigned short)(h + pad + 1);
	fputc(hl & 0xff, f);
	fputc(hl >> 8, f);
	fwrite(hdr, 1, (size_t)h, f);
	for (int i = 0; i < pad; i++)
		fputc(' ', f);
	fputc('\n', f);
	fwrite(t->data, t->type == EV_F32 ? 4 : 8, (size_t)t->n, f);
	return fclose(f);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: eval_dump MODEL DATA OUTDIR [BATCH]\n");
		return 2;
	}
	oi_model *m;
	if (oi_model_open(&m, argv[1], NULL)) {
		fprintf(stderr, "eval_dump: %s\n", oi_last_error());
		return 1;
	}
	oi_data_options o = OI_DATA_OPTIONS_INIT;
	o.batch = argc > 4 ? (size_t)atol(argv[4]) : 0;
	oi_data *d;
	if (oi_data_open(&d, argv[2], &o)) {
		fprintf(stderr, "eval_dump: %s\n", oi_last_error());
		oi_model_free(m);
		return 1;
	}
	ev_ctx c;
	int rc = oi__ev_open(&c, m, d, 1);
	if (!rc) {
		c.keep_all = true;
		rc = oi__ev_run(&c, c.n_nodes);
	}
	if (rc) {
		fprintf(stderr, "eval_dump: %s\n", oi_last_error());
		oi_data_free(d);
		oi_model_free(m);
		return 1;
	}
	char path[4096];
	snprintf(path, sizeof path, "%s/values.tsv", argv[3]);
	FILE *list = fopen(path, "w");
	int k = 0;
	for (size_t v = 0; list && v < c.n_values; v++) {
		const ev_value *val = &c.values[v];
		if (!val->ready || (val->producer < 0 && val->input < 0))
			continue;
		snprintf(path, sizeof path, "%s/%04d.npy", argv[3], k);
		if (write_npy(path, &val->t)) {
			fprintf(stderr, "eval_dump: cannot write %s\n", path);
			rc = 1;
			break;
		}
		fprintf(list, "%04d\t%s\n", k++, val->name);
	}
	if (list)
		fclose(list);
	int ret = rc ? 1 : 0;
	if (!ret && c.stop_msg[0]) {
		fprintf(stderr, "eval_dump: stopped: %s\n", c.stop_msg);
		ret = 3;
	}
	oi__ev_close(&c);
	oi_data_free(d);
	oi_model_free(m);
	return ret;
}
