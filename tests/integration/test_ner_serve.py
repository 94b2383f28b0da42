"""The inference server on an exported token-classification model: raw texts and pre-split words answered
with entities whose offsets point at the right characters, malformed requests refused naming the field,
metrics and probes, and the golden check of the build's image verification and deploy's smoke test
(through ml_ci.serving_client and the task's serving half) on the live server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ml_ci.records.golden import read as read_golden
from ml_ci.tasks.token_classification.words import split
from tests.integration.test_ner_export import exported_ner_repo
from tests.integration.test_serve_support import metric, raw_request, server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every word tagged B-PER with certainty: each word is an entity of its own, so every offset is checked."""
    root = tmp_path_factory.mktemp("ner-serve")
    exported_ner_repo(root, bias=1)
    return root / ".ml-ci/artifacts/export"


def predict(port: int, payload: Any, raw: bytes | None = None) -> tuple[int, Any]:
    body = raw if raw is not None else json.dumps(payload).encode()
    status, _, answer = raw_request(port, "POST", "/v1/predict", body, {"Content-Type": "application/json"})
    return status, json.loads(answer)


def test_raw_texts_and_words_get_entities_at_their_characters(model_dir: Path, tmp_path: Path) -> None:
    texts = ["  Angela Merkel visited\tNew York, (U.S.) today.", "EU rejects German call to boycott British lamb ."]
    with server(model_dir, tmp_path) as s:
        status, body = predict(s.port, {"texts": texts})
        assert status == 200
        manifest = json.loads((model_dir / "model.json").read_text())
        assert body["model_sha256"] == manifest["sha256"]
        for text, prediction in zip(texts, body["predictions"], strict=True):
            words = split(text)
            assert [(e["start"], e["end"], e["text"]) for e in prediction["entities"]] == [
                (w.start, w.end, w.text) for w in words
            ]
            assert all(text[e["start"] : e["end"]] == e["text"] and e["type"] == "PER" for e in prediction["entities"])
            assert all(0.9 < e["score"] <= 1.0 for e in prediction["entities"])
        status, tokens = predict(s.port, {"tokens": [["EU", "rejects", "U.S.", "lamb"]]})
        assert status == 200
        assert [(e["start"], e["end"], e["text"]) for e in tokens["predictions"][0]["entities"]] == [
            (0, 2, "EU"),
            (3, 10, "rejects"),
            (11, 15, "U.S."),
            (16, 20, "lamb"),
        ]
        # Words past model.max_length (32 subwords) are cut: no entity on them.
        long = ["word"] * 50
        status, cut = predict(s.port, {"tokens": [long]})
        assert status == 200 and len(cut["predictions"][0]["entities"]) == 30  # 32 less [CLS] and [SEP]

        meta = json.loads(raw_request(s.port, "GET", "/")[2])
        assert meta["model"]["scheme"] == "IOB2" and meta["model"]["entity_types"] == ["PER", "LOC", "ORG", "MISC"]
        assert raw_request(s.port, "GET", "/readyz")[0] == 200
        assert metric(s.port, 'mlci_requests_total{path="/v1/predict",status="200"}') == 3.0


MALFORMED: list[tuple[Any, bytes | None, int, str]] = [
    ({"tokens": [["EU"], "rejects"]}, None, 422, "tokens[1] must be a list of words (strings), not a string"),
    ({"tokens": [["EU", "New York"]]}, None, 422, "tokens[0][1] contains whitespace; send each word apart"),
    ({"tokens": [["EU"], []]}, None, 422, "tokens[1] is empty; send at least one word"),
    ({"texts": ["ok", ""]}, None, 422, "texts[1] is empty; send text to tag"),
    ({"texts": ["x"] * 9}, None, 422, "9 texts in one request; the limit is 8"),
    ({"texts": ["x" * 201]}, None, 422, "texts[0] has 201 characters; the limit is 200"),
    ({"tokens": [["x" * 100, "y" * 100]]}, None, 422, "tokens[0] joined by spaces has more than 200 characters"),
    ({"texts": ["a"], "tokens": [["a"]]}, None, 422, "send exactly one of 'texts'"),
    (None, b'{"tokens": [["\\ud800"]]}', 400, "tokens[0][0] has a lone surrogate \\ud800"),
    (None, b'{"texts": [', 400, "the body is not valid JSON"),
]


def test_malformed_requests_are_refused_naming_the_field(model_dir: Path, tmp_path: Path) -> None:
    with server(model_dir, tmp_path, "--max-texts", "8", "--max-text-chars", "200") as s:
        for payload, raw, status, message in MALFORMED:
            got, body = predict(s.port, payload, raw)
            assert (got, body["error"]["message"][: len(message)]) == (status, message)
        assert predict(s.port, {"texts": ["still answering"]})[0] == 200
        assert metric(s.port, 'mlci_requests_total{path="/v1/predict",status="422"}') == 8.0


def test_the_build_check_and_the_smoke_test_pass_on_the_golden_sentences(model_dir: Path, tmp_path: Path) -> None:
    from ml_ci import tasks
    from ml_ci.build.verify import check_server
    from ml_ci.deploy import smoke

    serving = tasks.get("token-classification").serving()
    golden = read_golden(model_dir / "golden.json")
    with server(model_dir, tmp_path, "--max-texts", "8") as s:
        assert check_server(s.url, golden, serving, 8) == ([], 0)
        report = smoke.run(s.url, golden, 20, 30, serving=serving, batch=8)
        assert report.passed and report.checked == 20, report.problems
        # A golden example changed (as another model would answer): both checks name it.
        changed = dict(golden.examples[0])
        first = changed["expected"]["entities"][0]
        changed["expected"] = {"entities": [{**first, "type": "ORG"}, *changed["expected"]["entities"][1:]]}
        altered = type(golden)(examples=(changed, *golden.examples[1:]), tolerance=golden.tolerance, payload=golden.payload)
        problems, _ = check_server(s.url, altered, serving, 8)
        assert len(problems) == 1 and problems[0].startswith("example 0 (") and f"no ORG {first['text']!r}" in problems[0]
        report = smoke.run(s.url, altered, 5, 30, serving=serving, batch=8)
        assert not report.passed and "recorded with score" in report.problems[0]


@pytest.mark.slow
def test_the_image_is_verified_against_golden_and_evaluated_entities(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`ml-ci build` of a tagger: the image answers the golden sentences (through serving_client and the task's
    comparison) and agrees with evaluate's word tags decoded into entities; a changed golden example fails it."""
    import docker

    from ml_ci.cli.main import main
    from tests.integration.test_image import image_overrides

    overrides = {**image_overrides("ner"), "evaluate": {"metrics": ["f1_micro"], "gates": [], "latency_samples": 1}}
    path = exported_ner_repo(tmp_path, bias=1, overrides=overrides)
    repository = f"{overrides['image']['registry']}/{overrides['image']['repository']}"
    try:
        assert main(["evaluate", "-c", str(path)]) == 0
        assert main(["build", "-c", str(path), "--no-push"]) == 0
        record = json.loads((tmp_path / ".ml-ci/artifacts/build/image.json").read_text())
        assert record["verification"]["golden_examples"] == record["verification"]["compared_with_eval"] == 32
        labels = docker.from_env().images.get(record["image_id"]).labels
        assert labels["io.ml-ci.model.scheme"] == "IOB2" and labels["io.ml-ci.model.entity_types"] == "PER,LOC,ORG,MISC"

        golden_path = tmp_path / ".ml-ci/artifacts/export/golden.json"
        golden = json.loads(golden_path.read_text())
        first = golden["examples"][3]["expected"]["entities"][0]
        first["type"] = "ORG"
        golden_path.write_text(json.dumps(golden))
        capsys.readouterr()
        assert main(["build", "-c", str(path), "--no-push"]) == 1
        err = capsys.readouterr().err
        assert "the image answers 1 golden example(s) differently; nothing was pushed" in err
        assert "example 3 (" in err and f"no ORG {first['text']!r}" in err
    finally:
        client = docker.from_env()
        for image in client.images.list(name=repository):
            client.images.remove(image.id, force=True)
