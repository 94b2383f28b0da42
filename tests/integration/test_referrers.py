"""Artifacts attached to an image in the real registry (Debian's docker-registry, distribution 2.8, on
127.0.0.1:5000), which has no referrers API: ml_ci.supply.referrers keeps the referrers tag schema there.

Each test pushes its own small OCI image (a config and one empty layer) with plain HTTP calls written here, not
with the module under test, to a repository of its own. Where a registry must misbehave (tampered bytes, a token
service, a referrers API that 2.8 lacks), a small proxy on 127.0.0.1 stands between the client and the real
registry and changes only what the test says; every other byte is the real registry's.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import http.server
import io
import json
import tarfile
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

import pytest

from ml_ci.errors import DeployError, OperationalError
from ml_ci.net import free_port
from ml_ci.records.imageref import ImageRef
from ml_ci.supply import referrers
from ml_ci.supply.referrers import ArtifactIntegrityError, Referrer
from tests.services import registry

pytestmark = pytest.mark.integration

SBOM_TYPE = "application/vnd.cyclonedx+json"
DSSE_MEDIA = "application/vnd.dsse.envelope.v1+json"
PROVENANCE_TYPE = "application/vnd.in-toto+json"
SBOM = json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"name": "onnxruntime"}]}).encode()
ENVELOPE = json.dumps({"payloadType": "application/vnd.in-toto+json", "payload": "e30=", "signatures": []}).encode()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def http_call(method: str, url: str, body: Optional[bytes] = None, headers: Optional[dict[str, str]] = None) -> Any:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def push_blob(base: str, repository: str, data: bytes) -> None:
    status, headers, _ = http_call("POST", f"{base}/v2/{repository}/blobs/uploads/", b"")
    assert status == 202, status
    location = urllib.parse.urljoin(base + "/", headers["Location"])
    status, _, body = http_call("PUT", f"{location}&digest={sha256(data)}", data, {"Content-Type": "application/octet-stream"})
    assert status == 201, body


OCI_TYPES = (referrers.MANIFEST, "application/vnd.oci.image.config.v1+json", "application/vnd.oci.image.layer.v1.tar+gzip")
# What Docker 20.10's push writes (the manifest type ml-ci build's images have in the registry here).
DOCKER_TYPES = (
    referrers.DOCKER_MANIFEST,
    "application/vnd.docker.container.image.v1+json",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
)


def push_image(
    host: str, repository: str, tag: str, label: str = "", types: tuple[str, str, str] = OCI_TYPES
) -> tuple[ImageRef, bytes]:
    """A minimal image (an empty layer, a config naming it) pushed by tag; its ref by digest and manifest bytes."""
    base = f"http://{host}"
    raw = io.BytesIO()
    tarfile.open(fileobj=raw, mode="w").close()
    layer = gzip.compress(raw.getvalue(), mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": {"test": label or tag}},
            "rootfs": {"type": "layers", "diff_ids": [sha256(raw.getvalue())]},
        }
    ).encode()
    push_blob(base, repository, layer)
    push_blob(base, repository, config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": types[0],
            "config": {"mediaType": types[1], "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": types[2], "digest": sha256(layer), "size": len(layer)}],
        }
    ).encode()
    status, _, body = http_call("PUT", f"{base}/v2/{repository}/manifests/{tag}", manifest, {"Content-Type": types[0]})
    assert status == 201, body
    return ImageRef(host, repository, sha256(manifest)), manifest


def get_json(host: str, repository: str, reference: str, accept: str) -> tuple[int, Any]:
    status, _, body = http_call("GET", f"http://{host}/v2/{repository}/manifests/{reference}", None, {"Accept": accept})
    return status, json.loads(body) if status == 200 else None


@pytest.fixture
def host() -> str:
    return registry()


@pytest.fixture
def image(host: str) -> tuple[ImageRef, bytes]:
    return push_image(host, f"ml-ci-test/referrers-{uuid.uuid4().hex[:10]}", "v1")


def attach_both(subject: ImageRef, **kw: Any) -> tuple[Referrer, Referrer]:
    sbom = referrers.attach(
        subject,
        SBOM,
        media_type=SBOM_TYPE,
        artifact_type=SBOM_TYPE,
        annotations={"org.opencontainers.image.title": "sbom.cdx.json"},
        **kw,
    )
    provenance = referrers.attach(subject, ENVELOPE, media_type=DSSE_MEDIA, artifact_type=PROVENANCE_TYPE, **kw)
    return sbom, provenance


# --- a proxy in front of the real registry ------------------------------------------------------------------------


@dataclass
class Exchange:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""


Hook = Callable[[Exchange], Optional[Exchange]]  # None: pass the exchange on unchanged


class Proxy:
    """Forwards every request to the real registry; `before` may answer a request itself, `after` may change an
    answer. Host is forwarded as the client sent it, so that the registry's Location headers point back here."""

    def __init__(self, upstream: str, before: Optional[Hook] = None, after: Optional[Hook] = None) -> None:
        self.upstream, self.before, self.after = upstream, before, after
        self.seen: list[Exchange] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def handle_one(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                ex = Exchange(self.command, self.path, dict(self.headers.items()), self.rfile.read(length) if length else b"")
                proxy.seen.append(ex)
                answered = proxy.before(ex) if proxy.before else None
                if answered is None:
                    conn = http.client.HTTPConnection(proxy.upstream, timeout=15)
                    conn.request(ex.method, ex.path, body=ex.body or None, headers=ex.headers)
                    resp = conn.getresponse()
                    ex.status, ex.response_headers, ex.response_body = resp.status, dict(resp.getheaders()), resp.read()
                    conn.close()
                    answered = (proxy.after(ex) if proxy.after else None) or ex
                self.send_response(answered.status)
                for name, value in answered.response_headers.items():
                    if name.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answered.response_body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answered.response_body)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = handle_one

        self.port = free_port()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> Proxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def through(proxy: Proxy, ref: ImageRef) -> ImageRef:
    return ImageRef(proxy.host, ref.repository, ref.digest)


# --- attach, discover, fetch ---------------------------------------------------------------------------------------


def test_attach_two_artifacts_discover_them_and_fetch_their_bytes(image: tuple[ImageRef, bytes]) -> None:
    subject, _ = image
    sbom, provenance = attach_both(subject)

    found = referrers.discover(subject)
    assert [(r.artifact_type, r.descriptor.digest) for r in found] == [
        (SBOM_TYPE, sbom.descriptor.digest),
        (PROVENANCE_TYPE, provenance.descriptor.digest),
    ]
    assert found[0].annotations == {"org.opencontainers.image.title": "sbom.cdx.json"}
    assert [r.descriptor.digest for r in referrers.discover(subject, artifact_type=SBOM_TYPE)] == [sbom.descriptor.digest]
    assert [r.descriptor.digest for r in referrers.discover(subject, artifact_type=PROVENANCE_TYPE)] == [
        provenance.descriptor.digest
    ]
    assert referrers.discover(subject, artifact_type="application/vnd.example.none") == []

    got_sbom, got_envelope = (referrers.fetch(r) for r in found)
    assert got_sbom.content == SBOM and got_sbom.media_type == SBOM_TYPE
    assert got_sbom.annotations == {"org.opencontainers.image.title": "sbom.cdx.json"}
    assert got_sbom.layer.digest == sha256(SBOM)
    assert got_envelope.content == ENVELOPE and got_envelope.media_type == DSSE_MEDIA


def test_the_structures_are_the_ones_oci_1_1_and_oras_read(image: tuple[ImageRef, bytes], host: str) -> None:
    """What `oras discover` / `oras pull` on a distribution 2.8 registry look for: an image manifest with
    artifactType, the empty config and a subject descriptor, listed in an image index at tag sha256-<hex>."""
    subject, subject_manifest = image
    sbom, provenance = attach_both(subject)
    assert referrers.referrers_tag(subject.digest) == "sha256-" + subject.digest.removeprefix("sha256:")

    # No referrers API on distribution 2.8: the fallback is what the client must write.
    status, _, _ = http_call("GET", f"http://{host}/v2/{subject.repository}/referrers/{subject.digest}")
    assert status == 404

    status, manifest = get_json(host, subject.repository, sbom.descriptor.digest, referrers.MANIFEST)
    assert status == 200
    assert manifest == {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": SBOM_TYPE,
        "config": {
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
            "size": 2,
        },
        "layers": [{"mediaType": SBOM_TYPE, "digest": sha256(SBOM), "size": len(SBOM)}],
        "subject": {"mediaType": referrers.MANIFEST, "digest": sha256(subject_manifest), "size": len(subject_manifest)},
        "annotations": {"org.opencontainers.image.title": "sbom.cdx.json"},
    }
    status, _, empty = http_call("GET", f"http://{host}/v2/{subject.repository}/blobs/{referrers.EMPTY_DIGEST}")
    assert (status, empty) == (200, b"{}")

    status, index = get_json(host, subject.repository, "sha256-" + subject.digest[7:], referrers.INDEX)
    assert status == 200
    assert index == {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": referrers.MANIFEST,
                "digest": sbom.descriptor.digest,
                "size": sbom.descriptor.size,
                "artifactType": SBOM_TYPE,
                "annotations": {"org.opencontainers.image.title": "sbom.cdx.json"},
            },
            {
                "mediaType": referrers.MANIFEST,
                "digest": provenance.descriptor.digest,
                "size": provenance.descriptor.size,
                "artifactType": PROVENANCE_TYPE,
            },
        ],
    }


def test_a_second_attach_keeps_the_first_and_the_same_artifact_is_listed_once(image: tuple[ImageRef, bytes], host: str) -> None:
    subject, _ = image
    first = referrers.attach(subject, SBOM, media_type=SBOM_TYPE, artifact_type=SBOM_TYPE)
    second = referrers.attach(subject, ENVELOPE, media_type=DSSE_MEDIA, artifact_type=PROVENANCE_TYPE)
    again = referrers.attach(subject, SBOM, media_type=SBOM_TYPE, artifact_type=SBOM_TYPE)
    assert again == first  # the same bytes make the same manifest
    _, index = get_json(host, subject.repository, referrers.referrers_tag(subject.digest), referrers.INDEX)
    assert [m["digest"] for m in index["manifests"]] == [first.descriptor.digest, second.descriptor.digest]


def test_an_entry_another_tool_wrote_to_the_index_survives_an_attach(image: tuple[ImageRef, bytes], host: str) -> None:
    """The index is extended, never replaced: an entry written by another pusher (with a field ml-ci does not know)
    is kept as it was."""
    subject, _ = image
    other = referrers.attach(subject, b"signature", media_type="application/octet-stream", artifact_type="application/x-sig")
    tag = referrers.referrers_tag(subject.digest)
    foreign = {**other.descriptor.to_json(), "platform": {"os": "linux", "architecture": "amd64"}}
    index = json.dumps({"schemaVersion": 2, "mediaType": referrers.INDEX, "manifests": [foreign]}).encode()
    status, _, _ = http_call(
        "PUT", f"http://{host}/v2/{subject.repository}/manifests/{tag}", index, {"Content-Type": referrers.INDEX}
    )
    assert status == 201
    sbom = referrers.attach(subject, SBOM, media_type=SBOM_TYPE, artifact_type=SBOM_TYPE)
    _, after = get_json(host, subject.repository, tag, referrers.INDEX)
    assert after["manifests"] == [foreign, sbom.descriptor.to_json()]


def test_concurrent_attaches_all_end_up_in_the_index(image: tuple[ImageRef, bytes]) -> None:
    """Distribution 2.8 has no conditional write: eight pushers at once each read, extend and write the index, and
    each looks again after the settle time and puts back what another's write dropped."""
    subject, _ = image
    done: list[str] = []
    failed: list[BaseException] = []

    def attach(i: int) -> None:
        try:
            kind = f"application/vnd.example.{i}"
            done.append(
                referrers.attach(subject, f"artifact {i}".encode(), media_type=kind, artifact_type=kind).descriptor.digest
            )
        except BaseException as e:
            failed.append(e)

    threads = [threading.Thread(target=attach, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not failed
    assert sorted(r.descriptor.digest for r in referrers.discover(subject)) == sorted(done)
    assert len(done) == 8


def test_an_image_with_a_docker_manifest_is_a_subject_too(host: str) -> None:
    """Docker 20.10 pushes Docker's schema 2 manifest, not OCI's: the subject descriptor carries that media type."""
    subject, manifest = push_image(host, f"ml-ci-test/referrers-{uuid.uuid4().hex[:10]}", "v1", types=DOCKER_TYPES)
    sbom = referrers.attach(subject, SBOM, media_type=SBOM_TYPE, artifact_type=SBOM_TYPE)
    _, stored = get_json(host, subject.repository, sbom.descriptor.digest, referrers.MANIFEST)
    assert stored["subject"] == {"mediaType": referrers.DOCKER_MANIFEST, "digest": subject.digest, "size": len(manifest)}
    assert [referrers.fetch(r).content for r in referrers.discover(subject)] == [SBOM]


def test_an_image_with_no_referrers_has_an_empty_list(image: tuple[ImageRef, bytes]) -> None:
    subject, _ = image
    assert referrers.discover(subject) == []


def test_a_tag_that_holds_something_else_is_not_overwritten(image: tuple[ImageRef, bytes], host: str) -> None:
    subject, _ = image
    other, _ = push_image(host, subject.repository, referrers.referrers_tag(subject.digest), label="squatter")
    with pytest.raises(DeployError) as e:
        referrers.attach(subject, SBOM, media_type=SBOM_TYPE, artifact_type=SBOM_TYPE)
    assert "not the OCI image index of the referrers tag schema; ml-ci will not overwrite it" in str(e.value)
    assert referrers.resolve(host, subject.repository, referrers.referrers_tag(subject.digest)).digest == other.digest


def test_attaching_to_a_digest_the_registry_does_not_have_is_a_clear_error(image: tuple[ImageRef, bytes]) -> None:
    subject, _ = image
    missing = ImageRef(subject.registry, subject.repository, "sha256:" + "0" * 64)
    with pytest.raises(DeployError) as e:
        referrers.attach(missing, SBOM, media_type=SBOM_TYPE, artifact_type=SBOM_TYPE)
    assert str(e.value) == (
        f"{subject.registry}/{subject.repository}@sha256:{'0' * 64}: the registry {subject.registry} has no such "
        "manifest; push the image first or check the reference"
    )
    assert e.value.exit_code == 5


def test_an_unreachable_registry_is_an_operational_error_naming_it() -> None:
    port = free_port()  # nothing listens there
    ref = ImageRef(f"127.0.0.1:{port}", "acme/model", "sha256:" + "1" * 64)
    with pytest.raises(OperationalError) as e:
        referrers.discover(ref)
    assert str(e.value).startswith(f"the registry at http://127.0.0.1:{port} does not answer (")


def test_resolve_follows_a_moved_tag(image: tuple[ImageRef, bytes], host: str) -> None:
    subject, _ = image
    assert referrers.resolve_image(f"{host}/{subject.repository}:v1") == subject
    moved, _ = push_image(host, subject.repository, "v1", label="moved")
    assert moved.digest != subject.digest
    assert referrers.resolve_image(f"{host}/{subject.repository}:v1") == moved
    assert referrers.resolve(host, subject.repository, subject.digest).digest == subject.digest  # still there by digest
    with pytest.raises(DeployError, match="names neither a tag nor a digest"):
        referrers.resolve_image(f"{host}/{subject.repository}")


# --- a registry that is not trusted ---------------------------------------------------------------------------------


def flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (flip_last_byte, "the registry sent the artifact blob {digest} as bytes whose digest is sha256:"),
        (lambda b: b + b"\n", "the registry sent more than {size} bytes for the artifact blob {digest}"),
        (lambda b: b[:-1], "the registry sent {short} bytes for the artifact blob {digest}"),
    ],
    ids=["changed", "longer", "shorter"],
)
def test_a_blob_that_does_not_match_its_descriptor_is_refused(
    image: tuple[ImageRef, bytes], host: str, change: Callable[[bytes], bytes], message: str
) -> None:
    subject, _ = image
    sbom, _ = attach_both(subject)
    digest = sha256(SBOM)

    def tamper(ex: Exchange) -> Optional[Exchange]:
        if ex.method == "GET" and ex.path.endswith(f"/blobs/{digest}"):
            ex.response_body = change(ex.response_body)
        return None

    with Proxy(host, after=tamper) as proxy:
        listed = referrers.discover(through(proxy, subject), artifact_type=SBOM_TYPE)
        assert [r.descriptor for r in listed] == [sbom.descriptor]
        with pytest.raises(ArtifactIntegrityError) as e:
            referrers.fetch(listed[0])
    assert message.format(size=len(SBOM), short=len(SBOM) - 1, digest=digest) in str(e.value)
    assert str(e.value).startswith(f"{proxy.host}/{subject.repository}@{digest}: ") and "refused" in str(e.value)
    assert e.value.exit_code == 5


def test_an_artifact_manifest_changed_by_the_registry_is_refused(image: tuple[ImageRef, bytes], host: str) -> None:
    subject, _ = image
    sbom, _ = attach_both(subject)

    def tamper(ex: Exchange) -> Optional[Exchange]:
        if ex.method == "GET" and ex.path.endswith(f"/manifests/{sbom.descriptor.digest}"):
            ex.response_body = ex.response_body.replace(b'"size":', b'"size": ', 1)
        return None

    with Proxy(host, after=tamper) as proxy:
        listed = referrers.discover(through(proxy, subject), artifact_type=SBOM_TYPE)
        with pytest.raises(ArtifactIntegrityError) as e:
            referrers.fetch(listed[0])
    assert f"for the artifact manifest {sbom.descriptor.digest}, whose descriptor says {sbom.descriptor.size}" in str(e.value)


def test_an_artifact_of_another_image_listed_for_this_one_is_refused(image: tuple[ImageRef, bytes], host: str) -> None:
    """Someone writes the other image's SBOM into this image's referrers index: its manifest's own subject gives it away."""
    subject, _ = image
    other, _ = push_image(host, subject.repository, "other", label="other")
    theirs = referrers.attach(other, SBOM, media_type=SBOM_TYPE, artifact_type=SBOM_TYPE)
    index = json.dumps({"schemaVersion": 2, "mediaType": referrers.INDEX, "manifests": [theirs.descriptor.to_json()]}).encode()
    tag = referrers.referrers_tag(subject.digest)
    status, _, _ = http_call(
        "PUT", f"http://{host}/v2/{subject.repository}/manifests/{tag}", index, {"Content-Type": referrers.INDEX}
    )
    assert status == 201
    [listed] = referrers.discover(subject)
    with pytest.raises(ArtifactIntegrityError) as e:
        referrers.fetch(listed)
    assert str(e.value) == (
        f"{host}/{subject.repository}@{theirs.descriptor.digest}: the artifact refers to {other.digest}, not to {subject.digest}"
    )


# --- registries unlike distribution 2.8 ----------------------------------------------------------------------------


def test_a_registry_with_the_referrers_api_is_asked_first_and_keeps_no_tag(image: tuple[ImageRef, bytes], host: str) -> None:
    """A stand-in for the referrers API of distribution 3 and the cloud registries, in front of the real registry:
    it answers OCI-Subject to a manifest pushed with a subject and lists the referrers it saw, as the spec says;
    the client must then write no fallback tag and must read the API's list, filtering it itself."""
    subject, _ = image
    listed: list[dict[str, Any]] = []

    def after(ex: Exchange) -> Optional[Exchange]:
        if ex.method == "PUT" and "/manifests/" in ex.path and ex.status == 201:
            manifest = json.loads(ex.body)
            if "subject" in manifest:
                entry = {"mediaType": manifest["mediaType"], "digest": sha256(ex.body), "size": len(ex.body)}
                entry["artifactType"] = manifest["artifactType"]
                listed.append(entry)
                ex.response_headers["OCI-Subject"] = manifest["subject"]["digest"]
        return None

    def before(ex: Exchange) -> Optional[Exchange]:
        if ex.method == "GET" and f"/referrers/{subject.digest}" in ex.path:
            # One entry a page, the next page named by a Link header, as the spec lets a registry page the list;
            # no OCI-Filters-Applied: this registry ignores ?artifactType=, the client filters.
            page = int(urllib.parse.parse_qs(urllib.parse.urlsplit(ex.path).query).get("page", ["0"])[0])
            body = json.dumps({"schemaVersion": 2, "mediaType": referrers.INDEX, "manifests": listed[page : page + 1]})
            ex.status, ex.response_headers, ex.response_body = 200, {"Content-Type": referrers.INDEX}, body.encode()
            if page + 1 < len(listed):
                ex.response_headers["Link"] = f'</v2/{subject.repository}/referrers/{subject.digest}?page={page + 1}>; rel="next"'
            return ex
        return None

    with Proxy(host, before=before, after=after) as proxy:
        sbom, provenance = attach_both(through(proxy, subject))
        assert [r.descriptor.digest for r in referrers.discover(through(proxy, subject))] == [
            sbom.descriptor.digest,
            provenance.descriptor.digest,
        ]
        found = referrers.discover(through(proxy, subject), artifact_type=PROVENANCE_TYPE)
        assert [r.descriptor.digest for r in found] == [provenance.descriptor.digest]
        assert referrers.fetch(found[0]).content == ENVELOPE
        asked = [ex.path for ex in proxy.seen if "/referrers/" in ex.path]
    first = f"/v2/{subject.repository}/referrers/{subject.digest}"
    assert asked == [first, f"{first}?page=1", f"{first}?artifactType=application%2Fvnd.in-toto%2Bjson", f"{first}?page=1"]
    status, _ = get_json(host, subject.repository, referrers.referrers_tag(subject.digest), referrers.INDEX)
    assert status == 404, "a registry that indexes referrers itself gets no fallback tag"


class TokenService:
    """The Bearer challenge of ghcr.io and Docker Hub, in front of the real registry: /v2/ answers 401 without the
    token, /token hands it out for the right Basic credentials and records the scopes asked for."""

    TOKEN = "test-token-8f2c"

    def __init__(self, user: str, password: str) -> None:
        self.expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.scopes: list[str] = []
        self.proxy: Optional[Proxy] = None

    def before(self, ex: Exchange) -> Optional[Exchange]:
        assert self.proxy is not None
        if ex.path.startswith("/token"):
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(ex.path).query)
            self.scopes.append(query["scope"][0])
            ok = ex.headers.get("Authorization") == self.expected
            ex.status, ex.response_headers = (200 if ok else 401), {"Content-Type": "application/json"}
            ex.response_body = json.dumps({"token": self.TOKEN} if ok else {"errors": []}).encode()
            return ex
        if ex.headers.get("Authorization") != f"Bearer {self.TOKEN}":
            realm = f"http://{self.proxy.host}/token"
            ex.status, ex.response_body = 401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
            ex.response_headers = {"WWW-Authenticate": f'Bearer realm="{realm}",service="test-registry"'}
            return ex
        del ex.headers["Authorization"]  # the real registry behind has no auth
        return None


def test_token_auth_as_ghcr_asks_for_it(image: tuple[ImageRef, bytes], host: str) -> None:
    subject, _ = image
    service = TokenService("ci-bot", "s3cret")
    with Proxy(host, before=service.before) as proxy:
        service.proxy = proxy
        sbom, _ = attach_both(through(proxy, subject), auth=("ci-bot", "s3cret"))
        [found] = referrers.discover(through(proxy, subject), artifact_type=SBOM_TYPE, auth=("ci-bot", "s3cret"))
        assert found.descriptor == sbom.descriptor
        assert referrers.fetch(found, auth=("ci-bot", "s3cret")).content == SBOM
        assert set(service.scopes) == {f"repository:{subject.repository}:pull", f"repository:{subject.repository}:pull,push"}

        with pytest.raises(DeployError) as e:
            referrers.discover(through(proxy, subject), auth=("ci-bot", "wrong"))
    assert str(e.value) == (
        f"{proxy.host}/{subject.repository}: the registry refused a pull token (HTTP 401); "
        "check image.registry_username_env/registry_password_env"
    )
    assert "s3cret" not in str(e.value) and "wrong" not in str(e.value)


def test_basic_auth_as_an_htpasswd_registry_asks_for_it(image: tuple[ImageRef, bytes], host: str) -> None:
    """A registry with htpasswd auth answers 401 with a Basic challenge; the credentials go with the retried request."""
    subject, _ = image
    expected = "Basic " + base64.b64encode(b"ci-bot:s3cret").decode()

    def before(ex: Exchange) -> Optional[Exchange]:
        if ex.headers.get("Authorization") != expected:
            ex.status, ex.response_body = 401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
            ex.response_headers = {"WWW-Authenticate": 'Basic realm="registry"'}
            return ex
        del ex.headers["Authorization"]
        return None

    with Proxy(host, before=before) as proxy:
        sbom = referrers.attach(
            through(proxy, subject), SBOM, media_type=SBOM_TYPE, artifact_type=SBOM_TYPE, auth=("ci-bot", "s3cret")
        )
        [found] = referrers.discover(through(proxy, subject), auth=("ci-bot", "s3cret"))
        assert found == sbom and referrers.fetch(found, auth=("ci-bot", "s3cret")).content == SBOM
        with pytest.raises(DeployError) as e:
            referrers.discover(through(proxy, subject))
    assert str(e.value) == (
        f"{proxy.host}/{subject.repository}@{subject.digest}: GET referrers failed: the registry answered HTTP 401 "
        "(UNAUTHORIZED: authentication required); check image.registry_username_env/registry_password_env"
    )


def test_a_malformed_referrers_index_is_an_error_naming_the_entry(image: tuple[ImageRef, bytes], host: str) -> None:
    subject, _ = image
    sbom = referrers.attach(subject, SBOM, media_type=SBOM_TYPE, artifact_type=SBOM_TYPE)
    broken = {k: v for k, v in sbom.descriptor.to_json().items() if k != "size"}
    index = json.dumps({"schemaVersion": 2, "mediaType": referrers.INDEX, "manifests": [sbom.descriptor.to_json(), broken]})
    tag = referrers.referrers_tag(subject.digest)
    status, _, _ = http_call(
        "PUT", f"http://{host}/v2/{subject.repository}/manifests/{tag}", index.encode(), {"Content-Type": referrers.INDEX}
    )
    assert status == 201
    with pytest.raises(DeployError) as e:
        referrers.discover(subject)
    assert str(e.value) == (
        f"{host}/{subject.repository}@{subject.digest}: referrers[1]: the descriptor of {sbom.descriptor.digest} "
        "has no valid size (None)"
    )


def test_credentials_come_from_the_variables_ml_yaml_names() -> None:
    from ml_ci.config.model import Image

    image = Image(registry="ghcr.io", base="python:3.11-slim", platforms=("linux/amd64",), registry_password_env="REG_TOKEN")
    assert referrers.credentials(image, {"REG_TOKEN": "t0k"}) == ("ml-ci", "t0k")
    with pytest.raises(OperationalError) as e:
        referrers.credentials(image, {})
    assert str(e.value) == "image.registry_password_env names REG_TOKEN, which is not set"
    anonymous = Image(registry="127.0.0.1:5000", base="b", platforms=("linux/amd64",))
    assert referrers.credentials(anonymous, {"REG_TOKEN": "t0k"}) is None
