"""Built-in intents: what each recognizes in a transcript, and what it refuses."""

from __future__ import annotations

import pytest

from outdial.agent.brains.intents import (
    DateIntent,
    DigitsIntent,
    NoIntent,
    OptOutIntent,
    PhraseIntent,
    TimeIntent,
    YesIntent,
    first_match,
)


@pytest.mark.parametrize("text", ["yes", "Yeah, sure.", "yes i can", "that works", "sounds good", "1"])
def test_yes(text: str) -> None:
    assert YesIntent().match(text) is not None
    assert NoIntent().match(text) is None


@pytest.mark.parametrize("text", ["no", "Nope.", "no i can't", "I cannot make it", "not really", "2"])
def test_no(text: str) -> None:
    assert NoIntent().match(text) is not None
    assert YesIntent().match(text) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("thursday", "Thursday"),
        ("how about next friday", "next Friday"),
        ("tomorrow works", "tomorrow"),
        ("the day after tomorrow", "the day after tomorrow"),
    ],
)
def test_dates(text: str, value: str) -> None:
    m = DateIntent().match(text)
    assert m is not None and m.value == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("ten", "10am"),
        ("10am", "10am"),
        ("at ten a m", "10am"),
        ("two thirty", "2:30pm"),
        ("2:30 pm", "2:30pm"),
        ("eleven forty five", "11:45am"),
        ("three in the afternoon", "3pm"),
        ("noon", "12pm"),
        ("seven pm", "7pm"),
    ],
)
def test_times(text: str, value: str) -> None:
    m = TimeIntent().match(text)
    assert m is not None and m.value == value


def test_digits_from_words_and_numerals() -> None:
    assert DigitsIntent().match("four two oh 7").value == "4207"  # type: ignore[union-attr]
    assert DigitsIntent().match("no idea") is None


def test_phrase_intent_matches_whole_words_only() -> None:
    cancel = PhraseIntent("cancel", ["cancel", "call it off"])
    assert cancel.match("please call it off") is not None
    assert cancel.match("cancellation fee") is None


def test_opt_out_wins_over_other_intents() -> None:
    m = first_match([NoIntent(), OptOutIntent()], "no, stop calling me")
    assert m is not None and m.intent == "opt_out"


def test_every_builtin_lists_phrases_it_matches() -> None:
    for intent in (YesIntent(), NoIntent(), DateIntent(), TimeIntent()):
        for phrase in intent.phrases():
            assert intent.match(phrase) is not None, (intent.name, phrase)
