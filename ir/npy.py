"""Reading ``.npy`` arrays as data only: never unpickled, never larger than the bytes that hold them.

``read_npy(source, what)`` parses the header first and refuses, naming ``what``, an array of Python
objects (NumPy would unpickle it), a header whose declared size is not the data that follows
(truncated or a size bomb: NumPy allocates the declared size before reading) and one over the
memory budget (:mod:`snnc.ir.budget`).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from .budget import check_elements
from .errors import SnncError


def _header(f, what: str):
    try:
        version = npy_format.read_magic(f)
        if version == (1, 0):
            return npy_format.read_array_header_1_0(f)
        if version in ((2, 0), (3, 0)):
            return npy_format.read_array_header_2_0(f)
    except (ValueError, EOFError, OSError, SyntaxError) as e:
        raise SnncError(f"{what}: not a valid .npy array ({e})") from None
    raise SnncError(f"{what}: not a valid .npy array (format version {version})")


def read_npy(source, what: str | None = None) -> np.ndarray:
    """The array in ``source`` (a path or the file's bytes); see the module docstring."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        what = what or "array"
    else:
        path = Path(source)
        what = what or str(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise SnncError(f"{what}: no such file") from None
        except IsADirectoryError:
            raise SnncError(f"{what}: is a directory, expected a .npy file") from None
        except OSError as e:
            raise SnncError(f"{what}: cannot read it ({e.strerror})") from None
    f = io.BytesIO(data)
    shape, fortran, dtype = _header(f, what)
    if dtype.hasobject:
        raise SnncError(f"{what}: not a valid .npy array for snnc: it holds Python objects (pickled), which "
                        "snnc never unpickles; save a numeric array (np.save with allow_pickle=False)")
    check_elements(shape, dtype.itemsize, what)
    declared = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    available = len(data) - f.tell()
    if available != declared:
        raise SnncError(f"{what}: not a valid .npy array: the header declares {list(shape)} {dtype} ({declared} "
                        f"bytes) but the file holds {available} bytes of data (truncated or corrupt)")
    arr = np.frombuffer(data, dtype=dtype, count=int(np.prod(shape, dtype=np.int64)), offset=f.tell())
    return arr.reshape(shape, order="F" if fortran else "C").copy()


__all__ = ["read_npy"]
