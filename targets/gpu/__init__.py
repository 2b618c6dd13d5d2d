"""The gpu target: the IR graph as a PyTorch module with T folded into the batch for stateless layers
and neurons on the fused Triton kernels (``snnc.runtime``); see FORMAT.md."""

from __future__ import annotations

from .. import Target
from ..common import prepare_float32 as prepare
from ..fit import memory_fit_of
from .constraints import check
from .lower import lower
from .module import GraphModule, fusable
from .simulate import describe, load, simulate

TARGET = Target(name="gpu", numerics="float32", prepare=prepare, check=check, lower=lower,
                simulate=simulate, describe=describe, options=("export",),
                fit=memory_fit_of("gpu", 4, "float32 tensors in device memory; activations of a training step "
                                            "are this times T (kept for the backward pass)"))

__all__ = ["TARGET", "prepare", "check", "lower", "simulate", "describe", "load", "GraphModule", "fusable"]
