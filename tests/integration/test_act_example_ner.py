"""The NER example's release workflow (examples/ner: task token-classification) runs green under act on the
push to main, with the real Docker engine and registry, as test_act_example.py runs examples/sentiment (its
docstring says what is replaced and why: the ports, and ml-ci installed from a wheel of this checkout). The
release validates, trains and evaluates before it exports, builds, deploys and promotes (it checks the data
again only where it tunes again, and the example does not tune); the PR workflow, with the data check, is the
same file for every task (the golden tests) and test_act_example.py runs it, so it is not run a second time
here: it would train the example again for nothing new. The NER data check runs through the real CLI in
test_data_check_ner.py. Its
production has no approval, so the release ends with production live: the test asks it for entities in a raw
text and in pre-split words and checks their offsets.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from ml_ci.net import free_port
from tests.conftest import ROOT
from tests.integration.actrun import Act, Runner, clean_up, make_runner, push_event, run_act
from tests.integration.test_act_example import containers, example_containers_aside, example_copy, gitops_record
from tests.integration.test_act_release import in_registry, ready
from tests.services import base_image, registry

pytestmark = [pytest.mark.integration, pytest.mark.slow]
NER = ROOT / "examples" / "ner"
RELEASE_JOBS = {
    "validate ml.yaml": "succeeded",
    "train": "succeeded",
    "evaluate": "succeeded",
    "export": "succeeded",
    "build and push the image": "succeeded",
    "deploy to staging": "succeeded",
    "promote staging to production": "succeeded",
}
TEXT = "Peter Blackburn said the European Commission in Brussels would ask Germany."


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    return make_runner(tmp_path_factory.mktemp("runner"))


def predict(port: int, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/predict",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.mark.timeout(7200)
def test_the_ner_examples_release_runs_green_to_production(tmp_path: Path, runner: Runner) -> None:
    ports = {"staging": free_port(), "production": free_port()}
    repo, config = example_copy(tmp_path / "ner", ports, NER)
    assert (config["image"]["registry"], config["image"]["base"]) == (registry(), base_image())
    env = {"PIP_FIND_LINKS": str(runner.wheel.parent)}
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
            assert "gates passed" in release.job_log("evaluate")
            image = json.loads((release.state / "artifacts" / "build" / "image.json").read_text())
            digest = image["digest"]
            assert in_registry(config["image"]["repository"], digest) == 200
            bare = release.state / "artifacts" / "gitops-production"
            path = config["deploy"]["gitops"]["path"]
            for env_name in ("staging", "production"):
                record = gitops_record(bare, path, env_name)
                assert (record["image"], record["status"]) == (image["reference"], "live"), record
            assert ready(ports["production"]) == 200

            # Production answers entities whose offsets point into the text as sent.
            answer = predict(ports["production"], {"texts": [TEXT]})
            [prediction] = answer["predictions"]
            entities = prediction["entities"]
            assert entities, answer
            for entity in entities:
                assert TEXT[entity["start"] : entity["end"]] == entity["text"], entity
                assert entity["type"] in ("PER", "LOC", "ORG", "MISC")
                assert 0 < entity["score"] <= 1
            # Words given pre-split: offsets into the words joined by single spaces.
            words = TEXT.replace(".", " .").split()
            joined = " ".join(words)
            for entity in predict(ports["production"], {"tokens": [words]})["predictions"][0]["entities"]:
                assert joined[entity["start"] : entity["end"]] == entity["text"], entity
            # A malformed request is a 4xx naming the field.
            bad = urllib.request.Request(
                f"http://127.0.0.1:{ports['production']}/v1/predict",
                data=b'{"texts": [42]}',
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(bad, timeout=30)
            assert 400 <= refused.value.code < 500 and "texts[0]" in refused.value.read().decode()
        finally:
            clean_up((c for name, c in containers(prefix).items() if "-aside-" not in name), release)
    print(f"act wall time: release {release.seconds if release else 0:.0f} s")
