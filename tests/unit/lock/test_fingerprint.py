from __future__ import annotations

from email.message import Message
from importlib import metadata

from ml_ci.lock.fingerprint import fingerprint, lines


class Dist(metadata.Distribution):
    def __init__(self, name: str, version: str) -> None:
        self._meta = Message()
        self._meta["Name"], self._meta["Version"] = name, version

    def read_text(self, filename: str) -> str | None:
        return None

    def locate_file(self, path: object) -> object:  # type: ignore[override]
        return path

    @property
    def metadata(self) -> Message:  # type: ignore[override]
        return self._meta


def test_names_are_normalized_sorted_and_ml_ci_is_left_out() -> None:
    found = lines([Dist("PyYAML", "6.0.4"), Dist("ml_ci", "0.1.0"), Dist("typing_extensions", "4.16.0"), Dist("attrs", "26.1.0")])
    assert found == ["attrs==26.1.0", "pyyaml==6.0.4", "typing-extensions==4.16.0"]


def test_the_same_versions_give_the_same_fingerprint_and_another_version_another() -> None:
    one = fingerprint(lines([Dist("a", "1"), Dist("b", "2")]))
    assert one == fingerprint(lines([Dist("b", "2"), Dist("a", "1")])), "order does not matter"
    assert one != fingerprint(lines([Dist("a", "1"), Dist("b", "3")]))
    assert len(one) == 16 and int(one, 16) >= 0
