"""The CUDA code generator: importable without CuPy, one kernel's source checked line by line, every
generated variant compiled by the machine's nvcc for sm_90."""

import shutil
import subprocess
import sys

import pytest

from snnc.runtime.cuda import CKernel1D, CodeBlock, CodeTyper, cfunction
from snnc.runtime.cuda.neuron import CubaBPTT, CubaFPTT, IFBPTT, IFFPTT, LIFBPTT, LIFFPTT, PLIFBPTT, PLIFFPTT
from snnc.runtime.surrogates import SURROGATES

EXPECTED_IF_FORWARD = '''\
#include <cuda_fp16.h>
extern "C" __global__
void if_fptt_hard_float(const int numel, const int N, const float* x_seq, float* spike_seq, float* h_seq, const float* v_init, float* v_last, const float v_th, const float v_reset)
{
    const int index = blockIdx.x * blockDim.x + threadIdx.x;
    if (index < N)
    {
        const int dt = N;
        float v = v_init[index];
        for (int t = index; t < numel; t += dt)
        {
            const float x = x_seq[t];
            float h;
            h = (v + x);
            const float spike = (float) ((h - v_th) >= 0.0f);
            spike_seq[t] = spike;
            h_seq[t] = h;
            v = ((h * (1.0f - spike)) + (v_reset * spike));
        }
        v_last[index] = v;
    }
}
'''

SURROGATE_ARGS = {"sigmoid": (4.0,), "atan": (2.0,), "piecewise_leaky_relu": (1.0, 0.01), "s2nn": (4.0, 1.0),
                  "q_pseudo_spike": (2.0,), "leaky_k_relu": (0.1, 1.0), "fake_numerical_gradient": (0.3,),
                  "log_tailed_relu": (0.1,)}


def variants():
    for dtype in ("float", "half2"):
        for hard in (True, False):
            for store_v in (False, True):
                yield IFFPTT(hard, dtype, store_v=store_v)
                yield CubaFPTT(hard, dtype, store_v=store_v)
                for decay in (True, False):
                    yield PLIFFPTT(hard, dtype, decay_input=decay, store_v=store_v)
                    for recip in (True, False):
                        yield LIFFPTT(hard, dtype, decay_input=decay, tau_recip=recip, store_v=store_v)
            yield LIFFPTT(hard, dtype, per_neuron=("tau", "v_th"))
            for cls in (IFFPTT, LIFFPTT, PLIFFPTT, CubaFPTT):
                yield cls(hard, dtype, store_h=False)
            yield CubaFPTT(hard, dtype, per_neuron=("alpha", "beta", "v_th"))
            for detach in (False, True):
                for name in SURROGATES:
                    yield IFBPTT(hard, detach, name, SURROGATE_ARGS[name], dtype)
                    yield CubaBPTT(hard, detach, name, SURROGATE_ARGS[name], dtype)
                    for decay in (True, False):
                        yield LIFBPTT(hard, detach, name, SURROGATE_ARGS[name], dtype, decay_input=decay)
                        yield PLIFBPTT(hard, detach, name, SURROGATE_ARGS[name], dtype, decay_input=decay)
                yield LIFBPTT(hard, detach, "sigmoid", (4.0,), dtype, per_neuron=("tau", "v_th"))
                yield CubaBPTT(hard, detach, "atan", (2.0,), dtype, per_neuron=("alpha", "beta", "v_th"))


def test_importable_without_cupy():
    code = "import sys; sys.modules['cupy'] = None; import snnc.runtime.cuda as c; print(len(c.NEURONS))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "4"


def test_known_kernel_line_by_line():
    got = IFFPTT(True, "float").full_codes.splitlines()
    want = EXPECTED_IF_FORWARD.splitlines()
    for i, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"line {i + 1}: {g!r} != {w!r}"
    assert len(got) == len(want)


def test_code_typer_blocks_and_1d_kernel():
    typer = CodeTyper(1)
    with CodeBlock(typer):
        typer.append("float a = x[index]; y[index] = " + cfunction.mul(None, "a", "a", "float") + ";")
    assert typer.codes == "    {\n        float a = x[index];\n        y[index] = (a * a);\n    }\n"
    k = CKernel1D("square")
    k.add_param("const float*", "x")
    k.add_param("float*", "y")
    k.core = typer.codes
    assert "if (index < numel)" in k.full_codes and k.full_codes.count("{") == k.full_codes.count("}")
    with pytest.raises(ValueError, match="taken"):
        k.add_param("int", "x")


def test_half2_scalar_operations_round_once():
    """An operation with a float32 hyperparameter is done in float lanes and rounded once (PyTorch's
    opmath), never with the scalar rounded to half first."""
    assert cfunction.scalar_op(None, "-", "h", "v_th", "float") == "(h - v_th)"
    assert cfunction.scalar_op(None, "-", "h", "v_th", "half2") == "snnc_sub_h2f(h, v_th)"
    assert cfunction.scalar_op(None, "r-", "h", "v_reset", "half2") == "snnc_rsub_h2f(h, v_reset)"
    code = LIFFPTT(True, "half2", decay_input=False).full_codes
    assert "__float2half2_rn(v_th)" not in code and "snnc_mul_h2f(snnc_sub_h2f(v, v_leak), inv_tau)" in code
    assert "__half2float(__float2half_rn(k_ptr[0]))" in PLIFFPTT(True, "half2").full_codes
    with pytest.raises(ValueError, match="per-neuron"):
        IFFPTT(True, "float", per_neuron=("tau",))


def test_half2_helpers():
    assert cfunction.add("z", "x", "y", "half2") == "z = __hadd2(x, y);"
    assert cfunction.heaviside(None, "x", "half2") == "__hge2(x, __float2half2_rn(0.0f))"
    line = cfunction.surrogate_backward("g", "x", "atan", (2.0,), "half2")
    assert "__half22float2(x)" in line and "__floats2half2_rn(" in line
    with pytest.raises(ValueError, match="no CUDA form"):
        cfunction.surrogate_backward("g", "x", "nope", (), "float")


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="needs nvcc")
def test_every_variant_compiles_with_nvcc(tmp_path):
    kernels = list(variants())
    names = [k.kernel_name for k in kernels]
    assert len(set(names)) == len(names)
    source = "#include <cuda_fp16.h>\n" + "\n".join(k.full_codes.replace("#include <cuda_fp16.h>\n", "")
                                                     for k in kernels)
    path = tmp_path / "kernels.cu"
    path.write_text(source)
    out = subprocess.run(["nvcc", "-arch=sm_90", "-c", str(path), "-o", str(tmp_path / "kernels.o")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    symbols = subprocess.run(["cuobjdump", "-symbols", str(tmp_path / "kernels.o")], capture_output=True,
                             text=True).stdout if shutil.which("cuobjdump") else ""
    for name in names if symbols else []:
        assert name in symbols
