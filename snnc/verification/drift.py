"""Drift: the float model against the quantized reference (decisions and spike rates)."""

from __future__ import annotations

import torch

from ..ir import Graph
from ..ir.interpreter import window_of
from ..ir.ops import emits_spikes
from .report import Drift


def _decision_steps(T: int, window: int) -> list[int]:
    if window and window > 0:
        ends = [t for t in range(T) if (t + 1) % window == 0]
        return ends or [T - 1]
    return [T - 1]


def _decisions(graph: Graph, out_node, values: torch.Tensor, window: int) -> torch.Tensor:
    """Decisions ``[windows, N]`` from one output's values ``[T, N, *shape]``."""
    src = graph[out_node.inputs[0]] if out_node.inputs else None
    steps = _decision_steps(values.shape[0], window)
    if src is not None and src.op == "Readout":
        v = values[steps, :, 0]
        return (v > 0).to(torch.int64) if src.attrs["rule"] == "binary_logit" else v.round().to(torch.int64)
    flat = values.reshape(values.shape[0], values.shape[1], -1).to(torch.float64)
    out, start = [], 0
    for end in steps:
        out.append(flat[start:end + 1].sum(dim=0).argmax(dim=1))
        start = end + 1
    return torch.stack(out)


def measure_drift(float_graph: Graph, prepared: Graph, float_trace: dict, quant_trace: dict) -> Drift:
    window = window_of(prepared)
    agree, total = 0, 0
    for f_out, q_out in zip(float_graph.outputs, prepared.outputs):
        if f_out.name not in float_trace or q_out.name not in quant_trace:
            continue
        df = _decisions(float_graph, f_out, float_trace[f_out.name], window_of(float_graph))
        dq = _decisions(prepared, q_out, quant_trace[q_out.name], window)
        if df.shape != dq.shape:
            continue
        agree += int((df == dq).sum())
        total += df.numel()
    err, rf, rq = {}, {}, {}
    for node in prepared.nodes:
        if not emits_spikes(node) or node.name not in float_trace or node.name not in quant_trace:
            continue
        f, q = float_trace[node.name].to(torch.float64), quant_trace[node.name].to(torch.float64)
        if f.shape != q.shape:
            continue
        rate_f = (f != 0).to(torch.float64).mean(dim=(0, 1))
        rate_q = (q != 0).to(torch.float64).mean(dim=(0, 1))
        err[node.name] = float((rate_f - rate_q).abs().mean())
        rf[node.name] = float(rate_f.mean())
        rq[node.name] = float(rate_q.mean())
    return Drift(agree / total if total else None, total, err, rf, rq)


