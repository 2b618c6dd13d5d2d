"""The gpu target's artifact against the model it came from: per-call time of an MLP on CUDA.

    python benchmarks/gpu_artifact.py [--steps 32] [--batches 1 16 64 256 1024 4096] [--repeat 50]

The model is 256→1024→1024→10 with three LIF layers (``snnc.nn``, triton backend), compiled with
``--target gpu``. Rows: the ``snnc.nn`` model itself, the artifact's ``GraphModule`` (``graph.snnc``) and its
exported program (``module.pt2`` loaded with ``torch.export.load(...).module().to("cuda")``). A call is the
whole ``[T, B, 256]`` sequence under ``torch.no_grad()``; the time is milliseconds per call of calls issued
back to back with one synchronization at the end (``timing.host_time``), so it holds the host's cost per
call where that dominates (small batch) and the device's where that does. Spikes of every row are checked
equal to the model's before timing. Prints a markdown table with each row's ratio to the model.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from torch import nn

import snnc
import snnc.targets.gpu  # noqa: F401 - the CUDA kernel of snnc::neuron_sequence
from snnc.ir import serialize
from snnc.nn import LIF
from snnc.nn.functional import reset_net
from snnc.targets.gpu import GraphModule
from timing import host_time


def mlp() -> nn.Sequential:
    torch.manual_seed(0)
    lif = lambda: LIF(tau=2.0, step_mode="m", backend="triton")  # noqa: E731
    return nn.Sequential(nn.Linear(256, 1024), lif(), nn.Linear(1024, 1024), lif(), nn.Linear(1024, 10), lif()).eval()


def contenders(model: nn.Sequential, out: Path, steps: int) -> dict:
    """name -> callable on a CUDA ``[T, B, 256]`` sequence."""
    example = (torch.rand(steps, 2, 256) < 0.3).float()
    snnc.compile(model, "gpu", out, example_input=example)
    artifact = GraphModule(serialize.load(out / "graph.snnc")).cuda()
    program = torch.export.load(out / "module.pt2").module().to("cuda")
    model = model.cuda()

    def run_model(x):
        reset_net(model)
        return model(x)
    return {"snnc.nn model": run_model, "artifact GraphModule": artifact, "artifact module.pt2": program}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64, 256, 1024, 4096])
    ap.add_argument("--repeat", type=int, default=50)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = contenders(mlp(), Path(tmp) / "gpu", args.steps)
        print(f"\nMLP 256→1024→1024→10, three LIF, T={args.steps}, float32, {torch.cuda.get_device_name(0)}: "
              "ms per call (ratio to the snnc.nn model)\n")
        print("| batch | " + " | ".join(runs) + " |")
        print("|---:|" + "---:|" * len(runs))
        for batch in args.batches:
            x = (torch.rand(args.steps, batch, 256, device="cuda") < 0.3).float()
            with torch.no_grad():
                outs = {name: run(x) for name, run in runs.items()}
                reference = outs["snnc.nn model"]
                for name, out in outs.items():
                    got = out[0] if isinstance(out, tuple) else out
                    agree = (got == reference).float().mean().item()
                    assert agree > 0.999, f"{name} disagrees with the model on {1 - agree:.2%} of spikes"
                ms = {name: host_time(lambda run=run: run(x), repeat=args.repeat, warmup=5) / 1000
                      for name, run in runs.items()}
            base = ms["snnc.nn model"]
            print(f"| {batch} | " + " | ".join(f"{v:.3f} ({v / base:.2f}×)" for v in ms.values()) + " |")


if __name__ == "__main__":
    main()
