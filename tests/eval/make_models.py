#!/usr/bin/python3
"""Models and inputs for checking onnxinit's evaluator against ONNX Runtime.

usage: make_models.py OUTDIR [--ops] [--nets] [--only NAME,...]

Writes, per case NAME:
  NAME.onnx       the model
  NAME.all.onnx   the same with every node output also a graph output (for ORT)
  NAME.npz        its inputs, named after them (what onnxinit reads)
  NAME.NAME_OF_INPUT.npy   each input alone (what the ORT script reads)
and OUTDIR/manifest.json: [{"name", "model", "all", "data", "batch", "inputs": {name: npy}}].

--ops: one small model per op (and per attribute that changes the arithmetic), built with
onnx.helper; --nets: PyTorch exports (torchvision ResNet-18, MobileNetV2 and SqueezeNet 1.0 in
eval mode, a TransformerEncoder, an MLP, a small UNet). Inputs are N(0, 1) from fixed seeds.
"""
import argparse
import json
import os
import sys
import warnings

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper, shape_inference

F = TensorProto.FLOAT
I64 = TensorProto.INT64
RNG = np.random.default_rng(12)


def rnd(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def init(name, a):
    return numpy_helper.from_array(np.asarray(a), name)


def with_outputs(m):
    """Every node output a graph output, typed from shape inference."""
    m2 = onnx.ModelProto()
    m2.CopyFrom(m)
    try:
        inferred = shape_inference.infer_shapes(m2)
    except Exception:
        inferred = m2
    types = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type:
            types[vi.name] = vi.type.tensor_type.elem_type
    have = {o.name for o in m2.graph.output}
    for n in m2.graph.node:
        for o in n.output:
            if o and o not in have:
                have.add(o)
                m2.graph.output.append(helper.make_tensor_value_info(o, types.get(o, F), None))
    return m2


class Cases:
    def __init__(self, out):
        self.out = out
        self.manifest = []

    def add(self, name, model, inputs, batch=None):
        d = self.out
        onnx.save(model, f"{d}/{name}.onnx")
        onnx.save(with_outputs(model), f"{d}/{name}.all.onnx")
        np.savez(f"{d}/{name}.npz", **inputs)
        files = {}
        for k, v in inputs.items():
            safe = k.replace("/", "_").replace(":", "_")
            files[k] = f"{d}/{name}.{safe}.npy"
            np.save(files[k], v)
        first = next(iter(inputs.values()))
        self.manifest.append({"name": name, "model": f"{d}/{name}.onnx",
                              "all": f"{d}/{name}.all.onnx", "data": f"{d}/{name}.npz",
                              "batch": batch or int(first.shape[0]), "inputs": files})

    def graph(self, name, nodes, inputs, inits=(), opset=17, out_names=("y",)):
        """inputs: {name: array}; the graph's outputs are out_names, typed float."""
        vin = [helper.make_tensor_value_info(k, F if v.dtype == np.float32 else I64,
                                             ["N"] + list(v.shape[1:]))
               for k, v in inputs.items()]
        vout = [helper.make_tensor_value_info(o, F, None) for o in out_names]
        g = helper.make_graph(nodes, name, vin, vout, list(inits))
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        m.ir_version = 8
        self.add(name, m, inputs)


def n(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, **attrs)


def op_cases(c):
    x4 = rnd(2, 4, 9, 9)
    # ---- Conv
    for name, attrs, w, b in [
        ("conv_basic", dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1]), rnd(6, 4, 3, 3), rnd(6)),
        ("conv_stride_nobias", dict(strides=[2, 2]), rnd(5, 4, 3, 3), None),
        ("conv_groups", dict(group=2, pads=[0, 1, 2, 1]), rnd(6, 2, 3, 2), rnd(6)),
        ("conv_depthwise", dict(group=4, pads=[1, 1, 1, 1]), rnd(8, 1, 3, 3), rnd(8)),
        ("conv_dilated", dict(dilations=[2, 2], strides=[1, 2]), rnd(3, 4, 3, 3), rnd(3)),
        ("conv_same_upper", dict(auto_pad="SAME_UPPER", strides=[2, 2]), rnd(3, 4, 4, 4), rnd(3)),
        ("conv_same_lower", dict(auto_pad="SAME_LOWER", strides=[2, 2]), rnd(3, 4, 4, 4), rnd(3)),
        ("conv_valid", dict(auto_pad="VALID"), rnd(3, 4, 2, 5), rnd(3)),
        ("conv_1x1", dict(), rnd(7, 4, 1, 1), rnd(7)),
    ]:
        ins = ["x", "w"] + (["b"] if b is not None else [])
        inits = [init("w", w)] + ([init("b", b)] if b is not None else [])
        c.graph(name, [n("Conv", ins, ["y"], **attrs)], {"x": x4}, inits)
    c.graph("conv1d", [n("Conv", ["x", "w", "b"], ["y"], pads=[2, 1], strides=[2])],
            {"x": rnd(3, 4, 17)}, [init("w", rnd(5, 4, 4)), init("b", rnd(5))])
    c.graph("conv3d", [n("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1, 1, 1])],
            {"x": rnd(2, 2, 5, 6, 4)}, [init("w", rnd(3, 2, 3, 3, 3)), init("b", rnd(3))])
    # ---- ConvTranspose
    for name, attrs, w in [
        ("convt_stride2", dict(strides=[2, 2]), rnd(4, 3, 3, 3)),
        ("convt_pads_outpad", dict(strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1]),
         rnd(4, 3, 3, 3)),
        ("convt_groups_dil", dict(group=2, dilations=[2, 1]), rnd(4, 2, 3, 2)),
        ("convt_output_shape", dict(strides=[2, 2], output_shape=[18, 19]), rnd(4, 3, 3, 3)),
        ("convt_same_upper", dict(strides=[2, 2], auto_pad="SAME_UPPER"), rnd(4, 3, 4, 4)),
    ]:
        c.graph(name, [n("ConvTranspose", ["x", "w", "b"], ["y"], **attrs)], {"x": x4},
                [init("w", w), init("b", rnd(w.shape[1] * attrs.get("group", 1)))])
    # ---- Gemm, MatMul
    x2 = rnd(5, 6)
    c.graph("gemm_transb", [n("Gemm", ["x", "w", "b"], ["y"], transB=1)], {"x": x2},
            [init("w", rnd(7, 6)), init("b", rnd(7))])
    c.graph("gemm_alpha_beta", [n("Gemm", ["x", "w", "b"], ["y"], alpha=0.5, beta=2.0)],
            {"x": x2}, [init("w", rnd(6, 3)), init("b", rnd(1, 3))])
    c.graph("gemm_transa_scalar_c", [n("Transpose", ["x"], ["xt"]),
                                     n("Gemm", ["xt", "w", "b"], ["y"], transA=1)],
            {"x": x2}, [init("w", rnd(6, 4)), init("b", rnd(1))])
    c.graph("matmul_2d", [n("MatMul", ["x", "w"], ["y"])], {"x": x2}, [init("w", rnd(6, 9))])
    c.graph("matmul_3d_2d", [n("MatMul", ["x", "w"], ["y"])], {"x": rnd(3, 5, 6)},
            [init("w", rnd(6, 4))])
    c.graph("matmul_broadcast", [n("MatMul", ["x", "w"], ["y"])], {"x": rnd(2, 1, 3, 4)},
            [init("w", rnd(1, 5, 4, 6))])
    c.graph("matmul_1d", [n("MatMul", ["x", "w"], ["y"])], {"x": rnd(3, 4, 6)},
            [init("w", rnd(6))])
    c.graph("matmul_activations", [n("Transpose", ["x"], ["xt"], perm=[0, 2, 1]),
                                   n("MatMul", ["x", "xt"], ["y"])], {"x": rnd(3, 4, 6)})
    # ---- elementwise
    for op in ["Add", "Sub", "Mul", "Div", "Max", "Min"]:
        c.graph(f"bin_{op.lower()}", [n(op, ["x", "b"], ["y"])], {"x": x4},
                [init("b", rnd(4, 1, 9) + (3.0 if op == "Div" else 0.0))])
    c.graph("bin_scalar_left", [n("Sub", ["b", "x"], ["y"])], {"x": x4}, [init("b", rnd(1))])
    c.graph("pow", [n("Abs", ["x"], ["a"]), n("Pow", ["a", "p"], ["y"])], {"x": x4},
            [init("p", np.array([0.5, 2.0, 3.0], np.float32).reshape(3, 1, 1)[:1])])
    c.graph("pow_sq", [n("Pow", ["x", "p"], ["y"])], {"x": x4}, [init("p", np.float32(2.0))])
    unary = [("Relu", {}), ("LeakyRelu", dict(alpha=0.2)), ("Sigmoid", {}), ("Tanh", {}),
             ("Elu", dict(alpha=0.7)), ("Selu", {}), ("Erf", {}), ("HardSigmoid", {}),
             ("HardSwish", {}), ("Softplus", {}), ("Exp", {}), ("Neg", {}), ("Abs", {}),
             ("Softsign", {}), ("Floor", {}), ("Ceil", {}), ("Sign", {})]
    for op, attrs in unary:
        c.graph(f"un_{op.lower()}", [n(op, ["x"], ["y"], **attrs)], {"x": x4 * 2})
    c.graph("un_sqrt_log_recip", [n("Abs", ["x"], ["a"]), n("Sqrt", ["a"], ["s"]),
                                  n("Add", ["s", "one"], ["s1"]), n("Log", ["s1"], ["l"]),
                                  n("Reciprocal", ["s1"], ["y"])], {"x": x4},
            [init("one", np.float32(1.0))])
    c.graph("gelu", [n("Gelu", ["x"], ["y"])], {"x": x4}, opset=20)
    c.graph("gelu_tanh", [n("Gelu", ["x"], ["y"], approximate="tanh")], {"x": x4}, opset=20)
    c.graph("clip", [n("Clip", ["x", "lo", "hi"], ["y"])], {"x": x4},
            [init("lo", np.float32(-0.5)), init("hi", np.float32(0.7))])
    c.graph("clip_relu6", [n("Clip", ["x", "", "hi"], ["y"])], {"x": x4 * 4},
            [init("hi", np.float32(6.0))])
    c.graph("prelu", [n("PRelu", ["x", "s"], ["y"])], {"x": x4}, [init("s", rnd(4, 1, 1))])
    # ---- softmax, norms
    c.graph("softmax_last", [n("Softmax", ["x"], ["y"])], {"x": x4})
    c.graph("softmax_axis1", [n("Softmax", ["x"], ["y"], axis=1)], {"x": x4})
    c.graph("softmax_opset11", [n("Softmax", ["x"], ["y"], axis=2)], {"x": x4}, opset=11)
    c.graph("logsoftmax", [n("LogSoftmax", ["x"], ["y"], axis=-1)], {"x": x4})
    c.graph("batchnorm", [n("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"],
                            epsilon=1e-3)], {"x": x4},
            [init("s", rnd(4)), init("b", rnd(4)), init("m", rnd(4)),
             init("v", np.abs(rnd(4)) + 0.5)])
    c.graph("layernorm", [n("LayerNormalization", ["x", "s", "b"], ["y"])], {"x": rnd(2, 5, 8)},
            [init("s", rnd(8)), init("b", rnd(8))])
    c.graph("layernorm_axis1", [n("LayerNormalization", ["x", "s", "b"], ["y"], axis=1,
                                  epsilon=1e-3)], {"x": rnd(2, 3, 4)},
            [init("s", rnd(3, 4)), init("b", rnd(3, 4))])
    c.graph("instancenorm", [n("InstanceNormalization", ["x", "s", "b"], ["y"])], {"x": x4},
            [init("s", rnd(4)), init("b", rnd(4))])
    # ---- pooling
    for name, op, attrs in [
        ("maxpool", "MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
        ("maxpool_ceil", "MaxPool", dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)),
        ("maxpool_dilated", "MaxPool", dict(kernel_shape=[2, 2], dilations=[2, 2])),
        ("maxpool_same", "MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2],
                                         auto_pad="SAME_UPPER")),
        ("avgpool", "AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
        ("avgpool_incl", "AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2],
                                             pads=[1, 1, 1, 1], count_include_pad=1)),
        ("avgpool_ceil", "AveragePool", dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)),
    ]:
        c.graph(name, [n(op, ["x"], ["y"], **attrs)], {"x": x4})
    c.graph("maxpool1d", [n("MaxPool", ["x"], ["y"], kernel_shape=[3], strides=[2])],
            {"x": rnd(2, 3, 11)})
    c.graph("gap", [n("GlobalAveragePool", ["x"], ["y"])], {"x": x4})
    c.graph("gmp", [n("GlobalMaxPool", ["x"], ["y"])], {"x": x4})
    # ---- layout and shape arithmetic
    c.graph("flatten", [n("Flatten", ["x"], ["y"], axis=2)], {"x": x4})
    c.graph("reshape", [n("Reshape", ["x", "s"], ["y"])], {"x": x4},
            [init("s", np.array([0, -1, 9], np.int64))])
    c.graph("transpose", [n("Transpose", ["x"], ["y"], perm=[0, 3, 1, 2])], {"x": x4})
    c.graph("concat", [n("Relu", ["x"], ["r"]), n("Concat", ["x", "r", "c"], ["y"], axis=1)],
            {"x": x4}, [init("c", rnd(2, 2, 9, 9))])
    c.graph("slice", [n("Slice", ["x", "st", "en", "ax", "sp"], ["y"])], {"x": x4},
            [init("st", np.array([1, -1, 0], np.int64)), init("en", np.array([4, -100, 9], np.int64)),
             init("ax", np.array([1, 2, 3], np.int64)), init("sp", np.array([2, -2, 3], np.int64))])
    c.graph("slice_big", [n("Slice", ["x", "st", "en"], ["y"])], {"x": x4},
            [init("st", np.array([0, 2], np.int64)),
             init("en", np.array([2**62, 2**62], np.int64))])
    c.graph("split", [n("Split", ["x", "s"], ["y", "z"], axis=1),
                      n("Slice", ["z", "a", "b2", "ax1"], ["z2"]), n("Sub", ["y", "z2"], ["w"])],
            {"x": x4},
            [init("s", np.array([2, 2], np.int64)), init("a", np.array([0], np.int64)),
             init("b2", np.array([2], np.int64)), init("ax1", np.array([1], np.int64))],
            out_names=("w",))
    c.graph("split_equal", [n("Split", ["x"], ["a", "b", "y"], axis=2)], {"x": x4})
    c.graph("squeeze_unsqueeze", [n("Unsqueeze", ["x", "ax"], ["u"]),
                                  n("Squeeze", ["u", "ax"], ["y"])], {"x": x4},
            [init("ax", np.array([1, -1], np.int64))])
    c.graph("gather", [n("Gather", ["x", "i"], ["y"], axis=1)], {"x": x4},
            [init("i", np.array([[3, -1], [0, 2]], np.int64))])
    c.graph("identity_dropout", [n("Identity", ["x"], ["a"]), n("Dropout", ["a"], ["y"])],
            {"x": x4})
    c.graph("shape_arith", [n("Shape", ["x"], ["s"]), n("Gather", ["s", "zero"], ["n0"]),
                            n("Unsqueeze", ["n0", "ax0"], ["n1"]),
                            n("Concat", ["n1", "m1"], ["shp"], axis=0),
                            n("Reshape", ["x", "shp"], ["y"])], {"x": x4},
            [init("zero", np.array(0, np.int64)), init("ax0", np.array([0], np.int64)),
             init("m1", np.array([-1], np.int64))])
    c.graph("constant", [n("Constant", [], ["k"], value=helper.make_tensor("kv", F, [1, 4, 1, 1],
                                                                           [1, 2, 3, 4])),
                         n("Constant", [], ["f"], value_float=0.25),
                         n("Mul", ["x", "k"], ["a"]), n("Add", ["a", "f"], ["y"])], {"x": x4})
    c.graph("cast", [n("Cast", ["x"], ["i"], to=I64), n("Cast", ["i"], ["f"], to=F),
                     n("Cast", ["x"], ["h"], to=TensorProto.FLOAT16),
                     n("Cast", ["h"], ["g"], to=F), n("Add", ["f", "g"], ["y"])], {"x": x4 * 3})
    c.graph("reduce_mean", [n("ReduceMean", ["x"], ["a"], axes=[2, 3]),
                            n("ReduceMean", ["x"], ["y"], axes=[1], keepdims=0)], {"x": x4},
            out_names=("a", "y"))
    c.graph("reduce_sum", [n("ReduceSum", ["x", "ax"], ["y"])], {"x": x4},
            [init("ax", np.array([-1], np.int64))])
    c.graph("where_mask", [n("Greater", ["x", "z"], ["m"]), n("Where", ["m", "x", "k"], ["a"]),
                           n("Equal", ["x", "x"], ["e"]), n("Not", ["e"], ["ne"]),
                           n("Cast", ["ne"], ["nf"], to=F), n("Add", ["a", "nf"], ["y"])],
            {"x": x4}, [init("z", np.float32(0.2)), init("k", rnd(9))])
    c.graph("expand", [n("Expand", ["x", "s"], ["y"])], {"x": rnd(2, 1, 5)},
            [init("s", np.array([3, 1, 4, 1], np.int64))])
    c.graph("range_cos", [n("Shape", ["x"], ["s"]), n("Gather", ["s", "k"], ["d"]),
                          n("Range", ["z", "d", "one"], ["r"]), n("Cast", ["r"], ["rf"], to=F),
                          n("Add", ["x", "rf"], ["y"])], {"x": x4},
            [init("k", np.array(3, np.int64)), init("z", np.array(0, np.int64)),
             init("one", np.array(1, np.int64))])
    c.graph("constant_of_shape", [n("Shape", ["x"], ["s"]),
                                  n("ConstantOfShape", ["s"], ["k"],
                                    value=helper.make_tensor("v", F, [1], [0.5])),
                                  n("Mul", ["x", "k"], ["y"])], {"x": x4})
    c.graph("pad", [n("Pad", ["x", "p", "v"], ["y"])], {"x": x4},
            [init("p", np.array([0, 1, 2, 0, 0, 0, 1, 3], np.int64)), init("v", np.float32(0.3))])


def rnn_cases(c):
    seq, b, i, h = 5, 3, 4, 6
    xs = rnd(seq, b, i)
    for name, attrs, dirs, extra in [
        ("lstm_forward", dict(hidden_size=h), 1, []),
        ("lstm_bidir_bias_h0", dict(hidden_size=h, direction="bidirectional"), 2, ["B", "", "h0", "c0"]),
        ("lstm_reverse_peep_clip", dict(hidden_size=h, direction="reverse", clip=0.8), 1,
         ["B", "", "h0", "c0", "P"]),
        ("lstm_reverse", dict(hidden_size=h, direction="reverse"), 1, ["B", "", "h0", "c0"]),
        ("lstm_peep", dict(hidden_size=h), 1, ["B", "", "h0", "c0", "P"]),
        ("lstm_clip", dict(hidden_size=h, clip=0.8), 1, ["B", "", "h0", "c0"]),
    ]:
        inits = [init("W", rnd(dirs, 4 * h, i, scale=0.5)), init("R", rnd(dirs, 4 * h, h, scale=0.5))]
        if "B" in extra:
            inits.append(init("B", rnd(dirs, 8 * h, scale=0.3)))
        if "h0" in extra:
            inits += [init("h0", rnd(dirs, b, h)), init("c0", rnd(dirs, b, h))]
        if "P" in extra:
            inits.append(init("P", rnd(dirs, 3 * h, scale=0.3)))
        ins = ["xt", "W", "R"] + extra
        node = helper.make_node("LSTM", ins, ["y", "yh", "yc"], **attrs)
        # samples on the batch axis (1): the inputs are seq-first
        c.graph(name, [n("Transpose", ["x"], ["xt"], perm=[1, 0, 2]), node],
                {"x": np.ascontiguousarray(xs.transpose(1, 0, 2))}, inits,
                out_names=("y", "yh", "yc"))
    for lbr in (0, 1):
        for dirn, dirs in (("forward", 1), ("bidirectional", 2)):
            inits = [init("W", rnd(dirs, 3 * h, i, scale=0.5)),
                     init("R", rnd(dirs, 3 * h, h, scale=0.5)), init("B", rnd(dirs, 6 * h, scale=0.3))]
            node = helper.make_node("GRU", ["xt", "W", "R", "B"], ["y", "yh"], hidden_size=h,
                                    direction=dirn, linear_before_reset=lbr)
            c.graph(f"gru_{dirn}_lbr{lbr}", [n("Transpose", ["x"], ["xt"], perm=[1, 0, 2]), node],
                    {"x": np.ascontiguousarray(xs.transpose(1, 0, 2))}, inits, out_names=("y", "yh"))


def torch_cases(c):
    import torch
    import torch.nn as nn
    import torchvision
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 32), nn.GELU(),
                                     nn.Linear(32, 32), nn.Sigmoid(), nn.Linear(32, 5))

        def forward(self, x):
            return self.net(x)

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()

            def block(i, o):
                return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(),
                                     nn.Conv2d(o, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU())
            self.d1, self.d2, self.mid = block(3, 8), block(8, 16), block(16, 32)
            self.pool = nn.MaxPool2d(2)
            self.u2, self.c2 = nn.ConvTranspose2d(32, 16, 2, stride=2), block(32, 16)
            self.u1, self.c1 = nn.ConvTranspose2d(16, 8, 2, stride=2), block(16, 8)
            self.out = nn.Conv2d(8, 2, 1)

        def forward(self, x):
            a = self.d1(x)
            b = self.d2(self.pool(a))
            m = self.mid(self.pool(b))
            y = self.c2(torch.cat([self.u2(m), b], 1))
            y = self.c1(torch.cat([self.u1(y), a], 1))
            return self.out(y)

    def randomize_bn(m):
        # fresh BatchNorms are the identity: give them statistics to fold
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.normal_(0, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
                mod.weight.data.uniform_(0.5, 1.5)
                mod.bias.data.normal_(0, 0.1)
        return m

    class Recurrent(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(8, 16, num_layers=2, bidirectional=True, batch_first=True)
            self.gru = nn.GRU(32, 12, batch_first=True)
            self.head = nn.Linear(12, 3)

        def forward(self, x):
            y, _ = self.lstm(x)
            y, _ = self.gru(y)
            return self.head(y[:, -1])

    enc_layer = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64,
                                           dropout=0.0, batch_first=True, activation="gelu")
    nets = [
        ("resnet18", randomize_bn(torchvision.models.resnet18(weights=None)), (2, 3, 64, 64), 13),
        ("mobilenet_v2", randomize_bn(torchvision.models.mobilenet_v2(weights=None)),
         (2, 3, 64, 64), 13),
        ("squeezenet1_0", torchvision.models.squeezenet1_0(weights=None), (2, 3, 96, 96), 13),
        ("transformer", nn.TransformerEncoder(enc_layer, num_layers=2), (2, 7, 32), 14),
        ("mlp", MLP(), (6, 20), 13),
        ("lstm_gru", Recurrent(), (3, 7, 8), 13),
        ("unet", randomize_bn(UNet()), (2, 3, 32, 32), 13),
    ]
    for name, model, shape, opset in nets:
        if c.only and name not in c.only:
            continue
        model.eval()
        x = torch.randn(*shape)
        path = f"{c.out}/{name}.tmp.onnx"
        # with gradients on: no_grad sends TransformerEncoder down its fused fast
        # path, which the exporter does not know
        torch.onnx.export(model, x, path, opset_version=opset, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
        m = onnx.load(path)
        os.remove(path)
        c.add(name, m, {"x": x.numpy()})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--ops", action="store_true")
    ap.add_argument("--nets", action="store_true")
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    c = Cases(a.out)
    c.only = set(filter(None, a.only.split(",")))
    if a.ops:
        op_cases(c)
        rnn_cases(c)
        if c.only:
            c.manifest = [e for e in c.manifest if e["name"] in c.only]
    if a.nets:
        torch_cases(c)
    with open(f"{a.out}/manifest.json", "w") as f:
        json.dump(c.manifest, f, indent=1)
    print(f"make_models: {len(c.manifest)} cases", file=sys.stderr)


if __name__ == "__main__":
    main()
