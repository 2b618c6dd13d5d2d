"""Multi-step adaptive LIF (``snnc.nn.ALIF``): forward and forward+backward time of the fused Triton kernel
against the same module's PyTorch loop (what an adaptive neuron costs without a kernel) and against
snnc's fused fixed-threshold LIF (the floor an adaptive kernel can approach).

    python benchmarks/alif_kernel.py [--steps 8 32 128] [--neurons 1048576] [--dtypes float32 float16]

Prints markdown tables (milliseconds, median of ``--repeat`` CUDA-event timings, ``timing.cuda_time``).
"""

from __future__ import annotations

import argparse

import torch
from timing import cuda_time

from snnc.nn import ALIF, LIF

CONTENDERS = {
    "snnc ALIF, triton": lambda: ALIF(tau=2.0, tau_adapt=20.0, beta_adapt=0.5, step_mode="m", backend="triton"),
    "snnc ALIF, torch loop": lambda: ALIF(tau=2.0, tau_adapt=20.0, beta_adapt=0.5, step_mode="m"),
    "snnc LIF, triton (fixed threshold)": lambda: LIF(tau=2.0, step_mode="m", backend="triton"),
}


def call(factory, dtype, steps, neurons, backward):
    module = factory().cuda()
    x = torch.randn(steps, neurons, device="cuda").to(dtype)
    if backward:
        x.requires_grad_(True)
        grad = torch.randn_like(x)

    def fn():
        module.reset()
        if backward:
            x.grad = None
            module(x).backward(grad)
        else:
            with torch.no_grad():
                module(x)
    return fn


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--neurons", type=int, default=1 << 20)
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float16"])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, {args.neurons} neurons per step, "
          f"median of {args.repeat}\n")
    for dtype_name in args.dtypes:
        dtype = getattr(torch, dtype_name)
        for backward in (False, True):
            print(f"### {'forward+backward' if backward else 'forward (no grad)'}, {dtype_name}, ms\n")
            print("| implementation | " + " | ".join(f"T={t}" for t in args.steps) + " |")
            print("|---|" + "---|" * len(args.steps))
            for name, factory in CONTENDERS.items():
                cells = [f"{cuda_time(call(factory, dtype, t, args.neurons, backward), args.repeat):.3f}"
                         for t in args.steps]
                torch.cuda.empty_cache()
                print(f"| {name} | " + " | ".join(cells) + " |")
            print()


if __name__ == "__main__":
    main()
