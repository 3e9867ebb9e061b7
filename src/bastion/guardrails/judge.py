"""A guardrail that asks a model: ``judge:`` in a policy (input only).

After the in-process detectors (and Presidio) ran, so that the judge sees
``<EMAIL_1>`` and never what they removed, the texts of the sources it reads
(user and tool by default) go to a model the gateway serves (``model:``, a
public model name), in process: the judge's request is routed by the gateway's
own :class:`~bastion.routing.router.Router` (rules, failover, retries,
breakers, the caller's data-residency regions) and sent by its transport. It
does not pass through the pipeline's admission stages: no guardrails (no
recursion), no authorisation of the model for the caller, no rate limits, no
budget charge. It does go through the finishers, as a request of its own
(ingress ``guardrail``, request id ``<caller's id>:judge``, the caller's key):
the spend ledger records and prices it, the audit trail and the metrics see it.

The judge is told (``prompt``, with ``{categories}`` replaced) to answer
``{"verdict": "SAFE"|"UNSAFE", "categories": [...], "reason": "..."}``; JSON
mode is asked for (``json_mode``). Answers in Llama Guard's plain form
(``safe``, or ``unsafe`` and a line of categories) are read too. A timeout, an
error, or an answer that says neither counts as ``on_error`` (block by
default: a judge that is down fails closed).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from bastion.errors import GatewayError
from bastion.guardrails.config import JudgeConfig

if TYPE_CHECKING:
    from bastion.pipeline import Pipeline, RequestContext

log = logging.getLogger("bastion.guardrails")
INGRESS = "guardrail"
_REASON_LIMIT = 200
_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")
_VERDICT_SCHEMA = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": ["SAFE", "UNSAFE"]},
        "categories": {"type": "array", "items": {"type": "string"}},
        "reason": {"type": "string"},
    },
    "required": ["verdict", "categories", "reason"],
    "additionalProperties": False,
}


class JudgeVerdict:
    __slots__ = ("allowed", "reason")

    def __init__(self, allowed: bool, reason: str) -> None:
        self.allowed = allowed
        self.reason = reason


class UnreadableAnswer(ValueError):
    pass


def judge_text(config: JudgeConfig, texts: Sequence[dict[str, str]]) -> str:
    """The user message of the judge's request: each text of the sources it reads, headed
    by its source; past ``max_chars``, the first and last halves of that budget."""
    parts = [f"[{t['source']}]\n{t['text']}" for t in texts if t["source"] in config.sources]
    text = "\n\n".join(parts)
    limit = config.max_chars
    if len(text) > limit:
        half = limit // 2
        text = text[:half] + "\n[...]\n" + text[-half:]
    return text


def judge_body(config: JudgeConfig, text: str, json_schema: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": config.model,
        "messages": [
            {
                "role": "system",
                "content": config.prompt.replace("{categories}", ", ".join(config.categories)),
            },
            {"role": "user", "content": text},
        ],
        "temperature": 0,
        "max_tokens": config.max_tokens,
    }
    if config.json_mode == "json_schema" or (config.json_mode == "auto" and json_schema):
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "verdict", "strict": True, "schema": _VERDICT_SCHEMA},
        }
    elif config.json_mode != "off":
        body["response_format"] = {"type": "json_object"}
    return body


def read_verdict(content: str) -> tuple[bool, str]:
    """(unsafe, reason) from the judge's answer, or UnreadableAnswer."""
    text = _FENCE.sub("", content.strip())
    start, end = text.find("{"), text.rfind("}")
    if start >= 0 and end > start:
        try:
            answer: Any = orjson.loads(text[start : end + 1])
        except orjson.JSONDecodeError:
            answer = None
        if isinstance(answer, dict):
            verdict = answer.get("verdict")
            if isinstance(verdict, str) and verdict.strip().upper() in ("SAFE", "UNSAFE"):
                unsafe = verdict.strip().upper() == "UNSAFE"
                categories = answer.get("categories")
                found = (
                    ", ".join(str(c) for c in categories if c)
                    if isinstance(categories, list)
                    else ""
                )
                reason = answer.get("reason")
                said = str(reason).strip() if reason else ""
                return unsafe, (f"{found}: {said}" if found and said else found or said)
    # Llama Guard's form: "safe", or "unsafe" then a line of categories ("S1,S10").
    lines = text.splitlines()
    first = lines[0].strip().lower() if lines else ""
    if first in ("safe", "unsafe"):
        return first == "unsafe", " ".join(line.strip() for line in lines[1:]).strip()
    raise UnreadableAnswer("the judge's answer has no verdict")


class Judge:
    """Asks judge models through the gateway's pipeline, once bound to it (app.py)."""

    __slots__ = ("_pipeline",)

    def __init__(self) -> None:
        self._pipeline: Pipeline | None = None

    def bind(self, pipeline: Pipeline, models: Sequence[tuple[str, str]]) -> None:
        """Use ``pipeline``'s router and transport; check that every judge model
        (``(policy, model)``) is one the gateway serves."""
        router = pipeline.router
        if router is None:
            raise ValueError("guardrails: a judge needs the gateway's router")
        for policy, model in models:
            try:
                router.group(model)
            except GatewayError:
                raise ValueError(
                    f"guardrails.policies.{policy}.judge.model: {model!r} is not a model the "
                    "gateway serves (a models: name, or provider/model)"
                ) from None
        self._pipeline = pipeline

    async def ask(
        self, config: JudgeConfig, parent: RequestContext, texts: Sequence[dict[str, str]]
    ) -> JudgeVerdict:
        """Ask the judge once; never raises (but is cancelled with its caller)."""
        text = judge_text(config, texts)
        if not text:
            return JudgeVerdict(True, "")  # nothing of the sources it reads
        from bastion.pipeline import RequestContext  # at call time: pipeline imports much

        pipeline = self._pipeline
        ctx = RequestContext("chat", INGRESS, parent.request_id[:100] + ":judge")
        ctx.principal = parent.principal  # its cost shows on the caller's key
        ctx.model = config.model
        ctx.regions = parent.regions  # the caller's data residency binds the judge too
        ctx.want_usage = True
        try:
            if pipeline is None or pipeline.router is None:
                raise RuntimeError("the judge is not bound to the gateway")
            async with asyncio.timeout(config.timeout):
                ctx.body = judge_body(config, text, False)
                await pipeline.router(ctx)
                if config.json_mode == "auto" and _declare_json_schema(ctx):
                    ctx.body = judge_body(config, text, True)
                done = await pipeline.complete(ctx)
            ctx.status = 200
            unsafe, reason = read_verdict(_content(done.json()))
        except asyncio.CancelledError:
            ctx.status = 499
            raise
        except Exception as exc:  # down, slow or wrong: on_error decides
            if isinstance(exc, GatewayError):
                ctx.error = exc
            elif isinstance(exc, TimeoutError):
                ctx.error = GatewayError(504, "The judge did not answer in time.", code="timeout")
            elif not ctx.status:
                ctx.error = GatewayError(502, "The judge failed.", code="judge_error")
            if ctx.error is not None:
                ctx.status = ctx.error.status
            log.warning(
                "guardrail judge %s failed (request %s): %s",
                config.model,
                parent.request_id,
                type(exc).__name__,
            )
            return JudgeVerdict(config.on_error == "allow", "the guardrail judge is unavailable")
        finally:
            if pipeline is not None:
                pipeline.finish(ctx)
        if not unsafe:
            return JudgeVerdict(True, "")
        return JudgeVerdict(False, reason[:_REASON_LIMIT] or "judged unsafe")


def _declare_json_schema(ctx: RequestContext) -> bool:
    """Every routed deployment declares the json_schema capability."""
    return bool(ctx.deployments) and all(
        d.capabilities is not None and "json_schema" in d.capabilities for d in ctx.deployments
    )


def _content(data: Any) -> str:
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        content = None
    if not isinstance(content, str):
        raise UnreadableAnswer("the judge's answer has no text")
    return content
