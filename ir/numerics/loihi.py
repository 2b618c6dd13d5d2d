"""The ``loihi`` numerics profile: Lava's fixed-point CUBA semantics, as Lava-DL ``netx`` runs them.

A graph quantized by :meth:`LoihiProfile.quantize` is a chain of *layers*, each one synaptic op
(``Linear`` → netx ``dense``, ``Conv2d`` → netx ``conv``; pooling is rewritten into one of them) followed
by a ``Neuron`` whose ``quant`` dict holds Lava's integer CUBA parameters. Under this profile the
interpreter runs every value as ``int64`` with Lava's arithmetic (``lava/proc/lif/models.py``,
``proc/dense``, ``proc/conv``; checked bit-exact against Lava 0.10 by ``scripts/lava_check.py``)::

    synapse   a(t) = buf;  buf = Σ_j W[:, j]·s_j(t)          one step of delay per layer
              (conv: buf = wrap24(conv(s, W)), a modulo-2^24 wrap)
    current   u = rz(u·(4096 − iDecay)) + (a << 6), then one 24-bit wrap:
              u − 2^24 if u > 2^23;  u + 2^24 if u ≤ −2^23
    voltage   v = clip(rz(v·(4096 − vDecay)) + u + (bias << 6), −(2^23 − 1), 2^23 − 1)
    spike     s = v > (vThMant << 6);   v = 0 where s (u is kept; no refractory period)

with ``rz(x) = sign(x)·(|x| >> 12)`` (round toward zero). Spikes are binary (``num_message_bits = 0``).
The elementary operations below are the single implementation; the Loihi target's simulator calls
them too.

Float → integer mapping (per layer, scale ``s``): integer weights ``round(s·W_eff)`` in the ranges Lava
keeps intact (mixed sign [−256, 254], excitatory [0, 255], inhibitory [−255, 0]), ``vThMant`` from
``s·v_threshold``, ``bias_mant = round(s·b)``; the state then holds ``64·s`` times the float state.
Decays: ``iDecay = 4096·(1 − alpha)``, ``vDecay = 4096·(1 − beta)`` rounded to the 12-bit grid.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import GraphError, SnncError, UnsupportedError
from ..graph import Graph, Node
from . import Profile, register

TARGET = "loihi"

DECAY_SHIFT = 12
DECAY_UNITY = 1 << DECAY_SHIFT        # 4096: iDecay/vDecay range is [0, 4096]
MSB_SHIFT = 6                          # a_in, bias and vThMant are left-shifted by 6
UV_HALF = 1 << 23                      # u and v are 24-bit
V_LIMIT = UV_HALF - 1                  # v saturates at ±(2^23 − 1)
VTH_MAX = (1 << 17) - 1                # vThMant is a 17-bit unsigned value
BIAS_MIN, BIAS_MAX = -(1 << 12), (1 << 12) - 1   # bias_mant is 13-bit signed
#: weight ranges that Lava's netx + Dense keep intact (found by fuzzing real Lava, ``scripts/lava_check.py``)
WEIGHT_RANGE = {"mixed": (-256, 254), "excitatory": (0, 255), "inhibitory": (-255, 0)}


# --- elementary integer operations (shared with targets/loihi/simulate.py) -----------------------

def rz_decay(x: torch.Tensor, decay: int) -> torch.Tensor:
    """``x·(4096 − decay)`` shifted right by 12 with rounding toward zero (sign-magnitude shift)."""
    p = x * (DECAY_UNITY - int(decay))
    return torch.sign(p) * (p.abs() >> DECAY_SHIFT)


def wrap_current(u: torch.Tensor) -> torch.Tensor:
    """Lava's single 24-bit wrap of the current: ``u − 2^24`` if ``u > 2^23``, ``u + 2^24`` if ``u ≤ −2^23``."""
    return torch.where(u > UV_HALF, u - 2 * UV_HALF, torch.where(u <= -UV_HALF, u + 2 * UV_HALF, u))


def wrap24(x: torch.Tensor) -> torch.Tensor:
    """Modulo wrap into the signed 24-bit range ``[−2^23, 2^23)`` (Lava's conv ``signed_clamp``)."""
    return torch.remainder(x + UV_HALF, 2 * UV_HALF) - UV_HALF


def clip_voltage(v: torch.Tensor) -> torch.Tensor:
    """Saturate the voltage to ``[−(2^23 − 1), 2^23 − 1]``."""
    return v.clamp(-V_LIMIT, V_LIMIT)


def check_spikes(s: torch.Tensor, where: str) -> None:
    """Loihi synapses here take binary spikes; anything else is refused (not silently truncated)."""
    if s.numel() and not bool(((s == 0) | (s == 1)).all()):
        bad = s[(s != 0) & (s != 1)][0].item()
        raise SnncError(f"{where}: Loihi synapses take binary spikes (0/1), got the value {bad}")


def dense_sum(s: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``Σ_j W[:, j]·s_j`` per batch row, exact (``int64``; the float64 product is exact for these sizes)."""
    return torch.round(s.to(torch.float64) @ weight.to(torch.float64).T).to(torch.int64)


def conv_sum(s: torch.Tensor, weight: torch.Tensor, stride, padding, dilation, groups: int) -> torch.Tensor:
    """Lava's fixed-point conv synapse: ``wrap24(conv2d(s, W))`` (cross-correlation, torch layout)."""
    y = F.conv2d(s.to(torch.float64), weight.to(torch.float64), None, stride, padding, dilation, groups)
    return wrap24(torch.round(y).to(torch.int64))


def delayed(state: dict, value: torch.Tensor) -> torch.Tensor:
    """A synapse's one-step buffer: return what was computed at the previous step (0 at the first)."""
    out = state.get("buf")
    state["buf"] = value
    return torch.zeros_like(value) if out is None else out


def cuba_step(state: dict, a_in: torch.Tensor, i_decay: int, v_decay: int, vth_mant: int,
              bias_mant) -> torch.Tensor:
    """One step of Lava's fixed-point CUBA LIF (module docstring); ``state`` holds ``u``, ``v``."""
    u = state.get("u")
    if u is None:
        u = state["u"] = torch.zeros_like(a_in)
        state["v"] = torch.zeros_like(a_in)
    u = wrap_current(rz_decay(u, i_decay) + (a_in << MSB_SHIFT))
    v = clip_voltage(rz_decay(state["v"], v_decay) + u + (bias_mant << MSB_SHIFT))
    s = v > (int(vth_mant) << MSB_SHIFT)
    state["u"], state["v"] = u, torch.where(s, torch.zeros_like(v), v)
    return s.to(torch.int64)


def bias_tensor(bias_mant, shape, device=None) -> torch.Tensor | int:
    """``bias_mant`` (an int, or one int per channel = first per-step dim) broadcast to ``shape``."""
    if isinstance(bias_mant, (int, np.integer)):
        return int(bias_mant)
    b = torch.as_tensor(np.asarray(bias_mant, dtype=np.int64), device=device)
    return b.reshape((-1,) + (1,) * (len(shape) - 1))


# --- interpreter kernels -------------------------------------------------------------------------

def _linear(node, xs, state, ctx):
    check_spikes(xs[0], f"node '{node.name}'")
    return delayed(state, dense_sum(xs[0], ctx.params(node)["weight"]))


def _conv2d(node, xs, state, ctx):
    check_spikes(xs[0], f"node '{node.name}'")
    a = node.attrs
    y = conv_sum(xs[0], ctx.params(node)["weight"], a["stride"], a["padding"], a["dilation"], a["groups"])
    return delayed(state, y)


def neuron_quant(node: Node) -> dict:
    q = node.quant
    missing = [k for k in ("i_decay", "v_decay", "v_th_mant", "bias_mant") if k not in q]
    if q.get("profile") != "loihi" or missing:
        raise GraphError(node.name, f"Neuron has no loihi quantization ({', '.join(missing) or 'profile'} "
                                    "missing); run get_profile('loihi').quantize(graph) first")
    return q


def _neuron(node, xs, state, ctx):
    q = neuron_quant(node)
    bias = bias_tensor(q["bias_mant"], node.shape, xs[0].device)
    return cuba_step(state, xs[0], q["i_decay"], q["v_decay"], q["v_th_mant"], bias)


def _not_lowered(node, xs, state, ctx):
    raise GraphError(node.name, f"{node.op} is not part of a loihi-quantized graph; run "
                                "get_profile('loihi').quantize(graph) first")


# --- quantization ----------------------------------------------------------------------------------

def sign_mode(w: np.ndarray) -> str:
    if np.all(w >= 0):
        return "excitatory"
    if np.all(w <= 0):
        return "inhibitory"
    return "mixed"


def weight_scale_limit(w: np.ndarray) -> float:
    """The largest scale ``s`` such that ``round(s·w)`` stays in the range Lava keeps for ``w``'s sign mode."""
    mode = sign_mode(w)
    hi, lo = float(w.max(initial=0.0)), float(w.min(initial=0.0))
    if hi == 0.0 and lo == 0.0:
        return math.inf
    if mode == "excitatory":
        return 255.0 / hi
    if mode == "inhibitory":
        return 255.0 / -lo
    return min(254.0 / hi, 256.0 / -lo)


def layer_scale(w_eff: np.ndarray, threshold: float, bias: np.ndarray | None = None) -> float:
    """The per-layer scale (integer weight units per float unit): as large as the weights, the
    threshold mantissa (17 bits) and the bias mantissa (13 bits) allow."""
    s = weight_scale_limit(w_eff)
    if threshold > 0:
        s = min(s, VTH_MAX / threshold)
    if bias is not None and np.any(bias != 0):
        s = min(s, BIAS_MAX / float(np.abs(bias).max()))
    if not math.isfinite(s):
        s = 1.0
    return s


def quantize_weights(w_eff: np.ndarray, scale: float) -> np.ndarray:
    """``round(scale·w)``, clipped into the range Lava keeps intact for the result's sign mode."""
    w = np.round(np.asarray(w_eff, np.float64) * scale)
    lo, hi = WEIGHT_RANGE[sign_mode(w)]
    return np.clip(w, lo, hi)


def threshold_mantissa(threshold: float, scale: float, compare: str) -> int:
    """``vThMant`` for Lava's strict ``v > vThMant·64``: exact for integer-valued potentials in
    weight units (``H >= θ`` ⇔ ``H > ceil(θ)−1``; ``H > θ`` ⇔ ``H > floor(θ)``)."""
    t = threshold * scale
    t = round(t) if abs(t - round(t)) < 1e-9 else t
    return max(0, int(math.ceil(t)) - 1 if compare == "ge" else int(math.floor(t)))


def _scalar(node: Node, key: str, default=None) -> float | None:
    p = node.params.get(key)
    if p is None:
        return default
    flat = np.asarray(p, np.float64).ravel()
    if flat.size and np.any(flat != flat[0]):
        raise UnsupportedError(node.name, f"parameter '{key}' differs across neurons; Lava's LIF takes one "
                                          f"value per layer", target=TARGET)
    return float(flat[0])


def _decay(node: Node, name: str, value: float, mode: str) -> int:
    d = value * DECAY_UNITY
    r = int(round(d))
    if not 0 <= r <= DECAY_UNITY:
        raise UnsupportedError(node.name, f"{name} = {value:g} is outside [0, 1]; Loihi decays are "
                                          f"4096ths in [0, 4096]", target=TARGET)
    if mode == "exact" and abs(d - r) > 1e-9:
        raise UnsupportedError(node.name, f"{name} = {value:g} is not a multiple of 1/4096 "
                                          f"(decay_rounding='exact')", target=TARGET)
    return r


def cuba_parameters(node: Node, decay_rounding: str = "nearest") -> dict:
    """Map an IR ``Neuron`` onto Lava's CUBA: decays, the input gain folded into the weights, the
    threshold; refuse (naming the reason) what CUBA cannot express."""
    a = node.attrs
    if a["reset"] != "hard":
        raise UnsupportedError(node.name, f"reset '{a['reset']}' is not expressible: Lava's CUBA neuron sets "
                                          "v to 0 after a spike (use a hard reset to 0)", target=TARGET)
    if a["reset_timing"] != "immediate":
        raise UnsupportedError(node.name, "delayed reset is not expressible on Loihi", target=TARGET)
    if a["threshold"] == "adaptive":
        raise UnsupportedError(node.name, "an adaptive threshold is not expressible: Lava's CUBA neuron (netx "
                                          "'CUBA') has a fixed threshold", target=TARGET)
    if _scalar(node, "v_reset", 0.0) != 0.0:
        raise UnsupportedError(node.name, "v_reset must be 0: Lava's CUBA neuron resets v to 0", target=TARGET)
    for key in ("v_init", "i_init", "v_leak"):
        if _scalar(node, key, 0.0) != 0.0:
            raise UnsupportedError(node.name, f"{key} must be 0 on Loihi (state starts at 0, leak is "
                                              "towards 0)", target=TARGET)
    threshold = _scalar(node, "v_threshold")
    if threshold is None or threshold <= 0:
        raise UnsupportedError(node.name, f"v_threshold must be > 0 on Loihi, got {threshold}", target=TARGET)
    charge, gain = a["charge"], 1.0
    if charge == "if":
        alpha, beta = 0.0, 1.0
    elif charge in ("lif", "plif"):
        k = 1.0 / _scalar(node, "tau") if charge == "lif" else _scalar(node, "k")
        alpha, beta = 0.0, 1.0 - k
        gain = k if a["decay_input"] else 1.0
    elif charge == "beta":
        alpha, beta = 0.0, _scalar(node, "beta")
    else:
        alpha, beta = _scalar(node, "alpha"), _scalar(node, "beta")
    return {"i_decay": _decay(node, "current decay 1 - alpha", 1.0 - alpha, decay_rounding),
            "v_decay": _decay(node, "voltage decay 1 - beta", 1.0 - beta, decay_rounding),
            "gain": gain, "threshold": threshold, "compare": a["compare"], "charge": charge}


def pool_as_conv(node: Node, channels: int) -> tuple[np.ndarray, dict]:
    """A Sum/AvgPool2d as a depthwise conv: weight ``[C, 1, kH, kW]`` of 1 (or ``1/(kH·kW)``)."""
    from ..ops import Pool2d
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
    from ..ops import Pool2d, pair
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
    from ..interpreter import KERNELS
    n = int(np.prod(in_shape))
    eye = torch.eye(n, dtype=torch.float64).reshape((n,) + tuple(in_shape))
    return KERNELS[node.op](node, [eye], {}, None).reshape(n, -1).T.numpy()


UNSUPPORTED = {"Add": "residual/branch Add is not supported by netx (a chain of layers)",
               "MaxPool2d": "max pooling has no Loihi synapse; use SumPool2d/AvgPool2d",
               "BatchNorm": "fold BatchNorm into the preceding layer first (the fold pass)"}


class _Layer:
    """One netx layer being assembled: its synaptic op (float), the neuron, the names kept."""

    def __init__(self):
        self.ops: list[Node] = []       # Linear / Conv2d / pools, in order
        self.flatten: Node | None = None
        self.in_scale = 1.0             # Scale nodes before the first synaptic op
        self.out_scale = 1.0            # Scale nodes after it


class LoihiProfile(Profile):
    def prepare(self, graph: Graph) -> Graph:
        if graph.metadata.get("numerics") != "loihi":
            raise SnncError("the graph is not quantized for loihi (metadata['numerics'] is "
                            f"{graph.metadata.get('numerics')!r}); run get_profile('loihi').quantize(graph) first")
        return graph

    def quantize(self, graph: Graph, calibration=None, config: dict | None = None):
        """Float graph → loihi graph (``Input → [Flatten] → (Linear|Conv2d → Neuron)+ → [Flatten] →
        [Readout] → Output``) and a report with each layer's scale and rounding errors.

        ``config``: ``weight_scale`` {synapse node name: scale} fixes a layer's scale (QAT uses the
        scales it trained with); ``decay_rounding`` ``"nearest"`` (default) or ``"exact"``.
        ``calibration`` is not needed (scales come from the weights) and is ignored."""
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
            if node.op in UNSUPPORTED:
                raise UnsupportedError(node.name, UNSUPPORTED[node.op], target=TARGET)
        for node in g.nodes:
            if len(users[node.name]) > 1:
                raise UnsupportedError(node.name, f"its output feeds {len(users[node.name])} nodes; a netx network "
                                                  "is a chain of layers (no branches)", target=TARGET)
            if node.op == "Input":
                prev = out.add(Node(node.name, "Input", [], {}, dict(node.attrs))).name
            elif node.op == "Scale":
                value = _scalar(node, "scale")
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
                prev = self._emit_layer(g, out, prev, layer, node, fixed, rounding, report)
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

    def _emit_layer(self, g, out, prev, layer, neuron, fixed, rounding, report) -> str:
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


PROFILE = register(LoihiProfile(
    "loihi", torch.int64,
    kernels={"Linear": _linear, "Conv2d": _conv2d, "Neuron": _neuron, "SumPool2d": _not_lowered,
             "AvgPool2d": _not_lowered, "MaxPool2d": _not_lowered, "Add": _not_lowered, "Scale": _not_lowered,
             "BatchNorm": _not_lowered},
    description="Lava fixed-point CUBA (netx): 8-bit weights, 24-bit u/v, 12-bit decays, one-step synapse delay"))

__all__ = ["PROFILE", "LoihiProfile", "rz_decay", "wrap_current", "wrap24", "clip_voltage", "dense_sum", "conv_sum",
           "delayed", "cuba_step", "bias_tensor", "check_spikes", "layer_scale", "quantize_weights",
           "threshold_mantissa", "cuba_parameters", "sign_mode", "WEIGHT_RANGE"]
