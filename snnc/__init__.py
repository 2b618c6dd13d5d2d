"""snnc — a cross-compiler for spiking neural networks written in PyTorch.

    graph = snnc.trace(model, example_input)          # torch.fx → spiking IR
    art = snnc.compile(model, "loihi", "out/", example_input=x)
    y = snnc.simulate(art, x)                         # runs the emitted artifact only
    report = snnc.verify(model, "loihi", x)           # bit-exact against the reference interpreter
"""

__version__ = "0.1.0"

from . import ir, nn  # noqa: E402
from .ir import Graph, SnncError, load as _load_ir  # noqa: E402


def load(path):
    """Load a saved snnc IR graph (``graph.save``); see ``snnc.frontend.load_model`` for models."""
    return _load_ir(path)


__all__ = ["__version__", "ir", "nn", "Graph", "SnncError", "load"]

# the compile driver and deployment verification (snnc/compiler.py, snnc/verify.py, snnc/testing.py)
from .compiler import Artifact, compile, simulate  # noqa: E402,A004
from .verify import Report, verify  # noqa: E402
from . import testing  # noqa: E402

__all__ += ["compile", "simulate", "verify", "Artifact", "Report", "testing"]
