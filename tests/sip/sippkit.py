"""sipp as the trunk: scenario XML built from small templates, run as an owned process on free ports."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.procs import OwnedProcess, free_port, free_port_pair, require_tool

# sipp binds audio RTP/RTCP at -mp and video RTP/RTCP at -mp + 2.

TAG = ";tag=[pid]SIPpTag01[call_number]"


def response(
    code: int,
    reason: str,
    *,
    tag: bool = True,
    sdp: str | None = None,
    extra: str = "",
    retrans: bool | None = None,
    dtmf: bool = True,
) -> str:
    """A <send> of one response to the last request; `sdp` is the media port expression to advertise.

    A 2xx to an INVITE is retransmitted by sipp until the ACK comes, unless retrans=False.
    """
    lines = [
        f"SIP/2.0 {code} {reason}",
        "[last_Via:]",
        "[last_From:]",
        "[last_To:]" + (TAG if tag else ""),
        "[last_Call-ID:]",
        "[last_CSeq:]",
        "Contact: <sip:[local_ip]:[local_port];transport=[transport]>",
    ]
    if extra:
        lines.append(extra)
    if sdp is not None:
        lines += ["Content-Type: application/sdp", "Content-Length: [len]", "", *sdp_body(sdp, dtmf)]
    else:
        lines.append("Content-Length: 0")
    if retrans is None:
        retrans = 200 <= code < 300
    attr = ' retrans="500"' if retrans else ""
    return f"<send{attr}><![CDATA[\n" + "\n".join(lines) + "\n]]></send>\n"


def sdp_body(port: str, dtmf: bool = True) -> list[str]:
    if not dtmf:
        return [*sdp_body(port)[:5], f"m=audio {port} RTP/AVP 0", "a=rtpmap:0 PCMU/8000", "a=ptime:20"]
    return [
        "v=0",
        "o=sipp 1 1 IN IP4 [local_ip]",
        "s=-",
        "c=IN IP4 [media_ip]",
        "t=0 0",
        f"m=audio {port} RTP/AVP 0 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
        "a=ptime:20",
    ]


def recv(method: str, *, optional: bool = False, extra: str = "") -> str:
    opt = ' optional="true"' if optional else ""
    if extra:
        return f'<recv request="{method}"{opt}>\n{extra}\n</recv>\n'
    return f'<recv request="{method}"{opt}/>\n'


def scenario(name: str, body: str) -> str:
    return f'<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="{name}">\n{body}</scenario>\n'


# The callee hangs up: a BYE built from what the INVITE carried (From and To swapped, our To-tag).
CAPTURE_DIALOG = (
    "<action>\n"
    '<ereg regexp="[^ ].*" search_in="hdr" header="From:" assign_to="remote_party"/>\n'
    '<ereg regexp="[^ ].*" search_in="hdr" header="To:" assign_to="local_party"/>\n'
    '<ereg regexp="sip:[^>;]*" search_in="hdr" header="Contact:" assign_to="remote_contact"/>\n'
    "</action>"
)
BYE_FROM_CALLEE = """<send retrans="500"><![CDATA[
BYE [$remote_contact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$local_party];tag=[pid]SIPpTag01[call_number]
To: [$remote_party]
[last_Call-ID:]
CSeq: 1 BYE
Max-Forwards: 70
Content-Length: 0
]]></send>
"""


# The callee puts us on hold: a re-INVITE with a=sendonly inside the dialog, then its ACK.
REINVITE_HOLD = """<send retrans="500"><![CDATA[
INVITE [$remote_contact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$local_party];tag=[pid]SIPpTag01[call_number]
To: [$remote_party]
[last_Call-ID:]
CSeq: 2 INVITE
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=sipp 1 2 IN IP4 [local_ip]
s=-
c=IN IP4 [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=sendonly
]]></send>
"""
ACK_REINVITE = """<send><![CDATA[
ACK [$remote_contact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$local_party];tag=[pid]SIPpTag01[call_number]
To: [$remote_party]
[last_Call-ID:]
CSeq: 2 ACK
Max-Forwards: 70
Content-Length: 0
]]></send>
"""


@dataclass
class SippRun:
    proc: OwnedProcess
    port: int
    rtp_port: int
    log: Path
    messages: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def wait(self, timeout: float = 20.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.stop()
            raise AssertionError(f"sipp did not finish within {timeout} s; log:\n{self.output()}") from None

    async def finished(self, within: float = 20.0) -> int:
        return await asyncio.to_thread(self.wait, within)

    def output(self) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        errors = sorted(self.log.parent.glob("*_errors.log"))
        for err in errors:
            text += "\n--- " + err.name + "\n" + err.read_text(errors="replace")[-3000:]
        return text[-6000:]

    def message_log(self) -> str:
        return self.messages.read_text(errors="replace") if self.messages.exists() else ""


def start_sipp(
    tmp: Path, name: str, xml: str, *extra: str, transport: str = "u1", port: int | None = None
) -> SippRun:
    """Run sipp as a UAS for one call with this scenario; -timeout bounds it whatever happens."""
    sipp = require_tool("sipp", "apt-get install sip-tester")
    path = tmp / f"{name}.xml"
    path.write_text(xml)
    port = port or free_port("udp")
    rtp = free_port_block(4)
    log = tmp / f"{name}.out"
    messages = tmp / f"{name}.messages"
    args = [
        sipp,
        "-sf",
        str(path),
        "-i",
        "127.0.0.1",
        "-p",
        str(port),
        "-mi",
        "127.0.0.1",
        "-mp",
        str(rtp),
        "-cp",
        str(free_port("udp")),
        "-t",
        transport,
        "-m",
        "1",
        "-nostdin",
        "-timeout",
        "30s",
        "-timeout_error",
        "-trace_msg",
        "-message_file",
        str(messages),
        "-trace_err",
        *extra,
    ]
    with log.open("wb") as out:
        proc = OwnedProcess(args, stdout=out, stderr=subprocess.STDOUT, cwd=tmp)
    run = SippRun(proc, port, rtp, log, messages)
    _wait_listening(run, socket.SOCK_STREAM if transport.startswith("t") else socket.SOCK_DGRAM)
    return run


def free_port_block(count: int) -> int:
    """An even UDP port with `count` consecutive ports free from it."""

    for _ in range(100):
        base = free_port_pair()
        socks = []
        try:
            for p in range(base, base + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return base
    raise RuntimeError(f"no block of {count} free UDP ports")


def _wait_listening(run: SippRun, kind: int, timeout: float = 5.0) -> None:
    """sipp binds its port within milliseconds; wait until the kernel shows the socket taken."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if run.proc.proc.poll() is not None:
            raise AssertionError(f"sipp exited early:\n{run.output()}")
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", run.port))
            except OSError:
                return
        time.sleep(0.02)
    raise AssertionError(f"sipp did not bind port {run.port}")
