"""Models made of snnc.nn modules survive torch.save / torch.load, also with weights_only=True."""

import torch
from torch import nn

import snnc.nn as snn


def _model():
    torch.manual_seed(0)
    return nn.Sequential(
        snn.Conv2d(1, 4, 3, padding=1), snn.BatchNorm2d(4), snn.IF(surrogate_function=snn.surrogate.S2NN()),
        snn.MaxPool2d(2), snn.AvgPool2d(2, 1), snn.Dropout(0.2, generator=torch.Generator().manual_seed(0)),
        snn.Flatten(), snn.Linear(36, 8), snn.LIF(tau=torch.full((8,), 3.0), v_reset=None),
        snn.Linear(8, 5, bias=False), snn.PLIF(surrogate_function=snn.surrogate.PiecewiseLeakyReLU(0.5, 0.1)),
        snn.Linear(5, 4), snn.CubaLIF(v_threshold=torch.rand(4) + 0.5, surrogate_function=snn.surrogate.ATan()),
        snn.Readout(n_classes=4, window_size=4, decision_rule="threshold_then_argmax", class_threshold=2),
    )


def test_save_and_load_with_weights_only(tmp_path):
    model = _model()
    snn.set_step_mode(model, "m")
    x = (torch.rand(8, 3, 1, 8, 8) < 0.5).float()
    model.eval()
    expected = model(x)
    snn.reset_net(model)
    path = tmp_path / "m.pt"
    torch.save(model, path)
    with torch.serialization.safe_globals(snn.safe_globals() + [nn.Sequential]):
        loaded = torch.load(path, weights_only=True)
    assert [type(m) for m in loaded.modules()] == [type(m) for m in model.modules()]
    assert loaded[8].tau.shape == (8,) and loaded[13].decision_rule == "threshold_then_argmax"
    assert loaded[10].surrogate_function.kernel_params() == (0.5, 0.1)
    assert torch.equal(loaded(x), expected)


def test_safe_globals_cover_every_class():
    names = {c.__name__ for c in snn.safe_globals()}
    assert {"IF", "LIF", "PLIF", "CubaLIF", "Readout", "Linear", "Conv2d", "Dropout", "PoissonEncoder",
            "Sigmoid", "ATan", "LogTailedReLU", "SeqToANNContainer"} <= names
