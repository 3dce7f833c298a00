-- A message's id is its chat's id and its seq (store.MessageID): the
-- (chat_id, seq) key identifies it, and a second unique index on id only
-- cost every insert a page. SQLite cannot drop a primary key, so the table
-- is copied into one without it.
CREATE TABLE messages_new (
    id              TEXT NOT NULL,
    chat_id         TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    author_id       TEXT NOT NULL,
    author_name     TEXT NOT NULL,
    text            TEXT NOT NULL,
    client_side_id  TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    UNIQUE (chat_id, seq)
) STRICT;
INSERT INTO messages_new (id, chat_id, seq, kind, author_id, author_name, text, client_side_id, created_at)
    SELECT id, chat_id, seq, kind, author_id, author_name, text, client_side_id, created_at FROM messages;
DROP TABLE messages;
ALTER TABLE messages_new RENAME TO messages;
CREATE UNIQUE INDEX messages_chat_kind_client_side_id ON messages (chat_id, kind, client_side_id)
    WHERE client_side_id <> '';
