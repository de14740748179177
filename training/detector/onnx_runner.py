"""A small ONNX interpreter on PyTorch ops, enough to run the detector graphs built here
(Debian has no onnxruntime for Python). It runs the .onnx file itself, so the evaluation
measures the shipped file, not a Python re-creation of it.
"""
import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


class OnnxRunner:
    def __init__(self, path_or_model):
        model = onnx.load(path_or_model) if isinstance(path_or_model, str) else path_or_model
        self.graph = model.graph
        self.inits = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy())
                      for i in self.graph.initializer}
        self.input_name = [i.name for i in self.graph.input if i.name not in self.inits][0]
        self.output_names = [o.name for o in self.graph.output]

    @torch.no_grad()
    def __call__(self, x):
        env = dict(self.inits)
        env[self.input_name] = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        for node in self.graph.node:
            a = _attrs(node)
            ins = [env[n] if n else None for n in node.input]
            op = node.op_type
            if op == "Conv":
                p = a.get("pads", [0, 0, 0, 0])
                xin = ins[0]
                if p[0] != p[2] or p[1] != p[3]:
                    xin, pad = F.pad(xin, (p[1], p[3], p[0], p[2])), 0
                else:
                    pad = (p[0], p[1])
                y = F.conv2d(xin, ins[1], ins[2] if len(ins) > 2 else None,
                             stride=tuple(a.get("strides", [1, 1])), padding=pad,
                             dilation=tuple(a.get("dilations", [1, 1])), groups=a.get("group", 1))
            elif op == "MaxPool":
                p = a.get("pads", [0, 0, 0, 0])
                xin = F.pad(ins[0], (p[1], p[3], p[0], p[2]), value=float("-inf"))
                y = F.max_pool2d(xin, tuple(a["kernel_shape"]), tuple(a.get("strides", [1, 1])),
                                 ceil_mode=bool(a.get("ceil_mode", 0)))
            elif op == "LeakyRelu":
                y = F.leaky_relu(ins[0], a.get("alpha", 0.01))
            elif op == "Relu":
                y = F.relu(ins[0])
            elif op == "Sigmoid":
                y = torch.sigmoid(ins[0])
            elif op == "Clip":
                y = torch.clamp(ins[0], float(ins[1]), float(ins[2]))
            elif op == "Add":
                y = ins[0] + ins[1]
            elif op == "Mul":
                y = ins[0] * ins[1]
            else:
                raise NotImplementedError("op %s (node %s)" % (op, node.name))
            env[node.output[0]] = y
        outs = [env[n].numpy() for n in self.output_names]
        return outs[0] if len(outs) == 1 else outs
