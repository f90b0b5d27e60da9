"""Helpers for tests that own real processes and sockets: free ports, required tools, PID cleanup."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Sequence

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_tool(binary: str, install_hint: str) -> str:
    """Path of a system tool; skip when missing, except under CI=true where a missing tool fails."""
    path = shutil.which(binary)
    if path:
        return path
    msg = f"{binary} not found: install it with `{install_hint}`"
    if IN_CI:
        pytest.fail(msg + " (CI=true: required)")
    pytest.skip(msg)


def free_port(kind: str = "tcp", host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on host (SIP uses both), chosen by the kernel."""
    for _ in range(50):
        first = socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM
        other = socket.SOCK_DGRAM if kind == "tcp" else socket.SOCK_STREAM
        with socket.socket(socket.AF_INET, first) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, other) as t:
                    t.bind((host, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def free_port_pair(host: str = "127.0.0.1") -> int:
    """An even UDP port whose successor is free too (RTP + RTCP)."""
    for _ in range(200):
        p = free_port("udp", host)
        if p % 2:
            continue
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind((host, p + 1))
        except OSError:
            continue
        return p
    raise RuntimeError("no free RTP port pair")


class OwnedProcess:
    """A child process this test started; ended by its PID (its process group), never by name."""

    def __init__(self, args: Sequence[str], **kwargs: object) -> None:
        self.args = list(args)
        self.proc = subprocess.Popen(self.args, start_new_session=True, **kwargs)  # type: ignore[call-overload]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait(self, timeout: float | None = None) -> int:
        return self.proc.wait(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout)

    def __enter__(self) -> OwnedProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
