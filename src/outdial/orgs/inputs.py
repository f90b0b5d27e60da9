"""Input hygiene shared by the tenancy resources (organization, agents, trunks, numbers).

PostgreSQL text and JSONB cannot hold the NUL character; refusing it at the edge keeps SQLite and
PostgreSQL answering the same 400 instead of one of them failing on write.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

NUL = "\x00"


def nul_path(value: Any, path: str = "") -> str | None:
    """The dotted path of the first string (key or value) inside ``value`` that contains NUL, else None."""
    if isinstance(value, str):
        return path or "value" if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and NUL in key:
                return here
            found = nul_path(item, here)
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = nul_path(item, f"{path}.{i}" if path else str(i))
            if found:
                return found
    return None


def reject_nul(data: Any) -> Any:
    """A ``mode="before"`` model validator body: raise ValueError naming the field that holds a NUL."""
    where = nul_path(data)
    if where is not None:
        raise ValueError(f"{where} must not contain the NUL character (\\u0000)")
    return data


def has_nul(text: str) -> bool:
    return NUL in text


class CleanInput(BaseModel):
    """Base of request bodies: unknown fields and NUL characters are refused (400)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return reject_nul(data)
