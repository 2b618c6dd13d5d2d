"""A whole training step — forward, loss, backward, optimizer step — captured in one CUDA graph.

    from snnc.nn import reset_net
    from snnc.runtime import CapturedStep

    def train_step(x, y):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(net(x).mean(0), y)
        loss.backward()
        optimizer.step()
        return loss

    step = CapturedStep(train_step, reset=lambda: reset_net(net))
    for x, y in loader:
        loss = step(x, y)

The first ``warmup`` calls run ``train_step`` eagerly on a side stream (they are real training steps:
libraries allocate their workspaces, the optimizer its state); the next call records it once into a
``torch.cuda.CUDAGraph`` and every call from then on copies its inputs into the recorded ones and
replays the graph: one launch for the whole step instead of one per kernel. ``reset`` runs before each
eager call and before the recording, so the recorded neurons start from their initial state: a replay
starts every sequence from it too (the state of an ``snnc.nn`` neuron after a reset is a number, which
the recorded kernels take as an argument), and nothing needs resetting between replays.

What ``train_step`` must be (CUDA graphs' own rules): the same input shapes and dtypes on every call (a
last partial batch: drop it, or keep a second ``CapturedStep``); no host synchronization (``.item()``,
``print`` of a tensor, data-dependent Python control flow); an optimizer whose step runs on the device
(``SGD``; ``Adam``/``AdamW`` with ``capturable=True``); under autocast ``cache_enabled=False`` and no
``GradScaler`` (its inf check synchronizes: use bfloat16). Its return value (tensors) is the recorded
output: overwritten by the next call, clone it to keep it.
"""

from __future__ import annotations

from typing import Callable

import torch


class CapturedStep:
    """``train_step`` replayed from one CUDA graph after ``warmup`` eager calls (module docstring)."""

    def __init__(self, train_step: Callable, reset: Callable[[], None] | None = None, warmup: int = 3):
        if warmup < 1:
            raise ValueError(f"CapturedStep: warmup must be at least 1 eager call, got {warmup}")
        self.train_step = train_step
        self.reset = reset or (lambda: None)
        self.warmup = warmup
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self._inputs: tuple[torch.Tensor, ...] = ()
        self._outputs = None
        self._stream: torch.cuda.Stream | None = None

    def __call__(self, *inputs: torch.Tensor):
        _check_inputs(inputs)
        self.calls += 1
        if self.graph is None and self.calls <= self.warmup:
            return self._eager(inputs)
        if self.graph is None:
            self._record(inputs)
        else:
            self._check_like_recorded(inputs)
            for static, x in zip(self._inputs, inputs):
                static.copy_(x)
        self.graph.replay()
        return self._outputs

    def _eager(self, inputs):
        if self._stream is None:
            self._stream = torch.cuda.Stream()
        self._stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(self._stream):
            self.reset()
            out = self.train_step(*inputs)
        torch.cuda.current_stream().wait_stream(self._stream)
        return out

    def _record(self, inputs):
        """Record ``train_step`` on static copies of ``inputs`` (recording runs nothing; the caller replays)."""
        self._inputs = tuple(x.clone() for x in inputs)
        torch.cuda.synchronize()
        self.graph = torch.cuda.CUDAGraph()
        self.reset()
        with torch.cuda.graph(self.graph):
            self._outputs = self.train_step(*self._inputs)

    def _check_like_recorded(self, inputs):
        if len(inputs) != len(self._inputs):
            raise ValueError(f"CapturedStep: recorded with {len(self._inputs)} input(s), called with {len(inputs)}")
        for k, (static, x) in enumerate(zip(self._inputs, inputs)):
            if x.shape != static.shape or x.dtype != static.dtype or x.device != static.device:
                raise ValueError(f"CapturedStep: input {k} is {x.dtype} {tuple(x.shape)} on {x.device}, but the step was "
                                 f"recorded for {static.dtype} {tuple(static.shape)} on {static.device}; a CUDA graph "
                                 "replays fixed shapes (use one CapturedStep per shape)")


def _check_inputs(inputs) -> None:
    for k, x in enumerate(inputs):
        if not isinstance(x, torch.Tensor) or not x.is_cuda:
            what = f"a tensor on {x.device}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"CapturedStep: input {k} is {what}; a CUDA graph replays CUDA tensors only")
