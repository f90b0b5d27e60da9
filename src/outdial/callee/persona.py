"""A persona: how the simulated callee answers (or doesn't) and what it says, loaded from YAML or JSON.

The file format is documented in docs/callee.md; every field has a default, so ``{}`` is a callee that
answers after one ring and stays on the line silently.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

Behaviour = Literal["answer", "busy", "no_answer", "reject"]
BEHAVIOURS: tuple[Behaviour, ...] = ("answer", "busy", "no_answer", "reject")


class PersonaError(ValueError):
    """A persona file that cannot be used; the message names the field."""


@dataclass(frozen=True, slots=True)
class Reply:
    """One turn of the callee: words to say, DTMF digits to press, or silence (let the agent wait)."""

    say: str | None = None
    dtmf: str | None = None

    @property
    def silent(self) -> bool:
        return self.say is None and self.dtmf is None


@dataclass(frozen=True, slots=True)
class Persona:
    name: str = "callee"
    behaviour: Behaviour = "answer"
    reject_code: int = 603  # for behaviour "reject"
    rings: int = 1  # 180 Ringing, then answer after rings x ring_seconds
    ring_seconds: float = 1.0
    no_answer_seconds: float = 120.0  # behaviour "no_answer": ring this long, then 480
    greeting: str | None = None  # said as soon as the call is answered ("Hello?")
    beep_ms: int = 0  # a voicemail box: after the greeting, a 1 kHz beep this long (0: none)
    replies: tuple[Reply, ...] = ()
    after_last_reply: Literal["hangup", "wait"] = "wait"
    hangup_delay_seconds: float = 0.5
    agent_silence_ms: int = 700  # this much silence after agent speech ends the agent's turn
    reply_delay_ms: int = 200  # thinking time before each reply
    max_call_seconds: float = 300.0
    tts: Mapping[str, Any] = field(default_factory=lambda: {"provider": "espeak", "voice": "en-us"})
    numbers: Mapping[str, Persona] = field(default_factory=dict)  # per dialed number

    def for_number(self, dialed: str) -> Persona:
        """The persona for a dialed number (its override, else this one)."""
        wanted = dialed.lstrip("+")
        return next((p for number, p in self.numbers.items() if number.lstrip("+") == wanted), self)


def _reply(raw: Any, where: str) -> Reply:
    if isinstance(raw, str):
        return Reply(say=raw)
    if isinstance(raw, Mapping):
        unknown = set(raw) - {"say", "dtmf", "silence"}
        if unknown:
            raise PersonaError(f"{where}: unknown key(s) {sorted(unknown)}; use say, dtmf or silence")
        if "say" in raw and isinstance(raw["say"], str) and raw["say"].strip():
            return Reply(say=raw["say"])
        if "dtmf" in raw:
            digits = str(raw["dtmf"])
            if not digits or any(c not in "0123456789*#ABCD" for c in digits.upper()):
                raise PersonaError(f"{where}: dtmf must be digits 0-9, *, #, A-D; got {digits!r}")
            return Reply(dtmf=digits.upper())
        if raw.get("silence") is True:
            return Reply()
    raise PersonaError(f"{where}: a reply is a string, {{say: text}}, {{dtmf: digits}} or {{silence: true}}")


_SCALARS: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "rings": int,
    "ring_seconds": (int, float),
    "no_answer_seconds": (int, float),
    "hangup_delay_seconds": (int, float),
    "agent_silence_ms": int,
    "reply_delay_ms": int,
    "max_call_seconds": (int, float),
    "reject_code": int,
    "beep_ms": int,
}


def parse_persona(data: Mapping[str, Any], base: Persona | None = None, where: str = "persona") -> Persona:
    """A persona from a mapping (a parsed file); ``base`` supplies the fields it leaves out."""
    if not isinstance(data, Mapping):
        raise PersonaError(f"{where} must be a mapping of fields")
    data = dict(data)
    if "behavior" in data:
        data.setdefault("behaviour", data.pop("behavior"))
    known = {f.name for f in fields(Persona)}
    unknown = set(data) - known
    if unknown:
        raise PersonaError(f"{where}: unknown field(s) {sorted(unknown)}")
    values: dict[str, Any] = {}
    for name, kind in _SCALARS.items():
        if name in data:
            value = data[name]
            negative = isinstance(value, int | float) and value < 0
            if isinstance(value, bool) or not isinstance(value, kind) or negative:
                kind_name = getattr(kind, "__name__", "number")
                raise PersonaError(f"{where}.{name}: expected a non-negative {kind_name}")
            values[name] = value
    if "behaviour" in data:
        if data["behaviour"] not in BEHAVIOURS:
            allowed = ", ".join(BEHAVIOURS)
            raise PersonaError(f"{where}.behaviour: one of {allowed}, not {data['behaviour']!r}")
        values["behaviour"] = data["behaviour"]
    if "reject_code" in values and not 300 <= values["reject_code"] < 700:
        raise PersonaError(f"{where}.reject_code: a SIP status 300-699")
    if "greeting" in data:
        if data["greeting"] is not None and not isinstance(data["greeting"], str):
            raise PersonaError(f"{where}.greeting: a sentence or null")
        values["greeting"] = data["greeting"] or None
    if "replies" in data:
        if not isinstance(data["replies"], list):
            raise PersonaError(f"{where}.replies: a list")
        values["replies"] = tuple(_reply(r, f"{where}.replies[{i}]") for i, r in enumerate(data["replies"]))
    if "after_last_reply" in data:
        if data["after_last_reply"] not in ("hangup", "wait"):
            raise PersonaError(f"{where}.after_last_reply: hangup or wait")
        values["after_last_reply"] = data["after_last_reply"]
    if "tts" in data:
        if not isinstance(data["tts"], Mapping):
            example = "{provider: espeak, voice: en-us}"
            raise PersonaError(f"{where}.tts: a TTS provider config such as {example}")
        values["tts"] = dict(data["tts"])
    persona = replace(base, **values, numbers={}) if base else Persona(**values)
    if "numbers" in data:
        if base is not None:
            raise PersonaError(f"{where}.numbers: only at the top level")
        if not isinstance(data["numbers"], Mapping):
            raise PersonaError(f"{where}.numbers: a mapping of dialed number to persona fields")
        numbers = {
            str(number): parse_persona(override, persona, f"{where}.numbers[{number}]")
            for number, override in data["numbers"].items()
        }
        persona = replace(persona, numbers=numbers)
    return persona


def load_persona(path: str | Path) -> Persona:
    """A persona from a ``.json``, ``.yaml`` or ``.yml`` file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PersonaError(f"cannot read persona file {path}: {exc.strerror}") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PersonaError(f"{path}: invalid JSON: {exc}") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise PersonaError(f"{path}: invalid YAML: {exc}") from None
    return parse_persona(data or {}, where=path.name)
