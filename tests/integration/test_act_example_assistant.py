"""The text-generation example's PR workflow (examples/assistant: its ml.yaml, its generated
.github/workflows/ml-pr.yml and the actions vendored in .github/actions/ml-ci) runs green under act, from the
data check through tuning, LoRA training and evaluation with its prompt-set gates, to the report on the pull
request. How act runs and the stand-ins for third-party actions: tests/integration/actrun.py.

The example is copied to a scratch git repository as it is (its committed random Llama, data, prompt set, 2
tuning trials and gates); ml-ci is installed from a wheel of this checkout (`PIP_FIND_LINKS`, as
test_act_example.py says), and `OPTUNA_STORAGE` names a SQLite file of the test. Unlike the other examples' act
tests, the pull request comes from a branch of the repository itself (its `origin` is acme/models, as GitHub's
checkout leaves it), so the report job runs: with a token and `GITHUB_API_URL` pointing at the stand-in for
GitHub's REST API of test_github_report.py on 127.0.0.1 (not GitHub), it posts the sticky comment and the commit
status, which the test reads back. The PR workflow stops after evaluate; the release workflow (the push to main)
is then run to its end: it rejoins the PR's finished study instead of tuning again, as the shared storage lets it,
trains, evaluates and exports the merged model, checked against PyTorch token for token, builds the serving image
with the real Docker engine, checks its golden prompts and pushes it to the test registry by digest, deploys that
digest to staging (a local container; the example's environments move to free ports, as test_act_example.py
says) whose smoke test asks for the 32 golden completions, and promotes it to production (no approval) through
the GitOps repository the jobs carry to each other. Production is then asked through the official `openai`
client, streaming, as any OpenAI application would: /v1/completions gives the golden completions (greedy) and
/v1/chat/completions what /v1/predict completes for the prompt its chat template makes; the compatibility claim.

The copy opts in to the supply chain (issue 19) as a user would: `ml-ci keygen` writes a key pair (the private key
outside the repository), ml.yaml gains `supply_chain: {public_key: keys/ml-ci-signing.pub}`, `ml-ci generate
--force` rewrites its workflows (the PR workflow is unchanged by it; the release's build job gets the signing key
secret and the attestation step) and the whole is committed before either workflow runs. The release gets the
private key's PEM as the secret the section names. Its build job attaches the SBOM and the signed provenance to the
pushed digest in the real registry, and the stand-in for actions/attest-build-provenance (tests/actstandins; it
signs nothing) gets that digest; the deploy to staging and the promotion each verify the image before they change
anything, and `ml-ci verify` in this process, with only the copy's ml.yaml and its public key, accepts the image.
The stand-in, like the real action (@sigstore/oci), reads the registry's credentials from ~/.docker/config.json:
the jobs get a HOME whose docker config holds credentials for the test registry (which takes any), as a runner
that has run `docker login` has; ml.yaml names no credentials for it, so the generated workflow logs in to nothing.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import sqlite3
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from ml_ci.cli.main import main as cli
from ml_ci.config import load_config
from ml_ci.net import free_port
from ml_ci.supply import attest, dsse, referrers
from tests.conftest import ROOT
from tests.integration.actrun import GIT, Act, Runner, clean_up, commit_all, make_runner, push_event, run_act
from tests.integration.test_act_example import PR_JOBS as SENTIMENT_PR_JOBS
from tests.integration.test_act_example import containers, example_containers_aside, example_copy, gitops_record
from tests.integration.test_act_release import in_registry, ready
from tests.integration.test_github_report import TOKEN, StandIn
from tests.services import base_image, registry

pytestmark = [pytest.mark.integration, pytest.mark.slow]
EXAMPLE = ROOT / "examples" / "assistant"
# The sentiment example's PR jobs (it tunes too) and the report, which a pull request from the repository gets.
PR_JOBS = {**SENTIMENT_PR_JOBS, "report": "succeeded"}
RELEASE_JOBS = {
    **SENTIMENT_PR_JOBS,
    "export": "succeeded",
    "build and push the image": "succeeded",
    "deploy to staging": "succeeded",
    "promote staging to production": "succeeded",
}


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    return make_runner(tmp_path_factory.mktemp("runner"))


def same_repository_pull_request(owner: str, repo: str, number: int, sha: str) -> dict[str, Any]:
    """A pull request from a branch of the repository itself: its job token may comment."""
    full = f"{owner}/{repo}"
    return {
        "number": number,
        "pull_request": {
            "number": number,
            "head": {"ref": "feature", "sha": sha, "repo": {"full_name": full}},
            "base": {"ref": "main", "repo": {"full_name": full}},
        },
        "repository": {"full_name": full, "default_branch": "main"},
    }


def example_repo(dest: Path, owner: str, repo: str, ports: dict[str, int]) -> tuple[Path, dict[str, Any]]:
    """The example as a committed repository of its own, its environments on `ports`, whose origin is owner/repo on
    GitHub (act reads `github.repository` from it; nothing is fetched); and its ml.yaml."""
    dest, config = example_copy(dest, ports, EXAMPLE)
    subprocess.run([*GIT, "remote", "add", "origin", f"https://github.com/{owner}/{repo}.git"], cwd=dest, check=True)
    return dest, config


def opt_in_to_the_supply_chain(repo: Path, keys: Path) -> tuple[str, str]:
    """`ml-ci keygen` (private key in `keys`, outside repo), the supply_chain section in ml.yaml, the workflows
    regenerated and committed; returns the private key's PEM and the key id."""
    private, public = keys / "signing.pem", repo / "keys" / "ml-ci-signing.pub"
    assert cli(["keygen", "--private", str(private), "--public", str(public)]) == 0
    ml_yaml = repo / "ml.yaml"
    text = ml_yaml.read_text()
    assert "supply_chain:" not in text
    ml_yaml.write_text(text + "\nsupply_chain:\n  public_key: keys/ml-ci-signing.pub\n")
    pr_workflow = (repo / ".github" / "workflows" / "ml-pr.yml").read_bytes()
    assert cli(["generate", "-c", str(ml_yaml), "--force"]) == 0
    assert (repo / ".github" / "workflows" / "ml-pr.yml").read_bytes() == pr_workflow  # the PR workflow builds nothing
    release = (repo / ".github" / "workflows" / "ml-release.yml").read_text()
    assert "ML_CI_SIGNING_KEY: ${{ secrets.ML_CI_SIGNING_KEY }}" in release and "attest-build-provenance" in release
    commit_all(repo, "sign the image's attestations")
    return private.read_text(), str(dsse.public_key_from_file(public).keyid)


def logged_in_home(home: Path, registry_host: str) -> Path:
    """A HOME whose docker config holds credentials for registry_host, as `docker login` writes them."""
    (home / ".docker").mkdir(parents=True)
    auth = base64.b64encode(b"ml-ci:not-checked").decode()
    (home / ".docker" / "config.json").write_text(json.dumps({"auths": {registry_host: {"auth": auth}}}))
    return home


def verified_before_it_changed_anything(log: str, keyid: str, changed: str) -> None:
    """The job's log says it verified the image's provenance (signed by keyid) before the line `changed`."""
    line = (
        rf"verified [0-9a-f]{{12}}: provenance signed by key {keyid} \(commit [0-9a-f]{{40}}, eval verdict pass\), SBOM sha256:"
    )
    verified = re.search(line, log)
    assert verified is not None, log[-6000:]
    assert verified.start() < log.index(changed), log[-6000:]


def predict(port: int, prompts: list[str]) -> list[str]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/predict",
        data=json.dumps({"prompts": prompts}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return [p["completion"] for p in json.loads(response.read())["predictions"]]


def openai_client_gets_streamed_answers(port: int, export: Path) -> None:
    """The official `openai` client against the server on `port`, which serves the model exported to `export`."""
    import openai
    from transformers import AutoTokenizer

    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="not-checked", max_retries=0, timeout=60)
    [model] = [m.id for m in client.models.list()]
    golden = json.loads((export / "golden.json").read_text(encoding="utf-8"))

    # /v1/completions, streamed: greedy, as many tokens as export's golden examples were made with, gives their text.
    for example in golden["examples"][:4]:
        pieces, finishes, usage = [], [], None
        for chunk in client.completions.create(
            model=model,
            prompt=example["prompt"],
            max_tokens=golden["max_new_tokens"],
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        ):
            for choice in chunk.choices:
                pieces.append(choice.text)
                finishes.append(choice.finish_reason)
            usage = chunk.usage or usage
        assert "".join(pieces) == example["expected"]["completion"], (example, pieces)
        assert len(pieces) > 1 and finishes[-1] in ("stop", "length"), (pieces, finishes)
        assert usage is not None and usage.completion_tokens > 0, usage
        assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens

    # /v1/chat/completions: the messages go through the export's chat template (as transformers renders it) and the
    # answer is what /v1/predict completes for that prompt; streamed and whole alike.
    messages: list[Any] = [{"role": "user", "content": "what is 3 plus 4? answer as JSON\n"}]
    prompt = AutoTokenizer.from_pretrained(str(export)).apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert isinstance(prompt, str)
    [expected] = predict(port, [prompt])
    deltas = [
        chunk.choices[0].delta
        for chunk in client.chat.completions.create(
            model=model, messages=messages, max_tokens=golden["max_new_tokens"], temperature=0, stream=True
        )
        if chunk.choices
    ]
    assert deltas[0].role == "assistant"
    assert "".join(d.content or "" for d in deltas) == expected, deltas
    whole = client.chat.completions.create(model=model, messages=messages, max_tokens=golden["max_new_tokens"], temperature=0)
    assert whole.choices[0].message.content == expected and whole.choices[0].finish_reason in ("stop", "length")

    # A malformed request is a 400 naming the field, in OpenAI's error shape (the client raises its own error class).
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model=model, messages=[{"role": "robot", "content": "hi"}])  # type: ignore[misc,list-item]
    assert "messages[0].role" in str(refused.value), refused.value


# Measured on 2 cores at a load average of 1-2: PR 82 s + release to production 169 s (4.2 min with the openai client);
# with the supply chain (keygen, attest, two verifications): PR 86 s + release 129 s (3.7 min in all) at a load of 1.5-1.9.
@pytest.mark.timeout(3600)
def test_the_assistant_examples_workflows_run_green_to_the_report_and_to_production(tmp_path: Path, runner: Runner) -> None:
    env = {"PIP_FIND_LINKS": str(runner.wheel.parent), "OPTUNA_STORAGE": f"sqlite:///{tmp_path / 'optuna.db'}"}
    ports = {"staging": free_port(), "production": free_port()}
    with StandIn(TOKEN) as api:
        state = api.state
        repo, config = example_repo(tmp_path / "assistant", state.owner, state.repo, ports)
        assert (config["image"]["registry"], config["image"]["base"]) == (registry(), base_image())
        (tmp_path / "keys").mkdir()
        private_pem, keyid = opt_in_to_the_supply_chain(repo, tmp_path / "keys")
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()
        pr = run_act(
            repo,
            runner,
            tmp_path / "pr",
            Act(
                event="pull_request",
                workflow=".github/workflows/ml-pr.yml",
                payload=same_repository_pull_request(state.owner, state.repo, state.pr, sha),
                env={**env, "GITHUB_API_URL": f"{api.url}/api/v3"},
                secrets={"GITHUB_TOKEN": TOKEN},
            ),
            timeout=2000,
        )
        assert pr.results == PR_JOBS, f"{pr.results}\n{pr.log[-10000:]}"

        # Tuning ran the example's 2 trials; evaluate judged every gate, the prompt set's per tag too.
        assert "2 trials in study" in pr.job_log("tune (worker 0)"), pr.job_log("tune (worker 0)")[-4000:]
        evaluate = pr.job_log("evaluate")
        assert "gates passed" in evaluate, evaluate[-6000:]
        record = json.loads((pr.state / "artifacts" / "evaluate" / "eval.json").read_text())
        assert record["verdict"] == "pass"
        gated = {g["name"]: g["passed"] for g in record["gates"]}
        gated.update({g["name"]: g["passed"] for sl in record["slices"] for g in sl["gates"]})
        assert gated["pass_rate.json >= 0.9"] and gated["[tag:exact] pass_rate >= 0.25"], gated
        metrics = record["metrics"]
        assert metrics["pass_rate.json"] == 1.0 and metrics["loss"] < 1.0, metrics

        # The report job posted one sticky comment, with the gates, the tags' slices and the failed exact answers
        # (prompt and output), and a green commit status on the pull request's commit.
        [body] = [c["body"] for c in state.comments.values()]
        assert body.startswith("<!-- ml-ci-report:assistant -->"), body[:200]
        for shown in ("pass_rate.json", "tag:exact", "tag:sentence", "what is"):
            assert shown in body, shown
        failed = [
            row
            for row in record["predictions"]
            if row.get("source") == "prompts" and not row["passed"] and row["id"].startswith("exact-")
        ]
        assert failed and all(row["id"] in body for row in failed[:3]), body[-4000:]
        assert [s["state"] for s in state.statuses] == ["success"], state.statuses
        assert TOKEN not in pr.log

    prefix = f"ml-ci-{config['name']}-"
    release = None
    with example_containers_aside(prefix):
        try:
            release = run_act(
                repo,
                runner,
                tmp_path / "release",
                Act(
                    event="push",
                    workflow=".github/workflows/ml-release.yml",
                    payload=push_event(repo),
                    env={**env, "HOME": str(logged_in_home(tmp_path / "home", registry()))},
                    secrets={dsse.KEY_ENV: private_pem},
                ),
                timeout=3000,
            )
            assert release.results == RELEASE_JOBS, f"{release.results}\n{release.log[-10000:]}"
            # The release rejoined the PR's finished study: the storage holds the PR's 2 trials and no more.
            with contextlib.closing(sqlite3.connect(tmp_path / "optuna.db")) as db:
                assert db.execute("SELECT count(*) FROM trials").fetchone() == (2,)
            assert "gates passed" in release.job_log("evaluate")
            exported = release.state / "artifacts" / "export"
            for name in ("model.onnx", "model.onnx.data", "genai_config.json", "tokenizer.json", "golden.json"):
                assert (exported / name).is_file(), sorted(p.name for p in exported.iterdir())
            assert re.search(r"parity on \d+ prompts: \d+ greedy continuations identical", release.job_log("export")), (
                release.job_log("export")[-4000:]
            )
            image = json.loads((release.state / "artifacts" / "build" / "image.json").read_text())
            assert image["reference"].startswith(f"{registry()}/examples/assistant@sha256:"), image
            assert in_registry("examples/assistant", image["digest"]) == 200
            built = release.job_log("build and push the image")
            assert "32 golden examples match" in built, built[-4000:]

            # The build attached the SBOM and the provenance signed by the new key to the pushed digest, and the
            # stand-in for actions/attest-build-provenance was given that digest.
            subject = referrers.resolve_image(image["reference"])
            assert f"attested {subject}: SBOM sha256:" in built and f"signed by key {keyid}" in built, built[-4000:]
            listed = {r.artifact_type for r in referrers.discover(subject)}
            assert listed == {attest.SBOM_ARTIFACT_TYPE, attest.PROVENANCE_ARTIFACT_TYPE}, listed
            repo_config = load_config(repo / "ml.yaml").config
            found = attest.verify_for(repo_config, image["reference"], {}, commit=sha)
            assert found.ok and (found.keyid, found.verdict) == (keyid, "pass"), found
            recorded = [json.loads(p.read_text()) for p in sorted((release.state / "attestations").glob("*.json"))]
            assert [(r["subject-name"], r["subject-digest"], r["job"]) for r in recorded] == [
                (f"{registry()}/examples/assistant", image["digest"], "build")
            ], recorded
            private_body = "".join(private_pem.strip().splitlines()[1:-1])
            assert private_body[:40] not in release.log  # the secret's body stays out of the log

            # Staging's smoke test asked for the 32 golden completions, production's for 20 (the default), each
            # character for character, and both environments record the one digest as live.
            staged, promoted = release.job_log("deploy to staging"), release.job_log("promote staging to production")
            assert "smoke test passed: /readyz ready, 32 golden examples match" in staged, staged[-4000:]
            assert "smoke test passed: /readyz ready, 20 golden examples match" in promoted, promoted[-4000:]
            # Each verified the image's supply chain before it changed anything (deploy: before the container
            # started; promote: before its deployment did).
            verified_before_it_changed_anything(staged, keyid, "smoke test passed")
            verified_before_it_changed_anything(promoted, keyid, "smoke test passed")
            bare = release.state / "artifacts" / "gitops-production"
            for env_name in ("staging", "production"):
                live = gitops_record(bare, config["deploy"]["gitops"]["path"], env_name)
                assert (live["image"], live["status"]) == (image["reference"], "live"), live
            assert ready(ports["production"]) == 200
            # `ml-ci verify` as a user runs it, with the copy's ml.yaml (its public key) and nothing else.
            assert cli(["verify", "-c", str(repo / "ml.yaml"), image["reference"]]) == 0
            openai_client_gets_streamed_answers(ports["production"], exported)
        finally:
            clean_up((c for name, c in containers(prefix).items() if "-aside-" not in name), release)
    print(f"act wall time: PR {pr.seconds:.0f} s + release {release.seconds if release else 0:.0f} s")
