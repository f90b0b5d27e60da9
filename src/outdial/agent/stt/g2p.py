"""Pronunciations for words the recognizer's dictionary lacks ("priya", "covid"), from espeak-ng's
letter-to-sound rules, mapped from espeak's phoneme mnemonics onto the CMU (ARPABET) phone set."""

from __future__ import annotations

import re

from outdial.agent.tts.espeak import phonemes

# espeak-ng English mnemonics → CMU phones, longest first when tokenizing. Stress and syllable marks
# (' , % =) and pauses (_) carry no phone.
_PHONES = {
    "aI@": "AY ER",
    "aU@": "AW ER",
    "i@3": "IY R",
    "aI3": "AY ER",
    "aU3": "AW ER",
    "tS": "CH",
    "dZ": "JH",
    "aI": "AY",
    "aU": "AW",
    "eI": "EY",
    "OI": "OY",
    "oU": "OW",
    "i@": "IY AH",
    "e@": "EH R",
    "A@": "AA R",
    "O@": "AO R",
    "o@": "AO R",
    "U@": "UH R",
    "i:": "IY",
    "u:": "UW",
    "3:": "ER",
    "A:": "AA",
    "O:": "AO",
    "a#": "AH",
    "@L": "AH L",
    "@2": "AH",
    "@5": "AH",
    "I2": "IH",
    "I#": "IH",
    "E2": "EH",
    "t#": "T",
    "d#": "D",
    "r-": "R",
    "0": "AA",
    "V": "AH",
    "@": "AH",
    "3": "ER",
    "I": "IH",
    "E": "EH",
    "a": "AE",
    "U": "UH",
    "i": "IY",
    "u": "UW",
    "o": "OW",
    "O": "AO",
    "A": "AA",
    "N": "NG",
    "T": "TH",
    "D": "DH",
    "S": "SH",
    "Z": "ZH",
    "j": "Y",
    "w": "W",
    "r": "R",
    "l": "L",
    "h": "HH",
    "p": "P",
    "b": "B",
    "t": "T",
    "d": "D",
    "k": "K",
    "g": "G",
    "f": "F",
    "v": "V",
    "s": "S",
    "z": "Z",
    "m": "M",
    "n": "N",
    "x": "K",
}
_TOKEN = re.compile("|".join(re.escape(m) for m in sorted(_PHONES, key=len, reverse=True)) + "|.")


def arpabet(mnemonics: str) -> list[str]:
    """CMU phones for an espeak mnemonic string; unknown marks are skipped."""
    phones: list[str] = []
    for token in _TOKEN.findall(mnemonics):
        if token in _PHONES:
            phones.extend(_PHONES[token].split())
    return phones


def guess_pronunciation(word: str) -> str | None:
    """Space-separated CMU phones for ``word`` (letters and apostrophes only), or None."""
    if not re.fullmatch(r"[a-z']+", word):
        return None
    phones = arpabet(phonemes(word))
    return " ".join(phones) or None
