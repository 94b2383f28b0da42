"""Asking for a task, its config half or its serving half imports no torch or transformers: the
light path (validate, generate) and the serving image (which has no torch) depend on it.
Run in a fresh interpreter, so that modules other tests imported cannot hide an import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ml_ci import tasks

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("name", tasks.names())
def test_config_and_serving_halves_import_no_torch(name: str) -> None:
    code = (
        f"import sys; from ml_ci import tasks; t = tasks.get({name!r}); t.config(); t.serving(); "
        "print(sorted(m for m in ('torch', 'transformers', 'datasets') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout
    assert out.strip() == "[]"
