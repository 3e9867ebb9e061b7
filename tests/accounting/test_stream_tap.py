"""The stream tap reads usage and counts events, whether it reads as pieces pass or after."""

from __future__ import annotations

import random

import orjson
import pytest

from bastion.accounting.usage import JSON, StreamUsageTap, _final_usage, _last_usage

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


def _usual(usage: object) -> bytes:
    return _event({"id": "c", "choices": [], "usage": usage})


@pytest.mark.parametrize(
    ("stream", "usage"),
    [
        # the usual end: usage last in a one-line chunk, then [DONE]
        (_text("a") + _usual(USAGE) + b"data: [DONE]\n\n", USAGE),
        # a nested "usage" after the chunk's own (the chunk is parsed whole)
        (
            _event({"choices": [], "usage": USAGE, "extra": {"usage": LATER}})
            + b"data: [DONE]\n\n",
            USAGE,
        ),
        # a nested "usage" only, in a chunk cut short: not read as the chunk's own
        (
            _usual(USAGE)
            + b'data: {"choices": [], "usage": null, "x": {"usage": '
            + orjson.dumps(LATER)
            + b"}",
            USAGE,
        ),
        # a key that ends in "usage (an escaped quote), last
        (_event({"usage": USAGE, 'say "usage': LATER}), USAGE),
        # CRLF line ends, and a chunk spread over two data lines
        ((_text("a") + _usual(LATER)).replace(b"\n", b"\r\n"), LATER),
        (b'data: {"choices": [],\ndata: "usage": ' + orjson.dumps(LATER) + b"}\n\n", LATER),
        # a usage that is not an object: the one before it
        (_usual(USAGE) + _usual(5), USAGE),
        # not a chunk: a lone carriage return ends its data line; two data lines
        (b'data: {"choices": []}\r\r: say "usage": ' + orjson.dumps(LATER) + b"}\n\n", None),
        (b'data: 1\ndata: {"usage": ' + orjson.dumps(LATER) + b"}\n\n", None),
        (b'data: {"usage": ' + orjson.dumps(LATER) + b"}\ndata: 1\n\n", None),
    ],
)
def test_the_usage_read_at_the_end_is_the_last_chunks_own(
    stream: bytes, usage: JSON | None
) -> None:
    """``_final_usage`` (the last read, as the bytes came) finds what ``_last_usage`` finds
    in the events with their line ends normalized and the last one terminated."""
    normalized = stream.replace(b"\r\n", b"\n") + b"\n\n"
    assert _last_usage(normalized) == usage
    assert _final_usage(stream) == usage
    tap = StreamUsageTap(strip=False)
    tap.feed(stream)
    tap.close()
    assert tap.usage == usage
    assert tap.events == stream.count(b"data:")


def test_the_usage_read_at_the_end_matches_the_general_reading_on_random_streams() -> None:
    rng = random.Random(11)
    words = ["a", "usage", '"usage":{', "b\n", "}}"]

    def chunk() -> bytes:
        body: JSON = {"id": "x", "choices": [{"delta": {"content": rng.choice(words)}}]}
        roll = rng.random()
        if roll < 0.3:
            body["usage"] = None
        elif roll < 0.7:
            body["usage"] = {"prompt_tokens": rng.randint(0, 99), "completion_tokens": 1}
        elif roll < 0.75:
            body["usage"] = rng.choice([5, "x", [1]])
        if rng.random() < 0.15:
            body["extra"] = {"usage": {"prompt_tokens": 1}}
        return orjson.dumps(body, option=orjson.OPT_INDENT_2 if rng.random() < 0.1 else 0)

    def event() -> bytes:
        roll = rng.random()
        if roll < 0.05:
            return b': comment "usage": {"a": 1}}'
        if roll < 0.1:
            return b"data: [DONE]"
        return b"\n".join(b"data: " + line for line in chunk().split(b"\n"))

    for _ in range(3000):
        end = rng.choice([b"\n", b"\n", b"\r\n", b"\r"])
        stream = b"".join(event().replace(b"\n", end) + end + end for _ in range(rng.randint(0, 6)))
        if rng.random() < 0.3:
            stream = stream[: rng.randint(0, len(stream))]  # cut anywhere
        normalized = stream.replace(b"\r\n", b"\n") + b"\n\n"
        assert _final_usage(stream) == _last_usage(normalized), stream
