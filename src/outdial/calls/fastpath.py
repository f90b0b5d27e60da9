"""``POST /v1/calls`` without FastAPI's routing and dependency machinery, for well-formed requests.

Placing calls is the API's hot path (#2's target: 500 creations a second on one core with SQLite).
Per request, FastAPI matches the path against every route, solves the route's dependency graph
(database session, settings, bearer scheme, principal), decodes the JSON to Python objects and
validates those: together about a quarter of a creation's CPU. This ASGI middleware serves the
common case directly: a JSON body that validates, and a key that authenticates. It validates
with the same model (straight from the JSON bytes), authenticates through the same key cache,
calls the same :func:`outdial.calls.service.create_call` and answers with the route's own responses
(:func:`outdial.calls.endpoints.created_response`, :func:`outdial.api.errors.error_response`).

Anything else (no or a bad key, a body that is not JSON or does not validate, an over-long
Idempotency-Key) is handed to that route unchanged, body included, so every refusal keeps the one
set of error codes and messages FastAPI's handlers give, and the route stays the documented one in
OpenAPI. Refusals by the service itself (``ApiError``) are answered here with the same envelope.
"""

from __future__ import annotations

from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from outdial.api.auth import KeyCache, Principal
from outdial.api.errors import ApiError, error_response
from outdial.calls import service
from outdial.calls.endpoints import created_response
from outdial.calls.schemas import CreateCallRequest
from outdial.config import Settings
from outdial.store.db import Database

PATH = "/v1/calls"
_MAX_IDEMPOTENCY_KEY = 255  # the route's Header(max_length=255)
_JSON_TYPES = (b"application/json",)


class CreateCallFastPath:
    """ASGI middleware: serve well-formed ``POST /v1/calls`` itself, pass everything else on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        body, more = await _read_body(receive)
        if more is not None:  # the client went away before the whole body arrived
            await self.app(scope, _replay(body, more, receive), send)
            return
        served = await self._serve(scope, body, send)
        if not served:
            await self.app(scope, _replay(body, None, receive), send)

    async def _serve(self, scope: Scope, body: bytes, send: Send) -> bool:
        """Place the call and answer; False (nothing sent) for a request the route must judge."""
        headers = _headers(scope)
        token = _bearer(headers.get(b"authorization"))
        idempotency_key = headers.get(b"idempotency-key")
        if (
            token is None
            or not body
            or not _is_json(headers.get(b"content-type"))
            or (idempotency_key is not None and len(idempotency_key) > _MAX_IDEMPOTENCY_KEY)
        ):
            return False
        try:
            request = CreateCallRequest.model_validate_json(body)
        except ValidationError:
            return False
        state = scope["app"].state
        db: Database = state.db
        settings: Settings = state.settings
        cache: KeyCache = state.key_cache
        async with db.session() as session:
            principal: Principal | None = await cache.authenticate(session, token)
            if session.in_transaction():
                await session.commit()
            if principal is None:
                return False
            try:
                result = await service.create_call(
                    session,
                    principal,
                    request,
                    settings=settings,
                    idempotency_key=None if idempotency_key is None else idempotency_key.decode("latin-1"),
                )
            except ApiError as exc:
                await error_response(exc)(scope, _nothing_to_receive, send)
                return True
        await created_response(result)(scope, _nothing_to_receive, send)
        return True


async def _read_body(receive: Receive) -> tuple[bytes, Message | None]:
    """The whole request body; with the message that ended reading early (a disconnect), if any."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), None


def _replay(body: bytes, ended: Message | None, receive: Receive) -> Receive:
    """A ``receive`` that gives the route the body already read, then carries on from the client."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
    if ended is not None:
        pending.append(ended)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


def _headers(scope: Scope) -> dict[bytes, bytes]:
    """Request headers by lower-case name; the first of repeated ones (as Starlette's ``get``)."""
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        found.setdefault(name, value)
    return found


def _bearer(value: bytes | None) -> str | None:
    """The credentials of ``Authorization: Bearer <credentials>`` (the scheme in any case)."""
    if value is None:
        return None
    scheme, _, credentials = value.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer" or not credentials:
        return None
    return credentials


def _is_json(content_type: bytes | None) -> bool:
    """``application/json``, with or without parameters. The route (FastAPI's strict content type)
    takes a body without a content type as bytes, and ``+json`` types as JSON: it judges those."""
    if content_type is None:
        return False
    return content_type.split(b";", 1)[0].strip().lower() in _JSON_TYPES


async def _nothing_to_receive() -> Message:
    """The responses sent here read nothing from the client (the body has been read)."""
    return {"type": "http.disconnect"}
