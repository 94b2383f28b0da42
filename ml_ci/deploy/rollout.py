"""Is a Deployment's rollout done, still going, or failed? Pure, over the API's JSON.

Mirrors `kubectl rollout status`: the controller must have observed the new generation, every
replica must be updated and available and no old replica left; a ProgressDeadlineExceeded
condition or a pod stuck pulling its image fails at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

# Waiting reasons that will not resolve by themselves.
STUCK = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)


@dataclass(frozen=True)
class State:
    phase: Literal["progressing", "complete", "failed"]
    message: str


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), {})


def pod_problem(pods: list[dict[str, Any]], image: str) -> str | None:
    """The first pod of the new image that is stuck, described; None when none is."""
    for pod in pods:
        name = pod.get("metadata", {}).get("name", "?")
        for cs in pod.get("status", {}).get("containerStatuses") or []:
            if cs.get("image") not in (image, None) and image not in str(cs.get("imageID", "")):
                continue
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in STUCK:
                detail = f": {waiting['message']}" if waiting.get("message") else ""
                return f"pod {name}: {waiting['reason']}{detail}"
    return None


def unready_pods(pods: list[dict[str, Any]]) -> list[str]:
    out = []
    for pod in pods:
        ready: dict[str, Any] = next((c for c in pod.get("status", {}).get("conditions") or [] if c.get("type") == "Ready"), {})
        if ready.get("status") != "True":
            out.append(pod.get("metadata", {}).get("name", "?"))
    return out


def assess(deployment: dict[str, Any], pods: list[dict[str, Any]], image: str) -> State:
    spec, status = deployment.get("spec", {}), deployment.get("status", {}) or {}
    generation = deployment.get("metadata", {}).get("generation", 0)
    desired = spec.get("replicas", 1)
    progressing = _condition(status, "Progressing")
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return State(
            "failed",
            f"deadline exceeded: the rollout made no progress within progressDeadlineSeconds="
            f"{spec.get('progressDeadlineSeconds', 600)} ({progressing.get('message', 'no message')})",
        )
    stuck = pod_problem(pods, image)
    if stuck:
        return State("failed", stuck)
    if status.get("observedGeneration", 0) < generation:
        return State("progressing", "waiting for the controller to observe the new generation")
    updated = status.get("updatedReplicas", 0)
    available = status.get("availableReplicas", 0)
    total = status.get("replicas", 0)
    if updated < desired:
        return State("progressing", f"{updated} of {desired} replicas updated")
    if total > updated:
        return State("progressing", f"{total - updated} old replicas pending termination")
    if available < updated:
        return State("progressing", f"{available} of {updated} updated replicas available")
    return State("complete", f"{available} of {desired} replicas updated and available")
