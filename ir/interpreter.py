"""The reference interpreter: runs a graph step by step under a numerics profile.

For each step ``t`` of a ``[T, N, *input_shape]`` input, every node is evaluated in topological order
by the kernel for its op: the profile's own kernel if it has one, else the float kernel in ``KERNELS``
below (one small function per op, each implementing its op's docstring in ``ops.py``). A Delay returns
what it took in ``steps`` steps before (exact in every profile) and takes in its input after every node
of the step has run, so a recurrent cycle through it reads the previous step. Stateful
kernels keep their state in a per-node dict; after step ``t`` the state of every stateful node is
cleared when ``(t + 1) % window_size == 0`` for the window of the graph (the largest ``window_size`` of
its stateful nodes; the readout pass makes them all equal).

``interpret(graph, x)`` returns the outputs ``[T, N, *output_shape]`` (the first Output; all of them
as a tuple if there are several). ``record=True`` also returns a :class:`Trace` with every node's
per-step value, used to locate the first divergence between the interpreter and a target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from . import neuron, readout
from .errors import GraphError, SnncError
from .graph import Graph, Node
from .ops import complemented, reads_after_step
from .numerics import Profile, get_profile


@dataclass
class Context:
    """What a kernel may use besides its inputs and state: the profile and the node's parameters as
    tensors on the input's device (0-d parameters as Python floats), and a cache for what a profile
    derives from them once per run (:meth:`cached`)."""

    profile: Profile
    device: torch.device
    _cache: dict = field(default_factory=dict)

    def cached(self, key, make: Callable[[], object]):
        """``make()``, computed once per run for ``key`` (e.g. ``("lynxi", node name)``)."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def params(self, node: Node) -> dict:
        return self.cached(("params", node.name), lambda: {k: self.convert(v) for k, v in node.params.items()})

    def convert(self, value: np.ndarray):
        if value.ndim == 0 and value.dtype.kind == "f":
            return float(value)
        if value.dtype.kind == "f":
            return torch.as_tensor(value).to(self.device, self.profile.dtype)
        return torch.as_tensor(value).to(self.device)


Kernel = Callable[[Node, list, dict, Context], torch.Tensor]


def _input(node, xs, state, ctx):
    raise AssertionError("Input is fed by the interpreter")


def _identity(node, xs, state, ctx):
    return xs[0]


def _linear(node, xs, state, ctx):
    p = ctx.params(node)
    return F.linear(xs[0], p["weight"], p.get("bias"))


def _conv2d(node, xs, state, ctx):
    p = ctx.params(node)
    a = node.attrs
    return F.conv2d(xs[0], p["weight"], p.get("bias"), a["stride"], a["padding"], a["dilation"], a["groups"])


def _pool_geometry(node):
    from .ops import Pool2d
    return Pool2d.geometry(node)


def _avgpool(node, xs, state, ctx):
    k, s, p = _pool_geometry(node)
    return F.avg_pool2d(xs[0], k, s, p, count_include_pad=True)


def _sumpool(node, xs, state, ctx):
    k, s, p = _pool_geometry(node)
    return F.avg_pool2d(xs[0], k, s, p, count_include_pad=True, divisor_override=1)


def _maxpool(node, xs, state, ctx):
    k, s, p = _pool_geometry(node)
    return F.max_pool2d(xs[0], k, s, p)


def _flatten(node, xs, state, ctx):
    return xs[0].reshape(xs[0].shape[0], -1)


def _add(node, xs, state, ctx):
    out = xs[0]
    for x in xs[1:]:
        out = out + x
    return out


def _mul(node, xs, state, ctx):
    a, b = complemented(xs, node.attrs["complement"])
    return a * b


def delay_output(node, state: dict, like: torch.Tensor) -> torch.Tensor:
    """A Delay's value this step: what it took in ``steps`` steps ago, zeros (of ``like``'s batch size,
    dtype and device) before that. ``state["queue"]`` holds the last ``steps`` inputs, oldest first."""
    if "queue" not in state:
        state["queue"] = [like.new_zeros((like.shape[0], *node.shape))] * node.attrs["steps"]
    return state["queue"][0]


def delay_take_in(node, state: dict, value: torch.Tensor) -> None:
    """At the end of a step: the Delay's input joins the queue, its oldest entry (this step's output)
    leaves."""
    state["queue"] = state["queue"][1:] + [value]


def _scale(node, xs, state, ctx):
    return xs[0] * ctx.params(node)["scale"]


def _batchnorm(node, xs, state, ctx):
    p = ctx.params(node)
    shape = (1, -1) + (1,) * (xs[0].dim() - 2)
    as_t = lambda v: torch.as_tensor(v, dtype=xs[0].dtype, device=xs[0].device).reshape(shape)  # noqa: E731
    inv = 1.0 / torch.sqrt(as_t(p["var"]) + node.attrs["eps"])
    return (xs[0] - as_t(p["mean"])) * inv * as_t(p["weight"]) + as_t(p["bias"])


def neuron_step(node: Node, x: torch.Tensor, state: dict, p: dict) -> torch.Tensor:
    """One step of the ``Neuron`` op in ``x``'s dtype (:func:`snnc.ir.neuron.step`); updates ``state``."""
    ar = neuron.TensorArithmetic(p, x)
    if "v" not in state:
        state.update(neuron.initial_state(ar, node.attrs))
    return neuron.step(ar, node.attrs, x, state)


def _neuron(node, xs, state, ctx):
    return neuron_step(node, xs[0], state, ctx.params(node))


def readout_step(x: torch.Tensor, state: dict, output_mode: str, rule: str, class_threshold: int = 1,
                 beta=None) -> torch.Tensor:
    """One step of the ``Readout`` op in ``x``'s dtype (:func:`snnc.ir.readout.step`); returns ``[N, 1]``."""
    ar = readout.TensorReadout(beta, x.dtype)
    if not state:
        state.update(ar.initial_state(x, output_mode))
    attrs = {"output_mode": output_mode, "rule": rule, "class_threshold": class_threshold}
    return readout.step(ar, attrs, x, state)


def _readout(node, xs, state, ctx):
    a = node.attrs
    return readout_step(xs[0], state, a["output_mode"], a["rule"], a["class_threshold"], ctx.params(node).get("beta"))


KERNELS: dict[str, Kernel] = {
    "Input": _input, "Output": _identity, "Linear": _linear, "Conv2d": _conv2d,
    "AvgPool2d": _avgpool, "SumPool2d": _sumpool, "MaxPool2d": _maxpool, "Flatten": _flatten,
    "Add": _add, "Mul": _mul, "Scale": _scale, "BatchNorm": _batchnorm, "Neuron": _neuron, "Readout": _readout,
}


def over_sequence(step: Callable[[torch.Tensor, dict], torch.Tensor], x_seq: torch.Tensor,
                  window: int = 0) -> torch.Tensor:
    """``step(x_seq[t], state)`` for every ``t``, from an empty ``state`` cleared after every ``window``
    steps (0: never), stacked: one stateful node over a whole sequence, as :func:`interpret` runs it."""
    state: dict = {}
    out = []
    for t in range(x_seq.shape[0]):
        out.append(step(x_seq[t], state))
        if window and (t + 1) % window == 0:
            state.clear()
    return torch.stack(out)


def window_of(graph: Graph) -> int:
    """The graph's window: the ``window_size`` of its stateful nodes (0 = never reset)."""
    sizes = {n.attrs.get("window_size", 0) for n in graph.nodes if n.stateful}
    sizes.discard(0)
    return max(sizes) if sizes else 0


@dataclass
class Trace:
    """Per-node values: ``values[name]`` is ``[T, N, *shape]``; ``state_ranges[neuron][var]`` is the
    ``(min, max)`` a neuron's state variable took over every step and sample, in the graph's units
    (``Profile.state_real``)."""

    values: dict[str, torch.Tensor]
    state_ranges: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)


def widen_ranges(ranges: dict, name: str, var: str, lo: float, hi: float) -> None:
    """``ranges[name][var]`` (a ``(min, max)``) widened to include ``[lo, hi]``."""
    old = ranges.setdefault(name, {}).get(var, (lo, hi))
    ranges[name][var] = (min(old[0], lo), max(old[1], hi))


def _widen(ranges: dict, node: Node, state: dict, profile: Profile) -> None:
    """Widen ``ranges[node.name]`` by the state variables of one neuron's ``state``."""
    for var in profile.state_vars(node):
        real = profile.state_real(state.get(var))
        if real is not None and real.numel():
            widen_ranges(ranges, node.name, var, float(real.min()), float(real.max()))


def check_input(graph: Graph, x: torch.Tensor) -> None:
    shape = graph.input_shape
    if x.dim() != len(shape) + 2 or tuple(x.shape[2:]) != shape:
        raise SnncError(f"input must have shape [T, N, {', '.join(map(str, shape))}], got {list(x.shape)}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise SnncError(f"input must have at least one time step and one sample, got shape {list(x.shape)}")
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise SnncError("input contains NaN or Inf")


def interpret(graph: Graph, inputs, numerics="float32", record: bool = False):
    """Run ``graph`` on ``inputs`` ``[T, N, *input_shape]`` under the profile ``numerics``."""
    profile = get_profile(numerics)
    graph = profile.prepare(graph)
    graph.verify()
    x = torch.as_tensor(inputs)
    check_input(graph, x)
    x = x.to(profile.dtype)
    ctx = Context(profile, x.device)
    kernels = {}
    for node in graph.nodes:
        kernel = profile.kernels.get(node.op, KERNELS.get(node.op))
        if kernel is None and not reads_after_step(node):
            raise GraphError(node.name, f"no kernel for op '{node.op}' under numerics '{profile.name}'")
        kernels[node.name] = kernel
    window = window_of(graph)
    states: dict[str, dict] = {n.name: {} for n in graph.nodes}
    outputs = [n.name for n in graph.nodes if n.op == "Output"]
    steps: list[dict[str, torch.Tensor]] = []
    state_ranges: dict[str, dict] = {}
    delays = [n for n in graph.nodes if reads_after_step(n)]
    for t in range(x.shape[0]):
        values: dict[str, torch.Tensor] = {}
        for node in graph.nodes:
            if node.op == "Input":
                values[node.name] = x[t]
            elif reads_after_step(node):
                values[node.name] = delay_output(node, states[node.name], x[t])
            else:
                values[node.name] = kernels[node.name](node, [values[s] for s in node.inputs], states[node.name], ctx)
                if record and node.op == "Neuron":
                    _widen(state_ranges, node, states[node.name], profile)
        for node in delays:
            delay_take_in(node, states[node.name], values[node.inputs[0]])
        steps.append(values if record else {k: values[k] for k in outputs})
        if window and (t + 1) % window == 0:
            for state in states.values():
                state.clear()
    stacked = [torch.stack([s[name] for s in steps]) for name in outputs]
    result = stacked[0] if len(stacked) == 1 else tuple(stacked)
    if record:
        return result, Trace({name: torch.stack([s[name] for s in steps]) for name in steps[0]} if steps else {},
                             state_ranges)
    return result


__all__ = ["interpret", "KERNELS", "Context", "Trace", "widen_ranges", "neuron_step", "readout_step", "window_of", "over_sequence"]
