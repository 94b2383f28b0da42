"""The pure helpers around Trainer: checkpoint choice, batch split, progress display."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ml_ci.config import load_config
from ml_ci.config.model import Distributed, Train
from ml_ci.errors import ConfigError
from ml_ci.progress import QUIET_ENV, quiet_unless_terminal, show_progress_bar
from ml_ci.train import stage
from ml_ci.train.fit import is_main_process, latest_checkpoint, per_device_batch, world_size
from tests.modelrepo import make_model_repo
from tests.unit.cache.scratch import config as scratch_config
from tests.unit.cache.scratch import scratch

TRAIN = Train(
    epochs=1,
    batch_size=32,
    learning_rate=1e-4,
    weight_decay=0.0,
    warmup_ratio=0.1,
    gradient_accumulation_steps=1,
    eval_steps=0,
    seed=1,
    precision="auto",
    distributed=Distributed(nproc_per_node=1, nodes=1),
)


def _checkpoint(root: Path, step: int, state: str | None = '{"global_step": 1}') -> Path:
    path = root / f"checkpoint-{step}"
    path.mkdir(parents=True)
    if state is not None:
        (path / "trainer_state.json").write_text(state)
    return path


def test_latest_complete_checkpoint_passes_over_one_a_kill_interrupted(tmp_path: Path) -> None:
    assert latest_checkpoint(tmp_path / "none") is None
    _checkpoint(tmp_path, 2)
    ten = _checkpoint(tmp_path, 10)
    _checkpoint(tmp_path, 12, state=None)  # killed before its state was written
    _checkpoint(tmp_path, 14, state='{"global_st')  # killed while writing it
    (tmp_path / "checkpoint-x").mkdir()
    assert latest_checkpoint(tmp_path) == ten  # numeric order: 10 after 2


def test_global_batch_is_split_evenly_across_processes() -> None:
    assert per_device_batch(TRAIN, 1) == 32
    assert per_device_batch(TRAIN, 4) == 8
    with pytest.raises(ConfigError, match="32 does not split evenly across 3 processes; use a multiple of 3"):
        per_device_batch(TRAIN, 3)


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal_outside_ci() -> None:
    assert show_progress_bar({}, Tty())
    assert not show_progress_bar({"CI": "true"}, Tty())
    assert not show_progress_bar({}, io.StringIO())


def test_rank_and_world_size_come_from_torchrun_variables() -> None:
    assert (world_size({}), is_main_process({})) == (1, True)
    assert (world_size({"WORLD_SIZE": "2", "RANK": "1"}), is_main_process({"RANK": "1"})) == (2, False)


@pytest.fixture
def bars_restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Bars on, as in a fresh process; switched back on afterwards (the libraries keep global state)."""
    import datasets
    import huggingface_hub.utils
    import transformers

    for name in QUIET_ENV:
        monkeypatch.delenv(name, raising=False)

    def on() -> None:
        transformers.utils.logging.enable_progress_bar()  # type: ignore[no-untyped-call]
        datasets.enable_progress_bars()
        huggingface_hub.utils.enable_progress_bars()  # type: ignore[attr-defined]  # exported, but not in __all__

    on()
    yield
    on()


def _bars_on() -> list[bool]:
    import datasets
    import huggingface_hub.utils
    import transformers

    return [
        transformers.utils.logging.is_progress_bar_enabled(),
        datasets.is_progress_bar_enabled(),
        not huggingface_hub.utils.are_progress_bars_disabled(),  # type: ignore[attr-defined]
    ]


def test_train_silences_every_librarys_bars_before_loading_anything_in_ci(bars_restored: None, tmp_path: Path) -> None:
    """`Loading weights` and friends come from transformers, datasets and huggingface_hub: in CI (or into a
    file) all three are off from the start of the command, and so are its workers' (through the environment)."""
    config = load_config(make_model_repo(tmp_path)).config
    assert _bars_on() == [True, True, True]
    stage.run(config, stage.TrainOptions(print_cache_key=True), env={"CI": "true"})
    assert _bars_on() == [False, False, False]
    assert all(os.environ.get(name) == "1" for name in QUIET_ENV)


def test_tune_silences_them_too(bars_restored: None, tmp_path: Path) -> None:
    from ml_ci.tune import run as tune_run

    config = scratch_config(scratch(tmp_path / "repo"))
    tune_run.tune(
        config,
        tune_run.TuneOptions(trials=3, no_cache=True),
        env={"CI": "true", "ML_CI_TUNE_FIT": "tests.unit.cache.scratch:fake_fit"},
    )
    assert _bars_on() == [False, False, False]


def test_on_a_terminal_outside_ci_the_bars_stay(bars_restored: None) -> None:
    assert quiet_unless_terminal({}, Tty())
    assert _bars_on() == [True, True, True]
    assert not any(name in os.environ for name in QUIET_ENV)
