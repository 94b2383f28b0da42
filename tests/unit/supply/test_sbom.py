"""The image SBOM (ml_ci.supply.sbom): CycloneDX 1.6 that CycloneDX's own strict schema accepts, the same bytes
for the same image, and the collector script's output read back."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from ml_ci.errors import OperationalError
from ml_ci.supply import sbom
from ml_ci.supply.sbom import BaseModel, ImageContents, ModelFile, OsPackage, PythonDistribution

DIGEST = "sha256:" + "ab" * 32
SHA_A, SHA_B, SHA_C = "1" * 64, "2" * 64, "3" * 64


def contents(**changes: Any) -> ImageContents:
    values: dict[str, Any] = {
        "python": "/opt/venv/bin/python",
        "distributions": (
            PythonDistribution(name="numpy", version="2.1.0", record_sha256=SHA_A),
            PythonDistribution(name="onnxruntime", version="1.20.1", record_sha256=SHA_B),
            PythonDistribution(name="prometheus_client", version="0.21.0", record_sha256=None),
        ),
        "os_packages": (
            OsPackage(name="libc6", version="2.36-9+deb12u9", arch="amd64"),
            OsPackage(name="python3", version="3.11.2-1+b1", arch="amd64"),
        ),
        "dpkg": True,
        "distro": "debian",
        "distro_release": "bookworm",
    }
    values.update(changes)
    return ImageContents(**values)


FILES = (
    ModelFile(path="/opt/model/model.onnx", sha256=SHA_C, model=True),
    ModelFile(path="/opt/model/tokenizer.json", sha256=SHA_A, model=False),
)
BASE = BaseModel(spec="sentence-transformers/all-MiniLM-L6-v2", revision="c9745ed1", identity="hub:x@c9745ed1")


def make(**changes: Any) -> bytes:
    values: dict[str, Any] = {
        "image": "127.0.0.1:5000/sentiment",
        "digest": DIGEST,
        "contents": contents(),
        "model_files": FILES,
        "base_model": BASE,
        "epoch": 1_700_000_000,
        "name": "sentiment",
        "tool_version": "0.1.0",
    }
    values.update(changes)
    return sbom.make_sbom(**values)


def by_ref(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["bom-ref"]: c for c in doc["components"]}


def test_the_sbom_is_valid_cyclonedx_1_6_by_its_own_strict_schema() -> None:
    data = make()
    sbom.validate(data)  # raises when CycloneDX's schema refuses it
    doc = json.loads(data)
    assert (doc["bomFormat"], doc["specVersion"]) == ("CycloneDX", "1.6")


def test_validate_names_what_the_schema_refuses() -> None:
    doc = json.loads(make())
    doc["components"][0]["type"] = "spaceship"
    with pytest.raises(OperationalError, match=r"the SBOM is not valid CycloneDX 1\.6: .*spaceship"):
        sbom.validate(json.dumps(doc).encode())


def test_same_inputs_give_the_same_bytes_whatever_the_input_order() -> None:
    first = make()
    shuffled = contents(
        distributions=tuple(reversed(contents().distributions)), os_packages=tuple(reversed(contents().os_packages))
    )
    assert make(contents=shuffled, model_files=tuple(reversed(FILES))) == first
    assert first.endswith(b"}\n")


def test_serial_number_comes_from_the_image_digest_and_the_timestamp_from_the_epoch() -> None:
    doc = json.loads(make())
    assert doc["serialNumber"] == f"urn:uuid:{uuid.uuid5(sbom.SERIAL_NAMESPACE, DIGEST)}"
    assert doc["metadata"]["timestamp"] == "2023-11-14T22:13:20+00:00"
    other = json.loads(make(digest="sha256:" + "cd" * 32))
    assert other["serialNumber"] != doc["serialNumber"]
    assert other["metadata"]["component"]["version"] == "sha256:" + "cd" * 32


def test_the_image_is_the_subject_and_holds_every_component() -> None:
    doc = json.loads(make())
    root = doc["metadata"]["component"]
    assert root["type"] == "container"
    assert root["name"] == "127.0.0.1:5000/sentiment"
    assert root["hashes"] == [{"alg": "SHA-256", "content": "ab" * 32}]
    (graph,) = [d for d in doc["dependencies"] if d["ref"] == root["bom-ref"]]
    assert sorted(graph["dependsOn"]) == sorted(by_ref(doc))


def test_python_distributions_are_pypi_purls_with_the_sha256_of_their_record() -> None:
    components = by_ref(json.loads(make()))
    numpy = components["pkg:pypi/numpy@2.1.0"]
    assert (numpy["name"], numpy["version"], numpy["purl"]) == ("numpy", "2.1.0", "pkg:pypi/numpy@2.1.0")
    assert numpy["hashes"] == [{"alg": "SHA-256", "content": SHA_A}]
    # A distribution without a RECORD has no hash, and says why.
    prom = components["pkg:pypi/prometheus-client@0.21.0"]
    assert "hashes" not in prom
    assert prom["properties"] == [{"name": "ml-ci:record", "value": "absent: no RECORD file to hash"}]


def test_os_packages_are_deb_purls_with_their_architecture_and_distribution() -> None:
    components = by_ref(json.loads(make()))
    libc = components["pkg:deb/debian/libc6@2.36-9%2Bdeb12u9?arch=amd64&distro=bookworm"]
    assert (libc["name"], libc["version"], libc["type"]) == ("libc6", "2.36-9+deb12u9", "library")


def test_an_image_without_dpkg_says_that_its_os_packages_are_not_listed() -> None:
    doc = json.loads(make(contents=contents(os_packages=(), dpkg=False)))
    props = {p["name"]: p["value"] for p in doc["properties"]}
    assert props["ml-ci:os-packages"] == "none: the image has no dpkg, so its OS packages are not listed"
    assert not [c for c in doc["components"] if c.get("purl", "").startswith("pkg:deb/")]
    assert {p["name"]: p["value"] for p in json.loads(make())["properties"]}["ml-ci:os-packages"] == "dpkg"


def test_model_files_and_the_base_model() -> None:
    components = by_ref(json.loads(make()))
    onnx = components["file:/opt/model/model.onnx"]
    assert (onnx["type"], onnx["hashes"]) == ("machine-learning-model", [{"alg": "SHA-256", "content": SHA_C}])
    assert components["file:/opt/model/tokenizer.json"]["type"] == "file"
    base = components["base-model:hub:x@c9745ed1"]
    assert (base["name"], base["version"], base["type"]) == (BASE.spec, "c9745ed1", "machine-learning-model")
    assert "hashes" not in base  # a hub model is named by id and revision, not by a digest
    folder = BaseModel(spec="./base", revision=None, identity="sha256:" + SHA_B)
    local = by_ref(json.loads(make(base_model=folder)))[f"base-model:sha256:{SHA_B}"]
    assert local["hashes"] == [{"alg": "SHA-256", "content": SHA_B}]
    assert "base-model:" not in json.dumps(by_ref(json.loads(make(base_model=None))))


def test_each_input_changes_the_bytes() -> None:
    first = make()
    bumped = contents(distributions=(PythonDistribution(name="numpy", version="2.1.1", record_sha256=SHA_A),))
    assert make(contents=bumped) != first
    assert make(model_files=(ModelFile(path="/opt/model/model.onnx", sha256=SHA_A, model=True),)) != first
    assert make(epoch=1) != first
    assert make(base_model=None) != first


def test_a_digest_that_is_not_sha256_is_refused() -> None:
    with pytest.raises(ValueError, match="'latest' is not an image digest"):
        make(digest="latest")


def test_base_model_from_lineage() -> None:
    lineage = {"base_model": {"spec": "org/m", "revision": None, "identity": "hub:org/m@unpinned"}}
    assert sbom.base_model_from_lineage(lineage) == BaseModel(spec="org/m", revision=None, identity="hub:org/m@unpinned")
    assert sbom.base_model_from_lineage(None) is None
    assert sbom.base_model_from_lineage({"base_model": {"spec": "org/m"}}) is None


def test_model_files_hashes_the_folder_as_the_image_holds_it(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"graph")
    (tmp_path / "model.onnx.data").write_bytes(b"weights")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "vocab.txt").write_text("a\n")
    files = sbom.model_files(tmp_path)
    assert [(f.path, f.model) for f in files] == [
        ("/opt/model/model.onnx", True),
        ("/opt/model/model.onnx.data", True),
        ("/opt/model/sub/vocab.txt", False),
    ]
    assert files[0].sha256 == hashlib.sha256(b"graph").hexdigest()
    with pytest.raises(OperationalError, match="the model folder the SBOM lists is not there"):
        sbom.model_files(tmp_path / "absent")


def test_the_collector_script_lists_this_python_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The script the image runs, run here (without dpkg, as the unit tests start no process)."""
    monkeypatch.setattr(shutil, "which", lambda name: None)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(sbom.COLLECT_SCRIPT, {"__name__": "collect"})
    found = sbom.parse_collected(out.getvalue(), "python3")
    assert found.dpkg is False and found.os_packages == ()
    names = {d.name.lower(): d for d in found.distributions}
    assert {"cyclonedx-python-lib", "securesystemslib", "pytest"} <= set(names)
    assert names["pytest"].version == pytest.__version__
    assert names["pytest"].record_sha256 is not None and len(names["pytest"].record_sha256) == 64


def test_parse_collected_refuses_what_the_script_does_not_print() -> None:
    with pytest.raises(OperationalError, match="the image's package listing is not what ml-ci's script prints"):
        sbom.parse_collected(b'{"distributions": []}', "python3")
    with pytest.raises(OperationalError, match="not what ml-ci's script prints"):
        sbom.parse_collected(b"Traceback (most recent call last):", "python3")


def test_make_image_sbom_lists_the_model_folder_and_the_lineage(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"graph")
    (tmp_path / "model.json").write_text("{}")
    lineage = {"base_model": {"spec": "./base", "revision": None, "identity": "sha256:" + SHA_B}}
    data = sbom.make_image_sbom(
        image="reg/m", digest=DIGEST, contents=contents(), model_dir=tmp_path, lineage=lineage, epoch=0, name="m"
    )
    components = by_ref(json.loads(data))
    assert components["file:/opt/model/model.onnx"]["type"] == "machine-learning-model"
    assert components["file:/opt/model/model.onnx"]["hashes"][0]["content"] == hashlib.sha256(b"graph").hexdigest()
    assert components["file:/opt/model/model.json"]["type"] == "file"
    assert f"base-model:sha256:{SHA_B}" in components
    named = sbom.make_image_sbom(
        image="reg/m", digest=DIGEST, contents=contents(), model_dir=tmp_path, lineage=None, epoch=0, models={"model.json"}
    )
    assert by_ref(json.loads(named))["file:/opt/model/model.json"]["type"] == "machine-learning-model"
    assert not [r for r in by_ref(json.loads(named)) if r.startswith("base-model:")]
