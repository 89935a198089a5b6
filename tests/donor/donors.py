"""Writers of donor files for the donor tests: safetensors (the format as
its specification gives it; the safetensors package is not needed), npz,
a folder of .npy files, and ONNX models with scrambled names."""
import json
import os
import struct

import numpy as np

ST_DTYPES = {np.dtype('float32'): 'F32', np.dtype('float16'): 'F16', np.dtype('float64'): 'F64',
             np.dtype('int64'): 'I64', np.dtype('int32'): 'I32', np.dtype('uint8'): 'U8',
             np.dtype('int8'): 'I8', np.dtype('bool'): 'BOOL'}


def to_numpy(state_dict, dtype=None):
    """A state_dict as numpy arrays (bfloat16 as raw uint16 with a tag)."""
    out = {}
    for k, v in state_dict.items():
        v = v.detach().cpu()
        if dtype == 'bf16' and v.is_floating_point():
            import torch
            out[k] = ('BF16', v.to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16))
            continue
        a = v.numpy()
        if dtype == 'f16' and a.dtype.kind == 'f':
            a = a.astype(np.float16)
        out[k] = a
    return out


def write_safetensors(path, arrays, metadata=None, order=None):
    header, blobs, off = {}, [], 0
    if metadata is not None:
        header['__metadata__'] = metadata
    names = order or list(arrays)
    for k in names:
        a = arrays[k]
        if isinstance(a, tuple):
            tag, a = a
        else:
            tag = ST_DTYPES[a.dtype]
        b = np.ascontiguousarray(a).tobytes()
        header[k] = {'dtype': tag, 'shape': list(a.shape), 'data_offsets': [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def write_npz(path, arrays, compressed=False):
    (np.savez_compressed if compressed else np.savez)(path, **arrays)


def write_npy_dir(path, arrays):
    os.makedirs(path, exist_ok=True)
    for k, a in arrays.items():
        np.save(os.path.join(path, k + '.npy'), a)


def scramble(src, dst):
    """The model with every initializer and node renamed."""
    import onnx
    m = onnx.load(src)
    g = m.graph
    ren = {t.name: 't%04d_x' % i for i, t in enumerate(g.initializer)}
    for t in g.initializer:
        t.name = ren[t.name]
    for i, n in enumerate(g.node):
        n.name = 'n%04d' % i
        for j, x in enumerate(n.input):
            if x in ren:
                n.input[j] = ren[x]
    for vi in list(g.input):
        if vi.name in ren:
            vi.name = ren[vi.name]
    onnx.save(m, dst)
