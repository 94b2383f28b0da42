#!/usr/bin/env python3
"""Compare what two commits of ml-ci make of the bundled example, file by file.

    .venv/bin/python .ci/same_behaviour.py BASE [HEAD]      (HEAD defaults to the work tree)

For a redesign that must keep behaviour (issue 14): each commit runs, from a clean copy of
examples/sentiment and with the stage cache off, `validate`, `generate`, `data check`, `train`
(ml.yaml's hyperparameters: tuning is left out, it only picks them), `evaluate` and `export`,
and every file they write is compared byte for byte, except what is measured rather than
computed (wall times, latencies, timestamps), which is blanked in JSON before the comparison.
The golden workflow trees and every ml.yaml case are compared by the unit tests already.

Exit 0 when everything is identical, 1 with a unified diff per differing file.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = "examples/sentiment"
STEPS = (
    ("validate",),
    ("generate",),
    ("data", "check"),
    ("train",),
    ("evaluate", "--no-cache"),
    ("export", "--no-cache"),
)
# Measured, not computed: these differ between two runs of the same commit.
VOLATILE = re.compile(r"(^|_)(created|seconds|ms|timings_ms|time|timestamp|duration|date|samples_per_second)($|_)|latency")
# Files whose bytes hold measurements or are binary renderings of them.
# The stage cache holds copies of the outputs (compared already) under digests of their bytes.
SKIPPED = re.compile(r"\.(png|onnx|safetensors|bin|pt|pth)$|/checkpoints?/|/runs/|trainer_state\.json$|^/\.ml-ci/cache/")
NUMBER = re.compile(r"\d+(\.\d+)?")


def blank(value: object, key: str = "") -> object:
    if VOLATILE.search(key):
        return "<measured>"
    if isinstance(value, dict):
        if str(value.get("metric", "")).startswith("latency"):  # a gate or score on a measured latency
            value = {k: "<measured>" if k in ("value", "message") else v for k, v in value.items()}
        return {k: blank(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [blank(v, key) for v in value]
    return value


def source_of(commit: str | None, dest: Path) -> Path:
    """The tree of `commit` (None: the work tree as it is, untracked files included)."""
    if commit is None:
        return ROOT
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(dest), commit], check=True, capture_output=True
    )
    return dest


def run(commit: str | None, work: Path) -> dict[str, bytes]:
    src = source_of(commit, work / "src")
    repo = work / "repo"
    shutil.copytree(src / EXAMPLE, repo, ignore=shutil.ignore_patterns(".ml-ci", ".github"))
    env = {
        **os.environ,
        "PYTHONPATH": str(src),
        "ML_CI_NO_CACHE": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    log = work / "log.txt"
    with log.open("w") as out:
        for step in STEPS:
            print(f"[{commit or 'work tree'}] ml-ci {' '.join(step)}", file=sys.stderr, flush=True)
            code = subprocess.run(
                [sys.executable, "-m", "ml_ci", *step, "-c", str(repo / "ml.yaml")],
                cwd=repo,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            ).returncode
            out.write(f"== exit {code}\n")
    files = {"log": normalise_log(log.read_text(), repo).encode()}
    for path in sorted(p for p in repo.rglob("*") if p.is_file()):
        rel = path.relative_to(repo).as_posix()
        if SKIPPED.search("/" + rel):
            continue
        data = path.read_bytes()
        if path.suffix in (".md", ".txt"):
            data = blank_latency_lines(data.decode(errors="replace")).encode()
        if path.suffix == ".json":
            with contextlib.suppress(ValueError):
                data = json.dumps(blank(json.loads(data)), indent=1, sort_keys=True).encode()
        files[rel] = data
    return files


def blank_latency_lines(text: str) -> str:
    """Numbers on the lines that report a measured latency; and the padding of aligned tables, whose
    column widths follow the widest value, a measured one included."""
    lines = (NUMBER.sub("<n>", line) if "latency" in line.lower() else line for line in text.splitlines())
    return "\n".join(re.sub(r"-{2,}", "--", re.sub(r" {2,}", " ", line)) for line in lines)


def normalise_log(text: str, repo: Path) -> str:
    text = blank_latency_lines(text.replace(str(repo), "<repo>"))
    text = re.sub(r"\d+(\.\d+)?\s*(s|ms|it/s|s/it)\b", "<t>", text)
    return re.sub(r"\d{4}-\d\d-\d\dT[\d:.+]+", "<date>", text)


def main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 2:
        print(__doc__, file=sys.stderr)
        return 2
    base, head = argv[0], (argv[1] if len(argv) == 2 else None)
    with tempfile.TemporaryDirectory(prefix="ml-ci-behaviour-") as tmp:
        try:
            before = run(base, Path(tmp) / "base")
            after = run(head, Path(tmp) / "head")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], check=False)
        differ = 0
        for name in sorted(set(before) | set(after)):
            a, b = before.get(name), after.get(name)
            if a == b:
                continue
            differ += 1
            if a is None or b is None:
                print(f"only in {'head' if a is None else 'base'}: {name}")
                continue
            lines = difflib.unified_diff(
                a.decode(errors="replace").splitlines(),
                b.decode(errors="replace").splitlines(),
                f"base/{name}",
                f"head/{name}",
                lineterm="",
                n=2,
            )
            print("\n".join(list(lines)[:80]))
        print(f"{len(set(before) | set(after))} files compared, {differ} differ", file=sys.stderr)
        return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
