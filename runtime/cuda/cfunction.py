"""C helpers that emit ``float`` or ``half2`` code for one operation.

Each function returns code: with ``y`` a variable name, a statement ``y = ...;`` (``y`` must be
declared), with ``y=None`` the bare expression. Arithmetic between two half2 values uses the half2
intrinsics (each rounds once, as PyTorch's float16 ops do: float computes a sum, difference or product
of two halves exactly enough that one rounding to half gives the same result). An operation with a
float32 hyperparameter goes through :func:`scalar_op`: PyTorch keeps a Python-number operand in float32
("opmath") and rounds only the result, so both lanes are computed in float and rounded once; rounding
the scalar to half first (``__float2half2_rn(v_th)``) would differ. The surrogate derivatives are
computed per lane in float and packed back (``surrogate_backward``).
"""

from __future__ import annotations

DTYPES = ("float", "half2")


def _check(dtype: str) -> None:
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")


def wrap_return_codes(y: str | None, codes: str) -> str:
    return codes if y is None else f"{y} = {codes};"


def constant(y: str | None, x: float, dtype: str) -> str:
    _check(dtype)
    literal = f"{float(x)!r}f"
    return wrap_return_codes(y, literal if dtype == "float" else f"__float2half2_rn({literal})")


def float2half2(y: str | None, x: str) -> str:
    return wrap_return_codes(y, f"__float2half2_rn({x})")


def _binary(op: str, intrinsic: str, z, x, y, dtype):
    _check(dtype)
    return wrap_return_codes(z, f"({x} {op} {y})" if dtype == "float" else f"{intrinsic}({x}, {y})")


def add(z, x, y, dtype):
    return _binary("+", "__hadd2", z, x, y, dtype)


def sub(z, x, y, dtype):
    return _binary("-", "__hsub2", z, x, y, dtype)


def mul(z, x, y, dtype):
    return _binary("*", "__hmul2", z, x, y, dtype)


def div(z, x, y, dtype):
    return _binary("/", "__h2div", z, x, y, dtype)


#: device helpers for (half2, float32 scalar) operations, guarded so that several kernels can share one
#: translation unit
HALF2_SCALAR_HELPERS = """#ifndef SNNC_HALF2_SCALAR
#define SNNC_HALF2_SCALAR
static __device__ __forceinline__ half2 snnc_add_h2f(const half2 a, const float b) { const float2 f = __half22float2(a); return __floats2half2_rn(f.x + b, f.y + b); }
static __device__ __forceinline__ half2 snnc_sub_h2f(const half2 a, const float b) { const float2 f = __half22float2(a); return __floats2half2_rn(f.x - b, f.y - b); }
static __device__ __forceinline__ half2 snnc_rsub_h2f(const half2 a, const float b) { const float2 f = __half22float2(a); return __floats2half2_rn(b - f.x, b - f.y); }
static __device__ __forceinline__ half2 snnc_mul_h2f(const half2 a, const float b) { const float2 f = __half22float2(a); return __floats2half2_rn(f.x * b, f.y * b); }
static __device__ __forceinline__ half2 snnc_div_h2f(const half2 a, const float b) { const float2 f = __half22float2(a); return __floats2half2_rn(f.x / b, f.y / b); }
static __device__ __forceinline__ half2 snnc_div_h2h2(const half2 a, const half2 b) { const float2 f = __half22float2(a), g = __half22float2(b); return __floats2half2_rn(f.x / g.x, f.y / g.y); }
#endif
"""

_SCALAR_OPS = {"+": "add", "-": "sub", "r-": "rsub", "*": "mul", "/": "div"}


def scalar_op(z, op: str, x: str, scalar: str, dtype: str) -> str:
    """``x op scalar`` (``op`` one of ``+ - * /``; ``r-`` is ``scalar - x``) with ``scalar`` a float
    expression: plain float code, or for half2 both lanes in float rounded once (see the module doc)."""
    _check(dtype)
    if op not in _SCALAR_OPS:
        raise ValueError(f"scalar_op: op must be one of {', '.join(_SCALAR_OPS)}, got {op!r}")
    if dtype == "float":
        expr = f"({scalar} - {x})" if op == "r-" else f"({x} {op} {scalar})"
    else:
        expr = f"snnc_{_SCALAR_OPS[op]}_h2f({x}, {scalar})"
    return wrap_return_codes(z, expr)


def neg(y, x, dtype):
    _check(dtype)
    return wrap_return_codes(y, f"-{x}" if dtype == "float" else f"__hneg2({x})")


def greater_equal(z, x, y, dtype):
    """1 where ``x >= y`` else 0, in ``dtype``."""
    _check(dtype)
    return wrap_return_codes(z, f"(float) ({x} >= {y})" if dtype == "float" else f"__hge2({x}, {y})")


def heaviside(y, x, dtype):
    """``Θ(x) = [x >= 0]``."""
    return greater_equal(y, x, constant(None, 0.0, dtype), dtype)


def abs(y, x, dtype):  # noqa: A001 - the C name
    _check(dtype)
    return wrap_return_codes(y, f"fabsf({x})" if dtype == "float" else f"__habs2({x})")


def exp(y, x, dtype):
    _check(dtype)
    return wrap_return_codes(y, f"expf({x})" if dtype == "float" else f"h2exp({x})")


def sigmoid(y, x, alpha: float, dtype):
    one = constant(None, 1.0, dtype)
    return wrap_return_codes(y, div(None, one, add(None, one, exp(None, neg(None, mul(
        None, constant(None, alpha, dtype), x, dtype), dtype), dtype), dtype), dtype))


# surrogate derivatives g'(x), float expressions of a float variable `x` ------------------------
def _f(v: float) -> str:
    return f"{float(v)!r}f"


def _sigmoid_backward(x, alpha):
    sg = f"(1.0f / (1.0f + expf(-{_f(alpha)} * {x})))"
    return f"((1.0f - {sg}) * {sg} * {_f(alpha)})"


SURROGATE_FLOAT = {
    "sigmoid": lambda x, alpha: _sigmoid_backward(x, alpha),
    "atan": lambda x, alpha: (f"({_f(alpha)} / 2.0f / (1.0f + (1.5707963267948966f * {_f(alpha)} * {x}) "
                              f"* (1.5707963267948966f * {_f(alpha)} * {x})))"),
    "piecewise_leaky_relu": lambda x, w, c: f"(fabsf({x}) < {_f(w)} ? {_f(0.5 / w)} : {_f(c)})",
    "s2nn": lambda x, alpha, beta: f"({x} < 0.0f ? {_sigmoid_backward(x, alpha)} : {_f(beta)} / ({x} + 1.0f))",
    "q_pseudo_spike": lambda x, alpha: f"powf(1.0f + {_f(2.0 / (alpha - 1.0))} * fabsf({x}), {_f(-alpha)})",
    "leaky_k_relu": lambda x, leak, k: f"({x} >= 0.0f ? {_f(k)} : {_f(leak)})",
    "fake_numerical_gradient": lambda x, alpha: f"fminf(1.0f / fabsf({x}), {_f(alpha)})",
    "log_tailed_relu": lambda x, alpha: f"({x} <= 0.0f ? {_f(alpha)} : ({x} <= 1.0f ? 1.0f : 1.0f / {x}))",
}


def surrogate_backward(y: str, x: str, name: str, params: tuple, dtype: str) -> str:
    """``y = g'(x)`` for the surrogate ``name`` (see ``runtime/surrogates.py``)."""
    _check(dtype)
    if name not in SURROGATE_FLOAT:
        raise ValueError(f"surrogate {name!r} has no CUDA form; known: {', '.join(SURROGATE_FLOAT)}")
    fn = SURROGATE_FLOAT[name]
    if dtype == "float":
        return f"{y} = {fn(x, *params)};"
    return (f"const float2 {y}_x = __half22float2({x});"
            f"{y} = __floats2half2_rn({fn(y + '_x.x', *params)}, {fn(y + '_x.y', *params)});")
