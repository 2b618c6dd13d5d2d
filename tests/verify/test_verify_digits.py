"""The README's main command: examples/digits.py trains, compiles to every target, verifies each and
prints the table; every target must be bit-exact."""

from support.models import digits_example


def test_digits_example_deploys_bit_exactly_to_every_target(tmp_path, capsys):
    digits = digits_example()
    result = digits.main(["--quick", "--hidden", "32", "--out", str(tmp_path)])
    rows = result["deployments"]
    from snnc.targets import NAMES

    assert [r["target"] for r in rows] == list(NAMES)
    out = capsys.readouterr().out
    assert "bit-exact" in out and "agree w/ float" in out
    data = result["data"]
    for row in rows:
        assert "error" not in row, row
        assert row["bit_exact"], row["report"].summary()
        assert row["size"] == sum(p.stat().st_size for p in (tmp_path / "artifacts" / row["target"]).rglob("*")
                                  if p.is_file() and p.name != "snnc.json"
                                  and p.relative_to(tmp_path / "artifacts" / row["target"]).parts[0] != "ir")
        assert 0.0 <= row["agreement"] <= 1.0
        # the accuracy column is the target's own decisions, recomputed from its simulator
        import snnc
        y = snnc.simulate(tmp_path / "artifacts" / row["target"], data.test_x)
        assert row["accuracy"] == (digits.decisions_of(y) == data.test_y).double().mean().item()
        assert row["accuracy"] > 0.3
