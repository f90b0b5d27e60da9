"""The flow format: steps as written in an agent's config, compiled (and checked) into typed steps.

Pure Python and light, so the agent schema can check a flow at creation time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from outdial.agent.brains.intents import Intent, build_intent

_KEYS = {
    "id",
    "say",
    "ask",
    "intents",
    "on",
    "capture",
    "reprompt",
    "set",
    "end",
    "transfer",
    "dtmf",
    "opt_out",
    "next",
}


@dataclass(slots=True)
class Step:
    id: str
    say: str | None = None
    ask: str | None = None
    intents: list[Intent] = field(default_factory=list)
    on: dict[str, str] = field(default_factory=dict)
    capture: str | None = None
    reprompt: str | None = None
    set: dict[str, Any] = field(default_factory=dict)
    end: bool = False
    transfer: str | None = None
    dtmf: str | None = None
    opt_out: bool = False
    next: str | None = None


def _str(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError(f"{where}: {key!r} must be a string")
    return str(value)


def compile_steps(raw_steps: Sequence[Mapping[str, Any]]) -> list[Step]:
    """Typed steps in order; raises ValueError naming the step and field at fault."""
    steps: list[Step] = []
    for i, raw in enumerate(raw_steps):
        where = f"brain.steps[{i}]"
        if not isinstance(raw, Mapping):
            raise ValueError(f"{where}: a step is an object")
        unknown = set(raw) - _KEYS
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        step = Step(id=_str(raw, "id", where) or f"step{i + 1}")
        step.say = _str(raw, "say", where)
        step.ask = _str(raw, "ask", where)
        step.capture = _str(raw, "capture", where)
        step.reprompt = _str(raw, "reprompt", where)
        step.transfer = _str(raw, "transfer", where)
        step.dtmf = _str(raw, "dtmf", where)
        step.next = _str(raw, "next", where)
        step.end = bool(raw.get("end", False))
        step.opt_out = bool(raw.get("opt_out", False))
        set_fields = raw.get("set", {})
        if not isinstance(set_fields, Mapping):
            raise ValueError(f"{where}: 'set' maps outcome fields to values")
        step.set = dict(set_fields)
        on = raw.get("on", {})
        if not isinstance(on, Mapping) or not all(isinstance(v, str) for v in on.values()):
            raise ValueError(f"{where}: 'on' maps intent names to step ids")
        step.on = {str(k): v for k, v in on.items()}
        intents = raw.get("intents")
        if intents is None:
            # An ask without intents listens for whatever its branches name.
            intents = [k for k in step.on if k != "default"]
        if not isinstance(intents, list):
            raise ValueError(f"{where}: 'intents' is a list")
        try:
            step.intents = [build_intent(spec) for spec in intents]
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from exc
        if step.ask is None and (step.intents or step.on or step.capture):
            raise ValueError(f"{where}: intents, on and capture belong to an 'ask' step")
        if step.dtmf is not None and not all(c in "0123456789*#ABCDabcd" for c in step.dtmf):
            raise ValueError(f"{where}: dtmf digits are 0-9, *, #, A-D")
        steps.append(step)
    ids = [s.id for s in steps]
    dupes = {x for x in ids if ids.count(x) > 1}
    if dupes:
        raise ValueError(f"brain.steps: duplicate step id(s) {', '.join(sorted(dupes))}")
    known = set(ids)
    for i, s in enumerate(steps):
        targets = [*s.on.values(), *([s.next] if s.next else [])]
        missing = [t for t in targets if t not in known]
        if missing:
            raise ValueError(f"brain.steps[{i}]: no step with id {', '.join(missing)}")
        names = {intent.name for intent in s.intents}
        stray = [k for k in s.on if k != "default" and k not in names]
        if stray:
            listed = ", ".join(stray)
            raise ValueError(f"brain.steps[{i}]: branches on {listed}, which the step does not listen for")
    return steps
