"""What outgoing and incoming calls share once a dialog exists: events, BYE, re-INVITE, INFO, media."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from outdial.lifecycle import EndReason
from outdial.media import MediaStream
from outdial.sip.dialog import Dialog
from outdial.sip.errors import SipError, TransferFailed
from outdial.sip.events import Answered, CallEvent, Dtmf, Ended
from outdial.sip.message import Request, Response
from outdial.sip.sdp import (
    Direction,
    LocalMedia,
    Negotiated,
    SdpError,
    SessionDescription,
    answer_offer,
    build_offer,
    process_answer,
)
from outdial.sip.transaction import make_response
from outdial.sip.transport import Flow

if TYPE_CHECKING:
    from outdial.sip.ua import ServerTxn, UserAgent

log = logging.getLogger(__name__)


class Session:
    """One call's signaling state after (or on the way to) a dialog; subclassed by Call and IncomingCall."""

    def __init__(self, ua: UserAgent, flow: Flow, call_id: str) -> None:
        self.ua = ua
        self.flow = flow
        self.sip_call_id = call_id
        self.dialog: Dialog | None = None
        self.media: MediaStream | None = None
        self.negotiated: Negotiated | None = None
        self.local_media: LocalMedia | None = None
        self.direction: Direction = "sendrecv"
        self.answered = False
        self.ended: Ended | None = None
        self._history: list[CallEvent] = []
        self._changed = asyncio.Event()
        self._sdp_version = 0
        # Per INVITE CSeq: the ACK the peer sent for our 2xx (UAS), and ours for theirs, re-sent on
        # 2xx retransmissions (UAC).
        self._ack_seen: dict[int, asyncio.Event] = {}
        self._acks: dict[int, tuple[bytes, Flow]] = {}
        # A blind transfer in flight: (status of the peer's call to the target, subscription ended),
        # from each NOTIFY; (0, True) when our call ends meanwhile.
        self._refer_progress: asyncio.Queue[tuple[int, bool]] | None = None

    # ---- events -------------------------------------------------------------------------------
    def _emit(self, event: CallEvent) -> None:
        if self.ended is not None:
            return
        if isinstance(event, Ended):
            self.ended = event
        if isinstance(event, Answered):
            self.answered = True
        self._history.append(event)
        self._changed.set()
        self._changed = asyncio.Event()

    async def events(self) -> AsyncIterator[CallEvent]:
        """Every event from the start of the call, in order, ending with Ended."""
        i = 0
        while True:
            while i < len(self._history):
                event = self._history[i]
                i += 1
                yield event
                if isinstance(event, Ended):
                    return
            await self._changed.wait()

    async def wait_answered(self) -> bool:
        """True once answered; False if the call ended without being answered."""
        while not self.answered and self.ended is None:
            await self._changed.wait()
        return self.answered

    async def wait_ended(self) -> Ended:
        while self.ended is None:
            await self._changed.wait()
        return self.ended

    def _end(self, status: int | None, reason: EndReason, text: str) -> None:
        if self.ended is not None:
            return
        self._emit(Ended(status, reason, text))
        if self._refer_progress is not None:
            self._refer_progress.put_nowait((0, True))
        if self.dialog is not None:
            self.ua.forget_dialog(self.dialog)
        self.ua.forget_session(self)
        if self.media is not None:
            self.ua.spawn(self.media.close())

    def abandon(self, text: str) -> None:
        """End the call locally when its signaling cannot finish (shutdown); no-op once ended."""
        self._end(None, EndReason.NETWORK_ERROR, text)

    # ---- media --------------------------------------------------------------------------------
    def _apply(self, negotiated: Negotiated) -> None:
        """Point the media stream at what offer/answer agreed."""
        self.negotiated = negotiated
        if self.media is None:
            return
        self.ua.configure_media(self.media, negotiated)

    def _next_offer(self, direction: Direction) -> bytes:
        assert self.local_media is not None
        self._sdp_version += 1
        self.local_media.version = self._sdp_version
        return build_offer(self.local_media, direction).serialize()

    # ---- requests we send inside the dialog ---------------------------------------------------
    async def _send_in_dialog(
        self,
        method: str,
        body: bytes = b"",
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        assert self.dialog is not None
        flow = await self.ua.flow_for_dialog(self.dialog, self.flow)
        req = self.dialog.create_request(method, via=self.ua.via(flow), contact=self.ua.contact(flow))
        for name, value in (headers or {}).items():
            req.headers.add(name, value)
        if body:
            req.headers.add("Content-Type", content_type or "application/sdp")
            req.body = body
        return await self.ua.request(req, flow, session=self)

    async def hangup(self) -> None:
        """End an established call with BYE; the call ends agent_hangup whatever the peer answers."""
        if self.ended is not None or self.dialog is None:
            return
        try:
            await self._send_in_dialog("BYE")
        except SipError as exc:
            log.info("BYE on %s got no answer: %s", self.sip_call_id, exc)
        self._end(None, EndReason.AGENT_HANGUP, "we hung up")

    async def transfer(self, target_uri: str, *, report_within: float = 30.0, hang_up: bool = True) -> int:
        """Blind transfer (RFC 3515; RFC 5589 §6): REFER the peer to ``target_uri``, follow the NOTIFYs
        about its call there, and hang up once it reports a 2xx (unless ``hang_up`` is false: the
        caller then ends the call itself). Returns that status (202 when the peer accepted the REFER
        and then hung up on us before reporting).

        Raises TransferFailed when the REFER is refused, the target does not answer with a 2xx, or
        no final report comes within ``report_within`` seconds; the call is then still up.
        """
        if self.dialog is None or self.ended is not None:
            raise SipError("the call is not established")
        progress = self._refer_progress = asyncio.Queue()
        try:
            resp = await self._send_in_dialog("REFER", headers={"Refer-To": f"<{target_uri}>"})
            if resp.status >= 300:
                raise TransferFailed(f"the transfer was refused: {resp.status} {resp.reason}", resp.status)
            status = resp.status
            loop = asyncio.get_running_loop()
            deadline = loop.time() + report_within
            while True:
                try:
                    reported, done = await asyncio.wait_for(progress.get(), max(0.0, deadline - loop.time()))
                except TimeoutError:
                    raise TransferFailed(
                        f"no final report on the transfer within {report_within:g} s"
                    ) from None
                if reported == 0:
                    return status  # the peer hung up on us: it has gone to the target
                status = reported
                if status >= 200 or done:
                    break
        finally:
            self._refer_progress = None
        if not 200 <= status < 300:
            raise TransferFailed(f"the transfer target answered {status}", status)
        if hang_up:
            await Session.hangup(self)
        return status

    async def _reinvite(self, direction: Direction) -> None:
        if self.dialog is None or self.ended is not None:
            raise SipError("the call is not established")
        body = self._next_offer(direction)
        resp = await self._send_in_dialog("INVITE", body)
        if resp.status >= 300:
            raise SipError(f"re-INVITE refused: {resp.status} {resp.reason}")
        assert self.local_media is not None
        self.direction = direction
        if resp.body:
            self._apply(process_answer(self.local_media, SessionDescription.parse(resp.body), direction))
        elif self.media is not None:
            self.media.set_direction(direction)

    async def hold(self, direction: Direction = "sendonly") -> None:
        """Put the peer on hold with a re-INVITE: a=sendonly (music on hold) or a=inactive (RFC 3264 §8.4)."""
        if direction not in ("sendonly", "inactive"):
            raise ValueError("hold direction is sendonly or inactive")
        await self._reinvite(direction)

    async def unhold(self) -> None:
        await self._reinvite("sendrecv")

    async def send_dtmf(self, digits: str) -> None:
        """RFC 4733 events when telephone-event was negotiated, else SIP INFO (application/dtmf-relay)."""
        if self.negotiated is not None and self.negotiated.dtmf_payload_type is not None and self.media:
            await self.media.send_dtmf(digits)
            return
        for digit in digits:
            body = f"Signal={digit}\r\nDuration=160\r\n".encode()
            await self._send_in_dialog("INFO", body, "application/dtmf-relay")

    def ack_2xx(self, cseq: int, flow: Flow) -> None:
        """ACK a 2xx to our INVITE: a request of its own, outside the transaction (§13.2.2.4)."""
        if cseq in self._acks:
            data, flow = self._acks[cseq]
        else:
            assert self.dialog is not None
            data = self.dialog.create_request("ACK", via=self.ua.via(flow), cseq=cseq).serialize()
            self._acks[cseq] = (data, flow)
        try:
            flow.send(data)
        except SipError as exc:
            log.info("ACK on %s not sent: %s", self.sip_call_id, exc)

    def reack(self, resp: Response) -> None:
        """A 2xx retransmitted after its transaction ended: our ACK was lost, send it again."""
        stored = self._acks.get(resp.cseq[0])
        if stored is not None:
            self.ack_2xx(resp.cseq[0], stored[1])

    # ---- requests the peer sends inside the dialog --------------------------------------------
    def on_request(self, req: Request, stx: ServerTxn) -> None:
        assert self.dialog is not None
        if not self.dialog.accept_remote(req):
            stx.respond(make_response(req, 500, "Server Internal Error"))
            return
        if req.method == "BYE":
            stx.respond(make_response(req, 200, "OK"))
            self._end(None, EndReason.CALLEE_HANGUP, "the other party hung up")
        elif req.method == "INVITE":
            self._answer_reinvite(req, stx)
        elif req.method == "INFO":
            stx.respond(make_response(req, 200, "OK"))
            self._info(req)
        elif req.method == "OPTIONS":
            resp = make_response(req, 200, "OK")
            resp.headers.add("Allow", self.ua.ALLOW)
            stx.respond(resp)
        elif req.method == "NOTIFY":
            self._notify(req, stx)
        else:
            resp = make_response(req, 405, "Method Not Allowed")
            resp.headers.add("Allow", self.ua.ALLOW)
            stx.respond(resp)

    def on_ack(self, req: Request) -> None:
        event = self._ack_seen.get(req.cseq[0])
        if event is not None:
            event.set()

    def _notify(self, req: Request, stx: ServerTxn) -> None:
        """NOTIFY for our REFER's implicit subscription: a message/sipfrag status line (RFC 3515 §2.4.5)."""
        event = (req.headers.get("Event") or "").split(";")[0].strip().lower()
        if event != "refer":
            stx.respond(make_response(req, 489, "Bad Event"))
            return
        stx.respond(make_response(req, 200, "OK"))
        state = (req.headers.get("Subscription-State") or "").split(";")[0].strip().lower()
        status = sipfrag_status(req.body)
        if self._refer_progress is not None and status is not None:
            self._refer_progress.put_nowait((status, state == "terminated"))

    def _info(self, req: Request) -> None:
        if req.content_type != "application/dtmf-relay":
            return
        for line in req.body.decode("utf-8", "replace").splitlines():
            name, _, value = line.partition("=")
            if name.strip().lower() == "signal" and value.strip():
                self._emit(Dtmf(value.strip()[0]))

    def _answer_reinvite(self, req: Request, stx: ServerTxn) -> None:
        assert self.dialog is not None and self.local_media is not None
        try:
            offer = SessionDescription.parse(req.body)
            self._sdp_version += 1
            self.local_media.version = self._sdp_version
            answer, negotiated = answer_offer(self.local_media, offer, self.direction)
        except SdpError as exc:
            stx.respond(make_response(req, 488, "Not Acceptable Here"))
            log.info("re-INVITE on %s refused: %s", self.sip_call_id, exc)
            return
        self.dialog.refresh_target(req)
        self._apply(negotiated)
        resp = make_response(req, 200, "OK", to_tag=self.dialog.local_tag)
        resp.headers.add("Contact", self.ua.contact(stx.flow))
        resp.headers.add("Content-Type", "application/sdp")
        resp.body = answer.serialize()
        self.ua.spawn(self._send_2xx_until_acked(req, stx, resp))

    async def _send_2xx_until_acked(self, req: Request, stx: ServerTxn, resp: Response) -> bool:
        """A UAS retransmits its 2xx until the ACK comes (§13.3.1.4): T1 doubling to T2, for 64*T1."""
        acked = self._ack_seen.setdefault(req.cseq[0], asyncio.Event())
        stx.respond(resp)
        if stx.flow.reliable:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(acked.wait(), 64 * self.ua.timers.t1)
            return acked.is_set()
        t = self.ua.timers
        interval, waited = t.t1, 0.0
        while waited < 64 * t.t1 and self.ended is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(acked.wait(), interval)
            if acked.is_set():
                return True
            waited += interval
            interval = min(interval * 2, t.t2)
            stx.respond(resp)
        return acked.is_set()


def sipfrag_status(body: bytes) -> int | None:
    """The status code of a message/sipfrag body's status line ("SIP/2.0 200 OK"), if it has one."""
    first = body.decode("utf-8", "replace").lstrip().split("\r\n", 1)[0].split("\n", 1)[0]
    parts = first.split()
    if len(parts) >= 2 and parts[0].upper().startswith("SIP/") and parts[1].isdigit():
        return int(parts[1])
    return None
