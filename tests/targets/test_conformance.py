"""The op × target conformance matrix, generated from the target registry.

Every variant below (each op, and each neuron charge / reset / timing / comparison and readout rule)
is compiled for every target of ``snnc.targets.NAMES`` and verified against the reference
interpreter under the target's numerics: it must be bit-exact, or be refused with an
``UnsupportedError`` where ``REFUSED`` declares that the target refuses it. A cell that is neither
(a wrong result, a refusal not declared, a declared refusal that now compiles) fails naming the
variant and the target.
"""

from __future__ import annotations

import numpy as np
import pytest

import snnc
from snnc.ir import Graph, UnsupportedError
from snnc.targets import NAMES

from support.verify_helpers import with_window

F32 = np.float32


def _weights(rng, shape) -> np.ndarray:
    """On a 1/8 grid: exact in float16 and in every fixed-point format the targets use."""
    return (rng.integers(-4, 9, size=shape) / 8).astype(F32)


def _if_params() -> dict:
    return {"v_threshold": np.array(0.5, F32), "v_reset": np.array(0.0, F32)}


CHARGE_PARAMS = {"if": {}, "lif": {"tau": 2.0}, "plif": {"k": 0.5}, "beta": {"beta": 0.75},
                 "cuba": {"alpha": 0.5, "beta": 0.75}}


def _neuron_graph(charge="if", reset="hard", timing="immediate", compare="ge", readout=None,
                  adaptive=False) -> Graph:
    """Input(6) → Linear → the neuron under test → Linear → IF → [Readout] → Output."""
    rng = np.random.default_rng(5)
    classes = 2 if readout and readout[1] == "binary_logit" else 3
    g = Graph()
    g.add_node("x", "Input", shape=(6,))
    g.add_node("fc1", "Linear", ["x"], {"weight": _weights(rng, (8, 6))})
    params = {"v_threshold": np.array(0.5, F32), **{k: np.array(v, F32) for k, v in CHARGE_PARAMS[charge].items()}}
    if reset == "hard":
        params["v_reset"] = np.array(0.0, F32)
    if adaptive:
        params.update(adapt_decay=np.array(0.75, F32), adapt_scale=np.array(0.25, F32))
    g.add_node("n1", "Neuron", ["fc1"], params, charge=charge, reset=reset, reset_timing=timing, compare=compare,
               threshold="adaptive" if adaptive else "fixed")
    g.add_node("fc2", "Linear", ["n1"], {"weight": _weights(rng, (classes, 8))})
    g.add_node("n2", "Neuron", ["fc2"], _if_params(), charge="if")
    last = "n2"
    if readout is not None:
        mode, rule = readout
        g.add_node("r", "Readout", [last], {"beta": np.array(0.75, F32)} if mode == "membrane" else {},
                   output_mode=mode, rule=rule, class_threshold=2)
        last = "r"
    g.add_node("y", "Output", [last])
    return with_window(g, 8)


def _op_graph(op: str) -> Graph:
    """Input(2, 4, 4) → Conv2d → IF → the op under test → Flatten → Linear → IF → Output."""
    rng = np.random.default_rng(5)
    g = Graph()
    g.add_node("x", "Input", shape=(2, 4, 4))
    g.add_node("conv", "Conv2d", ["x"], {"weight": _weights(rng, (3, 2, 3, 3))}, padding=1)
    g.add_node("n0", "Neuron", ["conv"], _if_params(), charge="if")
    last = "n0"
    if op.endswith("Pool2d"):
        g.add_node("pool", op, [last], kernel_size=2)
        last = "pool"
    elif op == "Add":
        g.add_node("conv_b", "Conv2d", ["x"], {"weight": _weights(rng, (3, 2, 1, 1))})
        g.add_node("n0b", "Neuron", ["conv_b"], _if_params(), charge="if")
        g.add_node("add", "Add", [last, "n0b"])
        last = "add"
    elif op == "Scale":
        g.add_node("scale", "Scale", [last], {"scale": np.array(0.5, F32)})
        last = "scale"
    elif op == "BatchNorm":
        g.add_node("bn", "BatchNorm", [last], {"weight": np.full(3, 0.5, F32), "bias": np.zeros(3, F32),
                                                "mean": np.zeros(3, F32), "var": np.ones(3, F32)}, eps=0.0)
        last = "bn"
    g.add_node("flat", "Flatten", [last])
    g.add_node("fc", "Linear", ["flat"], {"weight": _weights(rng, (4, 3 * (4 if op.endswith("Pool2d") else 16)))})
    g.add_node("n1", "Neuron", ["fc"], _if_params(), charge="if")
    g.add_node("y", "Output", ["n1"])
    return with_window(g, 8)


VARIANTS = {
    **{f"Neuron {c}/{r}": (lambda c=c, r=r: _neuron_graph(c, r))
       for c in CHARGE_PARAMS for r in ("hard", "subtract", "none")},
    **{f"Neuron {c}/{r}/{t}": (lambda c=c, r=r, t=t: _neuron_graph(c, r, t))
       for c in ("beta", "cuba") for r in ("hard", "subtract") for t in ("delayed", "compensated")},
    "Neuron if/hard/gt": lambda: _neuron_graph(compare="gt"),
    **{f"Neuron {c}/{r}/adaptive": (lambda c=c, r=r: _neuron_graph(c, r, adaptive=True))
       for c, r in (("lif", "hard"), ("lif", "subtract"), ("cuba", "subtract"))},
    **{f"Readout {m}/{r}": (lambda m=m, r=r: _neuron_graph(readout=(m, r)))
       for m, r in (("spike", "argmax_spike_count"), ("spike", "first_to_threshold"),
                    ("spike", "threshold_then_argmax"), ("spike", "binary_logit"),
                    ("membrane", "argmax_membrane"), ("membrane", "binary_logit"))},
    **{op: (lambda op=op: _op_graph(op)) for op in ("Conv2d", "AvgPool2d", "SumPool2d", "MaxPool2d", "Add",
                                                    "Scale", "BatchNorm")},
}

def _neurons(*, resets=(), timings=()) -> set[str]:
    """The neuron variants (``Neuron charge/reset[/timing or adaptive]``) with one of ``resets`` or
    ``timings``."""
    chosen = set()
    for variant in VARIANTS:
        if variant.startswith("Neuron "):
            _, reset, *rest = variant.removeprefix("Neuron ").split("/")
            if reset in resets or (rest and rest[0] in timings):
                chosen.add(variant)
    return chosen


#: what each target declares it refuses, and why (every other cell must verify bit-exactly)
REFUSED: dict[str, set[str]] = {
    "gpu": set(),
    "onnx": {"BatchNorm"},  # folded into the layer before it by the passes; after a neuron it cannot be
    "lynxi": {"BatchNorm"},
    "hls": {"BatchNorm"},
    # Lava's CUBA neuron: v = 0 after a spike, no delayed reset, a fixed threshold; netx: a chain of
    # layers with spike outputs
    "loihi": _neurons(resets=("subtract", "none"), timings=("delayed", "compensated", "adaptive"))
    | {"Add", "BatchNorm", "MaxPool2d", "Readout membrane/argmax_membrane", "Readout membrane/binary_logit"},
    # NIR neurons reset to v_reset and have a fixed threshold; snnTorch Synaptic's delayed reset to zero
    # also clears the new current
    "nir": _neurons(resets=("subtract", "none"), timings=("adaptive",))
    | {"Neuron cuba/hard/delayed", "BatchNorm", "MaxPool2d"},
}


def _inputs(graph: Graph) -> np.ndarray:
    rng = np.random.default_rng(1)
    return (rng.random((16, 3) + tuple(graph.input_shape)) < 0.5).astype(F32)


def test_every_target_of_the_registry_has_a_column():
    assert set(REFUSED) == set(NAMES)


@pytest.mark.parametrize("target", NAMES)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_conformance(variant, target):
    graph = VARIANTS[variant]()
    if target == "nir":  # NIR has no reset window: its column runs without one
        graph = with_window(graph, 0)
    refused = variant in REFUSED[target]
    try:
        report = snnc.verify(graph, target, inputs=_inputs(graph))
    except UnsupportedError as e:
        assert refused, f"{target} refuses '{variant}' and does not declare it: {e}"
        return
    assert not refused, f"{target} declares that it refuses '{variant}', but it compiled"
    assert report.ok, f"'{variant}' on {target} is not bit-exact:\n{report}"
