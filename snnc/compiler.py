"""The compile driver: model or graph → standard passes → ``target.prepare`` → ``target.check`` →
atomic ``target.lower`` + ``snnc.json``.

    art = snnc.compile(model, "loihi", "out/", example_input=x)   # -> Artifact
    y = snnc.simulate(art, x)                                      # runs the artifact files only

An artifact directory holds the target's files, ``snnc.json`` (the manifest below) and ``ir/``: the
prepared (quantized) IR graph the files were lowered from, kept **for inspection only** — no simulator
reads it. ``snnc.json``::

    {"format": "snnc-artifact", "version": 1, "target": "loihi", "snnc_version": "0.1.0",
     "ir_hash": <sha256 of the prepared graph>, "numerics": "loihi",
     "input_shape": [64], "output_shapes": [[1]], "timesteps": 16, "window": 16,
     "options": {...json-able compile options...}, "calibration": <sha256 or null>,
     "files": {"model.json": <sha256>, ...}}

``files`` lists the target's own files (not ``snnc.json``, not ``ir/``) with their SHA-256 at compile
time, so ``verify --artifact`` can say which file changed since the compile.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .ir import Graph
from .ir.atomic import atomic_output, check_replaceable
from .ir.budget import check_elements
from .ir.errors import SnncError, SnncWarning
from .ir.interpreter import window_of
from .ir.npy import read_npy
from .ir.progress import phase

MANIFEST = "snnc.json"
IR_DIR = "ir"
CALIBRATION = "calibration.npy"  # inside IR_DIR: the example input the quantizer saw, to re-derive the graph
FORMAT = "snnc-artifact"
VERSION = 2  # 2: output_kinds
ARTIFACT_KIND = "snnc artifact"  # in the messages of refused output paths


class ArtifactChangedWarning(SnncWarning):
    """An artifact whose files differ from its manifest is run because the caller asked for it."""



# --------------------------------------------------------------------------------------------------
# targets and graphs


def resolve_target(target):
    """A :class:`snnc.targets.Target`, given one or its name (``"loihi"``)."""
    from .targets import Target, get_target

    if isinstance(target, Target):
        return target
    if isinstance(target, str):
        return get_target(target)
    raise SnncError(f"target must be a target name or a snnc.targets.Target, got {type(target).__name__}")


def parse_shape(shape) -> tuple[int, ...] | None:
    """A per-step input shape from ``"1,8,8"`` (or ``"1x8x8"``) or a sequence of positive integers."""
    if shape is None:
        return None
    parts = str(shape).replace("x", ",").split(",") if isinstance(shape, str) else list(shape)
    try:
        dims = tuple(int(p) if isinstance(p, str) and p.strip().isdigit() else _whole(p) for p in parts)
    except (TypeError, ValueError):
        dims = ()
    if not dims or any(d <= 0 for d in dims):
        raise SnncError(f"--input-shape must be positive integers separated by commas, like 1,8,8; got {shape!r}")
    return dims


def _whole(value) -> int:
    if isinstance(value, bool) or not float(value).is_integer():
        raise ValueError(value)
    return int(value)


def to_graph(model_or_graph, example_input=None, **options) -> Graph:
    """The IR graph of a model: a :class:`Graph` (copied), a saved snnc IR or model file (path), or a
    torch module traced with ``snnc.trace(model, example_input)``."""
    if isinstance(model_or_graph, Graph):
        return model_or_graph.copy()
    if isinstance(model_or_graph, (str, Path)):
        path = Path(model_or_graph)
        if not path.exists():
            raise SnncError(f"{path}: no such file or directory")
        if (path / "graph.json").is_file() or str(path).endswith((".snnc", ".zip")):
            from .ir import load
            return load(path)
        root = artifact_containing(path)
        if root is not None and path.suffix.lower() != ".nir":  # a NIR file is a model in its own right
            target = json.loads((root / MANIFEST).read_text()).get("target", "TARGET")
            what = "a compiled artifact" if root == path else f"a file of the snnc artifact at {root}"
            raise SnncError(f"{path}: this is {what}, not a model: 'snnc inspect {root}' describes it, "
                            f"'snnc simulate {root} --inputs X.npy -o Y.npy' runs it, and "
                            f"'snnc verify MODEL --target {target} --artifact {root}' checks it against its model")
        from .frontend import load_model
        loaded = load_model(path, **{k: v for k, v in options.items()
                                     if k in ("trust_pickle", "modules", "input_shape")})
        if isinstance(loaded, Graph):
            return loaded
        model_or_graph = loaded
    if isinstance(model_or_graph, torch.nn.Module):
        from .frontend import trace
        if example_input is None:  # traced at --input-shape, completed or inferred from the first layer
            from .frontend.input_shape import resolve_input_shape
            shape = resolve_input_shape(model_or_graph, parse_shape(options.get("input_shape")))
            example_input = zero_input(shape, options.get("timesteps"))
        return trace(model_or_graph, torch.as_tensor(example_input))
    raise SnncError(f"cannot compile a {type(model_or_graph).__name__}: expected a torch module, a snnc.ir.Graph "
                    "or a path to a model")


def zero_input(input_shape, timesteps=None) -> torch.Tensor:
    """The zero example input ``[timesteps or 1, 1, *input_shape]`` that traces a module from
    ``--input-shape`` (its size checked against the memory budget first)."""
    shape = (int(timesteps or 1), 1) + tuple(input_shape)
    check_elements(shape, 4, f"--timesteps {timesteps} x --input-shape {','.join(map(str, input_shape))} "
                   "example input")
    return torch.zeros(shape)


def standard_passes(graph: Graph, window=None) -> Graph:
    """The common passes before a target's own preparation (``snnc.passes.standard_pipeline``: shape
    inference, BN folding, dead-node elimination, readout window propagation)."""
    from .passes import standard_pipeline
    return standard_pipeline(graph, window=window).verify()


def prepare(model_or_graph, target, example_input=None, trace_input=None, check: bool = True, **options):
    """``(target, float_graph, prepared_graph, options)``: the graph after the standard passes (the
    float model, used for drift) and after ``target.prepare`` + ``target.check`` (what is lowered;
    ``check=False`` leaves the check out, for reporting on a model the target refuses).
    ``example_input`` traces a module and calibrates the quantizer; ``trace_input`` only traces."""
    target = resolve_target(target)
    options = dict(options)
    graph = to_graph(model_or_graph, example_input if example_input is not None else trace_input, **options)
    float_graph = standard_passes(graph, options.get("window"))
    if example_input is not None and options.get("calibration") is None:
        options["calibration"] = torch.as_tensor(example_input)
    prepared = target.prepare(float_graph.copy(), options)
    if not isinstance(prepared, Graph):
        raise SnncError(f"target '{target.name}': prepare returned {type(prepared).__name__}, expected a Graph")
    prepared.verify()
    if check:
        target.check(prepared, options)
    return target, float_graph, prepared, options


# --------------------------------------------------------------------------------------------------
# artifacts


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def artifact_files(path: Path) -> list[Path]:
    """The target's own files of an artifact directory (relative), without ``snnc.json`` and ``ir/``."""
    path = Path(path)
    out = []
    for p in sorted(path.rglob("*")):
        rel = p.relative_to(path)
        if rel.parts[0] in (MANIFEST, IR_DIR) or not p.is_file():
            continue
        out.append(rel)
    return out


def artifact_containing(path) -> Path | None:
    """The artifact directory that ``path`` is, or holds ``path`` among the files its ``snnc.json``
    lists (or under its ``ir/``); ``None`` otherwise. Spelled relative when ``path`` is."""
    given = Path(path)
    path = given.absolute()
    for root in (path, *path.parents):
        if not (root / MANIFEST).is_file():
            continue
        if root != path:
            try:
                files = json.loads((root / MANIFEST).read_text()).get("files") or {}
            except (OSError, ValueError, AttributeError):
                return None
            rel = path.relative_to(root)
            if rel.as_posix() not in files and rel.parts[0] != IR_DIR:
                return None
        return root if given.is_absolute() else Path(os.path.relpath(root))
    return None


def read_manifest(path) -> dict:
    """The checked ``snnc.json`` of an artifact directory; :class:`SnncError` naming the file if bad."""
    path = Path(path)
    if not path.is_dir():
        raise SnncError(f"{path}: not an artifact directory (no such directory)")
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise SnncError(f"{mpath}: missing; not an snnc artifact (compile writes it)")
    try:
        doc = json.loads(mpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SnncError(f"{mpath}: not valid JSON: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise SnncError(f"{mpath}: not an snnc artifact manifest (format must be '{FORMAT}')")
    if doc.get("version") != VERSION:
        raise SnncError(f"{mpath}: unsupported artifact version {doc.get('version')!r}; this snnc reads {VERSION}")
    for key, kind in (("target", str), ("input_shape", list), ("numerics", str), ("output_kinds", list)):
        if not isinstance(doc.get(key), kind):
            raise SnncError(f"{mpath}: field '{key}' missing or not a {kind.__name__}")
    if not all(isinstance(d, int) and d > 0 for d in doc["input_shape"]):
        raise SnncError(f"{mpath}: field 'input_shape' must be positive integers, got {doc['input_shape']}")
    if not set(doc["output_kinds"]) <= set(OUTPUT_DTYPES):
        raise SnncError(f"{mpath}: field 'output_kinds' must hold {', '.join(OUTPUT_DTYPES)}, "
                        f"got {doc['output_kinds']}")
    return doc


@dataclass
class Artifact:
    """A compiled artifact on disk. ``graph`` is the prepared IR it was lowered from when it was
    compiled in this process (``None`` when opened from disk; ``load_ir()`` reads ``ir/`` for
    inspection)."""

    path: Path
    manifest: dict
    graph: Graph | None = field(default=None, repr=False)
    float_graph: Graph | None = field(default=None, repr=False)

    @classmethod
    def open(cls, path) -> "Artifact":
        path = Path(path)
        return cls(path, read_manifest(path))

    @property
    def target(self) -> str:
        return self.manifest["target"]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.manifest["input_shape"])

    @property
    def files(self) -> list[Path]:
        return artifact_files(self.path)

    @property
    def size_bytes(self) -> int:
        """Total size of the target's files (without ``snnc.json`` and the inspection copy ``ir/``)."""
        return sum((self.path / f).stat().st_size for f in self.files)

    def load_ir(self) -> Graph:
        from .ir import load
        return load(self.path / IR_DIR)

    def changed_files(self) -> list[str]:
        """Target files whose SHA-256 differs from the one recorded at compile time (or are new/gone)."""
        recorded = self.manifest.get("files") or {}
        now = {str(f): _sha256(self.path / f) for f in self.files}
        return sorted(k for k in set(recorded) | set(now) if recorded.get(k) != now.get(k))

    def check_integrity(self, allow_changed: bool = False) -> None:
        """Refuse (:class:`SnncError`) an artifact whose files no longer match ``snnc.json``'s SHA-256,
        before anything of it is read, built or run. ``allow_changed`` runs it anyway, with a warning."""
        if not isinstance(self.manifest.get("files"), dict) or not self.manifest["files"]:
            raise SnncError(f"{self.path / MANIFEST}: lists no file hashes ('files'), so the artifact cannot be "
                            "checked before it runs; recompile it")
        changed = self.changed_files()
        if not changed:
            return
        what = (f"{self.path}: {', '.join(changed[:5])}{', ...' if len(changed) > 5 else ''} changed since "
                "compile (SHA-256 differs from snnc.json, or the file is new or gone)")
        if not allow_changed:
            raise SnncError(f"{what}; refusing to run the artifact: recompile it, or pass --allow-changed "
                            "(allow_changed=True) to run the edited files")
        warnings.warn(f"{what}: running the edited artifact as asked (--allow-changed); its results say "
                      "nothing about the compiled model", ArtifactChangedWarning, stacklevel=3)

    def simulate(self, inputs) -> torch.Tensor:
        return simulate(self, inputs)

    def __str__(self) -> str:
        return f"{self.target} artifact at {self.path} ({self.size_bytes} bytes)"


def _jsonable_options(options: dict) -> dict:
    """The compile options that JSON can hold (all but the calibration tensor), so that ``verify
    --artifact`` re-derives the graph and re-lowers exactly as the compile did."""
    out = {}
    for key, value in options.items():
        if value is None or key == "calibration":
            continue
        if isinstance(value, Path):
            value = str(value)
        if isinstance(value, tuple):
            value = list(value)
        try:
            json.dumps(value)
        except TypeError:
            continue
        out[key] = value
    return out


def tensor_hash(x) -> str:
    arr = np.ascontiguousarray(torch.as_tensor(x).detach().cpu().numpy())
    h = hashlib.sha256(f"{arr.dtype.str}:{arr.shape}".encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def artifact_owned(path: Path) -> set[str] | None:
    """The files an artifact directory's ``snnc.json`` accounts for (itself, the target's files it
    lists and the inspection copy ``ir/``), or ``None`` when ``path`` is not an artifact."""
    from .ir.serialize import saved_files

    try:
        doc = json.loads((Path(path) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("files"), dict):
        return None
    owned = {MANIFEST, *doc["files"]}
    owned.update(f"{IR_DIR}/{f}" for f in saved_files(Path(path) / IR_DIR) or ())
    if doc.get("calibration") is not None:
        owned.add(f"{IR_DIR}/{CALIBRATION}")
    return owned


def write_artifact(target, prepared: Graph, out, options: dict, float_graph: Graph | None = None,
                   overwrite: bool = False) -> Artifact:
    """Lower ``prepared`` with ``target`` into ``out`` atomically and add ``snnc.json`` and ``ir/``.
    ``out`` must be absent or empty, or an artifact holding only its own files (then ``overwrite``)."""
    from . import __version__

    out = Path(out)
    calibration = options.get("calibration")
    with atomic_output(out, overwrite=overwrite, owned=artifact_owned, kind=ARTIFACT_KIND) as tmp:
        with phase(f"lowering to {target.name}"):
            target.lower(prepared, tmp, options)
        files = artifact_files(tmp)
        if not files:
            raise SnncError(f"target '{target.name}' wrote no files")
        for reserved in (MANIFEST, IR_DIR):
            if (tmp / reserved).exists():
                raise SnncError(f"target '{target.name}' wrote '{reserved}', which the driver reserves")
        prepared.save(tmp / IR_DIR)
        if calibration is not None:
            np.save(tmp / IR_DIR / CALIBRATION, torch.as_tensor(calibration).detach().cpu().numpy(),
                    allow_pickle=False)
        manifest = {
            "format": FORMAT, "version": VERSION, "target": target.name, "snnc_version": __version__,
            "ir_hash": prepared.content_hash(), "numerics": target.numerics,
            "input_shape": list(prepared.input_shape),
            "output_shapes": [list(n.shape) for n in prepared.outputs],
            "output_kinds": prepared.output_kinds(),
            "timesteps": options.get("timesteps"), "window": window_of(prepared),
            "options": _jsonable_options(options),
            "calibration": tensor_hash(calibration) if calibration is not None else None,
            "files": {str(f): _sha256(tmp / f) for f in files},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return Artifact(out, manifest, prepared, float_graph)


def compile(model_or_graph, target, out, example_input=None, overwrite: bool = False,  # noqa: A001
            **options) -> Artifact:
    """Compile a model for a target into the directory ``out`` (written atomically: on any error an
    existing ``out`` is left untouched and nothing partial remains). ``out`` must be absent, an empty
    directory, or (with ``overwrite=True``) an artifact that holds only the files its ``snnc.json``
    lists; anything else is refused before the model is even loaded.

    ``model_or_graph``: a torch module (traced with ``snnc.trace(model, example_input)``), a
    :class:`snnc.ir.Graph`, or a path (saved snnc IR; other model files through the frontend loader).
    ``target``: a target name (``"gpu"``, ``"loihi"``, ``"lynxi"``, ``"hls"``, ``"onnx"``, ``"nir"``) or
    a :class:`snnc.targets.Target`. ``example_input``: ``[T, N, *input_shape]``; used to trace a
    module and handed to ``target.prepare`` as ``options["calibration"]`` (kept in ``ir/`` so that
    ``verify --artifact`` re-derives the same quantized graph). ``options``: ``window`` (fixed readout
    window, steps), ``timesteps``, ``input_shape``, ``config`` (per-layer precision etc.), and any
    target option; all are passed to ``prepare``/``check``/``lower``.

    Raises :class:`SnncError` (CLI exit 2) for bad input or what the target cannot lower.
    """
    check_replaceable(Path(out), True, overwrite, artifact_owned, ARTIFACT_KIND)
    target, float_graph, prepared, options = prepare(model_or_graph, target, example_input, **options)
    return write_artifact(target, prepared, out, options, float_graph, overwrite)


def as_inputs(inputs, input_shape=None) -> torch.Tensor:
    """Inputs as a float tensor ``[T, N, *input_shape]`` (from a tensor, an array or a ``.npy`` path,
    read as data only: :func:`snnc.ir.npy.read_npy`). Complex, object or string values are refused."""
    if isinstance(inputs, (str, Path)):
        inputs = read_npy(inputs)
    if isinstance(inputs, torch.Tensor):
        x = inputs
    else:
        arr = np.asarray(inputs)
        if arr.dtype.kind not in "biuf":
            raise SnncError(f"inputs must be a real numeric array [T, N, *input_shape], got dtype {arr.dtype}")
        x = torch.as_tensor(arr)
    if x.is_complex():
        raise SnncError(f"inputs must be real numbers, got dtype {x.dtype} (the imaginary part would be lost)")
    if x.device.type == "meta":
        raise SnncError("inputs are on the meta device (shapes without data)")
    if not x.is_floating_point():
        x = x.to(torch.float32)
    if input_shape is not None:
        shape = tuple(input_shape)
        if x.dim() != len(shape) + 2 or tuple(x.shape[2:]) != shape:
            raise SnncError(f"inputs must have shape [T, N, {', '.join(map(str, shape))}], got {list(x.shape)}")
    if x.numel() and not torch.isfinite(x).all():
        raise SnncError("inputs contain NaN or Inf")
    return x


def simulate(artifact_or_path, inputs, allow_changed: bool = False) -> torch.Tensor:
    """Run an artifact (an :class:`Artifact` or its directory) on ``inputs`` ``[T, N, *input_shape]``
    with its target's simulator, which reads only the artifact's files. Returns the outputs per step
    ``[T, N, *output_shape]`` (a tuple for several outputs), exactly as the target produces them, in
    the dtype :func:`as_output_dtype` documents.
    Every file is first checked against its SHA-256 in ``snnc.json``
    (:meth:`Artifact.check_integrity`): a changed artifact is refused unless ``allow_changed``."""
    art = artifact_or_path if isinstance(artifact_or_path, Artifact) else Artifact.open(artifact_or_path)
    target = resolve_target(art.target)
    x = as_inputs(inputs, art.input_shape)
    art.check_integrity(allow_changed)
    outputs = target.simulate(art.path, x)
    if isinstance(outputs, (tuple, list)):
        return tuple(as_output_dtype(y, kind) for y, kind in zip(outputs, art.manifest["output_kinds"]))
    return as_output_dtype(outputs, art.manifest["output_kinds"][0])


#: the dtype of each kind of output that :func:`simulate` returns (None: the target's own value type)
OUTPUT_DTYPES = {"spikes": torch.float32, "decisions": torch.float32, "values": None}


def as_output_dtype(y, kind: str) -> torch.Tensor:
    """One output in the documented dtype: spikes (0/1) and decisions (class indices) as float32 on every
    target, exactly; values (membranes, linear readouts) in the target's own value type (float32 for
    gpu/onnx/nir, float16 for lynxi, float64 for hls, which holds its fixed-point words exactly, int64
    for loihi)."""
    y = torch.as_tensor(y)
    dtype = OUTPUT_DTYPES[kind]
    return y if dtype is None else y.to(dtype)


def simulate_recorded(target, path, x):
    """``(outputs, layers)``: the target's outputs and, when it declares ``records_layers``, the
    per-layer values it exposes ``{ir_node_name: [T, N, *shape]}`` (else ``{}``)."""
    if target.records_layers:
        outputs, layers = target.simulate(Path(path), x, record=True)
        return outputs, dict(layers)
    return target.simulate(Path(path), x), {}


__all__ = ["compile", "simulate", "Artifact", "prepare", "to_graph", "standard_passes", "read_manifest",
           "resolve_target", "as_inputs"]
