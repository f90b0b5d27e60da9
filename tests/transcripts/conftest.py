"""The shared API fixtures and the call helpers of the webhook tests."""

# ruff: noqa: F401
from __future__ import annotations

from tests.webhooks.conftest import (
    Calls,
    _pg_database,
    _sqlite_template,
    app,
    calls,
    client,
    db,
    db_url,
    fast,
    other_tenant,
    seed,
    settings,
    start_sender,
    tenant,
)
