"""Push retries and credentials, against a fake docker client (no engine, no registry)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ml_ci.build.docker_ops import auth_config, push
from ml_ci.errors import OperationalError

DIGEST = "sha256:" + "1" * 64


class FakeImages:
    def __init__(self, outcomes: list[Any]) -> None:
        self.outcomes = outcomes
        self.calls: list[dict[str, Any]] = []

    def push(self, repository: str, *, tag: str, auth_config: Any, stream: bool, decode: bool) -> Iterator[dict[str, Any]]:
        self.calls.append({"repository": repository, "tag": tag, "auth": auth_config})
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return iter(outcome)


class FakeClient:
    def __init__(self, outcomes: list[Any]) -> None:
        self.images = FakeImages(outcomes)


OK = [{"status": "Pushing"}, {"aux": {"Tag": "t", "Digest": DIGEST, "Size": 1234}}]


def test_transient_failures_are_retried_with_backoff() -> None:
    client = FakeClient([ConnectionError("reset by peer"), [{"error": "received unexpected HTTP status: 503"}], OK])
    sleeps: list[float] = []
    pushed = push(client, "r/m", "t", None, sleep=sleeps.append)
    assert (pushed.digest, pushed.size) == (DIGEST, 1234)
    assert sleeps == [2.0, 4.0]


def test_an_authorization_error_is_not_retried() -> None:
    client = FakeClient([[{"error": "unauthorized: authentication required"}], OK])
    with pytest.raises(OperationalError, match="failed after 1 attempt"):
        push(client, "r/m", "t", {"username": "u", "password": "s3cret"}, sleep=lambda _s: None)
    assert len(client.images.calls) == 1


def test_giving_up_after_the_last_attempt() -> None:
    client = FakeClient([ConnectionError("down")] * 3)
    with pytest.raises(OperationalError, match=r"failed after 3 attempt.*ConnectionError: down"):
        push(client, "r/m", "t", None, attempts=3, sleep=lambda _s: None)


def test_credentials_come_from_the_named_variables() -> None:
    env = {"REG_USER": "bot", "REG_TOKEN": "s3cret"}
    assert auth_config("REG_USER", "REG_TOKEN", env) == {"username": "bot", "password": "s3cret"}
    assert auth_config(None, None, env) is None


def test_a_named_but_unset_password_variable_fails_without_printing_secrets() -> None:
    with pytest.raises(OperationalError) as caught:
        auth_config("REG_USER", "REG_TOKEN", {"REG_USER": "bot"})
    assert str(caught.value) == "image.registry_password_env names REG_TOKEN, which is not set"
