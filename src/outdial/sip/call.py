"""An outgoing call (UAC): INVITE, provisional and final responses, digest retry, CANCEL, the 2xx ACK."""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import TYPE_CHECKING

from outdial.lifecycle import EndReason
from outdial.media import generate_srtp_key
from outdial.sip.dialog import Dialog
from outdial.sip.digest import authorization, pick_challenge
from outdial.sip.errors import SipError
from outdial.sip.events import Answered, EarlyMedia, Ended, Ringing, end_reason_for_status
from outdial.sip.headers import Headers, is_token
from outdial.sip.message import Request, Response
from outdial.sip.sdp import LocalMedia, Negotiated, SdpError, SessionDescription, build_offer, process_answer
from outdial.sip.session import Session
from outdial.sip.transport import Flow
from outdial.sip.trunk import TrunkConfig
from outdial.sip.ua import new_tag

if TYPE_CHECKING:
    from outdial.sip.ua import UserAgent, _Txn

log = logging.getLogger(__name__)


def _check_headers(headers: dict[str, str]) -> None:
    for name, value in headers.items():
        if not name.lower().startswith("x-") or not is_token(name):
            raise ValueError(f"custom header {name!r} must be a token starting with X-")
        if any(c in value for c in "\r\n\x00"):
            raise ValueError(f"custom header {name} has a line break or NUL in its value")


class Call(Session):
    """One outgoing call. Built by ``UserAgent.invite``; watch ``events()`` or the ``wait_*`` helpers."""

    def __init__(self, ua: UserAgent, trunk: TrunkConfig, call_id: str, flow: Flow) -> None:
        super().__init__(ua, flow, call_id)
        self.trunk = trunk
        self.invite: Request | None = None
        self._txn: _Txn | None = None
        self._provisional = False
        self._rang = False
        self._auth_tried = False
        self._cancel_reason: EndReason | None = None
        self._cancel_sent = False
        self._settling = False
        self._timers: list[asyncio.TimerHandle] = []

    @classmethod
    async def place(
        cls,
        ua: UserAgent,
        trunk: TrunkConfig,
        to: str,
        from_: str,
        headers: dict[str, str],
        ring_timeout: float,
        media_host: str,
    ) -> Call:
        _check_headers(headers)
        for number in (to, from_):
            if not number or any(c in number for c in "@<>;: \r\n"):
                raise ValueError(f"{number!r} is not a phone number or SIP user")
        host, port = trunk.host_port()
        call_id = f"{secrets.token_hex(12)}@outdial"
        tls = trunk.ssl_context() if trunk.transport == "tls" else None
        try:
            flow = await ua.flow_to(trunk.transport, host, port, tls, host)
        except SipError as exc:
            # The call is over before it began; the discard-port flow is never sent on.
            call = cls(ua, trunk, call_id, ua.transport.udp_flow(("127.0.0.1", 9)))
            call._end(None, EndReason.TRUNK_ERROR, f"trunk unreachable: {exc}")
            return call
        call = cls(ua, trunk, call_id, flow)
        call.media = await ua.open_media(media_host)
        srtp_key = None
        if trunk.media_encryption != "none":
            srtp_key = generate_srtp_key()
        call.local_media = LocalMedia(
            host=ua.sdp_host(media_host, flow),
            port=call.media.local_port,
            encryption=trunk.media_encryption,
            srtp_key=srtp_key,
            session_id=secrets.randbelow(2**31),
        )
        suffix = "" if trunk.transport == "udp" else f";transport={trunk.transport}"
        h = Headers()
        h.add("Via", ua.via(flow))
        h.add("Max-Forwards", "70")
        h.add("From", f"<sip:{from_}@{host}>;tag={new_tag()}")
        h.add("To", f"<sip:{to}@{host}>")
        h.add("Call-ID", call_id)
        h.add("CSeq", "1 INVITE")
        h.add("Contact", ua.contact(flow, from_))
        h.add("P-Asserted-Identity", f"<sip:{from_}@{host}>")
        h.add("Allow", ua.ALLOW)
        h.add("User-Agent", ua.user_agent)
        for name, value in headers.items():
            h.add(name, value)
        h.add("Content-Type", "application/sdp")
        invite = Request(
            headers=h,
            method="INVITE",
            uri=f"sip:{to}@{host}:{port}{suffix}",
            body=build_offer(call.local_media).serialize(),
        )
        ua.register_session(call)
        call._send_invite(invite)
        call._timers.append(ua.loop.call_later(ring_timeout, call._on_ring_timeout))
        return call

    # ---- the INVITE transaction ---------------------------------------------------------------
    def _send_invite(self, invite: Request) -> None:
        self.invite = invite
        self._txn = self.ua.start_client(invite, self.flow, self._on_response, self._on_failure)

    def _retry_with_credentials(self, resp: Response) -> bool:
        """Answer a 401/407 once (RFC 3261 §22.2); False when we cannot or already did."""
        trunk, invite = self.trunk, self.invite
        if self._auth_tried or not trunk.username or trunk.password is None or invite is None:
            return False
        proxy = resp.status == 407
        challenge = pick_challenge(
            resp.headers.get_all("Proxy-Authenticate" if proxy else "WWW-Authenticate")
        )
        if challenge is None:
            return False
        self._auth_tried = True
        h = invite.headers.copy()
        h.set("Via", self.ua.via(self.flow))
        h.set("CSeq", f"{invite.cseq[0] + 1} INVITE")
        value = authorization(
            challenge, username=trunk.username, password=trunk.password, method="INVITE", uri=invite.uri
        )
        h.set("Proxy-Authorization" if proxy else "Authorization", value)
        self._send_invite(Request(headers=h, method="INVITE", uri=invite.uri, body=invite.body))
        return True

    def _on_failure(self, kind: str, detail: str) -> None:
        if kind == "timeout":
            self._end(None, EndReason.TRUNK_ERROR, "no response from the trunk (timer B)")
        elif detail:
            self._end(None, EndReason.TRUNK_ERROR, f"trunk unreachable: {detail}")
        else:
            self._end(None, EndReason.TRUNK_ERROR, "the trunk's transport failed")

    def _on_response(self, resp: Response) -> None:
        status = resp.status
        if status < 200:
            self._on_provisional(resp)
        elif status < 300:
            self._on_success(resp)
        elif self.ended is None:
            self._on_final_failure(resp)

    def _on_provisional(self, resp: Response) -> None:
        self._provisional = True
        if self._cancel_reason is not None and not self._cancel_sent:
            self._send_cancel()  # the CANCEL held back until the first provisional response (§9.1)
        if self.ended is not None or resp.status == 100:
            return
        if not self._rang:
            self._rang = True
            self._emit(Ringing(resp.status))
        if resp.body and resp.content_type == "application/sdp" and self.negotiated is None:
            try:
                self._apply(self._answer_from(resp))
            except SdpError as exc:
                log.info("early media on %s unusable: %s", self.sip_call_id, exc)
                return
            self._emit(EarlyMedia(resp.status))

    def _answer_from(self, resp: Response) -> Negotiated:
        assert self.local_media is not None
        return process_answer(self.local_media, SessionDescription.parse(resp.body))

    def _on_success(self, resp: Response) -> None:
        assert self.invite is not None
        if self.dialog is None:
            self.dialog = Dialog.as_uac(self.invite, resp)
            self.ua.register_dialog(self.dialog, self)
        elif resp.cseq[0] in self._acks:
            self.reack(resp)
            return
        if self._settling:
            return  # a retransmission while the first 2xx is still being ACKed
        self._settling = True
        self.ua.spawn(self._ack_then_settle(resp))

    async def _ack_then_settle(self, resp: Response) -> None:
        assert self.dialog is not None and self.invite is not None
        try:
            flow = await self.ua.flow_for_dialog(self.dialog, self.flow)
        except SipError as exc:
            self._end(None, EndReason.TRUNK_ERROR, f"cannot reach the callee to ACK: {exc}")
            return
        self.ack_2xx(self.invite.cseq[0], flow)
        for handle in self._timers:
            handle.cancel()
        if self.ended is not None or self._cancel_reason is not None:
            # Answered as we gave up (CANCEL and 200 crossed, §9.1): end the call we no longer want.
            reason = self._cancel_reason or EndReason.CANCELED
            await self._bye_quietly()
            self._end(None, reason, "answered after we canceled; hung up")
            self.ua.forget_dialog(self.dialog)
            return
        if resp.body and resp.content_type == "application/sdp":
            try:
                self._apply(self._answer_from(resp))
            except SdpError as exc:
                await self._bye_quietly()
                self._end(None, EndReason.REJECTED, f"media negotiation failed: {exc}")
                return
        elif self.negotiated is None:
            await self._bye_quietly()
            self._end(None, EndReason.REJECTED, "the 200 OK carried no SDP answer")
            return
        self._emit(Answered())

    async def _bye_quietly(self) -> None:
        try:
            await self._send_in_dialog("BYE")
        except SipError as exc:
            log.info("BYE on %s failed: %s", self.sip_call_id, exc)

    def _on_final_failure(self, resp: Response) -> None:
        status, text = resp.status, f"{resp.status} {resp.reason}".strip()
        if status in (401, 407) and self._retry_with_credentials(resp):
            return
        if status in (401, 403, 407) and self._auth_tried:
            self._end(status, EndReason.REJECTED, f"authentication failed ({text})")
        elif status in (401, 407):
            self._end(
                status, EndReason.REJECTED, f"authentication required and no usable credentials ({text})"
            )
        elif status == 487 and self._cancel_reason is not None:
            why = (
                "no answer before the ring timeout"
                if self._cancel_reason is EndReason.NO_ANSWER
                else "canceled"
            )
            self._end(status, self._cancel_reason, f"{why} ({text})")
        else:
            self._end(status, end_reason_for_status(status), text)

    # ---- CANCEL -------------------------------------------------------------------------------
    def _on_ring_timeout(self) -> None:
        if self.ended is None and self.dialog is None:
            self._request_cancel(EndReason.NO_ANSWER)

    def _request_cancel(self, reason: EndReason) -> None:
        if self._cancel_reason is not None:
            return
        self._cancel_reason = reason
        if self._provisional:
            self._send_cancel()
            return
        # No CANCEL before a provisional response (§9.1), but the call's owner must not wait for one: the
        # call ends now and the INVITE transaction finishes alone, bounded by timer B. A late 1xx gets the
        # held-back CANCEL (_on_provisional; the transaction ACKs the 487), a late 2xx an ACK and a BYE
        # (_ack_then_settle), and silence ends at timer B, which stops the retransmissions.
        why = "no answer before the ring timeout" if reason is EndReason.NO_ANSWER else "canceled"
        self._end(None, reason, f"{why}; no response from the trunk yet")

    def _send_cancel(self) -> None:
        assert self.invite is not None
        self._cancel_sent = True
        inv = self.invite
        h = Headers()
        h.add("Via", inv.headers.get("Via") or "")
        for route in inv.headers.get_all("Route"):
            h.add("Route", route)
        h.add("Max-Forwards", "70")
        h.add("From", inv.headers.get("From") or "")
        h.add("To", inv.headers.get("To") or "")
        h.add("Call-ID", inv.call_id)
        h.add("CSeq", f"{inv.cseq[0]} CANCEL")
        h.add("User-Agent", self.ua.user_agent)
        cancel = Request(headers=h, method="CANCEL", uri=inv.uri)
        self.ua.start_client(cancel, self.flow, lambda _resp: None, lambda _kind, _detail: None)
        if self.ended is not None:
            return  # a CANCEL held back past the call's end: nothing left to give up
        # If no final response follows within 64*T1 the INVITE is given up (§9.1).
        reason = self._cancel_reason or EndReason.CANCELED
        self._timers.append(
            self.ua.loop.call_later(
                64 * self.ua.timers.t1, self._end, None, reason, "no final response after CANCEL"
            )
        )

    async def cancel(self) -> Ended:
        """Give up on the call: CANCEL before the answer (end reason canceled), BYE after it.

        Before any provisional response the call ends at once and the CANCEL waits for one (§9.1).
        """
        if self.ended is None:
            if self.dialog is not None:
                await Session.hangup(self)
            else:
                self._request_cancel(EndReason.CANCELED)
        return await self.wait_ended()

    async def transfer(self, to: str, *, report_within: float = 30.0, hang_up: bool = True) -> int:
        """Blind transfer of the answered call to a phone number (reached through the trunk, as the
        INVITE was) or to a ``sip:``/``sips:`` URI; see :meth:`Session.transfer`."""
        if to.startswith(("sip:", "sips:")):
            uri = to
        else:
            if not to or any(c in to for c in "@<>;: \r\n"):
                raise ValueError(f"{to!r} is not a phone number, SIP user or SIP URI")
            host, port = self.trunk.host_port()
            suffix = "" if self.trunk.transport == "udp" else f";transport={self.trunk.transport}"
            uri = f"sip:{to}@{host}:{port}{suffix}"
        return await Session.transfer(self, uri, report_within=report_within, hang_up=hang_up)

    async def hangup(self) -> None:
        """BYE when answered; before the answer this is cancel()."""
        if self.dialog is None:
            if self.ended is None:
                await self.cancel()
            return
        await Session.hangup(self)

    def _end(self, status: int | None, reason: EndReason, text: str) -> None:
        for handle in self._timers:
            handle.cancel()
        super()._end(status, reason, text)
