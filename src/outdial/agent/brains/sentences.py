"""Cutting streamed text into sentences, so speech can start before the whole reply has arrived."""

from __future__ import annotations

import re

# A sentence ends at . ! ? (or a newline) followed by whitespace; "Dr." and "3.5" do not end one.
_END = re.compile(r"(?<=[.!?…])\s+|\n+")
_ABBREVIATIONS = {"mr.", "mrs.", "ms.", "dr.", "st.", "vs.", "e.g.", "i.e.", "etc.", "no.", "a.m.", "p.m."}


class SentenceSplitter:
    """Feed text fragments; get back the sentences they complete. ``flush`` returns the remainder."""

    def __init__(self, min_chars: int = 8) -> None:
        self._buf = ""
        self._min_chars = min_chars

    def feed(self, fragment: str) -> list[str]:
        self._buf += fragment
        out: list[str] = []
        start = 0
        for m in _END.finditer(self._buf):
            candidate = self._buf[start : m.start()].strip()
            last_word = candidate.rsplit(" ", 1)[-1].lower()
            if len(candidate) < self._min_chars or last_word in _ABBREVIATIONS:
                continue
            out.append(candidate)
            start = m.end()
        self._buf = self._buf[start:]
        return out

    def flush(self) -> str:
        rest, self._buf = self._buf.strip(), ""
        return rest
