"""Small models shared by the test directories."""

import importlib.util
import pathlib
import sys

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


EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def digits_example():
    """The module ``examples/digits.py`` (its model, data and deployment table)."""
    spec = importlib.util.spec_from_file_location("digits_example", EXAMPLES / "digits.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module
