"""`ml-ci report`, the effectful part: gather the stage reports, write the markdown, post it.

The markdown and the plots go to .ml-ci/report/ (report.md, *.png) and the markdown to the job
summary; with a pull request it becomes one sticky comment, and with a commit the verdict becomes
a commit status.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml_ci import tasks
from ml_ci.atomic import staged_dir
from ml_ci.config.model import Config
from ml_ci.errors import OperationalError
from ml_ci.github import actions_io
from ml_ci.github.api import Posted, State, connect, post_status, upsert_comment
from ml_ci.github.context import Target, resolve
from ml_ci.jsonfile import read_object
from ml_ci.pipeline.layout import Layout
from ml_ci.records import evaluation as eval_record
from ml_ci.records.evaluation import EvalRecord
from ml_ci.report import markdown, plots
from ml_ci.tasks.protocols.evaluation import EvaluationHalf

REPORT_DIR = "report"  # under .ml-ci/, beside artifacts/: the report is not a pipeline stage


@dataclass(frozen=True)
class Options:
    pr: int | None = None
    repo: str | None = None
    sha: str | None = None
    github_url: str | None = None
    post: bool = True


@dataclass(frozen=True)
class Result:
    path: Path
    body: str
    comment: Posted | None
    status: State | None
    skipped: str | None = None  # why nothing was posted, when that is not an error


def status_of(record: EvalRecord) -> tuple[State, str]:
    """The commit status: success or failure, and which gates failed."""
    gates = record.all_gates
    failed = [g.name for g in gates if not g.passed]
    if record.verdict == "pass" and not failed:
        return "success", f"all {len(gates)} quality gates passed"
    return "failure", f"{len(failed)} of {len(gates)} gates failed: " + "; ".join(failed)


def _optional(path: Path, what: str) -> dict[str, Any] | None:
    return read_object(path, what) if path.is_file() else None


def render(layout: Layout, target: Target, half: EvaluationHalf) -> tuple[EvalRecord, str]:
    if not layout.eval_record.is_file():
        raise OperationalError(f"no evaluation record at {layout.eval_record}: run `ml-ci evaluate` first")
    record = eval_record.read(layout.eval_record, head=half.RECORD_HEAD)
    body = markdown.pr_comment(
        record,
        half.report(record),
        data_report=_optional(layout.data_report, "data-check report"),
        tune_report=_optional(layout.tune_report, "tuning report"),
        run_url=target.run_url,
        sha=target.sha,
    )
    return record, body


def run(config: Config, options: Options, env: Mapping[str, str] | None = None) -> Result:
    env = os.environ if env is None else env
    layout = Layout(config.root)
    target = resolve(env, repo=options.repo, pr=options.pr, sha=options.sha, github_url=options.github_url)
    half = tasks.get(config.task).evaluation()
    record, body = render(layout, target, half)
    out_dir = layout.state / REPORT_DIR
    with staged_dir(out_dir) as tmp:
        tmp.chmod(0o755)  # mkdtemp makes it private; the folder is uploaded as an artifact
        train_metrics = layout.train_metrics
        plots.draw_all(record, tmp, half, _optional(train_metrics, "training metrics"))
        (tmp / "report.md").write_text(body, encoding="utf-8")
    path = out_dir / "report.md"
    actions_io.add_summary(body, env)
    wants_comment = options.post and target.pr is not None
    wants_status = options.post and target.repo is not None and target.sha is not None
    if not (wants_comment or wants_status):
        return Result(path, body, None, None)
    if target.repo is None:
        raise OperationalError("--pr needs the repository: pass --repo OWNER/NAME (or set GITHUB_REPOSITORY)")
    token = env.get("GITHUB_TOKEN", "")
    if not token:
        if options.pr is None and options.repo is None:
            # Only the runner's variables point at GitHub (e.g. a local `act` run): write, do not post.
            return Result(path, body, None, None, skipped="GITHUB_TOKEN is not set: the report was not posted")
        raise OperationalError("GITHUB_TOKEN is not set: it is needed to post the report (or pass --no-post)")
    gh = connect(target, token)
    posted = upsert_comment(gh, target, body, markdown.marker(config.name), token) if wants_comment else None
    state: State | None = None
    if wants_status:
        state, description = status_of(record)
        post_status(gh, target, state, description, f"ml-ci/{config.name}", token)
    return Result(path, body, posted, state)
