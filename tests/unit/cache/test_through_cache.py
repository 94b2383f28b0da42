"""The generic cache flow every stage but train goes through: restore or compute, what is stored,
--no-cache, keys that cannot see their data, and what `ml-ci run` is told."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_ci.cache import Cached, Mode, StageCache, announce, mode, through_cache, unpinned
from ml_ci.pipeline import runner
from ml_ci.pipeline.layout import Layout
from ml_ci.pipeline.plan import Stage


class Counted:
    """A stage that writes `report.txt` with a counter, so each computation is told apart."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.runs = 0

    def compute(self) -> str:
        self.runs += 1
        self.dest.mkdir(parents=True, exist_ok=True)
        (self.dest / "report.txt").write_text(f"run {self.runs}")
        return f"computed {self.runs}"

    def restored(self) -> str:
        return "restored " + (self.dest / "report.txt").read_text()


def go(cache: StageCache, stage: Counted, how: Mode, key: str = "k", keep: bool = True) -> tuple[str, Cached]:
    return through_cache(
        cache, "s", key, stage.dest, mode=how, compute=stage.compute, restored=stage.restored, keep=lambda _: keep
    )


def test_a_miss_computes_and_stores_then_a_hit_restores_the_same_bytes(tmp_path: Path) -> None:
    cache, stage = StageCache(tmp_path / "cache"), Counted(tmp_path / "out")
    assert go(cache, stage, Mode.ON) == ("computed 1", Cached("s", "k", Mode.ON, False))
    (stage.dest / "report.txt").write_text("changed by hand")
    assert go(cache, stage, Mode.ON) == ("restored run 1", Cached("s", "k", Mode.ON, True))
    assert stage.runs == 1
    assert go(cache, stage, Mode.ON, key="other")[1].hit is False and stage.runs == 2


def test_no_cache_recomputes_and_refreshes_the_entry(tmp_path: Path) -> None:
    cache, stage = StageCache(tmp_path / "cache"), Counted(tmp_path / "out")
    go(cache, stage, Mode.ON)
    assert go(cache, stage, Mode.REFRESH) == ("computed 2", Cached("s", "k", Mode.REFRESH, False))
    assert go(cache, stage, Mode.ON)[0] == "restored run 2"  # the entry holds the fresh result


def test_off_neither_restores_nor_stores(tmp_path: Path) -> None:
    cache, stage = StageCache(tmp_path / "cache"), Counted(tmp_path / "out")
    go(cache, stage, Mode.OFF)
    assert cache.lookup("s", "k") is None
    go(cache, stage, Mode.ON)
    assert go(cache, stage, Mode.OFF)[0] == "computed 3"


def test_a_result_not_kept_is_not_stored(tmp_path: Path) -> None:
    cache, stage = StageCache(tmp_path / "cache"), Counted(tmp_path / "out")
    go(cache, stage, Mode.ON, keep=False)
    assert cache.lookup("s", "k") is None
    assert go(cache, stage, Mode.ON)[1].hit is False


def test_a_failed_computation_stores_nothing(tmp_path: Path) -> None:
    cache = StageCache(tmp_path / "cache")

    def fail() -> str:
        raise RuntimeError("gate")

    with pytest.raises(RuntimeError):
        through_cache(cache, "s", "k", tmp_path / "out", mode=Mode.ON, compute=fail, restored=lambda: "")
    assert not (tmp_path / "cache").exists()


def test_mode_and_unpinned_hub_splits() -> None:
    assert mode(no_cache=False, unseen=[]) is Mode.ON
    assert mode(no_cache=True, unseen=[]) is Mode.REFRESH
    assert mode(no_cache=True, unseen=["test"]) is Mode.OFF
    fps = {
        "train": "hub:o/d/default[train]@unpinned",
        "test": "hub:o/d/default[test]@unpinned#abc",
        "validation": "hub:o/d/default[validation]@v1",
        "reference": "sha256:00",
    }
    assert unpinned(fps) == ["test", "train"]


def test_announce_sets_the_outputs_run_reads_and_says_why(tmp_path: Path) -> None:
    said: list[str] = []
    out = tmp_path / "out"
    env = {"GITHUB_OUTPUT": str(out)}
    announce(Cached("evaluate", "ab" * 32, Mode.ON, True), env, said.append)
    announce(Cached("export", "cd" * 32, Mode.OFF, False), env, said.append)
    assert out.read_text().splitlines() == [
        f"cache-key={'ab' * 32}",
        "cache-hit=true",
        f"cache-key={'cd' * 32}",
        "cache-hit=false",
    ]
    assert said[0] == "evaluate: cache hit (abababababababab): restored the result of the same inputs"
    assert said[1].startswith("export: not cached: a data.hub split without a revision")


def test_run_reports_hits_and_a_failure_restored_from_the_cache(tmp_path: Path) -> None:
    stages = [Stage("evaluate", ("evaluate",)), Stage("export", ("export",), ("evaluate",)), Stage("tune", ("tune",))]
    runs = {"evaluate": runner.StageRun(4, 0.2, cache_hit=True), "tune": runner.StageRun(0, 0.1, cache_hit=True)}
    results = runner.execute(stages, lambda s: runs[s.name])
    rows = runner.summary(results, Layout(tmp_path), relative_to=tmp_path)
    assert [r[:3] for r in rows] == [
        ("evaluate", "failed (exit 4, cache hit)", "0.2 s"),
        ("export", "skipped (evaluate failed)", "-"),
        ("tune", "cache hit", "0.1 s"),
    ]
    assert runner.exit_code(results) == 4


def _change_a_file(files: Path) -> None:
    (files / "report.txt").write_text("flipped on disk")


def _remove_a_file(files: Path) -> None:
    (files / "report.txt").unlink()


def _add_a_file(files: Path) -> None:
    (files / "stray.txt").write_text("x")


def _garble_the_manifest(files: Path) -> None:
    (files.parent / "manifest.json").write_text("{not json")


def _remove_the_manifest(files: Path) -> None:
    (files.parent / "manifest.json").unlink()


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (_change_a_file, "files differ from the sha256s in its manifest.json (changed: report.txt)"),
        (_remove_a_file, "files differ from the sha256s in its manifest.json (missing: report.txt)"),
        (_add_a_file, "files differ from the sha256s in its manifest.json (not in the manifest: stray.txt)"),
        (_garble_the_manifest, "its manifest.json cannot be read (JSONDecodeError)"),
        (_remove_the_manifest, "it has no manifest.json"),
    ],
)
def test_a_damaged_entry_is_recomputed_and_says_what_did_not_match(tmp_path: Path, damage: object, why: str) -> None:
    said: list[str] = []
    cache, stage = StageCache(tmp_path / "cache", warn=said.append), Counted(tmp_path / "out")
    go(cache, stage, Mode.ON, key="0123456789abcdef0123")
    entry = cache.entry("s", "0123456789abcdef0123")
    assert callable(damage)
    damage(entry / "files")
    assert go(cache, stage, Mode.ON, key="0123456789abcdef0123") == (
        "computed 2",
        Cached("s", "0123456789abcdef0123", Mode.ON, False),
    )
    assert said == [f"warning: s: cache entry 0123456789abcdef is damaged: {why}; removed it, computing again ({entry})"]
    assert go(cache, stage, Mode.ON, key="0123456789abcdef0123")[0] == "restored run 2"  # stored afresh, quietly
    assert len(said) == 1


def test_a_damaged_entry_warns_on_stderr_by_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache, stage = StageCache(tmp_path / "cache"), Counted(tmp_path / "out")
    go(cache, stage, Mode.ON)
    _change_a_file(cache.entry("s", "k") / "files")
    assert go(cache, stage, Mode.ON)[0] == "computed 2"
    assert "warning: s: cache entry k is damaged: files differ" in capsys.readouterr().err


def test_a_missing_entry_is_a_quiet_miss(tmp_path: Path) -> None:
    said: list[str] = []
    assert StageCache(tmp_path / "cache", warn=said.append).lookup("s", "k") is None
    assert said == []
