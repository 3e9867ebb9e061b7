"""A fake OpenAI upstream served by nginx, so the upstream is never the bottleneck.

Loopback ports, each answering any ``POST /v1/chat/completions`` (any path):

* ``PLAIN_PORT``  canned ``chat.completion`` JSON (nginx ``return``, Content-Length)
* ``STREAM_PORT`` canned SSE stream: a role chunk, 8 content chunks, a finish chunk,
  a usage chunk and ``data: [DONE]``; chunked transfer encoding like a real streaming
  upstream (echo module), by default written at once (see ``flush_events``)
* ``SLOW_PORT``   the same JSON as ``PLAIN_PORT`` after a 50 ms delay (``echo_sleep``)
* ``FAIL_PORT``   always ``503`` with OpenAI's error body (a deployment that is down)
* ``REPLICA_PORTS`` more servers like ``PLAIN_PORT`` (the other healthy deployments of a
  routed group: each its own host and connection pool, as different regions would be)
* ``OTLP_PORT``   an OTLP/HTTP sink: ``200 {}`` (an empty ExportTraceServiceResponse in
  OTLP's JSON encoding) for anything posted, so the gateway's traces go somewhere real

The bodies follow OpenAI's Chat Completions reference. Run this file to print the
generated nginx.conf; ``bench/run.py`` writes it into the run directory and starts nginx.
"""

from __future__ import annotations

import json
from pathlib import Path

PLAIN_PORT = 18081
STREAM_PORT = 18082
SLOW_PORT = 18083
SLOW_DELAY_S = 0.05
FAIL_PORT = 18084
REPLICA_PORTS = (18085, 18086)
OTLP_PORT = 18087
FAIL_STATUS = 503

_ID = "chatcmpl-BbENCHx7Qm2kZy8fL3pW9tR4sUvA1"
_CREATED = 1748000000
_MODEL = "gpt-4o-mini-2024-07-18"
_FINGERPRINT = "fp_34a54ae93c"
_PIECES = [
    "Packets",
    " drift like",
    " falling",
    " leaves,\n",
    "spread across",
    " the waiting",
    " servers,\n",
    "no one waits alone.",
]
_USAGE = {
    "prompt_tokens": 27,
    "completion_tokens": 18,
    "total_tokens": 45,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}


def completion_body() -> str:
    """A non-streamed chat.completion, as OpenAI returns it (pretty-printed, 2 spaces)."""
    body = {
        "id": _ID,
        "object": "chat.completion",
        "created": _CREATED,
        "model": _MODEL,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "".join(_PIECES),
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": _USAGE,
        "service_tier": "default",
        "system_fingerprint": _FINGERPRINT,
    }
    return json.dumps(body, indent=2) + "\n"


def error_body() -> str:
    """OpenAI's answer when a server is overloaded (its error object, as the API sends it)."""
    body = {
        "error": {
            "message": "The server is overloaded or not ready yet.",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }
    return json.dumps(body, indent=2) + "\n"


def _chunk(
    delta: dict, finish: str | None = None, *, usage: dict | None = None, choices: bool = True
) -> dict:
    return {
        "id": _ID,
        "object": "chat.completion.chunk",
        "created": _CREATED,
        "model": _MODEL,
        "service_tier": "default",
        "system_fingerprint": _FINGERPRINT,
        "choices": (
            [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
            if choices
            else []
        ),
        "usage": usage,
    }


def stream_events() -> list[str]:
    """SSE events (each ``data: ...\\n\\n``) of a streamed completion with include_usage."""
    chunks = [_chunk({"role": "assistant", "content": "", "refusal": None})]
    chunks += [_chunk({"content": piece}) for piece in _PIECES]
    chunks.append(_chunk({}, "stop"))
    chunks.append(_chunk({}, usage=_USAGE, choices=False))
    events = ["data: " + json.dumps(c, separators=(",", ":")) + "\n\n" for c in chunks]
    events.append("data: [DONE]\n\n")
    return events


def _nginx_str(text: str) -> str:
    """Quote text for nginx.conf (single quotes; nginx unescapes \\\\ and \\'). No $ (variables)."""
    if "$" in text:
        raise ValueError("canned body contains '$', which nginx would read as a variable")
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def nginx_conf(run_dir: Path, *, error_log: Path, flush_events: bool = False) -> str:
    """An nginx.conf (one worker, no access log) for the fake upstream ports.

    flush_events sends each SSE event in its own write (closer to a real token stream,
    but it costs nginx about 3x the CPU per stream, so it is off by default: the
    upstream must never be the bottleneck). Either way the body is chunked.
    """
    json_body = _nginx_str(completion_body())
    flush = "\n            echo_flush;" if flush_events else ""
    echo_events = "\n".join(
        f"            echo -n {_nginx_str(event)};{flush}" for event in stream_events()
    )
    echo_module = "/usr/lib/nginx/modules/ngx_http_echo_module.so"
    replicas = "\n".join(f"        listen 127.0.0.1:{port} backlog=4096;" for port in REPLICA_PORTS)
    return f"""# generated by bench/fake_upstream.py; do not edit
load_module {echo_module};
worker_processes 1;
pid {run_dir / "nginx.pid"};
error_log {error_log} warn;
worker_rlimit_nofile 65536;
events {{
    worker_connections 16384;
    multi_accept on;
}}
http {{
    access_log off;
    server_tokens off;
    keepalive_timeout 300s;
    keepalive_requests 10000000;
    client_body_buffer_size 64k;
    client_body_temp_path {run_dir / "client_body"};
    proxy_temp_path {run_dir / "proxy"};
    fastcgi_temp_path {run_dir / "fastcgi"};
    uwsgi_temp_path {run_dir / "uwsgi"};
    scgi_temp_path {run_dir / "scgi"};
    tcp_nodelay on;

    server {{  # plain JSON
        listen 127.0.0.1:{PLAIN_PORT} backlog=4096;
{replicas}
        location / {{
            default_type application/json;
            add_header x-request-id req_bench always;
            return 200 {json_body};
        }}
    }}
    server {{  # SSE stream, chunked
        listen 127.0.0.1:{STREAM_PORT} backlog=4096;
        location / {{
            default_type text/event-stream;
            add_header cache-control no-cache always;
            add_header x-request-id req_bench always;
            echo_read_request_body;
{echo_events}
        }}
    }}
    server {{  # plain JSON after {int(SLOW_DELAY_S * 1000)} ms
        listen 127.0.0.1:{SLOW_PORT} backlog=4096;
        location / {{
            default_type application/json;
            add_header x-request-id req_bench always;
            echo_read_request_body;
            echo_sleep {SLOW_DELAY_S};
            echo -n {json_body};
        }}
    }}
    server {{  # a deployment that is down: {FAIL_STATUS} with OpenAI's error body
        listen 127.0.0.1:{FAIL_PORT} backlog=4096;
        location / {{
            default_type application/json;
            add_header x-request-id req_bench always;
            return {FAIL_STATUS} {_nginx_str(error_body())};
        }}
    }}
    server {{  # OTLP/HTTP sink (JSON encoding): accepts every export
        listen 127.0.0.1:{OTLP_PORT} backlog=4096;
        client_max_body_size 64m;
        location / {{
            default_type application/json;
            return 200 '{{}}';
        }}
    }}
}}
"""


if __name__ == "__main__":
    print(nginx_conf(Path("/tmp/bench-nginx"), error_log=Path("/tmp/bench-nginx/error.log")))
