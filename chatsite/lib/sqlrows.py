"""Model instances from hand-written SQL, made as the ORM makes them.

For the few reads on the path every turn waits on: the ORM spends 250–650 µs building and
compiling a small query that SQLite runs in 13–40 µs, and a follow-up's request waits on three
of them. Here the SQL is written by hand, the selected columns come from the model's own fields,
and each value goes through the converters the ORM would apply (the backend's, then the field's
from_db_value) before Model.from_db. tests/test_sqlrows.py holds each read against the ORM's.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper


class Table:
    """A model's table under an alias in a hand-written query: its columns to select, and the
    instances made from them."""

    def __init__(self, model: type[models.Model], alias: str) -> None:
        self.model = model
        self.alias = alias
        self.fields = list(model._meta.concrete_fields)
        self.names = [field.attname for field in self.fields]
        self.pk_at = self.fields.index(model._meta.pk)
        self._converters: dict[str, list] = {}  # by backend vendor

    def __len__(self) -> int:
        return len(self.fields)

    def columns(self) -> str:
        """The select list, `alias.column, …`, in the order make() reads them."""
        return ", ".join(f"{self.alias}.{field.column}" for field in self.fields)

    def source(self) -> str:
        """`table alias`, for FROM and JOIN."""
        return f"{self.model._meta.db_table} {self.alias}"

    def converters(self, connection: BaseDatabaseWrapper) -> list:
        if (found := self._converters.get(connection.vendor)) is None:
            found = []
            for i, field in enumerate(self.fields):
                column = field.get_col(self.alias)
                converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
                if converters:
                    found.append((i, column, converters))
            self._converters[connection.vendor] = found
        return found

    def make(self, connection: BaseDatabaseWrapper, row: Sequence, start: int = 0) -> models.Model | None:
        """The instance from row[start : start + len(self)]; None when its primary key is NULL (an
        outer join that found no row)."""
        values = list(row[start : start + len(self.fields)])
        if values[self.pk_at] is None:
            return None
        for i, column, converters in self.converters(connection):
            value = values[i]
            for convert in converters:
                value = convert(value, column, connection)
            values[i] = value
        return self.model.from_db(connection.alias, self.names, values)


def placeholders(values: Sequence) -> str:
    """`%s, %s, …` for an IN list of these values (never empty: the callers return early)."""
    return ", ".join(["%s"] * len(values))
