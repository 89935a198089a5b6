#!/usr/bin/python3
"""A model of N nodes: N/4 layers of MatMul + Add(bias) + Relu + Identity.

Usage: make_chain_model.py OUT [N]   (default 1000 nodes; 32x32 weights)
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
nodes_wanted = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
rng = np.random.default_rng(0)
nodes, inits, x = [], [], "x"
for i in range(nodes_wanted // 4):
    inits += [numpy_helper.from_array(rng.standard_normal((32, 32)).astype(np.float32), f"w{i}"),
              numpy_helper.from_array(np.zeros(32, np.float32), f"b{i}")]
    nodes += [helper.make_node("MatMul", [x, f"w{i}"], [f"m{i}"]),
              helper.make_node("Add", [f"m{i}", f"b{i}"], [f"a{i}"]),
              helper.make_node("Relu", [f"a{i}"], [f"r{i}"]),
              helper.make_node("Identity", [f"r{i}"], [f"i{i}"])]
    x = f"i{i}"
g = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32])],
                      [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 32])], inits)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 8
onnx.save(m, out)
print(len(nodes))
