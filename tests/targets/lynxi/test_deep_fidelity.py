"""Deep-net 16-bit fidelity of the lynxi profile (float16 weights, activations and state): a Spiking
ResNet-18 keeps the float32 model's decisions when trained, and at random init loses no more than
rounding its weights to float16 alone loses (``benchmarks/lynxi_fidelity.py`` prints the tables)."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from lynxi_fidelity import measure, random_resnet18, synthetic_task, trained_resnet18  # noqa: E402


def test_random_init_deep_resnet_loses_only_what_float16_weights_lose():
    """Random init (batch-norm gains x4, every one of the 17 neuron layers firing): the whole profile's
    agreement with float32 is at least that of float32 arithmetic on float16 weights (one decision of
    slack), and every layer's spike rate stays within 0.5 % of float32's."""
    x = torch.rand((4, 64, 3, 32, 32), generator=torch.Generator().manual_seed(0))
    agreement, errors, rates, _ = measure(random_resnet18(0.125, gain=4.0), x)
    assert len(rates) == 17 and min(rates.values()) > 0
    assert agreement["float64"] == 1.0
    assert agreement["lynxi"] >= agreement["float16 weights"] - 1 / 64
    assert agreement["lynxi"] >= 0.95
    assert max(e["lynxi"] for e in errors.values()) < 0.005


def _trained_agreement(width, iterations, samples):
    net = trained_resnet18(width, iterations, steps=4)
    x, labels = synthetic_task(samples, 4, seed=0)
    agreement, _, _, decisions = measure(net, x)
    return agreement, float((decisions == labels).double().mean())


def test_trained_deep_resnet_keeps_its_decisions():
    """Trained on the synthetic task (width 1/4, 150 steps): >= 99 % of held-out decisions equal float32's."""
    agreement, accuracy = _trained_agreement(0.25, 150, 128)
    assert accuracy >= 0.9
    assert agreement["lynxi"] >= 0.99


@pytest.mark.slow
def test_trained_half_width_resnet_keeps_its_decisions():
    agreement, accuracy = _trained_agreement(0.5, 150, 256)
    assert accuracy >= 0.95
    assert agreement["lynxi"] >= 0.99
