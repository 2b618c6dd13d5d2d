"""Open-Neuromorphic-style layer benchmark: ``Linear(n, n)`` followed by a LIF layer, batch 16, T=500,
forward+backward (``y.sum()`` loss) time and peak memory, snnc against SpikingJelly 2.0 in one run.

    python benchmarks/open_neuromorphic.py [--neurons 4096 8192 16384] [--dtypes float32 float16]

The layer's parameters and input are in the table's dtype. SpikingJelly runs as its ``LIFNode`` module
(it picks its own fastest backend; with 16-bit state it falls back to a PyTorch loop) and as its
functional ``lif_multi_step`` with the membrane in float32 (the state dtype its fused kernels need).
Time: median of ``--repeat`` CUDA-event timings after warm-up (``timing.cuda_time``); memory: the peak
allocated during one step above what the parameters and input already hold. A peer that is missing or
fails is reported as such.
"""

from __future__ import annotations

import argparse
import sys

import torch
from timing import cuda_time

BATCH, STEPS = 16, 500


def snnc_neuron():
    from snnc.nn import LIF
    module = LIF(tau=2.0, step_mode="m", backend="triton")

    def run(h):
        module.reset()
        return module(h)
    return run


def sj_module():
    from spikingjelly.activation_based import neuron
    module = neuron.LIFNode(tau=2.0, step_mode="m")

    def run(h):
        module.reset()
        return module(h)
    return run


def sj_functional():
    from spikingjelly.activation_based.functional import lif_multi_step

    def run(h):
        v = torch.zeros(h.shape[1:], device=h.device, dtype=torch.float32)
        return lif_multi_step(h, v, tau=2.0, decay_input=True, v_threshold=1.0, v_reset=0.0)[0]
    return run


CONTENDERS = {"snnc LIF (triton)": snnc_neuron, "SpikingJelly 2.0 LIFNode": sj_module,
              "SpikingJelly 2.0 lif_multi_step (fp32 state)": sj_functional}


def step_function(make, n: int, dtype: torch.dtype):
    """One forward+backward of ``Linear(n, n)`` + the contender's neuron on a fixed input."""
    torch.manual_seed(0)
    linear = torch.nn.Linear(n, n, device="cuda", dtype=dtype)
    x = torch.rand((STEPS, BATCH, n), device="cuda", dtype=dtype)
    neuron = make()

    def fn():
        linear.zero_grad(set_to_none=True)
        neuron(linear(x)).sum().backward()
    return fn


def peak_bytes(fn) -> int:
    fn()
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--neurons", type=int, nargs="+", default=[4096, 8192, 16384])
    p.add_argument("--dtypes", nargs="+", default=["float32", "float16"])
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args(argv)
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}; Linear(n, n) + LIF, batch {BATCH}, "
          f"T={STEPS}, forward+backward\n")
    for dtype_name in args.dtypes:
        dtype = getattr(torch, dtype_name)
        print(f"### {dtype_name}: ms per step (peak MiB above parameters and input)\n")
        print("| implementation | " + " | ".join(f"n={n}" for n in args.neurons) + " |")
        print("|---|" + "---|" * len(args.neurons))
        timed = {}
        for name, make in CONTENDERS.items():
            cells = []
            for n in args.neurons:
                try:
                    fn = step_function(make, n, dtype)
                    ms = timed[name, n] = cuda_time(fn, args.repeat, warmup=1)
                    cells.append(f"{ms:.2f} ({peak_bytes(fn) / 2**20:.0f})")
                except Exception as e:  # a peer missing or failing is reported, not fatal
                    cells.append(f"n/a ({type(e).__name__})")
                    print(f"<!-- {name} n={n}: {type(e).__name__}: {str(e)[:200]} -->", file=sys.stderr)
                torch.cuda.empty_cache()
            print(f"| {name} | " + " | ".join(cells) + " |")
        ours = "snnc LIF (triton)"
        cells = []
        for n in args.neurons:
            peers = [timed[k, n] for k in CONTENDERS if k != ours and (k, n) in timed]
            cells.append(f"{timed[ours, n] / min(peers):.2f}×" if peers and (ours, n) in timed else "n/a")
        print("| **snnc / SpikingJelly (fastest)** | " + " | ".join(cells) + " |\n")


if __name__ == "__main__":
    main()
