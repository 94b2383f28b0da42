"""The ml.yaml variants whose generated files are kept here as golden trees.

Each folder holds an input ml.yaml, optionally options.json (the keyword arguments of
ml_ci.generate.options.Options; `{}` is ml-ci generate's defaults, which vendor the actions into
.github/actions/ml-ci) and files ml.yaml names under keys/ (supply_chain.public_key must exist), and
the files `ml-ci generate` writes for it. Without options.json ml-ci's
actions are referenced at PINNED_REF, so that one vendored copy of them is enough. Set
ML_CI_UPDATE_GOLDEN=1 to rewrite the outputs after an intended change, then review the diff.
"""

from __future__ import annotations

import json
from pathlib import Path

from ml_ci.config import load_config
from ml_ci.generate.options import Options
from ml_ci.generate.render import render

GOLDEN = Path(__file__).resolve().parent
INPUTS = frozenset({"ml.yaml", "options.json"})
INPUT_FOLDERS = ("keys/",)  # files the ml.yaml names, which validation reads
# A commit SHA for ml-ci's own actions, as a pinned release would have; the linters check form, not existence.
PINNED_REF = "5f6b1c0d2e3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c"


def variant_dirs() -> list[Path]:
    return sorted(p.parent for p in GOLDEN.glob("*/ml.yaml"))


def options_for(folder: Path) -> Options:
    extra = folder / "options.json"
    kwargs = json.loads(extra.read_text(encoding="utf-8")) if extra.exists() else {"actions_ref": PINNED_REF}
    return Options(**kwargs)


def render_variant(folder: Path) -> dict[str, str]:
    return render(load_config(folder / "ml.yaml").config, options_for(folder))


def is_input(rel: str) -> bool:
    return rel in INPUTS or rel.startswith(INPUT_FOLDERS)


def tree(folder: Path) -> dict[str, str]:
    """Every file of a golden folder except its inputs, by relative path."""
    return {
        p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not is_input(p.relative_to(folder).as_posix())
    }
