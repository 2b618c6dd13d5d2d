"""The adaptive-threshold Triton kernels (``snnc.nn.ALIF``, backend='triton'), under TRITON_INTERPRET=1 on
CPU (or natively on a GPU), against the torch backend: float32 and float16 bit-exact (spikes, V, B,
v_seq), gradients equal to autograd's to float rounding."""

import pytest
import torch

pytest.importorskip("triton")

from snnc.nn import neuron  # noqa: E402

from runtime_cases import ADAPTIVE, compare, make_pair  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _x(shape, dtype=torch.float32, seed=0, scale=1.5):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=gen) * scale + 0.4).to(DEVICE, dtype)


@pytest.mark.parametrize("name", sorted(ADAPTIVE))
@pytest.mark.parametrize("detach", [False, True])
def test_float32_exact(name, detach):
    ref, fused = make_pair(name, "triton", detach_reset=detach, store_v_seq=True)
    compare(ref.to(DEVICE), fused.to(DEVICE), _x((19, 3, 45)))


@pytest.mark.parametrize("name", sorted(ADAPTIVE))
def test_float16_exact(name):
    ref, fused = make_pair(name, "triton")
    compare(ref.to(DEVICE).half(), fused.to(DEVICE).half(), _x((12, 2, 33), torch.float16), rtol=2e-2, atol=2e-2)


def test_the_threshold_adapts():
    """The kernel's spikes are not those of the same LIF without adaptation (the case can fail)."""
    x = _x((30, 4, 16), scale=1.0)
    alif = neuron.ALIF(tau=2.0, tau_adapt=10.0, beta_adapt=1.0, step_mode="m", backend="triton").to(DEVICE)
    lif = neuron.LIF(tau=2.0, step_mode="m", backend="triton").to(DEVICE)
    with torch.no_grad():
        a, b = alif(x), lif(x)
    assert a.sum() < b.sum()


@pytest.mark.parametrize("window", [2, 5])
@pytest.mark.parametrize("grad", [False, True])
def test_window_and_state_carry(window, grad):
    """Window resets inside a sequence and the state (V and B) carried across calls."""
    ref, fused = make_pair("alif-hard", "triton", window_size=window)
    ctx = torch.enable_grad() if grad else torch.no_grad()
    with ctx:
        compare(ref.to(DEVICE), fused.to(DEVICE), _x((7, 2, 20), seed=2), grad=grad, calls=3)


def test_per_neuron_parameters():
    gen = torch.Generator().manual_seed(3)
    shape = (3, 17)
    kw = {"tau": torch.rand(shape, generator=gen) * 3 + 1.2, "v_threshold": torch.rand(shape, generator=gen) + 0.5,
          "tau_adapt": torch.rand(shape, generator=gen) * 10 + 1.0, "beta_adapt": torch.rand(shape, generator=gen)}
    ref = neuron.ALIF(step_mode="m", **kw).to(DEVICE)
    fused = neuron.ALIF(step_mode="m", backend="triton", **kw).to(DEVICE)
    compare(ref, fused, _x((9, *shape), seed=4))


def test_a_broadcast_spike_gradient():
    """The rate-coding loss (``mean over T``) gives a stride-0 gradient; it is the dense one's."""
    ref, fused = make_pair("alif-soft-nodecay", "triton")
    ref, fused = ref.to(DEVICE), fused.to(DEVICE)
    xa = _x((10, 2, 24), seed=6).requires_grad_()
    xb = xa.detach().clone().requires_grad_()
    ref(xa).mean(0).sum().backward()
    fused(xb).mean(0).sum().backward()
    torch.testing.assert_close(xb.grad, xa.grad, rtol=1e-5, atol=1e-6)


def test_other_charges_and_cupy_are_refused_clearly():
    from snnc.runtime import multistep, problem

    x = _x((3, 2, 4))
    attrs = {"charge": "cuba", "compare": "ge", "reset": "hard", "reset_timing": "immediate", "threshold": "adaptive"}
    params = {"v_threshold": 1.0, "v_reset": 0.0, "alpha": 0.5, "beta": 0.5, "adapt_decay": 0.5, "adapt_scale": 0.1}
    with pytest.raises(ValueError, match="adaptive threshold has a fused kernel for the charges if, lif"):
        multistep("triton", problem(attrs, params, x), x, {"v": 0.0, "i": 0.0, "b": 0.0})
    fused = neuron.ALIF(step_mode="m", backend="cupy")
    with pytest.raises(ValueError, match="backend='triton' only"):
        fused(x)
