""".ci/services.sh prints on standard output only the variables that .ci/test and .ci/example eval.

On a fresh machine it used to print its progress line ("== making base image ... (about a minute)")
on standard output too, and `eval` failed on the parenthesis: both README commands broke the first
time, and never on a machine that already had the base image. The script runs here against
stand-ins for every program it would start (so nothing real is started, and the path that makes
the base image is taken), each of which prints noise on its standard output as real tools do.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import stat
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

# Each stand-in prints noise on stdout; the few whose answers steer the script answer as a machine
# would where the services already run but the base image was never made.
STANDINS = {
    "docker": """
echo "docker stand-in: $*"
case "$1" in
  info) exit 0 ;;
  image) exit 1 ;;              # no base image yet: take the path that makes it
  import) cat >/dev/null; echo sha256:0123 ;;
esac
""",
    "curl": 'echo "{}"',
    "debootstrap": """
echo "I: Retrieving InRelease"
root="$4"
mkdir -p "$root/etc/ssl/certs" "$root/etc/dpkg/dpkg.cfg.d" "$root/usr/share/doc/x" "$root/var/lib/apt/lists"
touch "$root/usr/share/doc/x/README" "$root/usr/share/doc/x/copyright"
""",
    "su": 'echo "su stand-in: $*"',
    "chown": 'echo "chown stand-in: $*"',
    "setsid": 'echo "setsid stand-in: $*"',
    "ip": 'echo "ip stand-in: $*"',
}
PG_STANDINS = {
    "pg_isready": 'echo "127.0.0.1:5432 - accepting connections"',
    "psql": "echo 1",
    "createdb": 'echo "createdb stand-in"',
}


def _write(folder: Path, scripts: dict[str, str]) -> None:
    folder.mkdir(parents=True)
    for name, body in scripts.items():
        path = folder / name
        path.write_text("#!/usr/bin/env bash\n" + body.lstrip("\n"), encoding="utf-8")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)


def run_services(tmp_path: Path, script: Path) -> subprocess.CompletedProcess[str]:
    _write(tmp_path / "bin", STANDINS)
    _write(tmp_path / "pg", PG_STANDINS)
    env = {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "ML_CI_STATE": str(tmp_path / "state"),
        "ML_CI_PG_BIN": str(tmp_path / "pg"),
    }
    return subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=120, check=False)


def test_standard_output_is_only_the_variables_even_while_making_the_base_image(tmp_path: Path) -> None:
    result = run_services(tmp_path, ROOT / ".ci/services.sh")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split("=", 1)[0] for line in lines] == [
        "export ML_CI_TEST_REGISTRY",
        "export ML_CI_TEST_BASE_IMAGE",
        "export ML_CI_TEST_POSTGRES",
    ]
    assert all(re.fullmatch(r"export [A-Z_]+=[^\s;&|$`()]+", line) for line in lines), lines
    # The progress went somewhere a person still sees it.
    assert "== making base image ml-ci-base:bookworm" in result.stderr


def test_what_it_prints_evaluates_in_bash(tmp_path: Path) -> None:
    result = run_services(tmp_path, ROOT / ".ci/services.sh")
    shown = subprocess.run(
        ["bash", "-c", 'eval "$VARS" && echo "$ML_CI_TEST_REGISTRY $ML_CI_TEST_BASE_IMAGE"'],
        env={**os.environ, "VARS": result.stdout},
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "127.0.0.1:5000 ml-ci-base:bookworm"


# A machine where nothing runs yet: each service answers only once its stand-in daemon was started,
# and each daemon lives on in the background (as dockerd, the registry and postgres do) with whatever
# file descriptors it was given, recording its pid so that the test can stop it.
COLD_STANDINS = {
    **STANDINS,
    "docker": """
echo "docker stand-in: $*"
case "$1" in
  info) [ -e "$ML_CI_STATE/up-dockerd" ] ;;
  image) exit 1 ;;
  import) cat >/dev/null; echo sha256:0123 ;;
esac
""",
    "curl": '[ -e "$ML_CI_STATE/up-docker-registry" ] && echo "{}"',
    "setsid": """
touch "$ML_CI_STATE/up-$1"
sleep 60 & echo $! >> "$ML_CI_STATE/daemons"
""",
    "su": """
case "$*" in
  *pg_ctl*) touch "$ML_CI_STATE/up-postgres"; sleep 60 & echo $! >> "$ML_CI_STATE/daemons" ;;
esac
""",
}
COLD_PG_STANDINS = {**PG_STANDINS, "pg_isready": '[ -e "$ML_CI_STATE/up-postgres" ]'}


def test_returns_while_the_daemons_it_started_run_on(tmp_path: Path) -> None:
    """.ci/test and .ci/example read the exports with `$(...)`, which waits until every holder of the
    pipe has closed it. The daemons are started in the background: had they inherited the pipe, the
    script's caller would wait as long as they run. It did: on a machine where no service ran yet, CI
    hung there until its time limit, and never on a machine whose services were already up."""
    _write(tmp_path / "bin", COLD_STANDINS)
    _write(tmp_path / "pg", COLD_PG_STANDINS)
    state = tmp_path / "state"
    env = {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "ML_CI_STATE": str(state),
        "ML_CI_PG_BIN": str(tmp_path / "pg"),
    }
    try:
        # The stand-in daemons live for 60 s: a caller still waiting after 30 s is waiting for them.
        result = subprocess.run(
            ["bash", str(ROOT / ".ci/services.sh")], env=env, capture_output=True, text=True, timeout=30, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail("services.sh's standard output stayed open after it ended: a daemon it started holds it")
    finally:
        for pid in (state / "daemons").read_text().split() if (state / "daemons").exists() else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGTERM)
    assert result.returncode == 0, result.stderr
    assert {p.name for p in state.glob("up-*")} == {"up-dockerd", "up-docker-registry", "up-postgres"}
    assert [line.split("=", 1)[0] for line in result.stdout.splitlines()] == [
        "export ML_CI_TEST_REGISTRY",
        "export ML_CI_TEST_BASE_IMAGE",
        "export ML_CI_TEST_POSTGRES",
    ]
