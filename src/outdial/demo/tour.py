"""``outdial demo --serve``: curl commands that work against the running demo, with its real ids."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from outdial.demo import script


@dataclass(frozen=True)
class Step:
    title: str
    method: str
    path: str
    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class Provisioned:
    """What the demo made through the API."""

    trunk_id: str
    agent_id: str
    number_id: str
    call_id: str
    call_status: str  # as POST /v1/calls answered


def steps(made: Provisioned) -> list[Step]:
    return [
        Step("Your organization", "GET", "/v1/organization"),
        Step(
            "The demo call, with its timings, outcome and recording_url", "GET", f"/v1/calls/{made.call_id}"
        ),
        Step("Its transcript", "GET", f"/v1/calls/{made.call_id}/transcript"),
        Step(
            "Place another call: the simulated callee answers again",
            "POST",
            "/v1/calls",
            {
                "agent_id": made.agent_id,
                "to_number": script.CALLEE_NUMBER,
                "variables": {"first_name": "Ada", "date": "Tuesday"},
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


def render(base_url: str, api_key: str, made: Provisioned) -> str:
    lines = [
        f"outdial keeps serving at {base_url}  (API docs: {base_url}/docs)",
        "Set these in another shell, then try the tour:",
        f"export OD={base_url} OD_KEY={api_key}",
        "",
    ]
    for i, step in enumerate(steps(made), 1):
        lines += [f"# {i}. {step.title}", curl(step), ""]
    lines.append(
        f"Follow a call: .venv/bin/outdial call --url $OD --key $OD_KEY --agent {made.agent_id} "
        f"--to {script.CALLEE_NUMBER} --var first_name=Ada --var date=Tuesday --wait"
    )
    return "\n".join(lines)
