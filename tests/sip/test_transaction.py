"""The sans-I/O transaction state machines, driven with plain messages and fired timers (RFC 3261 §17)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from outdial.sip.message import Request, Response, parse_message
from outdial.sip.transaction import (
    ClientTransaction,
    ResponseReceived,
    Send,
    ServerTransaction,
    StartTimer,
    State,
    Terminated,
    TimedOut,
    Timers,
    TransactionStateError,
    make_response,
)


def request(method: str = "INVITE", branch: str = "z9hG4bK1") -> Request:
    raw = (
        f"{method} sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={branch}\r\n"
        f"From: <sip:a@h>;tag=1\r\nTo: <sip:bob@h>\r\nCall-ID: c1\r\nCSeq: 1 {method}\r\n\r\n"
    ).encode()
    msg = parse_message(raw)
    assert isinstance(msg, Request)
    return msg


def resp(req: Request, status: int) -> Response:
    return make_response(req, status, "X", to_tag="t" if status > 100 else None)


def timers(outputs: Sequence[object]) -> list[tuple[str, float]]:
    return [(o.name, o.delay) for o in outputs if isinstance(o, StartTimer)]


def test_invite_client_over_udp_retransmits_with_timer_a_doubling_until_timer_b() -> None:
    txn = ClientTransaction(request(), reliable=False, timers=Timers(t1=0.5))
    out = txn.start()
    assert isinstance(out[0], Send)
    assert timers(out) == [("A", 0.5), ("B", 32.0)]
    delays = []
    for _ in range(4):
        out = txn.timer_fired("A")
        assert isinstance(out[0], Send) and isinstance(out[0].message, Request)
        assert out[0].message.method == "INVITE"
        delays += [d for n, d in timers(out)]
    assert delays == [1.0, 2.0, 4.0, 8.0]  # A doubles without the T2 cap (§17.1.1.2)
    out = txn.timer_fired("B")
    assert any(isinstance(o, TimedOut) for o in out) and any(isinstance(o, Terminated) for o in out)
    assert txn.state is State.TERMINATED


def test_invite_client_over_tcp_starts_no_retransmission_timer_and_no_timer_d() -> None:
    req = request()
    txn = ClientTransaction(req, reliable=True)
    assert timers(txn.start()) == [("B", 32.0)]
    out = txn.receive(resp(req, 486))
    ack = [o.message for o in out if isinstance(o, Send)]
    assert [m.method for m in ack if isinstance(m, Request)] == ["ACK"]
    assert any(isinstance(o, Terminated) for o in out)  # timer D is zero on reliable transports


def test_invite_client_acks_a_failure_in_the_transaction_and_absorbs_its_retransmissions() -> None:
    req = request()
    txn = ClientTransaction(req, reliable=False)
    txn.start()
    txn.receive(resp(req, 180))
    assert txn.state is State.PROCEEDING
    out = txn.receive(resp(req, 486))
    ack = next(o.message for o in out if isinstance(o, Send))
    assert isinstance(ack, Request) and ack.method == "ACK"
    assert ack.via.branch == req.via.branch and ack.cseq == (1, "ACK") and ack.to.tag == "t"
    assert ("D", 32.0) in timers(out)
    again = txn.receive(resp(req, 486))
    assert [type(o) for o in again] == [Send]  # re-ACK only; the TU hears of the failure once
    assert txn.timer_fired("D")[-1] == Terminated()


def test_invite_client_passes_2xx_retransmissions_to_the_tu_in_accepted_state() -> None:
    req = request()
    txn = ClientTransaction(req, reliable=False)
    txn.start()
    out = txn.receive(resp(req, 200))
    assert txn.state is State.ACCEPTED and ("M", 32.0) in timers(out)
    assert not any(isinstance(o, Send) for o in out)  # the 2xx ACK belongs to the TU
    assert txn.receive(resp(req, 200)) == [ResponseReceived(resp(req, 200))]


def test_non_invite_client_timer_e_caps_at_t2_and_uses_t2_once_proceeding() -> None:
    req = request("BYE")
    txn = ClientTransaction(req, reliable=False, timers=Timers(t1=0.5, t2=4.0))
    assert timers(txn.start()) == [("E", 0.5), ("F", 32.0)]
    seen = [timers(txn.timer_fired("E"))[0][1] for _ in range(5)]
    assert seen == [1.0, 2.0, 4.0, 4.0, 4.0]
    txn.receive(resp(req, 100))
    assert timers(txn.timer_fired("E")) == [("E", 4.0)]
    out = txn.receive(resp(req, 200))
    assert ("K", 5.0) in timers(out)
    assert txn.timer_fired("K") == [Terminated()]


def test_non_invite_client_times_out_with_timer_f() -> None:
    txn = ClientTransaction(request("OPTIONS"), reliable=True)
    assert timers(txn.start()) == [("F", 32.0)]
    assert txn.timer_fired("F") == [TimedOut(), Terminated()]


def test_invite_server_sends_trying_resends_last_response_and_waits_for_ack() -> None:
    req = request()
    txn = ServerTransaction(req, reliable=False)
    trying = txn.start()
    assert isinstance(trying[0], Send) and trying[0].message.status == 100  # type: ignore[union-attr]
    txn.respond(resp(req, 180))
    assert txn.receive(req) == [Send(resp(req, 180))]  # retransmitted INVITE
    out = txn.respond(resp(req, 486))
    assert timers(out) == [("G", 0.5), ("H", 32.0)]
    assert timers(txn.timer_fired("G")) == [("G", 1.0)]
    ack = request("ACK")
    out = txn.receive(ack)
    assert txn.state is State.CONFIRMED and ("I", 5.0) in timers(out)
    assert txn.timer_fired("I") == [Terminated()]


def test_server_transaction_refuses_a_second_final_response() -> None:
    req = request("BYE")
    txn = ServerTransaction(req, reliable=True)
    txn.start()
    assert txn.respond(resp(req, 200))[-1] == Terminated()  # timer J is zero over TCP
    with pytest.raises(TransactionStateError):
        txn.respond(resp(req, 200))
