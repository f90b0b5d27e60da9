"""Persona files (YAML and JSON) and the agent-turn detector."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from outdial.callee import Persona, PersonaError, Reply, load_persona, parse_persona
from outdial.callee.turns import AgentTurns

YAML = """
name: John
behaviour: answer
rings: 2
ring_seconds: 0.5
replies:
  - Yes, this is John.
  - {dtmf: "1#"}
  - {silence: true}
  - say: Thursday at ten works.
after_last_reply: hangup
tts: {provider: espeak, voice: en-us, rate: 150}
numbers:
  "+15550000486": {behaviour: busy}
  "+15550000403": {behaviour: reject, reject_code: 403}
"""


def test_a_yaml_persona_with_every_kind_of_reply_and_per_number_overrides(tmp_path: Path) -> None:
    path = tmp_path / "john.yaml"
    path.write_text(YAML)
    persona = load_persona(path)
    assert persona.name == "John" and persona.rings == 2 and persona.ring_seconds == 0.5
    assert persona.replies == (
        Reply(say="Yes, this is John."),
        Reply(dtmf="1#"),
        Reply(),
        Reply(say="Thursday at ten works."),
    )
    assert persona.replies[2].silent and persona.after_last_reply == "hangup"
    assert persona.tts == {"provider": "espeak", "voice": "en-us", "rate": 150}
    busy = persona.for_number("+15550000486")
    assert busy.behaviour == "busy" and busy.name == "John"  # the rest comes from the top level
    assert persona.for_number("15550000403").reject_code == 403
    assert persona.for_number("+15551112222") is persona


def test_a_json_persona_and_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"behavior": "no_answer", "no_answer_seconds": 3}))
    persona = load_persona(path)
    assert persona.behaviour == "no_answer" and persona.no_answer_seconds == 3
    assert Persona() == parse_persona({})
    assert (Persona().rings, Persona().after_last_reply, Persona().agent_silence_ms) == (1, "wait", 700)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"behaviour": "maybe"}, "behaviour: one of answer, busy, no_answer, reject"),
        ({"rings": -1}, "rings: expected a non-negative int"),
        ({"rings": True}, "rings"),
        ({"reject_code": 200}, "reject_code"),
        ({"replies": "hello"}, "replies: a list"),
        ({"replies": [{"sing": "la"}]}, "replies[0]: unknown key(s) ['sing']"),
        ({"replies": [{"dtmf": "1x"}]}, "replies[0]: dtmf must be digits"),
        ({"replies": [42]}, "replies[0]: a reply is a string"),
        ({"after_last_reply": "leave"}, "after_last_reply"),
        ({"voice": "en-us"}, "unknown field(s) ['voice']"),
        ({"numbers": {"1": {"numbers": {}}}}, "only at the top level"),
    ],
)
def test_persona_mistakes_name_the_field(data: dict[str, object], message: str) -> None:
    with pytest.raises(PersonaError) as err:
        parse_persona(data)
    assert message in str(err.value)


def test_unreadable_and_malformed_files_are_persona_errors(tmp_path: Path) -> None:
    with pytest.raises(PersonaError, match="cannot read"):
        load_persona(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(PersonaError, match="invalid JSON"):
        load_persona(bad)


def test_the_agent_turn_ends_after_speech_and_enough_silence() -> None:
    turns = AgentTurns(silence_ms=100, min_speech_ms=60)
    assert not any(turns.feed(False) for _ in range(20))  # silence before anyone spoke: no turn
    assert not turns.feed(True) and not turns.feed(False)  # a 20 ms blip is not speech
    assert not any(turns.feed(False) for _ in range(10))
    assert not any(turns.feed(True) for _ in range(5))
    assert turns.agent_speaking
    decisions = [turns.feed(False) for _ in range(6)]
    assert decisions == [False, False, False, False, True, False]
    assert turns.turns == 1 and not turns.agent_speaking
