"""The serve keys of a model that generates (serve.max_tokens, max_prompt_tokens, max_sequences, max_queued): set in
ml.yaml, they reach the image's ENV and `ml-ci serve`'s Limits; unset, the Dockerfile is what it always was and the
server keeps Limits' defaults. The text-generation example carries them (a classifier refuses them:
tests/unit/config/cases/negative/token_limits_on_a_classifier.yaml)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from ml_ci.build.plan import generation_limits, render_dockerfile
from ml_ci.config import load_config
from ml_ci.config.model import Config
from ml_ci.serve.limits import Limits
from tests.conftest import ROOT

KEYS = {"max_tokens": 256, "max_prompt_tokens": 1024, "max_sequences": 4, "max_queued": 0}


def config(tmp_path: Path, **serve: Any) -> Config:
    """The assistant example's ml.yaml with these serve keys."""
    repo = tmp_path / "assistant"
    shutil.copytree(ROOT / "examples" / "assistant", repo, ignore=shutil.ignore_patterns(".ml-ci"))
    data = yaml.safe_load((repo / "ml.yaml").read_text(encoding="utf-8"))
    data["serve"] = {**data.get("serve", {}), **serve}
    (repo / "ml.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_config(repo).config


def env_block(dockerfile: str) -> list[str]:
    lines = dockerfile.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("ENV PYTHONPATH"))
    end = next(i for i in range(start, len(lines)) if not lines[i].endswith("\\"))
    return lines[start : end + 1]


def test_unset_keys_render_nothing_and_leave_the_limits_defaults(tmp_path: Path) -> None:
    c = config(tmp_path)
    assert generation_limits(c.serve) == {}
    block = env_block(render_dockerfile(c))
    assert block[-1] == "    ML_CI_SERVE_DRAIN_SECONDS=5"
    assert not any("MAX_TOKENS" in line or "MAX_SEQUENCES" in line for line in block)


def test_set_keys_reach_the_image_s_env_and_the_server_s_limits(tmp_path: Path) -> None:
    c = config(tmp_path, **KEYS)
    assert generation_limits(c.serve) == KEYS
    block = env_block(render_dockerfile(c))
    assert block[-4:] == [
        "    ML_CI_SERVE_MAX_TOKENS=256 \\",
        "    ML_CI_SERVE_MAX_PROMPT_TOKENS=1024 \\",
        "    ML_CI_SERVE_MAX_SEQUENCES=4 \\",
        "    ML_CI_SERVE_MAX_QUEUED=0",
    ]
    assert block[-5] == "    ML_CI_SERVE_DRAIN_SECONDS=5 \\"
    limits = Limits(**generation_limits(c.serve))
    assert (limits.max_tokens, limits.max_prompt_tokens, limits.max_sequences, limits.max_queued) == (256, 1024, 4, 0)


def test_ml_ci_serve_passes_them_to_the_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ml_ci.cli import serve as cli
    from ml_ci.serve import server

    c = config(tmp_path, max_sequences=2)
    export = tmp_path / "export"
    export.mkdir()
    (export / "model.json").write_text("{}", encoding="utf-8")
    seen: dict[str, Any] = {}
    monkeypatch.setattr(server, "run", lambda folder, *, limits, host, port: seen.update(limits=limits) or 0)
    assert cli.serve(c.root / "ml.yaml", export, "127.0.0.1", None) == 0
    assert seen["limits"].max_sequences == 2 and seen["limits"].max_tokens == Limits().max_tokens


@pytest.mark.parametrize(("key", "value"), [("max_sequences", 0), ("max_queued", -1), ("max_tokens", "many")])
def test_a_bad_value_is_a_config_error_naming_the_key(tmp_path: Path, key: str, value: Any) -> None:
    from ml_ci.errors import ConfigError

    with pytest.raises(ConfigError, match=f"serve.{key}"):
        config(tmp_path, **{key: value})
