"""From a validated request to a ready-to-insert :class:`Call`: agent, caller number, snapshot, schedule.

Reads only; nothing here writes. Every refusal is an :class:`ApiError` with a stable code (DESIGN §3).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import phonenumbers
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import configure_mappers
from sqlalchemy.orm.attributes import manager_of_class

from outdial.agent.settings import AgentConfig, AgentConfigError, validate_agent_config
from outdial.agents.service import agent_not_found, resolved_config
from outdial.api.auth import Principal
from outdial.api.errors import ApiError, bad_request
from outdial.calls import lookups
from outdial.calls.lookups import AgentRow, NumberRow
from outdial.calls.schemas import SCHEDULE_HORIZON_DAYS, CreateCallRequest
from outdial.calls.validation import check_variables, normalize_number
from outdial.lifecycle import CallStatus
from outdial.orgs.access import agent_visible
from outdial.orgs.inputs import has_nul
from outdial.store.models import Agent, Call
from outdial.store.types import new_id
from outdial.webhooks.urlsafety import UnresolvableHostError, UnsafeUrlError, resolve_safe_target

# A name that does not resolve at creation may later; delivery re-checks every address it connects to.
CALLBACK_RESOLVE_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Extras:
    """What a vendor surface adds to a request (the native API sets none of these)."""

    source: str = "native"
    external_id: str | None = None
    media_encryption: str | None = None
    transport: str | None = None
    # Bring-your-own-number style: no agent given means the caller number's outbound agent.
    agent_from_number: bool = False
    allow_private_callbacks: bool = False


def from_number_not_found(param: str, detail: str) -> ApiError:
    return ApiError(404, "from_number_not_found", detail, param)


@dataclass(frozen=True, slots=True)
class CallbackCheck:
    """The outcome of checking a request's ``callback_url``: the URL to keep, or the refusal."""

    url: str | None
    error: ApiError | None = None


async def build_call(
    session: AsyncSession,
    principal: Principal,
    request: CreateCallRequest,
    extras: Extras,
    now: datetime,
    *,
    callback: CallbackCheck | None = None,
) -> Call:
    """The call this request describes, validated against the organization's agents and numbers.

    ``callback``: the outcome of :func:`check_callback_url` when it was run beforehand (it waits on
    DNS); a refusal is raised at the same point either way.
    """
    if request.agent_id is not None and request.agent is not None:
        raise bad_request("Give agent_id or agent, not both.", "agent_id")
    if request.from_number is not None and request.phone_number_id is not None:
        raise bad_request("Give from_number or phone_number_id, not both.", "from_number")
    to_number = normalize_number(request.to_number, request.country_code, param="to_number")

    number, number_param = await _explicit_number(session, principal, request)
    agent_id, config, own_number = await _agent(session, principal, request, number, extras)
    if number is None:
        number, number_param = own_number or await _only_voip_number(session, principal), "from_number"
    _check_usable(number, number_param)

    check_variables(request.variables, [p.model_dump() for p in config.input_parameters])
    if callback is None:
        callback = await check_callback_url(request.callback_url, extras.allow_private_callbacks)
    if callback.error is not None:
        raise callback.error
    callback_url = callback.url
    scheduled_at = _scheduled_at(request.scheduled_at, now)
    due = scheduled_at if scheduled_at is not None and scheduled_at > now else now

    snapshot = config.model_dump(mode="json")
    for name in ("ring_timeout_seconds", "max_duration_seconds", "max_hold_seconds"):
        override = getattr(request, name)
        if override is not None:
            snapshot[name] = override

    return transient_call(
        id=new_id(),
        org_id=principal.org_id,
        agent_id=agent_id,
        agent_config=snapshot,
        source=extras.source,
        external_id=extras.external_id,
        to_number=to_number,
        from_number=number.number,
        phone_number_id=number.id,
        trunk_id=number.trunk_id,
        status=(CallStatus.SCHEDULED if due > now else CallStatus.QUEUED).value,
        request_metadata=request.metadata,
        variables=dict(request.variables),
        call_context=request.call_context,
        callback_url=callback_url,
        sip_headers=dict(request.sip_headers),
        media_encryption=extras.media_encryption,
        transport=extras.transport,
        ring_timeout_seconds=snapshot["ring_timeout_seconds"],
        max_duration_seconds=snapshot["max_duration_seconds"],
        max_hold_seconds=snapshot.get("max_hold_seconds"),
        retry=request.retry.model_dump(mode="json") if request.retry else None,
        calling_window=request.calling_window.model_dump(mode="json") if request.calling_window else None,
        scheduled_at=scheduled_at,
        next_attempt_at=due,
        attempt_count=0,
        created_at=now,
        updated_at=now,
        callback_delivered=False,
    )


async def _explicit_number(
    session: AsyncSession, principal: Principal, request: CreateCallRequest
) -> tuple[NumberRow | None, str]:
    if request.phone_number_id is not None:
        row = await lookups.number_by_id(session, principal.org_id, request.phone_number_id)
        if row is None:
            raise from_number_not_found("phone_number_id", "No such phone number in this organization.")
        return row, "phone_number_id"
    if request.from_number is None:
        return None, "from_number"
    e164 = _as_e164(request.from_number, request.country_code)
    row = await lookups.number_by_e164(session, principal.org_id, e164)
    if row is None:
        raise from_number_not_found(
            "from_number", f"{request.from_number} is not a phone number of this organization."
        )
    return row, "from_number"


def _as_e164(raw: str, country_code: str | None) -> str:
    """Caller numbers only need to match one of ours: E.164 as given, or a national one made E.164."""
    text = raw.strip()
    if text.startswith("+") and text[1:].isdigit():
        return text
    if country_code is None:
        return normalize_number(text, None, param="from_number")  # raises invalid_phone_number
    try:
        parsed = phonenumbers.parse(text, country_code)
    except phonenumbers.NumberParseException as exc:
        raise ApiError(
            400, "invalid_phone_number", f"from_number {raw!r} is not a phone number.", "from_number"
        ) from exc
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def transient_call(**values: Any) -> Call:
    """A new :class:`Call` holding ``values``, built without the ORM's per-attribute events.

    A new call is never added to a session: it is inserted by Core (``lookups.insert_created``),
    which reads the values given here, and answered from. The ORM's constructor fires an event per
    attribute (about 40), a tenth of a creation's CPU on the SQLite writer; this sets them at once.
    """
    configure_mappers()  # what the constructor would make sure of (at once when already done)
    call: Call = manager_of_class(Call).new_instance()
    call.__dict__.update(values)
    return call


async def _agent(
    session: AsyncSession,
    principal: Principal,
    request: CreateCallRequest,
    number: NumberRow | None,
    extras: Extras,
) -> tuple[str | None, AgentConfig, NumberRow | None]:
    """The agent's id (None inline), its configuration, and its own outbound number when one is needed."""
    if request.agent is not None:
        if principal.agent_id is not None:
            raise ApiError(
                403,
                "forbidden",
                "This API key is scoped to one agent; it cannot place calls with an inline agent.",
                "agent",
            )
        if not request.agent.published:
            raise ApiError(
                400, "agent_not_published", "The inline agent is not published.", "agent.published"
            )
        try:
            return None, validate_agent_config(request.agent), None
        except AgentConfigError as exc:
            raise ApiError(400, exc.code, str(exc), f"agent.{exc.param}") from exc
    agent_id = request.agent_id
    if agent_id is None and extras.agent_from_number and number is not None:
        agent_id = number.outbound_agent_id
    if agent_id is None:
        raise bad_request("Give agent_id or an inline agent.", "agent_id")
    if has_nul(agent_id) or not agent_visible(principal, agent_id):
        raise agent_not_found()
    # One query for the agent and, when the request names no caller number, the agent's own.
    agent, own = await lookups.agent_and_outbound_number(
        session, principal.org_id, agent_id, with_number=number is None
    )
    if agent is None:
        raise agent_not_found()
    if not agent.published:
        raise ApiError(
            400, "agent_not_published", f"Agent {agent.id} is not published; publish it first.", "agent_id"
        )
    try:
        return agent.id, _config(agent), own
    except ValidationError as exc:  # stored before a schema change made it invalid
        raise ApiError(
            400, "invalid_request", f"Agent {agent.id} has an invalid configuration: {exc}", "agent_id"
        ) from exc


# Resolved configurations by (agent id, updated_at): every change of an agent sets updated_at, so a
# changed agent is a new key; unchanged agents skip re-validating their configuration per call.
_CONFIG_CACHE_SIZE = 1024
_configs: dict[tuple[str, datetime | None], AgentConfig] = {}


def _config(agent: AgentRow) -> AgentConfig:
    key = (agent.id, agent.updated_at)
    config = _configs.get(key)
    if config is None:
        config = resolved_config(Agent(name=agent.name, published=agent.published, config=agent.config))
        if len(_configs) >= _CONFIG_CACHE_SIZE:
            _configs.clear()
        _configs[key] = config
    return config


async def _only_voip_number(session: AsyncSession, principal: Principal) -> NumberRow:
    numbers = await lookups.voip_numbers(session, principal.org_id)
    if len(numbers) == 1:
        return numbers[0]
    reason = "has no VoIP number" if not numbers else "has several VoIP numbers"
    raise bad_request(
        f"from_number is required: this organization {reason} and the agent has no outbound number.",
        "from_number",
    )


def _check_usable(number: NumberRow, param: str) -> None:
    """Demo and unverified numbers place no calls, on any surface."""
    if number.kind == "demo":
        raise ApiError(
            403,
            "outbound_blocked_demo_number",
            f"{number.number} is a demo number: it receives calls only. Use one of your VoIP numbers.",
            param,
        )
    if not number.active:
        raise from_number_not_found(param, f"{number.number} is not active in this organization.")
    if not number.verified or number.trunk_id is None:
        raise ApiError(
            403,
            "number_unverified",
            f"{number.number} is not verified: verify it with "
            f"POST /v1/phone-numbers/{number.id}/verify-voip.",
            param,
        )


async def check_callback_url(url: str | None, allow_private: bool) -> CallbackCheck:
    if url is None:
        return CallbackCheck(None)
    try:
        await asyncio.wait_for(
            resolve_safe_target(url, allow_private=allow_private), CALLBACK_RESOLVE_TIMEOUT_SECONDS
        )
    except (UnresolvableHostError, TimeoutError):
        # Syntax and literal addresses passed; the name is checked again at each delivery.
        return CallbackCheck(url)
    except UnsafeUrlError as exc:
        return CallbackCheck(None, ApiError(400, exc.code, exc.message, "callback_url"))
    return CallbackCheck(url)


def _scheduled_at(value: datetime | None, now: datetime) -> datetime | None:
    if value is None:
        return None
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if aware - now > timedelta(days=SCHEDULE_HORIZON_DAYS):
        raise bad_request(f"scheduled_at must be within {SCHEDULE_HORIZON_DAYS} days.", "scheduled_at")
    return aware.astimezone(UTC)
