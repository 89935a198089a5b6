/* The splicer: writes a copy of a serialized message with some byte ranges
 * replaced, recomputing the length prefix of every enclosing submessage
 * whose size changed. Everything outside the edits is copied byte for byte,
 * which is what makes a rewrite lossless: unknown fields, field order and
 * non-canonical encodings all survive. */
#ifndef OI_SPLICE_H
#define OI_SPLICE_H

#include "scan.h"

/* Where output goes: a file descriptor (buffered) or a memory buffer. */
typedef struct oi_sink {
	int fd;              /* -1: append to mem */
	oi_buf *mem;
	const char *path;    /* for messages */
	/* the input copied from (for messages): the model, and the location of
	 * the external data file, or NULL */
	const char *src_path, *src_loc;
	uint8_t *buf;
	size_t len, cap;
	uint64_t written;
	const volatile int *cancel; /* if set and nonzero, writing stops */
	/* the file will be fsynced: start writing back each WRITEBACK_STEP
	 * written, so that the disk works while the rest is copied and the
	 * final fsync has little left to wait for */
	bool writeback;
	uint64_t in_file;    /* bytes that reached the file */
	uint64_t kicked;     /* of them, handed to writeback */
} oi_sink;

int oi__sink_init_fd(oi_sink *s, int fd, const char *path);
void oi__sink_init_mem(oi_sink *s, oi_buf *mem);
int oi__sink_write(oi_sink *s, const void *data, size_t len);
int oi__sink_flush(oi_sink *s);
void oi__sink_free(oi_sink *s);

struct oi_edit;
/* Writes exactly edit->new_len bytes of the replacement to sink. */
typedef int (*oi_produce_fn)(const struct oi_edit *edit, oi_sink *sink);

typedef struct oi_edit {
	uint64_t start, end;     /* the original range it replaces (may be empty) */
	uint64_t new_len;
	int32_t span;            /* innermost span containing it; -1 = top level */
	const uint8_t *bytes;    /* the replacement, or NULL to call produce */
	oi_produce_fn produce;
	void *ud;                /* for the producer */
	uint64_t sort_key;       /* set by the splicer */
} oi_edit;

/* Write data[0..len) (also open as src_fd, or -1) with the edits applied to sink. edits is reordered.
 * If out_len is not NULL it receives the output length; with sink NULL
 * nothing is written (used to learn the length first). */
int oi__splice(const uint8_t *data, uint64_t len, int src_fd, const oi_scan *scan,
               oi_edit *edits, size_t n_edits, oi_sink *sink, uint64_t *out_len);
/* Copy len bytes at offset off of the source to sink: in the kernel
 * (copy_file_range) when both are files, so that a large unchanged range
 * is never paged into this process; else from data. */
int oi__sink_copy(oi_sink *s, const uint8_t *data, int src_fd, uint64_t off, uint64_t len);
/* Fail: the input (s->src_path, s->src_loc) no longer has the size it had
 * when it was mapped; another program truncated or rewrote it. */
int oi__sink_input_changed(const oi_sink *s, bool shrank);

#endif
