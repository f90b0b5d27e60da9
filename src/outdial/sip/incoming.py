"""An incoming call (UAS): ring, answer with SDP, reject, hang up; CANCEL from the caller."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from outdial.lifecycle import EndReason
from outdial.media import MediaStream, generate_srtp_key
from outdial.sip.dialog import Dialog
from outdial.sip.errors import SipError
from outdial.sip.events import Answered, end_reason_for_status
from outdial.sip.headers import Headers
from outdial.sip.message import Request, Response, reason_phrase
from outdial.sip.sdp import Direction, LocalMedia, SdpError, SessionDescription, answer_offer
from outdial.sip.session import Session
from outdial.sip.transaction import make_response
from outdial.sip.ua import new_tag

if TYPE_CHECKING:
    from outdial.sip.ua import ServerTxn, UserAgent

log = logging.getLogger(__name__)


class IncomingCall(Session):
    """An INVITE we received. The handler set as ``ua.on_invite`` decides: ring, answer or reject."""

    def __init__(self, ua: UserAgent, request: Request, stx: ServerTxn) -> None:
        super().__init__(ua, stx.flow, request.call_id)
        self.request = request
        self._stx = stx
        self.local_tag = new_tag()
        self.caller = request.from_.uri.user or ""
        self.callee = request.to.uri.user or ""
        ua.register_session(self)

    @property
    def headers(self) -> Headers:
        return self.request.headers

    def _respond(self, status: int, reason: str | None = None) -> None:
        resp = make_response(self.request, status, reason or reason_phrase(status), to_tag=self.local_tag)
        if status < 300:
            resp.headers.add("Contact", self.ua.contact(self.flow, self.callee or "outdial"))
        self._stx.respond(resp)

    async def ring(self, status: int = 180) -> None:
        if self.ended is None and not self.answered:
            self._respond(status)

    async def answer(self, direction: Direction = "sendrecv", media_host: str | None = None) -> MediaStream:
        """Accept the call with an SDP answer; returns the media stream, already configured."""
        if self.ended is not None:
            raise SipError(f"cannot answer: the call already ended ({self.ended.reason})")
        self.media = await self.ua.open_media(media_host or self.ua.host)
        self.local_media = LocalMedia(
            host=self.ua.sdp_host(media_host or self.ua.host, self.flow),
            port=self.media.local_port,
            encryption=self.ua.uas_media_encryption,
            srtp_key=generate_srtp_key(),
        )
        self.direction = direction
        try:
            answer, negotiated = answer_offer(
                self.local_media, SessionDescription.parse(self.request.body), direction
            )
        except SdpError as exc:
            await self.reject(488)
            raise SipError(f"cannot answer: {exc}") from None
        if self.ended is not None:  # canceled while the media port opened
            await self.media.close()
            raise SipError("cannot answer: the caller canceled")
        self.dialog = Dialog.as_uas(self.request, self.local_tag)
        self.ua.register_dialog(self.dialog, self)
        self._apply(negotiated)
        resp = make_response(self.request, 200, "OK", to_tag=self.local_tag)
        resp.headers.add("Contact", self.ua.contact(self.flow, self.callee or "outdial"))
        resp.headers.add("Allow", self.ua.ALLOW)
        resp.headers.add("Content-Type", "application/sdp")
        resp.body = answer.serialize()
        self._emit(Answered())
        self.ua.spawn(self._confirm(resp))
        return self.media

    async def _confirm(self, resp: Response) -> None:
        if not await self._send_2xx_until_acked(self.request, self._stx, resp) and self.ended is None:
            # No ACK within 64*T1: the dialog is confirmed and must be torn down (§13.3.1.4).
            await Session.hangup(self)

    async def reject(self, status: int = 486, reason: str | None = None) -> None:
        if self.ended is not None or self.answered:
            return
        if not 300 <= status < 700:
            raise ValueError(f"reject needs a 3xx-6xx status, not {status}")
        self._respond(status, reason)
        self._end(status, end_reason_for_status(status), f"we rejected with {status}")

    def on_cancel(self) -> None:
        """The caller sent CANCEL: 487 for the INVITE unless we already answered (§9.2)."""
        if self.answered or self.ended is not None:
            return
        self._respond(487)
        self._end(487, EndReason.CANCELED, "the caller canceled")

    async def hangup(self) -> None:
        """BYE when answered; before the answer, decline with 603."""
        if not self.answered:
            await self.reject(603)
            return
        await Session.hangup(self)
