"""``outdial callee`` as a process: listens, answers per persona, reports each call, exits after --calls."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import pytest

from outdial.lifecycle import EndReason
from outdial.sip import Timers, TrunkConfig, UserAgent

pytestmark = pytest.mark.timeout(60)
OUTDIAL = [sys.executable, "-c", "from outdial.cli import main; main()"]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_callee_command_answers_busy_and_reports_the_call(tmp_path: Path) -> None:
    persona = tmp_path / "busy.yaml"
    persona.write_text("name: Busy Bob\nbehaviour: busy\n")
    port = free_udp_port()
    proc = await asyncio.create_subprocess_exec(
        *OUTDIAL, "callee", "--persona", str(persona), "--port", str(port), "--calls", "1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    banner = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    assert f"'Busy Bob' (busy) listening on udp 127.0.0.1:{port}" in banner
    ua = await UserAgent.start(timers=Timers(t1=0.05))
    try:
        call = await ua.invite(TrunkConfig(address=f"127.0.0.1:{port}"), to="100", from_="200")
        ended = await asyncio.wait_for(call.wait_ended(), 5)
    finally:
        await ua.close()
    out, err = await asyncio.wait_for(proc.communicate(), 15)
    assert (ended.sip_status, ended.end_reason) == (486, EndReason.BUSY)
    assert proc.returncode == 0, err.decode()
    assert out.decode().strip() == "call 1: 200 -> 100 | busy"


async def test_a_broken_persona_file_is_a_clear_error_and_exit_2(tmp_path: Path) -> None:
    persona = tmp_path / "p.json"
    persona.write_text('{"behaviour": "sometimes"}')
    proc = await asyncio.create_subprocess_exec(
        *OUTDIAL, "callee", "--persona", str(persona), "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert "p.json.behaviour: one of answer, busy, no_answer, reject" in err.decode()
