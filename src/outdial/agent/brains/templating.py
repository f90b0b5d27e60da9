"""``{{name}}`` templating for agent text: variables, captured answers, call_context and metadata.

``{{name}}`` looks ``name`` up in the variables (captured answers included), ``{{call_context}}`` is
the call's context, ``{{metadata.key}}`` a key of the request metadata. A name that resolves to
nothing renders as an empty string: a caller never hears a raw ``{{...}}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\s*\}\}")


def lookup(name: str, scope: Mapping[str, Any]) -> Any:
    """The value of a dotted ``name`` in ``scope``, or None."""
    value: Any = scope
    for part in name.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return None
    return value


def render(text: str, scope: Mapping[str, Any]) -> str:
    def sub(m: re.Match[str]) -> str:
        value = lookup(m.group(1), scope)
        if value is None:
            return ""
        if isinstance(value, bool):
            return "yes" if value else "no"
        return str(value)

    return _PLACEHOLDER.sub(sub, text).strip() if "{{" in text else text


def render_value(value: Any, scope: Mapping[str, Any]) -> Any:
    """Render strings inside a value; a string that is exactly one placeholder keeps its type."""
    if isinstance(value, str):
        m = _PLACEHOLDER.fullmatch(value.strip())
        if m:
            return lookup(m.group(1), scope)
        return render(value, scope)
    if isinstance(value, dict):
        return {k: render_value(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, scope) for v in value]
    return value


def make_scope(
    variables: Mapping[str, Any] | None,
    call_context: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The lookup scope: variables at the top level, plus ``call_context`` and ``metadata``."""
    scope: dict[str, Any] = dict(variables or {})
    scope.setdefault("call_context", call_context or "")
    scope.setdefault("metadata", dict(metadata or {}))
    return scope
