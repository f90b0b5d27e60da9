"""The agent configuration schema: what an agent is, with working offline defaults.

Imported by the API for ``/v1/agents`` validation, so it stays light: no engine is loaded here.
:func:`validate_agent_config` goes one step further and asks the provider factories whether the
chosen providers can run (a missing API key is an error at agent creation, not a failed call).
"""

from __future__ import annotations

import importlib
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class InputParameter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    required: bool = False
    description: str = ""


class FlowBrainConfig(BaseModel):
    """A deterministic conversation: the step format is documented in docs/agents.md."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["flow"] = "flow"
    steps: list[dict[str, Any]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _steps_compile(self) -> FlowBrainConfig:
        if self.steps:
            from outdial.agent.brains.flow_steps import compile_steps  # light: pure Python

            compile_steps(self.steps)  # raises ValueError with the step and field at fault
        return self


class LLMBrainConfig(BaseModel):
    """Any OpenAI-compatible chat-completions endpoint (OpenAI, Groq, vLLM, Ollama...)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["llm"] = "llm"
    model: str = "gpt-4o-mini"
    base_url: str | None = None
    api_key: str | None = None
    temperature: float = Field(default=0.3, ge=0.0, le=2.0)
    max_tokens: int = Field(default=300, ge=1, le=4096)


BrainConfig = Annotated[FlowBrainConfig | LLMBrainConfig, Field(discriminator="type")]


class TurnTaking(BaseModel):
    """Knobs of turn-taking; the defaults are the ones the latency benchmarks publish."""

    model_config = ConfigDict(extra="forbid")

    endpoint_hangover_ms: int = Field(
        default=300, ge=60, le=3000, description="Silence after speech that ends the callee's turn."
    )
    early_endpoint_ms: int = Field(
        default=100,
        ge=20,
        le=3000,
        description="Shorter hangover when the recognizer already holds a complete expected answer.",
    )
    speech_start_ms: int = Field(default=60, ge=20, le=1000, description="Speech needed to open a turn.")
    barge_in_min_speech_ms: int = Field(
        default=200, ge=20, le=3000, description="Callee speech that interrupts the agent."
    )
    user_first_greeting_timeout_ms: int = Field(
        default=3000, ge=0, le=30000, description="user_first: greet anyway after this much silence."
    )
    vad_threshold: float = Field(default=0.5, gt=0.0, lt=1.0)


class AgentConfig(BaseModel):
    """One agent. Only ``name`` is required; every other field has a working offline default."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    published: bool = True
    prompt: str = Field(default="You are a friendly, concise phone assistant.", max_length=20000)
    first_message: str = Field(default="Hello! How can I help you today?", max_length=2000)
    speak_order: Literal["agent_first", "user_first"] = "agent_first"
    language: str = Field(default="en-US", min_length=2, max_length=16)
    input_parameters: list[InputParameter] = Field(default_factory=list)
    brain: BrainConfig = Field(default_factory=FlowBrainConfig)
    stt: dict[str, Any] = Field(default_factory=lambda: {"provider": "pocketsphinx"})
    tts: dict[str, Any] = Field(default_factory=lambda: {"provider": "espeak"})
    vad: dict[str, Any] = Field(default_factory=lambda: {"provider": "webrtc"})
    ring_timeout_seconds: int = Field(default=45, ge=5, le=300)
    max_duration_seconds: int = Field(default=600, ge=10, le=14400)
    max_hold_seconds: int | None = Field(default=None, ge=1, le=3600)
    silence_timeout_seconds: float = Field(default=10.0, ge=0.5, le=600)
    silence_reprompt: str = Field(default="Are you still there?", max_length=500)
    goodbye_message: str = Field(default="Goodbye!", max_length=500)
    record: bool = True
    # Answering-machine detection (off by default: a person with a long greeting, a receptionist
    # say, is taken for a machine). On: the call's answered_by is filled in and ``voicemail`` says
    # what happens when a machine answers.
    answering_machine_detection: bool = False
    voicemail: Literal["hangup", "leave_message", "continue"] = "hangup"
    voicemail_message: str | None = Field(default=None, max_length=2000)  # else the first message
    turn_taking: TurnTaking = Field(default_factory=TurnTaking)

    @field_validator("stt", "tts", "vad")
    @classmethod
    def _provider_named(cls, v: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(v.get("provider"), str) or not v["provider"]:
            raise ValueError('a provider config needs a "provider" name, e.g. {"provider": "espeak"}')
        return v

    @field_validator("input_parameters")
    @classmethod
    def _unique_parameters(cls, v: list[InputParameter]) -> list[InputParameter]:
        names = [p.name for p in v]
        if len(names) != len(set(names)):
            raise ValueError("input_parameters names must be unique")
        return v


class AgentConfigError(ValueError):
    """An agent config that cannot run; ``code`` is stable, ``param`` names the field at fault."""

    def __init__(self, message: str, *, param: str, code: str = "invalid_request") -> None:
        super().__init__(message)
        self.param = param
        self.code = code


_LLM_KEY_FREE_HOSTS = ("127.0.0.1", "localhost", "[::1]", "0.0.0.0")


def validate_agent_config(cfg: AgentConfig | dict[str, Any]) -> AgentConfig:
    """Parse ``cfg`` and check that its providers can run here; raise :class:`AgentConfigError` if not.

    Each provider package (``outdial.agent.{vad,stt,tts}``) is asked through its
    ``validate_config(config)`` function, which checks keys and options without loading a model.
    """
    agent = cfg if isinstance(cfg, AgentConfig) else AgentConfig.model_validate(cfg)
    for kind in ("vad", "stt", "tts"):
        provider_cfg: dict[str, Any] = getattr(agent, kind)
        try:
            module = importlib.import_module(f"outdial.agent.{kind}")
        except ImportError as exc:
            raise AgentConfigError(
                f"{kind} providers are not available in this installation: {exc}", param=kind
            ) from exc
        check = getattr(module, "validate_config", None)
        if check is None:
            continue
        try:
            check(provider_cfg)
        except (ValueError, KeyError, TypeError) as exc:
            code = getattr(exc, "code", None)
            param = f"{kind}.api_key" if code == "missing_api_key" else f"{kind}.provider"
            raise AgentConfigError(
                f"{kind}: {exc}", param=param, code=code if isinstance(code, str) else "invalid_request"
            ) from exc
    if isinstance(agent.brain, LLMBrainConfig):
        _check_llm(agent.brain)
    return agent


def _check_llm(brain: LLMBrainConfig) -> None:
    import os

    local = brain.base_url is not None and any(h in brain.base_url for h in _LLM_KEY_FREE_HOSTS)
    if not (brain.api_key or os.environ.get("OPENAI_API_KEY") or local):
        raise AgentConfigError(
            "brain: the llm brain needs an api_key (or OPENAI_API_KEY in the environment) "
            "unless base_url points at a local server",
            param="brain.api_key",
            code="missing_api_key",
        )
