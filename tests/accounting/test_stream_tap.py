"""The stream tap reads usage and counts events, whether it reads as pieces pass or after."""

from __future__ import annotations

import orjson
import pytest

from bastion.accounting.usage import StreamUsageTap

USAGE = {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}
LATER = {"prompt_tokens": 9, "completion_tokens": 14, "total_tokens": 23}
SPACED = b'data: {"choices": [], "usage" : ' + orjson.dumps(LATER) + b"}\n\n"


def _event(chunk: object) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def _text(word: str) -> bytes:
    return _event({"choices": [{"delta": {"content": word}}], "usage": None})


def _pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("strip", [False, True])
@pytest.mark.parametrize("size", [1, 5, 64, 100_000])
def test_the_last_usage_object_wins_and_every_event_counts(strip: bool, size: int) -> None:
    # A server that reports usage in more than one chunk (the last one is the total),
    # says "usage" in a text, and spaces its JSON.
    stream = (
        _text('say "usage": {}')
        + _text("usage")
        + _event({"choices": [{"delta": {"content": "x"}}], "usage": USAGE})
        + SPACED
        + b"data: [DONE]\n\n"
    )
    tap = StreamUsageTap(strip)
    out = b"".join(tap.feed(p) for p in _pieces(stream, size)) + tap.close()
    assert tap.usage == LATER
    assert tap.events == 5
    expected = stream.replace(SPACED, b"")
    assert out == (expected if strip else stream)


def test_a_stream_without_usage_counts_its_events() -> None:
    stream = b"".join(_text(w) for w in ("a", "b", "c")) + b"data: [DONE]\n\n"
    for strip in (False, True):
        tap = StreamUsageTap(strip)
        assert b"".join(tap.feed(p) for p in _pieces(stream, 7)) + tap.close() == stream
        assert (tap.usage, tap.events) == (None, 4)


def test_a_stream_cut_off_reports_what_came_whole() -> None:
    """No close (the client went away): complete events are read, a partial one is not."""
    whole = _text("a") + _event({"choices": [], "usage": USAGE})
    for strip in (False, True):
        tap = StreamUsageTap(strip)
        tap.feed(whole)
        tap.feed(b'data: {"choices": [], "usage": {"prompt_tokens": 1')
        assert (tap.usage, tap.events) == (USAGE, 3)


def test_an_unterminated_last_event_is_read_at_the_end() -> None:
    for strip in (False, True):
        tap = StreamUsageTap(strip)
        out = tap.feed(_text("a")) + tap.feed(b"data: " + orjson.dumps({"usage": USAGE}))
        out += tap.close()
        assert tap.usage == USAGE
        assert out.startswith(_text("a"))


def test_a_long_stream_is_read_as_it_goes_not_held_whole() -> None:
    tap = StreamUsageTap(strip=False)
    event = _text("word " * 20)
    for _ in range(2000):
        assert tap.feed(event) == event
        assert len(tap._unread) < 1000  # read every 64 KiB
    tap.feed(_event({"choices": [], "usage": USAGE}))
    tap.close()
    assert (tap.usage, tap.events) == (USAGE, 2001)
