"""Incremental decoder of the AWS event-stream binary framing (``application/vnd.amazon.eventstream``).

Each message is::

    prelude:  total length (uint32) | headers length (uint32) | CRC32 of those 8 bytes
    headers:  name length (uint8) | name | value type (uint8) | value ...
    payload:  the event body (JSON for Bedrock)
    CRC32 of everything before it (prelude included)

All integers are big-endian. :class:`EventStreamDecoder` accepts the body in
pieces split at any byte and returns each message once it is complete and its
checksums hold. Pure Python; ``zlib.crc32`` does the checks.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass

_PRELUDE = 12
_MAX_MESSAGE = 24 * 1024 * 1024 + 128 * 1024 + 16
_MAX_HEADERS = 128 * 1024

HeaderValue = bool | int | bytes | str


class EventStreamError(ValueError):
    """The bytes are not a valid event stream (bad length or checksum)."""


@dataclass(frozen=True, slots=True)
class EventMessage:
    headers: dict[str, HeaderValue]
    payload: bytes

    @property
    def message_type(self) -> str:
        return str(self.headers.get(":message-type", "event"))

    @property
    def event_type(self) -> str:
        return str(self.headers.get(":event-type", ""))


class EventStreamDecoder:
    """Feed bytes, get complete :class:`EventMessage` objects back."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[EventMessage]:
        self._buf += data
        messages: list[EventMessage] = []
        start = 0
        buf = self._buf
        while len(buf) - start >= _PRELUDE:
            total, headers_len, prelude_crc = struct.unpack_from("!III", buf, start)
            if zlib.crc32(buf[start : start + 8]) != prelude_crc:
                raise EventStreamError("event stream prelude checksum mismatch")
            if total < _PRELUDE + 4 + headers_len or total > _MAX_MESSAGE:
                raise EventStreamError(f"event stream message length {total} is invalid")
            if headers_len > _MAX_HEADERS:
                raise EventStreamError(f"event stream headers length {headers_len} is invalid")
            if len(buf) - start < total:
                break
            end = start + total
            (message_crc,) = struct.unpack_from("!I", buf, end - 4)
            if zlib.crc32(buf[start : end - 4]) != message_crc:
                raise EventStreamError("event stream message checksum mismatch")
            headers_end = start + _PRELUDE + headers_len
            headers = _parse_headers(bytes(buf[start + _PRELUDE : headers_end]))
            messages.append(EventMessage(headers, bytes(buf[headers_end : end - 4])))
            start = end
        if start:
            del self._buf[:start]
        return messages

    @property
    def pending(self) -> int:
        """Bytes received that do not yet form a complete message."""
        return len(self._buf)


def _parse_headers(data: bytes) -> dict[str, HeaderValue]:
    headers: dict[str, HeaderValue] = {}
    pos = 0
    try:
        while pos < len(data):
            name_len = data[pos]
            name = data[pos + 1 : pos + 1 + name_len].decode("utf-8")
            pos += 1 + name_len
            kind = data[pos]
            pos += 1
            value: HeaderValue
            if kind == 0:
                value = True
            elif kind == 1:
                value = False
            elif kind == 2:
                (value,) = struct.unpack_from("!b", data, pos)
                pos += 1
            elif kind == 3:
                (value,) = struct.unpack_from("!h", data, pos)
                pos += 2
            elif kind == 4:
                (value,) = struct.unpack_from("!i", data, pos)
                pos += 4
            elif kind in (5, 8):  # int64, timestamp (ms since the epoch)
                (value,) = struct.unpack_from("!q", data, pos)
                pos += 8
            elif kind in (6, 7):  # byte array, UTF-8 string
                (length,) = struct.unpack_from("!H", data, pos)
                raw = data[pos + 2 : pos + 2 + length]
                if len(raw) != length:
                    raise EventStreamError("truncated event stream header value")
                value = raw.decode("utf-8") if kind == 7 else raw
                pos += 2 + length
            elif kind == 9:
                value = str(uuid.UUID(bytes=data[pos : pos + 16]))
                pos += 16
            else:
                raise EventStreamError(f"unknown event stream header type {kind}")
            headers[name] = value
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise EventStreamError(f"malformed event stream headers: {exc}") from None
    return headers
