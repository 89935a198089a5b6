"""add_outputs.py IN OUT: IN with every node output also a graph output (its
type from shape inference), so that ONNX Runtime returns the intermediates."""
import sys

import onnx
from onnx import helper, shape_inference


def main():
    m = onnx.load(sys.argv[1])
    try:
        inferred = shape_inference.infer_shapes(m)
    except Exception:
        inferred = m
    types = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.output) + list(inferred.graph.input):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type:
            types[vi.name] = vi.type.tensor_type.elem_type
    have = {o.name for o in m.graph.output}
    for n in m.graph.node:
        for o in n.output:
            if o and o not in have:
                have.add(o)
                m.graph.output.append(helper.make_tensor_value_info(o, types.get(o, onnx.TensorProto.FLOAT), None))
    onnx.save(m, sys.argv[2])


if __name__ == "__main__":
    main()
