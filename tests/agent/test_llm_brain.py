"""The llm brain through the real openai SDK against a local chat-completions SSE server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from outdial.agent.brains.llm import LLMBrain
from outdial.agent.protocols import (
    Action,
    CallStarted,
    EndCall,
    OptOut,
    Say,
    SendDtmf,
    SetOutcome,
    Silence,
    Transfer,
    Turn,
    UserSaid,
)
from tests.agent.chat_server import ChatServer, running_chat_server, text, tool_call


@pytest.fixture
async def chat() -> AsyncIterator[ChatServer]:
    async with running_chat_server() as server:
        yield server


def brain_for(chat: ChatServer, **kw: object) -> LLMBrain:
    return LLMBrain(
        model="test-model",
        prompt="You confirm dental appointments.",
        base_url=chat.base_url,
        api_key="test-key",
        call_context="Appointment on Monday at 9am.",
        variables={"first_name": "Ana"},
        **kw,  # type: ignore[arg-type]
    )


HISTORY = [
    Turn("agent", "Hi Ana, can you make your appointment on Monday?", 0, 3000),
    Turn("user", "no, how about thursday at ten", 3500, 5200),
]


async def collect(brain: LLMBrain, event: object = None) -> list[Action]:
    return [a async for a in brain.respond(HISTORY, event or UserSaid("no, how about thursday at ten"))]


async def test_streamed_text_becomes_one_say_per_sentence(chat: ChatServer) -> None:
    chat.replies.append(
        text("No problem", ", Ana. I have", " moved it to Thursday", " at ten. ", "Anything else?")
    )
    actions = await collect(brain_for(chat))
    assert actions == [
        Say("No problem, Ana."),
        Say("I have moved it to Thursday at ten."),
        Say("Anything else?"),
    ]


async def test_first_sentence_is_yielded_before_the_stream_ends(chat: ChatServer) -> None:
    chat.delay = 0.15
    chat.replies.append(text("Sure thing, Ana. ", "Let me ", "note ", "that ", "down now."))
    loop = asyncio.get_running_loop()
    brain = brain_for(chat)
    got: list[tuple[float, Action]] = []
    async for action in brain.respond(HISTORY, UserSaid("thursday")):
        got.append((loop.time(), action))
    assert got[0][1] == Say("Sure thing, Ana.")
    assert got[0][0] < chat.sent_at[-1] - 0.3  # spoken while the model was still writing


async def test_request_carries_prompt_context_history_and_tools(chat: ChatServer) -> None:
    chat.replies.append(text("Okay."))
    await collect(brain_for(chat, temperature=0.2))
    req = chat.requests[0]
    assert req["model"] == "test-model" and req["stream"] is True and req["temperature"] == 0.2
    system = req["messages"][0]
    assert system["role"] == "system"
    assert "You confirm dental appointments." in system["content"]
    assert "Appointment on Monday at 9am." in system["content"] and "first_name: Ana" in system["content"]
    assert req["messages"][1:] == [
        {"role": "assistant", "content": "Hi Ana, can you make your appointment on Monday?"},
        {"role": "user", "content": "no, how about thursday at ten"},
    ]
    names = {t["function"]["name"] for t in req["tools"]}
    assert names == {"end_call", "send_dtmf", "set_outcome", "transfer_call", "opt_out"}


async def test_tool_calls_become_actions_after_the_text(chat: ChatServer) -> None:
    outcome = json.dumps({"fields": {"confirmed": False, "reschedule_to": "Thursday 10am"}})
    chat.replies.append(
        text("Done, Thursday at ten. Goodbye!")
        + tool_call(0, "call_a", "set_outcome", outcome)
        + tool_call(1, "call_b", "end_call", "{}")
    )
    actions = await collect(brain_for(chat))
    assert actions == [
        Say("Done, Thursday at ten."),
        Say("Goodbye!"),
        SetOutcome({"confirmed": False, "reschedule_to": "Thursday 10am"}),
        EndCall("agent_hangup"),
    ]
    assert len(chat.requests) == 1  # end_call ends the turn: no second round


async def test_a_tool_only_reply_gets_a_spoken_follow_up(chat: ChatServer) -> None:
    chat.replies.append(tool_call(0, "call_1", "send_dtmf", json.dumps({"digits": "1 2#"})))
    chat.replies.append(text("I pressed one two pound."))
    actions = await collect(brain_for(chat))
    assert actions == [SendDtmf("12#"), Say("I pressed one two pound.")]
    second = chat.requests[1]["messages"]
    assert (
        second[-2]["role"] == "assistant" and second[-2]["tool_calls"][0]["function"]["name"] == "send_dtmf"
    )
    assert second[-1] == {"role": "tool", "tool_call_id": "call_1", "content": "ok"}


async def test_transfer_and_opt_out_tools(chat: ChatServer) -> None:
    chat.replies.append(text("Connecting you.") + tool_call(0, "c1", "transfer_call", '{"to": "+15550100"}'))
    assert (await collect(brain_for(chat)))[-1] == Transfer("+15550100")
    chat.replies.append(text("Understood, we will not call again.") + tool_call(0, "c2", "opt_out", "{}"))
    actions = await collect(brain_for(chat))
    assert OptOut() in actions


async def test_silence_and_call_start_need_no_model_round_trip(chat: ChatServer) -> None:
    brain = brain_for(chat, silence_reprompt="Hello?", goodbye="Bye.")
    assert [a async for a in brain.respond(HISTORY, Silence(1))] == [Say("Hello?")]
    assert [a async for a in brain.respond(HISTORY, Silence(2))] == [Say("Bye."), EndCall("silence_timeout")]
    assert [a async for a in brain.respond(HISTORY, CallStarted())] == []
    assert chat.requests == []
