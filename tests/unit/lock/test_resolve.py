"""uv's command line for a plan (pure), and resolve() with uv stood in by a function: the lock is written whole,
with the header on top, or not at all."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from ml_ci.errors import OperationalError
from ml_ci.lock import header, resolve
from ml_ci.lock.header import LockHeader
from ml_ci.lock.profiles import PROFILES

HASH = "--hash=sha256:" + "0" * 64


def plan(tmp_path: Path, profile: str = "light", **changes: object) -> resolve.Plan:
    p = PROFILES[profile]
    made = resolve.Plan(
        profile=p,
        requirements=("click>=8.1",),
        header=LockHeader(profile=p.name, version="0.1.0", python="3.11", platform=resolve.PLATFORM, torch=p.torch),
        output=tmp_path / "locks" / f"{profile}.txt",
        regenerate="ml-ci lock",
        torch_pin={"cpu": "2.13.0+cpu", "cuda": "2.13.0"}.get(p.torch),
    )
    return replace(made, **changes)  # type: ignore[arg-type]


def test_the_plain_command_line(tmp_path: Path) -> None:
    assert resolve.argv(plan(tmp_path), "uv") == [
        "uv", "pip", "compile", "requirements.in", "-o", "lock.txt", "--generate-hashes",
        "--python-version", "3.11", "--python-platform", "x86_64-manylinux_2_28",
        "--no-header", "--no-emit-index-url", "--no-emit-find-links",
    ]  # fmt: skip


def test_constraints_find_links_and_torch_index(tmp_path: Path) -> None:
    cpu = plan(
        tmp_path,
        "cpu",
        constraints=tmp_path / "repo" / "constraints.txt",
        find_links=("/opt/wheels",),
        extra_index_urls=("https://mirror.example/simple",),
        torch_index=resolve.TORCH_CPU_INDEX,
    )
    assert resolve.argv(cpu, "uv")[14:] == [
        "-c", "constraints.txt", "--find-links", "/opt/wheels", "--extra-index-url", "https://mirror.example/simple",
        "--extra-index-url", "https://download.pytorch.org/whl/cpu", "--index-strategy", "unsafe-best-match",
    ]  # fmt: skip
    # Only the cpu profile's torch is on PyTorch's index: the others resolve from PyPI with uv's default strategy.
    for profile in ("cuda", "light"):
        args = resolve.argv(replace(cpu, profile=PROFILES[profile]), "uv")
        assert "--index-strategy" not in args and resolve.TORCH_CPU_INDEX not in args
    # A constraints file named like one of uv's scratch files is copied under another name.
    clash = replace(cpu, constraints=tmp_path / "lock.txt")
    assert resolve.argv(clash, "uv")[14:16] == ["-c", "constraints-lock.txt"]


@pytest.mark.parametrize(
    ("profile", "body", "problem"),
    [
        ("light", f"click==8.1.7 \\\n    {HASH}\n", None),
        ("deploy", f"torch==2.13.0 \\\n    {HASH}\n", "profile deploy installs no torch, but its dependencies pull in torch"),
        ("data", "nvidia-nccl-cu13==2.29.7\n", "profile data installs no torch, but its dependencies pull in nvidia-nccl-cu13"),
        ("cpu", f"torch==2.13.0+cpu \\\n    {HASH}\n    # via -r requirements.in\n", None),
        ("cuda", f"torch==2.13.0 \\\n    {HASH}\n", None),
        ("cuda", f"torch==2.13.0+cpu \\\n    {HASH}\n", "profile cuda needs torch==2.13.0, but uv chose torch==2.13.0+cpu"),
        ("cpu", "click==8.1.7\n", "profile cpu needs torch==2.13.0+cpu, but uv chose no torch"),
    ],
)
def test_what_uv_chose_is_checked(tmp_path: Path, profile: str, body: str, problem: str | None) -> None:
    assert resolve.body_problem(plan(tmp_path, profile), body) == problem


def test_uv_is_found_on_path_or_beside_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on_path = tmp_path / "bin" / "uv"
    on_path.parent.mkdir()
    on_path.write_text("#!/bin/sh\n")
    on_path.chmod(0o755)
    assert resolve.find_uv({"PATH": str(on_path.parent)}) == str(on_path)
    venv = tmp_path / "venv" / "bin"
    venv.mkdir(parents=True)
    monkeypatch.setattr(sys, "executable", str(venv / "python"))
    with pytest.raises(OperationalError, match=r"^ml-ci lock resolves with uv, which is not installed here: pip install uv$"):
        resolve.find_uv({"PATH": str(tmp_path / "nowhere")})
    (venv / "uv").write_text("#!/bin/sh\n")
    (venv / "uv").chmod(0o755)
    assert resolve.find_uv({"PATH": str(tmp_path / "nowhere")}) == str(venv / "uv")


class FakeUv:
    """Stands in for run_uv: records what uv was given and writes (or fails) as uv would."""

    def __init__(self, body: str = f"click==8.1.7 \\\n    {HASH}\n", *, fail: str | None = None) -> None:
        self.body, self.fail = body, fail
        self.seen: dict[str, str] = {}

    def __call__(self, args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
        self.seen = {p.name: p.read_text() for p in cwd.iterdir()}
        if self.fail is not None:
            return subprocess.CompletedProcess(list(args), 1, "", self.fail)
        (cwd / resolve.OUTPUT).write_text(self.body)
        return subprocess.CompletedProcess(list(args), 0, "", "")


def test_the_lock_is_written_with_its_header(tmp_path: Path) -> None:
    (tmp_path / "published.txt").write_text("click==8.1.7\n")
    (tmp_path / "constraints.txt").write_text("click<8.2\n")
    p = plan(tmp_path, preference=tmp_path / "published.txt", constraints=tmp_path / "constraints.txt")
    uv = FakeUv()
    resolve.resolve(p, uv="uv", run=uv)
    # uv saw the input, the preferred pins in its -o file, and the constraints' copy: nothing else.
    assert uv.seen == {"requirements.in": "click>=8.1\n", "lock.txt": "click==8.1.7\n", "constraints.txt": "click<8.2\n"}
    text = p.output.read_text()
    assert text == header.render(p.header) + uv.body
    assert header.parse(text) == p.header


def test_a_failure_keeps_the_old_lock(tmp_path: Path) -> None:
    p = plan(tmp_path)
    p.output.parent.mkdir()
    p.output.write_text("old\n")
    conflict = "  × No solution found when resolving dependencies:\n  ╰─▶ Because you require click<8 and click>=8.1, ..."
    with pytest.raises(OperationalError) as e:
        resolve.resolve(p, uv="uv", run=FakeUv(fail=conflict))
    assert str(e.value) == f"uv could not resolve profile light (for {p.output}):\n{conflict.strip()}"
    with pytest.raises(OperationalError, match="pull in torch"):
        resolve.resolve(p, uv="uv", run=FakeUv(f"torch==2.13.0 \\\n    {HASH}\n"))
    assert p.output.read_text() == "old\n"
    assert sorted(f.name for f in p.output.parent.iterdir()) == ["light.txt"]
