"""The call's transcript: turns in time order, and cutting an interrupted agent turn to what was heard."""

from __future__ import annotations

from outdial.agent.protocols import Turn


def cut_text(text: str, fraction: float) -> str:
    """The leading part of ``text`` heard when ``fraction`` of its audio played, cut at a word boundary.

    Speech time is roughly proportional to characters, so the cut falls at that share of the
    characters, rounded down to the last word the callee heard in full.
    """
    if fraction >= 1.0:
        return text
    if fraction <= 0.0:
        return ""
    limit = int(len(text) * fraction)
    if limit < len(text) and (limit == 0 or not text[limit].isspace()):
        # Mid-word: keep only the words that ended before the cut.
        head = text[:limit]
        cut = head.rfind(" ")
        return head[:cut].rstrip(" ,;:") if cut > 0 else ""
    return text[:limit].rstrip(" ,;:")


class Transcript:
    def __init__(self) -> None:
        self._turns: list[Turn] = []

    @property
    def turns(self) -> list[Turn]:
        return sorted(self._turns, key=lambda t: (t.start_ms, t.end_ms))

    def add(self, turn: Turn) -> Turn:
        self._turns.append(turn)
        return turn
