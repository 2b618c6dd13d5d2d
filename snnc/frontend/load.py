"""Loading a model file: ``snnc.frontend.load_model(path)`` → a :class:`Graph` or a torch module.

==============================  =============================================================
``MODEL``                       read as
==============================  =============================================================
directory with ``graph.json``,  a saved snnc IR graph (``snnc.ir.load``; nothing executed)
``*.snnc`` / ``*.zip``
``*.nir``                       NIR (``nir.read``, then the NIR importer with an explicit ``dt``)
``*.pt`` / ``*.pth``            a ``torch.save``d module, ``torch.load(weights_only=True)`` with
                                the module classes of torch.nn, snnc.nn, snnTorch and SpikingJelly
                                allowed; any other class is refused unless ``trust_pickle`` (then
                                ``modules`` are imported first, for the user's classes)
``*.pt2``                       a ``torch.export`` program of one time step whose graph snnc can
                                map: stateless ATen layers, and snnc.nn neurons/readouts, which
                                export as ``snnc::neuron_step``/``snnc::readout_step`` calls
                                (``snnc.frontend.aten``; other libraries' neurons are refused).
                                The archive can carry pickles: ``snnc.frontend.pt2`` checks every
                                member before torch reads it, and refuses any that would run code
==============================  =============================================================

Every failure is an :class:`SnncError` naming the file and what to do.
"""

from __future__ import annotations

import importlib
import inspect
import pickle
import re
import zipfile
from pathlib import Path

import torch
from torch import nn

from ..ir import Graph
from ..ir.errors import SnncError

#: packages whose nn.Module classes (and surrogate-function objects) a weights_only load may build
SAFE_PACKAGES = {
    "torch.nn": ("torch.nn.modules",),
    "snnc.nn": ("snnc.nn.neuron", "snnc.nn.layer", "snnc.nn.readout", "snnc.nn.surrogate", "snnc.nn.base",
                "snnc.nn.encoding"),
    "snntorch": ("snntorch._neurons.leaky", "snntorch._neurons.synaptic", "snntorch._neurons.neurons",
                 "snntorch.surrogate"),
    "spikingjelly": ("spikingjelly.activation_based.neuron", "spikingjelly.activation_based.layer",
                     "spikingjelly.activation_based.surrogate", "spikingjelly.activation_based.base"),
}


def _classes_of(module_name: str) -> list[type]:
    try:
        mod = importlib.import_module(module_name)
    except Exception:  # an optional framework that is not installed: its classes cannot be in the file
        return []
    found = []
    todo = [mod]
    seen = set()
    while todo:
        m = todo.pop()
        if m.__name__ in seen:
            continue
        seen.add(m.__name__)
        for value in vars(m).values():
            if inspect.isclass(value) and value.__module__.startswith(mod.__name__.split(".")[0]):
                found.append(value)
            elif inspect.ismodule(value) and value.__name__.startswith(mod.__name__):
                todo.append(value)
    return found


_SAFE: list | None = None


def safe_globals() -> list:
    """The classes a ``.pt`` may instantiate under ``weights_only=True``."""
    global _SAFE
    if _SAFE is None:
        classes = set()
        for modules in SAFE_PACKAGES.values():
            for name in modules:
                classes.update(c for c in _classes_of(name)
                               if issubclass(c, nn.Module) or "surrogate" in c.__module__)
        classes.update(c for c in vars(nn).values() if inspect.isclass(c) and issubclass(c, nn.Module))
        classes.update({set, slice, torch.Size})
        _SAFE = sorted(classes, key=lambda c: (c.__module__, c.__qualname__))
    return _SAFE


def register_safe_globals() -> None:
    """Register :func:`safe_globals` process-wide (``torch.serialization.add_safe_globals``)."""
    torch.serialization.add_safe_globals(safe_globals())


def _import_modules(modules) -> None:
    for name in modules or ():
        try:
            importlib.import_module(name)
        except Exception as e:
            raise SnncError(f"--module {name}: cannot import it: {type(e).__name__}: {e}") from None


def _first_line(e: BaseException) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def load_torch(path: Path, trust_pickle: bool = False, modules=()) -> nn.Module:
    """A ``torch.save``d module (see the module docstring for the safety rules)."""
    _import_modules(modules)
    with open(path, "rb") as f:
        head = f.read(4)
    if head != b"PK\x03\x04" and head[:1] != b"\x80":  # torch.save writes a zip (or, legacy, a pickle)
        raise SnncError(f"{path}: not a torch.save file (it starts with {head!r}; torch.save writes a zip "
                        "archive); save the model with torch.save(model, path)")
    try:
        if trust_pickle:
            obj = torch.load(path, map_location="cpu", weights_only=False)
        else:
            with torch.serialization.safe_globals(safe_globals()):
                obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL ([\w.]+)", str(e)) or re.search(r"Unsupported global: ([\w.]+)", str(e))
        if not found:
            raise SnncError(f"{path}: not a readable torch.save file (corrupt?): {_first_line(e)}") from None
        what = found.group(1)
        why = ("it is not a torch.nn, snnc.nn, snnTorch or SpikingJelly class" if what != "getattr" else
               "attribute lookups can run code (snnTorch neurons pickle their surrogate function this way)")
        raise SnncError(f"{path}: refusing to unpickle {what}: {why}; pass --trust-pickle to run the file's "
                        "code (only for files you trust) and --module pkg.mod to import its classes") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError, KeyError) as e:
        raise SnncError(f"{path}: not a readable torch.save file (truncated or corrupt?): {_first_line(e)}") from None
    except (AttributeError, ModuleNotFoundError, ImportError) as e:
        raise SnncError(f"{path}: the pickled model refers to code that is not importable ({e}); pass "
                        "--module pkg.mod to import the module that defines its classes") from None
    if isinstance(obj, nn.Module):
        for name, tensor in [*obj.named_parameters(), *obj.named_buffers()]:
            if tensor.is_meta:
                raise SnncError(f"{path}: {name} is on the meta device (a shape without data): save the module "
                                "after its weights are materialized")
        return obj
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise SnncError(f"{path}: holds a state_dict (weights only), not a module: save the whole module "
                        "(torch.save(model, path)), or load the weights into your model and call snnc.trace")
    raise SnncError(f"{path}: holds a {type(obj).__name__}, not a torch.nn.Module")


def load_exported(path: Path, input_shape=None) -> Graph:
    """A ``torch.export`` program (``.pt2``): the exported module's graph is traced like a model.
    ``torch.export.load`` reads only the archive bytes that :func:`snnc.frontend.pt2.checked_archive`
    passed (it would unpickle some members without ``weights_only``). snnc.nn neurons and readouts
    appear in it as ``snnc::neuron_step`` / ``snnc::readout_step`` calls (see ``snnc.frontend.aten``)."""
    import logging

    from ..ir import torch_ops  # noqa: F401 - the snnc:: operators must be registered before loading
    from .aten import import_exported
    from .pt2 import checked_archive

    logger = logging.getLogger("torch.export")
    records: list[logging.LogRecord] = []

    def keep(record):  # torch logs a deserialization failure as a multi-line warning: keep it, quietly
        records.append(record)
        return False

    archive = checked_archive(path)
    logger.addFilter(keep)
    try:
        ep = torch.export.load(archive)
    except Exception as e:
        text = str(e) + "".join(str(r.exc_info[1]) + str(r.exc_info[1].__cause__ or "")
                                for r in records if r.exc_info and r.exc_info[1] is not None)
        found = re.search(r"resolve (torch\.ops\.[\w.]+) to an operator", text)
        if found:
            raise SnncError(f"{path}: the program calls the custom operator {found.group(1)}, which snnc "
                            "cannot map (neurons of other libraries are not recoverable from an exported "
                            "program); save the module with torch.save(model, 'model.pt') instead, or build "
                            "it from snnc.nn modules (they export as snnc::neuron_step ops)") from None
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SnncError(f"{path}: not a readable torch.export program (.pt2): {first}") from None
    finally:
        logger.removeFilter(keep)
    return import_exported(ep, str(path), input_shape)


def load_model(path, trust_pickle: bool = False, modules=(), input_shape=None, dt: float | None = None):
    """Load ``path`` (see the module docstring): a :class:`Graph`, or a torch module to trace."""
    path = Path(path)
    if not path.exists():
        raise SnncError(f"{path}: no such file or directory")
    if path.is_dir():
        if (path / "snnc.json").is_file():
            raise SnncError(f"{path}: this is a compiled artifact, not a model; pass the model (and "
                            "--artifact for verify)")
        if (path / "graph.json").is_file():
            from ..ir import load
            return load(path)
        raise SnncError(f"{path}: a directory that is neither a saved snnc IR (graph.json) nor an artifact")
    suffix = path.suffix.lower()
    if suffix in (".snnc", ".zip"):
        from ..ir import load
        return load(path)
    if suffix == ".nir":
        from ..targets.nir import read
        return read(path, dt=dt, input_shape=input_shape)
    if suffix == ".pt2":
        return load_exported(path, input_shape)
    if suffix in (".pt", ".pth"):
        return load_torch(path, trust_pickle, modules)
    raise SnncError(f"{path}: unknown model file type '{suffix}'; expected .pt (torch.save), .pt2 "
                    "(torch.export), .nir, or a saved snnc IR (directory or .snnc)")


__all__ = ["load_model", "load_torch", "load_exported", "safe_globals", "register_safe_globals"]


def load(path, input_shape=None, **options) -> Graph:
    """Load a model file as an IR graph: a saved snnc IR (``graph.save``), a ``.nir`` file, a ``.pt2``
    program, or a ``.pt`` module traced at ``input_shape`` (completed or inferred from its first layer,
    see :mod:`snnc.frontend.input_shape`). ``options``: ``trust_pickle``, ``modules``, ``dt``
    (see :func:`load_model`)."""
    from .input_shape import resolve_input_shape
    from .trace import trace

    loaded = load_model(path, input_shape=input_shape, **options)
    if isinstance(loaded, Graph):
        return loaded
    return trace(loaded, resolve_input_shape(loaded, input_shape))
