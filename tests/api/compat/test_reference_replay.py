"""Every request example of the vendor pages in ../shared/reference/, replayed as written.

Only the credential placeholders are replaced (with real keys); paths, ids, headers and bodies are
the page's own. Responses are checked field by field against the page's response examples. The
Twenty2 page repeats one request in five languages; its curl form is the one replayed.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import update

from outdial.store.models import Call, Transcript
from outdial.store.types import utcnow
from tests.api.compat.conftest import make_vendor
from tests.api.compat.reference import curl_examples, json_objects, page
from tests.api.conftest import Seed

TELZINO_AGENT = "123e4567-e89b-12d3-a456-426614174000"
TWENTY2_WORKSPACE = "69b671241b2dacf0c0f15885"
TWENTY2_AGENT = "69de483c68b23495c853b43a"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def same_shape(actual: Any, documented: Any, where: str = "") -> None:
    """``actual`` has exactly the documented keys, recursively, with values of compatible types."""
    if isinstance(documented, dict):
        assert isinstance(actual, dict), f"{where}: {actual!r} is not an object"
        assert set(actual) == set(documented), f"{where}: keys {sorted(actual)} != {sorted(documented)}"
        for key, value in documented.items():
            same_shape(actual[key], value, f"{where}.{key}")
    elif isinstance(documented, list):
        assert isinstance(actual, list), f"{where}: not a list"
        for i, item in enumerate(actual):
            same_shape(item, documented[0], f"{where}[{i}]")
    elif documented is None:
        pass  # documented as null: any value once the field is set
    elif isinstance(documented, bool):
        assert isinstance(actual, bool), f"{where}: {actual!r} is not a boolean"
    elif isinstance(documented, int):
        assert isinstance(actual, int) and not isinstance(actual, bool), f"{where}: {actual!r} not an integer"
    elif isinstance(documented, str):
        assert isinstance(actual, str), f"{where}: {actual!r} is not a string"
        if _is_time(documented):
            datetime.fromisoformat(actual)


def _is_time(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return "T" in text


async def send(client: httpx.AsyncClient, ex: Any, replace: dict[str, str]) -> httpx.Response:
    headers = dict(ex.headers)
    for name, value in headers.items():
        for placeholder, real in replace.items():
            value = value.replace(placeholder, real)
        headers[name] = value
    content = ex.body.encode() if ex.body is not None else None
    return await client.request(ex.method, ex.path, headers=headers, content=content)


async def test_telzino_create_examples_are_accepted_as_written(client: httpx.AsyncClient, seed: Seed) -> None:
    vendor = await make_vendor(seed, "telzino-co", agent_id=TELZINO_AGENT)
    text = page("telzino-create-outbound-call.txt")
    documented = json_objects(text)[0]
    examples = curl_examples(text)
    assert len(examples) == 2
    for ex in examples:
        r = await send(client, ex, {"YOUR_ACCESS_TOKEN": vendor.tenant.api_key})
        assert r.status_code == 202, r.text
        body = r.json()
        same_shape(body, documented)
        assert body["status"] == "queued"
        assert UUID.match(body["id"])
        assert body["room_name"] == f"agent-{TELZINO_AGENT}-out-{body['id']}"
        native = (await client.get(f"/v1/calls/{body['id']}", headers=vendor.tenant.headers)).json()
        assert native["request_metadata"] == ex.json()["metadata"]  # type: ignore[index]
        assert native["call_context"] == ex.json()["call_context"]  # type: ignore[index]
        assert native["source"] == "telzino"


async def test_telzino_list_example_answers_in_the_documented_shape(
    client: httpx.AsyncClient, seed: Seed, db: Any
) -> None:
    vendor = await make_vendor(seed, "telzino-co", agent_id=TELZINO_AGENT)
    created = await client.post(
        f"/v1/agents/{TELZINO_AGENT}/outbound-calls",
        json={"to_number": "+18135551234", "metadata": {"crm_id": "123"}},
        headers=vendor.tenant.headers,
    )
    call_id = created.json()["id"]
    now = utcnow()
    async with db.transaction() as s:  # the call ran: the page lists completed calls
        transcript = Transcript(org_id=vendor.tenant.org_id, call_id=call_id, turns=[])
        s.add(transcript)
        await s.flush()
        await s.execute(
            update(Call)
            .where(Call.id == call_id)
            .values(
                status="completed",
                end_reason="callee_hangup",
                answered_at=now,
                ended_at=now,
                duration_seconds=251,
                transcript_id=transcript.id,
            )
        )
    text = page("telzino-list-outbound-calls.txt")
    documented = json_objects(text)[0]
    for ex in curl_examples(text):
        r = await send(client, ex, {"YOUR_ACCESS_TOKEN": vendor.tenant.api_key})
        assert r.status_code == 200, r.text
        body = r.json()
        same_shape(body, documented)
        assert body["pagination"] == {
            "page": 1,
            "limit": 25,
            "total": 1,
            "totalPages": 1,
            "hasNext": False,
            "hasPrev": False,
        }
        [record] = body["data"]
        assert record["id"] == call_id
        assert record["status"] == "completed"
        assert record["duration"] == 251
        assert record["request_metadata"] == {"crm_id": "123"}


async def test_twenty2_example_is_accepted_as_written(client: httpx.AsyncClient, seed: Seed) -> None:
    vendor = await make_vendor(
        seed,
        "twenty2-co",
        org_id=TWENTY2_WORKSPACE,
        agent_id=TWENTY2_AGENT,
        number="+919999999999",
        default_country="IN",
        input_parameters=[{"name": "agentName", "required": True, "description": "Who calls"}],
    )
    text = page("twenty2-trigger-outbound-call.txt")
    success, invalid_agent, unauthorized = json_objects(text)
    [ex] = curl_examples(text)
    r = await send(client, ex, {"YOUR_CREDENTIALS": vendor.basic.removeprefix("Basic ")})
    assert r.status_code == 200, r.text
    body = r.json()
    same_shape(body, success)
    assert body["success"] is True and body["status"] == "initiated"
    assert body["message"] == "Call queued successfully."
    native = (await client.get(f"/v1/calls/{body['call_id']}", headers=vendor.tenant.headers)).json()
    assert native["to_number"] == "+919999999999" and native["from_number"] == "+919999999999"
    assert native["variables"] == {"agentName": "Rohit"}
    assert native["source"] == "twenty2"

    # The page's two error examples, produced by the same request with the fault each names.
    r = await send(client, ex, {"YOUR_CREDENTIALS": "bm90OnJpZ2h0"})
    assert r.status_code == 401
    assert r.json() == unauthorized
    wrong_agent = ex.body.replace(TWENTY2_AGENT, "000000000000000000000000")  # type: ignore[union-attr]
    r = await client.post(ex.path, content=wrong_agent, headers={**ex.headers, "Authorization": vendor.basic})
    assert r.status_code == 400
    assert r.json() == invalid_agent


async def test_polyai_examples(client: httpx.AsyncClient, seed: Seed) -> None:
    vendor = await make_vendor(seed, "poly-co", trunk_transport="tls", trunk_media="srtp")
    text = page("polyai-outbound-calling.txt")
    objects = json_objects(text)
    documented = objects[1]
    template, example = curl_examples(text)

    # The template sends placeholders ("<string>"): an unparseable number and encryption → 400.
    r = await send(client, template, {"<x-polyai-auth-token>": vendor.scoped_key})
    assert r.status_code == 400, r.text

    r = await send(client, example, {"YOUR_AUTH_TOKEN": vendor.scoped_key})
    assert r.status_code == 200, r.text
    body = r.json()
    same_shape(body, documented)
    assert body["call_sid"].startswith("OUT-") and UUID.match(body["call_sid"][4:])
    native = (await client.get(f"/v1/calls/{body['call_sid'][4:]}", headers=vendor.tenant.headers)).json()
    sent = example.json()["metadata"]  # type: ignore[index]
    assert native["request_metadata"] == sent
    assert native["source"] == "polyai"
    status = await client.get(
        f"/v1/outbound-calling/{body['call_sid']}/status", headers={"X-PolyAi-Auth-Token": vendor.scoped_key}
    )
    assert status.status_code == 200
    assert status.json() == {"call_sid": body["call_sid"], "status": "queued", "reason": None}
