"""What a creation reads and writes, as Core statements on the session's connection (no ORM objects).

A creation reads the agent (with its outbound number), maybe a caller number, and writes the call
and its ``call.queued`` event. Through the ORM each of these builds entities and unit-of-work state
that the creation throws away; as Core statements they cost a fraction of that, on SQLite's writer
thread (:mod:`outdial.calls.writer`) and on PostgreSQL alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Row, Table, and_, bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.lifecycle import EventType
from outdial.store.db import read_shared
from outdial.store.models import Agent, Call, CallEvent, PhoneNumber

_agents = Agent.__table__
_numbers = PhoneNumber.__table__
_calls: Table = Call.__table__  # type: ignore[assignment]
_events: Table = CallEvent.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class AgentRow:
    id: str
    name: str
    published: bool
    config: dict[str, Any]
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class NumberRow:
    id: str
    number: str
    kind: str
    active: bool
    verified: bool
    trunk_id: str | None
    outbound_agent_id: str | None


_AGENT_COLUMNS = (_agents.c.id, _agents.c.name, _agents.c.published, _agents.c.config, _agents.c.updated_at)
_NUMBER_COLUMNS = (
    _numbers.c.id,
    _numbers.c.number,
    _numbers.c.kind,
    _numbers.c.active,
    _numbers.c.verified,
    _numbers.c.trunk_id,
    _numbers.c.outbound_agent_id,
)
_N_AGENT = len(_AGENT_COLUMNS)


def _number(row: Row[Any] | tuple[Any, ...], start: int = 0) -> NumberRow | None:
    values = tuple(row)[start : start + len(_NUMBER_COLUMNS)]
    return None if values[0] is None else NumberRow(*values)


async def _rows(session: AsyncSession, statement: Any, params: dict[str, Any]) -> list[Row[Any]]:
    connection = await session.connection()
    return list((await connection.execute(statement, params)).all())


# Built once: a statement object reused with bound parameters skips construction and cache-key work.
_AGENT = select(*_AGENT_COLUMNS).where(
    _agents.c.org_id == bindparam("org_id"), _agents.c.id == bindparam("agent_id")
)
_AGENT_WITH_NUMBER = (
    select(*_AGENT_COLUMNS, *_NUMBER_COLUMNS)
    .select_from(
        _agents.outerjoin(
            _numbers,
            and_(
                _numbers.c.org_id == _agents.c.org_id,
                _numbers.c.outbound_agent_id == _agents.c.id,
                _numbers.c.active.is_(True),
            ),
        )
    )
    .where(_agents.c.org_id == bindparam("org_id"), _agents.c.id == bindparam("agent_id"))
    .order_by(_numbers.c.created_at, _numbers.c.id)
    .limit(1)
)
_NUMBER_BY_E164 = select(*_NUMBER_COLUMNS).where(
    _numbers.c.org_id == bindparam("org_id"), _numbers.c.number == bindparam("number")
)
_NUMBER_BY_ID = select(*_NUMBER_COLUMNS).where(
    _numbers.c.org_id == bindparam("org_id"), _numbers.c.id == bindparam("number_id")
)
_VOIP_NUMBERS = (
    select(*_NUMBER_COLUMNS)
    .where(
        _numbers.c.org_id == bindparam("org_id"),
        _numbers.c.kind == "voip",
        _numbers.c.active.is_(True),
    )
    .order_by(_numbers.c.created_at, _numbers.c.id)
    .limit(bindparam("limit", type_=Integer))
)
_INSERT_CALL = insert(_calls)
_INSERT_EVENT = insert(_events)


async def agent_and_outbound_number(
    session: AsyncSession, org_id: str, agent_id: str, *, with_number: bool
) -> tuple[AgentRow | None, NumberRow | None]:
    """The agent and, if asked, the number set to place its calls (the oldest active one)."""
    query = _AGENT_WITH_NUMBER if with_number else _AGENT
    # Creations never write agents or numbers: a writer batch reads each agent once.
    rows = await read_shared(session, query, {"org_id": org_id, "agent_id": agent_id})
    if not rows:
        return None, None
    row = tuple(rows[0])
    agent = AgentRow(*row[:_N_AGENT])
    return agent, _number(row, _N_AGENT) if with_number else None


async def number_by_e164(session: AsyncSession, org_id: str, number: str) -> NumberRow | None:
    rows = await _rows(session, _NUMBER_BY_E164, {"org_id": org_id, "number": number})
    return _number(rows[0]) if rows else None


async def number_by_id(session: AsyncSession, org_id: str, number_id: str) -> NumberRow | None:
    rows = await _rows(session, _NUMBER_BY_ID, {"org_id": org_id, "number_id": number_id})
    return _number(rows[0]) if rows else None


async def voip_numbers(session: AsyncSession, org_id: str, *, limit: int = 2) -> list[NumberRow]:
    rows = await _rows(session, _VOIP_NUMBERS, {"org_id": org_id, "limit": limit})
    return [n for row in rows if (n := _number(row)) is not None]


def _call_values(call: Call) -> dict[str, Any]:
    """The columns the call was built with; the others take their column defaults, as in a flush."""
    state = call.__dict__
    return {column.key: state[column.key] for column in _calls.columns if column.key in state}


async def insert_created(session: AsyncSession, call: Call, *, source: str, at: datetime) -> None:
    """Insert a new call and its ``call.queued`` event (the webhook outbox) in the session's transaction.

    The call object stays transient: the caller answers from it, nothing reads it back.
    """
    connection = await session.connection()
    await connection.execute(_INSERT_CALL, _call_values(call))
    await connection.execute(
        _INSERT_EVENT,
        {
            "org_id": call.org_id,
            "call_id": call.id,
            "type": EventType.CALL_QUEUED.value,
            "from_status": None,
            "status": call.status,
            "end_reason": None,
            "data": {"source": source},
            "created_at": at,
        },
    )
