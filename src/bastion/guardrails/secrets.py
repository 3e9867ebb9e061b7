"""Credentials: provider API keys, cloud keys, private keys, JWTs, passwords, random tokens.

Keys with a published prefix are found by one alternation (the engine only
tries positions whose character can start a prefix). Passwords are found in
URLs (``scheme://user:password@host``) and in assignments (``password=...``,
``"api_key": "..."``); only the value is the finding, so a redaction keeps the
name. Other long random-looking tokens are flagged by entropy, skipping the
random-looking things that are not secrets: hashes, UUIDs, paths, identifiers.
"""

from __future__ import annotations

import base64
import math
import re
from collections import Counter
from collections.abc import Iterable
from typing import Final

from bastion.guardrails.base import Finding, marks
from bastion.guardrails.terms import word_pattern

# Matched at the start of each long token (see _TOKEN), never over the whole text.
_PREFIXED: Final = re.compile(
    r"(?P<aws_access_key>(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[A-Z0-9]{16})"
    r"|(?P<anthropic_key>sk-ant-(?:api|admin|sid)\d{2}-[A-Za-z0-9_\-]{32,})"
    r"|(?P<openai_key>sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{20,})"
    r"|(?P<stripe_key>(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,})"
    r"|(?P<google_api_key>AIza[0-9A-Za-z_\-]{35})"
    r"|(?P<github_token>(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,})"
    r"|(?P<gitlab_token>glpat-[A-Za-z0-9_\-]{20,})"
    r"|(?P<slack_token>xox[abposr]-[A-Za-z0-9\-]{10,})"
    r"|(?P<huggingface_token>hf_[A-Za-z0-9]{30,})"
    r"|(?P<groq_key>gsk_[A-Za-z0-9]{48,})"
    r"|(?P<xai_key>xai-[A-Za-z0-9]{60,})"
    r"|(?P<replicate_token>r8_[A-Za-z0-9]{37})"
    r"|(?P<perplexity_key>pplx-[A-Za-z0-9]{40,})"
    r"|(?P<npm_token>npm_[A-Za-z0-9]{36})"
    r"|(?P<sendgrid_key>SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43})"
    r"|(?P<digitalocean_token>do[opr]_v1_[a-f0-9]{64})"
    r"|(?P<bastion_key>bst-[A-Za-z0-9_\-]{20,})"
    r"|(?P<jwt>eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,})"
    r"|(?P<azure_storage_key>AccountKey=[A-Za-z0-9+/]{86}==)"
)
_PEM_BEGIN: Final = re.compile(r"-----BEGIN[A-Z ]{0,30} PRIVATE KEY(?: BLOCK)?-----")
_PEM_END: Final = re.compile(r"-----END[A-Z ]{0,30} PRIVATE KEY(?: BLOCK)?-----")
_PEM_BODY: Final = re.compile(r"(?:\s*[A-Za-z0-9+/=:,\-]{1,80})*")
_URL_PASSWORD: Final = re.compile(r"://[^\s:/@?#]{1,64}:([^\s:/@]{1,128})@[\w.\-]")
# An assignment's value (found from its operator, a rare character), then its name before it.
# ``:=?|=>?`` is ``:=|=>|[:=]`` (same order of tries) with a literal first in each branch:
# the engine then skips in C to the next ``:`` or ``=``, where the other form has it try
# a match at every position of the text.
_ASSIGNED: Final = re.compile(r"(?::=?|=>?)[ \t]*([\"'`]?)([^\s\"'`,;()\[\]{}<>]{6,200})")
# A trie whose branches start with a literal: searched in the 40 characters before each
# assignment operator, it skips in C what cannot start a name.
_SECRET_NAME: Final = re.compile(
    "(?:"
    + word_pattern(
        ("password", "passwd", "<pwd", "passphrase", "secret", "token", "credential",
         "credentials", *(f"{w}{sep}key" for w in ("api", "access", "private", "auth")
                          for sep in ("", "_", "-")))
    ).pattern
    + r")[\"']?(?:\s+is)?\s*\Z"
)  # fmt: skip
_ASSIGN_HINTS: Final = ("pass", "pwd", "secret", "token", "key", "credential")
# Long tokens: the ``t`` group of this regex over ``" " + text``, found by _tokens (which
# does not run it: the tests compare the two).
_TOKEN: Final = re.compile(r"[^A-Za-z0-9+/_\-.](?P<t>[A-Za-z0-9+/_\-.]{20,}={0,2})")
# _TOKEN's run characters marked "a" in the text's bytes (see base.marks): a run of 20 is
# then found by bytes.find, where the regex tries a match after every space.
_TOKEN_RUN: Final = marks(
    {"a": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/_-."}
)
_RUN: Final = b"a" * 20
_UUID: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_HEX_CHARS: Final = "0123456789abcdefABCDEF"
_DIGIT_SET: Final = frozenset("0123456789")
_SECRET_WORD: Final = re.compile(r"(?:key|secret|token|password|passwd|pwd|credential|auth)")
_PLACEHOLDER_VALUES: Final = frozenset(
    {"null", "none", "true", "false", "undefined", "required", "optional", "string", "example"}
)

SECRET_KINDS: Final = frozenset(
    {name for name in _PREFIXED.groupindex} | {"private_key", "password", "high_entropy"}
)


class SecretsDetector:
    """Credentials of the given kinds (default: all of :data:`SECRET_KINDS`)."""

    def __init__(self, kinds: Iterable[str] = SECRET_KINDS, min_entropy: float = 3.6) -> None:
        self.kinds = frozenset(kinds) & SECRET_KINDS
        # A token is found once 20 characters of it arrived, and then held while it grows;
        # a private key block from its BEGIN line on.
        self.max_span = 48
        self._min_entropy = min_entropy

    def find(self, text: str, low: str | None, out: list[Finding], source: str = "user") -> None:
        kinds = self.kinds
        found: list[Finding] = []
        for s, e in _tokens(text):
            token = text[s:e]
            key = _PREFIXED.match(token)
            if key is not None and key.end() == len(token.rstrip(".")):
                kind = key.lastgroup or ""
                if kind != "jwt" or _jwt_header(token):
                    found.append(Finding(kind, s, s + key.end()))
                    continue
            if "high_entropy" in kinds:
                self._entropy(text, low, token.rstrip("."), s, found)
        if "-----BEGIN" in text:
            for m in _PEM_BEGIN.finditer(text):
                end = _PEM_END.search(text, m.end(), m.end() + 8192)
                e = end.end() if end is not None else _PEM_BODY.match(text, m.end()).end()  # type: ignore[union-attr]
                found.append(Finding("private_key", m.start(), e))
        # Both password forms have an operator (``:`` of ``://``, or ``:``/``=`` of an
        # assignment): prose without one is done here.
        if "password" in kinds and (":" in text or "=" in text):
            if "://" in text:
                for m in _URL_PASSWORD.finditer(text):
                    found.append(Finding("password", m.start(1), m.end(1)))
            source_text = low if low is not None else text.lower()
            if any(h in source_text for h in _ASSIGN_HINTS):
                for m in _ASSIGNED.finditer(source_text):
                    name = _SECRET_NAME.search(source_text, max(0, m.start() - 40), m.start())
                    if name is not None and _assigned_value(source_text, m):
                        found.append(Finding("password", m.start(2), m.end(2)))
        if not found:
            return
        if len(found) > 1:  # a token inside a key or password already found is that finding
            found = _outermost(found)
        out.extend(f for f in found if f.kind in kinds)

    def _entropy(self, text: str, low: str | None, token: str, s: int, out: list[Finding]) -> None:
        if len(token) < 24 or len(token) > 256:
            return
        if _UUID.search(token) or token.count("/") > 2 or token.count("-") > 4:
            return
        if "." in token and not token.replace(".", "").isalnum():
            return  # dotted names: module.path.to_thing
        # Tokens are ASCII (see _TOKEN): string methods in C stand for per-character tests.
        hexadecimal = not token.rstrip("=").strip(_HEX_CHARS)
        if hexadecimal:
            # Hashes and digests are hex too: only with a secret word just before.
            source = low if low is not None else text.lower()
            if _SECRET_WORD.search(source, max(0, s - 24), s) is None:
                return
        elif not (
            not _DIGIT_SET.isdisjoint(token)  # a digit,
            and token.lower() != token  # an upper-case letter
            and token.upper() != token  # and a lower-case one
        ):
            return
        if entropy(token) >= (3.0 if hexadecimal else self._min_entropy):
            out.append(Finding("high_entropy", s, s + len(token), 0.8))


def _tokens(text: str) -> list[tuple[int, int]]:
    """The spans of _TOKEN's ``t`` group in ``" " + text`` (as offsets in ``text``), found
    with ``bytes.find`` over the marked text: the regex would try a match after every space
    and punctuation mark of the text, most of them before short words."""
    spans: list[tuple[int, int]] = []
    if len(text) < 20:
        return spans
    marked = text.encode("ascii", "replace").translate(_TOKEN_RUN)
    n = len(text)
    end = 0  # where the last match ended: the next one needs its lead character from there
    i = marked.find(_RUN)
    while i >= 0:
        run_end = marked.find(b" ", i)
        if run_end < 0:
            run_end = n
        if i > end or not spans:  # a run right after a match's "=" has no lead of its own
            end = run_end
            while end < n and end - run_end < 2 and text[end] == "=":
                end += 1
            spans.append((i, end))
        i = marked.find(_RUN, run_end)
    return spans


def _outermost(found: list[Finding]) -> list[Finding]:
    """The findings not part of another one: ``f`` is part of ``g`` when inside its span and
    shorter, or when it is ``g``'s span found as a plain password (``g`` names it). Tested
    inline: dense text has dozens of findings, each compared with every other."""
    spans = [(g.start, g.end, g.kind, g) for g in found]
    kept = []
    for f in found:
        fs, fe, fk = f.start, f.end, f.kind
        for gs, ge, gk, g in spans:
            if (
                gs <= fs
                and fe <= ge
                and g is not f
                and (ge - gs > fe - fs or fk == "password" != gk)
            ):
                break
        else:
            kept.append(f)
    return kept


def _assigned_value(source: str, m: re.Match[str]) -> bool:
    value = m.group(2)
    if value in _PLACEHOLDER_VALUES or value[0] in "$<{%[(" or value.startswith("os."):
        return False
    end = m.end(2)
    if end < len(source) and source[end] in "([":
        return False  # a call or an index in code: password = get_password()
    quoted = bool(m.group(1))
    return quoted or any(c.isdigit() for c in value) or len(value) >= 8


def _jwt_header(token: str) -> bool:
    head = token.split(".", 1)[0]
    try:
        decoded = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))
    except ValueError:
        return False
    return b'"alg"' in decoded or b'"typ"' in decoded


def entropy(token: str) -> float:
    """Shannon entropy in bits per character."""
    n = len(token)
    return -sum(c / n * math.log2(c / n) for c in Counter(token).values())
