"""Security and structure properties of every generated workflow and composite action, read back
from the YAML text (what GitHub reads), over every golden variant (with its vendored actions) and
the bundled files."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from ml_ci.generate import pins
from ml_ci.generate.bundled import PIPELINE_FILE, render_bundled
from tests.golden.variants import GOLDEN, render_variant, variant_dirs

RENDERED = {f"{folder.name}/{rel}": text for folder in variant_dirs() for rel, text in render_variant(folder).items()}
WORKFLOWS = {rel: text for rel, text in RENDERED.items() if "/.github/workflows/" in rel}
WORKFLOWS[PIPELINE_FILE] = render_bundled()[PIPELINE_FILE]
# The bundled actions, and the copies vendored into the model repositories of the variants that use them.
ACTIONS = {rel: text for rel, text in {**render_bundled(), **RENDERED}.items() if rel.endswith("/action.yml")}
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def load(text: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def steps_of(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if "jobs" in doc:
        for job in doc["jobs"].values():
            yield from job["steps"]
    else:
        yield from doc["runs"]["steps"]


def all_docs() -> Iterator[tuple[str, dict[str, Any]]]:
    for rel, text in {**WORKFLOWS, **ACTIONS}.items():
        yield rel, load(text)


def test_on_is_a_string_key_for_every_yaml_reader() -> None:
    for rel, text in WORKFLOWS.items():
        assert '\n"on":\n' in text, rel
        assert "on" in load(text), rel


@pytest.mark.parametrize("rel", sorted(WORKFLOWS))
def test_workflow_permissions_and_triggers(rel: str) -> None:
    doc = load(WORKFLOWS[rel])
    assert doc["permissions"] == {}, "top-level permissions must be empty"
    assert "pull_request_target" not in doc["on"]
    assert "concurrency" in doc
    ids = [i.lower() for i in doc["jobs"]]
    assert len(ids) == len(set(ids)), "job ids must be unique ignoring case"
    for job_id, job in doc["jobs"].items():
        assert isinstance(job["timeout-minutes"], (int, str)), job_id
        perms = job["permissions"]
        assert perms.get("contents") == "read", job_id
        writes = {k for k, v in perms.items() if v == "write"}
        allowed = {"report": {"pull-requests", "statuses"}, "build": {"packages"}, "build-ghcr": {"packages"}}.get(job_id, set())
        if job_id.startswith(("deploy-", "promote-")):
            allowed = {"deployments", "id-token"}
        if attests(job):
            # GitHub's artifact attestation: the OIDC token it is signed through, and the attestations API.
            allowed = allowed | {"id-token", "attestations"}
        assert writes <= allowed, f"{job_id} asks for {writes - allowed}"
        assert job.get("secrets") != "inherit"
        if job_id.startswith(("deploy-", "promote-")):
            assert job["environment"]["name"], job_id
            assert job["concurrency"]["cancel-in-progress"] is False, job_id
        envs = [job.get("env") or {}, *((step.get("env") or {}) for step in job["steps"])]
        if any("secrets." in str(v) for env in envs for v in env.values()):
            assert "environment" in job, f"{job_id}: secrets only in jobs bound to an environment"


def attests(job: dict[str, Any]) -> bool:
    return any(str(step.get("uses", "")).startswith(f"{pins.ATTEST_BUILD_PROVENANCE.repo}@") for step in job["steps"])


def test_release_never_runs_on_pull_requests_and_deploys_only_there() -> None:
    for rel, text in WORKFLOWS.items():
        doc = load(text)
        if rel.endswith("ml-release.yml"):
            assert set(doc["on"]) == {"push", "workflow_dispatch"}, rel
        elif rel == PIPELINE_FILE:
            # The reusable workflow has the release jobs behind inputs, never run for a pull request.
            for job_id, job in doc["jobs"].items():
                if job_id.startswith(("deploy", "promote", "build", "export")):
                    assert "github.event_name != 'pull_request'" in job["if"], job_id
        else:
            assert not any(j.startswith(("deploy", "promote", "build")) for j in doc["jobs"]), rel


def test_report_skips_fork_pull_requests() -> None:
    for rel, text in WORKFLOWS.items():
        report = load(text)["jobs"].get("report")
        if report is not None:
            assert "github.event.pull_request.head.repo.full_name == github.repository" in report["if"], rel


@pytest.mark.parametrize("rel", sorted({**WORKFLOWS, **ACTIONS}))
def test_steps_are_pinned_and_scripts_hold_no_expressions(rel: str) -> None:
    doc = load({**WORKFLOWS, **ACTIONS}[rel])
    for step in steps_of(doc):
        uses = step.get("uses")
        if uses is not None and not uses.startswith("./"):
            assert SHA_PIN.match(uses), f"{rel}: {uses} is not pinned to a commit"
        if uses is not None and uses.startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False, rel
        script = step.get("run")
        if script is not None:
            assert "${{" not in script, f"{rel}: {step['name']} puts an expression into a script"
            assert "secrets" not in script
            if "GITHUB_OUTPUT" in script and "<<" in script:
                assert re.search(r'<<\s*"?\$', script), f"{rel}: a multi-line output needs a random delimiter"


def test_pins_are_full_shas_with_a_version_comment() -> None:
    for pin in pins.PINS:
        assert re.fullmatch(r"[0-9a-f]{40}", pin.sha), pin
        assert pin.uses().comment == pin.version and pin.version.startswith("v")
    for rel, text in {**WORKFLOWS, **ACTIONS}.items():
        for line in text.splitlines():
            if re.search(r"uses: actions/", line):
                assert re.search(r"@[0-9a-f]{40} # v\d", line), f"{rel}: {line.strip()}"


def test_no_value_from_ml_yaml_reaches_a_script() -> None:
    """The hostile variant's data path and labels appear nowhere in its generated files."""
    rendered = "".join(render_variant(GOLDEN / "hostile-values").values())
    for marker in ("ml-ci-pwned", "touch"):
        assert marker not in rendered


def test_tune_workers_share_a_study_through_an_environment_secret() -> None:
    pr = load(render_variant(GOLDEN / "tune-three-workers")[".github/workflows/ml-pr.yml"])
    tune = pr["jobs"]["tune"]
    assert tune["strategy"]["matrix"]["worker"] == [0, 1, 2]
    assert tune["env"] == {"STUDY_DB": "${{ secrets.STUDY_DB }}"}
    assert tune["environment"] == {"name": "ml-ci-tune"}
    step = next(s for s in tune["steps"] if s.get("id") == "tune")
    assert step["with"]["trials"] == "4" and step["with"]["workers"] == "1"  # ceil(10 / 3) each
    assert pr["jobs"]["train"]["needs"] == ["data-check", "tune-results"]


def test_promotion_follows_the_environment_order() -> None:
    release = load(render_variant(GOLDEN / "gitops-three-envs")[".github/workflows/ml-release.yml"])
    jobs = release["jobs"]
    assert jobs["deploy-staging"]["needs"] == ["build"]
    assert jobs["promote-canary"]["needs"] == ["deploy-staging"]
    assert jobs["promote-production"]["needs"] == ["promote-canary"]
    promote = next(s for s in jobs["promote-production"]["steps"] if s.get("id") == "promote")
    assert promote["with"] == {"config": "ml.yaml", "from": "canary", "to": "production"}
    assert jobs["promote-production"]["env"] == {"DEPLOY_TOKEN": "${{ secrets.DEPLOY_TOKEN }}"}
    assert jobs["deploy-staging"]["concurrency"]["group"] != jobs["promote-production"]["concurrency"]["group"]


def test_oidc_only_where_a_cluster_is_applied_to_or_an_image_attested() -> None:
    for folder in variant_dirs():
        release = load(render_variant(folder)[".github/workflows/ml-release.yml"])
        for job_id, job in release["jobs"].items():
            if "id-token" in job["permissions"]:
                assert (folder.name == "apply-kubernetes" and job_id.startswith(("deploy-", "promote-"))) or (
                    job_id == "build" and attests(job)
                ), (folder, job_id)
    kube = load(render_variant(GOLDEN / "apply-kubernetes")[".github/workflows/ml-release.yml"])
    assert kube["jobs"]["deploy-staging"]["permissions"]["id-token"] == "write"
