"""Where each vendor's request body keeps what the conformance suite checks.

A :class:`Wire` reads a request body *as the fake upstream received it* and
returns vendor-neutral values (the system prompt, the turns, the images, ...),
so one assertion serves every provider: "the system prompt reached Gemini's
``systemInstruction``" is ``wire.system(body) == "..."`` for every case.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]
Image = tuple[str, str]  # (mime type, base64 data), or ("url", the URL) for a linked image


@dataclass(frozen=True)
class Wire:
    """Readers over one vendor's request body (see the module docstring)."""

    name: str
    system: Callable[[JSON], str | None]  # the system prompt, from the vendor's system slot
    turns: Callable[[JSON], list[tuple[str, str]]]  # (user|assistant, text), system excluded
    images: Callable[[JSON], list[Image]]
    tools: Callable[[JSON], list[str]]  # the declared function names
    schema_fields: Callable[[JSON], list[str]]  # property names of the response JSON schema
    tool_choice: Callable[[JSON], str]  # "auto" (also the default) | "none" | "required" | a name
    stop: Callable[[JSON], list[str]]
    max_tokens: Callable[[JSON], int | None]


def _data_url(url: str) -> Image:
    if url.startswith("data:"):
        header, _, data = url[5:].partition(",")
        return header.removesuffix(";base64"), data
    return "url", url


def _joined(texts: list[str]) -> str:
    return "\n".join(t for t in texts if t)


def _properties(schema: Any) -> list[str]:
    return sorted((schema or {}).get("properties") or {}) if isinstance(schema, dict) else []


# --- OpenAI Chat Completions (OpenAI, Azure OpenAI and the compatible family) ---------------


def _openai_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return _joined([p.get("text", "") for p in content or [] if p.get("type") == "text"])


def _openai_images(body: JSON) -> list[Image]:
    return [
        _data_url(part["image_url"]["url"])
        for m in body["messages"]
        if isinstance(m.get("content"), list)
        for part in m["content"]
        if part.get("type") == "image_url"
    ]


def _openai_tool_choice(body: JSON) -> str:
    choice = body.get("tool_choice", "auto")
    return str(choice["function"]["name"] if isinstance(choice, dict) else choice)


def _openai_stop(body: JSON) -> list[str]:
    stop = body.get("stop")
    return [stop] if isinstance(stop, str) else list(stop or [])


OPENAI = Wire(
    name="openai",
    system=lambda b: next(
        (_openai_text(m["content"]) for m in b["messages"] if m["role"] in ("system", "developer")),
        None,
    ),
    turns=lambda b: [
        (m["role"], _openai_text(m.get("content")))
        for m in b["messages"]
        if m["role"] in ("user", "assistant")
    ],
    images=_openai_images,
    tools=lambda b: [t["function"]["name"] for t in b.get("tools") or []],
    schema_fields=lambda b: _properties(
        ((b.get("response_format") or {}).get("json_schema") or {}).get("schema")
    ),
    tool_choice=_openai_tool_choice,
    stop=_openai_stop,
    max_tokens=lambda b: b.get("max_completion_tokens", b.get("max_tokens")),
)


# --- Anthropic Messages -------------------------------------------------------------------


def _anthropic_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return _joined([b["text"] for b in content if b.get("type") == "text"])


def _anthropic_images(body: JSON) -> list[Image]:
    images: list[Image] = []
    for m in body["messages"]:
        for block in m["content"] if isinstance(m["content"], list) else []:
            if block.get("type") == "image":
                source = block["source"]
                if source["type"] == "url":
                    images.append(("url", source["url"]))
                else:
                    images.append((source["media_type"], source["data"]))
    return images


def _anthropic_tool_choice(body: JSON) -> str:
    choice = body.get("tool_choice") or {"type": "auto"}
    if choice["type"] == "tool":
        return str(choice["name"])
    return {"auto": "auto", "none": "none", "any": "required"}[choice["type"]]


ANTHROPIC = Wire(
    name="anthropic",
    system=lambda b: _anthropic_text(b["system"]) if "system" in b else None,
    turns=lambda b: [(m["role"], _anthropic_text(m["content"])) for m in b["messages"]],
    images=_anthropic_images,
    tools=lambda b: [t["name"] for t in b.get("tools") or []],
    schema_fields=lambda b: _properties(
        ((b.get("output_config") or {}).get("format") or {}).get("schema")
    ),
    tool_choice=_anthropic_tool_choice,
    stop=lambda b: list(b.get("stop_sequences") or []),
    max_tokens=lambda b: b.get("max_tokens"),
)


# --- Google generateContent (Gemini API and Vertex AI) ------------------------------------


def _gemini_text(parts: list[JSON]) -> str:
    return _joined([p["text"] for p in parts if "text" in p and not p.get("thought")])


def _gemini_images(body: JSON) -> list[Image]:
    images: list[Image] = []
    for content in body["contents"]:
        for part in content["parts"]:
            if "inlineData" in part:
                images.append((part["inlineData"]["mimeType"], part["inlineData"]["data"]))
            elif "fileData" in part:
                images.append(("url", part["fileData"]["fileUri"]))
    return images


def _gemini_schema(body: JSON) -> list[str]:
    config = body.get("generationConfig") or {}
    return _properties(config.get("responseSchema") or config.get("responseJsonSchema"))


def _gemini_tool_choice(body: JSON) -> str:
    config = (body.get("toolConfig") or {}).get("functionCallingConfig") or {"mode": "AUTO"}
    names = config.get("allowedFunctionNames") or []
    if config["mode"] == "ANY" and len(names) == 1:
        return str(names[0])
    return {"AUTO": "auto", "NONE": "none", "ANY": "required"}[config["mode"]]


GEMINI = Wire(
    name="gemini",
    system=lambda b: (
        _gemini_text(b["systemInstruction"]["parts"]) if "systemInstruction" in b else None
    ),
    turns=lambda b: [
        ("assistant" if c["role"] == "model" else c["role"], _gemini_text(c["parts"]))
        for c in b["contents"]
    ],
    images=_gemini_images,
    tools=lambda b: [d["name"] for t in b.get("tools") or [] for d in t["functionDeclarations"]],
    schema_fields=_gemini_schema,
    tool_choice=_gemini_tool_choice,
    stop=lambda b: list((b.get("generationConfig") or {}).get("stopSequences") or []),
    max_tokens=lambda b: (b.get("generationConfig") or {}).get("maxOutputTokens"),
)


# --- Amazon Bedrock Converse --------------------------------------------------------------


def _bedrock_text(blocks: list[JSON]) -> str:
    return _joined([b["text"] for b in blocks if "text" in b])


def _bedrock_schema(body: JSON) -> list[str]:
    fmt = (body.get("outputConfig") or {}).get("textFormat") or {}
    schema = ((fmt.get("structure") or {}).get("jsonSchema") or {}).get("schema")
    return _properties(json.loads(schema)) if isinstance(schema, str) else []


def _bedrock_tool_choice(body: JSON) -> str:
    config = body.get("toolConfig")
    if config is None:  # Converse cannot forbid tools: "none" leaves them out
        return "none"
    choice = config.get("toolChoice") or {"auto": {}}
    if "tool" in choice:
        return str(choice["tool"]["name"])
    return "required" if "any" in choice else "auto"


BEDROCK = Wire(
    name="bedrock",
    system=lambda b: _bedrock_text(b["system"]) if "system" in b else None,
    turns=lambda b: [(m["role"], _bedrock_text(m["content"])) for m in b["messages"]],
    images=lambda b: [
        ("image/" + block["image"]["format"], block["image"]["source"]["bytes"])
        for m in b["messages"]
        for block in m["content"]
        if "image" in block
    ],
    tools=lambda b: [t["toolSpec"]["name"] for t in (b.get("toolConfig") or {}).get("tools") or []],
    schema_fields=_bedrock_schema,
    tool_choice=_bedrock_tool_choice,
    stop=lambda b: list((b.get("inferenceConfig") or {}).get("stopSequences") or []),
    max_tokens=lambda b: (b.get("inferenceConfig") or {}).get("maxTokens"),
)


# --- Cohere v2 Chat -----------------------------------------------------------------------


def _cohere_images(body: JSON) -> list[Image]:
    return [
        _data_url(part["image_url"]["url"])
        for m in body["messages"]
        if m["role"] == "user" and isinstance(m.get("content"), list)
        for part in m["content"]
        if part.get("type") == "image_url"
    ]


def _cohere_tool_choice(body: JSON) -> str:
    choice = body.get("tool_choice")  # absent: the model decides (there is no "AUTO")
    tools = body.get("tools") or []
    if choice == "REQUIRED" and len(tools) == 1:  # a named function: only it, required
        return str(tools[0]["function"]["name"])
    return {"REQUIRED": "required", "NONE": "none", None: "auto"}[choice]


COHERE = Wire(
    name="cohere",
    system=lambda b: next(
        (_openai_text(m["content"]) for m in b["messages"] if m["role"] == "system"), None
    ),
    turns=lambda b: [
        (m["role"], _openai_text(m.get("content")))
        for m in b["messages"]
        if m["role"] in ("user", "assistant")
    ],
    images=_cohere_images,
    tools=lambda b: [t["function"]["name"] for t in b.get("tools") or []],
    schema_fields=lambda b: _properties((b.get("response_format") or {}).get("json_schema")),
    tool_choice=_cohere_tool_choice,
    stop=lambda b: list(b.get("stop_sequences") or []),
    max_tokens=lambda b: b.get("max_tokens"),
)
