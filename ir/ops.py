"""The ops of the spiking IR: one small definition each, its discrete-time semantics in its docstring.

Every value flowing along an edge is a per-step tensor of shape ``[N, *shape]``: a node is evaluated
once per time step ``t``, in topological order. Stateful ops (neurons, readout) keep state between
steps; the interpreter resets the state of every stateful node after step ``t`` when
``(t + 1) % window_size == 0`` (a fixed window; ``window_size == 0`` never resets).

An op definition declares its attributes (with types and defaults) and its parameters (numpy arrays),
checks them once in :meth:`Op.validate` (shared here, not repeated per op), and infers the per-step
output shape from the input shapes. The reference interpreter (``interpreter.py``) implements exactly
these docstrings; so does every target's lowering.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .errors import GraphError

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Attr:
    """An attribute: its Python type, its default (``REQUIRED`` if none), and allowed values.
    ``recorded_at_default=False`` (an attribute added after version 1 of the graph format) leaves it
    out of the file and the content hash while it has its default, so graphs saved before it existed
    keep their hash."""

    type: type | tuple[type, ...]
    default: Any = None
    choices: tuple | None = None
    recorded_at_default: bool = True


REQUIRED = object()


def _type_names(types) -> str:
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join(t.__name__ for t in types)


def _coerce(node_name: str, key: str, value, types):
    """Check an attribute value against its declared type(s), converting the lossless cases: numpy
    scalars to Python, lists to tuples (as JSON gives them back), ints to floats. ``bool`` is never an
    ``int`` here, and the elements of a tuple attribute must be ints."""
    if value is None:
        return None
    allowed = types if isinstance(types, tuple) else (types,)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, list):
        value = tuple(value)
    if isinstance(value, tuple):
        value = tuple(v.item() if isinstance(v, np.generic) else v for v in value)
    if isinstance(value, bool):
        ok = bool in allowed
    elif isinstance(value, int):
        ok = int in allowed or float in allowed
        if ok and int not in allowed:
            value = float(value)
    elif isinstance(value, tuple):
        ok = tuple in allowed and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    else:
        ok = isinstance(value, allowed) and not isinstance(value, (bool, tuple))
    if not ok:
        raise GraphError(node_name, f"attribute '{key}' must be {_type_names(types)}"
                                    f"{' of ints' if tuple in allowed else ''}, got {value!r}")
    return value


class Op:
    """Base of every op. Subclasses set ``attrs``, ``params``, ``optional_params``, ``arity``."""

    name: ClassVar[str]
    attrs: ClassVar[dict[str, Attr]] = {}
    params: ClassVar[tuple[str, ...]] = ()
    optional_params: ClassVar[tuple[str, ...]] = ()
    arity: ClassVar[int | None] = 1  # number of inputs; None = any number >= 1
    stateful: ClassVar[bool] = False

    @classmethod
    def complete_attrs(cls, node_name: str, attrs: dict) -> dict:
        """Fill defaults and check types and choices; unknown attributes are an error."""
        unknown = set(attrs) - set(cls.attrs)
        if unknown:
            raise GraphError(node_name, f"{cls.name} has no attribute(s) {sorted(unknown)}; "
                                        f"expected some of {sorted(cls.attrs)}")
        out = {}
        for key, spec in cls.attrs.items():
            if key in attrs:
                value = _coerce(node_name, key, attrs[key], spec.type)
            elif spec.default is REQUIRED:
                raise GraphError(node_name, f"{cls.name} needs attribute '{key}'")
            else:
                value = spec.default
            if spec.choices is not None and value not in spec.choices:
                raise GraphError(node_name, f"attribute '{key}' must be one of {spec.choices}, got {value!r}")
            out[key] = value
        return out

    @classmethod
    def validate(cls, node) -> None:
        """Checks shared by every op: arity, required/unknown parameters, finite parameter values."""
        if cls.arity is not None and len(node.inputs) != cls.arity:
            raise GraphError(node.name, f"{cls.name} takes {cls.arity} input(s), got {len(node.inputs)}")
        if cls.arity is None and not node.inputs:
            raise GraphError(node.name, f"{cls.name} needs at least one input")
        missing = [p for p in cls.params if p not in node.params]
        if missing:
            raise GraphError(node.name, f"{cls.name} needs parameter(s) {missing}")
        unknown = set(node.params) - set(cls.params) - set(cls.optional_params)
        if unknown:
            raise GraphError(node.name, f"{cls.name} has no parameter(s) {sorted(unknown)}")
        for key, value in node.params.items():
            if not isinstance(value, np.ndarray):
                raise GraphError(node.name, f"parameter '{key}' must be a numpy array, got {type(value).__name__}")
            if value.dtype.kind not in "biuf":
                raise GraphError(node.name, f"parameter '{key}' must be numeric, got dtype {value.dtype}")
            if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
                raise GraphError(node.name, f"parameter '{key}' contains NaN or Inf")

    @classmethod
    def infer_shape(cls, node, in_shapes: list[Shape]) -> Shape:
        return in_shapes[0]


def pair(node_name: str, key: str, value) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return (int(value[0]), int(value[1]))
    raise GraphError(node_name, f"attribute '{key}' must be an int or a pair of ints, got {value!r}")


def _at_least(node_name: str, key: str, pair: tuple[int, int], low: int) -> None:
    if min(pair) < low:
        raise GraphError(node_name, f"attribute '{key}' must be >= {low}, got {pair}")


def _broadcastable(node, key: str, shape: Shape) -> None:
    """A neuron/scale parameter is a scalar or broadcasts to the per-step shape."""
    p = node.params.get(key)
    if p is None:
        return
    try:
        out = np.broadcast_shapes(p.shape, shape)
    except ValueError:
        out = None
    if out != tuple(shape):
        raise GraphError(node.name, f"parameter '{key}' of shape {p.shape} does not broadcast to the "
                                    f"per-step shape {tuple(shape)}")


class Input(Op):
    """Graph input: at step ``t`` the value is ``x[t]`` of the ``[T, N, *shape]`` input."""

    name = "Input"
    attrs = {"shape": Attr(tuple, REQUIRED)}
    arity = 0

    @classmethod
    def infer_shape(cls, node, in_shapes):
        shape = node.attrs["shape"]
        if not shape or any((not isinstance(d, int)) or d <= 0 for d in shape):
            raise GraphError(node.name, f"input shape must be positive ints, got {shape!r}")
        return tuple(shape)


class Output(Op):
    """Graph output: ``y[t] = x[t]``. The graph's outputs are its Output nodes, in order."""

    name = "Output"


class Linear(Op):
    """``y = x · Wᵀ + b``; ``weight`` is ``[out, in]``, optional ``bias`` is ``[out]``."""

    name = "Linear"
    params = ("weight",)
    optional_params = ("bias",)

    @classmethod
    def infer_shape(cls, node, in_shapes):
        w = node.params["weight"]
        if w.ndim != 2:
            raise GraphError(node.name, f"Linear weight must be 2-D [out, in], got shape {w.shape}")
        (shape,) = in_shapes
        if len(shape) != 1 or shape[0] != w.shape[1]:
            raise GraphError(node.name, f"Linear expects input of shape ({w.shape[1]},), got {shape}")
        b = node.params.get("bias")
        if b is not None and b.shape != (w.shape[0],):
            raise GraphError(node.name, f"Linear bias must have shape ({w.shape[0]},), got {b.shape}")
        return (w.shape[0],)


def _conv_out(size: int, k: int, s: int, p: int, d: int = 1) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


class Conv2d(Op):
    """2-D cross-correlation as ``torch.nn.functional.conv2d``: input ``[C, H, W]`` per step, ``weight``
    ``[O, C/groups, kH, kW]``, optional ``bias`` ``[O]``;
    ``y[o,i,j] = b[o] + Σ_{c,u,v} W[o,c,u,v] · x[g(o)·C/groups + c, i·s + u·d - p, j·s + v·d - p]``
    (zero outside the input)."""

    name = "Conv2d"
    attrs = {"stride": Attr((int, tuple), 1), "padding": Attr((int, tuple), 0),
             "dilation": Attr((int, tuple), 1), "groups": Attr(int, 1)}
    params = ("weight",)
    optional_params = ("bias",)

    @classmethod
    def infer_shape(cls, node, in_shapes):
        w = node.params["weight"]
        (shape,) = in_shapes
        if w.ndim != 4:
            raise GraphError(node.name, f"Conv2d weight must be 4-D [O, C/groups, kH, kW], got {w.shape}")
        if len(shape) != 3:
            raise GraphError(node.name, f"Conv2d expects a per-step input [C, H, W], got {shape}")
        g = node.attrs["groups"]
        if g < 1:
            raise GraphError(node.name, f"attribute 'groups' must be >= 1, got {g}")
        if shape[0] != w.shape[1] * g or w.shape[0] % g:
            raise GraphError(node.name, f"Conv2d weight {w.shape} with groups={g} does not fit {shape[0]} input channels")
        b = node.params.get("bias")
        if b is not None and b.shape != (w.shape[0],):
            raise GraphError(node.name, f"Conv2d bias must have shape ({w.shape[0]},), got {b.shape}")
        s, p, d = (pair(node.name, k, node.attrs[k]) for k in ("stride", "padding", "dilation"))
        _at_least(node.name, "stride", s, 1)
        _at_least(node.name, "padding", p, 0)
        _at_least(node.name, "dilation", d, 1)
        h = _conv_out(shape[1], w.shape[2], s[0], p[0], d[0])
        wd = _conv_out(shape[2], w.shape[3], s[1], p[1], d[1])
        if h <= 0 or wd <= 0:
            raise GraphError(node.name, f"Conv2d output would be empty for input {shape}")
        return (w.shape[0], h, wd)


class Pool2d(Op):
    attrs = {"kernel_size": Attr((int, tuple), REQUIRED), "stride": Attr((int, tuple), None),
             "padding": Attr((int, tuple), 0)}

    @classmethod
    def geometry(cls, node):
        k = pair(node.name, "kernel_size", node.attrs["kernel_size"])
        s = pair(node.name, "stride", node.attrs["stride"] if node.attrs["stride"] is not None else k)
        p = pair(node.name, "padding", node.attrs["padding"])
        _at_least(node.name, "kernel_size", k, 1)
        _at_least(node.name, "stride", s, 1)
        _at_least(node.name, "padding", p, 0)
        if p[0] > k[0] // 2 or p[1] > k[1] // 2:
            raise GraphError(node.name, f"padding {p} must be at most half the kernel size {k}")
        return k, s, p

    @classmethod
    def infer_shape(cls, node, in_shapes):
        (shape,) = in_shapes
        if len(shape) != 3:
            raise GraphError(node.name, f"{cls.name} expects a per-step input [C, H, W], got {shape}")
        k, s, p = cls.geometry(node)
        h, w = _conv_out(shape[1], k[0], s[0], p[0]), _conv_out(shape[2], k[1], s[1], p[1])
        if h <= 0 or w <= 0:
            raise GraphError(node.name, f"{cls.name} output would be empty for input {shape}")
        return (shape[0], h, w)


class AvgPool2d(Pool2d):
    """``y[c,i,j] = (Σ_{u<kH, v<kW} x[c, i·sH+u-pH, j·sW+v-pW]) / (kH·kW)``, zero padding counted
    (``torch.nn.functional.avg_pool2d`` with ``count_include_pad=True``)."""

    name = "AvgPool2d"


class SumPool2d(Pool2d):
    """``y[c,i,j] = Σ_{u<kH, v<kW} x[c, i·sH+u-pH, j·sW+v-pW]`` (zero padding)."""

    name = "SumPool2d"


class MaxPool2d(Pool2d):
    """``y[c,i,j] = max_{u<kH, v<kW} x[c, i·sH+u-pH, j·sW+v-pW]`` (padding is ``-inf``)."""

    name = "MaxPool2d"


class Flatten(Op):
    """``y = x.reshape(N, -1)``: the per-step shape becomes ``(prod(shape),)`` in C order."""

    name = "Flatten"

    @classmethod
    def infer_shape(cls, node, in_shapes):
        return (math.prod(in_shapes[0]),)


class Add(Op):
    """``y = x₀ + x₁ + …`` elementwise (left to right); all inputs have the same per-step shape."""

    name = "Add"
    arity = None

    @classmethod
    def infer_shape(cls, node, in_shapes):
        if any(s != in_shapes[0] for s in in_shapes):
            raise GraphError(node.name, f"Add inputs must have equal shapes, got {in_shapes}")
        return in_shapes[0]


class Mul(Op):
    """``y = a · b`` elementwise, each factor optionally complemented (``complement[i] = 1``: the factor
    is ``1 − x_i``); both inputs have the same per-step shape. On 0/1 spikes this is SpikingJelly's SEW
    ``AND`` (``a · b``) and ``IAND`` (``a · (1 − b)``) connect functions; the complement is taken first,
    then the product, each rounded once in the target's arithmetic."""

    name = "Mul"
    arity = 2
    attrs = {"complement": Attr(tuple, (0, 0))}

    @classmethod
    def infer_shape(cls, node, in_shapes):
        if in_shapes[0] != in_shapes[1]:
            raise GraphError(node.name, f"Mul inputs must have equal shapes, got {in_shapes}")
        if len(node.attrs["complement"]) != 2 or not set(node.attrs["complement"]) <= {0, 1}:
            raise GraphError(node.name, f"attribute 'complement' must be two 0/1 flags, got {node.attrs['complement']}")
        return in_shapes[0]


def complemented(xs: list, complement) -> list:
    """The factors of a :class:`Mul` node: ``1 − x`` where its ``complement`` flag is set, else ``x``
    (tensors of any arithmetic whose ``1 − x`` is that arithmetic's one rounded subtraction)."""
    return [1 - x if flag else x for x, flag in zip(xs, complement)]


class Scale(Op):
    """``y = x · scale``, ``scale`` a scalar or broadcastable to the per-step shape."""

    name = "Scale"
    params = ("scale",)

    @classmethod
    def infer_shape(cls, node, in_shapes):
        _broadcastable(node, "scale", in_shapes[0])
        return in_shapes[0]


class BatchNorm(Op):
    """Inference batch norm over channel dim 0 of the per-step shape:
    ``y[c] = (x[c] - mean[c]) / sqrt(var[c] + eps) · weight[c] + bias[c]``. Folded away by a pass."""

    name = "BatchNorm"
    attrs = {"eps": Attr(float, 1e-5)}
    params = ("mean", "var", "weight", "bias")

    @classmethod
    def infer_shape(cls, node, in_shapes):
        (shape,) = in_shapes
        for key in cls.params:
            if node.params[key].shape != (shape[0],):
                raise GraphError(node.name, f"BatchNorm '{key}' must have shape ({shape[0]},), got {node.params[key].shape}")
        return shape


CHARGES = ("if", "lif", "plif", "beta", "cuba")
CHARGE_PARAMS = {"if": (), "lif": ("tau",), "plif": ("k",), "beta": ("beta",), "cuba": ("alpha", "beta")}


#: the parameters of an adaptive threshold (``threshold="adaptive"``)
ADAPT_PARAMS = ("adapt_decay", "adapt_scale")

#: the per-step decay each charge (or adaptation) parameter defines, which must lie in [0, 1]
DECAYS = {"tau": lambda tau: 1.0 / tau, "k": lambda k: k, "beta": lambda beta: beta, "alpha": lambda alpha: alpha,
          "adapt_decay": lambda rho: rho}
DECAY_RULES = {"tau": "1/tau: tau must be >= 1", "k": "k = 1/tau", "beta": "beta", "alpha": "alpha",
               "adapt_decay": "adapt_decay = 1 - 1/tau_adapt"}


#: what a Neuron node outputs: its spikes, or one of its states after the step
NEURON_OUTPUTS = ("spikes", "v", "i")


class Delay(Op):
    """``y[t] = x[t − steps]``: its input ``steps`` (≥ 1) steps earlier, zeros before that (in the first
    ``steps`` steps, and in the first ``steps`` steps of every window). The per-step ``shape`` is declared,
    because the input may be a later node: a Delay takes in its input at the end of each step, so an
    edge into a Delay is the one edge that may point forward and close a cycle. A recurrent connection
    (snnTorch ``RLeaky``/``RSynaptic``, a NIR graph with a cycle, SpikingJelly's recurrent containers) is
    such a cycle: the layer's spikes, one step late, through a synapse back into its own input. Exact in
    every arithmetic (it stores and returns values)."""

    name = "Delay"
    attrs = {"shape": Attr(tuple, REQUIRED), "steps": Attr(int, 1), "window_size": Attr(int, 0)}
    stateful = True

    @classmethod
    def infer_shape(cls, node, in_shapes):
        shape, steps = tuple(node.attrs["shape"]), node.attrs["steps"]
        if not shape or any(d <= 0 for d in shape):
            raise GraphError(node.name, f"Delay shape must be positive ints, got {shape!r}")
        if steps < 1 or node.attrs["window_size"] < 0:
            raise GraphError(node.name, f"Delay needs steps >= 1 and window_size >= 0, got {steps}, "
                                        f"{node.attrs['window_size']}")
        if in_shapes[0] is not None and tuple(in_shapes[0]) != shape:
            raise GraphError(node.name, f"Delay declares shape {shape}, its input has {tuple(in_shapes[0])}")
        return shape


def reads_after_step(node) -> bool:
    """Whether ``node`` takes in its input only at the end of a step (a Delay): its input edge may point
    to a later node."""
    return node.op == "Delay"


def emits_spikes(node) -> bool:
    """Whether ``node``'s value is a neuron's 0/1 spikes (not a membrane or current output)."""
    return node.op == "Neuron" and node.attrs.get("output", "spikes") == "spikes"


class Neuron(Op):
    """A spiking neuron population, one neuron per element of the per-step shape.

    State ``V`` (and ``I`` for ``cuba``), initialised to ``v_init`` (``i_init``, default 0) at the start
    and after every window reset. Each step, with input ``X``:

    charge (``charge`` attribute)::

        if    H = V + X
        lif   H = V + (X - (V - v_leak)) / tau          (decay_input)
              H = V - (V - v_leak) / tau + X            (not decay_input)
        plif  H = V + (X - (V - v_leak)) * k            (decay_input; k = sigmoid(w) = 1/tau)
              H = V - (V - v_leak) * k + X              (not decay_input)
        beta  H = beta * V + X                          (snnTorch Leaky)
        cuba  I = I * alpha + X;  H = V * beta + I      (alpha = 1 - du, beta = 1 - dv; Loihi CUBA)

    fire: ``S = H >= th`` (``compare="ge"``, SpikingJelly) or ``H > th`` (``"gt"``), where the threshold
    ``th`` is ``v_threshold`` (``threshold="fixed"``) or, with ``threshold="adaptive"`` (an adaptive LIF:
    Bellec et al., "Long short-term memory and learning-to-learn in networks of spiking neurons",
    NeurIPS 2018), ``th = v_threshold + adapt_scale * B`` for a third state ``B`` (initialised to 0)
    that is updated after the reset::

        B = B * adapt_decay + S          (adapt_decay = 1 - 1/tau_adapt)

    so the threshold of step ``t`` is ``v_threshold + adapt_scale * B[t-1]`` with
    ``B[t-1] = adapt_decay * B[t-2] + S[t-1]``. The adaptive threshold is the one every rule below
    calls ``v_threshold`` (the subtract reset removes it); it takes the immediate reset timing only.

    reset (``reset_timing="immediate"``)::

        hard      V = v_reset where S else H
        subtract  V = H - v_threshold * S
        none      V = H

    With ``reset_timing="delayed"`` (snnTorch's default ``reset_delay=True``) the stored ``V`` is the
    un-reset ``H`` and the reset of the previous step's spike ``S'`` is applied inside the next charge
    (``beta`` charge only): ``subtract``: ``H = (beta * V + X) - S' * v_threshold``; ``hard`` (snnTorch
    ``zero``): ``H = beta * V * (1 - S') + X``; ``none``: as immediate.
    For the ``cuba`` charge (snnTorch ``Synaptic``) the delayed reset acts after the charge
    ``M = V * beta + I``: ``subtract``: ``H = M - S' * v_threshold``; ``hard``: ``H = M - M * S'``
    (``I`` is not reset).

    ``reset_timing="compensated"`` (snnTorch ``reset_delay=False``; ``beta``/``cuba`` charges): at the
    start of the step ``R = [V cmp v_threshold]`` is taken from the stored (already reset) ``V``, the
    charge is the delayed one above with ``S' := R``, then ``S`` fires from ``H`` and the stored value
    is ``V = H - (S - R) * v_threshold`` (``subtract``), ``V = H - (S - R) * H`` (``hard``), ``V = H``
    (``none``). It equals the immediate reset unless the reset ``V`` still exceeds the threshold.

    The output (``output`` attribute) is ``S`` (``"spikes"``: 0/1 in the value dtype), or a state after
    the step: ``"v"`` the stored potential ``V`` (what snnTorch returns as ``mem`` and SpikingJelly keeps
    as ``v``), ``"i"`` the current ``I`` (``cuba``; snnTorch's ``syn``). A model that returns a neuron's
    spikes and its membrane has two nodes with the same input and parameters, one per output: the
    state they compute is the same. Every parameter is a scalar or broadcasts to the per-step shape.
    """

    name = "Neuron"
    attrs = {
        "charge": Attr(str, REQUIRED, CHARGES),
        "decay_input": Attr(bool, True),
        "compare": Attr(str, "ge", ("ge", "gt")),
        "reset": Attr(str, "hard", ("hard", "subtract", "none")),
        "reset_timing": Attr(str, "immediate", ("immediate", "delayed", "compensated")),
        "threshold": Attr(str, "fixed", ("fixed", "adaptive"), recorded_at_default=False),
        "window_size": Attr(int, 0),
        "output": Attr(str, "spikes", NEURON_OUTPUTS, recorded_at_default=False),
    }
    params = ("v_threshold",)
    optional_params = ("v_reset", "v_leak", "v_init", "i_init", "tau", "k", "beta", "alpha") + ADAPT_PARAMS
    stateful = True

    @classmethod
    def validate(cls, node):
        super().validate(node)
        charge = node.attrs["charge"]
        for key in CHARGE_PARAMS[charge]:
            if key not in node.params:
                raise GraphError(node.name, f"Neuron with charge '{charge}' needs parameter '{key}'")
        if node.attrs["reset"] == "hard" and "v_reset" not in node.params:
            raise GraphError(node.name, "Neuron with hard reset needs parameter 'v_reset'")
        if node.attrs["reset_timing"] != "immediate" and charge not in ("beta", "cuba"):
            raise GraphError(node.name, f"{node.attrs['reset_timing']} reset is defined for the 'beta' "
                                        "and 'cuba' charges only")
        adaptive = node.attrs["threshold"] == "adaptive"
        if adaptive:
            for key in ADAPT_PARAMS:
                if key not in node.params:
                    raise GraphError(node.name, f"Neuron with an adaptive threshold needs parameter '{key}'")
            if node.attrs["reset_timing"] != "immediate":
                raise GraphError(node.name, "an adaptive threshold takes the immediate reset timing only, got "
                                            f"'{node.attrs['reset_timing']}'")
        used = CHARGE_PARAMS[charge] + (ADAPT_PARAMS if adaptive else ())
        for key, decay in DECAYS.items():  # each a fraction of the state kept or lost per step
            if key in node.params and key in used:
                param = np.asarray(node.params[key], np.float64)
                with np.errstate(divide="ignore"):
                    outside = (decay(param) < 0) | (decay(param) > 1)
                if np.any(outside):
                    bad = param[outside].reshape(-1)[0]
                    raise GraphError(node.name, f"parameter '{key}' = {bad:g} gives a decay outside [0, 1] "
                                                f"({DECAY_RULES[key]}); the neuron would not leak but overshoot")
        if node.attrs["window_size"] < 0:
            raise GraphError(node.name, "window_size must be >= 0")
        if node.attrs["output"] == "i" and charge != "cuba":
            raise GraphError(node.name, f"output 'i' (the current) needs the 'cuba' charge, got '{charge}'")

    @classmethod
    def infer_shape(cls, node, in_shapes):
        (shape,) = in_shapes
        for key in node.params:
            _broadcastable(node, key, shape)
        return shape


READOUT_RULES = {
    "spike": ("argmax_spike_count", "first_to_threshold", "threshold_then_argmax", "binary_logit"),
    "membrane": ("argmax_membrane", "binary_logit"),
}


class Readout(Op):
    """Fixed-window decision over ``C`` classes (input per-step shape ``(C,)``, output ``(1,)``).

    State, reset with every window: ``count[c]`` (spike mode), ``mem[c]`` (membrane mode), and for the
    threshold rules ``first`` (the class that reached the threshold first, or none). Each step:

    spike mode: ``count[c] += (x[c] != 0)``; then, if no class has been recorded as ``first`` yet, the
    classes with ``count[c] >= class_threshold`` (if any) make ``first`` = the lowest such index.

    - ``argmax_spike_count``: ``argmax_c count[c]`` (ties: the lowest index)
    - ``first_to_threshold``: ``first``, or ``-1`` while no class has reached the threshold
    - ``threshold_then_argmax``: ``first`` once some class reached the threshold, else ``argmax count``
    - ``binary_logit`` (C == 2): ``count[1] - count[0]``

    membrane mode: ``mem[c] = beta * mem[c] + x[c]``;

    - ``argmax_membrane``: ``argmax_c mem[c]`` (ties: the lowest index)
    - ``binary_logit`` (C == 2): ``mem[1] - mem[0]``

    The decision is emitted every step; the one at the window's last step is the window's decision.
    """

    name = "Readout"
    attrs = {
        "output_mode": Attr(str, "spike", ("spike", "membrane")),
        "rule": Attr(str, "argmax_spike_count", READOUT_RULES["spike"] + READOUT_RULES["membrane"][:1]),
        "class_threshold": Attr(int, 1),
        "window_size": Attr(int, 0),
    }
    optional_params = ("beta",)
    stateful = True

    @classmethod
    def validate(cls, node):
        super().validate(node)
        mode, rule = node.attrs["output_mode"], node.attrs["rule"]
        if rule not in READOUT_RULES[mode]:
            raise GraphError(node.name, f"rule '{rule}' is not a {mode}-mode rule; expected one of {READOUT_RULES[mode]}")
        if node.attrs["window_size"] < 0:
            raise GraphError(node.name, "window_size must be >= 0")
        if node.attrs["class_threshold"] < 1:
            raise GraphError(node.name, f"class_threshold must be >= 1, got {node.attrs['class_threshold']}")
        beta = node.params.get("beta")
        if beta is not None and beta.shape != ():
            raise GraphError(node.name, f"Readout beta must be a scalar, got shape {beta.shape}")

    @classmethod
    def infer_shape(cls, node, in_shapes):
        (shape,) = in_shapes
        if len(shape) != 1:
            raise GraphError(node.name, f"Readout expects a per-step input (C,), got {shape}; add a Flatten")
        if node.attrs["rule"] == "binary_logit" and shape[0] != 2:
            raise GraphError(node.name, f"binary_logit needs 2 classes, got {shape[0]}")
        return (1,)


OPS: dict[str, type[Op]] = {op.name: op for op in (
    Input, Output, Linear, Conv2d, AvgPool2d, SumPool2d, MaxPool2d, Flatten, Add, Mul, Scale,
    BatchNorm, Neuron, Readout, Delay)}


def op_def(node_name: str, op: str) -> type[Op]:
    try:
        return OPS[op]
    except KeyError:
        raise GraphError(node_name, f"unknown op '{op}'; known ops: {sorted(OPS)}") from None
