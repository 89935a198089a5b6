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
#include <zlib.h>

#include "donor.h"

/* The value text after 'key': in the header dict, or NULL. */
static const char *dict_value(const char *h, size_t n, const char *key)
{
	size_t k = strlen(key);
	for (size_t i = 0; i + k + 2 < n; i++) {
		if ((h[i] == '\'' || h[i] == '"') && !memcmp(h + i + 1, key, k) && h[i + 1 + k] == h[i]) {
			const char *p = h + i + k + 2;
			while (p < h + n && (*p == ' ' || *p == ':'))
				p++;
			return p < h + n ? p : NULL;
		}
	}
	return NULL;
}

static int npy_descr(const char *p, const char *end, int *dtype, const char *what)
{
	if (!p || (*p != '\'' && *p != '"'))
		return oi__fail(OI_EFORMAT, "%s: no dtype ('descr') in the header", what);
	char q = *p++;
	char s[16] = "";
	size_t n = 0;
	while (p < end && *p != q && n < sizeof s - 1)
		s[n++] = *p++;
	s[n] = 0;
	if (p >= end || *p != q)
		return oi__fail(OI_EFORMAT, "%s: bad dtype in the header", what);
	static const struct { const char *n; int d; } tab[] = {
		{ "f4", OI_DTYPE_FLOAT }, { "f8", OI_DTYPE_DOUBLE }, { "f2", OI_DTYPE_FLOAT16 },
		{ "i1", OI_DTYPE_INT8 }, { "u1", OI_DTYPE_UINT8 }, { "i2", OI_DTYPE_INT16 },
		{ "u2", OI_DTYPE_UINT16 }, { "i4", OI_DTYPE_INT32 }, { "u4", OI_DTYPE_UINT32 },
		{ "i8", OI_DTYPE_INT64 }, { "u8", OI_DTYPE_UINT64 }, { "b1", OI_DTYPE_BOOL },
	};
	if (n == 3 && s[0] == '>' && strcmp(s + 1, "i1") && strcmp(s + 1, "u1") &&
	    strcmp(s + 1, "b1"))
		return oi__fail(OI_EUNSUPPORTED, "%s: big-endian arrays ('%s') are not supported",
		                what, s);
	if (n == 3 && (s[0] == '<' || s[0] == '|' || s[0] == '='))
		for (size_t i = 0; i < sizeof tab / sizeof *tab; i++)
			if (!strcmp(s + 1, tab[i].n)) {
				*dtype = tab[i].d;
				return 0;
			}
	/* ml_dtypes' bfloat16 is written as raw 2-byte void */
	if (!strcmp(s, "<V2") || !strcmp(s, "|V2"))
		return oi__fail(OI_EUNSUPPORTED, "%s: dtype '%s' (raw bytes; bfloat16?) is not "
		                "supported: use safetensors", what, s);
	return oi__fail(OI_EFORMAT, "%s: unsupported dtype '%s'", what, s);
}

static int npy_shape(const char *p, const char *end, oi_donor_tensor *t, const char *what)
{
	if (!p || *p != '(')
		return oi__fail(OI_EFORMAT, "%s: no shape in the header", what);
	int64_t dims[64];
	size_t nd = 0;
	p++;
	for (;;) {
		while (p < end && (*p == ' ' || *p == ','))
			p++;
		if (p >= end)
			return oi__fail(OI_EFORMAT, "%s: bad shape in the header", what);
		if (*p == ')')
			break;
		if (*p < '0' || *p > '9' || nd == 64)
			return oi__fail(OI_EFORMAT, "%s: bad shape in the header", what);
		uint64_t v = 0;
		while (p < end && *p >= '0' && *p <= '9') {
			if (v > (uint64_t)INT64_MAX / 10)
				return oi__fail(OI_EFORMAT, "%s: bad shape in the header", what);
			v = v * 10 + (uint64_t)(*p++ - '0');
		}
		dims[nd++] = (int64_t)v;
	}
	t->ndim = nd;
	t->dims = oi__calloc(nd ? nd : 1, sizeof *t->dims);
	if (!t->dims)
		return OI_ENOMEM;
	uint64_t numel = 1;
	for (size_t i = 0; i < nd; i++) {
		t->dims[i] = dims[i];
		if (!oi__mul_u64(numel, (uint64_t)dims[i], &numel))
			return oi__fail(OI_EFORMAT, "%s: shape too large", what);
	}
	t->numel = numel;
	return 0;
}

int oi__donor_parse_npy(oi_donor *d, const char *name, const uint8_t *p, uint64_t len,
                        const char *what)
{
	if (len < 10 || memcmp(p, "\x93NUMPY", 6))
		return oi__fail(OI_EFORMAT, "%s: not a .npy array", what);
	uint64_t hlen, hoff;
	if (p[6] == 1) {
		hlen = (uint64_t)p[8] | (uint64_t)p[9] << 8;
		hoff = 10;
	} else if (p[6] == 2 || p[6] == 3) {
		if (len < 12)
			return oi__fail(OI_EFORMAT, "%s: truncated .npy header", what);
		hlen = (uint64_t)p[8] | (uint64_t)p[9] << 8 | (uint64_t)p[10] << 16 |
		       (uint64_t)p[11] << 24;
		hoff = 12;
	} else {
		return oi__fail(OI_EUNSUPPORTED, "%s: .npy version %u", what, p[6]);
	}
	if (hlen > len - hoff)
		return oi__fail(OI_EFORMAT, "%s: .npy header past the end (%llu bytes)", what,
		                (unsigned long long)hlen);
	const char *h = (const char *)p + hoff, *end = h + hlen;
	const char *fo = dict_value(h, hlen, "fortran_order");
	if (!fo || (strncmp(fo, "False", 5) && strncmp(fo, "True", 4)))
		return oi__fail(OI_EFORMAT, "%s: no fortran_order in the .npy header", what);
	if (!strncmp(fo, "True", 4))
		return oi__fail(OI_EUNSUPPORTED, "%s: a Fortran-order array; save it in C order "
		                "(numpy.ascontiguousarray)", what);
	oi_donor_tensor *t = oi__donor_add(d, name, strlen(name));
	if (!t)
		return OI_ENOMEM;
	int rc = npy_descr(dict_value(h, hlen, "descr"), end, &t->dtype, what);
	if (!rc)
		rc = npy_shape(dict_value(h, hlen, "shape"), end, t, what);
	if (rc)
		return rc;
	t->orig_dtype = t->dtype;
	uint64_t bytes, body = len - hoff - hlen;
	if (!oi__mul_u64(t->numel, oi__dtype_size_any(t->dtype), &bytes) || bytes != body)
		return oi__fail(OI_EFORMAT, "%s: %llu bytes of data for %llu elements of %s", what,
		                (unsigned long long)body, (unsigned long long)t->numel,
		                oi_dtype_name(t->dtype));
	t->data = p + hoff + hlen;
	return 0;
}

/* ---- zip ---------------------------------------------------------------- */

static uint16_t u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t u32(const uint8_t *p) { return (uint32_t)u16(p) | (uint32_t)u16(p + 2) << 16; }
static uint64_t u64(const uint8_t *p) { return (uint64_t)u32(p) | (uint64_t)u32(p + 4) << 32; }

typedef struct zip_member {
	uint64_t csize, usize, off, data;
	uint32_t crc;
	uint16_t method, flags;
	const char *name;
	size_t name_len;
} zip_member;

/* The end of central directory (and its zip64 form): entries, cd offset. */
static int zip_eocd(const uint8_t *p, uint64_t len, uint64_t *count, uint64_t *cd_off,
                    uint64_t *cd_size)
{
	if (len < 22)
		return oi__fail(OI_EFORMAT, "npz: truncated zip (no end of central directory)");
	uint64_t lo = len > 22 + 65535 ? len - 22 - 65535 : 0;
	for (uint64_t i = len - 22 + 1; i-- > lo;) {
		if (u32(p + i) != 0x06054b50)
			continue;
		if (u16(p + i + 4) || u16(p + i + 6))
			return oi__fail(OI_EUNSUPPORTED, "npz: a zip split over several disks");
		*count = u16(p + i + 10);
		*cd_size = u32(p + i + 12);
		*cd_off = u32(p + i + 16);
		if ((*count == 0xFFFF || *cd_off == 0xFFFFFFFF || *cd_size == 0xFFFFFFFF) && i >= 20 &&
		    u32(p + i - 20) == 0x07064b50) {
			uint64_t z = u64(p + i - 20 + 8);
			if (z > len - 56 || u32(p + z) != 0x06064b50)
				return oi__fail(OI_EFORMAT, "npz: bad zip64 end of central directory");
			*count = u64(p + z + 32);
			*cd_size = u64(p + z + 40);
			*cd_off = u64(p + z + 48);
		}
		if (*cd_off > len || *cd_size > len - *cd_off)
			return oi__fail(OI_EFORMAT, "npz: central directory out of the file");
		return 0;
	}
	return oi__fail(OI_EFORMAT, "npz: truncated zip (no end of central directory)");
}

/* One central directory entry at p[*at]. */
static int zip_entry(const uint8_t *p, uint64_t len, uint64_t end, uint64_t *at, zip_member *z)
{
	uint64_t i = *at;
	if (end - i < 46 || u32(p + i) != 0x02014b50)
		return oi__fail(OI_EFORMAT, "npz: bad central directory entry");
	z->flags = u16(p + i + 8);
	z->method = u16(p + i + 10);
	z->crc = u32(p + i + 16);
	z->csize = u32(p + i + 20);
	z->usize = u32(p + i + 24);
	size_t nl = u16(p + i + 28), el = u16(p + i + 30), cl = u16(p + i + 32);
	if (u16(p + i + 34))
		return oi__fail(OI_EUNSUPPORTED, "npz: a zip split over several disks");
	z->off = u32(p + i + 42);
	if (end - i - 46 < nl + el + cl)
		return oi__fail(OI_EFORMAT, "npz: bad central directory entry");
	z->name = (const char *)p + i + 46;
	z->name_len = nl;
	/* zip64 extra: the 64-bit values of the fields that are all ones, in order */
	const uint8_t *e = p + i + 46 + nl, *ee = e + el;
	while (ee - e >= 4) {
		uint16_t id = u16(e), sz = u16(e + 2);
		if ((size_t)(ee - e - 4) < sz)
			break;
		if (id == 1) {
			const uint8_t *q = e + 4, *qe = q + sz;
			if (z->usize == 0xFFFFFFFF && qe - q >= 8) { z->usize = u64(q); q += 8; }
			if (z->csize == 0xFFFFFFFF && qe - q >= 8) { z->csize = u64(q); q += 8; }
			if (z->off == 0xFFFFFFFF && qe - q >= 8) { z->off = u64(q); q += 8; }
		}
		e += 4 + sz;
	}
	*at = i + 46 + nl + el + cl;
	if (z->flags & 1)
		return oi__fail(OI_EUNSUPPORTED, "npz: encrypted member");
	if (z->off > len - 30 || len < 30 || u32(p + z->off) != 0x04034b50)
		return oi__fail(OI_EFORMAT, "npz: member '%.*s': no local header at %llu",
		                (int)nl, z->name, (unsigned long long)z->off);
	uint64_t data = z->off + 30 + u16(p + z->off + 26) + u16(p + z->off + 28);
	if (data > len || z->csize > len - data)
		return oi__fail(OI_EFORMAT, "npz: member '%.*s' runs past the end of the file",
		                (int)nl, z->name);
	z->data = data;
	return 0;
}

static int by_off(const void *a, const void *b)
{
	const zip_member *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

static int inflate_member(const uint8_t *p, const zip_member *z, uint8_t **out, const char *what)
{
	if (z->usize > ((uint64_t)1 << 40))
		return oi__fail(OI_ETOOBIG, "%s: %llu bytes inflated", what,
		                (unsigned long long)z->usize);
	uint8_t *buf = malloc(z->usize ? (size_t)z->usize : 1);
	if (!buf)
		return oi__fail(OI_ENOMEM, "out of memory inflating %s", what);
	z_stream s;
	memset(&s, 0, sizeof s);
	int rc = inflateInit2(&s, -MAX_WBITS);
	uint64_t in = 0, outn = 0;
	int zr = rc == Z_OK ? Z_OK : Z_MEM_ERROR;
	while (zr == Z_OK) {
		uInt ci = (uInt)(z->csize - in > (1u << 30) ? (1u << 30) : z->csize - in);
		uInt co = (uInt)(z->usize - outn > (1u << 30) ? (1u << 30) : z->usize - outn);
		s.next_in = (Bytef *)(uintptr_t)(p + z->data + in);
		s.avail_in = ci;
		s.next_out = buf + outn;
		s.avail_out = co;
		zr = inflate(&s, Z_NO_FLUSH);
		in += ci - s.avail_in;
		outn += co - s.avail_out;
		if (zr == Z_OK && !(ci - s.avail_in) && !(co - s.avail_out))
			zr = Z_BUF_ERROR; /* no progress: truncated or too small */
	}
	if (rc == Z_OK)
		inflateEnd(&s);
	if (zr != Z_STREAM_END || outn != z->usize) {
		free(buf);
		return oi__fail(OI_EFORMAT, "%s: corrupt deflated data", what);
	}
	uLong crc = crc32(0L, Z_NULL, 0);
	for (uint64_t k = 0; k < outn; k += 1u << 30)
		crc = crc32(crc, buf + k, (uInt)(outn - k > (1u << 30) ? (1u << 30) : outn - k));
	if (crc != z->crc) {
		free(buf);
		return oi__fail(OI_EFORMAT, "%s: CRC mismatch", what);
	}
	*out = buf;
	return 0;
}

static int npz_member(oi_donor *d, const uint8_t *p, const zip_member *z)
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
	if (z->method == 0) {
		if (z->csize != z->usize)
			return oi__fail(OI_EFORMAT, "%s: stored, but sizes differ", what);
		int rc = oi__donor_parse_npy(d, name, p + z->data, z->csize, what);
		if (!rc) {
			d->t[d->n - 1].map = p;
			d->t[d->n - 1].map_len = 0; /* pages shared with other members: kept */
		}
		return rc;
	}
	if (z->method != 8)
		return oi__fail(OI_EUNSUPPORTED, "%s: compression method %u", what, z->method);
	uint8_t *buf = NULL;
	int rc = inflate_member(p, z, &buf, what);
	if (rc)
		return rc;
	rc = oi__donor_parse_npy(d, name, buf, z->usize, what);
	if (rc) {
		free(buf);
		return rc;
	}
	d->t[d->n - 1].own = buf;
	return 0;
}

int oi__donor_read_npz(oi_donor *d, const uint8_t *p, uint64_t len)
{
	uint64_t count = 0, cd_off = 0, cd_size = 0;
	int rc = zip_eocd(p, len, &count, &cd_off, &cd_size);
	if (rc)
		return rc;
	if (count > cd_size / 46 + 1)
		return oi__fail(OI_EFORMAT, "npz: %llu members cannot fit the central directory",
		                (unsigned long long)count);
	zip_member *z = oi__calloc(count ? count : 1, sizeof *z);
	if (!z)
		return OI_ENOMEM;
	uint64_t at = cd_off;
	for (uint64_t i = 0; i < count && !rc; i++)
		rc = zip_entry(p, len, cd_off + cd_size, &at, &z[i]);
	/* members in file order must not overlap each other or the directory */
	zip_member *s = rc ? NULL : oi__calloc(count ? count : 1, sizeof *s);
	if (!rc && !s)
		rc = OI_ENOMEM;
	if (!rc) {
		memcpy(s, z, count * sizeof *s);
		qsort(s, count, sizeof *s, by_off);
		for (uint64_t i = 0; i < count && !rc; i++) {
			uint64_t next = i + 1 < count ? s[i + 1].off : cd_off;
			if (s[i].data + s[i].csize > next)
				rc = oi__fail(OI_EFORMAT, "npz: member '%.*s' overlaps what follows it",
				              (int)s[i].name_len, s[i].name);
		}
	}
	free(s);
	for (uint64_t i = 0; i < count && !rc; i++)
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
			d->t[d->n - 1].map = p;
			d->t[d->n - 1].map_len = len;
			if (p)
				oi__donor_mark_file(d, d->n - 1, p, len, d->regions[d->n_regions - 1].fd);
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
