/* Floor programs for scripts/bench_reinit.sh (not a test): draw N values
 * the way a scheme does, nothing written, on T threads.
 *   rng_floor MODE N T     MODE: philox-scalar | philox-vector | normal-scalar | normal-vector
 * Prints the checksum so the loop cannot be optimized away. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "simd.h"

enum { CHUNK = 1 << 16 };

typedef struct job {
	const char *mode;
	uint64_t first, n;
	double sum;
} job;

static void *run(void *p)
{
	job *j = p;
	oi_key key = oi__rng_key(0, "floor");
	double *buf = malloc(CHUNK * sizeof *buf), sum = 0;
	if (!buf)
		return NULL;
	for (uint64_t i = j->first; i < j->first + j->n; i += CHUNK) {
		size_t n = j->first + j->n - i < CHUNK ? (size_t)(j->first + j->n - i) : CHUNK;
		if (!strcmp(j->mode, "philox-scalar"))
			oi__uniform_n_scalar(key, i, n, 0.0, 1.0, buf);
#ifdef OI_HAVE_AVX2
		else if (!strcmp(j->mode, "philox-vector") && oi__simd_avx2())
			oi__uniform_n_avx2(key, i, n, 0.0, 1.0, buf);
		else if (!strcmp(j->mode, "normal-vector") && oi__simd_avx2())
			oi__normal_n_avx2(key, i, n, buf);
#endif
		else if (!strcmp(j->mode, "normal-scalar"))
			oi__normal_n_scalar(key, i, n, buf);
		else
			oi__uniform_n(key, i, n, 0.0, 1.0, buf);
		sum += buf[n / 2];
	}
	j->sum = sum;
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: rng_floor MODE N THREADS\n");
		return 2;
	}
	uint64_t n = strtoull(argv[2], NULL, 10);
	int t = atoi(argv[3]);
	if (t < 1 || t > 64)
		return 2;
	job jobs[64];
	pthread_t tid[64];
	uint64_t per = (n + (uint64_t)t - 1) / (uint64_t)t;
	for (int i = 0; i < t; i++) {
		uint64_t lo = (uint64_t)i * per, hi = lo + per < n ? lo + per : n;
		jobs[i] = (job){ argv[1], lo, hi > lo ? hi - lo : 0, 0 };
		pthread_create(&tid[i], NULL, run, &jobs[i]);
	}
	double sum = 0;
	for (int i = 0; i < t; i++) {
		pthread_join(tid[i], NULL);
		sum += jobs[i].sum;
	}
	printf("%s %llu values: checksum %.17g\n", argv[1], (unsigned long long)n, sum);
	return 0;
}
