"""Range analysis: given bounds on the input, can any fixed-point value of the graph overflow?

Interval arithmetic over the float semantics of every op (``ops.py`` docstrings), elementwise over
the per-step shape, with parameters in real units (``node.quant["scales"]`` applied):

- Linear / Conv2d: ``lo = W⁺·x_lo + W⁻·x_hi + b``, ``hi = W⁺·x_hi + W⁻·x_lo + b`` (``W⁺ = max(W, 0)``,
  ``W⁻ = min(W, 0)``); pools and Flatten are monotone (applied to both ends); Scale and BatchNorm
  are affine with a per-element sign; Add adds the ends.
- Neuron: the charge is affine in ``(V, I, X)``, so the state interval is iterated step by step from
  the initial state for the window (``window_size``; without a window until it stops changing or
  ``horizon`` steps). The reset takes the hull of the two branches: no spike (``H`` below the
  threshold) and spike (``v_reset``, ``H - v_threshold`` or ``H``); for the snnTorch timings
  (``delayed``, ``compensated``) the hull is also taken over the reset signal ``R ∈ {0, 1}`` inside
  the charge and, for ``compensated``, over every ``(S, R)`` in the stored value. The potential's interval covers
  ``H`` before and ``V`` after the reset. The output is within ``[0, 1]`` (``[0, 0]`` where the
  threshold can never be reached).
- Readout: spike counts are within ``[0, steps]``; the membrane ``mem = beta·mem + x`` is iterated
  like a neuron.

Every tensor class with a fixed-point format (``node.quant["formats"]``, or the ``formats`` argument
for nodes that have none; see ``snnc.ir.quantize``) is checked: ``accum``/``result`` against the
node's output interval, ``v``/``i`` against a neuron's potential/current, ``mem`` against a
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


def _neuron(node, x: Interval, p: dict, steps: int, converge: bool, chk: _Checker, report: RangeReport):
    a = node.attrs
    shape = x[0].shape
    full = lambda v: np.broadcast_to(np.asarray(v, dtype=np.float64), shape).astype(np.float64)  # noqa: E731
    th = full(p["v_threshold"])
    v0 = p.get("v_init", p.get("v_reset") if a["reset"] == "hard" else None)
    v = (full(0.0 if v0 is None else v0),) * 2
    i = (full(p.get("i_init", 0.0)),) * 2
    v_hull, i_hull = v, i
    fired = np.zeros(shape, dtype=bool)  # can S' be 1 (delayed reset)?
    charge, leak = a["charge"], full(p.get("v_leak", 0.0))
    ge = a["compare"] == "ge"
    settled = False
    for t in range(steps):
        v_prev, i_prev = v, i
        if charge == "cuba":
            i = _add(_affine(i, full(p["alpha"])), x)
            h = _add(_affine(v, full(p["beta"])), i)
        elif charge == "if":
            h = _add(v, x)
        elif charge in ("lif", "plif"):
            k = 1.0 / full(p["tau"]) if charge == "lif" else full(p["k"])
            xin = _affine(x, k) if a["decay_input"] else x
            h = _add(_affine(v, 1.0 - k), xin)
            h = (h[0] + leak * k, h[1] + leak * k)
        else:  # beta
            h = _add(_affine(v, full(p["beta"])), x)
        timing, mode = a["reset_timing"], a["reset"]
        if timing != "immediate" and mode != "none":
            # the reset signal R inside the charge: the previous spike (delayed) or [V cmp th] of the
            # stored V (compensated); R = 0 is always kept as possible
            r_can = fired if timing == "delayed" else (v[1] >= th if ge else v[1] > th)
            if mode == "subtract":
                alt = (h[0] - th, h[1] - th)
            elif charge == "cuba":
                alt = (np.zeros(shape), np.zeros(shape))  # H = M - M·R
            else:
                alt = x  # H = beta·V·(1 - R) + X
            h = _masked_hull(h, alt, r_can)
        can_fire = h[1] >= th if ge else h[1] > th
        can_rest = h[0] < th if ge else h[0] <= th
        fired = fired | can_fire
        rest = _masked((h[0], np.minimum(h[1], th)), can_rest)
        spike = _masked((np.maximum(h[0], th), h[1]), can_fire)
        if timing == "delayed" or mode == "none":
            v_new = h
        elif timing == "immediate":
            after = (full(p["v_reset"]),) * 2 if mode == "hard" else (spike[0] - th, spike[1] - th)
            v_new = _hull(rest, _masked(after, can_fire))
        else:  # compensated: V = H - (S - R)·th (subtract) or H·(1 - S + R) (hard), over every S, R
            r_can = v[1] >= th if ge else v[1] > th
            v_new = _empty(shape)
            branches = ((0, (h[0], np.minimum(h[1], th)), can_rest), (1, (np.maximum(h[0], th), h[1]), can_fire))
            for s_val, hs, s_can in branches:
                for r_val in (0, 1):
                    if mode == "subtract":
                        iv = (hs[0] - (s_val - r_val) * th, hs[1] - (s_val - r_val) * th)
                    else:
                        iv = _affine(hs, float(1 - s_val + r_val))
                    v_new = _hull(v_new, _masked(iv, s_can & r_can if r_val else s_can))
        v_hull = _hull(v_hull, _hull(h, v_new))
        i_hull = _hull(i_hull, i)
        chk.check("v", v_hull, t)
        if charge == "cuba":
            chk.check("i", i_hull, t)
        v = v_new
        if converge and _close(v, v_prev) and _close(i, i_prev):
            settled = True
            break
    if converge and not settled:
        report.unbounded.append((node.name, "v"))
    chk.done("v", v_hull)
    states = {"v": v_hull}
    if charge == "cuba":
        chk.done("i", i_hull)
        states["i"] = i_hull
    can = v_hull[1] >= th if ge else v_hull[1] > th
    return (np.zeros(shape), can.astype(np.float64)), states


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
