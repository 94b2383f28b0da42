"""`ml-ci data check`, the effectful part: read the splits, run the checks, write the report
atomically, tell the Actions runner, and fail with exit 3 when a check fails.

The report is cached on the data section and the splits' content: an unchanged rerun restores it
and judges the restored report, so a cached failure still exits 3."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from ml_ci import tasks
from ml_ci.atomic import staged_dir
from ml_ci.cache import StageCache, announce, cache_key, mode, through_cache, unpinned
from ml_ci.config.model import Config
from ml_ci.data import report as reports
from ml_ci.data.cache_inputs import CHECK_PACKAGES, check_inputs
from ml_ci.data.checks import run_checks
from ml_ci.data.fingerprint import fingerprints
from ml_ci.data.load import HubLoader, load_hub_split, load_tables
from ml_ci.errors import DataCheckError
from ml_ci.github.actions_io import add_summary, escape_data, escape_property, set_output
from ml_ci.pipeline.layout import DATA_REPORT, Layout

_LOCATION = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+)$")
STAGE = "data-check"


def write_report(out_dir: Path, report: Mapping[str, Any], markdown: str) -> None:
    """report.json and report.md into a fresh folder renamed over out_dir: never half-written."""
    with staged_dir(out_dir) as tmp:
        DATA_REPORT.within(tmp).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (tmp / "report.md").write_text(markdown, encoding="utf-8")


def github_annotations(report: Mapping[str, Any], root: Path) -> list[str]:
    """GitHub workflow commands: one ::error per failed check (::warning for one whose severity is warn),
    on its first offending line when it has one."""
    out = []
    for c in report["checks"]:
        if c["passed"]:
            continue
        props = f"title={escape_property('data check ' + c['check'])}"
        if c["rows"] and (m := _LOCATION.match(c["rows"][0])):
            path = os.path.relpath(root / m["file"]) if (root / m["file"]).exists() else m["file"]
            props = f"file={escape_property(path)},line={m['line']}," + props
        command = "warning" if c.get("severity") == "warn" else "error"
        out.append(f"::{command} {props}::{escape_data(c['message'])}")
    return out


def key_of(config: Config) -> tuple[str, list[str]]:
    """The cache key, and the split roles it cannot see (an unpinned hub split)."""
    from ml_ci.versions import package_versions

    fps = fingerprints(config)
    task = tasks.get(config.task).data().check_inputs(config)
    return cache_key(
        STAGE, check_inputs(config, fingerprints=fps, packages=package_versions(CHECK_PACKAGES), task=task)
    ), unpinned(fps)


def data_check(
    config: Config,
    *,
    fmt: str = "text",
    out: TextIO,
    env: Mapping[str, str] | None = None,
    hub_loader: HubLoader = load_hub_split,
    no_cache: bool = False,
) -> int:
    """Run every check of ml.yaml; 0 when all pass or only warn (data.checks.severity), DataCheckError
    (exit 3) when one whose severity is error fails."""
    layout = Layout(config.root)
    dest = layout.artifacts(STAGE)
    key, unseen = key_of(config)

    half = tasks.get(config.task).data()

    def compute() -> None:
        tables = load_tables(config, hub_loader)
        outcomes = run_checks(tables, config.data, half.checks(), half.columns(config.data))
        report = reports.build(tables, outcomes, lambda t: half.describe(t, config.data))
        write_report(dest, report, reports.markdown(report))

    _, cached = through_cache(
        StageCache(layout.cache),
        STAGE,
        key,
        dest,
        mode=mode(no_cache=no_cache, unseen=unseen),
        compute=compute,
        restored=lambda: None,
    )
    # One path after the cache: what is judged and shown is the report on disk, computed or restored.
    report = json.loads(layout.data_report.read_text(encoding="utf-8"))
    add_summary((dest / "report.md").read_text(encoding="utf-8"), env)
    set_output("fingerprint", report["fingerprint"], env)
    announce(cached, env)
    if fmt == "json":
        json.dump(report, out, indent=2, ensure_ascii=False)
        out.write("\n")
    else:
        for line in reports.text_lines(report):
            print(line, file=out)
        if fmt == "github":
            for line in github_annotations(report, config.root):
                print(line, file=out)
    if not report["passed"]:
        error = DataCheckError(reports.failure_message(report, half.checks()))
        error.annotated = fmt == "github"
        raise error
    return 0
