"""The README stays true: every OUTDIAL_* setting with its default, every status, end reason and event."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from outdial.lifecycle import AnsweredBy, CallStatus, EndReason, EventType

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()

# Settings classes read from OUTDIAL_* variables (module, class); a module not in this build is skipped.
SETTINGS = [
    ("outdial.config", "Settings"),
    ("outdial.dialer.settings", "DialerSettings"),
    ("outdial.webhooks.config", "WebhookSettings"),
    ("outdial.transcripts.links", "LinkSettings"),
]


def _rendered(default: Any) -> str:
    if default is None:
        return "unset"
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, Path):
        return f"./{default}"
    return str(default)


def _rows() -> dict[str, str]:
    rows = {}
    for line in README.splitlines():
        m = re.match(r"^\| `(OUTDIAL_[A-Z0-9_]+)` \| (.+?) \|", line)
        if m:
            rows[m.group(1)] = m.group(2).strip().strip("`")
    return rows


def _settings() -> list[tuple[str, Any]]:
    out = []
    for module_name, class_name in SETTINGS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        cls: type[BaseSettings] = getattr(module, class_name)
        prefix = str(cls.model_config.get("env_prefix", ""))
        for name, field in cls.model_fields.items():
            out.append((f"{prefix}{name}".upper(), field.default))
    return out


@pytest.mark.parametrize(("variable", "default"), _settings())
def test_every_setting_has_a_row_with_its_default(variable: str, default: Any) -> None:
    rows = _rows()
    assert variable in rows, f"{variable} is missing from the README configuration table"
    assert rows[variable] == _rendered(default), variable


def test_the_table_lists_no_setting_that_does_not_exist() -> None:
    known = {name for name, _ in _settings()}
    assert set(_rows()) <= known


@pytest.mark.parametrize("value", [*CallStatus, *EndReason, *AnsweredBy, *EventType])
def test_the_vocabulary_is_documented(value: str) -> None:
    assert f"`{value}`" in README
