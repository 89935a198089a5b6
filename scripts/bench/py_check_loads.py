#!/usr/bin/python3
"""py_check_loads.py MODEL: exit 0 if MODEL loads with onnx and passes the checker."""
import sys

import onnx

m = onnx.load(sys.argv[1])
onnx.checker.check_model(sys.argv[1])
print(f"{len(m.graph.initializer)} initializers, {len(m.graph.node)} nodes")
