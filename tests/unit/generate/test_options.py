"""Where the composite actions come from: each kind of --actions-ref, its warning, and the
regeneration command recorded in the header that brings the same options back."""

from __future__ import annotations

import pytest

from ml_ci import __version__
from ml_ci.config import load_config
from ml_ci.generate import header
from ml_ci.generate.options import Options
from ml_ci.generate.render import render
from ml_ci.generate.vendor import VENDOR_PATH
from ml_ci.generate.yamlout import Commented
from tests.golden.variants import GOLDEN

SHA = "0123456789abcdef0123456789abcdef01234567"
KINDS = [
    Options(),
    Options(actions_ref=SHA),
    Options(actions_ref="v0.1.0"),
    Options(actions_ref="./ci/actions"),
    Options(actions_ref="./.github/actions/ml-ci/"),
    Options(actions_ref=SHA, install_source="/opt/ml-ci"),
]


def test_each_kind_of_reference() -> None:
    assert Options().uses("train") == Commented("./.github/actions/ml-ci/train", "zizmor: ignore[self-repository]")
    assert Options(actions_ref=SHA).uses("train") == Commented(f"ml-ci/ml-ci/actions/train@{SHA}", f"v{__version__}")
    assert Options(actions_ref="v0.1.0").uses("train") == "ml-ci/ml-ci/actions/train@v0.1.0"
    assert Options(actions_ref="./ci/actions/").uses("train") == Commented(
        "./ci/actions/train", "zizmor: ignore[self-repository]"
    )
    assert [o.vendored for o in KINDS] == [True, False, False, False, True, False]


def test_only_a_mutable_reference_is_warned_about() -> None:
    assert [o.warning() is not None for o in KINDS] == [False, False, True, False, False, False]
    assert Options(actions_ref="main").warning() is not None


@pytest.mark.parametrize("ref", ["../elsewhere", "./a/../../b", "-x", "a b", ""])
def test_a_bad_reference_is_refused(ref: str) -> None:
    with pytest.raises(ValueError, match="--actions-ref"):
        Options(actions_ref=ref)


@pytest.mark.parametrize("options", KINDS, ids=lambda o: o.actions_ref + o.install_source)
def test_the_recorded_command_brings_the_same_options_back(options: Options) -> None:
    config = load_config(GOLDEN / "minimal" / "ml.yaml").config
    rendered = render(config, options)
    recorded = {rel: Options.from_args(header.regenerate_args(text)) for rel, text in rendered.items()}
    assert set(recorded.values()) == {options}
    assert any(rel.startswith(VENDOR_PATH) for rel in rendered) == options.vendored
    assert render(config, options) == rendered, "same input, same bytes"
