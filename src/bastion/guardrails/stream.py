"""Guarding a streamed answer while it flows.

Each text channel of the stream (a choice's content, a tool call's arguments)
goes through an :class:`OutputChannel`: new text joins a small buffer; the
buffer is scanned; everything but the last ``max_span - 1`` characters is
released (a match cannot end later and start earlier than that), with its
findings acted on; a match that crosses the release point holds the release
back to its start. So a card number split over three chunks is still
redacted, and nothing that could be part of a match goes out early. The last
released characters are kept as left context for the next scan (a birth date
needs the word before it). Pseudonyms are restored after the scan, holding
back a tag cut in two (``<EMA`` + ``IL_1>``).
"""

from __future__ import annotations

from bastion.guardrails.policy import DirectionPolicy
from bastion.guardrails.session import GuardSession

_CONTEXT = 48  # released characters kept as left context


class OutputChannel:
    __slots__ = ("_buf", "_context", "_hold", "_pending_tag", "_rules", "_session")

    def __init__(self, session: GuardSession, rules: DirectionPolicy | None) -> None:
        self._session = session
        self._rules = rules
        self._hold = max(rules.max_span - 1, 0) if rules is not None else 0
        self._buf = ""  # received, not yet released
        self._context = ""
        self._pending_tag = ""  # released by the scan, waiting for the rest of a tag

    def feed(self, text: str) -> str:
        """Add received text; return what can go to the caller now."""
        self._buf += text
        if len(self._buf) <= self._hold:
            return ""
        return self._release(final=False)

    def flush(self) -> str:
        """The stream's end: release everything."""
        return self._release(final=True)

    def _release(self, final: bool) -> str:
        buf = self._buf
        rules = self._rules
        if rules is None:
            out, self._buf = buf, ""
        else:
            cut = len(buf) if final else len(buf) - self._hold
            offset = len(self._context)
            view = self._context + buf
            findings = rules.scanner.scan(view, "output")
            ready = []
            for f in findings:
                start, end = f.start - offset, f.end - offset
                if end <= 0:
                    continue  # released earlier
                if start < cut < end:
                    cut = max(start, 0)
            for f in findings:
                start, end = f.start - offset, f.end - offset
                if start >= 0 and end <= cut:
                    ready.append(f)
            released = view[: offset + cut]
            if ready:
                released = self._session.act(released, ready, rules, "output")
            out = released[offset:] if len(released) >= offset else ""
            self._buf = buf[cut:]
            self._context = view[: offset + cut][-_CONTEXT:]
        return self._restore(out, final)

    def _restore(self, text: str, final: bool) -> str:
        vault = self._session.vault
        if not vault:
            return text
        text = self._pending_tag + text
        self._pending_tag = ""
        if not final:
            lt = text.rfind("<", max(0, len(text) - vault.max_tag))
            if lt >= 0 and ">" not in text[lt:]:
                text, self._pending_tag = text[:lt], text[lt:]
        return vault.restore(text)
