"""The SIP message parser accepts real-world messages and rejects garbage with SipParseError only."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outdial.sip.errors import SipParseError
from outdial.sip.headers import Address, Headers, SipUri, Via
from outdial.sip.message import Request, Response, StreamFramer, parse_message

# RFC 4475 §3.1.1.1-style "short tortuous" message, trimmed: compact forms, folding, odd case, UTF-8.
TORTUOUS = (
    "INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\r\n"
    "TO :\r\n sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\r\n"
    'from   : "J Rosenberg \\\\\\"" <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8\r\n'
    "MaX-fOrWaRdS: 0068\r\n"
    "Call-ID: wsinv.ndaksdj@192.0.2.1\r\n"
    "Content-Length   : 4\r\n"
    "cseq: 0009\r\n  INVITE\r\n"
    "Via  : SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw\r\n"
    "s :\r\n"
    "NewFangledHeader:   newfangled value\r\n continued newfangled value\r\n"
    "v:  SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8  ,\r\n"
    " SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n z9hG4bK30239\r\n"
    'm:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =\r\n      newvalue ;\r\n'
    "  secondparam ; q = 0.33\r\n"
    "\r\n"
    "v=0\r\n"
)


def test_tortuous_message_with_folding_compact_forms_and_odd_case_parses() -> None:
    msg = parse_message(TORTUOUS.encode())
    assert isinstance(msg, Request)
    assert msg.method == "INVITE"
    assert msg.cseq == (9, "INVITE")
    assert msg.call_id == "wsinv.ndaksdj@192.0.2.1"
    assert msg.headers.get("max-forwards") == "0068"
    vias = msg.headers.get_all("v")
    assert len(vias) == 3
    assert Via.parse(vias[1]).transport == "TCP"
    assert Via.parse(vias[1]).branch == "z9hG4bK9ikj8"
    assert msg.to.tag == "1918181833n"
    assert msg.from_.tag == "98asjd8"
    assert msg.from_.display == 'J Rosenberg \\"'
    contact = Address.parse(msg.headers.get("Contact") or "")
    assert contact.params["q"] == "0.33"
    assert msg.body == b"v=0\r"


def test_utf8_display_name_and_repeated_headers_round_trip() -> None:
    raw = (
        "SIP/2.0 180 Ringing\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKa;rport=5060;received=127.0.0.1\r\n"
        'From: "Zoë Ångström" <sip:+15557654321@127.0.0.1>;tag=abc\r\n'
        "To: <sip:+15551234567@127.0.0.1>;tag=def\r\n"
        "Call-ID: x@y\r\n"
        "CSeq: 1 INVITE\r\n"
        "Record-Route: <sip:p1.example.com;lr>\r\n"
        "Record-Route: <sip:p2.example.com;lr>, <sip:p3.example.com;lr>\r\n"
        "\r\n"
    ).encode()
    msg = parse_message(raw)
    assert isinstance(msg, Response)
    assert (msg.status, msg.reason) == (180, "Ringing")
    assert msg.from_.display == "Zoë Ångström"
    assert msg.headers.get_all("Record-Route") == [
        "<sip:p1.example.com;lr>",
        "<sip:p2.example.com;lr>",
        "<sip:p3.example.com;lr>",
    ]
    assert msg.via.params["rport"] == "5060"
    again = parse_message(msg.serialize())
    assert again.headers.get_all("Record-Route") == msg.headers.get_all("Record-Route")
    assert again.from_.display == "Zoë Ångström"


def test_missing_content_length_on_datagram_takes_rest_of_packet() -> None:
    raw = (
        b"OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:a@b>;tag=1\r\n"
        b"t: <sip:c@d>\r\ni: 1\r\nCSeq: 1 OPTIONS\r\n\r\nhello"
    )
    assert parse_message(raw).body == b"hello"
    with pytest.raises(SipParseError, match="Content-Length is required"):
        parse_message(raw, stream=True)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"", "empty"),
        (b"HELLO\r\n\r\n", "invalid start line"),
        (b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n", "missing required header From"),
        (b"SIP/2.0 999 Nope\r\n\r\n", "invalid start line"),
        (
            b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>\r\nTo: <sip:a@b>\r\n"
            b"Call-ID: 1\r\nCSeq: 1 BYE\r\n\r\n",
            "does not match",
        ),
        (
            b"BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>\r\nTo: <sip:a@b>\r\n"
            b"Call-ID: 1\r\nCSeq: 1 BYE\r\nContent-Length: 10\r\n\r\nabc",
            "shorter",
        ),
        (b"BYE sip:a@b SIP/2.0\r\nbad header\r\n\r\n", "without a colon"),
        (b"BYE sip:a@b SIP/2.0\r\nVia: \xff\r\n\r\n", "not UTF-8"),
    ],
)
def test_garbage_is_rejected_with_a_clear_error(raw: bytes, why: str) -> None:
    with pytest.raises(SipParseError, match=why):
        parse_message(raw)


def test_stream_framer_cuts_messages_by_content_length_across_chunks() -> None:
    one = (
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n"
        b"To: <sip:c@d>\r\nCall-ID: 1\r\nCSeq: 1 INVITE\r\nl: 3\r\n\r\nabc"
    )
    two = one.replace(b"abc", b"xyz").replace(b"Call-ID: 1", b"Call-ID: 2")
    stream = b"\r\n\r\n" + one + two
    framer = StreamFramer()
    got = []
    for i in range(0, len(stream), 7):
        framer.feed(stream[i : i + 7])
        while (msg := framer.next_message()) is not None:
            got.append(msg)
    assert [(m.call_id, m.body) for m in got] == [("1", b"abc"), ("2", b"xyz")]


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_crash_the_parser(data: bytes) -> None:
    try:
        parse_message(data)
    except SipParseError:
        pass


_PREFIX = b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_tails_after_a_valid_prefix_never_crash_the_parser(tail: bytes) -> None:
    framer = StreamFramer()
    for data in (_PREFIX + tail, _PREFIX + b"To: <sip:c@d>\r\nCall-ID: 1\r\nCSeq: 1 INVITE\r\n" + tail):
        try:
            msg = parse_message(data)
            msg.from_, msg.to, msg.via, msg.cseq  # noqa: B018 - accessors must hold on accepted input
        except SipParseError:
            pass
        try:
            framer.feed(data + b"\r\n\r\n")
            framer.next_message()
        except SipParseError:
            framer = StreamFramer()


_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=12)
_value = (
    st.text(
        alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters=',"<>;\\'),
        min_size=1,
        max_size=30,
    )
    .map(str.strip)
    .filter(bool)
)
_display = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=20)


@st.composite
def requests(draw: st.DrawFn) -> Request:
    method = draw(st.sampled_from(["INVITE", "BYE", "OPTIONS", "INFO", "CANCEL", "REGISTER"]))
    user = draw(_token)
    headers = Headers()
    headers.add(
        "Via", f"SIP/2.0/UDP {draw(_token)}:{draw(st.integers(1, 65535))};branch=z9hG4bK{draw(_token)}"
    )
    display = draw(_display)
    headers.add(
        "From", str(Address(SipUri("sip", "example.com", user), display or None, {"tag": draw(_token)}))
    )
    headers.add("To", str(Address(SipUri("sip", draw(_token), user))))
    headers.add("Call-ID", draw(_token) + "@" + draw(_token))
    headers.add("CSeq", f"{draw(st.integers(0, 2**31))} {method}")
    for _ in range(draw(st.integers(0, 4))):
        headers.add("X-" + draw(_token), draw(_value))
    body = draw(st.binary(max_size=200))
    return Request(headers=headers, body=body, method=method, uri=f"sip:{user}@example.com")


@settings(max_examples=300, deadline=None)
@given(requests())
def test_parse_of_serialize_round_trips(req: Request) -> None:
    parsed = parse_message(req.serialize())
    assert isinstance(parsed, Request)
    assert (parsed.method, parsed.uri, parsed.body) == (req.method, req.uri, req.body)
    assert [h for h in parsed.headers if h[0] != "Content-Length"] == list(req.headers)
    assert parsed.from_ == req.from_
    assert parse_message(parsed.serialize()) == parsed


def test_stream_framer_refuses_a_huge_content_length_before_buffering_it() -> None:
    framer = StreamFramer()
    framer.feed(
        b"BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nContent-Length: 999999999\r\n\r\n"
    )
    with pytest.raises(SipParseError, match="too large"):
        framer.next_message()
