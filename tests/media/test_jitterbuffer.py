"""Jitter buffer: reordering, duplicates, late packets, bounded depth and loss concealment."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from outdial.media.jitterbuffer import JitterBuffer

SILENCE = b"\xff" * 4


def _frame(n: int) -> bytes:
    return bytes([n % 256]) * 4


def test_reordered_packets_play_in_sequence_order() -> None:
    jb = JitterBuffer(SILENCE, prefetch=3)
    for seq in (12, 10, 11, 14, 13):
        assert jb.put(seq, _frame(seq))
    assert [jb.pop() for _ in range(5)] == [_frame(s) for s in (10, 11, 12, 13, 14)]


def test_nothing_plays_until_the_prefetch_depth_is_reached() -> None:
    jb = JitterBuffer(SILENCE, prefetch=2)
    jb.put(1, _frame(1))
    assert jb.pop() is None
    jb.put(2, _frame(2))
    assert jb.pop() == _frame(1)


def test_duplicates_and_late_packets_are_dropped_and_counted() -> None:
    jb = JitterBuffer(SILENCE, prefetch=1)
    jb.put(100, _frame(100))
    assert not jb.put(100, _frame(100))
    assert jb.pop() == _frame(100)
    assert not jb.put(100, _frame(100))  # its slot has been played
    assert not jb.put(99, _frame(99))
    assert (jb.discarded_duplicate, jb.discarded_late) == (1, 2)


def test_a_lost_frame_is_concealed_by_repeating_then_silence() -> None:
    jb = JitterBuffer(SILENCE, prefetch=1)
    jb.put(1, _frame(1))
    jb.put(4, _frame(4))
    assert [jb.pop() for _ in range(4)] == [_frame(1), _frame(1), SILENCE, _frame(4)]
    assert jb.concealed == 2


def test_sequence_numbers_wrap_without_a_hiccup() -> None:
    jb = JitterBuffer(SILENCE, prefetch=2)
    for seq in (65534, 65535, 0, 1):
        jb.put(seq, _frame(seq))
    assert [jb.pop() for _ in range(4)] == [_frame(s) for s in (65534, 65535, 0, 1)]
    assert jb.concealed == 0


def test_depth_is_bounded_by_dropping_the_oldest() -> None:
    jb = JitterBuffer(SILENCE, prefetch=2, capacity=4)
    for seq in range(10):
        jb.put(seq, _frame(seq))
    assert jb.depth == 4
    assert jb.discarded_overflow == 6
    assert jb.pop() == _frame(6)


def test_playout_stops_after_a_long_silence_and_restarts_with_the_source() -> None:
    jb = JitterBuffer(SILENCE, prefetch=1, max_concealed=3)
    jb.put(1, _frame(1))
    assert jb.pop() == _frame(1)
    assert [jb.pop() for _ in range(4)] == [_frame(1), SILENCE, SILENCE, None]
    assert not jb.playing
    jb.put(500, _frame(500))  # a restarted source far from where we were
    assert jb.pop() == _frame(500)


def test_a_far_jump_in_sequence_numbers_resets_instead_of_counting_as_late() -> None:
    jb = JitterBuffer(SILENCE, prefetch=1)
    jb.put(30000, _frame(1))
    jb.pop()
    assert jb.put(5, _frame(5))
    assert jb.pop() == _frame(5)


@given(
    st.lists(
        st.one_of(st.integers(0, 40).map(lambda n: ("put", n)), st.just(("pop", 0))),
        max_size=200,
    )
)
def test_any_arrival_pattern_keeps_order_and_bounds(ops: list[tuple[str, int]]) -> None:
    jb = JitterBuffer(SILENCE, prefetch=2, capacity=6)
    played: list[int] = []
    for op, seq in ops:
        if op == "put":
            jb.put(1000 + seq, _frame(seq))
        else:
            frame = jb.pop()
            if frame is not None and frame not in (SILENCE,):
                played.append(frame[0])
        assert jb.depth <= jb.capacity
    # Real frames come out in increasing sequence order, never twice (repeats conceal a loss).
    distinct = [n for i, n in enumerate(played) if i == 0 or played[i - 1] != n]
    assert distinct == sorted(set(distinct))


def test_after_going_idle_a_stale_packet_is_still_late() -> None:
    jb = JitterBuffer(SILENCE, prefetch=1, max_concealed=2)
    jb.put(10, _frame(10))
    assert jb.pop() == _frame(10)
    assert [jb.pop() for _ in range(3)] == [_frame(10), SILENCE, None]
    assert not jb.put(9, _frame(9))
    assert jb.put(14, _frame(14))
    assert jb.pop() == _frame(14)
