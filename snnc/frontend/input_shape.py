"""The per-step input shape a torch module determines by itself.

A module traced without an example input is traced at the shape its first shape-fixing layer
demands. Layers that leave the shape open (neurons, readouts, ``Flatten``, ``Identity``, ``Dropout``)
are looked through; the first other layer decides:

- ``Linear(in_features, ...)`` fixes ``(in_features,)``, ``BatchNorm1d(C)`` fixes ``(C,)``;
- ``Conv2d(C, ...)`` / ``BatchNorm2d(C)`` fix the channels only: ``--input-shape H,W`` completes them
  to ``(C, H, W)`` (``C,H,W`` is accepted as well and checked against ``C``);
- anything else (pooling first, a custom layer) fixes nothing, and ``--input-shape`` must say it.
"""

from __future__ import annotations

from typing import Iterator

from torch import fx, nn

from ..ir.errors import SnncError
from .trace import SHAPE_FREE, LayerTracer, importer_for, is_container


def _leading_layers(module: nn.Module, path: str) -> Iterator[tuple[str, nn.Module | None]]:
    """``(path, layer)`` in the order the input reaches them, through containers and fx-traceable
    ``forward``s; ``(path, None)`` where the input meets something other than a layer (a function)."""
    if is_container(module):
        for name, child in module.named_children():
            yield from _leading_layers(child, f"{path}.{name}" if path else name)
        return
    if importer_for(module) is not None:
        yield path or type(module).__name__, module
        return
    try:
        graph = LayerTracer().trace(module)
    except Exception:  # not fx-traceable: the tracer proper reports why
        yield path or type(module).__name__, None
        return
    modules = dict(module.named_modules())
    for node in graph.nodes:
        if node.op == "call_module":
            yield from _leading_layers(modules[node.target], f"{path}.{node.target}" if path else node.target)
        elif node.op in ("call_function", "call_method") and not _is_flatten(node):
            yield f"{path}.{node.name}" if path else node.name, None
            return


def _is_flatten(node: fx.Node) -> bool:
    return "flatten" in str(getattr(node.target, "__name__", node.target))


def first_shaping_layer(model: nn.Module) -> tuple[str, nn.Module | None] | None:
    """The first layer the input reaches that is not shape-free, or ``None`` if there is none."""
    for path, layer in _leading_layers(model, ""):
        if layer is None or importer_for(layer) not in SHAPE_FREE:
            return path, layer
    return None


def resolve_input_shape(model: nn.Module, given: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """The per-step input shape to trace ``model`` at: ``given`` (from ``--input-shape``), completed
    or inferred from the model's first shape-fixing layer. Raises :class:`SnncError` saying exactly
    what is missing when the model does not determine it."""
    first = first_shaping_layer(model)
    path, layer = first if first is not None else (None, None)
    fixed = _fixed_dims(layer)
    name = f"{type(layer).__name__} '{path}'" if layer is not None else None
    if given is not None:
        given = tuple(int(d) for d in given)
        if fixed is None:
            return given
        full, channels = fixed
        if full:
            return given
        if len(given) == 2:
            return (channels,) + given
        if len(given) == 3 and given[0] != channels:
            raise SnncError(f"--input-shape {','.join(map(str, given))}: {name} takes {channels} input "
                            f"channel(s), not {given[0]}")
        return given
    if fixed is not None and fixed[0]:
        return fixed[1]
    if fixed is not None:
        raise SnncError(f"{name} fixes the input's channels ({fixed[1]}) but not its height and width: "
                        f"pass --input-shape H,W (or {fixed[1]},H,W), or an example input [T, N, C, H, W]")
    where = (f"its first layer, {name}, does not fix it" if layer is not None else
             f"the input first reaches '{path}', which does not fix it" if path else "it has no layers")
    raise SnncError(f"cannot tell the per-step input shape of {type(model).__name__}: {where}; pass "
                    "--input-shape (e.g. 1,28,28) or an example input [T, N, *input_shape]")


def _fixed_dims(layer) -> tuple[bool, tuple[int, ...] | int] | None:
    """``(True, shape)`` when ``layer`` fixes the whole per-step shape, ``(False, channels)`` when only
    the channels, ``None`` when nothing."""
    if isinstance(layer, nn.Linear):
        return True, (int(layer.in_features),)
    if isinstance(layer, nn.BatchNorm1d):
        return True, (int(layer.num_features),)
    if isinstance(layer, nn.Conv2d):
        return False, int(layer.in_channels)
    if isinstance(layer, nn.BatchNorm2d):
        return False, int(layer.num_features)
    return None
