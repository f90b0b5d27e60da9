"""What a key may do beyond its organization: agent-scoped keys use their one agent and read the rest."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from outdial.api.auth import Principal
from outdial.api.errors import ApiError, ErrorEnvelope
from outdial.orgs.inputs import has_nul

Row = TypeVar("Row")

# The OpenAPI ``responses`` entry of every route that calls require_org_key.
ORG_KEY_REQUIRED: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorEnvelope, "description": "The key is scoped to one agent"}
}


async def org_row(session: AsyncSession, model: type[Row], org_id: str, row_id: str) -> Row | None:
    """The ``model`` row with that id if it belongs to the organization, else None.

    An id holding NUL matches nothing (no id holds one, and PostgreSQL cannot even compare it).
    """
    if has_nul(row_id):
        return None
    row: Any = await session.get(model, row_id)
    return row if row is not None and row.org_id == org_id else None


def require_org_key(principal: Principal) -> None:
    """Writes to organization resources need a key that is not scoped to one agent."""
    if principal.agent_id is not None:
        raise ApiError(
            403,
            "forbidden",
            "This API key is scoped to one agent; use an organization-wide key for this change.",
        )


def agent_visible(principal: Principal, agent_id: str | None) -> bool:
    """An agent-scoped key sees only its own agent (others, and no agent, are a 404 as if absent)."""
    return principal.agent_id is None or principal.agent_id == agent_id
