"""The prompt-injection rule set: each rule a regex with a weight and the anchor words
it cannot match without, written as families of phrasing (see docs/guardrails.md).

The engine that finds the anchors and runs the rules is ``injection.py``; this package
is data: the rule type and its one constructor (``_base``), the phrasing several rules
share (``_words``), and the rules grouped by family in the order they were written, which
``RULES`` keeps (a text's span is its first hit's).
"""

from __future__ import annotations

from typing import Final

from bastion.guardrails.injection_rules._base import Rule
from bastion.guardrails.injection_rules.first import FIRST
from bastion.guardrails.injection_rules.languages_indirect import LANGUAGES_INDIRECT
from bastion.guardrails.injection_rules.refusal_framing import REFUSAL_FRAMING
from bastion.guardrails.injection_rules.second import SECOND
from bastion.guardrails.injection_rules.soft_overrides import SOFT_OVERRIDES

__all__ = ["RULES", "Rule"]

RULES: Final[tuple[Rule, ...]] = (
    *FIRST,
    *SECOND,
    *REFUSAL_FRAMING,
    *SOFT_OVERRIDES,
    *LANGUAGES_INDIRECT,
)
