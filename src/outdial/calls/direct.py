"""Plain INSERTs of the SQLite creation writer, compiled once and run straight on its sqlite3 cursor.

A creation inserts two rows (the call and its ``call.queued`` event). Through SQLAlchemy's Core each
INSERT costs more in Python than in SQLite: cache-key generation, an execution context, parameter
construction and events (under cProfile on the writer thread, 2,050 creations took 7.0 s before and
5.6 s after this module; SQLite's own execution was about a tenth of it). Here each distinct INSERT
(statement and the set of columns given)
is compiled once by SQLAlchemy for the writer's dialect; a run applies the same pieces SQLAlchemy
would: the columns' Python-side defaults for columns not given, and the types' bind processors
(dates, JSON, booleans), then executes on the writer's DBAPI cursor inside its transaction and
savepoint. Errors come back as SQLAlchemy's own exception classes.

Only INSERTs without ``values()``, ``returning()`` or SQL-expression defaults qualify; any other
statement runs through SQLAlchemy as before (:meth:`DirectInserts.compiled` returns ``None``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.dml import Insert

_Key = tuple[Insert, frozenset[str]]
_MAX_COMPILED = 256  # prebuilt statements are few; a bound in case a caller builds them per call


class Inserted:
    """What a direct INSERT returns: its row count (the one part of a result an INSERT has)."""

    __slots__ = ("rowcount",)

    def __init__(self, rowcount: int) -> None:
        self.rowcount = rowcount


class DirectInsert:
    """One INSERT compiled for one set of given columns."""

    def __init__(self, statement: Insert, keys: frozenset[str], dialect: Dialect) -> None:
        compiled: Any = statement.compile(dialect=dialect, column_keys=sorted(keys))
        self.sql: str = compiled.string
        processors: Mapping[str, Callable[[Any], Any]] = compiled._bind_processors
        order: list[str] = list(compiled.positiontup)
        self.binds = [(name, processors.get(name)) for name in order]
        # Columns not given whose default is computed in Python (SQLAlchemy's "insert prefetch").
        self.defaults: list[tuple[str, Any]] = []
        for column in compiled.insert_prefetch:
            default = column.default
            if default is None or not (default.is_scalar or default.is_callable):
                raise ValueError(f"{column.key}: only scalar and callable defaults run directly")
            self.defaults.append((column.key, default))

    def parameters(self, given: Mapping[str, Any]) -> tuple[Any, ...]:
        values = dict(given)
        for key, default in self.defaults:
            # Callable defaults are wrapped by SQLAlchemy to take the execution context; ours ignore it.
            values[key] = default.arg(None) if default.is_callable else default.arg
        # As SQLAlchemy: a processor sees None too (JSON stores None as 'null' unless none_as_null).
        return tuple(
            values[name] if process is None else process(values[name]) for name, process in self.binds
        )


class DirectInserts:
    """The writer connection's compiled INSERTs, by statement and given columns."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._compiled: dict[_Key, DirectInsert | None] = {}

    def compiled(self, statement: Any, params: Any) -> DirectInsert | None:
        """The direct form of ``statement`` run with ``params``; None: run it through SQLAlchemy."""
        if not isinstance(statement, Insert) or not isinstance(params, Mapping):
            return None
        # Keyed by the statement itself (held, so its id cannot be reused by another statement).
        key = (statement, frozenset(params))
        if key not in self._compiled:
            if len(self._compiled) >= _MAX_COMPILED:
                self._compiled.clear()
            plain = not statement._multi_values and not statement._values and not statement._returning
            plain = plain and not statement._return_defaults and statement._post_values_clause is None
            try:
                self._compiled[key] = DirectInsert(statement, key[1], self.dialect) if plain else None
            except ValueError:
                self._compiled[key] = None
        return self._compiled[key]

    def run(self, connection: Connection, insert: DirectInsert, params: Mapping[str, Any]) -> Inserted:
        parameters = insert.parameters(params)
        cursor = connection.connection.cursor()
        try:
            cursor.execute(insert.sql, parameters)
            return Inserted(cursor.rowcount)
        except self.dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(
                insert.sql, parameters, exc, self.dialect.loaded_dbapi.Error, dialect=self.dialect
            ) from exc
        finally:
            cursor.close()
