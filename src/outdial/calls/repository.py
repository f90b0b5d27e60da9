"""Queries of the calls domain: one call, a page of calls and its total, caller numbers, attempts."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ClauseElement,
    ColumnElement,
    Executable,
    Select,
    Subquery,
    and_,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler

from outdial.store.models import Agent, Call, CallAttempt, PhoneNumber

# Totals are exact up to this many matching calls. Past it, PostgreSQL reports the planner's estimate
# (an exact count(*) over a million rows costs tens of milliseconds on every page); SQLite counts.
EXACT_COUNT_LIMIT = 1_000
# An estimate is an estimate: paging through a big result reuses it for a few seconds (per process).
ESTIMATE_TTL_SECONDS = 10.0
ESTIMATE_CACHE_SIZE = 1024
_estimates: dict[tuple[str, CallFilters], tuple[float, int]] = {}


@dataclass(frozen=True, slots=True)
class CallFilters:
    org_id: str
    agent_id: str | None = None  # also set for a key scoped to one agent
    status: str | None = None
    to_number: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None

    def where(self) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = [Call.org_id == self.org_id]
        if self.agent_id is not None:
            clauses.append(Call.agent_id == self.agent_id)
        if self.status is not None:
            clauses.append(Call.status == self.status)
        if self.to_number is not None:
            clauses.append(Call.to_number == self.to_number)
        if self.created_after is not None:
            clauses.append(Call.created_at > self.created_after)
        if self.created_before is not None:
            clauses.append(Call.created_at < self.created_before)
        return clauses


@dataclass(frozen=True, slots=True)
class Total:
    value: int
    exact: bool


async def get_call(
    session: AsyncSession, org_id: str, call_id: str, *, for_update: bool = False
) -> Call | None:
    query = select(Call).where(Call.org_id == org_id, Call.id == call_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def lock_call(session: AsyncSession, org_id: str, call_id: str) -> None:
    """Take the call's row lock (PostgreSQL) or the database write lock (SQLite) for this transaction."""
    await session.execute(
        update(Call).where(Call.org_id == org_id, Call.id == call_id).values(updated_at=Call.updated_at)
    )


# A row of LIST_COLUMNS (plus bounded_total); columns read as attributes, like a Call.
CallRow = Any

# What a call record shows: everything but the agent snapshot and the dialer's lease.
LIST_COLUMNS = tuple(
    c for c in Call.__table__.c if c.name not in ("agent_config", "lease_owner", "lease_expires_at")
)


def _bounded(filters: CallFilters) -> Subquery:
    # A constant, not a column: the count is then an index-only scan of the filters' index.
    return select(literal(1).label("one")).where(*filters.where()).limit(EXACT_COUNT_LIMIT + 1).subquery()


async def list_page(
    session: AsyncSession, filters: CallFilters, *, offset: int, limit: int
) -> tuple[list[CallRow], int | None]:
    """One page, newest first, and the bounded count of all matches, in one statement.

    ``limit + 1`` rows are read so the caller knows whether a next page exists. The count is
    ``min(matches, EXACT_COUNT_LIMIT + 1)``, or None when the page is empty (past the last one).
    """
    bounded = _bounded(filters)
    total = select(func.count()).select_from(bounded).scalar_subquery().label("bounded_total")
    query = (
        select(*LIST_COLUMNS, total)
        .where(*filters.where())
        .order_by(Call.created_at.desc(), Call.id.desc())
        .offset(offset)
        .limit(limit + 1)
    )
    rows = list((await session.execute(query)).all())
    return rows, (int(rows[0].bounded_total) if rows else None)


async def count(session: AsyncSession, filters: CallFilters, bounded: int | None = None) -> Total:
    """Exact up to :data:`EXACT_COUNT_LIMIT`; past it an estimate on PostgreSQL (never below the limit).

    ``bounded``: the bounded count :func:`list_page` already made, if any.
    """
    if bounded is None:
        limited = _bounded(filters)
        bounded = int((await session.execute(select(func.count()).select_from(limited))).scalar_one())
    if bounded <= EXACT_COUNT_LIMIT:
        return Total(bounded, exact=True)
    if session.get_bind().dialect.name != "postgresql":
        exact = select(func.count()).select_from(Call).where(*filters.where())
        return Total(int((await session.execute(exact)).scalar_one()), exact=True)
    key = (str(session.get_bind().engine.url), filters)
    cached = _estimates.get(key)
    if cached is not None and time.monotonic() - cached[0] < ESTIMATE_TTL_SECONDS:
        return Total(cached[1], exact=False)
    plan = (await session.execute(Explain(select(literal(1)).where(*filters.where())))).scalar_one()
    doc: Any = json.loads(plan) if isinstance(plan, str) else plan
    estimate = max(int(doc[0]["Plan"]["Plan Rows"]), EXACT_COUNT_LIMIT + 1)
    if len(_estimates) >= ESTIMATE_CACHE_SIZE:
        _estimates.clear()
    _estimates[key] = (time.monotonic(), estimate)
    return Total(estimate, exact=False)


async def attempts_for(session: AsyncSession, call_ids: Sequence[str]) -> dict[str, list[CallAttempt]]:
    if not call_ids:
        return {}
    rows = await session.execute(
        select(CallAttempt).where(CallAttempt.call_id.in_(call_ids)).order_by(CallAttempt.number)
    )
    out: dict[str, list[CallAttempt]] = {cid: [] for cid in call_ids}
    for attempt in rows.scalars():
        out[attempt.call_id].append(attempt)
    return out


async def number_by_e164(session: AsyncSession, org_id: str, number: str) -> PhoneNumber | None:
    query = select(PhoneNumber).where(PhoneNumber.org_id == org_id, PhoneNumber.number == number)
    return (await session.execute(query)).scalar_one_or_none()


async def number_by_id(session: AsyncSession, org_id: str, number_id: str) -> PhoneNumber | None:
    query = select(PhoneNumber).where(PhoneNumber.org_id == org_id, PhoneNumber.id == number_id)
    return (await session.execute(query)).scalar_one_or_none()


async def agent_and_outbound_number(
    session: AsyncSession, org_id: str, agent_id: str, *, with_number: bool
) -> tuple[Agent | None, PhoneNumber | None]:
    """The agent and, if asked, the number set to place its calls (the oldest active one)."""
    if not with_number:
        query = select(Agent).where(Agent.org_id == org_id, Agent.id == agent_id)
        return (await session.execute(query)).scalar_one_or_none(), None
    joined = (
        select(Agent, PhoneNumber)
        .outerjoin(
            PhoneNumber,
            and_(
                PhoneNumber.org_id == Agent.org_id,
                PhoneNumber.outbound_agent_id == Agent.id,
                PhoneNumber.active.is_(True),
            ),
        )
        .where(Agent.org_id == org_id, Agent.id == agent_id)
        .order_by(PhoneNumber.created_at, PhoneNumber.id)
        .limit(1)
    )
    row = (await session.execute(joined)).one_or_none()
    return (row[0], row[1]) if row is not None else (None, None)


async def voip_numbers(session: AsyncSession, org_id: str, *, limit: int = 2) -> list[PhoneNumber]:
    query = (
        select(PhoneNumber)
        .where(PhoneNumber.org_id == org_id, PhoneNumber.kind == "voip", PhoneNumber.active.is_(True))
        .order_by(PhoneNumber.created_at, PhoneNumber.id)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars().all())


class Explain(Executable, ClauseElement):
    """``EXPLAIN (FORMAT JSON) <select>`` with the select's bound parameters (PostgreSQL only)."""

    inherit_cache = False

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement


@compiles(Explain, "postgresql")
def _compile_explain(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)
