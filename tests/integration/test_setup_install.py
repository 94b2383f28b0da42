"""The setup action's install step (actions/setup/action.yml, step `install`) run by bash as a runner runs it:
uv from uv.txt by hash into the runner's temp folder, then the job's lock into the job's interpreter, with the
runner's pip settings handed to uv. The act tests run the whole action in workflows; this pins down the step.

The lock here pins a wheel made by the test in a folder of wheels (so uv works offline, UV_OFFLINE); pip fetches
uv's wheel as a runner does, from the index (PyPI, or this machine's pip configuration).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.wheelfile import make_wheel

pytestmark = pytest.mark.integration

SETUP = ROOT / "actions" / "setup"


def install_script() -> str:
    steps = yaml.safe_load((SETUP / "action.yml").read_text(encoding="utf-8"))["runs"]["steps"]
    return str(next(s["run"] for s in steps if s.get("id") == "install"))


def probe_wheel(folder: Path) -> Path:
    return make_wheel(folder, "mlci_probe", "1.0", modules={"mlci_probe/__init__.py": "VERSION = '1.0'\n"})


def lock_of(wheel: Path, dest: Path, *, sha256: str | None = None) -> Path:
    digest = sha256 or hashlib.sha256(wheel.read_bytes()).hexdigest()
    dest.write_text(f"mlci-probe==1.0 \\\n    --hash=sha256:{digest}\n", encoding="utf-8")
    return dest


def run_install(tmp_path: Path, lock: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    venv = tmp_path / "job-python"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    (tmp_path / "runner-temp").mkdir(exist_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_FIND_LINKS", "GITHUB_"))}
    done = subprocess.run(
        ["bash", "-c", install_script()],
        env={
            **base,
            # `python` is the job's setup-python interpreter on a runner; here, the one running the tests (with pip).
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "GITHUB_ACTION_PATH": str(SETUP),
            "RUNNER_TEMP": str(tmp_path / "runner-temp"),
            "ML_CI_LOCK": str(lock),
            "ML_CI_PROFILE": "light",
            "ML_CI_TORCH_INDEX": "",
            "ML_CI_SOURCE": "a checkout",  # the next step installs ml-ci; this one installs only the lock
            "ML_CI_VERSION": "0",
            "ML_CI_PYTHON": str(venv / "bin" / "python"),
            "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
            "UV_OFFLINE": "1",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return done, venv


def installed(venv: Path) -> list[str]:
    site = next((venv / "lib").glob("python3*/site-packages"))
    return sorted(p.name for p in site.glob("*.dist-info"))


def test_the_lock_lands_in_the_jobs_python_and_uv_stays_outside(tmp_path: Path) -> None:
    elsewhere = tmp_path / "empty-wheels"
    elsewhere.mkdir()
    wheel = probe_wheel(tmp_path / "wheels")
    # pip's settings, space-separated, reach uv (which takes a comma-separated list) where uv's are unset.
    done, venv = run_install(tmp_path, lock_of(wheel, tmp_path / "light.txt"), PIP_FIND_LINKS=f"{elsewhere}  {wheel.parent}")
    assert done.returncode == 0, done.stderr
    assert installed(venv) == ["mlci_probe-1.0.dist-info"], "the lock and nothing else: not uv, not pip"
    assert (tmp_path / "runner-temp" / "ml-ci-uv" / "bin" / "uv").is_file()
    assert "mlci-probe==1.0" in done.stderr


def test_a_file_that_does_not_match_the_locks_hash_is_refused(tmp_path: Path) -> None:
    wheel = probe_wheel(tmp_path / "wheels")
    lock = lock_of(wheel, tmp_path / "light.txt", sha256="0" * 64)
    done, venv = run_install(tmp_path, lock, PIP_FIND_LINKS=str(wheel.parent))
    assert done.returncode != 0
    assert "hash" in done.stderr.lower() and "0" * 64 in done.stderr
    assert installed(venv) == []


def test_uvs_own_settings_win_over_pips(tmp_path: Path) -> None:
    wheel = probe_wheel(tmp_path / "wheels")
    lock = lock_of(wheel, tmp_path / "light.txt")
    done, venv = run_install(tmp_path, lock, UV_FIND_LINKS=str(wheel.parent), PIP_FIND_LINKS=str(tmp_path / "nowhere"))
    assert done.returncode == 0, done.stderr
    assert installed(venv) == ["mlci_probe-1.0.dist-info"]
