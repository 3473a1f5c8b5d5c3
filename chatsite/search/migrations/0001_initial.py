"""The search indexes: SQLite FTS5 tables kept in step by triggers, PostgreSQL trigram indexes.

Message text is written by raw UPDATEs (the answer flusher and final save, chat/saving.py), so
no Django signal would see it: the database itself keeps the index. Streaming answers are left
out (they change twice a second; indexing each flush would cost the flusher) and go in when
they end. The SQL is written out here, not imported, so that this migration stays as it ran.
"""

from django.db import migrations

# A user's id as one trigram (three characters of the Private Use Area, which no tokenizer
# folds): `{owner}: "<token>"` then narrows a match to one user's rows inside FTS5 itself,
# instead of matching everyone's rows and dropping the others'. It is a speed filter only:
# ownership is still checked on chat_conversation.owner_id (search/searching.py).
# (No "%" in the SQL: the database adapters read it as a placeholder.)
TOKEN = (
    "char(57344 + {id} / 40960000, 57344 + {id} / 6400 - {id} / 40960000 * 6400, 57344 + {id} - {id} / 6400 * 6400)"
)

SQLITE = [
    "CREATE VIRTUAL TABLE search_message USING fts5(body, owner, tokenize = 'trigram')",
    "CREATE VIRTUAL TABLE search_title USING fts5(title, owner, tokenize = 'trigram')",
    f"""CREATE TRIGGER search_message_insert AFTER INSERT ON chat_message
        WHEN new.status <> 'streaming' BEGIN
          INSERT INTO search_message (rowid, body, owner)
          SELECT new.id, new.text, {TOKEN.format(id="c.owner_id")}
          FROM chat_conversation c WHERE c.id = new.conversation_id;
        END""",
    # The flusher's writes (streaming before and after) stop at the WHEN.
    f"""CREATE TRIGGER search_message_update AFTER UPDATE OF text, status, conversation_id ON chat_message
        WHEN (old.status <> 'streaming' OR new.status <> 'streaming')
          AND (old.text IS NOT new.text OR old.conversation_id IS NOT new.conversation_id
               OR old.status = 'streaming' OR new.status = 'streaming') BEGIN
          DELETE FROM search_message WHERE rowid = old.id;
          INSERT INTO search_message (rowid, body, owner)
          SELECT new.id, new.text, {TOKEN.format(id="c.owner_id")}
          FROM chat_conversation c WHERE c.id = new.conversation_id AND new.status <> 'streaming';
        END""",
    """CREATE TRIGGER search_message_delete AFTER DELETE ON chat_message BEGIN
          DELETE FROM search_message WHERE rowid = old.id;
        END""",
    f"""CREATE TRIGGER search_title_insert AFTER INSERT ON chat_conversation BEGIN
          INSERT INTO search_title (rowid, title, owner) VALUES (new.id, new.title, {TOKEN.format(id="new.owner_id")});
        END""",
    f"""CREATE TRIGGER search_title_update AFTER UPDATE OF title, owner_id ON chat_conversation
        WHEN old.title IS NOT new.title OR old.owner_id IS NOT new.owner_id BEGIN
          DELETE FROM search_title WHERE rowid = old.id;
          INSERT INTO search_title (rowid, title, owner) VALUES (new.id, new.title, {TOKEN.format(id="new.owner_id")});
          UPDATE search_message SET owner = {TOKEN.format(id="new.owner_id")}
          WHERE old.owner_id IS NOT new.owner_id
            AND rowid IN (SELECT id FROM chat_message WHERE conversation_id = new.id);
        END""",
    """CREATE TRIGGER search_title_delete AFTER DELETE ON chat_conversation BEGIN
          DELETE FROM search_title WHERE rowid = old.id;
        END""",
    # What was there before this migration.
    f"""INSERT INTO search_message (rowid, body, owner)
        SELECT m.id, m.text, {TOKEN.format(id="c.owner_id")}
        FROM chat_message m JOIN chat_conversation c ON c.id = m.conversation_id
        WHERE m.status <> 'streaming'""",
    f"""INSERT INTO search_title (rowid, title, owner)
        SELECT id, title, {TOKEN.format(id="owner_id")} FROM chat_conversation""",
]
SQLITE_REVERSE = [
    *(
        f"DROP TRIGGER IF EXISTS {name}"
        for name in (
            "search_message_insert",
            "search_message_update",
            "search_message_delete",
            "search_title_insert",
            "search_title_update",
            "search_title_delete",
        )
    ),
    "DROP TABLE IF EXISTS search_message",
    "DROP TABLE IF EXISTS search_title",
]

# Trigram indexes on the tables themselves are kept by PostgreSQL; on upper() because that is
# what Django's icontains compares. pg_trgm is a trusted extension: the database's owner may
# create it.
POSTGRESQL = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    """CREATE INDEX search_message_text ON chat_message USING gin (upper(text) gin_trgm_ops)
       WHERE status <> 'streaming'""",
    "CREATE INDEX search_conversation_title ON chat_conversation USING gin (upper(title) gin_trgm_ops)",
]
POSTGRESQL_REVERSE = ["DROP INDEX IF EXISTS search_message_text", "DROP INDEX IF EXISTS search_conversation_title"]


def _run(statements: dict[str, list[str]]):
    def run(apps, schema_editor) -> None:
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("chat", "0006_folders")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE, "postgresql": POSTGRESQL}),
            _run({"sqlite": SQLITE_REVERSE, "postgresql": POSTGRESQL_REVERSE}),
            elidable=False,
        )
    ]
