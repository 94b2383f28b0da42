"""The light path stays light: `ml-ci validate` and `ml-ci generate` (both pre-commit hooks) never import the
ML, cloud or GitHub libraries.

Run in a fresh interpreter, so that modules other tests imported cannot hide an import.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE

pytestmark = pytest.mark.integration

HEAVY = (
    "torch",
    "transformers",
    "datasets",
    "optuna",
    "docker",
    "kubernetes",
    "github3",
    "onnx",
    "onnxruntime",
    "accelerate",
    "numpy",
    "scipy",
    "matplotlib",
    # not heavy in itself, but 0.15 s of imports: validate checks the schema with ml_ci.config.validator
    "jsonschema",
)

PROBE = """
import json, sys
from ml_ci.cli.main import main
code = main(sys.argv[1:])
roots = sorted({name.split(".")[0] for name in sys.modules})
print(json.dumps({"code": code, "modules": roots}), file=sys.stderr)
"""


def _modules_after(*args: str) -> tuple[int, set[str]]:
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=False, timeout=120)
    report = json.loads(result.stderr.strip().splitlines()[-1])
    return report["code"], set(report["modules"])


@pytest.mark.parametrize(
    "args",
    [
        ("validate", str(EXAMPLE / "ml.yaml")),
        ("validate", "--format", "json", str(EXAMPLE / "ml.yaml")),
        ("schema",),
        ("--help",),
        ("generate", "--check", "-c", str(EXAMPLE)),
    ],
    ids=lambda a: " ".join(Path(x).name for x in a),
)
def test_light_commands_import_nothing_heavy(args: tuple[str, ...]) -> None:
    code, modules = _modules_after(*args)
    assert code == 0
    assert "ml_ci" in modules  # the probe did run ml-ci
    assert sorted(modules & set(HEAVY)) == []


def test_an_invalid_file_imports_nothing_heavy_either(tmp_path: Path) -> None:
    (tmp_path / "ml.yaml").write_text("version: 1\nname: x\n", encoding="utf-8")
    code, modules = _modules_after("validate", str(tmp_path / "ml.yaml"))
    assert code == 2
    assert sorted(modules & set(HEAVY)) == []
