"""The FastAPI application factory."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from outdial import __version__
from outdial.api.auth import KeyCache
from outdial.api.errors import install_error_handlers
from outdial.calls.fastpath import CreateCallFastPath
from outdial.config import Settings, get_settings
from outdial.store.db import Database
from outdial.store.migrate import upgrade_async

# Each domain's routes live in its own `endpoints` module exposing `router`.
ROUTER_MODULES: tuple[str, ...] = (
    "outdial.orgs.endpoints",
    "outdial.agents.endpoints",
    "outdial.trunks.endpoints",
    "outdial.numbers.endpoints",
    "outdial.numbers.verify",
    "outdial.calls.endpoints",
    "outdial.webhooks.endpoints",
    "outdial.transcripts.endpoints",
    "outdial.dnc.endpoints",
    "outdial.billing.endpoints",
    "outdial.api.compat.telzino",
    "outdial.api.compat.twenty2",
    "outdial.api.compat.polyai",
    "outdial.api.compat.byo",
)

DESCRIPTION = """
Self-hosted outbound phone calls handled by AI voice agents, over your own SIP trunk.

Authenticate with an API key: `Authorization: Bearer od_...` (create one with `outdial keys create`).
Errors share one envelope: `{"error": {"code": "...", "message": "...", "param": "..."}}`.
"""


def _include_routers(app: FastAPI) -> None:
    for name in ROUTER_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                continue  # that domain is not part of this build
            raise
        app.include_router(module.router)


def create_app(
    settings: Settings | None = None,
    db: Database | None = None,
    *,
    migrate: bool = True,
    fast_path: bool = True,
) -> FastAPI:
    """The API. ``fast_path=False``: every ``POST /v1/calls`` through FastAPI's route (a reference
    for tests of :mod:`outdial.calls.fastpath`, which must answer as that route does)."""
    settings = settings or get_settings()
    own_db = db is None
    database = db or Database.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            await upgrade_async(database.url)
        yield
        if own_db:
            await database.dispose()

    app = FastAPI(
        title="outdial",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.db = database
    app.state.key_cache = KeyCache()
    install_error_handlers(app)

    @app.get("/healthz", tags=["ops"], summary="Liveness check")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    _include_routers(app)
    # Well-formed POST /v1/calls skip FastAPI's routing and dependencies (the route judges the rest).
    if fast_path:
        app.add_middleware(CreateCallFastPath)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The spec without FastAPI's automatic 422: request validation answers 400 with our envelope."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                responses = operation.get("responses", {})
                ref = str(
                    responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema")
                )
                if "HTTPValidationError" in ref:
                    del responses["422"]
                    responses.setdefault(
                        "400",
                        {
                            "description": "Invalid request",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}
                            },
                        },
                    )
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
        app.openapi_schema = schema
    return app.openapi_schema
