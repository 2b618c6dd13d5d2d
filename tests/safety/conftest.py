"""The safety tests' working directory: a small snnc.nn model saved as ``.pt`` and its inputs."""

import numpy as np
import pytest
import torch

from support.models import small_model

@pytest.fixture
def work(tmp_path):
    """A directory with ``model.pt`` (whole module), ``x.npy`` (spikes [8, 2, 6]) and ``x_values.npy``."""
    torch.save(small_model(), tmp_path / "model.pt")
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", (rng.random((8, 2, 6)) < 0.4).astype(np.float32))
    return tmp_path
