"""SIP signaling: sans-I/O message, transaction, dialog, digest and SDP cores with thin asyncio shells.

The dialer's surface is ``UserAgent`` (``invite``, ``options_ping``, ``on_invite``), ``TrunkConfig``,
``Call`` / ``IncomingCall`` and the events they report.
"""

from outdial.sip.call import Call
from outdial.sip.errors import SipError, SipParseError, SipTimeout, TransferFailed
from outdial.sip.events import Answered, CallEvent, Dtmf, EarlyMedia, Ended, Ringing, end_reason_for_status
from outdial.sip.incoming import IncomingCall
from outdial.sip.sdp import SdpError
from outdial.sip.transaction import Timers
from outdial.sip.trunk import TrunkConfig
from outdial.sip.ua import UserAgent

__all__ = [
    "Answered",
    "Call",
    "CallEvent",
    "Dtmf",
    "EarlyMedia",
    "Ended",
    "IncomingCall",
    "Ringing",
    "SdpError",
    "SipError",
    "SipParseError",
    "SipTimeout",
    "Timers",
    "TransferFailed",
    "TrunkConfig",
    "UserAgent",
    "end_reason_for_status",
]
