"""The serving image's SBOM: a CycloneDX 1.6 JSON document of what is inside it.

Docs draft. *Why*: a platform team asks "what is in this image?" before it lets a model into production,
and a scanner (Grype, Trivy, Dependency-Track) answers it from an SBOM without pulling the image. *What*:
`make_sbom` lists

- the image's Python distributions (the interpreter the server runs, `/opt/venv/bin/python`) as
  `pkg:pypi` components, each with the sha256 of its installed `RECORD` file: RECORD lists the sha256 of
  every file the distribution installed, so its digest pins the installed bytes, not just a version;
- the base image's OS packages from dpkg as `pkg:deb` components (name, version, architecture). An image
  without dpkg lists none, and the SBOM's `ml-ci:os-packages` property says so, so that an empty list is
  never read as "no OS packages";
- the model files copied into the image (`/opt/model/...`), each with its sha256: the ONNX graph (and its
  external weights) as `machine-learning-model`, the rest (tokenizer, model.json, golden.json) as `file`;
- the base model the served model was fine-tuned from, as train's lineage.json names it (spec, revision,
  and its identity: a folder's sha256 or the hub id and revision).

*Deterministic*: the same image gives the same bytes. Components are sorted, every `bom-ref` is derived
from the component (never a random UUID), the serial number is a UUID5 of the image digest and the
timestamp is the build's epoch (SOURCE_DATE_EPOCH, else the commit's time: `ml_ci.provenance`).

*What it trusts*: `collect_image_contents` runs a short standard-library script inside the image, with no
network, and believes what the image's own Python and dpkg report about themselves. A hostile image can
lie about its contents; the SBOM describes the image ml-ci built, and its digest is what the signed
provenance (`ml_ci.supply.provenance`) binds to the image digest.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ml_ci.digest import file_sha256
from ml_ci.errors import OperationalError

MEDIA_TYPE = "application/vnd.cyclonedx+json"
SPEC_VERSION = "1.6"
MODEL_PREFIX = "/opt/model"  # where the image holds the model (templates/docker/Dockerfile.onnx: COPY model/)
DEFAULT_PYTHON = "python3"  # when the image's entrypoint is not a Python interpreter
# UUID5 namespace of the serial numbers: the serial of an image's SBOM is uuid5(this, its digest).
SERIAL_NAMESPACE = uuid.UUID("6f1c2a4e-57b1-4d0c-9a6e-3b6f0f1d9c21")
PROPERTY = "ml-ci"  # the prefix of ml-ci's CycloneDX property names (CycloneDX's taxonomy: one's own namespace)
RECORD_HASH = "sha256 of each Python distribution's installed RECORD file, which lists the sha256 of every file it installed"


@dataclass(frozen=True, order=True, kw_only=True)
class PythonDistribution:
    name: str  # as its metadata spells it
    version: str
    record_sha256: str | None  # of its installed RECORD file; None when it has none (e.g. a Debian-packaged module)


@dataclass(frozen=True, order=True, kw_only=True)
class OsPackage:
    name: str
    version: str
    arch: str


@dataclass(frozen=True, kw_only=True)
class ImageContents:
    """What `collect_image_contents` found in an image: its Python environment and its OS packages."""

    python: str  # the interpreter that was asked (the server's)
    distributions: tuple[PythonDistribution, ...]
    os_packages: tuple[OsPackage, ...]
    dpkg: bool  # False: the image has no dpkg, so os_packages is empty because nothing could list them
    distro: str | None = None  # /etc/os-release's ID (debian), the purl namespace of the deb packages
    distro_release: str | None = None  # its VERSION_CODENAME (bookworm), else VERSION_ID


@dataclass(frozen=True, order=True, kw_only=True)
class ModelFile:
    path: str  # where the image holds it (/opt/model/model.onnx)
    sha256: str
    model: bool  # the model itself (its graph and weights), not a file beside it


@dataclass(frozen=True, kw_only=True)
class BaseModel:
    """The model the served one was fine-tuned from, as lineage.json's `base_model` names it."""

    spec: str  # ml.yaml's model.base: a hub id or a folder
    revision: str | None
    identity: str  # `sha256:<hex>` over a folder's files, or `hub:<id>@<revision or unpinned>`


def base_model_from_lineage(lineage: Any) -> BaseModel | None:
    """lineage.json's base model (train's `ml_ci.train.lineage.lineage_record`); None when it names none."""
    base = lineage.get("base_model") if isinstance(lineage, dict) else None
    if not isinstance(base, dict) or not isinstance(base.get("spec"), str) or not isinstance(base.get("identity"), str):
        return None
    revision = base.get("revision")
    return BaseModel(spec=base["spec"], revision=revision if isinstance(revision, str) else None, identity=base["identity"])


def is_model_file(name: str) -> bool:
    """An exported graph or its external weights (the ONNX format's `.onnx.data` beside a graph over 2 GB)."""
    return name.endswith((".onnx", ".onnx.data", ".onnx_data"))


def model_files(
    folder: Path, *, prefix: str = MODEL_PREFIX, is_model: Callable[[str], bool] = is_model_file
) -> tuple[ModelFile, ...]:
    """Every file under folder (the build context's model/, which the image holds at prefix), hashed."""
    if not folder.is_dir():
        raise OperationalError(f"{folder}: the model folder the SBOM lists is not there")
    out = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        out.append(ModelFile(path=f"{prefix.rstrip('/')}/{rel}", sha256=file_sha256(path), model=is_model(path.name)))
    return tuple(out)


# Runs inside the image with its own Python (3.8+, standard library only) and prints one JSON object.
# dpkg-query's ${db:Status-Abbrev} keeps installed packages ("ii") and leaves out removed ones whose
# configuration files remain ("rc"), which dpkg-query -W also lists.
COLLECT_SCRIPT = r"""
import hashlib, json, shutil, subprocess, sys
from importlib import metadata

dists = []
for d in metadata.distributions():
    name = d.metadata["Name"]
    if not name:
        continue
    sha = None
    for f in d.files or ():
        if f.name == "RECORD" and f.parent.name.endswith(".dist-info"):
            try:
                with open(str(f.locate()), "rb") as fh:
                    sha = hashlib.sha256(fh.read()).hexdigest()
            except OSError:
                pass
            break
    dists.append({"name": name, "version": d.version, "record_sha256": sha})

release = {}
try:
    with open("/etc/os-release", encoding="utf-8") as fh:
        for line in fh:
            key, sep, value = line.strip().partition("=")
            if sep:
                release[key] = value.strip().strip('"')
except OSError:
    pass

query = shutil.which("dpkg-query")
packages = []
if query:
    fmt = "${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\n"
    out = subprocess.run([query, "-W", "-f", fmt], stdout=subprocess.PIPE, check=True).stdout.decode("utf-8")
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 4 and parts[0].startswith("ii"):
            packages.append({"name": parts[1], "version": parts[2], "arch": parts[3]})

json.dump({
    "python": sys.executable,
    "distributions": dists,
    "dpkg": bool(query),
    "os_packages": packages,
    "distro": release.get("ID"),
    "distro_release": release.get("VERSION_CODENAME") or release.get("VERSION_ID"),
}, sys.stdout)
"""


def parse_collected(output: bytes | str, python: str) -> ImageContents:
    """COLLECT_SCRIPT's output; OperationalError when it is not what the script prints."""
    try:
        data = json.loads(output)
        dists = {
            PythonDistribution(name=str(d["name"]), version=str(d["version"]), record_sha256=d["record_sha256"])
            for d in data["distributions"]
        }
        packages = {OsPackage(name=str(p["name"]), version=str(p["version"]), arch=str(p["arch"])) for p in data["os_packages"]}
        return ImageContents(
            python=python,
            distributions=tuple(sorted(dists)),
            os_packages=tuple(sorted(packages)),
            dpkg=bool(data["dpkg"]),
            distro=data.get("distro") or None,
            distro_release=data.get("distro_release") or None,
        )
    except (ValueError, KeyError, TypeError) as e:
        head = output[:200] if isinstance(output, str) else output[:200].decode("utf-8", "replace")
        raise OperationalError(f"the image's package listing is not what ml-ci's script prints ({e}): {head!r}") from None


def image_python(c: Any, image: str) -> str:
    """The interpreter the image's entrypoint runs (the server's venv), else python3 from its PATH."""
    import docker

    try:
        config = c.images.get(image).attrs.get("Config") or {}
    except docker.errors.ImageNotFound:
        raise OperationalError(f"the image {image} is not in the Docker engine; build or pull it first") from None
    entrypoint = config.get("Entrypoint") or []
    if entrypoint and Path(str(entrypoint[0])).name.startswith("python"):
        return str(entrypoint[0])
    return DEFAULT_PYTHON


def collect_image_contents(c: Any, image: str, *, python: str | None = None, timeout: int = 120) -> ImageContents:
    """Runs COLLECT_SCRIPT in a throwaway container of image (a docker SDK client c), without a network:
    `docker run --rm --network none --entrypoint PYTHON IMAGE -c SCRIPT`, PYTHON being the image's entrypoint
    when that is a Python interpreter (the server's), else python3."""
    import docker
    import requests

    interpreter = python or image_python(c, image)
    # Detached, waited for, then read: the SDK's attached run() removes the container while its log stream is
    # still unread, which loses an output as long as a base image's dpkg listing.
    try:
        container = c.containers.run(
            image,
            ["-c", COLLECT_SCRIPT],
            entrypoint=[interpreter],
            network_mode="none",
            environment={"PYTHONDONTWRITEBYTECODE": "1"},
            detach=True,
        )
    except docker.errors.APIError as e:
        raise OperationalError(f"listing the packages of {image} with {interpreter} failed: {e.explanation or e}") from None
    try:
        try:
            status = container.wait(timeout=timeout).get("StatusCode")
        except (requests.exceptions.Timeout, requests.exceptions.ConnectionError):  # how the SDK says wait timed out
            raise OperationalError(f"listing the packages of {image} took over {timeout} s; stopped it") from None
        if status != 0:
            tail = container.logs(stdout=False, stderr=True).decode("utf-8", "replace").strip().splitlines()[-3:]
            raise OperationalError(
                f"listing the packages of {image} with {interpreter} failed (exit {status}): {' '.join(tail) or 'no message'}"
            )
        output = container.logs(stdout=True, stderr=False)
    finally:
        container.remove(force=True)
    return parse_collected(output, interpreter)


def _purl_pypi(d: PythonDistribution) -> Any:
    from packageurl import PackageURL

    return PackageURL(type="pypi", name=d.name, version=d.version)


def _purl_deb(p: OsPackage, distro: str | None, release: str | None) -> Any:
    from packageurl import PackageURL

    qualifiers = {"arch": p.arch, **({"distro": release} if release else {})}
    return PackageURL(type="deb", namespace=distro or "debian", name=p.name, version=p.version, qualifiers=qualifiers)


def _sha256(hex_digest: str) -> Any:
    from cyclonedx.model import HashAlgorithm, HashType

    return HashType(alg=HashAlgorithm.SHA_256, content=hex_digest.removeprefix("sha256:"))


def _props(items: Iterable[tuple[str, str]]) -> list[Any]:
    from cyclonedx.model import Property

    return [Property(name=f"{PROPERTY}:{name}", value=value) for name, value in items]


def _unique(components: Iterable[Any]) -> list[Any]:
    """The first component of each bom-ref: two equal purls (a distribution seen twice) are one package."""
    seen: dict[str, Any] = {}
    for component in components:
        seen.setdefault(str(component.bom_ref), component)
    return list(seen.values())


def make_sbom(
    *,
    image: str,
    digest: str,
    contents: ImageContents,
    model_files: Sequence[ModelFile],
    base_model: BaseModel | None,
    epoch: int,
    name: str | None = None,
    tool_version: str | None = None,
) -> bytes:
    """The SBOM of the image `image` (its repository) whose digest is `digest` (`sha256:...`: the pushed
    manifest's, or the image id before a push), as CycloneDX 1.6 JSON bytes: sorted keys, two-space indent,
    a final newline. `epoch` is the build's time (seconds since 1970), `name` the model's (ml.yaml's)."""
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6

    from ml_ci import __version__

    if not digest.startswith("sha256:") or len(digest) != 71:
        raise ValueError(f"{digest!r} is not an image digest (sha256:<64 hex digits>)")
    bom = Bom(serial_number=uuid.uuid5(SERIAL_NAMESPACE, digest))
    bom.metadata.timestamp = datetime.fromtimestamp(epoch, timezone.utc)
    bom.metadata.tools.components.add(
        Component(name="ml-ci", version=tool_version or __version__, type=ComponentType.APPLICATION, bom_ref="tool:ml-ci")
    )
    root = Component(
        name=image,
        version=digest,
        type=ComponentType.CONTAINER,
        bom_ref=f"image:{image}@{digest}",
        hashes=[_sha256(digest)],
        description=f"the serving image of {name}" if name else None,
    )
    bom.metadata.component = root
    os_note = "dpkg" if contents.dpkg else "none: the image has no dpkg, so its OS packages are not listed"
    bom.properties.update(
        _props(
            [("python", contents.python), ("os-packages", os_note), ("pypi-hash", RECORD_HASH), ("model-prefix", MODEL_PREFIX)]
        )
    )

    components: list[Any] = []
    for d in contents.distributions:
        purl = _purl_pypi(d)
        components.append(
            Component(
                name=d.name,
                version=d.version,
                purl=purl,
                bom_ref=purl.to_string(),
                hashes=[_sha256(d.record_sha256)] if d.record_sha256 else [],
                properties=[] if d.record_sha256 else _props([("record", "absent: no RECORD file to hash")]),
            )
        )
    for p in contents.os_packages:
        purl = _purl_deb(p, contents.distro, contents.distro_release)
        components.append(Component(name=p.name, version=p.version, purl=purl, bom_ref=purl.to_string()))
    for f in model_files:
        components.append(
            Component(
                name=f.path,
                type=ComponentType.MACHINE_LEARNING_MODEL if f.model else ComponentType.FILE,
                bom_ref=f"file:{f.path}",
                hashes=[_sha256(f.sha256)],
            )
        )
    if base_model is not None:
        hashes = [_sha256(base_model.identity)] if base_model.identity.startswith("sha256:") else []
        components.append(
            Component(
                name=base_model.spec,
                version=base_model.revision,
                type=ComponentType.MACHINE_LEARNING_MODEL,
                bom_ref=f"base-model:{base_model.identity}",
                hashes=hashes,
                description="the base model the served model was fine-tuned from (train's lineage.json)",
                properties=_props([("role", "base-model"), ("identity", base_model.identity)]),
            )
        )
    unique = _unique(components)
    bom.components.update(unique)
    # The image holds every component: without this the library warns that the dependency graph is incomplete.
    bom.register_dependency(root, unique)
    text = JsonV1Dot6(bom).output_as_string()
    # Sorted keys: the bytes depend on the content only, not on the order the library writes keys in.
    return (json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def validate(sbom: bytes) -> None:
    """OperationalError naming the first problem when sbom is not a valid CycloneDX 1.6 JSON document
    (CycloneDX's own JSON schema, strict: no unknown keys)."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(sbom.decode("utf-8"))
    if error is not None:
        raise OperationalError(f"the SBOM is not valid CycloneDX {SPEC_VERSION}: {error}")


def make_image_sbom(
    *,
    image: str,
    digest: str,
    contents: ImageContents,
    model_dir: Path,
    lineage: Any,
    epoch: int,
    name: str | None = None,
    prefix: str = MODEL_PREFIX,
    models: Collection[str] | None = None,
) -> bytes:
    """make_sbom of the files of model_dir (the model folder the image was built with, held at prefix) and
    of lineage.json's base model (as parsed; None or {} when there is none); validated before it is returned.
    `models` names the files that are the model itself (default: the ONNX graphs and their weights)."""
    predicate = is_model_file if models is None else (lambda n: n in models)
    sbom = make_sbom(
        image=image,
        digest=digest,
        contents=contents,
        model_files=model_files(model_dir, prefix=prefix, is_model=predicate),
        base_model=base_model_from_lineage(lineage),
        epoch=epoch,
        name=name,
    )
    validate(sbom)
    return sbom
