"""snnc — a cross-compiler for spiking neural networks written in PyTorch.

    graph = snnc.trace(model, example_input)          # torch.fx → spiking IR
    art = snnc.compile(model, "loihi", "out/", example_input=x)
    y = snnc.simulate(art, x)                         # runs the emitted artifact only
    report = snnc.verify(model, "loihi", x)           # bit-exact against the reference interpreter
"""

__version__ = "0.1.0"

from . import ir, nn  # noqa: E402
from .ir import Graph, SnncError  # noqa: E402


def load(path, input_shape=None, **options):
    """Load a model file as an IR graph: a saved snnc IR (``graph.save``), a ``.nir`` file, a
    ``.pt2`` program, or a ``.pt`` module (traced; needs ``input_shape``). ``options``:
    ``trust_pickle``, ``modules``, ``dt`` (see ``snnc.frontend.load_model``)."""
    from .frontend import load_model, trace

    loaded = load_model(path, input_shape=input_shape, **options)
    if isinstance(loaded, Graph):
        return loaded
    if input_shape is None:
        raise SnncError(f"{path}: a torch module needs its per-step input shape to be traced: "
                        "snnc.load(path, input_shape=(C, H, W)) (CLI: --input-shape C,H,W)")
    return trace(loaded, tuple(int(d) for d in input_shape))


__all__ = ["__version__", "ir", "nn", "Graph", "SnncError", "load"]

# the compile driver and deployment verification (snnc/compiler.py, snnc/verify.py, snnc/testing.py)
from .compiler import Artifact, compile, simulate  # noqa: E402,A004
from .verify import Report, verify  # noqa: E402
from . import testing  # noqa: E402

__all__ += ["compile", "simulate", "verify", "Artifact", "Report", "testing"]

# frontends: torch.fx tracing with the snnc.nn / snnTorch / SpikingJelly importers (snnc/frontend/)
from .frontend import trace  # noqa: E402

__all__ += ["trace"]
