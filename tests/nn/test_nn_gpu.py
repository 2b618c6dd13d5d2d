"""snnc.nn on a CUDA GPU: the same results as on the CPU, both step modes, float16/32/64, SpikingJelly
parity, and the digits example training. Run on the GPU machine with ``pytest -m gpu tests/nn``."""

import pytest
import torch

import snnc.nn as snn
from support.models import digits_example

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

NEURONS = {
    "if": lambda **kw: snn.IF(**kw),
    "lif": lambda **kw: snn.LIF(tau=3.0, **kw),
    "lif_nodecay_soft": lambda **kw: snn.LIF(tau=3.0, decay_input=False, v_reset=None, **kw),
    "lif_per_neuron": lambda **kw: snn.LIF(tau=torch.linspace(1.5, 4.0, 16), v_threshold=torch.linspace(0.5, 1.5, 16), **kw),
    "plif": lambda **kw: snn.PLIF(init_tau=2.5, **kw),
    "cuba": lambda **kw: snn.CubaLIF(current_decay=0.3, voltage_decay=0.2, **kw),
}


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
@pytest.mark.parametrize("kind", sorted(NEURONS))
def test_neurons_on_cuda_match_cpu_and_step_modes(kind, dtype):
    g = torch.Generator().manual_seed(0)
    x_cpu = torch.randint(-4, 12, (12, 8, 16), generator=g).to(torch.float64) / 8  # exact in every dtype
    results = {}
    for device in ("cpu", "cuda"):
        for step_mode in ("s", "m"):
            n = NEURONS[kind](step_mode=step_mode, store_v_seq=True).to(device=device, dtype=dtype)
            x = x_cpu.to(device=device, dtype=dtype).detach().clone().requires_grad_(True)
            if step_mode == "m":
                y, v = n(x), n.v_seq
            else:
                ys, vs = [], []
                for xt in x:
                    ys.append(n(xt))
                    vs.append(n.v)
                y, v = torch.stack(ys), torch.stack(vs)
            (y.sum() + v.sum()).backward()
            assert y.dtype == dtype and y.device.type == device
            results[device, step_mode] = (y.detach().cpu().double(), v.detach().cpu().double(),
                                          x.grad.cpu().double())
    for a, b in zip(results["cuda", "s"], results["cuda", "m"]):
        assert torch.equal(a, b)
    y_cpu, v_cpu, g_cpu = results["cpu", "m"]
    y_gpu, v_gpu, g_gpu = results["cuda", "m"]
    tol = {torch.float16: 1e-2, torch.float32: 1e-5, torch.float64: 1e-12}[dtype]
    if dtype == torch.float64 or kind in ("if",):
        assert torch.equal(y_cpu, y_gpu)
    else:  # a decay computed with a different rounding may move a value across the threshold
        assert (y_cpu != y_gpu).double().mean() < 0.01
    if torch.equal(y_cpu, y_gpu):
        torch.testing.assert_close(v_gpu, v_cpu, rtol=tol, atol=tol)
        torch.testing.assert_close(g_gpu, g_cpu, rtol=tol, atol=tol)


def test_spikingjelly_parity_on_cuda():
    pytest.importorskip("spikingjelly.activation_based.neuron", reason="spikingjelly is not installed")
    from test_nn_spikingjelly_parity import CONFIGS, check_parity

    for config in CONFIGS:
        check_parity(*config, device="cuda")


def test_layers_readout_and_encoders_on_cuda():
    torch.manual_seed(0)
    net = torch.nn.Sequential(snn.Conv2d(1, 4, 3, padding=1), snn.BatchNorm2d(4), snn.IF(), snn.MaxPool2d(2),
                              snn.Dropout(0.2), snn.Flatten(), snn.Linear(64, 10), snn.LIF(),
                              snn.Readout(n_classes=10, window_size=4))
    snn.set_step_mode(net, "m")
    x_cpu = snn.PoissonEncoder(generator=torch.Generator().manual_seed(0)).encode(torch.rand(6, 1, 8, 8), 8)
    net.eval()
    expected = net(x_cpu)
    snn.reset_net(net)
    net.cuda()
    got = net(x_cpu.cuda())
    assert got.device.type == "cuda"
    assert torch.equal(got.cpu(), expected)
    enc = snn.PoissonEncoder(generator=torch.Generator(device="cuda").manual_seed(0))
    s = enc.encode(torch.full((1000,), 0.3, device="cuda"), 20)
    assert abs(s.mean().item() - 0.3) < 0.02
    code = snn.LatencyEncoder(T=5).encode(torch.tensor([1.0, 0.5, 0.0], device="cuda"))
    assert code.T.tolist() == [[1, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 1]]


def test_digits_example_trains_on_cuda():
    digits = digits_example()
    data = digits.load_data(8, 0)
    model = digits.build_model(8, 128).cuda()
    for name in ("train_x", "train_y", "test_x", "test_y", "train_intensity", "test_intensity"):
        setattr(data, name, getattr(data, name).cuda())
    history = digits.train(model, data, epochs=5, log=print)
    assert history[-1] > 0.85
