/* See data.h. A .npy is numpy's format 1.0-3.0 (a Python dict literal for
 * a header, then the elements); a .npz is a zip archive of .npy members,
 * stored or deflated, as numpy.savez and savez_compressed write it. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "data.h"
#include "rng.h"
#include "sha256.h"
#include "tensor.h"

/* ---- .npy --------------------------------------------------------------- */

typedef struct hdr_cursor {
	const char *p, *end;
} hdr_cursor;

static void skip_space(hdr_cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static bool take(hdr_cursor *c, char ch)
{
	skip_space(c);
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return true;
	}
	return false;
}

/* A quoted string into out (at most cap-1 bytes). */
static bool take_string(hdr_cursor *c, char *out, size_t cap)
{
	skip_space(c);
	if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
		return false;
	char q = *c->p++;
	size_t n = 0;
	while (c->p < c->end && *c->p != q) {
		if (n + 1 >= cap)
			return false;
		out[n++] = *c->p++;
	}
	if (c->p >= c->end)
		return false;
	c->p++;
	out[n] = 0;
	return true;
}

static bool take_word(hdr_cursor *c, const char *w)
{
	skip_space(c);
	size_t n = strlen(w);
	if ((size_t)(c->end - c->p) >= n && !memcmp(c->p, w, n)) {
		c->p += n;
		return true;
	}
	return false;
}

/* (d, d, ...) with a trailing comma allowed */
static bool take_shape(hdr_cursor *c, oi_array *a)
{
	if (!take(c, '('))
		return false;
	a->ndim = 0;
	for (;;) {
		if (take(c, ')'))
			return true;
		skip_space(c);
		if (c->p >= c->end || *c->p < '0' || *c->p > '9' || a->ndim == OI_DATA_MAX_RANK)
			return false;
		int64_t v = 0;
		while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
			if (!oi__mul_i64(v, 10, &v) || !oi__add_i64(v, *c->p - '0', &v))
				return false;
			c->p++;
		}
		skip_space(c);
		while (c->p < c->end && *c->p == 'L') /* Python 2's longs */
			c->p++;
		a->dims[a->ndim++] = v;
		if (!take(c, ',')) {
			if (take(c, ')'))
				return true;
			return false;
		}
	}
}

/* '<f4', '|u1', '>i8': the kind, size and byte order */
static int parse_descr(const char *descr, const char *what, oi_array *a, bool *swap)
{
	char order = descr[0], kind = descr[0] ? descr[1] : 0;
	long size = kind ? strtol(descr + 2, NULL, 10) : 0;
	bool ok = (order == '<' || order == '>' || order == '|' || order == '=') &&
	          strlen(descr) >= 3 && strspn(descr + 2, "0123456789") == strlen(descr + 2);
	if (ok && kind == 'f')
		ok = size == 2 || size == 4 || size == 8;
	else if (ok && (kind == 'i' || kind == 'u'))
		ok = size == 1 || size == 2 || size == 4 || size == 8;
	else if (ok && kind == 'b')
		ok = size == 1;
	else
		ok = false;
	if (!ok)
		return oi__fail(OI_EUNSUPPORTED, "%s: dtype '%s' is not an integer or float dtype",
		                what, descr);
	a->kind = kind;
	a->itemsize = (unsigned)size;
	*swap = order == '>' && size > 1;
	return 0;
}

/* The header dict: 'descr', 'fortran_order' and 'shape', in any order. */
static int parse_header(const char *h, size_t len, const char *what, oi_array *a, bool *fortran,
                        bool *swap)
{
	hdr_cursor c = { h, h + len };
	char key[32], descr[32] = "";
	bool have_shape = false, have_order = false;
	if (!take(&c, '{'))
		return oi__fail(OI_EFORMAT, "%s: bad .npy header (not a dict)", what);
	while (!take(&c, '}')) {
		if (!take_string(&c, key, sizeof key) || !take(&c, ':'))
			return oi__fail(OI_EFORMAT, "%s: bad .npy header", what);
		if (!strcmp(key, "descr")) {
			if (!take_string(&c, descr, sizeof descr))
				return oi__fail(OI_EUNSUPPORTED, "%s: structured arrays are not supported",
				                what);
		} else if (!strcmp(key, "fortran_order")) {
			if (take_word(&c, "True"))
				*fortran = true;
			else if (take_word(&c, "False"))
				*fortran = false;
			else
				return oi__fail(OI_EFORMAT, "%s: bad .npy header (fortran_order)", what);
			have_order = true;
		} else if (!strcmp(key, "shape")) {
			if (!take_shape(&c, a))
				return oi__fail(OI_EFORMAT, "%s: bad .npy header (shape)", what);
			have_shape = true;
		} else {
			return oi__fail(OI_EFORMAT, "%s: bad .npy header (unknown key '%s')", what, key);
		}
		if (!take(&c, ',')) {
			if (take(&c, '}'))
				break;
			return oi__fail(OI_EFORMAT, "%s: bad .npy header", what);
		}
	}
	if (!descr[0] || !have_shape || !have_order)
		return oi__fail(OI_EFORMAT, "%s: bad .npy header (descr, fortran_order or shape "
		                "missing)", what);
	return parse_descr(descr, what, a, swap);
}

static void byteswap(uint8_t *p, uint64_t n, unsigned size)
{
	for (uint64_t i = 0; i < n; i++, p += size)
		for (unsigned k = 0; k < size / 2; k++) {
			uint8_t t = p[k];
			p[k] = p[size - 1 - k];
			p[size - 1 - k] = t;
		}
}

/* Fortran order into C order: the C element at multi-index (i0..ik) is the
 * Fortran element at sum i_j * prod(d_0..d_j-1). */
static void fortran_to_c(const uint8_t *in, uint8_t *out, const oi_array *a)
{
	uint64_t fstride[OI_DATA_MAX_RANK], idx[OI_DATA_MAX_RANK] = { 0 };
	uint64_t s = 1;
	for (size_t j = 0; j < a->ndim; j++) {
		fstride[j] = s;
		s *= (uint64_t)a->dims[j];
	}
	for (uint64_t e = 0; e < a->numel; e++) {
		uint64_t off = 0;
		for (size_t j = 0; j < a->ndim; j++)
			off += idx[j] * fstride[j];
		memcpy(out + e * a->itemsize, in + off * a->itemsize, a->itemsize);
		for (size_t j = a->ndim; j-- > 0;) {
			if (++idx[j] < (uint64_t)a->dims[j])
				break;
			idx[j] = 0;
		}
	}
}

int oi__npy_parse(const uint8_t *p, size_t len, const char *what, oi_array *a)
{
	static const uint8_t magic[6] = { 0x93, 'N', 'U', 'M', 'P', 'Y' };
	if (len == 0)
		return oi__fail(OI_EFORMAT, "%s: empty file", what);
	if (len < 10 || memcmp(p, magic, 6))
		return oi__fail(OI_EFORMAT, "%s: not a .npy file (bad magic)", what);
	unsigned major = p[6];
	size_t hlen, off;
	if (major == 1) {
		hlen = (size_t)p[8] | (size_t)p[9] << 8;
		off = 10;
	} else if (major == 2 || major == 3) {
		if (len < 12)
			return oi__fail(OI_EFORMAT, "%s: truncated .npy header", what);
		hlen = (size_t)p[8] | (size_t)p[9] << 8 | (size_t)p[10] << 16 | (size_t)p[11] << 24;
		off = 12;
	} else {
		return oi__fail(OI_EUNSUPPORTED, "%s: .npy format version %u is not supported", what,
		                major);
	}
	if (hlen > len - off)
		return oi__fail(OI_EFORMAT, "%s: truncated .npy header (%zu bytes announced, %zu "
		                "there)", what, hlen, len - off);
	bool fortran = false, swap = false;
	int rc = parse_header((const char *)p + off, hlen, what, a, &fortran, &swap);
	if (rc)
		return rc;
	uint64_t numel = 1, bytes;
	for (size_t j = 0; j < a->ndim; j++)
		if (!oi__mul_u64(numel, (uint64_t)a->dims[j], &numel))
			return oi__fail(OI_EFORMAT, "%s: shape too large", what);
	if (!oi__mul_u64(numel, a->itemsize, &bytes))
		return oi__fail(OI_EFORMAT, "%s: shape too large", what);
	size_t have = len - off - hlen;
	if (bytes > have)
		return oi__fail(OI_EFORMAT, "%s: truncated: the shape needs %llu bytes of data, the "
		                "file has %zu", what, (unsigned long long)bytes, have);
	if (bytes < have)
		return oi__fail(OI_EFORMAT, "%s: %zu bytes after the data the header describes", what,
		                have - (size_t)bytes);
	a->numel = numel;
	a->bytes = p + off + hlen;
	if (fortran && a->ndim > 1) {
		a->own = malloc(bytes ? bytes : 1);
		if (!a->own)
			return oi__fail(OI_ENOMEM, "%s: out of memory", what);
		fortran_to_c(a->bytes, a->own, a);
		a->bytes = a->own;
	}
	if (swap) {
		if (!a->own) {
			a->own = malloc(bytes ? bytes : 1);
			if (!a->own)
				return oi__fail(OI_ENOMEM, "%s: out of memory", what);
			memcpy(a->own, a->bytes, bytes);
			a->bytes = a->own;
		}
		byteswap(a->own, numel, a->itemsize);
	}
	return 0;
}

/* ---- elements ----------------------------------------------------------- */

static double elem_f64(const oi_array *a, uint64_t i)
{
	const uint8_t *p = a->bytes + i * a->itemsize;
	switch (a->kind) {
	case 'f':
		if (a->itemsize == 2) {
			uint16_t h;
			memcpy(&h, p, 2);
			return oi__f16_to_f64(h);
		} else if (a->itemsize == 4) {
			float f;
			memcpy(&f, p, 4);
			return f;
		} else {
			double d;
			memcpy(&d, p, 8);
			return d;
		}
	case 'b':
		return p[0] != 0;
	case 'u': {
		uint64_t v = 0;
		memcpy(&v, p, a->itemsize);
		return (double)v;
	}
	default: {
		uint64_t v = 0;
		memcpy(&v, p, a->itemsize);
		unsigned shift = 64 - 8 * a->itemsize;
		return (double)((int64_t)(v << shift) >> shift);
	}
	}
}

static int64_t elem_i64(const oi_array *a, uint64_t i)
{
	if (a->kind == 'f')
		return (int64_t)elem_f64(a, i);
	const uint8_t *p = a->bytes + i * a->itemsize;
	uint64_t v = 0;
	memcpy(&v, p, a->itemsize);
	if (a->kind == 'b')
		return p[0] != 0;
	if (a->kind == 'u')
		return (int64_t)v;
	unsigned shift = 64 - 8 * a->itemsize;
	return (int64_t)(v << shift) >> shift;
}

static void format_index(const oi_array *a, uint64_t e, char *out, size_t cap)
{
	int64_t idx[OI_DATA_MAX_RANK];
	for (size_t j = a->ndim; j-- > 0;) {
		idx[j] = (int64_t)(e % (uint64_t)a->dims[j]);
		e /= (uint64_t)a->dims[j];
	}
	size_t n = (size_t)snprintf(out, cap, "[");
	for (size_t j = 0; j < a->ndim && n < cap; j++)
		n += (size_t)snprintf(out + n, cap - n, "%s%lld", j ? ", " : "", (long long)idx[j]);
	if (n < cap)
		snprintf(out + n, cap - n, "]");
}

/* NaN or Inf anywhere: refused, with the first one's index. */
static int check_finite(const oi_array *a, const char *what)
{
	if (a->kind != 'f')
		return 0;
	for (uint64_t e = 0; e < a->numel; e++) {
		double v = elem_f64(a, e);
		if (!isfinite(v)) {
			char idx[200];
			format_index(a, e, idx, sizeof idx);
			return oi__fail(OI_EINVALID, "%s: %s at index %s; the data must be finite", what,
			                isnan(v) ? "NaN" : "Inf", idx);
		}
	}
	return 0;
}

/* ---- .npz --------------------------------------------------------------- */

static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

typedef struct zip_dir {
	uint64_t entries, size, offset;
} zip_dir;

static int find_directory(const uint8_t *p, size_t len, const char *what, zip_dir *z)
{
	if (len < 22)
		return oi__fail(OI_EFORMAT, "%s: truncated .npz (no zip directory)", what);
	size_t lo = len - 22 > 65535 ? len - 22 - 65535 : 0;
	size_t at = len - 22 + 1;
	while (at-- > lo)
		if (rd32(p + at) == 0x06054b50)
			break;
	if (at + 1 == lo || rd32(p + at) != 0x06054b50)
		return oi__fail(OI_EFORMAT, "%s: truncated .npz (no zip directory)", what);
	if (rd16(p + at + 4) || rd16(p + at + 6))
		return oi__fail(OI_EUNSUPPORTED, "%s: multi-part zip archives are not supported", what);
	z->entries = rd16(p + at + 10);
	z->size = rd32(p + at + 12);
	z->offset = rd32(p + at + 16);
	if (z->entries == 0xFFFF || z->size == 0xFFFFFFFFu || z->offset == 0xFFFFFFFFu) {
		/* zip64: the locator just before, then the zip64 directory record */
		if (at < 20 || rd32(p + at - 20) != 0x07064b50)
			return oi__fail(OI_EFORMAT, "%s: bad zip64 directory", what);
		uint64_t r = rd64(p + at - 20 + 8);
		if (r > len || len - r < 56 || rd32(p + r) != 0x06064b50)
			return oi__fail(OI_EFORMAT, "%s: bad zip64 directory", what);
		z->entries = rd64(p + r + 32);
		z->size = rd64(p + r + 40);
		z->offset = rd64(p + r + 48);
	}
	if (z->offset > len || z->size > len - z->offset)
		return oi__fail(OI_EFORMAT, "%s: truncated .npz (zip directory out of the file)", what);
	return 0;
}

/* A central directory entry's 0xFFFFFFFF fields, from its zip64 extra field. */
static int zip64_sizes(const uint8_t *ex, size_t n, uint64_t *usize, uint64_t *csize,
                       uint64_t *off)
{
	size_t i = 0;
	while (i + 4 <= n) {
		uint32_t id = rd16(ex + i), sz = rd16(ex + i + 2);
		if (i + 4 + sz > n)
			return -1;
		if (id == 1) {
			const uint8_t *q = ex + i + 4, *qe = q + sz;
			uint64_t *f[3] = { usize, csize, off };
			for (int k = 0; k < 3; k++)
				if (*f[k] == 0xFFFFFFFFu) {
					if (qe - q < 8)
						return -1;
					*f[k] = rd64(q);
					q += 8;
				}
			return 0;
		}
		i += 4 + sz;
	}
	return 0;
}

static int inflate_member(const uint8_t *in, uint64_t clen, uint8_t *out, uint64_t ulen)
{
	z_stream s;
	memset(&s, 0, sizeof s);
	if (inflateInit2(&s, -MAX_WBITS) != Z_OK)
		return -1;
	int rc = 0;
	uint64_t done_in = 0, done_out = 0;
	for (;;) {
		uInt ci = (uInt)(clen - done_in > (1u << 30) ? (1u << 30) : clen - done_in);
		uInt co = (uInt)(ulen - done_out > (1u << 30) ? (1u << 30) : ulen - done_out);
		s.next_in = (Bytef *)(uintptr_t)(in + done_in);
		s.avail_in = ci;
		s.next_out = out + done_out;
		s.avail_out = co;
		int z = inflate(&s, Z_NO_FLUSH);
		done_in += ci - s.avail_in;
		done_out += co - s.avail_out;
		if (z == Z_STREAM_END)
			break;
		if (z != Z_OK || (s.avail_in == ci && s.avail_out == co)) {
			rc = -1;
			break;
		}
	}
	inflateEnd(&s);
	return rc || done_out != ulen ? -1 : 0;
}

static int add_array(oi_data *d, oi_array *a)
{
	oi_array *arr = oi__reallocarray(d->arrays, d->n_arrays + 1, sizeof *arr);
	if (!arr)
		return OI_ENOMEM;
	d->arrays = arr;
	d->arrays[d->n_arrays++] = *a;
	return 0;
}

/* One member: its name, its bytes (inflated if need be), its array. */
static int npz_member(oi_data *d, const uint8_t *p, size_t len, const uint8_t *e,
                      const char *what)
{
	uint32_t flags = rd16(e + 8), method = rd16(e + 10), crc = rd32(e + 16);
	uint64_t csize = rd32(e + 20), usize = rd32(e + 24), off = rd32(e + 42);
	size_t nlen = rd16(e + 28), xlen = rd16(e + 30);
	if (zip64_sizes(e + 46 + nlen, xlen, &usize, &csize, &off))
		return oi__fail(OI_EFORMAT, "%s: bad zip64 field", what);
	char name[256];
	snprintf(name, sizeof name, "%.*s", (int)(nlen < 255 ? nlen : 255), (const char *)e + 46);
	size_t nl = strlen(name);
	if (nl < 4 || strcmp(name + nl - 4, ".npy"))
		return 0; /* not an array */
	if (flags & 1)
		return oi__fail(OI_EUNSUPPORTED, "%s: member '%s' is encrypted", what, name);
	if (off > len || len - off < 30 || rd32(p + off) != 0x04034b50)
		return oi__fail(OI_EFORMAT, "%s: member '%s': bad local header", what, name);
	uint64_t data = off + 30 + rd16(p + off + 26) + rd16(p + off + 28);
	if (data > len || csize > len - data)
		return oi__fail(OI_EFORMAT, "%s: member '%s' is truncated", what, name);
	char mwhat[600];
	snprintf(mwhat, sizeof mwhat, "%s: member '%s'", what, name);
	oi_array a = { 0 };
	uint8_t *buf = NULL;
	const uint8_t *bytes = p + data;
	if (method == 8) {
		/* deflate expands at most 1032 times: a size past that is a lie, not
		 * a reason to allocate it */
		if (usize > SIZE_MAX / 2 || usize / 1032 > csize + 1)
			return oi__fail(OI_EFORMAT, "%s: its size (%llu bytes from %llu) cannot be", mwhat,
			                (unsigned long long)usize, (unsigned long long)csize);
		buf = malloc(usize ? usize : 1);
		if (!buf)
			return oi__fail(OI_ENOMEM, "%s: out of memory", mwhat);
		if (inflate_member(p + data, csize, buf, usize)) {
			free(buf);
			return oi__fail(OI_EFORMAT, "%s: bad deflate data", mwhat);
		}
		bytes = buf;
	} else if (method != 0) {
		return oi__fail(OI_EUNSUPPORTED, "%s: compression method %u is not supported", mwhat,
		                method);
	} else if (csize != usize) {
		return oi__fail(OI_EFORMAT, "%s: sizes disagree", mwhat);
	}
	int rc = 0;
	/* zlib's crc32 takes uInt lengths: 1 GiB at a time */
	uLong c = crc32(0, NULL, 0);
	for (uint64_t k = 0; k < usize; k += (1u << 30))
		c = crc32(c, bytes + k, (uInt)(usize - k > (1u << 30) ? (1u << 30) : usize - k));
	if (c != crc)
		rc = oi__fail(OI_EFORMAT, "%s: CRC mismatch (corrupt archive)", mwhat);
	if (!rc)
		rc = oi__npy_parse(bytes, (size_t)usize, mwhat, &a);
	if (!rc && buf && !a.own) {
		a.own = buf; /* the array points into the inflated bytes */
		buf = NULL;
	}
	free(buf);
	if (!rc) {
		name[nl - 4] = 0;
		a.name = oi__strdup(name);
		rc = a.name ? add_array(d, &a) : OI_ENOMEM;
	}
	if (rc) {
		free(a.own);
		free(a.name);
	}
	return rc;
}

static int npz_parse(oi_data *d, const uint8_t *p, size_t len, const char *what)
{
	zip_dir z = { 0, 0, 0 };
	int rc = find_directory(p, len, what, &z);
	uint64_t at = z.offset, end = z.offset + z.size;
	for (uint64_t k = 0; k < z.entries && !rc; k++) {
		if (end - at < 46 || rd32(p + at) != 0x02014b50)
			return oi__fail(OI_EFORMAT, "%s: bad zip directory entry", what);
		uint64_t size = 46 + (uint64_t)rd16(p + at + 28) + rd16(p + at + 30) + rd16(p + at + 32);
		if (size > end - at)
			return oi__fail(OI_EFORMAT, "%s: bad zip directory entry", what);
		rc = npz_member(d, p, len, p + at, what);
		at += size;
	}
	if (!rc && d->n_arrays == 0)
		rc = oi__fail(OI_EFORMAT, "%s: the archive holds no .npy arrays", what);
	for (size_t i = 0; i < d->n_arrays && !rc; i++)
		for (size_t j = 0; j < i && !rc; j++)
			if (!strcmp(d->arrays[i].name, d->arrays[j].name))
				rc = oi__fail(OI_EFORMAT, "%s: two arrays are named '%s'", what,
				              d->arrays[i].name);
	return rc;
}

/* ---- opening ------------------------------------------------------------ */

static int parse_input_shape(oi_data *d, const char *spec)
{
	const char *eq = strrchr(spec, '=');
	if (!eq || eq == spec || !eq[1])
		return oi__fail(OI_EARG, "input shape '%s': expected NAME=D,D,...", spec);
	oi_shape_fix f = { 0 };
	const char *s = eq + 1;
	while (*s) {
		char *end;
		errno = 0;
		if (*s < '0' || *s > '9' || f.ndim == OI_DATA_MAX_RANK)
			return oi__fail(OI_EARG, "input shape '%s': expected NAME=D,D,... with up to %d "
			                "positive dims", spec, OI_DATA_MAX_RANK);
		long long v = strtoll(s, &end, 10);
		if (errno || v <= 0 || v > (1LL << 40) || (*end && *end != ','))
			return oi__fail(OI_EARG, "input shape '%s': expected NAME=D,D,... with positive "
			                "dims", spec);
		f.dims[f.ndim++] = v;
		s = *end ? end + 1 : end;
		if (*end && !*s)
			return oi__fail(OI_EARG, "input shape '%s': a dim is missing after ','", spec);
	}
	f.name = oi__asprintf("%.*s", (int)(eq - spec), spec);
	oi_shape_fix *arr = f.name ? oi__reallocarray(d->shapes, d->n_shapes + 1, sizeof *arr) : NULL;
	if (!arr) {
		free(f.name);
		return OI_ENOMEM;
	}
	d->shapes = arr;
	d->shapes[d->n_shapes++] = f;
	return 0;
}

static int data_new(oi_data **out, const char *name, const oi_data_options *opts)
{
	*out = NULL;
	if (opts && opts->version != OI_DATA_OPTIONS_VERSION)
		return oi__fail(OI_EARG, "oi_data_options of another version");
	if (opts && (!isfinite(opts->scale) || opts->scale < 0))
		return oi__fail(OI_EARG, "data scale %g: a finite number >= 0 (0: 1)", opts->scale);
	oi_data *d = oi__calloc(1, sizeof *d);
	if (!d)
		return OI_ENOMEM;
	const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
	d->name = oi__strdup(base);
	d->batch = opts && opts->batch ? opts->batch : 64;
	d->scale = opts && opts->scale != 0 ? opts->scale : 1.0;
	d->seed = opts ? opts->seed : 0;
	int rc = d->name ? 0 : OI_ENOMEM;
	for (size_t i = 0; opts && i < opts->n_input_shapes && !rc; i++)
		rc = parse_input_shape(d, opts->input_shapes[i]);
	if (rc) {
		oi_data_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

/* Parse bytes the data owns (d->file). */
static int parse_file(oi_data *d, const char *what)
{
	const uint8_t *p = d->file;
	size_t len = d->file_len;
	oi_sha256_ctx c;
	uint8_t dig[32];
	oi__sha256_init(&c);
	oi__sha256_update(&c, p, len);
	oi__sha256_final(&c, dig);
	for (int i = 0; i < 32; i++)
		snprintf(d->sha256 + 2 * i, 3, "%02x", dig[i]);
	int rc;
	if (len == 0)
		return oi__fail(OI_EFORMAT, "%s: empty file", what);
	if (len >= 4 && p[0] == 'P' && p[1] == 'K') {
		rc = npz_parse(d, p, len, what);
	} else if (len >= 6 && p[0] == 0x93 && !memcmp(p + 1, "NUMPY", 5)) {
		oi_array a = { 0 };
		rc = oi__npy_parse(p, len, what, &a);
		if (!rc) {
			a.name = oi__strdup("");
			rc = a.name ? add_array(d, &a) : OI_ENOMEM;
		}
		if (rc) {
			free(a.own);
			free(a.name);
		}
	} else {
		return oi__fail(OI_EFORMAT, "%s: not a .npy or .npz file", what);
	}
	for (size_t i = 0; i < d->n_arrays && !rc; i++) {
		oi_array *a = &d->arrays[i];
		char w[600];
		snprintf(w, sizeof w, a->name[0] ? "%s: array '%s'" : "%s%s", what, a->name);
		if (a->ndim == 0)
			rc = oi__fail(OI_EINVALID, "%s is a scalar; the first axis must number the "
			              "samples", w);
		else if (a->dims[0] == 0)
			rc = oi__fail(OI_EINVALID, "%s holds no samples", w);
		else
			rc = check_finite(a, w);
	}
	return rc;
}

int oi_data_open_memory(oi_data **out, const void *bytes, size_t len, const char *name,
                        const oi_data_options *opts)
{
	const char *what = name ? name : "data";
	int rc = data_new(out, what, opts);
	if (rc)
		return rc;
	oi_data *d = *out;
	d->file = malloc(len ? len : 1);
	if (!d->file) {
		oi_data_free(d);
		*out = NULL;
		return oi__fail(OI_ENOMEM, "%s: out of memory", what);
	}
	if (len)
		memcpy(d->file, bytes, len);
	d->file_len = len;
	rc = parse_file(d, what);
	if (rc) {
		oi_data_free(d);
		*out = NULL;
		return rc;
	}
	return oi__ok();
}

int oi_data_open(oi_data **out, const char *data, const oi_data_options *opts)
{
	*out = NULL;
	if (!data || !*data)
		return oi__fail(OI_EARG, "no data given");
	if (!strcmp(data, "normal") || !strcmp(data, "uniform")) {
		int rc = data_new(out, data, opts);
		if (rc)
			return rc;
		(*out)->kind = data[0] == 'n' ? OI_DATA_NORMAL : OI_DATA_UNIFORM;
		return oi__ok();
	}
	FILE *f = fopen(data, "rb");
	if (!f)
		return oi__fail(OI_EIO, "%s: %s", data, strerror(errno));
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	int rc = 0;
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 1 << 16;
			uint8_t *q = realloc(buf, cap);
			if (!q) {
				rc = oi__fail(OI_ENOMEM, "%s: out of memory", data);
				break;
			}
			buf = q;
		}
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (!rc && ferror(f))
		rc = oi__fail(OI_EIO, "%s: read error", data);
	fclose(f);
	if (!rc)
		rc = data_new(out, data, opts);
	if (rc) {
		free(buf);
		return rc;
	}
	(*out)->file = buf;
	(*out)->file_len = len;
	rc = parse_file(*out, data);
	if (rc) {
		oi_data_free(*out);
		*out = NULL;
		return rc;
	}
	return oi__ok();
}

void oi_data_free(oi_data *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_arrays; i++) {
		free(d->arrays[i].name);
		free(d->arrays[i].own);
	}
	for (size_t i = 0; i < d->n_shapes; i++)
		free(d->shapes[i].name);
	free(d->shapes);
	free(d->arrays);
	free(d->file);
	free(d->name);
	free(d);
}

const char *oi_data_name(const oi_data *d) { return d ? d->name : NULL; }
const char *oi_data_sha256(const oi_data *d) { return d && d->sha256[0] ? d->sha256 : NULL; }
size_t oi_data_array_count(const oi_data *d) { return d ? d->n_arrays : 0; }

int oi_data_array(const oi_data *d, size_t i, const char **name, size_t *ndim,
                  const int64_t **dims)
{
	if (!d || i >= d->n_arrays)
		return oi__fail(OI_EARG, "array index %zu out of range", i);
	*name = d->arrays[i].name;
	*ndim = d->arrays[i].ndim;
	*dims = d->arrays[i].dims;
	return oi__ok();
}

/* ---- batches for the model's inputs ------------------------------------- */

typedef struct model_input {
	const char *name;
	int dtype;
	bool has_shape;
	size_t ndim;
	int64_t dims[OI_DATA_MAX_RANK];     /* -1 where symbolic or unknown */
	const char *params[OI_DATA_MAX_RANK];
} model_input;

static bool is_initializer(const Onnx__GraphProto *g, const char *name)
{
	for (size_t i = 0; i < g->n_initializer; i++)
		if (g->initializer[i]->name && !strcmp(g->initializer[i]->name, name))
			return true;
	for (size_t i = 0; i < g->n_sparse_initializer; i++) {
		const Onnx__SparseTensorProto *s = g->sparse_initializer[i];
		if (s->values && s->values->name && !strcmp(s->values->name, name))
			return true;
	}
	return false;
}

static int model_inputs(const oi_model *m, model_input **out, size_t *n)
{
	const Onnx__GraphProto *g = m->pb->graph;
	*out = NULL;
	*n = 0;
	if (!g)
		return oi__fail(OI_EINVALID, "%s: the model has no graph", m->path);
	model_input *in = oi__calloc(g->n_input ? g->n_input : 1, sizeof *in);
	if (!in)
		return OI_ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < g->n_input; i++) {
		const Onnx__ValueInfoProto *v = g->input[i];
		if (!v->name || is_initializer(g, v->name))
			continue;
		model_input *mi = &in[k++];
		mi->name = v->name;
		const Onnx__TypeProto *t = v->type;
		if (!t || t->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !t->tensor_type) {
			free(in);
			return oi__fail(OI_EUNSUPPORTED, "%s: input '%s' is not a tensor", m->path,
			                v->name);
		}
		mi->dtype = t->tensor_type->elem_type;
		const Onnx__TensorShapeProto *s = t->tensor_type->shape;
		if (s && s->n_dim <= OI_DATA_MAX_RANK) {
			mi->has_shape = true;
			mi->ndim = s->n_dim;
			for (size_t j = 0; j < s->n_dim; j++) {
				const Onnx__TensorShapeProto__Dimension *dm = s->dim[j];
				bool fixed = dm->value_case ==
				             ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
				             dm->dim_value > 0;
				mi->dims[j] = fixed ? dm->dim_value : -1;
				mi->params[j] = dm->value_case ==
				                ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM
				                ? dm->dim_param : NULL;
			}
		}
	}
	*out = in;
	*n = k;
	return 0;
}

static void format_dims(const int64_t *dims, const char *const *params, size_t nd, char *out,
                        size_t cap)
{
	size_t n = (size_t)snprintf(out, cap, "[");
	for (size_t j = 0; j < nd && n < cap; j++) {
		if (dims[j] >= 0)
			n += (size_t)snprintf(out + n, cap - n, "%s%lld", j ? "," : "", (long long)dims[j]);
		else
			n += (size_t)snprintf(out + n, cap - n, "%s%s", j ? "," : "",
			                      params && params[j] && *params[j] ? params[j] : "?");
	}
	if (n < cap)
		snprintf(out + n, cap - n, "]");
}

static bool float_dtype(int dt)
{
	return dt == OI_DTYPE_FLOAT || dt == OI_DTYPE_DOUBLE || dt == OI_DTYPE_FLOAT16 ||
	       dt == OI_DTYPE_BFLOAT16;
}

static bool int_dtype(int dt)
{
	return dt == OI_DTYPE_INT64 || dt == OI_DTYPE_INT32 || dt == OI_DTYPE_INT8 ||
	       dt == OI_DTYPE_UINT8 || dt == OI_DTYPE_INT16 || dt == OI_DTYPE_UINT16 ||
	       dt == OI_DTYPE_UINT32 || dt == OI_DTYPE_UINT64 || dt == OI_DTYPE_BOOL;
}

/* Which array feeds input k of n. */
static int pick_array(const oi_data *d, const model_input *in, size_t n, size_t k,
                      const oi_array **out)
{
	if (d->n_arrays == 1 && n == 1) {
		*out = &d->arrays[0];
		return 0;
	}
	if (d->n_arrays == 1 && !d->arrays[0].name[0]) {
		char names[400] = "";
		for (size_t i = 0, len = 0; i < n && len < sizeof names; i++)
			len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "",
			                        in[i].name);
		return oi__fail(OI_EINVALID, "%s: the model has %zu inputs (%s) and a .npy holds one "
		                "array; use an .npz with an array named after each", d->name, n, names);
	}
	for (size_t i = 0; i < d->n_arrays; i++)
		if (!strcmp(d->arrays[i].name, in[k].name)) {
			*out = &d->arrays[i];
			return 0;
		}
	return oi__fail(OI_EINVALID, "%s: no array is named after the model's input '%s'%s",
	                d->name, in[k].name, d->n_arrays == 1 ? " (one array, but the model has "
	                "more inputs)" : "");
}

static int fit_array(const oi_data *d, const model_input *mi, const oi_array *a)
{
	char ds[200], ms[200];
	format_dims(a->dims, NULL, a->ndim, ds, sizeof ds);
	format_dims(mi->dims, mi->params, mi->ndim, ms, sizeof ms);
	bool ok = !mi->has_shape || a->ndim == mi->ndim;
	for (size_t j = 1; ok && j < a->ndim && mi->has_shape; j++)
		ok = mi->dims[j] < 0 || mi->dims[j] == a->dims[j];
	if (ok && mi->has_shape && mi->dims[0] > 0 && a->dims[0] < mi->dims[0])
		ok = false;
	if (!ok)
		return oi__fail(OI_EINVALID, "%s: data of shape %s does not fit input '%s' of shape %s",
		                d->name, ds, mi->name, ms);
	if (!float_dtype(mi->dtype) && !int_dtype(mi->dtype))
		return oi__fail(OI_EUNSUPPORTED, "input '%s' is %s; the passes feed float and integer "
		                "inputs", mi->name, oi_dtype_name(mi->dtype));
	return 0;
}

static int alloc_batch(oi_input_batch *b)
{
	uint64_t n = 1;
	for (size_t j = 0; j < b->ndim; j++)
		if (!oi__mul_u64(n, (uint64_t)b->dims[j], &n) || n > ((uint64_t)1 << 40))
			return oi__fail(OI_ETOOBIG, "input '%s': the batch is too large", b->name);
	b->numel = n;
	if (b->integer)
		b->i = malloc((n ? n : 1) * sizeof *b->i);
	else
		b->f = malloc((n ? n : 1) * sizeof *b->f);
	if (!b->i && !b->f)
		return oi__fail(OI_ENOMEM, "out of memory for a batch of input '%s'", b->name);
	return 0;
}

static int random_input(const oi_data *d, const model_input *mi, oi_input_batch *b)
{
	const oi_shape_fix *fix = NULL;
	for (size_t i = 0; i < d->n_shapes; i++)
		if (!strcmp(d->shapes[i].name, mi->name))
			fix = &d->shapes[i];
	char ms[200];
	format_dims(mi->dims, mi->params, mi->ndim, ms, sizeof ms);
	if (!float_dtype(mi->dtype))
		return oi__fail(OI_EUNSUPPORTED, "input '%s' is %s: random data is for float inputs; "
		                "give an .npz", mi->name, oi_dtype_name(mi->dtype));
	if (fix) {
		bool ok = !mi->has_shape || fix->ndim == mi->ndim;
		for (size_t j = 0; ok && mi->has_shape && j < fix->ndim; j++)
			ok = mi->dims[j] < 0 || mi->dims[j] == fix->dims[j];
		if (!ok) {
			char fs[200];
			format_dims(fix->dims, NULL, fix->ndim, fs, sizeof fs);
			return oi__fail(OI_EARG, "input shape %s does not fit input '%s' of shape %s", fs,
			                mi->name, ms);
		}
		b->ndim = fix->ndim;
		memcpy(b->dims, fix->dims, sizeof b->dims);
	} else {
		if (!mi->has_shape || mi->ndim == 0)
			return oi__fail(OI_EINVALID, "input '%s' has no shape in the model: give it as "
			                "%s=D,D,...", mi->name, mi->name);
		b->ndim = mi->ndim;
		for (size_t j = 0; j < mi->ndim; j++) {
			b->dims[j] = mi->dims[j] > 0 ? mi->dims[j] : j == 0 ? (int64_t)d->batch : -1;
			if (b->dims[j] < 0)
				return oi__fail(OI_EINVALID, "input '%s' of shape %s has dynamic dims: give "
				                "its shape as %s=D,D,...", mi->name, ms, mi->name);
		}
	}
	int rc = alloc_batch(b);
	if (rc)
		return rc;
	char label[600];
	snprintf(label, sizeof label, "data/%s", mi->name);
	oi_key key = oi__rng_key(d->seed, label);
	for (uint64_t e = 0; e < b->numel; e++) {
		double v = d->kind == OI_DATA_NORMAL ? oi__normal(key, e, 0) : oi__uniform(key, e);
		b->f[e] = (float)(v * d->scale);
	}
	return 0;
}

static int file_input(const oi_data *d, const oi_array *a, int64_t samples, oi_input_batch *b)
{
	b->ndim = a->ndim;
	memcpy(b->dims, a->dims, sizeof b->dims);
	b->dims[0] = samples;
	int rc = alloc_batch(b);
	if (rc)
		return rc;
	for (uint64_t e = 0; e < b->numel; e++) {
		if (b->integer)
			b->i[e] = elem_i64(a, e);
		else
			b->f[e] = (float)(elem_f64(a, e) * d->scale);
	}
	return 0;
}

int oi__data_inputs(const oi_data *d, const oi_model *m, oi_input_batch **out, size_t *n)
{
	model_input *in;
	size_t k;
	*out = NULL;
	*n = 0;
	int rc = model_inputs(m, &in, &k);
	if (rc)
		return rc;
	if (k == 0) {
		free(in);
		return oi__fail(OI_EINVALID, "%s: the model has no inputs to feed", m->path);
	}
	oi_input_batch *b = oi__calloc(k, sizeof *b);
	const oi_array **arr = oi__calloc(k, sizeof *arr);
	rc = b && arr ? 0 : OI_ENOMEM;
	int64_t samples = (int64_t)d->batch;
	for (size_t i = 0; i < k && !rc && d->kind == OI_DATA_FILE; i++) {
		rc = pick_array(d, in, k, i, &arr[i]);
		if (!rc)
			rc = fit_array(d, &in[i], arr[i]);
		if (!rc && arr[i]->dims[0] < samples)
			samples = arr[i]->dims[0];
	}
	/* a fixed batch dim is what the model takes, whatever was asked */
	for (size_t i = 0; i < k && !rc && d->kind == OI_DATA_FILE; i++)
		if (in[i].has_shape && in[i].dims[0] > 0)
			samples = in[i].dims[0];
	for (size_t i = 0; i < k && !rc; i++) {
		b[i].name = in[i].name;
		b[i].integer = !float_dtype(in[i].dtype);
		if (d->kind == OI_DATA_FILE) {
			rc = file_input(d, arr[i], samples, &b[i]);
		} else {
			rc = random_input(d, &in[i], &b[i]);
			if (rc && rc != OI_ENOMEM)
				oi__error_prefix(m->path);
		}
	}
	for (size_t i = 0; i < d->n_shapes && !rc; i++) {
		size_t j = 0;
		while (j < k && strcmp(in[j].name, d->shapes[i].name))
			j++;
		if (j == k)
			rc = oi__fail(OI_EARG, "%s: input shape for '%s': the model has no such input",
			              m->path, d->shapes[i].name);
	}
	free(in);
	free(arr);
	if (rc) {
		oi__data_inputs_free(b, b ? k : 0);
		return rc;
	}
	*out = b;
	*n = k;
	return 0;
}

void oi__data_inputs_free(oi_input_batch *b, size_t n)
{
	for (size_t i = 0; b && i < n; i++) {
		free(b[i].f);
		free(b[i].i);
	}
	free(b);
}
