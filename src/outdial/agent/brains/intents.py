"""Recognizing what the callee meant: built-in intents (yes/no, dates, times, digits, opt-out) and
phrase lists. Each intent can list the phrases it expects, for grammar speech recognition.

Matching works on normalized words, so "Yes, I can." and "yes i can" are the same answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    """Lowercase words of ``text``; "10am" stays one word, punctuation goes."""
    return _WORD.findall(text.lower().replace(":", " : ").replace(" : ", ":"))


def normalize(text: str) -> str:
    return " ".join(words(text))


@dataclass(frozen=True, slots=True)
class Match:
    intent: str
    value: str


class Intent:
    """A named intent: ``match`` returns a Match or None; ``phrases`` feed the grammar."""

    name: str

    def match(self, text: str) -> Match | None:
        raise TypeError  # every intent defines it; kept abstract without abc for slots-free speed

    def phrases(self) -> list[str]:
        return []


class PhraseIntent(Intent):
    """Matches when one of its phrases occurs as whole words in the utterance (or a DTMF digit)."""

    def __init__(self, name: str, phrases: Sequence[str], dtmf: str | None = None) -> None:
        self.name = name
        self._phrases = [normalize(p) for p in phrases if normalize(p)]
        self._dtmf = dtmf

    def match(self, text: str) -> Match | None:
        said = f" {normalize(text)} "
        if self._dtmf is not None and said.strip() == self._dtmf:
            return Match(self.name, self.name)
        for p in sorted(self._phrases, key=len, reverse=True):
            if f" {p} " in said:
                return Match(self.name, p)
        return None

    def phrases(self) -> list[str]:
        return list(self._phrases)


_NEGATIONS = {"no", "nope", "nah", "not", "can't", "cannot", "won't", "don't", "negative", "never"}
_AFFIRMATIONS = {
    "yes",
    "yeah",
    "yep",
    "yup",
    "sure",
    "correct",
    "right",
    "ok",
    "okay",
    "absolutely",
    "definitely",
}
_YES_PHRASES = [
    "yes",
    "yeah",
    "yep",
    "sure",
    "correct",
    "okay",
    "yes i can",
    "yes that works",
    "that works",
    "sounds good",
    "yes please",
    "of course",
    "absolutely",
    "that's right",
]
_NO_PHRASES = [
    "no",
    "nope",
    "no i can't",
    "i can't",
    "no i cannot",
    "i can't make it",
    "not really",
    "no thanks",
    "no thank you",
    "that doesn't work",
]


class YesIntent(Intent):
    name = "yes"

    def match(self, text: str) -> Match | None:
        w = set(words(text))
        if w & _NEGATIONS or " doesn't " in f" {normalize(text)} ":
            return None
        said = f" {normalize(text)} "
        if w & _AFFIRMATIONS or "works" in w or "good" in w or " of course " in said or said == " 1 ":
            return Match("yes", "yes")
        return None

    def phrases(self) -> list[str]:
        return list(_YES_PHRASES)


class NoIntent(Intent):
    name = "no"

    def match(self, text: str) -> Match | None:
        said = normalize(text)
        if set(said.split()) & _NEGATIONS or " doesn't " in f" {said} " or said == "2":
            return Match("no", "no")
        return None

    def phrases(self) -> list[str]:
        return list(_NO_PHRASES)


_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_RELATIVE_DAYS = ["today", "tomorrow", "day after tomorrow"]


class DateIntent(Intent):
    """A day: a weekday (optionally "next ..."), "today", "tomorrow", "the day after tomorrow"."""

    name = "date"

    def match(self, text: str) -> Match | None:
        said = normalize(text)
        w = said.split()
        if "day after tomorrow" in said:
            return Match("date", "the day after tomorrow")
        for i, word in enumerate(w):
            if word in _WEEKDAYS:
                prefix = "next " if i > 0 and w[i - 1] == "next" else ""
                return Match("date", prefix + word.capitalize())
            if word in ("today", "tomorrow"):
                return Match("date", word)
        return None

    def phrases(self) -> list[str]:
        out: list[str] = []
        for day in [*_WEEKDAYS, *_RELATIVE_DAYS]:
            out += [day, f"on {day}", f"how about {day}"]
        out += [f"next {d}" for d in _WEEKDAYS]
        return out


_UNITS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
}
_MINUTES = {"o'clock": 0, "oclock": 0, "fifteen": 15, "thirty": 30, "forty": 40}
_AFTERNOON, _EVENING = ["in", "the", "afternoon"], ["in", "the", "evening"]
_TIME_RE = re.compile(r"^(\d{1,2})(?::(\d{2}))?(am|pm)?$")


class TimeIntent(Intent):
    """A time of day: "ten", "10am", "ten thirty", "two thirty pm", "2:30", "noon".

    Without am/pm, 7–11 read as morning and 12–6 as afternoon (office hours).
    """

    name = "time"

    def match(self, text: str) -> Match | None:
        w = words(text)
        if "noon" in w or "midday" in w:
            return Match("time", "12pm")
        for i, word in enumerate(w):
            hour: int | None = None
            minute = 0
            meridiem: str | None = None
            m = _TIME_RE.match(word)
            if m and 1 <= int(m.group(1)) <= 12:
                hour, minute, meridiem = int(m.group(1)), int(m.group(2) or 0), m.group(3)
            elif word in _UNITS:
                hour = _UNITS[word]
            if hour is None:
                continue
            rest = w[i + 1 : i + 4]
            if rest[:2] == ["forty", "five"]:
                minute, rest = 45, rest[2:]
            elif rest and rest[0] in _MINUTES:
                minute, rest = _MINUTES[rest[0]], rest[1:]
            elif rest and rest[0].isdigit() and len(rest[0]) == 2:
                minute, rest = int(rest[0]), rest[1:]
            if meridiem is None and rest:
                if rest[0] in ("am", "a") or rest[:3] == ["in", "the", "morning"]:
                    meridiem = "am"
                elif rest[0] in ("pm", "p") or rest[:3] in (_AFTERNOON, _EVENING):
                    meridiem = "pm"
            if meridiem is None:
                meridiem = "am" if 7 <= hour <= 11 else "pm"
            return Match("time", f"{hour}{f':{minute:02d}' if minute else ''}{meridiem}")
        return None

    def phrases(self) -> list[str]:
        out: list[str] = ["noon"]
        for hour in _UNITS:
            for minute in ("", " fifteen", " thirty", " forty five", " o'clock"):
                for mer in ("", " am", " pm"):
                    out.append(f"{hour}{minute}{mer}")
                out.append(f"at {hour}{minute}")
        return out


_DIGIT_WORDS = {
    "zero": "0",
    "oh": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}


class DigitsIntent(Intent):
    """A run of digits, spoken ("four two") or keyed (DTMF "4", "2")."""

    name = "digits"

    def match(self, text: str) -> Match | None:
        out = ""
        for word in words(text):
            if word.isdigit():
                out += word
            elif word in _DIGIT_WORDS:
                out += _DIGIT_WORDS[word]
            elif out:
                break
        return Match("digits", out) if out else None

    def phrases(self) -> list[str]:
        return list(_DIGIT_WORDS)


_OPT_OUT_PHRASES = [
    "stop calling me",
    "do not call me",
    "don't call me again",
    "remove me from your list",
    "take me off your list",
    "unsubscribe",
    "do not call",
]


class OptOutIntent(PhraseIntent):
    def __init__(self) -> None:
        super().__init__("opt_out", _OPT_OUT_PHRASES)


# What people say when they pick up: the grammar for a user_first greeting, which the agent answers
# whatever it was (a free-text recognizer would cost far more here for nothing).
GREETINGS = [
    "hello",
    "hi",
    "hey",
    "yes",
    "yeah",
    "hello who is this",
    "who is this",
    "speaking",
    "good morning",
    "good afternoon",
    "hello this is",
    "yes hello",
]


BUILTIN: dict[str, type[Intent]] = {
    "yes": YesIntent,
    "no": NoIntent,
    "date": DateIntent,
    "time": TimeIntent,
    "digits": DigitsIntent,
    "opt_out": OptOutIntent,
}


def build_intent(spec: str | dict[str, object]) -> Intent:
    """An intent from its flow spelling: a built-in name, or {name, phrases, dtmf?}."""
    if isinstance(spec, str):
        if spec not in BUILTIN:
            raise ValueError(f"unknown intent {spec!r}; built-ins are {', '.join(BUILTIN)}")
        return BUILTIN[spec]()
    name = spec.get("name")
    phrases = spec.get("phrases")
    if not isinstance(name, str) or not name:
        raise ValueError("a custom intent needs a name")
    if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases) or not phrases:
        raise ValueError(f"intent {name!r} needs a non-empty list of phrases")
    dtmf = spec.get("dtmf")
    return PhraseIntent(name, phrases, str(dtmf) if dtmf is not None else None)


def first_match(intents: Sequence[Intent], text: str) -> Match | None:
    """The first intent, in the order given, that matches. Opt-out always wins."""
    for intent in intents:
        if intent.name == "opt_out":
            m = intent.match(text)
            if m:
                return m
    for intent in intents:
        m = intent.match(text)
        if m:
            return m
    return None
