"""The nn.Module a gpu artifact runs: the IR graph evaluated layer by layer over the whole sequence.

``GraphModule(graph)(x)`` takes ``[T, N, *input_shape]`` and returns what
``interpret(graph, x, "float32")`` returns. Per node kind:

- stateless ops (Linear, Conv2d, pools, Flatten, Add, Mul, Scale, BatchNorm): the interpreter's kernel
  (``snnc.ir.interpreter.KERNELS``) on the sequence. On CUDA, ``T`` is folded into the batch (one
  call on ``[T·N, ...]``); on CPU the kernel runs step by step, as the interpreter calls it, so CPU
  results are bit-identical to it.
- Neuron: on CUDA, one fused Triton kernel over the sequence when the node fits it (charge
  if/lif/plif/cuba, or if/lif with an adaptive threshold; ``compare="ge"``, immediate hard/subtract
  reset; ``snnc.runtime.multistep``);
  otherwise the interpreter's ``neuron_step`` step by step.
- Readout: the interpreter's ``readout_step`` step by step (its state is tiny).

- Delay: the sequence shifted by its ``steps`` within each window. A graph with a recurrent cycle (a
  Delay whose input is a later node) cannot run layer after layer over the whole sequence: it runs step
  by step through the interpreter (``interpret(graph, x, "float32")``, on the input's device).

State is cleared at the graph's window (``window_of``): the fused kernels reset inside the sequence.
"""

from __future__ import annotations

import json

import numpy as np
import torch

from ...ir import Graph
from ...ir.interpreter import KERNELS, interpret, neuron_step, over_sequence, readout_step, window_of
from ...ir.ops import emits_spikes, reads_after_step
from ...ir.torch_module import GraphParameters
from ...ir.torch_ops import SEQUENCE_OPS, exporting, neuron_sequence, parse_attrs, sequence_params

STATELESS = ("Linear", "Conv2d", "AvgPool2d", "SumPool2d", "MaxPool2d", "Flatten", "Add", "Mul", "Scale", "BatchNorm")


def fusable(node) -> bool:
    """Whether a Neuron node runs on the fused kernel (on CUDA; the kernels output spikes)."""
    return emits_spikes(node) and fusable_form(node.attrs, node.params)


def fusable_form(attrs: dict, params: dict) -> bool:
    """:func:`fusable` of a neuron given as its attributes (all of them, ``output`` included) and
    parameters (arrays, tensors or numbers)."""
    if attrs["output"] != "spikes":
        return False
    scalar_state = all(np.ndim(params[k]) == 0 for k in ("v_reset", "v_leak", "v_init", "i_init") if k in params)
    charges = ("if", "lif") if attrs["threshold"] == "adaptive" else ("if", "lif", "plif", "cuba")
    return (attrs["charge"] in charges and attrs["compare"] == "ge" and attrs["reset"] in ("hard", "subtract")
            and attrs["reset_timing"] == "immediate" and scalar_state)


def fused_sequence(attrs: dict, p: dict, x: torch.Tensor, window: int) -> torch.Tensor | None:
    """The neuron's spikes from its initial state by one fused Triton kernel over the sequence
    (``snnc.runtime.multistep``), or None where the kernels cannot start it (a windowed cuba neuron
    with a nonzero ``i_init``: the kernels reset I to 0)."""
    from ...runtime import multistep, problem

    fused = problem(attrs, p, x, window=window)  # no training: detach_reset, any surrogate
    i0 = float(p.get("i_init", 0.0))
    if fused.window and fused.charge == "cuba" and i0 != 0.0:
        return None
    return multistep("triton", fused, x.contiguous(), {"v": fused.v_init, "i": i0, "b": 0.0})[0]


def _neuron_sequence_cuda(x, tensors, *, attrs, tensor_params, scalars, scalar_params, window):
    """``snnc::neuron_sequence`` on CUDA: the fused kernel where the neuron fits it."""
    parsed = parse_attrs(attrs)
    p = sequence_params(x, tensors, tensor_params, scalars, scalar_params)
    out = fused_sequence(parsed, p, x, window) if fusable_form(parsed, p) else None
    if out is None:  # the op's own implementation: the interpreter's step
        out = neuron_sequence(x, tensors, attrs=attrs, tensor_params=tensor_params, scalars=scalars,
                              scalar_params=scalar_params, window=window)
    return out


SEQUENCE_OPS.impl("neuron_sequence", _neuron_sequence_cuda, "CUDA")


def delayed_sequence(x: torch.Tensor, steps: int, window: int) -> torch.Tensor:
    """``y[t] = x[t − steps]`` where ``t − steps`` lies in ``t``'s window (``window`` 0: one window),
    else 0: a Delay over the whole sequence ``[T, N, ...]``."""
    t = torch.arange(x.shape[0], device=x.device)
    keep = ((t % window) if window else t) >= steps
    source = (t - steps).clamp(min=0)
    return torch.where(keep.reshape(-1, *([1] * (x.dim() - 1))), x[source], torch.zeros_like(x))


class GraphModule(GraphParameters):
    """The graph over ``[T, N, *input_shape]``; parameters are buffers (``.to(device)`` moves them).
    ``fold``: run stateless layers once on ``[T·N, ...]`` (default: on CUDA; on CPU step by step,
    bit-identical to the interpreter). While ``torch.export`` traces it, it folds on every device and its
    neurons and readout are the ``snnc::neuron_sequence`` / ``snnc::readout_sequence`` ops, so the
    exported program takes any ``T`` and ``N``."""

    def __init__(self, graph: Graph, fuse: bool = True, fold: bool | None = None):
        super().__init__(graph)
        self.fuse = fuse
        self.fold = fold
        self.window = window_of(graph)
        self._outputs = [n.name for n in graph.nodes if n.op == "Output"]
        order = {n.name: i for i, n in enumerate(graph.nodes)}
        self.recurrent = any(reads_after_step(n) and order[n.inputs[0]] > order[n.name] for n in graph.nodes)

    def forward(self, x: torch.Tensor):
        if x.dtype != torch.float32:  # (no conversion op when it is float32: the exported program has no device)
            x = x.to(torch.float32)
        if self.recurrent:
            return interpret(self.graph, x, "float32")
        is_export = exporting()
        fold = is_export or (x.is_cuda if self.fold is None else self.fold)
        values: dict[str, torch.Tensor] = {}
        for node in self.graph.nodes:
            op = node.op
            xs = [values[s] for s in node.inputs]
            if op == "Input":
                out = x
            elif op == "Output":
                out = xs[0]
            elif op in STATELESS:
                out = self._stateless(node, xs, fold)
            elif op == "Neuron":
                out = self._exported_neuron(node, xs[0]) if is_export else self._neuron(node, xs[0])
            elif op == "Readout":
                out = self._readout(node, xs[0], is_export)
            elif op == "Delay":
                out = delayed_sequence(xs[0], node.attrs["steps"], self.window)
            else:
                from ...ir.errors import GraphError
                raise GraphError(node.name, f"the gpu target has no kernel for op '{op}'")
            values[node.name] = out
        outputs = [values[name] for name in self._outputs]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    # stateless: fold T into N, or step by step -----------------------------------------------------
    def _stateless(self, node, xs, fold: bool):
        kernel = KERNELS[node.op]
        if fold:
            if node.op == "Flatten":  # (the per-sample size is static: no guard on T·N under export)
                return torch.flatten(xs[0], 2)
            steps, batch = xs[0].shape[:2]
            out = kernel(node, [torch.flatten(v, 0, 1) for v in xs], {}, self)
            return out.unflatten(0, (steps, batch))
        return torch.stack([kernel(node, [v[t] for v in xs], {}, self) for t in range(xs[0].shape[0])])

    def _readout(self, node, x, is_export: bool):
        a = node.attrs
        beta = self.param(node, "beta")
        if is_export:
            return torch.ops.snnc.readout_sequence(x, output_mode=a["output_mode"], rule=a["rule"],
                                                   class_threshold=int(a["class_threshold"]),
                                                   beta=1.0 if beta is None else float(beta), window=self.window)
        return over_sequence(lambda x_t, state: readout_step(x_t, state, a["output_mode"], a["rule"],
                                                             a["class_threshold"], beta), x, self.window)

    def _neuron(self, node, x):
        p = self.params(node)
        if self.fuse and x.is_cuda and fusable(node):
            out = fused_sequence(node.attrs, p, x, self.window)
            if out is not None:
                return out
        return over_sequence(lambda x_t, state: neuron_step(node, x_t, state, p), x, self.window)

    def _exported_neuron(self, node, x):
        tensors, scalars = self.tensor_params(node), self.scalar_params(node)
        return torch.ops.snnc.neuron_sequence(
            x, list(tensors.values()), attrs=json.dumps(node.attrs), tensor_params=",".join(tensors),
            scalars=list(scalars.values()), scalar_params=",".join(scalars), window=self.window)
