/* Donors: tensors read from another file (safetensors, npz, a folder of
 * .npy files, an ONNX model) whose values a plan copies into a model,
 * matched by name, module path or graph position and made to fit by a
 * transform (transpose, cast, BatchNorm folding, RNN gate order). The
 * donor's bytes stay mapped; the save reads them chunk by chunk. */
#ifndef OI_DONOR_H
#define OI_DONOR_H

#include <pthread.h>
#include <stdatomic.h>

#include "../model.h"

enum { OI_DONOR_SAFETENSORS = 1, OI_DONOR_NPZ, OI_DONOR_NPY_DIR, OI_DONOR_ONNX };

typedef struct oi_donor_tensor {
	char *name;
	int dtype;             /* oi_dtype of the bytes at data */
	int orig_dtype;        /* as the donor stores it (typed ONNX tensors are decoded) */
	size_t ndim;
	int64_t *dims;
	uint64_t numel;
	const uint8_t *data;   /* numel little-endian elements, C order (maybe unaligned) */
	uint8_t *own;          /* data, when it had to be made (inflated, decoded) */
	const uint8_t *map;    /* the mapping data lies in (NULL: own) */
	uint64_t map_len;
	int fd;                /* the file mapped whole at map (-1: none): the save
	                        * copies same-dtype bytes from it in the kernel */
	const uint8_t *file_map; /* a folder's .npy: its whole file, mapped */
	uint64_t file_len;
	const char *file;      /* its name, for messages */
	int32_t onnx;          /* ONNX donor: index of its tensor, else -1 */
} oi_donor_tensor;

typedef struct oi_donor_region {
	void *p;
	size_t len;
	int fd;                /* the file mapped at p, kept open; -1 if none */
} oi_donor_region;

struct oi_donor {
	char *path;
	int format;
	oi_donor_tensor *t;
	size_t n, cap;
	size_t *sorted;        /* indices of t by name */
	bool ordered;          /* t is in the state_dict's order (npz, ONNX) */
	oi_donor_region *regions; /* mappings to unmap */
	size_t n_regions, cap_regions;
	oi_model *onnx;        /* ONNX donor */
	char **map_key, **map_val; /* --from-map, in order */
	size_t n_map;
	pthread_mutex_t lock;  /* for the lazily computed digest */
	pthread_cond_t digested;
	int digest_state;      /* DIGEST_NONE, _RUNNING (a thread hashes), _DONE */
	bool digest_thread;    /* a thread was started: joined when freed */
	_Atomic bool digest_stop; /* freed: the thread stops hashing */
	pthread_t digester;
	char sha256[65];       /* "" until done, and if the donor could not be read */
	int digest_errno;      /* why it could not (-1: the hash was stopped) */
};

/* readers: fill d->t (the caller sorts and validates names) */
int oi__donor_read_safetensors(oi_donor *d, const uint8_t *p, uint64_t len);
int oi__donor_read_npz(oi_donor *d, const uint8_t *p, uint64_t len);
int oi__donor_read_npy_dir(oi_donor *d, const char *dir);
int oi__donor_read_onnx(oi_donor *d);
/* One .npy image p[0..len) as tensor name; data points into p unless copy. */
int oi__donor_parse_npy(oi_donor *d, const char *name, const uint8_t *p, uint64_t len,
                        const char *what);
/* Append a tensor (name copied); its slot, or NULL (OI_ENOMEM). */
oi_donor_tensor *oi__donor_add(oi_donor *d, const char *name, size_t name_len);
/* Keep the mapping p[0..len) of the file open as fd (-1: none) until the
 * donor is freed; fd is closed on failure too. */
int oi__donor_keep_region(oi_donor *d, void *p, size_t len, int fd);
/* Tensors whose bytes lie in the mapping p of fd: say so (fd). */
void oi__donor_mark_file(oi_donor *d, size_t from, const uint8_t *p, uint64_t len, int fd);
/* Open the donor from bytes in memory (tests, fuzzers): format from content. */
int oi__donor_open_bytes(oi_donor **out, const uint8_t *p, size_t len, const char *name);

const oi_donor_tensor *oi__donor_find(const oi_donor *d, const char *name);
size_t oi__dtype_size_any(int dtype);
/* Element i of a donor tensor as double (floats and integers). */
double oi__donor_elem(const oi_donor_tensor *t, uint64_t i);
bool oi__donor_dtype_usable(int dtype);

/* ---- transforms: what the save reads, per target tensor ----------------- */

enum { OI_DT_COPY = 0, OI_DT_TRANSPOSE, OI_DT_SCALE_ROWS, OI_DT_VALUES, OI_DT_GATES };

typedef struct oi_donor_src {
	int kind;
	const oi_donor_tensor *a;   /* COPY, TRANSPOSE, SCALE_ROWS */
	uint64_t rows, cols;        /* TRANSPOSE: the donor's (rows, cols) */
	const double *scale;        /* SCALE_ROWS: per leading index, `per` elements each */
	uint64_t per;
	const double *vals;         /* VALUES: every element, made at plan time */
	/* GATES: part[numel / part_len] holds rows × cols in torch's gate order */
	const oi_donor_tensor *part[4];
	uint64_t part_len, hidden, gate_cols;
	int perm[4];                /* ONNX gate g reads torch gate perm[g] */
} oi_donor_src;

void oi__donor_values(const oi_donor_src *s, uint64_t first, size_t n, double *out);
/* COPY of the same dtype: the bytes as they are; false if not that case. */
bool oi__donor_bytes(const oi_donor_src *s, int dtype, uint64_t first, size_t n, uint8_t *out);
/* COPY of the same dtype from a file: the file, and where the tensor's
 * bytes start in it and in its mapping *map; false if not that case. */
bool oi__donor_file_range(const oi_donor_src *s, int dtype, const uint8_t **map, int *fd,
                          uint64_t *off, const char **file);
/* The save is done with elements first..first+n: drop their pages. */
void oi__donor_release(const oi_donor_src *s, uint64_t first, size_t n);

/* BatchNorm folding: scale[c] = γ/√(σ²+ε); bias'[c] = (b−μ)·scale+β. */
void oi__fold_bn_scale(const double *gamma, const double *var, double eps, size_t c,
                       double *scale);

/* ---- matching (match.c) ------------------------------------------------- */

typedef struct oi_donor_plan oi_donor_plan;
/* untie: a shared constant tensor (an exporter's merge) whose readers the
 * donor gives different values takes its first reader's, the plan's
 * untying giving the others their own (else: mismatched). */
int oi__donor_plan_begin(oi_model *m, const oi_donor *d, double eps, bool untie,
                         oi_donor_plan **out);
/* Whether two donor sources give the same n values. */
bool oi__donor_same(const oi_donor_src *a, const oi_donor_src *b, uint64_t n);
/* 1: t gets the donor's values (*f set, t->info's donor fields set);
 * 0: not (t->info.donor_status says missing or mismatched); <0 error. */
int oi__donor_match(oi_model *m, oi_donor_plan *p, oi_tensor *t, struct oi_fill *f);
/* The unexpected donor tensors into the model; the counts. */
int oi__donor_plan_end(oi_model *m, oi_donor_plan *p, size_t *matched);
void oi__donor_plan_free(oi_donor_plan *p);
/* The module path a node's scope names: "/layer1/layer1.0/conv1/Conv" ->
 * "layer1.0.conv1"; false if it names none. */
bool oi__module_path(const char *node, char *out, size_t cap);
/* fnmatch-like glob with one capture: what the first '*' matched. */
bool oi__glob_capture(const char *glob, const char *s, char *cap, size_t capn);
/* The donor's sha256 in hex (of a folder: of its .npy files' names and
 * bytes in name order) into *hex, computed once: waits for a hash started
 * by oi__donor_digest_start, else hashes it here. OI_EIO if the donor
 * cannot be read, or if *cancel becomes nonzero meanwhile ("interrupted"). */
int oi__donor_digest(oi_donor *d, const volatile int *cancel, const char **hex);
/* Start hashing the donor on a thread of its own (once; if no thread can be
 * had, oi__donor_digest hashes when asked). */
void oi__donor_digest_start(oi_donor *d);
/* The digest if it is done already, else NULL. */
const char *oi__donor_digest_ready(oi_donor *d);
/* What provenance holds until the digest is known: as long as one, and no
 * digest (not hex). */
#define OI_DIGEST_PENDING \
	"****************************************************************"

#endif
