/* Loading: map the file, scan it, unpack its skeleton with protobuf-c, walk
 * its graphs once to list and validate every tensor and record every node.
 * The analysis (roles.c) is a later step the caller asks for. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model.h"
#include "splice.h"
#include "tensor.h"
#include "untie.h"
#include "wire.h"

/* protobuf's hard limit for one serialized message */
#define OI_PROTOBUF_LIMIT ((uint64_t)INT32_MAX)

/* ---- the skeleton ------------------------------------------------------- */

/* A copy of the model without tensor payloads, in which every TensorProto
 * carries a marker (an unknown field) holding its scanner index: protobuf-c
 * unpacks the skeleton in the size of the graph, and the marker ties each
 * unpacked TensorProto back to the bytes of its payload in the file. */
static int build_skeleton(const oi_model *m, oi_buf *out)
{
	const oi_scan *s = &m->scan;
	size_t n_edits = s->n_fields + s->n_tensors;
	oi_edit *edits = oi__calloc(n_edits, sizeof *edits);
	uint8_t *markers = oi__calloc(s->n_tensors, 16);
	int rc = OI_ENOMEM;
	if (!edits || !markers)
		goto out;
	size_t k = 0;
	for (size_t i = 0; i < s->n_tensors; i++) {
		const oi_tensor_rec *r = &s->tensors[i];
		for (uint32_t f = 0; f < r->n_fields; f++) {
			const oi_field_ref *fr = &s->fields[r->first_field + f];
			edits[k++] = (oi_edit){ .start = fr->tag_off, .end = fr->end, .new_len = 0,
			                        .span = r->span, .bytes = markers };
		}
		uint8_t *mk = markers + 16 * i;
		size_t n = oi__varint_put(mk, (uint64_t)OI_MARKER_FIELD << 3);
		n += oi__varint_put(mk + n, i);
		uint64_t at = r->span < 0 ? m->size : s->spans[r->span].end;
		edits[k++] = (oi_edit){ .start = at, .end = at, .new_len = n, .span = r->span,
		                        .bytes = mk };
	}
	oi_sink sink;
	oi__sink_init_mem(&sink, out);
	rc = oi__splice(m->map, m->size, -1, s, edits, k, &sink, NULL);
out:
	free(edits);
	free(markers);
	return rc;
}

static int marker_of(const oi_model *m, const Onnx__TensorProto *tp, uint32_t *rec)
{
	for (size_t i = tp->base.n_unknown_fields; i-- > 0;) {
		const ProtobufCMessageUnknownField *u = &tp->base.unknown_fields[i];
		if (u->tag != OI_MARKER_FIELD || u->wire_type != PROTOBUF_C_WIRE_TYPE_VARINT)
			continue;
		uint64_t pos = 0, v;
		if (oi__wire_varint(u->data, u->len, &pos, &v) && v < m->scan.n_tensors) {
			*rec = (uint32_t)v;
			return 0;
		}
	}
	return oi__fail(OI_EINVALID, "internal: tensor '%s' lost its marker",
	                tp->name ? tp->name : "");
}

/* ---- external data ------------------------------------------------------ */

static bool parse_u64(const char *s, uint64_t *out)
{
	if (!s || !*s)
		return false;
	uint64_t v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

/* ONNX's ExternalDataSecurity: the location is relative, has no ".."
 * component, and does not lead out of the model's folder through a link. */
static int resolve_location(const oi_model *m, const char *tname, const char *loc,
                            char **out_path)
{
	if (!*loc)
		return oi__fail(OI_EEXTERNAL, "tensor '%s': external data location is empty", tname);
	if (loc[0] == '/' || loc[0] == '\\' || (loc[0] && loc[1] == ':'))
		return oi__fail(OI_EEXTERNAL, "tensor '%s': external data location '%s' is absolute",
		                tname, loc);
	for (const char *p = loc; *p;) {
		size_t n = strcspn(p, "/\\");
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return oi__fail(OI_EEXTERNAL,
			                "tensor '%s': external data location '%s' leaves the model's folder",
			                tname, loc);
		p += n;
		if (*p)
			p++;
	}
	char *joined = oi__asprintf("%s/%s", m->dir, loc);
	if (!joined)
		return OI_ENOMEM;
	char *real = realpath(joined, NULL);
	int err = errno;
	free(joined);
	if (!real)
		return oi__fail(OI_EEXTERNAL, "tensor '%s': external data file '%s': %s", tname, loc,
		                strerror(err));
	char *realdir = realpath(m->dir, NULL);
	if (!realdir) {
		free(real);
		return oi__fail(OI_EIO, "cannot resolve the model's folder: %s", strerror(errno));
	}
	size_t dl = strlen(realdir);
	bool inside = strncmp(real, realdir, dl) == 0 &&
	              (real[dl] == '/' || (dl == 1 && realdir[0] == '/'));
	free(realdir);
	if (!inside) {
		free(real);
		return oi__fail(OI_EEXTERNAL,
		                "tensor '%s': external data location '%s' resolves outside the model's "
		                "folder", tname, loc);
	}
	*out_path = real;
	return 0;
}

/* Open for reading without waiting: a FIFO (or a device) would block in
 * open() itself, before it could be refused as no regular file. */
static int open_nonblocking(const char *path)
{
	return open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
}

static int open_ext_file(oi_model *m, const char *tname, const char *loc, int32_t *idx)
{
	char *path = NULL;
	int rc = resolve_location(m, tname, loc, &path);
	if (rc)
		return rc;
	for (size_t i = 0; i < m->n_ext; i++) {
		if (strcmp(m->ext[i].path, path) == 0) {
			free(path);
			*idx = (int32_t)i;
			return 0;
		}
	}
	if (OI_GROW(m->ext, m->n_ext, m->cap_ext)) {
		free(path);
		return OI_ENOMEM;
	}
	oi_ext_file *e = &m->ext[m->n_ext];
	memset(e, 0, sizeof *e);
	e->fd = -1;
	e->path = path;
	e->location = oi__strdup(loc);
	m->n_ext++;
	if (!e->location)
		return OI_ENOMEM;
	e->fd = open_nonblocking(path);
	struct stat st;
	if (e->fd < 0 || fstat(e->fd, &st) != 0)
		return oi__fail(OI_EEXTERNAL, "tensor '%s': external data file '%s': %s", tname, loc,
		                strerror(errno));
	if (!S_ISREG(st.st_mode))
		return oi__fail(OI_EEXTERNAL, "tensor '%s': external data '%s' is not a regular file",
		                tname, loc);
	fcntl(e->fd, F_SETFL, 0);
	e->size = (uint64_t)st.st_size;
	e->dev = (uint64_t)st.st_dev;
	e->ino = (uint64_t)st.st_ino;
	if (e->size) {
		void *p = mmap(NULL, e->size, PROT_READ, MAP_PRIVATE, e->fd, 0);
		if (p == MAP_FAILED)
			return oi__fail(OI_EIO, "external data file '%s': cannot map: %s", loc,
			                strerror(errno));
		e->map = p;
	}
	*idx = (int32_t)(m->n_ext - 1);
	return 0;
}

/* ---- payload validation ------------------------------------------------- */

/* Count the values of one occurrence of a typed field. */
static int count_values(const oi_model *m, const oi_field_ref *f, uint64_t *count)
{
	if (f->wire != OI_WIRE_LEN) {
		*count = 1;
		return 0;
	}
	uint64_t len = f->end - f->start;
	switch (f->field) {
	case OI_TP_FLOAT_DATA:
		if (len % 4)
			return -1;
		*count = len / 4;
		return 0;
	case OI_TP_DOUBLE_DATA:
		if (len % 8)
			return -1;
		*count = len / 8;
		return 0;
	case OI_TP_STRING_DATA:
		*count = 1;
		return 0;
	default: { /* packed varints */
		uint64_t pos = f->start, n = 0, v;
		while (pos < f->end) {
			if (!oi__wire_varint(m->map, f->end, &pos, &v))
				return -1;
			n++;
		}
		*count = n;
		return 0;
	}
	}
}

static bool wire_fits(const oi_field_ref *f)
{
	switch (f->field) {
	case OI_TP_FLOAT_DATA: return f->wire == OI_WIRE_LEN || f->wire == OI_WIRE_I32;
	case OI_TP_DOUBLE_DATA: return f->wire == OI_WIRE_LEN || f->wire == OI_WIRE_I64;
	case OI_TP_INT32_DATA: case OI_TP_INT64_DATA: case OI_TP_UINT64_DATA:
		return f->wire == OI_WIRE_LEN || f->wire == OI_WIRE_VARINT;
	default: return f->wire == OI_WIRE_LEN;
	}
}

/* A tensor whose values are in an external data file: where, and that they
 * fit the file and the dims (want_bytes). */
static int check_external(oi_model *m, oi_tensor *t, unsigned bits, uint64_t want_bytes)
{
	const Onnx__TensorProto *tp = t->tp;
	const char *name = t->info.name;
	int dtype = tp->data_type;
	const char *loc = NULL, *off_s = NULL, *len_s = NULL;
	for (size_t i = 0; i < tp->n_external_data; i++) {
		const Onnx__StringStringEntryProto *kv = tp->external_data[i];
		if (!kv->key)
			continue;
		if (!strcmp(kv->key, "location"))
			loc = kv->value ? kv->value : "";
		else if (!strcmp(kv->key, "offset"))
			off_s = kv->value;
		else if (!strcmp(kv->key, "length"))
			len_s = kv->value;
	}
	if (!loc)
		return oi__fail(OI_EEXTERNAL, "tensor '%s': external data without a location",
		                name);
	uint64_t off = 0, len = 0;
	if (off_s && !parse_u64(off_s, &off))
		return oi__fail(OI_EEXTERNAL, "tensor '%s': bad external data offset '%s'", name,
		                off_s);
	if (len_s && !parse_u64(len_s, &len))
		return oi__fail(OI_EEXTERNAL, "tensor '%s': bad external data length '%s'", name,
		                len_s);
	if (!bits)
		return oi__fail(OI_EUNSUPPORTED, "tensor '%s': external %s data", name,
		                oi_dtype_name(dtype));
	int rc = open_ext_file(m, name, loc, &t->ext);
	if (rc)
		return rc;
	const oi_ext_file *e = &m->ext[t->ext];
	if (off > e->size)
		return oi__fail(OI_EEXTERNAL, "tensor '%s': offset %llu is past the end of '%s' "
		                "(%llu bytes)", name, (unsigned long long)off, loc,
		                (unsigned long long)e->size);
	if (!len_s)
		len = e->size - off;
	if (len > e->size - off)
		return oi__fail(OI_EEXTERNAL, "tensor '%s': '%s' is %llu bytes, shorter than offset "
		                "%llu + length %llu", name, loc, (unsigned long long)e->size,
		                (unsigned long long)off, (unsigned long long)len);
	if (len != want_bytes)
		return oi__fail(OI_EINVALID, "tensor '%s': external data length %llu, but dims need "
		                "%llu bytes", name, (unsigned long long)len,
		                (unsigned long long)want_bytes);
	t->ext_off = off;
	t->info.storage = OI_STORAGE_EXTERNAL;
	t->info.nbytes = len;
	return 0;
}

/* Check that the tensor's payload matches its dtype and dims, and settle its
 * storage, numel and nbytes. */
static int check_payload(oi_model *m, oi_tensor *t)
{
	const Onnx__TensorProto *tp = t->tp;
	const oi_tensor_rec *r = &m->scan.tensors[t->rec];
	const char *name = t->info.name;
	int dtype = tp->data_type;
	t->info.dtype = dtype;
	t->ext = -1;
	if (!oi__dtype_known(dtype))
		return oi__fail(OI_EINVALID, "tensor '%s': unknown data_type %d", name, dtype);

	uint64_t numel = 1;
	for (size_t i = 0; i < tp->n_dims; i++) {
		if (tp->dims[i] < 0)
			return oi__fail(OI_EINVALID, "tensor '%s': negative dimension %lld", name,
			                (long long)tp->dims[i]);
		if (!oi__mul_u64(numel, (uint64_t)tp->dims[i], &numel))
			return oi__fail(OI_ETOOBIG, "tensor '%s': the product of its dims overflows",
			                name);
	}
	t->info.numel = numel;
	unsigned bits = oi__dtype_bits(dtype);
	uint64_t want_bytes = 0;
	if (bits) {
		uint64_t b;
		if (!oi__mul_u64(numel, bits, &b) || b / 8 > (UINT64_MAX >> 4))
			return oi__fail(OI_ETOOBIG, "tensor '%s': its size overflows", name);
		want_bytes = (b + 7) / 8;
	}

	const oi_field_ref *raw = NULL;
	uint32_t typed_field = oi__dtype_typed_field(dtype);
	uint64_t typed_count = 0;
	bool typed = false;
	for (uint32_t i = 0; i < r->n_fields; i++) {
		const oi_field_ref *f = &m->scan.fields[r->first_field + i];
		if (f->field == OI_TP_RAW_DATA) {
			if (f->wire != OI_WIRE_LEN)
				return oi__fail(OI_EFORMAT, "tensor '%s': raw_data has the wrong wire type",
				                name);
			raw = f; /* protobuf: the last occurrence wins */
			continue;
		}
		if (!wire_fits(f))
			return oi__fail(OI_EFORMAT, "tensor '%s': field %u has the wrong wire type", name,
			                f->field);
		if (f->field != typed_field)
			return oi__fail(OI_EINVALID, "tensor '%s': a %s tensor holds values in field %u",
			                name, oi_dtype_name(dtype), f->field);
		uint64_t c;
		if (count_values(m, f, &c) != 0)
			return oi__fail(OI_EFORMAT, "tensor '%s': malformed packed values", name);
		typed_count += c;
		typed = true;
	}
	bool external = tp->has_data_location &&
	                tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
	if ((raw != NULL) + typed + external > 1)
		return oi__fail(OI_EINVALID, "tensor '%s': holds its values in more than one place "
		                "(raw_data, typed fields, external data)", name);

	if (external)
		return check_external(m, t, bits, want_bytes);
	if (typed) {
		uint64_t per = oi__dtype_typed_per_elem(dtype), want;
		if (!oi__mul_u64(numel, per, &want))
			return oi__fail(OI_ETOOBIG, "tensor '%s': its size overflows", name);
		bool four_bit = bits == 4;
		if (typed_count != want && !(four_bit && typed_count == (numel + 1) / 2))
			return oi__fail(OI_EINVALID, "tensor '%s': holds %llu values, but dims need %llu",
			                name, (unsigned long long)typed_count, (unsigned long long)want);
		t->info.storage = OI_STORAGE_TYPED;
		t->typed_field = typed_field;
		uint64_t nb = 0;
		for (uint32_t i = 0; i < r->n_fields; i++) {
			const oi_field_ref *f = &m->scan.fields[r->first_field + i];
			nb += f->end - f->start;
		}
		t->info.nbytes = nb;
		return 0;
	}
	t->info.storage = OI_STORAGE_RAW;
	uint64_t have = raw ? raw->end - raw->start : 0;
	if (dtype == OI_DTYPE_STRING) {
		if (numel)
			return oi__fail(OI_EINVALID, "tensor '%s': %llu strings but no string_data", name,
			                (unsigned long long)numel);
		return 0;
	}
	if (have != want_bytes)
		return oi__fail(OI_EINVALID, "tensor '%s': raw_data holds %llu bytes, but dims %s need "
		                "%llu", name, (unsigned long long)have,
		                raw ? "and data_type" : "(no data at all)",
		                (unsigned long long)want_bytes);
	t->info.nbytes = have;
	return 0;
}

/* ---- the walk ----------------------------------------------------------- */

/* One walk over every graph, subgraph and function body lists the tensors,
 * checks that each node reads names in scope, and records every node (and
 * the graph it is in) for the analysis, which indexes those records instead
 * of walking again. */

typedef struct scope {
	const struct scope *outer;
	oi_strset names;
} scope;

static bool scope_has(const scope *s, const char *name)
{
	for (; s; s = s->outer)
		if (oi__strset_has(&s->names, name))
			return true;
	return false;
}

static int scope_add(scope *s, const char *name)
{
	return oi__strset_add(&s->names, name) < 0 ? OI_ENOMEM : 0;
}

/* A graph's record (g NULL for a function body); it owns path (freed here
 * on failure). */
static int add_graph(oi_model *m, const Onnx__GraphProto *g, char *path, uint32_t *gi)
{
	if (!path)
		return OI_ENOMEM;
	if (OI_GROW(m->graphs, m->n_graphs, m->cap_graphs)) {
		free(path);
		return OI_ENOMEM;
	}
	*gi = (uint32_t)m->n_graphs;
	m->graphs[m->n_graphs++] = (oi_graph_ref){ path, m->cur_ns, g };
	return 0;
}

static int add_node(oi_model *m, const Onnx__NodeProto *n, uint32_t gi, size_t index)
{
	if (OI_GROW(m->nodes, m->n_nodes, m->cap_nodes))
		return OI_ENOMEM;
	m->nodes[m->n_nodes++] = (oi_node_ref){ n, m->cur_ns, gi, (uint32_t)index };
	return 0;
}

static int add_tensor(oi_model *m, const char *name, const char *graph, int source,
                      const Onnx__TensorProto *tp, size_t ndim, const int64_t *dims)
{
	if (OI_GROW(m->tensors, m->n_tensors, m->cap_tensors))
		return OI_ENOMEM;
	oi_tensor *t = &m->tensors[m->n_tensors];
	memset(t, 0, sizeof *t);
	m->n_tensors++;
	t->name_own = oi__strdup(name);
	t->dims_own = oi__calloc(ndim, sizeof *t->dims_own);
	if (!t->name_own || !t->dims_own)
		return OI_ENOMEM;
	if (ndim)
		memcpy(t->dims_own, dims, ndim * sizeof *dims);
	t->tp = tp;
	t->ns = m->cur_ns;
	t->addressable = source != OI_SOURCE_ATTRIBUTE;
	t->layer_node = -1;
	t->rnn_hidden = -1;
	for (int c = 0; c < 2; c++)
		t->fans[c][0] = t->fans[c][1] = -1;
	t->info = (oi_tensor_info){ .name = t->name_own, .graph = graph, .source = source,
	                            .ndim = ndim, .dims = t->dims_own, .fan_in = -1,
	                            .fan_out = -1, .gain = NAN, .act_slope = NAN, .std = NAN,
	                            .bound = NAN };
	int rc = marker_of(m, tp, &t->rec);
	if (!rc)
		rc = check_payload(m, t);
	return rc;
}

static int add_sparse(oi_model *m, const char *name, const char *graph, int source,
                      const Onnx__SparseTensorProto *sp)
{
	if (!sp->values)
		return oi__fail(OI_EINVALID, "sparse tensor '%s' has no values", name);
	int rc = add_tensor(m, name, graph, source, sp->values, sp->n_dims, sp->dims);
	if (rc)
		return rc;
	oi_tensor *t = &m->tensors[m->n_tensors - 1];
	t->sparse = true;
	/* the listed shape is the dense one; the values must still check out */
	uint64_t dense = 1;
	for (size_t i = 0; i < sp->n_dims; i++) {
		if (sp->dims[i] < 0 || !oi__mul_u64(dense, (uint64_t)sp->dims[i], &dense))
			return oi__fail(OI_EINVALID, "sparse tensor '%s': bad dims", name);
	}
	if (t->info.numel > dense)
		return oi__fail(OI_EINVALID, "sparse tensor '%s': %llu values for %llu elements",
		                name, (unsigned long long)t->info.numel, (unsigned long long)dense);
	if (sp->indices) {
		/* validate the indices' payload too, without listing them */
		oi_tensor idx = { 0 };
		idx.tp = sp->indices;
		idx.info.name = name;
		rc = marker_of(m, sp->indices, &idx.rec);
		if (!rc)
			rc = check_payload(m, &idx);
		if (rc)
			return rc;
	}
	return 0;
}

static int visit_graph(oi_model *m, const Onnx__GraphProto *g, char *path, const scope *outer);

static char *node_label(const Onnx__NodeProto *n, size_t index)
{
	if (n->name && *n->name)
		return oi__strdup(n->name);
	return oi__asprintf("%s_%zu", n->op_type ? n->op_type : "node", index);
}

static bool is_constant_node(const Onnx__NodeProto *n)
{
	return n->op_type && !strcmp(n->op_type, "Constant") &&
	       (!n->domain || !*n->domain || !strcmp(n->domain, "ai.onnx"));
}

/* The tensors and subgraphs held in a node's attributes. */
static int visit_node_attrs(oi_model *m, const Onnx__NodeProto *n, size_t index,
                            const char *path, const scope *sc)
{
	int rc = 0;
	char *label = node_label(n, index), *tname = NULL;
	if (!label)
		return OI_ENOMEM;
	bool constant = is_constant_node(n);
	const char *out0 = n->n_output ? n->output[0] : "";
	for (size_t a = 0; a < n->n_attribute && !rc; a++) {
		const Onnx__AttributeProto *at = n->attribute[a];
		const char *an = at->name ? at->name : "";
		free(tname);
		tname = constant && *out0 ? oi__strdup(out0) : oi__asprintf("%s.%s", label, an);
		if (!tname) {
			rc = OI_ENOMEM;
			break;
		}
		int source = constant ? OI_SOURCE_CONSTANT_NODE : OI_SOURCE_ATTRIBUTE;
		if (at->t)
			rc = add_tensor(m, constant ? tname : (at->t->name && *at->t->name ? at->t->name : tname),
			                path, source, at->t, at->t->n_dims, at->t->dims);
		for (size_t i = 0; i < at->n_tensors && !rc; i++)
			rc = add_tensor(m, at->tensors[i]->name && *at->tensors[i]->name
			                       ? at->tensors[i]->name : tname,
			                path, OI_SOURCE_ATTRIBUTE, at->tensors[i], at->tensors[i]->n_dims,
			                at->tensors[i]->dims);
		if (at->sparse_tensor && !rc)
			rc = add_sparse(m, tname, path, source, at->sparse_tensor);
		for (size_t i = 0; i < at->n_sparse_tensors && !rc; i++)
			rc = add_sparse(m, tname, path, OI_SOURCE_ATTRIBUTE, at->sparse_tensors[i]);
		if (at->g && !rc)
			rc = visit_graph(m, at->g, oi__asprintf("%s/%s.%s", path, label, an), sc);
		for (size_t i = 0; i < at->n_graphs && !rc; i++)
			rc = visit_graph(m, at->graphs[i],
			                 oi__asprintf("%s/%s.%s[%zu]", path, label, an, i), sc);
	}
	free(label);
	free(tname);
	return rc;
}

static int check_inputs(oi_model *m, const Onnx__NodeProto *n, size_t index, const char *path,
                        const scope *sc)
{
	for (size_t i = 0; i < n->n_input; i++) {
		const char *in = n->input[i];
		if (!in || !*in || scope_has(sc, in))
			continue;
		char *label = node_label(n, index);
		int rc;
		if (m->open_flags & OI_OPEN_LENIENT)
			rc = oi__warn(m, "node '%s' (%s) in graph %s reads '%s', which nothing defines",
			              label ? label : "?", n->op_type ? n->op_type : "?", path, in);
		else
			rc = oi__fail(OI_EINVALID, "node '%s' (%s) in graph %s reads '%s', which no input, "
			              "initializer or node output defines", label ? label : "?",
			              n->op_type ? n->op_type : "?", path, in);
		free(label);
		if (rc)
			return rc;
	}
	return 0;
}

/* The nodes of a graph or function body: recorded, their attributes'
 * tensors and subgraphs visited, their inputs checked against the scope
 * (which already holds every output of these nodes). */
static int visit_nodes(oi_model *m, Onnx__NodeProto *const *nodes, size_t n, uint32_t gi,
                       const scope *sc)
{
	const char *path = m->graphs[gi].path;
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		rc = add_node(m, nodes[i], gi, i);
		if (!rc)
			rc = visit_node_attrs(m, nodes[i], i, path, sc);
		if (!rc)
			rc = check_inputs(m, nodes[i], i, path, sc);
	}
	return rc;
}

/* An initializer's name (dense or sparse): unique in its graph, and in scope. */
static int claim_initializer(oi_strset *inits, scope *sc, const char *name, const char *path)
{
	int added = oi__strset_add(inits, name);
	if (added < 0)
		return OI_ENOMEM;
	if (added == 0)
		return oi__fail(OI_EINVALID, "two initializers are named '%s' (graph %s)", name, path);
	return scope_add(sc, name);
}

/* A graph named path (taken, freed on failure), which sees the names of outer. */
static int visit_graph(oi_model *m, const Onnx__GraphProto *g, char *path, const scope *outer)
{
	uint32_t gi;
	int rc = add_graph(m, g, path, &gi);
	if (rc)
		return rc;
	scope sc = { outer, { 0 } };
	oi_strset inits = { 0 };
	for (size_t i = 0; i < g->n_input && !rc; i++)
		if (g->input[i]->name)
			rc = scope_add(&sc, g->input[i]->name);
	for (size_t i = 0; i < g->n_initializer && !rc; i++) {
		const Onnx__TensorProto *tp = g->initializer[i];
		const char *name = tp->name ? tp->name : "";
		rc = claim_initializer(&inits, &sc, name, path);
		if (!rc)
			rc = add_tensor(m, name, path, OI_SOURCE_INITIALIZER, tp, tp->n_dims, tp->dims);
	}
	for (size_t i = 0; i < g->n_sparse_initializer && !rc; i++) {
		const Onnx__SparseTensorProto *sp = g->sparse_initializer[i];
		const char *name = sp->values && sp->values->name ? sp->values->name : "";
		rc = claim_initializer(&inits, &sc, name, path);
		if (!rc)
			rc = add_sparse(m, name, path, OI_SOURCE_SPARSE_INITIALIZER, sp);
	}
	for (size_t i = 0; i < g->n_node && !rc; i++)
		for (size_t o = 0; o < g->node[i]->n_output && !rc; o++)
			if (g->node[i]->output[o] && *g->node[i]->output[o])
				rc = scope_add(&sc, g->node[i]->output[o]);
	if (!rc)
		rc = visit_nodes(m, g->node, g->n_node, gi, &sc);
	oi__strset_free(&sc.names);
	oi__strset_free(&inits);
	return rc;
}

static int visit_function(oi_model *m, const Onnx__FunctionProto *f)
{
	uint32_t gi;
	int rc = add_graph(m, NULL, oi__asprintf("function:%s%s%s", f->domain && *f->domain ? f->domain : "",
	                                   f->domain && *f->domain ? "." : "",
	                                   f->name ? f->name : ""), &gi);
	if (rc)
		return rc;
	scope sc = { NULL, { 0 } };
	for (size_t i = 0; i < f->n_input && !rc; i++)
		rc = scope_add(&sc, f->input[i]);
	for (size_t i = 0; i < f->n_node && !rc; i++)
		for (size_t o = 0; o < f->node[i]->n_output && !rc; o++)
			rc = scope_add(&sc, f->node[i]->output[o]);
	if (!rc)
		rc = visit_nodes(m, f->node, f->n_node, gi, &sc);
	oi__strset_free(&sc.names);
	return rc;
}

/* Training graphs read the main graph's names. */
static int visit_training(oi_model *m, const Onnx__ModelProto *pb)
{
	scope main_sc = { NULL, { 0 } };
	const Onnx__GraphProto *g = pb->graph;
	int rc = 0;
	for (size_t i = 0; i < g->n_input && !rc; i++)
		rc = scope_add(&main_sc, g->input[i]->name ? g->input[i]->name : "");
	for (size_t i = 0; i < g->n_initializer && !rc; i++)
		rc = scope_add(&main_sc, g->initializer[i]->name ? g->initializer[i]->name : "");
	for (size_t i = 0; i < g->n_node && !rc; i++)
		for (size_t o = 0; o < g->node[i]->n_output && !rc; o++)
			rc = scope_add(&main_sc, g->node[i]->output[o]);
	for (size_t i = 0; i < pb->n_training_info && !rc; i++) {
		const Onnx__TrainingInfoProto *ti = pb->training_info[i];
		if (ti->initialization)
			rc = visit_graph(m, ti->initialization,
			                 oi__asprintf("training_info[%zu].initialization", i), &main_sc);
		if (ti->algorithm && !rc)
			rc = visit_graph(m, ti->algorithm,
			                 oi__asprintf("training_info[%zu].algorithm", i), &main_sc);
	}
	oi__strset_free(&main_sc.names);
	return rc;
}

/* ---- open / free -------------------------------------------------------- */

typedef struct ext_range {
	int32_t file;
	uint64_t off, len;
	const char *name;
} ext_range;

static int cmp_range(const void *a, const void *b)
{
	const ext_range *x = a, *y = b;
	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	return x->len < y->len ? -1 : x->len > y->len;
}

/* Tensors may share external bytes exactly (tied weights), but not in part:
 * such a model could not be rewritten one tensor at a time. */
static int check_external_overlaps(oi_model *m)
{
	size_t n = 0;
	ext_range *r = oi__calloc(m->n_tensors, sizeof *r);
	if (!r)
		return OI_ENOMEM;
	for (size_t i = 0; i < m->n_tensors; i++)
		if (m->tensors[i].ext >= 0 && m->tensors[i].info.nbytes)
			r[n++] = (ext_range){ m->tensors[i].ext, m->tensors[i].ext_off,
			                      m->tensors[i].info.nbytes, m->tensors[i].info.name };
	qsort(r, n, sizeof *r, cmp_range);
	int rc = 0;
	for (size_t i = 1; i < n && !rc; i++) {
		const ext_range *a = &r[i - 1], *b = &r[i];
		if (a->file == b->file && b->off < a->off + a->len &&
		    !(a->off == b->off && a->len == b->len))
			rc = oi__fail(OI_EINVALID, "tensors '%s' and '%s' overlap in part in external data "
			              "file '%s'", a->name, b->name, m->ext[a->file].location);
	}
	free(r);
	return rc;
}

static int load(oi_model *m, const char *path)
{
	m->fd = -1;
	m->path = oi__strdup(path);
	m->dir = oi__dirname(path);
	if (!m->path || !m->dir)
		return OI_ENOMEM;
	m->fd = open_nonblocking(path);
	struct stat st;
	if (m->fd < 0 || fstat(m->fd, &st) != 0)
		return oi__fail(OI_EIO, "%s", strerror(errno));
	if (S_ISDIR(st.st_mode))
		return oi__fail(OI_EIO, "is a directory");
	if (!S_ISREG(st.st_mode))
		return oi__fail(OI_EIO, "not a regular file");
	fcntl(m->fd, F_SETFL, 0);
	m->size = (uint64_t)st.st_size;
	m->dev = (uint64_t)st.st_dev;
	m->ino = (uint64_t)st.st_ino;
	if (m->size == 0)
		return oi__fail(OI_EFORMAT, "empty file, not an ONNX model");
	if (m->size > OI_PROTOBUF_LIMIT)
		return oi__fail(OI_ETOOBIG, "%llu bytes, past protobuf's 2 GiB limit for one model "
		                "(weights that large belong in external data)",
		                (unsigned long long)m->size);
	if (m->in_memory) {
		uint8_t *buf = malloc(m->size);
		if (!buf)
			return oi__fail(OI_ENOMEM, "out of memory for %llu bytes",
			                (unsigned long long)m->size);
		m->map = buf;
		for (uint64_t got = 0; got < m->size;) {
			ssize_t n = pread(m->fd, buf + got, (size_t)(m->size - got), (off_t)got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return oi__fail(OI_EIO, "read failed: %s", n ? strerror(errno) : "file shrank");
			got += (uint64_t)n;
		}
	} else {
		void *p = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, m->fd, 0);
		if (p == MAP_FAILED)
			return oi__fail(OI_EIO, "cannot map: %s", strerror(errno));
		m->map = p;
	}

	int rc = oi__scan(&m->scan, m->map, m->size, &onnx__model_proto__descriptor);
	if (rc) {
		if (rc == OI_EFORMAT) {
			char why[512]; /* the message is rewritten from itself */
			snprintf(why, sizeof why, "%s", oi_last_error());
			oi__fail(rc, "not a valid ONNX model: %s", why);
		}
		return rc;
	}
	oi_buf skel = { 0 };
	rc = build_skeleton(m, &skel);
	if (rc) {
		oi__buf_free(&skel);
		return rc;
	}
	m->pb = onnx__model_proto__unpack(NULL, skel.len, skel.data);
	oi__buf_free(&skel);
	if (!m->pb)
		return oi__fail(OI_EFORMAT, "not a valid ONNX model (protobuf-c cannot parse it)");
	if (!m->pb->graph)
		return oi__fail(OI_EFORMAT, "not an ONNX model: it has no graph");

	rc = visit_graph(m, m->pb->graph, oi__strdup("main"), NULL);
	if (!rc && m->pb->n_training_info)
		rc = visit_training(m, m->pb);
	for (size_t i = 0; i < m->pb->n_functions && !rc; i++) {
		m->cur_ns = (int32_t)i + 1;
		rc = visit_function(m, m->pb->functions[i]);
	}
	if (!rc)
		rc = check_external_overlaps(m);
	m->n_load_warnings = m->n_analysis_warnings = m->n_warnings;
	return rc;
}

int oi_model_open(oi_model **out, const char *path, const oi_open_options *opts)
{
	*out = NULL;
	if (!path)
		return oi__fail(OI_EARG, "no path given");
	if (opts && opts->version != OI_OPEN_OPTIONS_VERSION)
		return oi__fail(OI_EARG, "%s: oi_open_options version %u is not %u", path,
		                opts->version, OI_OPEN_OPTIONS_VERSION);
	oi_model *m = calloc(1, sizeof *m);
	if (!m)
		return oi__fail(OI_ENOMEM, "%s: out of memory", path);
	m->open_flags = opts ? opts->flags : 0;
	m->in_memory = (m->open_flags & OI_OPEN_IN_MEMORY) != 0;
	int rc = load(m, path);
	if (rc) {
		oi__error_prefix(path);
		oi_model_free(m);
		return rc;
	}
	*out = m;
	return oi__ok();
}

void oi_model_free(oi_model *m)
{
	if (!m)
		return;
	oi__untie_free(m); /* first: it puts back the warnings it rewrote */
	for (size_t i = 0; i < m->n_tensors; i++) {
		free(m->tensors[i].name_own);
		free(m->tensors[i].dims_own);
		free(m->tensors[i].fill);
	}
	free(m->tensors);
	for (size_t i = 0; i < m->n_graphs; i++)
		free(m->graphs[i].path);
	free(m->graphs);
	free(m->nodes);
	free(m->warnings);
	oi__model_pool_free(m);
	for (size_t i = 0; i < m->n_ext; i++) {
		if (m->ext[i].map)
			munmap((void *)m->ext[i].map, m->ext[i].size);
		if (m->ext[i].fd >= 0)
			close(m->ext[i].fd);
		free(m->ext[i].location);
		free(m->ext[i].path);
	}
	free(m->ext);
	if (m->pb)
		onnx__model_proto__free_unpacked(m->pb, NULL);
	oi__scan_free(&m->scan);
	if (m->map && m->in_memory)
		free((void *)m->map);
	else if (m->map)
		munmap((void *)m->map, m->size);
	if (m->fd >= 0)
		close(m->fd);
	free(m->path);
	free(m->dir);
	free(m->provenance);
	oi__model_pool_free(m);
	free(m);
}

const char *oi_model_path(const oi_model *m) { return m->path; }

int64_t oi_model_ir_version(const oi_model *m)
{
	return m->pb->has_ir_version ? m->pb->ir_version : -1;
}

size_t oi_model_opset_count(const oi_model *m) { return m->pb->n_opset_import; }

int oi_model_opset(const oi_model *m, size_t i, const char **domain, int64_t *version)
{
	if (i >= m->pb->n_opset_import)
		return oi__fail(OI_EARG, "opset index %zu out of range", i);
	const Onnx__OperatorSetIdProto *o = m->pb->opset_import[i];
	if (domain)
		*domain = o->domain ? o->domain : "";
	if (version)
		*version = o->version;
	return oi__ok();
}

size_t oi_model_tensor_count(const oi_model *m)
{
	return m->n_tensors + oi__untie_count(m);
}

const oi_tensor_info *oi_model_tensor(const oi_model *m, size_t i)
{
	if (i < m->n_tensors)
		return &m->tensors[i].info;
	const oi_tensor *t = oi__untie_tensor(m, i - m->n_tensors);
	return t ? &t->info : NULL;
}

const char *oi_model_saved_external(const oi_model *m) { return m->saved_external; }

size_t oi_model_warning_count(const oi_model *m) { return m->n_warnings; }

const char *oi_model_warning(const oi_model *m, size_t i)
{
	return i < m->n_warnings ? m->warnings[i] : NULL;
}

int oi__warn(oi_model *m, const char *fmt, ...)
{
	if (OI_GROW(m->warnings, m->n_warnings, m->cap_warnings))
		return OI_ENOMEM;
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return oi__fail(OI_ENOMEM, "out of memory");
	for (char *p = s; *p; p++)
		if (*p == '\n')
			*p = ' ';
	const char *kept = oi__model_keep(m, s);
	if (!kept)
		return OI_ENOMEM;
	m->warnings[m->n_warnings++] = kept;
	return 0;
}

const char *oi_source_name(oi_source s)
{
	switch (s) {
	case OI_SOURCE_INITIALIZER: return "initializer";
	case OI_SOURCE_CONSTANT_NODE: return "constant_node";
	case OI_SOURCE_SPARSE_INITIALIZER: return "sparse_initializer";
	case OI_SOURCE_ATTRIBUTE: return "attribute";
	default: return "unknown";
	}
}

const char *oi_storage_name(oi_storage s)
{
	switch (s) {
	case OI_STORAGE_RAW: return "raw";
	case OI_STORAGE_TYPED: return "typed";
	case OI_STORAGE_EXTERNAL: return "external";
	default: return "unknown";
	}
}

const char *oi_action_name(oi_action a)
{
	switch (a) {
	case OI_ACTION_KEEP: return "keep";
	case OI_ACTION_REINIT: return "reinit";
	case OI_ACTION_DONOR: return "donor";
	default: return "unknown";
	}
}
