"""A call's answering-machine watch: who answered, and, to leave a message, when the beep has gone.

Sans-I/O, driven by the session with each of the callee's 20 ms frames and its voice decision.
:meth:`VoicemailWatch.feed` returns a step when something happens:

- ``"human"``, ``"machine"`` or ``"unknown"``: the detector's verdict (once);
- ``"record"``: after a machine verdict, while :attr:`VoicemailWatch.waiting_for_beep`: the greeting
  is over and the box records — the beep ended, or no beep came but the line has been quiet for
  :data:`NO_BEEP_QUIET_MS`, or :data:`MAX_BEEP_WAIT_MS` passed since the verdict.
"""

from __future__ import annotations

from typing import Literal

from outdial.agent.amd import FRAME_MS, AmdSettings, AnsweredBy, BeepDetector, MachineDetector

NO_BEEP_QUIET_MS = 2000
MAX_BEEP_WAIT_MS = 20_000

Step = Literal["human", "machine", "unknown", "record"]
_VERDICT_STEP: dict[AnsweredBy, Step] = {
    AnsweredBy.HUMAN: "human",
    AnsweredBy.MACHINE: "machine",
    AnsweredBy.UNKNOWN: "unknown",
}


class VoicemailWatch:
    def __init__(self, sample_rate: int, settings: AmdSettings | None = None) -> None:
        self.detector = MachineDetector(settings)
        self.beep = BeepDetector(sample_rate)
        self.answered_by: AnsweredBy | None = None
        self.waiting_for_beep = False  # set by the session when it will leave a message
        self._quiet_ms = 0
        self._waited_ms = 0

    def feed(self, frame: bytes, voiced: bool) -> Step | None:
        if self.answered_by is None:
            verdict = self.detector.feed(voiced)
            if verdict is None:
                return None
            self.answered_by = verdict.answered_by
            return _VERDICT_STEP[verdict.answered_by]
        if not self.waiting_for_beep:
            return None  # decided, and no message to leave: nothing more per frame
        beep_ended = self.beep.feed(frame)  # an FFT per frame: only while it matters
        self._waited_ms += FRAME_MS
        self._quiet_ms = 0 if voiced else self._quiet_ms + FRAME_MS
        if beep_ended or self._quiet_ms >= NO_BEEP_QUIET_MS or self._waited_ms >= MAX_BEEP_WAIT_MS:
            self.waiting_for_beep = False
            return "record"
        return None
