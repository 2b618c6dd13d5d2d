"""The reference interpreter on a CUDA GPU: bit for bit the snnc.nn model run on the same GPU, on the
random stacks of test_ir_interpreter. Run on the GPU machine with ``pytest -m gpu tests/ir``."""

import pytest
import torch
from hypothesis import HealthCheck, given, settings

from support.netspec import build, inputs, run_model, specs
from snnc.ir import interpret

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_interpreter_equals_nn_model_on_cuda(spec):
    model, graph = build(spec)
    model = model.cuda()
    x = inputs(spec).cuda()
    expected = run_model(model, x)
    got = interpret(graph, x)
    assert got.device.type == "cuda"
    assert torch.equal(got, expected)
