"""supply_chain in ml.yaml -> the release workflow's build job attests the pushed image (GitHub's artifact
attestation through the job's OIDC identity) and signs ml-ci's own provenance with the key from a secret;
without the section, or with attest: false, the job is what it always was."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import yaml

from ml_ci.build.plan import repository
from ml_ci.config import load_config
from ml_ci.config.model import Config
from ml_ci.generate import pins
from ml_ci.generate.render import render
from ml_ci.generate.workflows import REGISTRY_ENVIRONMENT, REGISTRY_LOGIN, image_repository
from ml_ci.pipeline import stages
from tests.golden.variants import GOLDEN, options_for, variant_dirs

RELEASE = ".github/workflows/ml-release.yml"
ATTEST = f"{pins.ATTEST_BUILD_PROVENANCE.repo}@{pins.ATTEST_BUILD_PROVENANCE.sha}"


def config_of(variant: str) -> Config:
    return load_config(GOLDEN / variant / "ml.yaml").config


def build_job(config: Config, variant: str = "supply-chain") -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(render(config, options_for(GOLDEN / variant))[RELEASE])
    job: dict[str, Any] = doc["jobs"]["build"]
    return job


def names(job: dict[str, Any]) -> list[str]:
    return [s["name"] for s in job["steps"]]


@pytest.mark.parametrize("folder", variant_dirs(), ids=lambda p: p.name)
def test_the_subject_name_is_the_repository_ml_ci_build_pushes_to(folder: Any) -> None:
    """The generator sits below ml_ci.build, so it derives the name again; the two must agree."""
    config = load_config(folder / "ml.yaml").config
    assert image_repository(config) == repository(config)
    unnamed = replace(config, image=replace(config.image, repository=None), name="My Model_v2!")
    assert image_repository(unnamed) == repository(unnamed) == f"{config.image.registry}/my-model_v2"


def test_the_attest_step_follows_the_build_and_names_its_digest() -> None:
    job = build_job(config_of("supply-chain"))
    assert names(job)[-3:] == ["Build and push", "Attest the image's build provenance", "Upload build"]
    attest = job["steps"][-2]
    assert attest["uses"] == ATTEST
    assert "digest" in stages.get("build").outputs
    assert attest["with"] == {
        "subject-name": "ghcr.io/acme/supply-chain",
        "subject-digest": "${{ steps.build.outputs.digest }}",
        "push-to-registry": True,
        "create-storage-record": False,
    }
    # The image name carries no tag or digest: the attestation names the image by the digest alone.
    assert "@" not in attest["with"]["subject-name"] and ":" not in attest["with"]["subject-name"].split("/", 1)[1]


def test_the_pin_is_written_with_its_version() -> None:
    text = (GOLDEN / "supply-chain" / RELEASE).read_text()
    assert f"uses: {ATTEST} # v4.1.0\n" in text


def test_least_permissions_for_the_attestation() -> None:
    ghcr = build_job(config_of("supply-chain"))
    assert ghcr["permissions"] == {"contents": "read", "packages": "write", "id-token": "write", "attestations": "write"}
    other = build_job(config_of("supply-chain-registry"), "supply-chain-registry")
    # Another registry takes the credentials ml.yaml names: the job's token pushes nothing there.
    assert other["permissions"] == {"contents": "read", "id-token": "write", "attestations": "write"}


def test_the_signing_key_reaches_the_build_step_only() -> None:
    for variant, secret in (("supply-chain", "ML_CI_SIGNING_KEY"), ("supply-chain-registry", "RELEASE_SIGNING_KEY")):
        job = build_job(config_of(variant), variant)
        holders = [s["name"] for s in job["steps"] if secret in str(s.get("env", {}))]
        assert holders == ["Build and push"], variant
        assert job["steps"][names(job).index("Build and push")]["env"] == {secret: f"${{{{ secrets.{secret} }}}}"}
        assert secret not in str(job.get("env", {}))
        assert job["environment"] == {"name": REGISTRY_ENVIRONMENT}, variant


def test_the_attestation_logs_in_where_ml_ci_build_used_the_variables() -> None:
    """The attest action pushes with ~/.docker/config.json's credentials only: GHCR has the job's login
    already, another registry gets one from the secrets ml.yaml names, one without them gets none."""
    ghcr = build_job(config_of("supply-chain"))
    assert [n for n in names(ghcr) if "Log in" in n] == ["Log in to GHCR with the job's token"]
    other = build_job(config_of("supply-chain-registry"), "supply-chain-registry")
    login = other["steps"][names(other).index("Log in to the registry for the attestation")]
    assert names(other).index("Log in to the registry for the attestation") == names(other).index("Build and push") + 1
    assert login["run"] == REGISTRY_LOGIN
    assert login["env"] == {
        "REGISTRY": "registry.example.com:5000",
        "REGISTRY_USER": "${{ secrets.REGISTRY_USER }}",
        "REGISTRY_PASSWORD": "${{ secrets.REGISTRY_TOKEN }}",
    }
    config = config_of("supply-chain-registry")
    no_user = replace(config, image=replace(config.image, registry_username_env=None))
    login = next(s for s in build_job(no_user, "supply-chain-registry")["steps"] if s["name"].startswith("Log in"))
    assert login["env"]["REGISTRY_USER"] == "ml-ci"  # what ml_ci.build.docker_ops.auth_config pushed as
    anonymous = replace(config, image=replace(config.image, registry_username_env=None, registry_password_env=None))
    job = build_job(anonymous, "supply-chain-registry")
    assert not [n for n in names(job) if "Log in" in n] and ATTEST in {s.get("uses") for s in job["steps"]}


def test_deploy_jobs_that_verify_get_the_registry_credentials_ml_yaml_names() -> None:
    """Verification reads the image's referrers as ml-ci build pushed it: with image.registry_*_env's secrets;
    the public key it checks with is a file of the checkout, so nothing else is added."""
    options = options_for(GOLDEN / "supply-chain-registry")
    config = config_of("supply-chain-registry")
    assert config.supply_chain is not None
    verifying = yaml.safe_load(render(config, options)[RELEASE])["jobs"]["deploy-dev"]
    names = ("REGISTRY_USER", "REGISTRY_TOKEN")
    assert verifying["env"] == {name: f"${{{{ secrets.{name} }}}}" for name in names}
    not_verifying = replace(config, supply_chain=replace(config.supply_chain, verify=False))
    assert "env" not in yaml.safe_load(render(not_verifying, options)[RELEASE])["jobs"]["deploy-dev"]
    # GHCR: ml-ci build pushed with the job's token, and verification reads anonymously.
    ghcr = config_of("supply-chain")
    jobs = [
        yaml.safe_load(render(c, options_for(GOLDEN / "supply-chain"))[RELEASE])["jobs"]
        for c in (ghcr, replace(ghcr, supply_chain=None))
    ]
    for job_id in ("deploy-staging", "promote-production"):
        assert jobs[0][job_id]["env"] == jobs[1][job_id]["env"] == {"GITOPS_TOKEN": "${{ secrets.GITOPS_TOKEN }}"}


@pytest.mark.parametrize("variant", ["supply-chain", "supply-chain-registry"])
def test_without_attestation_the_workflows_are_what_they_were(variant: str) -> None:
    config = config_of(variant)
    assert config.supply_chain is not None
    options = options_for(GOLDEN / variant)
    without = render(replace(config, supply_chain=None), options)
    neither = render(replace(config, supply_chain=replace(config.supply_chain, attest=False, verify=False)), options)
    assert neither == without
    assert ATTEST not in without[RELEASE] and "id-token" not in without[RELEASE] and "SIGNING_KEY" not in without[RELEASE]
    attesting = render(config, options)
    # The pull request workflow never builds, so it never attests.
    assert attesting[".github/workflows/ml-pr.yml"] == without[".github/workflows/ml-pr.yml"]
