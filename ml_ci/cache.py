"""The content-addressed stage cache: an unchanged rerun restores a stage's artifact folder.

A stage names its inputs (config sections, data fingerprints, base model identity, params) as a
JSON-able mapping; the key is the sha256 of that mapping with the stage name and ml-ci's version.
Entries live in `<repo>/.ml-ci/cache/<stage>/<key>/` as a copy of the artifact folder plus a
manifest of each file's sha256. Entries are written to a temporary folder and renamed into place;
an entry whose files do not match its manifest is a miss (and is removed, with a warning naming the
stage, the key and what did not match), never an error.

    cache = StageCache(layout.cache)
    key = cache_key("train", inputs)
    if not cache.restore("train", key, artifacts):
        ... compute into artifacts ...
        cache.store("train", key, artifacts)

The other stages go through `through_cache`, which also honours `--no-cache` (`ML_CI_NO_CACHE`)
and keys that cannot see their data (`unpinned`), and `announce`, which tells `ml-ci run` and the
Actions runner whether the stage was a hit.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from ml_ci import __version__
from ml_ci.atomic import staged_dir
from ml_ci.digest import file_sha256
from ml_ci.github.actions_io import set_output

MANIFEST = "manifest.json"
FILES = "files"
# Every cached stage's `--no-cache` flag reads this too, so `ml-ci run --no-cache` reaches them all.
NO_CACHE_ENV = "ML_CI_NO_CACHE"
T = TypeVar("T")


def canonical_json(value: Any) -> str:
    """One spelling per value: sorted keys, no spaces, tuples as lists, paths as strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def cache_key(stage: str, inputs: Mapping[str, Any], *, version: str = __version__) -> str:
    """sha256 over the stage, ml-ci's version and the inputs; a change to any of them is a new key."""
    payload = canonical_json({"stage": stage, "ml_ci": version, "inputs": inputs})
    return hashlib.sha256(payload.encode()).hexdigest()


def folder_manifest(folder: Path) -> dict[str, str]:
    """Relative POSIX path -> sha256 of every file under folder (links are refused by the caller's copy)."""
    return {p.relative_to(folder).as_posix(): file_sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def folder_digest(folder: Path) -> str:
    """One sha256 for a folder's names and contents, e.g. the `model-digest` of a trained model."""
    return "sha256:" + hashlib.sha256(canonical_json(folder_manifest(folder)).encode()).hexdigest()


def value_digest(value: Any) -> str:
    """sha256 of a JSON-able value's canonical spelling: a key input too large to hold whole (a baseline)."""
    return "sha256:" + hashlib.sha256(canonical_json(value).encode()).hexdigest()


def optional_file_digest(path: Path) -> str | None:
    """sha256 of a file a stage reads when it is there (absent is an input too: None)."""
    return "sha256:" + file_sha256(path) if path.is_file() else None


def unpinned(fingerprints: Mapping[str, str]) -> list[str]:
    """Roles whose content a key cannot see: hub splits without a revision may change upstream."""
    return sorted(role for role, fp in fingerprints.items() if fp.split("#")[0].endswith("@unpinned"))


def _copy_tree(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest, symlinks=False, dirs_exist_ok=True)


def mismatch(expected: Mapping[str, str], actual: Mapping[str, str]) -> str | None:
    """What differs between a manifest and the files on disk, in words (None when they agree)."""
    parts = []
    for what, names in (
        ("changed", [n for n in expected if n in actual and actual[n] != expected[n]]),
        ("missing", [n for n in expected if n not in actual]),
        ("not in the manifest", [n for n in actual if n not in expected]),
    ):
        if names:
            shown = ", ".join(sorted(names)[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            parts.append(f"{what}: {shown}")
    return "; ".join(parts) or None


def _damage(entry: Path, key: str) -> str | None:
    """Why an entry cannot be trusted, or None when it is intact."""
    try:
        manifest = json.loads((entry / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return f"its {MANIFEST} cannot be read ({e.__class__.__name__})"
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        return f"its {MANIFEST} has no file list"
    if manifest.get("key") != key:
        return f"its {MANIFEST} names the key {str(manifest.get('key'))[:16]}"
    try:
        actual = folder_manifest(entry / FILES)
    except OSError as e:
        return f"its files cannot be read ({e})"
    diff = mismatch(manifest["files"], actual)
    return f"files differ from the sha256s in its {MANIFEST} ({diff})" if diff else None


class StageCache:
    def __init__(self, root: Path, *, warn: Callable[[str], None] | None = None) -> None:
        self.root = root
        # A damaged entry is a miss, but a silent one would hide a failing disk or a hand edit.
        self.warn = warn or (lambda line: print(line, file=sys.stderr, flush=True))

    def entry(self, stage: str, key: str) -> Path:
        return self.root / stage / key

    def lookup(self, stage: str, key: str) -> Path | None:
        """The entry's files folder when the entry is complete and intact; a damaged one is removed, with a warning."""
        entry = self.entry(stage, key)
        if not (entry / MANIFEST).is_file():
            if not entry.is_dir():
                return None
            why: str | None = f"it has no {MANIFEST}"  # entries are renamed into place whole: never half-written
        else:
            why = _damage(entry, key)
        if why is not None:
            shutil.rmtree(entry, ignore_errors=True)
            self.warn(f"warning: {stage}: cache entry {key[:16]} is damaged: {why}; removed it, computing again ({entry})")
            return None
        return entry / FILES

    def store(self, stage: str, key: str, folder: Path, *, meta: Mapping[str, Any] | None = None, replace: bool = False) -> Path:
        """Copy folder into the cache under key (a no-op when an intact entry exists, unless replace)."""
        if not replace and self.lookup(stage, key) is not None:
            return self.entry(stage, key)
        entry = self.entry(stage, key)
        with staged_dir(entry) as tmp:
            _copy_tree(folder, tmp / FILES)
            manifest = {
                "key": key,
                "stage": stage,
                "ml_ci": __version__,
                "files": folder_manifest(tmp / FILES),
                "meta": dict(meta or {}),
            }
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return entry

    def restore(self, stage: str, key: str, dest: Path) -> bool:
        """Put the cached artifact folder at dest (atomically); False on a miss."""
        files = self.lookup(stage, key)
        if files is None:
            return False
        with staged_dir(dest) as tmp:
            _copy_tree(files, tmp)
        return True


class Mode(Enum):
    """How a stage uses its cache entry."""

    ON = "on"  # restore on a hit, store on a miss
    REFRESH = "refresh"  # --no-cache: recompute, and replace the entry with the fresh result
    OFF = "off"  # the key cannot see every input (unpinned): neither restore nor store


def mode(*, no_cache: bool, unseen: list[str]) -> Mode:
    return Mode.OFF if unseen else Mode.REFRESH if no_cache else Mode.ON


@dataclass(frozen=True)
class Cached:
    """Where a stage's artifact came from."""

    stage: str
    key: str
    mode: Mode
    hit: bool


def through_cache(
    cache: StageCache,
    stage: str,
    key: str,
    dest: Path,
    *,
    mode: Mode,
    compute: Callable[[], T],
    restored: Callable[[], T],
    keep: Callable[[T], bool] = lambda _: True,
) -> tuple[T, Cached]:
    """Restore dest from the cache and read it back (`restored`), or `compute` it and store dest.

    `compute` writes dest whole (or raises, storing nothing); `keep` says whether its result may be
    reused (a study still open can gain trials: not yet)."""
    if mode is Mode.ON and cache.restore(stage, key, dest):
        return restored(), Cached(stage, key, mode, True)
    value = compute()
    if mode is not Mode.OFF and dest.is_dir() and keep(value):
        cache.store(stage, key, dest, replace=mode is Mode.REFRESH)
    return value, Cached(stage, key, mode, False)


def announce(cached: Cached, env: Mapping[str, str] | None = None, echo: Callable[[str], None] | None = None) -> None:
    """Outputs `cache-key` and `cache-hit` (what `ml-ci run` reports), and a line on stderr that says why."""
    say = echo or (lambda line: print(line, file=sys.stderr, flush=True))
    set_output("cache-key", cached.key, env)
    set_output("cache-hit", "true" if cached.hit else "false", env)
    if cached.hit:
        say(f"{cached.stage}: cache hit ({cached.key[:16]}): restored the result of the same inputs")
    elif cached.mode is Mode.OFF:
        say(f"{cached.stage}: not cached: a data.hub split without a revision can change upstream (pin data.hub.revision)")
