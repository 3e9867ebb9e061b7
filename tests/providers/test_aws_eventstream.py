"""The AWS event-stream decoder, checked against botocore's own parser."""

from __future__ import annotations

import random
import struct
import uuid
import zlib
from typing import Any

import pytest
from botocore.eventstream import EventStreamBuffer

from bastion.errors import GatewayError
from bastion.providers.aws_eventstream import EventStreamDecoder, EventStreamError
from bastion.providers.bedrock_translate import ConverseStreamDecoder
from tests.fakes import bedrock_upstream as fb


def _message(event_type: str, payload: dict[str, Any]) -> bytes:
    return fb.encode_event(event_type, payload)


def test_event_stream_decoder_agrees_with_botocore_at_any_split() -> None:
    data = b"".join(
        [_message("messageStart", {"role": "assistant"})]
        + [
            _message(
                "contentBlockDelta", {"delta": {"text": f"word {i} é"}, "contentBlockIndex": 0}
            )
            for i in range(20)
        ]
        + [fb.encode_exception("throttlingException", "slow down")]
    )
    reference = EventStreamBuffer()
    reference.add_data(data)
    expected = [(m.headers, m.payload) for m in reference]
    rng = random.Random(7)
    for _ in range(50):
        decoder = EventStreamDecoder()
        got = []
        pos = 0
        while pos < len(data):
            step = rng.choice([1, 2, 3, 7, 13, 64, 500])
            got += [(m.headers, m.payload) for m in decoder.feed(data[pos : pos + step])]
            pos += step
        assert got == expected and decoder.pending == 0


def test_event_stream_decoder_reads_every_header_type_and_checks_crcs() -> None:
    stamp, ident = 1_700_000_000_000, uuid.UUID("12345678-1234-5678-1234-567812345678")
    headers = (
        b"\x01t\x00"
        + b"\x01f\x01"
        + b"\x01b\x02\xff"
        + b"\x01s\x03\x01\x00"
        + b"\x01i\x04\x00\x01\x00\x00"
        + b"\x01l\x05"
        + struct.pack("!q", -5)
        + b"\x01y\x06\x00\x02ab"
        + b"\x01z\x07\x00\x02hi"
        + b"\x01d\x08"
        + struct.pack("!q", stamp)
        + b"\x01u\x09"
        + ident.bytes
    )
    prelude = struct.pack("!II", 12 + len(headers) + 2 + 4, len(headers))
    body = prelude + struct.pack("!I", zlib.crc32(prelude)) + headers + b"{}"
    message = body + struct.pack("!I", zlib.crc32(body))
    [decoded] = EventStreamDecoder().feed(message)
    assert decoded.headers == {
        "t": True,
        "f": False,
        "b": -1,
        "s": 256,
        "i": 65536,
        "l": -5,
        "y": b"ab",
        "z": "hi",
        "d": stamp,
        "u": str(ident),
    }
    assert decoded.payload == b"{}"
    corrupted = message[:-6] + b"X" + message[-5:]
    with pytest.raises(EventStreamError, match="checksum"):
        EventStreamDecoder().feed(corrupted)
    with pytest.raises(EventStreamError, match="prelude"):
        EventStreamDecoder().feed(message[:9] + b"\x00\x00\x00")


def test_stream_decoder_rejects_a_truncated_stream() -> None:
    decoder = ConverseStreamDecoder("m")
    message = _message("messageStart", {"role": "assistant"})
    assert decoder.feed(message[:-3]) == []
    with pytest.raises(GatewayError) as caught:
        decoder.close()
    assert caught.value.status == 502
