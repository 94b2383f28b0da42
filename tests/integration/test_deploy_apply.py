"""`strategy: apply` against a STAND-IN for the Kubernetes API, not a cluster.

There is no Kubernetes API server on these machines. `KubeStandIn` is a small HTTP server on
127.0.0.1 that answers the API paths `ml-ci deploy` uses (server-side apply PATCH, GET of a
Deployment, list of Pods) with the API's real field names, and plays scripted rollout scenarios:
it schedules nothing and runs no pods. The kubernetes Python client talks to it through a
`kubernetes.client.Configuration(host="http://127.0.0.1:PORT")`, as it would to a cluster.
"""

from __future__ import annotations

import copy
import http.server
import json
import shutil
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ml_ci.config import Config
from ml_ci.deploy.apply import Kube
from ml_ci.deploy.deployer import Deployer
from ml_ci.deploy.inputs import Inputs
from ml_ci.errors import DeployError
from ml_ci.records.imageref import parse
from tests.integration.test_deploy_local import build_stub, remove_stub_images
from tests.unit.deploy.helpers import IMAGE_A, IMAGE_B, JsonHandler, config, eval_record, golden_record

pytestmark = pytest.mark.integration

TOKEN = "stand-in-token"
NS, NAME = "ml-staging", "tiny"
DEPLOYMENT = f"/apis/apps/v1/namespaces/{NS}/deployments/{NAME}"


class KubeStandIn:
    """A stand-in for the Kubernetes API (see the module docstring): scenario is one of
    success, never-ready, deadline, pull-backoff."""

    def __init__(self, scenario: str = "success", *, fail_patches: tuple[int, ...] = (), deny: int | None = None):
        self.scenario = scenario
        self.fail_patches = list(fail_patches)
        self.deny = deny
        self.objects: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, dict[str, list[str]], str]] = []
        self.lock = threading.Lock()
        stand_in = self

        class Handler(JsonHandler):
            def _route(self, method: str) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with stand_in.lock:
                    stand_in.requests.append((method, url.path, query, self.headers.get("Content-Type", "")))
                    status, payload = stand_in.handle(method, url.path, query, self.headers, body)
                self._send(status, payload)

            def do_GET(self) -> None:
                self._route("GET")

            def do_PATCH(self) -> None:
                self._route("PATCH")

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @staticmethod
    def status(code: int, reason: str, message: str) -> tuple[int, dict[str, Any]]:
        return code, {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "reason": reason,
            "message": message,
            "code": code,
        }

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: Any, body: bytes) -> tuple[int, Any]:
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            return self.status(401, "Unauthorized", "Unauthorized")
        if self.deny:
            return self.status(
                self.deny,
                "Forbidden",
                f'deployments.apps "{NAME}" is forbidden: User "ci" cannot patch '
                f'resource "deployments" in API group "apps" in the namespace "{NS}"',
            )
        if method == "PATCH":
            if self.fail_patches:
                code = self.fail_patches.pop(0)
                return self.status(code, "Conflict" if code == 409 else "InternalError", f"scripted HTTP {code}")
            if (
                headers.get("Content-Type") != "application/apply-patch+yaml"
                or query.get("fieldManager") != ["ml-ci"]
                or query.get("force") != ["true"]
            ):
                return self.status(415, "UnsupportedMediaType", "expected a forced server-side apply by ml-ci")
            obj = json.loads(body)
            old = self.objects.get(path)
            generation = (old or {}).get("metadata", {}).get("generation", 0) + 1
            obj["metadata"]["generation"] = generation
            obj["status"] = {"observedGeneration": generation - 1}
            self.objects[path] = obj
            self.polls = 0
            return 200, obj
        if path.endswith("/pods"):
            return 200, {"kind": "PodList", "apiVersion": "v1", "items": self.pods(path.removesuffix("/pods"))}
        stored = self.objects.get(path)
        if stored is None:
            return self.status(404, "NotFound", f"{path.rsplit('/', 1)[-1]} not found")
        return 200, self.rollout(stored) if "/deployments/" in path else stored

    def image(self, deployment: str = DEPLOYMENT) -> str:
        return str(self.objects[deployment]["spec"]["template"]["spec"]["containers"][0]["image"])

    def rollout(self, dep: dict[str, Any]) -> dict[str, Any]:
        """The Deployment's status as a controller would report it, by scenario."""
        dep = copy.deepcopy(dep)
        self.polls += 1
        gen, want = dep["metadata"]["generation"], dep["spec"].get("replicas", 1)
        if self.polls < 2:  # the controller has not caught up yet
            return dep
        status: dict[str, Any] = {
            "observedGeneration": gen,
            "replicas": want,
            "updatedReplicas": want,
            "availableReplicas": want,
            "readyReplicas": want,
        }
        if self.scenario in ("never-ready", "pull-backoff"):
            status.update(availableReplicas=0, readyReplicas=0)
        if self.scenario == "deadline":
            status.update(
                updatedReplicas=0,
                availableReplicas=0,
                conditions=[
                    {
                        "type": "Progressing",
                        "status": "False",
                        "reason": "ProgressDeadlineExceeded",
                        "message": f'ReplicaSet "{NAME}-7d9f" has timed out progressing.',
                    }
                ],
            )
        dep["status"] = status
        return dep

    def pods(self, namespace_path: str) -> list[dict[str, Any]]:
        deployment = f"/apis/apps/v1{namespace_path.removeprefix('/api/v1')}/deployments/{NAME}"
        ready = self.scenario == "success"
        state: dict[str, Any] = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
        if self.scenario == "pull-backoff":
            state = {"waiting": {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{self.image(deployment)}"'}}
        return [
            {
                "metadata": {"name": f"{NAME}-7d9f-x2k4p", "namespace": NS},
                "status": {
                    "phase": "Running" if "running" in state else "Pending",
                    "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                    "containerStatuses": [{"name": "server", "image": self.image(deployment), "ready": ready, "state": state}],
                },
            }
        ]

    def patches(self) -> list[str]:
        return [p for m, p, _, _ in self.requests if m == "PATCH"]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def kube_for(stand_in: KubeStandIn) -> Kube:
    from kubernetes import client

    cfg = client.Configuration(host=stand_in.url)
    cfg.api_key = {"BearerToken": TOKEN}
    cfg.api_key_prefix = {"BearerToken": "Bearer"}
    return Kube(client.ApiClient(cfg), sleep=lambda _: None)


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return config(
        tmp_path,
        deploy={"strategy": "apply", "environments": [{"name": "staging", "namespace": NS, "smoke_test": {"enabled": False}}]},
    )


@pytest.fixture
def stand_in() -> Iterator[KubeStandIn]:
    s = KubeStandIn()
    yield s
    s.close()


def inputs(image: str) -> Inputs:
    return Inputs(image=parse(image), eval_record=eval_record(), golden=golden_record())


def deploy(cfg: Config, stand_in: KubeStandIn, image: str, timeout: float = 3) -> str:
    d = Deployer(cfg, {}, kube=kube_for(stand_in), check_registry=False, watch_timeout=timeout, log=lambda _: None)
    return d.deploy("staging", inputs(image)).message


def test_success_applies_every_object_server_side_and_waits_for_the_rollout(cfg: Config, stand_in: KubeStandIn) -> None:
    message = deploy(cfg, stand_in, IMAGE_A)
    assert message == "staging: aaaaaaaaaaaa rolled out in ml-staging: 1 of 1 replicas updated and available"
    assert stand_in.patches() == [
        DEPLOYMENT,
        f"/api/v1/namespaces/{NS}/services/{NAME}",
        f"/apis/monitoring.coreos.com/v1/namespaces/{NS}/servicemonitors/{NAME}",
        f"/apis/monitoring.coreos.com/v1/namespaces/{NS}/prometheusrules/{NAME}",
        f"/api/v1/namespaces/{NS}/configmaps/{NAME}-ml-ci-release",
    ]
    assert stand_in.image() == IMAGE_A
    record = json.loads((cfg.root / ".ml-ci/state/staging/release.json").read_text())
    assert (record["image"], record["status"], record["smoke"]) == (IMAGE_A, "live", "skipped")


def test_the_same_digest_again_applies_nothing_unless_the_manifests_changed(tmp_path: Path, stand_in: KubeStandIn) -> None:
    cfg = config(
        tmp_path,
        deploy={"strategy": "apply", "environments": [{"name": "staging", "namespace": NS, "smoke_test": {"enabled": False}}]},
    )
    deploy(cfg, stand_in, IMAGE_A)
    applied = len(stand_in.patches())
    assert deploy(cfg, stand_in, IMAGE_A) == "staging already runs aaaaaaaaaaaa in ml-staging; nothing applied"
    assert len(stand_in.patches()) == applied
    # The same digest with other settings (more replicas) is a change: it is applied.
    cfg = config(
        tmp_path / "more",
        deploy={
            "strategy": "apply",
            "environments": [{"name": "staging", "namespace": NS, "replicas": 3, "smoke_test": {"enabled": False}}],
        },
    )
    assert deploy(cfg, stand_in, IMAGE_A).startswith("staging: aaaaaaaaaaaa rolled out in ml-staging")
    assert len(stand_in.patches()) > applied
    assert stand_in.objects[DEPLOYMENT]["spec"]["replicas"] == 3


@pytest.mark.parametrize(
    ("scenario", "reason"),
    [
        (
            "never-ready",
            "staging: readiness never became true within 2 s: pods tiny-7d9f-x2k4p not Ready (0 of 1 updated replicas available)",
        ),
        (
            "deadline",
            "staging: deadline exceeded: the rollout made no progress within progressDeadlineSeconds=300 "
            '(ReplicaSet "tiny-7d9f" has timed out progressing.)',
        ),
        ("pull-backoff", f'staging: pod tiny-7d9f-x2k4p: ImagePullBackOff: Back-off pulling image "{IMAGE_B}"'),
    ],
)
def test_a_failed_rollout_rolls_back_to_the_previous_digest(
    cfg: Config, stand_in: KubeStandIn, scenario: str, reason: str
) -> None:
    deploy(cfg, stand_in, IMAGE_A)
    stand_in.scenario = scenario
    with pytest.raises(DeployError) as e:
        deploy(cfg, stand_in, IMAGE_B, timeout=2)
    assert str(e.value) == f"{reason}; rolled back to {IMAGE_A}"
    assert e.value.exit_code == 5
    assert stand_in.image() == IMAGE_A  # the previous digest was applied again
    assert json.loads((cfg.root / ".ml-ci/state/staging/release.json").read_text())["image"] == IMAGE_A


def test_a_first_deploy_that_fails_says_there_is_nothing_to_roll_back_to(cfg: Config, stand_in: KubeStandIn) -> None:
    stand_in.scenario = "deadline"
    with pytest.raises(DeployError, match=r"; there was no previous image to roll back to$"):
        deploy(cfg, stand_in, IMAGE_B)


@pytest.mark.parametrize("failures", [(409,), (503, 500)])
def test_conflicts_and_server_errors_are_retried(cfg: Config, failures: tuple[int, ...]) -> None:
    stand_in = KubeStandIn(fail_patches=failures)
    try:
        assert deploy(cfg, stand_in, IMAGE_A).endswith("1 of 1 replicas updated and available")
        assert stand_in.patches().count(DEPLOYMENT) == len(failures) + 1
    finally:
        stand_in.close()


@pytest.mark.parametrize("code", [401, 403])
def test_no_access_is_a_clear_error_and_applies_nothing(cfg: Config, code: int) -> None:
    stand_in = KubeStandIn(deny=403 if code == 403 else None)
    try:
        kube = kube_for(stand_in)
        if code == 401:
            kube.client.configuration.api_key = {"BearerToken": "wrong"}
        d = Deployer(cfg, {}, kube=kube, check_registry=False, watch_timeout=2, log=lambda _: None)
        with pytest.raises(DeployError) as e:
            d.deploy("staging", inputs(IMAGE_A))
        assert str(e.value).startswith(f"the Kubernetes API denied GET {DEPLOYMENT} (HTTP {code}")
        assert str(e.value).endswith("check the kubeconfig's credentials and RBAC")
        assert stand_in.objects == {}
        assert not (cfg.root / ".ml-ci/state/staging").exists()
    finally:
        stand_in.close()


def test_the_cli_reads_the_kubeconfig_and_checks_the_registry(
    tmp_path: Path, stand_in: KubeStandIn, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ml-ci deploy` as CI runs it: credentials from $KUBECONFIG, the digest checked in the real registry."""
    good, other = build_stub(False), build_stub(True)
    try:
        from ml_ci.cli.main import main
        from tests.unit.deploy.helpers import write_artifacts

        cfg = config(
            tmp_path,
            deploy={
                "strategy": "apply",
                "environments": [{"name": "staging", "namespace": NS, "smoke_test": {"enabled": False}}],
            },
        )
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "stand-in",
                    "clusters": [{"name": "stand-in", "cluster": {"server": stand_in.url}}],
                    "users": [{"name": "ci", "user": {"token": TOKEN}}],
                    "contexts": [{"name": "stand-in", "context": {"cluster": "stand-in", "user": "ci"}}],
                }
            )
        )
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        write_artifacts(cfg.root, image=good)
        assert main(["deploy", "-c", str(cfg.path), "--env", "staging"]) == 0, capsys.readouterr().err
        assert stand_in.image() == good
        stand_in.deny = 403
        assert main(["deploy", "-c", str(cfg.path), "--env", "staging", "--image", other]) == 5
        assert '(HTTP 403: deployments.apps "tiny" is forbidden' in capsys.readouterr().err
        monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
        assert main(["deploy", "-c", str(cfg.path), "--env", "staging", "--image", other]) == 5
        assert capsys.readouterr().err.startswith(f"error: no Kubernetes credentials: the kubeconfig {tmp_path / 'missing'}: ")
    finally:
        remove_stub_images()


def test_promotion_reads_the_release_record_from_the_cluster(tmp_path: Path, stand_in: KubeStandIn) -> None:
    """On a CI runner that did not make the staging deploy there is no local state: the ConfigMap tells."""
    cfg = config(
        tmp_path,
        deploy={
            "strategy": "apply",
            "environments": [
                {"name": "staging", "namespace": NS, "smoke_test": {"enabled": False}},
                {"name": "production", "namespace": "ml-production", "smoke_test": {"enabled": False}},
            ],
        },
    )
    deploy(cfg, stand_in, IMAGE_A)
    record = stand_in.objects[f"/api/v1/namespaces/{NS}/configmaps/{NAME}-ml-ci-release"]["data"]
    assert json.loads(record["eval.json"]) == eval_record()
    shutil.rmtree(tmp_path / ".ml-ci" / "state")
    d = Deployer(cfg, {}, kube=kube_for(stand_in), check_registry=False, watch_timeout=3, log=lambda _: None)
    result = d.promote("staging", "production")
    assert stand_in.image(f"/apis/apps/v1/namespaces/ml-production/deployments/{NAME}") == IMAGE_A
    assert (result.release.source, result.release.image) == ("promote:staging", IMAGE_A)
    promoted = stand_in.objects[f"/api/v1/namespaces/ml-production/configmaps/{NAME}-ml-ci-release"]["data"]
    assert json.loads(promoted["golden.json"]) == golden_record()


def test_promoting_the_same_digest_again_applies_nothing_unless_the_target_settings_changed(
    tmp_path: Path, stand_in: KubeStandIn
) -> None:
    def promoter(replicas: int, at: Path) -> Deployer:
        cfg = config(
            at,
            deploy={
                "strategy": "apply",
                "environments": [
                    {"name": "staging", "namespace": NS, "smoke_test": {"enabled": False}},
                    {"name": "production", "namespace": "ml-production", "replicas": replicas, "smoke_test": {"enabled": False}},
                ],
            },
        )
        return Deployer(cfg, {}, kube=kube_for(stand_in), check_registry=False, watch_timeout=3, log=lambda _: None)

    d = promoter(2, tmp_path)
    d.deploy("staging", inputs(IMAGE_A))
    assert d.promote("staging", "production").changed
    applied = len(stand_in.patches())
    again = d.promote("staging", "production")
    assert (again.changed, again.message) == (
        False,
        "production already runs aaaaaaaaaaaa (the digest live in staging); nothing to do",
    )
    assert len(stand_in.patches()) == applied
    more = promoter(4, tmp_path / "more")  # the same records (in the cluster), production with more replicas
    assert more.promote("staging", "production").changed
    assert stand_in.objects[f"/apis/apps/v1/namespaces/ml-production/deployments/{NAME}"]["spec"]["replicas"] == 4


def test_a_failed_smoke_test_after_the_rollout_rolls_back(tmp_path: Path, stand_in: KubeStandIn) -> None:
    from tests.unit.deploy.helpers import ModelServer

    server = ModelServer(golden_record(), wrong=True)
    try:
        cfg = config(
            tmp_path,
            deploy={
                "strategy": "apply",
                "environments": [
                    {
                        "name": "staging",
                        "namespace": NS,
                        "url": server.url,
                        "smoke_test": {"golden_examples": 2, "timeout_seconds": 5},
                    }
                ],
            },
        )
        server.wrong = False
        deploy(cfg, stand_in, IMAGE_A)
        server.wrong = True  # the next model answers differently from its golden record
        with pytest.raises(DeployError) as e:
            deploy(cfg, stand_in, IMAGE_B)
        assert str(e.value) == (
            "staging: smoke test failed: example 0 ('text number 0'): label 'negative', recorded "
            f"'positive'; example 1 ('text number 1'): label 'positive', recorded 'negative'; "
            f"rolled back to {IMAGE_A}"
        )
        assert stand_in.image() == IMAGE_A
    finally:
        server.close()
