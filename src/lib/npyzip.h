/* numpy's formats, read from bytes in memory and checked as they are read:
 * the .npy header (format 1.0-3.0: magic, version, a Python dict literal
 * with 'descr', 'fortran_order' and 'shape', then the elements) and the zip
 * archive of an .npz (stored or deflated members, zip64 where numpy writes
 * it). One reader for the data passes (data.c) and for donors
 * (donor/npy.c); each makes its own arrays of what it reads. */
#ifndef OI_NPYZIP_H
#define OI_NPYZIP_H

#include "internal.h"

#define OI_NPY_MAX_RANK 32

typedef struct oi_npy {
	char kind;             /* 'f' float, 'i' signed, 'u' unsigned, 'b' bool */
	unsigned itemsize;     /* bytes per element: f 2/4/8, i/u 1/2/4/8, b 1 */
	bool swap;             /* big-endian elements of more than one byte */
	bool fortran;          /* Fortran order (and rank > 1: it matters) */
	size_t ndim;
	int64_t dims[OI_NPY_MAX_RANK];
	uint64_t numel;
	uint64_t off;          /* where the elements start */
	uint64_t bytes;        /* numel * itemsize: exactly the rest of the file */
} oi_npy;

/* The header of the .npy image p[0..len); what names it in messages. */
int oi__npy_header(const uint8_t *p, uint64_t len, const char *what, oi_npy *h);
/* Whether the elements need oi__npy_to_c to be little-endian C order. */
bool oi__npy_needs_copy(const oi_npy *h);
/* The h->bytes bytes of elements at in, into out in C order, little-endian. */
void oi__npy_to_c(const uint8_t *in, uint8_t *out, const oi_npy *h);

typedef struct oi_zip_member {
	const char *name;      /* in the archive, not NUL-terminated */
	size_t name_len;
	uint16_t method;       /* 0 stored, 8 deflated */
	uint32_t crc;
	uint64_t off;          /* its local header */
	uint64_t data;         /* its bytes */
	uint64_t csize, usize;
} oi_zip_member;

/* The members of the zip archive p[0..len), in the central directory's
 * order (*out malloc'd, *n of them): one disk, none encrypted, each local
 * header where its entry says, members inside the file and apart from each
 * other and from the directory. */
int oi__zip_members(const uint8_t *p, uint64_t len, const char *what, oi_zip_member **out,
                    size_t *n);
/* A member's bytes: a stored one where it lies (*own NULL), a deflated one
 * inflated into *own (malloc'd); other methods refused. The CRC is checked
 * for deflated members, and for stored ones if check_stored (reading them
 * whole: a donor leaves its stored members to the kernel copy). */
int oi__zip_member_bytes(const uint8_t *p, const oi_zip_member *z, const char *what,
                         bool check_stored, const uint8_t **bytes, uint8_t **own);

#endif
