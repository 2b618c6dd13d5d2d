"""The target registry: every list of targets is ``snnc.targets.NAMES``, and what each target declares
(``records_layers``) is what its simulator does."""

import pytest
import torch

import snnc
from snnc.cli import build_parser
from snnc.compiler import resolve_target, simulate_recorded
from snnc.targets import NAMES
from support.models import small_model

pytestmark = pytest.mark.filterwarnings("ignore")

X = (torch.rand(6, 2, 6, generator=torch.Generator().manual_seed(3)) < 0.5).float()


def test_the_cli_offers_exactly_the_registered_targets():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for command in ("compile", "verify"):
        target = next(a for a in commands[command]._actions if a.dest == "target")
        assert tuple(target.choices) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_a_target_is_its_registered_name_and_records_what_it_declares(name, tmp_path):
    target = resolve_target(name)
    assert target.name == name
    model = small_model()
    art = snnc.compile(model, name, tmp_path / name, example_input=X, allow_approximate=name == "nir")
    outputs, layers = simulate_recorded(target, art.path, X)
    if not target.records_layers:
        assert layers == {}
        return
    assert layers, f"{name} declares records_layers but recorded nothing"
    reference = snnc.trace(model, X)
    shapes = {n.name: n.shape for n in reference.nodes}
    for node, values in layers.items():
        assert node in shapes, f"{name} recorded '{node}', which is not a node of the IR"
        assert tuple(values.shape) == (X.shape[0], X.shape[1], *shapes[node])
    assert outputs.shape[:2] == X.shape[:2]
