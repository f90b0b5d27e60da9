"""POST /v1/calls: what a valid request stores, and who may place a call from which number."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.api.auth import Principal
from outdial.api.errors import ApiError
from outdial.calls.service import create_call, parse_create_request
from outdial.dialer.notify import NEW_CALL, Listener, LocalHub
from outdial.store.db import Database
from outdial.store.models import Call
from tests.api.conftest import Ready, Seed
from tests.api.test_calls_support import (
    CALLEE,
    DROP,
    assert_error,
    count_calls,
    events_of,
    post_call,
    stored_call,
)


async def test_a_call_is_queued_with_its_room_name_and_a_queued_event(
    client: httpx.AsyncClient, ready: Ready, db: Database
) -> None:
    r = await post_call(client, ready)

    assert r.status_code == 202, r.text
    body = r.json()
    assert set(body) == {"id", "status", "room_name", "created_at"}
    assert body["status"] == "queued"
    assert body["room_name"] == f"agent-{ready.agent_id}-out-{body['id']}"
    assert datetime.fromisoformat(body["created_at"]).tzinfo is not None
    call = await stored_call(db, body["id"])
    assert (call.org_id, call.to_number, call.from_number) == (ready.tenant.org_id, CALLEE, ready.number)
    assert (call.phone_number_id, call.trunk_id, call.source) == (ready.number_id, ready.trunk_id, "native")
    assert call.next_attempt_at == call.created_at
    [event] = await events_of(db, body["id"])
    assert (event.type, event.from_status, event.status) == ("call.queued", None, "queued")
    assert event.org_id == ready.tenant.org_id


async def test_the_agent_config_is_snapshotted_with_the_overrides(
    client: httpx.AsyncClient, ready: Ready, seed: Seed, db: Database
) -> None:
    agent_id = await seed.agent(
        ready.tenant.org_id, "Reminder", prompt="Remind them.", ring_timeout_seconds=60
    )

    r = await post_call(
        client,
        ready,
        agent_id=agent_id,
        from_number=ready.number,
        max_duration_seconds=300,
        max_hold_seconds=90,
        call_context="Appointment at 2pm.",
    )

    assert r.status_code == 202, r.text
    call = await stored_call(db, r.json()["id"])
    assert call.agent_config["prompt"] == "Remind them."  # call_context stays apart; the brain appends it
    assert call.agent_config["ring_timeout_seconds"] == call.ring_timeout_seconds == 60
    assert call.agent_config["max_duration_seconds"] == call.max_duration_seconds == 300
    assert call.agent_config["max_hold_seconds"] == call.max_hold_seconds == 90
    assert call.agent_config["name"] == "Reminder"
    assert call.call_context == "Appointment at 2pm."


async def test_a_national_number_is_read_in_country_code(
    client: httpx.AsyncClient, ready: Ready, db: Database
) -> None:
    r = await post_call(client, ready, to_number="(813) 555-1234", country_code="us")

    assert r.status_code == 202, r.text
    assert (await stored_call(db, r.json()["id"])).to_number == CALLEE


@pytest.mark.parametrize(
    ("to_number", "country_code"),
    [
        ("8135551234", None),  # national without a country
        ("+1 813 555 1234", None),  # not strict E.164
        ("+15555550100", None),  # E.164-shaped but not a valid number
        ("not a number", "US"),
        ("+", None),
    ],
)
async def test_invalid_callee_numbers_are_refused(
    client: httpx.AsyncClient, ready: Ready, to_number: str, country_code: str | None
) -> None:
    r = await post_call(client, ready, to_number=to_number, country_code=country_code)
    assert_error(r, 400, "invalid_phone_number", "to_number")


async def test_an_unknown_country_code_is_refused(client: httpx.AsyncClient, ready: Ready) -> None:
    assert_error(await post_call(client, ready, country_code="ZZ"), 400, "invalid_request", "country_code")


async def test_a_future_scheduled_at_makes_a_scheduled_call(
    client: httpx.AsyncClient, ready: Ready, db: Database
) -> None:
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)

    r = await post_call(client, ready, scheduled_at=at.isoformat())

    assert r.status_code == 202, r.text
    assert r.json()["status"] == "scheduled"
    call = await stored_call(db, r.json()["id"])
    assert call.scheduled_at == at and call.next_attempt_at == at
    [event] = await events_of(db, call.id)
    assert (event.type, event.status) == ("call.queued", "scheduled")


async def test_scheduled_at_in_the_past_or_without_offset(
    client: httpx.AsyncClient, ready: Ready, db: Database
) -> None:
    past = await post_call(client, ready, scheduled_at="2020-01-01T00:00:00Z")
    assert past.status_code == 202 and past.json()["status"] == "queued"

    naive = (datetime.now(UTC) + timedelta(days=1)).replace(tzinfo=None, microsecond=0)
    r = await post_call(client, ready, scheduled_at=naive.isoformat())
    assert r.json()["status"] == "scheduled"
    assert (await stored_call(db, r.json()["id"])).scheduled_at == naive.replace(tzinfo=UTC)

    too_far = (datetime.now(UTC) + timedelta(days=366)).isoformat()
    assert_error(await post_call(client, ready, scheduled_at=too_far), 400, "invalid_request", "scheduled_at")


async def test_inline_agent_places_a_call_without_an_agent_id(
    client: httpx.AsyncClient, ready: Ready, db: Database
) -> None:
    r = await post_call(
        client,
        ready,
        agent_id=DROP,
        agent={"name": "One-off", "prompt": "Ask one question."},
        from_number=ready.number,
    )

    assert r.status_code == 202, r.text
    assert r.json()["room_name"] == f"agent-inline-out-{r.json()['id']}"
    call = await stored_call(db, r.json()["id"])
    assert call.agent_id is None
    assert call.agent_config["prompt"] == "Ask one question."
    assert call.agent_config["max_duration_seconds"] == 600  # the schema's default


async def test_inline_agent_is_validated_like_post_agents(client: httpx.AsyncClient, ready: Ready) -> None:
    unknown_field = await post_call(client, ready, agent_id=DROP, agent={"name": "x", "colour": "red"})
    assert_error(unknown_field, 400, "invalid_request", "agent.colour")
    no_name = await post_call(client, ready, agent_id=DROP, agent={"prompt": "hi"})
    assert_error(no_name, 400, "invalid_request", "agent.name")
    unpublished = await post_call(client, ready, agent_id=DROP, agent={"name": "x", "published": False})
    assert_error(unpublished, 400, "agent_not_published")


async def test_agent_id_and_agent_both_or_neither_are_refused(
    client: httpx.AsyncClient, ready: Ready
) -> None:
    both = await post_call(client, ready, agent={"name": "Inline"})
    assert_error(both, 400, "invalid_request", "agent_id")
    neither = await post_call(client, ready, agent_id=DROP)
    assert_error(neither, 400, "invalid_request", "agent_id")


async def test_unknown_other_orgs_and_unpublished_agents(
    client: httpx.AsyncClient, ready: Ready, seed: Seed
) -> None:
    other = await seed.tenant("globex")
    foreign_agent = await seed.agent(other.org_id)
    draft = await seed.agent(ready.tenant.org_id, "Draft", published=False)

    assert_error(await post_call(client, ready, agent_id="nope"), 404, "agent_not_found", "agent_id")
    assert_error(await post_call(client, ready, agent_id=foreign_agent), 404, "agent_not_found", "agent_id")
    assert_error(await post_call(client, ready, agent_id=draft), 400, "agent_not_published", "agent_id")


async def test_variables_must_match_the_agents_input_parameters(
    client: httpx.AsyncClient, ready: Ready, seed: Seed, db: Database
) -> None:
    params = [{"name": "first_name", "required": True}, {"name": "slot", "required": False}]
    agent_id = await seed.agent(ready.tenant.org_id, "Greeter", input_parameters=params)

    missing = await post_call(client, ready, agent_id=agent_id, variables={"slot": "2pm"})
    assert_error(missing, 400, "invalid_variables", "variables")
    unknown = await post_call(client, ready, agent_id=agent_id, variables={"first_name": "Jo", "age": 4})
    assert_error(unknown, 400, "invalid_variables", "variables")
    nested = await post_call(client, ready, agent_id=agent_id, variables={"first_name": {"a": 1}})
    assert_error(nested, 400, "invalid_request")
    ok = await post_call(
        client, ready, agent_id=agent_id, from_number=ready.number, variables={"first_name": "Jo"}
    )
    assert ok.status_code == 202, ok.text
    assert (await stored_call(db, ok.json()["id"])).variables == {"first_name": "Jo"}
    no_params = await post_call(client, ready, variables={"first_name": "Jo"})  # the ready agent has none
    assert_error(no_params, 400, "invalid_variables")


async def test_metadata_is_echoed_verbatim_key_order_and_values(
    client: httpx.AsyncClient, ready: Ready
) -> None:
    raw = (
        '{"zeta": 1, "alpha": {"y": [3, 2.5, "é", null, true], "b": "x"}, '
        '"big": 12345678901234567890, "f": 0.1}'
    )
    body = (
        '{"agent_id": "%s", "to_number": "%s", "metadata": %s}' % (ready.agent_id, CALLEE, raw)  # noqa: UP031
    ).encode()
    headers = {**ready.tenant.headers, "Content-Type": "application/json"}

    r = await client.post("/v1/calls", content=body, headers=headers)
    assert r.status_code == 202, r.text
    got = await client.get(f"/v1/calls/{r.json()['id']}", headers=ready.tenant.headers)
    listed = await client.get("/v1/calls", headers=ready.tenant.headers)

    for record in (got.json(), listed.json()["data"][0]):
        echoed = record["request_metadata"]
        assert list(echoed) == ["zeta", "alpha", "big", "f"]
        assert list(echoed["alpha"]) == ["y", "b"]
        assert echoed == {
            "zeta": 1,
            "alpha": {"y": [3, 2.5, "é", None, True], "b": "x"},
            "big": 12345678901234567890,
            "f": 0.1,
        }


async def test_caller_number_defaults_to_the_agents_outbound_number(
    client: httpx.AsyncClient, ready: Ready, seed: Seed, db: Database
) -> None:
    second_agent = await seed.agent(ready.tenant.org_id, "Sales")
    own = await seed.number(ready.tenant.org_id, "+14155550199", outbound_agent_id=second_agent)

    r = await post_call(client, ready, agent_id=second_agent)
    assert r.status_code == 202, r.text
    call = await stored_call(db, r.json()["id"])
    assert (call.from_number, call.phone_number_id) == ("+14155550199", own)

    # An agent with no number of its own, in an org with two VoIP numbers: the caller must say which.
    third = await seed.agent(ready.tenant.org_id, "Support")
    assert_error(await post_call(client, ready, agent_id=third), 400, "invalid_request", "from_number")
    by_id = await post_call(client, ready, agent_id=third, phone_number_id=own)
    assert by_id.status_code == 202, by_id.text


async def test_the_orgs_only_voip_number_is_the_default(
    client: httpx.AsyncClient, seed: Seed, db: Database
) -> None:
    tenant = await seed.tenant("solo")
    agent_id = await seed.agent(tenant.org_id)
    await seed.number(tenant.org_id, "+442071838750", kind="demo", trunk_id=None)
    headers = tenant.headers

    none = await client.post("/v1/calls", json={"agent_id": agent_id, "to_number": CALLEE}, headers=headers)
    assert_error(none, 400, "invalid_request", "from_number")

    only = await seed.number(tenant.org_id, "+14155550123")
    r = await client.post("/v1/calls", json={"agent_id": agent_id, "to_number": CALLEE}, headers=headers)
    assert r.status_code == 202, r.text
    assert (await stored_call(db, r.json()["id"])).phone_number_id == only


async def test_caller_numbers_that_cannot_place_calls(
    client: httpx.AsyncClient, ready: Ready, seed: Seed
) -> None:
    org = ready.tenant.org_id
    demo = await seed.number(org, "+14155550111", kind="demo", trunk_id=None)
    await seed.number(org, "+14155550122", verified=False)
    other = await seed.tenant("globex")
    await seed.number(other.org_id, "+14155550133")

    assert_error(
        await post_call(client, ready, from_number="+14155550111"),
        403,
        "outbound_blocked_demo_number",
        "from_number",
    )
    assert_error(
        await post_call(client, ready, phone_number_id=demo),
        403,
        "outbound_blocked_demo_number",
        "phone_number_id",
    )
    assert_error(
        await post_call(client, ready, from_number="+14155550122"), 403, "number_unverified", "from_number"
    )
    assert_error(
        await post_call(client, ready, from_number="+14155550133"),
        404,
        "from_number_not_found",
        "from_number",
    )
    assert_error(
        await post_call(client, ready, from_number="+14155550199"),
        404,
        "from_number_not_found",
        "from_number",
    )
    assert_error(
        await post_call(client, ready, phone_number_id="nope"),
        404,
        "from_number_not_found",
        "phone_number_id",
    )
    both = await post_call(client, ready, from_number=ready.number, phone_number_id=ready.number_id)
    assert_error(both, 400, "invalid_request", "from_number")


async def test_the_agents_own_unverified_number_blocks_its_calls(
    client: httpx.AsyncClient, ready: Ready, seed: Seed
) -> None:
    agent_id = await seed.agent(ready.tenant.org_id, "Fresh")
    await seed.number(ready.tenant.org_id, "+14155550144", verified=False, outbound_agent_id=agent_id)

    assert_error(await post_call(client, ready, agent_id=agent_id), 403, "number_unverified", "from_number")


async def test_a_national_from_number_is_matched_with_country_code(
    client: httpx.AsyncClient, ready: Ready, db: Database
) -> None:
    r = await post_call(client, ready, to_number="8135551234", from_number="415-555-0100", country_code="US")

    assert r.status_code == 202, r.text
    assert (await stored_call(db, r.json()["id"])).phone_number_id == ready.number_id


async def test_a_key_scoped_to_an_agent_places_only_that_agents_calls(
    client: httpx.AsyncClient, ready: Ready, seed: Seed
) -> None:
    scoped = await seed.tenant("acme", agent_id=ready.agent_id)
    other_agent = await seed.agent(ready.tenant.org_id, "Other")

    own = await client.post(
        "/v1/calls", json={"agent_id": ready.agent_id, "to_number": CALLEE}, headers=scoped.headers
    )
    assert own.status_code == 202, own.text
    foreign = await client.post(
        "/v1/calls", json={"agent_id": other_agent, "to_number": CALLEE}, headers=scoped.headers
    )
    assert_error(foreign, 404, "agent_not_found")
    inline = await client.post(
        "/v1/calls",
        json={"agent": {"name": "x"}, "to_number": CALLEE, "from_number": ready.number},
        headers=scoped.headers,
    )
    assert_error(inline, 403, "forbidden", "agent")


async def test_requests_without_a_valid_key_are_401(client: httpx.AsyncClient, ready: Ready) -> None:
    body = {"agent_id": ready.agent_id, "to_number": CALLEE}
    assert_error(await client.post("/v1/calls", json=body), 401, "unauthorized")
    bad = {"Authorization": "Bearer od_not_a_key"}
    assert_error(await client.post("/v1/calls", json=body, headers=bad), 401, "unauthorized")


async def test_malformed_bodies_are_400_envelopes(client: httpx.AsyncClient, ready: Ready) -> None:
    headers = {**ready.tenant.headers, "Content-Type": "application/json"}
    assert_error(
        await client.post("/v1/calls", content=b"{not json", headers=headers), 400, "invalid_request"
    )
    assert_error(await client.post("/v1/calls", content=b"[]", headers=headers), 400, "invalid_request")
    assert_error(await post_call(client, ready, surprise=1), 400, "invalid_request", "surprise")
    assert_error(await post_call(client, ready, to_number=DROP), 400, "invalid_request", "to_number")


async def test_a_refusing_pre_create_check_leaves_nothing_behind(ready: Ready, db: Database) -> None:
    """The extension point DNC and billing use: a check's ApiError refuses the call; nothing is written."""
    seen: list[tuple[str, str]] = []

    async def refuse(session: AsyncSession, call: Call) -> None:
        seen.append((call.to_number, call.from_number))
        raise ApiError(403, "number_on_dnc_list", "The callee asked not to be called.", "to_number")

    principal = Principal(org_id=ready.tenant.org_id, key_id=ready.tenant.key_id)
    request = parse_create_request({"agent_id": ready.agent_id, "to_number": CALLEE})
    async with db.session() as s:
        with pytest.raises(ApiError) as refused:
            await create_call(s, principal, request, idempotency_key="k", checks=[refuse])
    assert (refused.value.status, refused.value.code) == (403, "number_on_dnc_list")
    assert seen == [(CALLEE, ready.number)]
    assert await count_calls(db, ready.tenant.org_id) == 0
    async with db.session() as s:  # the key was not kept: the same request can be retried
        again = await create_call(s, principal, request, idempotency_key="k", checks=[])
    assert not again.replayed and again.call.status == "queued"


async def test_creating_a_call_wakes_the_dialers(
    client: httpx.AsyncClient, ready: Ready, db: Database
) -> None:
    messages: list[str] = []
    if db.is_sqlite:
        unsubscribe = LocalHub.for_url(db.url).subscribe(messages.append)
        try:
            assert (await post_call(client, ready)).status_code == 202
        finally:
            unsubscribe()
        assert messages == [NEW_CALL]
        return
    listener = Listener(db.url, messages.append)
    await listener.start()
    try:
        messages.clear()  # a listener polls once when it connects
        assert (await post_call(client, ready)).status_code == 202
        for _ in range(100):
            if messages:
                break
            await asyncio.sleep(0.02)
    finally:
        await listener.stop()
    assert messages and set(messages) == {NEW_CALL}
