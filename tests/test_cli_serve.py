"""The README's promise: `bastion serve` on a fresh machine, no config, no provider key."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import openai
import pytest

from tests.conftest import free_port


async def _start(
    env: dict[str, str], port: int, cwd: Path
) -> tuple[asyncio.subprocess.Process, list[str]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bastion",
        "serve",
        "--port",
        str(port),
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    async with asyncio.timeout(20):
        while True:
            line = (await proc.stdout.readline()).decode()
            if not line:
                pytest.fail("bastion serve exited early:\n" + "".join(lines))
            lines.append(line)
            if "Application startup complete" in line:
                return proc, lines


async def _stop(proc: asyncio.subprocess.Process) -> None:
    proc.terminate()
    await asyncio.wait_for(proc.wait(), 15)


async def test_serve_with_no_config_generates_a_key_and_serves_the_echo_model(
    tmp_path: Path,
) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_API_KEY", "_BASE_URL")) and k != "HF_TOKEN"
    }
    env.pop("BASTION_MASTER_KEY", None)
    env.pop("BASTION_CONFIG", None)
    env["BASTION_DATA_DIR"] = str(tmp_path / "data")
    port = free_port()
    proc, lines = await _start(env, port, tmp_path)
    try:
        out = "".join(lines)
        assert "No provider is configured" in out and "bastion/echo" in out
        match = re.search(r"bst-master-[A-Za-z0-9_\-]{20,}", out)
        assert match, out
        key = match.group(0)
        stored = (tmp_path / "data" / "master_key.sha256").read_text()
        assert key not in stored  # only the hash is kept

        client = openai.AsyncOpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0
        )
        reply = await client.chat.completions.create(
            model="bastion/echo", messages=[{"role": "user", "content": "Hello, Bastion"}]
        )
        assert reply.choices[0].message.content == "Hello, Bastion"
        bad = openai.AsyncOpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="wrong-key-123456789", max_retries=0
        )
        with pytest.raises(openai.AuthenticationError):
            await bad.models.list()
    finally:
        await _stop(proc)

    # A second start reuses the stored hash, prints no new key, and accepts the same key.
    proc, lines = await _start(env, port, tmp_path)
    try:
        assert "bst-master-" not in "".join(lines)
        client = openai.AsyncOpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0
        )
        models = await client.models.list()
        assert [m.id for m in models.data] == ["bastion/echo"]
    finally:
        await _stop(proc)


async def test_serve_refuses_a_broken_config_naming_the_path(tmp_path: Path) -> None:
    (tmp_path / "bastion.yaml").write_text(
        "providers:\n  openai:\n    kind: openai\n    api_key: 12\n    timeouts: {total: 0}\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bastion",
        "serve",
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2
    text = out.decode()
    assert "bastion.yaml: providers.openai.api_key (line 4): Input should be a valid string" in text
    assert (
        "bastion.yaml: providers.openai.timeouts.total (line 5): Input should be greater than 0"
        in text
    )
