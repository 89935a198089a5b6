#!/usr/bin/python3
"""Write a large, valid, deterministic ONNX model for benchmarks.

    make_big_model.py OUT --size-mib N [--layers 8] [--seed 20240601]

The model is LAYERS dense blocks  Y = Relu(X @ W_i + b_i)  with square
float32 weights W_i (D x D) and biases b_i (D), all stored as initializers
in raw_data.  D is chosen so the weights total about N MiB (N=512, 8 layers
gives D=4096 exactly).

The file is streamed: the small parts of the ModelProto are serialized with
python3-onnx, and every initializer is written as a hand-framed TensorProto
whose raw_data payload goes straight from a single reused numpy buffer to the
file.  Peak memory is about one weight matrix, never the whole model.  The
output is written to OUT.tmp and renamed, then checked by onnx.checker.
"""
import argparse
import math
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def ld_field(field, length):
    """Tag + length prefix of a length-delimited (wire type 2) field."""
    return varint((field << 3) | 2) + varint(length)


# Field numbers from onnx.proto
MODEL_GRAPH = 7
GRAPH_INITIALIZER = 5
TENSOR_RAW_DATA = 9


def tensor_header(name, dims):
    """Serialized TensorProto without raw_data (dims, data_type, name)."""
    t = TensorProto()
    t.name = name
    t.data_type = TensorProto.FLOAT
    t.dims.extend(dims)
    return t.SerializeToString()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--size-mib", type=int, default=512)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--seed", type=int, default=20240601)
    a = ap.parse_args()
    if a.size_mib < 1 or a.layers < 1:
        sys.exit("size and layers must be positive")

    d = int(round(math.sqrt(a.size_mib * 2**20 / (a.layers * 4))))
    d = max(8, d - d % 8)

    # The tiny part of the model: nodes, inputs, outputs; no initializers.
    nodes = []
    prev = "X"
    for i in range(a.layers):
        nodes.append(helper.make_node("MatMul", [prev, f"W{i}"], [f"mm{i}"], name=f"matmul{i}"))
        nodes.append(helper.make_node("Add", [f"mm{i}", f"B{i}"], [f"add{i}"], name=f"add{i}"))
        out = "Y" if i == a.layers - 1 else f"h{i}"
        nodes.append(helper.make_node("Relu", [f"add{i}"], [out], name=f"relu{i}"))
        prev = out
    graph = helper.make_graph(
        nodes, "big_mlp",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", d])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", d])],
    )
    model = helper.make_model(graph, producer_name="onnxinit-bench",
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    model.ClearField("graph")

    # Write fields in field-number order, as protobuf's own serializer does,
    # so the file is canonical: serializing messages and concatenating them
    # merges them, so split each message around the field we stream.
    def split(msg, field_no):
        lo, hi = type(msg)(), type(msg)()
        lo.CopyFrom(msg)
        hi.CopyFrom(msg)
        for fd in msg.DESCRIPTOR.fields:
            (hi if fd.number < field_no else lo).ClearField(fd.name)
        return lo.SerializeToString(), hi.SerializeToString()

    graph_lo, graph_hi = split(graph, GRAPH_INITIALIZER)
    model_lo, model_hi = split(model, MODEL_GRAPH)

    inits = []  # (name, dims, header bytes, payload length)
    for i in range(a.layers):
        for name, dims in ((f"W{i}", [d, d]), (f"B{i}", [d])):
            n = int(np.prod(dims)) * 4
            hdr = tensor_header(name, dims)
            inits.append((name, dims, hdr, n))

    def tensor_len(hdr, n):
        return len(hdr) + len(ld_field(TENSOR_RAW_DATA, n)) + n

    graph_len = len(graph_lo) + len(graph_hi) + sum(
        len(ld_field(GRAPH_INITIALIZER, tensor_len(h, n))) + tensor_len(h, n)
        for _, _, h, n in inits)

    rng = np.random.default_rng(a.seed)
    wbuf = np.empty((d, d), dtype="<f4")
    bbuf = np.empty((d,), dtype="<f4")
    scale = np.float32(1.0 / math.sqrt(d))

    tmp = a.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(model_lo)
        f.write(ld_field(MODEL_GRAPH, graph_len))
        f.write(graph_lo)
        for name, dims, hdr, n in inits:
            buf = wbuf if len(dims) == 2 else bbuf
            rng.standard_normal(dtype=np.float32, out=buf)
            buf *= scale
            f.write(ld_field(GRAPH_INITIALIZER, tensor_len(hdr, n)))
            f.write(hdr)
            f.write(ld_field(TENSOR_RAW_DATA, n))
            f.write(memoryview(buf).cast("B"))
        f.write(graph_hi)
        f.write(model_hi)
    os.replace(tmp, a.out)

    onnx.checker.check_model(a.out)  # path form: C++ loads and checks it
    size = os.path.getsize(a.out)
    print(f"wrote {a.out}: {a.layers} layers, D={d}, {size} bytes "
          f"({size / 2**20:.1f} MiB)", file=sys.stderr)


if __name__ == "__main__":
    main()
