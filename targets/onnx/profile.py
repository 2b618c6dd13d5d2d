"""The ``onnx`` numerics profile: float32, with every sum whose order is the runtime's own computed
by that runtime.

IEEE float32 addition is not associative, and onnxruntime's kernels (``Gemm``, ``Conv``,
``AveragePool``) sum in an order of their own (blocked, vectorized), which is not the order of the
float32 interpreter's ``F.linear``/``F.conv2d``: on a wide layer the two differ in the last bits, and a
membrane or a potential at the threshold then differs too. So the reference computes exactly those
ops as the target does — each one a single-node ONNX model made by the lowering's own emitter for that
op (``targets.onnx.lower.EMIT``), run by an onnxruntime session with the simulator's options — and
everything else (the neuron and readout programs, resets, windows, Flatten, Add, Mul, Scale, MaxPool: exact
or single roundings, the same in any order) as the float32 interpreter does. The reference still
reads only the IR: a wrong weight, wiring, shape or neuron rule in the artifact differs from it.
Equality stays bit-exact, and it is the equality of a defined arithmetic: float32 with onnxruntime's
sums.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper

from ...ir.graph import Graph, Node
from ...ir.numerics import Profile, register

#: the ops whose result depends on the order of a sum of more than two terms
RUNTIME_SUMS = ("Linear", "Conv2d", "AvgPool2d", "SumPool2d")


def _single_op_model(node, in_shape: tuple) -> onnx.ModelProto:
    """``node`` alone, as the lowering writes it, from input ``x`` ``[N, *in_shape]``."""
    from .lower import EMIT, Builder, make_model

    b = Builder()
    graph = Graph()
    graph.add(Node("x", "Input", attrs={"shape": tuple(in_shape)}))
    graph["x"].shape = tuple(in_shape)  # the emitters read the input's shape (pooling's channels)
    alone = graph.add(replace(node, inputs=["x"]))
    out = EMIT[node.op](b, alone, ["x"], graph)
    x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *in_shape])
    return make_model(helper.make_graph(b.nodes, f"snnc_{node.op}", [x_info],
                                        [helper.make_empty_tensor_value_info(out)], b.initializers))


def _runtime_kernel(node, xs, state, ctx):
    from .simulate import session

    x = xs[0]
    run = ctx.cached(("onnx-op", node.name, tuple(x.shape[1:])),
                     lambda: session(_single_op_model(node, tuple(x.shape[1:]))))
    (y,) = run.run(None, {"x": x.detach().cpu().numpy().astype(np.float32)})
    return torch.from_numpy(np.asarray(y, np.float32)).to(x.device)


class OnnxProfile(Profile):
    """float32; :data:`RUNTIME_SUMS` computed by onnxruntime (see the module docstring)."""


PROFILE = register(OnnxProfile("onnx", torch.float32, kernels={op: _runtime_kernel for op in RUNTIME_SUMS},
                               description="float32 with onnxruntime's own sums (Gemm, Conv, AveragePool)"))

__all__ = ["PROFILE", "OnnxProfile", "RUNTIME_SUMS"]
