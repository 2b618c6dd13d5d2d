"""Quantization of a float graph for the ``hls`` profile: every parameter onto its format's grid,
every node's formats recorded in ``node.quant`` (``ir/numerics/hls.py`` states what is stored where)."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import UnsupportedError
from ..ops import emits_spikes
from ..neuron import state_variables
from ..quantize import Fixed, calibrate, set_format
from .hls_arithmetic import from_float, to_float
from .hls_config import DECISION, SPIKE, Config, accum_format, make_format


def _on_grid(values, fmt: Fixed) -> np.ndarray:
    return to_float(from_float(torch.as_tensor(np.asarray(values, dtype=np.float64)), fmt), fmt.frac_bits).numpy()


# --- quantization --------------------------------------------------------------------------------------
PARAM_CLASS = {"weight": "weight", "bias": "bias", "scale": "weight", "v_threshold": "threshold",
               "v_reset": "v", "v_leak": "v", "v_init": "v", "i_init": "i", "k": "decay", "beta": "decay",
               "alpha": "decay", "adapt_decay": "decay", "adapt_scale": "threshold"}
SUPPORTED = ("Input", "Output", "Linear", "Conv2d", "AvgPool2d", "SumPool2d", "MaxPool2d", "Flatten",
             "Add", "Mul", "Scale", "Neuron", "Readout", "Delay")


def quantize(graph, calibration=None, config: dict | None = None):
    """Turn a float graph into the ``hls`` representation; returns ``(graph, report)``.

    Parameters are replaced by float64 arrays of values exactly on their formats' grids (``lif`` becomes
    ``plif`` with ``k = 1/tau`` quantized); every node gets ``quant["formats"]`` (and ``reuse_factor``
    for Linear/Conv2d, ``recip`` for AvgPool2d). The report lists per node and parameter the maximum
    absolute rounding error and how many values the overflow mode changed."""
    cfg = Config(config)
    graph = graph.copy().verify()
    cfg.check_layers(graph)
    for node in graph.nodes:
        if node.op not in SUPPORTED:
            raise UnsupportedError(node.name, f"op {node.op} is not supported by the hls profile "
                                              f"(supported: {', '.join(SUPPORTED)}); fold BatchNorm first",
                                   target="hls")
    needs_cal = any(cfg.spec(n.name, c).get("int") == "auto" for n in graph.nodes
                    for c in ("result", "v", "i", "b", "mem", "input"))
    cal = calibrate(graph, calibration, numerics="float64") if calibration is not None and needs_cal else None

    def observed(node, cls):
        if cal is None:
            return None
        return cal.values.get(node.name, {}).get(cls, np.zeros(1))

    report: dict[str, dict] = {}
    out_fmt: dict[str, Fixed] = {}
    for node in graph.nodes:
        in_fmts = [_delay_format(graph, node, out_fmt) if node.op == "Delay" else out_fmt[s] for s in node.inputs]
        node.quant = {"inputs": [f.to_dict() for f in in_fmts]}
        rep = report.setdefault(node.name, {})
        op = node.op

        def param(key, cls=None, fmt=None):
            cls = cls or PARAM_CLASS[key]
            value = np.asarray(node.params[key], dtype=np.float64)
            if fmt is None:
                fmt = make_format(node.name, cls, cfg.spec(node.name, cls), value)
                set_format(node, cls, fmt)
            q = _on_grid(value, fmt)
            node.params[key] = q
            rep[key] = {"format": str(fmt), "max_abs_error": float(np.max(np.abs(q - value))) if value.size else 0.0,
                        "out_of_range": fmt.out_of_range(value)}
            return fmt

        def result(cls="result"):
            fmt = make_format(node.name, cls, cfg.spec(node.name, cls), observed(node, "result"))
            set_format(node, "result", fmt)
            return fmt

        if op == "Input":
            spec = cfg.spec(node.name, "input")
            fmt = make_format(node.name, "input", spec, None if cal is None else cal.values[node.name]["result"])
            set_format(node, "result", fmt)
        elif op in ("Output", "Flatten"):
            set_format(node, "result", in_fmts[0])
        elif op in ("Linear", "Conv2d"):
            wf = param("weight")
            bf = param("bias") if "bias" in node.params else None
            w = node.params["weight"]
            terms = w.shape[1] if op == "Linear" else int(np.prod(w.shape[1:]))
            set_format(node, "accum", accum_format(node.name, in_fmts[0], wf, bf, terms))
            result()
            node.quant["reuse_factor"] = cfg.reuse(node.name)
        elif op in ("AvgPool2d", "SumPool2d"):
            from ..ops import Pool2d
            k, _, _ = Pool2d.geometry(node)
            set_format(node, "accum", accum_format(node.name, in_fmts[0], None, None, k[0] * k[1]))
            if op == "AvgPool2d":
                recip = 1.0 / (k[0] * k[1])
                spec = cfg.spec(node.name, "weight")
                rf = make_format(node.name, "weight", spec, np.array([recip]))
                set_format(node, "weight", rf)
                node.quant["recip"] = float(_on_grid(np.array([recip]), rf)[0])
                rep["recip"] = {"format": str(rf), "max_abs_error": abs(node.quant["recip"] - recip)}
            result()
        elif op == "Delay":
            set_format(node, "result", in_fmts[0])
        elif op in ("MaxPool2d", "Add", "Mul"):
            result()
        elif op == "Scale":
            param("scale")
            result()
        elif op == "Neuron":
            _quantize_neuron(node, cfg, param, observed)
            output = node.attrs.get("output", "spikes")  # spikes, or the state the node outputs
            set_format(node, "result", SPIKE if output == "spikes" else Fixed.from_dict(node.quant["formats"][output]))
        elif op == "Readout":
            if node.attrs["output_mode"] == "membrane":
                if "beta" not in node.params:
                    node.params["beta"] = np.array(1.0)
                param("beta")
                mf = make_format(node.name, "mem", cfg.spec(node.name, "mem"), observed(node, "mem"))
                set_format(node, "mem", mf)
                if node.attrs["rule"] == "binary_logit":
                    set_format(node, "result", Fixed(mf.width + 1, mf.int_bits + 1, True, "trn", "wrap"))
                else:
                    set_format(node, "result", DECISION)
            else:
                node.params.pop("beta", None)
                set_format(node, "result", DECISION)
        out_fmt[node.name] = Fixed.from_dict(node.quant["formats"]["result"])
        if out_fmt[node.name].width > 53:
            raise UnsupportedError(node.name, "the output format needs more than 53 bits", target="hls")
        if not rep:
            report.pop(node.name)
    for node in graph.nodes:  # a Delay stores its input's codes unchanged: the formats must agree
        if node.op == "Delay" and out_fmt[node.inputs[0]] != out_fmt[node.name]:
            raise UnsupportedError(node.name, f"its input '{node.inputs[0]}' (a later node) has the format "
                                              f"{out_fmt[node.inputs[0]]}, not {out_fmt[node.name]}", target="hls")
    graph.metadata["numerics"] = "hls"
    graph.verify()
    return graph, report


def _delay_format(graph, node, out_fmt: dict) -> Fixed:
    """The format a Delay stores: its input's; for an input that comes later (a recurrent cycle), known
    beforehand only for spikes."""
    src = node.inputs[0]
    if src in out_fmt:
        return out_fmt[src]
    if emits_spikes(graph[src]):
        return SPIKE
    raise UnsupportedError(node.name, f"a recurrent Delay of '{src}', which is not a neuron's spikes: its "
                                      "format is not known before that node is quantized", target="hls")


def _quantize_neuron(node, cfg: Config, param, observed) -> None:
    a = node.attrs
    if a["charge"] == "lif":  # k = 1/tau in the decay format: the plif charge
        tau = np.asarray(node.params.pop("tau"), dtype=np.float64)
        node.params["k"] = 1.0 / tau
        node.attrs["charge"] = "plif"
        node.quant["charge_from"] = "lif"
    vf = make_format(node.name, "v", cfg.spec(node.name, "v"), observed(node, "v"))
    set_format(node, "v", vf)
    for cls in state_variables(a)[1:]:  # i (cuba), b (adaptive threshold)
        set_format(node, cls, make_format(node.name, cls, cfg.spec(node.name, cls), observed(node, cls)))
    threshold_keys = [k for k in ("v_threshold", "adapt_scale") if k in node.params]
    values = np.concatenate([np.asarray(node.params[k], dtype=np.float64).ravel() for k in threshold_keys])
    tf = make_format(node.name, "threshold", cfg.spec(node.name, "threshold"), values)
    set_format(node, "threshold", tf)  # one threshold format for the threshold and the adaptation's scale
    for key in threshold_keys:
        param(key, fmt=tf)
    decay_keys = [k for k in ("k", "beta", "alpha", "adapt_decay") if k in node.params]
    if decay_keys:  # one decay format for the node, chosen over all its decay parameters
        values = np.concatenate([np.asarray(node.params[k], dtype=np.float64).ravel() for k in decay_keys])
        df = make_format(node.name, "decay", cfg.spec(node.name, "decay"), values)
        set_format(node, "decay", df)
        for key in decay_keys:
            param(key, fmt=df)
    for key in ("v_reset", "v_leak", "v_init"):
        if key in node.params:
            param(key, fmt=vf)
    if "i_init" in node.params:
        param("i_init", fmt=Fixed.from_dict(node.quant["formats"]["i"]))


