"""``outdial call`` from the shell against a running outdial: places, follows, and exits by the ending."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import FROM_NUMBER, TO_NUMBER, persona, running_stack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

CLI = [sys.executable, "-c", "from outdial.cli import main; main()"]
BUSY_NUMBER = "+14155550198"
AGENT = {
    "first_message": "Hello {{name}}, this is a short test call.",
    "input_parameters": [{"name": "name", "required": True}],
    "brain": {"type": "flow", "steps": [{"say": "Goodbye!", "end": True}]},
}


async def outdial(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run the CLI in a child process (the server keeps running in this test's event loop meanwhile)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OUTDIAL_")}
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        *args,
        env={**clean, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_call_command_places_follows_and_exits_by_how_the_call_ended(tmp_path: Path) -> None:
    callee = persona(numbers={BUSY_NUMBER: {"behaviour": "busy"}})
    async with running_stack(tmp_path, callee) as stack:
        await stack.provision()
        agent = await stack.agent(**AGENT)
        common = ["--url", stack.base_url, "--agent", agent, "--from", FROM_NUMBER, "--var", "name=Ada"]

        answered = await outdial("call", *common, "--to", TO_NUMBER, "--key", stack.api_key, "--wait")
        busy = await outdial(
            "call", *common, "--to", BUSY_NUMBER, "--wait", "--json", env={"OUTDIAL_API_KEY": stack.api_key}
        )
        queued = await outdial("call", *common, "--to", TO_NUMBER, env={"OUTDIAL_API_KEY": stack.api_key})
        refused = await outdial("call", *common, "--to", TO_NUMBER, "--key", "od_not_a_key")
        missing = await outdial("call", *common[:2], "--to", TO_NUMBER, "--key", stack.api_key)

    code, out, err = answered
    assert code == 0, out + err
    assert "Call ended: completed (agent_hangup)" in out
    assert "agent  Hello Ada, this is a short test call." in out
    statuses = [line.split()[1] for line in out.splitlines() if line.startswith("  +")]
    assert statuses[-1] == "completed" and "in_progress" in statuses

    code, out, err = busy
    assert code == 1, out + err
    ended = json.loads(out)  # --json: only the final call object
    assert (ended["status"], ended["end_reason"], ended["to_number"]) == ("busy", "busy", BUSY_NUMBER)

    code, out, _ = queued
    assert code == 0 and out.startswith("call ") and out.split()[2] in ("queued", "dialing", "ringing")

    code, _, err = refused
    assert code == 1 and "HTTP 401 unauthorized" in err

    code, _, err = missing  # no agent and no caller number to take one from
    assert code == 1 and "HTTP 4" in err
