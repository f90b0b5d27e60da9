"""OpenAI-compatible transcription and Deepgram streaming against local servers speaking their protocols."""

from __future__ import annotations

import asyncio
import time

import pytest

from outdial.agent.protocols import STT, Final, Partial
from outdial.agent.stt import make_stt
from outdial.agent.stt.deepgram import DeepgramSTT, TranscriptionError
from outdial.agent.stt.openai import OpenAISTT
from outdial.agent.stt.openai import TranscriptionError as OpenAITranscriptionError
from tests.agent.providers.conftest import Speak, frames
from tests.agent.providers.servers import API_KEY, DeepgramServer, OpenAIAudioServer, serve_asgi


async def test_openai_transcription_uploads_each_utterance_as_a_16khz_wav(speak: Speak) -> None:
    server = OpenAIAudioServer(transcripts=["Yes, this is John.", "Thursday at ten works."])
    async with serve_asgi(server.app()) as base:
        stt = make_stt({"provider": "openai", "api_key": API_KEY, "base_url": f"{base}/v1"})
        assert isinstance(stt, OpenAISTT) and isinstance(stt, STT)
        session = stt.open(expected=["yes", "no"], language="en-US")
        pcm = await speak("Yes, this is John.")
        for frame in frames(pcm):
            session.feed(frame)
        started = time.perf_counter()
        first = await session.finalize()
        elapsed = (time.perf_counter() - started) * 1000
        session.feed(await speak("Thursday at ten works."))
        second = await session.finalize()
        assert await session.finalize() == Final("", 0.0)  # nothing fed: no request
        await session.close()
        events = [e async for e in session.events()]
    assert (first.text, second.text) == ("Yes, this is John.", "Thursday at ten works.")
    assert events == [first, second]
    upload = server.uploads[0]
    assert upload["model"] == "whisper-1" and upload["language"] == "en"
    assert upload["prompt"] == "yes, no" and upload["response_format"] == "json"
    assert upload["sample_rate"] == 16000
    assert abs(upload["seconds"] - len(frames(pcm)) * 0.02) < 0.001
    print(f"\nopenai STT (local server) finalize: {elapsed:.1f} ms")


async def test_openai_transcription_with_a_wrong_key_is_a_transcription_error(speak: Speak) -> None:
    async with serve_asgi(OpenAIAudioServer().app()) as base:
        session = OpenAISTT(api_key="wrong", base_url=f"{base}/v1").open()
        session.feed(await speak("Hello."))
        with pytest.raises(OpenAITranscriptionError, match="Incorrect API key"):
            await session.finalize()


async def test_deepgram_streams_audio_and_turns_results_into_partials_and_finals(speak: Speak) -> None:
    dg = DeepgramServer(transcripts=["yes this is john", "thursday at ten works"])
    async with dg.running():
        stt = make_stt({"provider": "deepgram", "api_key": API_KEY, "base_url": dg.url})
        assert isinstance(stt, DeepgramSTT)
        session = stt.open(expected=["yes", "no", "thursday at ten"])
        pcm = await speak("Yes, this is John.")
        sent = frames(pcm)
        for frame in sent:  # fed before the socket is even open: queued, not lost
            session.feed(frame)
            await asyncio.sleep(0)
        started = time.perf_counter()
        first = await session.finalize()
        finalize_ms = (time.perf_counter() - started) * 1000
        for frame in frames(await speak("Thursday at ten works.")):
            session.feed(frame)
        second = await session.finalize()
        await session.close()
        events = [e async for e in session.events()]
    assert first == Final("yes this is john", 0.93)
    assert second.text == "thursday at ten works"
    partials = [e.text for e in events[: events.index(first)]]
    assert partials and all(isinstance(e, Partial) for e in events[: events.index(first)])
    assert partials[-1] == "yes this is john" or "yes this is john".startswith(partials[-1])
    query = dg.queries[0]
    assert query["encoding"] == ["linear16"] and query["sample_rate"] == ["16000"]
    assert query["interim_results"] == ["true"] and query["model"] == ["nova-3"]
    assert query["keyterm"] == ["yes", "no", "thursday at ten"]
    assert dg.audio_bytes[: len(sent)] == [len(f) for f in sent]
    assert dg.controls == ["Finalize", "Finalize", "CloseStream"]
    print(f"\ndeepgram STT (local server) finalize: {finalize_ms:.1f} ms")


async def test_deepgram_finalize_without_a_flush_answer_keeps_what_was_heard(speak: Speak) -> None:
    dg = DeepgramServer(transcripts=["no"], finalize_delay=5.0)
    async with dg.running():
        stt = DeepgramSTT(api_key=API_KEY, base_url=dg.url, finalize_timeout=0.3)
        session = stt.open()
        for frame in frames(await speak("No, I can't make it on that day.")):
            session.feed(frame)
        await asyncio.sleep(0.3)  # interim results arrive
        final = await session.finalize()
        await session.close()
    assert final.text == "no" and final.confidence == 0.5  # the interim, marked uncertain


async def test_deepgram_with_a_wrong_key_fails_the_utterance_clearly(speak: Speak) -> None:
    dg = DeepgramServer()
    async with dg.running():
        session = DeepgramSTT(api_key="wrong", base_url=dg.url).open()
        session.feed(await speak("Hello."))
        await asyncio.sleep(0.2)
        with pytest.raises(TranscriptionError, match="401"):
            await session.finalize()
        await session.close()
