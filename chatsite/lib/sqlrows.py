"""Model instances read and written by hand-written SQL, as the ORM reads and writes them.

For the few statements on the path every turn waits on: the ORM spends 250–650 µs building and
compiling a small query that SQLite runs in 13–40 µs, and a follow-up waits on three reads and
two writes. Here the SQL is written by hand and its columns come from the model's own fields;
a value read goes through the converters the ORM would apply (the backend's, then the field's
from_db_value) before Model.from_db, and a value written through the field's pre_save and
get_db_prep_save, as bulk_create does. tests/test_sqlrows.py holds each against the ORM's.
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
        # The select list, `alias.column, …`, in the order make() reads them; `table alias`.
        self.columns = ", ".join(f"{alias}.{field.column}" for field in self.fields)
        self.source = f"{model._meta.db_table} {alias}"
        self.written = [field for field in self.fields if field is not model._meta.pk]  # by insert()
        self.written_columns = ", ".join(field.column for field in self.written)
        self._converters: dict[str, list] = {}  # by backend vendor

    def __len__(self) -> int:
        return len(self.fields)

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

    def insert(self, connection: BaseDatabaseWrapper, objects: list[models.Model]) -> None:
        """INSERT new instances in one statement and set their primary keys, as bulk_create does
        (no signals; a foreign key to an instance saved meanwhile takes its primary key)."""
        if not objects:
            return
        pk, fields, table = self.model._meta.pk, self.written, self.model._meta.db_table
        row = f"({placeholders(fields)})"
        # As many rows a statement as the backend takes parameters (bulk_create's batches).
        size = max(1, connection.ops.bulk_batch_size(fields, objects))
        for start in range(0, len(objects), size):
            batch = objects[start : start + size]
            params = []
            for instance in batch:
                instance._prepare_related_fields_for_save(operation_name="bulk_create")
                params += [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
            values = ", ".join([row] * len(batch))
            sql = f"INSERT INTO {table} ({self.written_columns}) VALUES {values} RETURNING {pk.column}"  # noqa: S608 - only columns and placeholders go in
            keys = fetch(connection, sql, params)
            # Rows come back in the order of VALUES on SQLite and PostgreSQL (bulk_create relies on it).
            for instance, (key,) in zip(batch, keys, strict=True):
                setattr(instance, pk.attname, key)
                instance._state.adding = False
                instance._state.db = connection.alias

    def touch(self, connection: BaseDatabaseWrapper, keys: list, name: str, value) -> None:
        """UPDATE one field of the rows with these primary keys to one value."""
        if not keys:
            return
        field = self.model._meta.get_field(name)
        pk = self.model._meta.pk.column
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {self.model._meta.db_table} SET {field.column} = %s WHERE {pk} IN ({placeholders(keys)})",  # noqa: S608 - only columns and placeholders go in
                [field.get_db_prep_save(value, connection), *keys],
            )


def fetch(connection: BaseDatabaseWrapper, sql: str, params: Sequence) -> list[tuple]:
    """The rows of one statement."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def placeholders(values: Sequence) -> str:
    """`%s, %s, …` for an IN list of these values (never empty: the callers return early)."""
    return ", ".join(["%s"] * len(values))
