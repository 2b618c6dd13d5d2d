"""CUDA kernels assembled from strings: a kernel is ``declaration + head + core + tail``.

- :class:`CodeTyper` writes statements with indentation; :class:`CodeBlock` opens a ``{ ... }`` scope.
- :class:`CKernel` holds the parameter list (``cparams``: name -> C type) and the four parts.
- :class:`CKernel1D`: one thread per element, ``index < numel``.
- :class:`CKernel2D`: one thread per neuron of a ``[T, N]`` tensor, looping over time forward
  (``t = index; t < numel; t += N``) or in reverse; ``pre_core``/``post_core`` run before/after the loop.

Generating code needs nothing but Python; :meth:`CKernel.__call__` compiles (once per source, see
:data:`_COMPILED`) and launches through CuPy, imported there.
"""

from __future__ import annotations

INDENT = "    "

#: source -> compiled cupy.RawKernel (one compilation per distinct source and process)
_COMPILED: dict[tuple[str, str], object] = {}


def wrap_with_comment(code: str, comment: str) -> str:
    return f"\n// begin {comment}\n{code}\n// end {comment}\n"


class CodeTyper:
    """Accumulates C statements: ``append("a = b; c = d;")`` writes one statement per line at the
    current indentation; a ``{`` ends a line and indents, a ``}`` dedents first."""

    def __init__(self, indent: int = 0):
        self.indent = indent
        self.codes = ""

    def append(self, codes: str) -> None:
        for raw in codes.replace("{", "{;").replace("}", ";};").split(";"):
            line = raw.strip()
            if not line:
                continue
            if line == "}":
                self.indent -= 1
                self.codes += INDENT * self.indent + "}\n"
            elif line.endswith("{"):
                self.codes += INDENT * self.indent + line + "\n"
                self.indent += 1
            else:
                self.codes += INDENT * self.indent + line + ";\n"


class CodeBlock:
    """``with CodeBlock(typer): ...`` writes ``{`` on entry and ``}`` on exit (a C scope for temporaries)."""

    def __init__(self, env: CodeTyper):
        self.env = env

    def __enter__(self):
        self.env.append("{")
        return self.env

    def __exit__(self, *exc):
        self.env.append("}")
        return False


class CKernel:
    """A ``__global__`` kernel: parameters, and the code parts that subclasses fill in."""

    reserved = ("index",)

    def __init__(self, kernel_name: str):
        self.kernel_name = kernel_name
        self.cparams: dict[str, str] = {}
        self._core = ""

    def add_param(self, ctype: str, cname: str) -> None:
        if cname in self.cparams or cname in self.reserved:
            raise ValueError(f"kernel {self.kernel_name}: parameter name {cname!r} is taken")
        self.cparams[cname] = ctype

    @property
    def declaration(self) -> str:
        params = ", ".join(f"{ctype} {name}" for name, ctype in self.cparams.items())
        return f'extern "C" __global__\nvoid {self.kernel_name}({params})\n'

    @property
    def head(self) -> str:
        return "{\n"

    @property
    def core(self) -> str:
        return self._core

    @core.setter
    def core(self, value: str) -> None:
        self._core = value

    @property
    def tail(self) -> str:
        return "}\n"

    @property
    def full_codes(self) -> str:
        return self.declaration + self.head + self.core + self.tail

    # launching ----------------------------------------------------------------------------------
    def compiled(self):
        import cupy

        key = (self.kernel_name, self.full_codes)
        kernel = _COMPILED.get(key)
        if kernel is None:
            kernel = cupy.RawKernel(self.full_codes, self.kernel_name, options=("--std=c++17", "--fmad=false"),
                                    backend="nvrtc")
            _COMPILED[key] = kernel
        return kernel

    def check_args(self, args: dict) -> None:
        if set(args) != set(self.cparams):
            raise ValueError(f"kernel {self.kernel_name}: arguments {sorted(args)} do not match parameters "
                             f"{sorted(self.cparams)}")

    def __call__(self, grid: tuple, block: tuple, args: dict, stream=None) -> None:
        """Launch with ``args`` (name -> torch tensor, or numpy scalar for value parameters)."""
        import cupy
        import torch

        self.check_args(args)
        ordered = []
        for name in self.cparams:
            value = args[name]
            if isinstance(value, torch.Tensor):
                if not value.is_cuda or not value.is_contiguous():
                    raise ValueError(f"kernel {self.kernel_name}: {name} must be a contiguous CUDA tensor")
                ordered.append(value.data_ptr())
            else:
                ordered.append(value)
        kernel = self.compiled()
        if stream is None:
            stream = torch.cuda.current_stream()
        with cupy.cuda.ExternalStream(stream.cuda_stream):
            kernel(grid, block, tuple(_c_value(v, self.cparams[n]) for v, n in zip(ordered, self.cparams)))


def _c_value(value, ctype: str):
    import numpy as np

    if ctype.endswith("*"):
        return np.uintp(value)
    if "float" in ctype:
        return np.float32(value)
    return np.int32(value)


class CKernel1D(CKernel):
    """Element-wise kernel over ``numel`` elements."""

    def __init__(self, kernel_name: str):
        super().__init__(kernel_name)
        self.add_param("const int", "numel")

    @property
    def head(self) -> str:
        return "{\n" + INDENT + "const int index = blockIdx.x * blockDim.x + threadIdx.x;\n" + INDENT + \
            "if (index < numel)\n" + INDENT + "{\n"

    @property
    def tail(self) -> str:
        return INDENT + "}\n}\n"


class CKernel2D(CKernel):
    """One thread per neuron of a ``[T, N]`` tensor (``numel = T·N``), looping over time."""

    def __init__(self, kernel_name: str, reverse: bool = False):
        super().__init__(kernel_name)
        self.reverse = reverse
        self.add_param("const int", "numel")
        self.add_param("const int", "N")
        self._pre_core = ""
        self._post_core = ""

    @property
    def pre_core(self) -> str:
        return self._pre_core

    @property
    def post_core(self) -> str:
        return self._post_core

    @property
    def head(self) -> str:
        loop = ("for (int t = numel - N + index; t >= 0; t -= dt)" if self.reverse
                else "for (int t = index; t < numel; t += dt)")
        return ("{\n" + INDENT + "const int index = blockIdx.x * blockDim.x + threadIdx.x;\n"
                + INDENT + "if (index < N)\n" + INDENT + "{\n" + 2 * INDENT + "const int dt = N;\n"
                + self.pre_core + 2 * INDENT + loop + "\n" + 2 * INDENT + "{\n")

    @property
    def tail(self) -> str:
        return 2 * INDENT + "}\n" + self.post_core + INDENT + "}\n}\n"
