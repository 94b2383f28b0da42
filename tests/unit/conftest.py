"""Unit tests cannot reach the network, start processes or touch Docker: the guard makes them raise."""

from __future__ import annotations

import socket
import subprocess
from typing import Any

import pytest


class GuardError(AssertionError):
    pass


@pytest.fixture(autouse=True)
def _no_side_effects(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise GuardError(f"unit tests may not start processes or open connections: {args[:1]!r}")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
