from __future__ import annotations

import pytest

from ml_ci.errors import DeployError
from ml_ci.records.imageref import parse

D = "sha256:" + "0123456789abcdef" * 4


def test_parse_by_digest() -> None:
    ref = parse(f"ghcr.io/acme/sentiment@{D}")
    assert (ref.registry, ref.repository, ref.digest) == ("ghcr.io", "acme/sentiment", D)
    assert str(ref) == f"ghcr.io/acme/sentiment@{D}"
    assert ref.short == "0123456789ab"
    assert parse(f"127.0.0.1:5000/a/b@{D}").registry == "127.0.0.1:5000"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ghcr.io/acme/sentiment:v1", "has no digest"),
        (f"ghcr.io/acme/sentiment:v1@{D}", "carries a tag as well as a digest"),
        ("ghcr.io/acme/sentiment@sha256:abc", "is not a sha256 digest"),
        (f"acme/sentiment@{D}", "name the registry host first"),
        (f"ghcr.io/Acme/sentiment@{D}", "is not a valid repository name"),
    ],
)
def test_refused(text: str, message: str) -> None:
    with pytest.raises(DeployError, match=message):
        parse(text)
