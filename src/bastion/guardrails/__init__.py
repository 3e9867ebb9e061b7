"""Guardrails: PII, secrets, prompt injection and content safety, on input and output.

In process, no network, no model download. See docs/guardrails.md.
"""

from bastion.guardrails.base import Action, Detector, Direction, Finding
from bastion.guardrails.config import GuardrailsConfig, PolicyConfig, RuleConfig
from bastion.guardrails.content import CATEGORIES, ContentDetector
from bastion.guardrails.injection import InjectionDetector
from bastion.guardrails.pii import PII_KINDS, PIIDetector
from bastion.guardrails.policy import ActivePolicy, PolicyResolver, Scanner, compile_policy
from bastion.guardrails.secrets import SECRET_KINDS, SecretsDetector
from bastion.guardrails.session import GuardSession, Vault, Verdict
from bastion.guardrails.stage import GuardInput, OutputGuard

__all__ = [
    "CATEGORIES",
    "PII_KINDS",
    "SECRET_KINDS",
    "Action",
    "ActivePolicy",
    "ContentDetector",
    "Detector",
    "Direction",
    "Finding",
    "GuardInput",
    "GuardSession",
    "GuardrailsConfig",
    "InjectionDetector",
    "OutputGuard",
    "PIIDetector",
    "PolicyConfig",
    "PolicyResolver",
    "RuleConfig",
    "Scanner",
    "SecretsDetector",
    "Vault",
    "Verdict",
    "compile_policy",
]
