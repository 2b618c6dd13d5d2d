"""Neuron forward (FPTT) and backward (BPTT) kernels over ``[T, N]``, generated for float or half2.

The base classes hold fire, reset and the BPTT recurrence (seed 002, Alg. 3); a neuron overrides
only its charge equation (:meth:`NeuronFPTT.charge`) and the two derivatives of ``H`` with respect to
``X`` and ``V[t-1]`` (:meth:`NeuronBPTT.grad_h_to_x`, :meth:`NeuronBPTT.grad_h_to_v`).

forward, per step: ``H = charge(V, X)``; ``S = Θ(H - v_th)``; ``V = H·(1-S) + v_reset·S`` (hard) or
``V = H - v_th·S`` (soft); stores ``S``, ``H`` (for backward) and optionally ``V``.
backward, reverse time: ``gH = gS·σ'(H-v_th) + gV·(∂V/∂H + [not detach]·∂V/∂S·σ'(H-v_th))``;
``gX = gH·∂H/∂X``; ``gV ← gH·∂H/∂V``.
"""

from __future__ import annotations

from . import cfunction as cf
from .base import INDENT, CKernel2D, CodeTyper

HEADER = "#include <cuda_fp16.h>\n"


def _header(dtype: str) -> str:
    return HEADER + (cf.HALF2_SCALAR_HELPERS if dtype == "half2" else "")


class NeuronFPTT(CKernel2D):
    """Forward kernel; subclasses implement :meth:`charge` (``h`` from ``x_seq[t]`` and ``v``)."""

    neuron = "neuron"

    def __init__(self, hard_reset: bool, dtype: str, store_v: bool = False):
        self.hard_reset, self.dtype, self.store_v = hard_reset, dtype, store_v
        name = f"{self.neuron}_fptt_{'hard' if hard_reset else 'soft'}_{dtype}" + ("_vseq" if store_v else "")
        super().__init__(name, reverse=False)
        t = dtype
        self.add_param(f"const {t}*", "x_seq")
        self.add_param(f"{t}*", "spike_seq")
        self.add_param(f"{t}*", "h_seq")
        if store_v:
            self.add_param(f"{t}*", "v_seq")
        self.add_param(f"const {t}*", "v_init")
        self.add_param(f"{t}*", "v_last")
        self.add_param("const float", "v_th")
        self.add_param("const float", "v_reset")
        self.add_extra_params()

    def add_extra_params(self) -> None:
        """Parameters of the charge equation (none for IF)."""

    def charge(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def pre_core(self) -> str:
        code = CodeTyper(2)
        code.append(f"{self.dtype} v = v_init[index];")
        return code.codes

    @property
    def core(self) -> str:
        d, code = self.dtype, CodeTyper(3)
        code.append(f"const {d} x = x_seq[t];")
        code.append(f"{d} h;")
        code.append(self.charge())
        code.append(f"const {d} spike = {cf.heaviside(None, cf.scalar_op(None, '-', 'h', 'v_th', d), d)};")
        code.append("spike_seq[t] = spike;")
        code.append("h_seq[t] = h;")
        if self.hard_reset:
            one = cf.constant(None, 1.0, d)
            reset = "(v_reset * spike)" if d == "float" else cf.scalar_op(None, "*", "spike", "v_reset", d)
            code.append(cf.add("v", cf.mul(None, "h", cf.sub(None, one, "spike", d), d), reset, d))
        else:
            drop = "(v_th * spike)" if d == "float" else cf.scalar_op(None, "*", "spike", "v_th", d)
            code.append(cf.sub("v", "h", drop, d))
        if self.store_v:
            code.append("v_seq[t] = v;")
        return code.codes

    @property
    def post_core(self) -> str:
        return 2 * INDENT + "v_last[index] = v;\n"

    @property
    def full_codes(self) -> str:
        return _header(self.dtype) + super().full_codes


class NeuronBPTT(CKernel2D):
    """Backward kernel; subclasses give ``∂H/∂X`` and ``∂H/∂V`` as expressions (None = 1)."""

    neuron = "neuron"

    def __init__(self, hard_reset: bool, detach_reset: bool, surrogate: str, surrogate_params: tuple,
                 dtype: str):
        self.hard_reset, self.detach_reset, self.dtype = hard_reset, detach_reset, dtype
        self.surrogate, self.surrogate_params = surrogate, tuple(surrogate_params)
        name = (f"{self.neuron}_bptt_{'hard' if hard_reset else 'soft'}_{'detach' if detach_reset else 'nodetach'}"
                f"_{surrogate}_{dtype}")
        super().__init__(name, reverse=True)
        t = dtype
        self.add_param(f"const {t}*", "grad_spike_seq")
        self.add_param(f"const {t}*", "h_seq")
        self.add_param(f"{t}*", "grad_x_seq")
        self.add_param(f"const {t}*", "grad_v_last")
        self.add_param(f"{t}*", "grad_v_init")
        self.add_param("const float", "v_th")
        self.add_param("const float", "v_reset")
        self.add_extra_params()

    def add_extra_params(self) -> None:
        pass

    def grad_h_to_x(self) -> str | None:
        """``∂H/∂X`` as a float expression of the kernel's parameters (None: 1)."""
        return None

    def grad_h_to_v(self) -> str | None:
        """``∂H/∂V[t-1]`` as a float expression of the kernel's parameters (None: 1)."""
        return None

    @property
    def pre_core(self) -> str:
        code = CodeTyper(2)
        code.append(f"{self.dtype} grad_v = grad_v_last[index];")
        return code.codes

    @property
    def core(self) -> str:
        d, code = self.dtype, CodeTyper(3)
        one = cf.constant(None, 1.0, d)
        code.append(f"const {d} h = h_seq[t];")
        code.append(f"const {d} over_th = {cf.scalar_op(None, '-', 'h', 'v_th', d)};")
        code.append(f"const {d} spike = {cf.heaviside(None, 'over_th', d)};")
        code.append(f"{d} sg;")
        code.append(cf.surrogate_backward("sg", "over_th", self.surrogate, self.surrogate_params, d))
        if self.hard_reset:
            code.append(f"{d} grad_v_to_h = {cf.sub(None, one, 'spike', d)};")
            dv_ds = cf.scalar_op(None, "r-", "h", "v_reset", d)
        else:
            code.append(f"{d} grad_v_to_h = {one};")
            dv_ds = "-v_th" if d == "float" else cf.float2half2(None, "-v_th")
        if not self.detach_reset:
            code.append(cf.add("grad_v_to_h", "grad_v_to_h", cf.mul(None, dv_ds, "sg", d), d))
        code.append(f"const {d} grad_h = " + cf.add(None, cf.mul(None, "grad_spike_seq[t]", "sg", d),
                                                     cf.mul(None, "grad_v", "grad_v_to_h", d), d) + ";")
        to_x, to_v = self.grad_h_to_x(), self.grad_h_to_v()
        code.append("grad_x_seq[t] = " + ("grad_h" if to_x is None else cf.scalar_op(None, "*", "grad_h", to_x, d))
                    + ";")
        code.append("grad_v = " + ("grad_h" if to_v is None else cf.scalar_op(None, "*", "grad_h", to_v, d)) + ";")
        return code.codes

    @property
    def post_core(self) -> str:
        return 2 * INDENT + "grad_v_init[index] = grad_v;\n"

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
    ``/ tau`` or ``* inv_tau`` (``tau_recip``: PyTorch on CUDA divides by a number that way)."""

    neuron = "lif"

    def __init__(self, hard_reset, dtype, decay_input: bool = True, tau_recip: bool = True, store_v=False):
        self.decay_input, self.tau_recip = decay_input, tau_recip
        self.neuron = f"lif_{'decay' if decay_input else 'nodecay'}_{'recip' if tau_recip else 'div'}"
        super().__init__(hard_reset, dtype, store_v)

    def add_extra_params(self):
        self.add_param("const float", "tau")
        self.add_param("const float", "inv_tau")
        self.add_param("const float", "v_leak")

    def _scale(self, expr):
        d = self.dtype
        if self.tau_recip:
            return cf.scalar_op(None, "*", expr, "inv_tau", d)
        return cf.scalar_op(None, "/", expr, "tau", d)

    def charge(self):
        d = self.dtype
        v_minus = cf.scalar_op(None, "-", "v", "v_leak", d)
        if self.decay_input:
            return cf.add("h", "v", self._scale(cf.sub(None, "x", v_minus, d)), d)
        return cf.add("h", cf.sub(None, "v", self._scale(v_minus), d), "x", d)


class LIFBPTT(NeuronBPTT):
    neuron = "lif"

    def __init__(self, hard_reset, detach_reset, surrogate, surrogate_params, dtype, decay_input: bool = True):
        self.decay_input = decay_input
        self.neuron = f"lif_{'decay' if decay_input else 'nodecay'}"
        super().__init__(hard_reset, detach_reset, surrogate, surrogate_params, dtype)

    def add_extra_params(self):
        self.add_param("const float", "inv_tau")

    def grad_h_to_x(self):
        return "inv_tau" if self.decay_input else None

    def grad_h_to_v(self):
        return "(1.0f - inv_tau)"


NEURONS = {"if": (IFFPTT, IFBPTT), "lif": (LIFFPTT, LIFBPTT)}
