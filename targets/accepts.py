"""What each target accepts, declared as data in one place.

An :class:`Accepts` lists what a target lowers **for every value of everything else**: the ops, and
the neuron and readout variants the IR defines (``snnc.ir.ops.Neuron`` / ``Readout`` attributes).
Each target's ``constraints`` module reads its op list from here and refuses the rest naming the node;
conditions that depend on values (Loihi's pool→conv merge, a bias only where the current does not
persist, NIR's delayed reset only to zero) are checked in code and named in ``conditions``.

Two things derive from this table and nothing else:

- the fuzzer's per-target draws (:func:`fuzz_hints`): it draws only what the target accepts, so a
  fuzzing run is never spent on refusals;
- the op × target conformance matrix (``tests/targets/test_conformance.py``): every variant a target
  declares must verify bit-exactly, every other one must be refused with an ``UnsupportedError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ir.ops import NEURON_OUTPUTS, OPS, READOUT_RULES, Neuron

_NEURON = Neuron.attrs
ALL_OPS = frozenset(OPS)
RESETS = _NEURON["reset"].choices
RESET_TIMINGS = _NEURON["reset_timing"].choices
COMPARES = _NEURON["compare"].choices
THRESHOLDS = _NEURON["threshold"].choices
READOUT_MODES = tuple(READOUT_RULES)
POOLS = ("SumPool2d", "AvgPool2d", "MaxPool2d")


@dataclass(frozen=True)
class Accepts:
    """One target's declared contract (every field defaults to all the IR defines).

    - ``ops``: the IR ops the target lowers.
    - ``resets``, ``reset_timings``, ``compares``, ``thresholds``: the Neuron attribute values it
      lowers; ``refused_timings``: ``(charge, reset_timing)`` pairs refused although both are accepted.
    - ``nonzero_v_reset``: a hard reset to a value other than 0, with every accepted timing.
    - ``per_neuron_params``: neuron parameters given per neuron (arrays), not only scalars.
    - ``synapse_bias``: a bias on Linear/Conv2d for every neuron that follows it.
    - ``stacked_conv``: Conv2d layers that follow one another (with pooling between them).
    - ``outputs``: what a Neuron node may output (its spikes, or its state ``v`` / ``i``).
    - ``readout_modes``: the Readout output modes.
    - ``reset_window``: a periodic state reset (``window_size`` > 0).
    - ``conditions``: what is accepted only under conditions on values, checked in the target's code.
    """

    ops: frozenset = ALL_OPS
    resets: tuple = RESETS
    reset_timings: tuple = RESET_TIMINGS
    refused_timings: tuple = ()
    compares: tuple = COMPARES
    thresholds: tuple = THRESHOLDS
    nonzero_v_reset: bool = True
    per_neuron_params: bool = True
    synapse_bias: bool = True
    stacked_conv: bool = True
    outputs: tuple = NEURON_OUTPUTS
    readout_modes: tuple = READOUT_MODES
    reset_window: bool = True
    conditions: tuple = field(default=())

    def neuron_refusal(self, charge: str, reset: str, timing: str, compare: str, threshold: str) -> str | None:
        """Why a Neuron with these attributes is not accepted (None if it is)."""
        for what, value, accepted in (("reset", reset, self.resets), ("reset timing", timing, self.reset_timings),
                                      ("compare", compare, self.compares),
                                      ("threshold", threshold, self.thresholds)):
            if value not in accepted:
                return f"{what} '{value}'"
        if (charge, timing) in self.refused_timings:
            return f"the {timing} reset of the '{charge}' charge"
        return None

    def output_refusal(self, node, why: str) -> str | None:
        """Why ``node`` (a Neuron) outputs what this target cannot (None if it can); ``why`` says why."""
        output = node.attrs.get("output", "spikes")
        if output in self.outputs:
            return None
        return f"outputs its state '{output}' (a membrane or current), but {why}; output its spikes"


_FOLDED_BATCHNORM = ALL_OPS - {"BatchNorm"}  # the passes fold BatchNorm into the layer before it

ACCEPTS: dict[str, Accepts] = {
    "gpu": Accepts(),
    "onnx": Accepts(ops=_FOLDED_BATCHNORM),
    "lynxi": Accepts(ops=_FOLDED_BATCHNORM,
                     conditions=("one window size for every stateful node (the state region is reset as a whole)",
                                 "fan-in at most 8192 and at most 2048 classes (float16 stays exact)")),
    "hls": Accepts(ops=_FOLDED_BATCHNORM,
                   conditions=("every exact intermediate at most 63 bits, every stored format at most 53",)),
    # Lava's CUBA neuron: V = 0 after a spike in the same step (a beta neuron's delayed reset to 0 has the
    # same spikes), a fixed threshold, scalar parameters; netx: a chain of layers, each synapses → neuron,
    # with spike outputs
    "loihi": Accepts(ops=ALL_OPS - {"Add", "Mul", "Delay", "BatchNorm", "MaxPool2d"}, resets=("hard",),
                     reset_timings=("immediate", "delayed"), refused_timings=(("cuba", "delayed"),),
                     thresholds=("fixed",), nonzero_v_reset=False, per_neuron_params=False, synapse_bias=False,
                     stacked_conv=False, outputs=("spikes",), readout_modes=("spike",),
                     conditions=("a synapse bias where the neuron's current does not persist (current decay 1)",
                                 "pooling → Conv2d where the windows do not overlap, cover the input and have no "
                                 "padding", "fan-in at most 4096; weights, threshold and bias within Lava's "
                                 "integer ranges")),
    # NIR's IF/LIF/CubaLIF reset to v_reset in the step they fire and have a fixed threshold; snnTorch
    # Synaptic's delayed reset to zero also clears the new current, which NIR's CubaLIF does not
    "nir": Accepts(ops=ALL_OPS - {"BatchNorm", "MaxPool2d", "Mul", "Delay"}, resets=("hard",), refused_timings=(("cuba", "delayed"),),
                   thresholds=("fixed",), nonzero_v_reset=False, reset_window=False, outputs=("spikes",),
                   conditions=("a non-zero v_reset with the immediate reset timing",
                               "a Readout only where it feeds the output (left out of the file)")),
}


def fuzz_hints(accepts: Accepts) -> dict:
    """The keyword arguments of ``snnc.fuzz.build_graph`` that keep its draws inside ``accepts`` (only
    those that narrow the default draw, so an unrestricted target gets ``{}``)."""
    hints = {}
    if accepts.resets != RESETS:
        hints["resets"] = tuple(r for r in RESETS if r in accepts.resets)
    if "delayed" not in accepts.reset_timings or ("beta", "delayed") in accepts.refused_timings:
        hints["delayed"] = False  # (the fuzzer draws the delayed reset for the beta charge)
    pools = tuple(p for p in POOLS if p in accepts.ops)
    if pools != POOLS:
        hints["pools"] = pools
    if not accepts.per_neuron_params:
        hints["per_neuron"] = False
    if not accepts.nonzero_v_reset:
        hints["v_resets"] = (0.0,)
    if accepts.readout_modes != READOUT_MODES:
        hints["readout_modes"] = accepts.readout_modes
    if not accepts.synapse_bias:
        hints["bias"] = False
    if not accepts.stacked_conv:
        hints["conv_blocks"] = (1, 1)
    if accepts.compares != COMPARES:
        hints["compares"] = accepts.compares
    if not accepts.reset_window:
        hints["window"] = 0
    return hints


__all__ = ["Accepts", "ACCEPTS", "fuzz_hints", "ALL_OPS"]
