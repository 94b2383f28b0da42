"""`kind: local` environments: a real image from the real registry, run in the local Docker engine
(host networking, 127.0.0.1 only), smoke-tested, promoted, and recorded in a bare GitOps repo.

The image here is a small stub server built from the test base image: it answers /readyz and
/v1/predict with the golden predictions (or, built with WRONG=1, their opposite), so that the test
exercises deploy itself in seconds; the end-to-end test with the real `ml-ci build` image is
test_deploy_e2e.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import tarfile
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ml_ci.cli.main import main
from ml_ci.config import Config
from ml_ci.net import free_port
from tests.integration import test_gitops as gitops_tests  # its merge_review: a reviewer's merge, with git
from tests.services import base_image, registry
from tests.unit.deploy.helpers import config, golden_record, write_artifacts

pytestmark = pytest.mark.integration
MODEL = "deploytest"

STUB = r"""
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
golden = json.load(open("/opt/stub/golden.json"))
answers = {e["text"]: e["expected"] for e in golden["examples"]}
wrong = os.environ.get("WRONG") == "1"
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def send(self, code, payload):
        body = json.dumps(payload).encode()
        self.send_response(code); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_GET(self):
        self.send(200 if self.path in ("/readyz", "/healthz") else 404, {"status": "ok"})
    def do_POST(self):
        texts = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["texts"]
        out = []
        for t in texts:
            p = dict(answers[t]["probabilities"])
            if wrong:
                p = {k: round(1 - v, 7) for k, v in p.items()}
            out.append({"label": max(p, key=p.get), "probabilities": p})
        self.send(200, {"predictions": out})
ThreadingHTTPServer((os.environ["ML_CI_SERVE_HOST"], int(os.environ["ML_CI_SERVE_PORT"])), H).serve_forever()
"""


BUILT: list[str] = []  # image ids, removed by remove_stub_images()


def remove_stub_images() -> None:
    """Remove the stub images this session built (and deploy pulled); the registry keeps its copies."""
    import docker
    import docker.errors

    while BUILT:
        with contextlib.suppress(docker.errors.ImageNotFound, docker.errors.APIError):
            docker.from_env().images.remove(BUILT.pop(), force=True)


def build_stub(wrong: bool, labels: dict[str, str] | None = None) -> str:
    """Build and push a stub image (a new digest each time), with `labels` (as `ml-ci build` sets
    io.ml-ci.model.sha256); returns REGISTRY/REPO@sha256:..."""
    import docker

    client = docker.from_env()
    repo = f"{registry()}/ml-ci-tests/deploy-stub"
    tag = f"{'wrong' if wrong else 'good'}-{uuid.uuid4().hex[:8]}"
    label_lines = "".join(f"LABEL {k}={v}\n" for k, v in {"dev.ml-ci.test-variant": tag, **(labels or {})}.items())
    files = {
        "server.py": STUB.encode(),
        "golden.json": json.dumps(golden_record()).encode(),
        "Dockerfile": (
            f"FROM {base_image()}\nCOPY server.py golden.json /opt/stub/\n"
            f"ENV WRONG={'1' if wrong else '0'}\nUSER 10001:10001\n{label_lines}"
            'CMD ["python3", "/opt/stub/server.py"]\n'
        ).encode(),
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    image, _ = client.images.build(fileobj=buf, custom_context=True, tag=f"{repo}:{tag}", network_mode="host", rm=True)
    client.images.push(repo, tag=tag)
    image.reload()
    digest = next(d for d in image.attrs["RepoDigests"] if d.startswith(repo + "@"))
    BUILT.append(image.id)
    client.images.remove(f"{repo}:{tag}", force=True)  # deploy must pull it by digest from the registry
    return str(digest)


@pytest.fixture(scope="module")
def stub_images() -> Iterator[dict[str, str]]:
    yield {"good": build_stub(False), "wrong": build_stub(True)}
    remove_stub_images()


def remove_containers(*names: str) -> None:
    import docker
    import docker.errors

    client = docker.from_env()
    for name in names:
        for suffix in ("", "-candidate", "-previous"):
            with contextlib.suppress(docker.errors.NotFound):
                client.containers.get(name + suffix).remove(force=True)


@pytest.fixture
def local_repo(tmp_path: Path) -> Iterator[tuple[Config, int, int]]:
    ports = free_port(), free_port()
    envs = [
        {"name": "staging", "kind": "local", "port": ports[0], "smoke_test": {"golden_examples": 4, "timeout_seconds": 60}},
        {
            "name": "production",
            "kind": "local",
            "port": ports[1],
            "approval": True,
            "smoke_test": {"golden_examples": 4, "timeout_seconds": 60},
        },
    ]
    cfg = config(
        tmp_path,
        name=MODEL,
        deploy={
            "strategy": "gitops",
            "environments": envs,
            "gitops": {"repo": ".ml-ci/gitops.git", "path": f"apps/{MODEL}", "create": True},
        },
    )
    try:
        yield cfg, ports[0], ports[1]
    finally:
        remove_containers(f"ml-ci-{MODEL}-staging", f"ml-ci-{MODEL}-production")


def predict(port: int, texts: list[str]) -> list[dict[str, Any]]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/predict",
        data=json.dumps({"texts": texts}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return list(json.loads(resp.read())["predictions"])


def running_image(name: str) -> str:
    import docker

    return str(docker.from_env().containers.get(name).labels["dev.ml-ci.image"])


def log(bare: Path) -> list[str]:
    return subprocess.run(
        ["git", "-C", str(bare), "log", "--format=%s", "main"], capture_output=True, text=True, check=True
    ).stdout.splitlines()


def exists(name: str) -> bool:
    import docker
    import docker.errors

    try:
        docker.from_env().containers.get(name)
    except docker.errors.NotFound:
        return False
    return True


def gitops_release(bare: Path, env: str) -> dict[str, Any]:
    return dict(
        json.loads(
            subprocess.run(
                ["git", "-C", str(bare), "show", f"main:apps/{MODEL}/overlays/{env}/release.json"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
    )


def approve(cfg: Config, bare: Path, image: str, reviewer: Path, capsys: pytest.CaptureFixture[str], *command: str) -> None:
    """production has approval: true: `command` pushes the review branch and starts nothing; a reviewer merges it."""
    short = image.split(":")[-1][:12]
    tip, running = log(bare)[0], exists(f"ml-ci-{MODEL}-production") and running_image(f"ml-ci-{MODEL}-production")
    capsys.readouterr()
    assert main([*command, "-c", str(cfg.path)]) == 0
    assert capsys.readouterr().out.startswith(
        f"production needs approval: merge branch ml-ci/production/{short} to deploy "
        f"{short}, then run this again to record it live"
    )
    assert log(bare)[0] == tip  # nothing on main before review
    assert (exists(f"ml-ci-{MODEL}-production") and running_image(f"ml-ci-{MODEL}-production")) == running
    gitops_tests.merge_review(bare, f"ml-ci/production/{short}", reviewer)
    assert (gitops_release(bare, "production")["image"], gitops_release(bare, "production")["status"]) == (image, "pending")


def test_deploy_smoke_test_and_promote_a_real_image(
    local_repo: tuple[Config, int, int], stub_images: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cfg, staging_port, production_port = local_repo
    good, wrong = stub_images["good"], stub_images["wrong"]
    write_artifacts(cfg.root, image=good)
    texts = [e["text"] for e in golden_record()["examples"]]
    bare = cfg.root / ".ml-ci" / "gitops.git"

    assert main(["deploy", "-c", str(cfg.path), "--env", "staging"]) == 0
    assert predict(staging_port, texts) == [e["expected"] for e in golden_record()["examples"]]
    assert running_image(f"ml-ci-{MODEL}-staging") == good
    assert log(bare) == [f"staging: {MODEL} {good.split(':')[-1][:12]} (deploy)"]
    state = json.loads((cfg.root / ".ml-ci/state/staging/release.json").read_text())
    assert (state["image"], state["smoke"], state["status"]) == (good, "passed", "live")
    assert "smoke test passed: /readyz ready, 4 golden examples match" in capsys.readouterr().out

    assert main(["deploy", "-c", str(cfg.path), "--env", "staging"]) == 0  # the same digest again
    assert "already runs" in capsys.readouterr().out
    assert len(log(bare)) == 1
    # A later CI job has no .ml-ci/state: the GitOps record says the running container is the good release.
    shutil.move(cfg.root / ".ml-ci/state", cfg.root / "state-elsewhere")
    assert main(["deploy", "-c", str(cfg.path), "--env", "staging"]) == 0
    assert capsys.readouterr().out.startswith(f"staging already runs {good.split(':')[-1][:12]}; nothing to do")
    assert len(log(bare)) == 1
    shutil.move(cfg.root / "state-elsewhere", cfg.root / ".ml-ci/state")

    # production has approval: true; the promote after the review's merge starts its container.
    promote = ("promote", "--from", "staging", "--to", "production")
    approve(cfg, bare, good, tmp_path / "reviewer", capsys, *promote)
    assert main([*promote, "-c", str(cfg.path)]) == 0
    assert capsys.readouterr().out.startswith(f"production: approved; {good.split(':')[-1][:12]} is live; smoke test passed")
    assert running_image(f"ml-ci-{MODEL}-production") == good
    assert predict(production_port, texts) == predict(staging_port, texts)
    production = json.loads((cfg.root / ".ml-ci/state/production/release.json").read_text())
    assert (production["image"], production["source"], production["previous"], production["status"]) == (
        good,
        "promote:staging",
        None,
        "live",
    )
    assert gitops_release(bare, "production") == production
    assert log(bare)[0] == f"production: {good.split(':')[-1][:12]} passed its smoke test"
    assert main([*promote, "-c", str(cfg.path)]) == 0  # complete: the same promotion again changes nothing
    assert "nothing to do" in capsys.readouterr().out
    commits = len(log(bare))

    # A wrong model fails its smoke test on the candidate port; the old container keeps serving.
    write_artifacts(cfg.root, image=wrong)
    capsys.readouterr()
    assert main(["deploy", "-c", str(cfg.path), "--env", "staging"]) == 5
    err = capsys.readouterr().err
    assert "error: staging: smoke test failed: example 0 ('text number 0'): label 'negative', recorded 'positive'" in err
    assert "the previous container keeps serving" in err
    assert running_image(f"ml-ci-{MODEL}-staging") == good
    assert predict(staging_port, texts) == [e["expected"] for e in golden_record()["examples"]]
    assert len(log(bare)) == commits
    assert json.loads((cfg.root / ".ml-ci/state/staging/release.json").read_text())["image"] == good

    # A GitOps remote that refuses the record: the new image never replaces the running one.
    newer = build_stub(False)  # removed with the others when the module's images are
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    write_artifacts(cfg.root, image=newer)
    capsys.readouterr()
    assert main(["deploy", "-c", str(cfg.path), "--env", "staging"]) == 5
    assert "the GitOps remote refused the push to main; nothing was changed there" in capsys.readouterr().err
    assert running_image(f"ml-ci-{MODEL}-staging") == good
    assert json.loads((cfg.root / ".ml-ci/state/staging/release.json").read_text())["image"] == good
    assert len(log(bare)) == commits


def test_an_approved_image_that_fails_its_smoke_test_is_reverted_and_the_old_container_serves(
    local_repo: tuple[Config, int, int], stub_images: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """approval: true on kind: local, through a real merge: the merged review's image is tried on a candidate port
    first; it answers like another model, so the container that ran before keeps serving, main goes back to its
    record (a revert commit) and deploy exits 5."""
    cfg, _, production_port = local_repo
    good, wrong = stub_images["good"], stub_images["wrong"]
    bare = cfg.root / ".ml-ci" / "gitops.git"
    texts = [e["text"] for e in golden_record()["examples"]]
    write_artifacts(cfg.root, image=good)
    assert main(["deploy", "-c", str(cfg.path), "--env", "staging"]) == 0
    approve(cfg, bare, good, tmp_path / "first", capsys, "deploy", "--env", "production")
    assert not exists(f"ml-ci-{MODEL}-production")  # the review's merge, not the first deploy, starts it
    assert main(["deploy", "-c", str(cfg.path), "--env", "production"]) == 0
    assert running_image(f"ml-ci-{MODEL}-production") == good
    before = gitops_release(bare, "production")
    assert (before["image"], before["status"], before["smoke"]) == (good, "live", "passed")

    write_artifacts(cfg.root, image=wrong)
    approve(cfg, bare, wrong, tmp_path / "second", capsys, "deploy", "--env", "production")
    assert main(["deploy", "-c", str(cfg.path), "--env", "production"]) == 5
    err = capsys.readouterr().err
    assert err.startswith(
        "error: production: smoke test failed: example 0 ('text number 0'): label 'negative', recorded 'positive'"
    ), err
    assert f"reverted to {good}" in err
    assert running_image(f"ml-ci-{MODEL}-production") == good
    assert predict(production_port, texts) == [e["expected"] for e in golden_record()["examples"]]
    assert log(bare)[0].startswith(f"production: revert {wrong.split(':')[-1][:12]}: smoke test failed")
    assert gitops_release(bare, "production") == before
    state = json.loads((cfg.root / ".ml-ci/state/production/release.json").read_text())
    assert (state["image"], state["status"]) == (wrong, "reverted")


def test_a_digest_absent_from_the_registry_is_refused_before_anything(
    local_repo: tuple[Config, int, int], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, _, _ = local_repo
    missing = f"{registry()}/ml-ci-tests/deploy-stub@sha256:{'0' * 64}"
    write_artifacts(cfg.root, image=missing)
    assert main(["deploy", "-c", str(cfg.path), "--env", "staging", "--image", missing]) == 5
    assert capsys.readouterr().err == (
        f"error: {missing}: the registry {registry()} has no such manifest; push the image "
        "first (`ml-ci build --push`) or check the digest\n"
    )
    assert not (cfg.root / ".ml-ci" / "gitops.git").exists()
    assert not (cfg.root / ".ml-ci" / "state").exists()


def test_an_unknown_environment_is_a_config_error(
    local_repo: tuple[Config, int, int], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, _, _ = local_repo
    assert main(["deploy", "-c", str(cfg.path), "--env", "prod"]) == 2
    assert "deploy.environments: no environment named 'prod' (ml.yaml has: staging, production)" in capsys.readouterr().err


def test_a_container_that_cannot_take_over_the_port_is_reverted_in_git(
    local_repo: tuple[Config, int, int], stub_images: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    cfg, staging_port, _ = local_repo
    write_artifacts(cfg.root, image=stub_images["good"])
    bare = cfg.root / ".ml-ci" / "gitops.git"
    with socket.socket() as squatter:  # something else already listens on the environment's port
        squatter.bind(("127.0.0.1", staging_port))
        squatter.listen()
        assert main(["deploy", "-c", str(cfg.path), "--env", "staging"]) == 5
    err = capsys.readouterr().err
    assert f"error: staging: the new container did not become ready on port {staging_port}" in err
    short = stub_images["good"].split(":")[-1][:12]
    subjects = log(bare)
    assert subjects[1] == f"staging: {MODEL} {short} (deploy)"
    assert subjects[0].startswith(f"staging: revert {short}: the new container did not become ready")
    release = json.loads(
        subprocess.run(
            ["git", "-C", str(bare), "show", f"main:apps/{MODEL}/overlays/staging/release.json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert release["status"] == "failed"
    assert not (cfg.root / ".ml-ci/state/staging").exists()


def test_an_image_of_another_model_is_refused_naming_both_digests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`deploy --image` once deployed another model's image with this model's records beside it: the image's own
    label (io.ml-ci.model.sha256, set by `ml-ci build`) says which model it serves."""
    ours, theirs = "a" * 64, "b" * 64
    try:
        other, same = build_stub(False, {"io.ml-ci.model.sha256": theirs}), build_stub(False, {"io.ml-ci.model.sha256": ours})
        cfg = config(
            tmp_path,
            name=MODEL,
            deploy={
                "strategy": "gitops",
                "gitops": {"repo": "gitops.git", "path": f"apps/{MODEL}", "create": True},
                "environments": [{"name": "staging", "smoke_test": {"enabled": False}}],
            },
        )
        write_artifacts(cfg.root, image=same)
        (cfg.root / ".ml-ci/artifacts/export/model.json").write_text(json.dumps({"sha256": ours}))
        assert main(["deploy", "-c", str(cfg.path), "--env", "staging", "--image", other]) == 5
        assert capsys.readouterr().err == (
            f"error: {other}: the image serves model sha256:{theirs} (its io.ml-ci.model.sha256 label), but the records "
            f"to deploy with it describe model sha256:{ours} (export/model.json, with its eval.json and golden.json); "
            "deploy the image built from these records, or export and evaluate the model it holds\n"
        )
        assert not (cfg.root / "gitops.git").exists()
        assert main(["deploy", "-c", str(cfg.path), "--env", "staging", "--image", same]) == 0, capsys.readouterr().err
        release = json.loads(
            subprocess.run(
                ["git", "-C", str(cfg.root / "gitops.git"), "show", f"main:apps/{MODEL}/overlays/staging/release.json"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        assert (release["image"], release["extra"]) == (same, {"model_sha256": ours})
    finally:
        remove_stub_images()
