"""Brains: what the agent says and does next. ``flow`` (deterministic steps) or ``llm`` (chat completions)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from outdial.agent.protocols import Brain
from outdial.agent.settings import AgentConfig, FlowBrainConfig


def make_brain(
    agent: AgentConfig,
    *,
    variables: Mapping[str, Any] | None = None,
    call_context: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Brain:
    """The brain of one call, from the agent's config and the call's inputs."""
    if isinstance(agent.brain, FlowBrainConfig):
        from outdial.agent.brains.flow import FlowBrain

        return FlowBrain(
            agent.brain.steps,
            variables=variables,
            call_context=call_context,
            metadata=metadata,
            goodbye=agent.goodbye_message,
            silence_reprompt=agent.silence_reprompt,
        )
    from outdial.agent.brains.llm import LLMBrain

    b = agent.brain
    return LLMBrain(
        model=b.model,
        prompt=agent.prompt,
        base_url=b.base_url,
        api_key=b.api_key,
        temperature=b.temperature,
        max_tokens=b.max_tokens,
        call_context=call_context,
        variables=variables,
        goodbye=agent.goodbye_message,
        silence_reprompt=agent.silence_reprompt,
    )
