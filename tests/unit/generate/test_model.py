"""The data model refuses workflows that would be unsafe or that GitHub would reject."""

from __future__ import annotations

import pytest

from ml_ci.generate.jobs import READ
from ml_ci.generate.model import CompositeAction, Job, Step, Workflow


def job(
    job_id: str, *, runs_on: tuple[str, ...] = ("ubuntu-latest",), if_: str | None = None, needs: tuple[str, ...] = ()
) -> Job:
    return Job(
        id=job_id,
        name=job_id,
        runs_on=runs_on,
        timeout_minutes=5,
        permissions=READ,
        needs=needs,
        if_=if_,
        steps=(Step(name="s", run="true\n"),),
    )


def test_job_ids_must_differ_ignoring_case() -> None:
    with pytest.raises(ValueError, match="collide"):
        Workflow(name="w", on={"push": {}}, jobs=(job("Train"), job("train")))


def test_needs_must_name_a_job() -> None:
    with pytest.raises(ValueError, match="unknown job 'tune'"):
        Workflow(name="w", on={"push": {}}, jobs=(job("train", needs=("tune",)),))


def test_pull_request_target_is_refused() -> None:
    with pytest.raises(ValueError, match="pull_request_target"):
        Workflow(name="w", on={"pull_request_target": {}}, jobs=(job("a"),))


def test_a_fork_pull_request_never_reaches_a_self_hosted_runner() -> None:
    with pytest.raises(ValueError, match="self-hosted"):
        Workflow(name="w", on={"pull_request": {}}, jobs=(job("a", runs_on=("self-hosted", "gpu")),))
    guarded = job(
        "a", runs_on=("self-hosted", "gpu"), if_="${{ github.event.pull_request.head.repo.full_name == github.repository }}"
    )
    Workflow(name="w", on={"pull_request": {}}, jobs=(guarded,))
    Workflow(name="w", on={"push": {}}, jobs=(job("a", runs_on=("self-hosted",)),))


def test_step_needs_exactly_one_of_uses_and_run() -> None:
    with pytest.raises(ValueError):
        Step(name="s")
    with pytest.raises(ValueError):
        Step(name="s", uses="a/b@c", run="true\n")


def test_composite_run_steps_need_a_shell() -> None:
    with pytest.raises(ValueError, match="needs a shell"):
        CompositeAction(name="a", description="d", inputs={}, outputs={}, steps=(Step(name="s", run="true\n"),))
