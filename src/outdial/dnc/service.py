"""Do-not-call rules: add, remove, list, bulk import, and the refusal every new call passes through."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.api.errors import ApiError
from outdial.api.pagination import PageParams, Pagination, paginate
from outdial.calls.validation import normalize_number
from outdial.dnc.models import DncEntry
from outdial.store.models import Call

MAX_IMPORT_ROWS = 100_000
REASON_MAX = 500


_dnc = DncEntry.__table__
# Built once (a Core statement reused with parameters): every call creation runs it.
_IS_LISTED = (
    select(_dnc.c.id)
    .where(_dnc.c.org_id == bindparam("org_id"), _dnc.c.number == bindparam("number"))
    .limit(1)
)


async def is_listed(session: AsyncSession, org_id: str, number: str) -> bool:
    connection = await session.connection()
    found = await connection.execute(_IS_LISTED, {"org_id": org_id, "number": number})
    return found.first() is not None


async def add(
    session: AsyncSession,
    org_id: str,
    number: str,
    *,
    reason: str | None = None,
    source: str = "api",
    call_id: str | None = None,
) -> tuple[DncEntry, bool]:
    """The entry for ``number`` (E.164) and whether it was created now (adding twice is harmless)."""
    existing = (
        await session.execute(select(DncEntry).where(DncEntry.org_id == org_id, DncEntry.number == number))
    ).scalar_one_or_none()
    if existing is not None:
        return existing, False
    entry = DncEntry(org_id=org_id, number=number, reason=reason, source=source, call_id=call_id)
    session.add(entry)
    await session.flush()
    return entry, True


async def remove(session: AsyncSession, org_id: str, number: str) -> bool:
    result = await session.execute(
        delete(DncEntry).where(DncEntry.org_id == org_id, DncEntry.number == number)
    )
    return bool(getattr(result, "rowcount", 0))


async def list_entries(
    session: AsyncSession, org_id: str, params: PageParams, *, number: str | None = None
) -> tuple[list[DncEntry], Pagination]:
    query = select(DncEntry).where(DncEntry.org_id == org_id)
    if number is not None:
        query = query.where(DncEntry.number == number)
    return await paginate(session, query.order_by(DncEntry.created_at.desc(), DncEntry.id.desc()), params)


@dataclass
class ImportResult:
    imported: int = 0
    already_listed: int = 0
    errors: list[dict[str, object]] = field(default_factory=list)


def parse_csv(
    text: str, default_country: str | None
) -> tuple[list[tuple[str, str | None]], list[dict[str, object]]]:
    """Rows of (E.164, reason) and per-line errors. A header row with a ``number`` column is optional;
    without one the first column is the number and the second, if any, the reason."""
    reader = csv.reader(io.StringIO(text))
    rows = [r for r in reader if any(cell.strip() for cell in r)]
    if len(rows) > MAX_IMPORT_ROWS:
        raise ApiError(
            400, "invalid_request", f"At most {MAX_IMPORT_ROWS} rows can be imported at once.", "file"
        )
    number_col, reason_col, start = 0, 1, 0
    if rows:
        header = [c.strip().lower() for c in rows[0]]
        if "number" in header or "phone" in header or "phone_number" in header:
            number_col = next(i for i, c in enumerate(header) if c in ("number", "phone", "phone_number"))
            reason_col = header.index("reason") if "reason" in header else -1
            start = 1
    good: list[tuple[str, str | None]] = []
    errors: list[dict[str, object]] = []
    for line_no, row in enumerate(rows[start:], start=start + 1):
        raw = row[number_col].strip() if number_col < len(row) else ""
        reason = row[reason_col].strip() if 0 <= reason_col < len(row) and row[reason_col].strip() else None
        try:
            good.append(
                (normalize_number(raw, default_country, param="number"), reason and reason[:REASON_MAX])
            )
        except ApiError as exc:
            errors.append({"line": line_no, "value": raw, "code": exc.code, "message": exc.message})
    return good, errors


async def import_numbers(
    session: AsyncSession,
    org_id: str,
    rows: Iterable[tuple[str, str | None]],
    errors: list[dict[str, object]],
) -> ImportResult:
    result = ImportResult(errors=errors)
    wanted: dict[str, str | None] = {}
    for number, reason in rows:
        wanted.setdefault(number, reason)
    existing: set[str] = set()
    numbers = list(wanted)
    for i in range(0, len(numbers), 500):
        chunk = numbers[i : i + 500]
        found = await session.execute(
            select(DncEntry.number).where(DncEntry.org_id == org_id, DncEntry.number.in_(chunk))
        )
        existing.update(found.scalars())
    for number, reason in wanted.items():
        if number in existing:
            result.already_listed += 1
            continue
        session.add(DncEntry(org_id=org_id, number=number, reason=reason, source="import"))
        result.imported += 1
    await session.flush()
    return result


async def refuse_listed(session: AsyncSession, call: Call) -> None:
    """Pre-create check: a call to a listed number is refused on every surface."""
    if await is_listed(session, call.org_id, call.to_number):
        raise ApiError(
            403,
            "number_on_dnc_list",
            f"{call.to_number} is on this organization's do-not-call list; remove it first to call it.",
            "to_number",
        )
