/* See npyzip.h. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "npyzip.h"

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
static bool take_shape(hdr_cursor *c, oi_npy *h)
{
	if (!take(c, '('))
		return false;
	h->ndim = 0;
	for (;;) {
		if (take(c, ')'))
			return true;
		skip_space(c);
		if (c->p >= c->end || *c->p < '0' || *c->p > '9')
			return false;
		if (h->ndim == OI_NPY_MAX_RANK) {
			h->ndim++; /* past the rank read: parse_dict says so */
			return false;
		}
		int64_t v = 0;
		while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
			if (!oi__mul_i64(v, 10, &v) || !oi__add_i64(v, *c->p - '0', &v))
				return false;
			c->p++;
		}
		skip_space(c);
		while (c->p < c->end && *c->p == 'L') /* Python 2's longs */
			c->p++;
		h->dims[h->ndim++] = v;
		if (!take(c, ',')) {
			if (take(c, ')'))
				return true;
			return false;
		}
	}
}

/* '<f4', '|u1', '>i8': the kind, size and byte order */
static int parse_descr(const char *descr, const char *what, oi_npy *h)
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
	else if (ok && kind == 'V' && size == 2)
		/* ml_dtypes' bfloat16 is written as raw 2-byte void */
		return oi__fail(OI_EUNSUPPORTED, "%s: dtype '%s' (raw bytes; bfloat16?) is not "
		                "supported: use safetensors", what, descr);
	else
		ok = false;
	if (!ok)
		return oi__fail(OI_EUNSUPPORTED, "%s: dtype '%s' is not an integer or float dtype",
		                what, descr);
	h->kind = kind;
	h->itemsize = (unsigned)size;
	h->swap = order == '>' && size > 1;
	return 0;
}

/* The header dict: 'descr', 'fortran_order' and 'shape', in any order. */
static int parse_dict(const char *s, size_t len, const char *what, oi_npy *h)
{
	hdr_cursor c = { s, s + len };
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
				h->fortran = true;
			else if (take_word(&c, "False"))
				h->fortran = false;
			else
				return oi__fail(OI_EFORMAT, "%s: bad .npy header (fortran_order)", what);
			have_order = true;
		} else if (!strcmp(key, "shape")) {
			if (!take_shape(&c, h))
				return h->ndim > OI_NPY_MAX_RANK
				       ? oi__fail(OI_EUNSUPPORTED, "%s: rank past %d", what, OI_NPY_MAX_RANK)
				       : oi__fail(OI_EFORMAT, "%s: bad .npy header (shape)", what);
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
	return parse_descr(descr, what, h);
}

int oi__npy_header(const uint8_t *p, uint64_t len, const char *what, oi_npy *h)
{
	static const uint8_t magic[6] = { 0x93, 'N', 'U', 'M', 'P', 'Y' };
	memset(h, 0, sizeof *h);
	if (len == 0)
		return oi__fail(OI_EFORMAT, "%s: empty file", what);
	if (len < 10 || memcmp(p, magic, 6))
		return oi__fail(OI_EFORMAT, "%s: not a .npy array (bad magic)", what);
	unsigned major = p[6];
	uint64_t hlen, off;
	if (major == 1) {
		hlen = (uint64_t)p[8] | (uint64_t)p[9] << 8;
		off = 10;
	} else if (major == 2 || major == 3) {
		if (len < 12)
			return oi__fail(OI_EFORMAT, "%s: truncated .npy header", what);
		hlen = (uint64_t)p[8] | (uint64_t)p[9] << 8 | (uint64_t)p[10] << 16 |
		       (uint64_t)p[11] << 24;
		off = 12;
	} else {
		return oi__fail(OI_EUNSUPPORTED, "%s: .npy format version %u is not supported", what,
		                major);
	}
	if (hlen > len - off)
		return oi__fail(OI_EFORMAT, "%s: truncated .npy header (%llu bytes announced, %llu "
		                "there)", what, (unsigned long long)hlen,
		                (unsigned long long)(len - off));
	int rc = parse_dict((const char *)p + off, (size_t)hlen, what, h);
	if (rc)
		return rc;
	uint64_t numel = 1, bytes;
	for (size_t j = 0; j < h->ndim; j++)
		if (!oi__mul_u64(numel, (uint64_t)h->dims[j], &numel))
			return oi__fail(OI_EFORMAT, "%s: shape too large", what);
	if (!oi__mul_u64(numel, h->itemsize, &bytes))
		return oi__fail(OI_EFORMAT, "%s: shape too large", what);
	uint64_t have = len - off - hlen;
	if (bytes > have)
		return oi__fail(OI_EFORMAT, "%s: truncated: the shape needs %llu bytes of data, the "
		                "file has %llu", what, (unsigned long long)bytes,
		                (unsigned long long)have);
	if (bytes < have)
		return oi__fail(OI_EFORMAT, "%s: %llu bytes after the data the header describes", what,
		                (unsigned long long)(have - bytes));
	h->fortran = h->fortran && h->ndim > 1;
	h->numel = numel;
	h->off = off + hlen;
	h->bytes = bytes;
	return 0;
}

bool oi__npy_needs_copy(const oi_npy *h)
{
	return h->swap || h->fortran;
}

/* Fortran order into C order: the C element at multi-index (i0..ik) is the
 * Fortran element at sum i_j * prod(d_0..d_j-1). */
static void fortran_to_c(const uint8_t *in, uint8_t *out, const oi_npy *h)
{
	uint64_t fstride[OI_NPY_MAX_RANK], idx[OI_NPY_MAX_RANK] = { 0 };
	uint64_t s = 1;
	for (size_t j = 0; j < h->ndim; j++) {
		fstride[j] = s;
		s *= (uint64_t)h->dims[j];
	}
	for (uint64_t e = 0; e < h->numel; e++) {
		uint64_t off = 0;
		for (size_t j = 0; j < h->ndim; j++)
			off += idx[j] * fstride[j];
		memcpy(out + e * h->itemsize, in + off * h->itemsize, h->itemsize);
		for (size_t j = h->ndim; j-- > 0;) {
			if (++idx[j] < (uint64_t)h->dims[j])
				break;
			idx[j] = 0;
		}
	}
}

void oi__npy_to_c(const uint8_t *in, uint8_t *out, const oi_npy *h)
{
	if (h->fortran)
		fortran_to_c(in, out, h);
	else
		memcpy(out, in, (size_t)h->bytes);
	if (!h->swap)
		return;
	uint8_t *p = out;
	for (uint64_t i = 0; i < h->numel; i++, p += h->itemsize)
		for (unsigned k = 0; k < h->itemsize / 2; k++) {
			uint8_t t = p[k];
			p[k] = p[h->itemsize - 1 - k];
			p[h->itemsize - 1 - k] = t;
		}
}

/* ---- zip ---------------------------------------------------------------- */

static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* The end of central directory (and its zip64 form): entries, size, offset. */
static int find_directory(const uint8_t *p, uint64_t len, const char *what, uint64_t *count,
                          uint64_t *size, uint64_t *offset)
{
	if (len < 22)
		return oi__fail(OI_EFORMAT, "%s: truncated zip (no end of central directory)", what);
	uint64_t lo = len - 22 > 65535 ? len - 22 - 65535 : 0;
	uint64_t at = len - 22 + 1;
	while (at-- > lo)
		if (rd32(p + at) == 0x06054b50)
			break;
	if (at + 1 == lo || rd32(p + at) != 0x06054b50)
		return oi__fail(OI_EFORMAT, "%s: truncated zip (no end of central directory)", what);
	if (rd16(p + at + 4) || rd16(p + at + 6))
		return oi__fail(OI_EUNSUPPORTED, "%s: a zip split over several disks", what);
	*count = rd16(p + at + 10);
	*size = rd32(p + at + 12);
	*offset = rd32(p + at + 16);
	/* zip64: the locator just before, then the zip64 directory record (all
	 * ones without a locator are the values themselves: 65,535 members) */
	if ((*count == 0xFFFF || *size == 0xFFFFFFFFu || *offset == 0xFFFFFFFFu) && at >= 20 &&
	    rd32(p + at - 20) == 0x07064b50) {
		uint64_t r = rd64(p + at - 20 + 8);
		if (r > len || len - r < 56 || rd32(p + r) != 0x06064b50)
			return oi__fail(OI_EFORMAT, "%s: bad zip64 end of central directory", what);
		*count = rd64(p + r + 32);
		*size = rd64(p + r + 40);
		*offset = rd64(p + r + 48);
	}
	if (*offset > len || *size > len - *offset)
		return oi__fail(OI_EFORMAT, "%s: central directory out of the file", what);
	if (*count > *size / 46 + 1)
		return oi__fail(OI_EFORMAT, "%s: %llu members cannot fit the central directory", what,
		                (unsigned long long)*count);
	return 0;
}

/* A central directory entry's 0xFFFFFFFF fields, from its zip64 extra field. */
static int zip64_fields(const uint8_t *ex, size_t n, uint64_t *usize, uint64_t *csize,
                        uint64_t *off)
{
	size_t i = 0;
	while (i + 4 <= n) {
		uint32_t id = rd16(ex + i), sz = rd16(ex + i + 2);
		if (i + 4 + sz > n)
			return 0; /* a short field: what it would fix fails the later checks */
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

/* The entry at p[*at] (the directory ending at end), its local header. */
static int read_entry(const uint8_t *p, uint64_t len, uint64_t end, uint64_t *at,
                      const char *what, oi_zip_member *z)
{
	const uint8_t *e = p + *at;
	if (end - *at < 46 || rd32(e) != 0x02014b50)
		return oi__fail(OI_EFORMAT, "%s: bad central directory entry", what);
	size_t nl = rd16(e + 28), xl = rd16(e + 30), cl = rd16(e + 32);
	if (end - *at - 46 < nl + xl + cl)
		return oi__fail(OI_EFORMAT, "%s: bad central directory entry", what);
	*at += 46 + nl + xl + cl;
	uint32_t flags = rd16(e + 8);
	z->method = (uint16_t)rd16(e + 10);
	z->crc = rd32(e + 16);
	z->csize = rd32(e + 20);
	z->usize = rd32(e + 24);
	z->off = rd32(e + 42);
	z->name = (const char *)e + 46;
	z->name_len = nl;
	if (rd16(e + 34))
		return oi__fail(OI_EUNSUPPORTED, "%s: a zip split over several disks", what);
	if (zip64_fields(e + 46 + nl, xl, &z->usize, &z->csize, &z->off))
		return oi__fail(OI_EFORMAT, "%s: member '%.*s': bad zip64 field", what, (int)nl,
		                z->name);
	if (flags & 1)
		return oi__fail(OI_EUNSUPPORTED, "%s: member '%.*s' is encrypted", what, (int)nl,
		                z->name);
	if (len < 30 || z->off > len - 30 || rd32(p + z->off) != 0x04034b50)
		return oi__fail(OI_EFORMAT, "%s: member '%.*s': no local header at %llu", what,
		                (int)nl, z->name, (unsigned long long)z->off);
	uint64_t data = z->off + 30 + rd16(p + z->off + 26) + rd16(p + z->off + 28);
	if (data > len || z->csize > len - data)
		return oi__fail(OI_EFORMAT, "%s: member '%.*s' runs past the end of the file", what,
		                (int)nl, z->name);
	z->data = data;
	return 0;
}

static int by_off(const void *a, const void *b)
{
	const oi_zip_member *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

int oi__zip_members(const uint8_t *p, uint64_t len, const char *what, oi_zip_member **out,
                    size_t *n)
{
	*out = NULL;
	*n = 0;
	uint64_t count = 0, size = 0, offset = 0;
	int rc = find_directory(p, len, what, &count, &size, &offset);
	if (rc)
		return rc;
	oi_zip_member *z = oi__calloc(count ? (size_t)count : 1, sizeof *z), *s = NULL;
	if (!z)
		rc = OI_ENOMEM;
	uint64_t at = offset;
	for (uint64_t i = 0; i < count && !rc; i++)
		rc = read_entry(p, len, offset + size, &at, what, &z[i]);
	/* in file order, no member reaches into the next or the directory */
	if (!rc && !(s = oi__calloc(count ? (size_t)count : 1, sizeof *s)))
		rc = OI_ENOMEM;
	if (!rc) {
		memcpy(s, z, (size_t)count * sizeof *s);
		qsort(s, (size_t)count, sizeof *s, by_off);
		for (uint64_t i = 0; i < count && !rc; i++) {
			uint64_t next = i + 1 < count ? s[i + 1].off : offset;
			if (s[i].data + s[i].csize > next)
				rc = oi__fail(OI_EFORMAT, "%s: member '%.*s' overlaps what follows it", what,
				              (int)s[i].name_len, s[i].name);
		}
	}
	free(s);
	if (rc) {
		free(z);
		return rc;
	}
	*out = z;
	*n = (size_t)count;
	return 0;
}

static int inflate_all(const uint8_t *in, uint64_t clen, uint8_t *out, uint64_t ulen)
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
			rc = -1; /* corrupt, or no progress: truncated or too small */
			break;
		}
	}
	inflateEnd(&s);
	return rc || done_out != ulen ? -1 : 0;
}

int oi__zip_member_bytes(const uint8_t *p, const oi_zip_member *z, const char *what,
                         bool check_stored, const uint8_t **bytes, uint8_t **own)
{
	*bytes = NULL;
	*own = NULL;
	const uint8_t *b = p + z->data;
	uint8_t *buf = NULL;
	if (z->method == 8) {
		/* deflate expands at most 1032 times: a size past that is a lie, not
		 * a reason to allocate it */
		if (z->usize > SIZE_MAX / 2 || z->usize / 1032 > z->csize + 1)
			return oi__fail(OI_EFORMAT, "%s: its size (%llu bytes from %llu) cannot be", what,
			                (unsigned long long)z->usize, (unsigned long long)z->csize);
		buf = malloc(z->usize ? (size_t)z->usize : 1);
		if (!buf)
			return oi__fail(OI_ENOMEM, "%s: out of memory inflating %llu bytes", what,
			                (unsigned long long)z->usize);
		if (inflate_all(b, z->csize, buf, z->usize)) {
			free(buf);
			return oi__fail(OI_EFORMAT, "%s: corrupt deflated data", what);
		}
		b = buf;
	} else if (z->method != 0) {
		return oi__fail(OI_EUNSUPPORTED, "%s: compression method %u is not supported", what,
		                z->method);
	} else if (z->csize != z->usize) {
		return oi__fail(OI_EFORMAT, "%s: stored, but its sizes differ", what);
	}
	*bytes = b;
	*own = buf;
	if (!buf && !check_stored)
		return 0;
	/* zlib's crc32 takes uInt lengths: 1 GiB at a time */
	uLong c = crc32(0, NULL, 0);
	for (uint64_t k = 0; k < z->usize; k += (1u << 30))
		c = crc32(c, b + k, (uInt)(z->usize - k > (1u << 30) ? (1u << 30) : z->usize - k));
	if (c != z->crc) {
		free(buf);
		*bytes = NULL;
		*own = NULL;
		return oi__fail(OI_EFORMAT, "%s: CRC mismatch (corrupt archive)", what);
	}
	return 0;
}
