"""The agent config schema: offline defaults, validation at creation, provider checks."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from outdial.agent.endpointing import EnergyGate
from outdial.agent.settings import AgentConfig, AgentConfigError, validate_agent_config


def test_only_the_name_is_required_and_defaults_run_offline() -> None:
    agent = validate_agent_config({"name": "Reminder"})
    assert agent.speak_order == "agent_first" and agent.ring_timeout_seconds == 45
    assert agent.max_duration_seconds == 600 and agent.record
    assert (agent.vad["provider"], agent.stt["provider"], agent.tts["provider"]) == (
        "webrtc",
        "pocketsphinx",
        "espeak",
    )
    assert agent.brain.type == "flow"
    assert agent.turn_taking.endpoint_hangover_ms == 300


def test_a_missing_cloud_key_is_an_error_at_creation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ELEVENLABS_API_KEY", raising=False)
    with pytest.raises(AgentConfigError) as err:
        validate_agent_config({"name": "a", "tts": {"provider": "elevenlabs", "voice": "v1"}})
    assert err.value.code == "missing_api_key" and err.value.param == "tts.api_key"
    assert "ELEVENLABS_API_KEY" in str(err.value)


def test_the_llm_brain_needs_a_key_unless_it_is_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(AgentConfigError) as err:
        validate_agent_config({"name": "a", "brain": {"type": "llm", "model": "gpt-4o-mini"}})
    assert err.value.param == "brain.api_key"
    local = {"type": "llm", "model": "llama3", "base_url": "http://127.0.0.1:11434/v1"}
    assert validate_agent_config({"name": "a", "brain": local}).brain.type == "llm"


def test_unknown_providers_and_fields_are_rejected() -> None:
    with pytest.raises(AgentConfigError) as err:
        validate_agent_config({"name": "a", "stt": {"provider": "whisperx"}})
    assert err.value.param == "stt.provider"
    with pytest.raises(ValidationError):
        AgentConfig.model_validate({"name": "a", "speak_order": "whenever"})
    with pytest.raises(ValidationError):
        AgentConfig.model_validate({"name": "a", "colour": "blue"})
    with pytest.raises(ValidationError):
        AgentConfig.model_validate({"name": "a", "input_parameters": [{"name": "x"}, {"name": "x"}]})


def test_the_energy_gate_silences_the_vads_own_hangover() -> None:
    loud = np.full(320, 3000, dtype=np.int16).tobytes()
    faint = np.full(320, 50, dtype=np.int16).tobytes()
    gate = EnergyGate(drop_db=30)
    for _ in range(20):
        assert gate(1.0, loud, 0.5) == 1.0  # speech at a steady level
    assert gate(1.0, faint, 0.5) == 0.0  # the VAD still says speech, but the words are over
    assert gate(0.2, loud, 0.5) == 0.2  # never turns silence into speech
