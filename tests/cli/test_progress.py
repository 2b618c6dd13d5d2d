"""Progress on long work: shown on a terminal (a real pseudo-terminal here), silent when piped or in CI."""

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest
import torch

from support.cli import run_cli
from support.models import small_model

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("progress")
    torch.save(small_model(), d / "model.pt")
    return d


def _on_a_terminal(*args, cwd, env) -> tuple[int, str]:
    """Run ``snnc ARGS`` with stderr on a pseudo-terminal; ``(returncode, what the terminal showed)``."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 100-column terminal
    p = subprocess.Popen([sys.executable, "-m", "snnc", *args], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                         stderr=follower)
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    return p.wait(timeout=300), shown.decode(errors="replace")


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "SNNC_PROGRESS")}
    return dict(env, PYTHONWARNINGS="ignore", **extra)


def test_terminal_shows_lowering_building_and_the_verify_bar(work):
    cache = work / "cache"  # a fresh HLS build cache, so the C++ build really happens
    rc, shown = _on_a_terminal("verify", "model.pt", "--target", "hls", "--samples", "16", cwd=work,
                               env=_env(SNNC_CACHE=str(cache)))
    assert rc == 0, shown
    assert "lowering to hls" in shown
    assert "hls: compiling the C++ simulator" in shown
    assert "verify hls" in shown and "run" in shown  # tqdm's bar: description and unit


def test_piped_and_ci_stay_quiet(work):
    rc, out, err = run_cli("verify", "model.pt", "--target", "hls", "--samples", "16", cwd=work, env=_env())
    assert rc == 0 and err == "", err
    rc, shown = _on_a_terminal("verify", "model.pt", "--target", "onnx", cwd=work, env=_env(CI="true"))
    assert rc == 0 and shown == "", shown
    rc, shown = _on_a_terminal("compile", "model.pt", "--target", "onnx", "-o", "o", cwd=work,
                               env=_env(SNNC_PROGRESS="0"))
    assert rc == 0 and shown == "", shown
