"""FastAPI dependencies: the database, a session per request, the authenticated principal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.api.auth import KeyCache, Principal
from outdial.api.errors import ApiError
from outdial.config import Settings
from outdial.store.db import Database

_bearer = HTTPBearer(auto_error=False, description="An outdial API key: `Authorization: Bearer od_...`")


async def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(db: Annotated[Database, Depends(get_db)]) -> AsyncIterator[AsyncSession]:
    async with db.session() as session:
        yield session


UNAUTHORIZED = ApiError(
    401, "unauthorized", "Missing or invalid API key.", headers={"WWW-Authenticate": "Bearer"}
)


async def get_principal(
    request: Request,
    session: Annotated[AsyncSession, Depends(get_session)],
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The key's principal: from the app's cache of recently verified keys, else checked in the
    request's own session (one session per request; see :class:`~outdial.api.auth.KeyCache`).

    A check that reads the database closes its transaction before the route runs, so the route
    starts on a fresh one (and may still choose its isolation level).
    """
    if creds is None or creds.scheme.lower() != "bearer":
        raise UNAUTHORIZED
    cache: KeyCache = request.app.state.key_cache
    principal = await cache.authenticate(session, creds.credentials)
    if session.in_transaction():
        await session.commit()
    if principal is None:
        raise UNAUTHORIZED
    return principal


DbDep = Annotated[Database, Depends(get_db)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
