"""The committed composite actions and reusable workflow are what the generator writes, and they
call the CLI as docs/architecture.md specifies."""

from __future__ import annotations

from typing import Any

import yaml

from ml_ci import __version__
from ml_ci.cli.main import COMMANDS
from ml_ci.generate.actions import all_actions
from ml_ci.generate.bundled import render_bundled
from tests.conftest import ROOT


def test_committed_files_match_the_generator() -> None:
    rendered = render_bundled()
    committed = {p.relative_to(ROOT).as_posix() for p in (ROOT / "actions").glob("*/action.yml")}
    assert committed == {rel for rel in rendered if rel.startswith("actions/")}, "missing or extra actions"
    for rel, text in rendered.items():
        assert (ROOT / rel).read_text(encoding="utf-8") == text, f"{rel} drifted: run python -m ml_ci.generate.bundled"


def test_every_action_is_documented_and_calls_a_real_command() -> None:
    for name in all_actions():
        doc: dict[str, Any] = yaml.safe_load(render_bundled()[f"actions/{name}/action.yml"])
        assert doc["description"], name
        assert doc["inputs"]["config"]["default"] == "ml.yaml"
        for key, spec in doc["inputs"].items():
            assert spec["description"], (name, key)
            assert spec["required"] or "default" in spec, (name, key)
        for key, spec in (doc.get("outputs") or {}).items():
            assert spec["description"] and spec["value"].startswith("${{ steps."), (name, key)
        scripts = [s["run"] for s in doc["runs"]["steps"] if "run" in s]
        assert all(s.startswith("set -euo pipefail\n") for s in scripts), name
        calls = [line.split()[1] for s in scripts for line in s.splitlines() if line.startswith("ml-ci ")]
        assert calls and all(c in COMMANDS for c in calls), (name, calls)
        calling = [s for s in scripts if any(line.startswith("ml-ci ") for line in s.splitlines())]
        assert all('-c "$ML_CI_CONFIG"' in s for s in calling if "validate" not in s), name


def test_setup_installs_the_same_version_or_a_local_path() -> None:
    setup = all_actions()["setup"]
    assert setup.inputs["version"].default == __version__
    install = next(s for s in setup.steps if s.id == "install")
    assert install.run is not None and '--no-deps "ml-ci==$ML_CI_VERSION"' in install.run
    assert "--require-hashes --no-deps" in install.run and '-r "$ML_CI_LOCK"' in install.run, "every hash, nothing resolved"
    assert '--require-hashes --no-deps --no-compile \\\n  --target "$uv_home" -r "$GITHUB_ACTION_PATH/uv.txt"' in install.run, (
        "uv itself pinned by hash, outside the cached environment"
    )
    assert install.if_ == "steps.env.outputs.cache-hit != 'true'", "a restored environment is not installed again"
    source = next(s for s in setup.steps if s.id == "source")
    assert source.if_ == "inputs.source != ''" and source.env["ML_CI_SOURCE"] == "${{ inputs.source }}"


def test_the_readme_lists_each_action_with_its_outputs() -> None:
    rows = {}
    for line in (ROOT / "actions" / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[0] != "action":
            rows[cells[0].strip("`")] = [name.strip(" `") for name in cells[2].split(",") if name.strip()]
    actions = all_actions()
    assert set(rows) == set(actions)
    for name, action in actions.items():
        assert rows[name] == list(action.outputs), f"actions/README.md: {name}'s outputs"
