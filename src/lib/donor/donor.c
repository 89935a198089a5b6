/* See donor.h: opening a donor, its index by name, element access, the
 * name map and the digest for provenance. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "donor.h"
#include "../sha256.h"
#include "../tensor.h"

oi_donor_tensor *oi__donor_add(oi_donor *d, const char *name, size_t name_len)
{
	if (OI_GROW(d->t, d->n, d->cap))
		return NULL;
	oi_donor_tensor *t = &d->t[d->n];
	memset(t, 0, sizeof *t);
	t->onnx = -1;
	t->fd = -1;
	t->name = malloc(name_len + 1);
	if (!t->name) {
		oi__fail(OI_ENOMEM, "out of memory");
		return NULL;
	}
	memcpy(t->name, name, name_len);
	t->name[name_len] = 0;
	d->n++;
	return t;
}

int oi__donor_keep_region(oi_donor *d, void *p, size_t len, int fd)
{
	if (OI_GROW(d->regions, d->n_regions, d->cap_regions)) {
		munmap(p, len);
		if (fd >= 0)
			close(fd);
		return OI_ENOMEM;
	}
	d->regions[d->n_regions++] = (oi_donor_region){ p, len, fd };
	return 0;
}

void oi__donor_mark_file(oi_donor *d, size_t from, const uint8_t *p, uint64_t len, int fd)
{
	for (size_t i = from; i < d->n; i++) {
		oi_donor_tensor *t = &d->t[i];
		if (t->map == p && t->data >= p && t->data <= p + len) {
			t->fd = fd;
			t->file = d->path;
		}
	}
}

size_t oi__dtype_size_any(int dtype)
{
	unsigned bits = oi__dtype_bits(dtype);
	return bits >= 8 ? bits / 8 : 0;
}

bool oi__donor_dtype_usable(int dtype)
{
	switch (dtype) {
	case OI_DTYPE_FLOAT: case OI_DTYPE_DOUBLE: case OI_DTYPE_FLOAT16: case OI_DTYPE_BFLOAT16:
	case OI_DTYPE_INT8: case OI_DTYPE_UINT8: case OI_DTYPE_INT16: case OI_DTYPE_UINT16:
	case OI_DTYPE_INT32: case OI_DTYPE_UINT32: case OI_DTYPE_INT64: case OI_DTYPE_UINT64:
	case OI_DTYPE_BOOL:
		return true;
	default:
		return false;
	}
}

double oi__donor_elem(const oi_donor_tensor *t, uint64_t i)
{
	const uint8_t *p = t->data;
	switch (t->dtype) {
	case OI_DTYPE_FLOAT: { float v; memcpy(&v, p + 4 * i, 4); return v; }
	case OI_DTYPE_DOUBLE: { double v; memcpy(&v, p + 8 * i, 8); return v; }
	case OI_DTYPE_FLOAT16: { uint16_t v; memcpy(&v, p + 2 * i, 2); return oi__f16_to_f64(v); }
	case OI_DTYPE_BFLOAT16: { uint16_t v; memcpy(&v, p + 2 * i, 2); return oi__bf16_to_f64(v); }
	case OI_DTYPE_INT8: return (int8_t)p[i];
	case OI_DTYPE_UINT8: return p[i];
	case OI_DTYPE_BOOL: return p[i] != 0;
	case OI_DTYPE_INT16: { int16_t v; memcpy(&v, p + 2 * i, 2); return v; }
	case OI_DTYPE_UINT16: { uint16_t v; memcpy(&v, p + 2 * i, 2); return v; }
	case OI_DTYPE_INT32: { int32_t v; memcpy(&v, p + 4 * i, 4); return v; }
	case OI_DTYPE_UINT32: { uint32_t v; memcpy(&v, p + 4 * i, 4); return v; }
	case OI_DTYPE_INT64: { int64_t v; memcpy(&v, p + 8 * i, 8); return (double)v; }
	case OI_DTYPE_UINT64: { uint64_t v; memcpy(&v, p + 8 * i, 8); return (double)v; }
	default: return 0;
	}
}

static const oi_donor *sort_ctx;
static int by_name(const void *a, const void *b)
{
	return strcmp(sort_ctx->t[*(const size_t *)a].name, sort_ctx->t[*(const size_t *)b].name);
}

/* The name index; a name twice is an error (which would be meant?). */
static int index_names(oi_donor *d)
{
	d->sorted = oi__calloc(d->n ? d->n : 1, sizeof *d->sorted);
	if (!d->sorted)
		return OI_ENOMEM;
	for (size_t i = 0; i < d->n; i++)
		d->sorted[i] = i;
	/* qsort has no context argument in C11: opening is serialized by
	 * nothing else, so a lock keeps the static safe */
	static pthread_mutex_t sort_lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&sort_lock);
	sort_ctx = d;
	qsort(d->sorted, d->n, sizeof *d->sorted, by_name);
	pthread_mutex_unlock(&sort_lock);
	for (size_t i = 1; i < d->n; i++)
		if (!strcmp(d->t[d->sorted[i]].name, d->t[d->sorted[i - 1]].name))
			return oi__fail(OI_EFORMAT, "tensor '%s' is in it twice", d->t[d->sorted[i]].name);
	return 0;
}

const oi_donor_tensor *oi__donor_find(const oi_donor *d, const char *name)
{
	size_t lo = 0, hi = d->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(d->t[d->sorted[mid]].name, name);
		if (!c)
			return &d->t[d->sorted[mid]];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static bool looks_safetensors(const uint8_t *p, uint64_t len)
{
	/* 8 bytes of header length, then the JSON header */
	return len >= 10 && p[8] == '{';
}

/* The format from the first bytes; 0 for "try ONNX". */
static int sniff(const uint8_t *p, uint64_t len)
{
	if (len >= 4 && p[0] == 'P' && p[1] == 'K' &&
	    ((p[2] == 3 && p[3] == 4) || (p[2] == 5 && p[3] == 6)))
		return OI_DONOR_NPZ;
	if (looks_safetensors(p, len))
		return OI_DONOR_SAFETENSORS;
	return 0;
}

static int read_bytes(oi_donor *d, const uint8_t *p, uint64_t len)
{
	int fmt = sniff(p, len);
	d->format = fmt;
	if (fmt == OI_DONOR_NPZ)
		return oi__donor_read_npz(d, p, len);
	if (fmt == OI_DONOR_SAFETENSORS)
		return oi__donor_read_safetensors(d, p, len);
	if (len >= 6 && !memcmp(p, "\x93NUMPY", 6))
		return oi__fail(OI_EUNSUPPORTED, "a single .npy file: give the folder that holds "
		                "NAME.npy files, or an .npz archive");
	return -1; /* not ours: ONNX decides */
}

static int finish(oi_donor *d)
{
	int rc = index_names(d);
	if (!rc && !d->n)
		rc = oi__fail(OI_EFORMAT, "it holds no tensors");
	d->ordered = d->format == OI_DONOR_NPZ || d->format == OI_DONOR_ONNX ||
	             d->format == OI_DONOR_SAFETENSORS;
	return rc;
}

static oi_donor *donor_new(const char *path)
{
	oi_donor *d = oi__calloc(1, sizeof *d);
	if (!d)
		return NULL;
	d->path = oi__strdup(path);
	if (!d->path) {
		free(d);
		return NULL;
	}
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->digested, NULL);
	return d;
}

int oi__donor_open_bytes(oi_donor **out, const uint8_t *p, size_t len, const char *name)
{
	*out = NULL;
	oi_donor *d = donor_new(name);
	if (!d)
		return OI_ENOMEM;
	int rc = read_bytes(d, p, len);
	if (rc == -1)
		rc = oi__fail(OI_EFORMAT, "not a safetensors file, npz archive or .npy folder");
	if (!rc)
		rc = finish(d);
	if (rc) {
		char pre[512];
		snprintf(pre, sizeof pre, "%s", name);
		oi__error_prefix(pre);
		oi_donor_free(d);
		return rc;
	}
	*out = d;
	return oi__ok();
}

static int open_file(oi_donor *d, const char *path)
{
	struct stat st;
	if (stat(path, &st))
		return oi__fail(OI_EIO, "%s", strerror(errno));
	if (S_ISDIR(st.st_mode)) {
		d->format = OI_DONOR_NPY_DIR;
		return oi__donor_read_npy_dir(d, path);
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return oi__fail(OI_EIO, "%s", strerror(errno));
	if (fstat(fd, &st)) {
		close(fd);
		return oi__fail(OI_EIO, "%s", strerror(errno));
	}
	uint64_t len = (uint64_t)st.st_size;
	void *p = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
	if (p == MAP_FAILED || !p) {
		int e = errno;
		close(fd);
		if (p == MAP_FAILED)
			return oi__fail(OI_EIO, "cannot map it: %s", strerror(e));
		fd = -1;
	}
	int rc = p ? oi__donor_keep_region(d, p, len, fd) : 0;
	if (rc)
		return rc;
	rc = read_bytes(d, p, len);
	if (rc == 0)
		oi__donor_mark_file(d, 0, p, len, fd);
	if (rc != -1)
		return rc;
	/* not a tensor file: an ONNX model (which maps itself) */
	d->format = OI_DONOR_ONNX;
	return oi__donor_read_onnx(d);
}

int oi_donor_open(oi_donor **out, const char *path)
{
	if (!out || !path)
		return oi__fail(OI_EARG, "oi_donor_open: NULL argument");
	*out = NULL;
	oi_donor *d = donor_new(path);
	if (!d)
		return OI_ENOMEM;
	int rc = open_file(d, path);
	if (!rc)
		rc = finish(d);
	if (rc) {
		/* the ONNX reader's messages name the file already */
		if (d->format != OI_DONOR_ONNX || rc == OI_EFORMAT) {
			char pre[4096];
			snprintf(pre, sizeof pre, "%s", path);
			if (!strstr(oi_last_error(), path))
				oi__error_prefix(pre);
		}
		oi_donor_free(d);
		return rc;
	}
	*out = d;
	return oi__ok();
}

void oi_donor_free(oi_donor *d)
{
	if (!d)
		return;
	/* first: the hash reads the descriptors freed below */
	if (d->digest_thread) {
		atomic_store(&d->digest_stop, true);
		pthread_join(d->digester, NULL);
	}
	for (size_t i = 0; i < d->n; i++) {
		free(d->t[i].name);
		free(d->t[i].dims);
		free(d->t[i].own);
	}
	free(d->t);
	free(d->sorted);
	for (size_t i = 0; i < d->n_regions; i++) {
		munmap(d->regions[i].p, d->regions[i].len);
		if (d->regions[i].fd >= 0)
			close(d->regions[i].fd);
	}
	free(d->regions);
	oi_model_free(d->onnx);
	for (size_t i = 0; i < d->n_map; i++) {
		free(d->map_key[i]);
		free(d->map_val[i]);
	}
	free(d->map_key);
	free(d->map_val);
	pthread_cond_destroy(&d->digested);
	pthread_mutex_destroy(&d->lock);
	free(d->path);
	free(d);
}

const char *oi_donor_format(const oi_donor *d)
{
	switch (d ? d->format : 0) {
	case OI_DONOR_SAFETENSORS: return "safetensors";
	case OI_DONOR_NPZ: return "npz";
	case OI_DONOR_NPY_DIR: return "npy";
	case OI_DONOR_ONNX: return "onnx";
	default: return "unknown";
	}
}

size_t oi_donor_tensor_count(const oi_donor *d)
{
	return d ? d->n : 0;
}

const char *oi_donor_tensor_name(const oi_donor *d, size_t i)
{
	return d && i < d->n ? d->t[i].name : NULL;
}

int oi_donor_set_map(oi_donor *d, const char *json, const char *name)
{
	if (!d || !json)
		return oi__fail(OI_EARG, "oi_donor_set_map: NULL argument");
	if (!name)
		name = "map file";
	json_error_t err;
	json_t *o = json_loads(json, JSON_REJECT_DUPLICATES, &err);
	if (!o)
		return oi__fail(OI_EARG, "%s: not JSON: %s (line %d)", name, err.text, err.line);
	int rc = 0;
	if (!json_is_object(o))
		rc = oi__fail(OI_EARG, "%s: must be a JSON object {\"target name or glob\": "
		              "\"donor name\", ...}", name);
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v) {
		if (rc)
			break;
		if (!json_is_string(v))
			rc = oi__fail(OI_EARG, "%s: the value of \"%s\" must be a donor tensor name",
			              name, k);
	}
	size_t n = rc ? 0 : json_object_size(o);
	char **keys = rc ? NULL : oi__calloc(n ? n : 1, sizeof *keys);
	char **vals = keys ? oi__calloc(n ? n : 1, sizeof *vals) : NULL;
	if (!rc && (!keys || !vals))
		rc = OI_ENOMEM;
	size_t i = 0;
	if (!rc)
		json_object_foreach(o, k, v) {
			keys[i] = oi__strdup(k);
			vals[i] = oi__strdup(json_string_value(v));
			i++;
		}
	json_decref(o);
	for (size_t j = 0; !rc && j < n; j++)
		if (!keys[j] || !vals[j])
			rc = OI_ENOMEM;
	if (rc) {
		for (size_t j = 0; keys && j < i; j++) {
			free(keys[j]);
			free(vals[j]);
		}
		free(keys);
		free(vals);
		return rc;
	}
	for (size_t j = 0; j < d->n_map; j++) {
		free(d->map_key[j]);
		free(d->map_val[j]);
	}
	free(d->map_key);
	free(d->map_val);
	d->map_key = keys;
	d->map_val = vals;
	d->n_map = n;
	return oi__ok();
}

/* ---- the digest for provenance ------------------------------------------- */

enum { DIGEST_NONE, DIGEST_RUNNING, DIGEST_DONE };

/* What may stop a hash: the donor being freed, the save that waits for it
 * being cancelled. */
typedef struct digest_stop {
	oi_donor *d;
	const volatile int *cancel;
} digest_stop;

static bool digest_stopped(void *arg)
{
	const digest_stop *s = arg;
	return atomic_load_explicit(&s->d->digest_stop, memory_order_relaxed) ||
	       (s->cancel && *s->cancel);
}

/* Hash one file into c: the descriptor the donor keeps (fd), else the bytes
 * mapped at map (len), else the file at path. The descriptor and mapping
 * are the file whose bytes the save copies, even if path names another one
 * by now. 0, an errno, or -1 if stopped. */
static int digest_file(digest_stop *stop, int fd, const uint8_t *map, uint64_t len,
                       const char *path, oi_sha256_ctx *c)
{
	enum { STEP = 1 << 20 };
	if (fd < 0 && map) {
		for (uint64_t off = 0; off < len; off += STEP) {
			if (digest_stopped(stop))
				return -1;
			oi__sha256_update(c, map + off, (size_t)(len - off < STEP ? len - off : STEP));
		}
		return 0;
	}
	int own = fd < 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	if (fd < 0 && (fd = own) < 0)
		return errno;
	int rc = oi__sha256_fd(c, fd, digest_stopped, stop);
	if (own >= 0)
		close(own);
	return rc;
}

/* Hash the donor into hex[65]: 0, an errno, or -1 if stopped. Reads only
 * what opening fixed (path, names, descriptors, mappings), so it runs
 * without the lock. */
static int digest_hex(oi_donor *d, char *hex, const volatile int *cancel)
{
	digest_stop stop = { d, cancel };
	oi_sha256_ctx c;
	oi__sha256_init(&c);
	int rc = 0;
	if (d->format == OI_DONOR_NPY_DIR) {
		for (size_t i = 0; i < d->n && !rc; i++) {
			const oi_donor_tensor *t = &d->t[d->sorted[i]];
			char *p = oi__asprintf("%s/%s.npy", d->path, t->name);
			oi__sha256_update(&c, t->name, strlen(t->name) + 1);
			rc = p ? digest_file(&stop, t->fd, t->file_map, t->file_len, p, &c) : ENOMEM;
			free(p);
		}
	} else {
		int fd = d->onnx ? d->onnx->fd : d->n_regions ? d->regions[0].fd : -1;
		rc = digest_file(&stop, fd, NULL, 0, d->path, &c);
	}
	oi__sha256_final_hex(&c, hex);
	if (rc)
		hex[0] = 0;
	return rc;
}

/* Called with the lock held. */
static void digest_done(oi_donor *d, const char *hex, int err)
{
	memcpy(d->sha256, hex, sizeof d->sha256);
	d->digest_errno = err;
	d->digest_state = DIGEST_DONE;
	pthread_cond_broadcast(&d->digested);
}

static void *digest_thread(void *arg)
{
	oi_donor *d = arg;
	char hex[65];
	int rc = digest_hex(d, hex, NULL);
	pthread_mutex_lock(&d->lock);
	digest_done(d, hex, rc);
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

void oi__donor_digest_start(oi_donor *d)
{
	pthread_mutex_lock(&d->lock);
	if (d->digest_state == DIGEST_NONE && !d->digest_thread &&
	    pthread_create(&d->digester, NULL, digest_thread, d) == 0) {
		d->digest_thread = true;
		d->digest_state = DIGEST_RUNNING;
	}
	pthread_mutex_unlock(&d->lock);
}

const char *oi__donor_digest_ready(oi_donor *d)
{
	pthread_mutex_lock(&d->lock);
	bool done = d->digest_state == DIGEST_DONE;
	pthread_mutex_unlock(&d->lock);
	return done && d->sha256[0] ? d->sha256 : NULL;
}

int oi__donor_digest(oi_donor *d, const volatile int *cancel, const char **hex)
{
	*hex = NULL;
	pthread_mutex_lock(&d->lock);
	while (d->digest_state != DIGEST_DONE) {
		if (cancel && *cancel) {
			pthread_mutex_unlock(&d->lock);
			return oi__fail(OI_EIO, "interrupted");
		}
		if (d->digest_state == DIGEST_RUNNING) {
			/* woken when it is done; a cancel is seen within 50 ms */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 50000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&d->digested, &d->lock, &ts);
			continue;
		}
		/* nobody hashes it: this thread does, outside the lock */
		d->digest_state = DIGEST_RUNNING;
		pthread_mutex_unlock(&d->lock);
		char h[65];
		int rc = digest_hex(d, h, cancel);
		pthread_mutex_lock(&d->lock);
		if (rc == -1) {
			d->digest_state = DIGEST_NONE; /* another may try */
			pthread_cond_broadcast(&d->digested);
		} else {
			digest_done(d, h, rc);
		}
	}
	int err = d->digest_errno;
	pthread_mutex_unlock(&d->lock);
	if (!d->sha256[0])
		return oi__fail(OI_EIO, "cannot read the donor %s for the sha256 that provenance "
		                "records: %s", d->path, err > 0 ? strerror(err) : "stopped");
	*hex = d->sha256;
	return 0;
}
