"""Step-mode layers, containers, encoders and the functional helpers."""

import pytest
import torch
from torch import nn

import snnc.nn as snn

G = torch.Generator().manual_seed(0)


def _x(*shape):
    return torch.randn(*shape, generator=G, dtype=torch.float64)


LAYERS = {
    "linear": (lambda sm: snn.Linear(6, 4, step_mode=sm), nn.Linear, (5, 3, 6)),
    "conv": (lambda sm: snn.Conv2d(2, 3, 3, padding=1, step_mode=sm), nn.Conv2d, (4, 2, 2, 6, 6)),
    "bn": (lambda sm: snn.BatchNorm2d(2, step_mode=sm), nn.BatchNorm2d, (4, 3, 2, 5, 5)),
    "avgpool": (lambda sm: snn.AvgPool2d(2, step_mode=sm), nn.AvgPool2d, (4, 2, 2, 6, 6)),
    "maxpool": (lambda sm: snn.MaxPool2d(2, step_mode=sm), nn.MaxPool2d, (4, 2, 2, 6, 6)),
    "flatten": (lambda sm: snn.Flatten(step_mode=sm), nn.Flatten, (4, 2, 2, 3, 3)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layers_are_torch_layers_and_fold_time_in_m_mode(name):
    factory, torch_cls, shape = LAYERS[name]
    torch.manual_seed(0)
    single = factory("s").double()
    torch.manual_seed(0)
    multi = factory("m").double()
    assert isinstance(multi, torch_cls) and multi.step_mode == "m"
    x = _x(*shape)
    y_m = multi(x)
    y_folded = torch_cls.forward(single, x.flatten(0, 1)).reshape(shape[0], shape[1], *y_m.shape[2:])
    assert torch.equal(y_m, y_folded)
    # per step: the same values (a BLAS may block a [T·N] batch differently from [N], hence the tolerance)
    if name != "bn":  # batch norm in training normalizes over T·N in 'm', over N per step in 's'
        torch.testing.assert_close(y_m, torch.stack([single(xt) for xt in x]), rtol=1e-13, atol=1e-13)
    single.eval(), multi.eval()
    torch.testing.assert_close(multi(x), torch.stack([single(xt) for xt in x]), rtol=1e-13, atol=1e-13)


def test_batchnorm_statistics_cover_time_and_batch():
    bn = snn.BatchNorm2d(2, step_mode="m", affine=False).double()
    x = _x(4, 3, 2, 5, 5) * 3 + 1
    y = bn(x)
    torch.testing.assert_close(y.mean(dim=(0, 1, 3, 4)), torch.zeros(2, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(bn.running_mean, 0.1 * x.mean(dim=(0, 1, 3, 4)), rtol=1e-12, atol=1e-12)


def test_m_mode_rejects_a_missing_time_dimension():
    with pytest.raises(ValueError, match=r"\[T, N"):
        snn.Flatten(step_mode="m")(torch.zeros(3))


def test_dropout_mask_is_fixed_over_time_and_resampled_at_reset():
    for step_mode in ("s", "m"):
        d = snn.Dropout(0.5, step_mode=step_mode, generator=torch.Generator().manual_seed(1))
        x = torch.ones(6, 4, 50)
        y = d(x) if step_mode == "m" else torch.stack([d(xt) for xt in x])
        assert set(y.unique().tolist()) == {0.0, 2.0}
        assert (y == y[0]).all()  # the same mask at every step
        first = y[0].clone()
        snn.reset_net(d)
        y2 = d(x) if step_mode == "m" else torch.stack([d(xt) for xt in x])
        assert not torch.equal(y2[0], first)
        d.eval()
        assert torch.equal(d(x) if step_mode == "m" else d(x[0]), x if step_mode == "m" else x[0])
    # with a window, the mask is redrawn at each window boundary
    d = snn.Dropout(0.5, step_mode="m", generator=torch.Generator().manual_seed(2))
    d.window_size = 3
    y = d(torch.ones(6, 4, 50))
    assert (y[:3] == y[0]).all() and (y[3:] == y[3]).all() and not torch.equal(y[0], y[3])
    assert isinstance(d, nn.Dropout)


def test_seq_to_ann_container_folds_time():
    torch.manual_seed(0)
    c = snn.SeqToANNContainer(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3)).double()
    x = _x(4, 2, 2, 5, 5)
    y = c(x)
    assert y.shape == (4, 2, 3, 3, 3)
    assert torch.equal(y, nn.Sequential(*c).forward(x.flatten(0, 1)).reshape(4, 2, 3, 3, 3))


def test_multi_step_container_runs_single_step_modules_over_time():
    torch.manual_seed(0)
    lin = nn.Linear(5, 4).double()
    c = snn.MultiStepContainer(lin, snn.LIF(step_mode="s"))
    ref = snn.LIF(step_mode="m")
    x = _x(7, 3, 5)
    assert torch.equal(c(x), ref.double()(lin(x)))


def test_elementwise_recurrent_container():
    c = snn.ElementwiseRecurrentContainer(snn.IF(v_threshold=1.0), torch.add, step_mode="m")
    x = torch.tensor([[0.6], [0.5], [0.0], [0.0], [0.0]])
    # y[t] = IF(y[t-1] + x[t]): H 0.6 (y 0); 0.6+0.5 fires (y 1, V 0); then H = 0 + (1 + 0) fires every step
    assert c(x)[:, 0].tolist() == [0.0, 1.0, 1.0, 1.0, 1.0]
    snn.reset_net(c)
    assert c.y is None and c.sub_module.v == 0.0


def test_set_step_mode_leaves_modules_inside_containers_alone():
    net = nn.Sequential(snn.Linear(3, 3), snn.MultiStepContainer(snn.LIF()), snn.SeqToANNContainer(snn.Flatten()),
                        snn.ElementwiseRecurrentContainer(snn.IF(), torch.add), snn.IF())
    snn.set_step_mode(net, "m")
    assert [net[0].step_mode, net[1].step_mode, net[2].step_mode, net[3].step_mode, net[4].step_mode] == ["m"] * 5
    assert net[1][0].step_mode == net[2][0].step_mode == net[3].sub_module.step_mode == "s"
    assert net(torch.rand(4, 2, 3)).shape == (4, 2, 3)
    snn.set_step_mode(net, "s")
    assert net[0].step_mode == "s" and net[4].step_mode == "s"


def test_reset_detach_and_backend_helpers():
    net = nn.Sequential(snn.Linear(3, 4), snn.LIF(), snn.Linear(4, 2), snn.PLIF(), snn.Readout())
    snn.set_step_mode(net, "m")
    x = torch.rand(5, 2, 3, requires_grad=True) * 3
    net(x)
    assert net[1].v.grad_fn is not None
    snn.detach_net(net)
    assert net[1].v.grad_fn is None and net[3].v.grad_fn is None
    assert isinstance(net[1].v, torch.Tensor)  # detached, not reset
    snn.reset_net(net)
    assert net[1].v == 0.0 and net[3].v == 0.0 and net[4].count is None
    snn.set_backend(net, "triton", instance=snn.LIF)
    assert net[1].backend == "triton" and net[3].backend == "torch"
    snn.set_backend(net, "torch")
    with pytest.raises(ValueError, match="backend"):
        snn.set_backend(net, "tpu")
    with pytest.raises(ValueError, match="step_mode"):
        snn.set_step_mode(net, "x")


def test_multi_step_forward_and_seq_to_ann_forward():
    torch.manual_seed(0)
    lin, neuron = nn.Linear(3, 4).double(), snn.IF()
    x = _x(6, 2, 3)
    y = snn.multi_step_forward(x, [lin, neuron])
    snn.reset_net(neuron)
    neuron.step_mode = "m"
    assert torch.equal(y, neuron(lin(x)))
    assert torch.equal(snn.seq_to_ann_forward(x, lin), lin(x.flatten(0, 1)).reshape(6, 2, 4))
    assert torch.equal(snn.seq_to_ann_forward(x, [lin, nn.ReLU()]), lin(x).relu())


def test_truncated_bptt_with_detach_net():
    net = nn.Sequential(snn.Linear(3, 4), snn.LIF(step_mode="m"))
    snn.set_step_mode(net, "m")
    x = torch.rand(8, 2, 3) * 3
    for chunk in x.split(4):
        net(chunk).sum().backward()
        snn.detach_net(net)  # the next chunk must not backprop into the previous one
    assert net[0].weight.grad is not None


def test_poisson_encoder():
    x = torch.tensor([[0.0, 0.25, 0.5, 1.0]])
    enc = snn.PoissonEncoder(generator=torch.Generator().manual_seed(0))
    s = enc.encode(x, 4000)
    assert s.shape == (4000, 1, 4) and set(s.unique().tolist()) <= {0.0, 1.0}
    rate = s.mean(0)[0]
    assert rate[0] == 0 and rate[3] == 1
    assert abs(rate[1] - 0.25) < 0.03 and abs(rate[2] - 0.5) < 0.03
    again = snn.PoissonEncoder(generator=torch.Generator().manual_seed(0)).encode(x, 4000)
    assert torch.equal(s, again)
    enc_m = snn.PoissonEncoder(step_mode="m", generator=torch.Generator().manual_seed(0))
    assert torch.equal(enc_m(x.expand(4000, 1, 4)), s)  # 'm' draws the same uniforms for [T, N, ...]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        enc(torch.tensor([1.5]))


def test_latency_encoder_table():
    enc = snn.LatencyEncoder(T=5)
    x = torch.tensor([[1.0, 0.9, 0.5, 0.3, 0.0]])
    # t_f = round(4 (1 - x)) = [0, round(0.4)=0, 2, round(2.8)=3, 4]
    code = enc.encode(x)
    assert code[:, 0].T.tolist() == [[1, 0, 0, 0, 0], [1, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0],
                                     [0, 0, 0, 0, 1]]
    assert (code.sum(0) == 1).all()
    steps = torch.stack([enc(x) for _ in range(10)])  # 's' mode cycles through the window
    assert torch.equal(steps, torch.cat([code, code]))
    enc_m = snn.LatencyEncoder(T=5, step_mode="m")
    assert torch.equal(enc_m(x.expand(5, 1, 5)), code)
    assert torch.equal(snn.LatencyEncoder(T=5).firing_time(torch.tensor([0.375])), torch.tensor([2]))  # 2.5 -> 2
