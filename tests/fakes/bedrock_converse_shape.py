"""The Converse request shape, as Bedrock validates it (for the fake Bedrock).

Field names and unions follow botocore's service model for ``bedrock-runtime``
(``ConverseRequest``, ``Message``, ``ContentBlock``, ``ToolConfiguration``, ...);
the messages are Bedrock's own ``ValidationException`` messages where known.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import orjson


class ConverseShapeError(ValueError):
    """What Bedrock would answer with a 400 ``ValidationException``."""


_CONVERSE_FIELDS = {
    "messages",
    "system",
    "inferenceConfig",
    "toolConfig",
    "guardrailConfig",
    "additionalModelRequestFields",
    "promptVariables",
    "additionalModelResponseFieldPaths",
    "requestMetadata",
    "performanceConfig",
    "serviceTier",
    "outputConfig",
}
_BLOCK_KINDS = {
    "text",
    "image",
    "document",
    "video",
    "audio",
    "toolUse",
    "toolResult",
    "guardContent",
    "cachePoint",
    "reasoningContent",
    "citationsContent",
    "searchResult",
}
_INFERENCE_FIELDS = {"maxTokens", "temperature", "topP", "stopSequences"}
_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")


def _invalid(message: str) -> ConverseShapeError:
    return ConverseShapeError(message)


def check_converse(body: dict[str, Any]) -> None:
    unknown = set(body) - _CONVERSE_FIELDS
    if unknown:
        raise _invalid(f"Unknown parameter(s) in the request: {', '.join(sorted(unknown))}")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _invalid(
            "A conversation must start with a user message. Try again with a conversation that starts with a user message."
        )
    uses_tools = False
    previous_tool_ids: set[str] = set()
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            raise _invalid(f"messages.{i}: a message has exactly the fields role and content")
        role = message["role"]
        if role not in ("user", "assistant"):
            raise _invalid(
                f"1 validation error detected: Value '{role}' at 'messages.{i}.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]"
            )
        if (i == 0 and role != "user") or (i > 0 and messages[i - 1]["role"] == role):
            raise _invalid(
                "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again."
            )
        content = message["content"]
        if not isinstance(content, list) or not content:
            raise _invalid(
                f"The content field in the Message object at messages.{i} is empty. Add a ContentBlock object to the content field and try again."
            )
        tool_ids: set[str] = set()
        for j, block in enumerate(content):
            where = f"messages.{i}.content.{j}"
            kind = _union_member(block, _BLOCK_KINDS, where)
            value = block[kind]
            if kind == "text":
                if not isinstance(value, str) or not value.strip():
                    raise _invalid(
                        f"The text field in the ContentBlock object at {where} is blank. Add text to the text field, and try again."
                    )
            elif kind == "image":
                _check_image(value, where)
            elif kind == "document":
                if not isinstance(value, dict) or not {"format", "name", "source"} <= set(value):
                    raise _invalid(f"{where}.document needs format, name and source")
                _check_bytes(value["source"], where)
            elif kind == "toolUse":
                uses_tools = True
                if (
                    role != "assistant"
                    or set(value) != {"toolUseId", "name", "input"}
                    or not isinstance(value["input"], dict)
                ):
                    raise _invalid(
                        f"{where}.toolUse must be {{toolUseId, name, input}} in an assistant message"
                    )
                tool_ids.add(value["toolUseId"])
            elif kind == "toolResult":
                uses_tools = True
                if (
                    role != "user"
                    or not isinstance(value, dict)
                    or not {"toolUseId", "content"} <= set(value)
                    or set(value) - {"toolUseId", "content", "status"}
                ):
                    raise _invalid(
                        f"{where}.toolResult must be {{toolUseId, content, status?}} in a user message"
                    )
                if value["toolUseId"] not in previous_tool_ids:
                    raise _invalid(
                        f"The toolResult blocks at {where} do not match the toolUse blocks of the previous turn."
                    )
                for k, item in enumerate(value["content"]):
                    inner = _union_member(
                        item,
                        {"json", "text", "image", "document", "video", "searchResult"},
                        f"{where}.toolResult.content.{k}",
                    )
                    if inner == "image":
                        _check_image(item["image"], f"{where}.toolResult.content.{k}")
        previous_tool_ids = tool_ids
    system = body.get("system")
    if system is not None:
        for k, block in enumerate(system if isinstance(system, list) else [None]):
            kind = _union_member(block, {"text", "guardContent", "cachePoint"}, f"system.{k}")
            if kind == "text" and not str(block["text"]).strip():
                raise _invalid(f"The text field in the SystemContentBlock at system.{k} is blank.")
    inference = body.get("inferenceConfig")
    if inference is not None:
        if not isinstance(inference, dict) or set(inference) - _INFERENCE_FIELDS:
            raise _invalid(
                f"inferenceConfig: unknown fields {sorted(set(inference or {}) - _INFERENCE_FIELDS)}"
            )
        if "maxTokens" in inference and not (
            isinstance(inference["maxTokens"], int) and inference["maxTokens"] >= 1
        ):
            raise _invalid("inferenceConfig.maxTokens must be an integer >= 1")
        stops = inference.get("stopSequences", [])
        if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
            raise _invalid("inferenceConfig.stopSequences must be a list of non-empty strings")
    tool_config = body.get("toolConfig")
    if tool_config is None:
        if uses_tools:
            raise _invalid(
                "The toolConfig field must be defined when using toolUse and toolResult content blocks."
            )
    else:
        _check_tool_config(tool_config)
    output = body.get("outputConfig")
    if output is not None:
        fmt = output.get("textFormat") if isinstance(output, dict) else None
        schema = (((fmt or {}).get("structure") or {}).get("jsonSchema") or {}).get("schema")
        if (
            not isinstance(fmt, dict)
            or fmt.get("type") != "json_schema"
            or not isinstance(schema, str)
        ):
            raise _invalid(
                "outputConfig.textFormat must be {type: json_schema, structure: {jsonSchema: {schema: <string>}}}"
            )
        try:
            orjson.loads(schema)
        except orjson.JSONDecodeError:
            raise _invalid("outputConfig...jsonSchema.schema is not valid JSON") from None


def _union_member(block: Any, kinds: set[str], where: str) -> str:
    if not isinstance(block, dict) or len(block) != 1 or next(iter(block)) not in kinds:
        raise _invalid(
            f"{where}: a content block must have exactly one of {sorted(kinds)}, got {sorted(block) if isinstance(block, dict) else block!r}"
        )
    return next(iter(block))


def _check_image(image: Any, where: str) -> None:
    if (
        not isinstance(image, dict)
        or set(image) != {"format", "source"}
        or image["format"] not in ("png", "jpeg", "gif", "webp")
    ):
        raise _invalid(f"{where}.image must be {{format: png|jpeg|gif|webp, source}}")
    _check_bytes(image["source"], where)


def _check_bytes(source: Any, where: str) -> None:
    if not isinstance(source, dict) or set(source) != {"bytes"}:
        raise _invalid(f"{where}: source must be {{bytes}}")
    try:
        base64.b64decode(source["bytes"], validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise _invalid(f"{where}: source.bytes is not valid base64") from None


def _check_tool_config(config: Any) -> None:
    if (
        not isinstance(config, dict)
        or set(config) - {"tools", "toolChoice"}
        or not config.get("tools")
    ):
        raise _invalid("toolConfig must be {tools: [...], toolChoice?}")
    for k, tool in enumerate(config["tools"]):
        _union_member(tool, {"toolSpec", "systemTool", "cachePoint"}, f"toolConfig.tools.{k}")
        spec = tool.get("toolSpec")
        if spec is None:
            continue
        if set(spec) - {"name", "description", "inputSchema", "strict"} or not _TOOL_NAME.fullmatch(
            str(spec.get("name"))
        ):
            raise _invalid(f"toolConfig.tools.{k}.toolSpec is invalid")
        schema = spec.get("inputSchema")
        if (
            not isinstance(schema, dict)
            or set(schema) != {"json"}
            or not isinstance(schema["json"], dict)
        ):
            raise _invalid(f"toolConfig.tools.{k}.toolSpec.inputSchema must be {{json: <schema>}}")
    choice = config.get("toolChoice")
    if choice is not None:
        kind = _union_member(choice, {"auto", "any", "tool"}, "toolConfig.toolChoice")
        if kind == "tool" and not isinstance(choice["tool"].get("name"), str):
            raise _invalid("toolConfig.toolChoice.tool needs a name")
        if kind != "tool" and choice[kind] != {}:
            raise _invalid(f"toolConfig.toolChoice.{kind} must be an empty object")
