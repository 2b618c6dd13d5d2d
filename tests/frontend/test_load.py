"""Model loading: safe .pt, refused pickles, state_dicts, truncated files, .pt2, saved IR; tracing
refusals name the module, its type and what is supported."""

import pytest
import torch
from torch import nn

import snnc
import snnc.nn as sn
from snnc.frontend import trace
from snnc.frontend.load import load_model
from snnc.ir import interpret
from snnc.ir.errors import SnncError, UnsupportedError


class Foreign(nn.Module):
    def forward(self, x):
        return x


def test_safe_pt_snnc_and_spikingjelly(tmp_path):
    sjn = pytest.importorskip("spikingjelly.activation_based.neuron")
    sjl = pytest.importorskip("spikingjelly.activation_based.layer")
    models = {
        "snnc": nn.Sequential(nn.Flatten(), nn.Linear(16, 8), sn.LIF(tau=2.5), nn.Linear(8, 3), sn.PLIF(v_reset=None)),
        "sj": nn.Sequential(sjl.Flatten(), sjl.Linear(16, 8), sjn.ParametricLIFNode(), sjl.Linear(8, 3),
                            sjn.IFNode(v_reset=None)),
    }
    x = torch.rand(40, 2, 1, 4, 4) * 3
    for name, model in models.items():
        torch.save(model, tmp_path / f"{name}.pt")
        loaded = load_model(tmp_path / f"{name}.pt")
        assert isinstance(loaded, nn.Module)
        assert torch.equal(interpret(trace(loaded, x), x), interpret(trace(model, x), x))
        g = snnc.load(tmp_path / f"{name}.pt", input_shape=(1, 4, 4))
        assert g.input_shape == (1, 4, 4)


def test_foreign_pickle_refused_and_trusted(tmp_path):
    torch.save(Foreign(), tmp_path / "foreign.pt")
    with pytest.raises(SnncError, match=r"Foreign.*--trust-pickle"):
        load_model(tmp_path / "foreign.pt")
    assert isinstance(load_model(tmp_path / "foreign.pt", trust_pickle=True), Foreign)


def test_state_dict_truncated_missing(tmp_path):
    torch.save(nn.Linear(3, 2).state_dict(), tmp_path / "sd.pt")
    with pytest.raises(SnncError, match="state_dict"):
        load_model(tmp_path / "sd.pt")
    torch.save(nn.Sequential(nn.Linear(3, 2), sn.IF()), tmp_path / "m.pt")
    data = (tmp_path / "m.pt").read_bytes()
    (tmp_path / "t.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(SnncError, match="truncated or corrupt"):
        load_model(tmp_path / "t.pt")
    with pytest.raises(SnncError, match="no such file"):
        load_model(tmp_path / "nope.pt")
    (tmp_path / "x.onnx").write_bytes(b"")
    with pytest.raises(SnncError, match="unknown model file type"):
        load_model(tmp_path / "x.onnx")
    assert snnc.load(tmp_path / "m.pt").input_shape == (3,)  # from the first Linear


def test_saved_ir_and_pt2(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.AvgPool2d(2), nn.Flatten(),
                          nn.Linear(8, 3)).eval()
    x = torch.randn(5, 2, 1, 4, 4)
    g = trace(model, x)
    g.save(tmp_path / "g")
    g.save(tmp_path / "g.snnc")
    for p in ("g", "g.snnc"):
        assert load_model(tmp_path / p).content_hash() == g.content_hash()
    ep = torch.export.export(model, (x[0],))
    torch.export.save(ep, tmp_path / "m.pt2")
    g2 = load_model(tmp_path / "m.pt2")
    ref = torch.stack([model(xt) for xt in x]).detach()
    assert torch.allclose(interpret(g2, x), ref, atol=1e-5)
    snn_model = nn.Sequential(nn.Linear(4, 3), sn.IF())  # snnc.nn neurons export as snnc::neuron_step
    torch.export.save(torch.export.export(snn_model, (torch.randn(2, 4),)), tmp_path / "snn.pt2")
    assert [n.op for n in load_model(tmp_path / "snn.pt2").nodes] == ["Input", "Linear", "Neuron", "Output"]


def test_trace_refusals_name_module_and_type():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), sn.IF())
    with pytest.raises(UnsupportedError) as e:
        trace(model, torch.zeros(1, 1, 4))
    assert "node '1'" in str(e.value) and "torch.nn.modules.activation.ReLU" in str(e.value) and "supported:" in str(e.value)


@pytest.mark.parametrize("body, message", [
    (lambda a, b: a - b, r"node 'sub': subtraction is supported only as 1 - x, a factor of a product"),
    (lambda a, b: 1 - b, r"needs a tensor computed from the input, got 1 - n2 \(usable only as a factor"),
])
def test_trace_refuses_subtraction_outside_a_complemented_factor(body, message):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(4, 4), nn.Linear(4, 4)
            self.n1, self.n2, self.n3 = sn.IF(), sn.IF(), sn.IF()

        def forward(self, x):
            return self.n3(body(self.n1(self.fc1(x)), self.n2(self.fc2(x))))

    with pytest.raises(UnsupportedError, match=message):
        trace(Net(), torch.zeros(2, 1, 4))


def test_trace_functional_forms():
    """A hand-written forward: residual add, scalar scale, view(x.size(0), -1), flatten."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)
            self.n1, self.n2 = sn.IF(v_threshold=0.3), sn.LIF(tau=2.0, v_threshold=0.2)
            self.fc = nn.Linear(32, 3)

        def forward(self, x):
            s = self.n1(self.conv(x))
            s = self.n2(s + self.conv(x) * 0.5)
            return self.fc(s.view(s.size(0), -1))

    net = Net()
    x = torch.rand(30, 2, 1, 4, 4) * 2
    g = trace(net, x)
    assert [n.op for n in g.nodes].count("Add") == 1 and any(n.op == "Scale" for n in g.nodes)
    sn.reset_net(net)
    with torch.no_grad():
        ref = torch.stack([net(xt) for xt in x])
    assert torch.equal(interpret(g, x), ref)
