"""Dialog state from an INVITE and its 2xx (RFC 3261 §12): route set, remote target, CSeq."""

from __future__ import annotations

from outdial.sip.dialog import Dialog
from outdial.sip.message import Request, Response, parse_message

INVITE = (
    b"INVITE sip:bob@trunk.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n"
    b"From: <sip:+1555@trunk.example>;tag=ours\r\nTo: <sip:bob@trunk.example>\r\nCall-ID: c1\r\n"
    b"CSeq: 7 INVITE\r\nContact: <sip:us@10.0.0.1:5060>\r\n"
    b"Record-Route: <sip:p2.example;lr>, <sip:p1.example;lr>\r\n\r\n"
)
OK = (
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n"
    b"From: <sip:+1555@trunk.example>;tag=ours\r\nTo: <sip:bob@trunk.example>;tag=theirs\r\nCall-ID: c1\r\n"
    b"CSeq: 7 INVITE\r\nContact: <sip:bob@192.0.2.9:5070>\r\n"
    b"Record-Route: <sip:p2.example;lr>, <sip:p1.example;lr>\r\n\r\n"
)


def test_uac_dialog_reverses_record_route_and_targets_the_contact() -> None:
    invite, ok = parse_message(INVITE), parse_message(OK)
    assert isinstance(invite, Request) and isinstance(ok, Response)
    d = Dialog.as_uac(invite, ok)
    assert d.id == ("c1", "ours", "theirs")
    bye = d.create_request("BYE", via="SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK2")
    assert bye.uri == "sip:bob@192.0.2.9:5070"
    assert bye.headers.get_all("Route") == ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]
    assert bye.cseq == (8, "BYE")
    assert (bye.from_.tag, bye.to.tag) == ("ours", "theirs")
    assert str(d.next_hop(bye)) == "sip:p1.example;lr"
    ack = d.create_request("ACK", via="SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK3", cseq=7)
    assert ack.cseq == (7, "ACK") and d.local_seq == 8


def test_uas_dialog_keeps_record_route_order_and_rejects_old_cseq() -> None:
    invite = parse_message(INVITE)
    assert isinstance(invite, Request)
    d = Dialog.as_uas(invite, "mine")
    assert d.id == ("c1", "mine", "ours")
    assert d.route_set == ["<sip:p2.example;lr>", "<sip:p1.example;lr>"]
    assert d.remote_target == "sip:us@10.0.0.1:5060"
    assert not d.accept_remote(invite)  # a request with a CSeq not above the last one is out of order
    newer = parse_message(INVITE.replace(b"INVITE sip", b"BYE sip").replace(b"7 INVITE", b"8 BYE"))
    assert isinstance(newer, Request) and d.accept_remote(newer)
