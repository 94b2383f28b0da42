"""PNG plots with matplotlib's headless Agg backend: the task's (first), the metric history and the
training curves of the task's headline metrics. `figure` is what the tasks draw theirs with."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ml_ci.records.evaluation import EvalRecord
    from ml_ci.tasks.protocols.evaluation import EvaluationHalf


@contextmanager
def figure(path: Path, **subplots: Any) -> Iterator[tuple[Any, Any]]:
    """A figure and its axes, saved to path when the block succeeds, closed either way."""
    import matplotlib

    matplotlib.use("Agg")  # no display on runners
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(dpi=100, **subplots)
    try:
        yield fig, axes
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)


def history_png(history: Sequence[Mapping[str, Any]], current: Mapping[str, Any], path: Path, metrics: Sequence[str]) -> Path:
    """Each metric over the past evaluations (the baseline's history), then this one."""
    points = [*history, {"git_sha": "this", "metrics": current}]
    xs = list(range(len(points)))
    names = [str(p.get("git_sha") or "?")[:7] for p in points]
    with figure(path, figsize=(max(4.0, 0.5 * len(points) + 2), 3.2)) as (_, ax):
        for m in metrics:
            ys = [(p.get("metrics") or {}).get(m) for p in points]
            ax.plot(xs, [float("nan") if y is None else y for y in ys], marker="o", label=m)
        ax.set_xticks(xs, labels=names, rotation=45, ha="right")
        ax.set_title("metric history")
        ax.legend(loc="lower left")
    return path


def training_png(train_metrics: Mapping[str, Any], path: Path, metrics: Sequence[str]) -> Path | None:
    """The training run's curves (train/metrics.json): loss by step, and validation metrics by step.

    None when the file has no curve to draw (e.g. a model trained elsewhere)."""
    loss = [(p[0], p[1]) for p in train_metrics.get("loss_curve") or [] if isinstance(p, (list, tuple)) and len(p) == 2]
    evals = [e for e in train_metrics.get("eval_curve") or [] if isinstance(e, Mapping) and "step" in e]
    if not loss and not evals:
        return None
    with figure(path, ncols=2, figsize=(8, 3.2)) as (_, (left, right)):
        if loss:
            left.plot([s for s, _ in loss], [v for _, v in loss], color="tab:red")
        left.set_title("training loss")
        left.set_xlabel("step")
        for m in metrics:
            points = [(e["step"], e[m]) for e in evals if isinstance(e.get(m), (int, float))]
            if points:
                right.plot([s for s, _ in points], [v for _, v in points], marker="o", label=m)
        right.set_title("validation")
        right.set_xlabel("step")
        if evals:
            right.legend(loc="lower right")
    return path


def draw_all(
    record: EvalRecord, folder: Path, half: EvaluationHalf, train_metrics: Mapping[str, Any] | None = None
) -> list[Path]:
    """Every plot of an evaluation record into folder: the task's, metric history, training curves."""
    metrics = [metric for metric, _ in half.HEADLINE_METRICS]
    images = [
        *half.plots(record, folder),
        history_png(record.history, record.metrics, folder / "history.png", metrics),
    ]
    curve = training_png(train_metrics, folder / "training.png", metrics) if train_metrics else None
    return images + ([curve] if curve else [])
