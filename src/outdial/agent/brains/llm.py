"""The ``llm`` brain: any OpenAI-compatible chat-completions endpoint, streamed, with tools.

Text is cut into sentences as it streams and each sentence is yielded as a ``Say`` at once, so the
first sentence is being spoken while the model writes the second. Tool calls become actions.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from openai import AsyncOpenAI, AsyncStream
from openai.types.chat import ChatCompletionChunk

from outdial.agent.brains.sentences import SentenceSplitter
from outdial.agent.protocols import (
    Action,
    BrainEvent,
    CallStarted,
    EndCall,
    OptOut,
    Say,
    SendDtmf,
    SetOutcome,
    Silence,
    Transfer,
    Turn,
)

log = logging.getLogger(__name__)

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "end_call",
            "description": "Hang up once the conversation is over. Say goodbye first.",
            "parameters": {"type": "object", "properties": {}},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "send_dtmf",
            "description": "Press keys on the phone keypad (digits 0-9, * and #), e.g. to navigate a menu.",
            "parameters": {
                "type": "object",
                "properties": {"digits": {"type": "string"}},
                "required": ["digits"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "set_outcome",
            "description": "Record structured results of the call, e.g. {confirmed: false, "
            "reschedule_to: 'Thursday 10am'}. Fields merge with earlier ones.",
            "parameters": {
                "type": "object",
                "properties": {"fields": {"type": "object"}},
                "required": ["fields"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "transfer_call",
            "description": "Transfer the call to a human at the given phone number or SIP URI.",
            "parameters": {"type": "object", "properties": {"to": {"type": "string"}}, "required": ["to"]},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "opt_out",
            "description": "The callee asked not to be called again: put them on the do-not-call list.",
            "parameters": {"type": "object", "properties": {}},
        },
    },
]

_MAX_ROUNDS = 3  # model → tools → model ...: a follow-up after set_outcome/send_dtmf, never a loop


@dataclass(slots=True)
class _ToolCall:
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass(slots=True)
class _Round:
    text: str = ""
    calls: dict[int, _ToolCall] = field(default_factory=dict)


def system_prompt(prompt: str, call_context: str | None, variables: Mapping[str, Any] | None) -> str:
    parts = [prompt.strip()]
    if call_context:
        parts.append(f"Context for this call:\n{call_context.strip()}")
    if variables:
        lines = "\n".join(f"- {k}: {v}" for k, v in variables.items())
        parts.append(f"Known facts about this call:\n{lines}")
    parts.append(
        "You are speaking on a phone call: answer in short spoken sentences, no lists or markup. "
        "Use the tools to record outcomes, press keys, transfer, or hang up."
    )
    return "\n\n".join(parts)


class LLMBrain:
    def __init__(
        self,
        *,
        model: str,
        prompt: str,
        base_url: str | None = None,
        api_key: str | None = None,
        temperature: float = 0.3,
        max_tokens: int = 300,
        call_context: str | None = None,
        variables: Mapping[str, Any] | None = None,
        goodbye: str = "Goodbye!",
        silence_reprompt: str = "Are you still there?",
        client: AsyncOpenAI | None = None,
    ) -> None:
        self._client = client or AsyncOpenAI(base_url=base_url, api_key=api_key or "unused", max_retries=1)
        self._model = model
        self._temperature = temperature
        self._max_tokens = max_tokens
        self._system = system_prompt(prompt, call_context, variables)
        self._goodbye = goodbye
        self._silence_reprompt = silence_reprompt

    def expected(self) -> Sequence[str] | None:
        return None  # free text

    async def respond(self, history: Sequence[Turn], event: BrainEvent) -> AsyncIterator[Action]:
        if isinstance(event, Silence):
            # Deterministic: no model round trip to ask "are you there?".
            if event.count >= 2:
                yield Say(self._goodbye)
                yield EndCall("silence_timeout")
            else:
                yield Say(self._silence_reprompt)
            return
        if isinstance(event, CallStarted) and any(t.role == "agent" for t in history):
            return  # the first message was already spoken; wait for the callee
        messages = self._messages(history)
        for _ in range(_MAX_ROUNDS):
            rnd = _Round()
            async for action in self._stream(messages, rnd):
                yield action
            if not rnd.calls:
                return
            followup = False
            for call in (rnd.calls[i] for i in sorted(rnd.calls)):
                tool_action, terminal = _tool_action(call)
                if tool_action is not None:
                    yield tool_action
                if terminal:
                    return
                followup = followup or not rnd.text
            if not followup:
                return
            messages.append(
                {
                    "role": "assistant",
                    "content": rnd.text or None,
                    "tool_calls": [_wire_call(c) for c in rnd.calls.values()],
                }
            )
            messages += [{"role": "tool", "tool_call_id": c.id, "content": "ok"} for c in rnd.calls.values()]

    def _messages(self, history: Sequence[Turn]) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = [{"role": "system", "content": self._system}]
        for turn in history:
            role = "assistant" if turn.role == "agent" else "user"
            text = turn.text + (" [interrupted by the callee]" if turn.interrupted else "")
            if messages[-1]["role"] == role and role == "user":
                messages[-1]["content"] += " " + text
            else:
                messages.append({"role": role, "content": text})
        return messages

    async def _stream(self, messages: list[dict[str, Any]], rnd: _Round) -> AsyncIterator[Action]:
        splitter = SentenceSplitter()
        created = await self._client.chat.completions.create(
            model=self._model,
            messages=messages,  # type: ignore[arg-type]
            tools=TOOLS,  # type: ignore[arg-type]
            temperature=self._temperature,
            max_tokens=self._max_tokens,
            stream=True,
        )
        stream = cast(AsyncStream[ChatCompletionChunk], created)
        async for chunk in stream:
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            if delta.content:
                rnd.text += delta.content
                for sentence in splitter.feed(delta.content):
                    yield Say(sentence)
            for tc in delta.tool_calls or []:
                call = rnd.calls.setdefault(tc.index, _ToolCall())
                if tc.id:
                    call.id = tc.id
                if tc.function and tc.function.name:
                    call.name += tc.function.name
                if tc.function and tc.function.arguments:
                    call.arguments += tc.function.arguments
        rest = splitter.flush()
        if rest:
            yield Say(rest)


def _wire_call(c: _ToolCall) -> dict[str, Any]:
    return {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}


def _tool_action(call: _ToolCall) -> tuple[Action | None, bool]:
    """The action of one tool call, and whether it ends this response."""
    try:
        args = json.loads(call.arguments) if call.arguments.strip() else {}
    except json.JSONDecodeError:
        log.warning("tool %s: arguments are not JSON: %r", call.name, call.arguments)
        args = {}
    if not isinstance(args, dict):
        args = {}
    if call.name == "end_call":
        return EndCall("agent_hangup"), True
    if call.name == "send_dtmf":
        digits = "".join(c for c in str(args.get("digits", "")) if c in "0123456789*#ABCD")
        return (SendDtmf(digits) if digits else None), False
    if call.name == "set_outcome":
        fields = args.get("fields", args)
        return (SetOutcome(dict(fields)) if isinstance(fields, dict) and fields else None), False
    if call.name == "transfer_call":
        to = str(args.get("to", "")).strip()
        return (Transfer(to) if to else None), bool(to)
    if call.name == "opt_out":
        return OptOut(), False
    log.warning("the model called an unknown tool %r", call.name)
    return None, False
