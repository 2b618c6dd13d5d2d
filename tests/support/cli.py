"""The ``snnc`` command as a user runs it: a real subprocess (``python -m snnc``), and the shape of a
bad-input answer (exit 2, one line on stderr, no traceback)."""

import os
import subprocess
import sys


def run_cli(*args, cwd, env=None, timeout=300, **kwargs):
    """``(returncode, stdout, stderr)`` of ``snnc ARGS`` run in ``cwd``."""
    full = {**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})}
    p = subprocess.run([sys.executable, "-m", "snnc", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                       env=full, timeout=timeout, **kwargs)
    return p.returncode, p.stdout, p.stderr


def one_line_error(result, *words, code=2):
    """Assert that ``result`` failed with ``code`` and exactly one stderr line containing ``words``."""
    rc, out, err = result
    assert rc == code, (rc, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err and "internal error" not in err, err
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]
