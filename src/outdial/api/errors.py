"""The native error envelope: ``{"error": {"code", "message", "param"}}`` with a stable code.

Every failure leaves the API in this shape, request validation included (400, never FastAPI's 422).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("outdial.api")


class ErrorBody(BaseModel):
    code: str
    message: str
    param: str | None = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody


class ApiError(Exception):
    """An error a client caused or can act on; rendered as the envelope with ``status``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "param": self.param}}


def error_response(exc: ApiError) -> JSONResponse:
    """The envelope response of an :class:`ApiError`."""
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


def bad_request(message: str, param: str | None = None, code: str = "invalid_request") -> ApiError:
    return ApiError(400, code, message, param)


def not_found(what: str = "object", code: str = "not_found", param: str | None = None) -> ApiError:
    return ApiError(404, code, f"No such {what}.", param)


_STATUS_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def _loc_to_param(loc: tuple[Any, ...] | list[Any]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or None


def _validation_message(err: dict[str, Any]) -> str:
    msg = str(err.get("msg", "Invalid value."))
    # Pydantic prefixes custom ValueErrors with "Value error, "; users want the sentence only.
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        code = "invalid_request"
        # A custom validator may name its own stable code as "<code>: message".
        message = _validation_message(first) if first else "Invalid request."
        ctx = first.get("ctx") or {}
        err = ctx.get("error")
        if isinstance(err, CodedValueError):
            code, message = err.code, err.message
        if first.get("type") == "json_invalid":
            message = "Request body is not valid JSON."
        body = {"error": {"code": code, "message": message, "param": _loc_to_param(first.get("loc", ()))}}
        return JSONResponse(body, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        if exc.status_code == 404 and message == "Not Found":
            message = "No such route."
        return JSONResponse(
            {"error": {"code": code, "message": message, "param": None}},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse(
            {
                "error": {
                    "code": "internal_error",
                    "message": "Internal error; nothing was changed.",
                    "param": None,
                }
            },
            status_code=500,
        )


class CodedValueError(ValueError):
    """Raise from a Pydantic validator to give a validation error its own stable code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# For OpenAPI: the envelope documented on every route's error responses.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorEnvelope, "description": "Invalid request"},
    401: {"model": ErrorEnvelope, "description": "Missing or invalid API key"},
    404: {"model": ErrorEnvelope, "description": "Not found (or not yours)"},
}
