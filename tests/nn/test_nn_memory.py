"""snnc.nn.compact_spikes: saved spikes stored as uint8, gradients bit-identical, exact byte savings."""

import contextlib
import os

import pytest
import torch
from torch import nn
from torch.autograd.graph import saved_tensors_hooks

import snnc.nn as snn
from snnc.nn.memory import REGISTRY, SpikePacker, _Compact, _Kept, compact_spikes, record_spikes

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")  # before snnc.runtime.triton is imported

T, N, C, HW, CLASSES = 4, 3, 4, 6, 5


def on_cuda(*values):
    """A parameter set that runs on the GPU machine only (``pytest -m gpu``)."""
    return pytest.param(*values, marks=[pytest.mark.gpu,
                                        pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")])


DEVICES = ["cpu", on_cuda("cuda")]


@pytest.fixture(autouse=True)
def deterministic_cudnn(monkeypatch):
    """Equal gradients run to run on CUDA too (cuDNN may otherwise pick non-deterministic conv backwards)."""
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)


def backend_param(backend, device):
    """``backend``, skipping the triton runs that cannot run here: triton missing, or CPU tensors without
    the interpreter (set above only on a machine without CUDA)."""
    if backend == "triton":
        pytest.importorskip("triton")
        if device == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":
            pytest.skip("triton on CPU tensors needs TRITON_INTERPRET=1")
    return backend


def spiking_conv_net(backend="torch", device="cpu", dtype=torch.float32):
    """Conv2d→BN→LIF→Conv2d→BN→LIF→Linear on [T, N, 2, 6, 6], same weights every call."""
    torch.manual_seed(0)
    lif = lambda: snn.LIF(tau=2.0, step_mode="m", backend=backend, detach_reset=True)  # noqa: E731
    net = nn.Sequential(
        snn.SeqToANNContainer(nn.Conv2d(2, C, 3, padding=1), nn.BatchNorm2d(C)), lif(),
        snn.SeqToANNContainer(nn.Conv2d(C, C, 3, padding=1), nn.BatchNorm2d(C)), lif(),
        snn.SeqToANNContainer(nn.Flatten(), nn.Linear(C * HW * HW, CLASSES)))
    return net.to(device=device, dtype=dtype)


def batch(device="cpu", dtype=torch.float32):
    g = torch.Generator().manual_seed(1)
    x = 3 * torch.rand(T, N, 2, HW, HW, generator=g)
    return x.to(device=device, dtype=dtype), torch.tensor([0, 3, 1], device=device)


def train_step(net, x, y, compact: bool):
    """One forward (inside ``compact_spikes`` when ``compact``) and backward: the loss, the gradients and
    how many saved tensors were stored as uint8."""
    with compact_spikes() if compact else contextlib.nullcontext() as packer:
        loss = nn.functional.cross_entropy(net(x).mean(0), y)
    loss.backward()
    return loss.detach(), [p.grad for p in net.parameters()], packer.converted if compact else 0


class SavedSpy:
    """saved_tensors_hooks around a pack/unpack pair that keep every packed object (so no storage is
    freed and reused while counting) and count the bytes of the distinct storages they hold."""

    def __init__(self, pack=lambda t: t, unpack=lambda p: p):
        self.pack, self.unpack, self.packed = pack, unpack, []

    def _pack(self, t):
        self.packed.append(self.pack(t))
        return self.packed[-1]

    def hooks(self):
        return saved_tensors_hooks(self._pack, self.unpack)

    def tensors(self, kind=None):
        for p in self.packed:
            if kind is None or isinstance(p, kind):
                yield p if isinstance(p, torch.Tensor) else p[0]

    def storage_bytes(self) -> int:
        storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in self.tensors()}
        return sum(storages.values())


@contextlib.contextmanager
def spying(compact: bool):
    """``(spy, packer)``: the block's saved tensors as ``compact_spikes`` packs them (``compact``) or
    unchanged (``packer`` None)."""
    if not compact:
        spy = SavedSpy()
        with spy.hooks():
            yield spy, None
        return
    with compact_spikes() as packer:
        spy = SavedSpy(packer.pack, packer.unpack)
        with spy.hooks():
            yield spy, packer


def spike_outputs(net):
    """Keep the output of every LIF of ``net`` at its next forward (list filled in order)."""
    outputs = []
    for m in net.modules():
        if isinstance(m, snn.LIF):
            m.register_forward_hook(lambda _m, _x, out: outputs.append(out))
    return outputs


def bytes_saved(spy_plain, spy_compact) -> int:
    return spy_plain.storage_bytes() - spy_compact.storage_bytes()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_training_step_bit_identical_and_spikes_saved_as_uint8(backend, device):
    backend = backend_param(backend, device)
    x, y = batch(device)
    loss_a, grads_a, _ = train_step(spiking_conv_net(backend, device), x, y, compact=False)
    loss_b, grads_b, converted_b = train_step(spiking_conv_net(backend, device), x, y, compact=True)
    assert torch.equal(loss_a, loss_b)
    assert len(grads_a) == len(grads_b) == 10
    for a, b in zip(grads_a, grads_b):
        assert a is not None and torch.equal(a, b)
    assert converted_b == 2  # the second conv's and the linear layer's inputs, not the real-valued x
    assert len(REGISTRY) == 0  # the spikes died with the graph


@pytest.mark.parametrize("device", DEVICES)
def test_triton_neurons_write_the_uint8_copy_themselves(device, monkeypatch):
    """With the Triton backend the kernel writes the spikes' uint8 copy with them: packing converts
    nothing, what is saved equals the spikes, and the step stays bit-identical."""
    backend_param("triton", device)
    import snnc.nn.memory as memory
    x, y = batch(device)
    loss_a, grads_a, _ = train_step(spiking_conv_net("triton", device), x, y, compact=False)
    net = spiking_conv_net("triton", device)
    outputs = spike_outputs(net)
    conversions = []
    convert = memory._convert
    monkeypatch.setattr(memory, "_convert", lambda t, dtype: conversions.append(dtype) or convert(t, dtype))
    with spying(True) as (spy, packer):
        loss_b = nn.functional.cross_entropy(net(x).mean(0), y)
    assert torch.uint8 not in conversions and packer.converted == 2
    packed = list(spy.tensors(_Compact))
    assert len(packed) == 2 and all(torch.equal(p, s.to(torch.uint8)) for p, s in zip(packed, outputs))
    loss_b.backward()
    assert conversions == [torch.float32] * 2  # the backward's unpacking
    assert torch.equal(loss_a, loss_b.detach())
    assert all(torch.equal(a, p.grad) for a, p in zip(grads_a, net.parameters()))


@pytest.mark.parametrize("device, dtype", [("cpu", torch.bfloat16), on_cuda("cuda", torch.float16)])
def test_autocast_spikes_in_the_autocast_dtype_are_compacted(device, dtype):
    x, y = batch(device)

    def step(compact):
        net = spiking_conv_net(device=device)
        spikes = spike_outputs(net)
        with torch.autocast(device, dtype=dtype), spying(compact) as (spy, packer):
            loss = nn.functional.cross_entropy(net(x).mean(0).float(), y)
        loss.backward()
        assert [s.dtype for s in spikes] == [dtype] * 2  # BN and the neurons run in the autocast dtype
        return loss, [p.grad for p in net.parameters()], spy, packer

    loss_a, grads_a, plain, _ = step(compact=False)
    loss_b, grads_b, compact, packer = step(compact=True)
    assert torch.equal(loss_a, loss_b) and all(torch.equal(a, b) for a, b in zip(grads_a, grads_b))
    assert packer.converted == 2
    assert bytes_saved(plain, compact) == (2 - 1) * 2 * T * N * C * HW * HW


def test_saved_bytes_shrink_by_exactly_three_bytes_per_spike():
    x, _ = batch()
    with spying(compact=False) as (plain, _):
        spiking_conv_net()(x)
    net = spiking_conv_net()
    spikes = spike_outputs(net)
    with spying(compact=True) as (compact, packer):
        net(x)
    assert [tuple(s.shape) for s in spikes] == [(T, N, C, HW, HW)] * 2
    assert bytes_saved(plain, compact) == 3 * 2 * T * N * C * HW * HW == 3 * sum(s.numel() for s in spikes)
    uint8 = list(compact.tensors(_Compact))
    assert packer.converted == 2 and [u.dtype for u in uint8] == [torch.uint8] * 2
    kept = list(compact.tensors(_Kept))
    assert len(kept) == len(plain.packed) - 2
    assert x.untyped_storage().data_ptr() in {k.untyped_storage().data_ptr() for k in kept}  # x saved as is
    assert all(k.dtype == torch.float32 for k in kept)


def test_bn_output_and_real_inputs_are_kept_unchanged():
    packer = SpikePacker()
    with compact_spikes():
        bn_out = torch.randn(T, N, C)
        spikes = snn.LIF(step_mode="m")(bn_out)
        assert len(REGISTRY) == 1
        kept = packer.pack(bn_out)
        assert isinstance(kept, _Kept) and kept.tensor is bn_out and packer.unpack(kept) is bn_out
        assert isinstance(packer.pack(spikes), _Compact)
    assert packer.converted == 1


def test_nothing_recorded_outside_the_context_or_for_non_spiking_surrogates():
    spikes = snn.LIF(step_mode="m")(torch.randn(T, N, C))
    assert len(REGISTRY) == 0
    with compact_spikes() as packer:
        assert isinstance(packer.pack(spikes), _Kept)
        smooth = snn.LIF(step_mode="m", surrogate_function=snn.surrogate.Sigmoid(spiking=False))
        out = smooth(torch.randn(T, N, C))
        assert len(REGISTRY) == 0 and not torch.equal(out, out.round())


def test_registry_forgets_dead_spikes_and_reused_memory_is_not_packed():
    packer = SpikePacker()
    with compact_spikes():
        spikes = snn.LIF(step_mode="m")(4 * torch.rand(T, N, C))
        assert len(REGISTRY) == 1 and isinstance(packer.pack(spikes), _Compact)
        storage, shape, stride = spikes.untyped_storage(), spikes.shape, spikes.stride()
        del spikes
        assert len(REGISTRY) == 0
        # a new float tensor in the very same memory: same device, pointer, size, dtype, range, version 0
        reused = torch.from_dlpack(torch.empty(0).set_(storage, 0, shape, stride).uniform_())
        assert reused._version == 0 and reused.untyped_storage().data_ptr() == storage.data_ptr()
        assert reused.untyped_storage().nbytes() == storage.nbytes()
        assert isinstance(packer.pack(reused), _Kept)
    assert packer.converted == 1


def test_views_dense_ones_compact_with_exact_strides_others_kept():
    packer = SpikePacker()
    with compact_spikes():
        buffer = torch.rand(6, 4, 10)
        spikes = buffer[1:5]  # only rows 1..4 of the buffer are spikes
        spikes.copy_(torch.rand(spikes.shape) > 0.5)
        record_spikes(spikes)
        dense_views = [spikes, spikes[2], spikes.transpose(0, 2), spikes.flatten(0, 1), spikes[1:3].permute(2, 0, 1)]
        for view in dense_views:
            packed = packer.pack(view)
            assert isinstance(packed, _Compact)
            restored = packer.unpack(packed)
            assert restored.dtype == view.dtype and restored.shape == view.shape
            assert restored.stride() == view.stride() and torch.equal(restored, view)
        assert len({packer.pack(v).uint8.untyped_storage().data_ptr() for v in dense_views}) == 1
        not_spikes = [spikes[:, ::2], spikes[:, :, None].expand(4, 4, 3, 10), buffer[0], buffer[3:6], buffer,
                      spikes.double(), spikes.view(torch.int32)]
        for view in not_spikes:
            packed = packer.pack(view)
            assert isinstance(packed, _Kept) and packer.unpack(packed) is view
    assert packer.converted == 2 * len(dense_views)


def test_spikes_modified_in_place_are_kept():
    packer = SpikePacker()
    with compact_spikes():
        spikes = snn.LIF(step_mode="m")(4 * torch.rand(T, N, C))
        assert isinstance(packer.pack(spikes.flatten(0, 1)), _Compact)
        spikes.mul_(0.5)
        assert isinstance(packer.pack(spikes), _Kept)
        assert isinstance(packer.pack(spikes.flatten(0, 1)), _Kept)


def test_in_place_change_of_a_kept_saved_tensor_still_raises():
    a = torch.randn(5, requires_grad=True)
    with compact_spikes():
        b = a * 2
        c = b * b
    b.add_(1)
    with pytest.raises(RuntimeError, match="modified by an in-place operation: it is at version 1, it was saved "
                                           "at version 0"):
        c.sum().backward()


def test_spikes_saved_twice_share_one_uint8_copy():
    def step(compact):
        torch.manual_seed(0)
        lif, a, b = snn.LIF(step_mode="m"), nn.Linear(C, 3), nn.Linear(C, 2)
        with spying(compact) as (spy, packer):
            s = lif(4 * torch.rand(T, N, C))
            loss = a(s).sum() + b(s.flatten(0, 1)).sum()
        loss.backward()
        return [p.grad for p in (*a.parameters(), *b.parameters())], spy, packer

    grads_a, plain, _ = step(compact=False)
    grads_b, compact, packer = step(compact=True)
    assert all(torch.equal(g, h) for g, h in zip(grads_a, grads_b))
    first, second = (p for p in compact.packed if isinstance(p, _Compact))
    assert packer.converted == 2 and first.uint8 is second.uint8
    assert bytes_saved(plain, compact) == 3 * T * N * C


def test_double_backward_bit_identical():
    x, y = batch()

    def penalty_grads(compact):
        net = spiking_conv_net()
        params = list(net.parameters())
        with compact_spikes() if compact else contextlib.nullcontext():
            loss = nn.functional.cross_entropy(net(x).mean(0), y)
            grads = torch.autograd.grad(loss, params, create_graph=True)
            sum((g * g).sum() for g in grads).backward()
        return [p.grad for p in params]

    plain, compact = penalty_grads(False), penalty_grads(True)
    assert [g is None for g in plain] == [g is None for g in compact]
    assert sum(g is not None for g in plain) == 10
    assert all(a is None or torch.equal(a, b) for a, b in zip(plain, compact))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_float16_bfloat16_float64_spikes(dtype):
    def step(compact):
        torch.manual_seed(0)
        net = nn.Sequential(snn.Linear(C, 8, step_mode="m"), snn.LIF(step_mode="m"),
                            snn.Linear(8, CLASSES, step_mode="m")).to(dtype)
        x = (4 * torch.rand(T, N, C)).to(dtype)
        with spying(compact) as (spy, packer):
            loss = net(x).float().square().mean()
        loss.backward()
        return loss, [p.grad for p in net.parameters()], spy, packer

    loss_a, grads_a, plain, _ = step(compact=False)
    loss_b, grads_b, compact, packer = step(compact=True)
    assert torch.equal(loss_a, loss_b) and all(torch.equal(a, b) for a, b in zip(grads_a, grads_b))
    assert packer.converted == 1
    assert bytes_saved(plain, compact) == (dtype.itemsize - 1) * T * N * 8


def test_single_step_mode_spikes_are_compacted():
    def step(compact):
        torch.manual_seed(0)
        lif, fc = snn.LIF(), nn.Linear(C, 3)
        x = 4 * torch.rand(T, N, C)
        with compact_spikes() if compact else contextlib.nullcontext() as packer:
            loss = sum(fc(lif(xt)).sum() for xt in x)
        loss.backward()
        return fc.weight.grad, packer

    grad_a, _ = step(compact=False)
    grad_b, packer = step(compact=True)
    assert packer.converted == T and torch.equal(grad_a, grad_b)
