"""`fit`: fine-tune model.base for ml.yaml's task with transformers' Trainer.

The one training routine: `ml-ci train` calls it once (under torchrun when scaled out), `ml-ci
tune` once per trial. The task's training half gives the model and its head, the encoding, the
collator, the metrics and any loss of its own; this module is the Trainer loop every task shares.
torch and transformers are imported inside the functions.

    fit(config, splits, *, overrides=None, output_dir, report=None) -> FitResult

- `overrides`: train.* hyperparameters replacing ml.yaml's (validated like ml.yaml).
- `output_dir`: the model is saved to `output_dir/model` (safetensors + tokenizer) by the
  main process; nothing else is written there unless `checkpoint_dir` is inside it.
- `report(step, metrics)`: called after each validation evaluation with the task's metrics
  and `loss`; an exception raised from it stops training and propagates
  (Optuna's TrialPruned), before any model is saved.
- `checkpoint_dir`: where checkpoints go (one per evaluation); None saves none. `resume`
  continues from the latest checkpoint there.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml_ci import tasks
from ml_ci.config.model import Config
from ml_ci.progress import quiet_unless_terminal
from ml_ci.train import base_model, precision
from ml_ci.train.params import HParams, merge

if TYPE_CHECKING:
    from ml_ci.data.load import Splits

Report = Callable[[int, dict[str, float]], None]
Log = Callable[[str], None]


@dataclass(frozen=True)
class FitResult:
    metrics: dict[str, float]  # validation metrics of the final model: the task's, and loss
    loss_curve: tuple[tuple[int, float], ...]  # (optimizer step, training loss)
    eval_curve: tuple[tuple[int, dict[str, float]], ...]  # (optimizer step, validation metrics)
    steps: int  # optimizer steps taken
    model_dir: Path
    hparams: HParams
    precision: str
    world_size: int
    seconds: float
    resumed_from: str | None = None
    loss_weights: dict[str, float] | None = None  # the task's loss weights by name (Loss.weights); None: the model's own loss


def world_size(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    return int(env.get("WORLD_SIZE", "1"))


def is_main_process(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return env.get("RANK", "0") == "0"


def per_device_batch(hp: HParams, processes: int, *, source: str = "ml.yaml") -> int:
    """train.batch_size is the global batch of one forward pass, split evenly across processes."""
    from ml_ci.errors import ConfigError, Problem

    if hp.batch_size % processes:
        raise ConfigError(
            [
                Problem(
                    source,
                    0,
                    0,
                    "train.batch_size",
                    f"{hp.batch_size} does not split evenly across {processes} processes; use a multiple of {processes}",
                )
            ]
        )
    return hp.batch_size // processes


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest complete checkpoint. Trainer writes trainer_state.json last, so a checkpoint that a
    kill interrupted has none (or a truncated one) and is passed over for the one before it."""
    if not folder.is_dir():
        return None
    found = [
        (int(p.name.rpartition("-")[2]), p)
        for p in folder.glob("checkpoint-*")
        if p.is_dir() and p.name.rpartition("-")[2].isdigit()
    ]
    for _, path in sorted(found, reverse=True):
        try:
            json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        return path
    return None


def probe_device() -> precision.Device:
    import torch

    if torch.cuda.is_available():
        return precision.Device(cuda=True, bf16=torch.cuda.is_bf16_supported(), name=torch.cuda.get_device_name(0))
    return precision.Device(cuda=False)


def _strip(metrics: Mapping[str, float]) -> dict[str, float]:
    """Trainer's eval_accuracy -> accuracy; runtime bookkeeping dropped."""
    skip = ("runtime", "samples_per_second", "steps_per_second", "epoch")
    return {
        k.removeprefix("eval_"): float(v)
        for k, v in metrics.items()
        if isinstance(v, (int, float)) and not k.removeprefix("eval_").endswith(skip)
    }


def _training_arguments(
    hp: HParams,
    chosen: str,
    device: precision.Device,
    *,
    work: Path,
    per_device: int,
    steps_per_epoch: int,
    checkpoints: bool,
    bar: bool,
    eval_batch: int,
) -> Any:
    import inspect

    from transformers import TrainingArguments

    total = max(1, math.ceil(steps_per_epoch * hp.epochs))
    strategy = "steps" if hp.eval_steps > 0 else "epoch"
    kwargs: dict[str, Any] = dict(
        output_dir=str(work),
        overwrite_output_dir=True,
        seed=hp.seed,
        data_seed=hp.seed,
        full_determinism=True,
        num_train_epochs=hp.epochs,
        per_device_train_batch_size=per_device,
        per_device_eval_batch_size=eval_batch,
        learning_rate=hp.learning_rate,
        weight_decay=hp.weight_decay,
        gradient_accumulation_steps=hp.gradient_accumulation_steps,
        lr_scheduler_type="linear",
        eval_strategy=strategy,
        eval_steps=hp.eval_steps or None,
        save_strategy=strategy if checkpoints else "no",
        save_steps=hp.eval_steps or None,
        save_total_limit=1,
        logging_strategy="steps",
        logging_steps=max(1, total // 50),
        logging_first_step=True,
        bf16=chosen == "bf16",
        fp16=chosen == "fp16",
        use_cpu=not device.cuda,
        ddp_backend=("nccl" if device.cuda else "gloo") if world_size() > 1 else None,
        disable_tqdm=not bar,
        report_to="none",
        dataloader_num_workers=0,
        save_only_model=False,
        # The model's loss is the mean over its own batch; DDP then averages gradients over
        # processes. Token averaging across devices would multiply loss (and gradients) by the world size.
        average_tokens_across_devices=False,
    )
    accepted = inspect.signature(TrainingArguments.__init__).parameters
    # transformers 5 folds warmup_ratio into warmup_steps (a float below 1 is a ratio).
    if "warmup_ratio" in accepted:
        kwargs["warmup_ratio"] = hp.warmup_ratio
    else:
        kwargs["warmup_steps"] = min(hp.warmup_ratio, 0.999999) if hp.warmup_ratio < 1 or total <= 1 else total
    return TrainingArguments(**{k: v for k, v in kwargs.items() if k in accepted})


def _callback(
    report: Report | None,
    log: Log,
    bar: bool,
    evals: list[tuple[int, dict[str, float]]],
    derive: Callable[[dict[str, float]], dict[str, float]],
) -> Any:
    from transformers import TrainerCallback

    class Progress(TrainerCallback):  # type: ignore[misc]
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if bar or not state.is_world_process_zero or not logs or "loss" not in logs:
                return
            log(f"step {state.global_step}/{state.max_steps} loss {logs['loss']:.4f} lr {logs.get('learning_rate', 0):.2e}")

        def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any = None, **kw: Any) -> None:
            clean = derive(_strip(metrics or {}))
            evals.append((state.global_step, clean))
            if state.is_world_process_zero:
                log(f"validation at step {state.global_step}: " + " ".join(f"{k} {v:.4f}" for k, v in sorted(clean.items())))
            if report is not None:
                report(state.global_step, clean)

    return Progress()


def fit(
    config: Config,
    splits: Splits,
    *,
    overrides: dict[str, Any] | None = None,
    output_dir: Path,
    report: Report | None = None,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    log: Log | None = None,
) -> FitResult:
    """Fine-tune; see the module docstring for the contract."""
    import transformers
    from transformers import Trainer
    from transformers.trainer_callback import PrinterCallback

    started = time.perf_counter()
    say: Log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    source = str(config.path)
    hp = merge(config.train, overrides, source="--params" if overrides else source, task=config.task)
    device = probe_device()
    chosen = precision.choose(hp.precision, device, source=source)
    processes = world_size()
    per_device = per_device_batch(hp, processes, source=source)
    base = base_model.resolve(config)
    half = tasks.get(config.task).training()

    bar = quiet_unless_terminal()  # loading, tokenizing and saving draw bars too; in CI logs they are noise
    transformers.set_seed(hp.seed, deterministic=True)  # before the new head is initialized
    tokenizer, model = half.load_pretrained(base, config)
    model = half.adapt(model, config, hp)
    train_set, val_set = (half.encode(splits[role], tokenizer, config, role) for role in ("train", "validation"))

    steps_per_epoch = math.ceil(len(train_set) / (per_device * processes) / hp.gradient_accumulation_steps)
    work = checkpoint_dir or output_dir / ".trainer"
    metrics_fn = half.compute_metrics(config)
    args = _training_arguments(
        hp,
        chosen,
        device,
        work=work,
        per_device=per_device,
        steps_per_epoch=steps_per_epoch,
        checkpoints=checkpoint_dir is not None,
        bar=bar,
        # Validation batches of 32 are cheap for a classifier; a language model's logits are vocabulary-wide
        # (a batch of 32 x 2048 tokens x 152k is 40 GB), so a task that keeps none validates at the training batch.
        eval_batch=max(per_device, 32) if metrics_fn is not None else per_device,
    )
    evals: list[tuple[int, dict[str, float]]] = []
    loss = half.loss(config, hp, splits["train"])
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=val_set,
        data_collator=half.collator(tokenizer),
        processing_class=tokenizer,
        compute_metrics=metrics_fn,
        callbacks=[_callback(report, say, bar, evals, half.derived_metrics)],
        compute_loss_func=loss.compute if loss else None,
    )
    if not bar:  # our log lines replace the raw dicts Trainer prints when it has no bar
        trainer.remove_callback(PrinterCallback)
    newest = latest_checkpoint(work) if resume and checkpoint_dir is not None else None
    last = str(newest) if newest else None
    if resume and trainer.is_world_process_zero():  # one line per run, not one per process
        say(f"resuming from {last}" if last else "no checkpoint to resume from: training from the start")
    if trainer.is_world_process_zero():
        say(
            f"training {base.spec} on {len(train_set)} rows: {processes} process(es), {chosen}, global batch {hp.batch_size}, "
            f"{hp.epochs} epoch(s), learning rate {hp.learning_rate:g}, seed {hp.seed}" + (loss.summary if loss else "")
        )
    trainer.train(resume_from_checkpoint=last)
    step = trainer.state.global_step
    final = evals[-1][1] if evals and evals[-1][0] == step else half.derived_metrics(_strip(trainer.evaluate()))
    model_dir = output_dir / "model"
    if trainer.is_world_process_zero():
        trainer.save_model(str(model_dir))  # weights as safetensors, the model's config, the tokenizer
        # The folder is loaded by other processes and images: no pickles in it, readable by all.
        (model_dir / "training_args.bin").unlink(missing_ok=True)
        for path in model_dir.iterdir():
            path.chmod(0o644)
    if checkpoint_dir is None and work.exists() and trainer.is_world_process_zero():
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    losses = tuple((int(e["step"]), float(e["loss"])) for e in trainer.state.log_history if "loss" in e)
    return FitResult(
        metrics=final,
        loss_curve=losses,
        eval_curve=tuple(evals),
        steps=step,
        model_dir=model_dir,
        hparams=hp,
        precision=chosen,
        world_size=processes,
        seconds=time.perf_counter() - started,
        resumed_from=last,
        loss_weights=loss.weights if loss else None,
    )
