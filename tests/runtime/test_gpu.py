"""GPU checks (marker ``gpu``; run on the device machine): full-size equality of the fused kernels with
the torch backend, float64 torch path vs the fused float32 gradients, torch.compile modes, autocast."""

import pytest
import torch

from snnc.nn import neuron, reset_net

from runtime_cases import ADAPTIVE, CONFIGS, compare, make_pair

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

BACKENDS = ["triton"]
try:
    import cupy  # noqa: F401

    BACKENDS.append("cupy")
except ImportError:  # pragma: no cover
    pass


def _x(shape, dtype=torch.float32, seed=0):
    gen = torch.Generator(device="cuda").manual_seed(seed)
    return (torch.randn(shape, generator=gen, device="cuda") * 1.5).to(dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_full_size(backend, name, dtype):
    if backend == "cupy" and dtype == torch.bfloat16:
        with pytest.raises(TypeError, match="bfloat16 needs backend='triton'"):
            make_pair(name, backend)[1].cuda()(_x((2, 4, 6), dtype))
        return
    ref, fused = make_pair(name, backend, store_v_seq=True)
    tol = {torch.float32: (1e-5, 1e-6), torch.float16: (2e-2, 2e-2), torch.bfloat16: (0.1, 0.1)}[dtype]
    compare(ref.cuda(), fused.cuda(), _x((8, 16, 4097), dtype), exact=True, rtol=tol[0], atol=tol[1])


@pytest.mark.parametrize("name", sorted(ADAPTIVE))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_adaptive_full_size(name, dtype):
    """The adaptive-threshold kernel (Triton) on the device: bit-exact forward, gradients to rounding."""
    ref, fused = make_pair(name, "triton", store_v_seq=True)
    tol = {torch.float32: (1e-5, 1e-6), torch.float16: (2e-2, 2e-2), torch.bfloat16: (0.1, 0.1)}[dtype]
    compare(ref.cuda(), fused.cuda(), _x((8, 16, 4097), dtype) + 0.3, exact=True, rtol=tol[0], atol=tol[1], calls=2)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["lif-soft-nodecay", "plif-hard", "cuba-soft"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_no_grad_forward(backend, name, dtype):
    """Without a gradient the fused paths store no H (and build no autograd node); same results."""
    ref, fused = make_pair(name, backend, store_v_seq=True)
    with torch.no_grad():
        compare(ref.cuda(), fused.cuda(), _x((8, 16, 4097), dtype, seed=3), grad=False, calls=2)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_per_neuron_parameters_full_size(backend, dtype):
    gen = torch.Generator(device="cuda").manual_seed(5)
    shape = (16, 2049)
    th = torch.rand(shape, generator=gen, device="cuda") + 0.5
    tau = torch.rand(shape, generator=gen, device="cuda") * 3 + 1.2
    tol = (1e-5, 1e-6) if dtype == torch.float32 else (2e-2, 2e-2)
    ref = neuron.LIF(tau=tau, v_threshold=th, step_mode="m").cuda().to(dtype)
    fused = neuron.LIF(tau=tau, v_threshold=th, step_mode="m", backend=backend).cuda().to(dtype)
    compare(ref, fused, _x((8, *shape), dtype), rtol=tol[0], atol=tol[1])
    alpha = torch.rand(shape[1:], generator=gen, device="cuda")
    ref = neuron.CubaLIF(current_decay=alpha, voltage_decay=0.25, v_reset=None, step_mode="m").cuda().to(dtype)
    fused = neuron.CubaLIF(current_decay=alpha, voltage_decay=0.25, v_reset=None, step_mode="m",
                           backend=backend).cuda().to(dtype)
    compare(ref, fused, _x((8, *shape), dtype), rtol=tol[0], atol=tol[1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_float64_torch_path_vs_fused(backend):
    """The fused float32 gradients equal the torch path's float64 ones to float32 rounding."""
    x = _x((16, 8, 1000))
    ref = neuron.LIF(tau=2.0, step_mode="m").double().cuda()
    fused = neuron.LIF(tau=2.0, step_mode="m", backend=backend).cuda()
    x64 = x.double().requires_grad_()
    x32 = x.clone().requires_grad_()
    s64, s32 = ref(x64), fused(x32)
    agree = (s64.float() == s32)
    assert agree.float().mean() > 0.999
    g = torch.randn_like(x)
    (s64 * g.double()).sum().backward()
    (s32 * g).sum().backward()
    rows = agree.all(0).all(0)  # neurons whose spike trains agree
    torch.testing.assert_close(x32.grad[:, :, rows], x64.grad[:, :, rows].float(), rtol=1e-4, atol=1e-5)


def _net(backend):
    return torch.nn.Sequential(torch.nn.Linear(64, 64), neuron.LIF(step_mode="m", backend=backend),
                               torch.nn.Linear(64, 10), neuron.PLIF(step_mode="m", backend=backend)).cuda()


@pytest.mark.parametrize("mode", ["default", "fullgraph", "reduce-overhead"])
def test_torch_compile(mode):
    torch.manual_seed(0)
    net = _net("triton")
    ref = _net("torch")
    ref.load_state_dict(net.state_dict())
    kwargs = {"fullgraph": True} if mode == "fullgraph" else ({"mode": mode} if mode != "default" else {})
    compiled = torch.compile(net, **kwargs)
    for step in range(3):
        x = _x((8, 32, 64), seed=step).requires_grad_()
        reset_net(net)
        reset_net(ref)
        out = compiled(x)
        expect = ref(x)
        assert torch.equal(out, expect)
        out.sum().backward()
        expect_grads = torch.autograd.grad(expect.sum(), list(ref.parameters()))
        for p, e in zip(net.parameters(), expect_grads):
            torch.testing.assert_close(p.grad, e, rtol=1e-4, atol=1e-5)
        net.zero_grad()


NEURONS = {"if": lambda b: neuron.IF(step_mode="m", backend=b),
           "lif": lambda b: neuron.LIF(tau=1.7, v_reset=None, step_mode="m", backend=b),
           "plif": lambda b: neuron.PLIF(step_mode="m", backend=b),
           "cuba": lambda b: neuron.CubaLIF(current_decay=0.3, voltage_decay=0.2, step_mode="m", backend=b)}


def _pair_net(kind):
    net = torch.nn.Sequential(NEURONS[kind]("triton")).cuda()
    ref = torch.nn.Sequential(NEURONS[kind]("torch")).cuda()
    ref.load_state_dict(net.state_dict())
    return net, ref


def _check_batches(compiled, net, ref, batches, grad: bool):
    """The compiled fused neuron against the torch backend: spikes equal; the gradients of a rate-coded
    loss (``mean`` over T) with respect to the input (and PLIF's ``w``) to float rounding."""
    for batch in batches:
        x = _x((6, batch, 24), seed=batch)
        reset_net(net)
        reset_net(ref)
        xa, xb = x.clone().requires_grad_(grad), x.clone().requires_grad_(grad)
        with torch.set_grad_enabled(grad):
            out = compiled(xa)
            expect = ref(xb)
        assert torch.equal(out, expect), f"batch {batch}"
        if grad:
            out.mean(0).sum().backward()
            expect.mean(0).sum().backward()
            torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-4, atol=1e-6)
            for p, e in zip(net.parameters(), ref.parameters()):
                torch.testing.assert_close(p.grad, e.grad, rtol=1e-4, atol=1e-5)
            net.zero_grad()
            ref.zero_grad()


@pytest.mark.parametrize("mode", ["default", "reduce-overhead", "max-autotune-no-cudagraphs"])
@pytest.mark.parametrize("kind", list(NEURONS))
def test_torch_compile_with_changing_batch_sizes(mode, kind):
    """A second batch size (a last partial batch, an eval batch) makes dynamo recompile with the batch
    dimension dynamic (automatic dynamic shapes): outputs equal to the torch backend, with and without
    gradient, in every mode."""
    torch._dynamo.reset()
    net, ref = _pair_net(kind)
    compiled = torch.compile(net, mode=mode)
    _check_batches(compiled, net, ref, (8, 5, 12), grad=True)
    _check_batches(compiled, net, ref, (3, 9), grad=False)


def _container_net(kind):
    from snnc.nn import ALIF, LIF, SeqToANNContainer

    def make(backend):
        cell = (lambda: LIF(tau=2.0, step_mode="m", backend=backend)) if kind == "lif" else (
            lambda: ALIF(tau=2.0, tau_adapt=5.0, beta_adapt=0.3, step_mode="m", backend=backend))
        return torch.nn.Sequential(SeqToANNContainer(torch.nn.Linear(24, 32)), cell(),
                                   SeqToANNContainer(torch.nn.Linear(32, 10)), cell()).cuda()
    torch.manual_seed(1)
    net, ref = make("triton"), make("torch")
    ref.load_state_dict(net.state_dict())
    return net, ref


@pytest.mark.parametrize("kind", ["lif", "alif"])
@pytest.mark.parametrize("mode,dynamic", [("default", True), ("fullgraph", None), ("fullgraph", True),
                                          ("reduce-overhead", None), ("reduce-overhead", True)])
def test_torch_compile_containers_and_dynamic_shapes(kind, mode, dynamic):
    """The SpikingJelly-style network (``SeqToANNContainer`` layers folding T into the batch, fused
    neurons) under ``dynamic=True`` and CUDA graphs, with changing batch sizes, with and without
    gradient: equal to the torch backend. (``fullgraph=True``: before torch 2.13 dynamo folds
    ``torch.compiler.is_exporting()`` to True; the neurons read the export flag itself,
    ``snnc.ir.torch_ops.exporting``.)"""
    torch._dynamo.reset()
    net, ref = _container_net(kind)
    options = {"default": {}, "fullgraph": {"fullgraph": True}}.get(mode, {"mode": mode})
    compiled = torch.compile(net, dynamic=dynamic, **options)
    _check_batches(compiled, net, ref, (8, 5, 12), grad=True)
    _check_batches(compiled, net, ref, (3, 9), grad=False)


@pytest.mark.parametrize("name", ["lif-hard", "plif-soft-nodecay", "cuba-hard"])
def test_fast_launch_equals_ordinary_launch(name):
    """Eager launches that skip Triton's argument binding give what the ordinary launch gives (several
    calls, so the cached compiled kernel is used; with and without gradient)."""
    from snnc.runtime.triton import ops

    x = _x((6, 8, 1001))
    results = []
    for fast in (False, True):
        ops.FAST_LAUNCH = fast
        try:
            _, fused = make_pair(name, "triton")
            fused = fused.cuda()
            xg = x.clone().requires_grad_()
            outs = [fused(xg) for _ in range(3)]
            sum((o * (k + 1)).sum() for k, o in enumerate(outs)).backward()
            with torch.no_grad():
                outs += [fused(x) for _ in range(3)]
            results.append((outs, xg.grad, fused.v))
        finally:
            ops.FAST_LAUNCH = True
    (a, ga, va), (b, gb, vb) = results
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    assert torch.equal(ga, gb) and torch.equal(va, vb)


def test_autocast_stays_fused():
    net = torch.nn.Sequential(torch.nn.Linear(64, 64), neuron.LIF(step_mode="m", backend="triton")).cuda()
    x = _x((4, 16, 64))
    with torch.autocast("cuda", dtype=torch.float16), torch.profiler.profile() as prof:
        y = net(x)
        y.sum().backward()
    names = [e.name for e in prof.events()]
    assert y.dtype == torch.float16
    assert any("neuron_forward_kernel" in n for n in names) and any("neuron_backward_kernel" in n for n in names)
