"""Jitter buffer: reordering, duplicates, late packets, bounded depth, loss concealment, any ptime."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from outdial.media.jitterbuffer import JitterBuffer

FRAME = 4  # samples per frame in these tests (160 in a call): keeps the payloads readable
SILENCE = b"\xff" * FRAME


def _frame(n: int) -> bytes:
    return bytes([n % 256]) * FRAME


def _put(jb: JitterBuffer, n: int, payload: bytes | None = None) -> bool:
    """Packet n of a 20 ms stream: sequence number n, timestamp n frames."""
    return jb.put(n, n * FRAME, _frame(n) if payload is None else payload)


def test_reordered_packets_play_in_order() -> None:
    jb = JitterBuffer(SILENCE, prefetch=3)
    for n in (12, 10, 11, 14, 13):
        assert _put(jb, n)
    assert [jb.pop() for _ in range(5)] == [_frame(n) for n in (10, 11, 12, 13, 14)]


def test_nothing_plays_until_the_prefetch_depth_is_reached() -> None:
    jb = JitterBuffer(SILENCE, prefetch=2)
    _put(jb, 1)
    assert jb.pop() is None
    _put(jb, 2)
    assert jb.pop() == _frame(1)


def test_duplicates_and_late_packets_are_dropped_and_counted() -> None:
    jb = JitterBuffer(SILENCE, prefetch=1)
    _put(jb, 100)
    assert not _put(jb, 100)  # same sequence number again
    assert jb.pop() == _frame(100)
    assert not jb.put(99, 99 * FRAME, _frame(99))  # its slot has been played
    assert (jb.discarded_duplicate, jb.discarded_late) == (1, 1)


def test_a_lost_frame_is_concealed_by_repeating_then_silence() -> None:
    jb = JitterBuffer(SILENCE, prefetch=1)
    _put(jb, 1)
    _put(jb, 4)
    assert [jb.pop() for _ in range(4)] == [_frame(1), _frame(1), SILENCE, _frame(4)]
    assert jb.concealed == 2


def test_sequence_numbers_and_timestamps_wrap_without_a_hiccup() -> None:
    jb = JitterBuffer(SILENCE, prefetch=2)
    for i, seq in enumerate((65534, 65535, 0, 1)):
        assert jb.put(seq, (0xFFFFFFF8 + i * FRAME) & 0xFFFFFFFF, _frame(i))
    assert [jb.pop() for _ in range(4)] == [_frame(i) for i in range(4)]
    assert jb.concealed == 0


def test_depth_is_bounded_by_dropping_the_oldest() -> None:
    jb = JitterBuffer(SILENCE, prefetch=2, capacity=4)
    for n in range(10):
        _put(jb, n)
    assert jb.depth == 4
    assert jb.discarded_overflow == 6
    assert jb.pop() == _frame(6)


def test_playout_stops_after_a_long_silence_and_restarts_with_the_source() -> None:
    jb = JitterBuffer(SILENCE, prefetch=1, max_concealed=3)
    _put(jb, 1)
    assert jb.pop() == _frame(1)
    assert [jb.pop() for _ in range(4)] == [_frame(1), SILENCE, SILENCE, None]
    assert not jb.playing
    _put(jb, 500)  # the source talks again, far ahead
    assert jb.pop() == _frame(500)


def test_after_going_idle_a_stale_packet_is_still_late() -> None:
    jb = JitterBuffer(SILENCE, prefetch=1, max_concealed=2)
    _put(jb, 10)
    assert jb.pop() == _frame(10)
    assert [jb.pop() for _ in range(3)] == [_frame(10), SILENCE, None]
    assert not _put(jb, 9)
    assert _put(jb, 14)
    assert jb.pop() == _frame(14)


def test_a_far_jump_backwards_restarts_instead_of_counting_as_late() -> None:
    jb = JitterBuffer(SILENCE, prefetch=1)
    _put(jb, 3000)
    jb.pop()
    assert _put(jb, 5)
    assert jb.pop() == _frame(5)


def test_10ms_packets_are_joined_into_whole_frames() -> None:
    jb = JitterBuffer(SILENCE, prefetch=2)
    half = FRAME // 2
    for i in range(8):  # 10 ms packets: half a frame each, byte value = packet number
        jb.put(i, i * half, bytes([i]) * half)
    assert [jb.pop() for _ in range(4)] == [bytes([2 * k] * half + [2 * k + 1] * half) for k in range(4)]


def test_30ms_packets_are_cut_at_frame_boundaries() -> None:
    jb = JitterBuffer(SILENCE, prefetch=2)
    size = FRAME * 3 // 2  # 1.5 frames per packet
    audio = bytes(range(6 * FRAME))
    for i in range(4):
        jb.put(i, i * size, audio[i * size : (i + 1) * size])
    assert b"".join(jb.pop() or b"" for _ in range(6)) == audio
    assert jb.concealed == 0


def test_the_missing_half_of_a_straddled_frame_is_silence() -> None:
    jb = JitterBuffer(SILENCE, prefetch=1)
    size = FRAME * 3 // 2  # packets cover samples 0-6, 6-12 (lost), 12-18
    audio = bytes(range(1, 3 * size + 1))
    jb.put(0, 0, audio[:size])
    jb.put(2, 2 * size, audio[2 * size :])
    half_filled = audio[4:6] + SILENCE[:2]
    assert [jb.pop() for _ in range(4)] == [audio[0:4], half_filled, half_filled, audio[12:16]]
    assert jb.concealed == 1  # frame 2 (samples 8-12) wholly lost: the previous frame repeats


@given(
    st.lists(
        st.one_of(st.integers(0, 40).map(lambda n: ("put", n)), st.just(("pop", 0))),
        max_size=200,
    )
)
def test_any_arrival_pattern_keeps_order_and_bounds(ops: list[tuple[str, int]]) -> None:
    jb = JitterBuffer(SILENCE, prefetch=2, capacity=6)
    played: list[int] = []
    for op, n in ops:
        if op == "put":
            _put(jb, 1000 + n, _frame(n))
        else:
            frame = jb.pop()
            if frame is not None and frame != SILENCE:
                played.append(frame[0])
        assert jb.depth <= jb.capacity
    # Real frames come out in increasing order, never twice (a repeat conceals a loss).
    distinct = [n for i, n in enumerate(played) if i == 0 or played[i - 1] != n]
    assert distinct == sorted(set(distinct))
