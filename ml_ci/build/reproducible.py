"""Make the built image a function of its inputs: the same inputs give the same image ID and digest.

Docker's classic builder (the only one of Debian's docker.io 20.10; its BuildKit predates v0.11 and
ignores SOURCE_DATE_EPOCH) stamps an image with the clock and the machine: `created` in the config
and in each history entry, the id of the last build container, the parent image id (itself made of
timestamps), and file mtimes in each layer, whose entries come in the order of the filesystem's
directory listing. So the built image is exported (`docker save`), normalized here, and loaded back:

- each layer that is not the base image's: entries sorted by path, every mtime set to the epoch, the
  access and change times dropped. Set, not clamped as BuildKit's `rewrite-timestamp` does: a layer
  reused from the engine's cache was made at an earlier time, which may be before the epoch; and
  nothing in these layers has a time of its own (pip does not keep a wheel's file times);
- the config: `created` and every history entry's set to the epoch; the build container, its config,
  the parent image id and the engine version dropped; written as sorted, compact JSON.

The base image's layers are kept byte for byte: pinned by digest, they are inputs like the model.
Pure functions on files and dicts; `docker_ops` does the saving and loading.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

# PAX records that carry times: the clock of the build, not the content.
TIME_RECORDS = ("mtime", "atime", "ctime", "LIBARCHIVE.creationtime")
# What the classic builder puts into a config that names the build, not the image.
VOLATILE_CONFIG = ("container", "container_config", "docker_version")


def rfc3339(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def normalize_config(config: Mapping[str, Any], epoch: int, diff_ids: Sequence[str]) -> bytes:
    """The image config with its clock and build-machine fields removed, as canonical JSON bytes."""
    out = {k: v for k, v in config.items() if k not in VOLATILE_CONFIG}
    out["created"] = rfc3339(epoch)
    out["history"] = [{**h, "created": rfc3339(epoch)} for h in config.get("history", [])]
    run_config = dict(out.get("config") or {})
    # The previous build step's image id: made of that step's timestamps.
    run_config.pop("Image", None)
    run_config["Hostname"] = ""
    out["config"] = run_config
    out["rootfs"] = {"type": "layers", "diff_ids": list(diff_ids)}
    return json.dumps(out, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _sorted_members(members: list[tarfile.TarInfo]) -> tuple[list[tarfile.TarInfo], dict[str, str]]:
    """By path, so the order no longer depends on the filesystem; a hard link's group is re-pointed
    at whichever of its names now comes first, since a link may only name an earlier entry. Also
    returns, for an entry that now holds a group's data, the name it was stored under."""
    ordered = sorted(members, key=lambda m: m.name)
    by_name = {m.name: m for m in ordered}
    position = {m.name: i for i, m in enumerate(ordered)}
    groups: dict[str, list[tarfile.TarInfo]] = {}
    for m in ordered:
        if m.islnk() and m.linkname in by_name:
            groups.setdefault(m.linkname, [by_name[m.linkname]]).append(m)
    data_from: dict[str, str] = {}
    for group in groups.values():
        first = min(group, key=lambda m: position[m.name])
        target = group[0]  # the regular file that holds the data
        if first is target:
            continue
        kind, size = target.type, target.size
        for m in group:
            if m is first:
                m.type, m.linkname, m.size = kind, "", size
                data_from[m.name] = target.name
            else:
                m.type, m.linkname, m.size = tarfile.LNKTYPE, first.name, 0
    return ordered, data_from


def normalize_layer(source: Path, target: Path, epoch: int) -> str:
    """Rewrite one layer tar (entries sorted, times set to the epoch); the sha256 of the result, its diff id."""
    # "r:*": an engine with the containerd image store may save layers compressed; the diff id is of the tar.
    with tarfile.open(source, "r:*") as tin:
        members = tin.getmembers()
        originals = {m.name: m for m in members}
        ordered, data_from = _sorted_members([_copy_member(m) for m in members])
        with target.open("wb") as raw:
            digest = _HashingWriter(raw)
            with tarfile.open(fileobj=digest, mode="w", format=tarfile.PAX_FORMAT) as tout:  # type: ignore[call-overload]
                for m in ordered:
                    m.mtime = epoch
                    m.pax_headers = {k: v for k, v in m.pax_headers.items() if k not in TIME_RECORDS}
                    if m.isreg():
                        with tin.extractfile(originals[data_from.get(m.name, m.name)]) as f:  # type: ignore[union-attr]
                            tout.addfile(m, f)
                    else:
                        tout.addfile(m)
    return f"sha256:{digest.hexdigest()}"


def _copy_member(m: tarfile.TarInfo) -> tarfile.TarInfo:
    c = tarfile.TarInfo(m.name)
    for attr in ("size", "mtime", "mode", "type", "linkname", "uid", "gid", "uname", "gname", "devmajor", "devminor"):
        setattr(c, attr, getattr(m, attr))
    c.pax_headers = dict(m.pax_headers)
    return c


class _HashingWriter:
    """A write-only file that hashes what passes through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw, self.hash = raw, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        return self.raw.write(data)

    def tell(self) -> int:
        return self.raw.tell()

    def hexdigest(self) -> str:
        return self.hash.hexdigest()


@dataclass(frozen=True)
class Normalized:
    image_id: str  # sha256:<digest of the config bytes>, what `docker load` will call it
    archive: Path  # a `docker load` archive
    rewritten: int  # how many layers were rewritten (the others are the base image's)


def normalize_saved(
    saved: Path, work: Path, *, base_diff_ids: Sequence[str], epoch: int, repo_tags: Sequence[str] = ()
) -> Normalized:
    """`docker save` archive in, `docker load` archive out, with the image made reproducible.

    The first layers, as long as they are the base image's (by diff id), are kept as they are."""
    unpacked = work / "saved"
    with tarfile.open(saved, "r:") as tar:
        tar.extractall(unpacked, filter="data")  # type: ignore[call-arg]
    manifest = json.loads((unpacked / "manifest.json").read_text(encoding="utf-8"))
    if len(manifest) != 1:
        raise ValueError(f"{saved}: expected one image in the archive, found {len(manifest)}")
    entry = manifest[0]
    config = json.loads((unpacked / entry["Config"]).read_text(encoding="utf-8"))
    old_ids: list[str] = list(config["rootfs"]["diff_ids"])
    layers: list[str] = list(entry["Layers"])
    if len(layers) != len(old_ids):
        raise ValueError(f"{saved}: {len(layers)} layer files for {len(old_ids)} diff ids")
    kept = 0
    while kept < min(len(base_diff_ids), len(old_ids)) and old_ids[kept] == base_diff_ids[kept]:
        kept += 1

    out = work / "load"
    out.mkdir(parents=True)
    new_ids, names = [], []
    for i, (name, old_id) in enumerate(zip(layers, old_ids, strict=True)):
        if i < kept:
            diff_id = old_id
            target = out / f"{diff_id.split(':', 1)[1]}.tar"
            shutil.move(str(unpacked / name), target)
        else:
            staged = out / f"layer-{i}.tar"
            diff_id = normalize_layer(unpacked / name, staged, epoch)
            target = out / f"{diff_id.split(':', 1)[1]}.tar"
            staged.replace(target)
        new_ids.append(diff_id)
        names.append(target.name)
    config_bytes = normalize_config(config, epoch, new_ids)
    config_digest = hashlib.sha256(config_bytes).hexdigest()
    (out / f"{config_digest}.json").write_bytes(config_bytes)
    load_manifest = [{"Config": f"{config_digest}.json", "RepoTags": list(repo_tags), "Layers": names}]
    (out / "manifest.json").write_text(json.dumps(load_manifest), encoding="utf-8")
    archive = work / "load.tar"
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(out.iterdir()):
            tar.add(path, arcname=path.name)
    shutil.rmtree(unpacked, ignore_errors=True)
    return Normalized(image_id=f"sha256:{config_digest}", archive=archive, rewritten=len(layers) - kept)
