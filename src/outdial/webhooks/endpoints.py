"""Routes: ``/v1/webhook-endpoints``, ``/v1/webhook-deliveries``, ``/v1/organization/webhook-secret``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Response

from outdial.api.deps import PrincipalDep, SessionDep, SettingsDep
from outdial.api.errors import ERROR_RESPONSES, ErrorEnvelope
from outdial.api.pagination import Page, PageParams, page_params
from outdial.lifecycle import EventType
from outdial.orgs.access import ORG_KEY_REQUIRED, require_org_key
from outdial.webhooks import service
from outdial.webhooks.schemas import (
    DeliveryDetail,
    DeliveryOut,
    DeliveryStatus,
    EndpointCreate,
    EndpointCreated,
    EndpointOut,
    EndpointUpdate,
    OrgSecretOut,
    SecretRotated,
    TestRequest,
)

router = APIRouter(tags=["webhooks"])

RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    **ORG_KEY_REQUIRED,
}
PageDep = Annotated[PageParams, Depends(page_params)]


@router.post(
    "/v1/webhook-endpoints",
    status_code=201,
    response_model=EndpointCreated,
    summary="Create a webhook endpoint",
    description="Subscribes a URL to event types. The response carries the endpoint's `whsec_` signing "
    "secret; it is shown only this once (rotate it to get a new one).",
    responses=RESPONSES,
)
async def create_endpoint(
    principal: PrincipalDep, session: SessionDep, settings: SettingsDep, body: EndpointCreate = Body(...)
) -> EndpointCreated:
    require_org_key(principal)
    ep = await service.create_endpoint(
        session, principal.org_id, body, allow_private=settings.allow_private_webhooks
    )
    await session.commit()
    return EndpointCreated(**service.endpoint_out(ep).model_dump(), secret=ep.secret)


@router.get(
    "/v1/webhook-endpoints",
    response_model=Page[EndpointOut],
    summary="List webhook endpoints",
    responses=RESPONSES,
)
async def list_endpoints(principal: PrincipalDep, session: SessionDep, params: PageDep) -> Page[EndpointOut]:
    require_org_key(principal)
    rows, pagination = await service.list_endpoints(session, principal.org_id, params)
    return Page[EndpointOut](data=[service.endpoint_out(r) for r in rows], pagination=pagination)


@router.get(
    "/v1/webhook-endpoints/{endpoint_id}",
    response_model=EndpointOut,
    summary="Get a webhook endpoint",
    responses=RESPONSES,
)
async def get_endpoint(endpoint_id: str, principal: PrincipalDep, session: SessionDep) -> EndpointOut:
    require_org_key(principal)
    return service.endpoint_out(await service.get_endpoint(session, principal.org_id, endpoint_id))


@router.patch(
    "/v1/webhook-endpoints/{endpoint_id}",
    response_model=EndpointOut,
    summary="Update a webhook endpoint",
    description="Only the fields sent change. `enabled: true` re-enables an endpoint disabled by a 410.",
    responses=RESPONSES,
)
async def update_endpoint(
    endpoint_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    body: EndpointUpdate = Body(...),
) -> EndpointOut:
    require_org_key(principal)
    ep = await service.get_endpoint(session, principal.org_id, endpoint_id)
    ep = await service.update_endpoint(session, ep, body, allow_private=settings.allow_private_webhooks)
    await session.commit()
    return service.endpoint_out(ep)


@router.delete(
    "/v1/webhook-endpoints/{endpoint_id}",
    status_code=204,
    summary="Delete a webhook endpoint (and its pending deliveries)",
    responses=RESPONSES,
)
async def delete_endpoint(endpoint_id: str, principal: PrincipalDep, session: SessionDep) -> Response:
    require_org_key(principal)
    ep = await service.get_endpoint(session, principal.org_id, endpoint_id)
    await session.delete(ep)
    await session.commit()
    return Response(status_code=204)


@router.post(
    "/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
    response_model=SecretRotated,
    summary="Rotate an endpoint's signing secret",
    description="Returns a new secret. For 24 hours every delivery carries two signatures in "
    "`webhook-signature` (new and old), so receivers can switch without losing messages.",
    responses=RESPONSES,
)
async def rotate_secret(endpoint_id: str, principal: PrincipalDep, session: SessionDep) -> SecretRotated:
    require_org_key(principal)
    ep = await service.get_endpoint(session, principal.org_id, endpoint_id)
    secret, expires = await service.rotate_endpoint_secret(session, ep)
    await session.commit()
    return SecretRotated(secret=secret, previous_secret_expires_at=expires)


@router.post(
    "/v1/webhook-endpoints/{endpoint_id}/test",
    status_code=202,
    response_model=DeliveryOut,
    summary="Send a test message to an endpoint",
    description="Queues a sample event (`data.test: true`) through the normal, signed delivery path; "
    "follow it with `GET /v1/webhook-deliveries/{id}`.",
    responses=RESPONSES,
)
async def test_endpoint(
    endpoint_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    body: TestRequest | None = Body(default=None),
) -> DeliveryOut:
    require_org_key(principal)
    ep = await service.get_endpoint(session, principal.org_id, endpoint_id)
    event_type = (body or TestRequest()).event_type.value
    delivery = await service.send_test(session, ep, event_type)
    await session.commit()
    return service.delivery_out(delivery)


@router.get(
    "/v1/webhook-deliveries",
    response_model=Page[DeliveryOut],
    summary="List webhook deliveries",
    description="Newest first; filter by endpoint, call, event type, status or target (endpoint|callback).",
    responses=RESPONSES,
)
async def list_deliveries(
    principal: PrincipalDep,
    session: SessionDep,
    params: PageDep,
    endpoint_id: str | None = None,
    call_id: str | None = None,
    event_type: Annotated[EventType | None, Query(alias="event_type")] = None,
    status: DeliveryStatus | None = None,
    target: Annotated[str | None, Query(pattern="^(endpoint|callback)$")] = None,
) -> Page[DeliveryOut]:
    require_org_key(principal)
    rows, pagination = await service.list_deliveries(
        session,
        principal.org_id,
        params,
        endpoint_id=endpoint_id,
        call_id=call_id,
        event_type=event_type.value if event_type else None,
        status=status,
        target=target,
    )
    return Page[DeliveryOut](data=[service.delivery_out(r) for r in rows], pagination=pagination)


@router.get(
    "/v1/webhook-deliveries/{delivery_id}",
    response_model=DeliveryDetail,
    summary="Get a webhook delivery with its attempts",
    responses=RESPONSES,
)
async def get_delivery(delivery_id: str, principal: PrincipalDep, session: SessionDep) -> DeliveryDetail:
    require_org_key(principal)
    d = await service.get_delivery(session, principal.org_id, delivery_id)
    return await service.delivery_detail(session, d)


@router.post(
    "/v1/webhook-deliveries/{delivery_id}/retry",
    status_code=202,
    response_model=DeliveryOut,
    summary="Send a delivery again now",
    description="Same `webhook-id` as before, so receivers that deduplicate see one logical event.",
    responses={**RESPONSES, 409: {"model": ErrorEnvelope, "description": "Being sent, or endpoint off"}},
)
async def retry_delivery(delivery_id: str, principal: PrincipalDep, session: SessionDep) -> DeliveryOut:
    require_org_key(principal)
    d = await service.get_delivery(session, principal.org_id, delivery_id)
    d = await service.retry_delivery(session, d)
    await session.commit()
    return service.delivery_out(d)


@router.get(
    "/v1/organization/webhook-secret",
    response_model=OrgSecretOut,
    summary="Get the secret that signs your callback_url deliveries",
    description="Per-call `callback_url` results are signed (Standard Webhooks) with this organization "
    "secret; org webhook endpoints have secrets of their own.",
    responses=RESPONSES,
)
async def get_org_secret(principal: PrincipalDep, session: SessionDep) -> OrgSecretOut:
    require_org_key(principal)
    row = await service.org_secret(session, principal.org_id)
    await session.commit()
    return service.org_secret_out(row)


@router.post(
    "/v1/organization/webhook-secret/rotate",
    response_model=OrgSecretOut,
    summary="Rotate the callback_url signing secret (the old one stays valid 24 h)",
    responses=RESPONSES,
)
async def rotate_org_secret(principal: PrincipalDep, session: SessionDep) -> OrgSecretOut:
    require_org_key(principal)
    row = await service.rotate_org_secret(session, principal.org_id)
    await session.commit()
    return service.org_secret_out(row)
