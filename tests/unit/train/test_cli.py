"""`ml-ci train`'s result line and step outputs: once per command, however many processes train."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ml_ci.cli import train as train_cli
from ml_ci.train import stage
from ml_ci.train.launch import reports_result
from tests.modelrepo import make_model_repo

PARENT: dict[str, str] = {}
OUR_WORKER = {"ML_CI_TORCHRUN_WORKER": "1", "LOCAL_RANK": "0", "RANK": "0", "WORLD_SIZE": "2"}
OUR_OTHER_WORKER = {**OUR_WORKER, "LOCAL_RANK": "1", "RANK": "1"}
USER_TORCHRUN_RANK0 = {"LOCAL_RANK": "0", "RANK": "0", "WORLD_SIZE": "2"}
USER_TORCHRUN_RANK1 = {"LOCAL_RANK": "1", "RANK": "1", "WORLD_SIZE": "2"}


def test_only_one_process_of_a_distributed_run_reports() -> None:
    assert reports_result(PARENT)
    assert not reports_result(OUR_WORKER) and not reports_result(OUR_OTHER_WORKER)  # their parent reports
    assert reports_result(USER_TORCHRUN_RANK0) and not reports_result(USER_TORCHRUN_RANK1)  # no parent: rank 0


@pytest.fixture
def trained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """ml-ci train with `run` replaced by one that returns a trained folder (no training in unit tests)."""
    root = tmp_path / "repo"
    make_model_repo(root)
    folder = root / ".ml-ci/artifacts/train"
    (folder / "model").mkdir(parents=True)
    (folder / "model/model.safetensors").write_bytes(b"w")

    def run(config: Any, options: Any, *, env: Any = None, echo: Any = None) -> stage.Outcome:
        return stage.Outcome("trained", "k" * 64, folder, {"accuracy": 0.9})

    monkeypatch.setattr(stage, "run", run)
    return root


@pytest.mark.parametrize(
    ("processes", "lines"),
    [
        ([PARENT], 1),
        ([PARENT, OUR_WORKER, OUR_OTHER_WORKER], 1),  # `ml-ci train` with nproc_per_node: 2 runs three processes
        ([USER_TORCHRUN_RANK0, USER_TORCHRUN_RANK1], 1),
    ],
)
def test_the_result_line_and_outputs_come_once_per_command(
    trained: Path, processes: list[dict[str, str]], lines: int, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    outputs = tmp_path / "github_output"
    outputs.touch()
    for env in processes:
        assert train_cli.execute(trained / "ml.yaml", stage.TrainOptions(), env={**env, "GITHUB_OUTPUT": str(outputs)}) == 0
    out = capsys.readouterr().out
    assert out.count("train: trained:") == lines, out
    assert outputs.read_text().count("model-digest=") == lines
