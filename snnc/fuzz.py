"""Hypothesis strategies that build random valid spiking networks, for checking every target.

    from hypothesis import given
    from snnc.fuzz import networks

    @given(networks())
    def test_target(case):
        assert snnc.verify(case.graph, "hls", case.inputs).ok

A :class:`Case` is a verified IR graph plus time-major spike inputs. The graphs are layer stacks
(dense, or convolutional with pooling then dense), every neuron variant of the IR (IF, LIF with and
without decay_input, PLIF, beta, CUBA; ``>=``/``>``; hard/subtract/none reset; delayed reset for the
beta charge), with parameters in one of three regimes: ``"typical"``, ``"threshold"`` (weights and
thresholds on a coarse dyadic grid so that membrane potentials land exactly on the threshold and
``>=`` vs ``>`` matters) and ``"overflow"`` (large weights and thresholds that push fixed-point
states to their limits), and optionally a Readout with any rule and both output modes.

The builders take a :class:`Choices` (what to pick next), so the same networks come from Hypothesis
(``networks()``, shrinkable) or from a seeded NumPy generator (``random_case(seed)``, the same case for
a seed on every machine and Hypothesis version: the regression corpus of ``tests/ir``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import torch
from hypothesis import strategies as st

from .ir import Graph
from .ir.ops import READOUT_RULES
from .targets.accepts import ACCEPTS, fuzz_hints

REGIMES = ("typical", "threshold", "overflow")
CHARGES = ("if", "lif", "plif", "beta", "cuba")


class Choices(ABC):
    """What a builder picks next: ``one`` of a sequence, an ``integer`` in ``[lo, hi]``, a ``boolean``."""

    @abstractmethod
    def one(self, options): ...

    @abstractmethod
    def integer(self, lo: int, hi: int) -> int: ...

    def boolean(self) -> bool:
        return bool(self.one((False, True)))


class _Drawn(Choices):
    """Choices drawn by Hypothesis (so that failing cases shrink)."""

    def __init__(self, draw):
        self.draw = draw

    def one(self, options):
        return self.draw(st.sampled_from(options))

    def integer(self, lo, hi):
        return self.draw(st.integers(lo, hi))

    def boolean(self):
        return self.draw(st.booleans())


class Seeded(Choices):
    """Choices from ``numpy.random.default_rng(seed)``: the same sequence for a seed everywhere."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def one(self, options):
        return options[int(self.rng.integers(len(options)))]

    def integer(self, lo, hi):
        return int(self.rng.integers(lo, hi + 1))


@dataclass
class Case:
    graph: Graph
    inputs: torch.Tensor
    regime: str

    def __repr__(self) -> str:
        return f"Case(regime={self.regime!r}, inputs={list(self.inputs.shape)})\n{self.graph.summary()}"


def _grid(pick: Choices, shape, regime: str, fan_in: int) -> np.ndarray:
    """Weights: typical ~ N(0, 1/sqrt(fan_in)) rounded to 1/64; threshold regime: multiples of 1/4 in
    [-1, 1]; overflow regime: multiples of 1/2 up to ±(a large power of two)."""
    seed = pick.integer(0, 2**31 - 1)
    rng = np.random.default_rng(seed)
    if regime == "threshold":
        w = rng.integers(-4, 5, size=shape) / 4.0
    elif regime == "overflow":
        big = 2.0 ** pick.integer(3, 9)
        w = np.round(rng.uniform(-big, big, size=shape) * 2) / 2
    else:
        w = np.round(rng.normal(0.0, 1.5 / np.sqrt(fan_in), size=shape) * 64) / 64
    return w.astype(np.float32)


def _infer(g: Graph, name: str):
    """Per-step shape of the (so far last) node ``name`` of a graph under construction."""
    node = g[name]
    node.shape = tuple(node.definition.infer_shape(node, [g[s].shape for s in node.inputs]))
    return node.shape


def _scalar(value: float) -> np.ndarray:
    return np.array(value, np.float32)


RESETS = ("hard", "subtract", "none")

#: what each target accepts (``snnc.targets.accepts``), so that its fuzzing is not spent on refusals
#: (the targets refuse the rest with an error naming the node; ``graphs()`` without hints draws everything)
TARGET_HINTS = {name: hints for name, accepts in ACCEPTS.items() if (hints := fuzz_hints(accepts))}


def neuron_params(pick: Choices, shape, regime: str = "typical", charges=CHARGES, per_neuron: bool | None = None,
                  resets=RESETS, delayed: bool = True, v_resets=(0.0, 0.0, -0.25), compares=("ge", "gt")):
    """``(attrs, params)`` of one Neuron node with per-step ``shape``."""
    charge = pick.one(charges)
    attrs = {"charge": charge, "compare": pick.one(compares),
             "reset": pick.one(resets)}
    if charge in ("lif", "plif"):
        attrs["decay_input"] = pick.boolean()
    if charge == "beta" and delayed and pick.boolean():
        attrs["reset_timing"] = "delayed"
    if regime == "threshold":
        th = pick.one((0.25, 0.5, 0.75, 1.0))
    elif regime == "overflow":
        th = float(2.0 ** pick.integer(4, 10))
    else:
        th = pick.one((0.25, 0.5, 1.0, 1.5))
    per = pick.boolean() if per_neuron is None else per_neuron
    if per:
        seed = pick.integer(0, 2**31 - 1)
        factors = np.random.default_rng(seed).integers(2, 7, size=shape) / 4.0
        params = {"v_threshold": (th * factors).astype(np.float32)}
    else:
        params = {"v_threshold": _scalar(th)}
    if attrs["reset"] == "hard":
        params["v_reset"] = _scalar(pick.one(v_resets) * th)  # a fraction of the threshold
    if charge == "lif":
        params["tau"] = _scalar(pick.one((2.0, 4.0, 8.0)))
    elif charge == "plif":
        params["k"] = _scalar(pick.one((0.5, 0.25, 0.125)))
    elif charge == "beta":
        params["beta"] = _scalar(pick.one((0.5, 0.75, 0.875, 1.0)))
    elif charge == "cuba":
        params["alpha"] = _scalar(pick.one((0.5, 0.75, 0.875)))
        params["beta"] = _scalar(pick.one((0.5, 0.75, 0.875, 0.9375)))
    return attrs, params


def build_graph(pick: Choices, regime: str | None = None, conv: bool | None = None, readout: bool | None = None,
           charges=CHARGES, pools=("SumPool2d", "AvgPool2d", "MaxPool2d"), max_dense_layers: int = 3,
           window: int | None = None, bias: bool | None = None, resets=RESETS, delayed: bool = True,
           per_neuron: bool | None = None, v_resets=(0.0, 0.0, -0.25), readout_modes=("spike", "membrane"),
           conv_blocks=(1, 2), compares=("ge", "gt")):
    """A random verified :class:`Graph`. Every argument left ``None`` is drawn."""
    regime = regime or pick.one(REGIMES)
    conv = pick.boolean() if conv is None else conv
    g = Graph()
    n_neurons = 0

    def neuron(src, shape):
        nonlocal n_neurons
        attrs, params = neuron_params(pick, shape, regime, charges, per_neuron, resets=resets, delayed=delayed,
                                      v_resets=v_resets, compares=compares)
        n_neurons += 1
        node = g.add_node(f"n{n_neurons}", "Neuron", [src], params, **attrs)
        node.shape = tuple(shape)
        return node.name

    def with_bias(n_out):
        use = pick.boolean() if bias is None else bias
        return {"bias": _grid(pick, (n_out,), regime, 4)} if use else {}

    if conv:
        c, h = pick.integer(1, 2), pick.integer(4, 7)
        g.add_node("x", "Input", shape=(c, h, h))
        g["x"].shape = (c, h, h)
        src, shape = "x", (c, h, h)
        for i in range(pick.integer(*conv_blocks)):
            o, k = pick.integer(1, 4), pick.integer(1, 3)
            if k > shape[1]:
                k = shape[1]
            pad = pick.integer(0, k // 2)
            stride = pick.integer(1, 2)
            params = {"weight": _grid(pick, (o, shape[0], k, k), regime, shape[0] * k * k), **with_bias(o)}
            src = g.add_node(f"conv{i + 1}", "Conv2d", [src], params, stride=stride, padding=pad).name
            shape = _infer(g, src)
            src = neuron(src, shape)
            if pools and shape[1] >= 2 and pick.boolean():
                pool = pick.one(pools)
                src = g.add_node(f"pool{i + 1}", pool, [src], kernel_size=2).name
                shape = _infer(g, src)
        src = g.add_node("flat", "Flatten", [src]).name
        width = int(np.prod(shape))
    else:
        width = pick.integer(2, 12)
        g.add_node("x", "Input", shape=(width,))
        src = "x"
    use_readout = pick.boolean() if readout is None else readout
    layers = pick.integer(1, max_dense_layers)
    for i in range(layers):
        last = i == layers - 1
        out = pick.integer(2, 4) if last and use_readout else pick.integer(2, 10)
        params = {"weight": _grid(pick, (out, width), regime, width), **with_bias(out)}
        src = g.add_node(f"fc{i + 1}", "Linear", [src], params).name
        src = neuron(src, (out,))
        width = out
    win = window if window is not None else pick.one((0, 4, 6, 8))
    if use_readout:
        mode = pick.one(readout_modes)
        rules = [r for r in READOUT_RULES[mode] if r != "binary_logit" or width == 2]
        rule = pick.one(rules)
        params = {}
        if mode == "membrane" and pick.boolean():
            params["beta"] = _scalar(pick.one((0.5, 0.75, 1.0)))
        src = g.add_node("readout", "Readout", [src], params, output_mode=mode, rule=rule,
                         class_threshold=pick.integer(1, 3)).name
    g.add_node("y", "Output", [src])
    g.metadata["fuzz_regime"] = regime
    if win:
        for node in g.nodes:
            if node.stateful:
                node.attrs["window_size"] = win
    return g.verify()


def spike_inputs(pick: Choices, input_shape, timesteps=(4, 16), batch=(1, 3)):
    """Bernoulli spike trains ``[T, N, *input_shape]`` with a drawn rate."""
    T = pick.integer(*timesteps) if isinstance(timesteps, tuple) else timesteps
    N = pick.integer(*batch) if isinstance(batch, tuple) else batch
    rate = pick.one((0.1, 0.3, 0.6, 0.9))
    seed = pick.integer(0, 2**31 - 1)
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand((T, N) + tuple(input_shape), generator=gen) < rate).to(torch.float32)


@st.composite
def graphs(draw, **graph_options):
    """A random verified :class:`Graph` drawn by Hypothesis (options as :func:`build_graph`)."""
    return build_graph(_Drawn(draw), **graph_options)


def _case(pick: Choices, timesteps, batch, graph_options) -> Case:
    g = build_graph(pick, **graph_options)
    return Case(g, spike_inputs(pick, g.input_shape, timesteps, batch), g.metadata["fuzz_regime"])


@st.composite
def networks(draw, timesteps=(4, 16), batch=(1, 3), **graph_options):
    """A :class:`Case`: a random graph (``graph_options`` as :func:`build_graph`) and spike inputs."""
    return _case(_Drawn(draw), timesteps, batch, graph_options)


def random_case(seed: int, timesteps=(4, 16), batch=(1, 3), **graph_options) -> Case:
    """The :class:`Case` of ``seed``, independent of Hypothesis (see :class:`Seeded`)."""
    return _case(Seeded(seed), timesteps, batch, graph_options)


__all__ = ["TARGET_HINTS", "RESETS", "graphs", "networks", "random_case", "build_graph", "neuron_params",
           "spike_inputs", "Case", "Choices", "Seeded", "REGIMES", "CHARGES"]
