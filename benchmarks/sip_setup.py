"""Call setup + teardown per second: our UserAgent places calls through a sipp UAS on 127.0.0.1.

Each call is INVITE → 180 → 200 → ACK → BYE → 200 with a real RTP port pair opened for it (SDP offer),
`--concurrency` calls in flight. Prints a table, writes benchmarks/results/sip_setup.json;
`--json` prints one object {"setups_per_s": ...}. Target: >= 100 setups/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from outdial.media import install_uvloop
from outdial.sip import TrunkConfig, UserAgent

RESULTS = Path(__file__).resolve().parent / "results" / "sip_setup.json"


def _free_udp_port(block: int = 1) -> int:
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base % 2 or base + block > 65535:
            continue
        socks = []
        try:
            for p in range(base, base + block):
                t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(t)
                t.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            for t in socks:
                t.close()
        return base
    raise RuntimeError("no free UDP port")


def _start_sipp(total: int, workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    sipp = shutil.which("sipp")
    if sipp is None:
        sys.exit("sipp not found: install it with `apt-get install sip-tester`")
    port = _free_udp_port()
    media = _free_udp_port(4)
    args = [sipp, "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-mi", "127.0.0.1", "-mp", str(media)]
    args += ["-cp", str(_free_udp_port()), "-m", str(total), "-nostdin", "-timeout", "300s"]
    proc = subprocess.Popen(
        args, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return proc, port
        time.sleep(0.02)
    proc.kill()
    sys.exit("sipp did not start")


async def _run(total: int, concurrency: int) -> dict[str, float | int]:
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = _start_sipp(total, Path(tmp))
        ua = await UserAgent.start(sample_rate=8000)
        trunk = TrunkConfig(address=f"127.0.0.1:{port}")
        sem = asyncio.Semaphore(concurrency)
        setup_ms: list[float] = []
        failures = 0

        async def one() -> None:
            nonlocal failures
            async with sem:
                t0 = time.perf_counter()
                call = await ua.invite(trunk, to="100", from_="200")
                if not await call.wait_answered():
                    failures += 1
                    return
                setup_ms.append((time.perf_counter() - t0) * 1000)
                await call.hangup()

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(total)))
        elapsed = time.perf_counter() - start
        await ua.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    setup_ms.sort()
    return {
        "calls": total,
        "concurrency": concurrency,
        "failures": failures,
        "elapsed_s": round(elapsed, 3),
        "setups_per_s": round((total - failures) / elapsed, 1),
        "setup_p50_ms": round(setup_ms[len(setup_ms) // 2], 2) if setup_ms else 0.0,
        "setup_p99_ms": round(setup_ms[int(len(setup_ms) * 0.99) - 1], 2) if setup_ms else 0.0,
        "sipp_exit_code": proc.returncode,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 calls instead of 3000")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--concurrency", type=int, default=30)
    args = parser.parse_args()
    install_uvloop()
    total = 300 if args.quick else 3000
    result = asyncio.run(_run(total, args.concurrency))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps({"setups_per_s": result["setups_per_s"]}))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="SIP call setup + teardown against sipp (UDP, 127.0.0.1)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in result.items():
        table.add_row(key, str(value))
    Console().print(table)


if __name__ == "__main__":
    main()
