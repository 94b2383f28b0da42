"""runtime.TextStream, the one place where Runtime.generate and the server's engine turn tokens into text: stop
strings (also split over tokens), characters split over tokens, and what is safe to stream (never a stop string nor
the start of one), with a byte-level stand-in tokenizer (a token is one byte, decoded whole as UTF-8 with U+FFFD
for what is incomplete, as a byte-level BPE decodes)."""

from __future__ import annotations

from collections.abc import Sequence

from ml_ci.tasks.text_generation.runtime import TextStream


def decode(tokens: Sequence[int]) -> str:
    return bytes(tokens).decode("utf-8", errors="replace")


def stream(text: str, stops: Sequence[str] = ()) -> tuple[list[str], TextStream]:
    """Push `text`'s bytes one at a time until a stop ends it: (the pieces, with the rest last; the stream)."""
    s = TextStream(decode, stops)
    pieces = []
    for byte in text.encode():
        pieces.append(s.push(byte))
        if s.stopped:
            break
    pieces.append(s.rest())
    return pieces, s


def test_without_stops_every_piece_comes_at_once_and_joins_to_the_text() -> None:
    pieces, s = stream("hello world")
    assert pieces == [*"hello world", ""] and s.final == s.text == "hello world" and not s.stopped


def test_a_character_split_over_tokens_comes_whole_with_its_last_byte() -> None:
    pieces, s = stream("a€b")  # € is 3 bytes
    assert pieces == ["a", "", "", "€", "b", ""] and s.final == "a€b"


def test_a_character_left_incomplete_at_the_end_is_the_rest() -> None:
    s = TextStream(decode, ())
    assert [s.push(b) for b in b"ok\xe2\x82"] == ["o", "k", "", ""]
    assert s.rest() == "\ufffd" and s.final == "ok\ufffd" and s.rest() == ""


def test_a_stop_string_cuts_the_text_and_is_never_streamed_even_split_over_tokens() -> None:
    pieces, s = stream("one, two\n\nthree", stops=("\n\n", "never"))
    assert s.stopped and s.final == "one, two" and "".join(pieces) == "one, two"
    assert not any("\n" in p for p in pieces)  # not even the stop's first half
    assert s.tokens == list(b"one, two\n\n")  # the stop's tokens are kept


def test_the_start_of_a_stop_string_is_held_back_until_it_is_not_one() -> None:
    pieces, s = stream("a##b###", stops=("###",))
    # "##" may start "###": held until "b" shows it is not; the second time it is the stop.
    assert pieces == ["a", "", "", "##b", "", "", "", ""] and s.final == "a##b"


def test_held_back_text_comes_as_the_rest_when_the_text_ends_without_the_stop() -> None:
    pieces, s = stream("done##", stops=("###",))
    assert pieces == [*"done", "", "", "##"] and not s.stopped and s.final == "done##"


def test_the_earliest_of_several_stops_cuts_and_a_stop_straddling_the_searched_text_is_found() -> None:
    _, s = stream("xxabcdyy", stops=("cd", "bc"))
    assert s.final == "xxa"
    # "bc" begins in text already searched when "c" arrives: the search starts early enough to find it.
    s = TextStream(decode, ("bc",))
    assert [s.push(b) for b in b"ab"] == ["a", ""]
    assert s.push(ord("c")) == "" and s.stopped and s.final == "a"
