"""Expected phrases → a JSGF grammar over in-dictionary words, and hypotheses back to those phrases."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen \
sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+")


def number_words(n: int) -> list[str]:
    """English words of 0..9999 ("10" is said "ten"; "1030" as "ten thirty" like a time)."""
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + ([_ONES[n % 10]] if n % 10 else [])
    if n < 1000:
        return [_ONES[n // 100], "hundred"] + (number_words(n % 100) if n % 100 else [])
    if n < 10000 and n % 100 and (n // 100) < 20:
        head = n // 100
        return number_words(head) + (["oh", _ONES[n % 100]] if n % 100 < 10 else number_words(n % 100))
    if n < 10000:
        return number_words(n // 1000) + ["thousand"] + (number_words(n % 1000) if n % 1000 else [])
    return [_ONES[int(d)] for d in str(n)]


def words_of(phrase: str) -> list[str]:
    """Lower-case words of a phrase as it would be spoken: punctuation gone, digits spelled out."""
    words: list[str] = []
    for token in _TOKEN.findall(phrase.lower().replace("’", "'")):
        words.extend(number_words(int(token)) if token.isdigit() else [token])
    return words


@dataclass(frozen=True, slots=True)
class Grammar:
    jsgf: str
    phrases: dict[str, str]  # spoken form → the expected phrase as the caller wrote it
    dropped_words: tuple[str, ...]  # words of the expected phrases the dictionary cannot pronounce

    def match(self, hypothesis: str) -> tuple[str, bool]:
        """The expected phrase for a hypothesis (else the hypothesis itself), and whether it was complete.

        The grammar search returns its best partial path when the audio ended before a final state (seen
        on telephone audio: "friday at" for "friday at two"); a partial path that only one phrase — or,
        among several, the shortest — continues is taken as that phrase, marked incomplete.
        """
        if hypothesis in self.phrases:
            return self.phrases[hypothesis], True
        pair = self.two_phrases(hypothesis)
        if pair is not None:
            return f"{self.phrases[pair[0]]} {self.phrases[pair[1]]}", True
        if hypothesis:
            longer = [spoken for spoken in self.phrases if spoken.startswith(hypothesis + " ")]
            if longer:
                return self.phrases[min(longer, key=len)], False
        return hypothesis, False

    def two_phrases(self, hypothesis: str) -> tuple[str, str] | None:
        """The two expected phrases (spoken forms) a hypothesis is made of, if it is not itself one."""
        if hypothesis in self.phrases:
            return None
        words = hypothesis.split()
        for cut in range(1, len(words)):
            first, second = " ".join(words[:cut]), " ".join(words[cut:])
            if first in self.phrases and second in self.phrases:
                return first, second
        return None

    def leading_phrase(self, hypothesis: str) -> str | None:
        """The expected phrase a hypothesis starts with (the longest one), as the caller wrote it."""
        words = hypothesis.split()
        for cut in range(len(words), 0, -1):
            spoken = " ".join(words[:cut])
            if spoken in self.phrases:
                return self.phrases[spoken]
        return None


def compile_grammar(expected: Sequence[str], known: Callable[[str], bool]) -> Grammar | None:
    """A grammar of one or two expected phrases without the words ``known`` rejects; None if none is left."""
    phrases: dict[str, str] = {}
    dropped: list[str] = []
    for phrase in expected:
        words = []
        for word in words_of(phrase):
            if known(word):
                words.append(word)
            elif "'" in word and known(word.replace("'", "")):
                words.append(word.replace("'", ""))
            else:
                dropped.append(word)
        spoken = " ".join(words)
        if spoken and spoken not in phrases:
            phrases[spoken] = phrase
    if not phrases:
        return None
    body = " | ".join(phrases)
    # Up to two phrases in a row: answers combine what one step expects ("thursday" + "at ten").
    jsgf = f"#JSGF V1.0;\ngrammar expected;\n<phrase> = {body};\npublic <answer> = <phrase> [<phrase>];\n"
    return Grammar(jsgf, phrases, tuple(dict.fromkeys(dropped)))
