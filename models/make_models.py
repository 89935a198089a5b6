#!/usr/bin/python3
"""Write the small example models of onnxinit.

Usage: /usr/bin/python3 models/make_models.py [OUTDIR]   (default: this folder)

Needs only python3-onnx (>= 1.12) and numpy.  The output is deterministic: every
model draws its weights from its own fixed-seed generator and is serialized by
hand, so running the script twice gives byte-identical files.
"""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
PRODUCER = "onnxinit/models/make_models.py"

F32 = TensorProto.FLOAT


def rng(seed):
    return np.random.default_rng(seed)


def rand(g, shape, scale=0.1, dtype=np.float32):
    return (g.standard_normal(shape) * scale).astype(dtype)


def raw(name, arr):
    """Initializer stored in raw_data."""
    return numpy_helper.from_array(np.ascontiguousarray(arr), name)


def typed(name, data_type, arr):
    """Initializer stored in the typed field (float_data, double_data, int32_data...)."""
    arr = np.asarray(arr)
    return helper.make_tensor(name, data_type, list(arr.shape), arr.flatten().tolist(), raw=False)


def bf16_bits(arr):
    """float32 -> bfloat16 bit patterns, round to nearest even (as onnx/torch do)."""
    u = np.ascontiguousarray(arr, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)


def model(graph, doc):
    m = helper.make_model(
        graph,
        producer_name=PRODUCER,
        producer_version="1",
        opset_imports=[helper.make_opsetid("", OPSET)],
        doc_string=doc,
    )
    m.ir_version = IR_VERSION
    m.model_version = 1
    return m


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


# --------------------------------------------------------------------------- cnn
def make_cnn():
    g = rng(1)
    inits = [
        raw("conv1.weight", rand(g, (8, 3, 3, 3))),
        raw("conv1.bias", rand(g, (8,))),
        raw("bn1.weight", (1.0 + rand(g, (8,))).astype(np.float32)),
        raw("bn1.bias", rand(g, (8,))),
        raw("bn1.running_mean", rand(g, (8,))),
        raw("bn1.running_var", (1.0 + np.abs(rand(g, (8,)))).astype(np.float32)),
        raw("conv2.weight", rand(g, (16, 4, 3, 3))),  # group=2: 8 in / 2 groups
        raw("conv2.bias", rand(g, (16,))),
        raw("fc.weight", rand(g, (10, 16))),
        raw("fc.bias", rand(g, (10,))),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "conv1.weight", "conv1.bias"], ["c1"], name="Conv_0",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("BatchNormalization",
                         ["c1", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"],
                         ["b1"], name="BatchNormalization_1", epsilon=1e-5, momentum=0.9),
        helper.make_node("Relu", ["b1"], ["r1"], name="Relu_2"),
        helper.make_node("Conv", ["r1", "conv2.weight", "conv2.bias"], ["c2"], name="Conv_3",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2], group=2),
        helper.make_node("Relu", ["c2"], ["r2"], name="Relu_4"),
        helper.make_node("GlobalAveragePool", ["r2"], ["p"], name="GlobalAveragePool_5"),
        helper.make_node("Flatten", ["p"], ["f"], name="Flatten_6", axis=1),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["logits"], name="Gemm_7",
                         alpha=1.0, beta=1.0, transB=1),
    ]
    graph = helper.make_graph(nodes, "cnn", [vi("input", F32, [1, 3, 16, 16])],
                              [vi("logits", F32, [1, 10])], inits)
    return model(graph, "Conv + BatchNorm + Relu, grouped Conv (group=2), GAP, Gemm(transB=1).")


# --------------------------------------------------------------------------- mlp
def mlp_parts(g, prefix=""):
    inits = [
        raw(prefix + "fc1.weight", rand(g, (16, 32))),
        raw(prefix + "fc1.bias", rand(g, (32,))),
        raw(prefix + "fc2.weight", rand(g, (32, 32))),
        raw(prefix + "fc2.bias", rand(g, (32,))),
        raw(prefix + "fc3.weight", rand(g, (10, 32))),
        raw(prefix + "fc3.bias", rand(g, (10,))),
    ]
    p = prefix
    nodes = [
        helper.make_node("MatMul", ["input", p + "fc1.weight"], ["m1"], name="MatMul_0"),
        helper.make_node("Add", ["m1", p + "fc1.bias"], ["a1"], name="Add_1"),
        helper.make_node("Relu", ["a1"], ["r1"], name="Relu_2"),
        helper.make_node("MatMul", ["r1", p + "fc2.weight"], ["m2"], name="MatMul_3"),
        helper.make_node("Add", ["m2", p + "fc2.bias"], ["a2"], name="Add_4"),
        helper.make_node("Relu", ["a2"], ["r2"], name="Relu_5"),
        helper.make_node("Gemm", ["r2", p + "fc3.weight", p + "fc3.bias"], ["output"],
                         name="Gemm_6", transB=1),
    ]
    return nodes, inits


def make_mlp():
    nodes, inits = mlp_parts(rng(2))
    graph = helper.make_graph(nodes, "mlp", [vi("input", F32, [2, 16])],
                              [vi("output", F32, [2, 10])], inits)
    return model(graph, "(MatMul + Add + Relu) x 2, then Gemm(transB=1).")


# --------------------------------------------------------------------------- lstm
def make_lstm():
    g = rng(3)
    seq, batch, inp, h1, h2 = 5, 2, 4, 6, 5
    inits = [
        raw("lstm.W", rand(g, (2, 4 * h1, inp))),
        raw("lstm.R", rand(g, (2, 4 * h1, h1))),
        raw("lstm.B", rand(g, (2, 8 * h1))),
        raw("reshape.shape", np.array([seq, batch, 2 * h1], dtype=np.int64)),
        raw("gru.W", rand(g, (1, 3 * h2, 2 * h1))),
        raw("gru.R", rand(g, (1, 3 * h2, h2))),
        raw("gru.B", rand(g, (1, 6 * h2))),
        raw("squeeze.axes", np.array([1], dtype=np.int64)),
        raw("head.weight", rand(g, (h2, 3))),
        raw("head.bias", rand(g, (3,))),
    ]
    nodes = [
        helper.make_node("LSTM", ["input", "lstm.W", "lstm.R", "lstm.B"], ["lstm_y"],
                         name="LSTM_0", direction="bidirectional", hidden_size=h1),
        # Y: [seq, 2, batch, h1] -> [seq, batch, 2, h1] -> [seq, batch, 2*h1]
        helper.make_node("Transpose", ["lstm_y"], ["lstm_t"], name="Transpose_1", perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", ["lstm_t", "reshape.shape"], ["lstm_out"], name="Reshape_2"),
        helper.make_node("GRU", ["lstm_out", "gru.W", "gru.R", "gru.B"], ["gru_y"],
                         name="GRU_3", direction="forward", hidden_size=h2,
                         linear_before_reset=1),
        helper.make_node("Squeeze", ["gru_y", "squeeze.axes"], ["gru_out"], name="Squeeze_4"),
        helper.make_node("MatMul", ["gru_out", "head.weight"], ["hm"], name="MatMul_5"),
        helper.make_node("Add", ["hm", "head.bias"], ["output"], name="Add_6"),
    ]
    graph = helper.make_graph(nodes, "lstm", [vi("input", F32, [seq, batch, inp])],
                              [vi("output", F32, [seq, batch, 3])], inits)
    return model(graph, "Bidirectional LSTM, then a forward GRU, then a MatMul + Add head.")


# --------------------------------------------------------------------------- if_const
def make_if_const():
    g = rng(4)
    const_w = rand(g, (8, 8))
    const_b = rand(g, (8,))

    def branch(name, seed_scale):
        w = raw(name + ".weight", rand(g, (8, 4)) * seed_scale)
        nodes = [helper.make_node("MatMul", ["hidden", name + ".weight"], [name + "_out"],
                                  name=name + "_MatMul")]
        return helper.make_graph(nodes, name, [], [vi(name + "_out", F32, [2, 4])], [w])

    nodes = [
        helper.make_node("Constant", [], ["const.weight"], name="Constant_0",
                         value=raw("const.weight", const_w)),
        helper.make_node("Constant", [], ["const.bias"], name="Constant_1",
                         value=raw("const.bias", const_b)),
        helper.make_node("MatMul", ["input", "const.weight"], ["m"], name="MatMul_2"),
        helper.make_node("Add", ["m", "const.bias"], ["a"], name="Add_3"),
        helper.make_node("Relu", ["a"], ["hidden"], name="Relu_4"),
        helper.make_node("If", ["cond"], ["output"], name="If_5",
                         then_branch=branch("then_fc", 1.0),
                         else_branch=branch("else_fc", 2.0)),
    ]
    graph = helper.make_graph(nodes, "if_const",
                              [vi("input", F32, [2, 8]), vi("cond", TensorProto.BOOL, [])],
                              [vi("output", F32, [2, 4])], [])
    return model(graph, "Weights in Constant nodes of the main graph and in the initializers "
                        "of both branches of an If node (condition is a graph input).")


# --------------------------------------------------------------------------- external
EXTERNAL_ALIGN = 64


def make_external(outdir):
    """MLP whose initializers all live in external.onnx.data (64-byte aligned offsets)."""
    nodes, inits = mlp_parts(rng(5))
    data = bytearray()
    for t in inits:
        payload = t.raw_data
        pad = (-len(data)) % EXTERNAL_ALIGN
        data += b"\0" * pad
        offset = len(data)
        data += payload
        t.ClearField("raw_data")
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", "external.onnx.data"), ("offset", str(offset)),
                     ("length", str(len(payload)))):
            e = t.external_data.add()
            e.key = k
            e.value = v
    graph = helper.make_graph(nodes, "external", [vi("input", F32, [2, 16])],
                              [vi("output", F32, [2, 10])], inits)
    m = model(graph, "The mlp model with every initializer in external data "
                     "(external.onnx.data, offsets aligned to 64 bytes).")
    return m, bytes(data)


# --------------------------------------------------------------------------- typed
def make_typed():
    g = rng(6)
    inits = [
        typed("fc1.weight", TensorProto.FLOAT, rand(g, (8, 8))),                 # float_data
        typed("fc1.bias.f16", TensorProto.FLOAT16, rand(g, (8,), dtype=np.float16)),  # int32_data
        typed("fc2.weight.f64", TensorProto.DOUBLE, rand(g, (8, 4), dtype=np.float64)),  # double_data
        typed("fc2.bias.f64", TensorProto.DOUBLE, rand(g, (4,), dtype=np.float64)),
        typed("clip.max", TensorProto.FLOAT, np.array(6.0, dtype=np.float32)),   # scalar, float_data
    ]
    nodes = [
        helper.make_node("MatMul", ["input", "fc1.weight"], ["m1"], name="MatMul_0"),
        helper.make_node("Cast", ["fc1.bias.f16"], ["fc1.bias"], name="Cast_1", to=F32),
        helper.make_node("Add", ["m1", "fc1.bias"], ["a1"], name="Add_2"),
        helper.make_node("Relu", ["a1"], ["r1"], name="Relu_3"),
        helper.make_node("Cast", ["r1"], ["r1d"], name="Cast_4", to=TensorProto.DOUBLE),
        helper.make_node("MatMul", ["r1d", "fc2.weight.f64"], ["m2"], name="MatMul_5"),
        helper.make_node("Add", ["m2", "fc2.bias.f64"], ["a2"], name="Add_6"),
        helper.make_node("Cast", ["a2"], ["a2f"], name="Cast_7", to=F32),
        helper.make_node("Min", ["a2f", "clip.max"], ["output"], name="Min_8"),
    ]
    graph = helper.make_graph(nodes, "typed", [vi("input", F32, [2, 8])],
                              [vi("output", F32, [2, 4])], inits)
    return model(graph, "Weights in typed fields: float_data (FLOAT), int32_data (FLOAT16 bit "
                        "patterns), double_data (DOUBLE); no raw_data at all.")


# --------------------------------------------------------------------------- fp16
def make_fp16():
    g = rng(7)
    F16 = TensorProto.FLOAT16
    inits = [
        raw("fc1.weight", rand(g, (16, 16), dtype=np.float16)),
        raw("fc1.bias", rand(g, (16,), dtype=np.float16)),
        raw("fc2.weight", rand(g, (16, 8), dtype=np.float16)),
        raw("fc2.bias", rand(g, (8,), dtype=np.float16)),
        helper.make_tensor("out.bias.bf16", TensorProto.BFLOAT16, [8],
                           bf16_bits(rand(g, (8,))).tobytes(), raw=True),
    ]
    nodes = [
        helper.make_node("MatMul", ["input", "fc1.weight"], ["m1"], name="MatMul_0"),
        helper.make_node("Add", ["m1", "fc1.bias"], ["a1"], name="Add_1"),
        helper.make_node("Relu", ["a1"], ["r1"], name="Relu_2"),
        helper.make_node("MatMul", ["r1", "fc2.weight"], ["m2"], name="MatMul_3"),
        helper.make_node("Add", ["m2", "fc2.bias"], ["output"], name="Add_4"),
        helper.make_node("Cast", ["output"], ["out_f32"], name="Cast_5", to=F32),
        helper.make_node("Cast", ["out.bias.bf16"], ["out.bias"], name="Cast_6", to=F32),
        helper.make_node("Add", ["out_f32", "out.bias"], ["output_f32"], name="Add_7"),
    ]
    graph = helper.make_graph(nodes, "fp16", [vi("input", F16, [2, 16])],
                              [vi("output", F16, [2, 8]), vi("output_f32", F32, [2, 8])], inits)
    return model(graph, "MLP entirely in float16 (raw_data), plus a BFLOAT16 bias consumed "
                        "through Cast.")


# --------------------------------------------------------------------------- main
def write(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def main(argv):
    outdir = argv[1] if len(argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    os.makedirs(outdir, exist_ok=True)
    models = {
        "cnn.onnx": make_cnn(),
        "mlp.onnx": make_mlp(),
        "lstm.onnx": make_lstm(),
        "if_const.onnx": make_if_const(),
        "typed.onnx": make_typed(),
        "fp16.onnx": make_fp16(),
    }
    ext, ext_data = make_external(outdir)
    write(os.path.join(outdir, "external.onnx.data"), ext_data)
    models["external.onnx"] = ext
    for name, m in models.items():
        path = os.path.join(outdir, name)
        write(path, m.SerializeToString())
        # The file check resolves external data beside it.  Never pass a path with
        # full_check=True: onnx 1.12 then writes the shape-inferred model over the file.
        onnx.checker.check_model(path)
        onnx.shape_inference.infer_shapes(onnx.load(path, load_external_data=False),
                                          check_type=True, strict_mode=True)
        print(f"{path}: {os.path.getsize(path)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
