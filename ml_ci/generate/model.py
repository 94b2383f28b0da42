"""Workflows, jobs, steps and composite actions as frozen data.

Each `data()` returns the mapping that yamlout dumps, keys in the order GitHub's docs use, so
that a generated file reads like a hand-written one. Fields left empty are omitted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Optional, Union

from ml_ci.generate.yamlout import Commented, Value

Env = Mapping[str, Union[str, Commented]]
SELF_HOSTED = "self-hosted"
SAME_REPO = "github.event.pull_request.head.repo.full_name == github.repository"


def _put(out: dict[str, Value], key: str, value: Value) -> None:
    if value not in (None, {}, (), [], ""):
        out[key] = value


@dataclass(frozen=True, kw_only=True)
class Step:
    name: str
    id: Optional[str] = None
    if_: Optional[str] = None
    uses: Optional[Union[str, Commented]] = None
    with_: Mapping[str, Value] = field(default_factory=dict)
    env: Env = field(default_factory=dict)
    run: Optional[str] = None
    shell: Optional[str] = None  # composite actions need it on every run step
    continue_on_error: bool = False

    def __post_init__(self) -> None:
        if (self.uses is None) == (self.run is None):
            raise ValueError(f"step {self.name!r} needs exactly one of uses or run")

    def data(self) -> dict[str, Value]:
        out: dict[str, Value] = {"name": self.name}
        _put(out, "id", self.id)
        _put(out, "if", self.if_)
        _put(out, "uses", self.uses)
        _put(out, "with", dict(self.with_))
        _put(out, "env", dict(self.env))
        _put(out, "shell", self.shell)
        _put(out, "run", self.run)
        if self.continue_on_error:
            out["continue-on-error"] = True
        return out


@dataclass(frozen=True, kw_only=True)
class Concurrency:
    group: str
    cancel_in_progress: Union[bool, str]  # or an expression (the reusable workflow: pull requests only)

    def data(self) -> dict[str, Value]:
        return {"group": self.group, "cancel-in-progress": self.cancel_in_progress}


@dataclass(frozen=True, kw_only=True)
class Job:
    id: str
    name: str
    runs_on: tuple[str, ...]
    timeout_minutes: Union[int, str]  # a number, or an expression in a reusable workflow
    permissions: Mapping[str, Commented]  # every permission carries its reason
    steps: tuple[Step, ...]
    needs: tuple[str, ...] = ()
    if_: Optional[str] = None
    environment: Optional[Mapping[str, str]] = None
    concurrency: Optional[Concurrency] = None
    strategy: Optional[Mapping[str, Value]] = None
    outputs: Mapping[str, str] = field(default_factory=dict)
    env: Env = field(default_factory=dict)

    def runs_on_data(self) -> Value:
        if SELF_HOSTED in self.runs_on:
            # The workflows keep untrusted code off these machines: the PR workflow runs no job
            # for a fork's pull request there, and the release workflow runs on pushes only.
            return Commented(self.runs_on, "zizmor: ignore[self-hosted-runner] fork PRs never reach this job")
        return self.runs_on[0] if len(self.runs_on) == 1 else list(self.runs_on)

    def data(self) -> dict[str, Value]:
        out: dict[str, Value] = {"name": self.name}
        _put(out, "needs", list(self.needs))
        _put(out, "if", self.if_)
        out["runs-on"] = self.runs_on_data()
        out["timeout-minutes"] = self.timeout_minutes
        out["permissions"] = dict(self.permissions)
        if self.environment is not None:
            out["environment"] = dict(self.environment)
        if self.concurrency is not None:
            out["concurrency"] = self.concurrency.data()
        if self.strategy is not None:
            out["strategy"] = dict(self.strategy)
        _put(out, "outputs", dict(self.outputs))
        _put(out, "env", dict(self.env))
        out["steps"] = [s.data() for s in self.steps]
        return out


@dataclass(frozen=True, kw_only=True)
class Workflow:
    name: str
    on: Mapping[str, Value]
    jobs: tuple[Job, ...]
    concurrency: Optional[Concurrency] = None

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        for job in self.jobs:
            # GitHub compares job ids case-insensitively in `needs`.
            if job.id.lower() in seen:
                raise ValueError(f"job ids {seen[job.id.lower()]!r} and {job.id!r} collide")
            seen[job.id.lower()] = job.id
        for job in self.jobs:
            for need in job.needs:
                if need not in seen.values():
                    raise ValueError(f"job {job.id!r} needs unknown job {need!r}")

        if "pull_request_target" in self.on:
            raise ValueError("pull_request_target runs a fork's code with the base repository's secrets")
        if "pull_request" in self.on:
            for job in self.jobs:
                if SELF_HOSTED in job.runs_on and SAME_REPO not in (job.if_ or ""):
                    raise ValueError(f"job {job.id!r} would run a fork's pull request on a self-hosted runner")

    def data(self) -> dict[str, Value]:
        out: dict[str, Value] = {"name": self.name, "on": dict(self.on), "permissions": {}}
        if self.concurrency is not None:
            out["concurrency"] = self.concurrency.data()
        out["jobs"] = {job.id: job.data() for job in self.jobs}
        return out


@dataclass(frozen=True, kw_only=True)
class Input:
    description: str
    default: Optional[str] = None
    required: bool = False


@dataclass(frozen=True, kw_only=True)
class Output:
    description: str
    value: str


@dataclass(frozen=True, kw_only=True)
class CompositeAction:
    name: str
    description: str
    inputs: Mapping[str, Input]
    outputs: Mapping[str, Output]
    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        for step in self.steps:
            if step.run is not None and step.shell is None:
                raise ValueError(f"{self.name}: run step {step.name!r} needs a shell in a composite action")

    def data(self) -> dict[str, Value]:
        inputs: dict[str, Value] = {}
        for key, inp in self.inputs.items():
            entry: dict[str, Value] = {"description": inp.description, "required": inp.required}
            if inp.default is not None:
                entry["default"] = inp.default
            inputs[key] = entry
        out: dict[str, Value] = {"name": self.name, "description": self.description, "inputs": inputs}
        _put(out, "outputs", {k: {"description": o.description, "value": o.value} for k, o in self.outputs.items()})
        out["runs"] = {"using": "composite", "steps": [s.data() for s in self.steps]}
        return out
