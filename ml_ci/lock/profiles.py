"""Which environment each job of the generated workflows installs: a profile names ml-ci's extras and torch's build.

A job installs what its stage imports and no more: the data check, validate, report and deploy jobs never
need torch, and a CPU runner has no use for the CUDA build (several GB of NVIDIA libraries). Each profile
has one lock file, `<profile>.txt`, hash-pinned for the runner's platform: ml-ci's own beside its setup
action (actions/setup/locks, published with each release), or a repository's own made by `ml-ci lock`.
Light: `ml-ci generate` imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Torch = Literal["none", "cpu", "cuda"]


@dataclass(frozen=True)
class Profile:
    name: str
    extras: tuple[str, ...]
    torch: Torch
    why: str
    # The jobs that load the model or the data (the data check reads a task's tokenizer from model.base) need the
    # packages a repository adds with ci.requirements, such as the one its model.base ships in; the others do not.
    takes_requirements: bool = False

    @property
    def requirement(self) -> str:
        """ml-ci with this profile's extras, as a requirement (without a version)."""
        return f"ml-ci[{','.join(self.extras)}]" if self.extras else "ml-ci"


LIGHT = Profile("light", (), "none", "validate: ml-ci's core (click, pyyaml, jsonschema, dacite)")
DATA = Profile("data", ("data",), "none", "the data check: Parquet, the chi2 drift test, a task's tokenizer", True)
DEPLOY = Profile("deploy", ("deploy", "supply"), "none", "report, deploy, promote: GitHub, Kubernetes, the registry")
BUILD = Profile("build", ("serve", "deploy", "supply"), "none", "build: Docker, the runtime the image pins, attestations")
# The torch jobs take train and serve (evaluate's latency gate and export run the model as the server does), not
# deploy or supply: the Kubernetes client alone is 123 MB, and only the report, build and deploy jobs import them.
CPU = Profile("cpu", ("train", "serve"), "cpu", "tune, train, evaluate, export on a CPU runner: torch's CPU build", True)
CUDA = Profile("cuda", ("train", "serve"), "cuda", "tune, train, evaluate, export on ci.gpu_runner: torch's CUDA build", True)

PROFILES: dict[str, Profile] = {p.name: p for p in (LIGHT, DATA, DEPLOY, BUILD, CPU, CUDA)}

# The stages whose jobs import torch (ml_ci.pipeline.stages' names); they run on ci.gpu_runner when it is set.
TORCH_STAGES = frozenset({"tune", "train", "evaluate", "export"})
_BY_STAGE = {"validate": LIGHT, "data-check": DATA, "report": DEPLOY, "deploy": DEPLOY, "promote": DEPLOY, "build": BUILD}


def for_stage(stage: str, *, gpu: bool) -> Profile:
    """The profile of the job that runs stage; gpu: the job runs on ci.gpu_runner."""
    if stage in TORCH_STAGES:
        return CUDA if gpu else CPU
    try:
        return _BY_STAGE[stage]
    except KeyError:
        raise ValueError(f"no install profile for the stage {stage!r}") from None


LOCK_DIR = "ml-ci.lock"  # a repository's own locks (`ml-ci lock`), beside ml.yaml


def lock_file(profile: Profile) -> str:
    return f"{profile.name}.txt"
