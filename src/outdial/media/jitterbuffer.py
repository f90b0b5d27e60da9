"""A fixed-delay jitter buffer for G.711, played out one 20 ms frame per clock tick.

Packets are placed by RTP timestamp, so any packet duration works (10, 20, 30, 40 ms...): a packet
that straddles frame boundaries is cut into the frames it covers. Reordered packets land in their
place, duplicates (same sequence number) and packets whose slot has been played are dropped, the
depth is bounded, and a missing frame is concealed in the encoded domain (the previous frame once,
then silence) so the decoder and everything after it see a steady 20 ms cadence while the source
is talking.
"""

from __future__ import annotations

from collections import deque

from outdial.media.rtp import ts_delta

# A jump this many frames away from the playout position is a restarted source, not reordering.
_RESTART_FRAMES = 100
_RECENT_SEQUENCES = 64


class JitterBuffer:
    """Reorders by RTP timestamp and releases one frame's payload per ``pop``.

    ``prefetch`` frames are collected before playout starts (the delay that absorbs jitter);
    ``capacity`` bounds the depth; after ``max_concealed`` consecutive frames with nothing to play,
    playout stops until ``prefetch`` frames have arrived again (the source went quiet or on hold).
    """

    __slots__ = (
        "_ext_ref",
        "_frame",
        "_frames",
        "_last",
        "_misses",
        "_newest",
        "_next",
        "_packet_frames",
        "_played",
        "_recent",
        "_recent_set",
        "_silence",
        "_ts_ref",
        "capacity",
        "concealed",
        "discarded_duplicate",
        "discarded_late",
        "discarded_overflow",
        "max_concealed",
        "prefetch",
    )

    def __init__(
        self,
        silence: bytes,
        prefetch: int = 2,
        capacity: int = 12,
        max_concealed: int = 5,
    ) -> None:
        if not 1 <= prefetch <= capacity:
            raise ValueError("jitter buffer needs 1 <= prefetch <= capacity")
        self.prefetch = prefetch
        self.capacity = capacity
        self.max_concealed = max_concealed
        self._silence = silence
        self._frame = len(silence)  # samples (= G.711 bytes) per frame
        # Frame index (extended timestamp // frame) -> payload; bytearray while assembled from pieces.
        self._frames: dict[int, bytes | bytearray] = {}
        self._next: int | None = None  # index of the next frame to play; None: not playing
        self._played: int | None = None  # last index played (or concealed) before going idle
        self._newest = 0
        self._packet_frames = 1
        self._ts_ref: int | None = None  # last timestamp seen and its extended (unwrapped) value
        self._ext_ref = 0
        self._recent: deque[int] = deque()
        self._recent_set: set[int] = set()
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
        self._ts_ref = None
        self._recent.clear()
        self._recent_set.clear()
        self._misses = 0
        self._last = self._silence

    def put(self, sequence_number: int, timestamp: int, payload: bytes) -> bool:
        """Store a received packet; False when it is dropped (duplicate, late or overflow)."""
        size = len(payload)
        if not size:
            return False
        recent = self._recent_set
        if sequence_number in recent:
            self.discarded_duplicate += 1
            return False
        recent.add(sequence_number)
        self._recent.append(sequence_number)
        if len(self._recent) > _RECENT_SEQUENCES:
            recent.discard(self._recent.popleft())
        # Unwrap the 32-bit timestamp against the last one seen, so indices keep growing.
        if self._ts_ref is None:
            ext = 0
        else:
            ext = self._ext_ref + ts_delta(timestamp, self._ts_ref)
        if ext >= self._ext_ref or self._ts_ref is None:
            self._ts_ref, self._ext_ref = timestamp, ext
        fs = self._frame
        first, offset = divmod(ext, fs)
        last = (ext + size - 1) // fs
        frames = self._frames
        floor = self._next if self._next is not None else (None if self._played is None else self._played + 1)
        if floor is not None:
            if last < floor:
                if floor - first < _RESTART_FRAMES:
                    self.discarded_late += 1
                    return False
                self._restart()
                floor = None
            elif first - floor > _RESTART_FRAMES:
                self._restart()
                floor = None
        elif frames and abs(first - self._newest) > _RESTART_FRAMES:
            frames.clear()
        if offset == 0 and size == fs:
            frames[first] = payload  # the common case: exactly one whole frame
        else:
            self._packet_frames = max(1, -(-size // fs))
            self._place(ext, payload, first, last, floor)
        if not frames or last > self._newest:
            self._newest = last
        if len(frames) > self.capacity:
            # Too deep (the sender's clock runs faster than ours, or a burst): drop the oldest frames.
            while len(frames) > self.capacity:
                oldest = min(frames)
                del frames[oldest]
                self.discarded_overflow += 1
                if self._next is not None and self._next <= oldest:
                    self._next = oldest + 1
            return first in frames
        return True

    def _restart(self) -> None:
        # Same source, far jump: start playout afresh; timestamps stay unwrapped against the same origin.
        self._frames.clear()
        self._next = None
        self._played = None
        self._misses = 0

    def _place(self, ext: int, payload: bytes, first: int, last: int, floor: int | None) -> None:
        fs = self._frame
        frames = self._frames
        end = ext + len(payload)
        for index in range(first, last + 1):
            if floor is not None and index < floor:
                continue  # that part of the packet is already past its playout slot
            start = max(ext, index * fs)
            stop = min(end, (index + 1) * fs)
            piece = payload[start - ext : stop - ext]
            if stop - start == fs:
                frames[index] = piece
                continue
            existing = frames.get(index)
            buf = bytearray(self._silence) if existing is None else bytearray(existing)
            buf[start - index * fs : stop - index * fs] = piece
            frames[index] = buf

    def pop(self) -> bytes | None:
        """The payload for this tick, a concealment payload for a lost frame, or None when idle."""
        frames = self._frames
        nxt = self._next
        if nxt is None:
            if not frames:
                return None
            oldest = min(frames)
            # A packet longer than a frame fills its last frame only when the next packet arrives.
            if self._newest - oldest + 1 < self.prefetch + self._packet_frames - 1:
                return None
            nxt = oldest
        payload = frames.pop(nxt, None)
        self._next = nxt + 1
        if payload is not None:
            self._misses = 0
            data = payload if type(payload) is bytes else bytes(payload)
            self._last = data
            return data
        self._misses += 1
        if not frames and self._misses > self.max_concealed:
            self._frames.clear()
            self._next = None
            self._played = nxt
            self._misses = 0
            return None
        self.concealed += 1
        # Repeating one frame hides a single loss; repeating longer turns into a buzz, so fade to silence.
        return self._last if self._misses == 1 else self._silence
