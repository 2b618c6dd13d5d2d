"""Lower an ``hls``-quantized graph to synchronous HLS-style C++ (see ``FORMAT.md``).

Each layer kind has one template in ``templates/`` that reads like the C++ it produces; this module
fills them in: names (the IR node names made C identifiers), sizes, types (one ``typedef`` per tensor
class and layer, from ``node.quant["formats"]``) and, for neurons, the step of ``snnc.ir.neuron`` (the
program every backend runs) written out as C++ lines; the readout templates write the loops of
``snnc.ir.readout`` by hand. Parameters are data, not code: ``firmware/weights.bin`` holds their
fixed-point codes (exactly the quantized values), which the C simulation loads at run time and from
which ``tools/weights_rom.cpp`` writes the ROM initializers synthesis compiles.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from string import Template

import numpy as np

from ...ir.neuron import Arithmetic, initial_keys, step
from ...ir.ops import emits_spikes, reads_after_step
from ...ir.numerics.hls import PARAM_CLASS, SPIKE, formats
from ...ir.errors import SnncError
from ...ir.quantize import Fixed
from ..common import pack_tensors
from .constraints import check

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
HEADER = HERE / "include" / "snnc_fixed.h"
CXXFLAGS = "-std=c++17 -O2 -Wall -Werror -Wno-unknown-pragmas"
TOP = "snnc_top"
#: what the simulator compiles, with CXXFLAGS: both fixed here, never read from an artifact
SOURCES = (f"firmware/{TOP}.cpp", "tb/testbench.cpp")
FORMAT_VERSION = 2  # 2: parameters in weights.bin (1 compiled them into weights.h)
WEIGHTS_FILE = "weights.bin"  # in firmware/: every parameter's codes (model.json "weights")
CPP_KEYWORDS = {
    "alignas", "alignof", "and", "asm", "auto", "bool", "break", "case", "catch", "char", "class", "const",
    "constexpr", "continue", "default", "delete", "do", "double", "else", "enum", "explicit", "export",
    "extern", "false", "float", "for", "friend", "goto", "if", "inline", "int", "long", "mutable",
    "namespace", "new", "noexcept", "not", "nullptr", "operator", "or", "private", "protected", "public",
    "register", "return", "short", "signed", "sizeof", "static", "struct", "switch", "template", "this",
    "throw", "true", "try", "typedef", "typename", "union", "unsigned", "using", "virtual", "void",
    "volatile", "while", "x", "y", "s", "k", "main", "last", "snnc", "std", "acc", "best", "any", "value",
    "group", "spike", "h", "r", "q", "o", "u", "c", "ch", "j", "t", "n", "f", "in", "out", "src", "dst", "trace"}


def template(template_file: str, **values) -> str:
    return Template((TEMPLATES / template_file).read_text()).substitute(**{k: str(v) for k, v in values.items()})


def cpp_type(fmt: Fixed) -> str:
    return f"snnc::fixed<{fmt.width}, {fmt.int_bits}, snnc::{fmt.rounding.upper()}, snnc::{fmt.overflow.upper()}>"


#: the names the lowering derives from a node's identifier ``id``: ``id_<suffix>``
DERIVED = ("reset", "out", "weight", "bias", "scale", "recip", "v", "i", "s", "count", "first", "mem", "beta",
           "alpha", "k", "v_threshold", "v_reset", "v_leak", "v_init", "i_init", "weight_t", "bias_t",
           "accum_t", "result_t", "v_t", "i_t", "threshold_t", "decay_t", "mem_t")


def _derived(name: str) -> set[str]:
    return {name} | {f"{name}_{suffix}" for suffix in DERIVED}


def c_identifiers(graph) -> dict[str, str]:
    """Node name -> a unique C identifier (non-identifier characters become ``_``); no name the
    lowering derives from one identifier (``fc_weight``, ``fc_reset``, ...) is another's."""
    out = {}
    taken = set(CPP_KEYWORDS) | {"input_t", "kRecord", "snnc_record", "snnc_step", "snnc_trace_step", "started"}
    for node in graph.nodes:
        base = re.sub(r"\W", "_", node.name, flags=re.ASCII) or "node"
        base = re.sub(r"__+", "_", base)
        if base[0].isdigit() or base.startswith("_"):
            base = "n" + base if base.startswith("_") else "n_" + base
        if base.startswith(("snnc", "SNNC")) or re.fullmatch(r"y\d+", base):
            base = "node_" + base
        name, i = base, 1
        while _derived(name) & taken:
            name, i = f"{base}_{i}", i + 1
        taken |= _derived(name)
        out[node.name] = name
    return out


@dataclass
class Constant:
    """A parameter of the emitted C++: a scalar or array ``name`` of C type ``ctype`` in format ``fmt``,
    stored in ``weights.bin`` as the codes of ``values`` (``value = code · 2^-F``)."""

    name: str
    ctype: str
    fmt: Fixed
    values: np.ndarray

    @property
    def code_bytes(self) -> int:
        """The bytes per stored code: the smallest of 1, 2, 4, 8 that holds the format's width."""
        return next(b for b in (1, 2, 4, 8) if 8 * b >= self.fmt.width)

    def codes(self) -> np.ndarray:
        codes = np.rint(np.ldexp(self.values, self.fmt.frac_bits))
        if not np.array_equal(np.ldexp(codes, -self.fmt.frac_bits), self.values):
            raise SnncError(f"hls: '{self.name}' holds values off its format {self.fmt}'s grid")
        return codes.astype(f"<i{self.code_bytes}")

    def declaration(self) -> str:
        dims = "".join(f"[{d}]" for d in self.values.shape)
        return f"static {self.ctype} {self.name}{dims};"

    def first(self) -> str:
        """A pointer to the first element (arrays are contiguous in C order)."""
        return f"&{self.name}{'[0]' * self.values.ndim}"


class _CppArithmetic(Arithmetic):
    """:func:`snnc.ir.neuron.step` as the C++ body of a neuron's loop over ``k``: a value is a C++
    expression in ``snnc::fixed`` arithmetic (the same result types as ``ir.numerics.hls.FX``); a
    :meth:`store` is a ``const`` of the state's type (where the format rounds and saturates); a
    condition is a ``const bool``; a spike inside arithmetic is the ``fixed<2, 2>`` number 0 or 1."""

    def __init__(self, lowering: "_Lowering", node):
        self.lowering, self.node, self.lines = lowering, node, []

    def define(self, ctype: str, expr: str, prefix: str) -> str:
        name = f"{prefix}{len(self.lines)}"
        self.lines.append(f"const {ctype} {name} = {expr};")
        return name

    def has(self, key):
        return key in self.node.params

    def param(self, key):
        return self.lowering._param(self.node, key, PARAM_CLASS[key])

    def add(self, a, b):
        return f"({a} + {b})"

    def sub(self, a, b):
        return f"({a} - {b})"

    def mul(self, a, b):
        return f"({a} * {b})"

    def div(self, a, b):
        raise AssertionError("the hls profile has no division (lif becomes plif at quantization)")

    def compare(self, op, a, b):
        return self.define("bool", f"{a} {'>=' if op == 'ge' else '>'} {b}", "fires")

    def select(self, cond, a, b):
        return f"({cond} ? {a} : {b})"

    def spike(self, cond):
        return f"snnc::fixed<2, 2>({cond} ? 1 : 0)"

    def output(self, cond):
        return cond

    def store(self, value, tensor_class):
        return self.define(self.lowering.t(self.node, tensor_class), value, tensor_class)

    def zero(self, tensor_class):
        return f"{self.lowering.t(self.node, tensor_class)}(0)"


class _Lowering:
    def __init__(self, graph, options: dict):
        self.graph = graph
        self.options = options
        self.ids = c_identifiers(graph)
        self.typedefs: list[str] = []
        self.constants: list[Constant] = []  # the parameters, in weights.bin's order
        self.declared: set[str] = set()
        self.layers: list[str] = []
        self.calls: list[str] = []
        self.resets: list[str] = []
        self.buffer: dict[str, str] = {}  # node -> the C array holding its per-step value
        self.layer_info: list[dict] = []
        self.recorded: list[dict] = []  # every layer's per-step output, for record=True simulation

    def t(self, node, cls: str) -> str:
        return f"{self.ids[node.name]}_{cls}_t"

    def constant(self, name: str, node, cls: str, values) -> None:
        """A parameter of ``node`` in its ``cls`` format, stored in weights.bin."""
        self.constants.append(Constant(name, self.t(node, cls), formats(node)[cls], np.asarray(values, np.float64)))

    def run(self) -> dict:
        g = self.graph
        for node in g.nodes:
            for cls, d in formats(node).items():
                self.typedefs.append(f"typedef {cpp_type(d)} {self.t(node, cls)};")
        for node in g.nodes:
            getattr(self, "_" + node.op.lower())(node)
        for node in g.nodes:  # a Delay takes in its input after every layer of the step
            if reads_after_step(node):
                buf, in_t = self._in(node)
                self.calls.append(f"  {self.ids[node.name]}_take_in({buf}, last);")
        return self.info()

    # --- per op ------------------------------------------------------------------------------------
    def _input(self, node):
        self.typedefs.append(f"typedef {self.t(node, 'result')} input_t;")
        self.buffer[node.name] = "x"

    def _flatten(self, node):
        self.buffer[node.name] = self.buffer[node.inputs[0]]  # same elements, same (C) order
        self._record(node)

    def _record(self, node):
        offset = sum(r["size"] for r in self.recorded)
        size = math.prod(node.shape)
        self.recorded.append({"name": node.name, "shape": list(node.shape), "offset": offset, "size": size})
        self.calls.append(f"  SNNC_RECORD_LAYER({offset}, {self.buffer[node.name]}, {size});")

    def _output(self, node):
        self.buffer[node.name] = self.buffer[node.inputs[0]]

    def _emit(self, node, code: str, args: list[str], stateful: bool = False, info: dict | None = None):
        fn = self.ids[node.name]
        n = math.prod(node.shape)
        self.layers.append(code)
        out = f"{fn}_out"
        # static: a layer's values are written whole every step, and a wide network's buffers do not
        # fit on the stack of the top function
        self.calls.append(f"  static {self.t(node, 'result')} {out}[{n}];")
        self.calls.append(f"  {fn}({', '.join(args + [out] + (['last'] if stateful else []))});")
        self.buffer[node.name] = out
        self._record(node)
        if stateful:
            self.resets.append(f"  {fn}_reset();")
        self.layer_info.append({"name": node.name, "function": fn, "op": node.op, "shape": list(node.shape),
                                "formats": {k: str(v) for k, v in formats(node).items()}, **(info or {})})

    def _in(self, node, i: int = 0) -> tuple[str, str]:
        src = self.graph[node.inputs[i]]
        return self.buffer[src.name], self.t(src, "result")

    def _linear(self, node):
        fn = self.ids[node.name]
        w = node.params["weight"]
        n_out, n_in = w.shape
        self.constant(f"{fn}_weight", node, "weight", w)
        if "bias" in node.params:
            self.constant(f"{fn}_bias", node, "bias", node.params["bias"])
        reuse = node.quant.get("reuse_factor", 1)
        mults = math.ceil(w.size / reuse)
        buf, in_t = self._in(node)
        code = template("dense.cpp", name=node.name, fn=fn, n_in=n_in, n_out=n_out, reuse=reuse,
                        multipliers=mults, partition=max(1, math.ceil(n_in / reuse)), in_t=in_t,
                        out_t=self.t(node, "result"), acc_t=self.t(node, "accum"),
                        acc_init=f"{fn}_bias[o]" if "bias" in node.params else f"{self.t(node, 'accum')}(0)")
        # the function is pipelined as a whole: one step every II = reuse cycles
        self._emit(node, code, [buf], info=self._mac_info(node, w.size, w.size, reuse, cycles=reuse))

    def _conv2d(self, node):
        from ...ir.ops import pair
        fn = self.ids[node.name]
        w = node.params["weight"]
        a = node.attrs
        (sh, sw), (ph, pw), (dh, dw) = (pair(node.name, k, a[k]) for k in ("stride", "padding", "dilation"))
        c_in, h_in, w_in = self.graph[node.inputs[0]].shape
        c_out, h_out, w_out = node.shape
        self.constant(f"{fn}_weight", node, "weight", w)
        if "bias" in node.params:
            self.constant(f"{fn}_bias", node, "bias", node.params["bias"])
        reuse = node.quant.get("reuse_factor", 1)
        buf, in_t = self._in(node)
        code = template("conv2d.cpp", name=node.name, fn=fn, c_in=c_in, h_in=h_in, w_in=w_in, c_out=c_out,
                        h_out=h_out, w_out=w_out, kh=w.shape[2], kw=w.shape[3], sh=sh, sw=sw, ph=ph, pw=pw,
                        dh=dh, dw=dw, groups=a["groups"], reuse=reuse, multipliers=math.ceil(w.size / reuse),
                        out_per_group=c_out // a["groups"], c_per_group=w.shape[1],
                        n_in=c_in * h_in * w_in, n_out=c_out * h_out * w_out, in_t=in_t,
                        out_t=self.t(node, "result"), acc_t=self.t(node, "accum"),
                        acc_init=f"{fn}_bias[o]" if "bias" in node.params else f"{self.t(node, 'accum')}(0)")
        self._emit(node, code, [buf], info=self._mac_info(node, w.size, w.size * h_out * w_out, reuse,
                                                          cycles=c_out * h_out * w_out * reuse))  # pipelined j loop

    def _mac_info(self, node, n_weights: int, macs: int, reuse: int, cycles: int) -> dict:
        fm = formats(node)
        bits = n_weights * fm["weight"].width + (len(node.params["bias"]) * fm["bias"].width
                                                  if "bias" in node.params else 0)
        src = self.graph[node.inputs[0]]
        return {"multipliers": math.ceil(n_weights / reuse), "macs_per_step": macs, "reuse_factor": reuse,
                "weight_bits": bits, "state_bits": 0, "binary_input": emits_spikes(src), "cycles": cycles}

    def _pool(self, node):
        from ...ir.ops import Pool2d
        fn = self.ids[node.name]
        (kh, kw), (sh, sw), (ph, pw) = Pool2d.geometry(node)
        c, h_in, w_in = self.graph[node.inputs[0]].shape
        _, h_out, w_out = node.shape
        buf, in_t = self._in(node)
        if node.op == "MaxPool2d":
            init = f"{in_t} best = {in_t}(0);\n        bool any = false;"
            update = "if (!any || value > best) best = value;\n            any = true;"
            store = "best"
        else:
            init = f"{self.t(node, 'accum')} acc = {self.t(node, 'accum')}(0);"
            update = "acc += value;"
            store = "acc"
            if node.op == "AvgPool2d":
                self.constant(f"{fn}_recip", node, "weight", np.array(node.quant["recip"]))
                store = f"acc * {fn}_recip"
        code = template("pool2d.cpp", name=node.name, fn=fn, op=node.op, c=c, h_in=h_in, w_in=w_in,
                        h_out=h_out, w_out=w_out, kh=kh, kw=kw, sh=sh, sw=sw, ph=ph, pw=pw,
                        n_in=c * h_in * w_in, n_out=c * h_out * w_out, in_t=in_t, out_t=self.t(node, "result"),
                        init=init, update=update, store=store)
        mults = c * h_out * w_out if node.op == "AvgPool2d" else 0
        self._emit(node, code, [buf], info={"multipliers": mults, "weight_bits": 0, "state_bits": 0,
                                            "cycles": c * h_out * w_out})  # the pipelined (II=1) j loop

    _avgpool2d = _sumpool2d = _maxpool2d = _pool

    def _add(self, node):
        fn = self.ids[node.name]
        n = math.prod(node.shape)
        ins = [self._in(node, i) for i in range(len(node.inputs))]
        args = ", ".join(f"const {t} x{i}[{n}]" for i, (_, t) in enumerate(ins))
        expr = " + ".join(f"x{i}[k]" for i in range(len(ins)))
        code = template("elementwise.cpp", name=node.name, fn=fn, op="Add", n=n, args=args,
                        out_t=self.t(node, "result"), expr=expr)
        self._emit(node, code, [b for b, _ in ins], info={"multipliers": 0, "weight_bits": 0, "state_bits": 0,
                                                          "cycles": 1})  # unrolled

    def _mul(self, node):
        fn = self.ids[node.name]
        n = math.prod(node.shape)
        ins = [self._in(node, i) for i in range(2)]
        args = ", ".join(f"const {t} x{i}[{n}]" for i, (_, t) in enumerate(ins))
        factors = [f"({cpp_type(SPIKE)}(1) - x{i}[k])" if flag else f"x{i}[k]"
                   for i, flag in enumerate(node.attrs["complement"])]
        code = template("elementwise.cpp", name=node.name, fn=fn, op="Mul", n=n, args=args,
                        out_t=self.t(node, "result"), expr=" * ".join(factors))
        self._emit(node, code, [b for b, _ in ins], info={"multipliers": n, "weight_bits": 0, "state_bits": 0,
                                                          "cycles": 1})  # unrolled

    def _delay(self, node):
        fn = self.ids[node.name]
        src = self.graph[node.inputs[0]]
        code = template("delay.cpp", name=node.name, fn=fn, n=math.prod(node.shape), steps=node.attrs["steps"],
                        out_t=self.t(node, "result"), in_t=self.t(src, "result"))
        self._emit(node, code, [], info={"multipliers": 0, "weight_bits": 0, "cycles": 1,
                                         "state_bits": node.attrs["steps"] * math.prod(node.shape)
                                         * formats(node)["result"].width})
        self.resets.append(f"  {fn}_reset();")

    def _scale(self, node):
        fn = self.ids[node.name]
        n = math.prod(node.shape)
        scale = np.asarray(node.params["scale"])
        buf, in_t = self._in(node)
        if scale.ndim == 0:
            self.constant(f"{fn}_scale", node, "weight", scale)
            expr = f"x[k] * {fn}_scale"
        else:
            self.constant(f"{fn}_scale", node, "weight", np.broadcast_to(scale, node.shape).reshape(-1))
            expr = f"x[k] * {fn}_scale[k]"
        code = template("elementwise.cpp", name=node.name, fn=fn, op="Scale", n=n,
                        args=f"const {in_t} x[{n}]", out_t=self.t(node, "result"), expr=expr)
        bits = (scale.size if scale.ndim else 1) * formats(node)["weight"].width
        self._emit(node, code, [buf], info={"multipliers": n, "weight_bits": bits, "state_bits": 0,
                                            "cycles": 1})  # unrolled

    def _param(self, node, key: str, cls: str) -> str:
        """A neuron parameter as a constant (scalar) or an array over the neurons; its C expression."""
        fn = self.ids[node.name]
        value = np.asarray(node.params[key], dtype=np.float64)
        scalar = value.ndim == 0 or value.size == 1
        if f"{fn}_{key}" not in self.declared:
            self.declared.add(f"{fn}_{key}")
            self.constant(f"{fn}_{key}", node, cls, value.reshape(()) if scalar else
                          np.broadcast_to(value, node.shape).reshape(-1))
        return f"{fn}_{key}" if scalar else f"{fn}_{key}[k]"

    def _neuron(self, node):
        fn = self.ids[node.name]
        a = node.attrs
        n = math.prod(node.shape)
        buf, in_t = self._in(node)
        v_t = self.t(node, "v")
        charge, reset, timing = a["charge"], a["reset"], a["reset_timing"]
        keys = initial_keys(a, node.params.__contains__)  # the state variables: v, then i / b
        state = {var: f"{fn}_{var}[k]" for var in (*keys, "s")}
        program = _CppArithmetic(self, node)
        out_t = self.t(node, "result")
        out = step(program, a, "x[k]", state)
        spike = state["s"]
        if a["output"] != "spikes":  # the state's value now, before the state arrays are written
            out = program.define(out_t, out, "out")
            program.lines.append(f"(void){spike};  // the output is the state: the spike may be unused")
        body = program.lines + [f"{fn}_{var}[k] = {state[var]};" for var in keys if state[var] != f"{fn}_{var}[k]"]
        if timing == "delayed":
            body.append(f"{fn}_s[k] = {spike};  // R of the next step")
        init = {var: program.param(key) if key else f"{self.t(node, var)}(0)" for var, key in keys.items()}
        decls, resets = "", ""
        for var in list(keys)[1:]:
            decls += f"\nstatic {self.t(node, var)} {fn}_{var}[{n}];"
            resets += f"\n    {fn}_{var}[k] = {init[var]};"
        if timing == "delayed":
            decls += f"\nstatic bool {fn}_s[{n}];"
            resets += f"\n    {fn}_s[k] = false;"
        code = template("neuron.cpp", name=node.name, fn=fn, n=n, charge=a["charge"] + (
            " (lif: k = 1/tau)" if node.quant.get("charge_from") == "lif" else ""),
            cmp=">=" if a["compare"] == "ge" else ">", reset=reset, timing=timing, v_t=v_t, in_t=in_t,
            out_t=out_t, v_init=init["v"], state_decls=decls, state_resets=resets,
            body="\n".join("    " + line for line in body), output=f"{spike} ? {out_t}(1) : {out_t}(0)"
            if a["output"] == "spikes" else out)
        fm = formats(node)
        state_bits = sum(n * fm[var].width for var in keys) + (n if timing == "delayed" else 0)
        per_neuron = {"if": 0, "beta": 1, "plif": 1, "cuba": 2}[charge] + (2 if "b" in keys else 0)
        param_bits = sum(np.asarray(node.params[k]).size * fm[PARAM_CLASS[k]].width for k in node.params)
        self._emit(node, code, [buf], stateful=True,
                   info={"multipliers": per_neuron * n, "weight_bits": int(param_bits), "state_bits": state_bits,
                         "cycles": 1})  # unrolled

    def _readout(self, node):
        fn = self.ids[node.name]
        a = node.attrs
        n = self.graph[node.inputs[0]].shape[0]
        buf, in_t = self._in(node)
        out_t = self.t(node, "result")
        rule = a["rule"]
        if a["output_mode"] == "spike":
            decision = {"argmax_spike_count": "best", "first_to_threshold": f"{fn}_first",
                        "threshold_then_argmax": f"{fn}_first >= 0 ? {fn}_first : best",
                        "binary_logit": f"{fn}_count[1] - {fn}_count[0]"}[rule]
            code = template("readout_spike.cpp", name=node.name, fn=fn, n=n, rule=rule,
                            class_threshold=a["class_threshold"], in_t=in_t, out_t=out_t, decision=decision)
            state_bits = 32 * (n + 1)
            mults, wbits = 0, 0
            cycles = 3 * n - 1  # count, first-to-threshold (at most n) and argmax loops
        else:
            self.constant(f"{fn}_beta", node, "decay", np.asarray(node.params["beta"]))
            decision = f"{out_t}(best)" if rule == "argmax_membrane" else f"{fn}_mem[1] - {fn}_mem[0]"
            code = template("readout_membrane.cpp", name=node.name, fn=fn, n=n, rule=rule,
                            mem_t=self.t(node, "mem"), in_t=in_t, out_t=out_t, decision=decision)
            state_bits = n * formats(node)["mem"].width
            mults, wbits = n, formats(node)["decay"].width
            cycles = 1 + (n - 1)  # the unrolled update, the argmax loop
        self._emit(node, code, [buf], stateful=True,
                   info={"multipliers": mults, "weight_bits": wbits, "state_bits": state_bits, "cycles": cycles})

    # --- the whole model ---------------------------------------------------------------------------
    def info(self) -> dict:
        g = self.graph
        window = _window(g)
        outputs = []
        offset = 0
        for node in g.outputs:
            size = math.prod(node.shape)
            outputs.append({"name": node.name, "shape": list(node.shape), "offset": offset, "size": size,
                            "array": self.buffer[node.name], "type": self.t(g[node.inputs[0]], "result")})
            offset += size
        return {"window": window, "outputs": outputs, "n_out_total": offset, "recorded": self.recorded,
                "n_rec_total": sum(r["size"] for r in self.recorded)}


def _window(graph) -> int:
    from ...ir.interpreter import window_of
    return window_of(graph)


def lower(graph, out_dir, options: dict | None = None) -> None:
    """Write the C++ project for ``graph`` (quantized for ``hls``) into ``out_dir``."""
    options = dict(options or {})
    check(graph, options)
    out = Path(out_dir)
    low = _Lowering(graph, options)
    info = low.run()
    window = info["window"]
    in_node = graph.inputs[0]
    n_in = math.prod(in_node.shape)
    in_shape = ", ".join(map(str, in_node.shape))
    top_args = ", ".join([f"const input_t x[{n_in}]"] + [f"{o['type']} y{i}[{o['size']}]"
                                                         for i, o in enumerate(info["outputs"])])
    window_comment = (f"after every {window} steps (the window) the decision of the window's last step "
                      "is out and all state resets." if window else
                      "the model has no window: state resets only through the reset function.")
    copies = "\n".join(f"  for (int k = 0; k < {o['size']}; ++k) y{i}[k] = {o['array']}[k];"
                       for i, o in enumerate(info["outputs"]))
    (out / "firmware").mkdir(parents=True, exist_ok=True)
    (out / "tb").mkdir(exist_ok=True)
    shutil.copyfile(HEADER, out / "firmware" / "snnc_fixed.h")
    sizes = "\n".join(f"static const int SNNC_N_OUT{i} = {o['size']};  // {o['name']}: shape {tuple(o['shape'])}"
                      for i, o in enumerate(info["outputs"]))
    (out / "firmware" / f"{TOP}.h").write_text(template(
        "model.h", top=TOP, n_in=n_in, in_shape=f"({in_shape})", window=window, window_comment=window_comment,
        typedefs="\n".join(low.typedefs), top_args=top_args, output_sizes=sizes))
    blob, table = pack_tensors([(c.name, c.codes()) for c in low.constants])
    (out / "firmware" / WEIGHTS_FILE).write_bytes(blob)
    (out / "firmware" / "weights.h").write_text(template(
        "weights.h", top=TOP, declarations="\n".join(c.declaration() for c in low.constants),
        loads="".join(f" &&\n      snnc_load_array(f, path, \"{c.name}\", {c.first()}, {c.values.size}, {t['offset']}, "
                      f"{c.code_bytes})" for c, t in zip(low.constants, table))))
    (out / "tools").mkdir(exist_ok=True)
    (out / "tools" / "weights_rom.cpp").write_text(template("weights_rom.cpp", table=",\n".join(
        f'  {{"static const {c.ctype} {c.name}{"".join(f"[{d}]" for d in c.values.shape)}", {c.values.size}, '
        f'{t["offset"]}, {c.code_bytes}, {c.fmt.frac_bits}, {str(c.values.ndim == 0).lower()}}}'
        for c, t in zip(low.constants, table))))
    last = "false" if not window else f"snnc_step == {window - 1}"
    (out / "firmware" / f"{TOP}.cpp").write_text(template(
        "model.cpp", top=TOP, layers="\n\n".join(low.layers), resets="\n".join(low.resets) or "",
        top_args=top_args, last_expr=last, top_pragmas="\n".join(
            ["#pragma HLS ARRAY_PARTITION variable=x complete"] +
            [f"#pragma HLS ARRAY_PARTITION variable=y{i} complete" for i in range(len(info["outputs"]))]),
        calls="\n".join(low.calls) + ("\n" + copies if copies else "")))
    out_decls = "\n".join(f"  {o['type']} y{i}[{o['size']}];" for i, o in enumerate(info["outputs"]))
    out_copies = "\n".join(f"      for (int k = 0; k < {o['size']}; ++k) dst[{o['offset']} + k] = y{i}[k].to_double();"
                           for i, o in enumerate(info["outputs"]))
    (out / "tb" / "testbench.cpp").write_text(template(
        "testbench.cpp", top=TOP, n_in=n_in, in_shape=in_shape, n_out_total=info["n_out_total"],
        outputs_doc=", ".join(f"{o['name']} {tuple(o['shape'])}" for o in info["outputs"]),
        in_t="input_t", out_decls=out_decls, n_rec_total=max(1, info["n_rec_total"]), out_copies=out_copies,
        call_args=", ".join(["x"] + [f"y{i}" for i in range(len(info["outputs"]))])))
    (out / "Makefile").write_text(template("Makefile", top=TOP, cxxflags=CXXFLAGS))
    (out / "vitis_hls.tcl").write_text(template("vitis_hls.tcl", top=TOP))
    (out / "README.md").write_text(template(
        "README.md", top=TOP, in_shape=f"({in_shape})", in_t=f"input_t = {cpp_type(formats(in_node)['result'])}",
        window_comment=window_comment, cxxflags=CXXFLAGS, n_in=n_in, n_out_total=info["n_out_total"]))
    model = {"format": "snnc-hls", "version": FORMAT_VERSION, "top": TOP, "cxxflags": CXXFLAGS,
             "input": {"name": in_node.name, "shape": list(in_node.shape), "format": str(formats(in_node)["result"])},
             "outputs": [{k: o[k] for k in ("name", "shape", "offset", "size")} for o in info["outputs"]],
             "n_out_total": info["n_out_total"], "window": window, "recorded": info["recorded"],
             "n_rec_total": info["n_rec_total"], "layers": low.layer_info,
             "sources": list(SOURCES),
             "weights": [{**t, "type": c.ctype, "format": str(c.fmt), "frac_bits": c.fmt.frac_bits}
                         for c, t in zip(low.constants, table)],
             "files": sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) + ["model.json"]}
    (out / "model.json").write_text(json.dumps(model, indent=1) + "\n")


__all__ = ["lower", "cpp_type", "c_identifiers", "CXXFLAGS", "SOURCES", "TOP", "WEIGHTS_FILE", "Constant"]
