"""The SQLite writer's direct INSERTs store exactly what SQLAlchemy's Core INSERT stores."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, create_engine, insert, select
from sqlalchemy.exc import IntegrityError

from outdial.calls.direct import DirectInserts
from outdial.calls.lookups import _INSERT_CALL, _INSERT_EVENT
from outdial.store.models import Base
from outdial.store.types import JSONType, UTCDateTime

metadata = MetaData()
things = Table(
    "things",
    metadata,
    Column("id", String, primary_key=True),
    Column("at", UTCDateTime, nullable=True),
    Column("data", JSONType, nullable=True),
    Column("flag", Boolean, nullable=False, default=False),
    Column("count", Integer, nullable=False, default=lambda: 7),
    Column("label", String, nullable=True),
)
INSERT_THING = insert(things)

ROWS: list[dict[str, Any]] = [
    {"id": "a", "at": datetime(2026, 11, 22, 12, 0, 1, 500, tzinfo=UTC), "data": {"k": ["ü", 1.5, None]}},
    {
        "id": "b",
        "at": None,
        "data": None,
        "flag": True,
        "label": "x",
    },  # None given: JSON 'null' as SQLAlchemy
    {"id": "c"},  # nothing but the key: the Python defaults
]


def raw_rows(connection: Any, table: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in connection.exec_driver_sql(f"SELECT * FROM {table} ORDER BY 1").all()]


@pytest.fixture
def engines(tmp_path: Path) -> Any:
    direct_engine = create_engine(f"sqlite:///{tmp_path / 'direct.db'}")
    core_engine = create_engine(f"sqlite:///{tmp_path / 'core.db'}")
    for engine in (direct_engine, core_engine):
        metadata.create_all(engine)
        Base.metadata.create_all(engine)
    yield direct_engine, core_engine
    direct_engine.dispose()
    core_engine.dispose()


def test_rows_are_stored_byte_for_byte_as_by_sqlalchemy(engines: Any) -> None:
    direct_engine, core_engine = engines
    direct = DirectInserts(direct_engine.dialect)
    with direct_engine.begin() as d, core_engine.begin() as c:
        for row in ROWS:
            compiled = direct.compiled(INSERT_THING, row)
            assert compiled is not None
            assert direct.run(d, compiled, row).rowcount == 1
            c.execute(INSERT_THING, row)
        assert raw_rows(d, "things") == raw_rows(c, "things")
        assert raw_rows(d, "things")[1][2] == "null"  # JSON None, not SQL NULL, as SQLAlchemy stores it
        # Read back through SQLAlchemy's types: the same Python values.
        assert d.execute(select(things)).all() == c.execute(select(things)).all()


def test_a_call_and_its_event_are_stored_as_by_sqlalchemy(engines: Any) -> None:
    direct_engine, core_engine = engines
    direct = DirectInserts(direct_engine.dialect)
    now = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    call = {
        "id": "call-1",
        "org_id": "org-1",
        "agent_id": "agent-1",
        "agent_config": {"prompt": "Confirm.", "ring_timeout_seconds": 45},
        "source": "native",
        "to_number": "+18135551234",
        "from_number": "+14155550100",
        "status": "queued",
        "request_metadata": {"crm_id": "42", "nested": {"a": [1, 2]}},
        "variables": {},
        "sip_headers": {},
        "retry": None,
        "ring_timeout_seconds": 45,
        "max_duration_seconds": 600,
        "next_attempt_at": now,
        "attempt_count": 0,
        "created_at": now,
        "updated_at": now,
        "callback_delivered": False,
    }
    event = {
        "org_id": "org-1",
        "call_id": "call-1",
        "type": "call.queued",
        "from_status": None,
        "status": "queued",
        "end_reason": None,
        "data": {"source": "native"},
        "created_at": now,
    }
    with direct_engine.begin() as d, core_engine.begin() as c:
        for statement, row in ((_INSERT_CALL, call), (_INSERT_EVENT, event)):
            compiled = direct.compiled(statement, row)
            assert compiled is not None
            direct.run(d, compiled, row)
            c.execute(statement, row)
        assert raw_rows(d, "calls") == raw_rows(c, "calls")
        assert raw_rows(d, "call_events") == raw_rows(c, "call_events")


def test_only_plain_inserts_run_directly(engines: Any) -> None:
    direct = DirectInserts(engines[0].dialect)
    assert direct.compiled(INSERT_THING.values(id="z"), {}) is None
    assert direct.compiled(INSERT_THING.returning(things.c.id), {"id": "z"}) is None
    assert direct.compiled(select(things), {}) is None
    assert direct.compiled(INSERT_THING, [{"id": "z"}]) is None  # executemany goes through SQLAlchemy


def test_a_constraint_error_is_sqlalchemys_integrity_error(engines: Any) -> None:
    direct_engine, _ = engines
    direct = DirectInserts(direct_engine.dialect)
    with direct_engine.begin() as d:
        compiled = direct.compiled(INSERT_THING, {"id": "dup"})
        assert compiled is not None
        direct.run(d, compiled, {"id": "dup"})
        with pytest.raises(IntegrityError):
            direct.run(d, compiled, {"id": "dup"})
