"""Range analysis: given bounds on the input, can any fixed-point value of the graph overflow?

Interval arithmetic over the float semantics of every op (``ops.py`` docstrings), elementwise over
the per-step shape, with parameters in real units (``node.quant["scales"]`` applied):

- Linear / Conv2d: ``lo = W⁺·x_lo + W⁻·x_hi + b``, ``hi = W⁺·x_hi + W⁻·x_lo + b`` (``W⁺ = max(W, 0)``,
  ``W⁻ = min(W, 0)``); pools and Flatten are monotone (applied to both ends); Scale and BatchNorm
  are affine with a per-element sign; Add adds the ends.
- Neuron: the step is the one program every backend runs (``snnc.ir.neuron.step``), evaluated over
  intervals along every path: each comparison (``S``, and ``R`` for the snnTorch timings) takes both
  outcomes where they can happen, and narrows the compared potential to its side of the threshold;
  values are kept linear in the step's inputs ``(V, I, X)`` until they are stored, so the charge is
  bounded as the affine map it is. The state interval is iterated step by step from the initial
  state for the window (``window_size``; without a window until it stops changing or ``horizon``
  steps), as the hull over the paths. The potential's interval covers ``H`` before and ``V`` after
  the reset. The output is within ``[0, 1]`` (``[0, 0]`` where the threshold can never be reached).
- Readout: spike counts are within ``[0, steps]``; the membrane ``mem = beta·mem + x`` is iterated
  like a neuron.

Every tensor class with a fixed-point format (``node.quant["formats"]``, or the ``formats`` argument
for nodes that have none; see ``snnc.ir.quantize``) is checked: ``accum``/``result`` against the
node's output interval, ``v``/``i``/``b`` against a neuron's potential/current/adaptation, ``mem`` against a
readout's accumulator. An :class:`Overflow` names the node, the class, the first element and the
first step at which the bound leaves the format. Input bounds are per step (spike inputs:
``(0, 1)``). The analysis is sound for the real-valued equations; rounding inside a profile's
arithmetic is not modelled, so leave a bit of headroom for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from snnc.ir import Graph, GraphError
from snnc.ir.interpreter import window_of
from snnc.ir.neuron import Arithmetic, initial_keys, step
from snnc.ir.ops import Pool2d
from snnc.ir.quantize import Fixed, format_of, real_params

Interval = tuple[np.ndarray, np.ndarray]


@dataclass
class Overflow:
    node: str
    tensor_class: str
    index: tuple[int, ...]  # first offending element of the per-step shape
    step: int | None  # first step at which the bound leaves the format (None: not stateful)
    bound: tuple[float, float]  # the interval of that element (at the end of the analysis)
    limit: tuple[float, float]  # the format's [min, max]
    format: str

    def __str__(self) -> str:
        at = f" at step {self.step}" if self.step is not None else ""
        return (f"node '{self.node}': {self.tensor_class} can reach [{self.bound[0]:g}, {self.bound[1]:g}] at "
                f"index {list(self.index)}{at}, outside {self.format} range [{self.limit[0]:g}, {self.limit[1]:g}]")


@dataclass
class RangeReport:
    """``intervals[node][class] = (lo, hi)`` (per-step shape), overflows found, and the states that
    kept growing for ``horizon`` steps without a window (``unbounded``)."""

    intervals: dict[str, dict[str, Interval]]
    overflows: list[Overflow] = field(default_factory=list)
    unbounded: list[tuple[str, str]] = field(default_factory=list)
    checked: list[tuple[str, str, str]] = field(default_factory=list)  # (node, class, format)

    @property
    def ok(self) -> bool:
        """No overflow found and no state that kept growing (which overflows any format in time)."""
        return not self.overflows and not self.unbounded

    def bound(self, node: str, tensor_class: str = "result") -> tuple[float, float]:
        lo, hi = self.intervals[node][tensor_class]
        return float(np.min(lo)), float(np.max(hi))

    def summary(self) -> str:
        lines = [f"{len(self.checked)} fixed-point value(s) checked, {len(self.overflows)} can overflow"]
        lines += [f"  {o}" for o in self.overflows]
        lines += [f"  node '{n}': {c} grows without bound (no window)" for n, c in self.unbounded]
        return "\n".join(lines)


def _affine(iv: Interval, coef, const=0.0) -> Interval:
    a, b = iv[0] * coef, iv[1] * coef
    return np.minimum(a, b) + const, np.maximum(a, b) + const


def _add(x: Interval, y: Interval) -> Interval:
    return x[0] + y[0], x[1] + y[1]


def _mul(x: Interval, y: Interval) -> Interval:
    """``x · y``: the extremes of a product of intervals lie at their corners."""
    corners = np.stack([x[0] * y[0], x[0] * y[1], x[1] * y[0], x[1] * y[1]])
    return corners.min(0), corners.max(0)


def _hull(x: Interval, y: Interval) -> Interval:
    return np.minimum(x[0], y[0]), np.maximum(x[1], y[1])


def _empty(shape) -> Interval:
    return np.full(shape, np.inf), np.full(shape, -np.inf)


def _masked(iv: Interval, mask: np.ndarray) -> Interval:
    """``iv`` where ``mask``, else the empty interval (a branch that cannot happen there)."""
    return np.where(mask, iv[0], np.inf), np.where(mask, iv[1], -np.inf)


def _masked_hull(x: Interval, y: Interval, mask: np.ndarray) -> Interval:
    """The hull of ``x`` and, where ``mask``, ``y``."""
    return _hull(x, _masked(y, mask))


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64).unsqueeze(0)


def _n(t: torch.Tensor) -> np.ndarray:
    return t.squeeze(0).numpy()


def _linear_like(node, iv: Interval, p: dict) -> Interval:
    w = p["weight"]
    wp, wn = np.maximum(w, 0.0), np.minimum(w, 0.0)
    if node.op == "Linear":
        lo, hi = wp @ iv[0] + wn @ iv[1], wp @ iv[1] + wn @ iv[0]
        b = p.get("bias")
    else:
        a = node.attrs
        conv = lambda x, k: _n(F.conv2d(_t(x), torch.as_tensor(k), None, a["stride"], a["padding"],  # noqa: E731
                                        a["dilation"], a["groups"]))
        lo, hi = conv(iv[0], wp) + conv(iv[1], wn), conv(iv[1], wp) + conv(iv[0], wn)
        b = p.get("bias")
        if b is not None:
            b = b.reshape(-1, 1, 1)
    if b is not None:
        lo, hi = lo + b, hi + b
    return lo, hi


def _pool(node, iv: Interval) -> Interval:
    k, s, pad = Pool2d.geometry(node)
    if node.op == "MaxPool2d":
        f = lambda x: _n(F.max_pool2d(_t(x), k, s, pad))  # noqa: E731
    else:
        div = 1 if node.op == "SumPool2d" else None
        f = lambda x: _n(F.avg_pool2d(_t(x), k, s, pad, count_include_pad=True, divisor_override=div))  # noqa: E731
    return f(iv[0]), f(iv[1])


class _Checker:
    """Compares intervals with the formats of one node and records the first overflow per class."""

    def __init__(self, report: RangeReport, node, defaults: dict[str, Fixed]):
        self.report, self.node, self.defaults = report, node, defaults
        self.flagged: set[str] = set()

    def fmt(self, tensor_class: str) -> Fixed | None:
        own = format_of(self.node, tensor_class)
        return own if own is not None else self.defaults.get(tensor_class)

    def check(self, tensor_class: str, iv: Interval, step: int | None = None) -> None:
        fmt = self.fmt(tensor_class)
        if fmt is None or tensor_class in self.flagged:
            return
        bad = (iv[0] < fmt.min) | (iv[1] > fmt.max)
        if np.any(bad):
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            self.flagged.add(tensor_class)
            self.report.overflows.append(Overflow(self.node.name, tensor_class, idx, step,
                                                  (float(iv[0][idx]), float(iv[1][idx])), (fmt.min, fmt.max), str(fmt)))

    def done(self, tensor_class: str, iv: Interval) -> None:
        fmt = self.fmt(tensor_class)
        if fmt is not None:
            self.report.checked.append((self.node.name, tensor_class, str(fmt)))
            for o in self.report.overflows:  # keep the final bound of the element first flagged
                if o.node == self.node.name and o.tensor_class == tensor_class:
                    o.bound = (float(iv[0][o.index]), float(iv[1][o.index]))


def _close(a: Interval, b: Interval) -> bool:
    tol = 1e-12 * (1.0 + np.maximum(np.abs(a[0]), np.abs(a[1])))
    return bool(np.all(np.abs(a[0] - b[0]) <= tol) and np.all(np.abs(a[1] - b[1]) <= tol))


class _Linear:
    """A value linear in the step's symbols: ``const + Σ coef_j · symbol_j`` (arrays over the neurons),
    so that ``V`` and ``X`` entering an expression twice (``V + (X - V)·k``) are bounded exactly as
    ``V·(1 - k) + X·k``. ``const`` is None when there is no constant term."""

    __slots__ = ("terms", "const", "symbol")

    def __init__(self, terms: dict, const=None, symbol: int | None = None):
        self.terms, self.const = terms, const
        self.symbol = symbol  # the index, when the value is a symbol itself


def _combine(a, b, sign: float):
    if a is None:
        return None if b is None else sign * b
    return a if b is None else (a + b if sign > 0 else a - b)


class _IntervalArithmetic(Arithmetic):
    """:func:`snnc.ir.neuron.step` over intervals, along one path: every comparison (and the previous
    spike of a delayed reset) takes the outcome the path gives it (the first time: False, and the
    path with True is left to explore); a comparison narrows the compared value on the path's side of
    the threshold; ``feasible`` is where the path can happen. Values are :class:`_Linear` in symbols
    whose bounds :meth:`symbol` registers and :meth:`store` materializes (a stored value starts a new
    symbol; the range analysis bounds the real values, so a store does not round)."""

    def __init__(self, params: dict, shape, path: tuple):
        self.params, self.shape, self.path = params, shape, path
        self.taken: list[bool] = []
        self.feasible = np.ones(shape, dtype=bool)
        self.symbols: list[Interval] = []  # current (narrowed) bounds
        self.created: list[Interval] = []  # bounds when the symbol was made

    def symbol(self, iv: Interval) -> _Linear:
        self.symbols.append(iv)
        self.created.append(iv)
        j = len(self.symbols) - 1
        return _Linear({j: 1.0}, symbol=j)

    def bounds(self, value: _Linear, narrowed: bool = True) -> Interval:
        """``value``'s interval on this path (``narrowed=False``: before any comparison narrowed it)."""
        symbols = self.symbols if narrowed else self.created
        lo = hi = None
        for j, coef in value.terms.items():
            a, b = symbols[j][0] * coef, symbols[j][1] * coef
            lo, hi = _combine(lo, np.minimum(a, b), 1.0), _combine(hi, np.maximum(a, b), 1.0)
        if value.const is not None:
            lo, hi = _combine(lo, value.const, 1.0), _combine(hi, value.const, 1.0)
        return np.broadcast_to(lo, self.shape), np.broadcast_to(hi, self.shape)

    def decide(self, if_true: np.ndarray, if_false: np.ndarray) -> bool:
        """The outcome of the next choice on this path, where ``if_true``/``if_false`` say where each
        outcome can happen."""
        k = len(self.taken)
        outcome = self.path[k] if k < len(self.path) else False
        self.taken.append(outcome)
        self.feasible = self.feasible & (if_true if outcome else if_false)
        return outcome

    def has(self, key):
        return key in self.params

    def param(self, key):
        return _Linear({}, np.broadcast_to(np.asarray(self.params[key], np.float64), self.shape))

    def add(self, a, b):
        terms = dict(a.terms)
        for j, coef in b.terms.items():
            terms[j] = terms[j] + coef if j in terms else coef
        return _Linear(terms, _combine(a.const, b.const, 1.0))

    def sub(self, a, b):
        terms = dict(a.terms)
        for j, coef in b.terms.items():
            terms[j] = terms[j] - coef if j in terms else -coef
        return _Linear(terms, _combine(a.const, b.const, -1.0))

    def _scaled(self, a, b, by):
        if a.terms and b.terms:
            raise AssertionError("the neuron step multiplies only by parameters and spikes")
        value, factor = (a, b.const) if not b.terms else (b, a.const)
        return _Linear({j: by(coef, factor) for j, coef in value.terms.items()},
                       None if value.const is None else by(value.const, factor))

    def mul(self, a, b):
        return self._scaled(a, b, lambda u, f: u * f)

    def div(self, a, b):
        return self._scaled(a, b, lambda u, f: u / f)

    def compare(self, op, a, b):
        """A stored potential (or a constant) against the threshold ``b``: a constant, or an adaptive
        threshold (linear in the adaptation state), against which ``a - b`` is compared with 0 and
        nothing is narrowed."""
        if b.terms:
            lo, hi = self.bounds(self.sub(a, b))
            return self.decide(hi >= 0 if op == "ge" else hi > 0, lo < 0 if op == "ge" else lo <= 0)
        lo, hi = self.bounds(a)
        th = b.const
        outcome = self.decide(hi >= th if op == "ge" else hi > th, lo < th if op == "ge" else lo <= th)
        if a.symbol is not None:  # a stored value: narrow it on this path
            lo, hi = self.symbols[a.symbol]
            self.symbols[a.symbol] = (np.maximum(lo, th), hi) if outcome else (lo, np.minimum(hi, th))
        return outcome

    def _outcome(self, cond) -> bool:
        if isinstance(cond, np.ndarray):  # the previous spike: True where it can have been 1
            return self.decide(cond, np.ones(self.shape, dtype=bool))
        return cond

    def select(self, cond, a, b):
        return a if self._outcome(cond) else b

    def spike(self, cond):
        return _Linear({}, np.full(self.shape, 1.0 if self._outcome(cond) else 0.0))

    def store(self, value, tensor_class):
        return self.symbol(self.bounds(value))

    def zero(self, tensor_class):
        return _Linear({}, np.zeros(self.shape))


def _step_paths(node, x: Interval, p: dict, state: dict[str, Interval], fired: np.ndarray):
    """One step along every path (:class:`_IntervalArithmetic`) from the state intervals ``state``
    (``v``, and ``i``/``b`` where the node has them): the hull of ``H``, the hulls of the new state, and
    where ``S`` can be 1."""
    shape = x[0].shape
    h_all, new = _empty(shape), {var: _empty(shape) for var in state}
    can_fire = np.zeros(shape, dtype=bool)
    pending = [()]
    while pending:
        path = pending.pop()
        ar = _IntervalArithmetic(p, shape, path)
        values = {var: ar.symbol(iv) for var, iv in state.items()}
        values["s"] = fired
        step(ar, node.attrs, ar.symbol(x), values)
        pending += [tuple(ar.taken[:k]) + (True,) for k in range(len(path), len(ar.taken))]
        ok = ar.feasible
        h_all = _masked_hull(h_all, ar.bounds(values["h"], narrowed=False), ok)
        for var in state:
            new[var] = _masked_hull(new[var], ar.bounds(values[var]), ok)
        if values["s"]:
            can_fire |= ok
    return h_all, new, can_fire


def _neuron(node, x: Interval, p: dict, steps: int, converge: bool, chk: _Checker, report: RangeReport):
    """The state's intervals from the initial state, step by step (the potential's covers ``H`` and the
    reset ``V``); the output can be 1 where the potential can reach the lowest threshold, or is the
    hull of the state it outputs."""
    a = node.attrs
    shape = x[0].shape
    full = lambda v: np.broadcast_to(np.asarray(v, dtype=np.float64), shape).astype(np.float64)  # noqa: E731
    keys = initial_keys(a, p.__contains__)
    state = {var: (full(p[key] if key else 0.0),) * 2 for var, key in keys.items()}
    hulls = dict(state)
    fired = np.zeros(shape, dtype=bool)  # can S' be 1 (delayed reset)?
    settled = False
    for t in range(steps):
        previous = state
        h, state, can_fire = _step_paths(node, x, p, state, fired)
        fired = fired | can_fire
        for var, iv in state.items():
            hulls[var] = _hull(hulls[var], _hull(h, iv) if var == "v" else iv)
            chk.check(var, hulls[var], t)
        if converge and all(_close(state[var], previous[var]) for var in state):
            settled = True
            break
    if converge and not settled:
        report.unbounded.append((node.name, "v"))
    for var, hull in hulls.items():
        chk.done(var, hull)
    th = full(p["v_threshold"])
    if "b" in hulls:  # the adaptive threshold's lowest value
        scale = full(p["adapt_scale"])
        th = th + np.minimum(scale * hulls["b"][0], scale * hulls["b"][1])
    v_hull = hulls["v"]
    output = a.get("output", "spikes")
    if output != "spikes":  # a state output: its hull (the potential's covers H as well)
        return hulls[output], hulls
    can = v_hull[1] >= th if a["compare"] == "ge" else v_hull[1] > th
    return (np.zeros(shape), can.astype(np.float64)), hulls


def _readout(node, x: Interval, p: dict, steps: int, converge: bool, chk: _Checker, report: RangeReport):
    c = x[0].shape[0]
    a = node.attrs
    if a["output_mode"] == "membrane":
        beta = float(p.get("beta", 1.0))
        mem = x
        hull = mem
        chk.check("mem", hull, 0)
        settled = False
        for t in range(1, steps):
            new = _add(_affine(mem, beta), x)
            hull = _hull(hull, new)
            chk.check("mem", hull, t)
            if _close(new, mem):
                settled = True
                break
            mem = new
        if converge and not settled:
            report.unbounded.append((node.name, "mem"))
        chk.done("mem", hull)
        if a["rule"] == "binary_logit":
            return (np.array([hull[0][1] - hull[1][0]]), np.array([hull[1][1] - hull[0][0]])), {"mem": hull}
        return (np.zeros(1), np.full(1, c - 1.0)), {"mem": hull}
    if a["rule"] == "binary_logit":
        return (np.full(1, -float(steps)), np.full(1, float(steps))), {}
    low = -1.0 if a["rule"] == "first_to_threshold" else 0.0
    return (np.full(1, low), np.full(1, c - 1.0)), {}


def analyze_ranges(graph: Graph, input_bounds=(0.0, 1.0), steps: int | None = None,
                   formats: dict | None = None, horizon: int = 1024) -> RangeReport:
    """Propagate ``input_bounds = (lo, hi)`` (scalars or arrays broadcastable to the input's per-step
    shape) through ``graph`` and check every fixed-point format. ``steps`` is how many steps a state
    may accumulate (default: the graph's window, else until the intervals settle, at most
    ``horizon``). ``formats`` maps tensor classes to a ``Fixed`` (or its dict) used for nodes without
    their own format for that class; by default the ``formats`` of the profile named by
    ``graph.metadata["numerics"]``."""
    graph = graph.copy().verify()
    if formats is None and graph.metadata.get("numerics"):
        from snnc.ir.numerics import get_profile
        formats = get_profile(graph.metadata["numerics"]).formats
    defaults = {k: v if isinstance(v, Fixed) else Fixed.from_dict(v) for k, v in (formats or {}).items()}
    window = window_of(graph)
    n_steps = steps or window or horizon
    converge = not steps and not window
    report = RangeReport({})
    values: dict[str, Interval] = {}
    for node in graph.nodes:
        chk = _Checker(report, node, defaults)
        p = real_params(node)
        ins = [values[s] for s in node.inputs]
        states: dict[str, Interval] = {}
        if node.op == "Input":
            lo = np.broadcast_to(np.asarray(input_bounds[0], np.float64), node.shape).copy()
            hi = np.broadcast_to(np.asarray(input_bounds[1], np.float64), node.shape).copy()
            if np.any(lo > hi):
                raise GraphError(node.name, f"input bounds must have lo <= hi, got {input_bounds}")
            out = (lo, hi)
        elif node.op in ("Linear", "Conv2d"):
            out = _linear_like(node, ins[0], p)
            chk.check("accum", out)
            chk.done("accum", out)
        elif node.op in ("AvgPool2d", "SumPool2d", "MaxPool2d"):
            out = _pool(node, ins[0])
            chk.check("accum", out)
            chk.done("accum", out)
        elif node.op == "Flatten":
            out = (ins[0][0].reshape(-1), ins[0][1].reshape(-1))
        elif node.op == "Add":
            out = ins[0]
            for iv in ins[1:]:
                out = _add(out, iv)
        elif node.op == "Mul":
            out = _mul(*(_affine(iv, -1.0, 1.0) if flag else iv for iv, flag in zip(ins, node.attrs["complement"])))
        elif node.op == "Scale":
            out = _affine(ins[0], np.broadcast_to(p["scale"], node.shape))
        elif node.op == "BatchNorm":
            g = p["weight"] / np.sqrt(p["var"] + node.attrs["eps"])
            shape = (-1,) + (1,) * (len(node.shape) - 1)
            out = _affine(ins[0], g.reshape(shape), (p["bias"] - p["mean"] * g).reshape(shape))
        elif node.op == "Neuron":
            out, states = _neuron(node, ins[0], p, n_steps, converge, chk, report)
        elif node.op == "Readout":
            out, states = _readout(node, ins[0], p, n_steps, converge, chk, report)
        elif node.op == "Output":
            out = ins[0]
        else:
            raise GraphError(node.name, f"range analysis has no rule for op '{node.op}'")
        out = (np.asarray(out[0], np.float64).reshape(node.shape), np.asarray(out[1], np.float64).reshape(node.shape))
        chk.check("result", out)
        chk.done("result", out)
        values[node.name] = out
        report.intervals[node.name] = {"result": out, **states}
    return report


__all__ = ["analyze_ranges", "RangeReport", "Overflow"]
