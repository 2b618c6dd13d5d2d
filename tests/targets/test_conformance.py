"""The op × target conformance matrix, generated from the target registry.

Every variant below (each op, and each neuron charge / reset / timing / comparison and readout rule)
is compiled for every target of ``snnc.targets.NAMES`` and verified against the reference
interpreter under the target's numerics: it must be bit-exact, or be refused with an
``UnsupportedError`` where the target's declaration (``snnc.targets.accepts.ACCEPTS``) does not accept
it. A cell that is neither (a wrong result, a refusal not declared, a declared refusal that now
compiles) fails naming the variant and the target.
"""

from __future__ import annotations

import numpy as np
import pytest

import snnc
from snnc.ir import Graph, UnsupportedError
from snnc.ir.ops import Neuron
from snnc.targets import NAMES
from snnc.targets.accepts import ACCEPTS, ALL_OPS

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


def _output_graph(output: str) -> Graph:
    """The neuron graph, plus the first neuron output as its state ``output`` too: a second Output of
    the same input and parameters (how a model returning ``spk, mem`` is traced). The neuron has a
    delayed reset (snnTorch's), where the state is read between the step's spike and its store."""
    g = _neuron_graph("beta" if output == "v" else "cuba", "hard", "delayed")
    n1 = g["n1"]
    g.add_node("n1_state", "Neuron", ["fc1"], dict(n1.params), **{**n1.attrs, "output": output})
    g.add_node("y_state", "Output", ["n1_state"])
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
    elif op in ("Add", "Mul"):  # (Mul as SEW IAND: n0 · (1 − n0b))
        g.add_node("conv_b", "Conv2d", ["x"], {"weight": _weights(rng, (3, 2, 1, 1))})
        g.add_node("n0b", "Neuron", ["conv_b"], _if_params(), charge="if")
        g.add_node("join", op, [last, "n0b"], **({"complement": (0, 1)} if op == "Mul" else {}))
        last = "join"
    elif op == "Scale":
        g.add_node("scale", "Scale", [last], {"scale": np.array(0.5, F32)})
        last = "scale"
    elif op == "Delay":  # a synaptic delay of 2 steps, and a recurrent cycle: n0r = IF(n0 + W·n0r[t-1])
        g.add_node("delay", "Delay", [last], shape=(3, 4, 4), steps=2)
        g.add_node("feedback", "Delay", ["n0r"], shape=(3, 4, 4))
        g.add_node("rec", "Conv2d", ["feedback"], {"weight": _weights(rng, (3, 3, 1, 1)),
                                                   "bias": np.full(3, 0.125, F32)})
        g.add_node("sum", "Add", ["delay", "rec"])
        g.add_node("n0r", "Neuron", ["sum"], _if_params(), charge="if")
        last = "n0r"
    elif op == "BatchNorm":
        g.add_node("bn", "BatchNorm", [last], {"weight": np.full(3, 0.5, F32), "bias": np.zeros(3, F32),
                                                "mean": np.zeros(3, F32), "var": np.ones(3, F32)}, eps=0.0)
        last = "bn"
    g.add_node("flat", "Flatten", [last])
    g.add_node("fc", "Linear", ["flat"], {"weight": _weights(rng, (4, 3 * (4 if op.endswith("Pool2d") else 16)))})
    g.add_node("n1", "Neuron", ["fc"], _if_params(), charge="if")
    g.add_node("y", "Output", ["n1"])
    return with_window(g, 8)


def _neuron(charge="if", reset="hard", timing="immediate", compare="ge", adaptive=False):
    """A neuron variant: its graph and what a target must accept to lower it."""
    graph = lambda: _neuron_graph(charge, reset, timing, compare, adaptive=adaptive)  # noqa: E731
    return graph, ("Neuron", (charge, reset, timing, compare, "adaptive" if adaptive else "fixed"))


def _readout(mode, rule):
    return (lambda: _neuron_graph(readout=(mode, rule))), ("Readout", mode)


#: variant name → (graph builder, the feature it tests: ``("Neuron", attrs)``, ``("Readout", mode)`` or
#: ``("op", name)``)
VARIANTS = {
    **{f"Neuron {c}/{r}": _neuron(c, r) for c in CHARGE_PARAMS for r in ("hard", "subtract", "none")},
    **{f"Neuron {c}/{r}/{t}": _neuron(c, r, t)
       for c in ("beta", "cuba") for r in ("hard", "subtract") for t in ("delayed", "compensated")},
    "Neuron if/hard/gt": _neuron(compare="gt"),
    **{f"Neuron {c}/{r}/adaptive": _neuron(c, r, adaptive=True)
       for c, r in (("lif", "hard"), ("lif", "subtract"), ("cuba", "subtract"))},
    **{f"Readout {m}/{r}": _readout(m, r)
       for m, r in (("spike", "argmax_spike_count"), ("spike", "first_to_threshold"),
                    ("spike", "threshold_then_argmax"), ("spike", "binary_logit"),
                    ("membrane", "argmax_membrane"), ("membrane", "binary_logit"))},
    **{f"Neuron output {o}": ((lambda o=o: _output_graph(o)), ("NeuronOutput", o)) for o in ("v", "i")},
    **{op: ((lambda op=op: _op_graph(op)), ("op", op))
       for op in ("Conv2d", "AvgPool2d", "SumPool2d", "MaxPool2d", "Add", "Mul", "Scale", "BatchNorm", "Delay")},
}


def declared_refusal(target: str, feature) -> str | None:
    """What ``ACCEPTS[target]`` says the target refuses in ``feature`` (None: it must be bit-exact)."""
    accepts = ACCEPTS[target]
    kind, what = feature
    if kind == "Neuron":
        return accepts.neuron_refusal(*what)
    if kind == "Readout":
        return None if what in accepts.readout_modes else f"readout mode '{what}'"
    if kind == "NeuronOutput":
        return None if what in accepts.outputs else f"neuron output '{what}'"
    return None if what in accepts.ops else f"op {what}"


def _inputs(graph: Graph) -> np.ndarray:
    rng = np.random.default_rng(1)
    return (rng.random((16, 3) + tuple(graph.input_shape)) < 0.5).astype(F32)


def test_every_target_of_the_registry_declares_what_it_accepts():
    assert set(ACCEPTS) == set(NAMES)


def test_the_matrix_covers_every_op_and_neuron_attribute_value():
    ops = {what for kind, what in (f for _, f in VARIANTS.values()) if kind == "op"}
    neurons = [what for kind, what in (f for _, f in VARIANTS.values()) if kind == "Neuron"]
    covered = ops | {"Input", "Output", "Linear", "Flatten", "Neuron", "Readout"}
    assert covered == ALL_OPS, f"ops without a variant: {sorted(ALL_OPS - covered)}"
    for i, name in enumerate(("charge", "reset", "reset_timing", "compare", "threshold")):
        choices = set(Neuron.attrs[name].choices)
        assert {n[i] for n in neurons} == choices, f"Neuron {name} values without a variant"
    outputs = {what for kind, what in (f for _, f in VARIANTS.values()) if kind == "NeuronOutput"}
    assert outputs | {"spikes"} == set(Neuron.attrs["output"].choices), "Neuron outputs without a variant"


@pytest.mark.parametrize("target", NAMES)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_conformance(variant, target):
    build, feature = VARIANTS[variant]
    graph = build()
    if not ACCEPTS[target].reset_window:  # (NIR) the column runs without the reset window
        graph = with_window(graph, 0)
    refused = declared_refusal(target, feature)
    try:
        report = snnc.verify(graph, target, inputs=_inputs(graph))
    except UnsupportedError as e:
        assert refused, f"{target} refuses '{variant}' and does not declare it in ACCEPTS: {e}"
        return
    assert not refused, f"{target} declares that it refuses {refused} ('{variant}'), but it compiled"
    assert report.ok, f"'{variant}' on {target} is not bit-exact:\n{report}"
