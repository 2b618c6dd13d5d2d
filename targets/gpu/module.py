"""The nn.Module a gpu artifact runs: the IR graph evaluated layer by layer over the whole sequence.

``GraphModule(graph)(x)`` takes ``[T, N, *input_shape]`` and returns what
``interpret(graph, x, "float32")`` returns. Per node kind:

- stateless ops (Linear, Conv2d, pools, Flatten, Add, Scale, BatchNorm): the interpreter's kernel
  (``snnc.ir.interpreter.KERNELS``) on the sequence. On CUDA, ``T`` is folded into the batch (one
  call on ``[T·N, ...]``); on CPU the kernel runs step by step, as the interpreter calls it, so CPU
  results are bit-identical to it.
- Neuron: on CUDA, one fused Triton kernel over the sequence when the node fits it (charge
  if/lif/plif/cuba, or if/lif with an adaptive threshold; ``compare="ge"``, immediate hard/subtract
  reset; ``snnc.runtime.multistep``);
  otherwise the interpreter's ``neuron_step`` step by step.
- Readout: the interpreter's ``readout_step`` step by step (its state is tiny).

State is cleared at the graph's window (``window_of``): the fused kernels reset inside the sequence.
"""

from __future__ import annotations

import torch
from torch import nn

from ...ir import Graph
from ...ir.interpreter import KERNELS, Context, neuron_step, readout_step, window_of
from ...ir.numerics import get_profile
from ...ir.ops import emits_spikes

STATELESS = ("Linear", "Conv2d", "AvgPool2d", "SumPool2d", "MaxPool2d", "Flatten", "Add", "Scale", "BatchNorm")


def fusable(node) -> bool:
    """Whether a Neuron node runs on the fused kernel (on CUDA; the kernels output spikes)."""
    if not emits_spikes(node):
        return False
    a = node.attrs
    scalar_state = all(node.params[k].ndim == 0 for k in ("v_reset", "v_leak", "v_init", "i_init")
                       if k in node.params)
    charges = ("if", "lif") if a["threshold"] == "adaptive" else ("if", "lif", "plif", "cuba")
    return (a["charge"] in charges and a["compare"] == "ge"
            and a["reset"] in ("hard", "subtract") and a["reset_timing"] == "immediate" and scalar_state)


class GraphModule(nn.Module):
    def __init__(self, graph: Graph, fuse: bool = True):
        super().__init__()
        self.graph = graph
        self.fuse = fuse
        self.window = window_of(graph)
        self.profile = get_profile("float32")

    def forward(self, x: torch.Tensor):
        x = x.to(torch.float32)
        ctx = Context(self.profile, x.device)
        steps = x.shape[0]
        values: dict[str, torch.Tensor] = {}
        for node in self.graph.nodes:
            if node.op == "Input":
                values[node.name] = x
                continue
            xs = [values[s] for s in node.inputs]
            if node.op == "Output":
                values[node.name] = xs[0]
            elif node.op in STATELESS:
                values[node.name] = self._stateless(node, xs, ctx, steps)
            elif node.op == "Neuron":
                values[node.name] = self._neuron(node, xs[0], ctx)
            elif node.op == "Readout":
                values[node.name] = self._per_step(node, xs[0], ctx, self._readout)
            else:
                from ...ir.errors import GraphError
                raise GraphError(node.name, f"the gpu target has no kernel for op '{node.op}'")
        outputs = [values[n.name] for n in self.graph.nodes if n.op == "Output"]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    # stateless: fold T into N on CUDA, step by step on CPU ----------------------------------------
    def _stateless(self, node, xs, ctx, steps):
        kernel = KERNELS[node.op]
        if xs[0].is_cuda:
            flat = [v.reshape(steps * v.shape[1], *v.shape[2:]) for v in xs]
            out = kernel(node, flat, {}, ctx)
            return out.reshape(steps, -1, *out.shape[1:])
        return torch.stack([kernel(node, [v[t] for v in xs], {}, ctx) for t in range(steps)])

    def _per_step(self, node, x, ctx, step_fn):
        state: dict = {}
        out = []
        for t in range(x.shape[0]):
            out.append(step_fn(node, x[t], state, ctx))
            if self.window and (t + 1) % self.window == 0:
                state.clear()
        return torch.stack(out)

    @staticmethod
    def _readout(node, x, state, ctx):
        a = node.attrs
        return readout_step(x, state, a["output_mode"], a["rule"], a["class_threshold"],
                            ctx.params(node).get("beta", 1.0))

    @staticmethod
    def _neuron_step(node, x, state, ctx):
        return neuron_step(node, x, state, ctx.params(node))

    def _neuron(self, node, x, ctx):
        if not (self.fuse and x.is_cuda and fusable(node)):
            return self._per_step(node, x, ctx, self._neuron_step)
        from ...runtime import multistep, problem

        p = ctx.params(node)
        fused = problem(node.attrs, p, x, window=self.window)  # no training: detach_reset, any surrogate
        i0 = float(p.get("i_init", 0.0))
        if fused.window and fused.charge == "cuba" and i0 != 0.0:
            return self._per_step(node, x, ctx, self._neuron_step)  # the kernels reset I to 0
        return multistep("triton", fused, x.contiguous(), {"v": fused.v_init, "i": i0, "b": 0.0})[0]
