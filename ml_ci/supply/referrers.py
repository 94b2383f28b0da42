"""Attach artifacts (an SBOM, a signed provenance envelope) to an image in its registry, and find and fetch them.

What OCI 1.1 defines (image-spec 1.1 "artifacts", distribution-spec 1.1 "referrers"): an artifact is an OCI image
manifest with an `artifactType`, the empty config (`application/vnd.oci.empty.v1+json`, `{}`), one layer holding the
artifact's bytes, and a `subject`: the descriptor of the image manifest it speaks about. A registry with the referrers
API (`GET /v2/<name>/referrers/<digest>`: distribution 3, the cloud registries) indexes such manifests itself and says
so with an `OCI-Subject` header when one is pushed. A registry without it (distribution 2.8, Debian's docker-registry)
gets the spec's fallback, the referrers tag schema: the tag `sha256-<hex of the subject digest>` holds an OCI image
index of every referrer's descriptor, which the pusher reads, extends and pushes back. Discovery asks the API first
and reads that tag when the API answers 404, as `oras discover` does.

Why not oras-py (0.2.43, read for this module): its `push` takes a `subject` and manifest annotations, but writes no
`artifactType`, never maintains the referrers tag (so nothing pushed to distribution 2.8 could be discovered), has no
discovery at all, and does not check a downloaded blob against its digest; the rest (blob upload, a manifest PUT, the
Bearer token dance) is a hundred lines of standard library, as ml_ci.deploy.registry already speaks it. That module is
a layer above the build stage, which attaches artifacts after its push, so its client is not imported here.

A registry is not trusted: every manifest and blob fetched is checked against the digest and size of the descriptor
that named it (sha256) before its bytes are returned, and an artifact must name the image asked about as its subject.

Transport as ml_ci.deploy.registry decides it: plain HTTP for a loopback registry (as Docker treats one), HTTPS
elsewhere; anonymous, or the credentials of image.registry_username_env / registry_password_env, sent as Basic or
exchanged for a Bearer token when the registry's WWW-Authenticate challenge asks for one (ghcr.io, Docker Hub).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from ml_ci.errors import DeployError, OperationalError
from ml_ci.records.imageref import ImageRef

if TYPE_CHECKING:
    from ml_ci.config.model import Image

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
# The empty descriptor: config of an artifact that has none (image-spec 1.1, "Guidance for an Empty Descriptor").
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_CONTENT = b"{}"
EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

# Registries must accept manifests of at least 4 MiB (distribution-spec); anything larger sent to us is refused.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
# An SBOM or a provenance envelope is kilobytes to a few megabytes; a bound keeps a hostile registry from filling memory.
MAX_ARTIFACT_BYTES = 64 * 1024 * 1024

_TRANSIENT = (500, 502, 503, 504)
_ATTEMPTS = 4
_ACCEPT_ANY = ", ".join([INDEX, MANIFEST, DOCKER_LIST, DOCKER_MANIFEST])
_LOOPBACK = re.compile(r"^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_ANY_DIGEST = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_REPO = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$")
_HOST = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


class ArtifactIntegrityError(DeployError):
    """What the registry sent does not match the descriptor that named it: refused, exit code 5 like any deploy refusal."""


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor: what a manifest, an index or a referrers list says about one piece of content."""

    media_type: str
    digest: str
    size: int
    artifact_type: Optional[str] = None
    annotations: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @classmethod
    def from_json(cls, data: Any, where: str) -> Descriptor:
        """Parse one descriptor; `where` names it in the error (e.g. 'ghcr.io/acme/m@sha256:...: layers[0]')."""
        if not isinstance(data, dict):
            raise DeployError(f"{where}: a descriptor must be a JSON object, not {type(data).__name__}")
        media_type, digest, size = data.get("mediaType"), data.get("digest"), data.get("size")
        if not isinstance(media_type, str) or not media_type:
            raise DeployError(f"{where}: the descriptor has no mediaType")
        if not isinstance(digest, str) or not _ANY_DIGEST.match(digest):
            raise DeployError(f"{where}: the descriptor's digest {digest!r} is not a digest")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise DeployError(f"{where}: the descriptor of {digest} has no valid size ({size!r})")
        artifact_type = data.get("artifactType")
        annotations = data.get("annotations") or {}
        if artifact_type is not None and not isinstance(artifact_type, str):
            raise DeployError(f"{where}: the artifactType of {digest} is not a string")
        if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
            raise DeployError(f"{where}: the annotations of {digest} are not a map of strings")
        return cls(media_type, digest, size, artifact_type, {str(k): v for k, v in annotations.items()})


@dataclass(frozen=True)
class Referrer:
    """One artifact that refers to `subject`: its manifest's descriptor, as the referrers list gives it. That list is
    not signed: fetch() checks the manifest against this descriptor, and Artifact.annotations are the manifest's."""

    subject: ImageRef
    descriptor: Descriptor

    @property
    def artifact_type(self) -> str:
        return self.descriptor.artifact_type or ""

    @property
    def annotations(self) -> Mapping[str, str]:
        return self.descriptor.annotations

    @property
    def ref(self) -> ImageRef:
        """The artifact's own manifest, by digest, in the subject's repository."""
        return ImageRef(self.subject.registry, self.subject.repository, self.descriptor.digest)


@dataclass(frozen=True)
class Artifact:
    """A fetched artifact: its bytes, checked against `layer`, and the manifest's annotations."""

    referrer: Referrer
    layer: Descriptor
    annotations: Mapping[str, str]
    content: bytes

    @property
    def media_type(self) -> str:
        return self.layer.media_type


def credentials(image: Image, env: Mapping[str, str]) -> Optional[tuple[str, str]]:
    """(user, password) from the variables ml.yaml names for the push (image.registry_*_env); None: anonymous."""
    if not image.registry_password_env:
        return None
    password = env.get(image.registry_password_env)
    if not password:
        raise OperationalError(f"image.registry_password_env names {image.registry_password_env}, which is not set")
    user = env.get(image.registry_username_env, "") if image.registry_username_env else ""
    # ghcr.io and most token services ignore the user name of a token; docker_ops.auth_config sends this one too.
    return (user or "ml-ci", password)


def referrers_tag(digest: str) -> str:
    """The referrers tag schema's tag for a subject digest: `<alg>-<encoded>`, cut to 64 characters after the
    dash, any character a tag may not hold made a '-' (distribution-spec 1.1, "Referrers Tag Schema")."""
    algorithm, _, encoded = digest.partition(":")
    return re.sub(r"[^A-Za-z0-9_.-]", "-", f"{algorithm}-{encoded[:64]}")


def sha256_digest(content: bytes) -> str:
    return "sha256:" + hashlib.sha256(content).hexdigest()


def parse_reference(text: str) -> tuple[str, str, str]:
    """REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:... -> (registry, repository, tag or digest)."""
    if "@" in text:
        name, reference = text.rsplit("@", 1)
        if not _DIGEST.match(reference):
            raise DeployError(f"image {text!r}: {reference!r} is not a sha256 digest (sha256: and 64 lowercase hex digits)")
    else:
        last = text.rsplit("/", 1)[-1]
        if ":" not in last:
            raise DeployError(f"image {text!r} names neither a tag nor a digest: add :TAG or @sha256:...")
        name, reference = text.rsplit(":", 1)
        if not _TAG.match(reference):
            raise DeployError(f"image {text!r}: {reference!r} is not a valid tag")
    host, _, repository = name.partition("/")
    if not repository or not _HOST.match(host) or ("." not in host and ":" not in host and host != "localhost"):
        raise DeployError(f"image {text!r}: name the registry host first, e.g. ghcr.io/acme/model:1.0")
    if ":" in repository.rsplit("/", 1)[-1]:
        raise DeployError(f"image {text!r} carries a tag as well as a digest; give one of them")
    if not _REPO.match(repository):
        raise DeployError(f"image {text!r}: {repository!r} is not a valid repository name")
    return host, repository, reference


# --- transport -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Response:
    status: int
    headers: Mapping[str, str]  # names lower-cased
    body: bytes


class _Client:
    """One registry, one repository: requests with the auth the registry asks for, tokens kept per scope."""

    def __init__(self, registry: str, repository: str, auth: Optional[tuple[str, str]], timeout: float) -> None:
        self.registry, self.repository, self.auth, self.timeout = registry, repository, auth, timeout
        self.base = f"{'http' if _LOOPBACK.match(registry) else 'https'}://{registry}"
        self._authorization: dict[bool, str] = {}  # push scope or not -> Authorization header value
        self.sleep: Callable[[float], None] = time.sleep

    def where(self, digest: str = "") -> str:
        return f"{self.registry}/{self.repository}" + (f"@{digest}" if digest else "")

    def url(self, path: str) -> str:
        return f"{self.base}/v2/{self.repository}/{path}"

    def _send(self, method: str, url: str, headers: Mapping[str, str], body: Optional[bytes], limit: int) -> _Response:
        req = urllib.request.Request(url, data=body, method=method)
        for name, value in headers.items():
            # Authorization must not follow a redirect to blob storage (S3 refuses a request with two kinds of auth).
            if name == "Authorization":
                req.add_unredirected_header(name, value)
            else:
                req.add_header(name, value)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                status, resp_headers, data = resp.status, resp.headers, resp.read(limit + 1)
        except urllib.error.HTTPError as e:
            status, resp_headers = e.code, e.headers
            try:
                data = e.read(64 * 1024)
            except (OSError, http.client.HTTPException):
                data = b""
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            reason = getattr(e, "reason", None) or e
            parts = urllib.parse.urlsplit(url)
            origin = f"{parts.scheme}://{parts.netloc}"
            what = "the registry" if origin == self.base else f"the token service of {self.registry}"
            raise OperationalError(f"{what} at {origin} does not answer ({reason})") from None
        lowered = {k.lower(): v for k, v in (resp_headers.items() if resp_headers is not None else [])}
        return _Response(status, lowered, data)

    def _token(self, challenge: str, push: bool) -> str:
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = params.get("realm", "")
        if not realm:
            raise DeployError(f"{self.where()}: the registry asks for a token but names no realm to get one from")
        scope = f"repository:{self.repository}:{'pull,push' if push else 'pull'}"
        query = urllib.parse.urlencode({"service": params.get("service", ""), "scope": scope})
        headers = {}
        if self.auth:
            if not realm.startswith("https://") and not _LOOPBACK.match(urllib.parse.urlsplit(realm).netloc):
                raise DeployError(f"{self.where()}: the registry's token service {realm} is not HTTPS; not sending credentials")
            headers["Authorization"] = "Basic " + base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
        resp = self._send("GET", f"{realm}?{query}", headers, None, 1024 * 1024)
        if resp.status != 200:
            raise DeployError(
                f"{self.where()}: the registry refused a {'push' if push else 'pull'} token (HTTP {resp.status}); "
                "check image.registry_username_env/registry_password_env"
            )
        try:
            data = json.loads(resp.body)
        except json.JSONDecodeError:
            raise DeployError(f"{self.where()}: the registry's token service sent something that is not JSON") from None
        token = data.get("token") or data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise DeployError(f"{self.where()}: the registry's token service sent no token")
        return f"Bearer {token}"

    def request(
        self,
        method: str,
        url: str,
        *,
        push: bool = False,
        headers: Optional[Mapping[str, str]] = None,
        body: Optional[bytes] = None,
        limit: int = MAX_MANIFEST_BYTES,
        retry: Optional[bool] = None,
    ) -> _Response:
        """One request, answering an auth challenge. A 5xx to an idempotent request (GET, HEAD, or `retry`) is tried
        again: distribution 2.8 answers 500 to a read of a tag that another pusher is writing at that moment."""
        idempotent = method in ("GET", "HEAD") if retry is None else retry
        for attempt in range(_ATTEMPTS):
            resp = self._authorized(method, url, push, headers or {}, body, limit)
            if resp.status not in _TRANSIENT or not idempotent or attempt == _ATTEMPTS - 1:
                break
            self.sleep(0.25 * 2**attempt)
        return resp

    def _authorized(
        self, method: str, url: str, push: bool, headers: Mapping[str, str], body: Optional[bytes], limit: int
    ) -> _Response:
        """Credentials go only to the registry's own host; a token the registry no longer takes is asked for anew."""
        own_host = urllib.parse.urlsplit(url).netloc == urllib.parse.urlsplit(self.base).netloc
        sent = dict(headers)
        cached = self._authorization.get(push) if own_host else None
        if cached:
            sent["Authorization"] = cached
        resp = self._send(method, url, sent, body, limit)
        challenge = resp.headers.get("www-authenticate", "")
        if resp.status != 401 or not own_host:
            return resp
        if challenge.lower().startswith("bearer"):
            fresh = self._token(challenge, push)
        elif challenge.lower().startswith("basic") and self.auth:
            fresh = "Basic " + base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
        else:
            return resp
        if fresh == cached:
            return resp  # the same credentials, refused again
        self._authorization[push] = sent["Authorization"] = fresh
        return self._send(method, url, sent, body, limit)

    def fail(self, resp: _Response, what: str, digest: str = "") -> DeployError | OperationalError:
        """The error for an unexpected answer: the registry, repository and digest, the status and the registry's words."""
        detail = ""
        try:
            errors = json.loads(resp.body).get("errors") or []
            detail = "; ".join(f"{e.get('code', '')}: {e.get('message', '')}" for e in errors if isinstance(e, dict))
        except (json.JSONDecodeError, AttributeError, UnicodeDecodeError):
            pass
        message = f"{self.where(digest)}: {what} failed: the registry answered HTTP {resp.status}" + (
            f" ({detail})" if detail else ""
        )
        if resp.status in (401, 403):
            return DeployError(message + "; check image.registry_username_env/registry_password_env")
        if resp.status >= 500:
            return OperationalError(message)
        return DeployError(message)


def _verify(c: _Client, body: bytes, expected: Descriptor, what: str) -> None:
    """Refuse bytes that are not what `expected` names: the size first (cheap), then the sha256."""
    if not _DIGEST.match(expected.digest):
        raise ArtifactIntegrityError(
            f"{c.where(expected.digest)}: the {what}'s digest uses an algorithm ml-ci does not check (only sha256)"
        )
    if len(body) != expected.size:
        got = f"more than {expected.size}" if len(body) > expected.size else str(len(body))
        raise ArtifactIntegrityError(
            f"{c.where(expected.digest)}: the registry sent {got} bytes for the {what} {expected.digest}, "
            f"whose descriptor says {expected.size}; refused"
        )
    actual = sha256_digest(body)
    if actual != expected.digest:
        raise ArtifactIntegrityError(
            f"{c.where(expected.digest)}: the registry sent the {what} {expected.digest} as bytes whose digest is "
            f"{actual}; refused (the content was changed, or the registry is not the one it claims to be)"
        )


def _json(c: _Client, body: bytes, what: str, digest: str = "") -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DeployError(f"{c.where(digest)}: the {what} is not JSON") from None
    if not isinstance(data, dict):
        raise DeployError(f"{c.where(digest)}: the {what} is not a JSON object")
    return data


def _get_manifest(c: _Client, reference: str, accept: str) -> Optional[tuple[bytes, str]]:
    """(bytes, media type) of the manifest at a tag or digest; None when the registry has none."""
    resp = c.request("GET", c.url(f"manifests/{reference}"), headers={"Accept": accept})
    if resp.status == 404:
        return None
    if resp.status != 200:
        raise c.fail(resp, f"GET manifest {reference}")
    if len(resp.body) > MAX_MANIFEST_BYTES:
        raise DeployError(f"{c.where()}: the manifest at {reference} is larger than {MAX_MANIFEST_BYTES} bytes; refused")
    media_type = resp.headers.get("content-type", "").split(";")[0].strip()
    try:
        declared = json.loads(resp.body).get("mediaType")
    except (json.JSONDecodeError, AttributeError, UnicodeDecodeError):
        declared = None
    return resp.body, (declared if isinstance(declared, str) and declared else media_type)


def _resolve(c: _Client, reference: str) -> Descriptor:
    found = _get_manifest(c, reference, _ACCEPT_ANY)
    if found is None:
        raise DeployError(
            f"{c.where(reference) if _DIGEST.match(reference) else c.where() + ':' + reference}: the registry "
            f"{c.registry} has no such manifest; push the image first or check the reference"
        )
    body, media_type = found
    digest = sha256_digest(body)
    if _DIGEST.match(reference) and digest != reference:
        raise ArtifactIntegrityError(
            f"{c.where(reference)}: the registry sent a manifest whose digest is {digest}, not {reference}; refused"
        )
    return Descriptor(media_type, digest, len(body))


def _push_blob(c: _Client, content: bytes, digest: str) -> None:
    head = c.request("HEAD", c.url(f"blobs/{digest}"), push=True)
    if head.status == 200:
        return  # content-addressed: the bytes are already there
    start = c.request("POST", c.url("blobs/uploads/"), push=True, body=b"", headers={"Content-Length": "0"})
    location = start.headers.get("location", "")
    if start.status != 202 or not location:
        raise c.fail(start, f"starting the upload of blob {digest}")
    url = urllib.parse.urljoin(c.base + "/", location)
    url += ("&" if "?" in url else "?") + urllib.parse.urlencode({"digest": digest})
    done = c.request(
        "PUT",
        url,
        push=True,
        body=content,
        headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(content))},
    )
    if done.status != 201:
        raise c.fail(done, f"uploading blob {digest}")


def _put_manifest(c: _Client, reference: str, body: bytes, media_type: str) -> _Response:
    resp = c.request(
        "PUT",
        c.url(f"manifests/{reference}"),
        push=True,
        body=body,
        headers={"Content-Type": media_type, "Content-Length": str(len(body))},
        retry=True,  # a PUT of the same manifest to the same reference is idempotent
    )
    if resp.status != 201:
        raise c.fail(resp, f"PUT manifest {reference}")
    return resp


def _canonical(document: Mapping[str, Any]) -> bytes:
    # Sorted and compact, so that the same artifact pushed twice is the same manifest (the same digest).
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# --- the referrers tag schema ----------------------------------------------------------------------------------------


def _read_tag_index(c: _Client, tag: str, subject: str) -> list[dict[str, Any]]:
    """The raw descriptors the fallback tag's index lists (kept raw, so that a field we do not know survives a rewrite)."""
    # Accept every manifest type: distribution 2.8 answers 404 for a manifest of a type the client does not accept,
    # and a tag that looked empty would then be overwritten.
    found = _get_manifest(c, tag, _ACCEPT_ANY)
    if found is None:
        return []
    body, media_type = found
    data = _json(c, body, f"referrers index at tag {tag}", subject)
    if media_type != INDEX or not isinstance(data.get("manifests"), list):
        raise DeployError(
            f"{c.where(subject)}: the tag {tag} holds a {media_type or 'manifest'}, not the OCI image index of the "
            "referrers tag schema; ml-ci will not overwrite it (another tool uses that tag: delete it or use a registry "
            "with the referrers API)"
        )
    return [m for m in data["manifests"] if isinstance(m, dict)]


def _add_to_tag_index(c: _Client, subject: str, entry: Descriptor, *, attempts: int = 8, settle_s: float = 0.5) -> None:
    """Read the index, add `entry`, push it back. A registry without the referrers API has no conditional write: a
    pusher that read the tag before this write and writes after it drops what this one added. So this writer looks
    again once such a pusher would have written (`settle_s` later) and writes the union of every entry it has seen
    until all are there. It never drops an entry it has read; an entry can still be lost to a pusher whose read and
    write lie more than `settle_s` apart (its manifest stays in the registry: attaching it again lists it again)."""
    tag = referrers_tag(subject)
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(attempts):
        current = _read_tag_index(c, tag, subject)
        for raw in current:
            if isinstance(raw.get("digest"), str):
                seen.setdefault(raw["digest"], raw)
        seen.setdefault(entry.digest, entry.to_json())
        if set(seen) <= {raw.get("digest") for raw in current}:
            return  # listed, and (after a write and the settle time) still listed with everything seen before
        index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": list(seen.values())}
        _put_manifest(c, tag, _canonical(index), INDEX)
        c.sleep(settle_s)
    raise OperationalError(
        f"{c.where(subject)}: other pushers kept rewriting the referrers tag {tag} ({attempts} attempts); attach again"
    )


# --- the public functions --------------------------------------------------------------------------------------------


def resolve(
    registry: str, repository: str, reference: str, *, auth: Optional[tuple[str, str]] = None, timeout: float = 30
) -> Descriptor:
    """The descriptor (media type, sha256 digest of the bytes, size) of the manifest a tag or digest names now.
    The digest is computed from the bytes received, never taken from a header, so a moved tag shows as a new digest."""
    return _resolve(_Client(registry, repository, auth, timeout), reference)


def resolve_image(text: str, *, auth: Optional[tuple[str, str]] = None, timeout: float = 30) -> ImageRef:
    """REGISTRY/REPOSITORY:TAG (or @DIGEST, then checked to exist) -> the ImageRef of the manifest it names now."""
    registry, repository, reference = parse_reference(text)
    return ImageRef(registry, repository, resolve(registry, repository, reference, auth=auth, timeout=timeout).digest)


def attach(
    subject: ImageRef,
    content: bytes,
    *,
    media_type: str,
    artifact_type: str,
    annotations: Optional[Mapping[str, str]] = None,
    auth: Optional[tuple[str, str]] = None,
    timeout: float = 30,
) -> Referrer:
    """Push `content` as an OCI 1.1 artifact whose subject is the image `subject` names, and make it discoverable
    (the registry's referrers API when it says it indexed it, else the referrers tag schema). Pushing the same
    bytes with the same annotations again is the same manifest and adds no second entry."""
    if not media_type or not artifact_type:
        raise DeployError(f"{subject}: an artifact needs a media type and an artifactType")
    c = _Client(subject.registry, subject.repository, auth, timeout)
    target = _resolve(c, subject.digest)
    layer = Descriptor(media_type, sha256_digest(content), len(content))
    _push_blob(c, EMPTY_CONTENT, EMPTY_DIGEST)
    _push_blob(c, content, layer.digest)
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": EMPTY_DIGEST, "size": len(EMPTY_CONTENT)},
        "layers": [layer.to_json()],
        "subject": Descriptor(target.media_type, target.digest, target.size).to_json(),
    }
    if annotations:
        manifest["annotations"] = {str(k): str(v) for k, v in annotations.items()}
    body = _canonical(manifest)
    descriptor = Descriptor(MANIFEST, sha256_digest(body), len(body), artifact_type, dict(annotations or {}))
    resp = _put_manifest(c, descriptor.digest, body, MANIFEST)
    # OCI-Subject: the registry indexed the subject itself (it has the referrers API); otherwise the client keeps the tag.
    if resp.headers.get("oci-subject") != subject.digest:
        _add_to_tag_index(c, subject.digest, descriptor)
    return Referrer(subject, descriptor)


def _next_page(link: str) -> Optional[str]:
    """The target of a `Link: <url>; rel="next"` header (RFC 8288), as the referrers API pages a long list."""
    for part in link.split(","):
        match = re.match(r"\s*<([^>]*)>\s*;(.*)$", part)
        if match and re.search(r'rel="?next"?', match.group(2)):
            return match.group(1)
    return None


def _referrers_api(
    c: _Client, subject: str, artifact_type: Optional[str], max_pages: int = 100
) -> Optional[list[dict[str, Any]]]:
    """The referrers API's list, every page of it, or None when the registry has no such API (it answers 404)."""
    query = "?" + urllib.parse.urlencode({"artifactType": artifact_type}) if artifact_type else ""
    url = c.url(f"referrers/{subject}{query}")
    found: list[dict[str, Any]] = []
    for page in range(max_pages):
        resp = c.request("GET", url, headers={"Accept": INDEX})
        if resp.status == 404 and page == 0:
            return None
        if resp.status != 200:
            raise c.fail(resp, "GET referrers", subject)
        data = _json(c, resp.body, "referrers list", subject)
        manifests = data.get("manifests")
        if not isinstance(manifests, list):
            raise DeployError(f"{c.where(subject)}: the referrers list has no manifests array")
        found.extend(m for m in manifests if isinstance(m, dict))
        link = _next_page(resp.headers.get("link", ""))
        if link is None:
            return found
        url = urllib.parse.urljoin(c.base + "/", link)
    raise DeployError(f"{c.where(subject)}: the referrers list goes on for more than {max_pages} pages; refused")


def discover(
    subject: ImageRef,
    *,
    artifact_type: Optional[str] = None,
    auth: Optional[tuple[str, str]] = None,
    timeout: float = 30,
) -> list[Referrer]:
    """The artifacts that refer to `subject` (of `artifact_type` only, when given), in the order they were listed.
    The list itself is not signed: fetch() checks each artifact's manifest against its descriptor and its subject."""
    c = _Client(subject.registry, subject.repository, auth, timeout)
    raw = _referrers_api(c, subject.digest, artifact_type)
    if raw is None:
        raw = _read_tag_index(c, referrers_tag(subject.digest), subject.digest)
    found: list[Referrer] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw):
        d = Descriptor.from_json(entry, f"{c.where(subject.digest)}: referrers[{i}]")
        if d.digest in seen or (artifact_type is not None and d.artifact_type != artifact_type):
            continue  # a registry may ignore the filter (no OCI-Filters-Applied): it is applied here either way
        seen.add(d.digest)
        found.append(Referrer(subject, d))
    return found


def fetch(
    referrer: Referrer,
    *,
    auth: Optional[tuple[str, str]] = None,
    timeout: float = 30,
    max_bytes: int = MAX_ARTIFACT_BYTES,
) -> Artifact:
    """The artifact's bytes, each fetched manifest and blob checked against its descriptor (size and sha256), the
    manifest checked to name referrer.subject as its subject and to be of the artifactType it was listed with."""
    c = _Client(referrer.subject.registry, referrer.subject.repository, auth, timeout)
    d = referrer.descriptor
    where = c.where(d.digest)
    if d.media_type != MANIFEST:
        raise DeployError(f"{where}: the artifact is a {d.media_type}; ml-ci reads artifacts that are OCI image manifests")
    found = _get_manifest(c, d.digest, MANIFEST)
    if found is None:
        raise DeployError(f"{where}: the registry lists this artifact but has no manifest for it")
    body, _ = found
    _verify(c, body, d, "artifact manifest")
    manifest = _json(c, body, "artifact manifest", d.digest)
    if manifest.get("mediaType") != MANIFEST:
        raise DeployError(f"{where}: the manifest says it is a {manifest.get('mediaType')!r}, not an OCI image manifest")
    subject = Descriptor.from_json(manifest.get("subject"), f"{where}: subject")
    if subject.digest != referrer.subject.digest:
        raise ArtifactIntegrityError(f"{where}: the artifact refers to {subject.digest}, not to {referrer.subject.digest}")
    config = manifest.get("config")
    artifact_type = manifest.get("artifactType") or (config.get("mediaType") if isinstance(config, dict) else None)
    if d.artifact_type and artifact_type != d.artifact_type:
        raise ArtifactIntegrityError(f"{where}: the artifact is a {artifact_type!r}, listed as a {d.artifact_type!r}")
    layers = manifest.get("layers")
    if not isinstance(layers, list) or len(layers) != 1:
        count = len(layers) if isinstance(layers, list) else 0
        raise DeployError(f"{where}: an ml-ci artifact has exactly one layer, this manifest has {count}")
    layer = Descriptor.from_json(layers[0], f"{where}: layers[0]")
    if layer.size > max_bytes:
        raise DeployError(f"{where}: the artifact's blob {layer.digest} is {layer.size} bytes, over the {max_bytes} allowed")
    resp = c.request("GET", c.url(f"blobs/{layer.digest}"), limit=layer.size)
    if resp.status != 200:
        raise c.fail(resp, f"GET blob {layer.digest}", d.digest)
    _verify(c, resp.body, layer, "artifact blob")
    annotations = manifest.get("annotations") or {}
    if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
        raise DeployError(f"{where}: the manifest's annotations are not a map of strings")
    return Artifact(referrer, layer, {str(k): v for k, v in annotations.items()}, resp.body)
