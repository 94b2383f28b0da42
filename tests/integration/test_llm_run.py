"""`ml-ci run` on the text-generation example (examples/assistant, copied as it is: its random tiny Llama, its
data, prompt set, tuning and gates), stage by stage in the plan's order from validate to production, each with
`ml-ci run --only` as a person reruns one stage: build makes the serving image (ONNX Runtime GenAI), checks its
golden prompts against the export's and evaluate's completions, and pushes it to the test registry by digest;
deploy-staging and promote-production run that digest in local containers (the example's environments moved to
free ports, its containers that already exist set aside, as test_act_example.py does), each smoke-tested with the
golden prompts, and production answers. Then two copies of the finished run: one whose ml.yaml asks for every
exact answer fails its gate at evaluate (exit 4), naming each failed item by id, file:line and prompt; and the
untrained base evaluated with the same gates, which it fails all of: the gates measure what training taught.

The copy opts in to the supply chain (issue 19) as a user would, locally: `ml-ci keygen` writes a key pair (the
private key outside the copy), ml.yaml gains `supply_chain: {public_key: keys/ml-ci-signing.pub}`, the copy is a
committed git repository (the provenance names its commit; outside git a verifier refuses it), and every stage gets
the private key's PEM in ML_CI_SIGNING_KEY. build attaches the SBOM and the signed provenance to the pushed digest;
deploy-staging and promote-production verify them before they change anything, and `ml-ci verify` accepts the image
with the public key alone.

Measured on 2 shared cores at a load average of 4: validate through export in 75-100 s; build 22 s more; deploy
and promotion about 2 s each (at a load of 0.4).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ml_ci.net import free_port
from ml_ci.supply import dsse
from tests.conftest import ROOT
from tests.integration.actrun import commit_all
from tests.integration.test_act_example import containers, example_containers_aside
from tests.integration.test_act_release import ready
from tests.integration.test_run import table
from tests.integration.test_train import ENV as TRAIN_ENV
from tests.integration.test_train import ml_ci as train_ml_ci
from tests.services import base_image, registry

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLE = ROOT / "examples" / "assistant"
STAGES = ["validate", "data-check", "tune", "train", "evaluate", "export", "build", "deploy-staging", "promote-production"]
PORTS = {"staging": free_port(), "production": free_port()}
# The study goes to a SQLite file of the copy, whatever OPTUNA_STORAGE (tune.storage_env) names here.
ENV = {k: v for k, v in TRAIN_ENV.items() if k != "OPTUNA_STORAGE"}


def ml_ci(*args: str, cwd: Path, env: dict[str, str] = ENV) -> subprocess.CompletedProcess[str]:
    return train_ml_ci(cwd, *args, env=env)


def keyid(repo: Path) -> str:
    return str(dsse.public_key_from_file(repo / "keys" / "ml-ci-signing.pub").keyid)


def eval_record(repo: Path) -> Any:
    return json.loads((repo / ".ml-ci/artifacts/evaluate/eval.json").read_text())


@pytest.fixture(scope="module")
def example_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, subprocess.CompletedProcess[str]]]]:
    repo = tmp_path_factory.mktemp("run") / "assistant"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns(".ml-ci"))
    # The example's image section names this machine's registry and base image (.ci/services.sh makes both).
    config = (repo / "ml.yaml").read_text(encoding="utf-8")
    assert f"registry: {registry()}" in config and f"base: {base_image()}" in config
    for env, port in (("staging", 18093), ("production", 18094)):
        config, n = re.subn(rf"^(\s+port:\s*){port}$", rf"\g<1>{PORTS[env]}", config, flags=re.M)
        assert n == 1, f"port {port} of {env} is not on a line of its own"
    private = tmp_path_factory.mktemp("keys") / "signing.pem"  # outside the repository, as a secret is
    keygen = ml_ci("keygen", "--private", str(private), cwd=repo)
    assert keygen.returncode == 0, keygen.stdout + keygen.stderr
    (repo / "ml.yaml").write_text(config + "\nsupply_chain:\n  public_key: keys/ml-ci-signing.pub\n", encoding="utf-8")
    (repo / ".gitignore").write_text(".ml-ci/\n")
    commit_all(repo, "the assistant example, signing its images")
    signing = {**ENV, dsse.KEY_ENV: private.read_text()}
    plan = ml_ci("run", "--dry-run", ".", cwd=repo)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert re.findall(r"^\s*\d+\.\s+(\S+)", plan.stdout, re.MULTILINE) == STAGES
    done: dict[str, subprocess.CompletedProcess[str]] = {}
    prefix = "ml-ci-assistant-"
    with example_containers_aside(prefix):
        try:
            for stage in STAGES:
                done[stage] = ml_ci("run", "--only", stage, ".", cwd=repo, env=signing)
                if done[stage].returncode != 0:
                    break
            yield repo, done
        finally:
            for name, container in containers(prefix).items():
                if "-aside-" not in name:
                    container.remove(force=True)


def test_the_example_runs_from_the_data_check_to_production(
    example_run: tuple[Path, dict[str, subprocess.CompletedProcess[str]]],
) -> None:
    repo, done = example_run
    for stage in STAGES:
        assert stage in done, f"stopped before {stage}"
        result = done[stage]
        assert result.returncode == 0, f"{stage}:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
        assert table(result.stdout) == {stage: "ok"}, result.stdout[-3000:]
    # Tuning ran its two trials, and train trained with the best of them.
    best = json.loads((repo / ".ml-ci/artifacts/tune/best_params.json").read_text())
    assert "learning_rate" in json.dumps(best) and "adapter.rank" in json.dumps(best), best
    assert "2 trials in study" in done["tune"].stdout + done["tune"].stderr
    assert (repo / ".ml-ci/artifacts/train/model/adapter_config.json").is_file()
    # Every gate passed: the formats are learned (every JSON answer well formed), the loss is far under the
    # random base's (6.3 nats), the report names the tags' slices.
    record = eval_record(repo)
    assert record["verdict"] == "pass", record["gates"]
    metrics = record["metrics"]
    assert metrics["pass_rate.json"] == 1.0 and metrics["pass_rate"] >= 0.6 and metrics["loss"] < 1.0, metrics
    report = (repo / ".ml-ci/artifacts/evaluate/report.md").read_text()
    for tag in ("json", "sentence", "exact"):
        assert f"tag:{tag}" in report
    # The export merged the adapter and agreed with PyTorch token for token.
    exported = repo / ".ml-ci/artifacts/export"
    for name in ("model.onnx", "model.onnx.data", "genai_config.json", "tokenizer.json"):
        assert (exported / name).is_file(), name
    assert re.search(
        r"parity on \d+ prompts: (\d+) greedy continuations identical", done["export"].stdout + done["export"].stderr
    )
    # The image served the golden prompts as export and evaluate completed them, and was pushed by digest.
    built = done["build"].stdout + done["build"].stderr
    assert re.search(
        r"verified: ready in [\d.]+ s, 32 golden examples match \(32 also against evaluate's predictions\)", built
    ), built
    image = json.loads((repo / ".ml-ci/artifacts/build/image.json").read_text())
    assert re.fullmatch(rf"{re.escape(registry())}/examples/assistant@sha256:[0-9a-f]{{64}}", image["reference"]), image
    # build attested the pushed digest with the copy's key: its SBOM and signed provenance are attached to it.
    assert f"attested {image['reference']}: SBOM sha256:" in built and f"signed by key {keyid(repo)}" in built, built[-3000:]
    # That digest went to staging, then to production, each smoke-tested with the golden prompts (32 and the default
    # 20), and production answers.
    for stage, env, count in (("deploy-staging", "staging", 32), ("promote-production", "production", 20)):
        out = done[stage].stdout + done[stage].stderr
        served = f"{env}: ml-ci-assistant-{env} serves {image['digest'].removeprefix('sha256:')[:12]}"
        assert served in out and f"smoke test passed: /readyz ready, {count} golden examples match" in out, out[-3000:]
        # ... after it verified the image's supply chain, before it changed anything.
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()
        verified = re.search(
            rf"verified {image['digest'].removeprefix('sha256:')[:12]}: provenance signed by key {keyid(repo)} "
            rf"\(commit {head}, eval verdict pass\), SBOM sha256:[0-9a-f]{{64}}",
            out,
        )
        assert verified is not None and verified.start() < out.index(served), out[-3000:]
    assert ready(PORTS["production"]) == 200
    # `ml-ci verify` with the copy's ml.yaml and its public key alone (no signing key), naming the commit.
    checked = ml_ci("verify", image["reference"], "--commit", head, cwd=repo)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "verified: signature, subject digest, SBOM digest, commit, eval verdict" in checked.stdout


def copy_of(run: Path, dest: Path) -> Path:
    """The finished run, artifacts and stage cache included, in a folder of its own."""
    shutil.copytree(run, dest, symlinks=True)
    return dest


def test_a_failing_assertion_gate_exits_4_naming_the_prompts(
    example_run: tuple[Path, dict[str, subprocess.CompletedProcess[str]]], tmp_path: Path
) -> None:
    run, done = example_run
    assert done.get("export") and done["export"].returncode == 0, "the example's run failed (see the test above)"
    failed = [
        row
        for row in eval_record(run)["predictions"]
        if row.get("source") == "prompts" and "exact" in row["tags"] and not row["passed"]
    ]
    assert failed, "every exact answer passed: the stricter gate below would not fail"
    repo = copy_of(run, tmp_path / "assistant")
    ml_yaml = repo / "ml.yaml"
    text = ml_yaml.read_text()
    gate = "    - {metric: pass_rate.json, min: 0.9}\n"
    assert gate in text
    ml_yaml.write_text(text.replace(gate, gate + "    - {metric: pass_rate.exact, min: 0.9}\n"))
    result = ml_ci("run", "--only", "evaluate", ".", cwd=repo)
    out = result.stdout + result.stderr
    assert result.returncode == 4, out[-6000:]
    assert table(result.stdout) == {"evaluate": "failed (exit 4)"}
    assert re.search(r"pass_rate\.exact >= 0\.9 failed: 0\.\d+ < 0\.9", out), out[-3000:]
    report = (repo / ".ml-ci/artifacts/evaluate/report.md").read_text()
    for row in failed:
        # The item's id and place in the prompt file, and its prompt, in the log and in the PR report.
        assert f"{row['id']} (eval/prompts.jsonl:{row['line']}): equals: output is" in out
        assert row["id"] in report and row["prompt"].strip() in report


def test_the_untrained_base_fails_the_examples_gates(
    example_run: tuple[Path, dict[str, subprocess.CompletedProcess[str]]], tmp_path: Path
) -> None:
    run, done = example_run
    assert done.get("evaluate") and done["evaluate"].returncode == 0, "the example's run failed (see the first test)"
    repo = copy_of(run, tmp_path / "assistant")
    # The base folder has no lineage.json (it was not trained on this data): --allow-stale-model evaluates it anyway.
    result = ml_ci("evaluate", "--model", "base-model", "--allow-stale-model", cwd=repo)
    assert result.returncode == 4, (result.stdout + result.stderr)[-6000:]
    base, trained = eval_record(repo)["metrics"], eval_record(run)["metrics"]
    assert base["pass_rate"] == 0.0 and base["pass_rate.json"] == 0.0, base
    assert base["loss"] > 5.0 > 1.0 > trained["loss"], (base, trained)
    assert trained["rouge_l"] > base["rouge_l"] + 0.2 and trained["chrf"] > base["chrf"] + 20, (base, trained)
