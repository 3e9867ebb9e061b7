"""One request's guardrail state: its policy, its pseudonym vault and its verdicts.

The vault maps each pseudonymised value to a tag (``<EMAIL_1>``; the same value
gets the same tag within a request) and back, so the caller's answer has the
real values restored. It lives only as long as the request. Verdicts count
findings by direction, kind and action; they never hold a matched value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from bastion.errors import GatewayError
from bastion.guardrails.base import Finding, label
from bastion.guardrails.config import group_of
from bastion.guardrails.policy import ActivePolicy, DirectionPolicy, non_overlapping

TAG: Final = re.compile(r"<([A-Z][A-Z0-9_]*)_(\d{1,6})>")


class Vault:
    """Reversible pseudonyms for one request."""

    __slots__ = ("_by_tag", "_by_value", "_counts", "max_tag")

    def __init__(self) -> None:
        self._by_value: dict[tuple[str, str], str] = {}
        self._by_tag: dict[str, str] = {}
        self._counts: dict[str, int] = {}
        self.max_tag = 0

    def __bool__(self) -> bool:
        return bool(self._by_tag)

    def tag(self, kind: str, value: str) -> str:
        key = (kind, value)
        tag = self._by_value.get(key)
        if tag is None:
            n = self._counts.get(kind, 0) + 1
            self._counts[kind] = n
            tag = f"<{label(kind)}_{n}>"
            self._by_value[key] = tag
            self._by_tag[tag] = value
            self.max_tag = max(self.max_tag, len(tag))
        return tag

    def restore(self, text: str) -> str:
        """``text`` with every known tag replaced by its value (unknown tags stay)."""
        if not self._by_tag or "<" not in text:
            return text
        by_tag = self._by_tag
        return TAG.sub(lambda m: by_tag.get(m.group(), m.group()), text)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a guardrail did in a request: never the value it found."""

    direction: str
    detector: str  # the family: pii, secrets, injection, content
    kind: str
    action: str
    count: int
    policy: str

    def as_dict(self) -> dict[str, str | int]:
        return {
            "direction": self.direction,
            "detector": self.detector,
            "kind": self.kind,
            "action": self.action,
            "count": self.count,
            "policy": self.policy,
        }


class GuardSession:
    """The guardrails of one request (``ctx.guardrails``)."""

    __slots__ = ("_counts", "_vault", "policy")

    def __init__(self, policy: ActivePolicy) -> None:
        self.policy = policy
        self._vault: Vault | None = None  # made by the first pseudonym: most requests have none
        self._counts: dict[tuple[str, str, str, str], int] = {}

    @property
    def vault(self) -> Vault:
        vault = self._vault
        if vault is None:
            vault = self._vault = Vault()
        return vault

    @property
    def pseudonymised(self) -> bool:
        """Whether a value was pseudonymised (the answer then needs its tags restored)."""
        return self._vault is not None and bool(self._vault)

    # --- verdicts ------------------------------------------------------------------------

    @property
    def verdicts(self) -> list[Verdict]:
        """What the guardrails found and did so far (audit and metrics read this)."""
        families = self.policy.families
        return [
            Verdict(direction, families.get(kind) or group_of(kind), kind, action, count, policy)
            for (direction, kind, action, policy), count in self._counts.items()
        ]

    def header(self) -> bytes:
        """``x-bastion-guardrails``: ``direction/kind/action=count, ...`` or ``none``."""
        if not self._counts:
            return b"none"
        return ", ".join(
            f"{d}/{k}/{a}={n}" for (d, k, a, _), n in sorted(self._counts.items())
        ).encode()

    def record(self, direction: str, kind: str, action: str, policy: str) -> None:
        key = (direction, kind, action, policy)
        self._counts[key] = self._counts.get(key, 0) + 1

    # --- acting on a text ----------------------------------------------------------------

    def apply(
        self,
        text: str,
        rules: DirectionPolicy,
        direction: str,
        source: str,
        where: str | None = None,
        extra: list[Finding] | None = None,
    ) -> str:
        """Scan ``text``; count, block (raise) or rewrite. Returns ``text`` itself when unchanged.

        ``extra``: findings in ``text`` from elsewhere (Presidio), acted on with the scan's."""
        findings = rules.scanner.scan(text, source)
        if extra:
            findings = [*findings, *extra]
        if not findings:
            return text
        return self.act(text, findings, rules, direction, where)

    def act(
        self,
        text: str,
        findings: list[Finding],
        rules: DirectionPolicy,
        direction: str,
        where: str | None = None,
    ) -> str:
        blocked: Finding | None = None
        rewrite = False
        for f in findings:
            action = rules.actions.get(f.kind, "record")
            key = (direction, f.kind, action, rules.policies.get(f.kind, ""))
            self._counts[key] = self._counts.get(key, 0) + 1
            if action == "block":
                blocked = blocked or f
            elif action != "record":
                rewrite = True
        if blocked is not None:
            raise self.blocked(blocked.kind, rules, direction, where)
        if not rewrite:
            return text
        pieces: list[str] = []
        pos = 0
        for f in non_overlapping(findings):
            action = rules.actions.get(f.kind, "record")
            if action == "record":
                continue
            pieces.append(text[pos : f.start])
            if action == "pseudonymise" and f.kind != "injection":
                pieces.append(self.vault.tag(f.kind, text[f.start : f.end]))
            else:
                pieces.append(f"[{label(f.kind)}]")
            pos = f.end
        pieces.append(text[pos:])
        return "".join(pieces)

    def blocked(
        self, kind: str, rules: DirectionPolicy, direction: str, where: str | None
    ) -> GatewayError:
        policy = rules.policies.get(kind, "")
        what = f"{self.policy.families.get(kind) or group_of(kind)}/{kind}"
        place = f" ({where})" if where else ""
        return GatewayError(
            self.policy.block_status,
            f"Blocked by the guardrail policy '{policy}': {what} found in the {direction}{place}.",
            code="guardrail_blocked",
            param=where,
        )
