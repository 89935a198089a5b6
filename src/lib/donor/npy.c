/* NumPy's formats: .npy (magic, version, a Python dict literal header,
 * then the array), .npz (a zip of NAME.npy members, stored or deflated,
 * zip64 where numpy needs it) and a folder of NAME.npy files. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "donor.h"
#include "../npyzip.h"

/* The ONNX data type of numpy's kind and item size. */
static int npy_dtype(const oi_npy *h)
{
	switch (h->kind) {
	case 'f':
		return h->itemsize == 2 ? OI_DTYPE_FLOAT16 : h->itemsize == 4 ? OI_DTYPE_FLOAT
		                                                              : OI_DTYPE_DOUBLE;
	case 'i':
		return h->itemsize == 1 ? OI_DTYPE_INT8 : h->itemsize == 2 ? OI_DTYPE_INT16
		       : h->itemsize == 4 ? OI_DTYPE_INT32 : OI_DTYPE_INT64;
	case 'u':
		return h->itemsize == 1 ? OI_DTYPE_UINT8 : h->itemsize == 2 ? OI_DTYPE_UINT16
		       : h->itemsize == 4 ? OI_DTYPE_UINT32 : OI_DTYPE_UINT64;
	default:
		return OI_DTYPE_BOOL;
	}
}

int oi__donor_parse_npy(oi_donor *d, const char *name, const uint8_t *p, uint64_t len,
                        const char *what)
{
	oi_npy h;
	int rc = oi__npy_header(p, len, what, &h);
	if (rc)
		return rc;
	oi_donor_tensor *t = oi__donor_add(d, name, strlen(name));
	if (!t)
		return OI_ENOMEM;
	t->dtype = t->orig_dtype = npy_dtype(&h);
	t->ndim = h.ndim;
	t->numel = h.numel;
	t->dims = oi__calloc(h.ndim ? h.ndim : 1, sizeof *t->dims);
	if (!t->dims)
		return OI_ENOMEM;
	memcpy(t->dims, h.dims, h.ndim * sizeof *h.dims);
	t->data = p + h.off;
	if (oi__npy_needs_copy(&h)) {
		/* Fortran order or big-endian: a C-order, little-endian copy */
		t->own = malloc(h.bytes ? (size_t)h.bytes : 1);
		if (!t->own)
			return oi__fail(OI_ENOMEM, "%s: out of memory", what);
		oi__npy_to_c(t->data, t->own, &h);
		t->data = t->own;
	}
	return 0;
}

/* ---- .npz --------------------------------------------------------------- */

static int npz_member(oi_donor *d, const uint8_t *p, const oi_zip_member *z)
{
	char what[600], name[512];
	if (z->name_len < 5 || z->name_len >= sizeof name ||
	    memcmp(z->name + z->name_len - 4, ".npy", 4))
		return oi__fail(OI_EFORMAT, "npz: member '%.*s' is not NAME.npy", (int)z->name_len,
		                z->name);
	memcpy(name, z->name, z->name_len - 4);
	name[z->name_len - 4] = 0;
	if (memchr(name, 0, z->name_len - 4))
		return oi__fail(OI_EFORMAT, "npz: a member name with a NUL");
	snprintf(what, sizeof what, "npz member '%s.npy'", name);
	const uint8_t *bytes;
	uint8_t *buf;
	/* a stored member is left where it lies, unread, for the kernel copy */
	int rc = oi__zip_member_bytes(p, z, what, false, &bytes, &buf);
	if (!rc)
		rc = oi__donor_parse_npy(d, name, bytes, z->usize, what);
	if (rc) {
		free(buf);
		return rc;
	}
	oi_donor_tensor *t = &d->t[d->n - 1];
	if (!buf) {
		/* stored: the elements lie in the archive's mapping, unless copied */
		if (!t->own) {
			t->map = p;
			t->map_len = 0; /* pages shared with other members: kept */
		}
		return 0;
	}
	if (t->own)
		free(buf); /* the copy is all the tensor needs */
	else
		t->own = buf; /* the tensor's elements lie in it */
	return 0;
}

int oi__donor_read_npz(oi_donor *d, const uint8_t *p, uint64_t len)
{
	oi_zip_member *z;
	size_t n;
	int rc = oi__zip_members(p, len, "npz", &z, &n);
	for (size_t i = 0; i < n && !rc; i++)
		rc = npz_member(d, p, &z[i]);
	free(z);
	return rc;
}

/* ---- a folder of NAME.npy ----------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

enum { KEEP_FD_MIN = 256 << 10, KEEP_FD_MAX = 64 }; /* as the kernel copy's threshold */

static size_t kept_fds(const oi_donor *d)
{
	size_t k = 0;
	for (size_t i = 0; i < d->n_regions; i++)
		k += d->regions[i].fd >= 0;
	return k;
}

static int npy_file(oi_donor *d, const char *dir, const char *file)
{
	char *path = oi__asprintf("%s/%s", dir, file);
	if (!path)
		return OI_ENOMEM;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	int rc = 0;
	if (fd < 0 || fstat(fd, &st))
		rc = oi__fail(OI_EIO, "%s: %s", path, strerror(errno));
	void *p = NULL;
	uint64_t len = rc ? 0 : (uint64_t)st.st_size;
	if (!rc && len) {
		p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			p = NULL;
			rc = oi__fail(OI_EIO, "%s: cannot map it: %s", path, strerror(errno));
		} else {
			/* large files keep their descriptor for the kernel copy; a
			 * folder of thousands of small ones must not run out of them */
			bool keep_fd = len >= KEEP_FD_MIN && kept_fds(d) < KEEP_FD_MAX;
			rc = oi__donor_keep_region(d, p, len, keep_fd ? fd : -1);
			if (keep_fd)
				fd = -1; /* the region's now */
		}
	}
	if (fd >= 0)
		close(fd);
	if (!rc) {
		size_t n = strlen(file) - 4;
		char *name = oi__asprintf("%.*s", (int)n, file);
		rc = name ? oi__donor_parse_npy(d, name, p, len, path) : OI_ENOMEM;
		if (!rc) {
			d->t[d->n - 1].file_map = p; /* for the digest */
			d->t[d->n - 1].file_len = len;
		}
		/* the elements lie in the file's mapping, unless they were copied
		 * into C order */
		oi_donor_region *r = p ? &d->regions[d->n_regions - 1] : NULL;
		if (!rc && !d->t[d->n - 1].own) {
			d->t[d->n - 1].map = p;
			d->t[d->n - 1].map_len = len;
			if (r)
				oi__donor_mark_file(d, d->n - 1, p, len, r->fd);
		} else if (!rc && r && r->fd >= 0) {
			/* nothing copies from the file: its descriptor goes back to
			 * the pool of those kept */
			close(r->fd);
			r->fd = -1;
		}
		free(name);
	}
	free(path);
	return rc;
}

int oi__donor_read_npy_dir(oi_donor *d, const char *dir)
{
	DIR *dd = opendir(dir);
	if (!dd)
		return oi__fail(OI_EIO, "%s", strerror(errno));
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	struct dirent *e;
	while (!rc && (e = readdir(dd))) {
		size_t l = strlen(e->d_name);
		if (l < 5 || strcmp(e->d_name + l - 4, ".npy") || e->d_name[0] == '.')
			continue;
		rc = OI_GROW(names, n, cap);
		if (!rc && !(names[n++] = oi__strdup(e->d_name)))
			rc = OI_ENOMEM;
	}
	closedir(dd);
	if (!rc && n)
		qsort(names, n, sizeof *names, cmp_str);
	for (size_t i = 0; i < n && !rc; i++)
		rc = npy_file(d, dir, names[i]);
	if (!rc && !n)
		rc = oi__fail(OI_EFORMAT, "a folder with no NAME.npy files");
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}
