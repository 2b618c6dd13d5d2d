"""CUDA-event timing shared by the benchmark scripts."""

from __future__ import annotations

import statistics
import time

import torch

#: GPU cycles of the sleep queued ahead of each timed call (about 2 ms on an H100): long enough for the
#: host to queue the whole call behind it, so the events time the device's work and not the Python that
#: launches it (that is measured apart, by :func:`host_time`)
HIDE_HOST_CYCLES = 4_000_000


def cuda_time(fn, repeat: int, warmup: int = 3, hide_host: bool = True) -> float:
    """Median milliseconds of ``fn()`` over ``repeat`` runs, each timed with its own CUDA events.

    With ``hide_host`` each run is queued behind a GPU sleep, so the time is the device's from the first
    kernel of ``fn`` to its last (every contender, the copy included, is timed the same way); without it
    the time also holds the host's launch latency of the first kernel."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        if hide_host:
            torch.cuda._sleep(HIDE_HOST_CYCLES)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def host_time(fn, repeat: int = 200, warmup: int = 20) -> float:
    """Mean microseconds of host (Python) time per call of ``fn`` when the GPU work is small: calls back to
    back, then one synchronization."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / repeat * 1e6
