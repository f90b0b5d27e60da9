"""G.711 tables against the scalar G.191 reference, for every input."""

from __future__ import annotations

import struct

import numpy as np

from outdial.media import g711
from tests.media import g711_reference as ref

ALL_SAMPLES = range(-32768, 32768)


def test_ulaw_encode_matches_reference_for_all_65536_samples() -> None:
    pcm = struct.pack("<65536h", *ALL_SAMPLES)
    expected = bytes(ref.ulaw_compress(s) for s in ALL_SAMPLES)
    assert g711.ulaw_encode(pcm) == expected


def test_alaw_encode_matches_reference_for_all_65536_samples() -> None:
    pcm = struct.pack("<65536h", *ALL_SAMPLES)
    expected = bytes(ref.alaw_compress(s) for s in ALL_SAMPLES)
    assert g711.alaw_encode(pcm) == expected


def test_ulaw_decode_matches_reference_for_all_256_codes() -> None:
    decoded = struct.unpack("<256h", g711.ulaw_decode(bytes(range(256))))
    assert list(decoded) == [ref.ulaw_expand(c) for c in range(256)]


def test_alaw_decode_matches_reference_for_all_256_codes() -> None:
    decoded = struct.unpack("<256h", g711.alaw_decode(bytes(range(256))))
    assert list(decoded) == [ref.alaw_expand(c) for c in range(256)]


def test_decode_then_encode_is_identity_except_ulaw_negative_zero() -> None:
    # µ-law has two codes for zero (0x7F "-0" and 0xFF "+0"); everything else survives a round trip.
    codes = bytes(range(256))
    ulaw_back = g711.ulaw_encode(g711.ulaw_decode(codes))
    assert [c for c in range(256) if ulaw_back[c] != c] == [0x7F]
    assert g711.alaw_encode(g711.alaw_decode(codes)) == codes


def test_silence_encodes_to_the_documented_silence_codes() -> None:
    zeros = np.zeros(160, dtype=np.int16)
    assert g711.encode_samples(zeros, g711.PCMU) == bytes([g711.ULAW_SILENCE]) * 160
    assert g711.encode_samples(zeros, g711.PCMA) == bytes([g711.ALAW_SILENCE]) * 160
