"""The one list shape: ``{"data": [...], "pagination": {...}}``, newest first, limit at most 100."""

from __future__ import annotations

import math
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")

MAX_LIMIT = 100
DEFAULT_LIMIT = 50


class Pagination(BaseModel):
    page: int
    limit: int
    total: int
    totalPages: int  # camelCase: the vendors' spelling, part of the contract
    hasNext: bool
    hasPrev: bool


class Page(BaseModel, Generic[T]):
    data: list[T]
    pagination: Pagination


class PageParams(BaseModel):
    page: int = Field(1, ge=1, le=1_000_000)
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


async def page_params(
    page: Annotated[int, Query(ge=1, le=1_000_000, description="1-indexed page number")] = 1,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page (max 100)")] = DEFAULT_LIMIT,
) -> PageParams:
    return PageParams(page=page, limit=limit)


def make_pagination(params: PageParams, total: int) -> Pagination:
    pages = math.ceil(total / params.limit) if total else 0
    return Pagination(
        page=params.page,
        limit=params.limit,
        total=total,
        totalPages=pages,
        hasNext=params.page < pages,
        hasPrev=params.page > 1,
    )


async def paginate(
    session: AsyncSession, query: Select[Any], params: PageParams
) -> tuple[list[Any], Pagination]:
    """Run ``query`` (already filtered and ordered newest first) for one page and count its total."""
    total = (
        await session.execute(select(func.count()).select_from(query.order_by(None).subquery()))
    ).scalar_one()
    rows = (await session.execute(query.offset(params.offset).limit(params.limit))).scalars().all()
    return list(rows), make_pagination(params, int(total))
