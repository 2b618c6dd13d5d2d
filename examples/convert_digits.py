"""ANN → SNN conversion on scikit-learn's digits: train a ReLU network, convert it with
``snnc.convert`` (max and percentile normalization), and print the accuracy of the ANN, of the
converted SNN at several T, and of its deployed artifacts (each verified bit-exactly first).

    python examples/convert_digits.py                 # ~1 min on 2 CPU cores
    python examples/convert_digits.py --steps 8 32    # other window lengths

The input is the image itself, presented as a constant current at every step; the SNN's output is
its last Linear layer per step, averaged over the window (the ANN's logits as T grows).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import snnc  # noqa: E402
import snnc.nn as snn  # noqa: E402
from digits import load_data  # noqa: E402

TARGETS = ("gpu", "lynxi", "hls", "onnx")


def train_ann(x: torch.Tensor, y: torch.Tensor, epochs: int = 150, seed: int = 0) -> nn.Sequential:
    """``Linear(64, 128) → BatchNorm → ReLU → Dropout → Linear(128, 64) → ReLU → Linear(64, 10)``, full-batch Adam."""
    torch.manual_seed(seed)
    ann = nn.Sequential(nn.Linear(64, 128), nn.BatchNorm1d(128), nn.ReLU(), nn.Dropout(0.1),
                        nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(ann.parameters(), lr=1e-2)
    for _ in range(epochs):
        ann.train()
        opt.zero_grad()
        nn.functional.cross_entropy(ann(x), y).backward()
        opt.step()
    return ann.eval()


def constant_input(x: torch.Tensor, T: int) -> torch.Tensor:
    return x.expand(T, *x.shape).contiguous()


def snn_accuracy(model: nn.Sequential, x: torch.Tensor, y: torch.Tensor, T: int) -> float:
    snn.reset_net(model)
    with torch.no_grad():
        out = snn.multi_step_forward(constant_input(x, T), model)
    return float((out.mean(0).argmax(1) == y).float().mean())


def artifact_accuracy(model: nn.Sequential, target: str, x: torch.Tensor, y: torch.Tensor, T: int) -> tuple[float, bool]:
    """The deployed artifact's accuracy (``snnc.simulate`` of what was emitted) and whether verify passed."""
    inputs = constant_input(x, T)
    with tempfile.TemporaryDirectory() as tmp:
        artifact = snnc.compile(model, target, os.path.join(tmp, target), example_input=inputs[:, :2])
        ok = snnc.verify(model, target, inputs=inputs[:, :16].numpy(), example_input=inputs[:, :2]).ok
        out = torch.as_tensor(snnc.simulate(artifact, inputs.numpy()), dtype=torch.float64)
    return float((out.mean(0).argmax(1) == y).float().mean()), ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    parser.add_argument("--deploy-steps", type=int, default=32, help="T of the deployed artifacts")
    args = parser.parse_args(argv)
    data = load_data()
    ann = train_ann(data.train_intensity, data.train_y)
    with torch.no_grad():
        ann_acc = float((ann(data.test_intensity).argmax(1) == data.test_y).float().mean())
    calibration = data.train_intensity[:300]
    print(f"ANN test accuracy: {ann_acc:.4f} ({len(data.test_y)} test images)\n")
    print("| method | " + " | ".join(f"T={t}" for t in args.steps) + " |")
    print("|---|" + "---|" * len(args.steps))
    models = {}
    for method in ("max", "percentile"):
        models[method] = snnc.convert(ann, calibration, T=args.deploy_steps, method=method, percentile=99.9)
        accs = [snn_accuracy(models[method], data.test_intensity, data.test_y, t) for t in args.steps]
        print(f"| {method} | " + " | ".join(f"{a:.4f}" for a in accs) + " |")
    print(f"\nDeployed (percentile normalization, T={args.deploy_steps}):\n")
    print("| target | accuracy | verify |")
    print("|---|---|---|")
    for target in TARGETS:
        acc, ok = artifact_accuracy(models["percentile"], target, data.test_intensity, data.test_y, args.deploy_steps)
        print(f"| {target} | {acc:.4f} | {'bit-exact' if ok else 'MISMATCH'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
