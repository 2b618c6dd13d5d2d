"""The IR's stateful ops as PyTorch custom operators, so that a ``torch.export`` program keeps them.

A neuron written as plain tensor arithmetic loses its meaning in an exported program (the reset
rule, the comparison and the reset timing are no longer recoverable from ATen ops). While exporting,
snnc.nn neurons and the readout therefore call one operator per step that carries the whole
semantics of the IR ``Neuron`` / ``Readout`` op in its arguments; the ``.pt2`` importer maps each
call back to that IR node. Schemas::

    snnc::neuron_step(Tensor x, Tensor? v, Tensor? i, Tensor? spike, Tensor[] tensors, Tensor? b=None, *,
                      str charge,
                      str compare="ge", str reset="hard", str reset_timing="immediate",
                      bool decay_input=True, int window_size=0,
                      float? v_threshold=None, float? v_reset=None, float? v_leak=None,
                      float? v_init=None, float? i_init=None, float? tau=None, float? k=None,
                      float? beta=None, float? alpha=None, str threshold="fixed",
                      float? adapt_decay=None, float? adapt_scale=None, str tensor_params="") -> (Tensor spike, Tensor v, Tensor i, Tensor b)

    snnc::readout_step(Tensor x, *, str output_mode="spike", str rule="argmax_spike_count",
                       int class_threshold=1, float beta=1.0, int window_size=0) -> Tensor

The string/int/bool arguments are the ``Neuron`` node's attributes; each parameter of the node is
either a ``float`` argument (a scalar, used as that Python number, as the reference interpreter
uses a 0-d parameter) or, for per-neuron values, a tensor: ``tensor_params`` names them
(comma-separated) in the order of ``tensors``.

State: an exported program is **one time step from the reset state**. ``v``, ``i``, ``b`` (an
adaptive threshold's trace) and ``spike`` (the previous step's spike, for ``delayed`` reset timing)
are ``None`` in an exported program, meaning "the initial state" (``v_init``, else ``v_reset`` for a
hard reset, else 0; ``i_init`` or 0; ``b`` 0; no previous spike). The outputs ``v``, ``i`` and ``b``
are the next step's state (0 where the node has no such state), so a caller can run a sequence by
feeding them back (``spike`` feeds the next ``spike`` argument). The numbers are
computed by :func:`snnc.ir.interpreter.neuron_step` (``snnc.ir.neuron``), bit-identical to the
reference interpreter and to the snnc.nn modules. The readout op computes the first step of a
window (its decision for one step from the reset state).
"""

from __future__ import annotations

import functools
import json
from types import SimpleNamespace
from typing import Optional

import torch
import torch.nn.functional as F

from .interpreter import neuron_step as _neuron_step
from .interpreter import over_sequence
from .interpreter import readout_step as _readout_step
from .torch_module import GraphParameters


def exporting() -> bool:
    """Whether ``torch.export`` is tracing the caller (and not ``torch.compile``). Reads the flag that
    ``torch.export`` sets (``torch.compiler._is_exporting_flag``; ``torch.compiler.is_exporting()``
    returns it): dynamo, which before torch 2.13 folds ``is_exporting()`` itself to True in every
    ``torch.compile`` trace, reads a module attribute as the value it has (and guards on it)."""
    flag = getattr(torch.compiler, "_is_exporting_flag", None)
    return torch.compiler.is_exporting() if flag is None else bool(flag)


#: the Neuron node parameters, in schema order
NEURON_PARAMS = ("v_threshold", "v_reset", "v_leak", "v_init", "i_init", "tau", "k", "beta", "alpha", "adapt_decay",
                 "adapt_scale")


@torch.library.custom_op("snnc::neuron_step", mutates_args=())
def neuron_step(x: torch.Tensor, v: Optional[torch.Tensor], i: Optional[torch.Tensor],
                spike: Optional[torch.Tensor], tensors: list[torch.Tensor], b: Optional[torch.Tensor] = None, *,
                charge: str, compare: str = "ge", reset: str = "hard",
                reset_timing: str = "immediate", decay_input: bool = True, window_size: int = 0,
                v_threshold: Optional[float] = None, v_reset: Optional[float] = None,
                v_leak: Optional[float] = None, v_init: Optional[float] = None, i_init: Optional[float] = None,
                tau: Optional[float] = None, k: Optional[float] = None, beta: Optional[float] = None,
                alpha: Optional[float] = None, threshold: str = "fixed", adapt_decay: Optional[float] = None,
                adapt_scale: Optional[float] = None, tensor_params: str = "") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of the IR ``Neuron`` op (see the module docstring)."""
    scalars = dict(v_threshold=v_threshold, v_reset=v_reset, v_leak=v_leak, v_init=v_init, i_init=i_init,
                   tau=tau, k=k, beta=beta, alpha=alpha, adapt_decay=adapt_decay, adapt_scale=adapt_scale)
    p = {key: value for key, value in scalars.items() if value is not None}
    # per-neuron values compute in the value dtype, as the reference interpreter casts them
    p.update((key, t.to(x.dtype) if t.is_floating_point() else t)
             for key, t in zip(tensor_param_names(tensor_params), tensors))
    node = SimpleNamespace(attrs={"charge": charge, "compare": compare, "reset": reset,
                                  "reset_timing": reset_timing, "decay_input": decay_input, "threshold": threshold})
    state = {}
    if v is not None:
        zeros = torch.zeros_like(x)
        state = {"v": v, "i": zeros if i is None else i, "b": zeros if b is None else b,
                 "s": torch.zeros_like(x, dtype=torch.bool) if spike is None else spike != 0}
    s = _neuron_step(node, x, state, p)
    # outputs of a custom op must not alias its inputs
    following = [state.get(var, torch.zeros_like(x)).expand_as(x).clone() for var in ("v", "i", "b")]
    return s, *following


@neuron_step.register_fake
def _neuron_step_fake(x, v, i, spike, tensors, b=None, **kwargs):
    return torch.empty_like(x), torch.empty_like(x), torch.empty_like(x), torch.empty_like(x)


def tensor_param_names(tensor_params: str) -> list[str]:
    names = [n.strip() for n in tensor_params.split(",") if n.strip()]
    unknown = [n for n in names if n not in NEURON_PARAMS]
    if unknown:
        raise ValueError(f"snnc::neuron_step: unknown parameter(s) {unknown} in tensor_params; "
                         f"expected names from {NEURON_PARAMS}")
    return names


@torch.library.custom_op("snnc::readout_step", mutates_args=())
def readout_step(x: torch.Tensor, *, output_mode: str = "spike", rule: str = "argmax_spike_count",
                 class_threshold: int = 1, beta: float = 1.0, window_size: int = 0) -> torch.Tensor:
    """The IR ``Readout`` op's decision ``[N, 1]`` for one step from the reset state."""
    return _readout_step(x, {}, output_mode, rule, class_threshold, beta)


@readout_step.register_fake
def _readout_step_fake(x, **kwargs):
    return x.new_empty((x.shape[0], 1))


#: the sequence operators, defined with the dispatcher's own API (not ``custom_op``): a call dispatches
#: straight to the Python kernel, the per-call cost of a deployed program (``module.pt2``); they have no
#: autograd formula (a deployed program runs without grad)
SEQUENCE_OPS = torch.library.Library("snnc", "FRAGMENT")
SEQUENCE_OPS.define("neuron_sequence(Tensor x, Tensor[] tensors, *, str attrs, str tensor_params, float[] scalars, "
                    "str scalar_params, int window) -> Tensor")
SEQUENCE_OPS.define("readout_sequence(Tensor x, *, str output_mode=\"spike\", str rule=\"argmax_spike_count\", "
                    "int class_threshold=1, float beta=1.0, int window=0) -> Tensor")


def neuron_sequence(x: torch.Tensor, tensors: list[torch.Tensor], *, attrs: str, tensor_params: str,
                    scalars: list[float], scalar_params: str, window: int) -> torch.Tensor:
    """``snnc::neuron_sequence``: a ``Neuron`` node over a whole sequence ``x`` ``[T, N, ...]`` from its
    initial state, cleared every ``window`` steps (0: never); returns its ``output`` (spikes, ``v`` or
    ``i``) ``[T, N, ...]``. ``attrs`` is the node's attributes as JSON; its parameters are ``tensors``
    named by ``tensor_params`` and ``scalars`` named by ``scalar_params`` (comma-separated). This
    implementation, on every device, runs :func:`snnc.ir.interpreter.neuron_step` step by step
    (bit-identical to the reference interpreter); the gpu target registers a CUDA kernel for it
    (``snnc.targets.gpu.module``)."""
    node = SimpleNamespace(attrs=parse_attrs(attrs))
    p = sequence_params(x, tensors, tensor_params, scalars, scalar_params)
    return over_sequence(lambda x_t, state: _neuron_step(node, x_t, state, p), x, window)


@functools.lru_cache(maxsize=256)
def parse_attrs(attrs: str) -> dict:
    """A sequence op's ``attrs`` JSON, parsed once per distinct string (do not mutate the result)."""
    return json.loads(attrs)


def sequence_params(x, tensors, tensor_params: str, scalars, scalar_params: str) -> dict:
    """The parameter dict of a sequence op's arguments (tensors in ``x``'s dtype where floating)."""
    p = dict(zip(_names(scalar_params), scalars))
    p.update((key, t.to(x.dtype) if t.is_floating_point() else t) for key, t in zip(_names(tensor_params), tensors))
    return p


def _names(joined: str) -> list[str]:
    return [n for n in joined.split(",") if n]


def readout_sequence(x: torch.Tensor, *, output_mode: str = "spike", rule: str = "argmax_spike_count",
                     class_threshold: int = 1, beta: float = 1.0, window: int = 0) -> torch.Tensor:
    """``snnc::readout_sequence``: the IR ``Readout`` op's decisions ``[T, N, 1]`` over a sequence, its
    state cleared every ``window`` steps (0: never)."""
    return over_sequence(lambda x_t, state: _readout_step(x_t, state, output_mode, rule, class_threshold, beta),
                         x, window)


SEQUENCE_OPS.impl("neuron_sequence", neuron_sequence, "CompositeExplicitAutograd")
SEQUENCE_OPS.impl("readout_sequence", readout_sequence, "CompositeExplicitAutograd")


@torch.library.register_fake("snnc::neuron_sequence", lib=SEQUENCE_OPS)
def _neuron_sequence_fake(x, tensors, **kwargs):
    return torch.empty_like(x)


@torch.library.register_fake("snnc::readout_sequence", lib=SEQUENCE_OPS)
def _readout_sequence_fake(x, **kwargs):
    return x.new_empty((x.shape[0], x.shape[1], 1))


class GraphStep(GraphParameters):
    """One time step of an IR graph (float32) from the reset state, written with the ops the ``.pt2``
    importer maps: ``F.linear``/``F.conv2d``/pooling/``F.batch_norm``/reshape/``+``/``*`` for the
    stateless nodes, ``snnc::neuron_step`` and ``snnc::readout_step`` for the stateful ones.
    ``torch.export`` of it (:func:`export_step`) imports back to the same graph (same ops, attributes and
    parameter values; node names are not kept)."""

    def forward(self, x: torch.Tensor):
        from .interpreter import KERNELS

        values = {}
        outputs = []
        for node in self.graph.nodes:
            op, a = node.op, node.attrs
            xs = [values[s] for s in node.inputs]
            if op == "Input":
                out = x
            elif op == "Output":
                out = xs[0]
                outputs.append(out)
            elif op == "Linear":
                out = F.linear(xs[0], self.param(node, "weight"), self.param(node, "bias"))
            elif op == "Conv2d":
                out = F.conv2d(xs[0], self.param(node, "weight"), self.param(node, "bias"), a["stride"], a["padding"],
                               a["dilation"], a["groups"])
            elif op == "BatchNorm":
                out = F.batch_norm(xs[0], self.param(node, "mean"), self.param(node, "var"), self.param(node, "weight"),
                                   self.param(node, "bias"), False, 0.0, a["eps"])
            elif op == "Scale":
                out = xs[0] * self.param(node, "scale")
            elif op in ("AvgPool2d", "SumPool2d", "MaxPool2d", "Flatten", "Add", "Mul"):
                out = KERNELS[op](node, xs, {}, None)
            elif op == "Neuron":
                tensors = self.tensor_params(node)
                spike, *state = torch.ops.snnc.neuron_step(
                    xs[0], None, None, None, list(tensors.values()), tensor_params=",".join(tensors),
                    charge=a["charge"], compare=a["compare"], reset=a["reset"], reset_timing=a["reset_timing"],
                    decay_input=bool(a["decay_input"]), window_size=int(a["window_size"]),
                    threshold=a["threshold"], **self.scalar_params(node))
                out = {"spikes": spike, "v": state[0], "i": state[1]}[a["output"]]
            elif op == "Readout":
                out = torch.ops.snnc.readout_step(xs[0], output_mode=a["output_mode"], rule=a["rule"],
                                                  class_threshold=int(a["class_threshold"]),
                                                  beta=float(node.params.get("beta", 1.0)),
                                                  window_size=int(a["window_size"]))
            else:
                raise ValueError(f"node '{node.name}': op '{op}' has no torch.export form")
            values[node.name] = out
        return outputs[0] if len(outputs) == 1 else tuple(outputs)


def export_step(graph, batch: int = 2):
    """``torch.export`` of :class:`GraphStep` for an input ``[batch, *input_shape]``."""
    example = torch.zeros(batch, *graph.input_shape)
    return torch.export.export(GraphStep(graph).eval(), (example,))


__all__ = ["exporting", "neuron_step", "readout_step", "neuron_sequence", "readout_sequence", "SEQUENCE_OPS", "parse_attrs", "sequence_params", "NEURON_PARAMS", "tensor_param_names", "GraphStep", "export_step"]
