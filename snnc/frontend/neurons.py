"""Exact importers: each framework's neuron module → the IR ``Neuron`` op with that framework's
own discrete-time semantics (``ir/ops.py`` states the op's equations; each importer's docstring says
how the framework's neuron maps onto them, and ``tests/frontend`` runs the framework's own module
against the imported graph, output for output).

An importer is ``fn(module, path) -> NeuronSpec``: the ``Neuron`` node's attributes and parameters,
plus an optional output scale (snnTorch's graded spikes). Scalars that the framework keeps as Python
floats are stored as float64 0-d arrays, so the interpreter multiplies and divides by exactly the
same Python number as the framework; tensors keep their dtype and shape (per-neuron values).

What an importer cannot express exactly (snnTorch ``inhibition``/``state_quant``, …) is refused with
an :class:`UnsupportedError` naming the module path and the option.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..ir.errors import UnsupportedError


@dataclass
class NeuronSpec:
    attrs: dict
    params: dict[str, np.ndarray]
    #: multiply the spikes by this after the neuron (snnTorch ``graded_spikes_factor``); None = 1
    output_scale: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)


def _value(v) -> np.ndarray:
    """A hyperparameter as the array the interpreter will use: Python numbers as float64 scalars
    (the framework multiplies by that exact Python float), tensors as they are (dtype and shape)."""
    if isinstance(v, torch.Tensor):
        return v.detach().cpu().numpy().copy()
    if isinstance(v, (bool, np.bool_)):
        raise TypeError("boolean hyperparameter")
    return np.asarray(float(v), dtype=np.float64)


# snnc.nn ------------------------------------------------------------------------------------------
def snnc_neuron(m, path: str) -> NeuronSpec:
    """A snnc.nn neuron describes itself (:meth:`snnc.nn.neuron.BaseNode.ir_neuron`)."""
    from ..ir.ops import CHARGES

    if getattr(m, "charge_kind", None) not in CHARGES:
        raise UnsupportedError(path, f"snnc neuron {type(m).__name__} has no importer (its charge_kind "
                                     f"{getattr(m, 'charge_kind', None)!r} is none of {CHARGES})")
    attrs, params = m.ir_neuron()
    return NeuronSpec(attrs, {key: _value(value) for key, value in params.items()})


# snnTorch -----------------------------------------------------------------------------------------
_SNNTORCH_RESET = {0: "subtract", 1: "hard", 2: "none"}


def snntorch_charge(m) -> str:
    """The IR charge of a snnTorch neuron: ``cuba`` for ``Synaptic``/``RSynaptic``, ``beta`` otherwise."""
    import snntorch as snn

    return "cuba" if isinstance(m, (snn.Synaptic, snn.RSynaptic)) else "beta"


def snntorch_recurrence(m, path: str) -> dict | None:
    """The recurrent synapse of a snnTorch ``RLeaky``/``RSynaptic`` (None for another neuron): its
    previous step's spikes ``S[t-1]`` (zeros at the first step) through ``recurrent``, added to the input:
    ``X' = X + R(S[t-1])``. ``{"op": "Linear", "weight", "bias"}`` for ``all_to_all`` with
    ``linear_features``, ``{"op": "Scale", "scale": V}`` for one-to-one. snnTorch adds ``R`` after the
    decayed state (``β·mem + X + R``), the IR before it (``β·V + (X + R)``): the same sum in another
    order, so membranes may differ in the last bit (spikes where a potential lies within that rounding
    of the threshold)."""
    import snntorch as snn

    if not isinstance(m, (snn.RLeaky, snn.RSynaptic)):
        return None
    if int(m.reset_mechanism_val) == 1:
        raise UnsupportedError(path, f"snnTorch {type(m).__name__} with reset_mechanism='zero' is not imported: "
                                     "its spikes differ from the IR's delayed zero reset (not yet understood); "
                                     "use 'subtract' or 'none'")
    rec = m.recurrent
    with torch.no_grad():
        if isinstance(rec, torch.nn.Linear):
            out = {"op": "Linear", "weight": _value(rec.weight)}
            if rec.bias is not None:
                out["bias"] = _value(rec.bias)
            return out
        if m.all_to_all:
            raise UnsupportedError(path, f"snnTorch {type(m).__name__} with a convolutional recurrent "
                                         "connection (conv2d_channels) is not supported; use linear_features "
                                         "or all_to_all=False")
        return {"op": "Scale", "scale": _value(rec.V)}


def snntorch_neuron(m, path: str) -> NeuronSpec:
    """``Leaky``/``RLeaky`` → ``beta`` charge, ``Synaptic``/``RSynaptic`` → ``cuba`` (the recurrent
    synapse: :func:`snntorch_recurrence`); fire on ``>``; the reset as configured
    (``reset_delay=True``: ``delayed``, ``False``: ``compensated``); beta/alpha clamped to [0, 1]
    as snnTorch does in every forward."""
    import snntorch as snn

    kind = type(m).__name__
    if getattr(m, "inhibition", False):
        raise UnsupportedError(path, f"snnTorch {kind} with inhibition=True has no IR equivalent")
    if getattr(m, "state_quant", False):
        raise UnsupportedError(path, f"snnTorch {kind} with state_quant has no IR equivalent; "
                                     "quantize with an snnc numerics profile instead")
    reset = _SNNTORCH_RESET[int(m.reset_mechanism_val)]
    with torch.no_grad():
        params = {"v_threshold": _value(m.threshold), "beta": _value(m.beta.clamp(0, 1))}
        if isinstance(m, (snn.Synaptic, snn.RSynaptic)):
            params["alpha"] = _value(m.alpha.clamp(0, 1))
            charge = "cuba"
        elif isinstance(m, (snn.Leaky, snn.RLeaky)):
            charge = "beta"
        else:
            raise UnsupportedError(path, f"snnTorch {kind} is not supported; supported: Leaky, Synaptic, "
                                         "RLeaky, RSynaptic")
        gsf = _value(m.graded_spikes_factor)
    if reset == "none":
        timing = "immediate"
    else:
        timing = "delayed" if getattr(m, "reset_delay", True) else "compensated"
    if reset == "hard":
        params["v_reset"] = np.zeros((), np.float64)
    attrs = {"charge": charge, "compare": "gt", "reset": reset, "reset_timing": timing}
    scale = None if np.all(gsf == 1.0) else gsf
    return NeuronSpec(attrs, params, scale)


# SpikingJelly -------------------------------------------------------------------------------------
def spikingjelly_neuron(m, path: str) -> NeuronSpec:
    """``IFNode``/``LIFNode``/``ParametricLIFNode``/``CUBALIFNode``: fire on ``>=``, hard reset to
    ``v_reset`` or soft (subtract) reset when ``v_reset is None``; LIF/PLIF leak towards ``v_reset`` (0
    when soft). ``CUBALIFNode`` (``I = I·c_decay + X; H = V·v_decay + I``) is the ``cuba`` charge with
    ``alpha = c_decay``, ``beta = v_decay``."""
    from spikingjelly.activation_based import neuron as sjn

    kind = type(m).__name__
    exact = (sjn.IFNode, sjn.LIFNode, sjn.ParametricLIFNode, sjn.CUBALIFNode)
    if type(m) not in exact:
        raise UnsupportedError(path, f"SpikingJelly {kind} is not supported; supported: IFNode, LIFNode, "
                                     "ParametricLIFNode, CUBALIFNode")
    params = {"v_threshold": _value(m.v_threshold)}
    reset = "subtract" if m.v_reset is None else "hard"
    if reset == "hard":
        params["v_reset"] = _value(m.v_reset)
    attrs = {"compare": "ge", "reset": reset}
    leak = 0.0 if m.v_reset is None else float(m.v_reset)
    if isinstance(m, sjn.LIFNode):
        attrs.update(charge="lif", decay_input=bool(m.decay_input))
        params["tau"] = _value(m.tau)
    elif isinstance(m, sjn.ParametricLIFNode):
        attrs.update(charge="plif", decay_input=bool(m.decay_input))
        with torch.no_grad():
            params["k"] = _value(m.w.detach().float().sigmoid())
    elif isinstance(m, sjn.CUBALIFNode):
        attrs["charge"] = "cuba"
        params.update(alpha=_value(m.c_decay), beta=_value(m.v_decay))
    else:
        attrs["charge"] = "if"
    if attrs["charge"] in ("lif", "plif") and leak != 0.0:
        params["v_leak"] = _value(leak)
    return NeuronSpec(attrs, params)
