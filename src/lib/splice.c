/* See splice.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "splice.h"
#include "wire.h"

#define SINK_CAP (1u << 20)

int oi__sink_init_fd(oi_sink *s, int fd, const char *path)
{
	memset(s, 0, sizeof *s);
	s->fd = fd;
	s->path = path;
	s->buf = malloc(SINK_CAP);
	if (!s->buf)
		return oi__fail(OI_ENOMEM, "out of memory");
	s->cap = SINK_CAP;
	return 0;
}

void oi__sink_init_mem(oi_sink *s, oi_buf *mem)
{
	memset(s, 0, sizeof *s);
	s->fd = -1;
	s->mem = mem;
}

#define WRITEBACK_STEP (32u << 20)

/* Start writeback of what reached the file since the last kick, once a
 * step has gathered. Only a hint: an error shows at the fsync. */
static void kick_writeback(oi_sink *s)
{
	if (!s->writeback || s->in_file - s->kicked < WRITEBACK_STEP)
		return;
	sync_file_range(s->fd, (off_t)s->kicked, (off_t)(s->in_file - s->kicked),
	                SYNC_FILE_RANGE_WRITE);
	s->kicked = s->in_file;
}

static int write_all(oi_sink *s, const uint8_t *p, size_t n)
{
	while (n) {
		if (s->cancel && *s->cancel)
			return oi__fail(OI_EIO, "%s: interrupted", s->path);
		ssize_t w = write(s->fd, p, n > (1u << 30) ? (1u << 30) : n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			/* our own buffers are valid: a bad address is a page of an
			 * input mapping past the end of a file that shrank */
			if (errno == EFAULT && s->src_path)
				return oi__sink_input_changed(s, true);
			return oi__fail(OI_EIO, "%s: write failed: %s", s->path, strerror(errno));
		}
		p += w;
		n -= (size_t)w;
		s->in_file += (uint64_t)w;
	}
	return 0;
}

int oi__sink_flush(oi_sink *s)
{
	if (s->fd < 0 || !s->len)
		return 0;
	int rc = write_all(s, s->buf, s->len);
	s->len = 0;
	kick_writeback(s);
	return rc;
}

int oi__sink_write(oi_sink *s, const void *data, size_t len)
{
	s->written += len;
	if (s->fd < 0)
		return oi__buf_append(s->mem, data, len);
	if (len <= s->cap - s->len) {
		memcpy(s->buf + s->len, data, len);
		s->len += len;
		return 0;
	}
	int rc = oi__sink_flush(s);
	if (rc)
		return rc;
	if (len < s->cap) {
		memcpy(s->buf, data, len);
		s->len = len;
		return 0;
	}
	rc = write_all(s, data, len);
	kick_writeback(s);
	return rc;
}

int oi__sink_input_changed(const oi_sink *s, bool shrank)
{
	const char *what = shrank ? "shrank" : "changed size";
	if (s->src_loc)
		return oi__fail(OI_EIO, "%s: its external data file '%s' %s while it was being read "
		                "(truncated by another program?)", s->src_path, s->src_loc, what);
	return oi__fail(OI_EIO, "%s: the input %s while it was being read (truncated by another "
	                "program?)", s->src_path ? s->src_path : s->path, what);
}

/* Whether the file src_fd ends before end. */
static bool ends_before(int src_fd, uint64_t end)
{
	struct stat st;
	return fstat(src_fd, &st) == 0 && (uint64_t)st.st_size < end;
}

#define KERNEL_COPY_MIN (256u << 10)

int oi__sink_copy(oi_sink *s, const uint8_t *data, int src_fd, uint64_t off, uint64_t len)
{
	if (s->fd < 0 || src_fd < 0 || len < KERNEL_COPY_MIN)
		return oi__sink_write(s, data + off, (size_t)len);
	int rc = oi__sink_flush(s);
	if (rc)
		return rc;
	loff_t in_off = (loff_t)off;
	uint64_t left = len;
	while (left) {
		if (s->cancel && *s->cancel)
			return oi__fail(OI_EIO, "%s: interrupted", s->path);
		uint64_t step = s->writeback ? WRITEBACK_STEP : 1u << 30;
		ssize_t n = copy_file_range(src_fd, &in_off, s->fd, NULL,
		                            left > step ? (size_t)step : (size_t)left, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0 && errno != ENOSYS && errno != EXDEV && errno != EINVAL &&
			    errno != EOPNOTSUPP && errno != EBADF)
				return oi__fail(OI_EIO, "%s: write failed: %s", s->path, strerror(errno));
			/* 0 is the end of the file: it shrank since it was mapped, and
			 * the mapping's pages past its new end cannot be read either */
			if (ends_before(src_fd, off + len))
				return oi__sink_input_changed(s, true);
			/* no kernel copy here: the rest through memory */
			break;
		}
		left -= (uint64_t)n;
		s->written += (uint64_t)n;
		s->in_file += (uint64_t)n;
		kick_writeback(s);
	}
	if (!left)
		return 0;
	return oi__sink_write(s, data + (len - left) + off, (size_t)left);
}

void oi__sink_free(oi_sink *s)
{
	free(s->buf);
	s->buf = NULL;
}

static int cmp_edit(const void *a, const void *b)
{
	const oi_edit *x = a, *y = b;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	/* Insertions at one offset: the deeper span's (closing first) goes first. */
	return x->sort_key < y->sort_key ? -1 : x->sort_key > y->sort_key;
}

int oi__splice(const uint8_t *data, uint64_t len, int src_fd, const oi_scan *scan,
               oi_edit *edits, size_t n_edits, oi_sink *sink, uint64_t *out_len)
{
	int rc = 0;
	size_t n_spans = scan->n_spans;
	int64_t *delta = calloc(n_spans ? n_spans : 1, sizeof *delta);
	if (!delta)
		return oi__fail(OI_ENOMEM, "out of memory");
	int64_t top_delta = 0;
	for (size_t i = 0; i < n_edits; i++) {
		const oi_edit *e = &edits[i];
		if (e->end < e->start || e->end > len || e->new_len > INT64_MAX) {
			free(delta);
			return oi__fail(OI_EINVALID, "internal: edit out of range");
		}
		int64_t d = (int64_t)e->new_len - (int64_t)(e->end - e->start);
		if (e->span < 0)
			top_delta += d;
		else
			delta[e->span] += d;
	}
	/* Spans are in pre-order, so every child comes after its parent:
	 * walking backwards settles each span before its parent needs it. */
	size_t n_prefix = 0;
	for (size_t i = n_spans; i-- > 0;) {
		if (!delta[i])
			continue;
		const oi_span *sp = &scan->spans[i];
		int64_t new_content = (int64_t)(sp->end - sp->start) + delta[i];
		if (new_content < 0) {
			free(delta);
			return oi__fail(OI_EINVALID, "internal: negative message length");
		}
		int64_t d = delta[i] + (int64_t)oi__varint_len((uint64_t)new_content) -
		            (int64_t)(sp->start - sp->prefix_off);
		if (sp->parent < 0)
			top_delta += d;
		else
			delta[sp->parent] += d;
		n_prefix++;
	}
	if (out_len)
		*out_len = (uint64_t)((int64_t)len + top_delta);
	if (!sink) {
		free(delta);
		return 0;
	}

	/* The prefix rewrites join the edits; then one sorted sweep writes all. */
	size_t total = n_edits + n_prefix;
	oi_edit *all = malloc((total ? total : 1) * sizeof *all);
	uint8_t *prefix_bytes = malloc((n_prefix ? n_prefix : 1) * 10);
	if (!all || !prefix_bytes) {
		rc = oi__fail(OI_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n_edits; i++) {
		all[i] = edits[i];
		/* tie-break: deeper spans first, then the caller's order */
		uint32_t depth = edits[i].span < 0 ? 0 : scan->spans[edits[i].span].depth;
		all[i].sort_key = ((uint64_t)(UINT32_MAX - depth) << 32) | (i & 0xffffffffu);
	}
	size_t k = n_edits, pb = 0;
	for (size_t i = 0; i < n_spans; i++) {
		if (!delta[i])
			continue;
		const oi_span *sp = &scan->spans[i];
		uint64_t new_content = (uint64_t)((int64_t)(sp->end - sp->start) + delta[i]);
		size_t n = oi__varint_put(prefix_bytes + pb, new_content);
		all[k++] = (oi_edit){ .start = sp->prefix_off, .end = sp->start, .new_len = n,
		                      .span = sp->parent, .bytes = prefix_bytes + pb,
		                      .sort_key = (uint64_t)UINT32_MAX << 32 };
		pb += 10;
	}
	qsort(all, total, sizeof *all, cmp_edit);
	uint64_t pos = 0;
	for (size_t i = 0; i < total && !rc; i++) {
		oi_edit *e = &all[i];
		if (e->start < pos) {
			rc = oi__fail(OI_EINVALID, "internal: overlapping edits");
			break;
		}
		rc = oi__sink_copy(sink, data, src_fd, pos, e->start - pos);
		if (rc)
			break;
		uint64_t before = sink->written;
		if (e->bytes)
			rc = oi__sink_write(sink, e->bytes, (size_t)e->new_len);
		else
			rc = e->produce(e, sink);
		if (!rc && sink->written - before != e->new_len)
			rc = oi__fail(OI_EINVALID, "internal: replacement of the wrong length");
		pos = e->end;
	}
	if (!rc)
		rc = oi__sink_copy(sink, data, src_fd, pos, len - pos);
	if (!rc)
		rc = oi__sink_flush(sink);
out:
	free(all);
	free(prefix_bytes);
	free(delta);
	return rc;
}
