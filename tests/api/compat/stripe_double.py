"""A local stand-in for Stripe's API at the edge we cannot reach: it speaks Stripe's wire protocol
(form-encoded ``POST /v1/payment_intents``, bearer secret key, Idempotency-Key, Stripe's JSON and
error objects), so the real ``stripe`` SDK talks to it unchanged."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.procs import free_port

DECLINED_METHOD = "pm_card_chargeDeclined"


@dataclass
class StripeDouble:
    secret_key: str = "sk_test_outdial"
    requests: list[dict[str, Any]] = field(default_factory=list)
    by_idempotency_key: dict[str, dict[str, Any]] = field(default_factory=dict)
    base_url: str = ""

    async def payment_intents(self, request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {self.secret_key}":
            return JSONResponse(
                {"error": {"type": "invalid_request_error", "message": "Invalid API Key"}}, 401
            )
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        key = request.headers.get("idempotency-key", "")
        self.requests.append({"form": form, "idempotency_key": key})
        if key in self.by_idempotency_key:
            return JSONResponse(self.by_idempotency_key[key])
        if form.get("payment_method") == DECLINED_METHOD:
            return JSONResponse(
                {
                    "error": {
                        "type": "card_error",
                        "code": "card_declined",
                        "decline_code": "generic_decline",
                        "message": "Your card was declined.",
                    }
                },
                402,
            )
        intent = {
            "id": "pi_" + uuid.uuid4().hex[:24],
            "object": "payment_intent",
            "amount": int(form["amount"]),
            "currency": form["currency"],
            "customer": form.get("customer"),
            "payment_method": form.get("payment_method"),
            "status": "succeeded",
            "description": form.get("description"),
        }
        self.by_idempotency_key[key] = intent
        return JSONResponse(intent)


@contextlib.asynccontextmanager
async def running_stripe() -> AsyncIterator[StripeDouble]:
    double = StripeDouble()
    app = Starlette(routes=[Route("/v1/payment_intents", double.payment_intents, methods=["POST"])])
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(1000):  # uvicorn offers no started event; poll for at most 10 s
        if server.started:
            break
        await asyncio.sleep(0.01)
    else:
        raise RuntimeError("the Stripe stand-in did not start")
    double.base_url = f"http://127.0.0.1:{port}"
    try:
        yield double
    finally:
        server.should_exit = True
        await task
