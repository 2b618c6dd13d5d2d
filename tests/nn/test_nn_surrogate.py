"""Surrogate gradients: forward is Θ(x) = [x >= 0]; backward equals the analytic g'(x) written out here
independently, equals SpikingJelly 2.0's surrogate gradient, and equals autograd's derivative of the
primitive g (away from its kinks)."""

import math

import pytest
import torch

from snnc.nn import surrogate as sg

sj_surrogate = pytest.importorskip("spikingjelly.activation_based.surrogate")


def _sigmoid(z):
    return 1.0 / (1.0 + torch.exp(-z))


# (our module, SpikingJelly module, analytic g'(x) written from the definition)
CASES = {
    "sigmoid": (lambda: sg.Sigmoid(3.0), lambda: sj_surrogate.Sigmoid(3.0),
                lambda x: 3.0 * _sigmoid(3.0 * x) * (1 - _sigmoid(3.0 * x))),
    "atan": (lambda: sg.ATan(2.5), lambda: sj_surrogate.ATan(2.5),
             lambda x: 2.5 / 2 / (1 + (math.pi / 2 * 2.5 * x) ** 2)),
    "piecewise_leaky_relu": (lambda: sg.PiecewiseLeakyReLU(0.7, 0.05), lambda: sj_surrogate.PiecewiseLeakyReLU(0.7, 0.05),
                             lambda x: torch.where(x.abs() < 0.7, 1 / (2 * 0.7), 0.05 + 0 * x)),
    "s2nn": (lambda: sg.S2NN(3.0, 0.8), lambda: sj_surrogate.S2NN(3.0, 0.8),
             lambda x: torch.where(x < 0, 3.0 * _sigmoid(3.0 * x) * (1 - _sigmoid(3.0 * x)), 0.8 / (x.abs() + 1))),
    "q_pseudo_spike": (lambda: sg.QPseudoSpike(2.5), lambda: sj_surrogate.QPseudoSpike(2.5),
                       lambda x: (1 + 2 * x.abs() / 1.5) ** -2.5),
    "leaky_k_relu": (lambda: sg.LeakyKReLU(0.1, 2.0), lambda: sj_surrogate.LeakyKReLU(0.1, 2.0),
                     lambda x: torch.where(x >= 0, 2.0 + 0 * x, 0.1 + 0 * x)),
    "fake_numerical_gradient": (lambda: sg.FakeNumericalGradient(0.4), lambda: sj_surrogate.FakeNumericalGradient(0.4),
                                lambda x: torch.minimum(1 / x.abs(), torch.full_like(x, 0.4))),
    "log_tailed_relu": (lambda: sg.LogTailedReLU(0.1), lambda: sj_surrogate.LogTailedReLU(0.1),
                        lambda x: torch.where(x <= 0, 0.1 + 0 * x, torch.where(x <= 1, 1 + 0 * x, 1 / x))),
}


def _inputs():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4000, generator=g, dtype=torch.float64) * 2.0
    special = torch.tensor([0.0, -0.0, 1.0, -1.0, 0.7, -0.7, 2.5, -2.5, 1e-9, -1e-9], dtype=torch.float64)
    return torch.cat([x, special])


def _grad(module, x, grad_out):
    x = x.clone().requires_grad_(True)
    y = module(x)
    y.backward(grad_out)
    return y.detach(), x.grad


def test_every_seed_surrogate_has_a_kernel_form():
    assert set(sg.SURROGATES) == set(CASES)
    for name, cls in sg.SURROGATES.items():
        assert cls.kernel_name == name
        module = CASES[name][0]()
        params = module.kernel_params()
        assert params == tuple(float(getattr(module, p)) for p in module.param_names)
        assert all(isinstance(p, float) for p in params)
    assert sg.PiecewiseLeakyReLU(0.7, 0.05).kernel_params() == (0.7, 0.05)
    assert sg.S2NN(3.0, 0.8).kernel_params() == (3.0, 0.8)
    assert sg.LeakyKReLU(0.1, 2.0).kernel_params() == (0.1, 2.0)


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_is_heaviside_and_backward_is_analytic(name):
    ours, _, analytic = CASES[name]
    x = _inputs()
    grad_out = torch.rand(x.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64) + 0.5
    y, gx = _grad(ours(), x, grad_out)
    assert torch.equal(y, (x >= 0).double())
    assert y.dtype == torch.float64
    torch.testing.assert_close(gx, grad_out * analytic(x), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(CASES))
def test_backward_equals_spikingjelly(name):
    ours, theirs, _ = CASES[name]
    x = _inputs()
    if name == "fake_numerical_gradient":  # SpikingJelly's 1/x gives -inf at -0.0; ours gives alpha (see docstring)
        x = x[~((x == 0) & torch.signbit(x))]
    grad_out = torch.rand(x.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    y, gx = _grad(ours(), x, grad_out)
    y_sj, gx_sj = _grad(theirs(), x, grad_out)
    assert torch.equal(y, y_sj)
    torch.testing.assert_close(gx, gx_sj, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("name", sorted(CASES))
def test_backward_in_low_precision_follows_float64(name, dtype):
    ours = CASES[name][0]()
    x = _inputs()[:200].to(dtype)
    y, gx = _grad(ours, x, torch.ones_like(x))
    assert y.dtype == dtype and gx.dtype == dtype
    _, gx64 = _grad(ours, x.double(), torch.ones_like(x, dtype=torch.float64))
    torch.testing.assert_close(gx.double(), gx64, rtol=2e-3 if dtype == torch.float16 else 1e-6, atol=1e-3)


# Kinks where g is not differentiable (the surrogate picks one side there).
KINKS = {"piecewise_leaky_relu": [-0.7, 0.7], "s2nn": [0.0], "q_pseudo_spike": [0.0], "leaky_k_relu": [0.0],
         "log_tailed_relu": [0.0, 1.0], "sigmoid": [], "atan": []}


@pytest.mark.parametrize("name", sorted(KINKS))
def test_derivative_is_the_derivative_of_the_primitive(name):
    module = CASES[name][0]()
    x = _inputs()
    for kink in KINKS[name]:
        x = x[(x - kink).abs() > 1e-6]
    xp = x.clone().requires_grad_(True)
    module.spiking = False
    module(xp).sum().backward()
    module.spiking = True
    torch.testing.assert_close(xp.grad, module.derivative(x), rtol=1e-10, atol=1e-12)


def test_primitive_is_continuous_and_approximates_the_step():
    for name in KINKS:
        module = CASES[name][0]()
        module.spiking = False
        for kink in KINKS[name] + [0.0]:
            left, right = module(torch.tensor([kink - 1e-9, kink + 1e-9], dtype=torch.float64))
            assert abs(left - right) < 1e-6, (name, kink)


def test_fake_numerical_gradient_is_spiking_only():
    with pytest.raises(ValueError, match="primitive"):
        sg.FakeNumericalGradient(spiking=False)


@pytest.mark.parametrize("bad", [lambda: sg.PiecewiseLeakyReLU(w=0.0), lambda: sg.QPseudoSpike(alpha=1.0)])
def test_invalid_parameters_are_refused(bad):
    with pytest.raises(ValueError):
        bad()
