"""What the vendor surfaces share: reading a JSON body themselves so that they answer in their own
error shape, and documenting that body in OpenAPI from the same Pydantic model."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ValidationError

from outdial.api.errors import ApiError


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 ``invalid_request``."""
    raw = await request.body()
    try:
        data = json.loads(raw) if raw else None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_request", "Request body is not valid JSON.") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_request", "Request body must be a JSON object.")
    return data


def parse(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """``model`` from ``data``; the first validation error becomes a 400 naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first.get("loc", ())) or None
        message = str(first.get("msg", "Invalid value.")).removeprefix("Value error, ")
        if first.get("type") == "missing":
            message = f"{param} is required."
        elif first.get("type") == "extra_forbidden":
            message = f"Unknown field {param}."
        raise ApiError(400, "invalid_request", message, param) from exc


def body_doc(model: type[BaseModel], example: dict[str, Any] | None = None) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads ``model`` from the body by hand."""
    content: dict[str, Any] = {"schema": model.model_json_schema(ref_template="#/components/schemas/{model}")}
    if example is not None:
        content["example"] = example
    return {"requestBody": {"required": True, "content": {"application/json": content}}}
