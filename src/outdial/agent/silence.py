"""The silence timer: fires when the callee has said nothing for ``timeout_s`` while it was their turn.

It counts consecutive timeouts (the brain re-prompts on the first and says goodbye on the second);
anything the callee says resets the count.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class SilenceTimer:
    def __init__(self, timeout_s: float, on_timeout: Callable[[int], None]) -> None:
        self.timeout_s = timeout_s
        self._on_timeout = on_timeout
        self._handle: asyncio.TimerHandle | None = None
        self.count = 0

    @property
    def armed(self) -> bool:
        return self._handle is not None

    def arm(self) -> None:
        """(Re)start the wait; called when the agent has finished speaking."""
        self.disarm()
        self._handle = asyncio.get_running_loop().call_later(self.timeout_s, self._fire)

    def disarm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def heard_callee(self) -> None:
        self.disarm()
        self.count = 0

    def _fire(self) -> None:
        self._handle = None
        self.count += 1
        self._on_timeout(self.count)
