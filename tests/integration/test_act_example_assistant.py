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
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from ml_ci.net import free_port
from tests.conftest import ROOT
from tests.integration.actrun import GIT, Act, Runner, clean_up, make_runner, push_event, run_act
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


# Measured on 2 cores at a load average of 1-2: PR 82 s + release to production 169 s (4.2 min with the openai client).
@pytest.mark.timeout(3600)
def test_the_assistant_examples_workflows_run_green_to_the_report_and_to_production(tmp_path: Path, runner: Runner) -> None:
    env = {"PIP_FIND_LINKS": str(runner.wheel.parent), "OPTUNA_STORAGE": f"sqlite:///{tmp_path / 'optuna.db'}"}
    ports = {"staging": free_port(), "production": free_port()}
    with StandIn(TOKEN) as api:
        state = api.state
        repo, config = example_repo(tmp_path / "assistant", state.owner, state.repo, ports)
        assert (config["image"]["registry"], config["image"]["base"]) == (registry(), base_image())
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
                Act(event="push", workflow=".github/workflows/ml-release.yml", payload=push_event(repo), env=env),
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

            # Staging's smoke test asked for the 32 golden completions, production's for 20 (the default), each
            # character for character, and both environments record the one digest as live.
            staged, promoted = release.job_log("deploy to staging"), release.job_log("promote staging to production")
            assert "smoke test passed: /readyz ready, 32 golden examples match" in staged, staged[-4000:]
            assert "smoke test passed: /readyz ready, 20 golden examples match" in promoted, promoted[-4000:]
            bare = release.state / "artifacts" / "gitops-production"
            for env_name in ("staging", "production"):
                live = gitops_record(bare, config["deploy"]["gitops"]["path"], env_name)
                assert (live["image"], live["status"]) == (image["reference"], "live"), live
            assert ready(ports["production"]) == 200
            openai_client_gets_streamed_answers(ports["production"], exported)
        finally:
            clean_up((c for name, c in containers(prefix).items() if "-aside-" not in name), release)
    print(f"act wall time: PR {pr.seconds:.0f} s + release {release.seconds if release else 0:.0f} s")
