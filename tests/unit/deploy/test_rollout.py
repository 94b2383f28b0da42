"""Rollout assessment over Deployment and Pod JSON, as the API returns them."""

from __future__ import annotations

from typing import Any

from ml_ci.deploy.rollout import assess, unready_pods

IMG = "r.example.com/a/b@sha256:" + "c" * 64


def dep(
    *,
    generation: int = 2,
    observed: int = 2,
    replicas: int = 2,
    updated: int = 2,
    available: int = 2,
    total: int = 2,
    conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": replicas, "progressDeadlineSeconds": 120},
        "status": {
            "observedGeneration": observed,
            "updatedReplicas": updated,
            "availableReplicas": available,
            "replicas": total,
            "conditions": conditions or [],
        },
    }


def pod(name: str, *, ready: bool = True, waiting: str | None = None) -> dict[str, Any]:
    state = {"waiting": {"reason": waiting, "message": "back-off pulling image"}} if waiting else {"running": {}}
    return {
        "metadata": {"name": name},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"image": IMG, "state": state}],
        },
    }


def test_complete() -> None:
    state = assess(dep(), [pod("a"), pod("b")], IMG)
    assert (state.phase, state.message) == ("complete", "2 of 2 replicas updated and available")


def test_waits_for_the_controller_then_for_replicas() -> None:
    assert assess(dep(observed=1), [], IMG).message == "waiting for the controller to observe the new generation"
    assert assess(dep(updated=1), [], IMG).message == "1 of 2 replicas updated"
    assert assess(dep(total=3), [], IMG).message == "1 old replicas pending termination"
    assert assess(dep(available=1), [], IMG).message == "1 of 2 updated replicas available"


def test_deadline_exceeded_fails() -> None:
    cond = [
        {
            "type": "Progressing",
            "status": "False",
            "reason": "ProgressDeadlineExceeded",
            "message": 'ReplicaSet "b-1" has timed out progressing.',
        }
    ]
    state = assess(dep(updated=1, conditions=cond), [], IMG)
    assert state.phase == "failed"
    assert state.message == (
        "deadline exceeded: the rollout made no progress within progressDeadlineSeconds=120 "
        '(ReplicaSet "b-1" has timed out progressing.)'
    )


def test_image_pull_backoff_fails_at_once() -> None:
    state = assess(dep(updated=1, available=0), [pod("b-1", ready=False, waiting="ImagePullBackOff")], IMG)
    assert (state.phase, state.message) == ("failed", "pod b-1: ImagePullBackOff: back-off pulling image")


def test_unready_pods_are_named() -> None:
    assert unready_pods([pod("a"), pod("b", ready=False)]) == ["b"]
