"""Complexity routing: score a prompt's difficulty in process, then take the cheapest tier.

The score (0 = trivial, 1 = hard) adds up cheap features of the request: its length, code,
mathematics, reasoning words ("compare", "trade-offs", "step by step"), multi-step
instructions (numbered lists, "first ... then"), tools or a JSON schema asked for, and
the depth of the conversation. No model and no tokenizer: a few precompiled regular
expressions over at most the last user message's first ``_SCAN_CHARS`` characters, a few
microseconds per request.

Tiers go from the cheapest up; a prompt gets the first tier whose ``max_score`` it does
not exceed, then the first from there whose deployments can serve it (tools, vision, JSON
schema, context window).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bastion.providers.base import JSON, Deployment

_SCAN_CHARS = 12_000
_CHARS_PER_TOKEN = 4

_CODE = re.compile(
    r"```|^\s*(?:def |class |import |from \w+ import|#include|public |private |function |"
    r"const |let |var |SELECT |INSERT |return |for \(|while \(|if \(|fn |func |package )|"
    r"[{};]\s*$|=>|\w+\([^)]*\)\s*\{",
    re.M,
)
_CODE_ASK = re.compile(
    r"\b(?:implement|refactor|debug|function|script|regex|sql|algorithm|compiler?|"
    r"stack ?trace|unit tests?|python|javascript|typescript|rust|golang|java|bash|"
    r"api endpoint|data structure|linked list|binary tree|recursion|lru cache)\b|\bc\+\+",
    re.I,
)
_MATH = re.compile(
    r"\\(?:frac|int|sum|sqrt|prod|lim)|\b(?:integral|derivative|equation|matrix|matrices|"
    r"eigen\w*|probability|expected value|polynomial|logarithm|solve for|closed form)\b|"
    r"\d\s*[\^*/]\s*[\d(a-z]|[a-z]\s*\^\s*\d",
    re.I,
)
_PROOF = re.compile(
    r"\b(?:prove|proof|theorem|lemma|induction|irrational|converges?|rigorous\w*)\b", re.I
)
_REASONING = re.compile(
    r"\b(?:step[- ]by[- ]step|analy[sz]e|analysis|compare|comparison|trade-?offs?|design|"
    r"architect\w*|optimi[sz]e|evaluate|justify|explain|why|pros and cons|propose|derive|"
    r"reason(?:ing)? about|strateg(?:y|ies|ic)|critique|in depth|in detail|detailed|"
    r"comprehensive|thorough\w*|implications?|root cause|generali[sz]e|migration plan)\b",
    re.I,
)
_STEP = re.compile(
    r"^\s*(?:\d+[.)]|[-*\u2022])\s+\S|\b(?:then|next|finally|after that)\b", re.I | re.M
)


@dataclass(frozen=True, slots=True)
class PromptFeatures:
    tokens: int  # the whole prompt, estimated at four characters a token
    turns: int  # user messages so far
    code: bool  # code in the prompt
    code_ask: bool  # a programming request
    math: bool
    proof: bool  # a proof, induction, rigour: the hardest kind of mathematics
    reasoning: int  # distinct reasoning words
    steps: int  # list items and sequencing words
    questions: int
    tools: bool
    json_schema: bool
    images: bool

    def needs(self) -> frozenset[str]:
        """The capabilities a deployment must have to serve this request."""
        needed = set()
        if self.tools:
            needed.add("tools")
        if self.images:
            needed.add("vision")
        if self.json_schema:
            needed.add("json_schema")
        return frozenset(needed)


def _text(content: object) -> tuple[str, bool]:
    """(text, has images) of a message's content."""
    if isinstance(content, str):
        return content, False
    if not isinstance(content, list):
        return "", False
    parts: list[str] = []
    images = False
    for part in content:
        if isinstance(part, dict):
            kind = part.get("type")
            if kind in ("text", "input_text"):
                parts.append(str(part.get("text", "")))
            elif kind in ("image_url", "input_image", "image"):
                images = True
    return "\n".join(parts), images


def features(body: JSON) -> PromptFeatures:
    messages = body.get("messages")
    chars = turns = 0
    images = False
    last_user = ""
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, dict):
            continue
        text, has_images = _text(message.get("content"))
        chars += len(text)
        images = images or has_images
        if message.get("role") == "user":
            turns += 1
            last_user = text
    if body.get("tools"):
        chars += len(str(body["tools"]))
    scan = last_user[:_SCAN_CHARS]
    response_format = body.get("response_format")
    return PromptFeatures(
        tokens=chars // _CHARS_PER_TOKEN + 1,
        turns=turns,
        code=_CODE.search(scan) is not None,
        code_ask=_CODE_ASK.search(scan) is not None,
        math=_MATH.search(scan) is not None,
        proof=_PROOF.search(scan) is not None,
        reasoning=len({m.lower() for m in _REASONING.findall(scan)}),
        steps=len(_STEP.findall(scan)),
        questions=scan.count("?"),
        tools=bool(body.get("tools")) and body.get("tool_choice") != "none",
        json_schema=isinstance(response_format, dict)
        and response_format.get("type") == "json_schema",
        images=images,
    )


def score(f: PromptFeatures) -> float:
    """Difficulty in [0, 1]: a weighted sum of the features, each saturating."""
    s = 0.3 * min(f.tokens / 4000, 1.0)
    if f.code:
        s += 0.2
    if f.code_ask:
        s += 0.3
    if f.proof:
        s += 0.45
    elif f.math:
        s += 0.3
    s += 0.12 * min(f.reasoning, 5)
    s += 0.04 * min(f.steps, 6)
    s += 0.03 * min(max(f.questions - 1, 0), 3)
    if f.tools:
        s += 0.1
    if f.json_schema:
        s += 0.1
    s += 0.02 * min(max(f.turns - 1, 0), 10)
    return min(s, 1.0)


@dataclass(frozen=True, slots=True)
class Tier:
    group: str
    max_score: float | None
    deployments: tuple[Deployment, ...]

    def fits(self, f: PromptFeatures, needs: frozenset[str]) -> bool:
        """Some deployment has the capabilities and the context window for the request."""
        for d in self.deployments:
            if d.capabilities is not None and not needs <= d.capabilities:
                continue
            if d.context_window is not None and f.tokens > d.context_window:
                continue
            return True
        return False


@dataclass(frozen=True, slots=True)
class Choice:
    tier: int
    group: str
    score: float
    header: bytes  # x-bastion-complexity


def choose(tiers: Sequence[Tier], body: JSON) -> Choice:
    """The cheapest tier the prompt's score allows and its needs fit (the last, failing that)."""
    f = features(body)
    s = score(f)
    start = next(
        (i for i, t in enumerate(tiers) if t.max_score is None or s <= t.max_score),
        len(tiers) - 1,
    )
    needs = f.needs()
    index = next((i for i in range(start, len(tiers)) if tiers[i].fits(f, needs)), len(tiers) - 1)
    group = tiers[index].group
    header = f"tier={group}; score={s:.3f}".encode()
    return Choice(index, group, s, header)
