"""Updating many rows with one prepared statement.

The ORM compiles a statement per update() call, and bulk_update builds a CASE expression per
field and row; on the streaming paths (every growing answer twice a second, a burst of turns)
that compiling costs more than the writes. Here the statement is built once from the model's
quoted column names, values go through each field's own database preparation, and the driver
runs it for every row.
"""

from django.db import connections, models


def update_rows(
    model: type[models.Model], fields: list[str], keys: list[str], rows: list[tuple], *, using: str | None = None
) -> None:
    """UPDATE model SET fields... WHERE keys... for each row (the fields' values, then the keys')."""
    if not rows:
        return
    connection = connections[using or model.objects.db]
    meta = model._meta
    columns = [meta.get_field(name) for name in [*fields, *keys]]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in columns[: len(fields)])
    conditions = " AND ".join(f"{quote(field.column)} = %s" for field in columns[len(fields) :])
    # Only quoted identifiers go into the text; every value is a parameter.
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {conditions}"  # noqa: S608
    params = [
        [field.get_db_prep_save(value, connection) for field, value in zip(columns, row, strict=True)] for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
