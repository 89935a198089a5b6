/* The scanner: one pass over a serialized ModelProto, driven by the
 * protobuf-c descriptors of the ONNX schema, that records where every
 * submessage and every TensorProto payload lies in the file. Payloads are
 * never copied: the rest of the library reads them through these offsets. */
#ifndef OI_SCAN_H
#define OI_SCAN_H

#include <protobuf-c/protobuf-c.h>

#include "internal.h"

/* A length-delimited submessage. */
typedef struct oi_span {
	uint64_t tag_off;    /* offset of the field's tag */
	uint64_t prefix_off; /* offset of its length varint */
	uint64_t start, end; /* content */
	int32_t parent;      /* enclosing span; -1 = the file (the ModelProto) */
	uint32_t field;      /* field number within the parent */
	uint32_t depth;      /* 1 for fields of the ModelProto */
	const ProtobufCMessageDescriptor *desc;
} oi_span;

/* One occurrence of a payload field of a TensorProto. start..end are the
 * value bytes (the content for length-delimited fields). */
typedef struct oi_field_ref {
	uint64_t tag_off, start, end;
	uint32_t field;
	uint32_t wire;
} oi_field_ref;

/* A TensorProto, numbered in file order. */
typedef struct oi_tensor_rec {
	int32_t span;          /* its span */
	uint32_t first_field;  /* its payload fields: fields[first_field ...] */
	uint32_t n_fields;
} oi_tensor_rec;

typedef struct oi_scan {
	oi_span *spans;
	size_t n_spans, cap_spans;
	oi_tensor_rec *tensors;
	size_t n_tensors, cap_tensors;
	oi_field_ref *fields;
	size_t n_fields, cap_fields;
} oi_scan;

/* TensorProto field numbers that hold payload. */
enum {
	OI_TP_FLOAT_DATA = 4, OI_TP_INT32_DATA = 5, OI_TP_STRING_DATA = 6,
	OI_TP_INT64_DATA = 7, OI_TP_RAW_DATA = 9, OI_TP_DOUBLE_DATA = 10,
	OI_TP_UINT64_DATA = 11
};

/* The field number of the marker the skeleton adds to every TensorProto
 * (the largest legal field number; an unknown field to every reader). */
#define OI_MARKER_FIELD 536870911u

#define OI_SCAN_MAX_DEPTH 100

/* Scan data[0..len) as a message of descriptor root. */
int oi__scan(oi_scan *out, const uint8_t *data, uint64_t len,
             const ProtobufCMessageDescriptor *root);
void oi__scan_free(oi_scan *scan);

#endif
