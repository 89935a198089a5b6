#!/usr/bin/python3
"""Write the crafted bad models of the CLI tests.

Usage: /usr/bin/python3 tests/cli/make_bad.py OUTDIR
       /usr/bin/python3 tests/cli/make_bad.py --odd PATH MARK

Every case is a folder OUTDIR/<case>/ holding model.onnx (and, for the external
data cases, the files beside it); OUTDIR/outside/ holds files that the external
data cases reach for from outside their folder. OUTDIR/good_*/ are valid models
of the same kind, which the program must accept (not listed).  Prints the case names, one a
line.  Each model is well-formed protobuf and wrong in exactly one way (except
the random-byte ones), so that the loader has to find that one thing.
Deterministic: needs only python3-onnx and numpy.

--odd writes one valid model to PATH instead (tests/batch uses it too): a Gemm
whose tensors (w, b, and unused, which no node reads: a warning), node and
opset domain have the bytes MARK in their names (b"\xff\xc3": not UTF-8).
"""

import os
import random
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

F32 = TensorProto.FLOAT


def base_graph(inits, nodes=None, extra_inputs=()):
    """x[1,4] @ W[4,4] + b[4] -> y."""
    if nodes is None:
        nodes = [helper.make_node("MatMul", ["x", "W"], ["m"], name="MatMul_0"),
                 helper.make_node("Add", ["m", "b"], ["y"], name="Add_1")]
    inputs = [helper.make_tensor_value_info("x", F32, [1, 4])]
    inputs += [helper.make_tensor_value_info(n, F32, None) for n in extra_inputs]
    return helper.make_graph(nodes, "bad", inputs,
                             [helper.make_tensor_value_info("y", F32, [1, 4])], inits)


def model_of(graph):
    m = helper.make_model(graph, producer_name="onnxinit/tests/cli/make_bad.py",
                          opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


W = np.arange(16, dtype=np.float32).reshape(4, 4) / 16
B = np.ones(4, dtype=np.float32)


def good_w():
    return numpy_helper.from_array(W, "W")


def good_b():
    return numpy_helper.from_array(B, "b")


def raw_tensor(name, dtype, dims, raw):
    t = TensorProto()
    t.name = name
    t.data_type = dtype
    t.dims.extend(dims)
    t.raw_data = raw
    return t


def ext_tensor(name, dims, location, offset=None, length=None, dtype=F32):
    t = TensorProto()
    t.name = name
    t.data_type = dtype
    t.dims.extend(dims)
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", offset), ("length", length)):
        if v is not None:
            e = t.external_data.add()
            e.key = k
            e.value = str(v)
    return t


def varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def odd_model(path, mark):
    def t(name, dims):
        return helper.make_tensor(name, F32, dims, [0.5] * int(np.prod(dims)))
    g = helper.make_graph(
        [helper.make_node("Gemm", ["x", "wQQ", "bQQ"], ["y"], name="gemmQQ", transB=1)], "g",
        [helper.make_tensor_value_info("x", F32, [1, 8])],
        [helper.make_tensor_value_info("y", F32, [1, 4])],
        [t("wQQ", [4, 8]), t("bQQ", [4]), t("unusedQQ", [3])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17),
                                            helper.make_opsetid("dQQ", 1)])
    m.ir_version = 8
    with open(path, "wb") as f:
        f.write(m.SerializeToString().replace(b"QQ", mark))


def main():
    if sys.argv[1] == "--odd":
        return odd_model(os.fsencode(sys.argv[2]), os.fsencode(sys.argv[3]))
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    outside = os.path.join(out, "outside")
    os.makedirs(outside, exist_ok=True)
    # a data file that would be fine in every way but where it is
    with open(os.path.join(outside, "secret.bin"), "wb") as f:
        f.write(W.tobytes())
    names = []

    def case(name, model=None, raw_bytes=None, files=None, links=None):
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "model.onnx")
        data = raw_bytes if raw_bytes is not None else model.SerializeToString()
        with open(path, "wb") as f:
            f.write(data)
        for fname, content in (files or {}).items():
            with open(os.path.join(d, fname), "wb") as f:
                f.write(content)
        for fname, target in (links or {}).items():
            p = os.path.join(d, fname)
            if os.path.lexists(p):
                os.unlink(p)
            os.symlink(target, p)
        names.append(name)

    def with_w(w, **kw):
        return model_of(base_graph([w, good_b()], **kw))

    # ---- payload against dims/dtype
    case("raw_data_short", with_w(raw_tensor("W", F32, [4, 4], W.tobytes()[:60])))
    case("raw_data_long", with_w(raw_tensor("W", F32, [4, 4], W.tobytes() + b"\0\0\0\0")))
    case("raw_data_missing", with_w(raw_tensor("W", F32, [4, 4], b"")))
    t = TensorProto(name="W", data_type=F32, dims=[4, 4], float_data=W.ravel().tolist()[:15])
    case("typed_count_short", with_w(t))
    t = TensorProto(name="W", data_type=F32, dims=[4, 4], float_data=W.ravel().tolist())
    t.raw_data = W.tobytes()
    case("raw_and_typed", with_w(t))
    case("negative_dims", with_w(raw_tensor("W", F32, [-4, -4], W.tobytes())))
    case("negative_dim_one", with_w(raw_tensor("W", F32, [4, -1], W.tobytes()[:16])))
    # 2^32 * 2^31 = 2^63: past INT64_MAX, still a uint64
    case("dims_overflow_int64", with_w(raw_tensor("W", F32, [1 << 32, 1 << 31], W.tobytes())))
    # 2^40 * 2^40: past UINT64_MAX
    case("dims_overflow_uint64", with_w(raw_tensor("W", F32, [1 << 40, 1 << 40], W.tobytes())))
    # numel 2^61 fits, its bytes (2^63) as float32 do not fit int64
    case("dims_bytes_overflow", with_w(raw_tensor("W", F32, [1 << 61], W.tobytes())))
    case("dims_int64_max", with_w(raw_tensor("W", F32, [(1 << 63) - 1, 3], W.tobytes())))
    case("data_type_99", with_w(raw_tensor("W", 99, [4, 4], W.tobytes())))
    case("data_type_0", with_w(raw_tensor("W", 0, [4, 4], W.tobytes())))
    case("data_type_negative", with_w(raw_tensor("W", -1, [4, 4], W.tobytes())))

    # ---- external data
    wb = W.tobytes()
    case("ext_missing", with_w(ext_tensor("W", [4, 4], "nope.bin", 0, 64)))
    case("ext_short", with_w(ext_tensor("W", [4, 4], "w.bin", 0, 64)), files={"w.bin": wb[:32]})
    case("ext_offset_past_end", with_w(ext_tensor("W", [4, 4], "w.bin", 16, 64)),
         files={"w.bin": wb})
    case("ext_offset_huge", with_w(ext_tensor("W", [4, 4], "w.bin", 18446744073709551615, 64)),
         files={"w.bin": wb})
    case("ext_length_mismatch", with_w(ext_tensor("W", [4, 4], "w.bin", 0, 60)),
         files={"w.bin": wb})
    case("ext_absolute", with_w(ext_tensor("W", [4, 4], "/etc/passwd", 0, 64)))
    case("ext_absolute_outside", with_w(ext_tensor("W", [4, 4],
                                                   os.path.abspath(os.path.join(outside,
                                                                                "secret.bin")),
                                                   0, 64)))
    case("ext_dotdot", with_w(ext_tensor("W", [4, 4], "../outside/secret.bin", 0, 64)))
    case("ext_dotdot_inside", with_w(ext_tensor("W", [4, 4], "sub/../w.bin", 0, 64)),
         files={"w.bin": wb})
    case("ext_symlink_file", with_w(ext_tensor("W", [4, 4], "link.bin", 0, 64)),
         links={"link.bin": "../outside/secret.bin"})
    case("ext_symlink_dir", with_w(ext_tensor("W", [4, 4], "linkdir/secret.bin", 0, 64)),
         links={"linkdir": os.path.abspath(outside)})
    case("ext_no_location", with_w(ext_tensor("W", [4, 4], None, 0, 64)), files={"w.bin": wb})
    case("ext_bad_offset_text", with_w(ext_tensor("W", [4, 4], "w.bin", "-16", 64)),
         files={"w.bin": wb})
    case("ext_is_directory", with_w(ext_tensor("W", [4, 4], "sub", 0, 64)))
    os.makedirs(os.path.join(out, "ext_is_directory", "sub"), exist_ok=True)
    t = ext_tensor("s", [2], "s.bin", 0, 8, dtype=TensorProto.STRING)
    case("ext_string_tensor", model_of(base_graph([good_w(), good_b(), t])))
    with open(os.path.join(out, "ext_string_tensor", "s.bin"), "wb") as f:
        f.write(b"abcdefgh")

    # ---- the graph
    nodes = [helper.make_node("MatMul", ["x", "W"], ["m"], name="MatMul_0"),
             helper.make_node("Add", ["m", "ghost"], ["y"], name="Add_1")]
    case("dangling_node_input", model_of(base_graph([good_w(), good_b()], nodes=nodes)))
    inner = helper.make_graph([helper.make_node("Add", ["W", "phantom"], ["z"], name="Add_in")],
                              "then", [], [helper.make_tensor_value_info("z", F32, None)])
    nodes = [helper.make_node("MatMul", ["x", "W"], ["m"], name="MatMul_0"),
             helper.make_node("Add", ["m", "b"], ["y"], name="Add_1"),
             helper.make_node("If", ["c"], ["z2"], name="If_2", then_branch=inner,
                              else_branch=inner)]
    case("dangling_subgraph_input",
         model_of(base_graph([good_w(), good_b()], nodes=nodes, extra_inputs=["c"])))
    case("duplicate_initializers",
         model_of(base_graph([good_w(), good_b(), numpy_helper.from_array(W, "W")])))
    m = model_of(base_graph([good_w(), good_b()]))
    m.ClearField("graph")
    case("no_graph", m)

    # ---- not protobuf at all
    for seed, size in ((1, 1), (2, 7), (3, 100), (4, 1000), (5, 4096), (6, 65536)):
        r = random.Random(seed)
        case("random_%d_bytes_seed%d" % (size, seed),
             raw_bytes=bytes(r.getrandbits(8) for _ in range(size)))
    case("text_file", raw_bytes=b"this is not an onnx model\n")
    good = model_of(base_graph([good_w(), good_b()])).SerializeToString()
    case("bad_varint", raw_bytes=b"\xff" * 11 + good)
    # the graph's length prefix claims more than the file holds
    case("length_past_end", raw_bytes=good + b"\x3a\xff\xff\x03" + b"\0" * 8)

    # a singular message field twice: protobuf merges the two
    g = model_of(base_graph([good_w(), good_b()])).graph.SerializeToString()
    case("graph_field_twice", raw_bytes=good + b"\x3a" + varint(len(g)) + g)

    # ---- not bad: valid models the bad-input code must not trip over (not listed)
    d = os.path.join(out, "good_tied_external")
    os.makedirs(d, exist_ok=True)
    w1 = ext_tensor("W", [4, 4], "w.bin", 0, 64)
    w2 = ext_tensor("W2", [4, 4], "w.bin", 0, 64)  # the same bytes: tied weights
    nodes = [helper.make_node("MatMul", ["x", "W"], ["m"], name="MatMul_0"),
             helper.make_node("MatMul", ["m", "W2"], ["m2"], name="MatMul_1"),
             helper.make_node("Add", ["m2", "b"], ["y"], name="Add_2")]
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(model_of(base_graph([w1, w2, good_b()], nodes=nodes)).SerializeToString())
    with open(os.path.join(d, "w.bin"), "wb") as f:
        f.write(wb)

    for n in names:
        print(n)


if __name__ == "__main__":
    main()
