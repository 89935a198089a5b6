#!/usr/bin/python3
"""Regenerate the seed corpus of the loader fuzzer (tests/fuzz/corpus/).

Usage: /usr/bin/python3 tests/fuzz/make_corpus.py [MODELS_DIR] [CORPUS_DIR]
       (defaults: models/ and tests/fuzz/corpus/ of this source tree)

Writes:
  model_*.onnx    copies of MODELS_DIR/*.onnx, except external.onnx (its data
                  file is not in the corpus);
  valid_*.onnx    small crafted models, each exercising one part of the format:
                  subgraphs, Constant nodes, sparse tensors, typed fields,
                  fp16/bf16, functions, training_info, external data (that
                  names external.onnx.data, which fuzz_load.c provides: 8 KiB);
  bad_*.onnx      malformed ones: truncated and bit-flipped copies of the
                  above, deterministic (fixed seeds).
Needs python3-onnx and numpy. Deterministic: the same files every run.
"""

import os
import random
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

F32 = TensorProto.FLOAT
HERE = os.path.dirname(os.path.abspath(__file__))


def vi(name, elem=F32, shape=None):
    return helper.make_tensor_value_info(name, elem, shape)


def model(graph, opset=17, ir=8, **kw):
    m = helper.make_model(graph, producer_name="onnxinit/tests/fuzz/make_corpus.py",
                          opset_imports=[helper.make_opsetid("", opset)], **kw)
    m.ir_version = ir
    return m


def arr(shape, seed, dtype=np.float32):
    g = np.random.default_rng(seed)
    return (g.standard_normal(shape) * 0.1).astype(dtype)


def raw(name, a):
    return numpy_helper.from_array(np.ascontiguousarray(a), name)


def mm_graph(name, inits, nodes=None, inputs=None, outputs=None):
    nodes = nodes or [helper.make_node("MatMul", ["x", "W"], ["y"], name="MatMul_0")]
    return helper.make_graph(nodes, name, inputs or [vi("x", F32, [1, 4])],
                             outputs or [vi("y")], inits)


def crafted():
    out = {}
    W = arr((4, 4), 1)

    # If with initializers in both branches, a Loop body, a Constant node in a branch
    def branch(n, s):
        return helper.make_graph(
            [helper.make_node("Constant", [], [n + ".c"], name=n + "_Const",
                              value=raw(n + ".c", arr((4,), s))),
             helper.make_node("MatMul", ["x", n + ".w"], [n + ".m"], name=n + "_MatMul"),
             helper.make_node("Add", [n + ".m", n + ".c"], [n + ".out"], name=n + "_Add")],
            n, [], [vi(n + ".out")], [raw(n + ".w", arr((4, 4), s + 1))])
    body = helper.make_graph(
        [helper.make_node("MatMul", ["v_in", "body.w"], ["v_out"], name="Body_MatMul"),
         helper.make_node("Identity", ["cond_in"], ["cond_out"], name="Body_Id")],
        "body", [vi("iter", TensorProto.INT64, []), vi("cond_in", TensorProto.BOOL, []),
                 vi("v_in")],
        [vi("cond_out", TensorProto.BOOL, []), vi("v_out")], [raw("body.w", arr((4, 4), 9))])
    nodes = [helper.make_node("If", ["c"], ["y"], name="If_0",
                              then_branch=branch("then", 2), else_branch=branch("else", 4)),
             helper.make_node("Loop", ["n", "", "y"], ["z"], name="Loop_1", body=body)]
    out["valid_subgraphs"] = model(helper.make_graph(
        nodes, "subgraphs", [vi("x", F32, [1, 4]), vi("c", TensorProto.BOOL, []),
                             vi("n", TensorProto.INT64, [])], [vi("z")], []))

    # Constant nodes: value, sparse_value, value_float(s); a ConstantOfShape attribute
    sp = helper.make_sparse_tensor(raw("sv", np.array([1.0, 2.0], np.float32)),
                                   raw("si", np.array([0, 5], np.int64)), [4, 4])
    nodes = [helper.make_node("Constant", [], ["W"], name="Const_W", value=raw("W", W)),
             helper.make_node("Constant", [], ["S"], name="Const_S", sparse_value=sp),
             helper.make_node("Constant", [], ["f"], name="Const_f", value_float=0.5),
             helper.make_node("Constant", [], ["fs"], name="Const_fs", value_floats=[1.0, 2.0]),
             helper.make_node("Constant", [], ["shape"], name="Const_shape",
                              value=raw("shape", np.array([2, 2], np.int64))),
             helper.make_node("ConstantOfShape", ["shape"], ["z"], name="CoS",
                              value=raw("v", np.array([0.25], np.float32))),
             helper.make_node("MatMul", ["x", "W"], ["m"], name="MatMul_0"),
             helper.make_node("Add", ["m", "f"], ["y"], name="Add_1")]
    out["valid_constants"] = model(mm_graph("constants", [], nodes=nodes,
                                            outputs=[vi("y"), vi("z"), vi("S"), vi("fs")]))

    # sparse initializer (2-D COO indices and 1-D linear indices)
    g = mm_graph("sparse", [])
    s1 = helper.make_sparse_tensor(raw("W", np.array([0.5, -0.5, 1.5], np.float32)),
                                   raw("W.idx", np.array([[0, 0], [1, 2], [3, 3]], np.int64)),
                                   [4, 4])
    s2 = helper.make_sparse_tensor(raw("b", np.array([1.0], np.float32)),
                                   raw("b.idx", np.array([2], np.int64)), [4])
    g.sparse_initializer.extend([s1, s2])
    g.node.append(helper.make_node("Add", ["y", "b"], ["y2"], name="Add_1"))
    g.output.append(vi("y2"))
    out["valid_sparse"] = model(g)

    # typed fields of every float kind and some integer ones
    f16 = arr((4, 4), 3, np.float16)
    bf = (arr((4,), 4).view(np.uint32) >> 16).astype(np.uint16)
    inits = [
        helper.make_tensor("W", F32, [4, 4], W.ravel().tolist()),
        helper.make_tensor("w16", TensorProto.FLOAT16, [4, 4],
                           f16.view(np.uint16).ravel().tolist()),
        TensorProto(name="wbf", data_type=TensorProto.BFLOAT16, dims=[4],
                    int32_data=bf.tolist()),
        helper.make_tensor("d", TensorProto.DOUBLE, [2, 2], [0.5, 1.5, -2.0, 3.0]),
        helper.make_tensor("i64", TensorProto.INT64, [3], [1, -2, 3]),
        helper.make_tensor("i32", TensorProto.INT32, [2], [7, -7]),
        helper.make_tensor("u64", TensorProto.UINT64, [2], [1, 18446744073709551615]),
        helper.make_tensor("b", TensorProto.BOOL, [2], [True, False]),
        helper.make_tensor("s", TensorProto.STRING, [2], [b"ab", b"cd"]),
        helper.make_tensor("c64", TensorProto.COMPLEX64, [2], [1 + 2j, 3 - 4j]),
        helper.make_tensor("scalar", F32, [], [6.0]),
        helper.make_tensor("empty", F32, [0, 4], []),
    ]
    nodes = [helper.make_node("MatMul", ["x", "W"], ["y"], name="MatMul_0")]
    for t in inits[1:]:
        nodes.append(helper.make_node("Identity", [t.name], [t.name + ".o"], name="Id_" + t.name))
    out["valid_typed"] = model(mm_graph("typed", inits, nodes=nodes,
                                        outputs=[vi("y")] + [vi(t.name + ".o", t.data_type)
                                                             for t in inits[1:]]))

    # fp16 / bf16 / double / float8-ish raw payloads
    inits = [raw("W", W),
             raw("h", arr((4, 4), 5, np.float16)),
             helper.make_tensor("bf", TensorProto.BFLOAT16, [4, 2],
                                (arr((8,), 6).view(np.uint32) >> 16).astype(np.uint16).tobytes(),
                                raw=True),
             raw("d", arr((3,), 7, np.float64)),
             raw("i8", np.array([1, -1, 127], np.int8)),
             raw("u8", np.array([0, 255], np.uint8))]
    f8 = TensorProto(name="f8", data_type=17, dims=[4], raw_data=bytes([0x38, 0x40, 0xb8, 0]))
    i4 = TensorProto(name="i4", data_type=22, dims=[3], raw_data=bytes([0x21, 0x0f]))
    inits += [f8, i4]
    nodes = [helper.make_node("MatMul", ["x", "W"], ["y"], name="MatMul_0")]
    for t in inits[1:]:
        nodes.append(helper.make_node("Identity", [t.name], [t.name + ".o"], name="Id_" + t.name))
    out["valid_raw_dtypes"] = model(mm_graph("raw_dtypes", inits, nodes=nodes,
                                             outputs=[vi("y")] + [vi(t.name + ".o")
                                                                  for t in inits[1:]]),
                                    ir=9, opset=19)

    # a function with a Constant node in its body, used by the graph
    fn = helper.make_function("local", "AddConst", ["a"], ["b"],
                              [helper.make_node("Constant", [], ["k"], name="F_Const",
                                                value=raw("k", arr((4,), 8))),
                               helper.make_node("Add", ["a", "k"], ["b"], name="F_Add")],
                              [helper.make_opsetid("", 17)])
    nodes = [helper.make_node("MatMul", ["x", "W"], ["m"], name="MatMul_0"),
             helper.make_node("AddConst", ["m"], ["y"], name="Call_1", domain="local")]
    m = model(mm_graph("function", [raw("W", W)], nodes=nodes), functions=[fn])
    m.opset_import.append(helper.make_opsetid("local", 1))
    out["valid_function"] = m

    # training_info whose initialization graph writes the weights
    m = model(mm_graph("training", [raw("W", W)]))
    ti = m.training_info.add()
    ti.initialization.CopyFrom(helper.make_graph(
        [helper.make_node("Constant", [], ["W_init"], name="Init_Const",
                          value=raw("W_init", arr((4, 4), 10)))],
        "init", [], [vi("W_init")]))
    b = ti.initialization_binding.add()
    b.key, b.value = "W", "W_init"
    out["valid_training_info"] = m

    # metadata, doc strings, an earlier provenance entry to be replaced
    m = model(mm_graph("metadata", [raw("W", W)]), doc_string="doc")
    m.graph.doc_string = "graph doc"
    helper.set_model_props(m, {"author": "x", "onnxinit": '{"version":"0.0.1","seed":1}'})
    out["valid_metadata"] = m

    # external data in the file fuzz_load.c puts beside every input
    t = TensorProto(name="W", data_type=F32, dims=[4, 4],
                    data_location=TensorProto.EXTERNAL)
    for k, v in (("location", "external.onnx.data"), ("offset", "128"), ("length", "64")):
        e = t.external_data.add()
        e.key, e.value = k, v
    t2 = TensorProto(name="b", data_type=F32, dims=[4], data_location=TensorProto.EXTERNAL)
    for k, v in (("location", "./external.onnx.data"), ("offset", "4096")):
        e = t2.external_data.add()
        e.key, e.value = k, v
    g = mm_graph("external", [t, raw("b0", np.zeros(4, np.float32))])
    out["valid_external"] = model(g)
    # (b is a whole-file tensor without length: 8 KiB - 4096 = 1024 floats)
    t2.dims[:] = [1024]
    g2 = mm_graph("external2", [t, t2],
                  nodes=[helper.make_node("MatMul", ["x", "W"], ["y"], name="MatMul_0"),
                         helper.make_node("Identity", ["b"], ["bo"], name="Id_b")],
                  outputs=[vi("y"), vi("bo")])
    out["valid_external_nolength"] = model(g2)

    # a minimal model and one without any tensor
    out["valid_tiny"] = model(mm_graph("tiny", [raw("W", np.ones((1, 1), np.float32))],
                                       inputs=[vi("x", F32, [1, 1])]))
    out["valid_no_tensors"] = model(helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"], name="Relu_0")], "relu", [vi("x")], [vi("y")]))
    return {k: v.SerializeToString() for k, v in out.items()}


def mutations(name, data, seed):
    """Truncated and bit-flipped copies."""
    r = random.Random(seed)
    out = {}
    for frac in (3, 7):
        out["bad_%s_cut%d" % (name, frac)] = data[: len(data) * frac // 10]
    for k in range(2):
        b = bytearray(data)
        for _ in range(1 + k * 3):
            i = r.randrange(len(b))
            b[i] ^= 1 << r.randrange(8)
        out["bad_%s_flip%d" % (name, k)] = bytes(b)
    b = bytearray(data)
    i = r.randrange(len(b))
    b[i:i + 4] = b"\xff\xff\xff\x7f"  # a huge length or value somewhere
    out["bad_%s_ff" % name] = bytes(b)
    return out


def main(argv):
    models_dir = argv[1] if len(argv) > 1 else os.path.join(HERE, "..", "..", "models")
    corpus = argv[2] if len(argv) > 2 else os.path.join(HERE, "corpus")
    os.makedirs(corpus, exist_ok=True)
    files = {}
    for f in sorted(os.listdir(models_dir)):
        if f.endswith(".onnx") and f != "external.onnx":
            with open(os.path.join(models_dir, f), "rb") as fh:
                files["model_" + f[:-5]] = fh.read()
    files.update(crafted())
    seed = 0
    for name in ("model_cnn", "model_if_const", "model_typed", "valid_subgraphs",
                 "valid_sparse", "valid_constants", "valid_external", "valid_function"):
        if name in files:
            seed += 1
            files.update(mutations(name.split("_", 1)[1], files[name], seed))
    for f in os.listdir(corpus):
        if f.endswith(".onnx") and (f.startswith(("model_", "valid_", "bad_"))):
            os.unlink(os.path.join(corpus, f))
    for name, data in sorted(files.items()):
        with open(os.path.join(corpus, name + ".onnx"), "wb") as fh:
            fh.write(data)
    total = sum(len(d) for d in files.values())
    print("%d files, %d bytes in %s" % (len(files), total, corpus))


if __name__ == "__main__":
    main(sys.argv)
