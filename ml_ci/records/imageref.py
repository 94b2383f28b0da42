"""Image references by digest: `registry/repository@sha256:<64 hex>`, never a tag: what the build
record names and a release record pins (ml_ci.records.release), and what deploy ships."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ml_ci.errors import DeployError

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# registry host[:port] / path components, as the distribution spec names them.
_REPO = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$")
_HOST = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


@dataclass(frozen=True)
class ImageRef:
    registry: str
    repository: str
    digest: str

    @property
    def name(self) -> str:
        """registry/repository, without the digest."""
        return f"{self.registry}/{self.repository}"

    def __str__(self) -> str:
        return f"{self.name}@{self.digest}"

    @property
    def short(self) -> str:
        return self.digest.removeprefix("sha256:")[:12]


def parse(text: str) -> ImageRef:
    """Parse REGISTRY/REPO@sha256:...; a tag (or a tag plus digest) is refused: what runs must be exact."""
    if "@" not in text:
        raise DeployError(
            f"image {text!r} has no digest: give REGISTRY/REPOSITORY@sha256:<digest> (ml-ci deploys by digest, never by tag)"
        )
    name, digest = text.rsplit("@", 1)
    if not _DIGEST.match(digest):
        raise DeployError(f"image {text!r}: {digest!r} is not a sha256 digest (sha256: and 64 lowercase hex digits)")
    host, _, repository = name.partition("/")
    if not repository or not _HOST.match(host) or ("." not in host and ":" not in host and host != "localhost"):
        raise DeployError(f"image {text!r}: name the registry host first, e.g. ghcr.io/acme/model@{digest[:15]}...")
    last = repository.rsplit("/", 1)[-1]
    if ":" in last:
        raise DeployError(f"image {text!r} carries a tag as well as a digest; drop the tag (deploys are by digest only)")
    if not _REPO.match(repository):
        raise DeployError(f"image {text!r}: {repository!r} is not a valid repository name")
    return ImageRef(host, repository, digest)
