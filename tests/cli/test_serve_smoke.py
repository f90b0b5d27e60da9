"""A real ``outdial serve`` on loopback: keys from the CLI against the same data dir, a round trip over
HTTP, and a graceful stop on SIGTERM. Also ``outdial worker`` starting and stopping cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.procs import OwnedProcess, free_port

CLI = [sys.executable, "-c", "from outdial.cli import main; main()"]


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTDIAL_")}
    # SIP on a free port: 5060 may be taken by another test or service.
    env.update(OUTDIAL_DATA_DIR=str(data_dir), OUTDIAL_LOG_LEVEL="warning", OUTDIAL_SIP_PORT="0", **extra)
    return env


def _wait_healthy(proc: OwnedProcess, base: str, deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.proc.poll() is not None:
            pytest.fail(f"outdial serve exited early with {proc.proc.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail("outdial serve did not become healthy in time")


def test_serve_round_trip_with_a_cli_key(tmp_path: Path) -> None:
    port = free_port()
    env = _env(tmp_path / "data", OUTDIAL_PORT=str(port))
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with (
        log.open("w") as log_file,
        OwnedProcess(
            [*CLI, "serve"], env={**env, "OUTDIAL_LOG_LEVEL": "info"}, stdout=log_file, stderr=log_file
        ) as server,
    ):
        _wait_healthy(server, base)
        out = subprocess.run(
            [*CLI, "keys", "create", "--org", "smoke", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        issued = json.loads(out.stdout)
        assert set(issued) == {"org_id", "key_id", "api_key"}
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {issued['api_key']}"}) as http:
            assert http.get("/v1/organization").json()["id"] == issued["org_id"]
            agent = http.post("/v1/agents", json={"name": "Smoke agent"})
            assert agent.status_code == 201, agent.text
            trunk = http.post("/v1/sip-trunks", json={"address": "127.0.0.1:5060", "password": "pw"})
            assert trunk.status_code == 201 and trunk.json()["has_password"] is True
            number = http.post(
                "/v1/phone-numbers",
                json={
                    "number": "+1 415 555 0123",
                    "trunk_id": trunk.json()["id"],
                    "outbound_agent_id": agent.json()["id"],
                },
            )
            assert number.status_code == 201 and number.json()["number"] == "+14155550123"
            got = http.get(f"/v1/agents/{agent.json()['id']}").json()
            assert got["outbound_phone_number_id"] == number.json()["id"]
            assert [a["id"] for a in http.get("/v1/agents").json()["data"]] == [agent.json()["id"]]
        assert httpx.get(f"{base}/v1/agents").status_code == 401
        assert (tmp_path / "data" / "outdial.db").exists()

        os.killpg(server.pid, signal.SIGTERM)
        assert server.wait(timeout=60) == 0  # a graceful stop is a clean exit
    text = log.read_text()
    assert "background components: dialer, webhooks" in text
    assert "Application shutdown complete" in text and "dialer stopped" in text


def test_worker_starts_background_components_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = _env(tmp_path / "data")
    with OwnedProcess([*CLI, "worker"], env=env, stdout=subprocess.PIPE, text=True) as worker:
        assert worker.proc.stdout is not None
        line = worker.proc.stdout.readline()  # printed once every component has started
        assert line.startswith("outdial worker running:"), line
        assert "dialer" in line and "webhooks" in line
        os.killpg(worker.pid, signal.SIGTERM)
        assert worker.wait(timeout=60) == 0


def test_api_serves_http_without_background_components(tmp_path: Path) -> None:
    port = free_port()
    env = _env(tmp_path / "data", OUTDIAL_PORT="1")  # --port wins over the environment
    log = tmp_path / "api.log"
    with (
        log.open("w") as log_file,
        OwnedProcess(
            [*CLI, "api", "--port", str(port)],
            env={**env, "OUTDIAL_LOG_LEVEL": "info"},
            stdout=log_file,
            stderr=log_file,
        ) as server,
    ):
        _wait_healthy(server, f"http://127.0.0.1:{port}")
        assert httpx.get(f"http://127.0.0.1:{port}/openapi.json").json()["info"]["title"] == "outdial"
        os.killpg(server.pid, signal.SIGTERM)
        assert server.wait(timeout=60) == 0
    text = log.read_text()
    assert "Application shutdown complete" in text
    assert "background components" not in text and "dialer started" not in text
