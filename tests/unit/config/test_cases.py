"""ml.yaml examples in cases/positive and cases/negative, each checked against a golden file of messages.

Every `<name>.yaml` has a `<name>.expected` beside it holding exactly what `ml-ci validate` prints
for it (file:line:col, dotted path, message). Cases that cannot be committed as files (a 50 MB
file, a symbolic link, bytes that are not UTF-8, invisible characters) are made by the test and
have their golden file in cases/negative too. Regenerate the golden files only on purpose, with
ML_CI_UPDATE_GOLDEN=1, and read the diff.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from ml_ci.config import load_config
from ml_ci.errors import ConfigError, Problem

CASES = Path(__file__).parent / "cases"
POSITIVE = sorted(p.stem for p in (CASES / "positive").glob("*.yaml"))
NEGATIVE = sorted(p.stem for p in (CASES / "negative").glob("*.yaml"))
VALID = (CASES / "positive" / "minimal.yaml").read_text(encoding="utf-8")


def _big(root: Path) -> bytes:
    # 50 MB of comments after a valid file: the size alone must be refused, before parsing.
    return VALID.encode() + b"# padding padding padding padding padding padding padding padding\n" * (50 * 1024 * 1024 // 66)


def _symlink_escape(root: Path) -> bytes:
    outside = root.parent / f"{root.name}-outside"
    outside.mkdir()
    (outside / "train.csv").write_text("text,label\n", encoding="utf-8")
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "train.csv").symlink_to(outside / "train.csv")
    return VALID.encode()


def _replace(old: str, new: str) -> Callable[[Path], bytes]:
    def make(root: Path) -> bytes:
        assert old in VALID
        return VALID.replace(old, new, 1).encode("utf-8")

    return make


def _padded(total: int) -> Callable[[Path], bytes]:
    """A valid file padded with comment lines to `total` bytes: refused at the line where it passes 1 MiB."""

    def make(root: Path) -> bytes:
        line = b"# padding padding padding padding padding padding padding padding\n"
        body = VALID.encode() + line * (total // len(line) + 1)
        return body[:total]

    return make


def _fifo(root: Path) -> None:
    """A named pipe: opening it for reading waits for a writer. A writer that comes and goes after 5 s lets a
    blocked reader go on (and the case fail) instead of hanging the suite."""
    fifo = root / "ml.yaml"
    os.mkfifo(fifo)

    def unblock() -> None:
        with contextlib.suppress(OSError):  # no reader waits: validate did not block
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    timer = threading.Timer(5, unblock)
    timer.daemon = True
    timer.start()


def _device(root: Path) -> None:
    (root / "ml.yaml").symlink_to("/dev/null")  # a character device, read as empty by a plain open()


# Cases made at test time: name -> function(repo folder) returning the bytes of ml.yaml (None: it made ml.yaml).
GENERATED: dict[str, Callable[[Path], bytes | None]] = {
    "generated_10mb_file": _padded(10 * 1024 * 1024),
    "generated_one_byte_over_1mib": _padded(1024 * 1024 + 1),
    "generated_fifo": _fifo,
    "generated_character_device": _device,
    "generated_50mb_file": _big,
    "generated_symlink_escaping_repo": _symlink_escape,
    "generated_byte_order_mark": lambda root: b"\xef\xbb\xbf" + VALID.encode(),
    "generated_not_utf8": lambda root: VALID.replace("demo", "d\xe9mo").encode("latin-1"),
    "generated_bidi_in_name": _replace("name: demo", 'name: "demo\u202egnp.exe"'),
    "generated_bidi_in_key": _replace("  labels:", "  lab\u2067els:"),
    "generated_zero_width_in_label": _replace("labels: [negative, positive]", 'labels: [negative, "posi\u200btive"]'),
    "generated_zero_width_in_key": _replace("model:", "mo\u200bdel:"),
    "generated_nul_byte": _replace("name: demo", 'name: "demo\\0"'),
}


def _render(problems: list[Problem]) -> str:
    return "".join(f"{p}\n" for p in problems)


def _check_golden(golden: Path, actual: str) -> None:
    if os.environ.get("ML_CI_UPDATE_GOLDEN") == "1":
        golden.write_text(actual, encoding="utf-8")
    assert golden.exists(), f"{golden} is missing; create it with ML_CI_UPDATE_GOLDEN=1 and review it"
    assert actual == golden.read_text(encoding="utf-8")


def _problems_of(path: Path) -> tuple[list[Problem], bool]:
    """(problems, valid) as `ml-ci validate` reports them for the file."""
    try:
        loaded = load_config(path, display_name="ml.yaml")
    except ConfigError as e:
        return e.problems, False
    return list(loaded.warnings), True


@pytest.mark.parametrize("name", POSITIVE)
def test_positive(name: str) -> None:
    problems, valid = _problems_of(CASES / "positive" / f"{name}.yaml")
    assert valid, _render(problems)
    _check_golden(CASES / "positive" / f"{name}.expected", _render(problems))


@pytest.mark.parametrize("name", NEGATIVE)
def test_negative(name: str) -> None:
    problems, valid = _problems_of(CASES / "negative" / f"{name}.yaml")
    assert not valid
    assert any(p.severity == "error" for p in problems)
    _check_golden(CASES / "negative" / f"{name}.expected", _render(problems))


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_negative(name: str, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    if (content := GENERATED[name](repo)) is not None:
        (repo / "ml.yaml").write_bytes(content)
    problems, valid = _problems_of(repo / "ml.yaml")
    assert not valid
    _check_golden(CASES / "negative" / f"{name}.expected", _render(problems))


def test_enough_cases_and_no_orphan_golden_files() -> None:
    assert len(NEGATIVE) + len(GENERATED) >= 145
    assert len(POSITIVE) >= 3
    for kind, names in (("positive", set(POSITIVE)), ("negative", set(NEGATIVE) | set(GENERATED))):
        goldens = {p.stem for p in (CASES / kind).glob("*.expected")}
        assert goldens == names, f"golden files without a case (or cases without one) in {kind}"
