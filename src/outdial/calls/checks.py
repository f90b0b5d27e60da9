"""Checks every new call passes on every surface, after validation and before it is stored.

A check is ``async def check(session, call) -> None`` that raises an :class:`~outdial.api.errors.ApiError`
to refuse the call (e.g. 403 ``number_on_dnc_list``, 402 ``insufficient_balance``). ``call`` is the
fully built, not yet inserted :class:`~outdial.store.models.Call` (org_id, agent_id, to_number,
from_number, trunk_id, source...). Checks run inside the creating transaction, in order.

Domains add theirs to :data:`PRE_CREATE_CHECKS` as ``"module:function"`` paths, imported on first use,
so this module depends on none of them.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from outdial.store.models import Call

PreCreateCheck = Callable[[AsyncSession, Call], Awaitable[None]]

# "module:function" of each check, in the order they run.
PRE_CREATE_CHECKS: list[str] = [
    "outdial.dnc.service:refuse_listed",
    "outdial.billing.service:refuse_insufficient",
]

_resolved: dict[str, PreCreateCheck] = {}


def resolve(path: str) -> PreCreateCheck:
    check = _resolved.get(path)
    if check is None:
        module_name, _, attr = path.partition(":")
        check = getattr(importlib.import_module(module_name), attr)
        _resolved[path] = check
    return check


async def run_pre_create_checks(
    session: AsyncSession, call: Call, checks: Sequence[str | PreCreateCheck] | None = None
) -> None:
    """Run ``checks`` (default :data:`PRE_CREATE_CHECKS`); the first refusal propagates."""
    for entry in PRE_CREATE_CHECKS if checks is None else checks:
        check = resolve(entry) if isinstance(entry, str) else entry
        await check(session, call)
