/* Saving: the input's bytes with new payloads spliced in, streamed to a
 * temporary file beside the target, fsynced and renamed into place. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model.h"
#include "fill.h"
#include "splice.h"
#include "tensor.h"
#include "untie.h"
#include "wire.h"

/* protobuf's limit for one message; a variable so that tests can lower it */
static uint64_t protobuf_limit = (uint64_t)INT32_MAX;

void oi__set_protobuf_limit(uint64_t limit);
void oi__set_protobuf_limit(uint64_t limit)
{
	protobuf_limit = limit ? limit : (uint64_t)INT32_MAX;
}

/* The protobuf field numbers the save writes. */
enum {
	ENTRY_KEY = 1,            /* StringStringEntryProto.key */
	ENTRY_VALUE = 2,          /* StringStringEntryProto.value */
	TENSOR_EXTERNAL_DATA = 13, /* TensorProto.external_data: entries */
	TENSOR_DATA_LOCATION = 14, /* TensorProto.data_location */
	MODEL_METADATA_PROPS = 14  /* ModelProto.metadata_props: entries */
};
enum { DATA_LOCATION_EXTERNAL = 1 };

/* A length-delimited field: tag, length, bytes. */
static int put_bytes_field(oi_buf *out, uint32_t field, const void *data, size_t len)
{
	uint8_t h[20];
	size_t n = oi__varint_put(h, ((uint64_t)field << 3) | OI_WIRE_LEN);
	n += oi__varint_put(h + n, len);
	int rc = oi__buf_append(out, h, n);
	return rc ? rc : oi__buf_append(out, data, len);
}

/* A StringStringEntryProto {key, value}: as field `field` of the message
 * that holds it, or (field 0) its content alone. */
static int string_entry(oi_buf *out, uint32_t field, const char *key, const char *value)
{
	size_t kl = strlen(key), vl = strlen(value);
	int rc = 0;
	if (field) {
		uint64_t ktag = (ENTRY_KEY << 3) | OI_WIRE_LEN, vtag = (ENTRY_VALUE << 3) | OI_WIRE_LEN;
		size_t body = oi__varint_len(ktag) + oi__varint_len(kl) + kl + oi__varint_len(vtag) +
		              oi__varint_len(vl) + vl;
		uint8_t h[20];
		size_t n = oi__varint_put(h, ((uint64_t)field << 3) | OI_WIRE_LEN);
		n += oi__varint_put(h + n, body);
		rc = oi__buf_append(out, h, n);
	}
	if (!rc)
		rc = put_bytes_field(out, ENTRY_KEY, key, kl);
	if (!rc)
		rc = put_bytes_field(out, ENTRY_VALUE, value, vl);
	return rc;
}

/* ---- files -------------------------------------------------------------- */

static mode_t current_umask(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	unsigned mask = 022;
	if (f) {
		char line[256];
		while (fgets(line, sizeof line, f))
			if (sscanf(line, "Umask: %o", &mask) == 1)
				break;
		fclose(f);
	}
	return (mode_t)mask;
}

typedef struct temp_file {
	char *tmp, *dest;
	int fd;
} temp_file;

typedef struct save_ctx {
	oi_model *m;
	const oi_save_options *opts;
	temp_file *temps;
	size_t n_temps;
} save_ctx;

/* Create the folders of a relative location below base. */
static int make_parents(const char *base, const char *rel)
{
	char *p = oi__asprintf("%s/%s", base, rel);
	if (!p)
		return OI_ENOMEM;
	size_t skip = strlen(base) + 1;
	for (char *s = p + skip; (s = strchr(s, '/')); s++) {
		*s = 0;
		if (mkdir(p, 0777) != 0 && errno != EEXIST) {
			int rc = oi__fail(OI_EIO, "cannot create folder %s: %s", p, strerror(errno));
			free(p);
			return rc;
		}
		*s = '/';
	}
	free(p);
	return 0;
}

static int open_temp(save_ctx *c, const char *dest, temp_file **out)
{
	temp_file *arr = oi__reallocarray(c->temps, c->n_temps + 1, sizeof *arr);
	if (!arr)
		return OI_ENOMEM;
	c->temps = arr;
	temp_file *t = &arr[c->n_temps];
	memset(t, 0, sizeof *t);
	t->fd = -1;
	char *dir = oi__dirname(dest);
	const char *base = strrchr(dest, '/') ? strrchr(dest, '/') + 1 : dest;
	t->dest = oi__strdup(dest);
	t->tmp = dir ? oi__asprintf("%s/.%s.oi-XXXXXX", dir, base) : NULL;
	free(dir);
	if (!t->dest || !t->tmp) {
		free(t->dest);
		free(t->tmp);
		return OI_ENOMEM;
	}
	t->fd = mkostemp(t->tmp, O_CLOEXEC);
	if (t->fd < 0) {
		int rc = oi__fail(OI_EIO, "cannot create a file beside %s: %s", dest, strerror(errno));
		free(t->dest);
		free(t->tmp);
		return rc;
	}
	c->n_temps++;
	if (c->opts->on_temp)
		c->opts->on_temp(t->tmp, 1, c->opts->userdata);
	/* the mode a plain create would give, or the replaced file's */
	struct stat st;
	mode_t mode = stat(dest, &st) == 0 ? (st.st_mode & 07777) : (0666 & ~current_umask());
	if (fchmod(t->fd, mode) != 0)
		return oi__fail(OI_EIO, "%s: cannot set mode: %s", t->tmp, strerror(errno));
	*out = t;
	return 0;
}

static int finish_temp(temp_file *t, bool sync)
{
	if (sync && fsync(t->fd) != 0) {
		int rc = oi__fail(OI_EIO, "%s: fsync failed: %s", t->dest, strerror(errno));
		return rc;
	}
	if (close(t->fd) != 0) {
		t->fd = -1;
		return oi__fail(OI_EIO, "%s: close failed: %s", t->dest, strerror(errno));
	}
	t->fd = -1;
	return 0;
}

static void drop_temps(save_ctx *c, bool remove)
{
	for (size_t i = 0; i < c->n_temps; i++) {
		temp_file *t = &c->temps[i];
		if (t->fd >= 0)
			close(t->fd);
		if (remove && t->tmp) {
			unlink(t->tmp);
			if (c->opts->on_temp)
				c->opts->on_temp(t->tmp, 0, c->opts->userdata);
		}
		free(t->tmp);
		free(t->dest);
	}
	free(c->temps);
	c->temps = NULL;
	c->n_temps = 0;
}

static void fsync_dir(const char *path)
{
	char *dir = oi__dirname(path);
	if (!dir)
		return;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

/* Rename every temporary into place: data files first, the model last, so
 * that a model never names data that is not there yet. */
static int commit_temps(save_ctx *c)
{
	for (size_t i = 0; i < c->n_temps; i++) {
		temp_file *t = &c->temps[i];
		if (rename(t->tmp, t->dest) != 0)
			return oi__fail(OI_EIO, "cannot rename %s to %s: %s", t->tmp, t->dest,
			                strerror(errno));
		if (c->opts->on_temp)
			c->opts->on_temp(t->tmp, 0, c->opts->userdata);
		free(t->tmp);
		t->tmp = NULL;
		if (!(c->opts->flags & (OI_SAVE_DEFER_DIR_SYNC | OI_SAVE_NO_FSYNC)))
			fsync_dir(t->dest);
	}
	return 0;
}

static bool same_file(const char *path, uint64_t dev, uint64_t ino)
{
	struct stat st;
	return stat(path, &st) == 0 && (uint64_t)st.st_dev == dev && (uint64_t)st.st_ino == ino;
}

/* ---- external data ------------------------------------------------------ */

/* The location a data file takes when its own name would overwrite the
 * input's: named after the output model, like the input's after the input
 * ("m.onnx.data" for "m.onnx" becomes "out.onnx.data"), in the same folder. */
static char *relocated(const char *in_path, const char *out_path, const char *loc)
{
	const char *in_base = strrchr(in_path, '/') ? strrchr(in_path, '/') + 1 : in_path;
	const char *out_base = strrchr(out_path, '/') ? strrchr(out_path, '/') + 1 : out_path;
	const char *slash = strrchr(loc, '/');
	const char *lb = slash ? slash + 1 : loc;
	int dl = slash ? (int)(slash - loc + 1) : 0;
	size_t il = strlen(in_base);
	if (il && !strncmp(lb, in_base, il))
		return oi__asprintf("%.*s%s%s", dl, loc, out_base, lb + il);
	return oi__asprintf("%.*s%s.%s", dl, loc, out_base, lb);
}

static int cmp_edit_start(const void *a, const void *b)
{
	const oi_edit *x = a, *y = b;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	const oi_fill_ctx *p = x->ud, *q = y->ud;
	return p < q ? -1 : p > q; /* file order of the tensors */
}

static int write_external(save_ctx *c, const char *path, const char *out_dir, size_t fi,
                          oi_fill_ctx *pcs, char **new_loc)
{
	oi_model *m = c->m;
	oi_ext_file *e = &m->ext[fi];
	const char *loc = e->location;
	char *dest = oi__asprintf("%s/%s", out_dir, loc);
	if (!dest)
		return OI_ENOMEM;
	int rc = 0;
	bool same = same_file(dest, e->dev, e->ino);
	if (same && !e->changed)
		goto out; /* the output reads the very same, unchanged file */
	if (same && !(c->opts->flags & OI_SAVE_REPLACE_INPUT)) {
		/* never write into a file being read: the output gets its own */
		*new_loc = relocated(m->path, path, loc);
		free(dest);
		dest = *new_loc ? oi__asprintf("%s/%s", out_dir, *new_loc) : NULL;
		if (!dest)
			return OI_ENOMEM;
		loc = *new_loc;
		bool clash = same_file(dest, m->dev, m->ino);
		for (size_t i = 0; i < m->n_ext; i++)
			clash = clash || same_file(dest, m->ext[i].dev, m->ext[i].ino);
		if (clash) {
			rc = oi__fail(OI_ECONFLICT, "the re-initialized weights of '%s' would go to '%s', "
			              "which the input reads; write the output to another folder",
			              e->location, loc);
			goto out;
		}
	}
	size_t n_edits = 0;
	oi_edit *edits = oi__calloc(m->n_tensors, sizeof *edits);
	if (!edits) {
		rc = OI_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < m->n_tensors; i++) {
		const oi_tensor *tt = &m->tensors[i];
		if (tt->ext != (int32_t)fi || tt->info.action == OI_ACTION_KEEP)
			continue;
		edits[n_edits++] = (oi_edit){ .start = tt->ext_off, .end = tt->ext_off + tt->info.nbytes,
		                              .new_len = tt->info.nbytes, .span = -1,
		                              .produce = oi__fill_produce_raw, .ud = &pcs[i] };
	}
	/* Tensors may share bytes (tied weights): one range is written once, by
	 * the first tensor in file order; ranges that overlap in part cannot be. */
	qsort(edits, n_edits, sizeof *edits, cmp_edit_start);
	size_t kept = 0;
	for (size_t i = 0; i < n_edits && !rc; i++) {
		if (kept && edits[i].start < edits[kept - 1].end) {
			const oi_fill_ctx *a = edits[kept - 1].ud, *b = edits[i].ud;
			if (edits[i].start == edits[kept - 1].start && edits[i].end == edits[kept - 1].end)
				continue;
			rc = oi__fail(OI_EINVALID, "tensors '%s' and '%s' share part of their external "
			              "data in '%s'; one cannot be rewritten without the other",
			              a->t->info.name, b->t->info.name, e->location);
			break;
		}
		edits[kept++] = edits[i];
	}
	n_edits = kept;
	temp_file *t = NULL;
	if (!rc)
		rc = make_parents(out_dir, loc);
	if (!rc)
		rc = open_temp(c, dest, &t);
	if (rc) {
		free(edits);
		goto out;
	}
	static const oi_scan no_spans;
	oi_sink sink;
	rc = oi__sink_init_fd(&sink, t->fd, dest);
	sink.cancel = c->opts->cancel;
	if (!rc)
		rc = oi__splice(e->map, e->size, e->fd, &no_spans, edits, n_edits, &sink, NULL);
	oi__sink_free(&sink);
	free(edits);
	if (!rc)
		rc = finish_temp(t, !(c->opts->flags & OI_SAVE_NO_FSYNC));
out:
	free(dest);
	return rc;
}

/* Point every tensor of ext file fi at its new location. */
static void relocate_edits(const oi_model *m, size_t fi, const oi_buf *entry, oi_edit *edits,
                           size_t *n_edits)
{
	for (size_t i = 0; i < m->n_tensors; i++) {
		const oi_tensor *t = &m->tensors[i];
		if (t->ext != (int32_t)fi)
			continue;
		int32_t tspan = m->scan.tensors[t->rec].span;
		size_t k = 0;
		/* the j-th external_data span is the j-th unpacked entry */
		for (size_t s = (size_t)tspan + 1; s < m->scan.n_spans; s++) {
			const oi_span *sp = &m->scan.spans[s];
			if (sp->start >= m->scan.spans[tspan].end)
				break;
			if (sp->parent != tspan || sp->field != TENSOR_EXTERNAL_DATA)
				continue;
			const Onnx__StringStringEntryProto *kv =
				k < t->tp->n_external_data ? t->tp->external_data[k] : NULL;
			k++;
			if (kv && kv->key && !strcmp(kv->key, "location"))
				edits[(*n_edits)++] = (oi_edit){ .start = sp->start, .end = sp->end,
				                                 .new_len = entry->len, .span = (int32_t)s,
				                                 .bytes = entry->data };
		}
	}
}

/* ---- past 2 GiB: weights move to external data -------------------------- */

#define EXT_ALIGN 4096
#define EXT_MIN_BYTES 1024 /* ONNX's own size_threshold */

/* Rewrite every raw tensor of at least EXT_MIN_BYTES as external data in
 * "<output name>.data" beside the output, at 4096-aligned offsets (ONNX's
 * layout for mmap), replacing its raw_data field by external_data entries. */
static int move_to_external(save_ctx *c, const char *path, const char *out_dir,
                            oi_edit *edits, size_t *n_edits, oi_fill_ctx *pcs, oi_buf *fields)
{
	oi_model *m = c->m;
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	char *loc = oi__asprintf("%s.data", base);
	char *dest = loc ? oi__asprintf("%s/%s", out_dir, loc) : NULL;
	bool *moved = oi__calloc(m->n_tensors, sizeof *moved);
	int rc = loc && dest && moved ? 0 : OI_ENOMEM;
	for (size_t i = 0; i < m->n_ext && !rc; i++)
		if (same_file(dest, m->ext[i].dev, m->ext[i].ino))
			rc = oi__fail(OI_ECONFLICT, "the output is past 2 GiB and its weights would go to "
			              "'%s', which the input reads", loc);
	if (rc)
		goto out;
	for (size_t i = 0; i < m->n_tensors; i++) {
		const oi_tensor *t = &m->tensors[i];
		moved[i] = t->info.storage == OI_STORAGE_RAW && t->info.nbytes >= EXT_MIN_BYTES &&
		           oi__tensor_raw_field(m, t) != NULL;
	}
	/* their in-place payload edits give way to the whole-field ones */
	size_t k = 0;
	for (size_t i = 0; i < *n_edits; i++) {
		const oi_fill_ctx *pc = edits[i].ud;
		if (edits[i].produce && pc >= pcs && pc < pcs + m->n_tensors && moved[pc - pcs])
			continue;
		edits[k++] = edits[i];
	}
	*n_edits = k;

	temp_file *t = NULL;
	rc = open_temp(c, dest, &t);
	oi_sink sink;
	if (rc)
		goto out;
	rc = oi__sink_init_fd(&sink, t->fd, dest);
	sink.cancel = c->opts->cancel;
	static const uint8_t zeros[EXT_ALIGN];
	uint64_t off = 0;
	for (size_t i = 0; i < m->n_tensors && !rc; i++) {
		if (!moved[i])
			continue;
		const oi_tensor *tt = &m->tensors[i];
		const oi_field_ref *f = oi__tensor_raw_field(m, tt);
		uint64_t pad = (EXT_ALIGN - off % EXT_ALIGN) % EXT_ALIGN;
		rc = oi__sink_write(&sink, zeros, (size_t)pad);
		off += pad;
		char num[2][24];
		snprintf(num[0], sizeof num[0], "%llu", (unsigned long long)off);
		snprintf(num[1], sizeof num[1], "%llu", (unsigned long long)tt->info.nbytes);
		if (!rc)
			rc = string_entry(&fields[i], TENSOR_EXTERNAL_DATA, "location", loc);
		if (!rc)
			rc = string_entry(&fields[i], TENSOR_EXTERNAL_DATA, "offset", num[0]);
		if (!rc)
			rc = string_entry(&fields[i], TENSOR_EXTERNAL_DATA, "length", num[1]);
		uint8_t dl[2] = { (TENSOR_DATA_LOCATION << 3) | OI_WIRE_VARINT, DATA_LOCATION_EXTERNAL };
		if (!rc)
			rc = oi__buf_append(&fields[i], dl, sizeof dl);
		if (rc)
			break;
		edits[(*n_edits)++] = (oi_edit){ .start = f->tag_off, .end = f->end,
		                                 .new_len = fields[i].len,
		                                 .span = m->scan.tensors[tt->rec].span,
		                                 .bytes = fields[i].data };
		if (tt->info.action == OI_ACTION_KEEP) {
			rc = oi__sink_copy(&sink, m->map, m->in_memory ? -1 : m->fd, f->start, f->end - f->start);
		} else {
			oi_edit e = { .new_len = tt->info.nbytes, .ud = &pcs[i] };
			rc = oi__fill_produce_raw(&e, &sink);
		}
		off += tt->info.nbytes;
	}
	if (!rc)
		rc = oi__sink_flush(&sink);
	oi__sink_free(&sink);
	if (!rc)
		rc = finish_temp(t, !(c->opts->flags & OI_SAVE_NO_FSYNC));
	if (!rc) {
		m->saved_external = oi__model_keep(m, loc);
		loc = NULL;
		if (!m->saved_external)
			rc = OI_ENOMEM;
	}
out:
	free(moved);
	free(loc);
	free(dest);
	return rc;
}

/* ---- the model ---------------------------------------------------------- */

int oi_model_save(oi_model *m, const char *path, const oi_save_options *given)
{
	oi_save_options o = OI_SAVE_OPTIONS_INIT;
	const oi_save_options *opts = &o;
	if (given && given->version != 1 && given->version != OI_SAVE_OPTIONS_VERSION)
		return oi__fail(OI_EARG, "%s: oi_save_options version %u is not %u", path,
		                given->version, OI_SAVE_OPTIONS_VERSION);
	if (given) /* version 1 ends before threads */
		memcpy(&o, given, given->version == 1 ? offsetof(oi_save_options, threads) : sizeof o);
	if (same_file(path, m->dev, m->ino) && !(opts->flags & OI_SAVE_REPLACE_INPUT))
		return oi__fail(OI_ECONFLICT, "%s: the output is the input model itself (use in-place)", path);
	for (size_t i = 0; i < m->n_ext; i++)
		if (same_file(path, m->ext[i].dev, m->ext[i].ino))
			return oi__fail(OI_ECONFLICT, "%s: the output is the input's external data file '%s'",
			                path, m->ext[i].location);

	save_ctx c = { m, opts, NULL, 0 };
	char *out_dir = oi__dirname(path);
	oi_fill_ctx *pcs = oi__calloc(m->n_tensors, sizeof *pcs);
	oi_edit *edits = oi__calloc(m->scan.n_fields + m->n_tensors + m->scan.n_spans + 1 +
	                            oi__untie_edit_count(m),
	                            sizeof *edits);
	oi_buf *typed = oi__calloc(m->n_tensors, sizeof *typed);
	oi_buf *moved_fields = oi__calloc(m->n_tensors, sizeof *moved_fields);
	oi_buf prov = { 0 };
	unsigned threads = oi__fill_threads(opts->threads);
	int rc = (out_dir && pcs && edits && typed && moved_fields) ? 0 : OI_ENOMEM;
	size_t n_edits = 0;

	for (size_t i = 0; i < m->n_tensors && !rc; i++) {
		oi_tensor *t = &m->tensors[i];
		pcs[i] = (oi_fill_ctx){ t, threads, m->in_memory };
		if (t->info.action == OI_ACTION_KEEP || t->info.storage == OI_STORAGE_EXTERNAL)
			continue;
		const oi_tensor_rec *r = &m->scan.tensors[t->rec];
		if (t->info.storage == OI_STORAGE_RAW) {
			const oi_field_ref *f = oi__tensor_raw_field(m, t);
			if (!f)
				continue; /* an empty tensor: nothing to write */
			edits[n_edits++] = (oi_edit){ .start = f->start, .end = f->end,
			                              .new_len = f->end - f->start, .span = r->span,
			                              .produce = oi__fill_produce_raw, .ud = &pcs[i] };
			continue;
		}
		/* typed: the first occurrence becomes one packed field, others go */
		rc = oi__fill_encode_typed(&pcs[i], &typed[i]);
		bool first = true;
		for (uint32_t k = 0; k < r->n_fields && !rc; k++) {
			const oi_field_ref *f = &m->scan.fields[r->first_field + k];
			edits[n_edits++] = (oi_edit){ .start = f->tag_off, .end = f->end,
			                              .new_len = first ? typed[i].len : 0,
			                              .span = r->span, .bytes = typed[i].data };
			first = false;
		}
	}
	if (!rc)
		n_edits += oi__untie_edits(m, edits + n_edits);
	if (!rc && m->provenance) {
		rc = string_entry(&prov, MODEL_METADATA_PROPS, "onnxinit", m->provenance);
		bool replaced = false;
		size_t k = 0;
		for (size_t i = 0; i < m->scan.n_spans && !rc; i++) {
			const oi_span *s = &m->scan.spans[i];
			if (s->parent != -1 || s->field != MODEL_METADATA_PROPS)
				continue;
			const Onnx__StringStringEntryProto *kv =
				k < m->pb->n_metadata_props ? m->pb->metadata_props[k] : NULL;
			k++;
			if (!kv || !kv->key || strcmp(kv->key, "onnxinit"))
				continue;
			edits[n_edits++] = (oi_edit){ .start = s->tag_off, .end = s->end,
			                              .new_len = replaced ? 0 : prov.len, .span = -1,
			                              .bytes = prov.data };
			replaced = true;
		}
		if (!rc && !replaced)
			edits[n_edits++] = (oi_edit){ .start = m->size, .end = m->size, .new_len = prov.len,
			                              .span = -1, .bytes = prov.data };
	}

	/* external data first: it decides the locations the model names */
	char **new_locs = oi__calloc(m->n_ext, sizeof *new_locs);
	oi_buf *loc_entries = oi__calloc(m->n_ext, sizeof *loc_entries);
	if (!new_locs || !loc_entries)
		rc = OI_ENOMEM;
	for (size_t i = 0; i < m->n_ext && !rc; i++) {
		rc = write_external(&c, path, out_dir, i, pcs, &new_locs[i]);
		if (!rc && new_locs[i]) {
			rc = string_entry(&loc_entries[i], 0, "location", new_locs[i]);
			if (!rc)
				relocate_edits(m, i, &loc_entries[i], edits, &n_edits);
		}
	}

	uint64_t out_len = 0;
	if (!rc)
		rc = oi__splice(m->map, m->size, m->in_memory ? -1 : m->fd, &m->scan, edits, n_edits, NULL, &out_len);
	m->saved_external = NULL; /* the previous save's stays in the pool */
	if (!rc && out_len > protobuf_limit) {
		rc = move_to_external(&c, path, out_dir, edits, &n_edits, pcs, moved_fields);
		if (!rc)
			rc = oi__splice(m->map, m->size, m->in_memory ? -1 : m->fd, &m->scan, edits, n_edits, NULL, &out_len);
		if (!rc && out_len > protobuf_limit)
			rc = oi__fail(OI_ETOOBIG, "the output would be %llu bytes even with its weights "
			              "in external data, past protobuf's 2 GiB limit",
			              (unsigned long long)out_len);
	}

	temp_file *t = NULL;
	if (!rc)
		rc = open_temp(&c, path, &t);
	if (!rc) {
		oi_sink sink;
		rc = oi__sink_init_fd(&sink, t->fd, path);
		sink.cancel = opts->cancel;
		if (!rc)
			rc = oi__splice(m->map, m->size, m->in_memory ? -1 : m->fd, &m->scan, edits, n_edits, &sink, NULL);
		oi__sink_free(&sink);
	}
	if (!rc)
		rc = finish_temp(t, !(opts->flags & OI_SAVE_NO_FSYNC));
	if (!rc && opts->cancel && *opts->cancel)
		rc = oi__fail(OI_EIO, "%s: interrupted", path);
	if (!rc)
		rc = commit_temps(&c);
	drop_temps(&c, rc != 0);

	for (size_t i = 0; typed && i < m->n_tensors; i++)
		oi__buf_free(&typed[i]);
	for (size_t i = 0; moved_fields && i < m->n_tensors; i++)
		oi__buf_free(&moved_fields[i]);
	free(typed);
	free(moved_fields);
	for (size_t i = 0; new_locs && i < m->n_ext; i++)
		free(new_locs[i]);
	for (size_t i = 0; loc_entries && i < m->n_ext; i++)
		oi__buf_free(&loc_entries[i]);
	free(new_locs);
	free(loc_entries);
	oi__buf_free(&prov);
	free(edits);
	free(pcs);
	free(out_dir);
	if (rc && strncmp(oi_last_error(), path, strlen(path)) != 0)
		oi__error_prefix(path);
	return rc ? rc : oi__ok();
}
