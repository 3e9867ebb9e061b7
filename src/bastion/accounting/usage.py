"""Usage out of upstream answers, without parsing what passes through.

A non-streamed OpenAI-format body carries ``"usage": {...}`` among its last
members; it is found by its key from the end of the body and only the body from
there on is parsed (see :func:`extract_usage`). A stream
carries it in its last chunk (OpenAI-compatible servers send it only when the
request has ``stream_options.include_usage``; the pipeline adds that for
metered requests). :class:`StreamUsageTap` watches the SSE bytes as they pass:
pieces go through as they are, cut only at event boundaries, and only an event
that holds a usage object is parsed. When the gateway asked for the usage
chunk and the client did not, that chunk is removed from what the client sees.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

_USAGE_OBJECT = re.compile(rb'"usage"\s*:\s*\{')

JSON = dict[str, Any]


def extract_usage(body: bytes) -> JSON | None:
    """The top-level ``usage`` object of a JSON response body, or None.

    Only the body from the last ``"usage"`` on is parsed, as the members of an
    object (``{`` put before it): that parses exactly when this ``"usage"`` is a
    member of the top-level object, since one nested deeper leaves closing
    brackets over. It is the usual case (usage comes last, or followed by a few
    short members), and costs about a third of parsing the whole body. Otherwise
    (a nested ``usage`` comes after the top-level one) a small body is parsed
    whole; a large one falls back to the last usage object found.
    """
    at = body.rfind(b'"usage"')
    if at < 0:
        return None
    try:
        usage = orjson.loads(b"{" + body[at:]).get("usage")
    except orjson.JSONDecodeError:
        if len(body) > _WHOLE_LIMIT:
            return _last_usage_object(body, at)
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        usage = data.get("usage") if isinstance(data, dict) else None
    return usage if isinstance(usage, dict) else None


# Bodies up to this size are parsed whole when their usage is not a member of their end.
_WHOLE_LIMIT = 1 << 16


def _last_usage_object(body: bytes, at: int) -> JSON | None:
    """The usage object whose key starts at ``at`` (a large body: only it is parsed)."""
    while at >= 0:
        match = _USAGE_OBJECT.match(body, at)
        if match is not None:
            start = match.end() - 1
            end = _object_end(body, start)
            if end < 0:
                return None
            try:
                usage = orjson.loads(body[start:end])
            except orjson.JSONDecodeError:
                return None
            return usage if isinstance(usage, dict) else None
        at = body.rfind(b'"usage"', 0, at)
    return None


def _object_end(data: bytes, start: int) -> int:
    """The index after the ``}`` closing the object at ``start`` (usage holds no strings with braces)."""
    depth = 0
    opening = data.find(b"{", start)
    closing = data.find(b"}", start)
    while closing >= 0:
        if 0 <= opening < closing:
            depth += 1
            opening = data.find(b"{", opening + 1)
        else:
            depth -= 1
            if depth == 0:
                return closing + 1
            closing = data.find(b"}", closing + 1)
    return -1


class StreamUsageTap:
    """Finds the usage chunk of an OpenAI-format SSE stream; removes it when ``strip``.

    When the client asked for the usage chunk itself (``strip`` False), pieces go
    through as they come and are read afterwards, all at once: the usage object is
    found from the end (where it is), and the events are counted in one scan, at the
    end only if asked (``events`` is the estimate of a stream that reported no usage).
    Reading each piece as it passes costs two scans and a dozen calls a piece, about
    as much as the rest of the gateway's work on a stream. (Read every
    ``_UNREAD_LIMIT`` bytes, so a long stream is not held whole.)
    """

    __slots__ = (
        "_closed",
        "_events",
        "_held",
        "_uncounted",
        "_unread",
        "_unread_size",
        "_usage",
        "strip",
    )

    def __init__(self, strip: bool) -> None:
        self.strip = strip
        self._usage: JSON | None = None
        self._held = b""  # the start of an event whose end has not come yet
        # SSE data events seen: an OpenAI-format stream sends about one token an event,
        # the estimate of its output when it ends without a usage report.
        self._events = 0
        self._unread: list[bytes] = []  # passed on, not read yet (``strip`` False)
        self._unread_size = 0
        self._uncounted = b""  # the last read's events, counted only when asked
        self._closed = False

    @property
    def usage(self) -> JSON | None:
        """The last usage object of the stream so far."""
        if self._unread:
            self._read()
        return self._usage

    @property
    def events(self) -> int:
        """The SSE data events of the stream so far (a partial last one included)."""
        if self._unread:
            self._read()
        if self._uncounted:
            self._events += self._uncounted.count(b"data:")
            self._uncounted = b""
        return self._events + self._held.count(b"data:")

    def feed(self, piece: bytes) -> bytes:
        """The bytes to forward now: whole events only (a partial one waits for its end)."""
        if not self.strip:
            self._unread.append(piece)
            self._unread_size += len(piece)
            if self._unread_size > _UNREAD_LIMIT:
                self._read()
            return piece
        if not self._held and piece[-2:] == b"\n\n" and _USAGE_OBJECT.search(piece) is None:
            self._events += piece.count(b"data:")
            return piece  # the usual piece: whole events, no usage object
        buf = self._held + piece if self._held else piece
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n")
        cut = buf.rfind(b"\n\n")
        if cut < 0:
            self._held = buf
            return b""
        cut += 2
        ready = buf[:cut]
        self._held = buf[cut:]
        self._events += ready.count(b"data:")
        return self._take(ready)

    def close(self) -> bytes:
        """The stream ended: whatever is held (an unterminated last event)."""
        if not self.strip:
            self._closed = True
            self._read()
            return b""
        rest, self._held = self._held, b""
        self._events += rest.count(b"data:")
        if rest.strip() and _USAGE_OBJECT.search(rest) is not None:
            return self._take(rest + b"\n\n")
        return rest

    def _take(self, ready: bytes) -> bytes:
        """Read the usage of the events of ``ready`` (whole events) that may carry one.

        Only those events are parsed (the usage chunk is one event of many); the
        others pass as they are, and the usage chunk is cut out when ``strip``.
        """
        at = _usage_at(ready, 0)
        if at < 0:
            return ready
        kept: list[bytes] = []
        done = 0  # ready[:done] is decided (kept, or dropped)
        while at >= 0:
            start = ready.rfind(b"\n\n", done, at)
            start = start + 2 if start >= 0 else done
            end = ready.find(b"\n\n", at) + 2  # ready ends with an event's end
            chunk = _event_json(ready[start : end - 2])
            usage = chunk.get("usage") if chunk is not None else None
            if isinstance(usage, dict):
                self._usage = usage
                if self.strip and chunk is not None and not chunk.get("choices"):
                    kept.append(ready[done:start])  # the chunk the gateway asked for
                    done = end
            at = _usage_at(ready, end)
        if not done:
            return ready
        kept.append(ready[done:])
        return b"".join(kept)

    def _read(self) -> None:
        """Count and search what passed unread (``strip`` False): the last usage wins."""
        new = b"".join(self._unread)
        self._unread.clear()
        self._unread_size = 0
        buf = self._held + new if self._held else new
        if self._closed:
            # The stream's end (usually its only read): the events are counted if asked
            # (when no usage came; CRLF or not, the same "data:" count), and the usage
            # is read off the bytes as they are (``_final_usage``).
            self._held = b""
            self._uncounted = buf
            usage = _final_usage(buf)
        else:
            if b"\r" in buf:
                buf = buf.replace(b"\r\n", b"\n")
            cut = buf.rfind(b"\n\n") + 2  # 1: no whole event yet
            ready, self._held = (buf[:cut], buf[cut:]) if cut > 1 else (b"", buf)
            self._events += ready.count(b"data:")
            usage = _last_usage(ready)
        if usage is not None:
            self._usage = usage


_UNREAD_LIMIT = 1 << 16


def _last_usage(ready: bytes) -> JSON | None:
    """The usage object of the last event of ``ready`` (whole events) that has one."""
    at = ready.rfind(b'"usage"')
    while at >= 0:
        after = at + 7
        if ready.startswith(b":null", after) or ready.startswith(b": null", after):
            at = ready.rfind(b'"usage"', 0, at)
            continue
        start = ready.rfind(b"\n\n", 0, at)
        start = start + 2 if start >= 0 else 0
        chunk = _event_json(ready[start : ready.find(b"\n\n", at)])
        usage = chunk.get("usage") if chunk is not None else None
        if isinstance(usage, dict):
            return usage
        at = ready.rfind(b'"usage"', 0, start)
    return None


def _final_usage(buf: bytes) -> JSON | None:
    """``_last_usage`` of a stream's last bytes (``buf``, its unterminated last event
    included), read without normalizing line ends or parsing the whole usage chunk.

    The usual last usage chunk is a one-line ``data:`` event between blank lines whose
    ``"usage"`` member comes last: only the text from that ``"usage"`` on is parsed,
    as the members of an object (as :func:`extract_usage` does with a body), which
    parses exactly when it is a member of the chunk's top-level object (a nested one
    leaves closing brackets over; the event is then parsed whole, as is an unterminated
    last event). Any other shape (carriage returns in or around the event, several
    lines) is read by ``_last_usage`` as before.
    """
    at = buf.rfind(b'"usage"')
    while at >= 0:
        after = at + 7
        if buf.startswith(b":null", after) or buf.startswith(b": null", after):
            at = buf.rfind(b'"usage"', 0, at)
            continue
        line = buf.rfind(b"\n", 0, at) + 1
        end = buf.find(b"\n", at)
        if end < 0:
            end = len(buf)
        ended = end + 1 < len(buf)  # else the stream's unterminated last event
        if not (
            (line == 0 or (line > 1 and buf[line - 2] == 10))  # the event's first line
            and (not ended or buf[end + 1] == 10)  # ... and its only one
            and buf.startswith(b"data:", line)
            and buf[at - 1] != 92  # a backslash: the quote is inside a string
            and buf.find(b"\r", line, end) < 0
        ):
            break
        try:
            # Not an event cut short (the stream's unterminated last one): what is left
            # of it may parse as members although its "usage" was nested.
            usage = orjson.loads(b"{" + buf[at:end]).get("usage") if ended else None
        except orjson.JSONDecodeError:
            usage = None
        if usage is None:  # a nested "usage" last, or a cut event: the whole event
            chunk = _event_json(buf[line:end])
            usage = chunk.get("usage") if chunk is not None else None
        if isinstance(usage, dict):
            return usage
        at = buf.rfind(b'"usage"', 0, line)
    else:
        return None
    if b"\r" in buf:
        buf = buf.replace(b"\r\n", b"\n")
    return _last_usage(buf + b"\n\n")


def _usage_at(data: bytes, start: int) -> int:
    """Where the first ``"usage"`` from ``start`` that is not ``"usage":null`` is (-1: none).

    Streams asked for usage carry ``"usage":null`` in every chunk: those are skipped
    with plain substring searches (a regular expression over every event costs ten
    times more); what is found is confirmed by parsing its event.
    """
    at = data.find(b'"usage"', start)
    while at >= 0:
        after = at + 7
        if not (data.startswith(b":null", after) or data.startswith(b": null", after)):
            return at
        at = data.find(b'"usage"', after)
    return -1


def _event_json(event: bytes) -> JSON | None:
    if event.startswith(b"data:") and b"\n" not in event:  # the usual event: one data line
        data = event[5:]
    else:
        lines = [line for line in event.split(b"\n") if line.startswith(b"data:")]
        if not lines:
            return None
        data = b"\n".join(line[5:].lstrip(b" ") for line in lines)
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def chunk_usage(chunk: JSON) -> JSON | None:
    """The usage object of a canonical chunk dict, if it carries one."""
    usage = chunk.get("usage")
    return usage if isinstance(usage, dict) else None
