"""Small models shared by the test directories."""

import torch

import snnc.nn as sn


def small_model() -> torch.nn.Module:
    """``Linear(6, 8) → LIF → Linear(8, 3) → LIF`` with weights on a 1/8 grid (exact in every profile)."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(sn.Linear(6, 8, bias=False), sn.LIF(tau=2.0), sn.Linear(8, 3, bias=False), sn.LIF(tau=2.0))
    with torch.no_grad():
        for layer in (net[0], net[2]):
            layer.weight.copy_(torch.randint(-6, 9, layer.weight.shape) / 8)
    return net
