from __future__ import annotations

import openai

from tests.conftest import CLIENT_KEY, gateway_config, run_gateway


async def test_echo_model_answers_plain_and_streamed() -> None:
    async with run_gateway(gateway_config()) as gw:
        client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=CLIENT_KEY, max_retries=0)
        reply = await client.chat.completions.create(
            model="bastion/echo", messages=[{"role": "user", "content": "hello gateway"}]
        )
        assert reply.choices[0].message.content == "hello gateway"
        assert reply.usage is not None and reply.usage.total_tokens == 4
        stream = await client.chat.completions.create(
            model="bastion/echo",
            messages=[{"role": "user", "content": "hello gateway"}],
            stream=True,
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == "hello gateway"
