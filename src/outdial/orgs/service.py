"""The organization a key belongs to, and its org-wide settings."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.api.errors import not_found
from outdial.orgs.schemas import CallingWindow, OrganizationOut, OrganizationUpdate
from outdial.store.models import Organization

# Keys of Organization.settings owned by this module; other domains keep theirs alongside.
_SETTING_KEYS = ("max_concurrent_calls", "calling_window")


async def get_org(session: AsyncSession, org_id: str) -> Organization:
    org = (await session.execute(select(Organization).where(Organization.id == org_id))).scalar_one_or_none()
    if org is None:  # the key outlived its organization
        raise not_found("organization")
    return org


def max_concurrent_calls(org: Organization) -> int | None:
    value = (org.settings or {}).get("max_concurrent_calls")
    return int(value) if value is not None else None


def calling_window(org: Organization) -> CallingWindow | None:
    raw = (org.settings or {}).get("calling_window")
    return CallingWindow.model_validate(raw) if raw else None


def to_out(org: Organization) -> OrganizationOut:
    return OrganizationOut(
        id=org.id,
        name=org.name,
        default_country=org.default_country,
        max_concurrent_calls=max_concurrent_calls(org),
        calling_window=calling_window(org),
        created_at=org.created_at,
    )


async def update_org(session: AsyncSession, org_id: str, patch: OrganizationUpdate) -> Organization:
    org = await get_org(session, org_id)
    changes = patch.model_dump(mode="json", exclude_unset=True)
    if "default_country" in changes:
        org.default_country = changes.pop("default_country")
    settings: dict[str, Any] = dict(org.settings or {})  # a new dict so the JSON column sees the change
    for key in _SETTING_KEYS:
        if key in changes:
            if changes[key] is None:
                settings.pop(key, None)
            else:
                settings[key] = changes[key]
    org.settings = settings
    await session.flush()
    return org
