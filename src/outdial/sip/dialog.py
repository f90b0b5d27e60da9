"""Dialogs (RFC 3261 §12): identifiers, CSeq, remote target and route set; sans-I/O."""

from __future__ import annotations

from dataclasses import dataclass, field

from outdial.sip.headers import Address, Headers, SipUri
from outdial.sip.message import Request, Response


@dataclass
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: str  # our From/To value without the tag
    remote_uri: str
    remote_target: str
    route_set: list[str] = field(default_factory=list)
    local_seq: int = 1
    remote_seq: int | None = None
    secure: bool = False

    @property
    def id(self) -> tuple[str, str, str]:
        return (self.call_id, self.local_tag, self.remote_tag)

    @classmethod
    def as_uac(cls, request: Request, response: Response) -> Dialog:
        """The dialog a 1xx-with-tag or 2xx to our INVITE creates (§12.1.2): route set reversed."""
        local = request.from_
        remote = response.to
        contact = response.headers.get("Contact")
        target = str(Address.parse(contact).uri) if contact else request.uri
        return cls(
            call_id=request.call_id,
            local_tag=local.tag or "",
            remote_tag=remote.tag or "",
            local_uri=_without_tag(local),
            remote_uri=_without_tag(remote),
            remote_target=target,
            route_set=list(reversed(response.headers.get_all("Record-Route"))),
            local_seq=request.cseq[0],
            secure=SipUri.parse(request.uri).scheme == "sips",
        )

    @classmethod
    def as_uas(cls, request: Request, local_tag: str) -> Dialog:
        """The dialog our 2xx to an INVITE creates (§12.1.1): route set in Record-Route order."""
        contact = request.headers.get("Contact")
        remote = request.from_
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=remote.tag or "",
            local_uri=_without_tag(request.to),
            remote_uri=_without_tag(remote),
            remote_target=str(Address.parse(contact).uri) if contact else str(remote.uri),
            route_set=list(request.headers.get_all("Record-Route")),
            local_seq=0,
            remote_seq=request.cseq[0],
            secure=SipUri.parse(request.uri).scheme == "sips",
        )

    def _loose(self) -> bool:
        return not self.route_set or "lr" in Address.parse(self.route_set[0]).uri.params

    def create_request(
        self, method: str, *, via: str, contact: str | None = None, cseq: int | None = None
    ) -> Request:
        """A request inside the dialog (§12.2.1.1). ACK and CANCEL reuse a CSeq; others take the next one."""
        if cseq is None:
            self.local_seq += 1
            cseq = self.local_seq
        headers = Headers()
        headers.add("Via", via)
        headers.add("Max-Forwards", "70")
        if self._loose():
            uri = self.remote_target
            routes = self.route_set
        else:
            # Strict router (RFC 2543): it goes in the Request-URI, the remote target last in Route.
            uri = str(Address.parse(self.route_set[0]).uri)
            routes = [*self.route_set[1:], f"<{self.remote_target}>"]
        for route in routes:
            headers.add("Route", route)
        headers.add("From", f"{self.local_uri};tag={self.local_tag}")
        headers.add("To", f"{self.remote_uri};tag={self.remote_tag}")
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", f"{cseq} {method}")
        if contact:
            headers.add("Contact", contact)
        return Request(headers=headers, method=method, uri=uri)

    def next_hop(self, request: Request) -> SipUri:
        """Where a request in this dialog is sent: the first Route, else the Request-URI (§8.1.2)."""
        route = request.headers.get("Route")
        return Address.parse(route).uri if route else SipUri.parse(request.uri)

    def accept_remote(self, request: Request) -> bool:
        """Check and record the remote CSeq of an in-dialog request (§12.2.2); False means answer 500."""
        seq = request.cseq[0]
        if request.method in ("ACK", "CANCEL"):
            return True
        if self.remote_seq is not None and seq <= self.remote_seq:
            return False
        self.remote_seq = seq
        return True

    def refresh_target(self, msg: Request | Response) -> None:
        """A re-INVITE or its 2xx may move the remote target (§12.2)."""
        contact = msg.headers.get("Contact")
        if contact:
            self.remote_target = str(Address.parse(contact).uri)


def _without_tag(addr: Address) -> str:
    params = {k: v for k, v in addr.params.items() if k != "tag"}
    return str(Address(uri=addr.uri, display=addr.display, params=params))


def dialog_key(msg: Request | Response, *, uac_side_response: bool = False) -> tuple[str, str, str]:
    """(Call-ID, local tag, remote tag) seen from our side for an incoming request or response."""
    from_tag = msg.from_.tag or ""
    to_tag = msg.to.tag or ""
    if isinstance(msg, Response) or uac_side_response:
        return (msg.call_id, from_tag, to_tag)
    return (msg.call_id, to_tag, from_tag)
