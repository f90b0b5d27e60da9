"""pocketsphinx STT: grammar recognition of expected answers over the telephone path, streaming."""

from __future__ import annotations

import asyncio
import statistics
import time
from types import SimpleNamespace

import pytest

from outdial.agent.brains.intents import NoIntent, OptOutIntent, YesIntent, first_match
from outdial.agent.protocols import STT, Final, Partial
from outdial.agent.stt import ProviderConfigError, make_stt, validate_config
from outdial.agent.stt.g2p import arpabet, guess_pronunciation
from outdial.agent.stt.grammar import compile_grammar, words_of
from outdial.agent.stt.pocketsphinx import PocketsphinxSession, PocketsphinxSTT
from tests.agent.providers.conftest import Speak, frames, room_noise, settled
from tests.agent.providers.telephone import telephone

ANSWERS = [
    "Yes",
    "No",
    "Yes, this is John.",
    "No, I can't make it.",
    "Thursday at 10",
    "Friday at two",
    "Monday morning",
    "That works",
    "Please call me back later",
    "Wrong number",
]
VOICES = [("en-us", 175), ("en", 150), ("en-us+f3", 200)]


async def utterance(session: PocketsphinxSession, pcm: bytes) -> tuple[Final, float]:
    """Feed a reply as 20 ms frames between stretches of line noise; return the final and finalize ms."""
    for frame in frames(room_noise(300) + pcm + room_noise(300, seed=1)):
        session.feed(frame)
    start = time.perf_counter()
    final = await session.finalize()
    return final, (time.perf_counter() - start) * 1000


def test_phrases_become_a_grammar_of_spoken_in_dictionary_words() -> None:
    assert words_of("Thursday at 10:30, OK?") == ["thursday", "at", "ten", "thirty", "ok"]
    grammar = compile_grammar(["Yes, this is Zbygniewski.", "No!", "no"], lambda w: w != "zbygniewski")
    assert grammar is not None
    assert grammar.phrases == {"yes this is": "Yes, this is Zbygniewski.", "no": "No!"}
    assert grammar.dropped_words == ("zbygniewski",)
    assert "<phrase> = yes this is | no;" in grammar.jsgf
    assert "public <answer> = <phrase> [<phrase>];" in grammar.jsgf
    assert compile_grammar(["Zbygniewski"], lambda w: False) is None


def test_a_partial_grammar_path_is_taken_as_the_phrase_it_starts() -> None:
    grammar = compile_grammar(["friday at two", "friday at ten o'clock", "No", "Monday"], lambda w: True)
    assert grammar is not None
    assert grammar.match("friday at") == ("friday at two", False)
    assert grammar.match("no") == ("No", True)
    assert grammar.match("no monday") == ("No Monday", True)
    assert grammar.match("") == ("", False)


async def test_grammar_recognizes_expected_answers_over_the_telephone_path(speak: Speak) -> None:
    stt = make_stt({"provider": "pocketsphinx"})
    assert isinstance(stt, PocketsphinxSTT) and isinstance(stt, STT)
    correct, latencies, misses = 0, [], []
    total = 0
    for voice, rate in VOICES:
        session = stt.open(expected=ANSWERS)
        await settled()
        assert session.mode == "grammar" and session.sample_rate == 16000
        for answer in ANSWERS:
            pcm = telephone(await speak(answer, voice=voice, rate=rate))
            final, ms = await utterance(session, pcm)
            latencies.append(ms)
            total += 1
            if final.text == answer:
                correct += 1
            else:
                misses.append(f"{answer!r}->{final.text!r}")
        await session.close()
    accuracy = correct / total
    p95 = sorted(latencies)[int(len(latencies) * 0.95) - 1]
    print(
        f"\npocketsphinx grammar, µ-law 8 kHz path: {correct}/{total} answers right ({accuracy:.0%}); "
        f"finalize p50 {statistics.median(latencies):.2f} ms p95 {p95:.2f} ms; misses: {misses}"
    )
    assert accuracy >= 0.5  # 20-26 of 30 measured here
    assert p95 < 20  # ~1 ms on an idle core; the margin is for a loaded CI machine


async def test_clean_audio_is_recognized_with_partials_on_the_way(speak: Speak) -> None:
    session = PocketsphinxSTT().open(expected=["yes", "no", "thursday at ten"])
    final, _ = await utterance(session, await speak("Thursday at ten."))
    assert final.text == "thursday at ten" and final.confidence > 0
    second, _ = await utterance(session, await speak("No."))  # the next utterance, same session
    assert second.text == "no"
    await session.close()
    events = [event async for event in session.events()]  # ends once the session is closed
    assert events[-1] == second
    first_final = events.index(final)
    assert first_final > 0 and all(isinstance(e, Partial) for e in events[:first_final])


async def test_free_text_falls_back_to_the_general_model(speak: Speak) -> None:
    session = PocketsphinxSTT().open(expected=None)
    assert session.mode == "lm"
    await settled()
    final, ms = await utterance(session, await speak("Please call me back tomorrow afternoon."))
    print(f"\npocketsphinx general model (free text): {final.text!r} in {ms:.1f} ms")
    assert final.text  # words come out; accuracy on synthetic audio is not the point
    assert ms < 150  # ~1-6 ms idle; the untuned model took 20-300 ms (a loaded CI machine needs margin)
    await session.close()


async def test_grammar_only_decoder_gives_nothing_for_free_text(speak: Speak) -> None:
    session = PocketsphinxSTT(free_text=False).open()
    assert session.mode == "none"
    final, _ = await utterance(session, await speak("Hello there."))
    assert final == Final("", 0.0)
    await session.close()


async def test_seconds_of_digital_silence_before_the_words_do_not_lose_them(speak: Speak) -> None:
    session = PocketsphinxSTT(free_text=False).open(expected=["yes", "no", "thursday at ten"])
    for frame in frames(bytes(16000 * 2 * 4) + await speak("Thursday at ten.") + bytes(16000)):
        session.feed(frame)
    # the words survive (a phantom second phrase from the silent tail is possible, and harmless here)
    assert (await session.finalize()).text.startswith("thursday at ten")
    await session.close()


def test_words_missing_from_the_dictionary_get_espeaks_pronunciation() -> None:
    assert arpabet("pr'Ij@") == ["P", "R", "IH", "Y", "AH"]
    assert arpabet("k3r'i@3") == ["K", "ER", "R", "IY", "R"]
    assert guess_pronunciation("covid") == "K AA V IH D"
    assert guess_pronunciation("x-ray!") is None


async def test_a_name_the_dictionary_lacks_is_still_recognized(speak: Speak) -> None:
    session = PocketsphinxSTT(free_text=False).open(expected=["yes this is priya", "no", "wrong number"])
    assert session.grammar is not None and session.grammar.dropped_words == ()
    final, _ = await utterance(session, await speak("Yes, this is Priya."))
    assert final.text == "yes this is priya"
    await session.close()


async def test_an_answer_that_goes_on_past_the_expected_phrase_keeps_the_phrase(speak: Speak) -> None:
    session = PocketsphinxSTT(free_text=False).open(expected=["yes", "yeah", "yep", "no", "nope"])
    final, _ = await utterance(session, telephone(await speak("yes I will be there", rate=160)))
    await session.close()
    assert final.text in ("yes", "yeah", "yep") and final.confidence > 0


class ScriptedDecoder:
    """Stands in for pocketsphinx's Decoder: hypotheses as the grammar search gave them on telephone
    audio of "yes I will be there" (measured with the flow's yes/no phrases)."""

    def __init__(self, partials: list[str], final: str) -> None:
        self.partials, self.final, self.ended = partials, final, False

    def start_utt(self) -> None: ...

    def process_raw(self, *_: object) -> None: ...

    def end_utt(self) -> None:
        self.ended = True

    def hyp(self) -> SimpleNamespace | None:
        text = self.final if self.ended else (self.partials.pop(0) if self.partials else "")
        return SimpleNamespace(hypstr=text, prob=1.0) if text else None


async def test_an_empty_grammar_final_falls_back_to_the_phrase_the_partials_matched() -> None:
    grammar = compile_grammar(["yes", "yep", "no", "not really", "remove me"], lambda w: True)
    decoder = ScriptedDecoder(["yeah", "yep", "yep i", "yep not really", "yep remove"], final="")
    pooled = SimpleNamespace(decoder=decoder, with_lm=False)
    session = PocketsphinxSession(pooled, grammar)  # type: ignore[arg-type]
    session.feed(bytes(3200) + (b"\x00\x10" * 1600) * 5)  # audible, so the utterance starts
    assert await session.finalize() == Final("yep", 0.2)  # the first phrase of the last complete partial


def test_the_leading_phrase_of_a_hypothesis() -> None:
    grammar = compile_grammar(["Yes", "yes please", "No"], lambda w: True)
    assert grammar is not None
    assert grammar.leading_phrase("yes please no") == "yes please"
    assert grammar.leading_phrase("no i") == "No"
    assert grammar.leading_phrase("maybe") is None


async def test_finalize_without_audio_is_an_empty_final() -> None:
    session = PocketsphinxSTT().open(expected=["yes"])
    assert await session.finalize() == Final("", 0.0)
    await session.close()


def test_stt_config_errors_are_coded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("DEEPGRAM_API_KEY", raising=False)
    for config, code in [
        ({"provider": "whisper.cpp"}, "unknown_provider"),
        ({"provider": "pocketsphinx", "free_text": "yes"}, "invalid_provider_config"),
        ({"provider": "openai"}, "missing_api_key"),
        ({"provider": "deepgram", "api_key": ""}, "missing_api_key"),
    ]:
        with pytest.raises(ProviderConfigError) as err:
            validate_config(config)
        assert err.value.code == code, config
    validate_config({"provider": "openai", "api_key": "sk-test"})


async def test_a_recognizer_loads_its_decoder_in_the_background_so_open_is_instant() -> None:
    from outdial.agent.stt.pocketsphinx import _pool

    stt = PocketsphinxSTT(free_text=False)  # built while the phone rings
    async with asyncio.timeout(10):
        while not _pool._idle[False]:  # noqa: ASYNC110 - observing the loader thread
            await asyncio.sleep(0.01)
    start = time.perf_counter()
    session = stt.open(expected=["yes", "no"])
    opened_ms = (time.perf_counter() - start) * 1000
    await session.close()
    assert opened_ms < 20  # the grammar compiles in well under a millisecond; no decoder load here


def test_two_phrases_are_found_in_a_hypothesis_that_is_not_one() -> None:
    grammar = compile_grammar(["yes", "not really", "no", "friday at two"], lambda w: True)
    assert grammar is not None
    assert grammar.two_phrases("yes not really") == ("yes", "not really")
    assert grammar.two_phrases("friday at two") is None  # one phrase
    assert grammar.two_phrases("yes maybe") is None


CONFIRM_PHRASES = [*YesIntent().phrases(), *NoIntent().phrases(), *OptOutIntent().phrases()]


LONGER_ANSWERS = {
    "yes I'll see you then": "yes",
    "yeah that is fine with me": "yes",
    "yes, I will come": "yes",
    "sure thing, see you tomorrow": "yes",
    "no, I'm busy then": "no",
    "no I have to work that day": "no",
}


async def test_longer_answers_keep_their_intent(speak: Speak) -> None:
    # A grammar has no place for the rest of "yes I will be there": the search forced it onto the
    # nearest phrase ("not really") and the yes became a no. The forced second phrase is now dropped.
    stt = PocketsphinxSTT(free_text=False)
    right, wrong = 0, []
    for voice, rate in VOICES:
        for answer, intent in LONGER_ANSWERS.items():
            session = stt.open(expected=CONFIRM_PHRASES)
            final, _ = await utterance(session, telephone(await speak(answer, voice=voice, rate=rate)))
            await session.close()
            found = first_match([OptOutIntent(), YesIntent(), NoIntent()], final.text)
            if found is not None and found.intent == intent:
                right += 1
            else:
                wrong.append(f"{answer!r}->{final.text!r}")
    print(f"\nlonger answers, intent kept: {right}/{right + len(wrong)}; wrong: {wrong}")
    assert right >= 0.8 * (right + len(wrong)), (
        wrong
    )  # 15-16 of 18 measured; 9 before forced phrases were dropped
