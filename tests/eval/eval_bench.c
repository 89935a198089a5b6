/* eval_bench MODEL DATA BATCH REPS THREADS: the forward pass alone (the
 * model, data and constants loaded once, outside the clock), REPS times;
 * prints "min_ms median_ms". For scripts/bench_lsuv.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "eval/eval.h"

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr, "usage: eval_bench MODEL DATA BATCH REPS THREADS\n");
		return 2;
	}
	int reps = atoi(argv[4]);
	oi_model *m;
	oi_data *d;
	oi_data_options o = OI_DATA_OPTIONS_INIT;
	o.batch = (size_t)atol(argv[3]);
	if (oi_model_open(&m, argv[1], NULL) || oi_data_open(&d, argv[2], &o)) {
		fprintf(stderr, "eval_bench: %s\n", oi_last_error());
		return 1;
	}
	double *t = calloc((size_t)(reps > 0 ? reps : 1), sizeof *t);
	ev_ctx c;
	if (oi__ev_open(&c, m, d, (unsigned)atoi(argv[5]))) {
		fprintf(stderr, "eval_bench: %s\n", oi_last_error());
		return 1;
	}
	c.keep_all = true; /* constants stay loaded between runs */
	for (int r = -1; r < reps; r++) {
		for (size_t v = 0; v < c.n_values; v++)
			if (c.values[v].producer >= 0 && c.values[v].ready) {
				oi__ev_tensor_free(&c.values[v].t);
				c.values[v].ready = false;
			}
		c.done = 0;
		double t0 = now_ms();
		for (size_t i = 0; i < c.n_nodes; i++) {
			double n0 = now_ms();
			if (oi__ev_run(&c, i + 1) || c.stop_msg[0]) {
				fprintf(stderr, "eval_bench: %s\n", c.stop_msg[0] ? c.stop_msg : oi_last_error());
				return 1;
			}
			/* $EVAL_BENCH_NODES: each node's time on stderr, last run */
			if (r == reps - 1 && getenv("EVAL_BENCH_NODES"))
				fprintf(stderr, "%8.3f %s %s\n", now_ms() - n0, c.nodes[i].n->op_type,
				        c.nodes[i].label);
		}
		if (r >= 0)
			t[r] = now_ms() - t0;
	}
	qsort(t, (size_t)reps, sizeof *t, cmp);
	printf("%.3f %.3f\n", t[0], t[reps / 2]);
	oi__ev_close(&c);
	oi_data_free(d);
	oi_model_free(m);
	free(t);
	return 0;
}
