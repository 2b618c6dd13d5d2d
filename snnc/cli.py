"""The ``snnc`` command: compile, verify, report, simulate, inspect.

Exit status: 0 success; 1 verification found a mismatch; 2 bad input or unsupported model (one line
on stderr naming what and where; a traceback only with ``--debug``).
"""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .targets import NAMES


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line on stderr (exit 2), like every other bad input."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="snnc", description="Compile spiking neural networks written in "
                                     "PyTorch to GPU, Loihi, Lynxi, HLS C++, ONNX and NIR, verified bit-exactly.")
    parser.add_argument("--version", action="version", version=f"snnc {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("compile", help="lower a model to a target artifact directory",
                       description="Lower MODEL to a target and write the artifact directory OUT (the target's "
                       "files plus snnc.json with their hashes). Nothing is left behind on an error.")
    _model_argument(p)
    _target(p)
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="artifact directory, written atomically; it must be absent or empty, or an artifact "
                   "holding only its own files (then --force)")
    _force(p, "replace an existing artifact at OUT")
    _model_options(p)

    p = sub.add_parser("verify", help="check a target bit-exactly against the reference interpreter",
                       description="Run the artifact's own simulator and the reference interpreter under the "
                       "target's numerics on the same inputs and compare every output and exposed layer. "
                       "Exit 0 bit-exact, 1 on a mismatch (the first divergence is named), 2 on bad input.")
    _model_argument(p)
    _target(p)
    p.add_argument("--artifact", metavar="OUT", help="verify this existing artifact instead of compiling anew")
    p.add_argument("--inputs", metavar="X.npy", help="time-major inputs [T, N, *input_shape] (the model is "
                   "then traced at their per-step shape)")
    p.add_argument("--samples", type=int, default=4, metavar="N",
                   help="random input sequences when no --inputs (default: 4)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the random inputs (default: 0)")
    p.add_argument("--report", metavar="REPORT.json", help="write the full report as JSON, with the deployment "
                   "report's sections (fit, cost, quantization; as snnc report)")
    p.add_argument("--junit", metavar="JUNIT.xml", help="write a JUnit XML report for CI systems")
    p.add_argument("--plots", metavar="DIR", help="write spike rasters (reference vs target) and a divergence map")
    p.add_argument("--max-drift", type=float, metavar="D", help="fail (exit 1) when the quantized model drifts "
                   "more than D from the float one (1 - decision agreement, or a layer's spike-rate error)")
    _force(p, "replace existing --report, --junit and --plots outputs")
    p.add_argument("--allow-changed", action="store_true",
                   help="run an --artifact whose files differ from snnc.json or from a fresh lowering, to find "
                   "the first divergence (it still fails; by default such an artifact is not run)")
    _model_options(p)

    p = sub.add_parser("report", help="does the model fit the target, what it costs, where quantization loses",
                       description="Compile MODEL for the target, verify it, and report: fit (resources per layer "
                       "against the target's limits), cost (synaptic operations, activation sparsity, firing "
                       "rates, dead and saturated neurons, parameter footprint, as NeuroBench defines them, over "
                       "every sample and step of the inputs), quantization (parameter ranges against their "
                       "formats, values rounded to zero, saturation seen in simulation, the range analysis' "
                       "verdict) and drift from the float model. Exit 0 when it fits and verifies, 1 when it "
                       "does not fit or does not verify, 2 on bad input.")
    _model_argument(p)
    _target(p)
    p.add_argument("--inputs", metavar="X.npy", help="time-major inputs [T, N, *input_shape] to count on")
    p.add_argument("--samples", type=int, default=4, metavar="N",
                   help="random input sequences when no --inputs (default: 4)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the random inputs (default: 0)")
    p.add_argument("--json", metavar="REPORT.json", help="write the report as JSON (schema snnc-deployment-report)")
    p.add_argument("--html", metavar="OUT.html", help="write one self-contained HTML page with the tables and "
                   "figures (rasters, divergence map, firing-rate histograms)")
    _force(p, "replace existing --json and --html files")
    _model_options(p)

    p = sub.add_parser("simulate", help="run an artifact on inputs",
                       description="Run ARTIFACT with its target's simulator, which reads only the artifact's "
                       "files (checked against snnc.json first). Spikes and decisions are written as float32 "
                       "on every target, values (membranes) in the target's own value type.")
    p.add_argument("artifact", metavar="ARTIFACT", help="an artifact directory written by snnc compile")
    p.add_argument("--inputs", required=True, metavar="X.npy", help="time-major inputs [T, N, *input_shape]")
    p.add_argument("-o", "--output", required=True, metavar="Y.npy",
                   help="outputs [T, N, *output_shape] (several outputs: Y.npy, Y.1.npy, ...)")
    _force(p, "replace existing output files")
    p.add_argument("--allow-changed", action="store_true",
                   help="run an artifact whose files no longer match snnc.json's hashes (refused by default: "
                   "an edited artifact can run code), with a warning")
    _debug(p)

    p = sub.add_parser("inspect", help="print a model's or an artifact's layers, shapes and estimates")
    p.add_argument("path", metavar="MODEL|ARTIFACT", help="a model file (as for compile) or an artifact "
                   "directory (or a file in one)")
    _model_options(p)
    return parser


def _model_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="a torch.save'd module (.pt), a torch.export program of an "
                   "snnc.nn model (.pt2), a NIR file (.nir) or a saved snnc IR (directory or .snnc)")


def _target(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", required=True, choices=NAMES, help="what to lower to: %(choices)s")


def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input-shape", metavar="C,H,W", help="per-step input shape of a .pt module, e.g. 1,8,8 "
                   "(default: from its first Linear; a first Conv2d needs only H,W)")
    p.add_argument("--timesteps", type=int, metavar="T", help="time steps of the inputs verify draws (default: "
                   "two readout windows, else 16); recorded in the artifact by compile")
    p.add_argument("--window", type=int, metavar="W", help="fixed readout window in steps (default: the "
                   "model's own)")
    p.add_argument("--config", metavar="snnc.toml", help="per-layer precision, window and target options")
    p.add_argument("--trust-pickle", action="store_true", help="allow loading arbitrary pickles (runs code!)")
    p.add_argument("--module", action="append", default=[], metavar="pkg.mod", help="import before loading (user classes)")
    p.add_argument("--allow-approximate", action="store_true",
                   help="let a target (nir) approximate what it cannot express exactly, naming each change")
    p.add_argument("--dt", type=float, metavar="DT", help="NIR time step in seconds, for reading a .nir MODEL and "
                   "writing --target nir: one snnc step is DT of NIR's continuous time (default: the file's own, "
                   "else 1e-4 as snnTorch and SpikingJelly; read our files in Norse with from_nir(g, dt=DT))")
    _debug(p)


def _force(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--force", action="store_true", help=f"{what} (never a directory holding other files)")


def _debug(p: argparse.ArgumentParser) -> None:
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    # torch and the library are imported only now: help, version and usage errors answer without them
    from .ir.errors import SnncError, SnncWarning
    _warnings_in_one_line(args.command, SnncWarning)
    try:
        from . import commands
        return commands.run(args)
    except SnncError as e:
        if args.debug:
            raise
        print(f"snnc {args.command}: error: {_one_line(str(e))}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # stdout closed early (| head): not an error of the command
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print(f"snnc {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as e:  # the environment (permissions, a full disk, a missing path): bad input too
        if args.debug:
            raise
        where = f"{e.filename}: " if e.filename else ""
        print(f"snnc {args.command}: error: {where}{e.strerror or _one_line(str(e))}", file=sys.stderr)
        return 2
    except MemoryError:
        if args.debug:
            raise
        print(f"snnc {args.command}: error: out of memory (lower --samples/--timesteps, or the model's size)",
              file=sys.stderr)
        return 2
    except Exception as e:  # a bug or an unexpected library error: still one line, exit 2
        if args.debug:
            raise
        print(f"snnc {args.command}: error: {type(e).__name__}: {_one_line(str(e))} "
              "(internal error; rerun with --debug for the traceback)", file=sys.stderr)
        return 2


def _warnings_in_one_line(command: str, category: type) -> None:
    """Print snnc's own warnings as ``snnc COMMAND: warning: ...`` (one line, no source location)."""
    import warnings

    default = warnings.formatwarning

    def fmt(message, cat, filename, lineno, line=None):
        if issubclass(cat, category):
            return f"snnc {command}: warning: {_one_line(str(message))}\n"
        return default(message, cat, filename, lineno, line)

    warnings.formatwarning = fmt


def _one_line(text: str) -> str:
    return " ".join(text.split())
