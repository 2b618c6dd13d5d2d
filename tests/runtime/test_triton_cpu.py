"""The Triton kernels, under TRITON_INTERPRET=1 on CPU (or natively on a GPU), against the torch backend.

float32 is bit-exact (spikes, membrane, v_seq); gradients agree to float rounding. float16 is exact too
(the kernels round every operation to float16 as PyTorch does). bfloat16 is checked to rounding only:
the interpreter's float32→bfloat16 conversion truncates where the GPU rounds to nearest (the GPU tests
check it exactly).
"""

import pytest
import torch

pytest.importorskip("triton")

from snnc.nn import neuron  # noqa: E402

from snnc.runtime.triton import ops  # noqa: E402

from runtime_cases import CONFIGS, compare, make_pair, surrogates  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _x(shape, dtype=torch.float32, seed=0, scale=1.5):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=gen) * scale).to(DEVICE, dtype)


@pytest.fixture
def spans(monkeypatch):
    """Set the training forward's chunk and the checkpoint span (the backward's chunk) for a dtype."""
    def set_launch(dtype, chunk, span):
        for kind, steps in (("train", chunk), ("backward", span)):
            block, warps, _ = ops.LAUNCH[dtype, kind]
            monkeypatch.setitem(ops.LAUNCH, (dtype, kind), (block, warps, steps))
        monkeypatch.setattr(ops, "_CONSTEXPRS", {})
    return set_launch


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("detach", [False, True])
def test_float32_exact(name, detach):
    ref, fused = make_pair(name, "triton", detach_reset=detach)
    compare(ref.to(DEVICE), fused.to(DEVICE), _x((19, 3, 45)))


@pytest.mark.parametrize("chunk,span", [(4, 4), (2, 6), (8, 32)])
@pytest.mark.parametrize("extra", [-1, 0, 1])
@pytest.mark.parametrize("name", ["lif-hard", "plif-soft-nodecay", "cuba-hard"])
def test_span_boundaries(name, chunk, span, extra, spans):
    """The forward keeps the state every ``span`` steps (loading ``chunk`` steps at a time) and the
    backward recomputes H from it: one step, sequences around one and two spans (with a partial last
    chunk and span), and shorter than a span (no checkpoint at all)."""
    spans(torch.float32, chunk, span)
    for steps in sorted({max(1, span + extra), 2 * span + extra + 1}):
        ref, fused = make_pair(name, "triton")
        compare(ref.to(DEVICE), fused.to(DEVICE), _x((steps, 2, 37), seed=steps))
    assert ops._checkpoints(torch.empty(2 * span + 1, 3)) == (2, 3)
    assert ops._checkpoints(torch.empty(span, 3)) == (0, 3)


@pytest.mark.parametrize("extra", [0, 1, 3])
def test_float16_span_boundaries(extra):
    """float16's own launch table: one and two whole spans, with a partial one after."""
    span = ops.LAUNCH[torch.float16, "backward"][2]
    ref, fused = make_pair("cuba-hard", "triton")
    compare(ref.to(DEVICE), fused.to(DEVICE), _x((span * (1 + extra % 2) + extra, 2, 21), torch.float16, seed=extra),
            rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("name", ["if-hard", "lif-soft-nodecay", "lif-hard-vreset", "plif-hard", "cuba-hard",
                                  "cuba-soft"])
def test_float16_exact(name):
    ref, fused = make_pair(name, "triton")
    compare(ref.to(DEVICE), fused.to(DEVICE), _x((17, 2, 50), torch.float16), rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("name", ["lif-hard", "plif-soft-nodecay"])
def test_bfloat16(name):
    ref, fused = make_pair(name, "triton")
    x = _x((6, 2, 50), torch.bfloat16)
    if DEVICE == "cuda":
        compare(ref.to(DEVICE), fused.to(DEVICE), x, rtol=0.1, atol=0.1)
        return
    # interpreter: float32 -> bfloat16 truncates, so only near-agreement is expected
    with torch.no_grad():
        sa, sb = ref(x), fused(x)
    assert sb.dtype == torch.bfloat16 and fused.v.dtype == torch.bfloat16
    assert (sa == sb).float().mean() > 0.95
    assert ((ref.v.float() - fused.v.float()).abs() < 0.05).float().mean() > 0.9


@pytest.mark.parametrize("sg", surrogates(), ids=lambda s: type(s).__name__)
def test_surrogates(sg):
    ref = neuron.LIF(tau=2.0, step_mode="m", surrogate_function=sg)
    fused = neuron.LIF(tau=2.0, step_mode="m", surrogate_function=sg, backend="triton")
    compare(ref.to(DEVICE), fused.to(DEVICE), _x((5, 2, 40), scale=1.0))


def test_per_neuron_parameters():
    gen = torch.Generator().manual_seed(3)
    th = torch.rand(4, 9, generator=gen) + 0.5
    tau = torch.rand(4, 9, generator=gen) * 3 + 1.2
    ref = neuron.LIF(tau=tau, v_threshold=th, step_mode="m")
    fused = neuron.LIF(tau=tau, v_threshold=th, step_mode="m", backend="triton")
    compare(ref.to(DEVICE), fused.to(DEVICE), _x((6, 2, 4, 9)))
    alpha = torch.rand(9, generator=gen)
    ref = neuron.CubaLIF(current_decay=alpha, voltage_decay=0.25, step_mode="m", v_reset=None)
    fused = neuron.CubaLIF(current_decay=alpha, voltage_decay=0.25, step_mode="m", v_reset=None, backend="triton")
    compare(ref.to(DEVICE), fused.to(DEVICE), _x((6, 3, 9)))


def test_float16_per_neuron_parameters_exact():
    gen = torch.Generator().manual_seed(4)
    th = torch.rand(3, 17, generator=gen) + 0.5
    tau = torch.rand(3, 17, generator=gen) * 3 + 1.2
    ref = neuron.LIF(tau=tau, v_threshold=th, step_mode="m").half()
    fused = neuron.LIF(tau=tau, v_threshold=th, step_mode="m", backend="triton").half()
    compare(ref.to(DEVICE), fused.to(DEVICE), _x((6, 2, 3, 17), torch.float16), rtol=2e-2, atol=2e-2)
    alpha = torch.rand(17, generator=gen)
    ref = neuron.CubaLIF(current_decay=alpha, voltage_decay=0.25, step_mode="m").half()
    fused = neuron.CubaLIF(current_decay=alpha, voltage_decay=0.25, step_mode="m", backend="triton").half()
    compare(ref.to(DEVICE), fused.to(DEVICE), _x((6, 3, 17), torch.float16), rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("window", [2, 3, 5])
def test_window_and_state_carry(window):
    """Two calls back to back: the state (and its gradient) carries over, windows cut it."""
    for name in ("lif-hard", "cuba-soft", "plif-hard"):
        ref, fused = make_pair(name, "triton", window_size=window, store_v_seq=True)
        compare(ref.to(DEVICE), fused.to(DEVICE), _x((11, 2, 33), seed=window), calls=2)
        assert ref._steps == fused._steps


@pytest.mark.parametrize("grad", [False, True])
def test_state_carries_over_calls(grad):
    """Consecutive calls without a window: the second starts from the first's state (a tensor), not from
    the initial scalar (a cached launch plan must tell them apart)."""
    for name in ("lif-hard", "plif-soft-nodecay", "cuba-hard"):
        ref, fused = make_pair(name, "triton")
        with torch.set_grad_enabled(grad):
            compare(ref.to(DEVICE), fused.to(DEVICE), _x((3, 2, 21), seed=7), calls=3, grad=grad)


def test_no_grad_forward_stores_nothing_extra():
    ref, fused = make_pair("lif-hard", "triton")
    with torch.no_grad():
        compare(ref.to(DEVICE), fused.to(DEVICE), _x((5, 70)), grad=False)


def test_unknown_surrogate_is_a_clear_error():
    class Odd(torch.nn.Module):
        kernel_name = "odd"

        def kernel_params(self):
            return (1.0,)

    fused = neuron.LIF(step_mode="m", backend="triton", surrogate_function=Odd())
    with pytest.raises(ValueError, match="no fused-kernel form"):
        fused(_x((2, 3)))


@pytest.mark.parametrize("name", ["lif-hard", "plif-soft-nodecay", "cuba-hard"])
def test_channels_last_sequence(name):
    """``[T, B, C, H, W]`` viewed from an NHWC batch runs in place (no copy): the same spikes, state and
    gradients as the torch backend, and outputs, state and input gradient in the input's layout."""
    steps, batch = 5, 2
    x = _x((steps * batch, 3, 4, 6)).contiguous(memory_format=torch.channels_last).view(steps, batch, 3, 4, 6)
    assert not x.is_contiguous()
    ref, fused = make_pair(name, "triton")
    compare(ref.to(DEVICE), fused.to(DEVICE), x, calls=2)
    fused.reset()
    xg = x.clone().requires_grad_(True)
    s = fused(xg)
    s.backward(torch.ones_like(s))
    assert s.stride() == x.stride() and fused.v.stride() == x[0].stride() and xg.grad.stride() == x.stride()


@pytest.mark.parametrize("name", ["lif-hard", "plif-soft-nodecay", "cuba-hard", "if-soft"])
@pytest.mark.parametrize("loss", ["mean over T", "sum"])
def test_a_broadcast_spike_gradient_is_read_in_place(name, loss):
    """A gradient that is the same at every step (``y.mean(0)``: stride 0 over T; ``y.sum()``: stride 0
    everywhere) gives the gradients the same values as that gradient materialized, bit for bit."""
    x = _x((37, 3, 7))
    grads = []
    for materialize in (False, True):
        _, fused = make_pair(name, "triton")
        fused = fused.to(DEVICE)
        xg = x.clone().requires_grad_(True)
        y = fused(xg)
        if loss == "sum":
            g = torch.ones((), device=DEVICE).expand_as(y)
        else:
            g = (_x((3, 7), seed=1) / y.shape[0]).expand_as(y)
        y.backward(g.contiguous() if materialize else g)
        grads.append([xg.grad] + [p.grad for p in fused.parameters()])
    for a, b in zip(*grads):
        assert torch.equal(a, b)
