"""NIR export that other tools load: files written by ``snnc compile --target nir`` read by
SpikingJelly's, snnTorch's and Norse's own importers, run batched, give exactly the spikes of
``snnc simulate``; '>=' firing exported exactly; a readout left out of the file with a one-line
warning and put back by snnc's own import; the dt convention written into the file and taken from
``--dt`` on import and export."""

import numpy as np
import pytest
import torch

import snnc
import snnc.nn as sn
from support.cli import run_cli
from support.models import digits_example

pytestmark = pytest.mark.filterwarnings("ignore")
nir = pytest.importorskip("nir")
pytest.importorskip("nirtorch")

STEPS, BATCH = 8, 6


def _digits_model():
    """The digits example's model (Linear → LIF → Linear → LIF → Readout, window T), weights scaled so
    that both layers fire."""
    torch.manual_seed(0)
    model = digits_example().build_model(T=STEPS, hidden=32)
    with torch.no_grad():
        model[0].weight.mul_(6)
        model[2].weight.mul_(6)
    return model, (torch.rand(STEPS, BATCH, 64, generator=torch.Generator().manual_seed(1)) < 0.3).float()


def _conv_model(pool: bool = False):
    """Conv2d → LIF → [AvgPool2d →] Flatten → Linear → LIF on ``1×8×8`` inputs."""
    torch.manual_seed(0)
    head = [sn.Conv2d(1, 4, 3, padding=1), sn.LIF(tau=2.0)] if pool else [sn.Conv2d(1, 4, 3, stride=2, padding=1),
                                                                           sn.LIF(tau=2.0)]
    model = torch.nn.Sequential(*head, *([sn.AvgPool2d(2)] if pool else []), sn.Flatten(), sn.Linear(4 * 4 * 4, 5),
                                sn.LIF(tau=2.0))
    with torch.no_grad():
        model[0].weight.abs_().mul_(2)
        model[-2].weight.abs_().mul_(2)
    return model, (torch.rand(STEPS, BATCH, 1, 8, 8, generator=torch.Generator().manual_seed(2)) < 0.5).float()


def _if_on_a_grid():
    """IF neurons whose potentials land exactly on the threshold: '>=' and '>' differ here."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(sn.Linear(6, 8, bias=False), sn.IF(v_threshold=1.0))
    with torch.no_grad():
        model[0].weight.copy_(torch.randint(-2, 5, (8, 6)) / 4)
    return model, (torch.rand(STEPS, BATCH, 6, generator=torch.Generator().manual_seed(3)) < 0.5).float()


def _run_stateful(net, x):
    """Step a peer's imported module (``y, state = net(x_t, state)``) over a batched ``[T, N, ...]``."""
    state, ys = None, []
    with torch.no_grad():
        for xt in x:
            y, state = net(xt, state)
            ys.append(y)
    return torch.stack(ys)


def _spikingjelly(graph):
    from spikingjelly.activation_based.nir_exchange import import_from_nir
    return import_from_nir(graph, dt=1e-4)


def _snntorch(graph):
    from snntorch.import_nir import import_from_nir
    return import_from_nir(graph)


def _norse(graph):
    norse = pytest.importorskip("norse.torch")
    return norse.from_nir(graph, dt=1e-4)


PEERS = {"spikingjelly": _spikingjelly, "snntorch": _snntorch, "norse": _norse}
CASES = {"digits": (_digits_model, ("spikingjelly", "snntorch", "norse")),
         "conv": (_conv_model, ("spikingjelly", "snntorch", "norse")),
         # Norse's importer has no AvgPool2d (it maps the node to nothing)
         "conv_pool": (lambda: _conv_model(pool=True), ("spikingjelly", "snntorch")),
         # snnTorch's importer maps NIR IF to a Leaky with beta 0.9 and refuses R != 1: not comparable
         "if_on_threshold": (_if_on_a_grid, ("spikingjelly", "norse"))}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = {}
    for name, (make, _) in CASES.items():
        model, x = make()
        d = tmp_path_factory.mktemp(name)
        art = snnc.compile(model, "nir", d / "art", example_input=x, allow_approximate=True)  # digits: window
        out[name] = (model, x, art, nir.read(str(art.path / "model.nir")))
    return out


@pytest.mark.parametrize("case,peer", [(c, p) for c, (_, peers) in CASES.items() for p in peers])
def test_peers_load_our_files_batched_and_give_our_spikes(exported, case, peer, capsys):
    model, x, art, graph = exported[case]
    ours = snnc.simulate(art, x)
    assert ours.sum() > 0 and ours.mean() < 1  # the layers do fire, and not always
    theirs = _run_stateful(PEERS[peer](graph), x)
    capsys.readouterr()  # snnTorch prints its weight-scaling notes
    assert theirs.shape == ours.shape
    assert int((theirs != ours).sum()) == 0


def test_ge_firing_is_exported_exactly(exported):
    model, x, art, graph = exported["if_on_threshold"]
    node = next(n for n in graph.nodes.values() if isinstance(n, nir.IF))
    assert np.all(node.v_threshold == np.nextafter(np.float32(1.0), np.float32(-np.inf)))
    assert "nir_approximations" not in art.graph.metadata  # nothing approximated
    ge = snnc.simulate(art, x)
    gt_model = torch.nn.Sequential(model[0], sn.IF(v_threshold=1.0))
    gt = snnc.ir.interpret(snnc.trace(gt_model, x), x)
    gt_graph = snnc.trace(gt_model, x)
    gt_graph["1"].attrs["compare"] = "gt"
    assert not torch.equal(snnc.ir.interpret(gt_graph, x), ge)  # potentials do land on the threshold
    assert torch.equal(gt, ge)  # '>=' of the model == '>' at nextafter in the file
    back = snnc.load(art.path / "model.nir")  # snnc's own import: '>=' at the original threshold
    neuron = next(n for n in back.nodes if n.op == "Neuron")
    assert neuron.attrs["compare"] == "ge" and float(neuron.params["v_threshold"]) == 1.0


def test_readout_left_out_with_one_warning_and_restored_by_snnc(tmp_path):
    model, x = _digits_model()
    torch.save(model, tmp_path / "digits.pt")
    np.save(tmp_path / "x.npy", x.numpy())
    rc, out, err = run_cli("compile", "digits.pt", "--target", "nir", "-o", "art", "--allow-approximate",
                           cwd=tmp_path, env={"PYTHONWARNINGS": "default"})
    assert rc == 0, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "warning" in lines[0] and "NIR has no readout" in lines[0] and "'4'" in lines[0]
    graph = nir.read(str(tmp_path / "art" / "model.nir"))
    assert not any("Readout" in type(n).__name__ for n in graph.nodes.values())
    assert "snnc.readout" in graph.metadata
    rc, _, err = run_cli("simulate", "art", "--inputs", "x.npy", "-o", "y.npy", cwd=tmp_path)
    assert rc == 0, err
    assert np.load(tmp_path / "y.npy").shape == (STEPS, BATCH, 10)  # the spikes the readout would read
    back = snnc.load(tmp_path / "art" / "model.nir")
    assert [n.op for n in back.nodes][-2:] == ["Readout", "Output"]
    reference = snnc.trace(model, x)
    assert torch.equal(snnc.ir.interpret(back, x), snnc.ir.interpret(reference, x))
    rc, out, err = run_cli("verify", "digits.pt", "--target", "nir", "--artifact", "art", "--inputs", "x.npy",
                           cwd=tmp_path)
    assert rc == 0 and "bit-exact" in out, out + err


def test_dt_convention_written_and_taken_from_dt(tmp_path):
    model, x = _digits_model()
    torch.save(model[:-1], tmp_path / "net.pt")
    assert run_cli("compile", "net.pt", "--target", "nir", "-o", "art", "--dt", "0.001", "--allow-approximate",
                   cwd=tmp_path)[0] == 0
    meta = nir.read(str(tmp_path / "art" / "model.nir")).metadata
    assert float(np.asarray(meta["snnc.dt"])) == 1e-3
    text = np.asarray(meta["snnc.time_step"]).item()
    text = text.decode() if isinstance(text, bytes) else text
    assert "dt = 0.001 s" in text and "Norse: from_nir(graph, dt=0.001)" in text
    lif = next(n for n in nir.read(str(tmp_path / "art" / "model.nir")).nodes.values() if isinstance(n, nir.LIF))
    assert np.allclose(lif.tau, 2e-3)  # tau = 2 steps of 1 ms
    rc, out, _ = run_cli("inspect", "art/model.nir", "--dt", "0.002", cwd=tmp_path)  # import with another dt
    assert rc == 0 and "tau=1" in out  # 2 ms read at 2 ms per step: tau of one step
    rc, out, _ = run_cli("compile", "--help", cwd=tmp_path)
    assert "--dt" in out and "1e-4" in out and "Norse" in out
