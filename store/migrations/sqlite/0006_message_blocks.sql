-- A chat's messages are kept in blocks: a row holds up to 256 messages of
-- one chat that one transaction wrote, as a JSONB array of
-- [seq, kind, author_id, author_name, text, client_side_id, created_at].
-- The journal's applier writes thousands of messages a transaction across
-- a few hundred chats; a row and a key entry per message put each at a
-- random place of the (chat_id, seq) key, a page of its own, and that was
-- most of what copying a message into the database cost. A block costs one
-- key entry for all of a chat's messages in the transaction.
--
-- A block covers first_seq..last_seq, and the ranges of a chat's blocks do
-- not overlap. The store keeps each seq of a chat once and keeps the
-- ranges apart (store/sqlite_blocks.go); the key holds last_seq only.
CREATE TABLE message_blocks (
    chat_id    TEXT NOT NULL,
    first_seq  INTEGER NOT NULL,
    last_seq   INTEGER NOT NULL,
    messages   BLOB NOT NULL,
    UNIQUE (chat_id, last_seq)
) STRICT;

INSERT INTO message_blocks (chat_id, first_seq, last_seq, messages)
    SELECT chat_id, MIN(seq), MAX(seq),
        jsonb_group_array(jsonb_array(seq, kind, author_id, author_name, text, client_side_id, created_at) ORDER BY seq)
    FROM messages
    GROUP BY chat_id, (seq - 1) / 256;

DROP TABLE messages;

-- One row a message, as the table had it: for reading the database by hand
-- and for the store's queries that walk whole chats.
CREATE VIEW messages (id, chat_id, seq, kind, author_id, author_name, text, client_side_id, created_at) AS
    SELECT b.chat_id || '-' || (e.value ->> 0), b.chat_id, e.value ->> 0, e.value ->> 1, e.value ->> 2,
        e.value ->> 3, e.value ->> 4, e.value ->> 5, e.value ->> 6
    FROM message_blocks b, jsonb_each(b.messages) e;
