"""snnc.nn under ``torch.export``: each neuron step and readout step becomes one custom operator.

While ``torch.compiler.is_exporting()``, :class:`~snnc.nn.neuron.BaseNode` and
:class:`~snnc.nn.readout.Readout` call ``snnc::neuron_step`` / ``snnc::readout_step``
(``snnc.ir.torch_ops``, which documents the schemas) instead of their tensor arithmetic, so the
exported program keeps the neuron's charge, comparison, reset rule, timing, window and parameters,
and ``snnc compile model.pt2`` maps it back to the IR exactly. Eager execution, training and the GPU
runtime paths are untouched.

How to export (one time step, step mode ``'s'``)::

    snnc.nn.set_step_mode(model, "s"); snnc.nn.reset_net(model); model.eval()
    program = torch.export.export(model, (x[0],))          # x[0]: [N, *input_shape]
    torch.export.save(program, "model.pt2")

The program is one step from the reset state (the neuron state is not a program input; the op's
``v``/``i`` outputs are the next state). Per-neuron hyperparameters (tensor buffers, PLIF's
``sigmoid(w)``) travel as the op's tensor arguments.
"""

from __future__ import annotations

import torch

from ..ir import torch_ops  # noqa: F401 - registers the snnc:: operators


def _split(params: dict) -> tuple[dict, list[str], list[torch.Tensor]]:
    scalars, names, tensors = {}, [], []
    for key, value in params.items():
        if isinstance(value, torch.Tensor):
            names.append(key)
            tensors.append(value)
        else:
            scalars[key] = float(value)
    return scalars, names, tensors


def _check_reset(m) -> None:
    for name in m._memories:
        value = getattr(m, name)
        if isinstance(value, torch.Tensor) or (isinstance(value, dict) and value):
            raise RuntimeError(f"{type(m).__name__} holds state from a previous run ({name!r}); call "
                               "snnc.nn.reset_net(model) before torch.export (the exported program is one "
                               "step from the reset state)")


def neuron_step(m, x: torch.Tensor) -> torch.Tensor:
    """The exported form of ``m.single_step_forward(x)``: one ``snnc::neuron_step`` call."""
    _check_reset(m)
    attrs, params = m.ir_neuron()
    scalars, names, tensors = _split(params)
    spike, *_state = torch.ops.snnc.neuron_step(x, None, None, None, tensors, tensor_params=",".join(names),
                                               **attrs, **scalars)
    return spike


def readout_step(m, x: torch.Tensor) -> torch.Tensor:
    """The exported form of ``Readout.single_step_forward(x)``: one ``snnc::readout_step`` call."""
    _check_reset(m)
    return torch.ops.snnc.readout_step(x, output_mode=m.output_mode, rule=m.decision_rule,
                                       class_threshold=int(m.class_threshold), beta=float(m.beta),
                                       window_size=int(m.window_size))


def refuse_multi_step(m) -> None:
    raise RuntimeError(f"{type(m).__name__}: torch.export of snnc.nn models takes one time step; set "
                       "snnc.nn.set_step_mode(model, 's') and export with one step x[0] ([N, *input_shape])")


__all__ = ["neuron_step", "readout_step", "refuse_multi_step"]
