"""The small provider protocols of the agent runtime (DESIGN §5) and the brain's actions.

Audio everywhere is 16-bit signed little-endian mono PCM (``bytes``) at a declared sample rate;
the media layer delivers and accepts 20 ms frames.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

FRAME_MS = 20


# --- VAD -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SpeechStarted:
    at_ms: int


@dataclass(frozen=True, slots=True)
class SpeechEnded:
    at_ms: int


@runtime_checkable
class VAD(Protocol):
    sample_rate: int

    def feed(self, frame: bytes) -> float:
        """Speech probability (0..1) of one 20 ms frame."""
        ...

    def reset(self) -> None: ...


# --- STT -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Partial:
    text: str


@dataclass(frozen=True, slots=True)
class Final:
    text: str
    confidence: float = 1.0


@runtime_checkable
class STTSession(Protocol):
    """One utterance-stream of recognition: feed audio, read partials and finals."""

    sample_rate: int

    def feed(self, pcm: bytes) -> None: ...

    async def finalize(self) -> Final:
        """The callee stopped speaking: flush and return the final hypothesis of this utterance."""
        ...

    def events(self) -> AsyncIterator[Partial | Final]: ...

    async def close(self) -> None: ...


@runtime_checkable
class STT(Protocol):
    def open(self, *, expected: Sequence[str] | None = None, language: str = "en-US") -> STTSession:
        """A session; ``expected`` phrases let grammar-capable engines constrain recognition."""
        ...


# --- TTS -------------------------------------------------------------------------------------
@runtime_checkable
class TTS(Protocol):
    sample_rate: int

    def synthesize(self, text: str) -> AsyncIterator[bytes]:
        """PCM16 chunks at ``sample_rate``; the first chunk as early as the engine can give it."""
        ...


# --- Brain -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Say:
    text: str


@dataclass(frozen=True, slots=True)
class EndCall:
    reason: str = "agent_hangup"


@dataclass(frozen=True, slots=True)
class SendDtmf:
    digits: str


@dataclass(frozen=True, slots=True)
class Transfer:
    to: str


@dataclass(frozen=True, slots=True)
class SetOutcome:
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OptOut:
    """The callee asked not to be called again (do-not-call)."""


Action = Say | EndCall | SendDtmf | Transfer | SetOutcome | OptOut


@dataclass(frozen=True, slots=True)
class CallStarted:
    """The call was answered (or the greeting timeout passed for user_first)."""


@dataclass(frozen=True, slots=True)
class UserSaid:
    text: str
    confidence: float = 1.0


@dataclass(frozen=True, slots=True)
class DtmfReceived:
    digit: str


@dataclass(frozen=True, slots=True)
class Silence:
    """The callee said nothing for silence_timeout_seconds; ``count`` is 1 on the first timeout."""

    count: int


BrainEvent = CallStarted | UserSaid | DtmfReceived | Silence


@dataclass(slots=True)
class Turn:
    role: str  # "agent" | "user"
    text: str
    start_ms: int
    end_ms: int
    interrupted: bool = False
    latency: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class Brain(Protocol):
    def expected(self) -> Sequence[str] | None:
        """Phrases the brain expects next (for grammar STT and early endpointing); None: free text."""
        ...

    def respond(self, history: Sequence[Turn], event: BrainEvent) -> AsyncIterator[Action]: ...
