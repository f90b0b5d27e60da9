"""The flow brain: steps, intents, branches, captures, templating and outcomes, driven event by event."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from outdial.agent.brains.flow import FlowBrain
from outdial.agent.protocols import (
    Action,
    BrainEvent,
    CallStarted,
    DtmfReceived,
    EndCall,
    OptOut,
    Say,
    SendDtmf,
    SetOutcome,
    Silence,
    Transfer,
    UserSaid,
)
from outdial.agent.settings import AgentConfig
from tests.agent.flows import APPOINTMENT_STEPS


async def step(brain: FlowBrain, event: BrainEvent) -> list[Action]:
    return [a async for a in brain.respond([], event)]


def said(actions: Sequence[Action]) -> list[str]:
    return [a.text for a in actions if isinstance(a, Say)]


def outcome(actions: Sequence[Action]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in actions:
        if isinstance(a, SetOutcome):
            out.update(a.fields)
    return out


async def test_confirmation_yes_sets_confirmed_and_ends() -> None:
    brain = FlowBrain(APPOINTMENT_STEPS)
    assert said(await step(brain, CallStarted())) == ["Can you still make it?"]
    actions = await step(brain, UserSaid("Yes, I can."))
    assert said(actions) == ["Great, see you then. Goodbye!"]
    assert outcome(actions) == {"confirmed": True}
    assert isinstance(actions[-1], EndCall) and actions[-1].reason == "agent_hangup"


async def test_reschedule_captures_day_and_time_into_the_outcome() -> None:
    brain = FlowBrain(APPOINTMENT_STEPS)
    await step(brain, CallStarted())
    assert said(await step(brain, UserSaid("no i can't"))) == ["What day works better for you?"]
    assert said(await step(brain, UserSaid("how about thursday"))) == ["And at what time?"]
    actions = await step(brain, UserSaid("ten am"))
    assert outcome(actions) == {"confirmed": False, "reschedule_to": "Thursday 10am"}
    assert said(actions) == ["Thanks, I have noted Thursday at 10am. Goodbye!"]
    assert isinstance(actions[-1], EndCall)


async def test_expected_lists_the_phrases_of_the_current_ask() -> None:
    brain = FlowBrain(APPOINTMENT_STEPS)
    assert brain.expected() is None
    await step(brain, CallStarted())
    expected = brain.expected()
    assert expected is not None and "yes" in expected and "no" in expected and "stop calling me" in expected
    await step(brain, UserSaid("no"))
    expected = brain.expected()
    assert expected is not None and "thursday" in expected and "yes" not in expected


async def test_unrecognized_answer_reprompts_and_stays_on_the_step() -> None:
    steps = [
        {"id": "q", "ask": "Yes or no?", "reprompt": "Sorry, yes or no?", "on": {"yes": "y"}},
        {"id": "y", "say": "ok", "end": True},
    ]
    brain = FlowBrain(steps)
    await step(brain, CallStarted())
    assert said(await step(brain, UserSaid("purple elephants"))) == ["Sorry, yes or no?"]
    assert said(await step(brain, UserSaid("yes"))) == ["ok"]


async def test_default_branch_takes_anything_else() -> None:
    steps = [
        {"id": "q", "ask": "Yes?", "on": {"yes": "y", "default": "d"}},
        {"id": "y", "say": "yes path", "end": True},
        {"id": "d", "say": "default path", "end": True},
    ]
    brain = FlowBrain(steps)
    await step(brain, CallStarted())
    assert said(await step(brain, UserSaid("maybe later"))) == ["default path"]


async def test_templating_from_variables_call_context_and_metadata() -> None:
    steps = [{"say": "Hi {{name}}, about {{call_context}} for {{metadata.clinic}}{{missing}}.", "end": True}]
    brain = FlowBrain(
        steps, variables={"name": "Ana"}, call_context="your cleaning", metadata={"clinic": "Acme"}
    )
    assert said(await step(brain, CallStarted())) == ["Hi Ana, about your cleaning for Acme."]


async def test_silence_reprompts_once_then_says_goodbye_with_silence_timeout() -> None:
    brain = FlowBrain(APPOINTMENT_STEPS, silence_reprompt="Still there?", goodbye="Bye now.")
    await step(brain, CallStarted())
    assert said(await step(brain, Silence(1))) == ["Still there?", "Can you still make it?"]
    last = await step(brain, Silence(2))
    assert said(last) == ["Bye now."]
    assert isinstance(last[-1], EndCall) and last[-1].reason == "silence_timeout"


async def test_opt_out_anywhere_is_confirmed_then_records_do_not_call_and_ends() -> None:
    brain = FlowBrain(APPOINTMENT_STEPS)
    await step(brain, CallStarted())
    asked = await step(brain, UserSaid("please stop calling me"))
    assert not any(isinstance(a, OptOut | EndCall) for a in asked)
    assert said(asked) == ["Just to confirm: you would like us to stop calling you. Is that right?"]
    assert outcome(asked) == {"opt_out": "unconfirmed"}
    expected = brain.expected()
    assert expected is not None and "yes" in expected and "no" in expected and "stop calling me" in expected
    actions = await step(brain, UserSaid("yes"))
    assert any(isinstance(a, OptOut) for a in actions)
    assert outcome(actions) == {"opt_out": True}
    assert isinstance(actions[-1], EndCall) and actions[-1].reason == "agent_hangup"


async def test_an_opt_out_that_is_not_confirmed_goes_back_to_the_question() -> None:
    """A grammar recognizer can turn a greeting into "do not call me": nothing is listed on that alone."""
    brain = FlowBrain(APPOINTMENT_STEPS)
    await step(brain, CallStarted())
    await step(brain, UserSaid("do not call me", 0.9))
    back = await step(brain, UserSaid("no"))
    assert not any(isinstance(a, OptOut | EndCall) for a in back)
    assert said(back) == ["Sorry, I misunderstood.", "Can you still make it?"]
    assert outcome(back) == {"opt_out": False}
    # the flow goes on where it was
    assert said(await step(brain, UserSaid("yes"))) == ["Great, see you then. Goodbye!"]


async def test_silence_while_confirming_an_opt_out_asks_again_then_ends_without_listing() -> None:
    brain = FlowBrain(APPOINTMENT_STEPS, silence_reprompt="Still there?", goodbye="Bye now.")
    await step(brain, CallStarted())
    await step(brain, UserSaid("stop calling me"))
    again = await step(brain, Silence(1))
    assert said(again) == [
        "Still there?",
        "Just to confirm: you would like us to stop calling you. Is that right?",
    ]
    last = await step(brain, Silence(2))
    assert not any(isinstance(a, OptOut) for a in last)
    assert isinstance(last[-1], EndCall) and last[-1].reason == "silence_timeout"


async def test_dtmf_digits_capture_send_dtmf_and_transfer() -> None:
    steps = [
        {
            "id": "menu",
            "ask": "Press 1 for sales or 2 for support.",
            "intents": [
                {"name": "sales", "phrases": ["sales"], "dtmf": "1"},
                {"name": "support", "phrases": ["support"], "dtmf": "2"},
            ],
            "capture": "choice",
            "on": {"sales": "s", "support": "t"},
        },
        {"id": "s", "dtmf": "42", "say": "Dialing the extension.", "transfer": "sip:sales@example.com"},
        {"id": "t", "say": "Support.", "end": True},
    ]
    brain = FlowBrain(steps)
    await step(brain, CallStarted())
    actions = await step(brain, DtmfReceived("1"))
    assert [type(a) for a in actions] == [Say, SendDtmf, Transfer]
    assert actions[1] == SendDtmf("42") and actions[2] == Transfer("sip:sales@example.com")


async def test_spoken_digits_are_captured() -> None:
    steps = [
        {"ask": "Your member number?", "intents": ["digits"], "capture": "member"},
        {"set": {"member": "{{member}}"}, "end": True},
    ]
    brain = FlowBrain(steps)
    await step(brain, CallStarted())
    assert outcome(await step(brain, UserSaid("four two seven"))) == {"member": "427"}


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([{"ask": "q", "on": {"yes": "nowhere"}}], "no step with id nowhere"),
        ([{"say": "x", "bogus": 1}], "unknown field"),
        ([{"ask": "q", "intents": ["colour"]}], "unknown intent"),
        ([{"say": "q", "on": {"yes": "a"}}, {"id": "a", "say": "a"}], "belong to an 'ask' step"),
        ([{"id": "a", "say": "x"}, {"id": "a", "say": "y"}], "duplicate step id"),
    ],
)
def test_invalid_flows_are_rejected_at_agent_creation(steps: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AgentConfig(name="a", brain={"type": "flow", "steps": steps})
