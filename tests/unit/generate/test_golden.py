"""The generated files of every variant in tests/golden, asserted as whole trees."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ml_ci.atomic import write_text
from tests.golden.variants import render_variant, tree, variant_dirs

UPDATE = os.environ.get("ML_CI_UPDATE_GOLDEN") == "1"


def test_there_are_enough_variants() -> None:
    assert len(variant_dirs()) >= 10


@pytest.mark.parametrize("folder", variant_dirs(), ids=lambda p: p.name)
def test_golden_tree(folder: Path) -> None:
    rendered = render_variant(folder)
    if UPDATE:
        for rel in set(tree(folder)) - set(rendered):
            (folder / rel).unlink()
        for rel, text in rendered.items():
            write_text(folder / rel, text)
    on_disk = tree(folder)
    assert sorted(on_disk) == sorted(rendered), "missing or extra golden files (ML_CI_UPDATE_GOLDEN=1 rewrites them)"
    for rel, text in rendered.items():
        assert on_disk[rel] == text, f"{folder.name}/{rel} differs from the generator (ML_CI_UPDATE_GOLDEN=1 rewrites it)"


def test_rendering_is_deterministic() -> None:
    for folder in variant_dirs():
        assert render_variant(folder) == render_variant(folder)


@pytest.mark.parametrize("example", ["sentiment", "ner", "assistant"])
def test_the_example_workflows_are_up_to_date(capsys: pytest.CaptureFixture[str], example: str) -> None:
    from ml_ci.cli.main import main
    from tests.conftest import EXAMPLE

    assert main(["generate", "--check", "-c", str(EXAMPLE.parent / example)]) == 0, capsys.readouterr().out
