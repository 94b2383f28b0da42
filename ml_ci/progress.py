"""Progress bars on a terminal only: in CI logs, or output going to a file, tqdm bars are noise.

`ml-ci` decides once, before any command runs (ml_ci/cli/main.py), so that every stage, and the
worker processes of tune and torchrun through the environment, keep to one rule. Imports nothing:
the light path (validate, generate) stays fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any


def show_progress_bar(env: Mapping[str, str] | None = None, stream: Any = None) -> bool:
    """A tqdm bar on a terminal; plain log lines in CI or when output goes to a file."""
    env = os.environ if env is None else env
    stream = sys.stderr if stream is None else stream
    return env.get("CI", "").lower() != "true" and bool(getattr(stream, "isatty", lambda: False)())


# Read when each library is imported, and inherited by tune's and torchrun's worker processes.
QUIET_ENV = ("HF_HUB_DISABLE_PROGRESS_BARS", "HF_DATASETS_DISABLE_PROGRESS_BARS")


def quiet_unless_terminal(env: Mapping[str, str] | None = None, stream: Any = None) -> bool:
    """Whether bars are shown; when not, silence every library's tqdm (transformers' `Loading weights`
    and `Writing model shards`, datasets' map and `Generating split`, huggingface_hub's downloads) for
    the rest of the process and its workers. The commands call it first, before anything loads; it
    imports nothing, so a cache hit stays fast."""
    bar = show_progress_bar(env, stream)
    if not bar:
        for name in QUIET_ENV:
            os.environ.setdefault(name, "1")
        if "transformers" in sys.modules:
            sys.modules["transformers"].utils.logging.disable_progress_bar()
        if "datasets" in sys.modules:
            sys.modules["datasets"].disable_progress_bars()
        if "huggingface_hub" in sys.modules:
            sys.modules["huggingface_hub"].utils.disable_progress_bars()
    return bar
