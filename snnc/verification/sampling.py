"""The random inputs ``verify`` draws when none are given."""

from __future__ import annotations

import torch

from ..ir.budget import check_elements
from ..ir.errors import SnncError
from ..ir.numerics import get_profile


def sample_inputs(input_shape, samples: int = 4, timesteps: int = 16, seed: int = 0,
                  kind: str = "spikes", rate: float = 0.3) -> torch.Tensor:
    """Random inputs ``[timesteps, samples, *input_shape]``: Bernoulli spikes (0/1, probability
    ``rate``) or values uniform in ``[0, 1)`` (``kind="values"``), reproducible from ``seed``."""
    if samples <= 0 or timesteps <= 0:
        raise SnncError(f"need samples > 0 and timesteps > 0, got samples={samples}, timesteps={timesteps}")
    gen = torch.Generator().manual_seed(int(seed))
    shape = (int(timesteps), int(samples)) + tuple(input_shape)
    check_elements(shape, 4, f"--samples {samples} x --timesteps {timesteps} random inputs")
    u = torch.rand(shape, generator=gen)
    if kind == "spikes":
        return (u < rate).to(torch.float32)
    if kind == "values":
        return u
    raise SnncError(f"input kind must be 'spikes' or 'values', got {kind!r}")


def choose_inputs(prepared, numerics: str, inputs=None, samples=None, timesteps=None, seed: int = 0,
                  input_kind=None) -> torch.Tensor:
    """``inputs`` as a ``[T, N, *input_shape]`` tensor; without them ``samples`` (default 4) random
    sequences of ``timesteps`` steps (default: twice the window, else 16) drawn with ``seed``: spikes
    for integer profiles, values in [0, 1) for float ones (``input_kind`` overrides)."""
    from ..compiler import as_inputs
    from ..ir.interpreter import window_of

    if inputs is not None:
        return as_inputs(inputs, prepared.input_shape)
    window = window_of(prepared)
    steps = timesteps or (2 * window if window else 16)
    kind = input_kind or ("values" if is_float_profile(numerics) else "spikes")
    return sample_inputs(prepared.input_shape, samples or 4, steps, seed, kind)


def is_float_profile(name: str) -> bool:
    try:
        return get_profile(name).dtype.is_floating_point and name in ("float32", "float64", "float16", "bfloat16",
                                                                       "onnx")
    except SnncError:
        return False


