"""What a key may do beyond its organization: agent-scoped keys use their one agent and read the rest."""

from __future__ import annotations

from outdial.api.auth import Principal
from outdial.api.errors import ApiError


def require_org_key(principal: Principal) -> None:
    """Writes to organization resources need a key that is not scoped to one agent."""
    if principal.agent_id is not None:
        raise ApiError(
            403,
            "forbidden",
            "This API key is scoped to one agent; use an organization-wide key for this change.",
        )


def agent_visible(principal: Principal, agent_id: str) -> bool:
    """An agent-scoped key sees only its own agent (others are a 404, as if they did not exist)."""
    return principal.agent_id is None or principal.agent_id == agent_id
