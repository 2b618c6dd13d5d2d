"""The surrogate derivatives the fused kernels know, by ``kernel_name``.

Each entry names the parameters (in the order of the surrogate's ``kernel_params()``) and states
``g'(x)``, the derivative that backward uses in place of ``dΘ/dx``. The Triton kernels
(``triton/kernels.py``) and the CUDA generator (``cuda/cfunction.py``) implement exactly this list.
"""

from __future__ import annotations

#: kernel_name -> (parameter names, g'(x))
SURROGATES: dict[str, tuple[tuple[str, ...], str]] = {
    "sigmoid": (("alpha",), "alpha * sg * (1 - sg), sg = sigmoid(alpha * x)"),
    "atan": (("alpha",), "alpha / 2 / (1 + (pi / 2 * alpha * x)^2)"),
    "piecewise_leaky_relu": (("w", "c"), "1 / (2 w) if |x| < w else c"),
    "s2nn": (("alpha", "beta"), "alpha * sg * (1 - sg) if x < 0 else beta / (x + 1), sg = sigmoid(alpha * x)"),
    "q_pseudo_spike": (("alpha",), "(1 + 2 / (alpha - 1) * |x|)^(-alpha)"),
    "leaky_k_relu": (("leak", "k"), "k if x >= 0 else leak"),
    "fake_numerical_gradient": (("alpha",), "min(1 / |x|, alpha)"),
    "log_tailed_relu": (("alpha",), "alpha if x <= 0, 1 if 0 < x <= 1, 1 / x if x > 1"),
}

#: the integer code the kernels dispatch on
CODES = {name: i for i, name in enumerate(SURROGATES)}


def surrogate_code(kernel_name: str, params) -> tuple[int, tuple[float, float]]:
    """``(code, (p0, p1))`` for a surrogate; unknown names and wrong parameter counts are errors."""
    if kernel_name not in SURROGATES:
        raise ValueError(f"surrogate {kernel_name!r} has no fused-kernel form; the fused kernels know "
                         f"{', '.join(SURROGATES)} (use backend='torch' for others)")
    names, _ = SURROGATES[kernel_name]
    params = tuple(float(p) for p in params)
    if len(params) != len(names):
        raise ValueError(f"surrogate {kernel_name!r} takes parameters {names}, got {params}")
    padded = params + (0.0,) * (2 - len(params))
    return CODES[kernel_name], padded
