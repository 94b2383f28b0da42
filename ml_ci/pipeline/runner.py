"""Run a plan's stages in order: which to run (`select`), and the loop (`execute`), pure.

The loop takes the function that runs one stage, so tests drive it with fakes; `ml-ci run`
passes one that starts `ml-ci <stage command> -c ml.yaml` as a subprocess. A failed stage
skips everything that depends on it, directly or not, and the run exits with its code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ml_ci.pipeline.layout import STAGES, Layout
from ml_ci.pipeline.plan import Stage

OK, CACHED, FAILED, SKIPPED = "ok", "cache hit", "failed", "skipped"


@dataclass(frozen=True)
class StageRun:
    """What running one stage gave: its exit code and whether it restored a cached result."""

    exit_code: int
    seconds: float
    cache_hit: bool = False


@dataclass(frozen=True)
class Result:
    stage: Stage
    status: str
    seconds: float = 0.0
    exit_code: int = 0
    reason: str = ""


class PlanError(ValueError):
    pass


def select(stages: Sequence[Stage], *, start: str | None = None, only: str | None = None) -> list[Stage]:
    """`only`: that one stage; `start`: that stage and every later one (their earlier inputs are
    expected on disk from a previous run)."""
    names = [s.name for s in stages]
    for wanted in (start, only):
        if wanted is not None and wanted not in names:
            raise PlanError(f"no stage {wanted!r} in this pipeline; stages: {', '.join(names)}")
    if only is not None:
        return [s for s in stages if s.name == only]
    if start is not None:
        return list(stages[names.index(start) :])
    return list(stages)


def argv(stage: Stage, config_name: str) -> list[str]:
    """The CLI call of a stage, run in the model repository; `validate` takes the file as an argument,
    stage commands take -c."""
    if stage.command[0] == "validate":
        return [*stage.command, config_name]
    return [*stage.command, "-c", config_name]


def artifact(stage: Stage, layout: Layout) -> Path | None:
    """Where a stage's output lands (deploy-staging and promote-production share artifacts/deploy)."""
    base = stage.name.split("-")[0] if stage.name.startswith(("deploy-", "promote-")) else stage.name
    if base == "promote":
        base = "deploy"
    return layout.artifacts(base) if base in STAGES else None


def execute(
    stages: Sequence[Stage],
    run_one: Callable[[Stage], StageRun],
    *,
    on_start: Callable[[int, Stage], None] | None = None,
    on_end: Callable[[Result], None] | None = None,
) -> list[Result]:
    results: list[Result] = []
    blocked: dict[str, str] = {}  # stage -> why it cannot run
    for index, stage in enumerate(stages, 1):
        cause = next((blocked[n] for n in stage.needs if n in blocked), None)
        if cause is not None:
            result = Result(stage, SKIPPED, reason=cause)
        else:
            if on_start:
                on_start(index, stage)
            ran = run_one(stage)
            status = FAILED if ran.exit_code else CACHED if ran.cache_hit else OK
            # A cached result can fail too (a gate judged on a restored eval.json): say where it came from.
            reason = f"exit {ran.exit_code}" + (", cache hit" if ran.cache_hit else "") if ran.exit_code else ""
            result = Result(stage, status, ran.seconds, ran.exit_code, reason)
        if result.status == FAILED:
            blocked[stage.name] = f"{stage.name} {result.status}"
        elif result.status == SKIPPED:
            blocked[stage.name] = result.reason
        results.append(result)
        if on_end:
            on_end(result)
    return results


def exit_code(results: Sequence[Result]) -> int:
    """The first failed stage's exit code; 0 when none failed."""
    return next((r.exit_code for r in results if r.status == FAILED), 0)


def summary(results: Sequence[Result], layout: Layout, *, relative_to: Path | None = None) -> list[tuple[str, str, str, str]]:
    """Rows of (stage, status, duration, artifact) for the closing table."""
    rows = []
    for r in results:
        path = artifact(r.stage, layout)
        shown = ""
        if path is not None and r.status in (OK, CACHED):
            shown = str(path.relative_to(relative_to)) if relative_to and path.is_relative_to(relative_to) else str(path)
        status = f"{r.status} ({r.reason})" if r.reason and r.status != OK else r.status
        rows.append((r.stage.name, status, f"{r.seconds:.1f} s" if r.status in (OK, CACHED, FAILED) else "-", shown))
    return rows


def table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...] = ("stage", "status", "duration", "artifact")) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(header), line(tuple("-" * w for w in widths)), *(line(r) for r in rows)])
