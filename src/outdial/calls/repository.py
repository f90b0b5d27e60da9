"""Queries of the calls domain: one call, a page of calls and its total, caller numbers, attempts."""

from __future__ import annotations

import json
import time
from collections import namedtuple
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import (
    JSON,
    ColumnElement,
    Subquery,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.store.models import Call, CallAttempt

# Totals are exact up to this many matching calls. Past it, PostgreSQL reports the planner's estimate
# (an exact count(*) over a million rows costs tens of milliseconds on every page); SQLite counts.
EXACT_COUNT_LIMIT = 1_000
# An estimate is an estimate: paging through a big result reuses it for a few seconds (per process).
ESTIMATE_TTL_SECONDS = 10.0
ESTIMATE_CACHE_SIZE = 1024
_estimates: dict[tuple[URL, CallFilters], tuple[float, int]] = {}


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


# What a call record shows: everything but the agent snapshot and the dialer's lease.
LIST_COLUMNS = tuple(
    c for c in Call.__table__.c if c.name not in ("agent_config", "lease_owner", "lease_expires_at")
)

# A row of LIST_COLUMNS plus ``bounded_total``; columns read as attributes, like a Call.
CallRow = Any
_CallRow = namedtuple("_CallRow", [*(c.name for c in LIST_COLUMNS), "bounded_total"])  # type: ignore[misc]
# The attempts list_page read with its page, by call id (in session.info): see attempts_for.
_PAGE_ATTEMPTS = "outdial.calls.page_attempts"
_JSON_AT = frozenset(i for i, c in enumerate(LIST_COLUMNS) if isinstance(c.type, JSON))


class AttemptRow(NamedTuple):
    """The columns of an attempt that a call record shows (and its call)."""

    call_id: str
    number: int
    status: str
    end_reason: str | None
    sip_status_code: int | None
    error: str | None
    dialed_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None


_ATTEMPT_SQL = (
    f"SELECT {', '.join(AttemptRow._fields)} FROM call_attempts"
    " WHERE call_id = ANY($1::varchar[]) ORDER BY number"
)


def _call_row(record: Sequence[Any]) -> CallRow:
    """A list row from PostgreSQL's record (its attempts left out), its JSON columns decoded."""
    values = list(record)[: len(_CallRow._fields)]
    for i in _JSON_AT:
        text = values[i]
        if text is not None:
            values[i] = {} if text == "{}" else json.loads(text)
    return _CallRow._make(values)


async def pg_driver(session: AsyncSession) -> Any | None:
    """The session's asyncpg connection on PostgreSQL (None elsewhere), its pending changes flushed.

    The hot reads run on it directly: asyncpg keeps each statement prepared per connection, and the
    rows skip SQLAlchemy's per-statement compile-cache lookup and per-row processing (~2 ms a page).
    """
    if session.new or session.dirty or session.deleted:
        await session.flush()  # what SQLAlchemy's autoflush would do before a query
    conn = await session.connection()
    if conn.dialect.name != "postgresql" or conn.dialect.driver != "asyncpg":
        return None
    return (await conn.get_raw_connection()).driver_connection


async def pg_fetch(session: AsyncSession, driver: Any, sql: str, *args: Any) -> list[Any]:
    """``driver.fetch``; a connection that broke on the way is dropped from the pool, not reused."""
    try:
        return list(await driver.fetch(sql, *args))
    except BaseException:
        if driver.is_closed():
            await (await session.connection()).invalidate()
        raise


def _pg_where(filters: CallFilters) -> tuple[str, list[Any]]:
    """The filters as PostgreSQL text with $n placeholders (the same clauses as ``filters.where()``)."""
    clauses: list[str] = ["org_id = $1"]
    args: list[Any] = [filters.org_id]
    for column, op, value in (
        ("agent_id", "=", filters.agent_id),
        ("status", "=", filters.status),
        ("to_number", "=", filters.to_number),
        ("created_at", ">", filters.created_after),
        ("created_at", "<", filters.created_before),
    ):
        if value is not None:
            args.append(value)
            clauses.append(f"{column} {op} ${len(args)}")
    return " AND ".join(clauses), args


@lru_cache(maxsize=64)  # one per combination of filters
def _pg_page_sql(where: str, n_args: int, count_limit: int) -> str:
    # The page is cut first, plain columns only; what costs per row (JSON columns as text, decoded by
    # _call_row without asyncpg's two extra Python calls per value; each call's attempts as an array of
    # typed records) is computed outside, for the page's rows only, not for every row an offset skips.
    plain = ", ".join(c.name for c in LIST_COLUMNS)
    page = (
        f"SELECT {plain} FROM calls WHERE {where} ORDER BY created_at DESC, id DESC"
        f" LIMIT ${n_args + 1} OFFSET ${n_args + 2}"
    )
    columns = ", ".join(
        f"{c.name}::text AS {c.name}" if i in _JSON_AT else c.name for i, c in enumerate(LIST_COLUMNS)
    )
    bounded = f"SELECT 1 FROM calls WHERE {where} LIMIT {count_limit + 1}"
    attempt = ", ".join(f"a.{name}" for name in AttemptRow._fields[1:])
    attempts = f"SELECT ROW({attempt}) FROM call_attempts AS a WHERE a.call_id = page.id ORDER BY a.number"
    return (
        f"SELECT {columns}, (SELECT count(*) FROM ({bounded}) AS matches) AS bounded_total,"
        f" ARRAY({attempts}) AS attempts FROM ({page}) AS page ORDER BY created_at DESC, id DESC"
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
    On PostgreSQL the statement also reads the page's attempts: the next :func:`attempts_for` on this
    session, for calls of the page, answers from them instead of a second round trip.
    """
    driver = await pg_driver(session)
    if driver is not None:
        where, args = _pg_where(filters)
        sql = _pg_page_sql(where, len(args), EXACT_COUNT_LIMIT)
        records = await pg_fetch(session, driver, sql, *args, limit + 1, offset)
        rows: list[CallRow] = [_call_row(r) for r in records]
        session.info[_PAGE_ATTEMPTS] = {
            row.id: [AttemptRow(row.id, *a) for a in r["attempts"] or ()]
            for row, r in zip(rows, records, strict=True)
        }
    else:
        bounded = _bounded(filters)
        total = select(func.count()).select_from(bounded).scalar_subquery().label("bounded_total")
        query = (
            select(*LIST_COLUMNS, total)
            .where(*filters.where())
            .order_by(Call.created_at.desc(), Call.id.desc())
            .offset(offset)
            .limit(limit + 1)
        )
        rows = list((await (await session.connection()).execute(query)).all())
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
    driver = await pg_driver(session)
    if driver is None:
        exact = select(func.count()).select_from(Call).where(*filters.where())
        return Total(int((await session.execute(exact)).scalar_one()), exact=True)
    key = (session.get_bind().engine.url, filters)
    cached = _estimates.get(key)
    if cached is not None and time.monotonic() - cached[0] < ESTIMATE_TTL_SECONDS:
        return Total(cached[1], exact=False)
    where, args = _pg_where(filters)
    explain = f"EXPLAIN (FORMAT JSON) SELECT 1 FROM calls WHERE {where}"
    plan = (await pg_fetch(session, driver, explain, *args))[0][0]
    doc: Any = json.loads(plan) if isinstance(plan, str) else plan
    estimate = max(int(doc[0]["Plan"]["Plan Rows"]), EXACT_COUNT_LIMIT + 1)
    if len(_estimates) >= ESTIMATE_CACHE_SIZE:
        _estimates.clear()
    _estimates[key] = (time.monotonic(), estimate)
    return Total(estimate, exact=False)


async def attempts_for(session: AsyncSession, call_ids: Sequence[str]) -> dict[str, list[AttemptRow]]:
    """The attempts of each call in ``call_ids``, first attempt first."""
    prefetched = session.info.pop(_PAGE_ATTEMPTS, None)  # only ever for the call right after the page
    if not call_ids:
        return {}
    if prefetched is not None and all(cid in prefetched for cid in call_ids):
        if not (session.new or session.dirty or session.deleted):  # else changed since: read again
            return {cid: prefetched[cid] for cid in call_ids}
    out: dict[str, list[AttemptRow]] = {cid: [] for cid in call_ids}
    driver = await pg_driver(session)
    if driver is not None:
        for record in await pg_fetch(session, driver, _ATTEMPT_SQL, list(call_ids)):
            out[record[0]].append(AttemptRow._make(record))
        return out
    columns = [getattr(CallAttempt, name) for name in AttemptRow._fields]
    query = select(*columns).where(CallAttempt.call_id.in_(call_ids)).order_by(CallAttempt.number)
    for row in await (await session.connection()).execute(query):
        out[row.call_id].append(AttemptRow._make(row))
    return out
