"""``outdial demo`` (what ``make demo`` runs): one real call end to end on loopback, exit 0, the record
printed; run again on the same data dir it starts afresh; ``--serve`` keeps serving a tour that works."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from outdial.demo.run import DONE_LINE
from tests.support.procs import OwnedProcess, require_tool

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

CLI = [sys.executable, "-c", "from outdial.cli import main; main()"]
BUDGET_S = 60  # the promise: a finished demo in under a minute after install


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTDIAL_")}
    env["OUTDIAL_DATABASE_URL"] = "postgresql+asyncpg://nobody@127.0.0.1:1/ignored"  # the demo uses SQLite
    env["HOME"] = str(tmp_path)
    return env


def _port_is_free(port: int, kind: socket.SocketKind = socket.SOCK_STREAM) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _line(out: str, prefix: str) -> str:
    return next(line for line in out.splitlines() if line.lstrip().startswith(prefix))


def _run_in_shell(export: str, command: str) -> dict[str, Any]:
    out = subprocess.run(
        ["bash", "-c", f"{export}\n{command}"], capture_output=True, text=True, timeout=30, check=True
    )
    return dict(json.loads(out.stdout))


def test_demo_refuses_a_data_dir_it_did_not_make(tmp_path: Path) -> None:
    data = tmp_path / "mine"
    data.mkdir()
    (data / "outdial.db").write_text("not the demo's")
    refused = subprocess.run(
        [*CLI, "demo", "--data-dir", str(data)],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1 and "holds files the demo did not make" in refused.stdout
    assert (data / "outdial.db").read_text() == "not the demo's"


def test_demo_refuses_a_taken_port_with_a_message(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = subprocess.run(
            [*CLI, "demo", "--data-dir", str(tmp_path / "d"), "--port", str(port)],
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert refused.returncode == 1, refused.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in refused.stdout and "Traceback" not in refused.stderr


def test_demo_places_a_call_end_to_end_then_runs_again_serving_a_tour(tmp_path: Path) -> None:
    data = tmp_path / "demo-data"
    started = time.monotonic()
    done = subprocess.run(
        [*CLI, "demo", "--data-dir", str(data)],
        env=_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    took = time.monotonic() - started
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert took < BUDGET_S, f"the demo took {took:.1f} s"

    assert "number verified: the callee answered SIP OPTIONS" in out
    hooks = out.split("\nWebhooks", 1)[1].split("\nRecording", 1)[0]
    for event in ("call.queued", "call.ringing", "call.answered", "call.ended"):
        assert f"  {event:<14} signature verified" in hooks.splitlines()
    statuses = [line.split()[1] for line in out.splitlines() if line.startswith("  +")]
    assert statuses[0] == "queued" and statuses[-1] == "completed"
    assert {"ringing", "in_progress"} <= set(statuses)
    assert "Call ended: completed (agent_hangup)" in out
    greeting = "Hi Ana, this is Acme Dental about your appointment on Monday. Can you still make it?"
    assert f"agent  {greeting}" in out
    outcome = json.loads(out.split("\nOutcome\n", 1)[1].splitlines()[0])
    assert outcome["confirmed"] is False and outcome["reschedule_to"]
    assert "dialed → answered" in out and "total" in _line(out, "total")
    recording = Path(_line(out, "file:").split()[1])
    assert recording.is_file() and recording.stat().st_size > 50_000 and data in recording.parents
    assert DONE_LINE in out
    # Everything it started is gone: its API port is free again.
    running = _line(out, "outdial is running at")
    assert _port_is_free(int(running.split(":")[2].split()[0]))
    assert _port_is_free(int(running.rsplit(":", 1)[1]), socket.SOCK_DGRAM)  # the callee's SIP port

    # Again on the same data dir, the callee confirming this time, and serving on afterwards.
    require_tool("curl", "apt-get install curl")
    with OwnedProcess(
        [*CLI, "demo", "--data-dir", str(data), "--serve", "--confirm"],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as demo:
        assert demo.proc.stdout is not None
        printed: list[str] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = demo.proc.stdout.readline()
            assert line, f"demo exited early: {''.join(printed)}"
            printed.append(line.rstrip("\n"))
            if line.startswith("Press Ctrl-C"):
                break
        assert "Call ended: completed (agent_hangup)" in printed
        assert '  {"confirmed": true}' in printed
        export = next(line for line in printed if line.startswith("export OD="))
        commands = [line for line in printed if line.startswith("curl ")]
        assert len(commands) == 5
        organization, call, transcript, placed, calls = [_run_in_shell(export, c) for c in commands]
        assert organization["name"] == "demo"
        assert call["status"] == "completed" and transcript["call_id"] == call["id"]
        assert placed["status"] == "queued"
        assert {c["id"] for c in calls["data"]} == {call["id"], placed["id"]}  # the first run's are gone

        os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C
        assert demo.wait(timeout=60) == 0
