"""/v1/agents: CRUD, defaults, validation at each limit, redacted provider keys, outbound number link."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import Seed, Tenant, expect_error

DEFAULTS = {
    "published": True,
    "speak_order": "agent_first",
    "language": "en-US",
    "input_parameters": [],
    "brain": {"type": "flow", "steps": []},
    "stt": {"provider": "pocketsphinx"},
    "tts": {"provider": "espeak"},
    "vad": {"provider": "webrtc"},
    "ring_timeout_seconds": 45,
    "max_duration_seconds": 600,
    "max_hold_seconds": None,
    "record": True,
    "voicemail": "hangup",
}


async def _create(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    r = await client.post("/v1/agents", json={"name": "Reminder", **body}, headers=tenant.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_create_with_only_a_name_fills_working_offline_defaults(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    agent = await _create(client, tenant)
    assert agent["name"] == "Reminder"
    for field, value in DEFAULTS.items():
        assert agent[field] == value, field
    assert agent["prompt"] and agent["first_message"]
    assert agent["silence_timeout_seconds"] > 0
    assert agent["outbound_phone_number_id"] is None
    assert set(agent) >= {"id", "created_at", "updated_at"}


async def test_get_returns_what_create_returned(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await _create(
        client,
        tenant,
        prompt="Confirm the appointment.",
        speak_order="user_first",
        input_parameters=[{"name": "first_name", "required": True, "description": "Callee's name"}],
        max_hold_seconds=30,
        record=False,
        voicemail="leave_message",
    )
    r = await client.get(f"/v1/agents/{created['id']}", headers=tenant.headers)
    assert r.status_code == 200
    assert r.json() == created
    assert r.json()["input_parameters"] == [
        {"name": "first_name", "required": True, "description": "Callee's name"}
    ]


async def test_seeded_agent_with_empty_config_reads_with_defaults(
    client: httpx.AsyncClient, seed: Seed, tenant: Tenant
) -> None:
    agent_id = await seed.agent(tenant.org_id, "Bare")
    r = await client.get(f"/v1/agents/{agent_id}", headers=tenant.headers)
    assert r.status_code == 200
    assert r.json()["ring_timeout_seconds"] == 45 and r.json()["max_duration_seconds"] == 600


async def test_list_is_newest_first_with_the_shared_pagination_shape(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    ids = [(await _create(client, tenant, name=f"a{i}"))["id"] for i in range(3)]
    r = await client.get("/v1/agents", params={"limit": 2}, headers=tenant.headers)
    assert r.status_code == 200
    body = r.json()
    assert [a["id"] for a in body["data"]] == ids[::-1][:2]
    assert body["pagination"] == {
        "page": 1,
        "limit": 2,
        "total": 3,
        "totalPages": 2,
        "hasNext": True,
        "hasPrev": False,
    }
    page2 = (await client.get("/v1/agents", params={"limit": 2, "page": 2}, headers=tenant.headers)).json()
    assert [a["id"] for a in page2["data"]] == [ids[0]]
    assert page2["pagination"]["hasNext"] is False and page2["pagination"]["hasPrev"] is True


async def test_list_filters_on_published(client: httpx.AsyncClient, tenant: Tenant) -> None:
    live = await _create(client, tenant, name="live")
    await _create(client, tenant, name="draft", published=False)
    r = await client.get("/v1/agents", params={"published": "true"}, headers=tenant.headers)
    assert [a["id"] for a in r.json()["data"]] == [live["id"]]


@pytest.mark.parametrize(("limit", "status"), [(0, 400), (1, 200), (100, 200), (101, 400)])
async def test_list_limit_edges(client: httpx.AsyncClient, tenant: Tenant, limit: int, status: int) -> None:
    r = await client.get("/v1/agents", params={"limit": limit}, headers=tenant.headers)
    assert r.status_code == status
    if status == 400:
        expect_error(r, 400, "invalid_request", "limit")


async def test_patch_changes_only_the_fields_sent(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await _create(client, tenant, prompt="Original prompt.", max_hold_seconds=30)
    r = await client.patch(
        f"/v1/agents/{created['id']}",
        json={"first_message": "Hello again!", "max_hold_seconds": None, "published": False},
        headers=tenant.headers,
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["first_message"] == "Hello again!"
    assert got["max_hold_seconds"] is None and got["published"] is False
    assert got["prompt"] == "Original prompt." and got["name"] == "Reminder"
    assert (await client.get(f"/v1/agents/{created['id']}", headers=tenant.headers)).json() == got


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"ring_timeout_seconds": 4}, "ring_timeout_seconds"),
        ({"unknown_field": 1}, "unknown_field"),
    ],
)
async def test_patch_rejects_invalid_values(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], param: str
) -> None:
    created = await _create(client, tenant)
    r = await client.patch(f"/v1/agents/{created['id']}", json=body, headers=tenant.headers)
    expect_error(r, 400, "invalid_request", param)
    unchanged = (await client.get(f"/v1/agents/{created['id']}", headers=tenant.headers)).json()
    assert unchanged == created


@pytest.mark.parametrize(
    ("field", "low", "high"),
    [
        ("ring_timeout_seconds", 5, 300),
        ("max_duration_seconds", 10, 14400),
        ("max_hold_seconds", 1, 3600),
        ("silence_timeout_seconds", 0.5, 600),
    ],
)
async def test_numeric_limits_accept_their_edges_and_reject_beyond(
    client: httpx.AsyncClient, tenant: Tenant, field: str, low: float, high: float
) -> None:
    for ok in (low, high):
        r = await client.post("/v1/agents", json={"name": "edge", field: ok}, headers=tenant.headers)
        assert r.status_code == 201, (field, ok, r.text)
        assert r.json()[field] == ok
    below = low - (0.1 if isinstance(low, float) else 1)
    for bad in (below, high + 1):
        r = await client.post("/v1/agents", json={"name": "edge", field: bad}, headers=tenant.headers)
        expect_error(r, 400, "invalid_request", field)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "a", "speak_order": "whoever"}, "speak_order"),
        ({"name": "a", "voicemail": "sing"}, "voicemail"),
        ({"name": "a", "first_message": "x" * 2001}, "first_message"),
        ({"name": "a", "prompt": "x" * 20001}, "prompt"),
        ({"name": "a", "input_parameters": [{"name": "1bad"}]}, "input_parameters.0.name"),
        ({"name": "a", "input_parameters": [{"name": "x"}, {"name": "x"}]}, "input_parameters"),
        ({"name": "a", "stt": {}}, "stt"),
        ({"name": "a", "brain": {"type": "oracle"}}, "brain"),
        ({"name": "a", "color": "blue"}, "color"),
    ],
)
async def test_create_rejects_invalid_agents(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], param: str
) -> None:
    r = await client.post("/v1/agents", json=body, headers=tenant.headers)
    error = expect_error(r, 400, "invalid_request")
    assert error["param"] == param or error["param"].startswith(param), error


async def test_name_at_its_length_limit_is_accepted(client: httpx.AsyncClient, tenant: Tenant) -> None:
    agent = await _create(client, tenant, name="x" * 200)
    assert agent["name"] == "x" * 200


async def test_unknown_provider_is_a_clear_400_at_creation(client: httpx.AsyncClient, tenant: Tenant) -> None:
    r = await client.post(
        "/v1/agents", json={"name": "a", "tts": {"provider": "nonesuch"}}, headers=tenant.headers
    )
    error = expect_error(r, 400, "unknown_provider", "tts.provider")
    assert "nonesuch" in error["message"]


async def test_llm_brain_without_an_api_key_is_refused_at_creation(
    client: httpx.AsyncClient, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    r = await client.post("/v1/agents", json={"name": "a", "brain": {"type": "llm"}}, headers=tenant.headers)
    error = expect_error(r, 400, "missing_api_key", "brain.api_key")
    assert "api_key" in error["message"]


async def test_provider_api_keys_are_redacted_and_kept_when_sent_back(
    client: httpx.AsyncClient, tenant: Tenant, seed: Seed
) -> None:
    secret = "sk-test-0123456789abcdef"
    agent = await _create(client, tenant, brain={"type": "llm", "model": "gpt-4o-mini", "api_key": secret})
    assert agent["brain"]["api_key"] == "****cdef"
    assert secret not in (await client.get(f"/v1/agents/{agent['id']}", headers=tenant.headers)).text
    # Read, edit, write back: the redacted key keeps the stored secret.
    brain = {**agent["brain"], "temperature": 0.9}
    r = await client.patch(f"/v1/agents/{agent['id']}", json={"brain": brain}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["brain"]["temperature"] == 0.9 and r.json()["brain"]["api_key"] == "****cdef"
    from outdial.store.models import Agent

    async with seed.db.session() as s:
        stored = await s.get(Agent, agent["id"])
        assert stored is not None and stored.config["brain"]["api_key"] == secret


async def test_outbound_phone_number_id_is_the_number_pointing_at_the_agent(
    client: httpx.AsyncClient, tenant: Tenant, seed: Seed
) -> None:
    agent = await _create(client, tenant)
    number_id = await seed.number(tenant.org_id, "+14155550123", outbound_agent_id=agent["id"])
    got = (await client.get(f"/v1/agents/{agent['id']}", headers=tenant.headers)).json()
    assert got["outbound_phone_number_id"] == number_id
    listed = (await client.get("/v1/agents", headers=tenant.headers)).json()["data"]
    assert listed[0]["outbound_phone_number_id"] == number_id


async def test_delete_removes_the_agent_unlinks_its_number_and_revokes_scoped_keys(
    client: httpx.AsyncClient, tenant: Tenant, seed: Seed
) -> None:
    agent = await _create(client, tenant)
    number_id = await seed.number(tenant.org_id, "+14155550123", outbound_agent_id=agent["id"])
    scoped = await seed.tenant("acme", agent_id=agent["id"])
    r = await client.delete(f"/v1/agents/{agent['id']}", headers=tenant.headers)
    assert r.status_code == 204 and r.content == b""
    expect_error(
        await client.get(f"/v1/agents/{agent['id']}", headers=tenant.headers), 404, "agent_not_found"
    )
    number = (await client.get(f"/v1/phone-numbers/{number_id}", headers=tenant.headers)).json()
    assert number["outbound_agent_id"] is None
    expect_error(await client.get("/v1/organization", headers=scoped.headers), 401, "unauthorized")


async def test_missing_agent_is_404_on_every_route(client: httpx.AsyncClient, tenant: Tenant) -> None:
    path = "/v1/agents/does-not-exist"
    expect_error(await client.get(path, headers=tenant.headers), 404, "agent_not_found")
    expect_error(await client.patch(path, json={}, headers=tenant.headers), 404, "agent_not_found")
    expect_error(await client.delete(path, headers=tenant.headers), 404, "agent_not_found")


@pytest.mark.parametrize(
    ("field", "ok", "bad"),
    [
        ("prompt", "p" * 20000, "p" * 20001),
        ("first_message", "f" * 2000, "f" * 2001),
        ("language", "en", "e"),
        ("language", "x" * 16, "x" * 17),
        ("input_parameters", [{"name": "n" * 64}], [{"name": "n" * 65}]),
    ],
)
async def test_text_limits_accept_their_edges_and_reject_beyond(
    client: httpx.AsyncClient, tenant: Tenant, field: str, ok: Any, bad: Any
) -> None:
    r = await client.post("/v1/agents", json={"name": "edge", field: ok}, headers=tenant.headers)
    assert r.status_code == 201, r.text
    r = await client.post("/v1/agents", json={"name": "edge", field: bad}, headers=tenant.headers)
    error = expect_error(r, 400, "invalid_request")
    assert error["param"].startswith(field), error


@pytest.mark.parametrize(("page", "status"), [(0, 400), (1, 200), (1_000_000, 200), (1_000_001, 400)])
async def test_list_page_edges(client: httpx.AsyncClient, tenant: Tenant, page: int, status: int) -> None:
    r = await client.get("/v1/agents", params={"page": page}, headers=tenant.headers)
    assert r.status_code == status
    if status == 200:
        assert r.json()["data"] == [] and r.json()["pagination"]["page"] == page


async def test_a_stored_field_the_runtime_no_longer_knows_is_ignored(
    client: httpx.AsyncClient, seed: Seed, tenant: Tenant
) -> None:
    agent_id = await seed.agent(tenant.org_id, "Old", retired_option=True, prompt="Kept.")
    r = await client.get(f"/v1/agents/{agent_id}", headers=tenant.headers)
    assert r.status_code == 200 and r.json()["prompt"] == "Kept." and "retired_option" not in r.json()
