"""Building a call's agent session from its agent config: brain, providers and the session itself."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from outdial.agent.brains import make_brain
from outdial.agent.port import AudioPort
from outdial.agent.protocols import Turn
from outdial.agent.session import AgentSession, Hangup, TransferTo
from outdial.agent.settings import AgentConfig

_VAD_RATES = (8000, 16000)


def build_session(
    agent: AgentConfig | Mapping[str, Any],
    port: AudioPort,
    *,
    hangup: Hangup | None = None,
    transfer: TransferTo | None = None,
    recording_dir: Path | None = None,
    call_id: str = "call",
    variables: Mapping[str, Any] | None = None,
    call_context: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    on_turn: Callable[[Turn], None] | None = None,
) -> AgentSession:
    """A session ready for ``prepare()`` (while ringing) and ``start()`` (on answer).

    The recording goes to ``recording_dir/<call_id>.wav`` when the agent records and a directory is given;
    ``on_turn`` sees each transcript turn as it is added (for ``transcript.updated`` events).
    """
    from outdial.agent.stt import make_stt
    from outdial.agent.tts import make_tts
    from outdial.agent.vad import make_vad

    cfg = agent if isinstance(agent, AgentConfig) else AgentConfig.model_validate(agent)
    rate = port.sample_rate
    recording = recording_dir / f"{call_id}.wav" if recording_dir is not None and cfg.record else None
    return AgentSession(
        cfg,
        port,
        brain=make_brain(cfg, variables=variables, call_context=call_context, metadata=metadata),
        vad=make_vad(cfg.vad, sample_rate=rate if rate in _VAD_RATES else 16000),
        stt=make_stt(cfg.stt),
        tts=make_tts(cfg.tts, sample_rate=rate),
        hangup=hangup,
        transfer=transfer,
        recording_path=recording,
        variables=variables,
        call_context=call_context,
        metadata=metadata,
        on_turn=on_turn,
    )
