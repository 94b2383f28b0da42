"""`strategy: apply`: server-side apply with the kubernetes client, a rollout watch, and rollback.

Requests go through the client's ApiClient (its Configuration carries the host, TLS and
credentials from the kubeconfig or the in-cluster service account) as raw JSON, so that the
rollout logic reads the API's own field names.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ml_ci.deploy import rollout
from ml_ci.deploy.manifests import Manifest
from ml_ci.errors import DeployError

FIELD_MANAGER = "ml-ci"
APPLY = "application/apply-patch+yaml"
PLURALS = {
    "Deployment": "deployments",
    "Service": "services",
    "ConfigMap": "configmaps",
    "HorizontalPodAutoscaler": "horizontalpodautoscalers",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "ServiceMonitor": "servicemonitors",
    "PrometheusRule": "prometheusrules",
}
RETRYABLE = frozenset({409, 429, 500, 502, 503, 504})


def object_path(obj: Manifest) -> str:
    api = obj["apiVersion"]
    prefix = "/api/v1" if api == "v1" else f"/apis/{api}"
    meta = obj["metadata"]
    return f"{prefix}/namespaces/{meta['namespace']}/{PLURALS[obj['kind']]}/{meta['name']}"


def api_client(environ: Mapping[str, str], context: Optional[str] = None) -> Any:
    """A kubernetes ApiClient from the kubeconfig ($KUBECONFIG, else ~/.kube/config) or, inside a pod,
    the service account."""
    from kubernetes import client, config

    # Passed explicitly: the client reads $KUBECONFIG once, when it is first imported.
    path = environ.get("KUBECONFIG") or str(Path("~/.kube/config").expanduser())
    try:
        config.load_kube_config(config_file=path, context=context)  # type: ignore[no-untyped-call]
    except Exception as kube_error:  # fall back to in-cluster; report both when that fails too
        try:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
        except Exception as e:
            raise DeployError(f"no Kubernetes credentials: the kubeconfig {path}: {kube_error}; in-cluster: {e}") from None
    return client.ApiClient()


class Kube:
    """The few API calls deploy needs, with retries on conflicts and server errors."""

    def __init__(self, client: Any, *, attempts: int = 5, sleep: Callable[[float], None] = time.sleep):
        self.client = client
        self.attempts = attempts
        self.sleep = sleep

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Optional[dict[str, str]] = None,
        body: Any = None,
        content_type: Optional[str] = None,
    ) -> tuple[int, Any]:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        if query:
            path = f"{path}?{urllib.parse.urlencode(query)}"
        for attempt in range(1, self.attempts + 1):
            m, url, hdrs, data, post = self.client.param_serialize(
                method, path, header_params=headers, body=body, auth_settings=["BearerToken"]
            )
            try:
                resp = self.client.call_api(m, url, header_params=hdrs, body=data, post_params=post, _request_timeout=30)
                raw = resp.read()
            except Exception as e:  # urllib3 raises many kinds; all mean "no answer"
                if attempt == self.attempts:
                    raise DeployError(f"the Kubernetes API at {self.client.configuration.host} does not answer ({e})") from None
                self.sleep(min(4.0, 0.25 * 2**attempt))
                continue
            status = resp.status
            payload = json.loads(raw) if raw else {}
            if status in (401, 403):
                reason = payload.get("message", "") if isinstance(payload, dict) else ""
                raise DeployError(
                    f"the Kubernetes API denied {method} {path.split('?')[0]} (HTTP {status}"
                    f"{': ' + reason if reason else ''}); check the kubeconfig's credentials and RBAC"
                )
            if status in RETRYABLE and attempt < self.attempts:
                self.sleep(min(4.0, 0.25 * 2**attempt))
                continue
            return status, payload
        raise AssertionError("unreachable")

    def apply(self, obj: Manifest) -> Any:
        status, payload = self.request(
            "PATCH", object_path(obj), body=obj, content_type=APPLY, query={"fieldManager": FIELD_MANAGER, "force": "true"}
        )
        if status == 404 and obj["kind"] in ("ServiceMonitor", "PrometheusRule"):
            raise DeployError(
                f"the cluster has no {obj['kind']} resource: install the Prometheus Operator's CRDs "
                "or set monitoring.enabled: false"
            )
        if status >= 300:
            raise DeployError(
                f"server-side apply of {obj['kind']}/{obj['metadata']['name']} failed: HTTP {status} "
                f"{payload.get('message', '') if isinstance(payload, dict) else ''}".rstrip()
            )
        return payload

    def get_deployment(self, namespace: str, name: str) -> Optional[dict[str, Any]]:
        status, payload = self.request("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
        if status == 404:
            return None
        if status >= 300:
            raise DeployError(f"reading Deployment {namespace}/{name} failed: HTTP {status}")
        return payload  # type: ignore[no-any-return]

    def get_configmap(self, namespace: str, name: str) -> Optional[dict[str, Any]]:
        status, payload = self.request("GET", f"/api/v1/namespaces/{namespace}/configmaps/{name}")
        if status == 404:
            return None
        if status >= 300:
            raise DeployError(f"reading ConfigMap {namespace}/{name} failed: HTTP {status}")
        return payload  # type: ignore[no-any-return]

    def list_pods(self, namespace: str, selector: dict[str, str]) -> list[dict[str, Any]]:
        query = {"labelSelector": ",".join(f"{k}={v}" for k, v in sorted(selector.items()))}
        status, payload = self.request("GET", f"/api/v1/namespaces/{namespace}/pods", query=query)
        if status >= 300:
            raise DeployError(f"listing pods in {namespace} failed: HTTP {status}")
        return list(payload.get("items") or [])


def current_image(deployment: Optional[dict[str, Any]]) -> Optional[str]:
    if not deployment:
        return None
    containers = deployment.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []
    return str(containers[0]["image"]) if containers else None


@dataclass(frozen=True)
class Rollout:
    ok: bool
    message: str


def watch(
    kube: Kube,
    deployment: Manifest,
    image: str,
    *,
    timeout: float,
    poll: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Rollout:
    """Poll the Deployment and its pods until the rollout completes, fails, or `timeout` passes."""
    meta = deployment["metadata"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    deadline = clock() + timeout
    last = rollout.State("progressing", "not observed yet")
    while True:
        live = kube.get_deployment(meta["namespace"], meta["name"])
        pods = kube.list_pods(meta["namespace"], selector)
        if live is not None:
            last = rollout.assess(live, pods, image)
            if last.phase == "complete":
                return Rollout(True, last.message)
            if last.phase == "failed":
                return Rollout(False, last.message)
        if clock() >= deadline:
            unready = rollout.unready_pods(pods)
            if unready:
                return Rollout(
                    False,
                    f"readiness never became true within {timeout:.0f} s: pods {', '.join(unready)} not Ready ({last.message})",
                )
            return Rollout(False, f"the rollout did not complete within {timeout:.0f} s ({last.message})")
        sleep(poll)


def apply_all(kube: Kube, objects: list[Manifest]) -> None:
    for obj in objects:
        kube.apply(obj)
