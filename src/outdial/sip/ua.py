"""The user agent: the asyncio shell that runs transactions, routes messages and owns the transports.

It feeds the sans-I/O cores (transaction.py, dialog.py) and carries out what they return: bytes to
send on a Flow, timers on the event loop, responses to the call that is waiting for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import secrets
import socket
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from outdial.media import MediaStream, SrtpKeys
from outdial.sip.dialog import Dialog, dialog_key
from outdial.sip.errors import SipError, SipTimeout
from outdial.sip.headers import Address, Headers, SipUri, Via
from outdial.sip.message import Request, Response
from outdial.sip.sdp import MediaEncryption, Negotiated
from outdial.sip.transaction import (
    ClientTransaction,
    Output,
    ResponseReceived,
    Send,
    ServerTransaction,
    StartTimer,
    StopTimer,
    Terminated,
    TimedOut,
    Timers,
    TransportFailed,
    client_key,
    make_response,
    server_key,
)
from outdial.sip.transport import WILDCARDS, Flow, StreamFlow, TransportLayer
from outdial.sip.trunk import TrunkConfig

if TYPE_CHECKING:
    from outdial.sip.call import Call
    from outdial.sip.incoming import IncomingCall
    from outdial.sip.session import Session

log = logging.getLogger(__name__)
InviteHandler = Callable[["IncomingCall"], Awaitable[None]]


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(10)


def new_tag() -> str:
    return secrets.token_hex(8)


class _Txn:
    """Binds one sans-I/O transaction to a flow and to loop timers, and carries out its outputs."""

    def __init__(
        self,
        ua: UserAgent,
        txn: ClientTransaction | ServerTransaction,
        flow: Flow,
        on_response: Callable[[Response], None] | None = None,
        on_failure: Callable[[str, str], None] | None = None,
    ) -> None:
        self.ua = ua
        self.txn = txn
        self.flow = flow
        self.on_response = on_response
        self.on_failure = on_failure
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self.failure_detail = ""  # why the transport failed, when it knows (an ICMP error, say)

    def run(self, outputs: list[Output]) -> None:
        for out in outputs:
            if isinstance(out, Send):
                try:
                    self.flow.send(out.message.serialize())
                except SipError as exc:
                    log.info("send failed: %s", exc)
                    self.run(self.txn.transport_error())
                    return
            elif isinstance(out, StartTimer):
                self._stop(out.name)
                self._timers[out.name] = self.ua.loop.call_later(out.delay, self._fire, out.name)
            elif isinstance(out, StopTimer):
                self._stop(out.name)
            elif isinstance(out, ResponseReceived):
                if self.on_response is not None:
                    self.on_response(out.response)
            elif isinstance(out, TimedOut | TransportFailed):
                if self.on_failure is not None:
                    if isinstance(out, TimedOut):
                        self.on_failure("timeout", "")
                    else:
                        self.on_failure("transport", self.failure_detail)
            elif isinstance(out, Terminated):
                self.stop_timers()
                self.ua.forget_txn(self)

    def stop_timers(self) -> None:
        for name in list(self._timers):
            self._stop(name)

    def _stop(self, name: str) -> None:
        handle = self._timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    def _fire(self, name: str) -> None:
        self._timers.pop(name, None)
        self.run(self.txn.timer_fired(name))


class ServerTxn(_Txn):
    txn: ServerTransaction
    incoming: IncomingCall | None = None  # the UAS call an INVITE transaction belongs to (for CANCEL)

    @property
    def request(self) -> Request:
        return self.txn.request

    def respond(self, response: Response) -> None:
        self.run(self.txn.respond(response))


class UserAgent:
    """A SIP endpoint: places calls through trunks (UAC) and answers INVITEs (UAS)."""

    ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY"

    def __init__(self, host: str, timers: Timers, sample_rate: int, user_agent: str) -> None:
        self.host = host
        self.timers = timers
        self.loop = asyncio.get_running_loop()
        self.transport = TransportLayer(self._on_message, self._on_flow_closed, self._on_udp_unreachable)
        self.user_agent = user_agent
        self.on_invite: InviteHandler | None = None
        self.uas_media_encryption: MediaEncryption = "none"
        self.sample_rate = sample_rate  # PCM rate of the media streams' audio in and out
        self.advertise_host: str | None = None
        self._client: dict[tuple[str, str], _Txn] = {}
        self._server: dict[tuple[str, str, str], ServerTxn] = {}
        self._dialogs: dict[tuple[str, str, str], Session] = {}
        self._sessions: set[Session] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    @classmethod
    async def start(
        cls,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tcp_port: int | None = None,
        tls_port: int | None = None,
        tls_certfile: str | None = None,
        tls_keyfile: str | None = None,
        timers: Timers | None = None,
        sample_rate: int = 16000,
        uas_media_encryption: MediaEncryption = "none",
        user_agent: str = "outdial",
        advertise_host: str | None = None,
    ) -> UserAgent:
        """Listen on UDP host:port (0: any free port); TCP and TLS listeners only when their port is given.

        advertise_host replaces our address in Via, Contact and SDP (a static NAT's public address).
        """
        ua = cls(host, timers or Timers(), sample_rate, user_agent)
        ua.advertise_host = advertise_host
        ua.uas_media_encryption = uas_media_encryption
        await ua.transport.listen_udp(host, port)
        if tcp_port is not None:
            await ua.transport.listen_stream(host, tcp_port)
        if tls_port is not None:
            if not tls_certfile:
                raise ValueError("a TLS listener needs tls_certfile")
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(tls_certfile, tls_keyfile)
            await ua.transport.listen_stream(host, tls_port, ctx)
        return ua

    @property
    def address(self) -> tuple[str, int]:
        return self.transport.listening["UDP"]

    def listening(self, transport: str) -> tuple[str, int]:
        return self.transport.listening[transport.upper()]

    async def close(self) -> None:
        """Hang up every live call (BYE, or CANCEL before the answer), then close the transports."""
        await asyncio.gather(*(self._finish(session) for session in list(self._sessions)))
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for txn in [*self._client.values(), *self._server.values()]:
            txn.stop_timers()
        await self.transport.close()

    async def _finish(self, session: Session) -> None:
        # A peer that never answers our BYE or CANCEL must not hold the shutdown for 64*T1.
        with contextlib.suppress(TimeoutError, SipError):
            await asyncio.wait_for(session.hangup(), 2.0)
        session.abandon("the user agent closed before the call ended")
        if session.media is not None:
            await session.media.close()

    # ---- helpers the calls use ----------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("SIP task failed", exc_info=task.exception())

    def sent_by(self, flow: Flow) -> tuple[str, int]:
        """The address the peer should reach us at: advertise_host (NAT) or the flow's local address."""
        return (self.advertise_host or flow.local[0], flow.local[1])

    def sdp_host(self, media_host: str, flow: Flow) -> str:
        """The c= address: advertise_host, else media_host unless it is a wildcard bind address."""
        if self.advertise_host:
            return self.advertise_host
        return flow.local[0] if media_host in WILDCARDS else media_host

    def via(self, flow: Flow) -> str:
        host, port = self.sent_by(flow)
        return f"SIP/2.0/{flow.transport} {host}:{port};branch={new_branch()};rport"

    def contact(self, flow: Flow, user: str = "outdial") -> str:
        host, port = self.sent_by(flow)
        suffix = "" if flow.transport == "UDP" else f";transport={flow.transport.lower()}"
        return f"<sip:{user}@{host}:{port}{suffix}>"

    async def open_media(self, host: str) -> MediaStream:
        return await MediaStream.open(host=host, port=0, sample_rate=self.sample_rate)

    def configure_media(self, media: MediaStream, n: Negotiated) -> None:
        srtp = None
        if n.srtp_tx_key is not None and n.srtp_rx_key is not None:
            srtp = SrtpKeys(tx_key=n.srtp_tx_key, rx_key=n.srtp_rx_key)
        media.configure(
            remote=(n.remote_host, n.remote_port),
            payload_type=n.payload_type,
            dtmf_payload_type=n.dtmf_payload_type,
            srtp=srtp,
        )
        media.set_direction(n.direction)

    async def resolve(self, host: str, port: int) -> tuple[str, int]:
        try:
            ipaddress.ip_address(host)
            return host, port
        except ValueError:
            pass
        try:
            infos = await self.loop.getaddrinfo(host, port, family=socket.AF_INET, type=socket.SOCK_DGRAM)
        except OSError as exc:
            raise SipError(f"cannot resolve {host}: {exc}") from None
        return str(infos[0][4][0]), int(infos[0][4][1])

    async def flow_to(
        self, transport: str, host: str, port: int, tls: ssl.SSLContext | None = None, sni: str | None = None
    ) -> Flow:
        """A flow to host:port over UDP, TCP or TLS (connections are pooled); SipError when unreachable."""
        transport = transport.upper()
        if transport == "UDP":
            return self.transport.udp_flow(await self.resolve(host, port))
        if transport == "TLS" and tls is None:
            tls = ssl.create_default_context()
        return await self.transport.connect(transport, (host, port), tls, sni or host)

    async def flow_for_dialog(self, dialog: Dialog, current: Flow) -> Flow:
        """The next hop of an in-dialog request (§8.1.2); a matching TCP/TLS flow is reused."""
        uri = (
            Address.parse(dialog.route_set[0]).uri if dialog.route_set else SipUri.parse(dialog.remote_target)
        )
        transport = (uri.params.get("transport") or current.transport).upper()
        default = 5061 if transport == "TLS" else 5060
        port = uri.port or default
        if current.reliable and transport == current.transport and (uri.host, port) == current.remote:
            return current
        if current.reliable and transport == current.transport:
            tls_ctx = current.tls_context if isinstance(current, StreamFlow) else None
            return await self.flow_to(transport, uri.host, port, tls_ctx)
        return await self.flow_to(transport, uri.host, port)

    def request(self, req: Request, flow: Flow, session: Session | None = None) -> asyncio.Future[Response]:
        """Send a non-INVITE (or re-INVITE) in a client transaction; the future gets the final response.

        A 2xx to a re-INVITE is ACKed here. Timeouts raise SipTimeout, transport failures SipError.
        """
        fut: asyncio.Future[Response] = self.loop.create_future()

        def on_response(resp: Response) -> None:
            if req.method == "INVITE" and 200 <= resp.status < 300 and session is not None:
                session.ack_2xx(req.cseq[0], flow)
            if resp.status >= 200 and not fut.done():
                fut.set_result(resp)

        def on_failure(kind: str, detail: str) -> None:
            if not fut.done():
                if kind == "timeout":
                    fut.set_exception(
                        SipTimeout(
                            f"no response to {req.method} (timer {'B' if req.method == 'INVITE' else 'F'})"
                        )
                    )
                else:
                    why = f": {detail}" if detail else ""
                    fut.set_exception(
                        SipError(f"could not send {req.method} to {flow.remote[0]}:{flow.remote[1]}{why}")
                    )

        self.start_client(req, flow, on_response, on_failure)
        return fut

    def start_client(
        self,
        req: Request,
        flow: Flow,
        on_response: Callable[[Response], None],
        on_failure: Callable[[str, str], None],
    ) -> _Txn:
        txn = ClientTransaction(req, reliable=flow.reliable, timers=self.timers)
        runner = _Txn(self, txn, flow, on_response, on_failure)
        self._client[txn.key] = runner
        runner.run(txn.start())
        return runner

    def forget_txn(self, runner: _Txn) -> None:
        if isinstance(runner.txn, ClientTransaction):
            if self._client.get(runner.txn.key) is runner:
                del self._client[runner.txn.key]
        elif self._server.get(runner.txn.key) is runner:
            del self._server[runner.txn.key]

    def register_dialog(self, dialog: Dialog, session: Session) -> None:
        self._dialogs[dialog.id] = session

    def forget_dialog(self, dialog: Dialog) -> None:
        self._dialogs.pop(dialog.id, None)

    def register_session(self, session: Session) -> None:
        self._sessions.add(session)

    def forget_session(self, session: Session) -> None:
        self._sessions.discard(session)

    # ---- the UAC API --------------------------------------------------------------------------
    async def invite(
        self,
        trunk: TrunkConfig,
        to: str,
        from_: str,
        headers: dict[str, str] | None = None,
        ring_timeout: float = 45.0,
        media_host: str | None = None,
    ) -> Call:
        """Place a call; returns once the INVITE is on the wire (or the call already ended unreachable)."""
        from outdial.sip.call import Call

        return await Call.place(self, trunk, to, from_, headers or {}, ring_timeout, media_host or self.host)

    async def options_ping(self, trunk: TrunkConfig) -> int:
        """Send OPTIONS to the trunk and return the final status code.

        Raises SipTimeout when nothing answers before timer F (64*T1), SipError when unreachable.
        """
        host, port = trunk.host_port()
        flow = await self.flow_to(
            trunk.transport, host, port, trunk.ssl_context() if trunk.transport == "tls" else None
        )
        uri = f"sip:{host}:{port}" + ("" if trunk.transport == "udp" else f";transport={trunk.transport}")
        h = Headers()
        h.add("Via", self.via(flow))
        h.add("Max-Forwards", "70")
        h.add("From", f"<sip:{trunk.username or 'outdial'}@{host}>;tag={new_tag()}")
        h.add("To", f"<{uri}>")
        h.add("Call-ID", f"{secrets.token_hex(12)}@{flow.local[0]}")
        h.add("CSeq", "1 OPTIONS")
        h.add("Contact", self.contact(flow))
        h.add("Accept", "application/sdp")
        h.add("User-Agent", self.user_agent)
        resp = await self.request(Request(headers=h, method="OPTIONS", uri=uri), flow)
        return resp.status

    def _on_flow_closed(self, flow: Flow) -> None:
        """A TCP/TLS connection ended: its pending transactions fail at once instead of at timer B/F."""
        for runner in [*self._client.values(), *self._server.values()]:
            if runner.flow is flow and not runner.txn.terminated:
                runner.run(runner.txn.transport_error())

    def _on_udp_unreachable(self, remote: tuple[str, int], reason: str) -> None:
        """ICMP says a datagram to remote was not delivered: its transactions fail now (§18.4)."""
        for runner in [*self._client.values(), *self._server.values()]:
            flow = runner.flow
            if flow.transport == "UDP" and flow.remote == remote and not runner.txn.terminated:
                runner.failure_detail = f"{reason} from {remote[0]}:{remote[1]}"
                runner.run(runner.txn.transport_error())

    # ---- incoming messages --------------------------------------------------------------------
    def _on_message(self, msg: Request | Response, flow: Flow) -> None:
        if isinstance(msg, Response):
            self._on_response(msg, flow)
        else:
            self._on_request(msg, flow)

    def _on_response(self, resp: Response, flow: Flow) -> None:
        runner = self._client.get(client_key(resp))
        if runner is not None:
            runner.run(runner.txn.receive(resp))  # type: ignore[arg-type]
            return
        # A 2xx to an INVITE whose transaction has gone: the ACK was lost, send it again (§13.2.2.4).
        if resp.cseq[1] == "INVITE" and 200 <= resp.status < 300:
            session = self._dialogs.get(dialog_key(resp))
            if session is not None:
                session.reack(resp)

    def _on_request(self, req: Request, flow: Flow) -> None:
        if req.method != "ACK":
            # RFC 3581: note where the request really came from; the response goes back there.
            vias = req.headers.get_all("Via")
            top = Via.parse(vias[0])
            if top.host != flow.remote[0]:
                top.params["received"] = flow.remote[0]
            if "rport" in top.params:
                top.params["rport"] = str(flow.remote[1])
                top.params["received"] = flow.remote[0]
            req.headers.remove("Via")
            for i, raw in enumerate(vias):
                req.headers.add("Via", str(top) if i == 0 else raw)
        key = server_key(req)
        existing = self._server.get(key)
        if existing is not None:
            existing.run(existing.txn.receive(req))
            return
        if req.method == "ACK":
            session = self._dialogs.get(dialog_key(req))
            if session is not None:
                session.on_ack(req)
            return
        stx = ServerTxn(self, ServerTransaction(req, reliable=flow.reliable, timers=self.timers), flow)
        self._server[stx.txn.key] = stx
        stx.run(stx.txn.start())
        if req.method == "CANCEL":
            self._on_cancel(req, stx)
            return
        if req.to.tag:
            session = self._dialogs.get(dialog_key(req))
            if session is None:
                stx.respond(make_response(req, 481, "Call/Transaction Does Not Exist"))
            else:
                session.on_request(req, stx)
            return
        if req.method == "INVITE":
            self._on_new_invite(req, stx)
        elif req.method == "OPTIONS":
            resp = make_response(req, 200, "OK", to_tag=new_tag())
            resp.headers.add("Allow", self.ALLOW)
            resp.headers.add("Accept", "application/sdp")
            stx.respond(resp)
        elif req.method in ("BYE", "INFO"):
            stx.respond(make_response(req, 481, "Call/Transaction Does Not Exist", to_tag=new_tag()))
        else:
            resp = make_response(req, 405, "Method Not Allowed", to_tag=new_tag())
            resp.headers.add("Allow", self.ALLOW)
            stx.respond(resp)

    def _on_cancel(self, req: Request, stx: ServerTxn) -> None:
        key = server_key(req)
        invite = self._server.get((key[0], key[1], "INVITE"))
        if invite is None:
            stx.respond(make_response(req, 481, "Call/Transaction Does Not Exist"))
            return
        stx.respond(make_response(req, 200, "OK"))
        if invite.incoming is not None:
            invite.incoming.on_cancel()

    def _on_new_invite(self, req: Request, stx: ServerTxn) -> None:
        from outdial.sip.incoming import IncomingCall

        if self.on_invite is None:
            stx.respond(make_response(req, 480, "Temporarily Unavailable", to_tag=new_tag()))
            return
        incoming = IncomingCall(self, req, stx)
        stx.incoming = incoming
        handler = self.on_invite
        self.spawn(_run_handler(handler, incoming))


async def _run_handler(handler: InviteHandler, incoming: IncomingCall) -> None:
    try:
        await handler(incoming)
    except Exception:
        # A failing handler must not leave the caller ringing until its own timers give up.
        log.exception("on_invite handler failed for %s", incoming.sip_call_id)
        await incoming.reject(500)
