"""``/v1/dnc``: the organization's do-not-call list (add, remove, list, bulk CSV import)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from outdial.api.deps import PrincipalDep, SessionDep
from outdial.api.errors import ERROR_RESPONSES, ApiError, not_found
from outdial.api.pagination import Page, PageParams, page_params
from outdial.calls.validation import normalize_number
from outdial.dnc import service
from outdial.dnc.models import DncEntry
from outdial.store.models import Organization

router = APIRouter(prefix="/v1/dnc", tags=["do-not-call"])

MAX_IMPORT_BYTES = 5 * 1024 * 1024


class DncAdd(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"number": "+18135551234", "reason": "Asked not to be called"}]},
    )

    number: str = Field(min_length=1, max_length=40, description="E.164, or national with country_code.")
    country_code: str | None = Field(
        default=None, min_length=2, max_length=2, description="ISO 3166 alpha-2."
    )
    reason: str | None = Field(default=None, max_length=service.REASON_MAX)


class DncOut(BaseModel):
    id: str
    number: str
    reason: str | None
    source: str = Field(description="api, import, or agent (the callee asked during a call).")
    call_id: str | None
    created_at: datetime


class ImportOut(BaseModel):
    imported: int
    already_listed: int
    errors: list[dict[str, object]] = Field(description="Lines that were not imported, with the reason.")


def _out(e: DncEntry) -> DncOut:
    return DncOut(
        id=e.id, number=e.number, reason=e.reason, source=e.source, call_id=e.call_id, created_at=e.created_at
    )


@router.post(
    "",
    status_code=201,
    response_model=DncOut,
    summary="Add a number to the do-not-call list",
    description="Calls to a listed number are refused (403 `number_on_dnc_list`) on every surface. "
    "Adding a listed number again returns the existing entry with 200.",
    responses={**ERROR_RESPONSES, 200: {"model": DncOut, "description": "Already listed"}},
)
async def add_number(
    body: DncAdd, principal: PrincipalDep, session: SessionDep, response: Response
) -> DncOut:
    number = normalize_number(body.number, body.country_code, param="number")
    entry, created = await service.add(session, principal.org_id, number, reason=body.reason)
    await session.commit()
    if not created:
        response.status_code = 200
    return _out(entry)


@router.get("", response_model=Page[DncOut], summary="List the do-not-call list", responses=ERROR_RESPONSES)
async def list_numbers(
    principal: PrincipalDep,
    session: SessionDep,
    params: Annotated[PageParams, Depends(page_params)],
    number: Annotated[str | None, Query(max_length=40, description="Only this number (E.164)")] = None,
) -> Page[DncOut]:
    e164 = normalize_number(number, None, param="number") if number is not None else None
    rows, pagination = await service.list_entries(session, principal.org_id, params, number=e164)
    return Page[DncOut](data=[_out(r) for r in rows], pagination=pagination)


@router.delete(
    "/{number}",
    status_code=204,
    summary="Remove a number from the do-not-call list",
    responses=ERROR_RESPONSES,
)
async def remove_number(number: str, principal: PrincipalDep, session: SessionDep) -> None:
    e164 = normalize_number(number, None, param="number")
    removed = await service.remove(session, principal.org_id, e164)
    if not removed:
        raise not_found("do-not-call entry", param="number")
    await session.commit()


@router.post(
    "/import",
    response_model=ImportOut,
    summary="Import numbers from CSV",
    description="Body: `text/csv`. One number per line (E.164, or national in the organization's "
    "default_country), optionally a reason in the second column; a header row naming a `number` "
    "column is recognised. Lines that are not phone numbers are reported, the rest are imported.",
    responses=ERROR_RESPONSES,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string"}, "example": "number,reason\n+18135551234,asked\n"}
            },
        }
    },
)
async def import_csv(request: Request, principal: PrincipalDep, session: SessionDep) -> ImportOut:
    raw = await request.body()
    if len(raw) > MAX_IMPORT_BYTES:
        raise ApiError(413, "request_too_large", f"The CSV is larger than {MAX_IMPORT_BYTES} bytes.", "file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_request", "The CSV must be UTF-8 text.", "file") from exc
    org = await session.get(Organization, principal.org_id)
    rows, errors = service.parse_csv(text, org.default_country if org else None)
    result = await service.import_numbers(session, principal.org_id, rows, errors)
    await session.commit()
    return ImportOut(imported=result.imported, already_listed=result.already_listed, errors=result.errors)
