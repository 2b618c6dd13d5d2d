"""CapturedStep: a whole training step of a snnc.nn network replayed from one CUDA graph equals the eager
step iteration by iteration (marker gpu); its refusals are tested everywhere."""

import copy

import pytest
import torch
from torch import nn

from snnc.nn import CubaLIF, IF, LIF, PLIF, reset_net
from snnc.runtime import CapturedStep



def _net(neuron):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(32, 64), neuron(), nn.Linear(64, 64), neuron(), nn.Linear(64, 10))


def _trainer(net, optimizer):
    def train_step(x, y):
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(net(x).mean(0), y)
        loss.backward()
        optimizer.step()
        return loss
    return train_step


def _batches(n, steps=8, batch=16):
    gen = torch.Generator().manual_seed(1)
    return [((torch.rand(steps, batch, 32, generator=gen) < 0.3).float(), torch.randint(0, 10, (batch,), generator=gen))
            for _ in range(n)]


NEURONS = {"if": lambda: IF(step_mode="m", backend="triton"), "lif": lambda: LIF(tau=2.0, step_mode="m", backend="triton"),
           "plif": lambda: PLIF(step_mode="m", backend="triton"),
           "cuba": lambda: CubaLIF(current_decay=0.2, voltage_decay=0.1, step_mode="m", backend="triton")}


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("neuron", sorted(NEURONS))
def test_captured_step_equals_eager_steps(neuron, optimizer):
    eager = _net(NEURONS[neuron]).cuda()
    captured = copy.deepcopy(eager)
    make = {"sgd": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
            "adam": lambda p: torch.optim.Adam(p, lr=1e-3, capturable=True)}[optimizer]
    eager_step = _trainer(eager, make(eager.parameters()))
    step = CapturedStep(_trainer(captured, make(captured.parameters())), reset=lambda: reset_net(captured), warmup=2)
    for k, (x, y) in enumerate(_batches(6)):
        x, y = x.cuda(), y.cuda()
        reset_net(eager)
        want = eager_step(x, y)
        got = step(x, y)
        assert torch.equal(got, want), (k, got.item(), want.item())
    assert step.graph is not None
    for a, b in zip(eager.parameters(), captured.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="recorded for"):
        step(torch.zeros(8, 4, 32, device="cuda"), torch.zeros(4, dtype=torch.long, device="cuda"))


def test_captured_step_refuses_host_tensors_and_a_zero_warmup():
    step = CapturedStep(lambda x: x)
    with pytest.raises(ValueError, match="input 0 is a tensor on cpu"):
        step(torch.zeros(2))
    with pytest.raises(ValueError, match="input 0 is int"):
        step(3)
    with pytest.raises(ValueError, match="warmup must be at least 1"):
        CapturedStep(lambda x: x, warmup=0)
