"""The Loihi target's structural lowering: a float graph becomes a chain of netx layers, each one
synaptic op (``Linear`` → netx ``dense``, ``Conv2d`` → ``conv``; pooling merged into one of them) and
its ``Neuron`` with Lava's integer CUBA parameters (``snnc.ir.numerics.loihi`` maps the numbers and runs
the arithmetic). FORMAT.md's *Pooling* states which merges are exact."""

from __future__ import annotations

import numpy as np
import torch

from ...ir.errors import GraphError, UnsupportedError
from ...ir.graph import Graph, Node
from ...ir.interpreter import KERNELS
from ...ir.numerics.loihi import (DECAY_UNITY, TARGET, cuba_parameters, layer_scale, quantize_weights,
                                  scalar_param, sign_mode, threshold_mantissa)
from ...ir.ops import Pool2d, pair
from ..accepts import ACCEPTS


def pool_as_conv(node: Node, channels: int) -> tuple[np.ndarray, dict]:
    """A Sum/AvgPool2d as a depthwise conv: weight ``[C, 1, kH, kW]`` of 1 (or ``1/(kH·kW)``)."""
    k, s, p = Pool2d.geometry(node)
    value = 1.0 if node.op == "SumPool2d" else 1.0 / (k[0] * k[1])
    w = np.full((channels, 1, k[0], k[1]), value)
    return w, {"stride": s, "padding": p, "dilation": (1, 1), "groups": channels}


def pool_then_conv(pool: Node, conv: Node, in_shape) -> tuple[np.ndarray, dict] | None:
    """A Sum/AvgPool2d followed by a Conv2d as one conv on the pool's input, or None when that is not
    exact. With pool kernel ``k ≤`` stride ``s`` (windows do not overlap), no pool padding and every
    input row/column either pooled or beyond the last window (``H_pool·s ≥ H``): kernel
    ``K[o, c, u·d·s + du, v·d·s + dv] = W[o, c, u, v]`` (times ``1/(kH·kW)`` for average pooling),
    stride ``s·stride``, padding ``s·padding``, dilation 1, the conv's groups."""
    k, s, p = Pool2d.geometry(pool)
    stride, padding, dilation = (pair(conv.name, key, conv.attrs[key]) for key in ("stride", "padding", "dilation"))
    h_pool = [(in_shape[1 + i] + 2 * p[i] - k[i]) // s[i] + 1 for i in range(2)]
    if any(p) or any(k[i] > s[i] or h_pool[i] * s[i] < in_shape[1 + i] for i in range(2)):
        return None
    w = np.asarray(conv.params["weight"], np.float64)
    o, c, kh, kw = w.shape
    size = [(n - 1) * dilation[i] * s[i] + k[i] for i, n in enumerate((kh, kw))]
    out = np.zeros((o, c, size[0], size[1]))
    factor = 1.0 if pool.op == "SumPool2d" else 1.0 / (k[0] * k[1])
    for u in range(kh):
        for v in range(kw):
            r, q = u * dilation[0] * s[0], v * dilation[1] * s[1]
            out[:, :, r:r + k[0], q:q + k[1]] += w[:, :, u:u + 1, v:v + 1] * factor
    return out, {"stride": (stride[0] * s[0], stride[1] * s[1]), "padding": (padding[0] * s[0], padding[1] * s[1]),
                 "dilation": (1, 1), "groups": conv.attrs["groups"]}


def _pool_matrix(node: Node, in_shape) -> np.ndarray:
    """The pooling as a dense matrix ``[prod(out), prod(in)]`` (exact: built from the op's own kernel)."""
    n = int(np.prod(in_shape))
    eye = torch.eye(n, dtype=torch.float64).reshape((n,) + tuple(in_shape))
    return KERNELS[node.op](node, [eye], {}, None).reshape(n, -1).T.numpy()


#: why the ops outside ``ACCEPTS["loihi"].ops`` have no netx form
UNSUPPORTED = {"Add": "residual/branch Add is not supported by netx (a chain of layers)",
               "Mul": "a product of two layers' spikes (SEW AND/IAND) is not supported by netx (a chain of "
                      "layers, each synapses → neuron)",
               "MaxPool2d": "max pooling has no Loihi synapse; use SumPool2d/AvgPool2d",
               "Delay": "a Delay (a recurrent connection or a synaptic delay) is not lowered to netx by snnc "
                        "(netx has recurrent 'dense_rec' layers and axonal delays; not written yet)",
               "BatchNorm": "fold BatchNorm into the preceding layer first (the fold pass)"}


class _Layer:
    """One netx layer being assembled: its synaptic op (float), the neuron, the names kept."""

    def __init__(self):
        self.ops: list[Node] = []       # Linear / Conv2d / pools, in order
        self.flatten: Node | None = None
        self.in_scale = 1.0             # Scale nodes before the first synaptic op
        self.out_scale = 1.0            # Scale nodes after it


def lower_to_layers(graph: Graph, config: dict | None = None):
    """Float graph → loihi graph (``Input → [Flatten] → (Linear|Conv2d → Neuron)+ → [Flatten] →
    [Readout] → Output``, one netx layer per synaptic op and its neuron) and a report with each
    layer's scale and rounding errors.

    ``config``: ``weight_scale`` {synapse node name: scale} fixes a layer's scale (QAT uses the
    scales it trained with); ``decay_rounding`` ``"nearest"`` (default) or ``"exact"``.
    Scales come from the weights (no calibration)."""
    config = dict(config or {})
    fixed = dict(config.get("weight_scale") or {})
    rounding = config.get("decay_rounding", "nearest")
    g = graph.copy().verify()
    out = Graph(metadata=dict(g.metadata))
    report: dict = {"layers": {}}
    users = {n.name: g.users(n.name) for n in g.nodes}
    prev = None              # name of the last node emitted into `out`
    layer = _Layer()
    for node in g.nodes:                     # ops with no Loihi form first: they name the real cause
        if node.op not in ACCEPTS[TARGET].ops:
            raise UnsupportedError(node.name, UNSUPPORTED.get(node.op, f"op {node.op} has no netx form"),
                                   target=TARGET)
        problem = node.op == "Neuron" and ACCEPTS[TARGET].output_refusal(node, "a netx neuron sends only spikes")
        if problem:
            raise UnsupportedError(node.name, problem, target=TARGET)
    for node in g.nodes:
        if len(users[node.name]) > 1:
            raise UnsupportedError(node.name, f"its output feeds {len(users[node.name])} nodes; a netx network "
                                              "is a chain of layers (no branches)", target=TARGET)
        if node.op == "Input":
            prev = out.add(Node(node.name, "Input", [], {}, dict(node.attrs))).name
        elif node.op == "Scale":
            value = scalar_param(node, "scale")
            if layer.ops:
                layer.out_scale *= value
            else:
                layer.in_scale *= value
        elif node.op == "Flatten":
            if any(n.op in ("Linear", "Conv2d") for n in layer.ops):
                raise UnsupportedError(node.name, "Flatten between a synaptic op and its neuron is not "
                                                  "supported; flatten after the neuron", target=TARGET)
            layer.flatten = node
        elif node.op in ("Linear", "Conv2d", "SumPool2d", "AvgPool2d"):
            layer.ops.append(node)
        elif node.op == "Neuron":
            prev = _emit_layer(g, out, prev, layer, node, fixed, rounding, report)
            layer = _Layer()
        elif node.op in ("Readout", "Output"):
            if layer.ops or layer.in_scale != 1.0:
                bad = (layer.ops or [node])[0]
                raise UnsupportedError(bad.name, "every Loihi layer ends in a neuron; this synaptic op is "
                                                 "not followed by a Neuron", target=TARGET)
            if layer.flatten is not None:
                prev = out.add(Node(layer.flatten.name, "Flatten", [prev])).name
                layer.flatten = None
            if node.op == "Readout" and node.attrs["output_mode"] != "spike":
                raise UnsupportedError(node.name, "membrane readout needs the output layer's voltage, which "
                                                  "netx's output port does not carry; use a spike readout",
                                       target=TARGET)
            prev = out.add(Node(node.name, node.op, [prev], dict(node.params), dict(node.attrs))).name
        else:
            raise UnsupportedError(node.name, f"op {node.op} is not supported on Loihi", target=TARGET)
    out.metadata["numerics"] = "loihi"
    out.verify()
    return out, report


def _emit_layer(g, out, prev, layer, neuron, fixed, rounding, report) -> str:
    """Compose the pending synaptic ops into one netx dense or conv layer; emit it and the neuron."""
    if not layer.ops:
        raise UnsupportedError(neuron.name, "a Loihi neuron needs a synaptic op (Linear, Conv2d or pooling) "
                                            "before it", target=TARGET)
    in_shape = g[prev].shape           # emitted nodes keep their names and shapes
    cuba = cuba_parameters(neuron, rounding)
    first, last = layer.ops[0], layer.ops[-1]
    lowered = [n.op for n in layer.ops]
    bias = None
    if len(layer.ops) == 1 and first.op in ("Linear", "Conv2d"):
        kind, w = first.op, np.asarray(first.params["weight"], np.float64)
        attrs = dict(first.attrs) if kind == "Conv2d" else {}
        if "bias" in first.params:
            bias = np.asarray(first.params["bias"], np.float64)
    elif len(layer.ops) == 1:                       # pooling with its own neuron: a depthwise conv
        kind = "Conv2d"
        w, attrs = pool_as_conv(first, in_shape[0])
    elif (len(layer.ops) == 2 and first.op in ("SumPool2d", "AvgPool2d") and last.op == "Linear"
          and layer.flatten is not None):           # pool → flatten → linear: one dense matrix
        kind = "Linear"
        w = np.asarray(last.params["weight"], np.float64) @ _pool_matrix(first, in_shape)
        attrs = {}
        if "bias" in last.params:
            bias = np.asarray(last.params["bias"], np.float64)
    elif (len(layer.ops) == 2 and first.op in ("SumPool2d", "AvgPool2d") and last.op == "Conv2d"
          and (merged := pool_then_conv(first, last, in_shape)) is not None):
        kind, (w, attrs) = "Conv2d", merged          # pool → conv: one strided conv
        if "bias" in last.params:
            bias = np.asarray(last.params["bias"], np.float64)
    else:
        raise UnsupportedError(layer.ops[1].name, f"the ops {lowered} between two neurons cannot be merged into "
                                                  "one netx layer (supported: Linear, Conv2d, pooling, "
                                                  "pooling→Flatten→Linear, pooling→Conv2d with non-overlapping "
                                                  "windows covering the input and no pool padding)",
                               target=TARGET)
    if kind == "Linear" and len(in_shape) != 1:
        if layer.flatten is None:
            raise GraphError(first.name, f"Linear after a {in_shape} value needs a Flatten")
        prev = out.add(Node(layer.flatten.name, "Flatten", [prev])).name
    gain = layer.in_scale * layer.out_scale * cuba["gain"]
    w_eff = w * gain
    if bias is not None:
        bias = bias * layer.out_scale * cuba["gain"]
        if not np.any(bias):
            bias = None
    if bias is not None and cuba["i_decay"] != DECAY_UNITY:
        raise UnsupportedError(first.name, "a bias is only expressible when the current does not persist "
                                           "(current decay 1): Lava adds its bias to the voltage",
                               target=TARGET)
    name = first.name if first.op in ("Linear", "Conv2d") or len(layer.ops) == 1 else last.name
    scale = float(fixed[name]) if name in fixed else layer_scale(w_eff, cuba["threshold"], bias)
    w_int = quantize_weights(w_eff, scale)
    if not np.any(w_int):
        raise UnsupportedError(name, "all weights quantize to 0 at this scale", target=TARGET)
    vth = threshold_mantissa(cuba["threshold"], scale, cuba["compare"])
    bias_int = np.zeros(0) if bias is None else np.round(bias * scale)
    syn_quant = {"profile": "loihi", "weight_scale": scale, "sign_mode": sign_mode(w_int),
                 "lowered_from": lowered, "delay_steps": 1}
    syn = Node(name, kind, [prev], {"weight": w_int.astype(np.float32)}, attrs, quant=syn_quant)
    out.add(syn)
    bias_mant: int | list = 0
    if bias is not None:
        bias_mant = [int(b) for b in bias_int]
    i_decay, v_decay = cuba["i_decay"], cuba["v_decay"]
    nq = {"profile": "loihi", "i_decay": i_decay, "v_decay": v_decay, "v_th_mant": vth,
          "bias_mant": bias_mant, "scale": scale, "from_charge": cuba["charge"],
          "from_compare": cuba["compare"]}
    params = {"v_threshold": np.asarray(float(vth)), "v_reset": np.asarray(0.0),
              "alpha": np.asarray((DECAY_UNITY - i_decay) / DECAY_UNITY),
              "beta": np.asarray((DECAY_UNITY - v_decay) / DECAY_UNITY)}
    attrs_n = {"charge": "cuba", "compare": "gt", "reset": "hard", "reset_timing": "immediate",
               "window_size": neuron.attrs["window_size"]}
    out.add(Node(neuron.name, "Neuron", [name], params, attrs_n, quant=nq))
    err = np.abs(w_int - w_eff * scale).max() / scale
    report["layers"][name] = {"kind": kind, "lowered_from": lowered, "scale": scale,
                              "sign_mode": syn_quant["sign_mode"], "max_weight_error": float(err),
                              "v_th_mant": vth, "threshold_error": abs(vth - cuba["threshold"] * scale) / scale,
                              "i_decay": i_decay, "v_decay": v_decay, "neuron": neuron.name}
    return neuron.name


__all__ = ["lower_to_layers", "pool_as_conv", "pool_then_conv", "UNSUPPORTED"]
