"""The calls domain: create (with idempotency), read, list and cancel calls of one organization.

Vendor surfaces (``outdial.api.compat.*``) call :func:`create_call` too and translate its
:class:`~outdial.api.errors.ApiError` codes into their own shapes; there is no second implementation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from weakref import WeakKeyDictionary

from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.api.auth import Principal
from outdial.api.errors import ApiError, CodedValueError, not_found
from outdial.api.pagination import PageParams, Pagination
from outdial.calls import idempotency, lookups, repository, serializers
from outdial.calls.checks import PreCreateCheck, run_pre_create_checks
from outdial.calls.draft import CallbackCheck, Extras, build_call, check_callback_url
from outdial.calls.repository import CallFilters, Total
from outdial.calls.schemas import CallCreated, CallOut, CreateCallRequest
from outdial.calls.validation import normalize_number
from outdial.calls.writer import writer_for
from outdial.config import Settings
from outdial.dialer.cancel import CancelOutcome, request_cancel
from outdial.dialer.notify import notify_new_call
from outdial.lifecycle import CallStatus
from outdial.orgs.inputs import has_nul
from outdial.store.models import Call
from outdial.store.types import utcnow

NATIVE_SCOPE = "POST /v1/calls"


@dataclass(frozen=True, slots=True)
class CreateCallResult:
    call: CallCreated
    replayed: bool = False  # True: an Idempotency-Key replay of an earlier answer, nothing was created


def parse_create_request(data: Mapping[str, Any]) -> CreateCallRequest:
    """A :class:`CreateCallRequest` from plain data, refusing it as the native API would (400 + code)."""
    try:
        return CreateCallRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        err = (first.get("ctx") or {}).get("error")
        param = ".".join(str(p) for p in first.get("loc", ())) or None
        if isinstance(err, CodedValueError):
            raise ApiError(400, err.code, err.message, param) from exc
        message = str(first.get("msg", "Invalid request.")).removeprefix("Value error, ")
        raise ApiError(400, "invalid_request", message, param) from exc


async def create_call(
    session: AsyncSession,
    principal: Principal,
    request: CreateCallRequest,
    *,
    source: str = "native",
    settings: Settings | None = None,
    idempotency_key: str | None = None,
    idempotency_scope: str = NATIVE_SCOPE,
    external_id: str | None = None,
    media_encryption: str | None = None,
    transport: str | None = None,
    agent_from_number: bool = False,
    checks: Sequence[str | PreCreateCheck] | None = None,
) -> CreateCallResult:
    """Validate, store (``queued`` or ``scheduled``) and announce one call; commits ``session``.

    Raises :class:`ApiError` with a stable code on any refusal; nothing is written then.
    ``agent_from_number``: with neither agent_id nor agent, use the caller number's outbound agent.
    ``checks`` replaces :data:`outdial.calls.checks.PRE_CREATE_CHECKS` (tests).
    """
    extras = Extras(
        source=source,
        external_id=external_id,
        media_encryption=media_encryption,
        transport=transport,
        agent_from_number=agent_from_number,
        allow_private_callbacks=bool(settings and settings.allow_private_webhooks),
    )
    request_hash = ""
    if idempotency_key is not None:
        idempotency.check_key(idempotency_key)
        request_hash = idempotency.fingerprint(
            idempotency_scope,
            {
                "request": request.model_dump(mode="json"),
                "source": source,
                "external_id": external_id,
                "media_encryption": media_encryption,
                "transport": transport,
                "agent_from_number": agent_from_number,
            },
        )
    key = _Key(idempotency_key, idempotency_scope, request_hash) if idempotency_key is not None else None

    writer = writer_for(session)
    if writer is not None:
        # SQLite: the whole creation is one job of the writer thread, group-committed (writer.py).
        callback = await check_callback_url(request.callback_url, extras.allow_private_callbacks)

        async def job(inline: AsyncSession) -> CreateCallResult:
            return await _create_locked(inline, principal, request, extras, key, checks, callback, source)

        if session.in_transaction():  # a vendor surface's lookups: end their read transaction
            await session.commit()
        return await writer.submit(job, notify=lambda result: not result.replayed)

    if key is not None:
        stored = await idempotency.lookup(session, principal.org_id, key.key)
        if stored is not None:
            return _replayed(stored, key.scope, key.request_hash)

    now = utcnow()
    try:
        call = await build_call(session, principal, request, extras, now)
        await run_pre_create_checks(session, call, checks)
        async with _write_lock(session):
            key_row = None
            if key is not None:
                key_row = await idempotency.claim(
                    session, principal.org_id, key.key, key.scope, key.request_hash, now=now
                )
                if key_row is None:  # a concurrent duplicate won the insert and has committed
                    stored = await idempotency.lookup(session, principal.org_id, key.key)
                    if stored is None:
                        raise idempotency.conflict("A request with this Idempotency-Key failed; retry it.")
                    return _replayed(stored, key.scope, key.request_hash)
            await lookups.insert_created(session, call, source=source, at=now)
            await notify_new_call(session)
            created = serializers.created(call)
            if key_row is not None:
                idempotency.store(key_row, 202, created.model_dump(mode="json"))
            await session.commit()
    except BaseException:
        await session.rollback()
        raise
    return CreateCallResult(created)


@dataclass(frozen=True, slots=True)
class _Key:
    key: str
    scope: str
    request_hash: str


async def _create_locked(
    session: AsyncSession,
    principal: Principal,
    request: CreateCallRequest,
    extras: Extras,
    key: _Key | None,
    checks: Sequence[str | PreCreateCheck] | None,
    callback: CallbackCheck,
    source: str,
) -> CreateCallResult:
    """The creation as one job of the SQLite writer: its transaction holds the write lock throughout,
    so the idempotency lookup and the key's insert cannot be raced. The writer commits; a raise
    rolls back this job alone."""
    now = utcnow()
    if key is not None:
        stored = await idempotency.lookup(session, principal.org_id, key.key, now=now)
        if stored is not None:
            return _replayed(stored, key.scope, key.request_hash)
    call = await build_call(session, principal, request, extras, now, callback=callback)
    await run_pre_create_checks(session, call, checks)
    key_row = None
    if key is not None:
        key_row = await idempotency.claim_locked(
            session, principal.org_id, key.key, key.scope, key.request_hash, now=now
        )
    await lookups.insert_created(session, call, source=source, at=now)
    created = serializers.created(call)
    if key_row is not None:
        idempotency.store(key_row, 202, created.model_dump(mode="json"))
    return CreateCallResult(created)


# SQLite has one writer at a time and makes the others sleep and retry (1, 2, 5, 10... ms) while it
# is busy. Taking turns in-process first keeps this process's creations from sleeping on each other.
_sqlite_write_locks: WeakKeyDictionary[Engine, asyncio.Lock] = WeakKeyDictionary()


def _write_lock(session: AsyncSession) -> AbstractAsyncContextManager[Any]:
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return nullcontext()
    engine = bind.engine
    lock = _sqlite_write_locks.get(engine)
    if lock is None:
        lock = _sqlite_write_locks[engine] = asyncio.Lock()
    return lock


def _replayed(row: Any, scope: str, request_hash: str) -> CreateCallResult:
    _status, body = idempotency.replay(row, scope, request_hash)
    return CreateCallResult(CallCreated.model_validate(body), replayed=True)


async def _visible_call(session: AsyncSession, principal: Principal, call_id: str) -> Call:
    call = None if has_nul(call_id) else await repository.get_call(session, principal.org_id, call_id)
    if call is None or (principal.agent_id is not None and call.agent_id != principal.agent_id):
        raise not_found("call", param="id")
    return call


async def _read_only(session: AsyncSession) -> None:
    """Reads run in autocommit on PostgreSQL: under READ COMMITTED each statement has its own snapshot
    anyway, and this saves the BEGIN and ROLLBACK round trips of every read request."""
    # A session that already began (a vendor surface looked something up first) keeps its transaction.
    if session.get_bind().dialect.name == "postgresql" and not session.in_transaction():
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


async def get_call(session: AsyncSession, principal: Principal, call_id: str, settings: Settings) -> CallOut:
    await _read_only(session)
    call = await _visible_call(session, principal, call_id)
    attempts = await repository.attempts_for(session, [call.id])
    return serializers.call_out(call, attempts[call.id], settings)


@dataclass(frozen=True, slots=True)
class CallPage:
    data: list[CallOut]
    pagination: Pagination
    total_exact: bool


async def list_calls(
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    settings: Settings,
    *,
    status: CallStatus | None = None,
    agent_id: str | None = None,
    to_number: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> CallPage:
    """Newest first. ``total`` is exact up to 1,000 matches, then an estimate (see repository.count)."""
    if agent_id is not None and has_nul(agent_id):
        return CallPage([], _pagination(params, Total(0, True), has_next=False), True)  # no id holds NUL
    if principal.agent_id is not None:
        if agent_id is not None and agent_id != principal.agent_id:
            return CallPage([], _pagination(params, Total(0, True), has_next=False), True)
        agent_id = principal.agent_id
    await _read_only(session)
    filters = CallFilters(
        org_id=principal.org_id,
        agent_id=agent_id,
        status=status.value if status is not None else None,
        to_number=normalize_number(to_number, None, param="to_number") if to_number is not None else None,
        created_after=created_after,
        created_before=created_before,
    )
    rows, bounded = await repository.list_page(session, filters, offset=params.offset, limit=params.limit)
    has_next = len(rows) > params.limit
    rows = rows[: params.limit]
    total = await repository.count(session, filters, bounded)
    with_attempts = [c.id for c in rows if c.attempt_count]
    attempts = await repository.attempts_for(session, with_attempts)
    data = [serializers.call_out(c, attempts.get(c.id, ()), settings) for c in rows]
    return CallPage(data, _pagination(params, total, has_next=has_next), total.exact)


def as_utc(value: datetime | None) -> datetime | None:
    """Filters and times without an offset are read as UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _pagination(params: PageParams, total: Total, *, has_next: bool) -> Pagination:
    pages = -(-total.value // params.limit)
    if not total.exact:  # an estimate must not contradict the rows actually seen
        pages = max(pages, params.page + (1 if has_next else 0))
    return Pagination(
        page=params.page,
        limit=params.limit,
        total=total.value,
        totalPages=pages,
        hasNext=has_next,
        hasPrev=params.page > 1,
    )


async def cancel_call(
    session: AsyncSession, principal: Principal, call_id: str, settings: Settings
) -> CallOut:
    """Cancel a call: pending calls end ``canceled`` at once; a live one is ended by its worker
    (the answer shows its current status until then). 409 ``call_not_cancelable`` once terminal.
    """
    try:
        # Touching the row first takes the write lock (SQLite) or row lock (PostgreSQL), so the status
        # read next cannot change under us (a dialer claiming the call waits for this commit).
        if not has_nul(call_id):
            await repository.lock_call(session, principal.org_id, call_id)
        call = await _visible_call(session, principal, call_id)
        if await request_cancel(session, call) is CancelOutcome.ALREADY_ENDED:
            raise ApiError(
                409,
                "call_not_cancelable",
                f"Call {call.id} already ended ({call.status}); it cannot be canceled.",
                "id",
            )
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    attempts = await repository.attempts_for(session, [call.id])
    return serializers.call_out(call, attempts[call.id], settings)
