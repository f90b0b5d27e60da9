"""The session's small parts: endpointing, transcript cuts, sentence splitting, recording, playback."""

from __future__ import annotations

import asyncio
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np

from outdial.agent.brains.sentences import SentenceSplitter
from outdial.agent.endpointing import Endpoint, SpeechStart, TurnDetector
from outdial.agent.loopback import LoopbackPort
from outdial.agent.playback import Playback
from outdial.agent.recording import StereoRecorder
from outdial.agent.transcript import cut_text


def run(detector: TurnDetector, pattern: str, t0: float = 0.0) -> list[SpeechStart | Endpoint]:
    events = []
    for i, c in enumerate(pattern):
        ev = detector.feed(1.0 if c == "#" else 0.0, t0 + (i + 1) * 20)
        if ev is not None:
            events.append(ev)
    return events


def test_a_turn_opens_after_speech_start_ms_and_closes_after_the_hangover() -> None:
    d = TurnDetector(speech_start_ms=60, hangover_ms=300, early_ms=100)
    events = run(d, "..##." + "#" * 20 + "." * 15)
    assert events[0] == SpeechStart(at_ms=120)  # the two-frame blip did not open a turn; this run did
    end = events[1]
    assert isinstance(end, Endpoint) and not end.early
    assert end.speech_end_ms == 500 and end.at_ms - end.speech_end_ms == 300


def test_a_complete_expected_answer_ends_the_turn_early() -> None:
    d = TurnDetector(speech_start_ms=60, hangover_ms=300, early_ms=100)
    run(d, "#" * 10)
    d.set_answer_complete(True)
    events = run(d, "." * 15, t0=200)
    assert isinstance(events[0], Endpoint) and events[0].early
    assert events[0].at_ms - events[0].speech_end_ms == 100


def test_pauses_shorter_than_the_hangover_stay_in_the_turn() -> None:
    d = TurnDetector(speech_start_ms=40, hangover_ms=200)
    events = run(d, "#####" + "....." + "#####" + "." * 12)
    assert [type(e) for e in events] == [SpeechStart, Endpoint]


def test_cut_text_keeps_only_whole_words_heard() -> None:
    text = "Hello there, this is Acme Dental calling."
    assert cut_text(text, 1.0) == text
    assert cut_text(text, 0.0) == ""
    assert cut_text(text, 0.45) == "Hello there, this"  # the cut fell inside "is": not heard
    assert cut_text(text, 0.35) == "Hello there"  # inside "this"
    assert text.startswith(cut_text(text, 0.6))


def test_sentence_splitter_cuts_at_sentence_ends_only() -> None:
    s = SentenceSplitter()
    assert s.feed("Hi. I am Dr. Smith") == []  # "Hi." alone is too short, "Dr." is no end
    assert s.feed(" from Acme. How are") == ["Hi. I am Dr. Smith from Acme."]
    assert s.feed(" you today? ") == ["How are you today?"]
    assert s.flush() == ""


def test_recording_is_stereo_and_sample_aligned(tmp_path: Path) -> None:
    rec = StereoRecorder(tmp_path / "r.wav", 8000)
    tone = np.full(160, 1000, dtype=np.int16).tobytes()
    for i in range(1, 11):
        rec.callee(tone if i == 3 else bytes(320), i * 20.0)  # the callee speaks in the 3rd frame
    rec.agent(tone, 100.0)  # the agent's frame went out at 100 ms (the 5th slot)
    path = rec.close()
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 8000)
        a = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).reshape(-1, 2)
    assert len(a) == 10 * 160
    left, right = np.nonzero(a[:, 0])[0], np.nonzero(a[:, 1])[0]
    assert (left[0], left[-1]) == (2 * 160, 3 * 160 - 1)
    assert (right[0], right[-1]) == (4 * 160, 5 * 160 - 1)


class _ToneTTS:
    sample_rate = 8000

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        # 50 ms of tone per character, in 100 ms chunks
        total = np.full(len(text) * 400, 3000, dtype=np.int16).tobytes()
        for i in range(0, len(total), 1600):
            yield total[i : i + 1600]


async def test_playback_interrupt_keeps_what_was_heard_and_clears_the_port() -> None:
    port = LoopbackPort(8000)
    t0 = asyncio.get_running_loop().time()
    pb = Playback(port, lambda: (asyncio.get_running_loop().time() - t0) * 1000)
    port.set_sent_handler(pb.on_sent)
    pb.begin_turn()
    text = "one two three four five six seven eight nine ten"  # 48 chars: 2.4 s of audio
    await pb.say(text, _ToneTTS())
    assert pb.speaking
    port.start()
    await asyncio.sleep(1.0)
    spoken = pb.interrupt()
    await asyncio.sleep(0.06)
    await port.close()
    assert port.output_pending_ms == 0 and not pb.speaking
    assert spoken.interrupted and spoken.heard
    assert text.startswith(spoken.text) and 3 <= len(spoken.text.split()) <= 6
    # after the interrupt, nothing more reached the callee: ~1 s of tone, not 2.4 s
    heard = np.frombuffer(bytes(port.heard), dtype=np.int16)
    assert 0.9 <= np.count_nonzero(heard) / 8000 <= 1.1


def test_recording_by_frame_count_does_not_drift_after_a_late_burst(tmp_path: Path) -> None:
    rec = StereoRecorder(tmp_path / "r.wav", 8000)
    tone = np.full(160, 1000, dtype=np.int16).tobytes()
    # ten frames, the last five delivered together at 200 ms (a media clock catching up after a stall)
    for i in range(10):
        rec.callee(bytes(320) if i != 9 else tone, at_ms=(i + 1) * 20 if i < 5 else 200, slot=i)
    rec.agent(tone, at_ms=200, slot=9)
    with wave.open(str(rec.close())) as w:
        a = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).reshape(-1, 2)
    assert len(a) == 10 * 160  # not pushed later by the burst
    assert np.nonzero(a[:, 0])[0][0] == np.nonzero(a[:, 1])[0][0] == 9 * 160  # same sample
