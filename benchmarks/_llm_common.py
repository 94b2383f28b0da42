"""What the two text-generation benchmarks (llm_train.py, llm_evaluate.py) share: the records (a JSON Lines folder,
by default the assistant example's), the base model (a tiny random Llama built here, or --base), and a model
repository of `task: text-generation` for `ml-ci`.

No real data set for LLM fine-tuning and no pretrained causal LM is on this machine (../shared/datasets holds SST-2
and CoNLL-2003 only, and no model hub can be reached): by default both benchmarks run on examples/assistant/data
(small arithmetic questions) with a randomly initialised 2-layer Llama made by examples/assistant/make_base.py, so
their figures are of ml-ci's overhead around a small computation, not of a real model. `--base` takes a hub id or
a folder and `--data` a folder of {train,validation,test}.jsonl for a run on real ones.

The leading underscore keeps benchmarks/run_all.py from running this module as a benchmark.
"""

from __future__ import annotations

import argparse
import json
import resource
import runpy
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples/assistant/data"
MAKE_BASE = ROOT / "examples/assistant/make_base.py"
# The assistant example's adapter targets (every linear layer of a Llama block, and the output layer).
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head")


@dataclass(frozen=True)
class Settings:
    """What both sides of llm_train.py train with (and llm_evaluate.py's one training)."""

    base: str  # a folder (absolute) or a hub id: what the scripts load
    base_in_yaml: str  # model.base: the folder relative to the repository, or the hub id
    epochs: int
    batch: int
    lr: float
    seed: int
    max_length: int
    warmup: float  # ratio of the steps
    weight_decay: float
    rank: int
    alpha: float
    dropout: float
    targets: tuple[str, ...] | str  # module names, or "all-linear"

    def as_json(self) -> dict[str, Any]:
        fields = {k: v for k, v in self.__dict__.items() if k != "base_in_yaml"}
        return {**fields, "targets": self.targets if isinstance(self.targets, str) else list(self.targets)}


def training_settings(base: str, base_in_yaml: str, *, epochs: int, max_length: int, hub_base: bool) -> Settings:
    """The settings of the one unmeasured training that llm_evaluate.py and llm_serve.py make (llm_train.py's
    defaults): LoRA on the example's modules, or on every linear layer of a base from the hub or a folder."""
    return Settings(
        base=base,
        base_in_yaml=base_in_yaml,
        epochs=epochs,
        batch=16,
        lr=3e-3,
        seed=42,
        max_length=max_length,
        warmup=0.05,
        weight_decay=0.0,
        rank=16,
        alpha=32.0,
        dropout=0.0,
        targets="all-linear" if hub_base else TARGETS,
    )


def base_model(base: str | None, repo: Path, *, hidden: int = 64, layers: int = 2) -> tuple[str, str, str]:
    """(the base for a script: a folder's absolute path or a hub id, model.base in ml.yaml, a description). ml.yaml
    names a folder relative to its repository: repo/base-model, a random Llama built there by the example's
    make_base.py (seed 0; the example's own is hidden 64, 2 layers), or a link to the folder given."""
    here = repo / "base-model"
    if base is None:
        if not (here / "config.json").is_file():
            runpy.run_path(str(MAKE_BASE))["build"]("llama", here, seed=0, hidden=hidden, layers=layers)
        size = sum(p.stat().st_size for p in here.glob("*.safetensors")) / 4 / 1e6  # fp32 parameters, millions
        return (
            str(here),
            here.name,
            f"random Llama (examples/assistant/make_base.py build('llama', seed=0, hidden={hidden}, layers={layers}): "
            f"{size:.2f}M parameters)",
        )
    folder = Path(base).expanduser()
    if not folder.is_dir():
        return base, base, f"hub id {base}"
    repo.mkdir(parents=True, exist_ok=True)
    here.symlink_to(folder.resolve(), target_is_directory=True)
    return str(folder.resolve()), here.name, f"folder {folder}"


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def copy_data(data: Path, repo: Path, splits: tuple[str, ...] = ("train", "validation", "test")) -> dict[str, int]:
    """data/{split}.jsonl into repo/data (refusing a folder without them); the records per split."""
    counts = {}
    for split in splits:
        source = data / f"{split}.jsonl"
        if not source.is_file():
            sys.exit(f"--data {data}: no {split}.jsonl (a folder of train.jsonl, validation.jsonl and test.jsonl)")
        (repo / "data").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, repo / f"data/{split}.jsonl")
        counts[split] = len(records(source))
    return counts


def ml_yaml(s: Settings, *, evaluate: str = "") -> str:
    """A model repository's ml.yaml for data/{train,validation,test}.jsonl (prompt/completion or chat records).
    The checks are loosened (the benchmarks measure training and evaluation, not the data checks, and a user's
    --data may repeat prompts across splits); validation once at each epoch's end (`eval_steps: 0`, the default)."""
    targets = s.targets if isinstance(s.targets, str) else "[" + ", ".join(s.targets) + "]"
    return f"""version: 1
name: llm-bench
task: text-generation
data:
  train: data/train.jsonl
  validation: data/validation.jsonl
  test: data/test.jsonl
  checks:
    min_rows: 1
    max_duplicate_fraction: 1.0
    max_truncated_fraction: 1.0
    leakage: false
model:
  base: {json.dumps(s.base_in_yaml)}
  max_length: {s.max_length}
train:
  epochs: {s.epochs}
  batch_size: {s.batch}
  learning_rate: {s.lr}
  warmup_ratio: {s.warmup}
  weight_decay: {s.weight_decay}
  seed: {s.seed}
  precision: auto
  adapter: {{type: lora, rank: {s.rank}, alpha: {s.alpha}, dropout: {s.dropout}, target_modules: {targets}}}
  packing: false
{evaluate}"""


def common_arguments(parser: argparse.ArgumentParser) -> None:
    """The records, the base model, the log and the work folder, as both benchmarks take them."""
    # --records first: run_all.py passes its --data (SST-2's TSV files) to the benchmarks whose first option name is --data
    parser.add_argument(
        "--records", "--data", dest="data", type=Path, default=DATA, help="folder of train.jsonl, validation.jsonl, test.jsonl"
    )
    parser.add_argument("--base", default=None, help="base model: a folder or hub id (default: a tiny random Llama)")
    parser.add_argument("--hidden", type=int, default=64, help="the random Llama's hidden size (default 64, the example's)")
    parser.add_argument("--layers", type=int, default=2, help="the random Llama's layers (default 2, the example's)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="OMP_NUM_THREADS for every side (default: torch's own, one per core); 1 keeps a shared machine's other "
        "processes from stalling a run's thread barrier, so that they slow it in proportion",
    )
    parser.add_argument("--log", type=Path, default=None, help="append every run's output here, time-stamped")
    parser.add_argument("--workdir", type=Path, default=None, help="keep everything here (default: a temporary folder)")


@dataclass(frozen=True)
class Repo:
    """The temporary model repository: its folder, its records per split, and its base model."""

    folder: Path
    counts: dict[str, int]
    base: str  # what the scripts load
    base_in_yaml: str
    described: str


def prepared(args: argparse.Namespace, work: Path) -> Repo:
    """work/repo with the records copied and the base model in place (`base_model`)."""
    folder = work / "repo"
    counts = copy_data(args.data.resolve(), folder)
    base, in_yaml, described = base_model(args.base, folder, hidden=args.hidden, layers=args.layers)
    return Repo(folder, counts, base, in_yaml, described)


def in_workdir(args: argparse.Namespace, prefix: str, body: Callable[[argparse.Namespace, Path], None]) -> None:
    """body(args, work) in --workdir, or in a temporary folder removed afterwards."""
    work = args.workdir or Path(tempfile.mkdtemp(prefix=prefix))
    try:
        body(args, work.resolve())
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


def cpu_seconds() -> float:
    """User + system CPU seconds of the finished child processes (every thread): on a shared machine they move far
    less with the load than wall time does."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def threads(env: dict[str, str], n: int | None) -> str:
    """Set every side's OpenMP/MKL threads (in `env`, which the benchmarks start their processes with); say how many."""
    if n is None:
        return "torch's default (one per core)"
    env.update({"OMP_NUM_THREADS": str(n), "MKL_NUM_THREADS": str(n)})
    return f"{n} (OMP_NUM_THREADS, MKL_NUM_THREADS), every side"


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()
