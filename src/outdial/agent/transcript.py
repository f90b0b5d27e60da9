"""The call's transcript: turns in time order, and cutting an interrupted agent turn to what was heard."""

from __future__ import annotations

import logging
from collections.abc import Callable

from outdial.agent.protocols import Turn

log = logging.getLogger(__name__)


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
    def __init__(self, on_add: Callable[[Turn], None] | None = None) -> None:
        self._turns: list[Turn] = []
        self._on_add = on_add

    @property
    def turns(self) -> list[Turn]:
        return sorted(self._turns, key=lambda t: (t.start_ms, t.end_ms))

    def add(self, turn: Turn) -> Turn:
        self._turns.append(turn)
        if self._on_add is not None:
            try:
                self._on_add(turn)
            except Exception:  # a listener's failure must not end the call
                log.exception("transcript listener failed")
        return turn
