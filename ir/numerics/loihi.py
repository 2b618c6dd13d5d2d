"""The ``loihi`` numerics profile: Lava's fixed-point CUBA semantics, as Lava-DL ``netx`` runs them.

A graph quantized for this profile (the Loihi target's lowering, ``snnc.targets.loihi.layers``, which
registers the profile) is a chain of *layers*, each one synaptic op (``Linear`` → netx ``dense``,
``Conv2d`` → netx ``conv``; pooling is rewritten into one of them) followed by a ``Neuron`` whose
``quant`` dict holds Lava's integer CUBA parameters. Under this profile the
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
from ..graph import Node

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


def scalar_param(node: Node, key: str, default=None) -> float | None:
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
    # snnTorch's delayed reset to zero of a beta neuron, H = beta·V·(1 - S') + X with V the un-reset
    # potential, gives the spikes of the immediate reset to zero, H = beta·V + X with V = 0 after a spike
    # (only the stored potential differs, and Loihi exposes spikes): CUBA's own reset
    if a["reset_timing"] != "immediate" and not (a["reset_timing"] == "delayed" and a["charge"] == "beta"):
        raise UnsupportedError(node.name, f"the {a['reset_timing']} reset of a '{a['charge']}' neuron is not "
                               "expressible on Loihi (CUBA resets v to 0 in the step it fires; only a beta "
                               "neuron's delayed reset to 0 gives the same spikes)", target=TARGET)
    if a["threshold"] == "adaptive":
        raise UnsupportedError(node.name, "an adaptive threshold is not expressible: Lava's CUBA neuron (netx "
                                          "'CUBA') has a fixed threshold", target=TARGET)
    if scalar_param(node, "v_reset", 0.0) != 0.0:
        raise UnsupportedError(node.name, "v_reset must be 0: Lava's CUBA neuron resets v to 0", target=TARGET)
    for key in ("v_init", "i_init", "v_leak"):
        if scalar_param(node, key, 0.0) != 0.0:
            raise UnsupportedError(node.name, f"{key} must be 0 on Loihi (state starts at 0, leak is "
                                              "towards 0)", target=TARGET)
    threshold = scalar_param(node, "v_threshold")
    if threshold is None or threshold <= 0:
        raise UnsupportedError(node.name, f"v_threshold must be > 0 on Loihi, got {threshold}", target=TARGET)
    charge, gain = a["charge"], 1.0
    if charge == "if":
        alpha, beta = 0.0, 1.0
    elif charge in ("lif", "plif"):
        k = 1.0 / scalar_param(node, "tau") if charge == "lif" else scalar_param(node, "k")
        alpha, beta = 0.0, 1.0 - k
        gain = k if a["decay_input"] else 1.0
    elif charge == "beta":
        alpha, beta = 0.0, scalar_param(node, "beta")
    else:
        alpha, beta = scalar_param(node, "alpha"), scalar_param(node, "beta")
    return {"i_decay": _decay(node, "current decay 1 - alpha", 1.0 - alpha, decay_rounding),
            "v_decay": _decay(node, "voltage decay 1 - beta", 1.0 - beta, decay_rounding),
            "gain": gain, "threshold": threshold, "compare": a["compare"], "charge": charge}


#: the interpreter kernels of the ``loihi`` profile (the profile, whose quantization is the Loihi
#: target's structural lowering into netx layers, is ``snnc.targets.loihi.profile``)
KERNELS = {"Linear": _linear, "Conv2d": _conv2d, "Neuron": _neuron, "SumPool2d": _not_lowered,
           "AvgPool2d": _not_lowered, "MaxPool2d": _not_lowered, "Add": _not_lowered, "Mul": _not_lowered, "Delay": _not_lowered,
           "Scale": _not_lowered,
           "BatchNorm": _not_lowered}
DESCRIPTION = "Lava fixed-point CUBA (netx): 8-bit weights, 24-bit u/v, 12-bit decays, one-step synapse delay"

__all__ = ["KERNELS", "DESCRIPTION", "rz_decay", "wrap_current", "wrap24", "clip_voltage", "dense_sum", "conv_sum",
           "delayed", "cuba_step", "bias_tensor", "check_spikes", "layer_scale", "quantize_weights",
           "threshold_mantissa", "cuba_parameters", "sign_mode", "scalar_param", "WEIGHT_RANGE"]
