"""Post-training quantization to a numerics profile, with a per-layer report.

``quantize(graph, profile, calibration=None, config=None)`` delegates the conversion to
``get_profile(profile).quantize(graph, calibration, config)`` (each profile owns its representation,
see ``Profile.quantize``) and then measures what the conversion did, layer by layer, from the
``node.quant`` annotations (the convention in ``snnc.ir.quantize``):

- ``formats``: the fixed-point format chosen for each tensor class of the layer;
- ``param_error``: the largest ``|quantized - float|`` of each parameter, in real units;
- ``clipped``: for each parameter, how many float values fell outside its format's range; for each
  value class (``accum``/``result``/``v``/``i``/``mem``) with a format, how many values the float
  interpreter produced on the calibration set outside the range (``clipped_total`` gives the count
  they were taken from);
- ``error_bound``: for Linear/Conv2d, a bound on the per-step error of the layer's output for the
  same input, ``max_o Σ_j |ΔW[o,j]|·max|x| + |Δb[o]|`` from its parameter rounding (``max|x|`` the
  largest input magnitude seen on the calibration set; 1 for spike inputs without calibration), plus
  one rounding step (half a step for round-to-nearest) for each of its ``accum``/``result`` formats;
  values beyond a format's range are not covered (they are counted in ``clipped``).

``calibration`` is a ``[T, N, *input_shape]`` array or tensor (or a list of them), or an
``snnc.ir.quantize.Calibration`` already computed; the profile receives the same object.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from snnc.ir import Graph
from snnc.ir.numerics import get_profile
from snnc.ir.quantize import Calibration, Fixed, calibrate, real_params

VALUE_CLASSES = ("accum", "result", "v", "i", "mem")
PARAM_CLASS = {"weight": "weight", "bias": "bias", "v_threshold": "threshold", "alpha": "decay", "beta": "decay",
               "k": "decay"}


@dataclass
class LayerReport:
    node: str
    op: str
    formats: dict[str, str] = field(default_factory=dict)
    scales: dict[str, float] = field(default_factory=dict)  # node.quant["scales"] (stored mantissa → real)
    param_error: dict[str, float] = field(default_factory=dict)
    clipped: dict[str, int] = field(default_factory=dict)
    clipped_total: dict[str, int] = field(default_factory=dict)
    error_bound: float | None = None
    input_absmax: float | None = None
    details: dict = field(default_factory=dict)  # the profile's own report for this layer, if any

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class QuantReport:
    profile: str
    layers: list[LayerReport]
    profile_report: dict = field(default_factory=dict)

    def __getitem__(self, node: str) -> LayerReport:
        for layer in self.layers:
            if layer.node == node:
                return layer
        raise KeyError(node)

    def to_dict(self) -> dict:
        return {"profile": self.profile, "layers": [layer.to_dict() for layer in self.layers],
                "profile_report": _plain(self.profile_report)}

    def table(self) -> str:
        rows = [f"{'node':<16} {'op':<10} {'max |Δparam|':>13} {'clipped':>8} {'error bound':>12}  formats"]
        for r in self.layers:
            err = max(r.param_error.values(), default=0.0)
            bound = "" if r.error_bound is None else f"{r.error_bound:.4g}"
            fmts = ", ".join(f"{k}={v}" for k, v in r.formats.items())
            rows.append(f"{r.node:<16} {r.op:<10} {err:>13.4g} {sum(r.clipped.values()):>8} {bound:>12}  {fmts}")
        return "\n".join(rows)


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def quantize(graph: Graph, profile, calibration=None, config: dict | None = None):
    """Returns ``(quantized graph, QuantReport)``; ``graph`` itself is not changed."""
    prof = get_profile(profile)
    graph = graph.copy().verify()
    stats = None
    if calibration is not None:
        stats = calibration if isinstance(calibration, Calibration) else calibrate(graph, calibration)
    qgraph, profile_report = prof.quantize(graph, calibration, config)
    qgraph.verify()
    layers = []
    for qnode in qgraph.nodes:
        if qnode.name not in graph or not (qnode.params or qnode.quant):
            continue
        layers.append(_layer_report(graph, qgraph, graph[qnode.name], qnode, stats, _profile_layers(profile_report)))
    return qgraph, QuantReport(prof.name, layers, profile_report if isinstance(profile_report, dict) else
                               {"report": profile_report})


def _profile_layers(profile_report) -> dict:
    layers = profile_report.get("layers") if isinstance(profile_report, dict) else None
    return layers if isinstance(layers, dict) else {}


def _layer_report(graph: Graph, qgraph: Graph, fnode, qnode, stats: Calibration | None, profile_layers: dict | None) -> LayerReport:
    report = LayerReport(qnode.name, qnode.op)
    formats = {k: Fixed.from_dict(v) for k, v in (qnode.quant.get("formats") or {}).items()}
    report.formats = {k: str(v) for k, v in formats.items()}
    report.scales = {k: float(v) for k, v in (qnode.quant.get("scales") or {}).items()}
    details = (profile_layers or {}).get(qnode.name)
    if isinstance(details, dict):
        report.details = _plain(details)
    fparams = real_params(fnode)
    qparams = real_params(qnode)
    deltas = {}
    # parameters are comparable with the float ones only in the documented convention: stored in real
    # units on a format's grid, or as mantissas with node.quant["scales"]
    comparable = bool(qnode.quant.get("formats") or qnode.quant.get("scales"))
    for key, fval in (fparams.items() if comparable else ()):
        qval = qparams.get(key)
        if qval is None or qval.shape != fval.shape:
            continue
        deltas[key] = np.abs(qval - fval)
        report.param_error[key] = float(deltas[key].max()) if deltas[key].size else 0.0
        fmt = formats.get(PARAM_CLASS.get(key, ""))
        if fmt is not None:
            report.clipped[key] = fmt.out_of_range(fval)
            report.clipped_total[key] = int(fval.size)
    if stats is not None:
        for cls_ in VALUE_CLASSES:
            fmt = formats.get(cls_)
            if fmt is not None:
                src = "result" if cls_ == "accum" else cls_
                report.clipped[cls_], report.clipped_total[cls_] = stats.out_of_range(qnode.name, src, fmt)
    if qnode.op in ("Linear", "Conv2d") and "weight" not in deltas and "max_weight_error" in report.details:
        # the profile reports only the largest weight error: bound each output by fan-in of them
        w = qnode.params["weight"]
        deltas["weight"] = np.full(w.shape, float(report.details["max_weight_error"]))
    if qnode.op in ("Linear", "Conv2d") and "weight" in deltas and fnode.inputs and fnode.inputs[0] in graph:
        src = fnode.inputs[0]
        if stats is not None:
            xmax = stats.stats(src).absmax
        else:
            xmax = 1.0
        report.input_absmax = xmax
        dw = deltas["weight"]
        db = deltas.get("bias", np.zeros(dw.shape[0]))
        if qnode.op == "Linear":
            per_out = dw.sum(axis=1) * xmax + db
        else:
            a = qnode.attrs
            shape = (1,) + qgraph[qnode.inputs[0]].shape
            ones = torch.full(shape, xmax, dtype=torch.float64)
            per_out = F.conv2d(ones, torch.as_tensor(dw), torch.as_tensor(db), a["stride"], a["padding"],
                               a["dilation"], a["groups"]).numpy()
        # plus one rounding of each stored value class the layer writes (saturation is reported apart)
        stores = sum(_rounding_error(formats[c]) for c in ("accum", "result") if c in formats)
        report.error_bound = (float(np.max(per_out)) if per_out.size else 0.0) + stores
    return report


def _rounding_error(fmt: Fixed) -> float:
    """The largest error of one store into ``fmt`` (in range): a step for truncation, half a step
    for the round-to-nearest modes."""
    return fmt.step if fmt.rounding in ("trn", "trn_zero") else fmt.step / 2


__all__ = ["quantize", "QuantReport", "LayerReport"]
