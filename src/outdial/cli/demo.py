"""``outdial demo``: a running service with a demo organization, its key and a curl tour that works.

Interim version (until the dialer's end-to-end demo replaces it): it serves on loopback, seeds an
agent, a loopback trunk and a VoIP number the demo marks verified, then prints commands that create
an agent, a trunk and a number of your own, place a call and list calls. To extend it, add steps to
:func:`tour` or seed more in :func:`prepare`; :func:`run` stays the same.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
from dataclasses import dataclass
from typing import Any

import phonenumbers
import typer
import uvicorn
from sqlalchemy import select

from outdial.api.auth import get_or_create_org, issue_key
from outdial.cli import app
from outdial.cli.server import load_settings, make_server
from outdial.config import Settings
from outdial.store.db import Database
from outdial.store.migrate import upgrade_async
from outdial.store.models import Agent, PhoneNumber, SipTrunk
from outdial.store.types import utcnow

DEMO_ORG = "demo"
DEMO_AGENT = "Demo agent"
DEMO_TRUNK = "Demo trunk (loopback)"
DEMO_TRUNK_ADDRESS = "127.0.0.1:15060"
DEMO_NUMBER = "+14155550100"
READY_LINE = "outdial demo is running; press Ctrl-C to stop."


@dataclass(frozen=True)
class DemoOrg:
    org_id: str
    api_key: str
    agent_id: str
    trunk_id: str
    number_id: str
    from_number: str


@dataclass(frozen=True)
class Step:
    title: str
    method: str
    path: str
    body: dict[str, Any] | None = None


async def prepare(settings: Settings) -> DemoOrg:
    """The demo organization with a fresh key; its agent, trunk and verified number made once."""
    db = Database.from_settings(settings)
    try:
        await upgrade_async(db.url)
        async with db.transaction() as s:
            org = await get_or_create_org(s, DEMO_ORG)
            agent = (
                await s.execute(select(Agent).where(Agent.org_id == org.id, Agent.name == DEMO_AGENT))
            ).scalar_one_or_none()
            if agent is None:
                agent = Agent(
                    org_id=org.id,
                    name=DEMO_AGENT,
                    published=True,
                    config={"first_message": "Hi! This is the outdial demo calling. How are you today?"},
                )
                s.add(agent)
            trunk = (
                await s.execute(
                    select(SipTrunk).where(SipTrunk.org_id == org.id, SipTrunk.name == DEMO_TRUNK)
                )
            ).scalar_one_or_none()
            if trunk is None:
                # TCP to a closed loopback port: a demo call fails at once (network_error) instead of
                # retransmitting an INVITE nobody hears for half a minute.
                trunk = SipTrunk(org_id=org.id, name=DEMO_TRUNK, address=DEMO_TRUNK_ADDRESS, transport="tcp")
                s.add(trunk)
            await s.flush()
            number = (
                await s.execute(
                    select(PhoneNumber).where(PhoneNumber.org_id == org.id, PhoneNumber.number == DEMO_NUMBER)
                )
            ).scalar_one_or_none()
            if number is None:
                # Only verify-voip verifies a number; the demo's loopback trunk has nobody to answer it.
                number = PhoneNumber(
                    org_id=org.id,
                    number=DEMO_NUMBER,
                    kind="voip",
                    trunk_id=trunk.id,
                    verified=True,
                    verified_at=utcnow(),
                    outbound_agent_id=agent.id,
                )
                s.add(number)
                await s.flush()
            key = await issue_key(s, org.id, name="demo")
            return DemoOrg(org.id, key.api_key, agent.id, trunk.id, number.id, number.number)
    finally:
        await db.dispose()


def _fresh_number() -> str:
    """A valid US number for the tour to add (random, so re-running the tour rarely collides)."""
    while True:
        candidate = f"+1415555{random.randint(0, 9999):04d}"
        if phonenumbers.is_valid_number(phonenumbers.parse(candidate)):
            return candidate


def tour(demo: DemoOrg) -> list[Step]:
    return [
        Step("Your organization", "GET", "/v1/organization"),
        Step(
            "Create an agent (only name is required; the rest has offline defaults)",
            "POST",
            "/v1/agents",
            {
                "name": "Appointment reminder",
                "first_message": "Hi {{first_name}}, this is Acme Dental confirming your visit tomorrow.",
                "input_parameters": [{"name": "first_name", "required": True}],
            },
        ),
        Step(
            "Add your SIP trunk (the password is write-only)",
            "POST",
            "/v1/sip-trunks",
            {
                "name": "My carrier",
                "address": "sip.carrier.example:5060",
                "username": "acme",
                "password": "s3cret",
            },
        ),
        Step(
            "Add a caller number on the demo trunk (it starts unverified)",
            "POST",
            "/v1/phone-numbers",
            {"number": _fresh_number(), "trunk_id": demo.trunk_id},
        ),
        Step(
            "Place a call from the demo's verified number",
            "POST",
            "/v1/calls",
            {
                "agent_id": demo.agent_id,
                "to_number": "+14155550199",
                "from_number": demo.from_number,
                "metadata": {"crm_id": "42"},
            },
        ),
        Step("List calls, newest first", "GET", "/v1/calls?limit=5"),
    ]


def curl(step: Step) -> str:
    parts = ["curl -s"]
    if step.method != "GET":
        parts.append(f"-X {step.method}")
    parts.append(f'"$OD{step.path}"')
    parts.append('-H "Authorization: Bearer $OD_KEY"')
    if step.body is not None:
        parts.append("-H 'Content-Type: application/json'")
        parts.append(f"-d '{json.dumps(step.body)}'")
    return " ".join(parts)


def render(base_url: str, demo: DemoOrg, steps: list[Step]) -> str:
    lines = [
        "",
        f"outdial is serving at {base_url}  (API docs: {base_url}/docs)",
        f"Demo organization {DEMO_ORG!r}: agent {demo.agent_id}, verified number {demo.from_number}.",
        "",
        "Set these in another shell, then try the tour:",
        f"export OD={base_url} OD_KEY={demo.api_key}",
        "",
    ]
    for i, step in enumerate(steps, 1):
        lines += [f"# {i}. {step.title}", curl(step), ""]
    lines.append(
        "The demo trunk points at a closed loopback port, so its calls end failed at once; add your "
        "own trunk, verify a number on it (POST /v1/phone-numbers/{id}/verify-voip) and call for real."
    )
    return "\n".join(lines)


def _pick_port(settings: Settings, requested: int | None) -> int:
    if requested is not None:
        return requested
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", settings.port))
            return settings.port
        except OSError:
            s.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _AnnouncingServer(uvicorn.Server):
    """Prints the tour once the socket listens (so every command in it works when read)."""

    def __init__(self, config: uvicorn.Config, text: str) -> None:
        super().__init__(config)
        self.text = text

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            typer.echo(self.text)
            typer.echo(READY_LINE)


def run(settings: Settings) -> None:
    demo = asyncio.run(prepare(settings))
    text = render(settings.base_url, demo, tour(demo))
    server = _AnnouncingServer(make_server(settings, with_background=True).config, text)
    server.run()  # until Ctrl-C or SIGTERM
    if not server.started:
        raise typer.Exit(1)


@app.command("demo")
def demo_command(
    port: int | None = typer.Option(
        None, "--port", help="Port on 127.0.0.1 (default: 8000, else a free one)."
    ),
) -> None:
    """Serve on loopback with a demo organization and print its key and a curl tour."""
    settings = load_settings()
    chosen = _pick_port(settings, port)
    # The demo's SIP user agent takes any free port unless one is configured (5060 may be taken).
    sip_port = None if "OUTDIAL_SIP_PORT" in os.environ else 0
    run(
        load_settings(
            host="127.0.0.1", port=chosen, public_url=f"http://127.0.0.1:{chosen}", sip_port=sip_port
        )
    )
