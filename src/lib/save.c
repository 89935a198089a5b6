/* Saving: the input's bytes with new payloads spliced in, streamed to
 * temporaries beside the targets and fsynced (or, in a commit group, synced
 * with the group's other saves at once). A data file that changes gets a
 * name no file had (or a stale one's), so the model's rename is the one
 * step that commits the model with its data. */
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
#include "donor/donor.h"
#include "files.h"
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

/* ---- the output's files ------------------------------------------------ */

/* A data file the save writes. It is written as a locked temporary, then
 * given its name before the model is written (the model names it): a name
 * that was free (placed), or, at the commit, the name of a stale file that
 * nothing uses (replace). */
typedef struct data_out {
	oi_temp tmp;         /* while it is a temporary */
	char *loc;           /* the location the new model names */
	char *dest;          /* out_dir/loc */
	uint64_t dev, ino;   /* the file written */
	uint64_t old_dev, old_ino; /* replace: the stale file it replaces */
	int fd;              /* placed, in a group: kept open for the group's sync */
	bool placed, replace;
} data_out;

/* A data file of the model at the output before the save. */
typedef struct ref_file {
	char *path;          /* as named: the model's folder and the location */
	const char *loc;     /* in path */
	uint64_t dev, ino;
	bool alone;          /* nothing in it but that model's tensors */
} ref_file;

/* What the model at the output names, as last read. */
typedef struct out_refs {
	bool read, known;    /* known: there is no model, or its files were read */
	bool exists;
	uint64_t dev, ino;   /* of the output when read */
	/* that model, open (its files too) until the save ends: no inode
	 * compared with these can be another file's that got the number */
	oi_model *om;
	ref_file *files;
	size_t n;
} out_refs;

typedef struct save_ctx {
	oi_model *m;
	oi_save_options o;   /* the caller's, as given */
	const char *path;    /* path_own */
	char *path_own;
	char *out_dir;
	const char *out_base;
	bool in_place;       /* the output is the input model */
	oi_temp model_tmp;   /* created first: while it is locked, the save runs */
	data_out *data;
	size_t n_data;
	bool *shared;        /* per ext file: the output names the input's own */
	out_refs refs;
	bool sync_now;       /* each file synced as it is written (no group) */
	bool sync_later;     /* the group syncs the files before the commit */
	char *error;         /* the failure's message, for the group's callback */
	int group_rc;        /* in a group's commit: this save's result so far */
} save_ctx;

static bool same_file(const char *path, uint64_t dev, uint64_t ino)
{
	struct stat st;
	return stat(path, &st) == 0 && (uint64_t)st.st_dev == dev && (uint64_t)st.st_ino == ino;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* Whether a and b name the same place (their folders resolved). */
static bool same_place(const char *a, const char *b)
{
	if (strcmp(base_name(a), base_name(b)) != 0)
		return false;
	char *da = oi__dirname(a), *db = oi__dirname(b);
	char *ra = da ? realpath(da, NULL) : NULL, *rb = db ? realpath(db, NULL) : NULL;
	bool same = ra && rb && !strcmp(ra, rb);
	free(da);
	free(db);
	free(ra);
	free(rb);
	return same;
}

static void on_temp(const save_ctx *c, const char *path, int created)
{
	if (c->o.on_temp)
		c->o.on_temp(path, created, c->o.userdata);
}

/* Create the folders of a relative location below base. */
static int make_parents(const char *base, const char *rel)
{
	char *p = oi__asprintf("%s/%s", base, rel);
	if (!p)
		return OI_ENOMEM;
	size_t skip = strlen(base) + 1;
	/* most often they are there: one stat, not a failing mkdir each */
	char *last = strrchr(p + skip, '/');
	struct stat st;
	if (last) {
		*last = 0;
		bool there = stat(p, &st) == 0 && S_ISDIR(st.st_mode);
		*last = '/';
		if (there)
			last = NULL;
	}
	for (char *s = p + skip; last && (s = strchr(s, '/')); s++) {
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

static int temp_beside(save_ctx *c, oi_temp *t, const char *dest, mode_t mode)
{
	char *dir = oi__dirname(dest);
	if (!dir)
		return OI_ENOMEM;
	int rc = oi__temp_create(t, dir, base_name(dest), mode);
	free(dir);
	if (!rc)
		on_temp(c, t->path, 1);
	return rc;
}

static void temp_drop(save_ctx *c, oi_temp *t)
{
	if (t->path && oi__is_file(t->path, t->dev, t->ino))
		unlink(t->path);
	if (t->path)
		on_temp(c, t->path, 0);
	oi__temp_close(t, false);
}

static int temp_sync(oi_temp *t, const char *what, bool sync)
{
	if (sync && fsync(t->fd) != 0)
		return oi__fail(OI_EIO, "%s: fsync failed: %s", what, strerror(errno));
	return 0;
}

/* A sink writing the temporary fd of this save; a file fsynced when it is
 * done is written back as it grows. */
static int sink_open(const save_ctx *c, oi_sink *sink, int fd)
{
	int rc = oi__sink_init_fd(sink, fd, c->path);
	sink->cancel = c->o.cancel;
	sink->src_path = c->m->path;
	sink->writeback = c->sync_now;
	return rc;
}

/* Length of a file name without ".onnx". */
static size_t stem_len(const char *base)
{
	size_t n = strlen(base);
	return n > 5 && !strcmp(base + n - 5, ".onnx") ? n - 5 : n;
}

/* Whether lb starts with prefix (of length n) and then . _ or -. */
static bool starts_as(const char *lb, const char *prefix, size_t n)
{
	return n && !strncmp(lb, prefix, n) && lb[n] && strchr("._-", lb[n]);
}

/* Whether a location's file name is made of the model's name: "m.onnx.data",
 * "m.onnx_data", "m.data", "m.onnx.weights.bin" for "m.onnx". */
static bool named_after(const char *loc, const char *model_base)
{
	const char *lb = base_name(loc);
	return starts_as(lb, model_base, strlen(model_base)) ||
	       starts_as(lb, model_base, stem_len(model_base));
}

/* The name an output's data file takes: the input's, with the input's name
 * in it replaced by the output's ("m.onnx.data" for "m.onnx" becomes
 * "out.onnx.data", "m.data" becomes "out.data"), or the output's name put in
 * front ("weights.bin" becomes "out.onnx.weights.bin"); in the same folder;
 * without the unique part a previous save may have added. */
static char *preferred_name(const char *in_base, const char *out_base, const char *loc)
{
	const char *lb = base_name(loc);
	int dl = (int)(lb - loc);
	size_t il = strlen(in_base), is = stem_len(in_base);
	char *r;
	if (il && !strncmp(lb, in_base, il) && lb[il])
		r = oi__asprintf("%.*s%s%s", dl, loc, out_base, lb + il);
	else if (is < il && starts_as(lb, in_base, is))
		r = oi__asprintf("%.*s%.*s%s", dl, loc, (int)stem_len(out_base), out_base, lb + is);
	else
		r = oi__asprintf("%.*s%s.%s", dl, loc, out_base, lb);
	char *plain = r ? oi__name_without_hex(r) : NULL;
	if (!plain || !strcmp(base_name(plain), out_base)) {
		free(plain);
		return r;
	}
	free(r);
	return plain;
}

/* ---- what the output names now ------------------------------------------ */

/* Whether the bytes [from, to) of fd are all zero. */
static bool zeros_at(int fd, uint64_t from, uint64_t to)
{
	uint8_t buf[65536];
	while (from < to) {
		size_t want = to - from < sizeof buf ? (size_t)(to - from) : sizeof buf;
		ssize_t n = pread(fd, buf, want, (off_t)from);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		for (ssize_t i = 0; i < n; i++)
			if (buf[i])
				return false;
		from += (uint64_t)n;
	}
	return true;
}

static int cmp_range(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;
	return x[0] != y[0] ? (x[0] < y[0] ? -1 : 1) : (x[1] < y[1] ? -1 : x[1] > y[1]);
}

/* Whether every byte of ext file fi that no tensor of om reads is zero
 * (alignment): then no other model can be reading it. */
static bool only_this_model(const oi_model *om, size_t fi)
{
	const oi_ext_file *e = &om->ext[fi];
	uint64_t (*r)[2] = oi__calloc(om->n_tensors + 1, sizeof *r);
	if (!r || e->fd < 0) {
		free(r);
		return false;
	}
	size_t n = 0;
	for (size_t i = 0; i < om->n_tensors; i++)
		if (om->tensors[i].ext == (int32_t)fi)
			r[n][0] = om->tensors[i].ext_off, r[n++][1] = om->tensors[i].info.nbytes;
	qsort(r, n, sizeof *r, cmp_range);
	uint64_t pos = 0;
	bool ok = true;
	for (size_t i = 0; i < n && ok; i++) {
		if (r[i][0] > pos)
			ok = zeros_at(e->fd, pos, r[i][0]);
		if (r[i][0] + r[i][1] > pos)
			pos = r[i][0] + r[i][1];
	}
	free(r);
	return ok && zeros_at(e->fd, pos, e->size);
}

static void refs_free(out_refs *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->files[i].path);
	free(r->files);
	oi_model_free(r->om);
	memset(r, 0, sizeof *r);
}

static int refs_from(out_refs *r, const oi_model *om)
{
	r->files = oi__calloc(om->n_ext ? om->n_ext : 1, sizeof *r->files);
	if (!r->files)
		return OI_ENOMEM;
	for (size_t i = 0; i < om->n_ext; i++) {
		const oi_ext_file *e = &om->ext[i];
		ref_file *f = &r->files[r->n];
		f->path = oi__asprintf("%s/%s", om->dir, e->location);
		if (!f->path)
			return OI_ENOMEM;
		f->loc = f->path + strlen(om->dir) + 1;
		f->dev = e->dev;
		f->ino = e->ino;
		f->alone = only_this_model(om, i);
		r->n++;
	}
	r->known = true;
	return 0;
}

/* Read the data files of the model at the output (again if another save
 * replaced it since). A model that cannot be read names files unknown. */
static int refs_read(save_ctx *c)
{
	out_refs *r = &c->refs;
	struct stat st;
	bool exists = lstat(c->path, &st) == 0;
	if (r->read && exists == r->exists &&
	    (!exists || (r->dev == (uint64_t)st.st_dev && r->ino == (uint64_t)st.st_ino)))
		return 0;
	refs_free(r);
	r->read = true;
	r->exists = exists;
	if (!exists) {
		r->known = true;
		return 0;
	}
	r->dev = (uint64_t)st.st_dev;
	r->ino = (uint64_t)st.st_ino;
	if (!S_ISREG(st.st_mode))
		return 0;
	if (c->in_place && r->dev == c->m->dev && r->ino == c->m->ino)
		return refs_from(r, c->m);
	oi_open_options oo = OI_OPEN_OPTIONS_INIT;
	oo.flags = OI_OPEN_LENIENT;
	if (oi_model_open(&r->om, c->path, &oo) != 0)
		return 0;
	return refs_from(r, r->om);
}

static bool refs_name(const out_refs *r, uint64_t dev, uint64_t ino)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->files[i].dev == dev && r->files[i].ino == ino)
			return true;
	return false;
}

/* Whether the save reads the file: the input model or one of its files. */
static bool input_file(const oi_model *m, uint64_t dev, uint64_t ino)
{
	if (m->dev == dev && m->ino == ino)
		return true;
	for (size_t i = 0; i < m->n_ext; i++)
		if (m->ext[i].dev == dev && m->ext[i].ino == ino)
			return true;
	return false;
}

/* Whether the file at dest may be replaced by a new data file: no model
 * names it that this save knows of (the output's, the input's), it is not
 * one this save made, and no other save of the output runs (one might be
 * about to name it). */
static bool stale(save_ctx *c, const char *dest, uint64_t *dev, uint64_t *ino)
{
	struct stat st;
	if (lstat(dest, &st) != 0 || !S_ISREG(st.st_mode))
		return false;
	*dev = (uint64_t)st.st_dev;
	*ino = (uint64_t)st.st_ino;
	if (input_file(c->m, *dev, *ino))
		return false;
	for (size_t i = 0; i < c->n_data; i++)
		if ((c->data[i].placed && c->data[i].dev == *dev && c->data[i].ino == *ino) ||
		    (c->data[i].replace && c->data[i].old_dev == *dev && c->data[i].old_ino == *ino))
			return false;
	/* Another save of the output runs: until its rename it holds its
	 * temporary locked, then (removing what the model it replaced named)
	 * the output. In that order: one is seen in between. */
	if (oi__temps_live(c->out_dir, c->out_base, &c->model_tmp) || oi__file_locked(c->path))
		return false;
	/* read after the test above: a save that named it has ended by now */
	if (refs_read(c) != 0 || !c->refs.known)
		return false;
	return !refs_name(&c->refs, *dev, *ino);
}

/* Try to give a written data temporary the name loc: 0 done (placed, or to
 * replace a stale file at the commit), 1 taken. may_replace: a stale file
 * there may be replaced (only a name made of the output's). */
static int try_name(save_ctx *c, data_out *d, char *loc, bool may_replace)
{
	char *dest = oi__asprintf("%s/%s", c->out_dir, loc);
	/* the output's own name is taken, whatever is there now */
	int rc = !dest ? OI_ENOMEM : same_place(dest, c->path) ? 1 : oi__rename_new(d->tmp.path, dest);
	if (rc == 0) {
		on_temp(c, d->tmp.path, 0);
		free(d->tmp.path);
		d->tmp.path = NULL;
		/* a data file not yet named by the output is still a temporary */
		on_temp(c, dest, 1);
		if (c->sync_later)
			d->fd = d->tmp.fd;
		else
			close(d->tmp.fd);
		d->tmp.fd = -1;
		d->placed = true;
	} else if (rc == 1 && may_replace && stale(c, dest, &d->old_dev, &d->old_ino)) {
		d->replace = true;
		rc = 0;
	}
	if (rc == 0) {
		d->loc = loc;
		d->dest = dest;
		return 0;
	}
	free(loc);
	free(dest);
	return rc;
}

/* Give a written data temporary its name: the input's location (keep, NULL
 * past 2 GiB) if free, else want, else want with a unique part. A name
 * that is taken is never replaced before the commit, and then only if it is
 * made of the output's name and stale. Sets d->loc and d->dest. */
static int claim_name(save_ctx *c, data_out *d, const char *keep, const char *want)
{
	int rc = 1;
	if (keep && strcmp(keep, want) != 0) {
		char *loc = oi__strdup(keep);
		rc = loc ? try_name(c, d, loc, named_after(keep, c->out_base)) : OI_ENOMEM;
	}
	for (int attempt = 0; rc == 1 && attempt < 64; attempt++) {
		char *loc = attempt ? oi__name_with_hex(want) : oi__strdup(want);
		rc = loc ? try_name(c, d, loc, !attempt) : OI_ENOMEM;
	}
	if (rc == 1)
		return oi__fail(OI_EIO, "no free name for '%s' in %s", want, c->out_dir);
	return rc;
}

/* A new data file: a temporary for want, and its sink. */
static int data_begin(save_ctx *c, const char *want, const oi_ext_file *replaced,
                      data_out **out)
{
	data_out *arr = oi__reallocarray(c->data, c->n_data + 1, sizeof *arr);
	if (!arr)
		return OI_ENOMEM;
	c->data = arr;
	data_out *d = &arr[c->n_data];
	memset(d, 0, sizeof *d);
	d->tmp.fd = -1;
	d->fd = -1;
	char *dest = oi__asprintf("%s/%s", c->out_dir, want);
	if (!dest)
		return OI_ENOMEM;
	/* the mode of the file it replaces, or of a plain create */
	struct stat st;
	mode_t mode = oi__create_mode();
	if (replaced && fstat(replaced->fd, &st) == 0)
		mode = st.st_mode & 07777;
	else if (!replaced && stat(dest, &st) == 0 && S_ISREG(st.st_mode))
		mode = st.st_mode & 07777;
	int rc = make_parents(c->out_dir, want);
	if (!rc)
		rc = temp_beside(c, &d->tmp, dest, mode);
	free(dest);
	if (rc)
		return rc;
	c->n_data++;
	*out = d;
	return 0;
}

/* The data file written: synced, named. */
static int data_end(save_ctx *c, data_out *d, const char *keep, const char *want)
{
	struct stat st;
	int rc = temp_sync(&d->tmp, c->path, c->sync_now);
	if (!rc && fstat(d->tmp.fd, &st) != 0)
		rc = oi__fail(OI_EIO, "%s: %s", d->tmp.path, strerror(errno));
	if (rc)
		return rc;
	d->dev = (uint64_t)st.st_dev;
	d->ino = (uint64_t)st.st_ino;
	return claim_name(c, d, keep, want);
}

/* Remove what a failed save made: temporaries, and data files under names
 * that were free, which no model names. */
static void undo(save_ctx *c)
{
	for (size_t i = 0; i < c->n_data; i++) {
		data_out *d = &c->data[i];
		temp_drop(c, &d->tmp);
		if (d->placed) {
			if (oi__is_file(d->dest, d->dev, d->ino))
				unlink(d->dest);
			on_temp(c, d->dest, 0);
		}
	}
	temp_drop(c, &c->model_tmp);
}

static void ctx_free(save_ctx *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_data; i++) {
		oi__temp_close(&c->data[i].tmp, false);
		if (c->data[i].fd >= 0)
			close(c->data[i].fd);
		free(c->data[i].loc);
		free(c->data[i].dest);
	}
	free(c->data);
	free(c->shared);
	oi__temp_close(&c->model_tmp, false);
	refs_free(&c->refs);
	free(c->out_dir);
	free(c->path_own);
	free(c->error);
	free(c);
}

/* ---- external data ------------------------------------------------------ */

static int cmp_edit_start(const void *a, const void *b)
{
	const oi_edit *x = a, *y = b;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	const oi_fill_ctx *p = x->ud, *q = y->ud;
	return p < q ? -1 : p > q; /* file order of the tensors */
}

/* The payload edits of ext file fi: each changed range once. */
static int external_edits(const oi_model *m, size_t fi, oi_fill_ctx *pcs, oi_edit *edits,
                          size_t *n_out)
{
	size_t n_edits = 0;
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
	for (size_t i = 0; i < n_edits; i++) {
		if (kept && edits[i].start < edits[kept - 1].end) {
			const oi_fill_ctx *a = edits[kept - 1].ud, *b = edits[i].ud;
			if (edits[i].start == edits[kept - 1].start && edits[i].end == edits[kept - 1].end)
				continue;
			return oi__fail(OI_EINVALID, "tensors '%s' and '%s' share part of their external "
			                "data in '%s'; one cannot be rewritten without the other",
			                a->t->info.name, b->t->info.name, m->ext[fi].location);
		}
		edits[kept++] = edits[i];
	}
	*n_out = kept;
	return 0;
}

/* Write ext file fi of the output. *new_loc: the location the output names
 * it by, or NULL when the output shares the input's unchanged file. */
static int write_external(save_ctx *c, size_t fi, oi_fill_ctx *pcs, const char **new_loc)
{
	oi_model *m = c->m;
	oi_ext_file *e = &m->ext[fi];
	*new_loc = NULL;
	char *same = oi__asprintf("%s/%s", c->out_dir, e->location);
	if (!same)
		return OI_ENOMEM;
	c->shared[fi] = same_file(same, e->dev, e->ino) && !e->changed;
	free(same);
	if (c->shared[fi])
		return 0; /* the output reads the very same, unchanged file */
	char *want = preferred_name(base_name(m->path), c->out_base, e->location);
	oi_edit *edits = oi__calloc(m->n_tensors + 1, sizeof *edits);
	size_t n_edits = 0;
	int rc = want && edits ? external_edits(m, fi, pcs, edits, &n_edits) : OI_ENOMEM;
	data_out *d = NULL;
	if (!rc)
		rc = data_begin(c, want, c->in_place ? e : NULL, &d);
	if (!rc) {
		static const oi_scan no_spans;
		oi_sink sink;
		rc = sink_open(c, &sink, d->tmp.fd);
		sink.src_loc = e->location;
		if (!rc)
			rc = oi__splice(e->map, e->size, e->fd, &no_spans, edits, n_edits, &sink, NULL);
		oi__sink_free(&sink);
	}
	if (!rc)
		rc = data_end(c, d, e->location, want);
	if (!rc)
		*new_loc = d->loc;
	free(edits);
	free(want);
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

/* The weights moved, into a data temporary, each at a 4096-aligned offset
 * (offs[i]). */
static int write_moved(save_ctx *c, const bool *moved, oi_fill_ctx *pcs, data_out *d,
                       uint64_t *offs)
{
	oi_model *m = c->m;
	oi_sink sink;
	int rc = sink_open(c, &sink, d->tmp.fd);
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
		offs[i] = off;
		if (rc)
			break;
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
	return rc;
}

/* The moved tensors' raw_data fields replaced by external_data entries
 * that name loc. */
static int moved_fields(const oi_model *m, const bool *moved, const uint64_t *offs,
                        const char *loc, oi_edit *edits, size_t *n_edits, oi_buf *fields)
{
	int rc = 0;
	for (size_t i = 0; i < m->n_tensors && !rc; i++) {
		if (!moved[i])
			continue;
		const oi_tensor *tt = &m->tensors[i];
		const oi_field_ref *f = oi__tensor_raw_field(m, tt);
		char num[2][24];
		snprintf(num[0], sizeof num[0], "%llu", (unsigned long long)offs[i]);
		snprintf(num[1], sizeof num[1], "%llu", (unsigned long long)tt->info.nbytes);
		rc = string_entry(&fields[i], TENSOR_EXTERNAL_DATA, "location", loc);
		if (!rc)
			rc = string_entry(&fields[i], TENSOR_EXTERNAL_DATA, "offset", num[0]);
		if (!rc)
			rc = string_entry(&fields[i], TENSOR_EXTERNAL_DATA, "length", num[1]);
		uint8_t dl[2] = { (TENSOR_DATA_LOCATION << 3) | OI_WIRE_VARINT, DATA_LOCATION_EXTERNAL };
		if (!rc)
			rc = oi__buf_append(&fields[i], dl, sizeof dl);
		if (!rc)
			edits[(*n_edits)++] = (oi_edit){ .start = f->tag_off, .end = f->end,
			                                 .new_len = fields[i].len,
			                                 .span = m->scan.tensors[tt->rec].span,
			                                 .bytes = fields[i].data };
	}
	return rc;
}

/* Rewrite every raw tensor of at least EXT_MIN_BYTES as external data in
 * "<output name>.data" beside the output (ONNX's layout for mmap),
 * replacing its raw_data field by external_data entries. */
static int move_to_external(save_ctx *c, oi_edit *edits, size_t *n_edits, oi_fill_ctx *pcs,
                            oi_buf *fields)
{
	oi_model *m = c->m;
	char *want = oi__asprintf("%s.data", c->out_base);
	bool *moved = oi__calloc(m->n_tensors, sizeof *moved);
	uint64_t *offs = oi__calloc(m->n_tensors, sizeof *offs);
	int rc = want && moved && offs ? 0 : OI_ENOMEM;
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
	data_out *d = NULL;
	rc = data_begin(c, want, NULL, &d);
	if (!rc)
		rc = write_moved(c, moved, pcs, d, offs);
	if (!rc)
		rc = data_end(c, d, NULL, want);
	if (!rc)
		rc = moved_fields(m, moved, offs, d->loc, edits, n_edits, fields);
	if (!rc) {
		m->saved_external = oi__model_strdup(m, d->loc);
		if (!m->saved_external)
			rc = OI_ENOMEM;
	}
out:
	free(offs);
	free(moved);
	free(want);
	return rc;
}

/* ---- the model ---------------------------------------------------------- */

/* What one save allocates for the model's bytes. */
typedef struct save_bufs {
	oi_fill_ctx *pcs;     /* per tensor */
	oi_edit *edits;
	size_t n_edits;
	oi_buf *typed;        /* per tensor: packed typed values */
	oi_buf *moved;        /* per tensor: external_data fields past 2 GiB */
	oi_buf *loc_entries;  /* per ext file: its new location entry */
	oi_buf prov;
	/* the model whose provenance waits for its donor's digest (NULL: none),
	 * and where OI_DIGEST_PENDING is in its JSON, prov's last bytes */
	oi_model *pending;
	size_t mark_at;
} save_bufs;

static int bufs_new(save_bufs *b, const oi_model *m)
{
	memset(b, 0, sizeof *b);
	b->pcs = oi__calloc(m->n_tensors + 1, sizeof *b->pcs);
	b->edits = oi__calloc(m->scan.n_fields + m->n_tensors + m->scan.n_spans + 1 +
	                      oi__untie_edit_count(m), sizeof *b->edits);
	b->typed = oi__calloc(m->n_tensors + 1, sizeof *b->typed);
	b->moved = oi__calloc(m->n_tensors + 1, sizeof *b->moved);
	b->loc_entries = oi__calloc(m->n_ext + 1, sizeof *b->loc_entries);
	return b->pcs && b->edits && b->typed && b->moved && b->loc_entries ? 0 : OI_ENOMEM;
}

static void bufs_free(save_bufs *b, const oi_model *m)
{
	for (size_t i = 0; b->typed && i < m->n_tensors; i++)
		oi__buf_free(&b->typed[i]);
	for (size_t i = 0; b->moved && i < m->n_tensors; i++)
		oi__buf_free(&b->moved[i]);
	for (size_t i = 0; b->loc_entries && i < m->n_ext; i++)
		oi__buf_free(&b->loc_entries[i]);
	free(b->typed);
	free(b->moved);
	free(b->loc_entries);
	oi__buf_free(&b->prov);
	free(b->edits);
	free(b->pcs);
}

/* The edits of the tensors stored in the model: raw payloads in place,
 * typed values as one packed field. */
static int payload_edits(oi_model *m, save_bufs *b, unsigned threads)
{
	int rc = 0;
	for (size_t i = 0; i < m->n_tensors && !rc; i++) {
		oi_tensor *t = &m->tensors[i];
		b->pcs[i] = (oi_fill_ctx){ t, threads };
		if (t->info.action == OI_ACTION_KEEP || t->info.storage == OI_STORAGE_EXTERNAL)
			continue;
		const oi_tensor_rec *r = &m->scan.tensors[t->rec];
		if (t->info.storage == OI_STORAGE_RAW) {
			const oi_field_ref *f = oi__tensor_raw_field(m, t);
			if (!f)
				continue; /* an empty tensor: nothing to write */
			b->edits[b->n_edits++] = (oi_edit){ .start = f->start, .end = f->end,
			                                    .new_len = f->end - f->start, .span = r->span,
			                                    .produce = oi__fill_produce_raw, .ud = &b->pcs[i] };
			continue;
		}
		/* typed: the first occurrence becomes one packed field, others go */
		rc = oi__fill_encode_typed(&b->pcs[i], &b->typed[i]);
		bool first = true;
		for (uint32_t k = 0; k < r->n_fields && !rc; k++) {
			const oi_field_ref *f = &m->scan.fields[r->first_field + k];
			b->edits[b->n_edits++] = (oi_edit){ .start = f->tag_off, .end = f->end,
			                                    .new_len = first ? b->typed[i].len : 0,
			                                    .span = r->span, .bytes = b->typed[i].data };
			first = false;
		}
	}
	return rc;
}

/* The provenance entry, with the donor's digest in place of the mark: it
 * is written last (after the graph), so the hash started with the save has
 * had the whole write to run. */
static int produce_provenance(const oi_edit *e, oi_sink *sink)
{
	save_bufs *b = e->ud;
	oi_model *m = b->pending;
	const char *sha;
	int rc = oi__donor_digest(m->prov_donor, sink->cancel, &sha);
	if (rc)
		return rc;
	size_t n = strlen(OI_DIGEST_PENDING);
	memcpy(b->prov.data + b->prov.len - strlen(m->provenance) + b->mark_at, sha, n);
	/* the model's provenance too: a later save needs the donor no more */
	memcpy(m->provenance + b->mark_at, sha, n);
	m->prov_donor = NULL;
	return oi__sink_write(sink, b->prov.data, b->prov.len);
}

static oi_edit provenance_edit(save_bufs *b, uint64_t start, uint64_t end, bool first)
{
	oi_edit e = { .start = start, .end = end, .new_len = first ? b->prov.len : 0, .span = -1,
	              .bytes = b->prov.data };
	if (first && b->pending) {
		e.bytes = NULL;
		e.produce = produce_provenance;
		e.ud = b;
	}
	return e;
}

/* The provenance entry: replacing an older one, or added at the end. */
static int provenance_edits(oi_model *m, save_bufs *b)
{
	if (!m->provenance)
		return 0;
	int rc = string_entry(&b->prov, MODEL_METADATA_PROPS, "onnxinit", m->provenance);
	if (!rc && m->prov_donor) {
		const char *mark = strstr(m->provenance, "\"sha256\":\"" OI_DIGEST_PENDING "\"");
		if (mark) {
			b->pending = m;
			b->mark_at = (size_t)(mark - m->provenance) + strlen("\"sha256\":\"");
		} else {
			rc = oi__fail(OI_EINVALID, "internal: provenance lost its digest mark");
		}
	}
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
		b->edits[b->n_edits++] = provenance_edit(b, s->tag_off, s->end, !replaced);
		replaced = true;
	}
	if (!rc && !replaced)
		b->edits[b->n_edits++] = provenance_edit(b, m->size, m->size, true);
	return rc;
}

/* External data first: it decides the locations the model names. */
static int external_files(save_ctx *c, save_bufs *b)
{
	int rc = 0;
	for (size_t i = 0; i < c->m->n_ext && !rc; i++) {
		const char *loc;
		rc = write_external(c, i, b->pcs, &loc);
		if (!rc && loc && strcmp(loc, c->m->ext[i].location) != 0) {
			rc = string_entry(&b->loc_entries[i], 0, "location", loc);
			if (!rc)
				relocate_edits(c->m, i, &b->loc_entries[i], b->edits, &b->n_edits);
		}
	}
	return rc;
}

/* The model's bytes into its temporary (created first), synced. */
static int write_model(save_ctx *c, save_bufs *b)
{
	oi_model *m = c->m;
	int src_fd = m->in_memory ? -1 : m->fd;
	uint64_t out_len = 0;
	int rc = oi__splice(m->map, m->size, src_fd, &m->scan, b->edits, b->n_edits, NULL, &out_len);
	if (!rc && out_len > protobuf_limit) {
		rc = move_to_external(c, b->edits, &b->n_edits, b->pcs, b->moved);
		if (!rc)
			rc = oi__splice(m->map, m->size, src_fd, &m->scan, b->edits, b->n_edits, NULL,
			                &out_len);
		if (!rc && out_len > protobuf_limit)
			rc = oi__fail(OI_ETOOBIG, "the output would be %llu bytes even with its weights "
			              "in external data, past protobuf's 2 GiB limit",
			              (unsigned long long)out_len);
	}
	if (rc)
		return rc;
	oi_sink sink;
	rc = sink_open(c, &sink, c->model_tmp.fd);
	if (!rc)
		rc = oi__splice(m->map, m->size, src_fd, &m->scan, b->edits, b->n_edits, &sink, NULL);
	oi__sink_free(&sink);
	if (!rc)
		rc = temp_sync(&c->model_tmp, c->path, c->sync_now);
	return rc;
}

/* The inputs still have the sizes they were mapped with: a file cut or
 * grown meanwhile was not read as it is. */
static int inputs_unchanged(const oi_model *m)
{
	struct stat st;
	oi_sink s = { .src_path = m->path };
	if (!m->in_memory && fstat(m->fd, &st) == 0 && (uint64_t)st.st_size != m->size)
		return oi__sink_input_changed(&s, (uint64_t)st.st_size < m->size);
	for (size_t i = 0; i < m->n_ext; i++) {
		const oi_ext_file *e = &m->ext[i];
		s.src_loc = e->location;
		if (e->fd >= 0 && fstat(e->fd, &st) == 0 && (uint64_t)st.st_size != e->size)
			return oi__sink_input_changed(&s, (uint64_t)st.st_size < e->size);
	}
	return 0;
}

/* The commit, first step: data files whose names were free are already in
 * place; those replacing stale files go now. */
static int commit_data(save_ctx *c)
{
	for (size_t i = 0; i < c->n_data; i++) {
		data_out *d = &c->data[i];
		if (!d->replace)
			continue;
		if (!oi__is_file(d->dest, d->old_dev, d->old_ino))
			return oi__fail(OI_EIO, "%s was replaced by another program meanwhile", d->dest);
		if (rename(d->tmp.path, d->dest) != 0)
			return oi__fail(OI_EIO, "cannot rename %s to %s: %s", d->tmp.path, d->dest,
			                strerror(errno));
		on_temp(c, d->tmp.path, 0);
		free(d->tmp.path);
		d->tmp.path = NULL;
		d->placed = true;
	}
	return 0;
}

/* The commit, last step (after the data files' folders are synced): the
 * model's rename, the one step after which the output is the new model
 * with its data. */
static int commit_model(save_ctx *c)
{
	/* a signal from here on leaves a data file nothing names, never a
	 * model without its data */
	for (size_t i = 0; i < c->n_data; i++)
		on_temp(c, c->data[i].dest, 0);
	/* a file shared with the input that another run (in place) replaced */
	for (size_t i = 0; i < c->m->n_ext; i++) {
		const oi_ext_file *e = &c->m->ext[i];
		char *p = c->shared[i] ? oi__asprintf("%s/%s", c->out_dir, e->location) : NULL;
		bool gone = p && !same_file(p, e->dev, e->ino);
		free(p);
		if (gone)
			return oi__fail(OI_EIO, "its external data file '%s' was replaced or removed "
			                "meanwhile (by another run?)", e->location);
	}
	if (rename(c->model_tmp.path, c->path) != 0)
		return oi__fail(OI_EIO, "cannot rename %s to %s: %s", c->model_tmp.path, c->path,
		                strerror(errno));
	on_temp(c, c->model_tmp.path, 0);
	free(c->model_tmp.path);
	c->model_tmp.path = NULL;
	for (size_t i = 0; i < c->n_data; i++)
		c->data[i].placed = false; /* named by the output now */
	return 0;
}

/* Whether the save would have written a data file by the name loc: the
 * input's location of one (not in place, where those are the input's). */
static bool own_name(const save_ctx *c, const char *loc)
{
	for (size_t i = 0; i < c->m->n_ext && !c->in_place; i++)
		if (!strcmp(c->m->ext[i].location, loc))
			return true;
	return named_after(loc, c->out_base);
}

/* After the commit: the data files of the model the output replaced that
 * the new one does not name, when they were that model's alone (a name
 * this save would give, nothing else in them) and no other save has
 * replaced the output since. Another model's data, or the input's (unless
 * in place), stays. */
static void remove_replaced(save_ctx *c)
{
	const out_refs *r = &c->refs;
	if (!r->known || !oi__is_file(c->path, c->model_tmp.dev, c->model_tmp.ino))
		return;
	for (size_t i = 0; i < r->n; i++) {
		const ref_file *f = &r->files[i];
		bool keep = !f->alone || !own_name(c, f->loc) ||
		            (!c->in_place && input_file(c->m, f->dev, f->ino));
		for (size_t k = 0; k < c->m->n_ext && !keep; k++) /* shared, unchanged */
			keep = c->m->ext[k].dev == f->dev && c->m->ext[k].ino == f->ino &&
			       !c->m->ext[k].changed;
		for (size_t k = 0; k < c->n_data && !keep; k++)
			keep = c->data[k].dev == f->dev && c->data[k].ino == f->ino;
		if (!keep && oi__is_file(f->path, f->dev, f->ino))
			unlink(f->path);
	}
}

/* Refuse an output that is a file the save reads or a name its own data
 * files have, before anything is written. */
static int check_output(const oi_model *m, const char *path, const char *out_dir, unsigned flags)
{
	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return oi__fail(OI_EIO, "%s: is a directory", path);
	if (same_file(path, m->dev, m->ino) && !(flags & OI_SAVE_REPLACE_INPUT))
		return oi__fail(OI_ECONFLICT, "%s: the output is the input model itself (use in-place)", path);
	for (size_t i = 0; i < m->n_ext; i++) {
		const char *loc = m->ext[i].location;
		if (same_file(path, m->ext[i].dev, m->ext[i].ino))
			return oi__fail(OI_ECONFLICT, "%s: the output is the input's external data file '%s'",
			                path, loc);
		char *own = oi__asprintf("%s/%s", out_dir, loc);
		bool clash = own && same_place(own, path);
		free(own);
		if (clash)
			return oi__fail(OI_ECONFLICT, "%s: the output is named like its own external data "
			                "file '%s'; choose another name", path, loc);
	}
	return 0;
}

/* The temporaries a killed save of this output left: the model's, and
 * each data file's. */
static void remove_stale(save_ctx *c)
{
	oi__remove_stale_temps(c->out_dir, c->out_base);
	char *moved = oi__asprintf("%s.data", c->out_base);
	if (moved)
		oi__remove_stale_temps(c->out_dir, moved);
	free(moved);
	/* each data file's, by its name and the input's (older versions') */
	for (size_t i = 0; i < 2 * c->m->n_ext; i++) {
		const char *loc = c->m->ext[i / 2].location;
		char *want = i % 2 ? oi__strdup(loc) : preferred_name(base_name(c->m->path),
		                                                        c->out_base, loc);
		char *dest = want ? oi__asprintf("%s/%s", c->out_dir, want) : NULL;
		char *dir = dest ? oi__dirname(dest) : NULL;
		if (dir)
			oi__remove_stale_temps(dir, base_name(dest));
		free(dir);
		free(dest);
		free(want);
	}
}

/* The failure of save c: its message names the output (or the input), and
 * is kept for the group's callback. */
static int save_failed(save_ctx *c, int rc)
{
	const char *err = oi_last_error();
	if (strncmp(err, c->path, strlen(c->path)) != 0 &&
	    strncmp(err, c->m->path, strlen(c->m->path)) != 0)
		oi__error_prefix(c->path);
	free(c->error);
	c->error = oi__strdup(oi_last_error());
	return rc;
}

/* Everything a save does before its commit: the files written (synced
 * unless a group syncs them), the inputs checked. */
static int prepare(save_ctx *c)
{
	oi_model *m = c->m;
	int rc = check_output(m, c->path, c->out_dir, c->o.flags);
	if (rc)
		return rc;
	remove_stale(c);
	struct stat st;
	save_bufs b;
	rc = bufs_new(&b, m);
	if (!rc)
		rc = temp_beside(c, &c->model_tmp, c->path,
		                 stat(c->path, &st) == 0 ? (st.st_mode & 07777) : oi__create_mode());
	if (!rc)
		rc = payload_edits(m, &b, oi__fill_threads(c->o.threads));
	if (!rc)
		b.n_edits += oi__untie_edits(m, b.edits + b.n_edits);
	if (!rc)
		rc = provenance_edits(m, &b);
	/* the donor's digest, hashed on a thread of its own while the files
	 * are written, if the save may use more than one */
	if (!rc && b.pending && oi__fill_threads(c->o.threads) > 1)
		oi__donor_digest_start(m->prov_donor);
	if (!rc)
		rc = external_files(c, &b);
	m->saved_external = NULL; /* the previous save's stays in the pool */
	if (!rc)
		rc = write_model(c, &b);
	if (!rc && c->o.cancel && *c->o.cancel)
		rc = oi__fail(OI_EIO, "%s: interrupted", c->path);
	if (!rc)
		rc = inputs_unchanged(m);
	bufs_free(&b, m);
	return rc;
}

static int ctx_new(save_ctx **out, oi_model *m, const char *path, const oi_save_options *o)
{
	save_ctx *c = oi__calloc(1, sizeof *c);
	*out = c;
	if (!c)
		return OI_ENOMEM;
	c->m = m;
	c->o = *o;
	c->model_tmp.fd = -1;
	c->path_own = oi__strdup(path);
	c->path = c->path_own;
	c->out_base = c->path ? base_name(c->path) : NULL;
	c->out_dir = oi__dirname(path);
	c->shared = oi__calloc(m->n_ext + 1, sizeof *c->shared);
	if (!c->path || !c->out_dir || !c->shared)
		return OI_ENOMEM;
	c->in_place = (o->flags & OI_SAVE_REPLACE_INPUT) && same_file(path, m->dev, m->ino);
	c->sync_later = o->group && !(o->flags & OI_SAVE_NO_FSYNC);
	c->sync_now = !o->group && !(o->flags & OI_SAVE_NO_FSYNC);
	return 0;
}

/* ---- commit groups ------------------------------------------------------- */

struct oi_commit_group {
	save_ctx **saves;
	size_t n, cap;
};

int oi_commit_group_new(oi_commit_group **group)
{
	*group = oi__calloc(1, sizeof **group);
	return *group ? oi__ok() : OI_ENOMEM;
}

size_t oi_commit_group_size(const oi_commit_group *group)
{
	return group ? group->n : 0;
}

static int group_add(oi_commit_group *g, save_ctx *c)
{
	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 16;
		save_ctx **p = oi__reallocarray(g->saves, cap, sizeof *p);
		if (!p)
			return OI_ENOMEM;
		g->saves = p;
		g->cap = cap;
	}
	g->saves[g->n++] = c;
	return 0;
}

/* A file system already synced, and how that went. */
typedef struct synced_fs {
	uint64_t dev;
	int err;
} synced_fs;

/* syncfs for the file system of fd (dev), once for the group: the errno of
 * that sync (0: done). The first fd of a file system the group meets is its
 * oldest file there, so the writeback errors syncfs reports since that fd
 * was opened cover every file of the group on it. */
static int sync_fs_once(synced_fs *fs, size_t *n_fs, uint64_t dev, int fd)
{
	for (size_t i = 0; i < *n_fs; i++)
		if (fs[i].dev == dev)
			return fs[i].err;
	int rc;
	while ((rc = syncfs(fd)) != 0 && errno == EINTR)
		;
	fs[*n_fs] = (synced_fs){ dev, rc ? errno : 0 };
	return fs[(*n_fs)++].err;
}

/* The group's files on disk: one syncfs per file system. A save whose
 * files could not be synced fails. */
static void group_sync(oi_commit_group *g)
{
	size_t n_files = 0;
	for (size_t i = 0; i < g->n; i++)
		n_files += 1 + g->saves[i]->n_data;
	synced_fs *fs = oi__calloc(n_files + 1, sizeof *fs);
	size_t n_fs = 0;
	for (size_t i = 0; i < g->n; i++) {
		save_ctx *c = g->saves[i];
		if (c->group_rc || !c->sync_later)
			continue;
		if (!fs) {
			c->group_rc = save_failed(c, oi__fail(OI_ENOMEM, "out of memory"));
			continue;
		}
		int err = sync_fs_once(fs, &n_fs, c->model_tmp.dev, c->model_tmp.fd);
		for (size_t k = 0; k < c->n_data && !err; k++) {
			const data_out *d = &c->data[k];
			err = sync_fs_once(fs, &n_fs, d->dev, d->fd >= 0 ? d->fd : d->tmp.fd);
		}
		if (err)
			c->group_rc = save_failed(c, oi__fail(OI_EIO, "%s: syncing its files failed: %s",
			                                 c->path, strerror(err)));
	}
	free(fs);
}

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* fsync the folder of each path, once each. */
static void sync_dirs(char **paths, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *dir = oi__dirname(paths[i]);
		free(paths[i]);
		paths[i] = dir;
	}
	qsort(paths, n, sizeof *paths, cmp_cstr);
	for (size_t i = 0; i < n; i++) {
		if (!paths[i] || (i && paths[i - 1] && !strcmp(paths[i], paths[i - 1])))
			continue;
		int fd = open(paths[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			fsync(fd);
			close(fd);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
}

/* The folders of the group's data files (models false) or of its models
 * (true), synced once each: those of the saves still going that sync. */
static void group_sync_dirs(oi_commit_group *g, bool models)
{
	size_t cap = 0, n = 0;
	for (size_t i = 0; i < g->n; i++)
		cap += models ? 1 : g->saves[i]->n_data;
	char **paths = oi__calloc(cap + 1, sizeof *paths);
	for (size_t i = 0; paths && i < g->n; i++) {
		const save_ctx *c = g->saves[i];
		if (c->group_rc || (c->o.flags & OI_SAVE_NO_FSYNC))
			continue;
		if (models && !(c->o.flags & OI_SAVE_DEFER_DIR_SYNC))
			paths[n++] = oi__strdup(c->path);
		for (size_t k = 0; !models && k < c->n_data; k++)
			paths[n++] = oi__strdup(c->data[k].dest);
	}
	if (paths)
		sync_dirs(paths, n);
	free(paths);
}

/* Commit the saves of g in steps that each take all of them: their files
 * synced, the data files named, their folders synced, the models renamed,
 * the models' folders synced. */
static int group_finish(oi_commit_group *g, oi_commit_callback done)
{
	for (size_t i = 0; i < g->n; i++)
		g->saves[i]->group_rc = 0;
	group_sync(g);
	for (size_t i = 0; i < g->n; i++) {
		save_ctx *c = g->saves[i];
		if (!c->group_rc)
			c->group_rc = refs_read(c); /* what the output names just before it is replaced */
		if (!c->group_rc)
			c->group_rc = commit_data(c);
		if (c->group_rc && !c->error)
			save_failed(c, c->group_rc);
	}
	group_sync_dirs(g, false);
	for (size_t i = 0; i < g->n; i++) {
		save_ctx *c = g->saves[i];
		if (!c->group_rc && (c->group_rc = commit_model(c)) != 0)
			save_failed(c, c->group_rc);
	}
	group_sync_dirs(g, true);
	int first = 0;
	const save_ctx *first_c = NULL;
	for (size_t i = 0; i < g->n; i++) {
		save_ctx *c = g->saves[i];
		if (c->group_rc)
			undo(c);
		else
			remove_replaced(c);
		if (c->group_rc && !first) {
			first = c->group_rc;
			first_c = c;
		}
		if (done) {
			if (c->group_rc)
				oi__fail(c->group_rc, "%s", c->error ? c->error : "out of memory");
			else
				oi__ok();
			done(c->path, c->group_rc, c->o.userdata);
		}
	}
	if (first)
		oi__fail(first, "%s", first_c->error ? first_c->error : "out of memory");
	for (size_t i = 0; i < g->n; i++)
		ctx_free(g->saves[i]);
	g->n = 0;
	return first ? first : oi__ok();
}

int oi_commit_group_commit(oi_commit_group *group, oi_commit_callback done)
{
	if (!group)
		return oi__fail(OI_EARG, "oi_commit_group_commit: no group");
	return group_finish(group, done);
}

void oi_commit_group_free(oi_commit_group *group)
{
	if (!group)
		return;
	for (size_t i = 0; i < group->n; i++) {
		undo(group->saves[i]);
		ctx_free(group->saves[i]);
	}
	free(group->saves);
	free(group);
}

int oi_model_save(oi_model *m, const char *path, const oi_save_options *given)
{
	oi_save_options o = OI_SAVE_OPTIONS_INIT;
	if (given && (given->version < 1 || given->version > OI_SAVE_OPTIONS_VERSION))
		return oi__fail(OI_EARG, "%s: oi_save_options version %u is not %u", path,
		                given->version, OI_SAVE_OPTIONS_VERSION);
	/* an older struct ends before the fields added since */
	if (given)
		memcpy(&o, given, given->version == 1   ? offsetof(oi_save_options, threads)
		                  : given->version == 2 ? offsetof(oi_save_options, group)
		                                        : sizeof o);
	save_ctx *c;
	int rc = ctx_new(&c, m, path, &o);
	if (!rc)
		rc = prepare(c);
	if (!rc && o.group && (rc = group_add(o.group, c)) == 0)
		return oi__ok();
	if (rc) {
		if (c)
			undo(c);
		rc = c && c->path ? save_failed(c, rc) : rc;
		ctx_free(c);
		return rc;
	}
	save_ctx *one[1] = { c };
	oi_commit_group alone = { .saves = one, .n = 1, .cap = 1 };
	return group_finish(&alone, NULL);
}
