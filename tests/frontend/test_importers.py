"""Every importer against the real library: model → snnc.trace → interpret, spike for spike.

Each case runs ≥ 500 steps of random input through the original module (snnTorch / SpikingJelly /
snnc.nn, with its own forward) and through the reference interpreter on the traced graph, and
compares every neuron layer's spikes (not only the output), requiring 0 mismatches. Inputs are
scaled so that every layer fires at a few-% to tens-% rate (asserted), so the check is not vacuous.
"""

import itertools
import zlib

import pytest
import torch
from torch import nn

from snnc.frontend import trace
from snnc.ir import interpret

T, N = 500, 3


def _compare(model, x, step_fn, layers, min_rate=0.005):
    """Run ``step_fn(model, x) -> {path: [T, N, ...] spikes}`` and the interpreter on the traced graph;
    ``layers`` maps a module path to the IR node holding its output. Returns the mismatch count."""
    graph = trace(model, x)
    _, rec = interpret(graph, x, record=True)
    ref = step_fn(model, x)
    mismatches = 0
    for path, name in layers.items():
        got = rec.values[name]
        assert got.shape == ref[path].shape
        assert ref[path].float().mean() >= min_rate, f"layer {path} barely fires; test would be vacuous"
        mismatches += int((got != ref[path]).sum())
    return mismatches


def _hooked_steps(model, x, paths, reset, per_step=True):
    """Run the model step by step ('s' mode) or at once ('m' mode), recording the listed modules' outputs."""
    out = {p: [] for p in paths}
    mods = dict(model.named_modules())
    hooks = [mods[p].register_forward_hook(
        lambda m, i, o, p=p: out[p].append(o[0] if isinstance(o, tuple) else o)) for p in paths]
    reset(model)
    with torch.no_grad():
        if per_step:
            for t in range(x.shape[0]):
                model(x[t])
        else:
            model(x)
    for h in hooks:
        h.remove()
    return {p: torch.stack(v) if per_step else v[0] for p, v in out.items()}


# snnTorch ---------------------------------------------------------------------------------------
snn = pytest.importorskip("snntorch")


def _snntorch_reset(model):
    for m in model.modules():
        if isinstance(m, snn.Synaptic):
            m.reset_mem() if hasattr(m, "reset_mem") else None
            m.syn = torch.zeros(0)
            m.mem = torch.zeros(0)
        elif isinstance(m, snn.Leaky):
            m.reset_mem()


def _split(cases, default):
    """The full matrix; cases outside ``default`` are marked slow (run with ``-m slow``)."""
    return [c if default(c) else pytest.param(*(c if isinstance(c, tuple) else (c,)), marks=pytest.mark.slow)
            for c in cases]


SNNTORCH_VARIANTS = list(itertools.product(["subtract", "zero", "none"], [True, False]))  # reset, reset_delay


def _chain(first_in: int, width: int, neurons: list, bias) -> nn.Sequential:
    """Linear → neuron → Linear → neuron …; each Linear's bias (``bias(i, width)``) keeps its layer firing."""
    layers = []
    for i, neuron in enumerate(neurons):
        fc = nn.Linear(first_in if i == 0 else width, width)
        with torch.no_grad():
            fc.weight.mul_(1.5)
            fc.bias.copy_(bias(i, width))
        layers += [fc, neuron]
    return nn.Sequential(*layers)


@pytest.mark.parametrize("kind,thr", _split(list(itertools.product(["Leaky", "Synaptic"],
                                                                   ["per_neuron", "scalar", "learnable"])),
                                            lambda c: c[1] == "per_neuron"))
def test_snntorch_exact(kind, thr):
    """Every reset mechanism × reset_delay in one chain; thresholds/betas scalar, per neuron or learnable
    (out-of-range betas are clamped by snnTorch and by the importer); graded spikes for Leaky."""
    torch.manual_seed(zlib.crc32(f"{kind}{thr}".encode()))
    width, learn = 16, thr == "learnable"
    neurons = []
    for reset, delay in SNNTORCH_VARIANTS:
        th = torch.rand(width) + 0.6 if thr != "scalar" else 1.0
        beta = torch.rand(width) * 1.3 - 0.1 if thr != "scalar" else 0.85
        kw = dict(init_hidden=True, reset_mechanism=reset, reset_delay=delay, learn_threshold=learn,
                  learn_beta=learn, threshold=th, beta=beta)
        if kind == "Leaky":
            neurons.append(snn.Leaky(graded_spikes_factor=1.0 if thr == "scalar" else 0.75, **kw))
        else:
            neurons.append(snn.Synaptic(alpha=torch.rand(width) if thr != "scalar" else 0.7, learn_alpha=learn, **kw))
    model = _chain(8, width, neurons, lambda i, n: torch.rand(n) * 0.6)
    x = torch.randn(T, N, 8) * 1.2
    paths = [str(2 * i + 1) for i in range(len(neurons))]
    run = lambda m, x: _hooked_steps(m, x, paths, _snntorch_reset)  # noqa: E731
    graded = kind == "Leaky" and thr != "scalar"
    assert _compare(model, x, run, {p: p + "_graded_spikes" if graded else p for p in paths}) == 0


def test_snntorch_tuple_forward_init_hidden_false():
    """A hand-written forward with ``spk, mem = self.lif(cur)`` (snnTorch's tutorial style)."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.lif1 = nn.Linear(8, 16), snn.Leaky(beta=0.8)
            self.fc2, self.lif2 = nn.Linear(16, 4), snn.Leaky(beta=0.7, reset_mechanism="zero")

        def forward(self, x):
            spk1, mem1 = self.lif1(self.fc1(x))
            spk2, mem2 = self.lif2(self.fc2(spk1))
            return spk2

    torch.manual_seed(1)
    model = Net()
    x = torch.randn(T, N, 8) * 2
    run = lambda m, x: _hooked_steps(m, x, ["lif1", "lif2"], _snntorch_reset)  # noqa: E731
    assert _compare(model, x, run, {"lif1": "lif1", "lif2": "lif2"}) == 0


# SpikingJelly -----------------------------------------------------------------------------------
sj = pytest.importorskip("spikingjelly.activation_based")
from spikingjelly.activation_based import functional as sjf, layer as sjl, neuron as sjn  # noqa: E402

SJ_KINDS = ["IF", "LIF", "LIF_nodecay", "PLIF", "PLIF_nodecay", "CUBALIF"]


def _sj_node(kind, v_reset, th):
    if kind == "IF":
        return sjn.IFNode(v_threshold=th, v_reset=v_reset)
    if kind.startswith("LIF"):
        return sjn.LIFNode(tau=3.7, decay_input=kind == "LIF", v_threshold=th, v_reset=v_reset)
    if kind == "CUBALIF":
        return sjn.CUBALIFNode(c_decay=0.55, v_decay=0.8, v_threshold=th, v_reset=v_reset)
    return sjn.ParametricLIFNode(init_tau=2.3, decay_input=kind == "PLIF", v_threshold=th, v_reset=v_reset)


@pytest.mark.parametrize("v_reset,th,mode", _split(list(itertools.product([0.0, None, -0.25], [0.6, 1.3], ["s", "m"])),
                                                   lambda c: c in ((0.0, 0.6, "s"), (None, 0.6, "s"), (-0.25, 1.3, "m"))))
def test_spikingjelly_exact(v_reset, th, mode):
    """IF, LIF, PLIF (decay_input both ways) and CUBALIF in one chain of layer.* wrappers; hard reset to
    ``v_reset`` or soft reset (None); single-step and multi-step modes."""
    torch.manual_seed(7)
    neurons = [_sj_node(k, v_reset, th) for k in SJ_KINDS]
    chain = _chain(16, 20, neurons, lambda i, n: th * (torch.rand(n) + 0.3) - (v_reset or 0.0))
    layers = [sjl.Flatten()]
    for m in chain:
        if isinstance(m, nn.Linear):
            lin = sjl.Linear(m.in_features, m.out_features)
            lin.load_state_dict(m.state_dict())
            m = lin
        layers.append(m)
    model = nn.Sequential(*layers)
    sjf.set_step_mode(model, mode)
    x = torch.rand(T, N, 1, 4, 4) * 1.5
    paths = [str(2 * i + 2) for i in range(len(neurons))]
    run = lambda m, x: _hooked_steps(m, x, paths, sjf.reset_net, per_step=mode == "s")  # noqa: E731
    assert _compare(model, x, run, {p: p for p in paths}) == 0


def test_spikingjelly_conv_bn_containers():
    """layer.* wrappers inside SeqToANNContainer / MultiStepContainer, BatchNorm with statistics."""
    torch.manual_seed(3)
    model = nn.Sequential(
        sjl.SeqToANNContainer(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4)),
        sjl.MultiStepContainer(sjn.LIFNode(tau=2.0, v_threshold=0.5)),
        sjl.SeqToANNContainer(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 5)),
        sjn.IFNode(v_reset=None, step_mode="m"))
    with torch.no_grad():
        bn = model[0][1]
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 2.0)
    model.eval()
    x = (torch.rand(T, N, 2, 8, 8) < 0.4).float() * 2.0
    run = lambda m, x: _hooked_steps(m, x, ["1", "3"], sjf.reset_net, per_step=False)  # noqa: E731
    assert _compare(model, x, run, {"1": "1_0", "3": "3"}) == 0


@pytest.mark.parametrize("output_size", [1, 2, (None, 1)])
def test_spikingjelly_adaptive_avg_pool_as_an_average_pool(output_size):
    """layer.AdaptiveAvgPool2d (every spiking ResNet / VGG of the zoo ends with one): at the traced
    input size, an AvgPool2d with kernel = stride = input / output."""
    torch.manual_seed(4)
    model = nn.Sequential(
        sjl.SeqToANNContainer(nn.Conv2d(2, 4, 3, padding=1)),
        sjn.IFNode(v_threshold=0.5, step_mode="m"),
        sjl.AdaptiveAvgPool2d(output_size, step_mode="m"),
        sjl.Flatten(step_mode="m"),
        sjl.Linear(4 * (1 if output_size == 1 else 4 if output_size == 2 else 4), 3, step_mode="m"),
        sjn.IFNode(v_threshold=0.2, step_mode="m"))
    x = (torch.rand(T, N, 2, 4, 4) < 0.4).float()
    run = lambda m, x: _hooked_steps(m, x, ["1", "5"], sjf.reset_net, per_step=False)  # noqa: E731
    assert _compare(model, x, run, {"1": "1", "5": "5"}) == 0
    (pool,) = [n for n in trace(model, x).nodes if n.op == "AvgPool2d"]
    assert pool.attrs["kernel_size"] == {1: (4, 4), 2: (2, 2), (None, 1): (1, 4)}[output_size]


def test_adaptive_avg_pool_that_repeats_its_input_is_exact():
    """An output that is a multiple of the input (VGG's (7, 7) pool on a small map) repeats each element:
    a Flatten and a 0/1 Linear whose float result equals torch's pool, flattened, bit for bit."""
    from snnc.ir import interpret
    torch.manual_seed(5)
    model = nn.Sequential(nn.Conv2d(2, 3, 3), snnc_nn.LIF(step_mode="m"), nn.AdaptiveAvgPool2d((4, 6)),
                          nn.Flatten(), nn.Linear(3 * 24, 5))
    x = torch.randn(T, N, 2, 4, 5) * 3  # a 2x3 map repeated 2x2 times
    graph = trace(model, x)
    assert [n.op for n in graph.nodes if n.op in ("Flatten", "Linear")] == ["Flatten", "Linear", "Linear"]
    snnc_nn.reset_net(model)
    with torch.no_grad():
        want = torch.stack([model[4](model[3](model[2](v))) for v in model[1](model[0](x.flatten(0, 1)).unflatten(0, (T, N)))])
    assert torch.equal(interpret(graph, x), want)


def test_adaptive_avg_pool_with_uneven_windows_is_refused_naming_the_module():
    from snnc.ir import UnsupportedError
    model = nn.Sequential(nn.Conv2d(1, 2, 3), snnc_nn.IF(step_mode="m"), nn.AdaptiveAvgPool2d(2))
    with pytest.raises(UnsupportedError, match=r"node '2'.*AdaptiveAvgPool2d from 3x3 to 2x2"):
        trace(model, torch.zeros(1, 1, 1, 5, 5))


# snnc.nn ----------------------------------------------------------------------------------------
import snnc.nn as snnc_nn  # noqa: E402


@pytest.mark.parametrize("v_reset", _split([None, 0.0, 0.1], lambda c: c != 0.1))
def test_snnc_nn_exact(v_reset):
    """snnc.nn IF, LIF (per-neuron threshold), PLIF (not decay_input), CubaLIF and ALIF (scalar and
    per-neuron adaptation) in one chain."""
    torch.manual_seed(11)
    neurons = [snnc_nn.IF(v_threshold=0.9, v_reset=v_reset),
               snnc_nn.LIF(tau=2.5, v_threshold=torch.rand(10) + 0.4, v_reset=v_reset),
               snnc_nn.PLIF(init_tau=3.0, decay_input=False, v_reset=v_reset),
               snnc_nn.CubaLIF(current_decay=0.3, voltage_decay=0.2, v_reset=v_reset),
               snnc_nn.ALIF(tau=2.0, tau_adapt=6.0, beta_adapt=0.4, v_reset=v_reset),
               snnc_nn.ALIF(tau=3.0, tau_adapt=torch.rand(10) * 8 + 1, beta_adapt=torch.rand(10), decay_input=False,
                            v_reset=v_reset)]
    model = _chain(6, 10, neurons, lambda i, n: torch.rand(n) * 0.5 + 0.1)
    x = torch.randn(T, N, 6) * 1.5
    paths = [str(2 * i + 1) for i in range(len(neurons))]
    run = lambda m, x: _hooked_steps(m, x, paths, snnc_nn.reset_net)  # noqa: E731
    assert _compare(model, x, run, {p: p for p in paths}) == 0


def test_snnc_readout_and_window():
    """snnc.nn neurons and the Readout with a fixed window: the window resets map to the IR."""
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(6, 10), snnc_nn.LIF(tau=2.0, window_size=10), nn.Linear(10, 3),
                          snnc_nn.IF(window_size=10), snnc_nn.Readout(n_classes=3, window_size=10))
    with torch.no_grad():
        model[0].bias.fill_(0.8)
        model[2].bias.fill_(0.4)
    x = torch.rand(T, N, 6) * 2
    graph = trace(model, x)
    assert graph["4"].op == "Readout" and graph["4"].attrs["window_size"] == 10
    snnc_nn.reset_net(model)
    with torch.no_grad():
        ref = torch.stack([model(xt) for xt in x])
    assert torch.equal(interpret(graph, x), ref)
