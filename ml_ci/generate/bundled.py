"""The files ml-ci ships in its own repository, generated from the same data as everything else:
the composite actions (actions/<name>/action.yml) and the reusable workflow
(.github/workflows/ml-pipeline.yml). `python -m ml_ci.generate.bundled [ROOT]` rewrites them;
a test fails when the committed files drift from this module.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ml_ci.atomic import write_text
from ml_ci.generate import header, yamlout
from ml_ci.generate.actions import all_actions
from ml_ci.generate.reusable import pipeline_workflow

REGENERATE = "python -m ml_ci.generate.bundled"
PIPELINE_FILE = ".github/workflows/ml-pipeline.yml"


def render_bundled() -> dict[str, str]:
    """Path relative to the ml-ci repository -> text."""
    out = {
        f"actions/{name}/action.yml": header.with_header(
            yamlout.dump(action.data()), source="ml_ci/generate/actions.py", regenerate=REGENERATE
        )
        for name, action in all_actions().items()
    }
    out[PIPELINE_FILE] = header.with_header(
        yamlout.dump(pipeline_workflow().data()), source="ml_ci/generate/reusable.py", regenerate=REGENERATE
    )
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0]) if args else Path.cwd()
    for rel, text in render_bundled().items():
        write_text(root / rel, text)
        print(f"wrote {rel}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
