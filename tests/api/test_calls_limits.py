"""POST /v1/calls: every limit at its edge, on both sides (the last accepted and the first refused value).

Each test walks a table of cases against one app and database; a failure names its case.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from outdial.calls.validation import metadata_size
from outdial.config import Settings
from outdial.store.db import Database
from tests.api.conftest import Ready
from tests.api.test_calls_support import assert_error, post_call, stored_call

Case = tuple[str, dict[str, Any], int, str | None, str | None]  # name, body, status, code, param


def _metadata_of_size(size: int, filler: str = "x") -> dict[str, str]:
    """A metadata object whose compact UTF-8 JSON is exactly ``size`` bytes."""
    per_char = len(filler.encode())
    overhead = metadata_size({"k": ""})
    n, rest = divmod(size - overhead, per_char)
    value = filler * n + "x" * rest
    out = {"k": value}
    assert metadata_size(out) == size
    return out


async def _walk(client: httpx.AsyncClient, ready: Ready, cases: list[Case]) -> None:
    for name, body, status, code, param in cases:
        r = await post_call(client, ready, **body)
        assert r.status_code == status, f"{name}: {r.status_code} {r.text}"
        if code is not None:
            assert_error(r, status, code, param)


async def test_call_context_is_at_most_4000_characters(client: httpx.AsyncClient, ready: Ready) -> None:
    await _walk(
        client,
        ready,
        [
            ("4000 chars", {"call_context": "x" * 4000}, 202, None, None),
            ("4000 multi-byte chars", {"call_context": "é" * 4000}, 202, None, None),
            ("4001 chars", {"call_context": "x" * 4001}, 400, "call_context_too_long", "call_context"),
            ("null", {"call_context": None}, 202, None, None),
        ],
    )


async def test_metadata_is_at_most_16384_bytes_serialized(client: httpx.AsyncClient, ready: Ready) -> None:
    await _walk(
        client,
        ready,
        [
            ("16384 bytes", {"metadata": _metadata_of_size(16384)}, 202, None, None),
            ("16385 bytes", {"metadata": _metadata_of_size(16385)}, 400, "metadata_too_large", "metadata"),
            # Bytes, not characters: 2-byte characters reach the limit at half the length.
            ("16384 bytes of é", {"metadata": _metadata_of_size(16384, "é")}, 202, None, None),
            (
                "16385 bytes of é",
                {"metadata": _metadata_of_size(16385, "é")},
                400,
                "metadata_too_large",
                "metadata",
            ),
            ("an array", {"metadata": [1, 2]}, 400, "invalid_request", "metadata"),
            ("a string", {"metadata": "crm-1"}, 400, "invalid_request", "metadata"),
            ("null", {"metadata": None}, 202, None, None),
        ],
    )


async def test_timer_overrides_are_bounded(client: httpx.AsyncClient, ready: Ready, db: Database) -> None:
    cases: list[Case] = []
    for field, low, high in (
        ("ring_timeout_seconds", 5, 120),
        ("max_duration_seconds", 10, 14400),
        ("max_hold_seconds", 5, 3600),
    ):
        cases += [
            (f"{field}={low - 1}", {field: low - 1}, 400, "invalid_request", field),
            (f"{field}={low}", {field: low}, 202, None, None),
            (f"{field}={high}", {field: high}, 202, None, None),
            (f"{field}={high + 1}", {field: high + 1}, 400, "invalid_request", field),
            (f"{field}=1.5", {field: 1.5}, 400, "invalid_request", field),
        ]
    await _walk(client, ready, cases)
    r = await post_call(
        client, ready, ring_timeout_seconds=5, max_duration_seconds=14400, max_hold_seconds=3600
    )
    call = await stored_call(db, r.json()["id"])
    assert (call.ring_timeout_seconds, call.max_duration_seconds, call.max_hold_seconds) == (5, 14400, 3600)


async def test_retry_policy_is_bounded(client: httpx.AsyncClient, ready: Ready, db: Database) -> None:
    def retry(**kw: Any) -> dict[str, Any]:
        return {"retry": {"max_attempts": 3, "on": ["no_answer"], **kw}}

    await _walk(
        client,
        ready,
        [
            ("max_attempts 0", retry(max_attempts=0), 400, "invalid_request", "retry.max_attempts"),
            ("max_attempts 1", retry(max_attempts=1), 202, None, None),
            ("max_attempts 10", retry(max_attempts=10), 202, None, None),
            ("max_attempts 11", retry(max_attempts=11), 400, "invalid_request", "retry.max_attempts"),
            ("every category", retry(on=["no_answer", "busy", "failed", "voicemail"]), 202, None, None),
            ("unknown category", retry(on=["hangup"]), 400, "invalid_request", "retry.on.0"),
            ("empty on", retry(on=[]), 400, "invalid_request", "retry.on"),
            ("repeated category", retry(on=["busy", "busy"]), 400, "invalid_request", "retry.on"),
            ("delay 9", retry(delay_seconds=9), 400, "invalid_request", "retry.delay_seconds"),
            ("delay 10", retry(delay_seconds=10), 202, None, None),
            ("delay 86400", retry(delay_seconds=86400), 202, None, None),
            ("delay 86401", retry(delay_seconds=86401), 400, "invalid_request", "retry.delay_seconds"),
            ("backoff 0.99", retry(backoff=0.99), 400, "invalid_request", "retry.backoff"),
            ("backoff 1", retry(backoff=1), 202, None, None),
            ("backoff 10", retry(backoff=10), 202, None, None),
            ("backoff 10.01", retry(backoff=10.01), 400, "invalid_request", "retry.backoff"),
            ("unknown field", retry(jitter=True), 400, "invalid_request", "retry.jitter"),
        ],
    )
    r = await post_call(client, ready, retry={"max_attempts": 2})
    assert (await stored_call(db, r.json()["id"])).retry == {
        "max_attempts": 2,
        "on": ["no_answer", "busy", "failed"],
        "delay_seconds": 60,
        "backoff": 1.0,
    }


async def test_calling_window_is_validated(client: httpx.AsyncClient, ready: Ready, db: Database) -> None:
    def window(**kw: Any) -> dict[str, Any]:
        return {"calling_window": {"start": "09:00", "end": "18:00", **kw}}

    await _walk(
        client,
        ready,
        [
            ("weekdays in Paris", window(days=["mon", "fri"], timezone="Europe/Paris"), 202, None, None),
            ("over midnight", window(start="22:00", end="06:00"), 202, None, None),
            ("until midnight", window(start="00:00", end="24:00"), 202, None, None),
            ("23:59", window(end="23:59"), 202, None, None),
            ("24:00 start", window(start="24:00"), 400, "invalid_request", "calling_window.start"),
            ("hour 25", window(end="25:00"), 400, "invalid_request", "calling_window.end"),
            ("no minutes", window(start="9"), 400, "invalid_request", "calling_window.start"),
            ("empty window", window(end="09:00"), 400, "invalid_request", "calling_window"),
            (
                "unknown zone",
                window(timezone="Mars/Olympus"),
                400,
                "invalid_request",
                "calling_window.timezone",
            ),
            ("unknown day", window(days=["mon", "funday"]), 400, "invalid_request", "calling_window.days.1"),
            ("repeated day", window(days=["mon", "mon"]), 400, "invalid_request", "calling_window.days"),
            ("no days", window(days=[]), 400, "invalid_request", "calling_window.days"),
        ],
    )
    r = await post_call(
        client, ready, calling_window={"start": "09:00", "end": "17:30", "days": ["fri", "mon"]}
    )
    assert (await stored_call(db, r.json()["id"])).calling_window == {
        "start": "09:00",
        "end": "17:30",
        "days": ["mon", "fri"],
        "timezone": None,  # the dialer reads the window in the callee's zones
    }


async def test_sip_headers_are_x_headers_of_bounded_size(
    client: httpx.AsyncClient, ready: Ready, db: Database
) -> None:
    name64 = "X-" + "a" * 62
    await _walk(
        client,
        ready,
        [
            ("one X- header", {"sip_headers": {"X-Campaign": "c-11"}}, 202, None, None),
            ("lower-case x-", {"sip_headers": {"x-crm": "1"}}, 202, None, None),
            ("not X-", {"sip_headers": {"Campaign": "c"}}, 400, "invalid_request", "sip_headers"),
            ("bare X-", {"sip_headers": {"X-": "c"}}, 400, "invalid_request", "sip_headers"),
            ("space in name", {"sip_headers": {"X-Cam paign": "c"}}, 400, "invalid_request", "sip_headers"),
            ("colon in name", {"sip_headers": {"X-A:B": "c"}}, 400, "invalid_request", "sip_headers"),
            (
                "CRLF injection",
                {"sip_headers": {"X-A": "1\r\nVia: evil"}},
                400,
                "invalid_request",
                "sip_headers",
            ),
            ("bare LF", {"sip_headers": {"X-A": "1\nB"}}, 400, "invalid_request", "sip_headers"),
            ("NUL", {"sip_headers": {"X-A": "1\x00"}}, 400, "invalid_request", None),
            (
                "twice, any case",
                {"sip_headers": {"X-A": "1", "x-a": "2"}},
                400,
                "invalid_request",
                "sip_headers",
            ),
            ("name of 64", {"sip_headers": {name64: "v"}}, 202, None, None),
            ("name of 65", {"sip_headers": {name64 + "b": "v"}}, 400, "invalid_request", "sip_headers"),
            ("value of 256", {"sip_headers": {"X-A": "v" * 256}}, 202, None, None),
            ("value of 257", {"sip_headers": {"X-A": "v" * 257}}, 400, "invalid_request", "sip_headers"),
            ("20 headers", {"sip_headers": {f"X-H{i}": "v" for i in range(20)}}, 202, None, None),
            (
                "21 headers",
                {"sip_headers": {f"X-H{i}": "v" for i in range(21)}},
                400,
                "invalid_request",
                None,
            ),
            (
                "4096 bytes in all",
                {"sip_headers": {f"X-H{i:02d}": "v" * (256 - 5) for i in range(16)}},
                202,
                None,
                None,
            ),
            (
                "4097 bytes in all",
                {"sip_headers": {**{f"X-H{i:02d}": "v" * (256 - 5) for i in range(16)}, "X-Z": "v"}},
                400,
                "invalid_request",
                "sip_headers",
            ),
            ("number value", {"sip_headers": {"X-A": 1}}, 400, "invalid_request", "sip_headers.X-A"),
        ],
    )
    r = await post_call(client, ready, sip_headers={"X-Campaign": "c-11", "X-Crm": "42"})
    assert (await stored_call(db, r.json()["id"])).sip_headers == {"X-Campaign": "c-11", "X-Crm": "42"}


async def test_variables_and_identifiers_are_bounded(client: httpx.AsyncClient, ready: Ready) -> None:
    await _walk(
        client,
        ready,
        [
            ("to_number of 33", {"to_number": "+1" + "8" * 31}, 400, "invalid_request", "to_number"),
            ("agent_id of 65", {"agent_id": "a" * 65}, 400, "invalid_request", "agent_id"),
            (
                "65 variables",
                {"variables": {f"v{i}": 1 for i in range(65)}},
                400,
                "invalid_request",
                "variables",
            ),
            ("value of 4001", {"variables": {"v": "x" * 4001}}, 400, "invalid_request", "variables"),
            (
                "callback of 2049",
                {"callback_url": "https://a.example/" + "p" * 2031},
                400,
                "invalid_request",
                "callback_url",
            ),
        ],
    )


class TestCallbackUrl:
    async def test_only_public_https_urls_without_credentials(
        self, client: httpx.AsyncClient, ready: Ready, db: Database
    ) -> None:
        bad = "invalid_callback_url"
        await _walk(
            client,
            ready,
            [
                ("public https name", {"callback_url": "https://your-system.com/hook"}, 202, None, None),
                ("public https address", {"callback_url": "https://93.184.215.14/hook"}, 202, None, None),
                ("http", {"callback_url": "http://your-system.com/hook"}, 400, bad, "callback_url"),
                ("credentials", {"callback_url": "https://u:p@your-system.com/"}, 400, bad, "callback_url"),
                ("loopback", {"callback_url": "https://127.0.0.1/hook"}, 400, bad, "callback_url"),
                ("loopback, decimal", {"callback_url": "https://2130706433/hook"}, 400, bad, "callback_url"),
                ("private", {"callback_url": "https://10.1.2.3/hook"}, 400, bad, "callback_url"),
                (
                    "link-local metadata",
                    {"callback_url": "https://169.254.169.254/"},
                    400,
                    bad,
                    "callback_url",
                ),
                ("CGNAT", {"callback_url": "https://100.64.0.1/"}, 400, bad, "callback_url"),
                ("IPv6 loopback", {"callback_url": "https://[::1]/"}, 400, bad, "callback_url"),
                ("mapped IPv4", {"callback_url": "https://[::ffff:10.0.0.1]/"}, 400, bad, "callback_url"),
                ("localhost", {"callback_url": "https://localhost/hook"}, 400, bad, "callback_url"),
                ("not a URL", {"callback_url": "callback"}, 400, bad, "callback_url"),
            ],
        )

    async def test_a_name_that_resolves_to_a_private_address_is_refused(
        self, client: httpx.AsyncClient, ready: Ready, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async def resolver(host: str, port: int) -> list[str]:
            return {"inside.example.com": ["10.0.0.7"], "outside.example.com": ["93.184.215.14"]}[host]

        monkeypatch.setattr("outdial.webhooks.urlsafety.system_resolver", resolver)
        inside = await post_call(client, ready, callback_url="https://inside.example.com/hook")
        assert_error(inside, 400, "invalid_callback_url", "callback_url")
        outside = await post_call(client, ready, callback_url="https://outside.example.com/hook")
        assert outside.status_code == 202, outside.text


class TestPrivateCallbacksAllowed:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.model_copy(update={"allow_private_webhooks": True})

    async def test_allow_private_webhooks_lifts_the_address_rules(
        self, client: httpx.AsyncClient, ready: Ready, db: Database
    ) -> None:
        r = await post_call(client, ready, callback_url="http://127.0.0.1:9000/hook")
        assert r.status_code == 202, r.text
        assert (await stored_call(db, r.json()["id"])).callback_url == "http://127.0.0.1:9000/hook"
        metadata = await post_call(client, ready, callback_url="https://169.254.169.254/")
        assert_error(metadata, 400, "invalid_callback_url", "callback_url")


async def test_nul_characters_are_refused_on_both_stores(client: httpx.AsyncClient, ready: Ready) -> None:
    """PostgreSQL text and JSONB cannot hold NUL; both stores answer the same 400 instead of one failing."""
    await _walk(
        client,
        ready,
        [
            ("call_context", {"call_context": "a\x00b"}, 400, "invalid_request", None),
            ("variable value", {"variables": {"x": "\x00"}}, 400, "invalid_request", None),
            ("metadata key", {"metadata": {"k\x00": 1}}, 400, "invalid_request", None),
            ("phone_number_id", {"phone_number_id": "\x00"}, 400, "invalid_request", None),
            ("agent_id", {"agent_id": "a\x00"}, 400, "invalid_request", None),
            (
                "inline agent prompt",
                {"agent_id": None, "agent": {"name": "x", "prompt": "\x00"}},
                400,
                None,
                None,
            ),
        ],
    )
    h = ready.tenant.headers
    assert (await client.get("/v1/calls/a%00b", headers=h)).status_code == 404
    assert (await client.post("/v1/calls/a%00b/cancel", headers=h)).status_code == 404
    listed = await client.get("/v1/calls?agent_id=a%00b", headers=h)
    assert listed.status_code == 200 and listed.json()["data"] == []
