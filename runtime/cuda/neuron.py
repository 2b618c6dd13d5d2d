"""Neuron forward (FPTT) and backward (BPTT) kernels over ``[T, N]``, generated for float or half2.

The base classes hold fire, reset and the BPTT recurrence (Fang et al., SpikingJelly, Science Advances 2023, Alg. 3); a neuron overrides
only its charge equation (:meth:`NeuronFPTT.charge`) and the two derivatives of ``H`` with respect to
``X`` and ``V[t-1]`` (:meth:`NeuronBPTT.grad_tail`, which writes ``gX`` and the next ``gV``).

forward, per step: ``H = charge(V, X)``; ``S = Θ(H - v_th)``; ``V = H·(1-S) + v_reset·S`` (hard) or
``V = H - v_th·S`` (soft); stores ``S``, ``H`` (for backward; ``store_h=False`` when no gradient is
wanted) and optionally ``V``.
backward, reverse time: ``gH = gS·σ'(H-v_th) + gV·(∂V/∂H + [not detach]·∂V/∂S·σ'(H-v_th))``;
``gX = gH·∂H/∂X``; ``gV ← gH·∂H/∂V``.

Hyperparameters (``v_th``, lif ``tau``, cuba ``alpha``/``beta``) are a float32 scalar, or — named in
``per_neuron`` — an array of one value per neuron in the kernel's dtype (the host casts it to the
tensor's dtype, as the Triton path does). Rounding follows PyTorch on CUDA: an operation with a scalar
is computed in float and rounded once (:func:`cfunction.scalar_op`), one with a per-neuron value is an
ordinary operation in the dtype. PLIF's ``k`` is read from device memory (no host sync); in half2 it is
rounded to half first, as PyTorch casts the float32 0-d tensor to the operand's dtype.
"""

from __future__ import annotations

from . import cfunction as cf
from .base import CKernel2D, CodeTyper

HEADER = "#include <cuda_fp16.h>\n"


def _header(dtype: str) -> str:
    return HEADER + (cf.HALF2_SCALAR_HELPERS if dtype == "half2" else "")


class _Hypers:
    """Scalar-or-per-neuron hyperparameters and the operations on them."""

    dtype: str
    per_neuron: frozenset

    def add_hyper(self, name: str) -> None:
        self.add_param(f"const {self.dtype}*" if name in self.per_neuron else "const float", name)

    def hyper_loads(self, code: CodeTyper) -> None:
        for name in sorted(self.per_neuron):
            code.append(f"const {self.dtype} {name}_n = {name}[index];")

    def op(self, op: str, x: str, name: str) -> str:
        """``x op name`` (``r-``: ``name - x``) for a hyperparameter ``name``, rounded as PyTorch does."""
        d = self.dtype
        if name not in self.per_neuron:
            return cf.scalar_op(None, op, x, name, d)
        value = f"{name}_n"
        if op == "r-":
            return cf.sub(None, value, x, d)
        if op == "/" and d == "half2":
            return f"snnc_div_h2h2({x}, {value})"
        return {"+": cf.add, "-": cf.sub, "*": cf.mul, "/": cf.div}[op](None, x, value, d)

    def neg_hyper(self, name: str) -> str:
        if name in self.per_neuron:
            return f"-{name}_n" if self.dtype == "float" else f"__hneg2({name}_n)"
        return f"-{name}" if self.dtype == "float" else cf.float2half2(None, f"-{name}")

    def reset_expr(self, h: str, spike: str) -> str:
        """``V`` after the reset of ``h`` with spike ``spike``."""
        d = self.dtype
        if self.hard_reset:
            one = cf.constant(None, 1.0, d)
            back = f"(v_reset * {spike})" if d == "float" else cf.scalar_op(None, "*", spike, "v_reset", d)
            return cf.add(None, cf.mul(None, h, cf.sub(None, one, spike, d), d), back, d)
        if "v_th" in self.per_neuron:
            drop = cf.mul(None, "v_th_n", spike, d)
        else:
            drop = f"(v_th * {spike})" if d == "float" else cf.scalar_op(None, "*", spike, "v_th", d)
        return cf.sub(None, h, drop, d)

    def suffix(self) -> str:
        return "_pn_" + "_".join(sorted(self.per_neuron)) if self.per_neuron else ""


class NeuronFPTT(_Hypers, CKernel2D):
    """Forward kernel; subclasses implement :meth:`charge` (``h`` from ``x_seq[t]`` and ``v``)."""

    neuron = "neuron"
    hypers: tuple[str, ...] = ()  # per-neuron-capable parameters besides v_th

    def __init__(self, hard_reset: bool, dtype: str, store_v: bool = False, per_neuron=(), store_h: bool = True):
        cf._check(dtype)
        self.hard_reset, self.dtype, self.store_v, self.store_h = hard_reset, dtype, store_v, store_h
        self.per_neuron = frozenset(per_neuron)
        unknown = self.per_neuron - {"v_th", *self.hypers}
        if unknown:
            raise ValueError(f"{type(self).__name__}: no per-neuron form for {sorted(unknown)}")
        name = (f"{self.neuron}_fptt_{'hard' if hard_reset else 'soft'}_{dtype}" + ("_vseq" if store_v else "")
                + ("" if store_h else "_noh") + self.suffix())
        super().__init__(name, reverse=False)
        t = dtype
        self.add_param(f"const {t}*", "x_seq")
        self.add_param(f"{t}*", "spike_seq")
        if store_h:
            self.add_param(f"{t}*", "h_seq")
        if store_v:
            self.add_param(f"{t}*", "v_seq")
        self.add_param(f"const {t}*", "v_init")
        self.add_param(f"{t}*", "v_last")
        self.add_hyper("v_th")
        self.add_param("const float", "v_reset")
        self.add_extra_params()

    def add_extra_params(self) -> None:
        """Parameters of the charge equation (none for IF)."""

    def charge(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def extra_pre(self, code: CodeTyper) -> None:
        """Statements before the time loop (extra state, parameters read from memory)."""

    def extra_post(self, code: CodeTyper) -> None:
        """Statements after the time loop (extra state written back)."""

    @property
    def pre_core(self) -> str:
        code = CodeTyper(2)
        self.hyper_loads(code)
        code.append(f"{self.dtype} v = v_init[index];")
        self.extra_pre(code)
        return code.codes

    @property
    def core(self) -> str:
        d, code = self.dtype, CodeTyper(3)
        code.append(f"const {d} x = x_seq[t];")
        code.append(f"{d} h;")
        code.append(self.charge())
        code.append(f"const {d} spike = {cf.heaviside(None, self.op('-', 'h', 'v_th'), d)};")
        code.append("spike_seq[t] = spike;")
        if self.store_h:
            code.append("h_seq[t] = h;")
        code.append(f"v = {self.reset_expr('h', 'spike')};")
        if self.store_v:
            code.append("v_seq[t] = v;")
        return code.codes

    @property
    def post_core(self) -> str:
        code = CodeTyper(2)
        code.append("v_last[index] = v;")
        self.extra_post(code)
        return code.codes

    @property
    def full_codes(self) -> str:
        return _header(self.dtype) + super().full_codes


class NeuronBPTT(_Hypers, CKernel2D):
    """Backward kernel; subclasses write ``gX`` and the next ``gV`` from ``grad_h`` (:meth:`grad_tail`)."""

    neuron = "neuron"
    hypers: tuple[str, ...] = ()

    def __init__(self, hard_reset: bool, detach_reset: bool, surrogate: str, surrogate_params: tuple,
                 dtype: str, per_neuron=()):
        cf._check(dtype)
        self.hard_reset, self.detach_reset, self.dtype = hard_reset, detach_reset, dtype
        self.surrogate, self.surrogate_params = surrogate, tuple(surrogate_params)
        self.per_neuron = frozenset(per_neuron)
        unknown = self.per_neuron - {"v_th", *self.hypers}
        if unknown:
            raise ValueError(f"{type(self).__name__}: no per-neuron form for {sorted(unknown)}")
        name = (f"{self.neuron}_bptt_{'hard' if hard_reset else 'soft'}_{'detach' if detach_reset else 'nodetach'}"
                f"_{surrogate}_{dtype}" + self.suffix())
        super().__init__(name, reverse=True)
        t = dtype
        self.add_param(f"const {t}*", "grad_spike_seq")
        self.add_param(f"const {t}*", "h_seq")
        self.add_param(f"{t}*", "grad_x_seq")
        self.add_param(f"const {t}*", "grad_v_last")
        self.add_param(f"{t}*", "grad_v_init")
        self.add_hyper("v_th")
        self.add_param("const float", "v_reset")
        self.add_extra_params()

    def add_extra_params(self) -> None:
        pass

    def extra_pre(self, code: CodeTyper) -> None:
        pass

    def extra_post(self, code: CodeTyper) -> None:
        pass

    def grad_tail(self, code: CodeTyper) -> None:
        """``gX`` (``grad_x_seq[t]``) and the next ``grad_v`` from ``grad_h`` (IF: both are ``gH``)."""
        code.append("grad_x_seq[t] = grad_h;")
        code.append("grad_v = grad_h;")

    @property
    def pre_core(self) -> str:
        code = CodeTyper(2)
        self.hyper_loads(code)
        code.append(f"{self.dtype} grad_v = grad_v_last[index];")
        self.extra_pre(code)
        return code.codes

    @property
    def core(self) -> str:
        d, code = self.dtype, CodeTyper(3)
        one = cf.constant(None, 1.0, d)
        code.append(f"const {d} h = h_seq[t];")
        code.append(f"const {d} over_th = {self.op('-', 'h', 'v_th')};")
        code.append(f"const {d} spike = {cf.heaviside(None, 'over_th', d)};")
        code.append(f"{d} sg;")
        code.append(cf.surrogate_backward("sg", "over_th", self.surrogate, self.surrogate_params, d))
        if self.hard_reset:
            code.append(f"{d} grad_v_to_h = {cf.sub(None, one, 'spike', d)};")
            dv_ds = cf.scalar_op(None, "r-", "h", "v_reset", d)
        else:
            code.append(f"{d} grad_v_to_h = {one};")
            dv_ds = self.neg_hyper("v_th")
        if not self.detach_reset:
            code.append(cf.add("grad_v_to_h", "grad_v_to_h", cf.mul(None, dv_ds, "sg", d), d))
        code.append(f"const {d} grad_h = " + cf.add(None, cf.mul(None, "grad_spike_seq[t]", "sg", d),
                                                     cf.mul(None, "grad_v", "grad_v_to_h", d), d) + ";")
        self.grad_tail(code)
        return code.codes

    @property
    def post_core(self) -> str:
        code = CodeTyper(2)
        code.append("grad_v_init[index] = grad_v;")
        self.extra_post(code)
        return code.codes

    @property
    def full_codes(self) -> str:
        return _header(self.dtype) + super().full_codes


# neurons: charge + two derivatives ---------------------------------------------------------------
class IFFPTT(NeuronFPTT):
    """``H = V + X``."""

    neuron = "if"

    def charge(self):
        return cf.add("h", "v", "x", self.dtype)


class IFBPTT(NeuronBPTT):
    neuron = "if"


class LIFFPTT(NeuronFPTT):
    """``H = V + (X - (V - v_leak))·r`` (decay_input) or ``H = V - (V - v_leak)·r + X``, where ``·r`` is
    ``/ tau`` or ``* inv_tau`` (``tau_recip``: PyTorch on CUDA divides by a number that way); a per-neuron
    ``tau`` is a true division."""

    neuron = "lif"
    hypers = ("tau",)

    def __init__(self, hard_reset, dtype, decay_input: bool = True, tau_recip: bool = True, store_v=False,
                 per_neuron=(), store_h: bool = True):
        self.decay_input, self.tau_recip = decay_input, tau_recip
        self.neuron = f"lif_{'decay' if decay_input else 'nodecay'}_{'recip' if tau_recip else 'div'}"
        super().__init__(hard_reset, dtype, store_v, per_neuron, store_h)

    def add_extra_params(self):
        self.add_hyper("tau")
        self.add_param("const float", "inv_tau")
        self.add_param("const float", "v_leak")

    def _scale(self, expr):
        if self.tau_recip and "tau" not in self.per_neuron:
            return self.op("*", expr, "inv_tau")
        return self.op("/", expr, "tau")

    def charge(self):
        d = self.dtype
        v_minus = cf.scalar_op(None, "-", "v", "v_leak", d)
        if self.decay_input:
            return cf.add("h", "v", self._scale(cf.sub(None, "x", v_minus, d)), d)
        return cf.add("h", cf.sub(None, "v", self._scale(v_minus), d), "x", d)


class LIFBPTT(NeuronBPTT):
    neuron = "lif"
    hypers = ("tau",)

    def __init__(self, hard_reset, detach_reset, surrogate, surrogate_params, dtype, decay_input: bool = True,
                 per_neuron=()):
        self.decay_input = decay_input
        self.neuron = f"lif_{'decay' if decay_input else 'nodecay'}"
        super().__init__(hard_reset, detach_reset, surrogate, surrogate_params, dtype, per_neuron)

    def add_extra_params(self):
        self.add_hyper("tau")
        self.add_param("const float", "inv_tau")

    def extra_pre(self, code):
        if "tau" in self.per_neuron:
            d = self.dtype
            one = cf.constant(None, 1.0, d)
            code.append(f"const {d} inv_tau_n = {cf.div(None, one, 'tau_n', d)};")
            code.append(f"const {d} keep_n = {cf.sub(None, one, 'inv_tau_n', d)};")

    def grad_tail(self, code):
        d = self.dtype
        if "tau" in self.per_neuron:
            to_x, to_v = cf.mul(None, "grad_h", "inv_tau_n", d), cf.mul(None, "grad_h", "keep_n", d)
        else:
            to_x = cf.scalar_op(None, "*", "grad_h", "inv_tau", d)
            to_v = cf.scalar_op(None, "*", "grad_h", "(1.0f - inv_tau)", d)
        code.append(f"grad_x_seq[t] = {to_x if self.decay_input else 'grad_h'};")
        code.append(f"grad_v = {to_v};")


def _k_load(dtype: str) -> str:
    """PLIF's ``k`` from memory, as PyTorch multiplies by it (rounded to half for half2)."""
    return "const float k = " + ("k_ptr[0];" if dtype == "float" else "__half2float(__float2half_rn(k_ptr[0]));")


class PLIFFPTT(NeuronFPTT):
    """``H = V + (X - (V - v_leak))·k`` (decay_input) or ``H = V - (V - v_leak)·k + X``, ``k = sigmoid(w)``
    read from device memory."""

    neuron = "plif"

    def __init__(self, hard_reset, dtype, decay_input: bool = True, store_v=False, per_neuron=(),
                 store_h: bool = True):
        self.decay_input = decay_input
        self.neuron = f"plif_{'decay' if decay_input else 'nodecay'}"
        super().__init__(hard_reset, dtype, store_v, per_neuron, store_h)

    def add_extra_params(self):
        self.add_param("const float*", "k_ptr")
        self.add_param("const float", "v_leak")

    def extra_pre(self, code):
        code.append(_k_load(self.dtype))

    def charge(self):
        d = self.dtype
        v_minus = cf.scalar_op(None, "-", "v", "v_leak", d)
        if self.decay_input:
            return cf.add("h", "v", cf.scalar_op(None, "*", cf.sub(None, "x", v_minus, d), "k", d), d)
        return cf.add("h", cf.sub(None, "v", cf.scalar_op(None, "*", v_minus, "k", d), d), "x", d)


class PLIFBPTT(NeuronBPTT):
    """Also ``grad_k[index] = Σ_t gH·∂H/∂k`` per thread (both half2 lanes summed), ``∂H/∂k = X - (V[t-1] -
    v_leak)`` (decay_input) or ``-(V[t-1] - v_leak)``; ``V[t-1]`` is recomputed from ``H[t-1]`` (or is
    ``v_init``)."""

    neuron = "plif"

    def __init__(self, hard_reset, detach_reset, surrogate, surrogate_params, dtype, decay_input: bool = True,
                 per_neuron=()):
        self.decay_input = decay_input
        self.neuron = f"plif_{'decay' if decay_input else 'nodecay'}"
        super().__init__(hard_reset, detach_reset, surrogate, surrogate_params, dtype, per_neuron)

    def add_extra_params(self):
        self.add_param("const float*", "k_ptr")
        self.add_param("const float", "v_leak")
        if self.decay_input:
            self.add_param(f"const {self.dtype}*", "x_seq")
        self.add_param(f"const {self.dtype}*", "v_init")
        self.add_param("float*", "grad_k")

    def extra_pre(self, code):
        code.append(_k_load(self.dtype))
        code.append("float gk = 0.0f;")

    def grad_tail(self, code):
        d = self.dtype
        code.append(f"{d} v_prev = v_init[index];")
        code.append("if (t >= dt) {")
        code.append(f"const {d} h_prev = h_seq[t - dt];")
        code.append(f"const {d} spike_prev = {cf.heaviside(None, self.op('-', 'h_prev', 'v_th'), d)};")
        code.append(f"v_prev = {self.reset_expr('h_prev', 'spike_prev')};")
        code.append("}")
        v_minus = cf.scalar_op(None, "-", "v_prev", "v_leak", d)
        dk = cf.sub(None, "x_seq[t]", v_minus, d) if self.decay_input else v_minus
        sign = "+" if self.decay_input else "-"
        if d == "float":
            code.append(f"gk {sign}= grad_h * {dk};")
        else:
            code.append(f"const float2 gh_f = __half22float2(grad_h);")
            code.append(f"const float2 dk_f = __half22float2({dk});")
            code.append(f"gk {sign}= gh_f.x * dk_f.x + gh_f.y * dk_f.y;")
        to_x = cf.scalar_op(None, "*", "grad_h", "k", d)
        code.append(f"grad_x_seq[t] = {to_x if self.decay_input else 'grad_h'};")
        code.append(f"grad_v = {cf.scalar_op(None, '*', 'grad_h', '(1.0f - k)', d)};")

    def extra_post(self, code):
        code.append("grad_k[index] = gk;")


class CubaFPTT(NeuronFPTT):
    """``I = I·alpha + X``; ``H = V·beta + I`` (state ``I`` in and out)."""

    neuron = "cuba"
    hypers = ("alpha", "beta")

    def add_extra_params(self):
        self.add_hyper("alpha")
        self.add_hyper("beta")
        self.add_param(f"const {self.dtype}*", "i_init")
        self.add_param(f"{self.dtype}*", "i_last")

    def extra_pre(self, code):
        code.append(f"{self.dtype} i = i_init[index];")

    def charge(self):
        d = self.dtype
        return (cf.add("i", self.op("*", "i", "alpha"), "x", d) + " "
                + cf.add("h", self.op("*", "v", "beta"), "i", d))

    def extra_post(self, code):
        code.append("i_last[index] = i;")


class CubaBPTT(NeuronBPTT):
    """``gI ← gH + gI``; ``gX = gI``; ``gV ← gH·beta``; ``gI ← gI·alpha``."""

    neuron = "cuba"
    hypers = ("alpha", "beta")

    def add_extra_params(self):
        self.add_hyper("alpha")
        self.add_hyper("beta")
        self.add_param(f"const {self.dtype}*", "grad_i_last")
        self.add_param(f"{self.dtype}*", "grad_i_init")

    def extra_pre(self, code):
        code.append(f"{self.dtype} grad_i = grad_i_last[index];")

    def grad_tail(self, code):
        d = self.dtype
        code.append(cf.add("grad_i", "grad_h", "grad_i", d))
        code.append("grad_x_seq[t] = grad_i;")
        code.append(f"grad_v = {self.op('*', 'grad_h', 'beta')};")
        code.append(f"grad_i = {self.op('*', 'grad_i', 'alpha')};")

    def extra_post(self, code):
        code.append("grad_i_init[index] = grad_i;")


NEURONS = {"if": (IFFPTT, IFBPTT), "lif": (LIFFPTT, LIFBPTT), "plif": (PLIFFPTT, PLIFBPTT),
           "cuba": (CubaFPTT, CubaBPTT)}
