"""schemathesis over /openapi.json against a real server on loopback, authenticated with a real key.

Every operation of the app (every domain's routes, not only calls) gets the spec's explicit examples plus
generated requests, valid and invalid: no 5xx, and every response must match the spec (status code
documented, content type, body schema, headers). The store is seeded so that the examples reach real
objects: the agent and call ids used in the examples exist, so 200/202 bodies are checked too.
Bounded: MAX_EXAMPLES per operation and mode, no shrinking, no deadline.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import hypothesis.errors
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from outdial.api.app import create_app
from outdial.api.auth import Principal
from outdial.calls import examples
from outdial.calls.draft import Extras, build_call
from outdial.calls.service import parse_create_request
from outdial.calls.transitions import record_event
from outdial.config import Settings
from outdial.lifecycle import EventType
from outdial.store.db import Database
from outdial.store.models import Agent
from outdial.store.types import utcnow
from tests.api.conftest import Seed, Tenant
from tests.api.test_calls_support import count_calls
from tests.support.procs import free_port

# uvicorn's own answer to bytes that are not an HTTP request (e.g. a header value with a raw newline).
INVALID_HTTP = "Invalid HTTP request received."
MAX_EXAMPLES = {GenerationMode.POSITIVE: 12, GenerationMode.NEGATIVE: 6}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Invalid requests: a 4xx is the right answer, so only "no 5xx" and "the answer matches the spec" apply.
NEGATIVE_CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]


class ServerThread:
    """``uvicorn`` serving the app on loopback in a thread with its own event loop and database pool."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        app = create_app(settings, migrate=False)  # the test database is already migrated
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="schemathesis-server", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


async def _seed_examples(seed: Seed, db: Database) -> Tenant:
    """The objects the OpenAPI examples name: their agent, caller number and call."""
    tenant = await seed.tenant("schemathesis")
    async with db.transaction() as s:
        s.add(
            Agent(
                id=examples.AGENT_ID,
                org_id=tenant.org_id,
                name="Example agent",
                published=True,
                config={"input_parameters": [{"name": "first_name", "required": False}]},
            )
        )
    trunk_id = await seed.trunk(tenant.org_id)
    await seed.number(tenant.org_id, "+14155550100", trunk_id=trunk_id, outbound_agent_id=examples.AGENT_ID)
    principal = Principal(org_id=tenant.org_id, key_id=tenant.key_id)
    request = parse_create_request({"agent_id": examples.AGENT_ID, "to_number": "+18135551234"})
    async with db.transaction() as s:
        call = await build_call(s, principal, request, Extras(), utcnow())
        call.id = examples.CALL_ID
        s.add(call)
        await s.flush()
        record_event(s, call, EventType.CALL_QUEUED)
    return tenant


def _run(base_url: str, headers: dict[str, str]) -> tuple[int, list[str]]:
    """Run every operation; return how many requests were made and the failures seen."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    failures: list[str] = []
    calls = 0

    def run(label: str, strategy: Any, max_examples: int, checks: list[Any]) -> None:
        nonlocal calls

        @hypothesis.settings(
            max_examples=max_examples,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def check(case: Any) -> None:
            nonlocal calls
            calls += 1
            response = case.call(base_url=base_url, headers=headers)
            if response.status_code == 400 and response.text == INVALID_HTTP:
                return  # the generated headers are not valid HTTP: uvicorn refused them, the app never ran
            case.validate_response(response, checks=checks, headers=headers)

        try:
            check()
        except hypothesis.errors.Unsatisfiable:
            pass  # nothing to negate (an operation without parameters or body)
        except (Exception, BaseExceptionGroup) as exc:  # keep going: report every failure together
            failures.append(f"{label}: {exc}")

    for result in schema.get_all_operations():
        operation = result.ok()
        for n, example in enumerate(operation.get_strategies_from_examples()):
            run(f"{operation.label} [example {n}]", example, 1, CHECKS)
        for mode, checks in ((GenerationMode.POSITIVE, CHECKS), (GenerationMode.NEGATIVE, NEGATIVE_CHECKS)):
            strategy = operation.as_strategy(generation_mode=mode)
            run(f"{operation.label} [{mode.value}]", strategy, MAX_EXAMPLES[mode], checks)
    return calls, failures


async def test_every_operation_conforms_and_never_fails_with_5xx(
    seed: Seed, db: Database, settings: Settings, tmp_path: Path
) -> None:
    tenant = await _seed_examples(seed, db)
    with ServerThread(settings) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as probe:
            assert (await probe.get("/openapi.json")).status_code == 200
        calls, failures = await asyncio.to_thread(_run, server.base_url, tenant.headers)

    assert not failures, "\n\n".join(failures)
    assert calls >= 100, calls  # the run really happened
    assert await count_calls(db, tenant.org_id) > 1  # the create examples were accepted (202 checked)


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=db_url)
