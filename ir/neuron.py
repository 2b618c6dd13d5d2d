"""The ``Neuron`` op's step, written once: charge, fire and reset over an arithmetic.

:func:`step` is the one implementation of the equations in :class:`snnc.ir.ops.Neuron`'s docstring.
It calls only the operations of an :class:`Arithmetic`, which each backend supplies: tensors in the
value dtype (the float interpreter, the float16 profile: :class:`TensorArithmetic`), ``snnc.nn``'s
autograd form (surrogate spikes), exact fixed point (``ir.numerics.hls``), intervals
(``snnc.passes.range_analysis``), the ONNX and C++ emitters (``targets.onnx.lower``,
``targets.hls.lower``). The order of operations, the points where a profile
rounds into its state format (:meth:`Arithmetic.store`) and the resets as selects are therefore the
same for every backend by construction.

The written forms, per step with input ``X``, threshold ``th`` and ``fire(h) = h >= th`` (or ``>``)::

    threshold  fixed      th = v_threshold
               adaptive   th = v_threshold + adapt_scale*B

    charge   cuba       I = store(I*alpha + X, "i");  M = V*beta + I
             if         M = V + X
             lif        M = V + (X - D) / tau          or  (V - D / tau) + X      D = V - v_leak (V if absent)
             plif       M = V + (X - D) * k            or  (V - D * k) + X
             beta       M = beta*V + X
    R inside the charge (delayed: R = the previous S; compensated: R = fire(V)), unless reset "none":
             subtract   H = store(M - R*th, "v")
             hard       H = R ? 0 : store(M, "v")          (cuba)
                        H = R ? store(X, "v") : store(M, "v")   (beta: H = beta*V*(1 - R) + X)
    otherwise           H = store(M, "v")
    fire     S = fire(H)
    reset    immediate  hard: V = S ? v_reset : H;  subtract: V = store(H - th*S, "v");  none: V = H
             delayed (or none)   V = H
             compensated         subtract: V = store(H - (S - R)*th, "v")
                                 hard: V = S ? (R ? H : 0) : (R ? store(H + H, "v") : H)
    adapt    adaptive   B = store(B*adapt_decay + S, "b")

A select gives the same value as the arithmetic form ``H·(1-S) + v_reset·S`` for finite ``H`` and keeps
an overflowed (infinite) potential resettable instead of turning it into NaN.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch


class Arithmetic(ABC):
    """The operations :func:`step` is written in. Values are the backend's own (tensors, fixed-point
    numbers, expression names); conditions come from :meth:`compare` and only feed :meth:`select`,
    :meth:`spike` and :meth:`output`."""

    @abstractmethod
    def has(self, key: str) -> bool:
        """Whether the node has parameter ``key``."""

    @abstractmethod
    def param(self, key: str):
        """The parameter ``key`` as a value."""

    @abstractmethod
    def add(self, a, b): ...

    @abstractmethod
    def sub(self, a, b): ...

    @abstractmethod
    def mul(self, a, b): ...

    @abstractmethod
    def div(self, a, b): ...

    @abstractmethod
    def compare(self, op: str, a, b):
        """The condition ``a >= b`` (``op="ge"``) or ``a > b`` (``"gt"``)."""

    @abstractmethod
    def select(self, cond, a, b):
        """``a`` where ``cond`` else ``b``."""

    @abstractmethod
    def spike(self, cond):
        """``cond`` as the value 1 or 0, for arithmetic inside the step."""

    def output(self, cond):
        """``cond`` as the op's output spike (by default the same 0/1 value as :meth:`spike`)."""
        return self.spike(cond)

    def state_output(self, value, tensor_class: str):
        """The state ``value`` (of ``tensor_class``) as the op's output (by default the value itself)."""
        return value

    @abstractmethod
    def store(self, value, tensor_class: str):
        """``value`` rounded into the format of the state ``tensor_class`` (``"v"``, ``"i"`` or ``"b"``); where a
        profile rounds and saturates (a no-op where every operation already rounds)."""

    @abstractmethod
    def zero(self, tensor_class: str):
        """0 in the format of ``tensor_class``."""


def initial_keys(attrs: dict, has) -> dict:
    """The parameter each state starts from (None: 0): ``V = v_init``, else ``v_reset`` for a hard
    reset, else 0; for ``cuba`` also ``I = i_init`` or 0; for an adaptive threshold ``B = 0``.
    ``has(key)`` tells whether a parameter exists. The keys are the node's state variables, the
    names :func:`step` reads and writes (besides the spike ``s`` and the potential ``h``)."""
    keys = {"v": "v_init" if has("v_init") else "v_reset" if attrs["reset"] == "hard" else None}
    if attrs["charge"] == "cuba":
        keys["i"] = "i_init" if has("i_init") else None
    if attrs.get("threshold", "fixed") == "adaptive":
        keys["b"] = None
    return keys


def state_variables(attrs: dict) -> tuple[str, ...]:
    """The state a node of ``attrs`` carries from step to step (``v``; ``i`` for cuba; ``b`` for an
    adaptive threshold), in that order."""
    return tuple(initial_keys(attrs, lambda key: False))


def initial_state(ar: Arithmetic, attrs: dict) -> dict:
    """The state at the start and after a window reset (:func:`initial_keys`), and no previous spike
    ``s``; ``ar.initial(key, var)`` makes the state ``var`` from parameter ``key`` (None: 0, or for
    ``s`` the all-false condition), for the backends that keep their state as values."""
    state = {var: ar.initial(key, var) for var, key in initial_keys(attrs, ar.has).items()}
    state["s"] = ar.initial(None, "s")
    return state


def _charge(ar: Arithmetic, attrs: dict, x, state: dict):
    """``M``: the potential after the charge, before any reset (see the module docstring)."""
    charge, v = attrs["charge"], state["v"]
    if charge == "cuba":
        state["i"] = ar.store(ar.add(ar.mul(state["i"], ar.param("alpha")), x), "i")
        return ar.add(ar.mul(v, ar.param("beta")), state["i"])
    if charge == "if":
        return ar.add(v, x)
    if charge in ("lif", "plif"):
        if charge == "lif":
            tau = ar.param("tau")
            decay = lambda value: ar.div(value, tau)  # noqa: E731
        else:
            k = ar.param("k")
            decay = lambda value: ar.mul(value, k)  # noqa: E731
        d = ar.sub(v, ar.param("v_leak")) if ar.has("v_leak") else v
        if attrs["decay_input"]:
            return ar.add(v, decay(ar.sub(x, d)))
        return ar.add(ar.sub(v, decay(d)), x)
    if charge == "beta":
        return ar.add(ar.mul(ar.param("beta"), v), x)
    raise ValueError(f"unknown charge {charge!r}")


def step(ar: Arithmetic, attrs: dict, x, state: dict):
    """One step of the ``Neuron`` op; updates ``state`` (``v``, ``i``, the spike ``s`` and the un-reset
    potential ``h``) and returns the output: the spike, or the state ``attrs["output"]`` names."""
    reset, timing = attrs["reset"], attrs["reset_timing"]
    adaptive = attrs.get("threshold", "fixed") == "adaptive"
    th = ar.param("v_threshold")
    if adaptive:
        th = ar.add(th, ar.mul(ar.param("adapt_scale"), state["b"]))

    def fire(h):
        return ar.compare(attrs["compare"], h, th)

    r = None
    if timing != "immediate" and reset != "none":
        r = state["s"] if timing == "delayed" else fire(state["v"])
    m = _charge(ar, attrs, x, state)
    if r is None:
        h = ar.store(m, "v")
    elif reset == "subtract":
        h = ar.store(ar.sub(m, ar.mul(ar.spike(r), th)), "v")
    elif attrs["charge"] == "cuba":
        h = ar.select(r, ar.zero("v"), ar.store(m, "v"))
    else:
        h = ar.select(r, ar.store(x, "v"), ar.store(m, "v"))
    s = fire(h)
    state["h"], state["s"] = h, s
    if timing == "immediate":
        if reset == "hard":
            state["v"] = ar.select(s, ar.param("v_reset"), h)
        elif reset == "subtract":
            state["v"] = ar.store(ar.sub(h, ar.mul(th, ar.spike(s))), "v")
        else:
            state["v"] = h
    elif r is None or timing == "delayed":
        state["v"] = h
    elif reset == "subtract":
        state["v"] = ar.store(ar.sub(h, ar.mul(ar.sub(ar.spike(s), ar.spike(r)), th)), "v")
    else:
        state["v"] = ar.select(s, ar.select(r, h, ar.zero("v")),
                               ar.select(r, ar.store(ar.add(h, h), "v"), h))
    if adaptive:
        state["b"] = ar.store(ar.add(ar.mul(state["b"], ar.param("adapt_decay")), ar.spike(s)), "b")
    output = attrs.get("output", "spikes")
    return ar.output(s) if output == "spikes" else ar.state_output(state[output], output)


class OperatorArithmetic(Arithmetic):
    """Values that combine with Python's operators (tensors, fixed-point numbers); ``params`` maps the
    node's parameter names to values."""

    def __init__(self, params: dict):
        self.params = params

    def has(self, key):
        return key in self.params

    def param(self, key):
        return self.params[key]

    def add(self, a, b):
        return a + b

    def sub(self, a, b):
        return a - b

    def mul(self, a, b):
        return a * b

    def div(self, a, b):
        return a / b


class TensorArithmetic(OperatorArithmetic):
    """Tensors in one value dtype (float32/float64 for the interpreter, float16 for the lynxi profile):
    every operation rounds to that dtype, so :meth:`store` is the identity. ``params`` maps names to
    Python floats or tensors in the value dtype; ``like`` gives the state's shape and dtype."""

    def __init__(self, params: dict, like: torch.Tensor):
        super().__init__(params)
        self.like = like

    def compare(self, op, a, b):
        return a >= b if op == "ge" else a > b

    def select(self, cond, a, b):
        return torch.where(cond, a, b)

    def spike(self, cond):
        return cond.to(self.like.dtype)

    def store(self, value, tensor_class):
        return value

    def zero(self, tensor_class):
        return torch.zeros_like(self.like)

    def initial(self, key, var):
        if var == "s":
            return torch.zeros_like(self.like, dtype=torch.bool)
        zeros = torch.zeros_like(self.like)
        return zeros if key is None else zeros + self.params[key]


__all__ = ["Arithmetic", "OperatorArithmetic", "TensorArithmetic", "initial_keys", "initial_state", "state_variables",
           "step"]
