"""A fixed-delay jitter buffer for 20 ms G.711 frames, played out one frame per clock tick.

Packets are keyed by sequence number: reordered packets are put back in order, duplicates and
packets that arrive after their playout slot are dropped, the depth is bounded, and a missing frame
is concealed in the encoded domain (the previous frame once, then silence) so the decoder and
everything after it always see a steady 20 ms cadence while the source is talking.
"""

from __future__ import annotations

from outdial.media.rtp import seq_delta

# A jump this far from the expected sequence number is a restarted or new source, not reordering.
_RESTART_DISTANCE = 100


class JitterBuffer:
    """Reorders by sequence number and releases one payload per ``pop``.

    ``prefetch`` frames are collected before playout starts (the delay that absorbs jitter);
    ``capacity`` bounds the depth; after ``max_concealed`` consecutive frames with nothing to play,
    playout stops until ``prefetch`` frames have arrived again (the source went quiet or on hold).
    """

    __slots__ = (
        "_frames",
        "_last",
        "_misses",
        "_next",
        "_played",
        "_silence",
        "capacity",
        "concealed",
        "discarded_duplicate",
        "discarded_late",
        "discarded_overflow",
        "max_concealed",
        "prefetch",
    )

    def __init__(self, silence: bytes, prefetch: int = 2, capacity: int = 12, max_concealed: int = 5) -> None:
        if not 1 <= prefetch <= capacity:
            raise ValueError("jitter buffer needs 1 <= prefetch <= capacity")
        self.prefetch = prefetch
        self.capacity = capacity
        self.max_concealed = max_concealed
        self._silence = silence
        self._frames: dict[int, bytes] = {}
        self._next: int | None = None  # sequence number of the next frame to play; None: not playing
        # The last slot played out (or concealed) before playout went idle: older packets stay late.
        self._played: int | None = None
        self._last = silence
        self._misses = 0
        self.concealed = 0
        self.discarded_late = 0
        self.discarded_duplicate = 0
        self.discarded_overflow = 0

    @property
    def depth(self) -> int:
        return len(self._frames)

    @property
    def playing(self) -> bool:
        return self._next is not None

    def set_silence(self, silence: bytes) -> None:
        """The payload used to conceal losses (changes with the codec)."""
        self._silence = silence

    def reset(self) -> None:
        """Forget everything (a new source)."""
        self._frames.clear()
        self._next = None
        self._played = None
        self._misses = 0
        self._last = self._silence

    def put(self, sequence_number: int, payload: bytes) -> bool:
        """Store a received frame; False when it is dropped (duplicate, late or overflow)."""
        frames = self._frames
        nxt = self._next
        if nxt is not None:
            delta = seq_delta(sequence_number, nxt)
            if delta < 0:
                if delta > -_RESTART_DISTANCE:
                    self.discarded_late += 1
                    return False
                self.reset()
            elif delta > _RESTART_DISTANCE:
                self.reset()
        else:
            if self._played is not None:
                delta = seq_delta(sequence_number, self._played)
                if -_RESTART_DISTANCE < delta <= 0:
                    self.discarded_late += 1
                    return False
                if abs(delta) > _RESTART_DISTANCE:
                    self._played = None
            if frames:
                newest = next(reversed(frames))
                if abs(seq_delta(sequence_number, newest)) > _RESTART_DISTANCE:
                    frames.clear()
        if sequence_number in frames:
            self.discarded_duplicate += 1
            return False
        frames[sequence_number] = payload
        if len(frames) > self.capacity:
            # Too deep (the sender's clock runs faster than ours, or a burst): drop the oldest frame.
            oldest = self._oldest()
            del frames[oldest]
            self.discarded_overflow += 1
            if self._next is not None:
                self._next = (oldest + 1) & 0xFFFF
            return oldest != sequence_number
        return True

    def pop(self) -> bytes | None:
        """The payload for this tick, a concealment payload for a lost frame, or None when idle."""
        frames = self._frames
        nxt = self._next
        if nxt is None:
            if len(frames) < self.prefetch:
                return None
            nxt = self._oldest()
        payload = frames.pop(nxt, None)
        self._next = (nxt + 1) & 0xFFFF
        if payload is not None:
            self._misses = 0
            self._last = payload
            return payload
        self._misses += 1
        if not frames and self._misses > self.max_concealed:
            self.reset()
            self._played = nxt
            return None
        self.concealed += 1
        # Repeating one frame hides a single loss; repeating longer turns into a buzz, so fade to silence.
        return self._last if self._misses == 1 else self._silence

    def _oldest(self) -> int:
        frames = self._frames
        ref = next(iter(frames))
        return min(frames, key=lambda s: seq_delta(s, ref))
