"""Load a ``model.json`` + ``model.bin`` pair (validating every field, see FORMAT.md) and run it step
by step under the ``lynxi`` numerics. Reads nothing but the two files: no IR.

The state of every layer lives in one persistent region, ``[N, bytes_per_sample]`` bytes, laid out
as ``state_region.entries`` says; each layer reads and writes its entries through typed views. The
region is re-initialised before the first step and after every ``window`` steps.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...ir.errors import SnncError
from ...ir.numerics import lynxi as L
from ..common import check_inputs

FORMAT = "snnc-lynxi"
SUPPORTED_VERSIONS = (1,)
TENSOR_DTYPES = {"float16": np.float16}
STATE_DTYPES = {"float16": (np.float16, torch.float16), "int32": (np.int32, torch.int32)}

# per layer type: (arity (None = >= 1), required params, optional params, required attrs with types)
PAIR = "pair"
LAYER_SPECS = {
    "input": (0, (), (), {"shape": "shape"}),
    "output": (1, (), (), {}),
    "linear": (1, ("weight",), ("bias",), {}),
    "conv2d": (1, ("weight",), ("bias",), {"stride": PAIR, "padding": PAIR, "dilation": PAIR, "groups": int}),
    "avgpool2d": (1, (), (), {"kernel": PAIR, "stride": PAIR, "padding": PAIR}),
    "sumpool2d": (1, (), (), {"kernel": PAIR, "stride": PAIR, "padding": PAIR}),
    "maxpool2d": (1, (), (), {"kernel": PAIR, "stride": PAIR, "padding": PAIR}),
    "flatten": (1, (), (), {}),
    "add": (None, (), (), {}),
    "mul": (2, (), (), {"complement": PAIR}),
    "delay": (1, (), (), {"shape": "shape", "steps": int}),
    "scale": (1, ("scale",), (), {}),
    "neuron": (1, ("v_threshold",), ("v_reset", "v_leak", "v_init", "i_init", "tau", "k", "beta", "alpha",
                                     "adapt_decay", "adapt_scale"),
               {"charge": str, "decay_input": bool, "compare": str, "reset": str, "reset_timing": str,
                "threshold": str, "output": str}),
    "readout": (1, (), ("beta",), {"output_mode": str, "rule": str, "class_threshold": int}),
}
#: attributes a document may leave out (written by an earlier snnc), and the value they then have
ATTR_DEFAULTS = {"neuron": {"threshold": "fixed", "output": "spikes"}}
CHOICES = {"charge": ("if", "lif", "plif", "beta", "cuba"), "compare": ("ge", "gt"),
           "reset": ("hard", "subtract", "none"), "reset_timing": ("immediate", "delayed", "compensated"),
           "threshold": ("fixed", "adaptive"), "output": ("spikes", "v", "i"),
           "output_mode": ("spike", "membrane"),
           "rule": ("argmax_spike_count", "first_to_threshold", "threshold_then_argmax", "binary_logit",
                    "argmax_membrane")}
CHARGE_PARAMS = {"if": (), "lif": ("tau",), "plif": ("k",), "beta": ("beta",), "cuba": ("alpha", "beta")}


class FormatError(SnncError):
    """A lynxi artifact that does not follow FORMAT.md."""


def _fail(where: str, msg: str):
    raise FormatError(f"{where}: {msg}")


def _get(obj: dict, key: str, kind, where: str):
    if not isinstance(obj, dict) or key not in obj:
        _fail(where, f"missing field '{key}'")
    value = obj[key]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        _fail(f"{where}.{key}", f"expected an integer, got {value!r}")
    if kind is not int and not isinstance(value, kind):
        _fail(f"{where}.{key}", f"expected {kind.__name__ if isinstance(kind, type) else kind}, got {value!r}")
    return value


def _int_list(value, where: str, length: int | None = None, minimum: int = 0) -> tuple[int, ...]:
    if not isinstance(value, list) or any(isinstance(v, bool) or not isinstance(v, int) or v < minimum
                                          for v in value):
        _fail(where, f"expected a list of integers >= {minimum}, got {value!r}")
    if length is not None and len(value) != length:
        _fail(where, f"expected {length} integers, got {value!r}")
    return tuple(value)


@dataclass
class Layer:
    name: str
    type: str
    inputs: list[str]
    shape: tuple[int, ...]
    attrs: dict
    params: dict  # name -> float16 tensor
    state: list[str]


@dataclass
class StateEntry:
    name: str
    layer: str
    var: str
    dtype: str
    shape: tuple[int, ...]
    offset: int
    nbytes: int
    init: dict


@dataclass
class Model:
    version: int
    window: int
    input: str
    outputs: list[str]
    layers: list[Layer]
    region_name: str
    bytes_per_sample: int
    entries: dict[str, StateEntry]
    tensors: dict[str, np.ndarray]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return next(l for l in self.layers if l.name == self.input).shape


# --- loading ---------------------------------------------------------------------------------------
def load(out_dir) -> Model:
    """Read and validate ``model.json`` and ``model.bin`` in ``out_dir``; raise :class:`FormatError`
    naming the file and field on the first problem."""
    out_dir = Path(out_dir)
    jpath = out_dir / "model.json"
    if not jpath.is_file():
        _fail(str(jpath), "not found")
    try:
        doc = json.loads(jpath.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        _fail("model.json", f"not valid JSON ({e})")
    if not isinstance(doc, dict):
        _fail("model.json", "the top level must be an object")
    fmt = doc.get("format")
    if fmt != FORMAT:
        _fail("model.json", f"format is {fmt!r}, expected {FORMAT!r}")
    version = _get(doc, "version", int, "model.json")
    if version not in SUPPORTED_VERSIONS:
        _fail("model.json", f"version {version} is not supported by this reader (supports {list(SUPPORTED_VERSIONS)})")
    if doc.get("numerics") != "lynxi":
        _fail("model.json.numerics", f"expected 'lynxi', got {doc.get('numerics')!r}")
    if doc.get("byte_order") != "little":
        _fail("model.json.byte_order", f"expected 'little', got {doc.get('byte_order')!r}")
    alignment = _get(doc, "alignment", int, "model.json")
    if alignment <= 0 or alignment & (alignment - 1):
        _fail("model.json.alignment", f"must be a positive power of two, got {alignment}")

    bin_info = _get(doc, "bin", dict, "model.json")
    fname = _get(bin_info, "file", str, "model.json.bin")
    if fname != Path(fname).name or fname in ("", ".", ".."):
        _fail("model.json.bin.file", f"must be a plain file name next to model.json, got {fname!r}")
    bpath = out_dir / fname
    if not bpath.is_file():
        _fail(str(bpath), "not found")
    blob = bpath.read_bytes()
    declared = _get(bin_info, "nbytes", int, "model.json.bin")
    if len(blob) != declared:
        _fail(fname, f"has {len(blob)} bytes, model.json declares {declared}"
                     + (" (truncated)" if len(blob) < declared else " (trailing bytes)"))
    tensors = _load_tensors(doc, blob, alignment, fname)
    digest = hashlib.sha256(blob).hexdigest()
    if digest != _get(bin_info, "sha256", str, "model.json.bin"):
        _fail(fname, f"sha256 {digest} does not match model.json ({bin_info['sha256']}): the file is corrupt")

    window = _get(doc, "window", int, "model.json")
    if window < 0:
        _fail("model.json.window", f"must be >= 0, got {window}")
    layers = _load_layers(doc, tensors)
    by_name = {l.name: l for l in layers}
    inp = _get(doc, "input", str, "model.json")
    if inp not in by_name or by_name[inp].type != "input":
        _fail("model.json.input", f"{inp!r} is not an input layer")
    if [l.name for l in layers if l.type == "input"] != [inp]:
        _fail("model.json.layers", "exactly one layer of type 'input' is expected")
    outputs = _get(doc, "outputs", list, "model.json")
    if not outputs or any(o not in by_name or by_name[o].type != "output" for o in outputs):
        _fail("model.json.outputs", f"must name output layers, got {outputs!r}")
    region, per_sample, entries = _load_state(doc, by_name)
    return Model(version, window, inp, outputs, layers, region, per_sample, entries, tensors)


def _load_tensors(doc, blob: bytes, alignment: int, fname: str) -> dict[str, np.ndarray]:
    table = _get(doc, "tensors", list, "model.json")
    out: dict[str, np.ndarray] = {}
    spans = []
    for i, t in enumerate(table):
        where = f"model.json.tensors[{i}]"
        name = _get(t, "name", str, where)
        where = f"model.json tensor '{name}'"
        if name in out:
            _fail(where, "duplicate tensor name")
        dtype = _get(t, "dtype", str, where)
        if dtype not in TENSOR_DTYPES:
            _fail(where, f"dtype {dtype!r} is not one of {sorted(TENSOR_DTYPES)}")
        shape = _int_list(_get(t, "shape", list, where), f"{where}.shape")
        offset = _get(t, "offset", int, where)
        nbytes = _get(t, "nbytes", int, where)
        np_dtype = np.dtype(TENSOR_DTYPES[dtype]).newbyteorder("<")
        if nbytes != math.prod(shape) * np_dtype.itemsize:
            _fail(where, f"nbytes {nbytes} does not match shape {list(shape)} of {dtype} "
                         f"({math.prod(shape) * np_dtype.itemsize} bytes)")
        if offset < 0 or offset % alignment:
            _fail(where, f"offset {offset} is not a non-negative multiple of the alignment {alignment}")
        if offset + nbytes > len(blob):
            _fail(where, f"bytes [{offset}, {offset + nbytes}) lie outside {fname} ({len(blob)} bytes)")
        data = blob[offset:offset + nbytes]
        digest = hashlib.sha256(data).hexdigest()
        if digest != _get(t, "sha256", str, where):
            _fail(where, f"sha256 of bytes [{offset}, {offset + nbytes}) of {fname} is {digest}, "
                         f"model.json says {t['sha256']}: the data is corrupt")
        spans.append((offset, offset + nbytes, name))
        array = np.frombuffer(data, dtype=np_dtype).reshape(shape).astype(TENSOR_DTYPES[dtype])
        if not np.all(np.isfinite(array)):
            _fail(where, "contains NaN or Inf")
        out[name] = array
    spans.sort()
    for (a0, a1, an), (b0, b1, bn) in zip(spans, spans[1:]):
        if b0 < a1:
            _fail("model.json.tensors", f"tensors '{an}' and '{bn}' overlap in {fname}")
    return out


def _conv_out(size, k, s, p, d=1):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _infer(layer: Layer, in_shapes: list, where: str) -> tuple[int, ...]:
    """The per-step output shape of a layer (the same rules as FORMAT.md states), checking its params."""
    t, a, p = layer.type, layer.attrs, layer.params
    if t == "input":
        return tuple(a["shape"])
    if t == "delay":
        if a["steps"] < 1:
            _fail(f"{where}.attrs.steps", f"must be >= 1, got {a['steps']}")
        return tuple(a["shape"])
    shape = in_shapes[0]
    if t == "output":
        return shape
    if t == "linear":
        w = p["weight"]
        if w.ndim != 2 or shape != (w.shape[1],):
            _fail(where, f"weight {list(w.shape)} does not fit input shape {list(shape)}")
        if "bias" in p and p["bias"].shape != (w.shape[0],):
            _fail(where, f"bias shape {list(p['bias'].shape)} must be [{w.shape[0]}]")
        return (w.shape[0],)
    if t == "conv2d":
        w, g = p["weight"], a["groups"]
        if w.ndim != 4 or len(shape) != 3 or g < 1 or shape[0] != w.shape[1] * g or w.shape[0] % g:
            _fail(where, f"weight {list(w.shape)} with groups={g} does not fit input shape {list(shape)}")
        if "bias" in p and p["bias"].shape != (w.shape[0],):
            _fail(where, f"bias shape {list(p['bias'].shape)} must be [{w.shape[0]}]")
        (sh, sw), (ph, pw), (dh, dw) = a["stride"], a["padding"], a["dilation"]
        if min(sh, sw, dh, dw) < 1:
            _fail(where, "stride and dilation must be >= 1")
        return (w.shape[0], _conv_out(shape[1], w.shape[2], sh, ph, dh), _conv_out(shape[2], w.shape[3], sw, pw, dw))
    if t in ("avgpool2d", "sumpool2d", "maxpool2d"):
        (kh, kw), (sh, sw), (ph, pw) = a["kernel"], a["stride"], a["padding"]
        if len(shape) != 3 or min(kh, kw, sh, sw) < 1:
            _fail(where, f"needs a [C, H, W] input and kernel/stride >= 1, got input {list(shape)}")
        return (shape[0], _conv_out(shape[1], kh, sh, ph), _conv_out(shape[2], kw, sw, pw))
    if t == "flatten":
        return (math.prod(shape),)
    if t in ("add", "mul"):
        if any(s != shape for s in in_shapes):
            _fail(where, f"inputs must have equal shapes, got {[list(s) for s in in_shapes]}")
        if t == "mul" and not set(a["complement"]) <= {0, 1}:
            _fail(f"{where}.attrs.complement", f"must be two 0/1 flags, got {a['complement']}")
        return shape
    if t in ("scale", "neuron"):
        for key, value in p.items():
            try:
                ok = np.broadcast_shapes(value.shape, shape) == shape
            except ValueError:
                ok = False
            if not ok:
                _fail(where, f"parameter '{key}' of shape {list(value.shape)} does not broadcast to {list(shape)}")
        if t == "neuron":
            for key in CHARGE_PARAMS[a["charge"]]:
                if key not in p:
                    _fail(where, f"charge '{a['charge']}' needs parameter '{key}'")
            if a["reset"] == "hard" and "v_reset" not in p:
                _fail(where, "a hard reset needs parameter 'v_reset'")
            if a["reset_timing"] != "immediate" and a["charge"] not in ("beta", "cuba"):
                _fail(where, f"reset_timing {a['reset_timing']!r} needs charge 'beta' or 'cuba'")
            if a["threshold"] == "adaptive":
                for key in ("adapt_decay", "adapt_scale"):
                    if key not in p:
                        _fail(where, f"an adaptive threshold needs parameter '{key}'")
                if a["reset_timing"] != "immediate":
                    _fail(where, "an adaptive threshold needs reset_timing 'immediate'")
            if a["output"] == "i" and a["charge"] != "cuba":
                _fail(where, "output 'i' (the current) needs charge 'cuba'")
        return shape
    if t == "readout":
        if len(shape) != 1:
            _fail(where, f"needs a [C] input, got {list(shape)}")
        ok_rules = {"spike": CHOICES["rule"][:4], "membrane": ("argmax_membrane", "binary_logit")}
        if a["rule"] not in ok_rules[a["output_mode"]]:
            _fail(where, f"rule {a['rule']!r} is not a {a['output_mode']}-mode rule")
        if a["rule"] == "binary_logit" and shape != (2,):
            _fail(where, "binary_logit needs 2 classes")
        if "beta" in p and p["beta"].shape != ():
            _fail(where, "beta must be a scalar")
        return (1,)
    raise AssertionError(t)


def _load_layers(doc, tensors) -> list[Layer]:
    raw = _get(doc, "layers", list, "model.json")
    layers: list[Layer] = []
    shapes: dict[str, tuple] = {}
    for i, item in enumerate(raw):
        name = _get(item, "name", str, f"model.json.layers[{i}]")
        where = f"model.json layer '{name}'"
        if name in shapes:
            _fail(where, "duplicate layer name")
        kind = _get(item, "type", str, where)
        if kind not in LAYER_SPECS:
            _fail(where, f"unknown type {kind!r}; expected one of {sorted(LAYER_SPECS)}")
        arity, required, optional, attr_spec = LAYER_SPECS[kind]
        inputs = _get(item, "inputs", list, where)
        if (arity is not None and len(inputs) != arity) or (arity is None and not inputs):
            _fail(where, f"type {kind!r} takes {arity if arity is not None else '>= 1'} input(s), got {len(inputs)}")
        for src in inputs:
            if src not in shapes and kind != "delay":
                _fail(where, f"input {src!r} is not an earlier layer")
        attrs = _get(item, "attrs", dict, where)
        clean = {}
        defaults = ATTR_DEFAULTS.get(kind, {})
        for key, kind_of in attr_spec.items():
            if key not in attrs and key not in defaults:
                _fail(f"{where}.attrs", f"missing attribute '{key}'")
            value = attrs.get(key, defaults.get(key))
            if kind_of == PAIR:
                value = _int_list(value, f"{where}.attrs.{key}", length=2)
            elif kind_of == "shape":
                value = _int_list(value, f"{where}.attrs.{key}", minimum=1)
            elif kind_of is int:
                if isinstance(value, bool) or not isinstance(value, int):
                    _fail(f"{where}.attrs.{key}", f"expected an integer, got {value!r}")
            elif not isinstance(value, kind_of):
                _fail(f"{where}.attrs.{key}", f"expected {kind_of.__name__}, got {value!r}")
            if key in CHOICES and value not in CHOICES[key]:
                _fail(f"{where}.attrs.{key}", f"must be one of {CHOICES[key]}, got {value!r}")
            clean[key] = value
        extra = set(attrs) - set(attr_spec)
        if extra:
            _fail(f"{where}.attrs", f"unknown attribute(s) {sorted(extra)}")
        refs = _get(item, "params", dict, where)
        params = {}
        for key, tname in refs.items():
            if key not in required + optional:
                _fail(f"{where}.params", f"unknown parameter {key!r} for type {kind!r}")
            if tname not in tensors:
                _fail(f"{where}.params.{key}", f"tensor {tname!r} is not in the tensor table")
            params[key] = tensors[tname]
        for key in required:
            if key not in params:
                _fail(f"{where}.params", f"missing parameter '{key}'")
        state = _get(item, "state", list, where)
        layer = Layer(name, kind, list(inputs), (), clean, params, list(state))
        inferred = _infer(layer, [shapes.get(s) for s in inputs], where)
        declared = _int_list(_get(item, "shape", list, where), f"{where}.shape", minimum=1)
        if declared != inferred:
            _fail(f"{where}.shape", f"declared {list(declared)}, but the layer computes {list(inferred)}")
        layer.shape = inferred
        shapes[name] = inferred
        layers.append(layer)
    for layer in layers:  # a delay's input may be a later layer (a recurrent cycle)
        if layer.type == "delay" and shapes.get(layer.inputs[0]) != layer.shape:
            _fail(f"model.json layer '{layer.name}'", f"input {layer.inputs[0]!r} is not a layer of shape "
                                                       f"{list(layer.shape)}")
    return layers


def _expected_state(layer: Layer, in_shape) -> dict[str, tuple[str, tuple]]:
    if layer.type == "neuron":
        out = {"v": ("float16", layer.shape)}
        if layer.attrs["charge"] == "cuba":
            out["i"] = ("float16", layer.shape)
        if layer.attrs["reset_timing"] == "delayed":
            out["s"] = ("float16", layer.shape)
        if layer.attrs["threshold"] == "adaptive":
            out["b"] = ("float16", layer.shape)
        return out
    if layer.type == "delay":
        return {f"q{k}": ("float16", layer.shape) for k in range(layer.attrs["steps"])}
    if layer.type == "readout":
        if layer.attrs["output_mode"] == "membrane":
            return {"mem": ("float16", in_shape)}
        out = {"count": ("int32", in_shape)}
        if layer.attrs["rule"] in ("first_to_threshold", "threshold_then_argmax"):
            out["first"] = ("int32", (1,))
        return out
    return {}


def _load_state(doc, by_name: dict[str, Layer]):
    region = _get(doc, "state_region", dict, "model.json")
    where = "model.json.state_region"
    name = _get(region, "name", str, where)
    alignment = _get(region, "alignment", int, where)
    if alignment <= 0 or alignment & (alignment - 1):
        _fail(f"{where}.alignment", f"must be a positive power of two, got {alignment}")
    per_sample = _get(region, "bytes_per_sample", int, where)
    if per_sample < 0 or per_sample % alignment:
        _fail(f"{where}.bytes_per_sample", f"must be a non-negative multiple of {alignment}, got {per_sample}")
    entries: dict[str, StateEntry] = {}
    for i, e in enumerate(_get(region, "entries", list, where)):
        ename = _get(e, "name", str, f"{where}.entries[{i}]")
        ew = f"{where} entry '{ename}'"
        if ename in entries:
            _fail(ew, "duplicate entry name")
        lname, var, dtype = _get(e, "layer", str, ew), _get(e, "var", str, ew), _get(e, "dtype", str, ew)
        if dtype not in STATE_DTYPES:
            _fail(ew, f"dtype {dtype!r} is not one of {sorted(STATE_DTYPES)}")
        shape = _int_list(_get(e, "shape", list, ew), f"{ew}.shape", minimum=1)
        offset, nbytes = _get(e, "offset", int, ew), _get(e, "nbytes", int, ew)
        if nbytes != math.prod(shape) * np.dtype(STATE_DTYPES[dtype][0]).itemsize:
            _fail(ew, f"nbytes {nbytes} does not match shape {list(shape)} of {dtype}")
        if offset < 0 or offset % alignment or offset + nbytes > per_sample:
            _fail(ew, f"offset {offset} (+{nbytes} bytes) is not aligned to {alignment} or lies outside "
                      f"the {per_sample} bytes per sample")
        init = _get(e, "init", dict, ew)
        if set(init) == {"fill"}:
            if isinstance(init["fill"], bool) or not isinstance(init["fill"], (int, float)):
                _fail(f"{ew}.init", f"fill must be a number, got {init['fill']!r}")
        elif set(init) == {"param"}:
            layer = by_name.get(lname)
            if layer is None or init["param"] not in layer.params:
                _fail(f"{ew}.init", f"param {init['param']!r} is not a parameter of layer {lname!r}")
        else:
            _fail(f"{ew}.init", f"must be {{'fill': number}} or {{'param': name}}, got {init!r}")
        entries[ename] = StateEntry(ename, lname, var, dtype, shape, offset, nbytes, init)
    spans = sorted((e.offset, e.offset + e.nbytes, e.name) for e in entries.values())
    for (a0, a1, an), (b0, b1, bn) in zip(spans, spans[1:]):
        if b0 < a1:
            _fail(where, f"entries '{an}' and '{bn}' overlap")
    used = set()
    layer_list = list(by_name.values())
    for layer in layer_list:
        in_shape = by_name[layer.inputs[0]].shape if layer.inputs else None
        expected = _expected_state(layer, in_shape)
        got = {}
        for ename in layer.state:
            e = entries.get(ename)
            if e is None or e.layer != layer.name:
                _fail(f"model.json layer '{layer.name}'.state", f"{ename!r} is not an entry of this layer in {name}")
            got[e.var] = (e.dtype, e.shape)
            used.add(ename)
        if got != expected:
            _fail(f"model.json layer '{layer.name}'.state",
                  f"has {got}, a {layer.type} layer needs {expected}")
    if used != set(entries):
        _fail(where, f"entries {sorted(set(entries) - used)} belong to no layer")
    return name, per_sample, entries


# --- running ---------------------------------------------------------------------------------------
class StateRegion:
    """The persistent state of all layers: ``[N, bytes_per_sample]`` bytes with typed views."""

    def __init__(self, model: Model, n: int):
        self.model = model
        self.bytes = torch.zeros(n, max(model.bytes_per_sample, 1), dtype=torch.uint8)
        self.views: dict[str, torch.Tensor] = {}
        for e in model.entries.values():
            torch_dtype = STATE_DTYPES[e.dtype][1]
            flat = self.bytes[:, e.offset:e.offset + e.nbytes].view(torch_dtype)
            self.views[e.name] = flat.view(n, *e.shape)

    def initialise(self, params_of: dict[str, dict]) -> None:
        self.bytes.zero_()
        for e in self.model.entries.values():
            view = self.views[e.name]
            if "fill" in e.init:
                view.fill_(e.init["fill"])
            else:
                view.copy_(torch.zeros_like(view) + params_of[e.layer][e.init["param"]])

    def read(self, layer: Layer) -> dict[str, torch.Tensor]:
        return {self.model.entries[n].var: self.views[n].clone() for n in layer.state}

    def write(self, layer: Layer, values: dict[str, torch.Tensor]) -> None:
        for n in layer.state:
            self.views[n].copy_(values[self.model.entries[n].var].reshape(self.views[n].shape))


def _delay_take_in(region: StateRegion, layer, value: torch.Tensor) -> None:
    """After the step: slot ``q{k}`` takes ``q{k+1}``, the last slot the delay's input."""
    st = region.read(layer)
    slots = [st[f"q{k}"] for k in range(1, layer.attrs["steps"])] + [value]
    region.write(layer, {f"q{k}": v for k, v in enumerate(slots)})


def _run_neuron(layer, p, xs, st):
    if "s" in st:  # the stored previous spike (float16 0/1) is the condition R of a delayed reset
        st["s"] = st["s"] != 0
    return L.neuron_step(layer.attrs, p, xs[0], st)


def _run_readout(layer, p, xs, st):
    n = xs[0].shape[0]
    full = {"count": st.get("count"), "mem": st.get("mem"),
            "first": st["first"].reshape(n) if "first" in st else None}
    out = L.readout_step(layer.attrs, p.get("beta"), xs[0], full)
    st.update({k: v for k, v in full.items() if k in st})
    if "first" in st:
        st["first"] = full["first"].reshape(n, 1)
    return out


RUN = {
    "output": lambda layer, p, xs, st: xs[0],
    "linear": lambda layer, p, xs, st: L.dense(xs[0], p["weight"], p.get("bias")),
    "conv2d": lambda layer, p, xs, st: L.conv2d(xs[0], p["weight"], p.get("bias"), tuple(layer.attrs["stride"]),
                                                tuple(layer.attrs["padding"]), tuple(layer.attrs["dilation"]),
                                                layer.attrs["groups"]),
    "avgpool2d": lambda layer, p, xs, st: L.avgpool2d(xs[0], *_pool(layer)),
    "sumpool2d": lambda layer, p, xs, st: L.sumpool2d(xs[0], *_pool(layer)),
    "maxpool2d": lambda layer, p, xs, st: L.maxpool2d(xs[0], *_pool(layer)),
    "flatten": lambda layer, p, xs, st: xs[0].reshape(xs[0].shape[0], -1),
    "add": lambda layer, p, xs, st: L.add(xs),
    "mul": lambda layer, p, xs, st: L.mul(xs, layer.attrs["complement"]),
    "scale": lambda layer, p, xs, st: L.scale(xs[0], p["scale"]),
    "neuron": _run_neuron,
    "readout": _run_readout,
}


def _pool(layer):
    a = layer.attrs
    return tuple(a["kernel"]), tuple(a["stride"]), tuple(a["padding"])


def run(model: Model, inputs, record: bool = False):
    """Run a loaded model on ``[T, N, *input_shape]`` inputs; outputs ``[T, N, *out_shape]`` (float16).
    With ``record=True`` also returns every layer's per-step values ``{layer: [T, N, *shape]}``."""
    x = torch.as_tensor(inputs)
    check_inputs(x.detach().cpu(), model.input_shape)
    x = x.to(torch.float16)
    n = x.shape[1]
    params_of = {l.name: {k: torch.from_numpy(v.copy()) for k, v in l.params.items()} for l in model.layers}
    region = StateRegion(model, n)
    region.initialise(params_of)
    steps, trace = [], []
    for t in range(x.shape[0]):
        values: dict[str, torch.Tensor] = {}
        for layer in model.layers:
            if layer.type == "input":
                values[layer.name] = x[t]
                continue
            st = region.read(layer)
            if layer.type == "delay":  # its oldest slot; it takes in its input after the step
                values[layer.name] = st["q0"]
                continue
            values[layer.name] = RUN[layer.type](layer, params_of[layer.name], [values[s] for s in layer.inputs], st)
            if layer.state:
                region.write(layer, st)
        for layer in model.layers:
            if layer.type == "delay":
                _delay_take_in(region, layer, values[layer.inputs[0]])
        steps.append([values[o] for o in model.outputs])
        if record:
            trace.append(values)
        if model.window and (t + 1) % model.window == 0:
            region.initialise(params_of)
    stacked = [torch.stack([s[i] for s in steps]) for i in range(len(model.outputs))]
    result = stacked[0] if len(stacked) == 1 else tuple(stacked)
    if record:
        return result, {l.name: torch.stack([v[l.name] for v in trace]) for l in model.layers}
    return result


def simulate(out_dir, inputs, record: bool = False):
    """The Target's ``simulate``: load (validating) and run. ``record=True`` also returns every
    layer's values by name (the IR node names), for ``snnc.verify``'s per-layer comparison."""
    model = load(out_dir)
    if not record:
        return run(model, inputs)
    out, layers = run(model, inputs, record=True)
    return out, {name: v for name, v in layers.items() if name != model.input}


def describe(out_dir) -> str:
    model = load(out_dir)
    nparams = sum(v.size for v in model.tensors.values())
    rows = [f"lynxi model v{model.version}: {len(model.layers)} layers, {nparams} float16 parameters "
            f"({2 * nparams} bytes), state region '{model.region_name}' {model.bytes_per_sample} bytes/sample, "
            f"window {model.window}"]
    rows += [f"  {l.name:<20} {l.type:<10} {list(l.shape)}" for l in model.layers]
    return "\n".join(rows)
