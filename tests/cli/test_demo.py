"""``outdial demo``: serves on loopback and every curl command it prints works as written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from outdial.cli.demo import READY_LINE
from tests.support.procs import OwnedProcess, free_port, require_tool

CLI = [sys.executable, "-c", "from outdial.cli import main; main()"]


def _run_in_shell(export: str, command: str) -> dict[str, Any]:
    out = subprocess.run(
        ["bash", "-c", f"{export}\n{command}"], capture_output=True, text=True, timeout=30, check=True
    )
    return dict(json.loads(out.stdout))


def test_demo_prints_a_key_and_a_tour_that_works_against_it(tmp_path: Path) -> None:
    require_tool("curl", "apt-get install curl")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTDIAL_")}
    env["OUTDIAL_DATA_DIR"] = str(tmp_path / "data")
    with OwnedProcess(
        [*CLI, "demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as demo:
        assert demo.proc.stdout is not None
        printed: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = demo.proc.stdout.readline()
            assert line, f"demo exited early: {''.join(printed)}"
            printed.append(line.rstrip("\n"))
            if line.strip() == READY_LINE:
                break
        export = next(line for line in printed if line.startswith("export OD="))
        assert f"OD=http://127.0.0.1:{port}" in export and "OD_KEY=od_" in export
        commands = [line for line in printed if line.startswith("curl ")]
        assert len(commands) == 6

        results = [_run_in_shell(export, command) for command in commands]
        for command, result in zip(commands, results, strict=True):
            assert "error" not in result, (command, result)
        organization, agent, trunk, number, call, calls = results
        assert organization["name"] == "demo"
        assert agent["name"] == "Appointment reminder"
        assert trunk["has_password"] is True
        assert number["verified"] is False
        assert call["status"] == "queued"
        assert [c["id"] for c in calls["data"]] == [call["id"]]

        os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C
        assert demo.wait(timeout=60) in (0, -signal.SIGINT, 130)
