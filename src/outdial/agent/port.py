"""The audio port: the session's view of one call's media (the media layer's ``MediaStream`` fits it).

Frames are PCM16 mono at ``sample_rate``, 20 ms each. ``write`` queues agent audio which the port
sends paced in 20 ms frames; the sent handler sees each of those frames as it goes on the wire
(audio written with ``write`` only, not the silence between), which is how the session knows what
the callee actually heard.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

AudioHandler = Callable[[bytes], None]
DtmfHandler = Callable[[str], None]


@runtime_checkable
class AudioPort(Protocol):
    sample_rate: int

    @property
    def output_pending_ms(self) -> float: ...

    def write(self, pcm: bytes) -> None: ...

    def clear_output(self) -> None: ...

    def set_audio_handler(self, cb: AudioHandler | None) -> None: ...

    def set_dtmf_handler(self, cb: DtmfHandler | None) -> None: ...

    def set_sent_handler(self, cb: AudioHandler | None) -> None: ...

    def send_dtmf(self, digits: str) -> Awaitable[None] | None: ...
