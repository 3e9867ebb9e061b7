from __future__ import annotations

from pathlib import Path

import pytest

from bastion.cli import main
from bastion.config import ConfigError, discover_from_env, load_config, parse_config

GOOD = """
server:
  port: 4100
auth:
  keys:
    - name: app
      key: ${APP_KEY}
providers:
  openai:
    api_key: ${OPENAI_KEY}
  azure-eu:
    kind: azure
    base_url: https://example.openai.azure.com/
    api_key: ${AZURE_KEY:-fallback-key}
    api_version: "2024-10-21"
models:
  - name: fast
    provider: openai
    model: gpt-4o-mini
    timeouts: {connect: 2, first_byte: 30, total: 120}
"""


def test_valid_config_is_interpolated_and_frozen() -> None:
    config = parse_config(
        GOOD, "bastion.yaml", {"APP_KEY": "app-key-0123456789abc", "OPENAI_KEY": "sk-test"}
    )
    assert config.server.port == 4100
    assert config.auth.keys[0].key is not None
    assert config.auth.keys[0].key.get_secret_value() == "app-key-0123456789abc"
    assert config.providers["openai"].api_key is not None
    assert config.providers["openai"].api_key.get_secret_value() == "sk-test"
    azure_key = config.providers["azure-eu"].api_key
    assert azure_key is not None and azure_key.get_secret_value() == "fallback-key"
    assert config.models[0].timeouts is not None and config.models[0].timeouts.total == 120
    with pytest.raises(Exception, match="frozen"):
        config.server.port = 1  # type: ignore[misc]


def test_every_problem_is_reported_with_its_path_and_line() -> None:
    text = """
server:
  port: "not a port"
  workers: 0
providers:
  openai:
    api_key: ${MISSING_VAR}
  weird:
    kind: nonsense
models:
  - name: fast
    provider: nowhere
    model: gpt-4o-mini
  - name: slow
    model: x
    provider: openai
    timeouts: {total: -1}
surprise: true
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "bad.yaml", {})
    problems = caught.value.problems
    assert problems == [
        "providers.openai.api_key (line 7): environment variable MISSING_VAR is not set"
        " (use ${MISSING_VAR:-default} for a default)"
    ]
    with pytest.raises(ConfigError) as caught:
        parse_config(text.replace("${MISSING_VAR}", "sk-x"), "bad.yaml", {})
    text_out = str(caught.value)
    assert "bad.yaml: server.port (line 3): Input should be a valid integer" in text_out
    assert (
        "bad.yaml: server.workers (line 4): Input should be greater than or equal to 1" in text_out
    )
    assert (
        "bad.yaml: models[1].timeouts.total (line 17): Input should be greater than 0" in text_out
    )
    assert "bad.yaml: surprise (line 18): unknown field" in text_out


def test_references_are_checked() -> None:
    text = """
providers:
  weird: {kind: nonsense}
  local: {kind: openai_compatible}
models:
  - {name: fast, provider: nowhere, model: m}
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "refs.yaml", {})
    message = str(caught.value)
    assert "refs.yaml: providers.weird (line 3): unknown kind 'nonsense'" in message
    assert (
        "refs.yaml: providers.local (line 4): kind 'openai_compatible' needs a base_url" in message
    )
    assert (
        "refs.yaml: models[0].provider (line 6): 'nowhere' is not a configured provider" in message
    )


def test_a_guardrail_judge_must_name_a_served_model() -> None:
    text = """
providers:
  openai: {api_key: k}
models:
  - {name: fast, provider: openai, model: gpt-4o-mini}
guardrails:
  policies:
    judged: {judge: {model: guard-model}}
    direct: {judge: {model: openai/gpt-4o-mini}}
    named: {judge: {model: fast}}
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "judge.yaml", {})
    assert str(caught.value) == (
        "judge.yaml: guardrails.policies.judged.judge.model (line 8): 'guard-model' is not a "
        "model the gateway serves (a models: name, or provider/model)"
    )


def test_yaml_syntax_error_names_the_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("providers:\n  openai: [unclosed\n", "syntax.yaml", {})
    assert caught.value.problems[0].startswith("line 3, column 1: not valid YAML")


def test_discovery_from_environment() -> None:
    config = discover_from_env(
        {
            "OPENAI_API_KEY": "sk-a",
            "AZURE_OPENAI_API_KEY": "az",
            "AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.com",
            "OLLAMA_BASE_URL": "http://localhost:11434",
            "GROQ_API_KEY": "",
            "VLLM_API_KEY": "no-base-url-so-not-discovered",
        }
    )
    assert sorted(config.providers) == ["azure", "ollama", "openai"]
    assert config.discovered and not config.serves_test_model
    assert discover_from_env({}).serves_test_model


def test_config_check_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bastion.yaml"
    bad.write_text("server:\n  port: -5\n")
    assert main(["config", "check", str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}: server.port (line 2): Input should be greater than or equal to 0" in out
    good = tmp_path / "good.yaml"
    good.write_text("providers:\n  openai: {api_key: sk-x}\n")
    assert main(["config", "check", str(good)]) == 0
    assert load_config(good).providers["openai"].kind is None
