"""The commands switch library progress bars off through the environment (fit.QUIET_ENV) when not on a
terminal; the test process must not keep that from one test to the next."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

from ml_ci.train.fit import QUIET_ENV


@pytest.fixture(autouse=True)
def restore_quiet_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    before = {name: os.environ.get(name) for name in QUIET_ENV}
    # The libraries read the variables once, at import: whichever test imported them while a command had
    # set one must not decide for the tests after it.
    import datasets.utils.tqdm  # noqa: F401
    import huggingface_hub.utils.tqdm  # noqa: F401

    monkeypatch.setattr(sys.modules["huggingface_hub.utils.tqdm"], "HF_HUB_DISABLE_PROGRESS_BARS", None)
    monkeypatch.setattr(sys.modules["datasets.utils.tqdm"], "HF_DATASETS_DISABLE_PROGRESS_BARS", None)
    yield
    for name, value in before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
