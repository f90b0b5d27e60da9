"""sipp as the customer's trunk: a UAS for many calls, one behaviour per run, every message traced."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tests.support.procs import OwnedProcess, free_port, free_port_pair, require_tool

TO_TAG = "[last_To:];tag=[pid]SIPpTag01[call_number]"
HEAD = "[last_Via:]\n[last_From:]\n{to}\n[last_Call-ID:]\n{cseq}\nContact: <sip:[local_ip]:[local_port]>\n"
SDP = (
    "Content-Type: application/sdp\nContent-Length: [len]\n\nv=0\no=sipp 1 1 IN IP4 [local_ip]\ns=-\n"
    "c=IN IP4 [media_ip]\nt=0 0\nm=audio [media_port] RTP/AVP 0\na=rtpmap:0 PCMU/8000\na=ptime:20\n"
)
# sipp refuses a scenario that captures a variable it never uses: each scenario captures what it needs.
CAPTURE_DIALOG = (
    '<ereg regexp="[^ ].*" search_in="hdr" header="From:" assign_to="their_party"/>\n'
    '<ereg regexp="[^ ].*" search_in="hdr" header="To:" assign_to="our_party"/>\n'
    '<ereg regexp="sip:[^>;]*" search_in="hdr" header="Contact:" assign_to="their_contact"/>\n'
)
CAPTURE_CSEQ = '<ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" assign_to="cseq"/>\n'


def _send(
    status: str, *, to: str = TO_TAG, cseq: str = "[last_CSeq:]", body: str = "", retrans: bool = False
) -> str:
    text = f"SIP/2.0 {status}\n" + HEAD.format(to=to, cseq=cseq) + (body or "Content-Length: 0\n")
    attr = ' retrans="500"' if retrans else ""
    return f"<send{attr}><![CDATA[\n{text}]]></send>\n"


def _recv_invite(capture: str = "") -> str:
    if not capture:
        return '<recv request="INVITE"/>\n'
    return f'<recv request="INVITE">\n<action>\n{capture}</action>\n</recv>\n'


def answer(ring_ms: int = 50, talk_ms: int = 1000) -> str:
    """Ring, answer, and hang up after ``talk_ms`` unless our side sends BYE first."""
    return _recv_invite(CAPTURE_DIALOG) + _answer_rest(ring_ms, talk_ms)


def _answer_rest(ring_ms: int, talk_ms: int) -> str:
    return (
        _send("180 Ringing")
        + f'<pause milliseconds="{ring_ms}"/>\n'
        + _send("200 OK", body=SDP, retrans=True)
        + '<recv request="ACK"/>\n'
        + f'<recv request="BYE" timeout="{talk_ms}" ontimeout="callee_bye"/>\n'
        + _send("200 OK")
        + '<nop next="done"/>\n'
        + '<label id="callee_bye"/>\n'
        + '<send retrans="500"><![CDATA[\nBYE [$their_contact] SIP/2.0\n'
        "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"
        "From: [$our_party];tag=[pid]SIPpTag01[call_number]\nTo: [$their_party]\n[last_Call-ID:]\n"
        "CSeq: 1 BYE\nMax-Forwards: 70\nContent-Length: 0\n]]></send>\n"
        + '<recv response="200"/>\n'
        + '<label id="done"/>\n'
    )


def busy_then_answer(talk_ms: int = 500) -> str:
    """A call's first attempt is busy (486), a later one answered (told apart by X-Outdial-Attempt)."""
    first = '<ereg regexp="X-Outdial-Attempt: 1\\b" search_in="msg" check_it="false" assign_to="first"/>\n'
    answered = _answer_rest(50, talk_ms)
    return (
        _recv_invite(CAPTURE_DIALOG + first)
        + '<nop test="first" next="busy"/>\n'
        + answered
        + '<nop next="over"/>\n'
        + '<label id="busy"/>\n'
        + _send("486 Busy Here")
        + '<recv request="ACK"/>\n'
        + '<label id="over"/>\n'
    )


def reject(code: int, reason: str) -> str:
    return _recv_invite() + _send("180 Ringing") + _send(f"{code} {reason}") + '<recv request="ACK"/>\n'


def ring_forever() -> str:
    """Ring until canceled: 200 to the CANCEL, 487 to the INVITE."""
    return (
        _recv_invite(CAPTURE_CSEQ)
        + _send("180 Ringing")
        + '<recv request="CANCEL"/>\n'
        + _send("200 OK", to="[last_To:]")
        + _send("487 Request Terminated", cseq="CSeq: [$cseq] INVITE")
        + '<recv request="ACK"/>\n'
    )


def scenario(body: str) -> str:
    return f'<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="trunk">\n{body}</scenario>\n'


@dataclass
class Invite:
    sip_call_id: str
    branch: str
    call_id: str | None  # X-Outdial-Call-Id
    attempt: int | None  # X-Outdial-Attempt
    received_at: datetime | None  # when sipp read it off the wire (first copy of the transaction)


@dataclass
class SippTrunk:
    proc: OwnedProcess
    port: int
    dir: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def messages(self) -> Path:
        return self.dir / "messages.log"

    def stop(self) -> None:
        self.proc.stop()

    def output(self) -> str:
        log = self.dir / "sipp.out"
        return log.read_text(errors="replace")[-4000:] if log.exists() else ""

    def invites(self) -> list[Invite]:
        """Every INVITE sipp received, retransmissions of a transaction counted once."""
        text = self.messages.read_text(errors="replace") if self.messages.exists() else ""
        seen: dict[tuple[str, str], Invite] = {}
        # Each message follows a line "----- 2026-11-22 06:34:26.535376" (sipp's local time).
        parts = re.split(r"(?:^|\n)-{5,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\n", text)
        for stamp, block in zip(parts[1::2], parts[2::2], strict=False):
            lines = block.strip().splitlines()
            start = next((i for i, ln in enumerate(lines) if ln.startswith("INVITE ")), None)
            if start is None:
                continue
            headers: dict[str, str] = {}
            for ln in lines[start + 1 :]:
                if not ln.strip():
                    break
                name, _, value = ln.partition(":")
                headers.setdefault(name.strip().lower(), value.strip())
            branch = re.search(r"branch=([^;\s]+)", headers.get("via", ""))
            key = (headers.get("call-id", ""), branch.group(1) if branch else "")
            attempt = headers.get("x-outdial-attempt")
            seen.setdefault(
                key,
                Invite(
                    sip_call_id=key[0],
                    branch=key[1],
                    call_id=headers.get("x-outdial-call-id"),
                    attempt=int(attempt) if attempt else None,
                    received_at=datetime.fromisoformat(stamp).astimezone(UTC),
                ),
            )
        return list(seen.values())

    def dials_per_attempt(self) -> dict[tuple[str | None, int | None], set[str]]:
        """(our call id, attempt number) → the SIP Call-IDs that dialed it (more than one: a double dial)."""
        out: dict[tuple[str | None, int | None], set[str]] = defaultdict(set)
        for inv in self.invites():
            out[(inv.call_id, inv.attempt)].add(inv.sip_call_id)
        return out


def start_trunk(tmp: Path, body: str, *, name: str = "trunk") -> SippTrunk:
    """A sipp UAS taking any number of calls with this behaviour, until stopped."""
    sipp = require_tool("sipp", "apt-get install sip-tester")
    workdir = tmp / f"sipp-{name}"
    workdir.mkdir(parents=True, exist_ok=True)
    xml = workdir / "scenario.xml"
    xml.write_text(scenario(body))
    port = free_port("udp")
    args = [sipp, "-sf", str(xml), "-i", "127.0.0.1", "-p", str(port), "-t", "u1", "-nostdin"]
    args += ["-mi", "127.0.0.1", "-mp", str(free_port_pair()), "-cp", str(free_port("udp"))]
    args += ["-trace_msg", "-message_file", str(workdir / "messages.log")]
    args += ["-trace_err", "-error_file", str(workdir / "errors.log")]
    args += ["-max_recv_loops", "10000", "-max_sched_loops", "10000"]
    with (workdir / "sipp.out").open("wb") as out:
        proc = OwnedProcess(args, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    trunk = SippTrunk(proc, port, workdir)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            raise AssertionError(f"sipp exited early:\n{trunk.output()}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return trunk
        time.sleep(0.02)
    trunk.stop()
    raise AssertionError("sipp did not start listening")
