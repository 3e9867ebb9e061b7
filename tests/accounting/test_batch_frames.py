"""A batch as the gateway sends it: facts one a line, a kept answer's bytes after its facts."""

from __future__ import annotations

import orjson

from bastion.accounting import finished as f
from bastion.observability.audit_bodies import BodyCapture


def _facts(request_id: str, answer: object = None) -> list[object]:
    facts: list[object] = [None] * f.FIELDS
    facts[f.REQUEST_ID], facts[f.ANSWER] = request_id, answer
    return facts


def test_answers_travel_as_bytes_and_come_back_as_the_text_the_caller_received() -> None:
    sse = b'data: {"choices":[{"delta":{"content":"a\\nb"}}]}\n\ndata: [DONE]\n\n'
    cut = "café ✓".encode()[:-1]  # cut mid-character, as a bounded capture may be
    items = [
        orjson.dumps(_facts("1", [len(sse), False])) + b"\n" + sse,
        orjson.dumps({"kind": "retention", "at": 1.0, "request_id": None}),
        orjson.dumps(_facts("2", "{}")),  # a body document redacted in the gateway
        orjson.dumps(_facts("3", [len(cut), True])) + b"\n" + cut,
        orjson.dumps(_facts("4")),
        orjson.dumps(_facts("5", [0, False])) + b"\n",  # empty pieces only
    ]
    decoded = f.items_of(f.batch_of(items))
    assert [i["kind"] if isinstance(i, dict) else i[f.REQUEST_ID] for i in decoded] == [
        "1",
        "retention",
        "2",
        "3",
        "4",
        "5",
    ]
    assert decoded[0][f.ANSWER] == [sse.decode(), False]
    assert decoded[2][f.ANSWER] == "{}"
    assert decoded[3][f.ANSWER] == [cut.decode("utf-8", errors="replace"), True]
    assert decoded[4][f.ANSWER] is None
    assert decoded[5][f.ANSWER] == ["", False]
    assert f.items_of(b"") == []


def test_a_capture_keeps_the_first_limit_bytes_and_says_whether_more_came() -> None:
    capture = BodyCapture(10)
    for piece in (b"abcd", b"", b"efgh", b"ijkl", b"mn"):
        capture.add(piece)
    assert b"".join(capture.chunks) == b"abcdefghij" and capture.size == 10
    assert capture.truncated
    exact = BodyCapture(4)
    exact.add(b"abcd")
    exact.add(b"")
    assert exact.chunks == [b"abcd"] and not exact.truncated
