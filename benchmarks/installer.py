"""The cold job's install: pip, as the setup action runs it, against uv on the same lock (issue 18: "use a fast,
well-kept installer (for example uv)").

Each run makes a fresh venv and installs the profile's lock into it, every hash checked and nothing resolved
(`--require-hashes --no-deps`, no byte-compiling: uv's default, the setup action's `--no-compile`). Both take the
files from their own cache, filled by a first untimed install, so what is timed is the installing (checking,
unpacking, writing every file: uv copies, as into a runner's fresh folder), not the network, which a hosted runner
pays alike for either.

    .venv/bin/python benchmarks/installer.py [--profile cpu] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCKS = ROOT / "actions" / "setup" / "locks"
FIND_LINKS = "/opt/wheels"  # torch's CPU build on this machine (PyTorch's index cannot be reached from here)


def pip_install(python: Path, lock: Path, cache: Path) -> list[str]:
    """As the setup action installs (ml_ci/generate/actions.py: INSTALL_SCRIPT)."""
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--cache-dir", str(cache)]
    return [*pip, "--find-links", FIND_LINKS, "--require-hashes", "--no-deps", "--no-compile", "-r", str(lock)]


def uv_install(uv: str, python: Path, lock: Path, cache: Path) -> list[str]:
    # --link-mode copy: a cold job writes every file into its fresh environment; uv's default on one filesystem
    # hardlinks them from its cache, which would time nothing of the install.
    into = [uv, "pip", "install", "-q", "--python", str(python), "--cache-dir", str(cache), "--link-mode", "copy"]
    return [*into, "--find-links", FIND_LINKS, "--require-hashes", "--no-deps", "-r", str(lock)]


def fresh_venv(path: Path, *, with_pip: bool) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    args = [sys.executable, "-m", "venv", str(path)] + ([] if with_pip else ["--without-pip"])
    subprocess.run(args, check=True, timeout=300)
    return path / "bin" / "python"


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, timeout=3600)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu", help="the lock of actions/setup/locks to install")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    lock = LOCKS / f"{args.profile}.txt"
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if not lock.is_file() or uv is None:
        print(f"benchmark error: needs {lock} and uv (pip install 'ml-ci[lock]')", file=sys.stderr)
        return 1
    version = subprocess.run([uv, "--version"], check=True, capture_output=True, text=True).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix="ml-ci-bench-installer-"))
    times: dict[str, list[float]] = {"pip": [], "uv": []}
    try:
        venv = work / "venv"
        # The pip run installs into a venv with pip (as setup-python's interpreter has it); uv needs none.
        commands = {
            "pip": lambda: pip_install(fresh_venv(venv, with_pip=True), lock, work / "pip-cache"),
            "uv": lambda: uv_install(uv, fresh_venv(venv, with_pip=False), lock, work / "uv-cache"),
        }
        for command in commands.values():
            timed(command())  # fills the cache
        for i in range(args.runs):
            for name, command in commands.items():  # interleaved: both sides see the same machine
                times[name].append(timed(command()))
            size = int(subprocess.run(["du", "-sb", str(venv)], check=True, capture_output=True, text=True).stdout.split()[0])
            print(f"run {i + 1}: pip {times['pip'][-1]:.1f} s, uv {times['uv'][-1]:.1f} s ({size / 1e6:,.0f} MB)", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    pip, uv_s = statistics.median(times["pip"]), statistics.median(times["uv"])
    print(f"\n| installer | install of {args.profile}.txt, median s |\n| --- | --- |")
    print(f"| pip | {pip:.1f} |\n| {version} | {uv_s:.1f} |")
    result = {
        "benchmark": "installer",
        "ratios": {
            "the setup action's pip / uv (install from the local cache)": {
                "value": round(pip / uv_s, 2),
                "ours": f"{pip:.1f} s",
                "baseline": f"{uv_s:.1f} s",
            }
        },
        "conditions": {"profile": args.profile, "runs": args.runs, "uv": version, "pip_s": times["pip"], "uv_s": times["uv"]},
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
