"""Client and server transactions (RFC 3261 §17, with RFC 6026's Accepted state), sans-I/O.

Everything that affects a transaction's state lives in the four tables below (after h11's ``_state.py``):
a key is (state, input), its value the next state and the actions to take, in order. The shell feeds
inputs (responses, requests, fired timers) and carries out what comes back: messages to send, timers
to start or stop, and what to tell the transaction user. Over TCP/TLS the retransmission timers are
never started and the wait timers (D, I, J, K) are zero, as §17 prescribes for reliable transports.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto

from outdial.sip.headers import Headers
from outdial.sip.message import Request, Response


class State(Enum):
    CALLING = auto()
    TRYING = auto()
    PROCEEDING = auto()
    ACCEPTED = auto()
    COMPLETED = auto()
    CONFIRMED = auto()
    TERMINATED = auto()


class Input(Enum):
    START = auto()
    PROVISIONAL = auto()  # 1xx received (client) or to send (server)
    SUCCESS = auto()  # 2xx
    FAILURE = auto()  # 3xx-6xx
    REQUEST = auto()  # server: a retransmission of the request
    ACK = auto()  # server: the ACK for a non-2xx final response
    TIMER_A = auto()
    TIMER_B = auto()
    TIMER_D = auto()
    TIMER_E = auto()
    TIMER_F = auto()
    TIMER_G = auto()
    TIMER_H = auto()
    TIMER_I = auto()
    TIMER_J = auto()
    TIMER_K = auto()
    TIMER_L = auto()
    TIMER_M = auto()
    TRANSPORT_ERROR = auto()


class Act(Enum):
    SEND_REQUEST = auto()  # (re)send the request
    SEND_ACK = auto()  # ACK a non-2xx final response
    SEND_RESPONSE = auto()  # send the response the TU gave
    RESEND_RESPONSE = auto()  # resend the last response sent
    SEND_TRYING = auto()  # 100 Trying, at once, so the client stops retransmitting
    PASS_RESPONSE = auto()  # hand the response to the TU
    REPORT_TIMEOUT = auto()
    REPORT_TRANSPORT_ERROR = auto()
    START_A = auto()
    START_B = auto()
    START_D = auto()
    START_E = auto()
    START_F = auto()
    START_G = auto()
    START_H = auto()
    START_I = auto()
    START_J = auto()
    START_K = auto()
    START_L = auto()
    START_M = auto()
    STOP_A = auto()
    STOP_B = auto()
    STOP_E = auto()
    STOP_F = auto()
    STOP_G = auto()
    STOP_H = auto()


S, I, A = State, Input, Act  # noqa: E741 - short names keep the tables readable
Table = dict[tuple[State, Input], tuple[State, tuple[Act, ...]]]

INVITE_CLIENT: Table = {
    (S.CALLING, I.START): (S.CALLING, (A.SEND_REQUEST, A.START_A, A.START_B)),
    (S.CALLING, I.TIMER_A): (S.CALLING, (A.SEND_REQUEST, A.START_A)),
    (S.CALLING, I.TIMER_B): (S.TERMINATED, (A.REPORT_TIMEOUT,)),
    (S.CALLING, I.PROVISIONAL): (S.PROCEEDING, (A.STOP_A, A.STOP_B, A.PASS_RESPONSE)),
    (S.CALLING, I.SUCCESS): (S.ACCEPTED, (A.STOP_A, A.STOP_B, A.PASS_RESPONSE, A.START_M)),
    (S.CALLING, I.FAILURE): (S.COMPLETED, (A.STOP_A, A.STOP_B, A.SEND_ACK, A.PASS_RESPONSE, A.START_D)),
    (S.CALLING, I.TRANSPORT_ERROR): (S.TERMINATED, (A.STOP_A, A.STOP_B, A.REPORT_TRANSPORT_ERROR)),
    (S.PROCEEDING, I.PROVISIONAL): (S.PROCEEDING, (A.PASS_RESPONSE,)),
    (S.PROCEEDING, I.SUCCESS): (S.ACCEPTED, (A.PASS_RESPONSE, A.START_M)),
    (S.PROCEEDING, I.FAILURE): (S.COMPLETED, (A.SEND_ACK, A.PASS_RESPONSE, A.START_D)),
    (S.PROCEEDING, I.TRANSPORT_ERROR): (S.TERMINATED, (A.REPORT_TRANSPORT_ERROR,)),
    # 2xx retransmissions go to the TU, which re-sends its ACK (RFC 6026 §8.4).
    (S.ACCEPTED, I.SUCCESS): (S.ACCEPTED, (A.PASS_RESPONSE,)),
    (S.ACCEPTED, I.TIMER_M): (S.TERMINATED, ()),
    (S.COMPLETED, I.FAILURE): (S.COMPLETED, (A.SEND_ACK,)),
    (S.COMPLETED, I.TIMER_D): (S.TERMINATED, ()),
}

NON_INVITE_CLIENT: Table = {
    (S.TRYING, I.START): (S.TRYING, (A.SEND_REQUEST, A.START_E, A.START_F)),
    (S.TRYING, I.TIMER_E): (S.TRYING, (A.SEND_REQUEST, A.START_E)),
    (S.TRYING, I.TIMER_F): (S.TERMINATED, (A.REPORT_TIMEOUT,)),
    (S.TRYING, I.PROVISIONAL): (S.PROCEEDING, (A.PASS_RESPONSE,)),
    (S.TRYING, I.SUCCESS): (S.COMPLETED, (A.STOP_E, A.STOP_F, A.PASS_RESPONSE, A.START_K)),
    (S.TRYING, I.FAILURE): (S.COMPLETED, (A.STOP_E, A.STOP_F, A.PASS_RESPONSE, A.START_K)),
    (S.TRYING, I.TRANSPORT_ERROR): (S.TERMINATED, (A.STOP_E, A.STOP_F, A.REPORT_TRANSPORT_ERROR)),
    (S.PROCEEDING, I.TIMER_E): (S.PROCEEDING, (A.SEND_REQUEST, A.START_E)),
    (S.PROCEEDING, I.TIMER_F): (S.TERMINATED, (A.REPORT_TIMEOUT,)),
    (S.PROCEEDING, I.PROVISIONAL): (S.PROCEEDING, (A.PASS_RESPONSE,)),
    (S.PROCEEDING, I.SUCCESS): (S.COMPLETED, (A.STOP_E, A.STOP_F, A.PASS_RESPONSE, A.START_K)),
    (S.PROCEEDING, I.FAILURE): (S.COMPLETED, (A.STOP_E, A.STOP_F, A.PASS_RESPONSE, A.START_K)),
    (S.PROCEEDING, I.TRANSPORT_ERROR): (S.TERMINATED, (A.STOP_E, A.STOP_F, A.REPORT_TRANSPORT_ERROR)),
    (S.COMPLETED, I.TIMER_K): (S.TERMINATED, ()),
}

INVITE_SERVER: Table = {
    (S.PROCEEDING, I.START): (S.PROCEEDING, (A.SEND_TRYING,)),
    (S.PROCEEDING, I.REQUEST): (S.PROCEEDING, (A.RESEND_RESPONSE,)),
    (S.PROCEEDING, I.PROVISIONAL): (S.PROCEEDING, (A.SEND_RESPONSE,)),
    (S.PROCEEDING, I.SUCCESS): (S.ACCEPTED, (A.SEND_RESPONSE, A.START_L)),
    (S.PROCEEDING, I.FAILURE): (S.COMPLETED, (A.SEND_RESPONSE, A.START_G, A.START_H)),
    (S.PROCEEDING, I.TRANSPORT_ERROR): (S.TERMINATED, (A.REPORT_TRANSPORT_ERROR,)),
    # The TU retransmits its 2xx until the ACK arrives (§13.3.1.4); INVITE retransmissions are absorbed.
    (S.ACCEPTED, I.SUCCESS): (S.ACCEPTED, (A.SEND_RESPONSE,)),
    (S.ACCEPTED, I.REQUEST): (S.ACCEPTED, ()),
    (S.ACCEPTED, I.TIMER_L): (S.TERMINATED, ()),
    (S.COMPLETED, I.REQUEST): (S.COMPLETED, (A.RESEND_RESPONSE,)),
    (S.COMPLETED, I.TIMER_G): (S.COMPLETED, (A.RESEND_RESPONSE, A.START_G)),
    (S.COMPLETED, I.TIMER_H): (S.TERMINATED, (A.STOP_G, A.REPORT_TIMEOUT)),
    (S.COMPLETED, I.ACK): (S.CONFIRMED, (A.STOP_G, A.STOP_H, A.START_I)),
    (S.COMPLETED, I.TRANSPORT_ERROR): (S.TERMINATED, (A.STOP_G, A.STOP_H, A.REPORT_TRANSPORT_ERROR)),
    (S.CONFIRMED, I.ACK): (S.CONFIRMED, ()),
    (S.CONFIRMED, I.TIMER_I): (S.TERMINATED, ()),
}

NON_INVITE_SERVER: Table = {
    (S.TRYING, I.START): (S.TRYING, ()),
    (S.TRYING, I.REQUEST): (S.TRYING, ()),
    (S.TRYING, I.PROVISIONAL): (S.PROCEEDING, (A.SEND_RESPONSE,)),
    (S.TRYING, I.SUCCESS): (S.COMPLETED, (A.SEND_RESPONSE, A.START_J)),
    (S.TRYING, I.FAILURE): (S.COMPLETED, (A.SEND_RESPONSE, A.START_J)),
    (S.PROCEEDING, I.REQUEST): (S.PROCEEDING, (A.RESEND_RESPONSE,)),
    (S.PROCEEDING, I.PROVISIONAL): (S.PROCEEDING, (A.SEND_RESPONSE,)),
    (S.PROCEEDING, I.SUCCESS): (S.COMPLETED, (A.SEND_RESPONSE, A.START_J)),
    (S.PROCEEDING, I.FAILURE): (S.COMPLETED, (A.SEND_RESPONSE, A.START_J)),
    (S.PROCEEDING, I.TRANSPORT_ERROR): (S.TERMINATED, (A.REPORT_TRANSPORT_ERROR,)),
    (S.COMPLETED, I.REQUEST): (S.COMPLETED, (A.RESEND_RESPONSE,)),
    (S.COMPLETED, I.TIMER_J): (S.TERMINATED, ()),
}


@dataclass(frozen=True)
class Timers:
    """RFC 3261 Table 4 base values, in seconds."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0


# What the shell must do.
@dataclass(frozen=True)
class Send:
    message: Request | Response


@dataclass(frozen=True)
class StartTimer:
    name: str
    delay: float


@dataclass(frozen=True)
class StopTimer:
    name: str


@dataclass(frozen=True)
class ResponseReceived:
    response: Response


@dataclass(frozen=True)
class TimedOut:
    pass


@dataclass(frozen=True)
class TransportFailed:
    pass


@dataclass(frozen=True)
class Terminated:
    pass


Output = Send | StartTimer | StopTimer | ResponseReceived | TimedOut | TransportFailed | Terminated


class TransactionStateError(RuntimeError):
    """The transaction user asked for something the current state does not allow (a bug)."""


def status_input(status: int) -> Input:
    if status < 200:
        return I.PROVISIONAL
    return I.SUCCESS if status < 300 else I.FAILURE


class _Transaction:
    table: Table
    # Inputs the transaction user gives; in a state the table lacks they are a bug, not network noise.
    tu_inputs: frozenset[Input] = frozenset({I.START})

    def __init__(self, request: Request, *, reliable: bool, timers: Timers) -> None:
        self.request = request
        self.reliable = reliable
        self.timers = timers
        self.state = S.CALLING if self.table is INVITE_CLIENT else S.TRYING
        if self.table is INVITE_SERVER:
            self.state = S.PROCEEDING
        self.last_response: Response | None = None
        self._interval = timers.t1  # current retransmission interval of timer A, E or G

    @property
    def terminated(self) -> bool:
        return self.state is S.TERMINATED

    def _step(self, inp: Input, message: Response | None = None) -> list[Output]:
        entry = self.table.get((self.state, inp))
        if entry is None:
            if inp in self.tu_inputs:
                raise TransactionStateError(f"{inp.name} not allowed in state {self.state.name}")
            return []  # stray network input or late timer: ignored, as §17 says
        self.state, acts = entry
        out: list[Output] = []
        for act in acts:
            out.extend(self._do(act, message))
        if self.state is S.TERMINATED:
            out.append(Terminated())
        return out

    def _do(self, act: Act, message: Response | None) -> list[Output]:
        if act is A.SEND_REQUEST:
            return [Send(self.request)]
        if act is A.PASS_RESPONSE:
            assert message is not None
            return [ResponseReceived(message)]
        if act is A.REPORT_TIMEOUT:
            return [TimedOut()]
        if act is A.REPORT_TRANSPORT_ERROR:
            return [TransportFailed()]
        if act is A.SEND_ACK:
            assert message is not None
            return [Send(ack_for_failure(self.request, message))]
        if act is A.SEND_RESPONSE:
            assert message is not None
            self.last_response = message
            return [Send(message)]
        if act is A.RESEND_RESPONSE:
            return [Send(self.last_response)] if self.last_response is not None else []
        if act is A.SEND_TRYING:
            self.last_response = make_response(self.request, 100, "Trying")
            return [Send(self.last_response)]
        name = act.name[-1]
        if act.name.startswith("STOP_"):
            return [StopTimer(name)]
        return self._start(name)

    def _start(self, name: str) -> list[Output]:
        t = self.timers
        if name in "AEG":
            if self.reliable:
                return []
            delay = self._interval
            if name == "A":
                self._interval *= 2
            elif name == "E" and self.state is S.PROCEEDING:
                delay = t.t2
            else:
                self._interval = min(self._interval * 2, t.t2)
            return [StartTimer(name, delay)]
        delays = {
            "B": 64 * t.t1,
            "F": 64 * t.t1,
            "H": 64 * t.t1,
            "L": 64 * t.t1,
            "M": 64 * t.t1,
            "D": 0.0 if self.reliable else max(32.0, 64 * t.t1),
            "J": 0.0 if self.reliable else 64 * t.t1,
            "K": 0.0 if self.reliable else t.t4,
            "I": 0.0 if self.reliable else t.t4,
        }
        delay = delays[name]
        if delay == 0.0:
            return self._step(Input[f"TIMER_{name}"])
        return [StartTimer(name, delay)]

    def timer_fired(self, name: str) -> list[Output]:
        return self._step(Input[f"TIMER_{name}"])

    def transport_error(self) -> list[Output]:
        return self._step(I.TRANSPORT_ERROR)


class ClientTransaction(_Transaction):
    """Sends one request and follows it to its final response (§17.1)."""

    def __init__(self, request: Request, *, reliable: bool, timers: Timers | None = None) -> None:
        self.table = INVITE_CLIENT if request.method == "INVITE" else NON_INVITE_CLIENT
        super().__init__(request, reliable=reliable, timers=timers or Timers())
        self.key = client_key(request)

    def start(self) -> list[Output]:
        return self._step(I.START)

    def receive(self, response: Response) -> list[Output]:
        return self._step(status_input(response.status), response)


class ServerTransaction(_Transaction):
    """Answers one received request, absorbing its retransmissions (§17.2)."""

    tu_inputs = frozenset({I.START, I.PROVISIONAL, I.SUCCESS, I.FAILURE})

    def __init__(self, request: Request, *, reliable: bool, timers: Timers | None = None) -> None:
        self.table = INVITE_SERVER if request.method == "INVITE" else NON_INVITE_SERVER
        super().__init__(request, reliable=reliable, timers=timers or Timers())
        self.key = server_key(request)

    def start(self) -> list[Output]:
        return self._step(I.START)

    def receive(self, request: Request) -> list[Output]:
        return self._step(I.ACK if request.method == "ACK" else I.REQUEST)

    def respond(self, response: Response) -> list[Output]:
        return self._step(status_input(response.status), response)


def client_key(msg: Request | Response) -> tuple[str, str]:
    """Matches a response to its client transaction: top Via branch and CSeq method (§17.1.3)."""
    return (msg.via.branch or "", msg.cseq[1].upper())


def server_key(request: Request) -> tuple[str, str, str]:
    """Matches a request to its server transaction (§17.2.3); an ACK finds its INVITE."""
    via = request.via
    method = "INVITE" if request.method == "ACK" else request.method
    return (via.branch or "", f"{via.host}:{via.port or ''}", method)


def make_response(request: Request, status: int, reason: str, to_tag: str | None = None) -> Response:
    """A response with the headers §8.2.6.2 copies from the request."""
    headers = Headers()
    for raw in request.headers.get_all("Via"):
        headers.add("Via", raw)
    to = request.headers.get("To") or ""
    if to_tag and ";tag=" not in to.replace(" ", "").lower():
        to = f"{to};tag={to_tag}"
    headers.add("From", request.headers.get("From") or "")
    headers.add("To", to)
    headers.add("Call-ID", request.call_id)
    headers.add("CSeq", request.headers.get("CSeq") or "")
    if status // 100 == 1 or status // 100 == 2:
        for raw in request.headers.get_all("Record-Route"):
            headers.add("Record-Route", raw)
    return Response(headers=headers, status=status, reason=reason)


def ack_for_failure(request: Request, response: Response) -> Request:
    """The ACK a client INVITE transaction sends for a 3xx-6xx (§17.1.1.3): same branch, To from response."""
    headers = Headers()
    headers.add("Via", request.headers.get("Via") or "")
    for raw in request.headers.get_all("Route"):
        headers.add("Route", raw)
    headers.add("Max-Forwards", "70")
    headers.add("From", request.headers.get("From") or "")
    headers.add("To", response.headers.get("To") or "")
    headers.add("Call-ID", request.call_id)
    headers.add("CSeq", f"{request.cseq[0]} ACK")
    return Request(headers=headers, method="ACK", uri=request.uri)
