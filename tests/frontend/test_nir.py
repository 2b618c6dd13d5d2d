"""NIR: snnc → NIR file → snnc is exact; snnTorch's own export_to_nir imports and matches snnTorch;
what NIR cannot express is refused (or approximated, named, on request); the nir target's artifact
simulates equal to the interpreter."""

import warnings

import numpy as np
import pytest
import torch

import snnc
from snnc.ir import Graph, interpret
from snnc.ir.errors import UnsupportedError

nir = pytest.importorskip("nir")
from snnc.targets.nir import TARGET, check, from_nir, prepare, read, to_nir  # noqa: E402

T, N = 500, 3


def _graph(neuron_attrs: dict, neuron_params: dict, n_in=6, n_hidden=8) -> Graph:
    rng = np.random.default_rng(0)
    g = Graph()
    g.add_node("input", "Input", shape=(n_in,))
    g.add_node("fc", "Linear", ["input"], {"weight": rng.normal(0, 0.8, (n_hidden, n_in)).astype(np.float32),
                                           "bias": rng.uniform(0, 0.4, n_hidden).astype(np.float32)})
    g.add_node("lif", "Neuron", ["fc"], neuron_params, **neuron_attrs)
    g.add_node("fc2", "Linear", ["lif"], {"weight": np.abs(rng.normal(0, 0.6, (4, n_hidden))).astype(np.float32)})
    g.add_node("lif2", "Neuron", ["fc2"], {"v_threshold": np.float32(0.5), "v_reset": np.float32(0.0),
                                           "beta": np.float32(0.9)}, charge="beta", compare="gt")
    g.add_node("output", "Output", ["lif2"])
    return g.verify()


def _vec(values, n=8):
    return np.asarray(values, np.float32) if np.ndim(values) else np.full(n, values, np.float32)


rng0 = np.random.default_rng(1)
ROUND_TRIP = {
    "beta_vector": ({"charge": "beta", "compare": "gt"},
                    {"beta": rng0.uniform(0.5, 1.0, 8).astype(np.float32), "v_threshold": _vec(rng0.uniform(0.5, 1.2, 8)),
                     "v_reset": np.float32(0.0)}),
    "beta_delayed_zero": ({"charge": "beta", "compare": "gt", "reset_timing": "delayed"},
                          {"beta": np.float64(0.85), "v_threshold": np.float64(0.7), "v_reset": np.float64(0.0)}),
    "beta_compensated_zero": ({"charge": "beta", "compare": "gt", "reset_timing": "compensated"},
                              {"beta": np.float32(0.8), "v_threshold": np.float32(0.6), "v_reset": np.float32(0.0)}),
    "beta_reset_to_value": ({"charge": "beta", "compare": "gt"},
                            {"beta": np.float32(0.7), "v_threshold": np.float32(0.5), "v_reset": np.float32(-0.2)}),
    "lif_decay_input": ({"charge": "lif", "compare": "gt"},
                        {"tau": np.float64(3.7), "v_threshold": np.float32(0.3), "v_reset": np.float32(0.0)}),
    "lif_no_decay_leak": ({"charge": "lif", "compare": "gt", "decay_input": False},
                          {"tau": _vec(rng0.uniform(1.5, 5, 8)), "v_threshold": np.float32(0.8),
                           "v_reset": np.float32(-0.1), "v_leak": np.float32(-0.1)}),
    "plif": ({"charge": "plif", "compare": "gt"},
             {"k": np.float32(0.4), "v_threshold": np.float32(0.4), "v_reset": np.float32(0.0)}),
    "if": ({"charge": "if", "compare": "gt"}, {"v_threshold": np.float32(1.0), "v_reset": np.float32(0.0)}),
    "cuba": ({"charge": "cuba", "compare": "gt"},
             {"alpha": _vec(rng0.uniform(0.3, 0.9, 8)), "beta": np.float32(0.75), "v_threshold": np.float32(1.5),
              "v_reset": np.float32(0.0)}),
}


@pytest.mark.parametrize("case", sorted(ROUND_TRIP))
def test_round_trip_exact(case, tmp_path):
    attrs, params = ROUND_TRIP[case]
    g = _graph(attrs, params)
    nir.write(str(tmp_path / "m.nir"), to_nir(g))
    g2 = read(tmp_path / "m.nir")
    assert [n.op for n in g2.nodes] == [n.op for n in g.nodes]
    for a, b in zip(g.nodes, g2.nodes):
        assert a.attrs == b.attrs, (a.name, a.attrs, b.attrs)
        assert sorted(a.params) == sorted(b.params), a.name
        for k in a.params:  # float32 values come back exactly (scalars as float32 scalars)
            assert np.array_equal(np.asarray(a.params[k], np.float32), np.asarray(b.params[k], np.float32)), (a.name, k)
    x = torch.rand(T, N, 6) * 1.5
    _, r1 = interpret(g, x, record=True)
    _, r2 = interpret(g2, x, record=True)
    assert r1.values["lif"].mean() > 0.01
    assert torch.equal(r1.values["lif"], r2.values["lif"])
    assert torch.equal(r1.values["output"], r2.values["output"])


def test_snntorch_export_to_nir_imports_and_matches_snntorch():
    snn = pytest.importorskip("snntorch")
    pytest.importorskip("nirtorch")
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(0)
    nh = 16
    model = torch.nn.Sequential(
        torch.nn.Linear(6, nh),
        snn.Leaky(beta=torch.rand(nh) * 0.5 + 0.5, threshold=torch.rand(nh) + 0.5, init_hidden=True,
                  reset_mechanism="zero", reset_delay=False),
        torch.nn.Linear(nh, 4),
        snn.Leaky(beta=torch.full((4,), 0.9), threshold=torch.full((4,), 0.5), init_hidden=True, output=True,
                  reset_mechanism="zero"))  # delayed zero reset: equal to NIR's immediate reset
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = from_nir(export_to_nir(model, torch.randn(6)))
    x = torch.randn(T, N, 6) * 1.5
    for m in model.modules():
        if isinstance(m, snn.Leaky):
            m.reset_mem()
    hidden = []
    h = model[1].register_forward_hook(lambda m, i, o: hidden.append(o))
    with torch.no_grad():
        ref = torch.stack([model(xt)[0] for xt in x])
    h.remove()
    y, rec = interpret(graph, x, record=True)
    assert torch.stack(hidden).mean() > 0.01 and ref.mean() > 0.01
    assert int((rec.values["1"] != torch.stack(hidden)).sum()) == 0
    assert int((y != ref).sum()) == 0


@pytest.mark.parametrize("attrs,message", [
    ({"charge": "beta", "compare": "gt", "reset": "subtract"}, "subtraction"),
    ({"charge": "beta", "compare": "gt", "reset": "none"}, "no reset"),
    ({"charge": "beta", "compare": "gt", "reset": "subtract", "reset_timing": "delayed"}, "subtraction"),
])
def test_inexpressible_refused_then_approximated(attrs, message):
    params = {"beta": np.float32(0.9), "v_threshold": np.float32(0.5), "v_reset": np.float32(0.0)}
    g = _graph(attrs, params)
    with pytest.raises(UnsupportedError) as e:
        check(g, {})
    assert "node 'lif'" in str(e.value) and message in str(e.value) and "--allow-approximate" in str(e.value)
    if attrs.get("reset") == "none":
        with pytest.raises(UnsupportedError):
            check(prepare(g, {"allow_approximate": True}), {})
        return
    approx = prepare(g, {"allow_approximate": True})
    check(approx, {})
    assert approx.metadata["nir_approximations"] and all("lif" in n for n in approx.metadata["nir_approximations"])
    back = from_nir(to_nir(approx))
    x = torch.rand(100, N, 6)
    assert torch.equal(interpret(approx, x), interpret(back, x))


def test_nir_target_compile_simulate_verify(tmp_path):
    attrs, params = ROUND_TRIP["cuba"]
    g = _graph(attrs, params)
    art = snnc.compile(g, "nir", tmp_path / "out", dt=1e-3)
    assert (tmp_path / "out" / "model.nir").is_file()
    x = torch.rand(64, 2, 6) * 2
    assert torch.equal(snnc.simulate(art, x), interpret(g, x))
    assert float(np.asarray(nir.read(str(tmp_path / "out" / "model.nir")).metadata["snnc.dt"])) == 1e-3
    assert snnc.verify(g, "nir", x).ok
    assert "CubaLIF" in TARGET.describe(tmp_path / "out")


def test_foreign_nir_rules_and_dt():
    """A file without snnc metadata: LIF with v_leak = 0 and unit gain → beta neuron; gain ≠ 1 → Scale;
    IF with R = 1 under dt = 1e-3 → input gain 1e-3 (the explicit dt decides)."""
    w = np.eye(3, dtype=np.float32)
    g = nir.NIRGraph(nodes={
        "input": nir.Input({"input": np.array([3])}),
        "fc": nir.Linear(weight=w),
        "lif": nir.LIF(tau=np.full(3, 1e-3 / 0.2), r=np.full(3, 2.0 / 0.2), v_leak=np.zeros(3),
                       v_threshold=np.ones(3), v_reset=np.zeros(3)),
        "iff": nir.IF(r=np.ones(3), v_threshold=np.full(3, 1e-3), v_reset=np.zeros(3)),
        "output": nir.Output({"output": np.array([3])})},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "iff"), ("iff", "output")])
    ir = from_nir(g, dt=1e-3)
    ops = {n.name: n for n in ir.nodes}
    assert ops["lif"].attrs["charge"] == "beta" and np.isclose(float(ops["lif"].params["beta"]), 0.8)
    assert np.isclose(float(ops["lif_gain"].params["scale"]), 2.0)
    assert np.isclose(float(ops["iff_gain"].params["scale"]), 1e-3)


def test_snntorch_synaptic_export_imports_exactly():
    """snnTorch's CubaLIF export of Synaptic (gains τ_syn/dt, τ_mem/dt) reads back as the cuba neuron."""
    snn = pytest.importorskip("snntorch")
    pytest.importorskip("nirtorch")
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 10), snn.Synaptic(
        alpha=torch.rand(10), beta=torch.rand(10), threshold=torch.rand(10) + 0.5, init_hidden=True,
        reset_mechanism="zero", reset_delay=False, output=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = from_nir(export_to_nir(model, torch.randn(6)))
    assert graph["1"].attrs["charge"] == "cuba"
    x = torch.randn(T, N, 6) * 1.5
    model[1].syn, model[1].mem = torch.zeros(0), torch.zeros(0)
    with torch.no_grad():
        ref = torch.stack([model(xt)[0] for xt in x])
    assert ref.mean() > 0.01
    assert int((interpret(graph, x) != ref).sum()) == 0


def test_a_time_constant_shorter_than_dt_is_refused_with_the_dt_that_fits():
    """Norse's exporter has written tau as dt/tau_mem_inv: read with snnTorch's dt that is a decay of -9,
    a neuron that overshoots; the importer names the node, the value and the dt that would make it sane."""
    import nir

    from snnc.ir import UnsupportedError
    from snnc.targets.nir import from_nir

    def graph(node):
        return nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([3])),
                                   "fc": nir.Linear(weight=np.ones((2, 3))), "lif": node,
                                   "output": nir.Output(output_type=np.array([2]))},
                            edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])

    lif = nir.LIF(tau=np.full(2, 1e-5), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2))
    with pytest.raises(UnsupportedError, match=r"node 'lif': NIR tau = 1e-05 s is shorter than dt = 0.0001 s.*"
                                               r"1 - dt/tau = -9 .*dt <= 1e-05"):
        from_nir(graph(lif), dt=1e-4)
    (neuron,) = [n for n in from_nir(graph(lif), dt=1e-5).nodes if n.op == "Neuron"]
    assert float(neuron.params["beta"]) == 0.0  # tau = dt: the potential is not kept between steps
    cuba = nir.CubaLIF(tau_syn=np.full(2, 5e-5), tau_mem=np.full(2, 1e-3), r=np.full(2, 10.0), v_leak=np.zeros(2),
                       v_threshold=np.ones(2), w_in=np.full(2, 0.5))
    with pytest.raises(UnsupportedError, match=r"NIR tau_syn = 5e-05 s is shorter than dt"):
        from_nir(graph(cuba), dt=1e-4)


@pytest.mark.parametrize("batched", [True, False])
def test_an_input_type_with_a_batch_dimension_is_understood(batched):
    """Exporters that trace with a batched sample write Input types [1, F] / [1, C, H, W] (files that
    nir 1.0's own type check refuses to build, hence ``type_check=False``)."""
    import nir

    from snnc.ir import interpret
    from snnc.targets.nir import from_nir

    lead = (1,) if batched else ()
    dense = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array(lead + (3,))),
                                "fc": nir.Affine(weight=np.ones((2, 3)), bias=np.zeros(2)),
                                "lif": nir.LIF(tau=np.full(2, 1e-3), r=np.ones(2), v_leak=np.zeros(2),
                                               v_threshold=np.ones(2)),
                                "output": nir.Output(output_type=np.array([2]))},
                         edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")], type_check=False)
    assert from_nir(dense).input_shape == (3,)
    conv = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array(lead + (1, 4, 4))),
                               "conv": nir.Conv2d(input_shape=(4, 4), weight=np.ones((2, 1, 3, 3)), stride=1,
                                                  padding=1, dilation=1, groups=1, bias=np.zeros(2)),
                               "if": nir.IF(r=np.ones((2, 4, 4)), v_threshold=np.ones((2, 4, 4))),
                               "output": nir.Output(output_type=np.array([2, 4, 4]))},
                        edges=[("input", "conv"), ("conv", "if"), ("if", "output")], type_check=False)
    g = from_nir(conv)
    assert g.input_shape == (1, 4, 4)  # a 1-channel image keeps its channel
    assert interpret(g, np.ones((2, 1, 1, 4, 4), np.float32)).shape == (2, 1, 2, 4, 4)


def _li_graph(v_leak=0.0):
    """Input(4) → Linear → LIF → Linear → LI → Output, as another tool writes it (no snnc metadata);
    dt/τ = 1/4 and R = τ/dt for the LI, so its input gain is 1 and every value stays on a binary grid."""
    rng = np.random.default_rng(3)
    dt, tau = 1e-3, 4e-3
    return nir.NIRGraph(nodes={
        "input": nir.Input(input_type=np.array([4])),
        "fc1": nir.Linear(weight=(rng.integers(-4, 9, (6, 4)) / 8).astype(np.float32)),
        "lif": nir.LIF(tau=np.full(6, tau), r=np.full(6, tau / dt), v_leak=np.zeros(6), v_threshold=np.full(6, 0.5),
                       v_reset=np.zeros(6)),
        "fc2": nir.Linear(weight=(rng.integers(-4, 9, (3, 6)) / 8).astype(np.float32)),
        "li": nir.LI(tau=np.full(3, tau), r=np.full(3, tau / dt), v_leak=np.full(3, v_leak)),
        "output": nir.Output(output_type=np.array([3]))},
        edges=[("input", "fc1"), ("fc1", "lif"), ("lif", "fc2"), ("fc2", "li"), ("li", "output")]), dt


def test_nir_leaky_integrator_output_is_its_membrane():
    """NIR's LI (the membrane readout most NIR graphs end with): the Euler step v ← (1 − dt/τ)·v +
    (R·dt/τ)·I written out here, in float32, against the imported graph; then NIR → snnc → NIR → snnc
    keeps the LI; and the graph verifies on the targets that output membranes."""
    g, dt = _li_graph()
    graph = from_nir(g, dt=dt)
    li = graph["li"]
    assert li.attrs["output"] == "v" and li.attrs["reset"] == "none"
    x = (torch.rand(40, 5, 4, generator=torch.Generator().manual_seed(2)) < 0.5).float()
    y, rec = interpret(graph, x, record=True)
    spikes = rec.values["lif"]
    assert 0.02 < float(spikes.mean()) < 0.9
    w2, v = torch.as_tensor(g.nodes["fc2"].weight), torch.zeros(5, 3)
    for t in range(x.shape[0]):
        v = torch.tensor(0.75, dtype=torch.float32) * v + spikes[t] @ w2.T
        assert torch.equal(y[t], v), f"step {t}"
    again = from_nir(to_nir(graph, dt=dt), dt=dt)
    assert isinstance(to_nir(graph, dt=dt).nodes["li"], nir.LI)
    assert torch.equal(interpret(again, x), y)
    for target in ("gpu", "onnx", "lynxi", "hls", "nir"):
        assert snnc.verify(graph, target, inputs=x.numpy()).ok, target


def test_nir_leaky_integrator_with_a_leak_potential():
    """An LI with v_leak ≠ 0 (the lif charge, leaking towards v_leak), against the Euler step."""
    g, dt = _li_graph(v_leak=0.5)
    graph = from_nir(g, dt=dt)
    x = (torch.rand(30, 2, 4, generator=torch.Generator().manual_seed(4)) < 0.5).float()
    y, rec = interpret(graph, x, record=True)
    w2, v = torch.as_tensor(g.nodes["fc2"].weight).double(), torch.zeros(2, 3, dtype=torch.float64)
    for t in range(x.shape[0]):
        v = 0.75 * v + 0.25 * 0.5 + 0.25 * (4.0 * (rec.values["lif"][t].double() @ w2.T))
    assert torch.allclose(y[-1].double(), v, rtol=1e-5, atol=1e-5)


def _recurrent_nir(delay_steps=None):
    """The NIR paper's SRNN form, as another tool writes it: Input(4) → Affine → LIF, LIF → Affine(rec)
    → LIF (a cycle), LIF → Linear → LI → Output; optionally a NIR ``Delay`` of ``delay_steps`` steps
    after the input. dt/τ = 1/4, R = τ/dt: β = 0.75 and unit gains, weights on a 1/8 grid."""
    rng = np.random.default_rng(7)
    dt, tau = 1e-3, 4e-3
    w = lambda o, i: (rng.integers(-4, 9, (o, i)) / 8).astype(np.float32)  # noqa: E731
    nodes = {
        "input": nir.Input(input_type=np.array([4])),
        "fc_in": nir.Affine(weight=w(6, 4), bias=np.full(6, 0.125, np.float32)),
        "lif": nir.LIF(tau=np.full(6, tau), r=np.full(6, tau / dt), v_leak=np.zeros(6), v_threshold=np.full(6, 0.5),
                       v_reset=np.zeros(6)),
        "fc_rec": nir.Affine(weight=w(6, 6), bias=np.full(6, -0.125, np.float32)),
        "fc_out": nir.Linear(weight=w(3, 6)),
        "li": nir.LI(tau=np.full(3, tau), r=np.full(3, tau / dt), v_leak=np.zeros(3)),
        "output": nir.Output(output_type=np.array([3]))}
    edges = [("fc_in", "lif"), ("lif", "fc_rec"), ("fc_rec", "lif"), ("lif", "fc_out"), ("fc_out", "li"),
             ("li", "output")]
    if delay_steps:
        nodes["delay"] = nir.Delay(delay=np.full(4, delay_steps * dt))
        edges += [("input", "delay"), ("delay", "fc_in")]
    else:
        edges += [("input", "fc_in")]
    return nir.NIRGraph(nodes=nodes, edges=edges), dt


@pytest.mark.parametrize("delay_steps", [None, 3])
def test_nir_recurrent_cycle_and_delay_import_as_written_out(delay_steps):
    """The cycle reads the previous step's spikes (zeros at the first step), the Delay the input
    ``delay_steps`` steps back: the Euler steps written out here in float32, in the importer's order
    (the LIF's two input edges summed first), against the imported graph; then verified on every target
    that holds a cycle."""
    g, dt = _recurrent_nir(delay_steps)
    graph = from_nir(g, dt=dt)
    assert sum(n.op == "Delay" for n in graph.nodes) == (2 if delay_steps else 1)
    x = (torch.rand(40, 5, 4, generator=torch.Generator().manual_seed(3)) < 0.5).float()
    y, rec = interpret(graph, x, record=True)
    p = {k: {a: torch.as_tensor(np.asarray(getattr(g.nodes[k], a))) for a in ("weight", "bias")
             if hasattr(g.nodes[k], a)} for k in ("fc_in", "fc_rec", "fc_out")}
    beta = torch.tensor(0.75)
    v, s, m = torch.zeros(5, 6), torch.zeros(5, 6), torch.zeros(5, 3)
    for t in range(x.shape[0]):
        xt = x[t - delay_steps] if delay_steps and t >= delay_steps else (0 * x[t] if delay_steps else x[t])
        cur = (xt @ p["fc_in"]["weight"].T + p["fc_in"]["bias"]) + (s @ p["fc_rec"]["weight"].T + p["fc_rec"]["bias"])
        h = beta * v + cur
        s = (h > 0.5).float()
        v = torch.where(s > 0, torch.zeros_like(h), h)
        m = beta * m + s @ p["fc_out"]["weight"].T
        assert torch.equal(rec.values["lif"][t], s), f"spikes, step {t}"
        assert torch.equal(y[t], m), f"readout, step {t}"
    assert 0.05 < float(rec.values["lif"].mean()) < 0.9
    for target in ("gpu", "onnx", "lynxi", "hls"):
        assert snnc.verify(graph, target, inputs=x.numpy()).ok, target


def test_nir_delay_of_a_fraction_of_a_step_is_refused():
    g, dt = _recurrent_nir(3)
    g.nodes["delay"] = nir.Delay(delay=np.full(4, 2.5 * dt))
    with pytest.raises(UnsupportedError, match=r"node 'delay': NIR Delay of \[2.5\] steps"):
        from_nir(g, dt=dt)
