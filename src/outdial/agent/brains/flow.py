"""The ``flow`` brain: a deterministic conversation of declarative steps (format in docs/agents.md).

The brain walks steps from the first: a ``say`` step speaks and moves on, an ``ask`` step speaks and
waits for an answer, which its intents recognize and its ``on`` branches route. Captured answers
become variables usable in ``{{templates}}`` and outcome fields.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from outdial.agent.brains.flow_steps import Step, compile_steps
from outdial.agent.brains.intents import Match, NoIntent, OptOutIntent, YesIntent, first_match
from outdial.agent.brains.templating import make_scope, render, render_value
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
    Turn,
    UserSaid,
)

_MAX_STEPS_PER_TURN = 50  # a flow that loops without asking would otherwise never yield the line
_OPT_OUT_REPLY = "Understood. We won't call you again. Goodbye."
# A grammar recognizer maps whatever it hears onto an expected phrase: a greeting can come out as
# "do not call me". An opt-out lists the number for good, so it is confirmed before it is acted on.
_OPT_OUT_CONFIRM = "Just to confirm: you would like us to stop calling you. Is that right?"
_OPT_OUT_DECLINED = "Sorry, I misunderstood."


class FlowBrain:
    def __init__(
        self,
        steps: Sequence[Mapping[str, Any]],
        *,
        variables: Mapping[str, Any] | None = None,
        call_context: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        goodbye: str = "Goodbye!",
        silence_reprompt: str = "Are you still there?",
    ) -> None:
        self._steps = compile_steps(steps)
        self._index = {s.id: i for i, s in enumerate(self._steps)}
        self._scope = make_scope(variables, call_context, metadata)
        self._goodbye = goodbye
        self._silence_reprompt = silence_reprompt
        self._waiting: Step | None = None  # the ask step awaiting an answer
        self._done = False
        self._opt_out = OptOutIntent()
        self._yes, self._no = YesIntent(), NoIntent()
        self._confirming: Step | None = None  # asked to confirm an opt-out heard at this step

    @property
    def variables(self) -> dict[str, Any]:
        return self._scope

    def expected(self) -> Sequence[str] | None:
        intents = [self._yes, self._no] if self._confirming is not None else None
        if intents is None and self._waiting is not None:
            intents = list(self._waiting.intents)
        if intents is None:
            return None
        phrases: list[str] = []
        for intent in [*intents, self._opt_out]:
            phrases.extend(intent.phrases())
        return list(dict.fromkeys(phrases)) or None

    async def respond(self, history: Sequence[Turn], event: BrainEvent) -> AsyncIterator[Action]:
        for action in self._decide(event):
            yield action

    # The decisions are synchronous: a flow never waits on anything but the callee.
    def _decide(self, event: BrainEvent) -> list[Action]:
        if self._done:
            return []
        if isinstance(event, CallStarted):
            return self._run_from(0) if self._steps else []
        if isinstance(event, Silence):
            if self._confirming is not None and event.count < 2:
                return [Say(self._silence_reprompt), Say(_OPT_OUT_CONFIRM)]
            if event.count >= 2 or self._waiting is None:
                self._done = True
                return [Say(self._goodbye), EndCall("silence_timeout")]
            return [Say(self._silence_reprompt), Say(self._render(self._waiting.ask or ""))]
        if isinstance(event, UserSaid | DtmfReceived):
            text = event.text if isinstance(event, UserSaid) else event.digit
            return self._answer(text)
        return []

    def _answer(self, text: str) -> list[Action]:
        if self._confirming is not None:
            return self._confirm_opt_out(text)
        step = self._waiting
        if step is None:
            if not self._steps:  # no flow at all: the callee has been heard, take leave politely
                self._done = True
                return [Say(self._goodbye), EndCall("agent_hangup")]
            return []
        match = first_match([self._opt_out, *step.intents], text)
        if match and match.intent == "opt_out" and "opt_out" not in step.on:
            self._confirming, self._waiting = step, None
            return [SetOutcome({"opt_out": "unconfirmed"}), Say(_OPT_OUT_CONFIRM)]
        target = self._branch(step, match)
        if target is None:
            # Not understood and no default: ask again, once more in other words if given.
            return [Say(self._render(step.reprompt or step.ask or ""))]
        if match is not None and step.capture:
            self._scope[step.capture] = match.value
        if match is not None:
            self._scope["answer"] = match.value
        self._waiting = None
        return self._run_from(target)

    def _confirm_opt_out(self, text: str) -> list[Action]:
        """Yes (or the request again): opt out and end. Anything else: back to the question it interrupted."""
        step, self._confirming = self._confirming, None
        assert step is not None
        match = first_match([self._opt_out, self._yes, self._no], text)
        if match is not None and match.intent in ("opt_out", "yes"):
            self._done = True
            return [OptOut(), SetOutcome({"opt_out": True}), Say(_OPT_OUT_REPLY), EndCall("agent_hangup")]
        self._waiting = step
        return [SetOutcome({"opt_out": False}), Say(_OPT_OUT_DECLINED), Say(self._render(step.ask or ""))]

    def _branch(self, step: Step, match: Match | None) -> int | None:
        if match is not None and match.intent in step.on:
            return self._index[step.on[match.intent]]
        if match is not None and not step.on:
            return self._after(step)
        if "default" in step.on:
            return self._index[step.on["default"]]
        return None

    def _after(self, step: Step) -> int | None:
        if step.next is not None:
            return self._index[step.next]
        i = self._index[step.id] + 1
        return i if i < len(self._steps) else None

    def _run_from(self, start: int | None) -> list[Action]:
        actions: list[Action] = []
        i = start
        for _ in range(_MAX_STEPS_PER_TURN):
            if i is None:
                self._done = True
                actions += [Say(self._goodbye), EndCall("agent_hangup")] if not actions else [EndCall()]
                return actions
            step = self._steps[i]
            if step.set:
                fields = render_value(step.set, self._scope)
                actions.append(SetOutcome(fields))
            if step.opt_out:
                actions.append(OptOut())
            if step.say:
                actions.append(Say(self._render(step.say)))
            if step.dtmf:
                actions.append(SendDtmf(step.dtmf))
            if step.transfer:
                self._done = True
                actions.append(Transfer(self._render(step.transfer)))
                return actions
            if step.ask is not None:
                actions.append(Say(self._render(step.ask)))
                self._waiting = step
                return actions
            if step.end:
                self._done = True
                actions.append(EndCall("agent_hangup"))
                return actions
            i = self._after(step)
        raise ValueError("the flow ran more than 50 steps without asking anything: check its 'next' links")

    def _render(self, text: str) -> str:
        return render(text, self._scope)
