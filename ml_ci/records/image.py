"""build/image.json: what `ml-ci build` says of the image it built (and pushed), read by deploy.

Deploy needs one thing from it, the image by digest (`read_reference`), and takes hand-made records too
(`image`, `reference` or `ref` holding REPO@sha256:..., or `repository` and `digest`), as it always has.

Version 1 is the format before records were versioned, so its files carry no `version` key; a change
of format writes `"version": 2` and says here what reads version 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ml_ci.errors import DeployError, OperationalError
from ml_ci.jsonfile import read_json
from ml_ci.records.imageref import ImageRef, parse

FILE = "image.json"  # in the build folder (ml_ci.pipeline.layout.IMAGE_RECORD)
VERSION = 1


@dataclass(frozen=True, kw_only=True)
class ImageRecord:
    repository: str
    tags: tuple[str, ...]
    image_id: str
    size: Optional[int]  # bytes, as the engine reports them; None when it does not
    labels: dict[str, str]
    source_date_epoch: int
    verification: dict[str, Any]  # what the image check found (ml_ci.build.verify), opaque here
    pushed: bool
    digest: Optional[str]  # None until pushed
    reference: str  # REPO@sha256:... once pushed, else the first tag's REPO:TAG
    version: int = VERSION

    def data(self) -> dict[str, Any]:
        """The JSON object, in the order `ml-ci build` has always written it."""
        out: dict[str, Any] = {
            "repository": self.repository,
            "tags": list(self.tags),
            "image_id": self.image_id,
            "size": self.size,
            "labels": self.labels,
            "source_date_epoch": self.source_date_epoch,
            "verification": self.verification,
            "pushed": self.pushed,
            "digest": self.digest,
            "reference": self.reference,
        }
        if self.version != 1:
            out["version"] = self.version
        return out

    @classmethod
    def from_data(cls, data: Any) -> ImageRecord:
        """KeyError, TypeError or ValueError when it is not what `ml-ci build` writes."""
        if not isinstance(data, dict):
            raise TypeError(f"expected a JSON object, got {type(data).__name__}")
        size = data["size"]
        return cls(
            repository=str(data["repository"]),
            tags=tuple(str(t) for t in data["tags"]),
            image_id=str(data["image_id"]),
            size=None if size is None else int(size),
            labels={str(k): str(v) for k, v in dict(data["labels"]).items()},
            source_date_epoch=int(data["source_date_epoch"]),
            verification=dict(data["verification"]),
            pushed=bool(data["pushed"]),
            digest=None if data["digest"] is None else str(data["digest"]),
            reference=str(data["reference"]),
            version=int(data.get("version", 1)),
        )


def read(path: Path) -> ImageRecord:
    """OperationalError naming the file when it is absent, not JSON or not what `ml-ci build` writes."""
    data = read_json(path, "the image record", "run `ml-ci build`")
    try:
        return ImageRecord.from_data(data)
    except KeyError as e:
        raise OperationalError(f"{path}: the image record has no {e}; run `ml-ci build` again") from None
    except (TypeError, ValueError) as e:
        raise OperationalError(f"{path}: the image record is not one `ml-ci build` writes: {e}") from None


def write(path: Path, record: ImageRecord) -> None:
    """path, whole or not at all."""
    from ml_ci.atomic import write_json

    write_json(path, record.data())


def reference(data: Any, source: str) -> ImageRef:
    """The digest reference from an image record as parsed (`image` or `reference` holds REPO@sha256:...)."""
    if isinstance(data, dict):
        for key in ("image", "reference", "ref"):
            value = data.get(key)
            if isinstance(value, str) and "@" in value:
                return parse(value)
        if data.get("pushed") is False:
            raise DeployError(
                f"{source}: the image was built but not pushed; deploys need it in the registry (`ml-ci build --push`)"
            )
        repo, digest = data.get("repository"), data.get("digest")
        if isinstance(repo, str) and isinstance(digest, str):
            return parse(f"{repo}@{digest}")
    raise DeployError(f'{source}: no image reference by digest in it (expected "image": "REGISTRY/REPO@sha256:...")')


def read_reference(path: Path) -> ImageRef:
    """The image by digest that the record at path names; OperationalError when absent or not JSON,
    DeployError when it names none."""
    return reference(read_json(path, "the image record", "run `ml-ci build --push` or pass --image"), str(path))
