"""What the NIR target can write exactly, and the approximations it makes only when asked.

NIR (``nir`` 1.0.8) has no reset by subtraction, no neuron without reset, no max pooling, no
initial state and no reset window. :func:`check` refuses each with the node and the reason;
:func:`approximate` (``allow_approximate=True``) rewrites the neuron semantics into NIR's (reset to
``v_reset`` in the same step, no window) and lists every change, so the prepared graph is exactly
what the file means and ``verify`` stays bit-exact against it (the drift report then measures the
approximation against the float model). Two things are exported exactly although NIR lacks them:
``>=`` firing (as ``>`` at the next float32 below the threshold) and a final readout (left out of
the file, recorded in its metadata; the target's ``prepare`` strips it).
"""

from __future__ import annotations

import numpy as np

from ...ir import Graph
from ...ir.errors import UnsupportedError
from ..accepts import ACCEPTS

#: a Readout is accepted where it feeds the output: the target's prepare leaves it out of the file
SUPPORTED_OPS = sorted(ACCEPTS["nir"].ops - {"Readout"})
HINT = "; pass --allow-approximate to export the nearest NIR form"


def is_leaky_integrator(node) -> bool:
    """A ``Neuron`` that is NIR's ``LI``: a ``beta``/``lif``/``plif`` charge with no reset that outputs
    its potential (its spikes, which nothing then reads, are all its threshold decides), with no initial
    state or window."""
    a, p = node.attrs, node.params
    return (a.get("output") == "v" and a["charge"] in ("beta", "lif", "plif") and a["reset"] == "none"
            and a["threshold"] == "fixed" and "v_init" not in p and not a["window_size"])


def _neuron_problem(node) -> str | None:
    """Why this Neuron is not exactly a NIR IF/LIF/CubaLIF (None if it is)."""
    a, p = node.attrs, node.params
    if a["threshold"] == "adaptive":
        return "has an adaptive threshold; NIR's IF/LIF/CubaLIF have a fixed one"
    if a["reset"] == "subtract":
        return "resets by subtraction; NIR neurons reset to v_reset"
    if a["reset"] == "none":
        return "has no reset; NIR spiking neurons always reset to v_reset"
    if "v_init" in p or "i_init" in p:
        return "has an initial state (v_init/i_init); NIR has none"
    if a["window_size"]:
        return f"resets every {a['window_size']} steps (window); NIR has no reset window"
    timing = a["reset_timing"]
    zero_reset = not np.any(p.get("v_reset", 0.0))
    if timing == "delayed":
        if a["charge"] == "cuba":
            return "uses snnTorch Synaptic's delayed reset to zero, which also clears the new input current"
        if not zero_reset:
            return "uses a delayed reset to a non-zero v_reset"
    if timing == "compensated" and (not zero_reset or np.any(p["v_threshold"] < 0)):
        return "uses snnTorch's reset_delay=False with a negative threshold or a non-zero v_reset"
    return None


def check(graph: Graph, options: dict | None = None) -> None:
    for node in graph.nodes:
        if node.op not in SUPPORTED_OPS:
            why = {"MaxPool2d": "NIR has no max pooling",
                   "Readout": "NIR has no readout, and only a Readout that feeds an output is left out of "
                              "the file",
                   "BatchNorm": "NIR has no batch norm (it should have been folded)",
                   "Mul": "NIR has no product of two signals (its nodes sum their inputs)",
                   "Delay": "snnc's NIR export does not write Delay nodes or recurrent cycles yet"}.get(node.op, "")
            raise UnsupportedError(node.name, f"op {node.op} cannot be expressed in NIR"
                                              f"{': ' + why if why else ''}; NIR takes {', '.join(SUPPORTED_OPS)}",
                                   target="nir")
        if node.op == "Neuron" and not is_leaky_integrator(node):
            problem = ACCEPTS["nir"].output_refusal(node, "NIR's neurons output spikes (its LI, a leaky "
                                                          "integrator that never fires nor resets, is another "
                                                          "node)")
            if problem:
                raise UnsupportedError(node.name, f"Neuron {problem}", target="nir")
            problem = _neuron_problem(node)
            if problem:
                raise UnsupportedError(node.name, f"Neuron {problem}{HINT}", target="nir")


def approximate(graph: Graph) -> list[str]:
    """Rewrite, in place, what NIR cannot express into its nearest NIR form; return the changes."""
    notes = []
    for node in graph.nodes:
        if node.op != "Neuron":
            continue
        a, p = node.attrs, node.params
        if a["reset"] == "subtract":
            a["reset"], a["reset_timing"] = "hard", "immediate"
            p["v_reset"] = np.zeros((), np.float32)
            notes.append(f"{node.name}: reset by subtraction exported as reset to 0")
        if a["window_size"]:
            notes.append(f"{node.name}: reset window of {a['window_size']} steps dropped")
            a["window_size"] = 0
        if a["reset_timing"] != "immediate" and _neuron_problem(node):
            a["reset_timing"] = "immediate"
            notes.append(f"{node.name}: snnTorch reset timing exported as an immediate reset")
    return notes
