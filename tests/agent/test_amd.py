"""Answering-machine detection: the decision rules frame by frame, then real audio — espeak saying a
person's "Hello?" and a voicemail greeting through the telephone path, judged on webrtcvad's decisions —
and the beep that ends a greeting, told apart from speech, DTMF and silence."""

from __future__ import annotations

import numpy as np
import pytest

from outdial.agent.amd import AmdSettings, AnsweredBy, BeepDetector, MachineDetector
from outdial.agent.tts import make_tts
from outdial.agent.vad import make_vad
from tests.agent.providers.telephone import telephone

RATE = 16000
FRAME_BYTES = RATE // 50 * 2


def _run(detector: MachineDetector, pattern: list[tuple[bool, int]]) -> None:
    """Feed runs of (voiced, milliseconds)."""
    for voiced, ms in pattern:
        for _ in range(ms // 20):
            detector.feed(voiced)


def test_a_short_hello_then_waiting_is_a_person() -> None:
    detector = MachineDetector()
    _run(detector, [(False, 300), (True, 400), (False, 1000)])
    assert detector.verdict is not None
    assert (detector.verdict.answered_by, detector.verdict.why) == (AnsweredBy.HUMAN, "short_greeting")
    assert detector.verdict.at_ms == 300 + 400 + 800  # decided the frame the pause reached 800 ms


def test_two_short_phrases_with_a_breath_between_are_still_a_person() -> None:
    detector = MachineDetector()
    _run(detector, [(True, 300), (False, 400), (True, 500), (False, 900)])
    assert detector.verdict is not None and detector.verdict.answered_by is AnsweredBy.HUMAN


def test_talking_on_past_the_greeting_limit_is_a_machine() -> None:
    detector = MachineDetector()
    _run(detector, [(True, 3000)])
    assert detector.verdict is not None
    assert (detector.verdict.answered_by, detector.verdict.why) == (AnsweredBy.MACHINE, "long_greeting")
    assert detector.verdict.at_ms == 1520  # the first frame past 1.5 s of talking


def test_many_short_words_are_a_machine() -> None:
    detector = MachineDetector(AmdSettings(greeting_ms=5000))
    _run(detector, [(True, 120), (False, 100)] * 6)
    assert detector.verdict is not None
    assert (detector.verdict.answered_by, detector.verdict.why) == (AnsweredBy.MACHINE, "many_words")


def test_a_voiced_blip_shorter_than_a_word_is_not_a_greeting() -> None:
    detector = MachineDetector()
    _run(detector, [(True, 60), (False, 2600)])
    assert detector.verdict is not None
    assert (detector.verdict.answered_by, detector.verdict.why) == (AnsweredBy.UNKNOWN, "initial_silence")


def test_no_decision_within_the_total_time_is_unknown_and_the_verdict_is_given_once() -> None:
    detector = MachineDetector(AmdSettings(greeting_ms=10_000, max_words=50, total_ms=3000))
    said = [v for v in (detector.feed(i % 20 < 10) for i in range(400)) if v is not None]
    assert [(v.answered_by, v.why, v.at_ms) for v in said] == [(AnsweredBy.UNKNOWN, "timeout", 3000)]


# -- real audio ----------------------------------------------------------------------------------
async def _say(text: str) -> bytes:
    tts = make_tts({"provider": "espeak", "voice": "en-us", "rate": 175}, sample_rate=RATE)
    return b"".join([chunk async for chunk in tts.synthesize(text)])


def _judge(pcm: bytes) -> MachineDetector:
    vad, detector = make_vad({"provider": "webrtc"}, sample_rate=RATE), MachineDetector()
    pcm += bytes(-len(pcm) % FRAME_BYTES)
    for i in range(0, len(pcm), FRAME_BYTES):
        if detector.feed(vad.feed(pcm[i : i + FRAME_BYTES]) >= 0.5):
            break
    return detector


@pytest.mark.parametrize("said", ["Hello?", "Yes, speaking."])
async def test_a_person_answering_on_the_line_is_human(said: str) -> None:
    pcm = bytes(2 * RATE // 5) + await _say(said) + bytes(2 * RATE * 2)
    detector = _judge(telephone(pcm))
    assert detector.verdict is not None and detector.verdict.answered_by is AnsweredBy.HUMAN, detector.verdict


async def test_a_voicemail_greeting_on_the_line_is_a_machine() -> None:
    greeting = "Hi, you have reached Ana and Tom. We cannot take your call right now. Please leave a message."
    detector = _judge(telephone(bytes(2 * RATE // 5) + await _say(greeting)))
    assert detector.verdict is not None and detector.verdict.answered_by is AnsweredBy.MACHINE, (
        detector.verdict
    )
    assert detector.verdict.at_ms < 4000


# -- the beep ------------------------------------------------------------------------------------
def _tone(freqs: list[float], seconds: float, level: float = 0.3) -> bytes:
    t = np.arange(int(seconds * RATE)) / RATE
    x = sum(np.sin(2 * np.pi * f * t) for f in freqs) * level / len(freqs)
    return (x * 32767).astype("<i2").tobytes()


def _beeps(detector: BeepDetector, pcm: bytes) -> list[int]:
    """The frame indices where the detector said a beep ended."""
    pcm += bytes(-len(pcm) % FRAME_BYTES)
    return [
        i // FRAME_BYTES for i in range(0, len(pcm), FRAME_BYTES) if detector.feed(pcm[i : i + FRAME_BYTES])
    ]


@pytest.mark.parametrize("hz", [440.0, 1000.0, 1004.0, 1400.0, 2100.0])
async def test_a_beep_after_the_greeting_is_found_where_it_ends(hz: float) -> None:
    greeting = await _say("Please leave a message after the tone.")
    pcm = telephone(greeting + bytes(2 * RATE // 2) + _tone([hz], 0.4) + bytes(2 * RATE // 2))
    detector = BeepDetector(RATE)
    ends = _beeps(detector, pcm)
    tone_end = (len(greeting) + RATE + 2 * int(0.4 * RATE)) // FRAME_BYTES
    assert len(ends) == 1 and abs(ends[0] - tone_end) <= 2, (ends, tone_end)
    assert detector.tone_hz is not None and abs(detector.tone_hz - hz) <= 50


async def test_speech_dtmf_short_clicks_and_silence_are_not_beeps() -> None:
    speech = await _say("Hello, this is the dentist's office calling about your appointment on Monday.")
    dtmf = _tone([770.0, 1336.0], 0.2) + bytes(2 * RATE // 10)  # the digit 5
    click = _tone([1000.0], 0.06) + bytes(2 * RATE // 5)  # shorter than a beep
    assert _beeps(BeepDetector(RATE), telephone(speech + dtmf * 3 + click * 3 + bytes(2 * RATE))) == []


def test_the_watch_waits_for_the_beep_only_when_asked_to() -> None:
    from outdial.agent.voicemail import VoicemailWatch

    def frames(pcm: bytes) -> list[bytes]:
        return [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES)]

    beep = frames(_tone([1000.0], 0.4) + bytes(2 * RATE // 10))
    machine = VoicemailWatch(RATE)
    steps = [machine.feed(bytes(FRAME_BYTES), True) for _ in range(100)]
    assert [s for s in steps if s] == ["machine"]
    machine.waiting_for_beep = True
    assert [s for s in (machine.feed(f, False) for f in beep) if s] == ["record"]
    assert machine.waiting_for_beep is False

    human = VoicemailWatch(RATE)
    steps = [human.feed(bytes(FRAME_BYTES), v) for v in [True] * 20 + [False] * 45]
    assert [s for s in steps if s] == ["human"]
    assert [s for s in (human.feed(f, False) for f in beep) if s] == []  # no message to leave
