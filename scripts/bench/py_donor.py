#!/usr/bin/python3
"""What people write without onnxinit: load the model, read the safetensors
donor with numpy (memory-mapped), replace each initializer of the same name,
save.  py_donor.py MODEL DONOR OUT"""
import json
import struct
import sys

import numpy as np
import onnx
from onnx import numpy_helper

model, donor, out = sys.argv[1:4]
with open(donor, 'rb') as f:
    n = struct.unpack('<Q', f.read(8))[0]
    header = json.loads(f.read(n))
data = np.memmap(donor, dtype=np.uint8, mode='r', offset=8 + n)
m = onnx.load(model)
for t in m.graph.initializer:
    e = header.get(t.name)
    if e and e['dtype'] == 'F32':
        a, b = e['data_offsets']
        arr = np.frombuffer(data[a:b], dtype=np.float32).reshape(e['shape'])
        t.CopyFrom(numpy_helper.from_array(arr, t.name))
onnx.save(m, out)
