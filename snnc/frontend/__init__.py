"""Frontends: the torch.fx tracer with the snnc.nn / snnTorch / SpikingJelly importers, NIR import
and export, and model loading (``.pt``, ``.pt2``, ``.nir``, saved snnc IR)."""

from .trace import trace

__all__ = ["trace", "load_model"]


def __getattr__(name):
    if name in ("load_model",):
        from . import load
        return getattr(load, name)
    raise AttributeError(name)
