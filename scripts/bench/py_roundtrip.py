#!/usr/bin/python3
"""py_roundtrip.py IN OUT: the Python baseline, onnx.load then onnx.save."""
import sys

import onnx

m = onnx.load(sys.argv[1])
onnx.save(m, sys.argv[2])
