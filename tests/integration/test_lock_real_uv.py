"""The real uv, offline: ml-ci's command line resolves a folder of tiny wheels made here into pins with hashes."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from ml_ci.lock import header, resolve
from ml_ci.lock.header import LockHeader
from ml_ci.lock.profiles import PROFILES
from tests.services import require_tool
from tests.wheelfile import make_wheel as wheel

pytestmark = pytest.mark.integration


def test_uv_resolves_pins_with_hashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The dev extra installs uv; missing, this skips locally and fails in CI, as a missing service does.
    uv = require_tool("uv", "pip install 'ml-ci[lock]'")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    made = [
        wheel(wheels, "alpha", "1.0", ["beta>=1"]),
        wheel(wheels, "beta", "1.0"),
        wheel(wheels, "beta", "2.0"),
        wheel(wheels, "gamma", "0.3", ['beta<2; python_version >= "3.8"']),
    ]
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("UV_NO_CONFIG", "1")
    plan = resolve.Plan(
        profile=PROFILES["light"],
        requirements=("alpha", "gamma"),
        header=LockHeader(profile="light", version="0.1.0", python="3.11", platform=resolve.PLATFORM, torch="none"),
        output=tmp_path / "locks" / "light.txt",
        regenerate="ml-ci lock",
        find_links=(str(wheels),),
    )

    def offline(args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
        return resolve.run_uv([*args, "--no-index", "--offline"], cwd)

    resolve.resolve(plan, uv=uv, run=offline)
    text = plan.output.read_text()
    assert header.parse(text) == plan.header
    sha = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in made}
    pins = [line for line in text.splitlines() if not line.startswith(("#", " "))]
    assert pins == ["alpha==1.0 \\", "beta==1.0 \\", "gamma==0.3 \\"]  # beta held below 2 by gamma
    assert f"--hash=sha256:{sha['alpha-1.0-py3-none-any.whl']}" in text
    assert f"--hash=sha256:{sha['beta-1.0-py3-none-any.whl']}" in text
    assert str(wheels) not in text and str(tmp_path) not in text  # no machine paths in a committed lock
