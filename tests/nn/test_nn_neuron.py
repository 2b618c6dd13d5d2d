"""Neurons against their equations on hand-computed sequences, step modes, windows, dtypes, per-neuron
parameters, and PLIF gradients against finite differences."""

import pytest
import torch

import snnc.nn as snn
from snnc.nn import surrogate


def run(neuron, xs, dtype=torch.float64):
    """Run one neuron per step on the scalar sequence ``xs``; returns (spikes, v) as lists."""
    spikes, vs = [], []
    for x in xs:
        spikes.append(neuron(torch.tensor([x], dtype=dtype)).item())
        vs.append(neuron.v.item())
    return spikes, vs


# (neuron factory, input sequence, expected spikes, expected V after reset) — worked out by hand from the
# equations in snnc/nn/neuron.py.
HAND = {
    "if_hard": (lambda: snn.IF(), [0.5, 0.5, 0.25, 1.0, -0.5, 2.0],
                [0, 1, 0, 1, 0, 1], [0.5, 0.0, 0.25, 0.0, -0.5, 0.0]),
    "if_soft": (lambda: snn.IF(v_reset=None), [0.5, 0.5, 0.25, 1.0, -0.5, 2.0],
                [0, 1, 0, 1, 0, 1], [0.5, 0.0, 0.25, 0.25, -0.25, 0.75]),
    "lif_decay_input": (lambda: snn.LIF(tau=2.0), [1.0, 1.0, 1.0, 3.0, 0.0],
                        [0, 0, 0, 1, 0], [0.5, 0.75, 0.875, 0.0, 0.0]),
    "lif_no_decay_input": (lambda: snn.LIF(tau=2.0, decay_input=False), [0.5, 0.5, 0.5, 1.0, 0.0],
                           [0, 0, 0, 1, 0], [0.5, 0.75, 0.875, 0.0, 0.0]),
    # V[-1] = v_reset = -0.5; H = V + (X - (V - v_reset)) / 4; threshold 0.5
    "lif_v_reset": (lambda: snn.LIF(tau=4.0, v_reset=-0.5, v_threshold=0.5), [2.5, 2.5, 0.0],
                    [0, 1, 0], [0.125, -0.5, -0.5]),
    "lif_soft": (lambda: snn.LIF(tau=2.0, v_reset=None), [3.0, 0.0, 1.0],
                 [1, 0, 0], [0.5, 0.25, 0.625]),
    # H = V - V/2 + X (soft reset leaks towards 0)
    "lif_soft_no_decay_input": (lambda: snn.LIF(tau=2.0, v_reset=None, decay_input=False), [1.5, 0.0, 1.0],
                                [1, 0, 1], [0.5, 0.25, 0.125]),
    # init_tau = 2 -> k = sigmoid(0) = 1/2 exactly: the lif_decay_input sequence
    "plif": (lambda: snn.PLIF(init_tau=2.0), [1.0, 1.0, 1.0, 3.0, 0.0],
             [0, 0, 0, 1, 0], [0.5, 0.75, 0.875, 0.0, 0.0]),
    # I = I/2 + X; H = 0.75 V + I
    "cuba": (lambda: snn.CubaLIF(current_decay=0.5, voltage_decay=0.25), [1.0, 0.0, 0.0, 1.0],
             [1, 0, 0, 1], [0.0, 0.5, 0.625, 0.0]),
    # H = V + (X - V)/2; th = 1 + B/2; B = 3/4·B + S (tau_adapt = 4): the second 1.125 does not fire
    # (th = 1.375), 1.3125 does (th = 1.28125)
    "alif": (lambda: snn.ALIF(tau=2.0, tau_adapt=4.0, beta_adapt=0.5), [1.5, 1.5, 1.5, 1.5, 1.5, 0.0, 3.0],
             [0, 1, 0, 0, 1, 0, 0], [0.75, 0.0, 0.75, 1.125, 0.0, 0.0, 1.5]),
}

#: ``B`` after each step of the "alif" case
ALIF_B = [0.0, 1.0, 0.75, 0.5625, 1.421875, 1.06640625, 0.7998046875]


@pytest.mark.parametrize("case", sorted(HAND))
def test_hand_computed_sequence(case):
    factory, xs, spikes, vs = HAND[case]
    got_s, got_v = run(factory().double(), xs)
    assert got_s == spikes
    assert got_v == pytest.approx(vs, abs=1e-12)


def test_alif_adaptation_trace():
    n = snn.ALIF(tau=2.0, tau_adapt=4.0, beta_adapt=0.5).double()
    trace = []
    for x in HAND["alif"][1]:
        n(torch.tensor([x], dtype=torch.float64))
        trace.append(n.b.item())
    assert trace == ALIF_B


def test_alif_window_resets_the_adaptation():
    """Without the window the fourth step does not fire (``th = 1.375``); every window of 2 starts again
    from ``V = v_reset``, ``B = 0``, so the first two steps repeat."""
    n = snn.ALIF(tau=2.0, tau_adapt=4.0, beta_adapt=0.5, window_size=2).double()
    spikes = [n(torch.tensor([x], dtype=torch.float64)).item() for x in HAND["alif"][1][:4]]
    assert spikes == [0, 1, 0, 1]


def test_alif_rejects_a_growing_adaptation():
    with pytest.raises(ValueError, match="tau_adapt must be >= 1"):
        snn.ALIF(tau_adapt=0.5)


def test_cuba_current_is_not_reset_by_a_spike():
    n = snn.CubaLIF(current_decay=0.5, voltage_decay=0.25).double()
    currents = []
    for x in [1.0, 0.0, 0.0, 1.0]:
        n(torch.tensor([x], dtype=torch.float64))
        currents.append(n.i.item())
    assert currents == [1.0, 0.5, 0.25, 1.125]


def test_plif_decay_is_sigmoid_of_w():
    n = snn.PLIF(init_tau=4.0).double()
    assert n.k.item() == pytest.approx(0.25, abs=1e-7)  # w is stored in float32, then converted
    got = run(n, [2.5, 2.5, 0.0])
    ref = run(snn.LIF(tau=4.0).double(), [2.5, 2.5, 0.0])
    assert got[0] == ref[0] and got[1] == pytest.approx(ref[1], abs=1e-6)


def test_firing_compares_greater_or_equal():
    n = snn.IF(v_threshold=0.75)
    assert n(torch.tensor([0.75])).item() == 1.0
    n = snn.IF(v_threshold=0.75)
    assert n(torch.tensor([0.74999])).item() == 0.0


def test_per_neuron_parameters_equal_separate_scalar_neurons():
    th = torch.tensor([0.5, 1.0, 2.0])
    tau = torch.tensor([1.5, 2.0, 8.0])
    x = torch.rand(12, 4, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 1.5
    n = snn.LIF(tau=tau, v_threshold=th, step_mode="m").double()
    assert n.v_threshold.dtype == torch.float64 and n.tau.dtype == torch.float64  # buffers follow .double()
    out = n(x)
    for j in range(3):
        ref = snn.LIF(tau=tau[j].item(), v_threshold=th[j].item(), step_mode="m").double()
        assert torch.equal(out[..., j], ref(x[..., j].contiguous()))
    # IF with per-neuron thresholds on a constant input, by hand
    n = snn.IF(v_threshold=th, step_mode="m")
    got = n(torch.full((4, 1, 3), 0.5))[:, 0]
    assert got.T.tolist() == [[1, 1, 1, 1], [0, 1, 0, 1], [0, 0, 0, 1]]


def test_per_neuron_cuba_decays():
    du = torch.tensor([0.0, 0.5, 1.0])
    n = snn.CubaLIF(current_decay=du, voltage_decay=0.0, v_threshold=10.0, step_mode="m").double()
    n(torch.ones(3, 1, 3, dtype=torch.float64))
    # I after 3 steps of X=1: du=0 -> 3, du=0.5 -> 1.75, du=1 -> 1
    assert n.i[0].tolist() == [3.0, 1.75, 1.0]


@pytest.mark.parametrize("bad", [lambda: snn.LIF(tau=1.0), lambda: snn.LIF(tau=torch.tensor([2.0, 0.5])),
                                 lambda: snn.PLIF(init_tau=1.0), lambda: snn.CubaLIF(current_decay=1.5),
                                 lambda: snn.IF(v_threshold=torch.tensor([1, 2]))])
def test_invalid_parameters_are_refused(bad):
    with pytest.raises((ValueError, TypeError)):
        bad()


NEURONS = {
    "if": lambda **kw: snn.IF(**kw),
    "lif": lambda **kw: snn.LIF(tau=3.0, **kw),
    "lif_nodecay": lambda **kw: snn.LIF(tau=3.0, decay_input=False, **kw),
    "plif": lambda **kw: snn.PLIF(init_tau=2.5, **kw),
    "cuba": lambda **kw: snn.CubaLIF(current_decay=0.3, voltage_decay=0.2, **kw),
}


@pytest.mark.parametrize("v_reset", [0.0, None, -0.2])
@pytest.mark.parametrize("kind", sorted(NEURONS))
def test_single_and_multi_step_are_equal(kind, v_reset):
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(16, 5, 7, generator=g, dtype=torch.float64) + 0.4).requires_grad_(True)
    ns = NEURONS[kind](v_reset=v_reset, step_mode="s").double()
    nm = NEURONS[kind](v_reset=v_reset, step_mode="m", store_v_seq=True).double()
    ys, vs = [], []
    for xt in x:
        ys.append(ns(xt))
        vs.append(ns.v)
    ys, vs = torch.stack(ys), torch.stack(vs)
    ym = nm(x)
    assert torch.equal(ys, ym) and 0 < ym.sum() < ym.numel()
    assert torch.equal(vs, nm.v_seq) and torch.equal(ns.v, nm.v)
    w = torch.randn(x.shape, generator=g, dtype=torch.float64)
    gs, = torch.autograd.grad((ys * w).sum() + vs.sum(), x)
    gm, = torch.autograd.grad((ym * w).sum() + nm.v_seq.sum(), x)
    assert torch.equal(gs, gm)


@pytest.mark.parametrize("step_mode", ["s", "m"])
@pytest.mark.parametrize("kind", sorted(NEURONS))
def test_window_resets_state_every_window_size_steps(kind, step_mode):
    W = 4
    x = torch.rand(3 * W, 2, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 1.2
    n = NEURONS[kind](window_size=W, step_mode=step_mode, store_v_seq=True).double()
    out = n(x) if step_mode == "m" else torch.stack([n(xt) for xt in x])
    ref = NEURONS[kind](step_mode="m", store_v_seq=True).double()
    expected, v_expected = [], []
    for w in range(3):
        snn.reset_net(ref)
        expected.append(ref(x[w * W:(w + 1) * W]))
        v_expected.append(ref.v_seq)
    assert torch.equal(out, torch.cat(expected))
    if step_mode == "m":
        assert torch.equal(n.v_seq, torch.cat(v_expected))  # V before the window reset
    assert n.v == n._memories["v"]  # the state is back at its initial value after the last window


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
@pytest.mark.parametrize("kind", sorted(NEURONS))
def test_dtypes_are_kept_and_exact_inputs_give_the_float64_spikes(kind, dtype):
    # inputs on a grid of 1/8 with IF: every value is exact in half precision
    x = torch.randint(-4, 12, (10, 3, 6), generator=torch.Generator().manual_seed(3)).to(dtype) / 8
    n = NEURONS[kind](step_mode="m").to(dtype)
    x = x.requires_grad_(True)
    y = n(x)
    assert y.dtype == dtype and n.v.dtype == dtype
    y.sum().backward()
    assert x.grad.dtype == dtype and torch.isfinite(x.grad).all()
    if kind == "if":
        ref = NEURONS[kind](step_mode="m").double()
        assert torch.equal(y.double(), ref(x.detach().double()))


def test_detach_reset_cuts_the_gradient_through_the_reset():
    x = torch.tensor([[1.5], [0.2]], dtype=torch.float64, requires_grad=True)
    grads = {}
    for detach in (False, True):
        n = snn.IF(detach_reset=detach, step_mode="m", store_v_seq=True).double()
        n(x)
        grads[detach], = torch.autograd.grad(n.v_seq[-1].sum(), x)
    # S0 = 1 (H0 = 1.5), S1 = 0 (H1 = 0 + 0.2). V = H(1-S) + 0·S, so dV/dH = (1-S) - H·sg'(H-1), and with
    # detach_reset only (1-S) remains.
    def sg(z):
        s = torch.sigmoid(torch.tensor(4 * z, dtype=torch.float64))
        return 4 * s * (1 - s)

    dv0 = 0 - 1.5 * sg(0.5).item()
    dv1 = 1 - 0.2 * sg(-0.8).item()
    assert grads[False].flatten().tolist() == pytest.approx([dv1 * dv0, dv1], rel=1e-12)
    assert grads[True].flatten().tolist() == [0.0, 1.0]


@pytest.mark.parametrize("decay_input", [True, False])
@pytest.mark.parametrize("v_reset", [0.0, None])
def test_plif_gradients_match_finite_differences(v_reset, decay_input):
    """With ``spiking=False`` the surrogate's primitive is used in the forward pass, so the whole BPTT
    chain (charge, fire, reset, the decay through w) is a smooth function: autograd must equal finite
    differences for the input and for w."""
    torch.manual_seed(0)
    n = snn.PLIF(init_tau=2.5, decay_input=decay_input, v_reset=v_reset, step_mode="m", store_v_seq=True,
                 surrogate_function=surrogate.Sigmoid(alpha=2.0, spiking=False)).double()
    x = torch.randn(6, 2, 3, dtype=torch.float64, requires_grad=True)
    w = n.w.detach().clone().requires_grad_(True)

    # w is a Parameter: perturb through a functional wrapper that rebinds it
    def g(x, w):
        snn.reset_net(n)
        saved = n.w
        del n.w
        n.w = w
        try:
            return n(x), n.v_seq
        finally:
            del n.w
            n.w = saved

    assert torch.autograd.gradcheck(g, (x, w), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("kind", ["if", "lif", "lif_nodecay", "cuba"])
def test_input_gradients_match_finite_differences(kind):
    n = NEURONS[kind](step_mode="m", store_v_seq=True,
                      surrogate_function=surrogate.ATan(alpha=2.0, spiking=False)).double()
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)

    def f(x):
        snn.reset_net(n)
        return n(x), n.v_seq

    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-7)


def test_store_v_seq_and_reset():
    n = snn.LIF(step_mode="m", store_v_seq=True)
    n(torch.rand(5, 2, 3))
    assert n.v_seq.shape == (5, 2, 3)
    snn.reset_net(n)
    assert n.v_seq is None and n.v == 0.0


def test_a_new_batch_size_without_reset_is_refused():
    n = snn.LIF(step_mode="m")
    n(torch.rand(3, 2, 4))
    with pytest.raises(ValueError, match="reset_net"):
        n(torch.rand(3, 5, 4))
    snn.reset_net(n)
    assert n(torch.rand(3, 5, 4)).shape == (3, 5, 4)


@pytest.mark.parametrize("detach_reset", [False, True])
def test_hard_reset_is_a_select_with_the_gradient_of_the_blend(detach_reset):
    """The hard reset's value is ``v_reset where S else H``; its gradient is the blend
    ``H·(1 - S) + v_reset·S``'s (plain autograd on the blend here), to the rounding of the order in
    which autograd adds the contributions through ``S``."""
    g = torch.Generator().manual_seed(3)
    x = (torch.randn(7, 3, 5, generator=g, dtype=torch.float64) + 0.6).requires_grad_(True)
    w = torch.randn(x.shape, generator=g, dtype=torch.float64)
    n = snn.LIF(tau=1.7, v_reset=-0.2, detach_reset=detach_reset, step_mode="m", store_v_seq=True).double()
    ours, = torch.autograd.grad((n(x) * w).sum() + (n.v_seq * w).sum(), x)

    sg = surrogate.Sigmoid()
    xb = x.detach().clone().requires_grad_(True)
    v, spikes, vs = torch.full_like(xb[0], -0.2), [], []
    for xt in xb:
        h = v + (xt - (v - -0.2)) / 1.7
        s = sg(h - 1.0)
        r = s.detach() if detach_reset else s
        v = h * (1.0 - r) + -0.2 * r
        spikes.append(s)
        vs.append(v)
    blend, = torch.autograd.grad((torch.stack(spikes) * w).sum() + (torch.stack(vs) * w).sum(), xb)
    torch.testing.assert_close(ours, blend, rtol=1e-12, atol=1e-14)
    assert torch.equal(n.v_seq.detach(), torch.stack(vs).detach())


def test_an_infinite_potential_is_reset_not_nan():
    """``V = v_reset where S``: a charge that overflows float32 still resets the potential (the blend
    ``H·(1 - S) + v_reset·S`` would make it NaN and silence the neuron), in snnc.nn and in the
    reference interpreter of the traced graph."""
    import snnc
    from snnc.ir import interpret

    fc = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        fc.weight.copy_(torch.tensor([[3e38, 1.0]]))
    model = torch.nn.Sequential(fc, snn.IF(v_reset=0.0))
    x = torch.tensor([[[2.0, 0.0]], [[0.0, 0.5]], [[0.0, 0.6]]])  # H = inf, then 0.5, then 1.1
    with torch.no_grad():
        expected = torch.stack([model(xt) for xt in x])
    assert expected.flatten().tolist() == [1.0, 0.0, 1.0]
    snn.reset_net(model)
    assert torch.equal(interpret(snnc.trace(model, x), x), expected)
