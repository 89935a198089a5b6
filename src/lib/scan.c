/* Descriptor-driven scan of the wire format; see scan.h. */
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"
#include "scan.h"
#include "wire.h"

static bool is_payload_field(uint32_t field)
{
	switch (field) {
	case OI_TP_FLOAT_DATA: case OI_TP_INT32_DATA: case OI_TP_STRING_DATA:
	case OI_TP_INT64_DATA: case OI_TP_RAW_DATA: case OI_TP_DOUBLE_DATA:
	case OI_TP_UINT64_DATA:
		return true;
	default:
		return false;
	}
}

typedef struct walker {
	oi_scan *scan;
	const uint8_t *data;
} walker;

static int walk(walker *w, const ProtobufCMessageDescriptor *desc, uint64_t start,
                uint64_t end, int32_t self_span, uint32_t depth)
{
	const uint8_t *d = w->data;
	oi_scan *s = w->scan;
	bool is_tensor = desc == &onnx__tensor_proto__descriptor;
	uint64_t seen_singular = 0; /* bit per singular message field < 64 */
	size_t tensor_index = 0;

	if (depth > OI_SCAN_MAX_DEPTH)
		return oi__fail(OI_EFORMAT, "messages nested deeper than %d levels at byte %llu",
		                OI_SCAN_MAX_DEPTH, (unsigned long long)start);
	if (is_tensor) {
		if (OI_GROW(s->tensors, s->n_tensors, s->cap_tensors))
			return OI_ENOMEM;
		tensor_index = s->n_tensors++;
		s->tensors[tensor_index] = (oi_tensor_rec){ self_span, (uint32_t)s->n_fields, 0 };
	}

	uint64_t pos = start;
	while (pos < end) {
		uint64_t tag_off = pos, tag, len = 0;
		if (!oi__wire_varint(d, end, &pos, &tag) || tag > UINT32_MAX)
			return oi__fail(OI_EFORMAT, "bad field tag at byte %llu (%s)",
			                (unsigned long long)tag_off, desc->name);
		uint32_t field = (uint32_t)(tag >> 3), wire = (uint32_t)(tag & 7);
		if (field == 0)
			return oi__fail(OI_EFORMAT, "field number 0 at byte %llu (%s)",
			                (unsigned long long)tag_off, desc->name);
		uint64_t vstart = pos, prefix_off = pos;
		switch (wire) {
		case OI_WIRE_VARINT: {
			uint64_t v;
			if (!oi__wire_varint(d, end, &pos, &v))
				goto truncated;
			break;
		}
		case OI_WIRE_I64:
			if (end - pos < 8)
				goto truncated;
			pos += 8;
			break;
		case OI_WIRE_I32:
			if (end - pos < 4)
				goto truncated;
			pos += 4;
			break;
		case OI_WIRE_LEN:
			if (!oi__wire_varint(d, end, &pos, &len) || len > end - pos)
				goto truncated;
			vstart = pos;
			pos += len;
			break;
		case 3: case 4:
			return oi__fail(OI_EFORMAT, "group field %u at byte %llu (%s): groups are not "
			                "used by ONNX and not supported", field,
			                (unsigned long long)tag_off, desc->name);
		default:
			return oi__fail(OI_EFORMAT, "invalid wire type %u at byte %llu (%s)", wire,
			                (unsigned long long)tag_off, desc->name);
		}

		const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(desc, field);
		if (fd && fd->type == PROTOBUF_C_TYPE_MESSAGE) {
			if (wire != OI_WIRE_LEN)
				return oi__fail(OI_EFORMAT, "field %s.%s at byte %llu has the wrong wire type",
				                desc->name, fd->name, (unsigned long long)tag_off);
			if (fd->label != PROTOBUF_C_LABEL_REPEATED && field < 64) {
				/* protobuf would merge the two; we would have to as well. */
				if (seen_singular & (1ULL << field))
					return oi__fail(OI_EUNSUPPORTED, "field %s.%s appears twice (at byte %llu)",
					                desc->name, fd->name, (unsigned long long)tag_off);
				seen_singular |= 1ULL << field;
			}
			if (OI_GROW(s->spans, s->n_spans, s->cap_spans))
				return OI_ENOMEM;
			int32_t idx = (int32_t)s->n_spans++;
			s->spans[idx] = (oi_span){ tag_off, prefix_off, vstart, pos, self_span, field,
			                           depth, fd->descriptor };
			int rc = walk(w, fd->descriptor, vstart, pos, idx, depth + 1);
			if (rc)
				return rc;
		} else if (is_tensor && is_payload_field(field)) {
			if (OI_GROW(s->fields, s->n_fields, s->cap_fields))
				return OI_ENOMEM;
			s->fields[s->n_fields++] = (oi_field_ref){ tag_off, vstart, pos, field, wire };
			s->tensors[tensor_index].n_fields++;
		}
		continue;
	truncated:
		return oi__fail(OI_EFORMAT, "truncated or malformed field %u at byte %llu (%s)", field,
		                (unsigned long long)tag_off, desc->name);
	}
	return 0;
}

int oi__scan(oi_scan *out, const uint8_t *data, uint64_t len,
             const ProtobufCMessageDescriptor *root)
{
	memset(out, 0, sizeof *out);
	walker w = { out, data };
	int rc = walk(&w, root, 0, len, -1, 1);
	if (rc)
		oi__scan_free(out);
	return rc;
}

void oi__scan_free(oi_scan *scan)
{
	free(scan->spans);
	free(scan->tensors);
	free(scan->fields);
	memset(scan, 0, sizeof *scan);
}
