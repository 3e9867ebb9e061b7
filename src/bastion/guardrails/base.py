"""The guardrails' small vocabulary: findings, detectors, actions, directions.

A detector looks at one text and appends :class:`Finding` s (a kind and a span,
never a copy of the value) to a list. Everything else (policies, actions,
the stream scanner, the pipeline stages) is written against this module.
"""

from __future__ import annotations

from typing import Final, Literal, NamedTuple, Protocol

Action = Literal["block", "redact", "pseudonymise", "record"]
Direction = Literal["input", "output"]

# The strictest action wins when several policies cover one kind.
ACTION_RANK: Final[dict[str, int]] = {"record": 0, "pseudonymise": 1, "redact": 2, "block": 3}


class Finding(NamedTuple):
    """One match: ``kind`` (e.g. ``email``) over ``text[start:end]``; ``score`` in 0..1."""

    kind: str
    start: int
    end: int
    score: float = 1.0


class Detector(Protocol):
    """Finds spans of some kinds in a text.

    ``find`` gets the text and its lower-cased copy (shared by every detector;
    it has the same length as ``text`` or is None when lower-casing changed the
    length) and appends what it finds to ``out``. ``max_span`` bounds the length
    of a match, so a stream scanner knows how much of a tail to hold back.
    """

    kinds: frozenset[str]
    max_span: int

    def find(self, text: str, low: str | None, out: list[Finding], source: str = "user") -> None:
        """``source`` says where the text came from: system, user, assistant, tool
        (tool results and retrieved documents), tool_call, or output."""
        ...


def lowered(text: str) -> str | None:
    """``text.lower()`` when it keeps every offset, else None."""
    low = text.lower()
    return low if len(low) == len(text) else None


def label(kind: str) -> str:
    """The tag used in redactions and pseudonyms: ``email`` -> ``EMAIL``."""
    return kind.upper()


def is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def marks(classes: dict[str, str], other: str = " ") -> bytes:
    """A ``bytes.translate`` table: each (ASCII) character of ``classes[mark]`` becomes
    ``mark``, every other byte ``other``.

    A text encoded with ``encode("ascii", "replace")`` (one byte a character, so offsets
    stay) and translated with it shows where characters of a class are, for ``bytes.find``
    or a literal-led regex: in C, a few instructions a character, where a regex led by a
    character class runs its matcher at every position of that class."""
    table = bytearray(other.encode("ascii") * 256)
    for mark, chars in classes.items():
        for byte in chars.encode("ascii"):
            table[byte] = ord(mark)
    return bytes(table)
