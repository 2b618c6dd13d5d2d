"""snnc — a cross-compiler for spiking neural networks written in PyTorch.

    graph = snnc.trace(model, example_input)          # torch.fx → spiking IR
    art = snnc.compile(model, "loihi", "out/", example_input=x)
    y = snnc.simulate(art, x)                         # runs the emitted artifact only
    report = snnc.verify(model, "loihi", x)           # bit-exact against the reference interpreter
    rep = snnc.report(model, "loihi", inputs=x)       # fit, cost, quantization and drift
    snn = snnc.convert(ann, calibration_x, T=32)      # a ReLU network → IF neurons (rate coding)

The names below are imported on first use, so that ``snnc --help`` and ``snnc --version`` answer
without importing torch.
"""

from importlib import import_module
from importlib.util import find_spec

__version__ = "0.1.0"

#: public name -> (module, attribute); a module itself where the attribute is None
_EXPORTS = {
    "ir": ("snnc.ir", None), "nn": ("snnc.nn", None), "testing": ("snnc.testing", None),
    "Graph": ("snnc.ir", "Graph"), "SnncError": ("snnc.ir.errors", "SnncError"),
    "load": ("snnc.frontend.load", "load"), "trace": ("snnc.frontend.trace", "trace"),
    "compile": ("snnc.compiler", "compile"), "simulate": ("snnc.compiler", "simulate"),
    "Artifact": ("snnc.compiler", "Artifact"),
    "verify": ("snnc.verification", "verify"), "Report": ("snnc.verification", "Report"),
    "report": ("snnc.deployment", "report"), "DeploymentReport": ("snnc.deployment", "DeploymentReport"),
    "convert": ("snnc.conversion", "convert"),
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    module, attribute = _EXPORTS.get(name, (f"snnc.{name}", None))
    if name not in _EXPORTS and (name.startswith("_") or find_spec(module) is None):
        raise AttributeError(f"module 'snnc' has no attribute {name!r}")
    value = import_module(module) if attribute is None else getattr(import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
