"""When the agent has finished talking: a run of speech frames, then enough silence. Sans-I/O."""

from __future__ import annotations

from dataclasses import dataclass

from outdial.agent.protocols import FRAME_MS


@dataclass
class AgentTurns:
    """One VAD decision per 20 ms frame of agent audio in; True out on the frame that ends a turn."""

    silence_ms: int = 700
    min_speech_ms: int = 60  # shorter blips (a click, a codec artefact) are not the agent talking
    turns: int = 0
    _speech_run_ms: int = 0
    _silence_run_ms: int = 0
    _heard: bool = False

    def feed(self, is_speech: bool) -> bool:
        if is_speech:
            self._speech_run_ms += FRAME_MS
            if self._speech_run_ms >= self.min_speech_ms:
                self._heard = True
                self._silence_run_ms = 0
            return False
        self._speech_run_ms = 0
        if not self._heard:
            return False
        self._silence_run_ms += FRAME_MS
        if self._silence_run_ms < self.silence_ms:
            return False
        self._heard = False
        self._silence_run_ms = 0
        self.turns += 1
        return True

    @property
    def agent_speaking(self) -> bool:
        return self._heard and self._silence_run_ms == 0
