"""Imports every domain's models so that Base.metadata knows all tables (Alembic, tests)."""

from __future__ import annotations

from outdial.billing import models as billing_models  # noqa: F401
from outdial.dialer import models as dialer_models  # noqa: F401
from outdial.dnc import models as dnc_models  # noqa: F401
from outdial.store import models  # noqa: F401
from outdial.store.models import Base
from outdial.webhooks import models as webhooks_models  # noqa: F401  (webhooks + retention)

metadata = Base.metadata
