/* Protobuf wire format: the few primitives the scanner and splicer need.
 * Every reader is bounds-checked against end and never reads past it. */
#ifndef OI_WIRE_H
#define OI_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { OI_WIRE_VARINT = 0, OI_WIRE_I64 = 1, OI_WIRE_LEN = 2, OI_WIRE_I32 = 5 };

/* Read a varint at *pos (< end). Returns false if truncated or longer than
 * 10 bytes. */
static inline bool oi__wire_varint(const uint8_t *data, uint64_t end, uint64_t *pos,
                                   uint64_t *value)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 70; shift += 7) {
		if (*pos >= end)
			return false;
		uint8_t b = data[(*pos)++];
		if (shift == 63 && (b & 0x7e))
			return false; /* more than 64 bits */
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*value = v;
			return true;
		}
	}
	return false;
}

static inline size_t oi__varint_len(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Write v at out (room for 10 bytes); return the bytes written. */
static inline size_t oi__varint_put(uint8_t *out, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		out[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	return n;
}

#endif
