#!/usr/bin/env bash
# Create .venv and install snnc with its test peers. Works offline from the package registry only.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
# The CPU build of torch (this pin resolves to the local CPU wheel on these machines).
python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[dev,interop,triton,plots]"
# SpikingJelly 2.0 is pure Python, but its declared requirements pull a CUDA torch, torchvision and
# torchaudio of several GB: install it alone; the few pure modules it imports are in the `dev` extra.
python -m pip install -q --no-deps "spikingjelly==2.0.0"
# Norse (a NIR reader the NIR export is tested against) declares torchvision, which would pull a CUDA
# torch as well; its NIR importer needs only torch, nir and nirtorch.
python -m pip install -q --no-deps "norse==1.1.0"
# NeuroBench (the deployment report's synaptic operations, sparsity and footprint are tested against
# its metric classes) declares torchaudio, tonic and numba for its datasets; its metrics need only
# torch and snnTorch.
python -m pip install -q --no-deps "neurobench==2.3.0"
