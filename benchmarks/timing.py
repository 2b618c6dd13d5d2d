"""CUDA-event timing shared by the benchmark scripts."""

from __future__ import annotations

import statistics

import torch


def cuda_time(fn, repeat: int, warmup: int = 3) -> float:
    """Median milliseconds of ``fn()`` over ``repeat`` runs, each timed with its own CUDA events."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)
