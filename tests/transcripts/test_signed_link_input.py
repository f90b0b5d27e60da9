"""A forged recording link answers 403, whatever bytes it carries (never a 500)."""

from __future__ import annotations

import pytest

from outdial.config import Settings
from outdial.transcripts.links import sign, verify


@pytest.mark.parametrize("signature", ["é" * 64, "\udcff", "0" * 64, "", "🙂"])
def test_verify_refuses_any_foreign_signature(tmp_path, signature: str) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path, signing_secret="s3cret")
    assert verify(settings, "call-1", 2**40, signature) is False
    assert verify(settings, "call-1", 2**40, sign(settings, "call-1", 2**40)) is True
