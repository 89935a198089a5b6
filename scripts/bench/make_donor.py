#!/usr/bin/python3
"""A safetensors donor for make_big_model.py's model: the same names (W0, B0,
...) and shapes, other values (numpy seed 7), streamed tensor by tensor.

    make_donor.py MODEL OUT
"""
import json
import struct
import sys

import numpy as np
import onnx

model, out = sys.argv[1], sys.argv[2]
m = onnx.load(model, load_external_data=False)
shapes = [(t.name, list(t.dims)) for t in m.graph.initializer]
del m
header, off = {}, 0
for name, dims in shapes:
    n = int(np.prod(dims)) * 4
    header[name] = {'dtype': 'F32', 'shape': dims, 'data_offsets': [off, off + n]}
    off += n
h = json.dumps(header).encode()
h += b' ' * (-len(h) % 8)
rng = np.random.default_rng(7)
with open(out + '.tmp', 'wb') as f:
    f.write(struct.pack('<Q', len(h)))
    f.write(h)
    for name, dims in shapes:
        f.write(rng.standard_normal(dims, dtype=np.float32).tobytes())
import os
os.replace(out + '.tmp', out)
